"""How results are ranked: field weights, BM25 parameters and how long questions are matched.
Every knob of relevance lives here, so that tuning (see bench/relevance.py, docs/relevance.md)
touches one module."""

from __future__ import annotations

from collections.abc import Sequence

from whoosh import query as wq
from whoosh.scoring import BM25F

from .analysis import index_tokens, stopwords, synonyms

# Full-text fields a plain query word searches, with their weights: a word in the title (the
# policy's or law's name) says more about the record than the same word in the body.
FIELD_WEIGHTS = {"title": 2.0, "content": 1.0, "meta": 0.5}

# The same for ranked matching of a question's words. A title is short, so one question word in
# it earns a title's full score, and every record under the same name shares it: in a long
# question the words that happen to be in a name would then outrank the record that answers it.
QUESTION_FIELD_WEIGHTS = {"title": 0.2, "content": 1.0, "meta": 0.5}

# BM25 term-frequency saturation and length normalisation.
BM25_K1 = 1.2
BM25_B = 0.75

# Synonyms match a little below the word the user typed.
SYNONYM_WEIGHT = 0.8

# In ranked matching, the dictionary words inside a longer question word (个体 and 工商户 in
# 个体工商户) match too, at this weight: the article that answers may use only the shorter word.
SUBWORD_WEIGHT = 0.5

# Ranked matching adds, to the words' BM25F score (divided by its best value among the matched
# records), the BM25 of the question's character pairs (likewise divided) at GRAM_WEIGHT and the
# cosine of sentence vectors (as a z-score over all records) at MEANING_WEIGHT. Pairs match where
# the segmenter cut question and article differently (偿还 / 清偿还款); vectors, where they say
# the same thing in other words. See search/scoring.py and docs/relevance.md.
GRAM_WEIGHT = 0.5
MEANING_WEIGHT = 0.35
# Move question vectors by the map learned from judged questions (search/vectors.py).
QUESTION_MAP = True
# A query that reads as a question (it ends in a question mark, or it is written without spaces
# and holds QUESTION_MIN_WORDS content words or more) also matches this many records nearest to
# it in meaning, whether or not they share a word with it.
MEANING_CANDIDATES = 50
QUESTION_MIN_WORDS = 4
# The idf of character pairs: "whoosh" (never below 1) or "probabilistic" (near 0 for pairs in
# most records, such as those of 合同 or 可以 in law articles).
GRAM_IDF = "probabilistic"

# When all words must match and fewer records than this do, a query of at least
# FALLBACK_MIN_WORDS content words is answered by ranked matching of any word instead (a
# question's wording is rarely all in the article that answers it). Shorter queries fall back
# only when nothing matches all their words.
MIN_CONJUNCTIVE_HITS = 3
FALLBACK_MIN_WORDS = 3


def weighting() -> BM25F:
    """The scoring model of every search."""
    return BM25F(B=BM25_B, K1=BM25_K1)


def _field_clauses(words: Sequence[str], boost: float) -> list[wq.Query]:
    if len(words) == 1:
        return [
            wq.Term(name, words[0], boost=boost * weight)
            for name, weight in QUESTION_FIELD_WEIGHTS.items()
        ]
    return [
        wq.Phrase(name, list(words), boost=boost * weight)
        for name, weight in QUESTION_FIELD_WEIGHTS.items()
    ]


def subwords(word: str) -> list[str]:
    """The dictionary words inside `word`, as the index holds them beside it."""
    return [term for term, _, _, _ in index_tokens(word) if term != word]


def question_query(words: Sequence[str], drop_stopwords: bool = True) -> wq.Query | None:
    """The ranked-OR form of a query's plain words (each analysed query word, in order): any word
    may match, each with its synonyms and, at SUBWORD_WEIGHT, the dictionary words inside it."""
    stop = stopwords() if drop_stopwords else frozenset()
    content = [w for w in words if w not in stop]
    clauses: list[wq.Query] = []
    for word in content:
        alternatives = []
        for i, variant in enumerate(synonyms(word)):
            alternatives += _field_clauses(variant, 1.0 if i == 0 else SYNONYM_WEIGHT)
        clauses.append(wq.Or(alternatives))
        if SUBWORD_WEIGHT:
            for piece in subwords(word):
                if piece not in stop:
                    clauses.append(wq.Or(_field_clauses([piece], SUBWORD_WEIGHT)))
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else wq.Or(clauses)
