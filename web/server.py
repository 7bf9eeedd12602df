"""Serving the app: several worker processes sharing one index on disk (gunicorn's pre-fork
model, Linux and macOS), or one process of threads (waitress: Windows, tests, --workers 1).

One Python process answers one search at a time (the GIL), so a second core needs a second
process. The app is created once in the parent, with the segmenter's dictionary and the sentence
encoder loaded, and the workers are forked from it: those pages stay shared between them (the
memory of a server is its processes' Pss summed, which counts shared pages once). Each worker
opens its own Whoosh searchers after the fork; the index files are read through the page cache,
shared as well. A reindex in one worker commits a new index generation that every worker's
SearchIndex sees on its next request. After a rebuild (its watcher's, in the parent), the
workers are replaced one at a time by new ones forked from the parent, which has loaded the new
dictionary and columns: they share those pages again.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import json
import os
import selectors
import signal
import time
from collections.abc import Callable
from functools import partial
from typing import Protocol

from flask import Flask

from .errors import HTTP_MESSAGES, error_body
from .state import EXTENSION


def default_workers() -> int:
    """One worker process per core."""
    return max(1, os.cpu_count() or 1)


def serve(
    make_app: Callable[[], Flask],
    host: str,
    port: int,
    workers: int,
    threads: int,
    announce: Callable[[str], None] = print,
    watcher: Callable[[], Watcher] | None = None,
    proxy_headers: bool = False,
) -> None:
    """Serve until stopped: `workers` processes of `threads` threads each. `watcher` makes the
    seeds folder's watcher (search/watch.py), started in exactly one process: the parent of the
    workers, or the one process. `proxy_headers`: a proxy's X-Forwarded-* headers are left for
    the app to apply (create_app's ProxyFix); otherwise neither server acts on them."""
    _limit_malloc_arenas()
    if workers <= 1 or os.name != "posix":
        import waitress

        app = make_app()
        announce(f"Serving on http://{host}:{port}/ (1 process, {threads} threads)")
        running = watcher().start() if watcher else None
        previous = signal.signal(signal.SIGTERM, _exit)  # stop as on Ctrl-C: watcher included
        try:
            waitress.serve(
                app,
                host=host,
                port=port,
                threads=threads,
                ident="policy-search",
                # waitress drops X-Forwarded-* from proxies it was not told to trust; trusting
                # them is the app's one decision, so it keeps them only for the app to apply
                clear_untrusted_proxy_headers=not proxy_headers,
            )
        finally:
            signal.signal(signal.SIGTERM, previous)
            if running:
                running.stop()
        return
    _PreforkServer(make_app, host, port, workers, threads, announce, watcher, proxy_headers).run()


class Watcher(Protocol):
    def start(self) -> Watcher: ...
    def stop(self) -> None: ...


def _exit(signum, frame) -> None:
    raise SystemExit(0)


# glibc gives each thread that allocates its own arena (up to 8 a core), and a search's numpy
# arrays leave each one holding freed memory: 4 threads a worker kept some 30 MB each. It also
# raises its threshold for handing large blocks back to the system each time one is freed, so a
# question's temporary arrays stayed in every worker: a fixed threshold returns them.
MALLOC_ARENAS = 2
MMAP_THRESHOLD = 1 << 20


def _limit_malloc_arenas() -> None:
    """Cap glibc's malloc arenas and fix its mmap threshold before any thread starts; elsewhere
    (macOS, Windows, musl), nothing."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-8, MALLOC_ARENAS)  # M_ARENA_MAX
        libc.mallopt(-3, MMAP_THRESHOLD)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def _trim_malloc() -> None:
    """Hand the memory that loading and warming freed back to the system (glibc only), so no
    worker starts with a copy of it."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)


def _forked(server, worker) -> None:
    """In each new worker: drop the searchers inherited from the parent (their open files share
    read offsets with every other process), so the worker opens its own; the columns read in the
    parent stay, shared."""
    server.app.wsgi().extensions[EXTENSION].close(keep_columns=True)


def _prepared(server) -> None:
    # the parent serves no request: close its searchers, which would otherwise hold the files of
    # generations long replaced (and their disk space); the columns it read are kept for the
    # workers to share
    server.app.wsgi().extensions[EXTENSION].close(keep_columns=True)
    _trim_malloc()
    # objects alive before the fork never need collecting: leaving them out of the collector's
    # walk keeps it from writing to (and so copying) their pages in every worker
    gc.freeze()
    # the watcher runs here, in the parent, so exactly one process updates the index (threads
    # are not copied into forked workers)
    if server.app.make_watcher is not None:
        watcher = server.app.make_watcher()
        # after each update the parent opens the new generation (no searcher, just its columns)
        # and lets the former one go: workers forked later share it, and the files of segments
        # merged away are not kept mapped here for the server's life
        watcher.after_update = server.app.wsgi().extensions[EXTENSION].follow
        watcher.after_rebuild = lambda: _replace_workers(server)
        server.app.watcher = watcher.start()


# How long the replacement of a worker waits for gunicorn's arbiter to fork the new one and for
# it to enter its loop (beyond that, the old one serves on)
WORKER_START_SECONDS = 30.0


def _replace_workers(server) -> None:
    """After a rebuild, in the parent (the watcher's thread): let go of what the former index
    and dictionary left (the collector, then malloc), and replace the workers one at a time by
    new ones forked from here, which share this process's dictionary and columns. Without it
    each worker loaded the new dictionary and read the new generation's columns privately, and
    the parent's former copies stayed shared with nobody: the soak's Pss rose by 100 MB for good.

    gunicorn's own signals do it, handled by its arbiter in the main thread: SIGTTIN forks one
    more worker; once it runs, SIGTTOU stops the oldest gracefully. That worker finishes the
    requests in flight, answers the next request of each connection kept alive with
    `Connection: close` (the client opens a new one, to another worker) and exits when none is
    left (or after graceful_timeout: a client idle that long may find its connection closed,
    as after the keep-alive timeout of any server)."""
    # objects frozen before the first fork are never collected: the former generation's and
    # dictionary's, if in a cycle, would stay for good
    gc.unfreeze()
    gc.collect()
    _trim_malloc()
    gc.freeze()
    former = set(server.WORKERS)
    for _ in range(len(former)):
        if not _replace_oldest_worker(server, former):
            return


def _replace_oldest_worker(server, former: set[int]) -> bool:
    """One more worker forked, then the oldest let go once it ran; whether it went so."""
    before = set(server.WORKERS)
    os.kill(os.getpid(), signal.SIGTTIN)
    try:
        started = _wait_until(lambda: set(server.WORKERS) - before, WORKER_START_SECONDS)
        if not started or not _wait_until(_heartbeat(server, started), WORKER_START_SECONDS):
            server.log.warning("policy-search: no new worker started; the others serve on")
            return False
    finally:
        os.kill(os.getpid(), signal.SIGTTOU)  # the oldest worker leaves (the count is back)
    remaining = len(former & before)
    exit_seconds = server.cfg.graceful_timeout + WORKER_START_SECONDS
    if not _wait_until(lambda: len(former & set(server.WORKERS)) < remaining, exit_seconds):
        server.log.warning("policy-search: a worker did not leave; the others serve on")
        return False
    return True


def _heartbeat(server, pids: set[int]) -> Callable[[], bool]:
    """Whether the new workers entered their loop: each touched its heartbeat file since first
    seen (gunicorn's own sign of a worker alive; the loop touches it at least once a second)."""
    first: dict[int, float] = {}

    def running() -> bool:
        for pid in pids:
            try:
                touched = server.WORKERS[pid].tmp.last_update()
            except (KeyError, OSError, ValueError):  # gone: the arbiter forks another itself
                continue
            if first.setdefault(pid, touched) == touched:
                return False
        return True

    return running


def _wait_until(condition: Callable[[], object], seconds: float) -> object:
    """`condition()`'s first true value within `seconds` (looking every 50 ms), else None."""
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        if time.monotonic() > deadline:
            return None
        time.sleep(0.05)
    return value


def _stopping(server) -> None:
    if getattr(server.app, "watcher", None) is not None:
        server.app.watcher.stop()


try:
    from gunicorn import util as gunicorn_util
    from gunicorn.app.base import BaseApplication
    from gunicorn.workers.gthread import ThreadWorker
except ImportError:  # Windows: gunicorn needs fcntl; serve() uses waitress there
    BaseApplication = ThreadWorker = object
    gunicorn_util = None


class _Worker(ThreadWorker):
    """gunicorn's threaded worker, except that a worker told to leave (a rebuild replaces
    them: _replace_workers) closes no connection kept alive without answering on it first.

    gunicorn closed a connection whose request finished after the signal, though the response
    had said keep-alive: the client's next request on it failed (RemoteDisconnected, a failed
    request of the soak). Here it waits for that request, answered with `Connection: close`
    (gunicorn's own answer once a worker leaves), or for the keep-alive timeout. Depends on
    ThreadWorker.finish_request of gunicorn < 27 (pinned)."""

    def finish_request(self, conn, fs):
        kept_alive = not fs.cancelled() and fs.exception() is None and fs.result() is True
        if self.alive or not kept_alive:
            super().finish_request(conn, fs)
            return
        conn.sock.setblocking(False)
        conn.set_timeout()
        self.keepalived_conns.append(conn)
        self.poller.register(
            conn.sock, selectors.EVENT_READ, partial(self.on_client_socket_readable, conn)
        )


def _write_json_error(sock, status: int, reason: str, detail: str) -> None:
    """gunicorn's answer to a request it cannot parse (a bad request line, a bad header, one too
    large), in the JSON shape of every error of ours rather than its own HTML page: an API client
    reads the same `{"error": ...}` whatever refused its request. gunicorn.util.write_error's
    signature and its one caller (Worker.handle_error) belong to gunicorn < 27 (pinned)."""
    message = HTTP_MESSAGES.get(status, reason.lower())
    if detail:
        message = f"{message}: {detail}"
    body = json.dumps(error_body(status, message), ensure_ascii=False).encode("utf-8")
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    gunicorn_util.write_nonblock(sock, head.encode("latin-1") + body)


class _PreforkServer(BaseApplication):
    def __init__(
        self,
        make_app,
        host,
        port,
        workers,
        threads,
        announce,
        make_watcher=None,
        proxy_headers=False,
    ):
        self._make_app = make_app
        self.make_watcher = make_watcher
        self.watcher = None
        self._options = {
            "bind": f"{host}:{port}",
            "workers": workers,
            "worker_class": _Worker,
            "threads": threads,
            "preload_app": True,
            "post_fork": _forked,
            "when_ready": _prepared,
            "on_exit": _stopping,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "warning",
            "proc_name": "policy-search",
            # a search can take a few seconds at the largest sizes; a rebuild runs in the
            # background of the request that asked for it
            "timeout": 120,
            "graceful_timeout": 10,
            # a query may hold 1,000 characters (request.MAX_QUERY_CHARS): 9,000 bytes in the
            # request line once percent-encoded, past gunicorn's largest bounded limit (8190);
            # 0 lifts it (as waitress did), and the app refuses a longer q with a 400 of its own
            "limit_request_line": 0,
            # gunicorn takes X-Forwarded-Proto from local clients by default; forwarded headers
            # are trusted only when the operator says so, and then applied by the app (ProxyFix)
            "forwarded_allow_ips": "*" if proxy_headers else "",
        }
        self._announce = announce
        self._summary = (
            f"Serving on http://{host}:{port}/ ({workers} processes, {threads} threads each)"
        )
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)
        gunicorn_util.write_error = _write_json_error

    def load(self) -> Flask:
        app = self._make_app()
        self._announce(self._summary)
        return app
