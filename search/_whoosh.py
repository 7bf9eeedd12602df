"""Every use of Whoosh's internals, in one place: its commit file names, opening a reader at one
commit, the per-document field lengths, the blocks of a term's postings, and a segment writer
that pools its postings in memory.

They are read here because the public API cannot pin a searcher to a commit, and steps through
postings one Python call at a time. They belong to whoosh-reloaded 2.7.5 (pinned in
pyproject.toml): importing this module checks that version, and
tests/test_ranking.py::test_numpy_word_scores_are_whoosh_bm25f_scores (numpy's BM25F against
Whoosh's own, record by record) is the contract an upgrade must pass.
"""

from __future__ import annotations

import os
import threading
import weakref
from array import array
from collections.abc import Callable
from pathlib import Path

import numpy as np
import whoosh
from whoosh import index as whoosh_index
from whoosh.codec.whoosh3 import (
    LENGTHS_COLUMN,
    STORED_COLUMN,
    W3LeafMatcher,
    _lenfield,
    byte_to_length,
)
from whoosh.fields import FieldType
from whoosh.reading import TermNotFound
from whoosh.searching import Searcher
from whoosh.writing import SegmentWriter

PINNED_VERSION = "2.7.5"

_installed = whoosh.versionstring()
if _installed != PINNED_VERSION:  # pragma: no cover - the lock installs the pinned version
    raise ImportError(
        f"policy-search reads internals of whoosh-reloaded {PINNED_VERSION}, but {_installed} is "
        f"installed: install requirements.lock, or check search/_whoosh.py against {_installed}"
    )

# byte -> field length, as Whoosh decodes the one-byte lengths it stores per document and field
LENGTHS = np.array([byte_to_length(i) for i in range(256)], dtype=np.float32)
_LENGTH_OF_BYTE = [byte_to_length(i) for i in range(256)]


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
    try:
        open_stored_fields(reader)
    except BaseException:
        reader.close()
        raise
    return Searcher(reader, weighting=weighting, fromindex=ix)


def open_stored_fields(reader) -> None:
    """Open each segment's stored fields now. Whoosh opens that file at a segment's first
    stored_fields() call, and a later commit may have removed it by then (a merge): it then
    reads the column as missing and fails (TypeError: 'NoneType' object is not subscriptable, a
    500 seen by the soak). Raises FileNotFoundError when a segment's file is gone already: the
    caller opens the newer commit instead."""
    for leaf, _ in reader.leaf_readers():
        perdoc = getattr(leaf, "_perdoc", None)
        if perdoc is None or not leaf.doc_count_all():
            continue
        if perdoc._cached_reader("_stored", STORED_COLUMN) is None:
            raise FileNotFoundError(f"segment {segment_name(leaf)} was removed by a later commit")


def segments_present(reader) -> bool:
    """Whether every segment of `reader` still has its files (one stat call a segment): what was
    read from them while they all stood was read whole."""
    return all(
        getattr(leaf, "_perdoc", None) is None
        or not leaf.doc_count_all()
        or leaf._perdoc.has_column("_stored")
        for leaf, _ in reader.leaf_readers()
    )


def segment_name(leaf) -> str:
    return leaf.segment().segment_id()


def length_column(leaf, field: str):
    """The one-byte lengths of `field` in a segment (decode them with LENGTHS), as the W3 codec
    keeps them; None when no document of the segment has the field."""
    return leaf._perdoc._cached_reader(_lenfield(field), LENGTHS_COLUMN)


def postings(reader, field: str, text: str) -> tuple[np.ndarray, np.ndarray]:
    """(document numbers, term frequencies) of one term, across every segment of `reader`: a
    slice of the segment's PostingArrays where it has them, else Whoosh's blocks of up to 128
    postings, one at a time."""
    ids: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    for leaf, offset in reader.leaf_readers():
        arrays = _arrays_of(leaf, field)
        if arrays is not None:
            try:
                info = leaf.term_info(field, text)
            except TermNotFound:
                continue
        if arrays is not None and not info.is_inlined():
            docs, tf = arrays.read(info._offset)
            ids.append(docs.astype(np.int64) + offset)
            weights.append(tf)
            continue
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
    if len(ids) == 1:
        return ids[0], np.asarray(weights[0])
    return np.concatenate(ids), np.concatenate(weights)


class _MemoryPool:
    """The postings a segment writer collects, kept in memory by term: each term's document
    numbers, weights and encoded values in arrays, in the order they were added.

    Whoosh's own pool (writing.PostingPool) pickles every posting to temporary run files once it
    holds `limitmb` and merges the runs back at commit; at a build of 12k records that, and
    looking up each posting's field length on disk, were over half the build's time. The writer
    that uses this pool writes segments of a bounded number of records instead (the indexer
    commits every few thousand), so memory stays bounded too."""

    def __init__(self):
        self.fieldnames: set[str] = set()
        self._terms: dict[tuple[str, bytes], tuple[array, array, list]] = {}
        self._unordered: set[tuple[str, bytes]] = set()

    def add_field(self, fieldname: str, words, docnum: int, boost: float, scorable: bool) -> int:
        """The postings of one document's field, from its format's word_values (text, frequency,
        weight, value bytes), as SegmentWriter.add_document would add them one by one through
        add(); the field's length (its words' frequencies summed) when it is `scorable`."""
        terms, unordered = self._terms, self._unordered
        length = 0
        for text, freq, weight, vbytes in words:
            if scorable:
                length += freq
            key = (fieldname, text.encode("utf-8"))
            postings = terms.get(key)
            if postings is None:
                postings = terms[key] = (array("I"), array("f"), [])
                self.fieldnames.add(fieldname)
            elif postings[0][-1] > docnum:
                unordered.add(key)
            postings[0].append(docnum)
            postings[1].append(weight * boost)
            postings[2].append(vbytes or b"")
        return length

    def add(self, item) -> None:
        fieldname, tbytes, docnum, weight, vbytes = item
        if docnum < 0:  # a word for a spelling graph: none of our fields has one
            return
        key = (fieldname, tbytes)
        postings = self._terms.get(key)
        if postings is None:
            postings = self._terms[key] = (array("I"), array("f"), [])
            self.fieldnames.add(fieldname)
        elif postings[0][-1] > docnum:
            self._unordered.add(key)
        postings[0].append(docnum)
        postings[1].append(weight)
        postings[2].append(vbytes or b"")

    def _ordered(self, key: tuple[str, bytes]) -> tuple[array, array, list]:
        ids, weights, values = self._terms[key]
        if key in self._unordered:
            order = sorted(range(len(ids)), key=ids.__getitem__)
            ids = array("I", (ids[i] for i in order))
            weights = array("f", (weights[i] for i in order))
            values = [values[i] for i in order]
        return ids, weights, values

    def iter_postings(self):
        """(fieldname, text bytes, docnum, weight, value bytes) in Whoosh's order."""
        for key in sorted(self._terms):
            ids, weights, values = self._ordered(key)
            for docnum, weight, value in zip(ids, weights, values, strict=True):
                yield key[0], key[1], docnum, weight, value

    def write(self, fieldwriter, schema, lengths, arrays_for=frozenset()) -> dict:
        """Write every term's postings through the codec's field writer, a block at a time, with
        the statistics Whoosh's add_postings would give each block; `lengths(fieldname)` is the
        list of each document's (decoded) length in that field, or None. Returns, for each field
        of `arrays_for`, its postings as arrays (see PostingArrays)."""
        current = None
        arrays: dict[str, tuple[list, list, list]] = {}
        for key in sorted(self._terms):
            fieldname, tbytes = key
            if fieldname != current:
                if current is not None:
                    fieldwriter.finish_field()
                fieldwriter.start_field(fieldname, schema[fieldname])
                current, field_lengths = fieldname, lengths(fieldname)
                kept = (
                    arrays.setdefault(fieldname, ([], [], [])) if fieldname in arrays_for else None
                )
            fieldwriter.start_term(tbytes)
            ids, weights, values = self._ordered(key)
            if kept is not None:
                kept[0].append(fieldwriter._postwriter._startoffset)
                kept[1].append(ids)
                kept[2].append(weights)
            _fill_blocks(fieldwriter._postwriter, ids, weights, values, field_lengths)
            fieldwriter.finish_term()
        if current is not None:
            fieldwriter.finish_field()
        return {field: PostingArrays.of(*kept) for field, kept in arrays.items()}

    def cleanup(self) -> None:
        self._terms.clear()
        self._unordered.clear()


def _fill_blocks(writer, ids: array, weights: array, values: list, lengths) -> None:
    """What W3PostingsWriter.add_posting does one posting at a time, a block at a time: the block
    buffers and their statistics (largest weight, shortest and longest non-zero length), each
    full block written before the next is filled; the term's writer writes or inlines the last."""
    limit = writer._blocklimit
    for start in range(0, len(ids), limit):
        if start:
            writer._write_block()
        block = ids[start : start + limit]
        block_weights = weights[start : start + limit]
        writer._ids = block
        writer._weights = block_weights
        writer._values = [v for v in values[start : start + limit] if v]
        writer._maxweight = max(0, max(block_weights))
        if lengths is None:
            writer._minlength, writer._maxlength = None, 0
        else:
            found = [length for length in map(lengths.__getitem__, block) if length]
            writer._minlength = min(found) if found else None
            writer._maxlength = max(found) if found else 0


_POSTINGS_SUFFIX = ".postings_{}_{}.npy"


class PostingArrays:
    """One field's postings in one segment as arrays, saved beside the segment when it is written
    (PooledWriter's `arrays_for`) and mapped read-only: `terms`, each term's offset in the
    segment's postings file (as its TermInfo gives it, which finds the term's row) and its first
    posting; `postings`, every term's document numbers and weights, term after term. Reading a
    term is then a slice, where Whoosh's blocks are unpickled and decompressed in Python."""

    def __init__(self, terms: np.ndarray, postings: np.ndarray):
        self.terms = terms
        self.postings = postings

    @classmethod
    def of(cls, offsets: list[int], ids: list[array], weights: list[array]) -> PostingArrays:
        counts = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        terms = np.empty((len(ids) + 1, 2), dtype=np.int64)
        terms[:-1, 0] = offsets
        terms[-1, 0] = np.iinfo(np.int64).max
        terms[:, 1] = np.r_[0, np.cumsum(counts)]
        postings = np.empty(int(counts.sum()), dtype=[("doc", "<u4"), ("weight", "<f4")])
        postings["doc"] = np.frombuffer(b"".join(i.tobytes() for i in ids), dtype=np.uint32)
        postings["weight"] = np.frombuffer(b"".join(w.tobytes() for w in weights), np.float32)
        return cls(terms, postings)

    def save(self, folder: Path, prefix: str, field: str) -> None:
        for part in ("terms", "postings"):
            with open(folder / (prefix + _POSTINGS_SUFFIX.format(field, part)), "wb") as out:
                np.save(out, getattr(self, part))

    @classmethod
    def load(cls, leaf, field: str) -> PostingArrays | None:
        """The arrays of `field` in a segment reader's segment (None: not written for it)."""
        paths = [
            segment_file(leaf, _POSTINGS_SUFFIX.format(field, p)) for p in ("terms", "postings")
        ]
        if not paths[0].exists():
            return None
        # as plain arrays over the mapping: numpy's memmap subclass costs a Python call a slice
        return cls(*(np.asarray(np.load(path, mmap_mode="r")) for path in paths))

    def read(self, offset: int) -> tuple[np.ndarray, np.ndarray]:
        """(document numbers, weights) of the term whose postings start at `offset`."""
        row = int(np.searchsorted(self.terms[:, 0], offset))
        start, end = self.terms[row, 1], self.terms[row + 1, 1]
        part = self.postings[start:end]
        return part["doc"], part["weight"]


def kept_with(leaf, name: str, make: Callable[[], object]):
    """make()'s value, made once for a segment reader and kept with it (so it goes when the
    reader does): what we read from the files beside a segment."""
    kept = leaf.__dict__.setdefault("_policy_search", {})
    if name not in kept:
        kept[name] = make()
    return kept[name]


# Each segment's PostingArrays, mapped once per process however many searchers read the segment
# (each thread has its own searcher, and each mapping holds a file descriptor: mapped per
# searcher, a worker of 6 threads held some 30 per segment, and its open files followed the number
# of segments up and down). Weak values: a segment's arrays go with the last reader holding them.
_mapped: weakref.WeakValueDictionary[tuple[str, str], PostingArrays] = weakref.WeakValueDictionary()
_mapped_lock = threading.Lock()


def _arrays_of(leaf, field: str) -> PostingArrays | None:
    """A segment reader's PostingArrays of `field` (None: not written for it)."""
    return kept_with(leaf, f"postings:{field}", lambda: _mapped_arrays(leaf, field))


def _mapped_arrays(leaf, field: str) -> PostingArrays | None:
    key = (str(segment_file(leaf, "")), field)  # segment files never change once written
    with _mapped_lock:
        arrays = _mapped.get(key)
        if arrays is None:
            arrays = PostingArrays.load(leaf, field)
            if arrays is not None:
                _mapped[key] = arrays
        return arrays


class PooledWriter(SegmentWriter):
    """Whoosh's segment writer with its postings pooled in memory (_MemoryPool) and each field's
    lengths read once per segment rather than once per posting. It writes the same segment files
    (tests/test_indexer.py compares them byte for byte with Whoosh's own writer's).

    `side` keeps data of our own beside each segment (pairs.py): each document's value under
    `side.key` (a name starting with "_", which Whoosh does not index), or for the documents of
    segments merged into this one `side.from_stored(stored fields)`, in document order, handed to
    `side.write(folder, file name prefix, values)` when the segment is written. The postings of
    the fields in `arrays_for` are also saved as arrays (PostingArrays), which `postings` reads.
    Files named after the segment are removed by Whoosh with it."""

    def __init__(self, ix, side=None, arrays_for=frozenset(), **kwargs):
        super().__init__(ix, **kwargs)
        self.pool.cleanup()
        self.pool = _MemoryPool()
        self._arrays_for = frozenset(arrays_for)
        self._side = side
        self._side_values: list = []
        # the lean add_document covers fields that FieldType.index indexes, none spelled or
        # with term vectors (all of ours); any other schema goes through Whoosh's own
        self._plain_schema = all(
            type(field).index is FieldType.index
            and not field.separate_spelling()
            and not field.vector
            for _, field in self.schema.items()
        )

    def add_document(self, **fields):
        value = fields.pop(self._side.key, None) if self._side is not None else None
        if self._plain_schema:
            self._add_document(fields)
        else:
            super().add_document(**fields)
        if self._side is not None:
            self._side_values.append(value)

    def _add_document(self, fields: dict) -> None:
        """SegmentWriter.add_document of whoosh-reloaded 2.7.5 for a schema without spelling
        fields or term vectors, each field's words put straight into the pool (add_field): at a
        build, a tuple and two calls per posting were a tenth of the time. The same postings,
        lengths, stored values and columns (tests/test_indexer.py compares the segment files)."""
        self._check_state()
        perdocwriter = self.perdocwriter
        schema = self.schema
        docnum = self.docnum
        docboost = self._doc_boost(fields)
        fieldnames = sorted(name for name in fields if not name.startswith("_"))
        self._check_fields(schema, fieldnames)
        perdocwriter.start_doc(docnum)
        try:
            for fieldname in fieldnames:
                value = fields[fieldname]
                if value is None:
                    continue
                field = schema[fieldname]
                length = 0
                if field.indexed:
                    if not isinstance(value, (str, list, tuple)):
                        raise ValueError(f"{value!r} is not unicode or sequence")
                    words = field.format.word_values(value, field.analyzer, mode="index")
                    boost = self._field_boost(fields, fieldname, docboost)
                    length = self.pool.add_field(fieldname, words, docnum, boost, field.scorable)
                stored = fields.get(f"_stored_{fieldname}", value)
                perdocwriter.add_field(fieldname, field, stored if field.stored else None, length)
                column = field.column_type
                if column and stored is not None:
                    perdocwriter.add_column_value(fieldname, column, field.to_column_value(stored))
        except Exception:
            perdocwriter.cancel_doc()
            raise
        perdocwriter.finish_doc()
        self._added = True
        self.docnum += 1

    def add_reader(self, reader):
        if self._side is not None:
            self._side_values += [
                self._side.from_stored(stored) for _, stored in reader.iter_docs()
            ]
        super().add_reader(reader)

    def _flush_segment(self):
        self.perdocwriter.close()
        reader = self.per_document_reader() if self.codec.length_stats else None

        def lengths(fieldname):
            if reader is None:
                return None
            column = reader._cached_reader(_lenfield(fieldname), LENGTHS_COLUMN)
            if column is None:
                return None
            return [_LENGTH_OF_BYTE[b] for b in column]

        arrays = self.pool.write(self.fieldwriter, self.schema, lengths, self._arrays_for)
        self.fieldwriter.close()
        if reader is not None:
            reader.close()
        folder = Path(self.storage.folder)
        prefix = self.newsegment.make_filename("")
        for field, kept in arrays.items():
            kept.save(folder, prefix, field)
        if self._side is not None:
            if len(self._side_values) != self.docnum - self.docbase:
                raise AssertionError("side values out of step with the segment's documents")
            self._side.write(folder, prefix, self._side_values)


def segment_file(leaf, suffix: str) -> Path:
    """The path of a file kept beside a segment of a reader (see PooledWriter's `side`)."""
    return Path(leaf.storage().folder) / leaf.segment().make_filename(suffix)
