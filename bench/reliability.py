"""Reliability runs against a real `policy-search serve` on 127.0.0.1: load while the index is
updated and then rebuilt, SIGKILLs of the indexer at random points, and a full disk.

    python -m bench.reliability [--duration 60] [--clients 16] [--kills 20] [--seed 1]

prints what each run saw as JSON (and writes it to --out). tests/test_reliability.py runs the same
functions at a smaller size. Every request goes to 127.0.0.1; every loop is bounded in count and
time; every process started here is stopped here, by its own pid.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.common import load

REPO = Path(__file__).resolve().parent.parent
SEED_FILE = REPO / "seeds" / "beijing-industry-carbon-key-nodes.md"
HOST = "127.0.0.1"
RECORDS_PER_COPY = 13  # records of the seed compilation, so of every copy of it
REQUEST_TIMEOUT = 30.0
INDEX_TIMEOUT = 900.0  # seconds any one indexer run may take before the run is called failed
MAX_REQUESTS_PER_CLIENT = 1_000_000

# What the load clients ask, in turn. The browse query's total is the index's record count, so it
# tells a complete index from a half-built one; the others must be stable within a generation.
BROWSE = "/api/search?per_page=5"
SEARCHES = (
    BROWSE,
    "/api/search?" + urllib.parse.urlencode({"q": "碳排量双控"}),
    "/api/search?" + urllib.parse.urlencode({"q": "碳中和", "sort": "-date"}),
    "/api/search?"
    + urllib.parse.urlencode({"q": "", "issuer": "北京市发展改革委", "type": "事件"}),
    "/api/search?" + urllib.parse.urlencode({"q": '"碳排量权交易" OR 排水', "per_page": "20"}),
    "/api/health",
    "/?" + urllib.parse.urlencode({"q": "碳排量"}),
)


# ---------------------------------------------------------------------------------------------
# The corpus: copies of the seed compilation, each its own file with its own words


def copy_text(number: int, revision: int = 0) -> str:
    """The seed compilation as a different file: its own sector name and analysis time, so the
    copies differ in content (and a new revision in hash) while each holds the same 13 records."""
    text = SEED_FILE.read_text(encoding="utf-8")
    text = text.replace("北京市 工业领域", f"北京市 工业领域{number}")
    stamp = f"{revision // 3600 % 24:02d}:{revision // 60 % 60:02d}:{revision % 60:02d}"
    return re.sub(r"分析时间: \S+ \S+", f"分析时间: 2025-05-01 {stamp}", text, count=1)


def copy_name(number: int) -> str:
    return f"copy-{number:05d}.md"


def write_copies(seeds: Path, numbers, revision: int = 0) -> None:
    seeds.mkdir(parents=True, exist_ok=True)
    for number in numbers:
        (seeds / copy_name(number)).write_text(copy_text(number, revision), encoding="utf-8")


def markdown_files(seeds: Path) -> list[Path]:
    return sorted(seeds.glob("*.md"))


# ---------------------------------------------------------------------------------------------
# Processes: the indexer and the server, run as a user would (`python -m search.cli`)


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "search.cli", *args]


def child_env() -> dict[str, str]:
    """This environment without our own settings, so only the command line chooses folders."""
    return {k: v for k, v in os.environ.items() if not k.startswith("POLICY_SEARCH_")}


def start_indexer(seeds: Path, index: Path, *, rebuild: bool = False, **popen) -> subprocess.Popen:
    args = ["index", "--seeds", str(seeds), "--index", str(index), "--quiet"]
    if rebuild:
        args.append("--rebuild")
    return subprocess.Popen(
        cli(*args),
        cwd=REPO,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


@dataclass
class IndexRun:
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def generation(self) -> str | None:
        found = re.search(r"generation (\d+\.\d+) \(", self.stdout)
        return found.group(1) if found else None


def run_indexer(seeds: Path, index: Path, *, rebuild: bool = False, **popen) -> IndexRun:
    """Run the indexer to its end (bounded by INDEX_TIMEOUT)."""
    started = time.monotonic()
    with start_indexer(seeds, index, rebuild=rebuild, **popen) as process:
        try:
            out, err = process.communicate(timeout=INDEX_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
    return IndexRun(process.returncode, out, err, time.monotonic() - started)


def get(port: int, path: str, timeout: float = REQUEST_TIMEOUT) -> tuple[int, dict, bytes]:
    """One GET on a fresh connection: (status, headers, body)."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@contextlib.contextmanager
def serve(seeds: Path, index: Path, threads: int = 8, timeout: float = 120.0) -> Iterator[int]:
    """`policy-search serve` on a free port of 127.0.0.1 until the block ends; yields the port.
    Raises if the server logged a traceback."""
    port = load.free_port()
    command = cli(
        "serve", "--host", HOST, "--port", str(port), "--seeds", str(seeds), "--index", str(index)
    )
    with tempfile.TemporaryFile() as log:
        # --no-watch: the runs measured here are the only indexers (a watcher would take the lock)
        command = [*command, "--threads", str(threads), "--no-watch"]
        with load.serve(command, port, "/api/health", timeout, child_env(), log, REPO):
            yield port
        log.seek(0)
        output = log.read().decode("utf-8", "replace")
    if "Traceback" in output:
        first = max(0, output.index("Traceback") - 300)
        raise RuntimeError(f"the server logged a traceback:\n{output[first : first + 6000]}")


# ---------------------------------------------------------------------------------------------
# Load: client threads with keep-alive connections, every answer recorded


@dataclass
class Answer:
    started: float  # time.monotonic() when sent
    seconds: float
    path: str
    status: int  # 0: no answer (connection error or timeout)
    generation: str | None = None
    total: int | None = None  # /api/search: total; /api/health: documents
    error: str | None = None


@dataclass
class Load:
    """`clients` threads asking SEARCHES in turn until stop() (or `limit` seconds)."""

    port: int
    clients: int
    limit: float
    answers: list[Answer] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._client, args=(n,), daemon=True)
            for n in range(self.clients)
        ]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=REQUEST_TIMEOUT + 10)

    def _client(self, number: int) -> None:
        deadline = time.monotonic() + self.limit
        own: list[Answer] = []
        connection = None
        for i in range(number, number + MAX_REQUESTS_PER_CLIENT):
            if self._stop.is_set() or time.monotonic() > deadline:
                break
            path = SEARCHES[i % len(SEARCHES)]
            if connection is None:
                connection = http.client.HTTPConnection(HOST, self.port, timeout=REQUEST_TIMEOUT)
            started = time.monotonic()
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                connection = None
                own.append(Answer(started, time.monotonic() - started, path, 0, error=repr(exc)))
                continue
            answer = Answer(started, time.monotonic() - started, path, response.status)
            if path.startswith("/api/") and response.status == 200:
                data = json.loads(body)
                answer.generation = data["generation"]
                answer.total = data["total"] if "total" in data else data["documents"]
            elif response.status != 200:
                answer.error = body[:300].decode("utf-8", "replace")
            own.append(answer)
        if connection is not None:
            connection.close()
        with self._lock:
            self.answers += own


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def phase_figures(answers: list[Answer], phases: list[tuple[str, float, float]]) -> dict:
    """Per phase (name, start, end on the monotonic clock): requests, failures, throughput, p50
    and p95 latency in milliseconds. A request belongs to the phase it was sent in."""
    figures = {}
    for name, start, end in phases:
        inside = [a for a in answers if start <= a.started < end]
        ok = [a.seconds for a in inside if a.status == 200]
        seconds = max(end - start, 1e-9)
        p50, p95 = percentile(ok, 0.5), percentile(ok, 0.95)
        figures[name] = {
            "seconds": round(seconds, 2),
            "requests": len(inside),
            "failed": sum(a.status != 200 for a in inside),
            "server_errors": sum(a.status >= 500 for a in inside),
            "per_second": round(len(ok) / seconds, 1),
            "p50_ms": None if p50 is None else round(p50 * 1000, 1),
            "p95_ms": None if p95 is None else round(p95 * 1000, 1),
        }
    return figures


def consistency(answers: list[Answer], complete: dict[str, int]) -> list[str]:
    """What contradicts "every answer comes from one complete generation": for each generation
    label, each path must always give the same total; the record count (browse, health) must be
    that of the complete index at that label. `complete` maps each label an indexer run reported
    to its record count. Returns the problems found (none: consistent)."""
    problems = []
    totals: dict[tuple[str, str], set[int]] = defaultdict(set)
    for answer in answers:
        if answer.generation is not None:
            totals[answer.generation, answer.path].add(answer.total)
    for (label, path), seen in sorted(totals.items()):
        if len(seen) > 1:
            problems.append(f"generation {label}: {path} answered totals {sorted(seen)}")
        if path in (BROWSE, "/api/health"):
            if label not in complete:
                problems.append(f"generation {label} was served but no indexer run produced it")
            elif seen != {complete[label]}:
                problems.append(
                    f"generation {label}: {path} counted {sorted(seen)} records, "
                    f"the complete index has {complete[label]}"
                )
    return problems


def run_load(
    workdir: Path,
    *,
    clients: int = 16,
    duration: float = 60.0,
    initial_files: int = 400,
    added_files: int = 200,
) -> dict:
    """Serve an index of `initial_files` copies to `clients` threads for about `duration` seconds;
    a quarter in, add `added_files` copies and run `index`, then run `index --rebuild`; the last
    quarter runs on the rebuilt index. Returns the figures per phase and every inconsistency."""
    seeds, index = workdir / "seeds", workdir / "index"
    write_copies(seeds, range(initial_files))
    first = run_indexer(seeds, index)
    if first.returncode != 0:
        raise RuntimeError(f"the first build failed: {first.stderr}")
    complete = {first.generation: initial_files * RECORDS_PER_COPY}
    runs: dict[str, dict] = {}
    with serve(seeds, index) as port:
        # the load must outlast the slowest case: both indexer runs, at most, plus the phases
        with Load(port, clients, limit=duration + 2 * INDEX_TIMEOUT) as load:
            begin = time.monotonic()
            time.sleep(duration * 0.25)
            update_start = time.monotonic()
            write_copies(seeds, range(initial_files, initial_files + added_files))
            update = run_indexer(seeds, index)
            update_end = time.monotonic()
            complete[update.generation] = (initial_files + added_files) * RECORDS_PER_COPY
            time.sleep(duration * 0.05)
            rebuild_start = time.monotonic()
            rebuild = run_indexer(seeds, index, rebuild=True)
            rebuild_end = time.monotonic()
            complete[rebuild.generation] = (initial_files + added_files) * RECORDS_PER_COPY
            time.sleep(max(duration * 0.25, duration - (rebuild_end - begin)))
            end = time.monotonic()
        answers = load.answers
    for name, run in (("update", update), ("rebuild", rebuild)):
        runs[name] = {
            "returncode": run.returncode,
            "seconds": round(run.seconds, 2),
            "generation": run.generation,
            "summary": run.stdout.strip(),
            "stderr": run.stderr.strip()[-2000:],
        }
    phases = [
        ("before", begin, update_start),
        ("during update", update_start, update_end),
        ("between", update_end, rebuild_start),
        ("during rebuild", rebuild_start, rebuild_end),
        ("after", rebuild_end, end),
    ]
    failures = [a for a in answers if a.status != 200]
    generations = Counter(a.generation for a in answers if a.generation)
    return {
        "clients": clients,
        "seconds": round(end - begin, 1),
        "files": {"initial": initial_files, "added": added_files},
        "records": {label: count for label, count in complete.items()},
        "requests": len(answers),
        "failed": len(failures),
        "server_errors": sum(a.status >= 500 for a in answers),
        "failure_samples": [f"{a.status} {a.path}: {a.error}" for a in failures[:5]],
        "answers_per_generation": dict(sorted(generations.items())),
        "inconsistencies": consistency(answers, complete),
        "indexer": runs,
        "phases": phase_figures(answers, phases),
    }


# ---------------------------------------------------------------------------------------------
# Kills: SIGKILL the indexer at random points, check the server and the next run


def index_ids(index: Path) -> list[str]:
    """The id of every live record of the current generation, read from the index itself."""
    from search.layout import open_index
    from search.records import unpack

    ix, _ = open_index(index)
    try:
        with ix.reader() as reader:
            return [unpack(fields["record"])["id"] for fields in reader.all_stored_fields()]
    finally:
        ix.close()


class ExpectedIds:
    """The record ids of the files on disk, parsed with our own ingest (cached by content)."""

    def __init__(self, seeds: Path):
        self.seeds = seeds
        self._cache: dict[tuple[str, bytes], list[str]] = {}

    def __call__(self) -> Counter:
        from search.documents import parse_text

        ids: Counter = Counter()
        for path in markdown_files(self.seeds):
            relative = path.relative_to(self.seeds).as_posix()
            data = path.read_bytes()
            key = (relative, data)
            if key not in self._cache:
                records, _ = parse_text(data.decode("utf-8"), relative)
                self._cache = {k: v for k, v in self._cache.items() if k[0] != relative}
                self._cache[key] = [r.id for r in records]
            ids.update(self._cache[key])
        return ids


def exact_index_problems(index: Path, expected: Counter) -> list[str]:
    """Whether the index holds exactly the expected records: none lost, none duplicated."""
    found = Counter(index_ids(index))
    problems = []
    duplicated = sorted(i for i, n in found.items() if n > 1)
    lost = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    if duplicated:
        problems.append(f"{len(duplicated)} ids indexed twice, e.g. {duplicated[:3]}")
    if lost:
        problems.append(f"{len(lost)} records lost, e.g. {lost[:3]}")
    if extra:
        problems.append(f"{len(extra)} records of no file on disk, e.g. {extra[:3]}")
    return problems


def _generation_files(index: Path) -> set[str]:
    current = (index / "CURRENT").read_text(encoding="utf-8").strip()
    return {p.name for p in (index / current).iterdir()}


def run_kills(
    workdir: Path, *, kills: int = 20, files: int = 150, clients: int = 4, seed: int = 1
) -> dict:
    """SIGKILL `index` and `index --rebuild` (in turn) at random delays while `clients` threads
    search. After each kill: the server must answer from a complete index; most times the next
    run is let finish and the index must then hold exactly the records of the files on disk
    (otherwise the next run is killed too, a crash during recovery). Each update run has work:
    files are added, changed and deleted before it."""
    rng = random.Random(seed)
    seeds, index = workdir / "seeds", workdir / "index"
    write_copies(seeds, range(files))
    next_number, revision = files, 0
    expected_ids = ExpectedIds(seeds)
    first = run_indexer(seeds, index)
    if first.returncode != 0:
        raise RuntimeError(f"the first build failed: {first.stderr}")
    complete = {first.generation: files * RECORDS_PER_COPY}
    # kill anywhere from the interpreter's start to past the run's expected end
    startup = run_indexer(seeds, index).seconds  # nothing to do: start, scan, exit
    estimate = {"update": first.seconds / 2, "rebuild": first.seconds}
    log: list[dict] = []
    killed = Counter()
    outcomes = Counter()
    problems: list[str] = []
    recoveries = 0
    attempts = 0
    with serve(seeds, index) as port, Load(port, clients, limit=3600) as load:
        while sum(killed.values()) < kills and attempts < kills * 6:
            kind = "update" if attempts % 2 == 0 else "rebuild"
            attempts += 1
            # give the run work: add, change and delete files
            present = sorted(int(p.stem.split("-")[1]) for p in markdown_files(seeds))
            added = range(next_number, next_number + rng.randint(15, 35))
            next_number = added.stop
            revision += 1
            changed = rng.sample(present, k=min(len(present) // 3, rng.randint(10, 25)))
            deleted = rng.sample(sorted(set(present) - set(changed)), k=rng.randint(10, 30))
            write_copies(seeds, added)
            write_copies(seeds, changed, revision)
            for number in deleted:
                (seeds / copy_name(number)).unlink()
            before = Snapshot.of(index)
            # most kills at a random time; some the moment the run starts writing segments, to
            # hit the short windows of the commit and the swap
            trigger = "writes" if rng.random() < 0.3 else "delay"
            delay = rng.uniform(startup * 0.3, max(estimate[kind], startup) * 1.2)
            process = start_indexer(seeds, index, rebuild=kind == "rebuild")
            started = time.monotonic()
            if trigger == "writes":
                wait_for_writes(process, index, kind, before.files, INDEX_TIMEOUT)
                time.sleep(rng.uniform(0, 0.05))
            else:
                time.sleep(delay)
            delay = time.monotonic() - started
            if process.poll() is None:
                locked = holds_a_lock(process.pid)
                process.send_signal(signal.SIGKILL)
                process.communicate()
                killed[kind] += 1
                where = _kill_point(index, kind, before, locked)
                outcomes[f"{kind}: {where}"] += 1
            else:
                out, err = process.communicate()
                where = "finished before the kill"
                if process.returncode == 0:
                    found = re.search(r"generation (\d+\.\d+) \(", out)
                    complete[found.group(1)] = len(markdown_files(seeds)) * RECORDS_PER_COPY
                    estimate[kind] = max(estimate[kind], time.monotonic() - started)
                else:
                    problems.append(f"an indexer run failed: {err[-1000:]}")
            entry = {"kind": kind, "trigger": trigger, "delay": round(delay, 2), "point": where}
            # the server answers from a complete index: the one before, or the new one if the
            # run committed before it died
            status, _, body = get(port, BROWSE)
            if status != 200:
                problems.append(f"after a kill the server answered {status}: {body[:200]!r}")
            else:
                data = json.loads(body)
                entry["served"] = [data["generation"], data["total"]]
                if data["generation"] not in complete:
                    # a run that committed, then died before it could report: its records are
                    # those of the files on disk now
                    complete[data["generation"]] = len(markdown_files(seeds)) * RECORDS_PER_COPY
            if rng.random() < 0.75 or sum(killed.values()) >= kills:
                recovery = run_indexer(seeds, index)
                recoveries += 1
                entry["recovery_seconds"] = round(recovery.seconds, 2)
                if recovery.returncode != 0 or "Traceback" in recovery.stderr:
                    problems.append(f"the run after a kill failed: {recovery.stderr[-1000:]}")
                else:
                    complete[recovery.generation] = len(markdown_files(seeds)) * RECORDS_PER_COPY
                    estimate["update"] = max(estimate["update"], recovery.seconds)
                    for problem in exact_index_problems(index, expected_ids()):
                        problems.append(f"after kill {sum(killed.values())}: {problem}")
                    status, _, body = get(port, BROWSE)
                    served = json.loads(body)["total"] if status == 200 else None
                    if served != sum(expected_ids().values()):
                        problems.append(
                            f"after recovery the server served {served} records, "
                            f"the files on disk hold {sum(expected_ids().values())}"
                        )
            log.append(entry)
        final = run_indexer(seeds, index)
        if final.returncode != 0:
            problems.append(f"the final run failed: {final.stderr[-1000:]}")
        else:
            complete[final.generation] = len(markdown_files(seeds)) * RECORDS_PER_COPY
        final_problems = exact_index_problems(index, expected_ids())
        load.stop()
    answers = load.answers
    expected = expected_ids()
    found = Counter(index_ids(index))
    return {
        "kills": sum(killed.values()),
        "kills_by_kind": dict(killed),
        "kill_points": dict(sorted(outcomes.items())),
        "runs_started": attempts,
        "recoveries_run": recoveries,
        "final_files": len(markdown_files(seeds)),
        "final_records": {
            "expected": sum(expected.values()),
            "indexed": sum(found.values()),
            "unique_ids": len(found),
            "lost": len(set(expected) - set(found)),
            "duplicated": sum(n - 1 for n in found.values() if n > 1),
        },
        "problems": problems + final_problems,
        "requests_during": len(answers),
        "failed_requests": sum(a.status != 200 for a in answers),
        "server_errors": sum(a.status >= 500 for a in answers),
        "failure_samples": [f"{a.status} {a.path}: {a.error}" for a in answers if a.status != 200][
            :5
        ],
        "inconsistencies": consistency(answers, complete),
        "leftover_builds": sorted(p.name for p in index.glob("gen-*.tmp")),
        "log": log,
    }


def wait_for_writes(
    process: subprocess.Popen, index: Path, kind: str, before_files: set[str], timeout: float
) -> None:
    """Return once the run writes its first index segment, or ends (bounded by `timeout`)."""
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        try:
            if kind == "rebuild":
                folders = list(index.glob("gen-*.tmp"))
                names = {p.name for p in folders[0].iterdir()} if folders else set()
            else:
                names = _generation_files(index) - before_files
        except OSError:  # the folder was renamed or swapped while we listed it
            names = set()
        if any(name.endswith(".seg") for name in names):
            return
        time.sleep(0.002)


def holds_a_lock(pid: int) -> bool:
    """Whether process `pid` holds a file lock (ours or Whoosh's): it got past its start-up."""
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return True  # cannot tell: judge by the files alone
    return any(len(f) > 4 and f[1] == "FLOCK" and f[4] == str(pid) for f in map(str.split, lines))


@dataclass
class Snapshot:
    """What an index folder held before a run: to tell how far the run got when it died."""

    current: str
    folders: set[str]  # of the index folder
    files: set[str]  # of the current generation

    @classmethod
    def of(cls, index: Path) -> Snapshot:
        current = (index / "CURRENT").read_text().strip()
        return cls(current, {p.name for p in index.iterdir()}, _generation_files(index))


def _kill_point(index: Path, kind: str, before: Snapshot, locked: bool) -> str:
    """Where a killed run had got to, judged from its lock and what it left on disk."""
    swapped = (index / "CURRENT").read_text().strip() != before.current
    new_files = _generation_files(index) - before.files if not swapped else set()
    committed = swapped or any(name.endswith(".toc") for name in new_files)
    if not locked:
        return "exiting (lock released)" if committed else "starting (before taking the lock)"
    if kind == "rebuild":
        if swapped:
            return "after the swap (lock still held)"
        folders = {p.name for p in index.iterdir()} - before.folders
        if any(not name.endswith(".tmp") and name.startswith("gen-") for name in folders):
            return "renamed into place, before the swap"
        building = list(index.glob("gen-*.tmp"))
        if building and any(p.suffix == ".seg" for p in building[0].iterdir()):
            return "writing the new generation's segments"
        return "reading files into the new generation" if building else "scanning the seeds"
    if committed:
        return "after the commit (lock still held)"
    if any(name.endswith(".seg") for name in new_files):
        return "writing segments"
    return "reading files (nothing written yet)"


# ---------------------------------------------------------------------------------------------
# A full disk


def _limit_file_size(limit: int):
    def apply() -> None:
        # writes past the limit fail with EFBIG instead of killing the process with SIGXFSZ
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def directory_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def mount_tmpfs(path: Path, size: int) -> bool:
    """Mount a tmpfs of `size` bytes at `path`; False where that is not allowed."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        timeout=30,
    )
    return done.returncode == 0


def resize_tmpfs(path: Path, size: int) -> None:
    subprocess.run(
        ["mount", "-o", f"remount,size={size}", str(path)], check=True, capture_output=True
    )


def unmount(path: Path, attempts: int = 20) -> None:
    """Unmount the tmpfs at `path`. A process that outlives the check (the vector pass a build
    spawns) may still hold a file there: try again for a while, then detach it lazily (it goes
    once its last file is closed) rather than leave it mounted under a temporary folder."""
    for _ in range(attempts):
        if subprocess.run(["umount", str(path)], capture_output=True, timeout=30).returncode == 0:
            return
        time.sleep(0.25)
    subprocess.run(["umount", "--lazy", str(path)], capture_output=True, timeout=30)


def full_disk_check(
    seeds: Path, index: Path, rebuild: bool, popen: dict, port: int | None = None
) -> dict:
    """Run the indexer where it cannot write; it must fail cleanly (exit 1, a message naming the
    disk, no traceback, no half-built generation left) while the old index still answers."""
    from search.query import SearchIndex
    from search.request import SearchRequest

    with SearchIndex(index) as before_engine:
        before = before_engine.search(SearchRequest())
        failed = run_indexer(seeds, index, rebuild=rebuild, **popen)
        still = before_engine.search(SearchRequest())
    served = None
    if port is not None:
        status, _, body = get(port, BROWSE)
        served = json.loads(body)["total"] if status == 200 else status
    return {
        "rebuild": rebuild,
        "returncode": failed.returncode,
        "message": failed.stderr.strip(),
        "traceback": "Traceback" in failed.stderr,
        "records_before": before["total"],
        "records_served_after_failure": still["total"],
        "generation_after_failure": still["generation"],
        "generation_before": before["generation"],
        "server_served": served,
        "leftover_builds": sorted(p.name for p in index.glob("gen-*.tmp")),
    }


def run_full_disk(workdir: Path, files: int = 60) -> dict:
    """A rebuild and an update on a full disk: a small tmpfs where we may mount one, and a file
    size limit (RLIMIT_FSIZE) everywhere. Then the space comes back and the next run completes."""
    results = {}
    seeds, index = workdir / "seeds", workdir / "index"
    write_copies(seeds, range(files))
    if run_indexer(seeds, index).returncode != 0:
        raise RuntimeError("the first build failed")
    size = directory_size(index)
    with serve(seeds, index) as port:
        # file size limit: any index file bigger than a quarter of a generation cannot be written
        limit = _limit_file_size(max(size // 4, 4096))
        write_copies(seeds, range(files, files + 20))
        results["rlimit update"] = full_disk_check(seeds, index, False, {"preexec_fn": limit}, port)
        results["rlimit rebuild"] = full_disk_check(seeds, index, True, {"preexec_fn": limit}, port)
        after = run_indexer(seeds, index)
        results["rlimit next run"] = {
            "returncode": after.returncode,
            "summary": after.stdout.strip(),
            "problems": exact_index_problems(index, ExpectedIds(seeds)()),
        }
    # a real full disk: the index on a tmpfs with room for one generation and a half
    disk = workdir / "disk"
    if mount_tmpfs(disk, size * 3):
        try:
            moved = disk / "index"
            shutil.copytree(index, moved)
            used = directory_size(moved)
            resize_tmpfs(disk, used + used // 2)
            write_copies(seeds, range(files + 20, files + 40))
            results["tmpfs rebuild"] = full_disk_check(seeds, moved, True, {})
            resize_tmpfs(disk, used * 4)
            after = run_indexer(seeds, moved, rebuild=True)
            results["tmpfs next run"] = {
                "returncode": after.returncode,
                "summary": after.stdout.strip(),
                "problems": exact_index_problems(moved, ExpectedIds(seeds)()),
            }
        finally:
            unmount(disk)
    else:
        results["tmpfs"] = "mount refused here: only the file size limit was tried"
    return results


# ---------------------------------------------------------------------------------------------
# Hostile input through the real server

TRACEBACK = "Traceback (most recent call last)"


def shows_a_traceback(body: str, sent) -> bool:
    """Whether an answer shows a Python traceback that it does not merely echo from the values
    sent (hypothesis draws strings from the source's own constants, this one among them)."""
    return TRACEBACK in body and not any(TRACEBACK in str(value) for value in sent)


def sent_by(case) -> list[str]:
    """Every value a schemathesis case sends, as text."""
    parts = (case.query, case.path_parameters, case.headers)
    return [json.dumps(part, ensure_ascii=False, default=str) for part in parts if part]


# (what the report calls it, the query): each must be answered or refused with a 400, quickly
HOSTILE_QUERIES = (
    ("10,000 × x", "x" * 10_000),
    ("1,000 characters of words", "碳排量 " * 250),
    ("21 nested parentheses", "(" * 21 + "碳" + ")" * 21),
    ("20 nested parentheses", "(" * 20 + "碳" + ")" * 20),
    ("999 × (", "(" * 999),
    ("1,000 × )", ")" * 1000),
    ("499 × NOT", "- " * 499 + "碳"),
    ("*", "*"),
    ("a*", "a*"),
    ("?", "?"),
    ("nofield:碳", "nofield:碳"),
    ("year:99999999999999999999", "year:99999999999999999999"),
    ('content::"', 'content::"'),
    ("<script>", "<script>alert(1)</script>"),
)


def run_fuzz(workdir: Path, examples: int = 300, seed: int = 1) -> dict:
    """Schemathesis over /api/openapi.json (valid and invalid values of every declared parameter
    of every operation), then hypothesis queries on the page and the API, all over HTTP to a real
    server whose seeds hold markup. Counts answers by status: 5xx, tracebacks and answers that
    break the document are failures."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from hypothesis.errors import Unsatisfiable

    seeds, index = workdir / "seeds", workdir / "index"
    seeds.mkdir(parents=True)
    shutil.copy(SEED_FILE, seeds / SEED_FILE.name)
    shutil.copy(REPO / "tests" / "fixtures" / "web" / "xss-entries.md", seeds / "xss-entries.md")
    if run_indexer(seeds, index).returncode != 0:
        raise RuntimeError("the build failed")
    statuses: Counter = Counter()
    failures: list[str] = []
    checks = [
        schemathesis.checks.not_a_server_error,
        schemathesis.checks.status_code_conformance,
        schemathesis.checks.content_type_conformance,
        schemathesis.checks.response_schema_conformance,
    ]
    fuzz_settings = settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    started = time.monotonic()
    with serve(seeds, index, threads=4) as port:
        base = f"http://{HOST}:{port}"
        schema = schemathesis.openapi.from_url(base + "/api/openapi.json")

        def fuzz(operation, mode) -> None:
            @fuzz_settings
            @given(case=operation.as_strategy(generation_mode=mode))
            def call(case) -> None:
                response = case.call(base_url=base, timeout=REQUEST_TIMEOUT)
                statuses[operation.label, mode.value, response.status_code] += 1
                problem = None
                if shows_a_traceback(response.text, sent_by(case)):
                    problem = "a traceback in the body"
                else:
                    try:
                        case.validate_response(response, checks=checks)
                    except Exception as exc:  # noqa: BLE001 - every failed check counts
                        problem = str(exc).splitlines()[0]
                if problem:
                    failures.append(
                        f"{operation.label} {case.formatted_path} {case.query or ''} "
                        f"{response.status_code}: {problem}"
                    )

            with contextlib.suppress(Unsatisfiable):  # no invalid input exists (no parameters)
                call()

        for result in schema.get_all_operations():
            for mode in schemathesis.GenerationMode:
                fuzz(result.ok(), mode)

        @settings(max_examples=examples * 2, deadline=None, database=None, derandomize=True)
        @given(q=st.text(max_size=1200), path=st.sampled_from(["/api/search", "/"]))
        def query(q: str, path: str) -> None:
            answered, _, body = get(port, path + "?" + urllib.parse.urlencode({"q": q}))
            statuses[f"GET {path} q", "hypothesis", answered] += 1
            if answered >= 500 or shows_a_traceback(body.decode("utf-8", "replace"), [q]):
                failures.append(f"GET {path} q={q[:80]!r}: {answered}")

        query()
        hostile = []
        for name, q in HOSTILE_QUERIES:
            sent = time.monotonic()
            answered, _, body = get(port, "/api/search?" + urllib.parse.urlencode({"q": q}))
            took = time.monotonic() - sent
            message = json.loads(body)["error"]["message"] if answered == 400 else None
            hostile.append({"query": name, "status": answered, "ms": round(took * 1000, 1)})
            if message:
                hostile[-1]["message"] = message
            if answered not in (200, 400):
                failures.append(f"hostile query {name}: {answered}")
    by_status: Counter = Counter()
    for (_, _, status), count in statuses.items():
        by_status[status] += count
    return {
        "requests": sum(statuses.values()),
        "seconds": round(time.monotonic() - started, 1),
        "by_status": dict(sorted(by_status.items())),
        "server_errors": sum(n for status, n in by_status.items() if status >= 500),
        "failures": len(failures),
        "failure_samples": failures[:10],
        "hostile_queries": hostile,
        "per_operation": {
            f"{label} [{mode}]": sum(
                n for (lab, m, _), n in statuses.items() if (lab, m) == (label, mode)
            )
            for label, mode in sorted({(lab, m) for lab, m, _ in statuses})
        },
    }


# ---------------------------------------------------------------------------------------------
# The whole run


def machine() -> dict:
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--clients", type=int, default=16, help="concurrent load clients")
    parser.add_argument("--files", type=int, default=400, help="files before the update")
    parser.add_argument("--added", type=int, default=200, help="files the update adds")
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs of the indexer")
    parser.add_argument("--kill-files", type=int, default=150, help="files of the kill run")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the kill delays")
    parser.add_argument("--examples", type=int, default=300, help="fuzz cases per operation")
    parser.add_argument("--out", type=Path, help="write the JSON report here too")
    parser.add_argument("--workdir", type=Path, help="keep the work files here")
    args = parser.parse_args(argv)
    report: dict = {"machine": machine()}
    with contextlib.ExitStack() as stack:
        if args.workdir:
            base = args.workdir
            base.mkdir(parents=True, exist_ok=True)
        else:
            base = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="reliability-")))
        started = time.monotonic()
        print(f"load: {args.clients} clients, {args.duration:g} s ...", file=sys.stderr)
        report["load"] = run_load(
            base / "load",
            clients=args.clients,
            duration=args.duration,
            initial_files=args.files,
            added_files=args.added,
        )
        print(f"kills: {args.kills} ...", file=sys.stderr)
        kills = run_kills(base / "kills", kills=args.kills, files=args.kill_files, seed=args.seed)
        report["kills"] = kills
        print("full disk ...", file=sys.stderr)
        report["full_disk"] = run_full_disk(base / "disk")
        print(f"fuzz: {args.examples} examples per operation and mode ...", file=sys.stderr)
        report["fuzz"] = run_fuzz(base / "fuzz", examples=args.examples)
        report["seconds"] = round(time.monotonic() - started, 1)
    text = json.dumps(report, ensure_ascii=False, indent=2)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return report


if __name__ == "__main__":
    main()
