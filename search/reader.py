"""Opening and refreshing the index for reading: the current generation (layout.py), its facet
and scoring columns, and one Whoosh searcher per thread, all pinned to the same commit so that
document numbers agree even while a writer commits or a rebuild is swapped in."""

from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from whoosh import index as whoosh_index
from whoosh.scoring import WeightingModel
from whoosh.searching import Searcher

from ._whoosh import open_searcher, segments_present
from .errors import IndexMissing
from .facets import Columns
from .layout import CURRENT_FILE, check_format, current_generation, generation_label
from .scoring import ScoringColumns
from .segments import LENGTH_FIELDS
from .vectorstore import VectorCache, VectorStore

# Attempts at opening a generation that a writer keeps replacing under us.
RETRIES = 5
# A generation found current is trusted without a full check while its signature (the stat of
# CURRENT and of its folder) stays the same, once those files are SETTLED seconds old (a file
# system whose times are coarse may not show a change made in the same tick), and for at most
# RECHECK seconds.
SETTLED = 2.0
RECHECK = 60.0


@dataclass
class Generation:
    """One commit of one generation, as every searcher of it reads it."""

    path: Path
    label: str
    index: whoosh_index.FileIndex
    commit: int  # the Whoosh TOC generation every searcher of this generation reads
    columns: Columns
    scoring: ScoringColumns


class _ThreadSearcher:
    """One thread's searcher and the generation it reads. It is held only by that thread's local
    data, so when the thread ends the searcher is closed (by `closer`, a weakref.finalize): a
    server whose threads come and go, or a commit's short-lived suggestion rebuild, leaves no
    searcher and no removed segment file open."""

    __slots__ = ("searcher", "label", "closer", "__weakref__")

    def __init__(self, searcher: Searcher, label: str):
        self.searcher = searcher
        self.label = label
        self.closer = weakref.finalize(self, _close_in, os.getpid(), searcher)


def _close_in(pid: int, searcher: Searcher) -> None:
    """Close `searcher` if this is the process that opened it. A child forked while another
    thread held a searcher drops that thread's local data at once, and so would run its closer;
    closing the inherited files there waits forever on a file lock a thread of the parent held
    mid-read at the fork (a watcher's update hung that way)."""
    if os.getpid() == pid:
        searcher.close()


class CurrentIndex:
    """The current generation of an index folder, opened once and refreshed when a commit or
    swap happens. Safe to share between threads: each thread gets its own searcher."""

    def __init__(self, index_root: Path, weighting: Callable[[], WeightingModel]):
        self.index_root = Path(index_root)
        self.weighting = weighting  # makes each searcher's scoring model
        self._lock = threading.Lock()
        self._generation: Generation | None = None
        self._local = threading.local()  # .held: this thread's _ThreadSearcher
        # the closers of every searcher still open, to close them all on close(), in any thread
        self._closers: list[weakref.finalize] = []
        self._settled: tuple[tuple, float] | None = None  # (signature, when), see generation()
        # the sentence vectors of every generation's records, as the vector pass stores them
        self.vector_cache = VectorCache(VectorStore(self.index_root))

    def __del__(self) -> None:
        # dropped without close() (an app nobody closed): close the searchers' files now rather
        # than leave them to the garbage collector, which warns about each one
        if "_closers" in self.__dict__:  # __init__ got that far
            self.close()

    def close(self, keep_columns: bool = False) -> None:
        """Close every searcher this object opened (in any thread). With `keep_columns`, keep
        the current generation's columns: processes forked after this share their pages."""
        with self._lock:
            for closer in self._closers:
                closer()  # closes a searcher once; a closed one's closer does nothing
            self._closers.clear()
            if not keep_columns:
                self._generation = None
        self._local = threading.local()

    def _stat(self, path: Path) -> os.stat_result | None:
        try:
            return os.stat(path)
        except OSError:
            return None

    def generation(self) -> Generation:
        """The generation and commit readers should use now, opened (and its columns read) on
        first use. While nothing changed, checking costs two stat calls (see SETTLED) rather than
        reading `CURRENT` and listing the generation's commits."""
        generation = self._generation
        settled = self._settled
        if generation is not None and settled is not None:
            signature, checked = settled
            now = (self._stat(self.index_root / CURRENT_FILE), self._stat(generation.path))
            if _signature(*now) == signature and time.time() < checked + RECHECK:
                return generation
        checked = time.time()
        # stat before reading: a swap or a commit after this shows in the next signature
        current = self._stat(self.index_root / CURRENT_FILE)
        path = current_generation(self.index_root)
        if path is None:
            raise IndexMissing(
                f"no index at {self.index_root}: build it with `policy-search index`"
            )
        folder = self._stat(path)
        if (
            generation is not None
            and generation.path == path
            and generation.index.latest_generation() == generation.commit
        ):
            self._settle(current, folder, checked)
            return generation
        with self._lock:
            for _ in range(RETRIES):
                check_format(path)
                try:
                    ix = whoosh_index.open_dir(str(path))
                    with ix.reader() as reader:
                        commit = reader.generation()
                        label = generation_label(path, commit)
                        previous = self._generation
                        if previous is None or previous.label != label:
                            # a commit after `previous` keeps most of its segments: reuse them
                            opened = Generation(
                                path,
                                label,
                                ix,
                                commit,
                                Columns(reader, previous and previous.columns),
                                ScoringColumns(
                                    reader.doc_count_all(),
                                    self.vector_cache,
                                    previous and previous.scoring,
                                ),
                            )
                            # the character pairs' files mapped now, while this commit's files
                            # are all there: read at a first question, a later commit could
                            # have removed them (a 500 seen under a soak's commits)
                            opened.scoring.pairs.parts(reader)
                            # and so is what scoring reads per document, at the same moment
                            opened.scoring.read_ahead(reader, LENGTH_FIELDS)
                            if not segments_present(reader):
                                # a later commit removed files while they were read: a column
                                # read as missing would be zeros; open that commit instead
                                raise FileNotFoundError("a segment was removed while read")
                            self._generation = opened
                    self._settle(current, folder, checked)
                    return self._generation
                except (OSError, whoosh_index.EmptyIndexError):
                    # a writer committed and deleted the commit being opened: open the new one
                    # (and check fully next time: the stats taken are of the old one)
                    path = current_generation(self.index_root) or path
                    current = folder = None
        raise self._kept_changing()

    def _settle(self, current, folder, checked: float) -> None:
        """Trust the generation just checked while the signature of `current` and `folder` (their
        stats, taken before the check) stays the same, unless they changed less than SETTLED
        seconds before the check."""
        signature = _signature(current, folder)
        newest = max(current.st_mtime_ns, folder.st_mtime_ns) / 1e9 if signature else checked
        self._settled = (signature, checked) if newest < checked - SETTLED else None

    def searcher(self) -> tuple[Searcher, Generation]:
        """This thread's searcher of the current generation, and that generation. The thread's
        searcher of a former generation is closed here (only this thread uses it), or when the
        thread ends: never while another thread may be reading with it."""
        local = self._local
        for _ in range(RETRIES):
            generation = self.generation()
            held: _ThreadSearcher | None = getattr(local, "held", None)
            if held is not None and held.label == generation.label:
                return held.searcher, generation
            try:
                searcher = self._open(generation)
            except (OSError, whoosh_index.EmptyIndexError):
                continue  # a writer committed and cleaned that commit's files: refresh, retry
            local.held = _ThreadSearcher(searcher, generation.label)
            with self._lock:
                self._closers = [closer for closer in self._closers if closer.alive]
                self._closers.append(local.held.closer)
            if held is not None:
                held.closer()
            return searcher, generation
        raise self._kept_changing()

    @contextlib.contextmanager
    def own_searcher(self) -> Iterator[tuple[Searcher, Generation]]:
        """A searcher of the current generation for one task, and that generation, closed when
        the task is done (for a thread that is not one of those serving requests)."""
        for _ in range(RETRIES):
            generation = self.generation()
            try:
                searcher = self._open(generation)
            except (OSError, whoosh_index.EmptyIndexError):
                continue
            try:
                yield searcher, generation
            finally:
                searcher.close()
            return
        raise self._kept_changing()

    def _open(self, generation: Generation) -> Searcher:
        return open_searcher(generation.index, generation.commit, self.weighting())

    def _kept_changing(self) -> IndexMissing:
        return IndexMissing(
            f"the index at {self.index_root} kept changing while being opened; retry"
        )


def _signature(current: os.stat_result | None, folder: os.stat_result | None) -> tuple | None:
    """What changes when a commit or a swap happens: the `CURRENT` file (a swap replaces it) and
    the generation's folder (a commit adds and removes files in it)."""
    if current is None or folder is None:
        return None
    return (current.st_ino, current.st_mtime_ns, folder.st_ino, folder.st_mtime_ns)
