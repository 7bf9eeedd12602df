"""What the soak (bench/soak.py) does to a served folder: the driver's changes to the seeds folder
and the data files, each recorded so that the folder's final content is known, and the clients
that ask every endpoint throughout, each answer counted. Every request goes to 127.0.0.1; every
loop is bounded in count and time."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import load
from bench.common.queries import filtered_params, keyword_params
from bench.reliability.workload import copy_text

REPO = Path(__file__).resolve().parent.parent
DATA_NAMES = ("dictionary.txt", "synonyms.txt", "stopwords.txt", "issuers.txt")
CLIENTS = 4
REQUEST_TIMEOUT = 60.0
MAX_REQUESTS_PER_CLIENT = 1_000_000

# The driver's own files name this body; the issuers.txt edit makes it an alias of SOAK_CANONICAL,
# so whether the edit reached the index shows in the served records' issuer.
SOAK_ISSUER = "浸泡测试办公室"
SOAK_CANONICAL = "浸泡测试委员会"
SOAK_WORD = "浸泡测试词语"  # the word the dictionary edit adds (a rebuild follows)

# When in the driving time the one-off changes happen (fractions of it).
ISSUERS_EDIT_AT, SWAP_AT, DICTIONARY_EDIT_AT = 0.25, 0.45, 0.65

QUESTIONS = (
    "企业超标排放大气污染物应当承担什么法律责任",
    "新能源汽车推广有哪些支持政策",
    "生态环境损害赔偿由谁提起",
    "用人单位可以在什么情况下解除劳动合同",
)


# ---------------------------------------------------------------------------------------------
# The work folder: the seeds, the index, the run's own data files, the fresh build


@dataclass
class Workspace:
    root: Path

    @property
    def seeds(self) -> Path:
        return self.root / "seeds"

    @property
    def index(self) -> Path:
        return self.root / "index"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def fresh_index(self) -> Path:
        return self.root / "fresh-index"

    @property
    def log(self) -> Path:
        return self.root / "server.log"


def workspace(root: Path) -> Workspace:
    """An empty seeds folder and copies of the packaged data files under `root`, which the run
    edits (POLICY_SEARCH_DATA points at them): the repository's search/data is never touched."""
    work = Workspace(root)
    work.seeds.mkdir(parents=True, exist_ok=True)
    work.data.mkdir(parents=True, exist_ok=True)
    for name in DATA_NAMES:
        shutil.copy(REPO / "search" / "data" / name, work.data / name)
    return work


def server_env(work: Workspace, index: Path | None = None) -> dict[str, str]:
    """This environment with the run's folders as the only POLICY_SEARCH_ settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLICY_SEARCH_")}
    env.update(
        POLICY_SEARCH_SEEDS=str(work.seeds),
        POLICY_SEARCH_INDEX=str(index or work.index),
        POLICY_SEARCH_DATA=str(work.data),
        POLICY_SEARCH_REINDEX_TOKEN="",
    )
    return env


def soak_text(number: int, revision: int) -> str:
    """A file of the driver's: the seed compilation under its own sector name, issued by
    SOAK_ISSUER; a new revision changes its hash, not its 13 records' ids."""
    return copy_text(number, revision).replace("北京市发展改革委", SOAK_ISSUER)


def shown(relative: bytes) -> str:
    """A file name as the report shows it: UTF-8, or GBK said so."""
    try:
        return relative.decode("utf-8")
    except UnicodeDecodeError:
        return relative.decode("gbk", "replace") + " [GBK name]"


def folder_files(seeds: Path) -> dict[bytes, str]:
    """Every file under `seeds` (relative path as bytes, the names as the disk has them) and the
    sha256 of its content."""
    found = {}
    top = os.fsencode(seeds)
    for folder, _, names in os.walk(top):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as handle:
                found[os.path.relpath(path, top)] = hashlib.sha256(handle.read()).hexdigest()
    return found


# ---------------------------------------------------------------------------------------------
# The driver: changes to the seeds folder and the data files, each recorded


class Driver(threading.Thread):
    """Every `step` seconds for `seconds`, one change: a new file (every third with a GBK name),
    an edit, a rename or a deletion; once each, issuers.txt edited, the folder swapped and the
    dictionary edited. `expected` is what the folder must hold afterwards."""

    def __init__(
        self, work: Workspace, seconds: float, step: float, seed: int, gbk_names: bool = True
    ):
        super().__init__(name="soak-driver", daemon=True)
        self.work = work
        self.gbk_names = gbk_names
        self.seconds = seconds
        self.step = step
        self.random = random.Random(seed)
        self.expected = folder_files(work.seeds)
        self.own: dict[bytes, tuple[int, int]] = {}  # the driver's files: (number, revision)
        self.actions: list[dict] = []
        self.errors: list[str] = []
        self.counter = 0
        self.started = 0.0
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=60)

    def run(self) -> None:
        self.started = time.monotonic()
        one_offs: list[tuple[float, Callable[[], None]]] = [
            (ISSUERS_EDIT_AT, self.edit_issuers),
            (SWAP_AT, self.swap_folder),
            (DICTIONARY_EDIT_AT, self.edit_dictionary),
        ]
        for _ in range(int(self.seconds / self.step) + len(one_offs) + 1):
            if self._stopping.wait(self.step):
                return
            elapsed = time.monotonic() - self.started
            if elapsed > self.seconds:
                return
            try:
                if one_offs and elapsed >= one_offs[0][0] * self.seconds:
                    one_offs.pop(0)[1]()
                else:
                    self.change()
            except OSError as exc:  # a bug of the soak itself: reported, the run goes on
                self.errors.append(repr(exc))

    def _record(self, action: str, relative: bytes | None = None, **details) -> None:
        entry = {"seconds": round(time.monotonic() - self.started, 1), "action": action}
        if relative is not None:
            entry["path"] = shown(relative)
        self.actions.append({**entry, **details})

    def _path(self, relative: bytes, seeds: Path | None = None) -> bytes:
        return os.path.join(os.fsencode(seeds or self.work.seeds), relative)

    def _write(self, relative: bytes, content: bytes, seeds: Path | None = None) -> None:
        with open(self._path(relative, seeds), "wb") as handle:
            handle.write(content)
        self.expected[relative] = hashlib.sha256(content).hexdigest()

    def _new_name(self, prefix: str, gbk: bool) -> bytes:
        self.counter += 1
        if gbk and self.gbk_names:
            return f"浸泡{prefix}-{self.counter:05d}.md".encode("gbk")
        return f"soak-{prefix}-{self.counter:05d}.md".encode()

    def change(self) -> None:
        roll = self.random.random()
        existing = sorted(self.expected)
        if roll < 0.4 or len(existing) < 4:
            self.drop()
        elif roll < 0.65:
            self.edit(self.random.choice(existing))
        elif roll < 0.85:
            self.rename(self.random.choice(existing))
        else:
            self.delete(self.random.choice(existing))

    def drop(self, seeds: Path | None = None) -> None:
        relative = self._new_name("新", self.counter % 3 == 2)
        number = self.counter
        self._write(relative, soak_text(number, 0).encode("utf-8"), seeds)
        self.own[relative] = (number, 0)
        self._record("drop", relative)

    def edit(self, relative: bytes) -> None:
        if relative in self.own:
            number, revision = self.own[relative]
            self.own[relative] = (number, revision + 1)
            content = soak_text(number, revision + 1).encode("utf-8")
        else:  # a file of the corpus: a sentence added at its end
            with open(self._path(relative), "rb") as handle:
                content = handle.read() + f"\n补充说明：修订{self.counter}。\n".encode()
            self.counter += 1
        self._write(relative, content)
        self._record("edit", relative)

    def rename(self, relative: bytes) -> None:
        folder = os.path.dirname(relative)
        target = os.path.join(folder, self._new_name("改", self.counter % 4 == 3))
        os.rename(self._path(relative), self._path(target))
        self.expected[target] = self.expected.pop(relative)
        if relative in self.own:
            self.own[target] = self.own.pop(relative)
        self._record("rename", relative, to=shown(target))

    def delete(self, relative: bytes) -> None:
        os.unlink(self._path(relative))
        del self.expected[relative]
        self.own.pop(relative, None)
        self._record("delete", relative)

    def swap_folder(self) -> None:
        """A new folder built beside the seeds (a copy plus one new file), the old one renamed
        away and the new one renamed into place, as a sync tool or an admin does."""
        seeds = self.work.seeds
        beside = seeds.with_name("seeds.new")
        shutil.copytree(seeds, beside, symlinks=True)
        self.drop(beside)
        os.rename(seeds, seeds.with_name("seeds.before-swap"))
        os.rename(beside, seeds)
        self._record("swap the seeds folder")

    def edit_issuers(self) -> None:
        with open(self.work.data / "issuers.txt", "a", encoding="utf-8") as handle:
            handle.write(f"\n{SOAK_CANONICAL} = {SOAK_ISSUER}\n")
        self._record("edit issuers.txt", added=f"{SOAK_CANONICAL} = {SOAK_ISSUER}")

    def edit_dictionary(self) -> None:
        with open(self.work.data / "dictionary.txt", "a", encoding="utf-8") as handle:
            handle.write(f"\n{SOAK_WORD} 100 n\n")
        self._record("edit dictionary.txt", added=SOAK_WORD)


# ---------------------------------------------------------------------------------------------
# The clients: every endpoint, every answer counted


def client_paths() -> list[str]:
    """What the clients ask, in turn: keyword and filtered searches, questions, suggestions,
    the feed, the timeline, the pages, the export and the health."""

    def search(params) -> str:
        return "/api/search?" + urllib.parse.urlencode(params, doseq=True)

    paths = [search(p) for p in keyword_params()[:10]]
    paths += [search(p) for p in filtered_params()[:7]]
    paths += [search({"q": q}) for q in QUESTIONS]
    paths += [f"/api/suggest?q={urllib.parse.quote(q)}" for q in ("碳", "排污", "节能", "浸泡")]
    paths += [f"/feed.atom?q={urllib.parse.quote(q)}" for q in ("碳排放", "环境", "")]
    paths += [f"/api/timeline?q={urllib.parse.quote(q)}" for q in ("碳达峰", "")]
    paths += [
        f"/timeline?q={urllib.parse.quote('节能')}",
        f"/?q={urllib.parse.quote('可再生能源')}",
    ]
    paths += ["/export.csv?q=" + urllib.parse.quote("煤炭"), "/api/health", "/"]
    return paths


@dataclass
class Clients:
    """CLIENTS threads asking `paths` in turn (each starting elsewhere) until stopped; after a
    search with hits, its first hit's record and related records are asked too."""

    port: int
    paths: list[str]
    pause: float = 0.0  # seconds a client waits between two requests
    statuses: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)  # no answer: connection errors, timeouts
    server_errors: list[str] = field(default_factory=list)  # 5xx
    bad_feeds: list[str] = field(default_factory=list)  # 200 but not well-formed XML

    def __post_init__(self) -> None:
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._client, args=(n,), name=f"soak-client-{n}", daemon=True)
            for n in range(CLIENTS)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=REQUEST_TIMEOUT + 10)

    def _client(self, number: int) -> None:
        connection = load.Connection(self.port, timeout=REQUEST_TIMEOUT)
        follow: list[str] = []
        for i in range(number * len(self.paths) // CLIENTS, MAX_REQUESTS_PER_CLIENT):
            if self._stopping.wait(self.pause):
                break
            path = follow.pop() if follow else self.paths[i % len(self.paths)]
            status, body, error = connection.get(path)
            self._count(status, path, error or body[:300].decode("utf-8", "replace"))
            if status != 200:
                continue
            if path.startswith("/feed.atom"):
                try:
                    ET.fromstring(body)
                except ET.ParseError as exc:
                    with self._lock:
                        self.bad_feeds.append(f"{path}: {exc}")
            elif path.startswith("/api/search?"):
                hits = json.loads(body)["hits"]
                if hits:
                    record = "/api/documents/" + urllib.parse.quote(hits[0]["id"], safe="")
                    follow = [record + "/related", record]
        connection.close()

    def _count(self, status: int, path: str, detail: str) -> None:
        with self._lock:
            self.statuses[status] += 1
            if status == 0:
                self.failures.append(f"{path}: {detail}")
            elif status >= 500:
                self.server_errors.append(f"{status} {path}: {detail}")

    def figures(self) -> dict:
        return {
            "requests": sum(self.statuses.values()),
            "by_status": {str(k): v for k, v in sorted(self.statuses.items())},
            "failed": len(self.failures),
            "server_errors": len(self.server_errors),
            "ill_formed_feeds": len(self.bad_feeds),
            "samples": (self.failures + self.server_errors + self.bad_feeds)[:10],
        }


if __name__ == "__main__":
    raise SystemExit(
        "bench.soak_feed is a library of the benchmarks, not one of them: see python -m bench.speed --help"
    )
