"""Speed on real text: index build from a cold process, incremental add, cold start, query
latency in process and over HTTP, HTTP throughput and the server's memory (Pss summed over all its
processes), for our engine and, in the same run on the same machine, for SQLite FTS5, tantivy and
Datasette fed the same records and tokens. Writes docs/benchmarks.md, targets table first.

This module is its command line (`bench/run`, `python -m bench.speed`) and a whole run."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from bench.common import corpus as bench_corpus
from bench.common.machine import available, machine, versions
from bench.common.results import finish_results, save_results
from bench.speed.children import child, warm_up
from bench.speed.measure import bench_size
from bench.speed.report import render_report
from bench.speed.settings import (
    ARTICLES_OUT,
    ARTICLES_REPORT,
    DEFAULT_CORPUS,
    DEFAULT_OUT,
    DEFAULT_REPORT,
    DEFAULT_SIZES,
    REPO,
    Options,
)


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


def order_sizes(sizes: list[int | None], everything: int) -> list[int | None]:
    """The sizes from smallest to largest, None (every record) counted as `everything`."""
    return sorted(sizes, key=lambda s: everything if s is None else s)


def run(options: Options, command: str, log=print) -> dict:
    """Every measurement for every size; writes results.json and the report."""
    started = time.perf_counter()
    engines = ["ours", "sqlite"] + (["tantivy"] if available("tantivy") else [])
    results = {
        "command": command,
        "started": datetime.now().isoformat(timespec="minutes"),
        "articles": options.articles,
        "machine": machine(),
        "versions": versions(),
        "load": {"start": list(os.getloadavg())},
        "options": {k: str(v) for k, v in asdict(options).items()},
        "sizes": [],
    }
    options.out.mkdir(parents=True, exist_ok=True)
    if options.warm_up:
        warm_up(engines, options.out)
    for records in options.sizes:
        results["sizes"].append(bench_size(records, options, engines, log))
        # saved after each size, so a long run that stops keeps what it measured
        save_results(results, options.out)
    finish_results(results, options.out, started)
    if options.report:
        options.report.parent.mkdir(parents=True, exist_ok=True)
        options.report.write_text(render_report(results), encoding="utf-8")
        log(f"wrote {options.report}")
    return results


def main(argv: list[str] | None = None, prog: str = "bench/run") -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_child":
        child(argv[1:])
        return
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "corpus", type=Path, nargs="?", default=DEFAULT_CORPUS, help="the shared corpus"
    )
    parser.add_argument("--eval", type=Path, default=None, help="STARD folder (questions)")
    parser.add_argument("--sizes", default=None, help=f"records per size, or max [{DEFAULT_SIZES}]")
    parser.add_argument(
        "--articles",
        metavar="SIZES",
        help="STARD's law articles as the corpus instead, one file each: e.g. 3000,all "
        f"(report: {ARTICLES_REPORT.relative_to(REPO)}, work folder: "
        f"{ARTICLES_OUT.relative_to(REPO)})",
    )
    parser.add_argument("--quick", action="store_true", help="fewer repeats, shorter HTTP runs")
    parser.add_argument("--questions", type=int, default=None, help="how many questions")
    parser.add_argument(
        "--http-seconds", type=float, default=None, help="seconds of each HTTP load [15; quick 3]"
    )
    parser.add_argument("--workers", type=int, help="our server's --workers [one per core]")
    parser.add_argument("--threads", type=int, help="our server's --threads [its default]")
    parser.add_argument(
        "--vectors-timeout",
        type=float,
        default=3600.0,
        help="seconds to wait for the sentence vectors after a build [3600]",
    )
    parser.add_argument("--out", type=Path, default=None, help="work folder [bench/out]")
    parser.add_argument("--report", type=Path, default=None, help="[docs/benchmarks.md]")
    parser.add_argument(
        "--no-profile", action="store_true", help="skip the profiles of the largest size"
    )
    parser.add_argument("--profile", action="store_true", help=argparse.SUPPRESS)  # the default
    parser.add_argument(
        "--render", action="store_true", help="only rewrite the report from <out>/results.json"
    )
    args = parser.parse_args(argv)
    articles = args.articles is not None
    out = args.out or (ARTICLES_OUT if articles else DEFAULT_OUT)
    report = args.report or (ARTICLES_REPORT if articles else DEFAULT_REPORT)
    if args.render:
        results = json.loads((out / "results.json").read_text(encoding="utf-8"))
        report.write_text(render_report(results), encoding="utf-8")
        print(f"wrote {report}")
        return
    if not (args.corpus / "laws").is_dir():
        parser.error(f"{args.corpus} is not the shared corpus folder (it has no laws/)")
    eval_folder = args.eval or args.corpus.parent / "eval" / "stard"
    if articles and not (eval_folder / "articles.jsonl").is_file():
        parser.error(f"--articles needs STARD's articles.jsonl in {eval_folder} (see --eval)")
    if articles and args.sizes:
        parser.error("give the sizes to --articles (e.g. --articles 3000,all), not --sizes")
    sizes = parse_sizes(args.articles if articles else args.sizes or DEFAULT_SIZES)
    if None in sizes and not articles and any(s and s > 20_000 for s in sizes):
        # beyond the corpus a size is made of perturbed copies, so `max` may not be the largest
        sizes = order_sizes(sizes, bench_corpus.corpus_records(args.corpus))
    options = Options(
        corpus=args.corpus,
        eval=eval_folder,
        sizes=sizes,
        out=out,
        report=report,
        quick=args.quick,
        questions=args.questions if args.questions else (50 if args.quick else 200),
        repeats=1 if args.quick else 3,
        build_repeats=1 if args.quick else 3,
        http_seconds=args.http_seconds or (3.0 if args.quick else 15.0),
        profile=not args.no_profile and available("pyinstrument"),
        workers=args.workers,
        threads=args.threads,
        vectors_timeout=args.vectors_timeout,
        articles=articles,
    )
    from bench.common import load

    run(options, load.command_line("bench/run", argv))
