"""Every use of Whoosh's internals, in one place: its commit file names, opening a reader at one
commit, the per-document field lengths and the blocks of a term's postings.

They are read here because the public API cannot pin a searcher to a commit, and steps through
postings one Python call at a time. They belong to whoosh-reloaded 2.7.5 (pinned in
pyproject.toml): importing this module checks that version, and
tests/test_ranking.py::test_numpy_word_scores_are_whoosh_bm25f_scores (numpy's BM25F against
Whoosh's own, record by record) is the contract an upgrade must pass.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import whoosh
from whoosh import index as whoosh_index
from whoosh.codec.whoosh3 import LENGTHS_COLUMN, W3LeafMatcher, _lenfield, byte_to_length
from whoosh.searching import Searcher

PINNED_VERSION = "2.7.5"

_installed = whoosh.versionstring()
if _installed != PINNED_VERSION:  # pragma: no cover - the lock installs the pinned version
    raise ImportError(
        f"policy-search reads internals of whoosh-reloaded {PINNED_VERSION}, but {_installed} is "
        f"installed: install requirements.lock, or check search/_whoosh.py against {_installed}"
    )

# byte -> field length, as Whoosh decodes the one-byte lengths it stores per document and field
LENGTHS = np.array([byte_to_length(i) for i in range(256)], dtype=np.float32)


def has_commit(folder: Path) -> bool:
    """Whether a Whoosh commit's table of contents (`_MAIN_<n>.toc`) is in `folder`, seen by
    listing it: opening it (whoosh.index.exists_in) races a writer that commits and deletes the
    old one."""
    try:
        return any(n.startswith("_MAIN_") and n.endswith(".toc") for n in os.listdir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return False


def open_searcher(ix: whoosh_index.FileIndex, commit: int, weighting) -> Searcher:
    """A searcher of commit number `commit` of `ix`, even when a newer commit exists (Whoosh's
    own `ix.searcher()` opens the latest)."""
    toc = whoosh_index.TOC.read(ix.storage, ix.indexname, gen=commit)
    reader = whoosh_index.FileIndex._reader(ix.storage, toc.schema, toc.segments, toc.generation)
    return Searcher(reader, weighting=weighting, fromindex=ix)


def length_column(leaf, field: str):
    """The one-byte lengths of `field` in a segment (decode them with LENGTHS), as the W3 codec
    keeps them; None when no document of the segment has the field."""
    return leaf._perdoc._cached_reader(_lenfield(field), LENGTHS_COLUMN)


def postings(reader, field: str, text: str) -> tuple[np.ndarray, np.ndarray]:
    """(document numbers, term frequencies) of one term, across every segment of `reader`."""
    ids: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    for leaf, offset in reader.leaf_readers():
        if (field, text) not in leaf:
            continue
        matcher = leaf.postings(field, text)
        if isinstance(matcher, W3LeafMatcher):
            # a block of up to 128 postings at a time, as the codec stores them
            while matcher.is_active():
                matcher._read_ids()
                matcher._read_weights()
                ids.append(np.asarray(matcher._ids, dtype=np.int64) + offset)
                weights.append(np.asarray(matcher._weights, dtype=np.float32))
                matcher._next_block()
        else:  # postings inlined in the term's entry, or another codec
            found, tf = [], []
            while matcher.is_active():
                found.append(matcher.id() + offset)
                tf.append(matcher.weight())
                matcher.next()
            ids.append(np.asarray(found, dtype=np.int64))
            weights.append(np.asarray(tf, dtype=np.float32))
    if not ids:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    return np.concatenate(ids), np.concatenate(weights)
