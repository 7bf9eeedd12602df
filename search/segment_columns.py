"""A segment's columns as arrays in one file beside it: the facet fields (each value's code and
the sorted values), the numbers, the full-text fields' one-byte lengths and the vector keys.

Whoosh's column readers hand over one value per Python call: opening an index of 78k records
stepped through some 700,000 of them (half a second, at every start and for every new segment).
The writer saves them once, after the commit that made the segment (segments.py); a reader loads
the file, or, for a segment without one (written by an older version, or by a writer that died
between its commit and this), reads the columns as before. Named after the segment, the file is
removed by Whoosh with it.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from ._whoosh import kept_with, segment_file

SUFFIX = ".columns.npz"


def path_of(leaf) -> Path:
    return segment_file(leaf, SUFFIX)


def load(leaf) -> dict[str, np.ndarray] | None:
    """A segment's saved columns, by name; None when it has none (or it cannot be read)."""
    path = path_of(leaf)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as saved:
            return {name: saved[name] for name in saved.files}
    except (OSError, ValueError, zipfile.BadZipFile):
        return None


def saved(leaf) -> dict[str, np.ndarray]:
    """load(leaf), read once and kept with the segment reader (the facets and the scoring columns
    both read it when a commit is opened); empty when the segment has no saved columns."""
    return kept_with(leaf, "columns", lambda: load(leaf) or {})


def save(leaf, arrays: dict[str, np.ndarray]) -> None:
    """Write a segment's columns (a temporary file renamed into place: a reader sees all or
    nothing)."""
    path = path_of(leaf)
    building = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(building, "wb") as handle:
        np.savez(handle, **arrays)
    os.replace(building, path)
