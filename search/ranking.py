"""How results are ranked: field weights, BM25 parameters and how long questions are matched.
Every knob of relevance lives here, so that tuning (see bench/relevance.py) touches one module."""

from __future__ import annotations

from whoosh import query as wq
from whoosh.scoring import BM25F

# Full-text fields a plain query word searches, with their weights: a word in the title (the
# policy's or law's name) says more about the record than the same word in the body.
FIELD_WEIGHTS = {"title": 2.0, "content": 1.0, "meta": 0.5}

# BM25 term-frequency saturation and length normalisation.
BM25_K1 = 1.2
BM25_B = 0.75

# Synonyms match a little below the word the user typed.
SYNONYM_WEIGHT = 0.8

# When all words must match and fewer records than this do, a query of at least
# FALLBACK_MIN_WORDS content words is answered by ranked matching of any word instead (a
# question's wording is rarely all in the article that answers it). Shorter queries fall back
# only when nothing matches all their words.
MIN_CONJUNCTIVE_HITS = 3
FALLBACK_MIN_WORDS = 3


def weighting() -> BM25F:
    """The scoring model of every search."""
    return BM25F(B=BM25_B, K1=BM25_K1)


def any_words(clauses: list[wq.Query]) -> wq.Query:
    """The ranked-OR form of a query's word clauses (each clause: one word with its synonyms)."""
    return clauses[0] if len(clauses) == 1 else wq.Or(clauses)
