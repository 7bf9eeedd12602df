"""Child processes: builds and cold starts run in a fresh interpreter, for a truly cold start and
the process's own peak memory; our build from a cold process and the sentence vectors it may
leave to a background pass."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import queries as bench_queries
from bench.common.processes import child_env, cli
from bench.speed.settings import REPO, VECTORS_POLL


def _child_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench.speed", "_child", *args]


def repo_child_env() -> dict[str, str]:
    """As child_env, with the repository importable (bench/ is not installed)."""
    return child_env() | {"PYTHONPATH": str(REPO)}


def run_process(command: list[str]) -> dict:
    """Run a command to its exit: `wall` (seconds from spawn to exit), `cpu` (its user and
    system CPU seconds) and `max_rss_mb` (its peak resident memory: ru_maxrss), both from wait4
    (a process it leaves running is not counted), and `stdout`. Output goes to a file, not a pipe, so that a background process the command leaves
    behind (holding the output open) cannot delay the moment it is seen to return."""
    with tempfile.TemporaryFile() as output, tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=REPO, stdout=output, stderr=errors, env=repo_child_env()
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            errors.seek(0)
            message = errors.read().decode("utf-8", "replace")[-3000:]
            raise RuntimeError(f"{' '.join(command[:5])} ... failed: {message}")
        output.seek(0)
        stdout = output.read().decode("utf-8", "replace")
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "max_rss_mb": usage.ru_maxrss / 1024,  # KiB
        "stdout": stdout,
    }


def run_child(*args: str) -> dict:
    """Run a child task of this module; its JSON answer plus `wall` and `max_rss_mb`."""
    ran = run_process(_child_command(*args))
    answer = json.loads(ran["stdout"].strip().splitlines()[-1])
    return answer | {"wall": ran["wall"], "cpu": ran["cpu"], "max_rss_mb": ran["max_rss_mb"]}


def _folder_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def child(argv: list[str]) -> None:
    """The tasks run in child processes; each prints one JSON line."""
    task, *args = argv
    started = time.perf_counter()
    answer: dict = {}
    if task in ("build-sqlite", "build-tantivy"):
        # as `policy-search index` does: parse and tokenise the Markdown, then insert
        from bench import baselines

        phases = {"imports": time.perf_counter() - started}
        seeds, target = Path(args[0]), Path(args[1])
        rows = list(baselines.rows_of(seeds))
        phases["parse_tokenise"] = time.perf_counter() - started - phases["imports"]
        (baselines.build_sqlite if task == "build-sqlite" else baselines.build_tantivy)(
            rows, target
        )
        phases["insert"] = time.perf_counter() - started - sum(phases.values())
        answer = {"phases": phases, "records": len(rows), "index_bytes": _folder_bytes(target)}
    elif task.startswith("cold-"):
        engine, where, query = task[5:], Path(args[0]), args[1]
        phases = {}
        if engine == "ours":
            from search.query import SearchIndex
            from search.request import SearchRequest

            phases["import"] = time.perf_counter() - started
            index = SearchIndex(where)
            request = SearchRequest.from_params({"q": [query]})
            result = index.search(request)
        else:
            from bench import baselines
            from search.request import SearchRequest

            phases["import"] = time.perf_counter() - started
            request = SearchRequest.from_params({"q": [query]})
            searcher = (
                baselines.SqliteSearch(where)
                if engine == "sqlite"
                else baselines.TantivySearch(where)
            )
            result = searcher.search(request)
        phases["answer"] = time.perf_counter() - started
        answer = {"seconds": phases["answer"], "phases": phases, "total": result["total"]}
    else:
        raise SystemExit(f"unknown child task {task}")
    print(json.dumps(answer))


def cli_json(*args: str) -> dict:
    """`policy-search ARGS --json` run as a new process, its answer parsed."""
    ran = run_process(cli(*args, "--json"))
    return json.loads(ran["stdout"])


def vectors_state(stats: dict) -> tuple[int, int] | None:
    """(done, total) of the sentence vectors from `stats --json`; None when stats has no
    `vectors` key (an engine that finishes them inside `index`)."""
    vectors = stats.get("vectors")
    if not isinstance(vectors, dict):
        return None
    return int(vectors.get("done", 0)), int(vectors.get("total", 0))


def wait_for_vectors(
    index: Path, started: float, timeout: float, state: tuple[int, int], seen: float
) -> dict:
    """Poll `stats --json` until its vectors are done (done >= total) or `timeout` seconds after
    `started`; `state` is what the last stats, ended at `seen`, said. Each poll is a new process
    that opens the index, so the polls are spaced by at least their own duration (at most half of
    one core) and never more often than every VECTORS_POLL seconds. `seconds`: from `started` to the end of the
    first stats that saw them done; `resolution`: the time since the stats before it (the vectors
    were finished somewhere in between)."""
    polls, previous, duration = 0, None, 0.0
    while True:
        if state[0] >= state[1]:
            return {
                "seconds": seen - started,
                "resolution": None if previous is None else seen - previous,
                "done": state[0],
                "total": state[1],
                "polls": polls,
            }
        if seen - started > timeout:
            return {"seconds": None, "done": state[0], "total": state[1], "polls": polls}
        time.sleep(max(VECTORS_POLL, duration))
        previous, polling = seen, time.perf_counter()
        polled = vectors_state(cli_json("stats", "--index", str(index)))
        seen = time.perf_counter()
        duration = seen - polling
        polls += 1
        if polled is None:  # the key went away: nothing left to wait for
            polled = (state[1], state[1])
        state = polled


def warm_up(engines: list[str], out: Path) -> None:
    """Build the repository's seeds/ once with every engine, unmeasured: the interpreter, the
    libraries, the dictionary and the encoder's weights are then in the page cache for the
    measured builds, as on a machine that has run them before."""
    seeds = REPO / "seeds"
    if not seeds.is_dir():
        return
    work = out / "warm-up"
    shutil.rmtree(work, ignore_errors=True)
    build_ours_cold(seeds, work / "index", 60.0, bench_queries.KEYWORD_QUERIES[0])
    for engine in engines[1:]:
        run_child(f"build-{engine}", str(seeds), str(work / engine))
    shutil.rmtree(work, ignore_errors=True)


def build_ours_cold(seeds: Path, index: Path, vectors_timeout: float, query: str) -> dict:
    """`policy-search index --rebuild` as a new process (interpreter start, imports, parse,
    tokenise, write and commit: what a user waits for). Then, in new processes as well, a keyword
    search (usable as soon as the command returned?) and `stats --json`: when stats reports the
    sentence vectors as still being made, they are waited for (`vectors`)."""
    started = time.perf_counter()
    ran = run_process(
        cli("index", "--seeds", str(seeds), "--index", str(index), "--rebuild", "--quiet")
    )
    answer = {key: ran[key] for key in ("wall", "cpu", "max_rss_mb")} | {"summary": ran["stdout"]}
    found = cli_json("search", query, "--index", str(index))
    answer["searchable"] = {"query": query, "total": found["total"]}
    stats = cli_json("stats", "--index", str(index))
    seen = time.perf_counter()
    answer["records"] = stats["documents"]
    state = vectors_state(stats)
    answer["vectors_at_return"] = None if state is None else {"done": state[0], "total": state[1]}
    if state is not None:
        answer["vectors"] = wait_for_vectors(index, started, vectors_timeout, state, seen)
    answer["index_bytes"] = _folder_bytes(index)
    return answer
