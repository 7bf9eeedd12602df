"""Relevance on real questions, on two sets: STARD's legal questions over law articles and our
own policy needs over ministry notices, provincial reports and local regulations
(bench/eval/policy), answered by our own search (ingest, index and SearchIndex.search as the web
and API run them) and by plain BM25 and FTS5 baselines; written to docs/relevance.md.

    python -m bench.relevance                      # both sets (../shared/eval/stard, ../shared/corpus)
    python -m bench.relevance --work /tmp/rel      # keep the indexes: the next run takes seconds
    python -m bench.relevance --steps              # also re-measure each kept change
    python -m bench.relevance --no-policy --split heldout --limit 200

The legal questions are split by law: each law file goes to `tune` (70%) or `heldout` by a hash
of its path, a question to the split of the laws that answer it (`straddling`, counted in
neither, when they are of both). The policy needs are all held out. Needs `bm25s` for the
baselines (the `bench` extra).

The parts: settings (defaults, targets), stard (the legal questions, splits, measures, our search
over the articles), policy (our own policy needs), steps (the changes kept, re-measured),
question_map, evaluate (one evaluation), report and notes (docs/relevance.md), cli (the command
line). This package re-exports what the tests use.
"""

from bench.relevance.cli import main
from bench.relevance.question_map import record_vectors, train_question_map
from bench.relevance.stard import (
    by_split,
    law_of,
    law_split,
    load_collection,
    measures,
    question_split,
)
from bench.relevance.steps import ADDED_STOPWORDS, kept_steps

__all__ = [
    "ADDED_STOPWORDS",
    "by_split",
    "kept_steps",
    "law_of",
    "law_split",
    "load_collection",
    "main",
    "measures",
    "question_split",
    "record_vectors",
    "train_question_map",
]
