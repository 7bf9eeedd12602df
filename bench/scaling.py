"""How our engine scales with the number of records on one machine: build time, index size,
server memory and latency at each size, a step load that finds where one 2-core machine stops
serving 50 requests/s under 100 ms p95, a table and an SVG plot. Writes docs/scaling.md (keeping
its hand-written part, below the marker line) and docs/scaling.svg.

    python -m bench.scaling ../shared/corpus --sizes 1000,10000,max,300000
    python -m bench.scaling ../shared/corpus --sizes 1000,3000 --quick      # a smoke run

Sizes beyond the shared corpus (~78k records) are made of perturbed copies of it (bench/common/corpus.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bench.common import corpus as bench_corpus
from bench.common import load
from bench.common import queries as bench_queries
from bench.common.machine import machine, versions
from bench.common.results import finish_results, save_results
from bench.common.stats import summary_ms
from bench.common.svg import Line, Panel, svg_plot
from bench.speed.children import build_ours_cold, repo_child_env
from bench.speed.cli import order_sizes, parse_sizes
from bench.speed.servers import our_server
from bench.speed.settings import DEFAULT_CORPUS, REPO, Options, size_label
from bench.speed.targets import server_short

DEFAULT_OUT = REPO / "bench" / "out" / "scaling"
DEFAULT_REPORT = REPO / "docs" / "scaling.md"
DEFAULT_SIZES = "1000,10000,max,300000"
STEPS = (1, 2, 4, 8, 16)  # clients of the step load
MEMORY_CLIENTS = 4  # the server's memory is read after this step
RATE = 50.0  # requests/s the machine should serve ...
P95_MS = 100.0  # ... under this p95
SATURATED_MS = 2000.0  # a step's p95 beyond this: the steps after it are not run
QUERY_SETS = ("keyword", "filtered", "questions")
MARKER = (
    "<!-- bench.scaling writes everything above this line; "
    "what is below it is written by hand and kept as it is -->"
)


@dataclass
class ScalingOptions:
    corpus: Path
    eval: Path
    sizes: list[int | None]
    out: Path
    report: Path
    quick: bool
    step_seconds: float
    questions: int
    workers: int | None = None
    threads: int | None = None
    vectors_timeout: float = 7200.0


# ---------------------------------------------------------------------------------------------
# Measuring


def query_paths(options: ScalingOptions) -> dict[str, list[str]]:
    sets = {
        "keyword": bench_queries.keyword_params(),
        "filtered": bench_queries.filtered_params(),
    }
    if (options.eval / "queries.train.tsv").is_file():
        questions = bench_queries.questions(options.eval, options.questions)
        sets["questions"] = [{"q": [q]} for q in questions]
    return {
        name: [
            load.path_with("/api/search", [(k, v) for k, values in p.items() for v in values])
            for p in params
        ]
        for name, params in sets.items()
    }


def measure_size(
    records: int | None, units: list[bench_corpus.Unit], options: ScalingOptions, log
) -> dict:
    """Corpus, build from a cold process, then a fresh server: latency with one client, and
    the step load (memory read after its 4-client step)."""
    label = size_label(records)
    work = options.out / label
    work.mkdir(parents=True, exist_ok=True)
    seeds, index = work / "corpus", work / "index"
    log(f"[{label}] writing the corpus")
    chosen = bench_corpus.select(list(bench_corpus.synthetic_units(units, records)), records)
    info = bench_corpus.write_corpus(chosen, seeds)
    result: dict = {
        # the whole corpus by its size: `max` means nothing beside a synthetic 300k
        "label": label if records is not None else f"{info.records / 1000:.0f}k (all)",
        "records": records,
        "corpus": info.figures(),
    }
    shutil.rmtree(index, ignore_errors=True)
    build = build_ours_cold(seeds, index, options.vectors_timeout, bench_queries.KEYWORD_QUERIES[0])
    result["build"] = {
        "seconds": build["wall"],
        "cpu": build["cpu"],
        "vectors_seconds": (build.get("vectors") or {}).get("seconds"),
        "vectors_measured": "vectors" in build,
        "max_rss_mb": build["max_rss_mb"],
        "index_mb": build["index_bytes"] / 1e6,
        "records": build["records"],
    }
    log(f"[{label}] built in {build['wall']:.1f} s, {result['build']['index_mb']:.0f} MB")

    paths = query_paths(options)
    mixed = paths["keyword"] + paths["filtered"]
    port = load.free_port()
    speed_options = Options(
        corpus=options.corpus,
        eval=options.eval,
        sizes=[records],
        out=options.out,
        report=None,
        quick=options.quick,
        questions=options.questions,
        repeats=1,
        build_repeats=1,
        http_seconds=options.step_seconds,
        profile=False,
        workers=options.workers,
        threads=options.threads,
    )
    command, ready, _, config = our_server(port, index, seeds, speed_options)
    result["server"] = config
    with load.serve(command, port, ready, timeout=600.0, env=repo_child_env()) as server:
        result["started_seconds"] = server.started_seconds
        result["latency"] = {}
        for name, urls in paths.items():
            load.latencies(port, urls[: max(5, len(urls) // 10)])  # warm-up
            seconds, errors = load.latencies(port, urls, passes=1 if name == "questions" else 2)
            result["latency"][name] = summary_ms(seconds) | {"errors": errors}
        result["steps"] = []
        for clients in STEPS:
            with server.sampler() as sampler:
                run = load.load(port, mixed, clients, options.step_seconds)
            step = load.step_figures(run, server.memory(), sampler.peak)
            result["steps"].append(step)
            log(
                f"[{label}] {_clients(clients)}: {run.per_second:.1f} req/s, "
                f"p95 {step['latency']['p95']:.0f} ms"
            )
            if step["latency"]["p95"] > SATURATED_MS:
                break
    result["capacity"] = capacity(result["steps"])
    return result


def capacity(steps: list[dict]) -> dict | None:
    """The step with the most requests/s among those under the p95 limit, or None."""
    under = [s for s in steps if s["latency"]["p95"] < P95_MS and not s["errors"]]
    if not under:
        return None
    best = max(under, key=lambda s: s["per_second"])
    return {
        "clients": best["clients"],
        "per_second": best["per_second"],
        "p95": best["latency"]["p95"],
        "serves": best["per_second"] >= RATE,
    }


def memory_step(size: dict) -> dict | None:
    return next((s for s in size.get("steps", []) if s["clients"] == MEMORY_CLIENTS), None)


def run(options: ScalingOptions, command: str, log=print) -> dict:
    started = time.perf_counter()
    results = {
        "command": command,
        "started": datetime.now().isoformat(timespec="minutes"),
        "machine": machine(),
        "versions": versions(),
        "load": {"start": list(os.getloadavg())},
        "sizes": [],
    }
    options.out.mkdir(parents=True, exist_ok=True)
    units = bench_corpus.read_units(options.corpus)
    results["corpus_records"] = sum(u.records for u in units)
    for records in order_sizes(options.sizes, results["corpus_records"]):
        results["sizes"].append(measure_size(records, units, options, log))
        save_results(results, options.out)
    finish_results(results, options.out, started)
    write_report(results, options.report)
    log(f"wrote {options.report} and {options.report.with_suffix('.svg').name}")
    return results


# ---------------------------------------------------------------------------------------------
# The plot: SVG written by hand, log-x size against build seconds, memory and p95


def plot(results: dict) -> str:
    """Build seconds, server memory and p95 latency against records."""
    sizes = results["sizes"]

    def records(size: dict) -> float:
        return float(size["build"]["records"] or size["corpus"]["records"])

    build = [Line("searchable", [(records(s), s["build"]["seconds"]) for s in sizes])]
    vectors = [
        (records(s), s["build"]["vectors_seconds"])
        for s in sizes
        if s["build"]["vectors_seconds"] is not None
    ]
    if vectors:
        build.append(Line("vectors done", vectors, dashed=True))
    memory = [
        (records(s), step["memory_after"]["pss"])
        for s in sizes
        if (step := memory_step(s)) and step["memory_after"]
    ]
    latency = [
        Line(name, [(records(s), s["latency"][name]["p95"]) for s in sizes if name in s["latency"]])
        for name in QUERY_SETS
        if any(name in s["latency"] for s in sizes)
    ]
    panels = [
        Panel("build (s)", build),
        Panel(f"server Pss after {MEMORY_CLIENTS} clients (MB)", [Line("Pss", memory)]),
        Panel("p95 over HTTP, 1 client (ms)", latency, P95_MS, f"{P95_MS:g} ms"),
    ]
    ticks = [(records(s), s["label"]) for s in sizes]
    return svg_plot(panels, ticks, caption=f"{results['command']}, {results['started']}")


# ---------------------------------------------------------------------------------------------
# The report


def _ms(value: float) -> str:
    return "–" if value != value else (f"{value:.1f}" if value < 100 else f"{value:.0f}")


def where_it_stops(sizes: list[dict]) -> str:
    """The sentence that answers: up to which size does one machine serve the rate?"""
    serving = [s for s in sizes if s["capacity"] and s["capacity"]["serves"]]
    failing = [s for s in sizes if not (s["capacity"] and s["capacity"]["serves"])]
    rule = f"{RATE:g} requests/s with p95 under {P95_MS:g} ms"
    if not failing:
        return (
            f"It still serves {rule} at every size measured, up to {sizes[-1]['label']} "
            f"({sizes[-1]['build']['records']:,} records): the limit lies beyond."
        )
    first_fail = min(failing, key=lambda s: s["build"]["records"])
    below = [s for s in serving if s["build"]["records"] < first_fail["build"]["records"]]
    if not below:
        return (
            f"It does not serve {rule} at any size measured, from {sizes[0]['label']} on "
            f"(best at {sizes[0]['label']}: {_capacity_text(sizes[0])})."
        )
    last_ok = max(below, key=lambda s: s["build"]["records"])
    text = (
        f"It serves {rule} up to {last_ok['label']} ({last_ok['build']['records']:,} records: "
        f"{_capacity_text(last_ok)}) and no longer at {first_fail['label']} "
        f"({first_fail['build']['records']:,} records: {_capacity_text(first_fail)})."
    )
    ok_rate = last_ok["capacity"]["per_second"]
    fail_rate = first_fail["capacity"]["per_second"] if first_fail["capacity"] else 0.0
    if fail_rate > 0 and ok_rate > RATE > fail_rate:
        # the rate under the p95 limit, interpolated linearly in log(records) and log(rate)
        a, b = math.log(last_ok["build"]["records"]), math.log(first_fail["build"]["records"])
        fa, fb = math.log(ok_rate), math.log(fail_rate)
        at = math.exp(a + (math.log(RATE) - fa) / (fb - fa) * (b - a))
        text += (
            f" Interpolated (log records against log requests/s), it stops at about "
            f"{at:,.0f} records."
        )
    return text


def _clients(count: int) -> str:
    return f"{count} client" + ("" if count == 1 else "s")


def _capacity_text(size: dict) -> str:
    found = size["capacity"]
    if not found:
        return f"no step kept p95 under {P95_MS:g} ms"
    return (
        f"at best {found['per_second']:.1f} requests/s with {_clients(found['clients'])}, "
        f"p95 {_ms(found['p95'])} ms"
    )


def render_report(results: dict, svg_name: str = "scaling.svg") -> str:
    sizes = results["sizes"]
    m = results["machine"]
    config = sizes[-1].get("server", {}) if sizes else {}
    lines = [
        "# Scaling",
        "",
        f"Written by `{results['command']}`, {results['started']}, "
        f"{results['seconds'] / 60:.1f} min, on one machine ({m['cpu']}, {m['cores']} cores, "
        f"{m['memory_gib']:.1f} GiB; load average at start "
        f"{', '.join(f'{x:.2f}' for x in results['load']['start'])}, at end "
        f"{', '.join(f'{x:.2f}' for x in results['load']['end'])}, the machine is shared). "
        "Do not edit above the marker line; rerun it.",
        "",
        "Each size: the Markdown written by bench/common/corpus.py (sizes beyond the shared corpus's "
        f"{results['corpus_records']:,} records are the corpus again, each copy under new file "
        "names with a fixed fraction of its sentences swapped with other records' and "
        "neighbouring characters swapped in others, so the copies do not repeat the terms' "
        "statistics), built from a cold process by `policy-search index --rebuild` (searchable: "
        "the command returned; vectors: `stats` said the sentence vectors were all done), then "
        f"served fresh by `policy-search serve` ({server_short(config)}). Latency: one client, "
        "keyword and filtered queries twice, questions once, after a warm-up. Memory: Pss "
        "summed over the server's processes after the "
        f"{MEMORY_CLIENTS}-client step of the step load. Index size: the index folder on disk.",
        "",
        "| size | records | build: searchable after (CPU) | vectors done after | index on disk |"
        f" server Pss after {MEMORY_CLIENTS} clients (peak) | keyword p50 / p95 ms |"
        " filtered p50 / p95 ms | questions p50 / p95 ms |"
        f" most requests/s with p95 < {P95_MS:g} ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size in sizes:
        build = size["build"]
        vectors = (
            f"{build['vectors_seconds']:.1f} s"
            if build["vectors_seconds"] is not None
            else ("not done in time" if build["vectors_measured"] else "in the command")
        )
        step = memory_step(size)
        memory = "–"
        if step and step["memory_after"]:
            peak = step["memory_peak"]["pss"] if step["memory_peak"] else float("nan")
            memory = f"{step['memory_after']['pss']:,.0f} MB ({peak:,.0f})"
        latency = [
            (
                f"{_ms(size['latency'][name]['p50'])} / {_ms(size['latency'][name]['p95'])}"
                if name in size["latency"]
                else "–"
            )
            for name in QUERY_SETS
        ]
        found = size["capacity"]
        best = (
            f"{found['per_second']:.1f} ({_clients(found['clients'])})"
            if found
            else f"none (p95 ≥ {P95_MS:g} ms)"
        )
        label = size["label"] + (
            " (synthetic)" if size["build"]["records"] > results["corpus_records"] else ""
        )
        lines.append(
            f"| {label} | {build['records']:,} | {build['seconds']:.1f} s ({build['cpu']:.0f} s) | "
            f"{vectors} | "
            f"{build['index_mb']:,.0f} MB | {memory} | {' | '.join(latency)} | {best} |"
        )
    lines += [
        "",
        f"![build seconds, server memory and p95 latency against records]({svg_name})",
        "",
        f"## Where one machine stops serving {RATE:g} requests/s under {P95_MS:g} ms p95",
        "",
        "A step load at each size: keyword and filtered queries in turn from "
        f"{', '.join(str(s) for s in STEPS)} clients (Python threads with keep-alive "
        f"connections, on the same 2 cores as the server), {_step_seconds(sizes)} s per step; "
        f"the steps after one whose p95 passed {SATURATED_MS:g} ms are not run. A size is "
        f"served when some step reaches {RATE:g} requests/s with p95 under {P95_MS:g} ms.",
        "",
        where_it_stops(sizes) if sizes else "",
        "",
        "| size | clients | requests/s | p50 ms | p95 ms | p99 ms | errors | Pss after |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size in sizes:
        for step in size["steps"]:
            after = step["memory_after"]
            lines.append(
                f"| {size['label']} | {step['clients']} | {step['per_second']:.1f} | "
                f"{_ms(step['latency']['p50'])} | {_ms(step['latency']['p95'])} | "
                f"{_ms(step['latency']['p99'])} | {step['errors']} | "
                + (f"{after['pss']:,.0f} MB" if after else "–")
                + " |"
            )
    return "\n".join(lines) + "\n"


def _step_seconds(sizes: list[dict]) -> str:
    seconds = [step["seconds"] for size in sizes for step in size["steps"]]
    return f"about {sum(seconds) / len(seconds):.0f}" if seconds else "–"


def write_report(results: dict, report: Path) -> None:
    """The measured part of `report` and its plot beside it (same name, .svg); the report's
    hand-written part (from the marker line on) is kept."""
    svg = report.with_suffix(".svg")
    kept = ""
    with contextlib.suppress(FileNotFoundError):
        text = report.read_text(encoding="utf-8")
        if MARKER in text:
            kept = text[text.index(MARKER) + len(MARKER) :].lstrip("\n")
    report.parent.mkdir(parents=True, exist_ok=True)
    svg.write_text(plot(results), encoding="utf-8")
    report.write_text(
        render_report(results, svg.name) + "\n" + MARKER + "\n\n" + kept, encoding="utf-8"
    )


# ---------------------------------------------------------------------------------------------
# Entry point


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scaling", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "corpus", type=Path, nargs="?", default=DEFAULT_CORPUS, help="the shared corpus"
    )
    parser.add_argument("--eval", type=Path, default=None, help="STARD folder (questions)")
    parser.add_argument(
        "--sizes", default=DEFAULT_SIZES, help=f"records per size, max, or more [{DEFAULT_SIZES}]"
    )
    parser.add_argument("--quick", action="store_true", help="short steps, fewer questions")
    parser.add_argument("--step-seconds", type=float, help="seconds per step [10; quick 2]")
    parser.add_argument("--questions", type=int, help="how many questions [100; quick 20]")
    parser.add_argument("--workers", type=int, help="our server's --workers [one per core]")
    parser.add_argument("--threads", type=int, help="our server's --threads [its default]")
    parser.add_argument("--vectors-timeout", type=float, default=7200.0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="work folder")
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT, help="[docs/scaling.md]")
    parser.add_argument(
        "--render", action="store_true", help="only rewrite the report from <out>/results.json"
    )
    args = parser.parse_args(argv)
    if args.render:
        results = json.loads((args.out / "results.json").read_text(encoding="utf-8"))
        write_report(results, args.report)
        print(f"wrote {args.report}")
        return
    if not (args.corpus / "laws").is_dir():
        parser.error(f"{args.corpus} is not the shared corpus folder (it has no laws/)")
    options = ScalingOptions(
        corpus=args.corpus,
        eval=args.eval or args.corpus.parent / "eval" / "stard",
        sizes=parse_sizes(args.sizes),
        out=args.out,
        report=args.report,
        quick=args.quick,
        step_seconds=args.step_seconds or (2.0 if args.quick else 10.0),
        questions=args.questions or (20 if args.quick else 100),
        workers=args.workers,
        threads=args.threads,
        vectors_timeout=args.vectors_timeout,
    )
    run(options, load.command_line("python -m bench.scaling", argv or []))


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
