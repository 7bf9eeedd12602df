"""Facets of one index commit in numpy: the facet fields of every document read once as columns,
then filter masks, facet counts and sorts by date or confidence over them, without loading a
stored document."""

from __future__ import annotations

from datetime import datetime

import numpy as np
from whoosh.util.times import datetime_to_long

from .request import SearchRequest
from .schema import CONFIDENCE_BANDS, CONFIDENCE_SCALE, FACET_FIELDS

FACETS = ("issuer", "year", "node_type", "region", "sector", "confidence", "doc_type", "status")


class Columns:
    """The facet fields of every document as numpy arrays, read once per index commit."""

    def __init__(self, reader):
        size = reader.doc_count_all()
        self.live = np.zeros(size, dtype=bool)
        self.live[np.fromiter(reader.all_doc_ids(), dtype=np.int64)] = True
        self.codes: dict[str, np.ndarray] = {}
        self.values: dict[str, list[str]] = {}
        for name in FACET_FIELDS:
            raw = list(reader.column_reader(name)) if reader.has_column(name) else [""] * size
            values = sorted(set(raw))
            lookup = {v: i for i, v in enumerate(values)}
            self.codes[name] = np.fromiter((lookup[v] for v in raw), dtype=np.int32, count=size)
            self.values[name] = values
        self.year = self._numbers(reader, "year", size)
        self.confidence = self._numbers(reader, "confidence", size)
        # untranslated: dates as Whoosh's long ticks, the scale of datetime_to_long
        self.date = self._numbers(reader, "date", size, translate=False)
        self.band = np.full(size, -1, dtype=np.int32)
        for i, (_, low, high) in enumerate(CONFIDENCE_BANDS):
            self.band[(self.confidence >= low) & (self.confidence < high)] = i

    @staticmethod
    def _numbers(reader, name: str, size: int, translate: bool = True) -> np.ndarray:
        if not reader.has_column(name):
            return np.zeros(size, dtype=np.int64)
        column = reader.column_reader(name, translate=translate)
        if translate:
            return np.fromiter(column, dtype=np.int64, count=size)
        # A record without a date reads as the column's default, 2**64 - 1, past int64: read
        # unsigned and keep it as 0 (undated records are told apart by year 0 anyway).
        ticks = np.fromiter(column, dtype=np.uint64, count=size)
        ticks[ticks > np.iinfo(np.int64).max] = 0
        return ticks.astype(np.int64)


def filter_masks(request: SearchRequest, columns: Columns, docs: np.ndarray) -> dict:
    """One boolean mask over `docs` per active filter, keyed by facet name ('' for ranges)."""
    masks: dict[str, np.ndarray] = {}
    for facet in FACET_FIELDS:
        selected = getattr(request, facet)
        if selected:
            values = columns.values[facet]
            codes = [values.index(v) for v in selected if v in values]
            masks[facet] = np.isin(columns.codes[facet][docs], codes)
    if request.year:
        masks["year"] = np.isin(columns.year[docs], list(request.year))
    if request.confidence:
        wanted = [
            i for i, (label, _, _) in enumerate(CONFIDENCE_BANDS) if label in request.confidence
        ]
        masks["confidence"] = np.isin(columns.band[docs], wanted)
    ranges = []
    if request.date_from:
        low = datetime_to_long(datetime.combine(request.date_from, datetime.min.time()))
        ranges.append((columns.year[docs] > 0) & (columns.date[docs] >= low))
    if request.date_to:
        high = datetime_to_long(datetime.combine(request.date_to, datetime.min.time()))
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
            counts = np.bincount(columns.codes[facet][subset], minlength=len(values))
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
