"""How every writer of ours writes a segment: Whoosh's segment writer with its postings pooled
in memory, the postings of the full-text fields also as arrays, and the character pairs kept
beside it (_whoosh.PooledWriter, pairs.py), in separate files rather than one compound file."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from whoosh import index as whoosh_index

from . import facets, pairs, scoring, segment_columns
from ._whoosh import PooledWriter

# The fields whose postings are also kept as arrays (_whoosh.PostingArrays): the words every
# search scores, and the source file every hit is spread by.
ARRAYS_FOR = frozenset({"title", "content", "meta", "source_file"})
# The fields whose one-byte lengths BM25 reads (saved with the segment's columns).
LENGTH_FIELDS = ("title", "content", "meta")


@contextlib.contextmanager
def writer(ix: whoosh_index.FileIndex, merge: bool = True) -> Iterator[PooledWriter]:
    """A writer of `ix`, committed when the block ends (cancelled on an error); `merge=False`
    leaves the earlier segments as they are. Its segments stay as separate files: Whoosh reads a
    compound segment (its files joined in one) by copying each part it opens into memory, per
    searcher (some 170 MB a searcher at 12k records), where separate files are read through the
    page cache, shared by every searcher and process."""
    opened = PooledWriter(ix, side=pairs.SIDE, arrays_for=ARRAYS_FOR, compound=False)
    try:
        yield opened
    except BaseException:
        opened.cancel()
        raise
    opened.commit(merge=merge)
    save_columns(ix)


def save_columns(ix: whoosh_index.FileIndex) -> None:
    """Save the columns of every segment of the latest commit that has none saved yet
    (segment_columns.py): the new segments of this commit, or one whose writer died before."""
    with ix.reader() as reader:
        for leaf, _ in reader.leaf_readers():
            if not segment_columns.path_of(leaf).is_file():
                segment_columns.save(leaf, column_arrays(leaf))


def column_arrays(leaf) -> dict:
    """A segment's columns read from Whoosh's, as segment_columns saves them: the facets and
    numbers (facets.py), the lengths of LENGTH_FIELDS and the vector keys (scoring.py)."""
    return facets.segment_arrays(leaf) | scoring.segment_arrays(leaf, LENGTH_FIELDS)
