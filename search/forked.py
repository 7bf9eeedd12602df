"""A call run in a child process forked for it, its result (or its exception) sent back: the
child holds every descriptor the call opens and ends with it, so no process forked later from
the caller's inherits them (the watcher's updates, search/watch.py)."""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
from collections.abc import Callable
from typing import TypeVar

from .errors import SearchError

T = TypeVar("T")

# The server's signals, which a child forked from it must not handle as the server would.
_SERVER_SIGNALS = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGCHLD", "SIGUSR1", "SIGUSR2")
_SERVER_SIGNALS += ("SIGTTIN", "SIGTTOU", "SIGWINCH")


def run_forked(call: Callable[[], T]) -> T:
    """`call()` run in a child process forked for it: what it returns, or what it raises raised
    here. The child holds every descriptor the call opens (the writer's lock, the files being
    written) and ends with it, so no process forked from this one later inherits them. Where
    there is no fork (Windows), the call runs here."""
    if not hasattr(os, "fork"):
        return call()
    reading, writing = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child: its coverage is not collected
        _run_child(call, reading, writing)
    os.close(writing)
    try:
        payload = _receive(reading, pid)
    finally:
        os.close(reading)
        _reap(pid)
    if payload is None:
        raise SearchError("the process forked for the work ended without an answer (killed?)")
    outcome, value = pickle.loads(payload)
    if outcome == "raised":
        raise value
    return value


def _run_child(call: Callable, reading: int, writing: int) -> None:  # pragma: no cover
    """In the forked child: run `call`, send its outcome (pickled, its length first) and exit
    at once, without the parent's exit handlers."""
    try:
        os.close(reading)
        for name in _SERVER_SIGNALS:
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), signal.SIG_DFL)
        try:
            outcome = ("returned", call())
        except BaseException as exc:  # noqa: BLE001 - every failure is the parent's to report
            outcome = ("raised", exc)
        try:
            payload = pickle.dumps(outcome)
        except Exception:  # noqa: BLE001 - an exception that cannot be pickled: its words
            failure = outcome[1]
            payload = pickle.dumps(("raised", SearchError(f"{type(failure).__name__}: {failure}")))
        with open(writing, "wb") as pipe:
            pipe.write(len(payload).to_bytes(8, "big") + payload)
    finally:
        os._exit(0)


def _receive(reading: int, pid: int) -> bytes | None:
    """The child's payload, or None when it ended without sending it. Not read to end of file:
    a worker forked meanwhile may hold a copy of the pipe's other end."""
    received = bytearray()
    while True:
        ready, _, _ = select.select([reading], [], [], 0.5)
        if ready:
            chunk = os.read(reading, 1 << 20)
            received += chunk
            if len(received) >= 8 and len(received) - 8 >= int.from_bytes(received[:8], "big"):
                return bytes(received[8:])
            if chunk:
                continue
            return None  # end of file, the payload short
        if _ended(pid):
            ready, _, _ = select.select([reading], [], [], 0)
            if not ready:
                return None


def _ended(pid: int) -> bool:
    """Whether the child `pid` has ended (reaped here, or already by gunicorn's arbiter, which
    reaps every child of its process)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done == pid


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
