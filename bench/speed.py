"""Speed on real text: index build, incremental add, cold start, query latency in process and
over HTTP, and HTTP throughput, for our engine and, in the same run on the same machine, for
SQLite FTS5, tantivy and Datasette fed the same records and tokens. Writes docs/benchmarks.md.

    bench/run ../shared/corpus                          # 1k, 10k and every record (~78k)
    bench/run ../shared/corpus --sizes 1000 --quick     # a smoke run
    bench/run ../shared/corpus --profile                # also profile our queries and build

tantivy and Datasette are optional (the `bench` extra): without them their columns are left out.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from importlib import metadata
from pathlib import Path

from . import corpus as bench_corpus

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO.parent / "shared" / "corpus"
DEFAULT_EVAL = REPO.parent / "shared" / "eval" / "stard"
DEFAULT_OUT = REPO / "bench" / "out"
DEFAULT_REPORT = REPO / "docs" / "benchmarks.md"

ENGINES = ("ours", "sqlite", "tantivy")
QUERY_SETS = ("keyword", "filtered", "typos", "questions")
CONCURRENCY = (1, 4, 16)

# Targets at the largest size (measured and reported, never asserted).
TARGETS = {
    "keyword_p95_ms": 100.0,
    "http_rps_4": 50.0,
    "questions_p95_ms": 300.0,
    "sqlite_ratio": 3.0,
    "build_chars_per_s": 200_000.0,
    "incremental_s": 2.0,
    "cold_start_s": 3.0,
}


@dataclass
class Options:
    corpus: Path
    eval: Path
    sizes: list[int | None]  # None: every record
    out: Path
    report: Path | None
    quick: bool
    questions: int | None  # how many questions (None: all)
    repeats: int  # measured passes over each query set (after one first pass)
    build_repeats: int
    http_seconds: float
    profile: bool


# ---------------------------------------------------------------------------------------------
# Statistics


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile by linear interpolation between closest ranks."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary_ms(seconds: list[float]) -> dict:
    """p50, p95, p99 and count of latencies given in seconds, in milliseconds."""
    return {
        "n": len(seconds),
        "p50": percentile(seconds, 50) * 1000,
        "p95": percentile(seconds, 95) * 1000,
        "p99": percentile(seconds, 99) * 1000,
    }


def median_spread(values: list[float]) -> dict:
    """Median and interquartile range (min and max when fewer than 4 values)."""
    if not values:
        return {"n": 0, "median": float("nan"), "low": float("nan"), "high": float("nan")}
    if len(values) >= 4:
        low, high = percentile(values, 25), percentile(values, 75)
    else:
        low, high = min(values), max(values)
    return {"n": len(values), "median": statistics.median(values), "low": low, "high": high}


# ---------------------------------------------------------------------------------------------
# Child processes: builds and cold starts run in their own process, for their peak memory and a
# truly cold start.


def _child_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench.speed", "_child", *args]


def run_child(*args: str) -> dict:
    """Run a child task; its JSON answer plus `wall` (seconds from spawn to exit) and
    `max_rss_mb` (its peak resident memory: ru_maxrss from wait4)."""
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen(
            _child_command(*args),
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=errors,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        stdout = process.stdout.read()
        process.stdout.close()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            errors.seek(0)
            message = errors.read().decode("utf-8", "replace")[-3000:]
            raise RuntimeError(f"child {args[0]} failed: {message}")
    answer = json.loads(stdout.decode("utf-8").strip().splitlines()[-1])
    answer["wall"] = wall
    answer["max_rss_mb"] = usage.ru_maxrss / 1024  # KiB on Linux
    return answer


def _folder_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def child(argv: list[str]) -> None:
    """The tasks run in child processes; each prints one JSON line."""
    task, *args = argv
    started = time.perf_counter()
    answer: dict = {}
    if task == "build-ours":
        from search.indexer import update_index
        from search.layout import current_generation

        seeds, index = Path(args[0]), Path(args[1])
        result = update_index(seeds, index, rebuild=True)
        answer = {
            "seconds": time.perf_counter() - started,
            "records": result.records,
            "index_bytes": _folder_bytes(current_generation(index)),
        }
    elif task == "prepare":
        from . import baselines

        count = baselines.prepare(Path(args[0]), Path(args[1]))
        answer = {"seconds": time.perf_counter() - started, "records": count}
    elif task in ("build-sqlite", "build-tantivy"):
        from . import baselines

        rows = baselines.load_rows(Path(args[0]))
        started = time.perf_counter()  # the tokens were made by `prepare`, timed there
        target = Path(args[1])
        (baselines.build_sqlite if task == "build-sqlite" else baselines.build_tantivy)(
            rows, target
        )
        answer = {
            "seconds": time.perf_counter() - started,
            "records": len(rows),
            "index_bytes": _folder_bytes(target),
        }
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
            from search.request import SearchRequest

            from . import baselines

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


# ---------------------------------------------------------------------------------------------
# The machine


def machine() -> dict:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = None
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = int(line.split()[1]) / 1024 / 1024
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": memory,
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def versions() -> dict:
    found = {"sqlite": sqlite3.sqlite_version}
    for name in (
        "whoosh-reloaded",
        "rjieba",
        "jieba",
        "numpy",
        "markdown-it-py",
        "flask",
        "waitress",
        "tantivy",
        "datasette",
        "uvicorn",
    ):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


def available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


# ---------------------------------------------------------------------------------------------
# One size


def size_label(records: int | None) -> str:
    if records is None:
        return "max"
    return f"{records // 1000}k" if records % 1000 == 0 else str(records)


def _query_sets(options: Options, has_questions: bool) -> dict[str, list[dict]]:
    sets = {
        "keyword": bench_corpus.keyword_params(),
        "filtered": bench_corpus.filtered_params(),
        "typos": bench_corpus.typo_params(),
    }
    if has_questions:
        limit = options.questions
        sets["questions"] = [{"q": [q]} for q in bench_corpus.questions(options.eval, limit)]
    return sets


def _timed_passes(search, requests: list, repeats: int) -> tuple[list[float], list[float], list]:
    """(first-pass latencies, latencies of `repeats` further passes, first-pass results)."""
    first, repeat, results = [], [], []
    for request in requests:
        started = time.perf_counter()
        results.append(search(request))
        first.append(time.perf_counter() - started)
    for _ in range(repeats):
        for request in requests:
            started = time.perf_counter()
            search(request)
            repeat.append(time.perf_counter() - started)
    return first, repeat, results


def bench_size(records: int | None, options: Options, engines: list[str], log) -> dict:
    from search.query import SearchIndex
    from search.ranking import DEFAULT as RANKING
    from search.request import SearchRequest

    label = size_label(records)
    work = options.out / label
    work.mkdir(parents=True, exist_ok=True)
    seeds = work / "corpus"
    log(f"[{label}] writing the corpus")
    info = bench_corpus.build_corpus(options.corpus, seeds, records)
    result: dict = {
        "label": label,
        "corpus": {
            "files": info.files,
            "records": info.records,
            "characters": info.characters,
            "sources": info.sources,
        },
        "build": {},
    }
    repeats = 1 if records is None else options.build_repeats

    # -- builds
    index = work / "index"
    builds = []
    for _ in range(repeats):
        shutil.rmtree(index, ignore_errors=True)
        builds.append(run_child("build-ours", str(seeds), str(index)))
        log(f"[{label}] built our index in {builds[-1]['seconds']:.1f} s")
    result["build"]["ours"] = _build_summary(builds, info.characters)
    result["corpus"]["indexed"] = builds[-1]["records"]

    rows = work / "rows.pkl"
    sqlite_path = work / "bench.sqlite"
    tantivy_path = work / "tantivy"
    if len(engines) > 1:
        prepared = [run_child("prepare", str(seeds), str(rows)) for _ in range(repeats)]
        result["build"]["prepare"] = _build_summary(prepared, info.characters)
        log(f"[{label}] parsed and tokenised for the baselines in {prepared[-1]['seconds']:.1f} s")
        for engine, path in (("sqlite", sqlite_path), ("tantivy", tantivy_path)):
            if engine not in engines:
                continue
            runs = [run_child(f"build-{engine}", str(rows), str(path)) for _ in range(repeats)]
            for run in runs:  # end to end: the same parsing and tokenising, then the insert
                run["insert_seconds"] = run["seconds"]
                run["seconds"] += statistics.median(p["seconds"] for p in prepared)
            result["build"][engine] = _build_summary(runs, info.characters)
            log(f"[{label}] built {engine} in {runs[-1]['insert_seconds']:.1f} s (+ tokens)")

    # -- cold start: process start, imports, open, first answer
    first_query = bench_corpus.KEYWORD_QUERIES[0]
    cold_runs = 2 if options.quick else 5
    where = {"ours": index, "sqlite": sqlite_path, "tantivy": tantivy_path}
    result["cold"] = {}
    for engine in engines:
        runs = [
            run_child(f"cold-{engine}", str(where[engine]), first_query) for _ in range(cold_runs)
        ]
        result["cold"][engine] = {
            "wall": median_spread([r["wall"] for r in runs]),
            "import": median_spread([r["phases"]["import"] for r in runs]),
            "answer": median_spread([r["phases"]["answer"] for r in runs]),
            "max_rss_mb": statistics.median(r["max_rss_mb"] for r in runs),
        }
    log(f"[{label}] cold start {result['cold']['ours']['wall']['median']:.2f} s")

    # -- in-process query latency
    has_questions = (options.eval / "queries.train.tsv").is_file()
    sets = _query_sets(options, has_questions)
    # The baselines match keywords record by record; ours runs without its document-level
    # additions (ranking.same_file_keywords, keyword_documents) so that totals compare alike.
    record_level = replace(RANKING, same_file_keywords=False, keyword_documents=0)
    searchers = {"ours": SearchIndex(index, ranking=record_level)}
    if "sqlite" in engines:
        from .baselines import SqliteSearch

        searchers["sqlite"] = SqliteSearch(sqlite_path)
    if "tantivy" in engines:
        from .baselines import TantivySearch

        searchers["tantivy"] = TantivySearch(tantivy_path)
    result["queries"], result["agreement"] = {}, {}
    for name, params in sets.items():
        requests = [SearchRequest.from_params(p) for p in params]
        totals = {}
        result["queries"][name] = {}
        for engine, searcher in searchers.items():
            # the questions are many and slow: one measured pass after the first
            passes = 1 if name == "questions" else options.repeats
            first, repeat, answers = _timed_passes(searcher.search, requests, passes)
            result["queries"][name][engine] = {
                "first": summary_ms(first),
                "repeat": summary_ms(repeat),
            }
            totals[engine] = [a["total"] for a in answers]
        result["agreement"][name] = {
            engine: sum(a == b for a, b in zip(totals["ours"], found, strict=True))
            for engine, found in totals.items()
            if engine != "ours"
        } | {"queries": len(requests)}
        log(
            f"[{label}] {name}: ours p95 "
            f"{result['queries'][name]['ours']['repeat']['p95']:.1f} ms over {len(requests)}"
        )

    # -- incremental add of one new file
    if records is None or options.quick:
        result["incremental"] = incremental(options, seeds, index, searchers["ours"], log)

    # -- HTTP, at the largest size only
    if records == options.sizes[-1]:
        result["http"] = http(options, seeds, index, sqlite_path, sets, searchers, engines, log)

    if options.profile and records == options.sizes[-1]:
        result["profile"] = profile(options, searchers["ours"], sets, work, log)
    for searcher in searchers.values():
        with contextlib.suppress(Exception):
            searcher.db.close()  # type: ignore[attr-defined]
    return result


def _build_summary(runs: list[dict], characters: int) -> dict:
    seconds = [r["seconds"] for r in runs]
    summary = {
        "seconds": median_spread(seconds),
        "chars_per_s": characters / statistics.median(seconds),
        "max_rss_mb": statistics.median(r["max_rss_mb"] for r in runs),
        "wall": median_spread([r["wall"] for r in runs]),
    }
    if "index_bytes" in runs[-1]:
        summary["index_mb"] = runs[-1]["index_bytes"] / 1e6
    if "insert_seconds" in runs[-1]:
        summary["insert_seconds"] = median_spread([r["insert_seconds"] for r in runs])
    return summary


def incremental(options: Options, seeds: Path, index: Path, engine, log) -> dict:
    """Add one new law file to the index and time until a search finds it; then remove it."""
    from search.indexer import update_index
    from search.request import SearchRequest

    adds, updates, removes = [], [], []
    for n in range(1 if options.quick else 3):
        marker = f"benchmarkmarker{n}x{int(time.time())}"
        relative, text = bench_corpus.new_file(options.corpus, marker)
        target = seeds / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        request = SearchRequest.from_params({"q": [marker]})
        engine.search(request)  # a warm engine, as a running server has
        started = time.perf_counter()
        target.write_text(text, encoding="utf-8")
        update = update_index(seeds, index)
        updated = time.perf_counter()
        found = engine.search(request)["total"]
        adds.append(time.perf_counter() - started)
        updates.append(updated - started)
        if not found:
            raise RuntimeError(f"the added file {relative} is not found by {marker}")
        started = time.perf_counter()
        target.unlink()
        update_index(seeds, index)
        engine.search(request)
        removes.append(time.perf_counter() - started)
        log(f"added one file ({update.records} records) searchable in {adds[-1]:.2f} s")
    return {
        "add": median_spread(adds),
        "update_index": median_spread(updates),
        "remove": median_spread(removes),
    }


def http(options, seeds, index, sqlite_path, sets, searchers, engines, log) -> dict:
    """Latency (one client) and throughput (1, 4 and 16 clients) against our server and, with
    the same queries as FTS5 expressions, against Datasette serving the SQLite FTS5 table."""

    from . import load

    result: dict = {}
    mixed = sets["keyword"] + sets["filtered"]
    servers = ["ours"]
    if "sqlite" in engines and available("datasette"):
        servers.append("datasette")
    for server_name in servers:
        port = load.free_port()
        if server_name == "ours":
            command, ready, path = _our_server(port, index, seeds)
        else:
            command, ready, path = _datasette_server(port, sqlite_path, searchers["sqlite"])
        paths = {name: [path(p) for p in params] for name, params in sets.items()}
        mixed_paths = [path(p) for p in mixed]
        entry: dict = {"latency": {}, "load": []}
        with load.serve(
            command, port, ready, env={**os.environ, "PYTHONPATH": str(REPO)}
        ) as server:
            entry["started_seconds"] = server.started_seconds
            for name, urls in paths.items():
                load.latencies(port, urls[: max(5, len(urls) // 10)])  # warm-up
                seconds, errors = load.latencies(port, urls, passes=1 if name == "questions" else 2)
                entry["latency"][name] = summary_ms(seconds) | {"errors": errors}
            for clients in CONCURRENCY:
                run = load.load(port, mixed_paths, clients, options.http_seconds)
                entry["load"].append(
                    {
                        "clients": clients,
                        "requests": run.requests,
                        "errors": run.errors,
                        "seconds": run.seconds,
                        "per_second": run.per_second,
                        "latency": summary_ms(run.latencies),
                    }
                )
                log(
                    f"[http] {server_name} {clients} clients: {run.per_second:.1f} req/s, "
                    f"p95 {entry['load'][-1]['latency']['p95']:.0f} ms, {run.errors} errors"
                )
            entry["peak_memory_mb"] = server.peak_memory_mb()
        result[server_name] = entry
    return result


def _our_server(port: int, index: Path, seeds: Path):
    """(command, ready path, request params -> URL path) of `policy-search serve`."""
    from . import load

    command = [
        sys.executable, "-m", "search.cli", "serve", "--port", str(port),
        "--index", str(index), "--seeds", str(seeds),
    ]  # fmt: skip

    def path(params: dict) -> str:
        pairs = [(k, v) for k, values in params.items() for v in values]
        return load.path_with("/api/search", pairs)

    return command, "/api/health", path


def _datasette_server(port: int, sqlite_path: Path, sqlite):
    """The same for Datasette serving the SQLite FTS5 baseline; each request's FTS5 expression
    is the one the SQLite baseline chose (all words, or any word for questions)."""
    from search.request import SearchRequest

    from . import load
    from .baselines import datasette_metadata, datasette_params

    metadata_path = sqlite_path.with_name("datasette.json")
    datasette_metadata(metadata_path)
    command = [
        sys.executable, "-m", "datasette", "serve", "-i", str(sqlite_path),
        "--port", str(port), "--metadata", str(metadata_path),
        "--setting", "sql_time_limit_ms", "20000",
        "--setting", "facet_time_limit_ms", "20000",
        "--setting", "suggest_facets", "off",
    ]  # fmt: skip

    def path(params: dict) -> str:
        request = SearchRequest.from_params(params)
        return load.path_with(
            "/bench/docs.json", datasette_params(request, sqlite.expression(request))
        )

    return command, "/bench/docs.json?_size=1", path


def profile(options, engine, sets, work: Path, log) -> dict:
    """pyinstrument over one pass of every query set at this size, and over a build of the
    smallest size's corpus; full outputs beside the results, the top of each in the report."""
    if not available("pyinstrument"):
        return {}
    from pyinstrument import Profiler
    from pyinstrument.renderers import ConsoleRenderer

    from search.indexer import update_index
    from search.request import SearchRequest

    def flat(profiler: Profiler, name: str) -> list[str]:
        renderer = ConsoleRenderer(unicode=True, color=False, flat=True, show_all=False)
        text = profiler.output(renderer)
        (work / f"profile-{name}.txt").write_text(text, encoding="utf-8")
        return _flat_top(text)

    found = {}
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for name in ("keyword", "filtered", "typos", "questions"):
        for params in sets.get(name, [])[:50]:
            engine.search(SearchRequest.from_params(params))
    profiler.stop()
    found["queries"] = flat(profiler, "queries")
    smallest = options.out / size_label(options.sizes[0]) / "corpus"
    target = work / "profile-index"
    shutil.rmtree(target, ignore_errors=True)
    profiler = Profiler(interval=0.001)
    profiler.start()
    update_index(smallest, target, rebuild=True)
    profiler.stop()
    shutil.rmtree(target, ignore_errors=True)
    found["build"] = flat(profiler, "build")
    found["build_size"] = size_label(options.sizes[0])
    log(f"profiles written to {work}")
    return found


def _flat_top(text: str, count: int = 12) -> list[str]:
    lines = [line.strip() for line in text.splitlines()]
    body = [line for line in lines if line and line[0].isdigit()]
    return body[:count]


# ---------------------------------------------------------------------------------------------
# The report


def _ms(value: float) -> str:
    return "–" if value != value else (f"{value:.1f}" if value < 100 else f"{value:.0f}")


def _ratio(ours: float, theirs: float) -> str:
    if not theirs or theirs != theirs or ours != ours:
        return "–"
    return f"{ours / theirs:.2f}"


def _spread(summary: dict, unit: str = "s", digits: int = 2) -> str:
    if not summary.get("n"):
        return "–"
    median = f"{summary['median']:.{digits}f}"
    if summary["n"] == 1:
        return f"{median} {unit} (n=1)"
    label = "IQR" if summary["n"] >= 4 else "range"
    return (
        f"{median} {unit} ({label} {summary['low']:.{digits}f}–{summary['high']:.{digits}f}, "
        f"n={summary['n']})"
    )


def render_report(results: dict) -> str:
    sizes = results["sizes"]
    largest = sizes[-1]
    lines = [
        "# Benchmarks",
        "",
        "Written by `bench/run` (bench/speed.py): "
        f"`{results['command']}`, {results['started']}, {results['seconds'] / 60:.1f} min. "
        "Do not edit by hand; rerun it.",
        "",
        "Every figure below comes from one run on one machine; the other engines were measured "
        "in the same run, on the same records and the same jieba tokens, with the same queries "
        "and the same top-k (10), so the ratios (ours / theirs: below 1 means we are faster) "
        "hold even where the machine's speed varies.",
        "",
        "## Machine",
        "",
    ]
    m = results["machine"]
    load_start, load_end = results["load"]["start"], results["load"]["end"]
    lines += [
        f"- CPU: {m['cpu']}, {m['cores']} cores; memory {m['memory_gib']:.1f} GiB; {m['system']}",
        f"- load average (1, 5, 15 min) at start {', '.join(f'{x:.2f}' for x in load_start)}; "
        f"at end {', '.join(f'{x:.2f}' for x in load_end)} (the machine is shared: other "
        "processes may have run during the measurements)",
        "- versions: "
        + ", ".join(f"{name} {version}" for name, version in results["versions"].items()),
        "",
        "## Corpus",
        "",
        "Built by bench/corpus.py from `shared/corpus`: laws as key-node compilations (one file "
        "per law, one key node per chapter, one entry per article), the ministry's decrees and "
        "notices as single policy documents, the provincial work reports as compilations (one "
        "node per section, one entry per paragraph). Smaller sizes take whole files in a fixed "
        "mixed order and cut the last compilation to fit.",
        "",
        "| size | files | records indexed | characters of Markdown | records per source |",
        "|---|---:|---:|---:|---|",
    ]
    for size in sizes:
        c = size["corpus"]
        sources = ", ".join(f"{k} {v:,}" for k, v in sorted(c["sources"].items()))
        lines.append(
            f"| {size['label']} | {c['files']:,} | {c['indexed']:,} | {c['characters']:,} | {sources} |"
        )
    lines += ["", "## Targets at the largest size", ""]
    lines += _targets(largest)
    lines += [
        "",
        "## Index build",
        "",
        "Markdown to a searchable index, in a child process (its peak memory is the child's "
        "ru_maxrss). Ours: `update_index` (parse, tokenise, Whoosh write and commit). The "
        "baselines: the same parsing and tokenising (`prepare`, shared) plus their insert; "
        "characters per second are of the whole Markdown corpus. Process start and imports "
        "are left out here (they are in the cold start).",
        "",
        "| size | engine | seconds (median, spread) | characters/s | index size | peak memory |"
        " ours/theirs time |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for size in sizes:
        builds = size["build"]
        ours = builds["ours"]["seconds"]["median"]
        for engine in ("ours", "prepare", "sqlite", "tantivy"):
            if engine not in builds:
                continue
            b = builds[engine]
            name = {
                "ours": "ours (Whoosh)",
                "prepare": "parse + tokenise only",
                "sqlite": "SQLite FTS5",
                "tantivy": "tantivy",
            }[engine]
            extra = (
                f" (insert {b['insert_seconds']['median']:.2f} s)" if "insert_seconds" in b else ""
            )
            lines.append(
                f"| {size['label']} | {name} | {_spread(b['seconds'])}{extra} | "
                f"{b['chars_per_s']:,.0f} | "
                + (f"{b['index_mb']:.1f} MB" if "index_mb" in b else "–")
                + f" | {b['max_rss_mb']:.0f} MB | "
                + ("–" if engine in ("ours", "prepare") else _ratio(ours, b["seconds"]["median"]))
                + " |"
            )
    lines += [
        "",
        "## Incremental add and cold start",
        "",
        "Incremental: one new law file (a compilation of a few dozen articles) written into the "
        "corpus folder of the largest index, `update_index` run, and a warm `SearchIndex` (as a "
        "server holds) searched until the file's unique word is found; then the file is removed "
        "and the index updated again.",
        "",
        "| size | add one file: searchable after | of which update_index | remove it again |",
        "|---|---|---|---|",
    ]
    for size in sizes:
        if "incremental" in size:
            inc = size["incremental"]
            lines.append(
                f"| {size['label']} | {_spread(inc['add'])} | {_spread(inc['update_index'])} | "
                f"{_spread(inc['remove'])} |"
            )
    if not any("incremental" in size for size in sizes):
        lines.append("| – | not measured (it runs at the largest size) | | |")
    lines += [
        "",
        "Cold start: a new process imports the engine, opens the index and answers "
        f"`{bench_corpus.KEYWORD_QUERIES[0]}` with facets and highlights; wall time from spawn "
        "to exit.",
        "",
        "| size | engine | first answer after process start | of which imports | peak memory |"
        " ours/theirs |",
        "|---|---|---|---|---:|---:|",
    ]
    for size in sizes:
        cold = size["cold"]
        for engine, c in cold.items():
            lines.append(
                f"| {size['label']} | {engine} | {_spread(c['wall'])} | "
                f"{c['import']['median']:.2f} s | {c['max_rss_mb']:.0f} MB | "
                + (
                    "–"
                    if engine == "ours"
                    else _ratio(cold["ours"]["wall"]["median"], c["wall"]["median"])
                )
                + " |"
            )
    lines += [
        "",
        "## Query latency in process",
        "",
        "Each request returns the top 10 with highlighted snippets, the total and six facets "
        "(issuer, year, type, region, sector, confidence band). Keyword: "
        f"{len(bench_corpus.KEYWORD_QUERIES)} queries; filtered: the same with one filter each "
        "(issuer, date range, type, region and years, two issuers, sectors, minimum confidence); "
        "questions: STARD's natural-language questions (ranked any-word matching when too few "
        "records match all words). `repeat`: the measured passes after the first; `first`: the "
        "first time each query is seen (cold caches). Milliseconds.",
        "",
        "| size | queries | engine | p50 | p95 | p99 | first p50 / p95 | ours/theirs p50 |"
        " ours/theirs p95 | same totals as ours |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size in sizes:
        for name, engines in size["queries"].items():
            ours = engines["ours"]["repeat"]
            agreement = size["agreement"][name]
            for engine, q in engines.items():
                r, f = q["repeat"], q["first"]
                same = (
                    "–"
                    if engine == "ours"
                    else f"{agreement.get(engine, 0)}/{agreement['queries']}"
                )
                lines.append(
                    f"| {size['label']} | {name} ({r['n']}) | {engine} | {_ms(r['p50'])} | "
                    f"{_ms(r['p95'])} | {_ms(r['p99'])} | {_ms(f['p50'])} / {_ms(f['p95'])} | "
                    + ("–" if engine == "ours" else _ratio(ours["p50"], r["p50"]))
                    + " | "
                    + ("–" if engine == "ours" else _ratio(ours["p95"], r["p95"]))
                    + f" | {same} |"
                )
    if "http" in largest:
        lines += _http_section(largest)
    if largest.get("profile"):
        found = largest["profile"]
        lines += [
            "",
            "## Profiles",
            "",
            "pyinstrument, by own time (the flat view; full outputs in bench/out/"
            f"{largest['label']}/profile-*.txt). One pass of every query set (at most 50 "
            f"queries each) at {largest['label']}:",
            "",
            "```",
            *found["queries"],
            "```",
            "",
            f"A build of the {found['build_size']} corpus:",
            "",
            "```",
            *found["build"],
            "```",
        ]
    lines += ["", FIXES.strip(), "", NOTES.strip(), ""]
    return "\n".join(lines)


def _http_section(size: dict) -> list[str]:
    http_results = size["http"]
    lines = [
        "",
        f"## Over HTTP ({size['label']})",
        "",
        "`policy-search serve` (waitress, 8 threads) and Datasette (`datasette serve -i`, the "
        "FTS5 table searched with `_search` in raw mode and the same six `_facet`s; Datasette "
        "returns rows in table order, without ranking or snippets) on 127.0.0.1, each started "
        "fresh. The client is Python threads with keep-alive connections on the same 2-core "
        "machine, so it takes CPU from the server under load.",
        "",
        "| server | started in | peak memory | queries | p50 ms | p95 ms | p99 ms |"
        " ours/theirs p50 |",
        "|---|---|---:|---|---:|---:|---:|---:|",
    ]
    ours = http_results["ours"]
    for server, entry in http_results.items():
        peak = entry.get("peak_memory_mb")
        memory = f"{peak:,.0f} MB" if peak else "–"
        for name, q in entry["latency"].items():
            theirs = q["p50"]
            lines.append(
                f"| {server} | {entry['started_seconds']:.1f} s | {memory} | {name} ({q['n']}) | "
                f"{_ms(q['p50'])} | {_ms(q['p95'])} | {_ms(q['p99'])} | "
                + ("–" if server == "ours" else _ratio(ours["latency"][name]["p50"], theirs))
                + " |"
            )
    seconds = ours["load"][0]["seconds"] if ours["load"] else 0
    lines += [
        "",
        f"Throughput: keyword and filtered queries in turn, for about {seconds:.0f} s per level.",
        "",
        "| server | clients | requests/s | p50 ms | p95 ms | p99 ms | errors | ours/theirs"
        " requests/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for server, entry in http_results.items():
        for i, run in enumerate(entry["load"]):
            theirs = run["per_second"]
            lines.append(
                f"| {server} | {run['clients']} | {run['per_second']:.1f} | "
                f"{_ms(run['latency']['p50'])} | {_ms(run['latency']['p95'])} | "
                f"{_ms(run['latency']['p99'])} | {run['errors']} | "
                + ("–" if server == "ours" else _ratio(ours["load"][i]["per_second"], theirs))
                + " |"
            )
    return lines


def _targets(size: dict) -> list[str]:
    """The targets table, then what would close each missed target."""
    q = size["queries"]
    measured: list[tuple[str, str, str, float, bool]] = []  # key, what, target, value, higher

    measured.append(
        ("keyword_p95_ms", "keyword queries with facets and highlights, p95 in process",
         "≤ 100 ms", q["keyword"]["ours"]["repeat"]["p95"], False)
    )  # fmt: skip
    if "http" in size:
        load4 = next(r for r in size["http"]["ours"]["load"] if r["clients"] == 4)
        measured.append(
            ("http_rps_4", "HTTP throughput, 4 clients", "≥ 50 requests/s",
             load4["per_second"], True)
        )  # fmt: skip
    if "questions" in q:
        measured.append(
            ("questions_p95_ms", "long questions, p95 in process", "≤ 300 ms",
             q["questions"]["ours"]["repeat"]["p95"], False)
        )  # fmt: skip
    if "sqlite" in q["keyword"]:
        worst = max(
            q[name]["ours"]["repeat"]["p50"] / q[name]["sqlite"]["repeat"]["p50"]
            for name in ("keyword", "filtered")
        )
        measured.append(
            ("sqlite_ratio", "faceted queries, ours/SQLite FTS5 p50 (worse of keyword, filtered)",
             "≤ 3x", worst, False)
        )  # fmt: skip
    measured.append(
        ("build_chars_per_s", "index build, end to end", "≥ 200,000 characters/s",
         size["build"]["ours"]["chars_per_s"], True)
    )  # fmt: skip
    if "incremental" in size:
        measured.append(
            ("incremental_s", "one new file searchable", "≤ 2 s",
             size["incremental"]["add"]["median"], False)
        )  # fmt: skip
    measured.append(
        ("cold_start_s", "cold start to first answer", "≤ 3 s",
         size["cold"]["ours"]["wall"]["median"], False)
    )  # fmt: skip

    rows, gaps = [], []
    for key, what, target, value, higher in measured:
        goal = TARGETS[key]
        met = value >= goal if higher else value <= goal
        unit = UNITS[key]
        shown = f"{value:,.0f}{unit}" if value >= 1000 else f"{value:.2f}{unit}"
        verdict = "met" if met else f"missed by {(goal / value if higher else value / goal):.1f}x"
        rows.append(f"| {what} | {target} | {shown} | {verdict} |")
        if not met:
            gaps.append(f"- {what}: {GAPS[key]}")
    lines = ["| what | target | measured | |", "|---|---|---|---|", *rows]
    if gaps:
        lines += ["", "What would close the gaps:", "", *gaps]
    return lines


UNITS = {
    "keyword_p95_ms": " ms",
    "http_rps_4": " requests/s",
    "questions_p95_ms": " ms",
    "sqlite_ratio": "x",
    "build_chars_per_s": " characters/s",
    "incremental_s": " s",
    "cold_start_s": " s",
}

# What would close each target when it is missed (from the profiles below).
GAPS = {
    "keyword_p95_ms": (
        "two thirds of a keyword query is Whoosh scoring its matches one posting at a time in "
        "Python (`Searcher.search`), the rest reading the postings. Scoring in numpy would "
        "remove that: postings read once as arrays (as `_matching_docs` now does to find the "
        "matches), field lengths kept per index generation as a numpy column like the facets, "
        "BM25F summed per term and the top 10 taken with `argpartition`; Whoosh would still "
        "check phrases."
    ),
    "http_rps_4": (
        "one server process answers one search at a time in Python (the GIL), so throughput "
        "is about 1 / mean service time whatever the thread count. Faster queries raise it "
        "directly; two waitress processes on the same port (or a pre-forking server with two "
        "workers) would use the second core."
    ),
    "questions_p95_ms": (
        "nearly all of a question's time is Whoosh scoring the ranked-OR of its 20-40 word "
        "clauses over the tens of thousands of records that hold any of the words, one posting "
        "at a time. Scoring in numpy (postings read once as arrays, BM25F summed per term with "
        "field lengths kept as a numpy column per generation, the top 10 by `argpartition`), or "
        "scoring only the records that hold at least one of the question's rarer words (the "
        "frequent words still adding to their scores), would close it."
    ),
    "sqlite_ratio": (
        "FTS5 matches, ranks and groups in C; we count facets in numpy but score keyword "
        "matches in Python through Whoosh (two thirds of a keyword query). Questions are now "
        "scored in numpy (`search/scoring.py`, the same BM25F numbers); ranking keyword "
        "queries through it too is what would bring the faceted queries within 3x."
    ),
    "build_chars_per_s": (
        "over half of the build is now the sentence vectors: the encoder's numpy forward pass "
        "reads about 40,000 characters a second on this machine (the first 256 of each "
        "record), and it holds the GIL between its small matrix products, so a thread beside "
        "Whoosh gains nothing (measured); a worker process embedding file n+1 while Whoosh "
        "writes file n would overlap the two on two cores. The rest is Whoosh writing "
        "postings in Python (`add_document`, the commit's sort and encoding; the character "
        "pairs added a field) and a fifth markdown-it: date, year and confidence are indexed "
        "as numeric terms of several precision tiers each though only the numpy columns "
        "filter them, and the stored record carries the raw Markdown beside its content."
    ),
    "incremental_s": (
        "the update re-reads every facet column and every sentence vector of the whole index "
        "after the commit (about 1 s at 78k records); keeping the old columns and appending "
        "the new segment's would make it proportional to the change."
    ),
    "cold_start_s": (
        "opening reads every facet column and loads the dictionary; both could be cached on "
        "disk per generation."
    ),
}


FIXES = """
## Fixes made from the profiles

Each measured A/B in one process on the largest index (old code path and new one alternated,
twice; same queries; hits, scores, totals and facets asserted identical), on the shared machine
under load, so read the ratios rather than the absolute times.

| where | what was wasteful | before | after |
|---|---|---|---|
| `search/facets.py` (then `search/query.py`) `Columns._numbers` | not speed: an index holding one record without a date could not be opened (Whoosh's missing-date default, 2**64 - 1, overflowed int64) | the 78k index: OverflowError on the first search | opens; undated records read as 0 |
| `search/analysis.py` `index_tokens` (new `_word_parts`) | the search for dictionary words inside each word (every substring looked up) was repeated for every occurrence of the word | tokenizer 274-309k characters/s | 503-523k characters/s (1.7x; the whole build gains about a tenth, within this machine's noise) |
| `search/query.py` `SearchIndex._docs` (new `_matching_docs`) | every match stepped through Whoosh's matcher tree with Python calls at each level just to list the matching records for the facets | listing matches: 15.0 s for 30 keywords + 100 questions; keyword p50 20-30 ms, filtered p95 124-134 ms | 4.9 s; keyword p50 14 ms, filtered p95 72-86 ms |
| `search/compiler.py` (then `search/query.py`) `compile_query` | the ranked-OR of a question ran through Whoosh's default binary tree of union matchers, rebalanced at every match | 60 questions p50 313-454 ms, p95 1.26-1.54 s | p50 189-252 ms, p95 0.47-0.82 s |
"""

NOTES = """
## Notes on fairness

- The baselines index exactly our records and our tokens (search.analysis.index_tokens): the
  words of each field in one column, the dictionary words inside them in another. A term matches
  either; a phrase matches the words only. Their totals agree with ours on keyword, filtered and
  typo queries (column "same totals"). On questions they do not: ours also matches the 50
  records nearest each question in meaning (sentence vectors, `search/scoring.py`), which the
  baselines have no way to find, so our totals are larger by up to 50; the baselines also skip
  the fusion of character pairs and vectors, so their question times are of a plainer ranking.
- SQLite FTS5 ranks with bm25 weighted like our fields (title 2, content 1, meta 0.5); tantivy
  keeps our boosts (fields and synonyms). Facets: GROUP BY over the matched rowids (SQLite),
  terms aggregations (tantivy); a facet ignores its own filter in all three engines.
- tantivy's writer uses its default thread count (one per core); Whoosh and SQLite use one.
- Datasette counts facets over the filtered rows (its own rule) and returns unranked rows.
- The SQLite baseline counts facets over a temporary table of the matched rowids joined to the
  records in that order (CROSS JOIN): left to itself, SQLite's planner walks each facet's index
  over every record and probes the matches, 20x slower at the largest size.
- Peak memory of the servers is their VmHWM at the end of the HTTP runs. Each of our server's
  threads opens its own Whoosh searcher, and Whoosh copies every file it opens from a compound
  segment into memory, so each thread holds a copy of the index (about 190 MB at 78k records).
"""


# ---------------------------------------------------------------------------------------------
# Entry point


def parse_sizes(text: str) -> list[int | None]:
    sizes: list[int | None] = []
    for part in text.split(","):
        part = part.strip().lower()
        if part in ("max", "all"):
            sizes.append(None)
        elif part.endswith("k"):
            sizes.append(int(part[:-1]) * 1000)
        else:
            sizes.append(int(part))
    return sorted(sizes, key=lambda s: float("inf") if s is None else s)


def run(options: Options, command: str, log=print) -> dict:
    """Every measurement for every size; writes results.json and the report."""
    started = time.perf_counter()
    engines = ["ours", "sqlite"] + (["tantivy"] if available("tantivy") else [])
    results = {
        "command": command,
        "started": datetime.now().isoformat(timespec="minutes"),
        "machine": machine(),
        "versions": versions(),
        "load": {"start": list(os.getloadavg())},
        "options": {k: str(v) for k, v in asdict(options).items()},
        "sizes": [],
    }
    options.out.mkdir(parents=True, exist_ok=True)
    for records in options.sizes:
        results["sizes"].append(bench_size(records, options, engines, log))
    results["load"]["end"] = list(os.getloadavg())
    results["seconds"] = time.perf_counter() - started
    (options.out / "results.json").write_text(
        json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    if options.report:
        options.report.parent.mkdir(parents=True, exist_ok=True)
        options.report.write_text(render_report(results), encoding="utf-8")
        log(f"wrote {options.report}")
    return results


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_child":
        child(argv[1:])
        return
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, nargs="?", default=DEFAULT_CORPUS)
    parser.add_argument("--eval", type=Path, default=None, help="STARD folder (questions)")
    parser.add_argument("--sizes", default="1000,10000,max", help="records per size, or max")
    parser.add_argument("--quick", action="store_true", help="fewer repeats, shorter HTTP runs")
    parser.add_argument("--questions", type=int, default=None, help="how many questions")
    parser.add_argument("--http-seconds", type=float, default=None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="work folder (bench/out)")
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT)
    parser.add_argument("--profile", action="store_true", help="profile our queries too")
    parser.add_argument(
        "--render", action="store_true", help="only rewrite the report from <out>/results.json"
    )
    args = parser.parse_args(argv)
    if args.render:
        results = json.loads((args.out / "results.json").read_text(encoding="utf-8"))
        args.report.write_text(render_report(results), encoding="utf-8")
        print(f"wrote {args.report}")
        return
    if not (args.corpus / "laws").is_dir():
        parser.error(f"{args.corpus} is not the shared corpus folder (it has no laws/)")
    eval_folder = args.eval or args.corpus.parent / "eval" / "stard"
    options = Options(
        corpus=args.corpus,
        eval=eval_folder,
        sizes=parse_sizes(args.sizes),
        out=args.out,
        report=args.report,
        quick=args.quick,
        questions=args.questions if args.questions else (50 if args.quick else 200),
        repeats=1 if args.quick else 3,
        build_repeats=1 if args.quick else 3,
        http_seconds=args.http_seconds or (3.0 if args.quick else 15.0),
        profile=args.profile,
    )
    run(options, "bench/run " + " ".join(argv))


if __name__ == "__main__":
    main()
