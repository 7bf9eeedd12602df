"""Sentence vectors of indexed records, kept beside the index by the text they read, and the pass
that computes the ones missing.

The encoder is most of what indexing costs (about 45k characters/s), so a build does not wait for
it: the index holds, per record, only a short key of the text its vector reads (the `vkey`
column), and this module's store maps keys to vectors. `policy-search index` commits the words and
returns; a background pass then encodes the texts whose keys the store lacks. Until it is done,
questions are ranked by their words and character pairs alone (stats and /api/health say how far
it is). The store is shared by every generation: a rebuild encodes only texts it has never seen.

Vectors are kept as int8 with one scale per vector (a quarter of float32; cosines move by under
0.01), in SQLite: one writer and many readers at once, and a pass killed mid-way loses at most
the batch it was encoding.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from . import vectors

# Named by the encoder: a store of another encoder's vectors is left unread (and removed by the
# next pass, FORMER_STORE_FILES), its texts encoded anew.
STORE_FILE = f"vectors-{vectors.ENCODER}.sqlite"
FORMER_STORE_FILES = ("vectors.sqlite",)
PASS_LOCK_FILE = ".vectors.lock"
# held by the one pass waiting for the running one (until it runs): a commit made while a pass
# runs may come after its last look, so the next pass waits its turn rather than leave; a third,
# started while one waits, leaves (the waiting one will see its records)
QUEUE_LOCK_FILE = ".vectors.queue"
PASS_LOG_FILE = "vectors.log"
# Texts a forward pass reads at once: the engine holds about 2 MB of activations per 100 tokens
# of a batch (64 law articles: about 180 MB), so two batches of 32 at a time take what one of
# 64 did.
BATCH = 32

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key INTEGER NOT NULL UNIQUE,
    scale REAL NOT NULL,
    vector BLOB NOT NULL
)
"""


def text_key(text: str) -> int:
    """The signed 64-bit key of the text a vector reads (0: no text, no vector)."""
    if not text.strip():
        return 0
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True) or 1


def quantize(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int8 rows, float32 scale per row) with row ≈ int8 × scale."""
    peak = np.abs(matrix).max(axis=1)
    scale = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    return np.round(matrix / scale[:, None]).astype(np.int8), scale


# The stored rows are int8; a question's products convert them to float32 a block at a time. A
# block of 512 KB stays in the core's cache and below the server's fixed mmap threshold
# (web/server.py): at 4 MB a block, every block of every question was a fresh mmap whose pages
# the kernel zeroed, and a keyword query that fell back to ranked matching took twice as long.
COSINE_BLOCK_BYTES = 1 << 19


class VectorStore:
    """The key -> vector table of one index folder."""

    def __init__(self, index_root: Path):
        self.path = Path(index_root) / STORE_FILE

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        connection = sqlite3.connect(self.path, timeout=30)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(_SCHEMA)
            yield connection
        finally:
            connection.close()

    def exists(self) -> bool:
        return self.path.is_file()

    def remove_former(self) -> None:
        """Remove the stores of encoders used before this one (their vectors are not this
        encoder's; its pass encodes the texts anew)."""
        for name in FORMER_STORE_FILES:
            for suffix in ("", "-wal", "-shm"):
                (self.path.parent / (name + suffix)).unlink(missing_ok=True)

    def signature(self) -> tuple:
        """What changes whenever a vector is added: the size and time of the database and of
        its write-ahead log, and their inodes (a store deleted and made anew may be on another)."""
        found = []
        for path in (self.path, self.path.with_name(self.path.name + "-wal")):
            try:
                stat = path.stat()
                found.append((stat.st_ino, stat.st_size, stat.st_mtime_ns))
            except OSError:
                found.append(None)
        return tuple(found)

    def add(self, keys: Sequence[int], matrix: np.ndarray) -> None:
        """Store float vectors (one row per key); a key already present is left as it is."""
        quantized, scale = quantize(np.asarray(matrix, dtype=np.float32))
        rows = [
            (int(key), float(s), row.tobytes())
            for key, s, row in zip(keys, scale, quantized, strict=True)
            if key
        ]
        with self._connect() as connection, connection:
            connection.executemany(
                "INSERT OR IGNORE INTO vectors (key, scale, vector) VALUES (?, ?, ?)", rows
            )

    def known(self, keys: np.ndarray) -> np.ndarray:
        """Which of `keys` have a vector (bool per key)."""
        if not self.exists():
            return np.zeros(len(keys), dtype=bool)
        with self._connect() as connection:
            stored = np.fromiter(
                (key for (key,) in connection.execute("SELECT key FROM vectors")), dtype=np.int64
            )
        return np.isin(keys, stored)

    def count(self) -> int:
        """How many vectors are stored."""
        if not self.exists():
            return 0
        with self._connect() as connection:
            return connection.execute("SELECT count(*) FROM vectors").fetchone()[0]

    def keep_only(self, keys: np.ndarray) -> int:
        """Delete the vectors of the texts whose key is not in `keys` (no record reads them any
        more): how many were deleted. The file keeps its size; later vectors fill the space."""
        keep = np.unique(keys[keys != 0])
        if self.count() <= len(keep):  # once a pass is done, every kept key is stored
            return 0
        with self._connect() as connection, connection:
            connection.execute("CREATE TEMP TABLE keep (key INTEGER PRIMARY KEY)")
            connection.executemany("INSERT INTO keep VALUES (?)", ((int(k),) for k in keep))
            return connection.execute(
                "DELETE FROM vectors WHERE key NOT IN (SELECT key FROM keep)"
            ).rowcount

    def key_at(self, seq: int) -> int | None:
        """The key of the vector stored as row `seq` (None: no such row)."""
        if not self.exists():
            return None
        with self._connect() as connection:
            found = connection.execute("SELECT key FROM vectors WHERE seq = ?", (seq,)).fetchone()
        return found[0] if found else None

    def read_since(self, seq: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        """(last seq, keys, scales, int8 rows) of the vectors stored after `seq`."""
        if not self.exists():
            return seq, *_empty_rows()
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT seq, key, scale, vector FROM vectors WHERE seq > ? ORDER BY seq", (seq,)
            ).fetchall()
        if not rows:
            return seq, *_empty_rows()
        keys = np.array([r[1] for r in rows], dtype=np.int64)
        scales = np.array([r[2] for r in rows], dtype=np.float32)
        packed = np.frombuffer(b"".join(r[3] for r in rows), dtype=np.int8)
        return rows[-1][0], keys, scales, packed.reshape(len(rows), vectors.DIMENSIONS)


def _empty_rows() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.empty(0, dtype=np.int64),
        np.empty(0, dtype=np.float32),
        np.empty((0, vectors.DIMENSIONS), dtype=np.int8),
    )


class VectorCache:
    """The store's vectors held in this process (int8: 0.5 KB a vector), topped up with what a
    pass added since the last look, and the cosines of a question with the records of a commit."""

    def __init__(self, store: VectorStore):
        self.store = store
        self._lock = threading.Lock()
        self._signature: tuple | None = None  # the store's files when last read
        self._version = 0
        self._empty()

    def _empty(self) -> None:
        self._seq = 0
        self._count = 0
        self._keys = np.empty(0, dtype=np.int64)
        self._scales = np.empty(0, dtype=np.float32)
        self._rows = np.empty((0, vectors.DIMENSIONS), dtype=np.int8)
        self._order = np.empty(0, dtype=np.int64)  # sorts _keys[:_count]

    @property
    def size(self) -> int:
        """How many vectors are held."""
        return self._count

    @property
    def version(self) -> int:
        """Changes whenever the vectors held change (rows found before are then stale)."""
        return self._version

    def refresh(self) -> None:
        """Read what the store gained since the last call (two stat calls when its files have
        not changed)."""
        with self._lock:
            signature = self.store.signature()
            if signature == self._signature:
                return
            if self._count and self.store.key_at(self._seq) != self._keys[self._count - 1]:
                # the last row read is gone or holds another text: the store was deleted and
                # made anew (its rows numbered from 1 again; its inode may be the old one's), or
                # that row was pruned. Read it all again rather than after that row.
                self._empty()
                self._version += 1
            seq, keys, scales, rows = self.store.read_since(self._seq)
            self._signature = signature
            if not len(keys):
                return
            count = self._count + len(keys)
            if count > len(self._keys):  # grow by doubling: a pass adds a batch at a time
                capacity = max(count, 2 * len(self._keys), 1024)
                self._keys = _resized(self._keys, capacity)
                self._scales = _resized(self._scales, capacity)
                self._rows = _resized(self._rows, capacity)
            self._keys[self._count : count] = keys
            self._scales[self._count : count] = scales
            self._rows[self._count : count] = rows
            self._order = np.argsort(self._keys[:count], kind="stable")
            self._seq, self._count = seq, count
            self._version += 1

    def rows_of(self, keys: np.ndarray) -> np.ndarray:
        """The row of each key's vector, -1 where there is none (yet)."""
        with self._lock:
            count, order = self._count, self._order
            ordered = self._keys[:count][order]
        if not count:
            return np.full(len(keys), -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(ordered, keys), count - 1)
        found = (ordered[at] == keys) & (keys != 0)
        return np.where(found, order[at], -1)

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """The vectors of `rows` as float32 (zeros where a row is -1)."""
        rows = np.asarray(rows, dtype=np.int64)
        # rows found before the store was read anew (a search under way meanwhile) may be past
        # what is held now: they count as not there
        rows = np.where(rows < len(self._rows), rows, -1)
        safe = np.maximum(rows, 0)
        out = self._rows[safe].astype(np.float32) * self._scales[safe][:, None]
        out[rows < 0] = 0
        return out

    def cosines(self, question: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """vector · question for each row of `rows` (0 where a row is -1)."""
        question = np.asarray(question, dtype=np.float32)
        count = self._count
        rows = np.where(rows < count, rows, -1)  # as in vectors()
        held = np.empty(count, dtype=np.float32)
        chunk = max(1, COSINE_BLOCK_BYTES // (4 * max(1, question.size)))
        for start in range(0, count, chunk):
            block = self._rows[start : min(start + chunk, count)].astype(np.float32)
            held[start : start + len(block)] = block @ question
        held *= self._scales[:count]
        return np.where(rows >= 0, held[np.maximum(rows, 0)] if count else 0.0, 0.0).astype(
            np.float32
        )


def _resized(array: np.ndarray, capacity: int) -> np.ndarray:
    out = np.zeros((capacity, *array.shape[1:]), dtype=array.dtype)
    out[: len(array)] = array
    return out


# ---------------------------------------------------------------------------------------------
# The pass that fills the store


@contextlib.contextmanager
def _flock(path: Path, wait: bool) -> Iterator[bool]:
    """Whether this process holds the flock of `path` (freed when its holder dies)."""
    handle = open(path, "a+")  # noqa: SIM115 - held across the yield
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        handle.close()


def pass_running(index_root: Path) -> bool:
    """Whether a vector pass holds the pass lock of `index_root` now."""
    if not (Path(index_root) / PASS_LOCK_FILE).exists():
        return False
    with _flock(Path(index_root) / PASS_LOCK_FILE, wait=False) as free:
        return not free


@contextlib.contextmanager
def pass_lock(index_root: Path, queue: bool = False, wait: bool = False) -> Iterator[bool]:
    """Whether this process may run the pass: at once, or (`queue`) after the running pass, when
    no other pass is already waiting for it, or (`wait`: a caller that must return with every
    vector stored) after the running pass and whichever wait for it.

    A queued pass leaves its place in the queue as soon as it holds the pass lock, before it
    looks for records: a pass started after that (by a commit it may not see) waits in turn.
    Holding the place until its end had made every pass started while one ran leave."""
    root = Path(index_root)
    if wait or not queue:
        with _flock(root / PASS_LOCK_FILE, wait=wait) as held:
            yield held
        return
    held = False
    running = contextlib.ExitStack()
    with _flock(root / QUEUE_LOCK_FILE, wait=False) as first_in_line:
        if first_in_line:
            held = running.enter_context(_flock(root / PASS_LOCK_FILE, wait=True))
    with running:
        yield held


Pending = Callable[[], list[tuple[int, str]]]


def fill(
    store: VectorStore,
    pending: Pending,
    progress: Callable[[int, int], None] | None = None,
    threads: int = 1,
) -> int:
    """Encode and store what `pending()` lists ((key, text) pairs the store lacks), batch by
    batch, asking again until it lists nothing (a commit may add records meanwhile). Returns how
    many vectors were stored.

    `threads` batches are encoded at a time, each on one core (the encoder runs outside the
    GIL; a process encodes on one thread, search/__init__.py): on 2 cores, two batches at once
    encoded 21.7 law articles a second, one batch on the engine's two OpenMP threads 21.5, and
    one batch on one thread about 14. Batches are stored in order, by the calling thread."""
    stored = 0
    with ThreadPoolExecutor(max(1, threads), thread_name_prefix="encode") as pool:
        while True:
            todo = pending()
            if not todo:
                return stored
            batches = [todo[start : start + BATCH] for start in range(0, len(todo), BATCH)]
            encoded = pool.map(
                lambda batch: vectors.embed([t for _, t in batch], remember=False), batches
            )
            for batch, matrix in zip(batches, encoded, strict=True):
                store.add([k for k, _ in batch], matrix)
                stored += len(batch)
                if progress:
                    progress(stored, len(todo))


# The niceness a pass started in the background adds to its own. It keeps every core busy for as
# long as it runs (12k law articles: about ten minutes on two cores). At the searches' priority
# it made them slower meanwhile (p95 1.9x on two cores); niced, it takes what they leave
# (1.01x), and goes on at what speed that allows (docs/during-pass.md).
PASS_NICENESS = 10


def spawn_pass(index_root: Path) -> None:
    """Start the pass over `index_root` in a process of its own, at PASS_NICENESS, which outlives
    the caller and logs to vectors.log there; a pass already running makes it exit at once.

    Started by a shell that puts it in the background and exits at once, so the pass belongs
    to init: a long-lived caller (the server, after a reindex) is left with no child to reap."""
    root = Path(index_root)
    command = [
        "/bin/sh",
        "-c",
        '"$@" &',
        "sh",
        sys.executable,
        "-m",
        "search.vectorpass",
        "--niceness",
        str(PASS_NICENESS),
        str(root),
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(root / PASS_LOG_FILE, "ab") as log:
        subprocess.run(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, check=True,
            start_new_session=True,
        )  # fmt: skip
