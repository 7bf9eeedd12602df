"""Ranked matching of questions, scored in numpy: each record's BM25F score for the question's
words (Whoosh's own formula, same numbers), BM25 for its character pairs, and the cosine of the
question's sentence vector with the record's, fused into one score (weights in RankingConfig).

Whoosh scores one posting at a time in Python; here each term's postings are read a block at a
time into arrays and scored for every record at once, which also lets the three signals be
normalised per question before they are added.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from whoosh import query as wq

from . import vectors
from ._whoosh import LENGTHS, length_column, postings
from .analysis import character_bigrams
from .ranking import RankingConfig

GRAM_FIELD = "grams"
MAX_QUESTION_GRAMS = 256


class ScoringColumns:
    """Per index commit: the field lengths BM25 needs and the records' sentence vectors, each
    read on first use from a reader of that commit (a searcher's), so that a commit costs
    nothing here until a question needs them."""

    def __init__(self, size: int):
        self.size = size
        self._lock = threading.Lock()
        self._lengths: dict[str, np.ndarray] = {}
        self._vectors: np.ndarray | None = None
        self._present: np.ndarray | None = None
        self._files: np.ndarray | None = None

    def vectors(self, reader) -> tuple[np.ndarray, np.ndarray]:
        """(every document's vector as a float32 row, which rows hold one): 2 KB a record."""
        with self._lock:
            if self._vectors is None:
                raw = list(reader.column_reader("vector")) if reader.has_column("vector") else []
                self._vectors = vectors.matrix(raw, self.size)
                self._present = np.einsum("ij,ij->i", self._vectors, self._vectors) > 0
        return self._vectors, self._present

    def files(self, reader) -> np.ndarray:
        """Every document's source file as a number (-1 where it has none), read once per
        commit from the postings of `source_file`."""
        with self._lock:
            if self._files is None:
                out = np.full(self.size, -1, dtype=np.int32)
                for code, name in enumerate(reader.field_terms("source_file")):
                    docs, _ = postings(reader, "source_file", name)
                    out[docs[docs < self.size]] = code
                self._files = out
        return self._files

    def lengths(self, reader, field: str) -> np.ndarray:
        """Every document's length in `field` (0 where it has none), read once per commit from
        `reader` (any reader of this commit: a searcher's)."""
        if field not in self._lengths:
            out = np.zeros(self.size, dtype=np.float32)
            for leaf, offset in reader.leaf_readers():
                count = leaf.doc_count_all()
                column = length_column(leaf, field)
                if column is None:
                    continue
                codes = np.fromiter(column, dtype=np.uint8, count=count)
                out[offset : offset + count] = LENGTHS[codes]
            self._lengths[field] = out
        return self._lengths[field]


def whoosh_idf(searcher, field: str, text: str) -> float:
    """Whoosh's idf, log(N / (n + 1)) + 1: never below 1, however common the term."""
    return searcher.idf(field, text)


def probabilistic_idf(searcher, field: str, text: str) -> float:
    """Robertson and Spärck Jones' idf, log(1 + (N - n + 0.5) / (n + 0.5)) (Lucene's, bm25s'):
    near 0 for a term in most records, as the character pairs of common words are."""
    n = searcher.doc_frequency(field, text)
    total = searcher.doc_count()
    return math.log(1 + (total - n + 0.5) / (n + 0.5))


IDFS = {"whoosh": whoosh_idf, "probabilistic": probabilistic_idf}


def bm25(
    searcher,
    columns: ScoringColumns,
    terms: Sequence[tuple[str, str, float]],
    ranking: RankingConfig,
    idf_of: Callable[[object, str, str], float] = whoosh_idf,
) -> np.ndarray:
    """Σ boost × BM25 over (field, text, boost) terms, for every document: with Whoosh's idf,
    exactly the score Whoosh's BM25F gives an Or of those Term queries."""
    scores = np.zeros(columns.size, dtype=np.float32)
    reader = searcher.reader()
    k1, b = ranking.bm25_k1, ranking.bm25_b
    for field, text, boost in terms:
        docs, tf = postings(reader, field, text)
        if len(docs) == 0:
            continue
        idf = idf_of(searcher, field, text)
        average = searcher.avg_field_length(field) or 1.0
        length = columns.lengths(reader, field)[docs]
        part = idf * (tf * (k1 + 1)) / (tf + k1 * ((1 - b) + b * length / average))
        np.add.at(scores, docs, boost * part)
    return scores


def keyword_scores(
    searcher, columns: ScoringColumns, query: wq.Query, ranking: RankingConfig
) -> np.ndarray:
    """Every document's BM25F score for an Or of keyword clauses: the score Whoosh gives a
    record matching them all (an And adds its clauses' scores), and a part of it to others."""
    terms, others = flatten(query)
    scores = bm25(searcher, columns, terms, ranking)
    for other in others:
        for docnum, score in searcher.search(other, limit=None).items():
            scores[docnum] += score
    return scores


def flatten(query: wq.Query, boost: float = 1.0):
    """The Term clauses (field, text, boost) of a ranked-OR query, and the other clauses (phrases
    of multi-word synonyms) with their boosts."""
    terms: list[tuple[str, str, float]] = []
    others: list[wq.Query] = []
    if isinstance(query, wq.Term):
        terms.append((query.fieldname, query.text, boost * query.boost))
    elif isinstance(query, wq.Or):
        for sub in query.subqueries:
            inner_terms, inner_others = flatten(sub, boost * query.boost)
            terms += inner_terms
            others += inner_others
    else:
        others.append(query)
    return terms, others


@dataclass
class Ranked:
    """The fused score of every document (0 where the question matched nothing) and the parts."""

    scores: np.ndarray
    # bool: some word of the question (or a synonym, a sub-word) matched, or the record is among
    # the nearest in meaning to a question that some record matched by its words
    matched: np.ndarray


def rank_question(
    searcher,
    columns: ScoringColumns,
    query: wq.Query,
    text: str,
    live: np.ndarray,
    ranking: RankingConfig,
    widen: bool = True,
) -> Ranked:
    """Score a question's ranked-OR query (compiler.question_query) for every record.

    words: BM25F of the query's terms, over the fields and with the boosts the query gives;
    pairs: BM25 of the question's character pairs in the `grams` field;
    meaning: cosine of sentence vectors, as a z-score over the records that have a vector.
    The word and pair scores are divided by their best value among matched records, so each
    weighs the same whatever the question's length; the result orders the matched records.
    With `widen` (the query reads as a question, not as keywords), the ranking.meaning_candidates
    records nearest the question in meaning join the matched ones, even without a word in
    common (邻居 ... 吵 finds 相邻 ... 噪声); a question no record matches by its words still
    matches nothing (a typo should get a suggestion, not fifty guesses)."""
    terms, others = flatten(query)
    words = bm25(searcher, columns, terms, ranking)
    for other in others:
        for docnum, score in searcher.search(other, limit=None).items():
            words[docnum] += score
    matched = (words > 0) & live
    fused = np.zeros(columns.size, dtype=np.float32)
    if not matched.any():
        return Ranked(fused, matched)
    fused += words / words[matched].max()
    if ranking.gram_weight:
        grams = character_bigrams(text)[:MAX_QUESTION_GRAMS]
        pairs = bm25(
            searcher,
            columns,
            [(GRAM_FIELD, g, 1.0) for g in grams],
            ranking,
            IDFS[ranking.gram_idf],
        )
        best = pairs[matched].max() if len(grams) else 0.0
        if best > 0:
            fused += ranking.gram_weight * pairs / best
    if ranking.meaning_weight and text.strip():
        _add_meaning(searcher, columns, text, live, ranking, widen, fused, matched)
    fused[~matched] = 0
    return Ranked(fused, matched)


def _add_meaning(searcher, columns, text, live, ranking, widen, fused, matched) -> None:
    """Add the question's cosines (as z-scores) to `fused`; with `widen`, mark the nearest
    records in meaning as matched. Nothing when the index holds no vectors."""
    matrix, present = columns.vectors(searcher.reader())
    if not present.any():
        return
    cosines = matrix @ vectors.question_vector(text, ranking.question_map)
    spread = float(cosines[present].std())
    if spread > 0:
        fused += ranking.meaning_weight * (cosines - float(cosines[present].mean())) / spread
    nearest = min(ranking.meaning_candidates, int(live.sum())) if widen else 0
    if nearest:
        candidates = np.where(live & present, cosines, -np.inf)
        top = np.argpartition(-candidates, nearest - 1)[:nearest]
        matched[top[np.isfinite(candidates[top])]] = True


def spread_over_files(docs: np.ndarray, files: np.ndarray, rounds: int) -> np.ndarray:
    """`docs` (best first) reordered so that each file's best record comes before any file's
    second, its second before any file's third, and so on for `rounds` rounds; past them, the
    order is kept. A page of hits then shows that many more documents, rather than ten articles
    of one law; within a file, and in an index of one file, the order does not change."""
    if rounds <= 0 or len(docs) < 2:
        return docs
    codes = files[docs]
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_codes)) + 1]
    lengths = np.diff(np.r_[starts, len(docs)])
    within = np.empty(len(docs), dtype=np.int64)
    within[order] = np.arange(len(docs)) - np.repeat(starts, lengths)
    within[codes < 0] = 0  # records without a file compete on their own
    level = np.minimum(within, rounds)
    return docs[np.lexsort((np.arange(len(docs)), level))]
