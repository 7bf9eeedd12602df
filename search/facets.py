"""Facets of one index commit in numpy: the facet fields of every document read once as columns,
then filter masks, facet counts and sorts by date or confidence over them, without loading a
stored document."""

from __future__ import annotations

import numpy as np

from . import segment_columns, validity
from .request import SearchRequest
from .schema import CONFIDENCE_BANDS, CONFIDENCE_SCALE, FACET_FIELDS, MISSING_CONFIDENCE

FACETS = ("issuer", "year", "node_type", "region", "sector", "confidence", "doc_type", "status")
# and their default; effective and expires: the 施行 and expiry days, which turn a stored 现行有效
# into 尚未生效 or 失效 on the calendar (validity.py)
NUMBER_FIELDS = {
    "year": 0,
    "confidence": MISSING_CONFIDENCE,
    "date": 0,
    "effective": 0,
    "expires": 0,
}


class _Segment:
    """The facet columns of one segment, read once: a segment's values never change (only its
    deletions do), so every commit that keeps the segment reuses them."""

    def __init__(self, leaf, use_saved: bool = True):
        saved = segment_columns.saved(leaf) if use_saved else {}
        names = [f"codes_{name}" for name in FACET_FIELDS] + [f"number_{n}" for n in NUMBER_FIELDS]
        if all(name in saved for name in names):
            self.codes = {name: saved[f"codes_{name}"] for name in FACET_FIELDS}
            self.values = {name: saved[f"values_{name}"].tolist() for name in FACET_FIELDS}
            self.numbers = {name: saved[f"number_{name}"] for name in NUMBER_FIELDS}
            return
        size = leaf.doc_count_all()
        self.values: dict[str, list[str]] = {}
        self.codes: dict[str, np.ndarray] = {}
        for name in FACET_FIELDS:
            raw = list(leaf.column_reader(name)) if _has_column(leaf, name) else [""] * size
            values = sorted(set(raw))
            lookup = {v: i for i, v in enumerate(values)}
            self.codes[name] = np.fromiter((lookup[v] for v in raw), dtype=np.int32, count=size)
            self.values[name] = values
        self.numbers = {
            name: (
                np.fromiter(leaf.column_reader(name), dtype=np.int64, count=size)
                if _has_column(leaf, name)
                else np.full(size, default, dtype=np.int64)
            )
            for name, default in NUMBER_FIELDS.items()
        }

    def arrays(self) -> dict[str, np.ndarray]:
        """What segment_columns saves of it."""
        arrays = {f"number_{name}": self.numbers[name] for name in NUMBER_FIELDS}
        for name in FACET_FIELDS:
            arrays[f"codes_{name}"] = self.codes[name]
            arrays[f"values_{name}"] = np.array(self.values[name], dtype=str)
        return arrays


def segment_arrays(leaf) -> dict[str, np.ndarray]:
    """A segment's facet columns read from Whoosh's columns, as segment_columns saves them."""
    return _Segment(leaf, use_saved=False).arrays()


class Columns:
    """The facet fields of every document of one index commit as numpy arrays. Built segment by
    segment, reusing the segments of `previous` (the commit before): after an update only its
    new segments are read."""

    def __init__(self, reader, previous: Columns | None = None):
        known = previous.segments if previous is not None else {}
        self.segments: dict[str, _Segment] = {}
        parts, live = [], []
        for leaf, _ in reader.leaf_readers():
            segment_id = leaf.segment().segment_id()
            part = known.get(segment_id) or _Segment(leaf)
            self.segments[segment_id] = part
            parts.append(part)
            alive = np.zeros(leaf.doc_count_all(), dtype=bool)
            alive[np.fromiter(leaf.all_doc_ids(), dtype=np.int64)] = True
            live.append(alive)
        self.live = _joined(live, bool)
        self.codes: dict[str, np.ndarray] = {}
        self.values: dict[str, list[str]] = {}
        for name in FACET_FIELDS:
            values = {v for part in parts for v in part.values[name]}
            if name == "status":  # what the calendar may make of a stored 现行有效
                values |= {validity.DATED, validity.NOT_YET, validity.EXPIRED}
            values = sorted(values)
            self.values[name] = values
            ordered = np.array(values, dtype=object)
            self.codes[name] = _joined(
                [
                    np.searchsorted(ordered, np.array(part.values[name], dtype=object)).astype(
                        np.int32
                    )[part.codes[name]]
                    for part in parts
                ],
                np.int32,
            )
        self.year = _joined([p.numbers["year"] for p in parts], np.int64)
        self.confidence = _joined([p.numbers["confidence"] for p in parts], np.int64)
        self.date = _joined([p.numbers["date"] for p in parts], np.int64)  # ordinals, 0: none
        self.effective = _joined([p.numbers["effective"] for p in parts], np.int64)
        self.expires = _joined([p.numbers["expires"] for p in parts], np.int64)
        self._status_today: tuple | None = None
        self.band = np.full(len(self.live), -1, dtype=np.int32)
        for i, (_, low, high) in enumerate(CONFIDENCE_BANDS):
            self.band[(self.confidence >= low) & (self.confidence < high)] = i

    def facet_codes(self, facet: str) -> np.ndarray:
        """The codes of a facet field per document; the status's as of today (validity.py),
        worked out once a day."""
        if facet != "status":
            return self.codes[facet]
        day = validity.today()
        cached = self._status_today
        if cached is None or cached[0] != day:
            codes = validity.status_codes(
                self.codes["status"], self.values["status"], self.effective, self.expires, day
            )
            cached = self._status_today = (day, codes)
        return cached[1]


def _has_column(leaf, name: str) -> bool:
    """Whether a segment holds the column (an index of an older schema lacks some fields, which
    Whoosh's has_column answers with a KeyError)."""
    return name in leaf.schema and leaf.has_column(name)


def _joined(arrays: list[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(arrays) if arrays else np.empty(0, dtype=dtype)


def filter_masks(request: SearchRequest, columns: Columns, docs: np.ndarray) -> dict:
    """One boolean mask over `docs` per active filter, keyed by facet name ('' for ranges)."""
    masks: dict[str, np.ndarray] = {}
    for facet in FACET_FIELDS:
        selected = getattr(request, facet)
        if selected:
            values = columns.values[facet]
            codes = [values.index(v) for v in selected if v in values]
            masks[facet] = np.isin(columns.facet_codes(facet)[docs], codes)
    if request.year:
        masks["year"] = np.isin(columns.year[docs], list(request.year))
    if request.confidence:
        wanted = [
            i for i, (label, _, _) in enumerate(CONFIDENCE_BANDS) if label in request.confidence
        ]
        masks["confidence"] = np.isin(columns.band[docs], wanted)
    ranges = []
    if request.date_from:
        low = request.date_from.toordinal()
        ranges.append((columns.year[docs] > 0) & (columns.date[docs] >= low))
    if request.date_to:
        high = request.date_to.toordinal()
        ranges.append((columns.year[docs] > 0) & (columns.date[docs] <= high))
    if request.min_confidence is not None:
        ranges.append(columns.confidence[docs] >= round(request.min_confidence * CONFIDENCE_SCALE))
    if ranges:
        masks[""] = all_of(ranges, len(docs))
    return masks


def facet_counts(request: SearchRequest, columns: Columns, docs: np.ndarray, masks: dict) -> dict:
    """Counts per facet value; a facet ignores its own selection so alternatives stay visible."""
    facets = {}
    for facet in FACETS:
        keep = all_of([m for name, m in masks.items() if name != facet], len(docs))
        subset = docs[keep]
        if facet in FACET_FIELDS:
            values = columns.values[facet]
            counts = np.bincount(columns.facet_codes(facet)[subset], minlength=len(values))
            pairs = [(v, int(c)) for v, c in zip(values, counts, strict=True) if v and c]
            pairs.sort(key=lambda p: (-p[1], p[0]))
            selected = set(getattr(request, facet))
        elif facet == "year":
            years, counts = np.unique(columns.year[subset], return_counts=True)
            pairs = [(int(y), int(c)) for y, c in zip(years, counts, strict=True) if y > 0]
            pairs.sort(reverse=True)
            selected = set(request.year)
        else:
            counts = np.bincount(columns.band[subset] + 1, minlength=len(CONFIDENCE_BANDS) + 1)[1:]
            pairs = [
                (label, int(c))
                for (label, _, _), c in zip(CONFIDENCE_BANDS, counts, strict=True)
                if c
            ]
            selected = set(request.confidence)
        present = {v for v, _ in pairs}
        pairs += [(v, 0) for v in sorted(selected - present, key=str)]
        facets[facet] = [{"value": v, "count": c, "selected": v in selected} for v, c in pairs]
    return facets


def all_of(masks: list[np.ndarray] | dict, size: int) -> np.ndarray:
    """Where every mask holds (all True for no masks)."""
    keep = np.ones(size, dtype=bool)
    for mask in masks.values() if isinstance(masks, dict) else masks:
        keep &= mask
    return keep


def sorted_page(columns: Columns, docs: np.ndarray, sort: str, first: int, count: int) -> list[int]:
    """A page of `docs` sorted by date (either way) or confidence."""
    if sort == "confidence":
        order = np.lexsort((docs, -columns.confidence[docs]))
    else:
        dated = columns.year[docs] > 0
        key = columns.date[docs] if sort == "date" else -columns.date[docs]
        # records without a date go last whichever the direction; ties by docnum keep it stable
        order = np.lexsort((docs, key, ~dated))
    return docs[order][first : first + count].tolist()
