"""HTTP measurements against a server on 127.0.0.1: a bounded client (threads and http.client,
keep-alive) for latency and throughput, a context manager that starts and stops a server, and the
memory of a server's whole process tree (Pss summed over the server and its workers)."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO

from bench.common.stats import summary_ms

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def path_with(base: str, params: Sequence[tuple[str, str]]) -> str:
    return base + "?" + urllib.parse.urlencode(list(params))


@dataclass
class Memory:
    """Memory of a process tree from /proc/PID/smaps_rollup, in MB (10^6 bytes): Pss shares each
    page among the processes that map it, so an index mmap'd by several workers counts once in
    the sum; Rss would count it once per process."""

    pss: float
    pss_anon: float
    pss_file: float
    rss: float
    processes: int


def _children_of_each() -> dict[int, list[int]]:
    """Each living process's children, found through the parent pid of each /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended while we looked
            continue
        # the command name may hold spaces and parentheses: the fields follow its last ')'
        fields = text[text.rindex(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return children


def child_processes(pid: int) -> set[int]:
    """The living children of `pid` (a server's workers)."""
    return set(_children_of_each().get(pid, []))


def process_tree(pid: int) -> list[int]:
    """`pid` and every living descendant."""
    children = _children_of_each()
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def tree_memory(pid: int) -> Memory | None:
    """Pss (and Rss) summed over `pid` and its descendants; None once `pid` is gone."""
    totals = {"Pss": 0, "Pss_Anon": 0, "Pss_File": 0, "Rss": 0}
    counted = 0
    for member in process_tree(pid):
        try:
            text = Path(f"/proc/{member}/smaps_rollup").read_text()
        except OSError:  # gone, or a kernel thread
            continue
        counted += 1
        for line in text.splitlines()[1:]:
            name, _, rest = line.partition(":")
            if name in totals:
                totals[name] += int(rest.split()[0])  # kB
    if not counted:
        return None
    mb = {name: kb * 1024 / 1e6 for name, kb in totals.items()}
    return Memory(mb["Pss"], mb["Pss_Anon"], mb["Pss_File"], mb["Rss"], counted)


class MemorySampler:
    """Samples a process tree's Pss sum every `interval` seconds in a thread, keeping the largest:
    `with MemorySampler(pid) as sampler: ...` then `sampler.peak`."""

    def __init__(self, pid: int, interval: float = 0.5):
        self.pid = pid
        self.interval = interval
        self.peak: Memory | None = None
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        memory = tree_memory(self.pid)
        if memory is not None:
            self.samples += 1
            if self.peak is None or memory.pss > self.peak.pss:
                self.peak = memory

    def _run(self) -> None:
        self._sample()
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()  # the end of the run is part of it


@dataclass
class Server:
    """A server process we started, and how long it took to answer its first request."""

    process: subprocess.Popen
    port: int
    started_seconds: float  # from spawn to the first successful answer

    def memory(self) -> Memory | None:
        """The server's memory now: Pss summed over its process and every descendant (workers)."""
        return tree_memory(self.process.pid)

    def sampler(self, interval: float = 0.5) -> MemorySampler:
        """A MemorySampler over the server's processes, for the peak during a run."""
        return MemorySampler(self.process.pid, interval)


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
            # the workers of a pre-forking server are ours too: any left after their parent
            # stopped are stopped by their own pids
            workers = process_tree(process.pid)[1:] if process.poll() is None else []
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            _stop_left(workers)


def _stop_left(pids: list[int], timeout: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after `timeout`, to those of `pids` still alive."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = [pid for pid in pids if _alive(pid)]
        for pid in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while alive and time.monotonic() < deadline:
            alive = [pid for pid in alive if _alive(pid)]
            time.sleep(0.05)
        if not alive:
            return


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"  # a zombie waits only for its parent to reap it


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


class Connection:
    """One client's keep-alive connection to a server on HOST; after a request that got no answer
    it is closed, and the next request opens a new one."""

    def __init__(self, port: int, timeout: float = 60.0):
        self.port = port
        self.timeout = timeout
        self._connection: http.client.HTTPConnection | None = None

    def get(self, path: str) -> tuple[int, bytes, str]:
        """(status, body, "") of one GET, or (0, b"", what went wrong) when no answer came."""
        if self._connection is None:
            self._connection = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
        try:
            self._connection.request("GET", path)
            response = self._connection.getresponse()
            return response.status, response.read(), ""
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            return 0, b"", repr(exc)

    def timed(self, path: str) -> float | None:
        """Seconds a 200 answer took, or None for a failed request (any other status, or none)."""
        started = time.perf_counter()
        status, _, _ = self.get(path)
        return time.perf_counter() - started if status == 200 else None

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def latencies(port: int, paths: Sequence[str], passes: int = 1) -> tuple[list[float], int]:
    """One client, one request at a time: (latency of each successful request, errors)."""
    found, errors = [], 0
    client = Connection(port)
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
        connection = Connection(port)
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


def command_line(program: str, argv: list[str]) -> str:
    """A benchmark's command as its report shows it: paths under the project's parent folder as
    seen from the project (`../shared/corpus`), and the machine's own work and report folders
    (--out, --report, --work) left out."""
    parent = str(Path(__file__).resolve().parent.parent.parent) + os.sep
    shown: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in ("--out", "--report", "--work"):
            skip = True
            continue
        if arg.startswith(("--out=", "--report=", "--work=")):
            continue
        shown.append("../" + arg[len(parent) :] if arg.startswith(parent) else arg)
    return " ".join([program, *shown])


def memory_figures(memory: Memory | None) -> dict | None:
    """A Memory as the JSON of a report, or None."""
    return None if memory is None else asdict(memory)


def step_figures(run: LoadResult, after: Memory | None, peak: Memory | None) -> dict:
    """One load step as the reports store it: its clients, requests, errors and rate, the
    latencies in milliseconds, and the server's memory after the step and at its peak."""
    return {
        "clients": run.clients,
        "requests": run.requests,
        "errors": run.errors,
        "seconds": run.seconds,
        "per_second": run.per_second,
        "latency": summary_ms(run.latencies),
        "memory_after": memory_figures(after),
        "memory_peak": memory_figures(peak),
    }
