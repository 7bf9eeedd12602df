"""How every writer of ours writes a segment: Whoosh's segment writer with its postings pooled
in memory, the postings of the full-text fields also as arrays, and the character pairs kept
beside it (_whoosh.PooledWriter, pairs.py), in separate files rather than one compound file;
and which earlier segments a commit merges (merge_policy)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from whoosh import index as whoosh_index
from whoosh.reading import SegmentReader
from whoosh.writing import MERGE_SMALL, NO_MERGE

from . import facets, pairs, scoring, segment_columns
from ._whoosh import PooledWriter

# The fields whose postings are also kept as arrays (_whoosh.PostingArrays): the words every
# search scores, and the source file every hit is spread by.
ARRAYS_FOR = frozenset({"title", "content", "meta", "source_file"})
# The fields whose one-byte lengths BM25 reads (saved with the segment's columns).
LENGTH_FIELDS = ("title", "content", "meta")
# A segment whose deleted documents (records edited or removed since it was written) reach this
# fraction of it is rewritten without them at the next commit. A quarter bounds what they cost
# (a third more than its live records, on disk and in every search's columns) while each merge
# rewrites at least four live records per deleted one it drops, so an update that edits a file
# rewrites the big segment once in a hundred or so updates, not at every one.
DELETED_FRACTION = 0.25


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
    opened.commit(mergetype=merge_policy if merge else NO_MERGE)
    save_columns(ix)


def merge_policy(writer: PooledWriter, segments: list) -> list:
    """The segments a commit keeps as they are, after merging the others into its new segment:
    Whoosh's own policy (MERGE_SMALL: small segments, by a Fibonacci rule), then every segment
    left whose deleted documents reached DELETED_FRACTION. Whoosh's policy never merges the
    build's big segments, where most edits delete records: they grew with every edit for the
    life of the generation. Merged through the writer's add_reader, as Whoosh's own merges are,
    so the pairs and posting arrays follow (PooledWriter), and the columns are saved after the
    commit (save_columns)."""
    kept = []
    for segment in MERGE_SMALL(writer, segments):
        total, deleted = segment.doc_count_all(), segment.deleted_count()
        if total and deleted == total:
            continue  # nothing left to copy: dropped with its files
        if total and deleted >= DELETED_FRACTION * total:
            reader = SegmentReader(writer.storage, writer.schema, segment)
            try:
                writer.add_reader(reader)
            finally:
                reader.close()
        else:
            kept.append(segment)
    return kept


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
