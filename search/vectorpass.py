"""The pass that computes the sentence vectors a build leaves for later: it reads the records of
the current index generation whose vector the store lacks, encodes them a batch at a time and
stores them (vectorstore.py), until none is left. One pass at a time holds its lock; a pass
started meanwhile waits for it and then runs (a further one, while one waits, leaves the work to
the waiting one; a foreground `run` without `queue` leaves at once). Run by `policy-search index` in the background (at a lower CPU priority,
vectorstore.spawn_pass), or `python -m search.vectorpass INDEX` / `policy-search vectors INDEX` in
the foreground."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from whoosh import index as whoosh_index

from . import vectors
from .layout import current_generation
from .records import unpack
from .vectorstore import VectorStore, fill, pass_lock

# Records read per round: a round's texts are held in memory while they are encoded.
ROUND = 2048


def _pending(index_root: Path, store: VectorStore) -> Callable[[], list[tuple[int, str]]]:
    def pending() -> list[tuple[int, str]]:
        for _ in range(5):  # a rebuild may swap the generation (and delete the old) under us
            generation = current_generation(index_root)
            if generation is None:
                return []
            try:
                return _missing(generation, store)
            except (OSError, whoosh_index.EmptyIndexError):
                time.sleep(0.2)
        return []

    return pending


def _live_keys(reader) -> tuple[np.ndarray, np.ndarray]:
    """(the vector key of every document, which documents are live) of an index reader."""
    size = reader.doc_count_all()
    if "vkey" not in reader.schema or not reader.has_column("vkey"):
        return np.zeros(size, dtype=np.int64), np.zeros(size, dtype=bool)
    keys = np.fromiter(reader.column_reader("vkey"), dtype=np.int64, count=size)
    live = np.zeros(size, dtype=bool)
    live[np.fromiter(reader.all_doc_ids(), dtype=np.int64)] = True
    return keys, live


@contextlib.contextmanager
def _reader(generation: Path) -> Iterator:
    """A reader of the index generation at `generation`, closed with the index after use."""
    ix = whoosh_index.open_dir(str(generation))
    try:
        with ix.reader() as reader:
            yield reader
    finally:
        ix.close()


def _missing(generation: Path, store: VectorStore) -> list[tuple[int, str]]:
    """(key, text) of up to ROUND records of `generation` whose vector is not stored."""
    with _reader(generation) as reader:
        keys, live = _live_keys(reader)
        wanted = live & (keys != 0)
        wanted[wanted] = ~store.known(keys[wanted])
        found: dict[int, str] = {}
        for docnum in np.flatnonzero(wanted):
            key = int(keys[docnum])
            if key not in found:
                record = unpack(reader.stored_fields(int(docnum))["record"])
                found[key] = vectors.record_text(record["title"] or "", record["content"])
                if len(found) >= ROUND:
                    break
        return list(found.items())


def run(
    index_root: Path,
    progress: Callable[[int, int], None] | None = None,
    queue: bool = False,
    wait: bool = False,
) -> int | None:
    """Fill the store of `index_root` with the vectors its current generation lacks: how many
    were stored, or None when another pass holds the lock (it will see to them). With `queue`,
    wait for a running pass to finish first, unless another pass is waiting already; with
    `wait`, wait for the running pass in any case (this call returns with every vector stored)."""
    index_root = Path(index_root)
    with pass_lock(index_root, queue, wait) as held:
        if not held:
            return None
        store = VectorStore(index_root)
        store.remove_former()
        stored = fill(store, _pending(index_root, store), progress, threads=os.cpu_count() or 1)
        _prune(index_root, store)
        return stored


def _prune(index_root: Path, store: VectorStore) -> None:
    """Delete the vectors of texts the current generation no longer holds (records of deleted
    or edited files), so the store follows the index rather than grow with every edit. A text
    that comes back is encoded again."""
    generation = current_generation(index_root)
    if generation is None:
        return
    try:
        with _reader(generation) as reader:
            keys, live = _live_keys(reader)
    except (OSError, whoosh_index.EmptyIndexError):
        return  # swapped out meanwhile: the next pass prunes
    if live.any():
        store.keep_only(keys[live])


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    niceness = 0
    if len(args) == 3 and args[0] == "--niceness" and args[1].isdigit():
        niceness, args = int(args[1]), args[2:]
    if len(args) != 1:
        sys.exit("usage: python -m search.vectorpass [--niceness N] INDEX_FOLDER")
    if niceness:
        os.nice(niceness)
    started = time.monotonic()
    stored = run(Path(args[0]), queue=True)
    if stored is None:
        print("another vector pass is running; leaving the work to it")
    else:
        print(f"stored {stored} sentence vectors in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":  # pragma: no cover
    main()
