"""search/reader.py: searchers are released with their thread or their generation, so a server
that commits for months keeps a flat number of open files and holds no removed file open."""

from __future__ import annotations

import gc
import json
import os
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
from conftest import TRACKING_FIXTURES, served
from whoosh.searching import Searcher

from bench.common.load import process_tree
from search._whoosh import LENGTHS
from search.indexer import update_index
from search.query import SearchIndex
from search.request import SearchRequest
from search.scoring import length_bytes
from search.suggest import suggest

NOTICE = (TRACKING_FIXTURES / "bjfgw-notice.md").read_text(encoding="utf-8")
NOTICE_TITLE = "北京市发展和改革委员会关于印发北京市碳排放权交易管理办法的通知"


def notice(number: int) -> str:
    """The tracking notice under a title of its own: 第<number>号试点通知."""
    return NOTICE.replace(NOTICE_TITLE, f"第{number}号试点通知关于碳排放权交易管理办法", 1)


def open_files(pid: int | str = "self") -> list[str]:
    """What each open file descriptor of a process points at."""
    found = []
    folder = Path(f"/proc/{pid}/fd")
    for name in os.listdir(folder):
        try:
            found.append(os.readlink(folder / name))
        except OSError:
            continue  # closed meanwhile (the listing's own descriptor)
    return found


def deleted(files: list[str], under: Path) -> list[str]:
    return [f for f in files if f.endswith(" (deleted)") and f.startswith(str(under))]


def open_searchers() -> int:
    """Whoosh searchers open in this process (not counting the per-segment searchers each
    holds)."""
    return sum(
        1
        for o in gc.get_objects()
        if isinstance(o, Searcher) and o.parent is None and not o.is_closed
    )


def titles(engine: SearchIndex, typed: str) -> list[str]:
    return [s["text"] for s in suggest(engine, typed)["suggestions"] if s["kind"] == "title"]


def search_into(engine: SearchIndex, totals: list[int]) -> None:
    totals.append(engine.search(SearchRequest(q="试点通知"))["total"])


def wait_for(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within the deadline"
        time.sleep(0.05)


def test_reader_open_files_stay_flat_across_fifty_commits(seeds_copy, tmp_path):
    root = tmp_path / "index"
    update_index(seeds_copy, root, vectors="skip")
    samples: list[tuple[int, int]] = []
    others = open_searchers()  # the session's other engines (conftest's fixtures)
    with SearchIndex(root) as engine:
        for number in range(1, 51):
            # five files in turn: the first five commits add them, the rest edit them
            (seeds_copy / f"notice-{number % 5}.md").write_text(notice(number), encoding="utf-8")
            update_index(seeds_copy, root, vectors="skip")
            found = engine.search(SearchRequest(q="试点通知", per_page=10))
            assert found["total"] == min(number, 5)
            # a short-lived thread searches too (as a server's threads come and go)
            in_thread: list[int] = []
            asker = threading.Thread(target=search_into, args=(engine, in_thread))
            asker.start()
            asker.join()
            assert in_thread == [min(number, 5)]
            # the lists of this commit are rebuilt in the background: wait for them
            wait_for(
                lambda n=number: (
                    f"第{n}号试点通知关于碳排放权交易管理办法" in titles(engine, f"第{n}号")
                ),
                30,
            )
            samples.append((len(open_files()), open_searchers() - others))
        files = open_files()
    # this thread's one searcher: the other threads' were closed as they ended
    assert [searchers for _, searchers in samples] == [1] * 50
    # the files of the segments of one generation (merged every few commits) and no more
    assert max(count for count, _ in samples[-10:]) <= max(count for count, _ in samples[:10])
    assert deleted(files, tmp_path) == []


def get(base: str, path: str, **params) -> dict:
    url = f"{base}{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def server_files(pid: int) -> list[str]:
    """The open files of a server: its arbiter's and every worker's."""
    found = []
    for process in process_tree(pid):
        try:
            found += open_files(process)
        except OSError:
            continue  # a process that ended while we looked
    return found


def test_reader_served_open_files_stay_flat_across_commits_through_the_watcher(
    seeds_copy, tmp_path
):
    commits = 15
    # one thread a worker: the searchers open are then exactly those of the workers and the
    # threads they start, whichever worker answers
    with served(seeds_copy, tmp_path, "--workers", "2", "--threads", "1") as server:
        base = f"http://127.0.0.1:{server.port}"
        wait_for(lambda: get(base, "/api/health")["watch"]["mode"] == "events", 10)
        # each commit adds a segment and every few commits merge them: the open files rise and
        # fall with the segments. Flat: in the last third, each commit's count comes down to
        # within 10% of the first third's peak (once a worker's suggestion rebuild, which holds
        # a searcher while it runs, is done)
        third = commits // 3
        first: list[int] = []
        for number in range(1, commits + 1):
            (seeds_copy / f"notice-{number % 5}.md").write_text(notice(number), encoding="utf-8")
            wait_for(lambda n=number: get(base, "/api/health")["watch"]["updates"] == n, 30)
            wait_for(
                lambda n=number: get(base, "/api/search", q=f"第{n}号试点通知")["total"] >= 1, 10
            )
            for _ in range(6):  # requests spread over both workers
                assert get(base, "/api/search", q="试点通知")["total"] == min(number, 5)
                get(base, "/api/suggest", q=f"第{number}号")
            if number <= third:
                first.append(len(server_files(server.process.pid)))
            elif number > commits - third:
                bound = max(first) * 1.1
                counts: list[int] = []
                deadline = time.monotonic() + 10
                while (count := len(server_files(server.process.pid))) > bound:
                    counts.append(count)
                    assert time.monotonic() < deadline, (number, first, counts)
                    time.sleep(0.1)
        # the parent, which answers no request, follows the index after each update: it maps
        # no file of the segments merged away (it kept those it read at start for good)
        assert mapped_deleted(server.process.pid, tmp_path) == []


def mapped_deleted(pid: int, under: Path) -> list[str]:
    """The removed files under `under` that a process still maps (numpy's mapped arrays hold
    no descriptor)."""
    with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as maps:
        return sorted(
            {
                line.split(maxsplit=5)[-1].strip()
                for line in maps
                if line.rstrip().endswith("(deleted)") and str(under) in line
            }
        )


def commit_until_files_go(seeds: Path, root: Path, folder: Path, suffix: str) -> None:
    """Commit new notices until a merge removed some of `folder`'s files ending in `suffix`."""
    before = {name for name in os.listdir(folder) if name.endswith(suffix)}
    for number in range(3, 15):
        (seeds / f"notice-{number}.md").write_text(notice(number), encoding="utf-8")
        update_index(seeds, root, vectors="skip")
        if any(not (folder / name).exists() for name in before):
            return
    raise AssertionError(f"no merge removed a {suffix} file of {folder.name}")


def test_a_generation_in_use_keeps_its_character_pairs_after_later_commits(seeds_copy, tmp_path):
    """A thread that took its searcher before a few commits merged that generation's segments
    away still reads their character pairs (a question's ranking): they were mapped lazily, at
    the first question, and a soak's question got a 500 for a removed .npy file."""
    root = tmp_path / "index"
    update_index(seeds_copy, root, vectors="skip")
    for number in range(3):
        (seeds_copy / f"notice-{number}.md").write_text(notice(number), encoding="utf-8")
        update_index(seeds_copy, root, vectors="skip")
    with SearchIndex(root) as engine:
        engine.search(SearchRequest(q="试点通知"))  # words only: no pairs read yet
        searcher, generation = engine._current.searcher()
        segments = len(list(searcher.reader().leaf_readers()))
        commit_until_files_go(seeds_copy, root, generation.path, ".npy")
        assert len(generation.scoring.pairs.parts(searcher.reader())) == segments


def test_a_searcher_reads_its_records_after_later_commits_removed_its_segments(
    seeds_copy, tmp_path
):
    """A thread's searcher reads stored fields, and its generation the per-document lengths,
    after later commits merged its segments away: Whoosh opened the stored fields at a segment's
    first use and then found the file gone (TypeError: 'NoneType' object is not subscriptable,
    four 500s in the soak); a length column read late came back as zeros."""
    root = tmp_path / "index"
    update_index(seeds_copy, root, vectors="skip")
    for number in range(3):
        (seeds_copy / f"notice-{number}.md").write_text(notice(number), encoding="utf-8")
        update_index(seeds_copy, root, vectors="skip")
    with SearchIndex(root) as engine:
        searcher, generation = engine._current.searcher()  # nothing read through it yet
        expected = np.concatenate(
            [LENGTHS[length_bytes(leaf, "content")] for leaf, _ in searcher.reader().leaf_readers()]
        )
        commit_until_files_go(seeds_copy, root, generation.path, ".col")
        records = [searcher.stored_fields(n)["record"] for n in range(searcher.doc_count_all())]
        assert len(records) == generation.columns.live.size
        lengths = generation.scoring.lengths(searcher.reader(), "content")
        assert np.array_equal(lengths, expected) and expected.max() > 0


def test_a_forked_child_closes_no_searcher_of_its_parent(seeds_copy, tmp_path, monkeypatch):
    """A child forked (an update, search/forked.py) while another thread holds a searcher drops
    that thread's local data at once; the searcher's closer must not run there: closing the
    inherited files waited forever on a file lock the parent's thread held mid-read (a
    watcher's update hung, and with it every later update)."""
    from search.forked import run_forked

    index = tmp_path / "index"
    update_index(seeds_copy, index, vectors="skip")
    closed_by = tmp_path / "closed-by"
    real_close = Searcher.close

    def close(self):
        with open(closed_by, "a", encoding="ascii") as handle:
            handle.write(f"{os.getpid()}\n")
        real_close(self)

    monkeypatch.setattr(Searcher, "close", close)
    holding, release = threading.Event(), threading.Event()

    def hold(engine: SearchIndex) -> None:
        engine.search(SearchRequest(q="碳排放"))  # this thread's searcher, kept while it lives
        holding.set()
        release.wait(30)

    with SearchIndex(index) as engine:
        thread = threading.Thread(target=hold, args=(engine,))
        thread.start()
        assert holding.wait(30)
        child = run_forked(os.getpid)
        release.set()
        thread.join(30)
        gc.collect()
    closers = closed_by.read_text(encoding="ascii").split()
    assert closers == [str(os.getpid())]  # closed once, by this process; never by the child
    assert child != os.getpid()


def test_posting_arrays_are_mapped_once_per_process_however_many_threads_search(
    seeds_copy, tmp_path
):
    """Each mapping holds a file descriptor: mapped per searcher, a worker's open files grew
    with its threads times its segments (some 30 a segment in a worker of 6 threads)."""
    root = tmp_path / "index"
    update_index(seeds_copy, root, vectors="skip")
    for number in range(2):
        (seeds_copy / f"notice-{number}.md").write_text(notice(number), encoding="utf-8")
        update_index(seeds_copy, root, vectors="skip")

    def mapped_arrays() -> list[str]:
        return sorted(
            path for path in open_files() if path.startswith(str(root)) and path.endswith(".npy")
        )

    holding, release = threading.Barrier(5), threading.Event()

    def hold(engine: SearchIndex) -> None:
        engine.search(SearchRequest(q="碳排放 试点通知"))
        holding.wait(30)
        release.wait(30)

    with SearchIndex(root) as engine:
        engine.search(SearchRequest(q="碳排放 试点通知"))
        alone = mapped_arrays()
        threads = [threading.Thread(target=hold, args=(engine,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        holding.wait(30)
        assert len(engine._current._closers) == 5  # five searchers
        assert mapped_arrays() == alone
        release.set()
        for thread in threads:
            thread.join(30)
    assert alone and len(alone) == len(set(alone))
