"""Ranked matching of questions, scored in numpy: each record's BM25F score for the question's
words (Whoosh's own formula, same numbers), BM25 for its character pairs, and the cosine of the
question's sentence vector with the record's, fused into one score (weights in RankingConfig).

Whoosh scores one posting at a time in Python; here each term's postings are read a block at a
time into arrays and scored for every record at once, which also lets the three signals be
normalised per question before they are added.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from whoosh import query as wq

from . import segment_columns, vectors
from ._whoosh import LENGTHS, length_column, postings
from .pairs import PairIndex
from .ranking import RankingConfig, bm25_term
from .vectorstore import VectorCache

MAX_QUESTION_GRAMS = 256


class ScoringColumns:
    """Per index commit: the field lengths BM25 needs and the keys of the records' sentence
    vectors, read on first use from a reader of that commit (a searcher's) segment by segment,
    reusing the segments of `previous` (the commit before), so that an update costs what its new
    segments hold. The vectors themselves are in `cache` (vectorstore.py), shared by commits."""

    def __init__(self, size: int, cache: VectorCache, previous: ScoringColumns | None = None):
        self.size = size
        self.cache = cache
        self._lock = threading.Lock()
        self._known = previous._segments if previous is not None else {}
        self.pairs = PairIndex(previous.pairs if previous is not None else None)
        self._segments: dict[tuple[str, str], np.ndarray] = {}
        self._columns: dict[str, np.ndarray] = {}
        self._rows: np.ndarray | None = None
        self._rows_of = -1  # the cache version _rows was found at
        self._files: np.ndarray | None = None

    def _column(self, reader, name: str, read, dtype) -> np.ndarray:
        """A per-document array over every segment, each segment's part read by `read(leaf)`
        (None: the segment has none, zeros) once and kept for the commits after."""
        with self._lock:
            if name not in self._columns:
                parts = []
                for leaf, _ in reader.leaf_readers():
                    key = (leaf.segment().segment_id(), name)
                    part = self._known.get(key)
                    if part is None:
                        part = read(leaf)
                        if part is None:
                            part = np.zeros(leaf.doc_count_all(), dtype=dtype)
                    self._segments[key] = part
                    parts.append(part)
                self._columns[name] = np.concatenate(parts) if parts else np.zeros(0, dtype)
            return self._columns[name]

    def read_ahead(self, reader, length_fields: Sequence[str]) -> None:
        """Read now, from `reader` (of this commit), every column a question reads: a thread's
        searcher may ask its first question after later commits removed these segments."""
        for field in length_fields:
            self.lengths(reader, field)
        self.vector_keys(reader)
        self.files(reader)

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
        """Every document's length in `field` (0 where it has none)."""

        def read(leaf):
            found = segment_columns.saved(leaf).get(f"length_{field}")
            if found is None:
                found = length_bytes(leaf, field)
            return None if found is None else LENGTHS[found]

        return self._column(reader, "length:" + field, read, np.float32)

    def vector_keys(self, reader) -> np.ndarray:
        """Each document's vector key (vectorstore.text_key; 0: no text, no vector)."""

        def read(leaf):
            found = segment_columns.saved(leaf).get("vkey")
            return vector_keys_of(leaf) if found is None else found

        return self._column(reader, "vkey", read, np.int64)

    def vector_rows(self, reader) -> np.ndarray:
        """Each document's row in the vector cache, -1 where its vector is not there (yet)."""
        keys = self.vector_keys(reader)
        self.cache.refresh()
        with self._lock:
            if self._rows is None or self._rows_of != self.cache.version:
                self._rows, self._rows_of = self.cache.rows_of(keys), self.cache.version
            return self._rows

    def vector_progress(self, reader, live: np.ndarray) -> dict:
        """How many live records that have text to read have their vector."""
        keys = self.vector_keys(reader)
        rows = self.vector_rows(reader)
        wanted = live & (keys != 0)
        return {"done": int((wanted & (rows >= 0)).sum()), "total": int(wanted.sum())}


def length_bytes(leaf, field: str) -> np.ndarray | None:
    """A segment's one-byte lengths of `field` as Whoosh stores them (None: no document has it)."""
    column = length_column(leaf, field)
    if column is None:
        return None
    return np.fromiter(column, dtype=np.uint8, count=leaf.doc_count_all())


def vector_keys_of(leaf) -> np.ndarray | None:
    if "vkey" not in leaf.schema or not leaf.has_column("vkey"):
        return None
    return np.fromiter(leaf.column_reader("vkey"), dtype=np.int64, count=leaf.doc_count_all())


def segment_arrays(leaf, fields) -> dict[str, np.ndarray]:
    """A segment's lengths of `fields` and vector keys, as segment_columns saves them."""
    arrays = {}
    for field in fields:
        found = length_bytes(leaf, field)
        if found is not None:
            arrays[f"length_{field}"] = found
    keys = vector_keys_of(leaf)
    if keys is not None:
        arrays["vkey"] = keys
    return arrays


def bm25(
    searcher,
    columns: ScoringColumns,
    terms: Sequence[tuple[str, str, float]],
    ranking: RankingConfig,
) -> np.ndarray:
    """Σ boost × BM25 over (field, text, boost) terms, for every document: with Whoosh's idf,
    exactly the score Whoosh's BM25F gives an Or of those Term queries."""
    scores = np.zeros(columns.size, dtype=np.float32)
    reader = searcher.reader()
    for field, text, boost in terms:
        docs, tf = postings(reader, field, text)
        if len(docs) == 0:
            continue
        average = searcher.avg_field_length(field) or 1.0
        length = columns.lengths(reader, field)[docs]
        part = bm25_term(searcher.idf(field, text), tf, length, average, ranking)
        scores[docs] += boost * part  # a term's documents are distinct
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
    pairs: BM25 of the question's character pairs (pairs.py);
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
        pairs = columns.pairs.bm25(searcher, text, ranking, MAX_QUESTION_GRAMS)
        best = pairs[matched].max()
        if best > 0:
            fused += ranking.gram_weight * pairs / best
    if ranking.meaning_weight and text.strip():
        _add_meaning(searcher, columns, text, live, ranking, widen, fused, matched)
    fused[~matched] = 0
    return Ranked(fused, matched)


def _add_meaning(searcher, columns, text, live, ranking, widen, fused, matched) -> None:
    """Add the question's cosines (as z-scores) to `fused`; with `widen`, mark the nearest
    records in meaning as matched. Nothing for records whose vectors are not computed yet (all
    of them, right after a build)."""
    rows = columns.vector_rows(searcher.reader())
    present = rows >= 0
    if not present.any():
        return
    cosines = columns.cache.cosines(vectors.question_vector(text, ranking.question_map), rows)
    spread = float(cosines[present].std())
    if spread > 0:
        fused += ranking.meaning_weight * (cosines - float(cosines[present].mean())) / spread
    nearest = min(ranking.meaning_candidates, int(live.sum())) if widen else 0
    if nearest:
        candidates = np.where(live & present, cosines, -np.inf)
        top = np.argpartition(-candidates, nearest - 1)[:nearest]
        matched[top[np.isfinite(candidates[top])]] = True


# ---------------------------------------------------------------------------------------------
# Keyword queries


class Postings:
    """The postings of the terms one search reads, kept for that search: matching a query and
    then ranking what it matched read each term once."""

    def __init__(self, reader):
        self.reader = reader
        self._read: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        # matching_docs's answer for each query object of this search, by id (they live as
        # long as the search): a keyword match reads its clauses' documents again
        self.matched: dict[int, np.ndarray] = {}

    def __call__(self, field: str, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(document numbers, term frequencies) of a term (empty when the index lacks it)."""
        key = (field, text)
        if key not in self._read:
            self._read[key] = postings(self.reader, field, text)
        return self._read[key]


# Past this share of the index, sets of document numbers are combined through a boolean mask over
# every document (linear in the index's size) rather than by sorting or hashing the numbers.
MASK_SHARE = 1 / 64


def union(parts: list[np.ndarray], size: int) -> np.ndarray:
    """The sorted distinct document numbers of any of `parts` (each a set of numbers < size)."""
    if len(parts) == 1:
        return parts[0]
    if sum(len(p) for p in parts) < size * MASK_SHARE:
        return np.unique(np.concatenate(parts))
    mask = np.zeros(size, dtype=bool)
    for part in parts:
        mask[part] = True
    return np.flatnonzero(mask)


def intersection(a: np.ndarray, b: np.ndarray, size: int) -> np.ndarray:
    """The sorted document numbers in both `a` and `b` (sorted, distinct, < size)."""
    if len(a) + len(b) < size * MASK_SHARE:
        return np.intersect1d(a, b, assume_unique=True)
    mask = np.zeros(size, dtype=bool)
    mask[b] = True
    return a[mask[a]]


def matching_docs(searcher, query: wq.Query, terms: Postings) -> np.ndarray:
    """The sorted numbers of the documents a query matches. A term's postings are read a block at
    a time and And, Or and AndNot combine sorted arrays: Whoosh's own matchers step through every
    match with Python calls at each level of the query, three times slower on our queries."""
    kind = type(query)
    if kind is wq.Term:
        return terms(query.fieldname, query.text)[0]
    found = terms.matched.get(id(query))
    if found is None:
        found = terms.matched[id(query)] = _matching_docs(searcher, query, kind, terms)
    return found


def _matching_docs(searcher, query: wq.Query, kind: type, terms: Postings) -> np.ndarray:
    if kind in (wq.And, wq.Or) and query.subqueries:
        parts = [matching_docs(searcher, q, terms) for q in query.subqueries]
        size = terms.reader.doc_count_all()
        if kind is wq.Or:
            return union(parts, size)
        docs = parts[0]
        for part in parts[1:]:
            docs = intersection(docs, part, size)
        return docs
    if kind is wq.AndNot:
        return np.setdiff1d(
            matching_docs(searcher, query.a, terms),
            matching_docs(searcher, query.b, terms),
            assume_unique=True,
        )
    return np.unique(np.fromiter(searcher.docs_for_query(query), dtype=np.int64))


def keyword_scores(
    searcher, columns: ScoringColumns, query: wq.Query, terms: Postings, ranking: RankingConfig
) -> np.ndarray:
    """Whoosh's BM25F score of a keyword query for every document it matches (float64, the same
    numbers as `searcher.search` gives): And and Or add up their matching parts, AndNot scores
    its positive side, and each term scores as BM25 of its field times its boost. Terms are
    scored as arrays over their postings; other clauses (phrases) by Whoosh's own matchers."""
    scores = np.zeros(columns.size, dtype=np.float64)
    _add_scores(searcher, columns, query, 1.0, terms, ranking, scores)
    return scores


def _add_scores(searcher, columns, query, boost, terms, ranking, scores) -> None:
    kind = type(query)
    if kind is wq.Term:
        docs, tf = terms(query.fieldname, query.text)
        if len(docs) == 0:
            return
        tf = tf.astype(np.float64)
        if searcher.schema[query.fieldname].scorable:
            k1, b = ranking.bm25_k1, ranking.bm25_b
            idf = searcher.idf(query.fieldname, query.text)
            average = searcher.avg_field_length(query.fieldname) or 1
            length = columns.lengths(searcher.reader(), query.fieldname)[docs].astype(np.float64)
            part = idf * ((tf * (k1 + 1)) / (tf + k1 * ((1 - b) + b * length / average)))
        else:
            part = tf  # an exact-value field: Whoosh scores its weight
        scores[docs] += part * (query.boost * boost)  # a term's documents are distinct
    elif kind in (wq.And, wq.Or):
        for sub in query.subqueries:
            _add_scores(searcher, columns, sub, boost * query.boost, terms, ranking, scores)
    elif kind is wq.AndNot:
        _add_scores(searcher, columns, query.a, boost * query.boost, terms, ranking, scores)
    elif kind is not wq.Not and query is not wq.NullQuery:
        matcher = query.matcher(searcher, searcher.context())
        while matcher.is_active():
            scores[matcher.id()] += matcher.score() * boost
            matcher.next()


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
