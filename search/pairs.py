"""Character pairs beside the index: every record's title and content as overlapping pairs of
characters (analysis.character_bigrams), kept per Whoosh segment as numpy arrays, and their BM25
for the ranked matching of questions (scoring.rank_question).

They were a Whoosh field, and half of all postings: written at build time and read at query time
one posting at a time in Python. Here a segment's pairs are made in one numpy pass when Whoosh
writes the segment (from the texts the indexer hands the writer, or from the stored records of
the segments a commit merges), saved as .npy files named after the segment (so Whoosh removes
them with it), and mapped read-only by every searcher and worker process. The scores are the
ones the field gave: the same lengths (quantised to a byte, as Whoosh stores them), the same
document frequencies and average length, the same float32 arithmetic.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from whoosh.util.numeric import byte_to_length, length_to_byte

from ._whoosh import segment_file
from .analysis import pair_runs
from .ranking import RankingConfig, bm25_term
from .records import unpack

# A pair is coded as first character << 21 | second; a run of one character as the character
# << 21 | _ALONE, which no character is (code points end at 0x10FFFF).
_SHIFT = 21
_ALONE = (1 << _SHIFT) - 1
_PARTS = ("codes", "starts", "docs", "tf", "lengths")
SUFFIX = ".pairs_{}.npy"


def _characters(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Each text's runs of letters and digits (normalised), every run and every text followed by
    a 0, as code points; and the number of the text each code point is in."""
    parts = ["\0".join(pair_runs(text)) + "\0" for text in texts]
    points = np.frombuffer("".join(parts).encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    owner = np.repeat(np.arange(len(parts), dtype=np.int64), [len(p) for p in parts])
    return points, owner


def _pairs(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes, positions) of the pairs and lone characters in `points`, in text order."""
    letter = points != 0
    after = np.r_[letter[1:], False]
    before = np.r_[False, letter[:-1]]
    pair_at = np.flatnonzero(letter & after)
    alone_at = np.flatnonzero(letter & ~after & ~before)
    codes = np.concatenate(
        [(points[pair_at] << _SHIFT) | points[pair_at + 1], (points[alone_at] << _SHIFT) | _ALONE]
    )
    at = np.concatenate([pair_at, alone_at])
    order = np.argsort(at, kind="stable")
    return codes[order], at[order]


def question_codes(text: str) -> np.ndarray:
    """The codes of character_bigrams(text), in its order (repeats kept)."""
    points, _ = _characters([text])
    return _pairs(points)[0]


def write(folder: Path, prefix: str, texts: list[str | None]) -> None:
    """Save the pairs of a segment whose documents have `texts` (None: no text)."""
    points, owner = _characters([t or "" for t in texts])
    codes, at = _pairs(points)
    docs = owner[at]
    lengths = np.bincount(docs, minlength=len(texts)).astype(np.int32)
    order = np.lexsort((docs, codes))
    codes, docs = codes[order], docs[order]
    first = np.r_[True, (codes[1:] != codes[:-1]) | (docs[1:] != docs[:-1])]
    at = np.flatnonzero(first)
    tf = np.diff(np.r_[at, len(codes)]).astype(np.float32)
    codes, docs = codes[at], docs[at]
    term_at = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    arrays = {
        "codes": codes[term_at],
        "starts": np.r_[term_at, len(codes)].astype(np.int64),
        "docs": docs.astype(np.int32),
        "tf": tf,
        "lengths": lengths,
    }
    for name in _PARTS:
        with open(folder / (prefix + SUFFIX.format(name)), "wb") as handle:
            np.save(handle, arrays[name])


def text_of(title: str | None, content: str | None) -> str:
    """The text a record's pairs are made of."""
    return f"{title or ''}\n{content or ''}"


def text_of_stored(stored: dict) -> str:
    """text_of a record as the index stores it (for the segments a commit merges)."""
    record = unpack(stored["record"])
    return text_of(record.get("title"), record.get("content"))


@dataclass(frozen=True)
class Side:
    """What the segment writer (_whoosh.PooledWriter) needs to keep pairs beside its segments."""

    key: str = "_pairs"

    @staticmethod
    def from_stored(stored: dict) -> str:
        return text_of_stored(stored)

    @staticmethod
    def write(folder: Path, prefix: str, texts: list) -> None:
        write(folder, prefix, texts)


SIDE = Side()


@dataclass
class SegmentPairs:
    """One segment's pairs, mapped from its files."""

    codes: np.ndarray
    starts: np.ndarray
    docs: np.ndarray
    tf: np.ndarray
    lengths: np.ndarray  # quantised as Whoosh stores field lengths, float32
    total: int  # the exact lengths added up, as Whoosh's field_length

    @classmethod
    def load(cls, leaf) -> SegmentPairs:
        parts = {
            name: np.asarray(np.load(segment_file(leaf, SUFFIX.format(name)), mmap_mode="r"))
            for name in _PARTS
        }
        exact = np.asarray(parts.pop("lengths"))
        values, where = np.unique(exact, return_inverse=True)
        quantised = np.array([byte_to_length(length_to_byte(int(v))) for v in values])
        return cls(lengths=quantised.astype(np.float32)[where], total=int(exact.sum()), **parts)

    def find(self, codes: np.ndarray) -> np.ndarray:
        """For each code, its term's row (-1: not in this segment)."""
        if len(self.codes) == 0:
            return np.full(len(codes), -1)
        rows = np.minimum(np.searchsorted(self.codes, codes), len(self.codes) - 1)
        return np.where(self.codes[rows] == codes, rows, -1)


class PairIndex:
    """The pairs of every segment of one commit's reader, each segment's loaded once and kept
    (by segment id) for the commits after it."""

    def __init__(self, previous: PairIndex | None = None):
        self._lock = threading.Lock()
        self._known = previous._segments if previous is not None else {}
        self._segments: dict[str, SegmentPairs] = {}
        self._parts: list[tuple[SegmentPairs, int]] | None = None

    def parts(self, reader) -> list[tuple[SegmentPairs, int]]:
        with self._lock:
            if self._parts is None:
                parts = []
                for leaf, offset in reader.leaf_readers():
                    key = leaf.segment().segment_id()
                    segment = self._known.get(key) or SegmentPairs.load(leaf)
                    self._segments[key] = segment
                    parts.append((segment, offset))
                self._parts = parts
                self._known = {}  # the former commit's segments: those merged away go now
        return self._parts

    def bm25(self, searcher, text: str, ranking: RankingConfig, limit: int) -> np.ndarray:
        """Σ BM25 of the first `limit` pairs of `text` (a pair as often as it occurs), for every
        document, with ranking.gram_idf: `whoosh` (log(N / (n + 1)) + 1, never below 1; N counts
        deleted documents, as Whoosh's BM25F) or `probabilistic` (Robertson and Spärck Jones',
        log(1 + (N - n + 0.5) / (n + 0.5)) with N the live documents, Lucene's: near 0 for the
        pairs in most records, as those of 合同 or 可以 in law articles)."""
        reader = searcher.reader()
        scores = np.zeros(reader.doc_count_all(), dtype=np.float32)
        codes = question_codes(text)[:limit]
        parts = self.parts(reader)
        if not len(codes) or not parts:
            return scores
        average = sum(s.total for s, _ in parts) / (reader.doc_count_all() or 1) or 1.0
        unique, which = np.unique(codes, return_inverse=True)
        rows = [segment.find(unique) for segment, _ in parts]
        frequency = sum(
            np.where(r >= 0, s.starts[r + 1] - s.starts[np.maximum(r, 0)], 0)
            for r, (s, _) in zip(rows, parts, strict=True)
        )
        scored: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
        for i in which.tolist():  # in the text's order, as the field's terms were added up
            if i not in scored:
                scored[i] = self._term(
                    searcher, parts, rows, i, int(frequency[i]), ranking, average
                )
            for docs, part in scored[i]:
                scores[docs] += part
        return scores

    @staticmethod
    def _term(searcher, parts, rows, i, n, ranking, average):
        """One pair's (document numbers, BM25) in each segment that has it."""
        if n == 0:
            return []
        if ranking.gram_idf == "whoosh":
            weight = math.log(searcher.reader().doc_count_all() / (n + 1)) + 1
        else:
            live = searcher.doc_count()
            weight = math.log(1 + (live - n + 0.5) / (n + 0.5))
        out = []
        for (segment, offset), found in zip(parts, rows, strict=True):
            row = found[i]
            if row < 0:
                continue
            start, end = segment.starts[row], segment.starts[row + 1]
            docs = segment.docs[start:end]
            tf = segment.tf[start:end]
            length = segment.lengths[docs]
            part = bm25_term(weight, tf, length, average, ranking)
            out.append((docs.astype(np.int64) + offset, part))
        return out
