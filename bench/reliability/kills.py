"""Kills: SIGKILL the indexer at random points, check the server and the next run."""

from __future__ import annotations

import json
import random
import re
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.reliability.under_load import Load, consistency
from bench.reliability.workload import (
    BROWSE,
    INDEX_TIMEOUT,
    RECORDS_PER_COPY,
    copy_name,
    get,
    markdown_files,
    run_indexer,
    serve,
    start_indexer,
    write_copies,
)


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
