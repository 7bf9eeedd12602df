"""Load while the index is updated and then rebuilt: client threads with keep-alive connections,
every answer recorded, each phase's figures and what no client may ever see."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import load
from bench.reliability.workload import (
    BROWSE,
    INDEX_TIMEOUT,
    MAX_REQUESTS_PER_CLIENT,
    RECORDS_PER_COPY,
    REQUEST_TIMEOUT,
    SEARCHES,
    run_indexer,
    serve,
    write_copies,
)


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
        connection = load.Connection(self.port, timeout=REQUEST_TIMEOUT)
        for i in range(number, number + MAX_REQUESTS_PER_CLIENT):
            if self._stop.is_set() or time.monotonic() > deadline:
                break
            path = SEARCHES[i % len(SEARCHES)]
            started = time.monotonic()
            status, body, error = connection.get(path)
            answer = Answer(started, time.monotonic() - started, path, status)
            if status == 0:
                answer.error = error
            elif path.startswith("/api/") and status == 200:
                data = json.loads(body)
                answer.generation = data["generation"]
                answer.total = data["total"] if "total" in data else data["documents"]
            elif status != 200:
                answer.error = body[:300].decode("utf-8", "replace")
            own.append(answer)
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
