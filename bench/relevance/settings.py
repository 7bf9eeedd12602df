"""The relevance benchmark's defaults, targets and the names its tables give each system."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


DEFAULT_DATA = REPO.parent / "shared" / "eval" / "stard"


DEFAULT_REPORT = REPO / "docs" / "relevance.md"


TUNE_PERCENT = 70


# What issue #13 asks of the search on unseen sets: legal questions of STARD's kind, and the
# policy needs at file level.
TARGETS = {"MRR@10": 0.50, "Recall@10": 0.60}


POLICY_TARGETS = {"MRR@10": 0.97, "nDCG@10": 0.88}


OURS = "policy-search (SearchIndex.search, defaults)"


BM25_WORDS = "BM25 over jieba words (bm25s)"


BM25_BIGRAMS = "BM25 over character bigrams (bm25s)"


FTS5 = "SQLite FTS5 over jieba words (bm25())"


DEFAULT_CORPUS = REPO.parent / "shared" / "corpus"


POLICY_SET = REPO / "bench" / "eval" / "policy"


POLICY_KINDS = ("keyword", "title", "question")


SPLITS = ("tune", "heldout")


POLICY_METRICS = ("MRR@10", "nDCG@10")
