"""Suggestions as you type: titles, issuing bodies (their canonical names) and terms (the domain
dictionary and the index's words) that start with or contain the typed text.

The lists are built once per index commit (sorted arrays for prefixes by bisection, a map from
each character pair to the items holding it for the rest), so a keystroke costs a bisection and
the intersection of a few short arrays.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ._whoosh import postings
from .analysis import DICTIONARY_NAME, _data_lines, data_file, fold_width, stopwords
from .issuers import aliases

if TYPE_CHECKING:
    from .query import SearchIndex

KINDS = ("title", "issuer", "term")
MAX_SUGGESTIONS = 10
PER_KIND = {"issuer": 3, "term": 5, "title": 5}
MAX_PREFIX_CHARS = 50
MIN_TERM_DOCS = 2  # index words in fewer records are mostly typing accidents and numbers
MAX_TITLE_CHARS = 80


def _key(text: str) -> str:
    return fold_width(text).lower().strip()


def _pairs(text: str) -> set[str]:
    return {text[i : i + 2] for i in range(len(text) - 1)}


@dataclass
class _Kind:
    """One kind's items: their texts, search keys and weights, sorted by key."""

    texts: list[str]
    keys: list[str]
    weights: np.ndarray
    lengths: np.ndarray
    pairs: dict[str, np.ndarray]  # character pair -> indexes of the items that hold it

    @classmethod
    def build(cls, weighted: dict[str, int], shown: dict[str, str] | None = None) -> _Kind:
        """Items from text -> weight; `shown` maps a text to what to suggest for it instead."""
        shown = shown or {}
        items = sorted(
            (_key(text), shown.get(text, text), weight) for text, weight in weighted.items() if text
        )
        keys = [k for k, _, _ in items]
        postings: dict[str, list[int]] = {}
        for i, key in enumerate(keys):
            for pair in _pairs(key):
                postings.setdefault(pair, []).append(i)
        return cls(
            texts=[t for _, t, _ in items],
            keys=keys,
            weights=np.array([w for _, _, w in items], dtype=np.int64),
            lengths=np.array([len(k) for k in keys], dtype=np.int32),
            pairs={p: np.array(ids, dtype=np.int32) for p, ids in postings.items()},
        )

    def find(self, typed: str, limit: int) -> list[int]:
        """The item indexes of the best `limit` matches: those starting with the typed text
        first, then those containing it, each by weight, then shorter first."""
        start = bisect_left(self.keys, typed)
        end = bisect_left(self.keys, typed + "\U0010ffff")
        found = self._best(np.arange(start, end), limit)
        if len(found) < limit and len(typed) >= 2:
            lists = sorted((self.pairs.get(p, _EMPTY) for p in _pairs(typed)), key=len)
            candidates = lists[0]
            for other in lists[1:]:
                candidates = np.intersect1d(candidates, other, assume_unique=True)
            candidates = candidates[(candidates < start) | (candidates >= end)]
            wanted = limit - len(found)
            if len(typed) == 2:  # every holder of the one pair contains the text
                return found + self._best(candidates, wanted)
            # more pairs: a holder of all may still not hold them in a row; check the best
            checked = 0
            for pool in (wanted * 8, wanted * 64, len(candidates)):
                best = self._best(candidates, pool)
                found_here = [i for i in best if typed in self.keys[i]]
                checked = len(best)
                if len(found_here) >= wanted or checked >= len(candidates):
                    return found + found_here[:wanted]
        return found

    def _best(self, items: np.ndarray, limit: int) -> list[int]:
        """The `limit` heaviest of `items`, shorter first among equals, in that order."""
        if len(items) > limit * 4:
            # the heaviest few first (argpartition is linear), then only those sorted
            keep = np.argpartition(-self.weights[items], limit * 4 - 1)[: limit * 4]
            items = items[keep]
        order = np.lexsort((items, self.lengths[items], -self.weights[items]))
        return items[order][:limit].tolist()


_EMPTY = np.empty(0, dtype=np.int32)


def _live_frequencies(reader, field: str) -> dict[str, int]:
    """How many live records hold each word of `field` (words no live record holds left out).
    Whoosh's term statistics count deleted records until their segment is merged, so in a
    segment with deletions each word's postings are counted against the live records; other
    segments' statistics are exact."""
    counts: dict[str, int] = {}
    for leaf, _ in reader.leaf_readers():
        live = None
        if leaf.has_deletions():
            live = np.zeros(leaf.doc_count_all(), dtype=bool)
            live[np.fromiter(leaf.all_doc_ids(), dtype=np.int64)] = True
        for term, info in leaf.iter_field(field):
            word = term.decode("utf-8") if isinstance(term, bytes) else term
            if live is None:
                count = info.doc_frequency()
            else:
                docs, _ = postings(leaf, field, word)
                count = int(np.count_nonzero(live[np.unique(docs)]))
            if count:
                counts[word] = counts.get(word, 0) + count
    return counts


class Suggester:
    """The suggestion lists of one index commit."""

    def __init__(self, reader):
        stop = stopwords()
        # a deleted record's title and words stay in the index files until its segment is
        # merged: only live records' are suggested
        live = np.zeros(reader.doc_count_all(), dtype=bool)
        live[np.fromiter(reader.all_doc_ids(), dtype=np.int64)] = True
        titles: dict[str, int] = {}
        if "title_exact" in reader.schema and reader.has_column("title_exact"):
            for docnum, title in enumerate(reader.column_reader("title_exact")):
                if live[docnum] and title and len(title) <= MAX_TITLE_CHARS:
                    titles[title] = titles.get(title, 0) + 1
        issuers: dict[str, int] = {}
        shown: dict[str, str] = {}
        if "issuer" in reader.indexed_field_names():
            for canonical, count in _live_frequencies(reader, "issuer").items():
                # typing an alias (北京市发改委) suggests the body's one name
                for name in aliases(canonical):
                    issuers[name] = count
                    shown[name] = canonical
        terms: dict[str, int] = {}
        for field in ("title", "content"):
            if field not in reader.indexed_field_names():
                continue
            for word, count in _live_frequencies(reader, field).items():
                keep = count >= MIN_TERM_DOCS and len(word) >= 2 and not word.isdigit()
                if keep and word not in stop:
                    terms[word] = max(terms.get(word, 0), count)
        # the dictionary in use: a configured data folder's edited one, if it has one
        for fields in _data_lines(data_file(DICTIONARY_NAME)):
            terms.setdefault(fields[0], 0)
        self.kinds = {
            "title": _Kind.build(titles),
            "issuer": _Kind.build(issuers, shown),
            "term": _Kind.build(terms),
        }

    @property
    def sizes(self) -> dict[str, int]:
        return {kind: len(items.texts) for kind, items in self.kinds.items()}

    def suggest(self, typed: str, limit: int = MAX_SUGGESTIONS) -> list[dict]:
        """Up to `limit` suggestions for the typed text: issuers, terms, then titles."""
        typed = _key(typed)[:MAX_PREFIX_CHARS]
        if not typed:
            return []
        out: dict[tuple[str, str], dict] = {}
        for kind in ("issuer", "term", "title"):
            items = self.kinds[kind]
            for i in items.find(typed, PER_KIND[kind]):
                out.setdefault((items.texts[i], kind), {"text": items.texts[i], "kind": kind})
        return list(out.values())[:limit]


_built: dict[str, tuple[str, Suggester]] = {}  # index folder -> (generation label, its lists)
_building: set[str] = set()  # index folders whose lists are being rebuilt in the background
_lock = threading.Lock()


def suggester(index: SearchIndex) -> Suggester:
    """The suggestion lists of the index's current commit. The first are built on first use;
    after a commit the previous lists keep answering while the new ones are built in a
    background thread (seconds at 78k records: keystrokes must not wait for them)."""
    searcher, generation = index.searcher()
    root = str(index.index_root)
    cached = _built.get(root)
    if cached and cached[0] == generation.label:
        return cached[1]
    if cached:
        with _lock:
            if root not in _building:
                _building.add(root)
                threading.Thread(target=_rebuild, args=(index, root), daemon=True).start()
        return cached[1]
    with _lock:
        cached = _built.get(root)
        if cached is None:
            _built[root] = cached = (generation.label, Suggester(searcher.reader()))
        return cached[1]


def _rebuild(index: SearchIndex, root: str) -> None:
    try:
        # a searcher of its own, closed here: this thread ends after one build
        with index.own_searcher() as (searcher, generation):
            made = Suggester(searcher.reader())
        with _lock:
            _built[root] = (generation.label, made)
    except Exception:  # noqa: BLE001 - the old lists keep answering; the next call retries
        pass
    finally:
        with _lock:
            _building.discard(root)


def suggest(index: SearchIndex, typed: str, limit: int = MAX_SUGGESTIONS) -> dict:
    """`{"suggestions": [{"text", "kind"}]}` for the typed text."""
    return {"suggestions": suggester(index).suggest(typed, limit)}
