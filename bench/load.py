"""HTTP measurements against a server on 127.0.0.1: a bounded client (threads and http.client,
keep-alive) for latency and throughput, and a context manager that starts and stops a server."""

from __future__ import annotations

import contextlib
import http.client
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def path_with(base: str, params: Sequence[tuple[str, str]]) -> str:
    return base + "?" + urllib.parse.urlencode(list(params))


@dataclass
class Server:
    """A server process we started, and how long it took to answer its first request."""

    process: subprocess.Popen
    port: int
    started_seconds: float  # from spawn to the first successful answer

    def peak_memory_mb(self) -> float | None:
        """The process's peak resident memory so far (VmHWM), where /proc has it."""
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return None


@contextlib.contextmanager
def serve(
    command: list[str],
    port: int,
    ready_path: str,
    timeout: float = 120.0,
    env=None,
    log: BinaryIO | None = None,
    cwd: Path | None = None,
) -> Iterator[Server]:
    """Start `command` (which must listen on `port`), wait until `ready_path` answers 200, and
    stop it (by its own pid) on exit. Its output goes to `log` (stdout and stderr) when given,
    for the caller to read afterwards; otherwise its stderr is kept only to explain a failure."""
    with contextlib.ExitStack() as stack:
        output = log if log is not None else stack.enter_context(tempfile.TemporaryFile())
        started = time.perf_counter()
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=output if log is not None else subprocess.DEVNULL,
            stderr=subprocess.STDOUT if log is not None else output,
        )
        try:
            deadline = started + timeout
            while not _answers(port, ready_path):
                if process.poll() is not None:
                    output.seek(0)
                    message = output.read().decode("utf-8", "replace")[-2000:]
                    raise RuntimeError(f"{command[0]} exited with {process.returncode}: {message}")
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"{command[0]} did not answer on port {port} in {timeout} s")
                time.sleep(0.05)
            yield Server(process, port, time.perf_counter() - started)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _answers(port: int, path: str) -> bool:
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status == 200
    except OSError:
        return False
    finally:
        connection.close()


@dataclass
class LoadResult:
    clients: int
    seconds: float
    requests: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def _get(connection: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
    connection.request("GET", path)
    response = connection.getresponse()
    return response.status, response.read()


class _Client:
    """One keep-alive connection that times requests and reconnects after a broken one."""

    def __init__(self, port: int):
        self.port = port
        self.connection = http.client.HTTPConnection(HOST, port, timeout=60)

    def timed(self, path: str) -> float | None:
        """Seconds a 200 answer took, or None for a failed request (any other status, or none)."""
        started = time.perf_counter()
        try:
            status, _ = _get(self.connection, path)
        except OSError:
            self.connection.close()
            self.connection = http.client.HTTPConnection(HOST, self.port, timeout=60)
            return None
        return time.perf_counter() - started if status == 200 else None

    def close(self) -> None:
        self.connection.close()


def latencies(port: int, paths: Sequence[str], passes: int = 1) -> tuple[list[float], int]:
    """One client, one request at a time: (latency of each successful request, errors)."""
    found, errors = [], 0
    client = _Client(port)
    try:
        for _ in range(passes):
            for path in paths:
                took = client.timed(path)
                if took is None:
                    errors += 1
                else:
                    found.append(took)
    finally:
        client.close()
    return found, errors


def load(port: int, paths: Sequence[str], clients: int, seconds: float) -> LoadResult:
    """`clients` threads, each with its own keep-alive connection, request `paths` in turn (each
    starting elsewhere in the list) until `seconds` have passed; then all stop."""
    result = LoadResult(clients, seconds)
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def client(offset: int) -> None:
        own: list[float] = []
        errors = 0
        connection = _Client(port)
        i = offset
        while time.perf_counter() < stop_at:
            took = connection.timed(paths[i % len(paths)])
            i += 1
            if took is None:
                errors += 1
            else:
                own.append(took)
        connection.close()
        with lock:
            result.latencies += own
            result.errors += errors

    started = time.perf_counter()
    threads = [
        threading.Thread(target=client, args=(n * len(paths) // clients,), daemon=True)
        for n in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 120)
    result.seconds = time.perf_counter() - started
    result.requests = len(result.latencies)
    return result
