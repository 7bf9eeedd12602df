"""Speed on real text: index build from a cold process, incremental add, cold start, query
latency in process and over HTTP, HTTP throughput and the server's memory (Pss summed over all its
processes), for our engine and, in the same run on the same machine, for SQLite FTS5, tantivy and
Datasette fed the same records and tokens. Writes docs/benchmarks.md, targets table first.

    bench/run ../shared/corpus                          # 1k, 12k and every record (~78k)
    bench/run ../shared/corpus --sizes 1000 --quick     # a smoke run
    bench/run --articles 3000,all                       # STARD's law articles, one file each
    bench/run ../shared/corpus --no-profile             # skip the profiles of the largest size

tantivy and Datasette are optional (the `bench` extra): without them their columns are left out.

The parts: settings (defaults, Options), children (cold processes, our build), measure (one
size), servers (HTTP and memory), profiles, report and targets (docs/benchmarks.md), cli (the
command line). This package re-exports what bench.scaling, bench.during_pass and the tests use.
"""

from bench.common.machine import available, machine, versions
from bench.common.stats import median_spread, percentile, summary_ms
from bench.speed.children import build_ours_cold, cli_json, vectors_state, wait_for_vectors
from bench.speed.cli import main, order_sizes, parse_sizes, run
from bench.speed.report import render_report
from bench.speed.servers import our_server, parse_serve_help, serve_help
from bench.speed.settings import DEFAULT_CORPUS, REPO, Options, size_label
from bench.speed.targets import target_rows

__all__ = [
    "DEFAULT_CORPUS",
    "REPO",
    "Options",
    "available",
    "build_ours_cold",
    "cli_json",
    "machine",
    "main",
    "median_spread",
    "order_sizes",
    "our_server",
    "parse_serve_help",
    "parse_sizes",
    "percentile",
    "render_report",
    "run",
    "serve_help",
    "size_label",
    "summary_ms",
    "target_rows",
    "vectors_state",
    "versions",
    "wait_for_vectors",
]
