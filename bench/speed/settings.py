"""The speed benchmark's defaults and its options, shared by its parts and by bench.scaling."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


DEFAULT_CORPUS = REPO.parent / "shared" / "corpus"


DEFAULT_EVAL = REPO.parent / "shared" / "eval" / "stard"


DEFAULT_OUT = REPO / "bench" / "out"


DEFAULT_REPORT = REPO / "docs" / "benchmarks.md"


ARTICLES_OUT = REPO / "bench" / "out-articles"


ARTICLES_REPORT = REPO / "docs" / "benchmarks-articles.md"


DEFAULT_SIZES = "1000,12000,max"


ENGINES = ("ours", "sqlite", "tantivy")


QUERY_SETS = ("keyword", "filtered", "typos", "questions")


CONCURRENCY = (1, 4, 16)


MEMORY_CLIENTS = 4  # the server's memory is measured after (and sampled during) this load


VECTORS_POLL = 1.0  # seconds at least between two polls of `stats` for the vectors


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
    workers: int | None = None  # --workers for our server (None: one per core, when it has it)
    threads: int | None = None  # --threads for our server (None: its default)
    vectors_timeout: float = 3600.0  # seconds to wait for the sentence vectors after a build
    articles: bool = False  # STARD's law articles as the corpus, one file each
    warm_up: bool = True  # one unmeasured build of seeds/ by each engine first


def size_label(records: int | None) -> str:
    if records is None:
        return "max"
    return f"{records // 1000}k" if records % 1000 == 0 else str(records)
