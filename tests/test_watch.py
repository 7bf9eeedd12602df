"""search/watch.py: the live seeds folder. `policy-search serve` as a real subprocess (gunicorn's
worker processes) on a temporary seeds folder, files copied in, written in halves, removed and
dropped in by the hundred while a client searches without pause; the temporary names it ignores;
a failed update; edited data files (synonyms at once, the dictionary by a rebuild)."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from conftest import SHARED, WEB_FIXTURES, served
from test_indexer import merged_issuers_table

from search import analysis, watch
from search.errors import StorageFull
from search.indexer import update_index, writer_lock
from search.issuers import ISSUERS_FILE
from search.query import SearchIndex
from search.request import SearchRequest
from search.watch import SeedsWatcher, read_status, seeds_change_matters, temporary_name

TIANJIN = WEB_FIXTURES / "tianjin-port-key-nodes.md"
UPDATE_LINE = re.compile(r"watch: update \S+: (\d+) added, (\d+) changed, (\d+) removed files")


def small_file(number: int, word: str = "wfbatch") -> str:
    """A one-entry compilation holding `word` and a word of its own (wf0007)."""
    return (
        TIANJIN.read_text(encoding="utf-8")
        .replace("天津港岸电设施全覆盖实施方案", f"天津港岸电设施 {word} wf{number:04d} 方案")
        .replace("减少船舶辅机燃油消耗", f"减少船舶辅机燃油消耗 {word}")
    )


def test_temporary_name():
    assert [
        temporary_name(name)
        for name in (
            "a.md",
            "sub/a.md",
            ".a.md",
            ".sync/a.md",
            "a.md.swp",
            ".a.md.swp",
            "a.md~",
            "a.md.tmp",
            "a.md.part",
            "a.md.crdownload",
            "#a.md#",
            "~$a.md",
        )
    ] == [False, False, True, True, True, True, True, True, True, True, True, True]


def test_seeds_change_matters():
    assert [seeds_change_matters(n) for n in ("a.md", "folder", "notes.txt", "a.md.part")] == [
        True,
        True,
        False,
        False,
    ]


# ---------------------------------------------------------------------------------------------
# The served folder


class Searcher(threading.Thread):
    """Searches without pause until stopped; keeps every failure."""

    def __init__(self, base: str):
        super().__init__(daemon=True)
        self.base = base
        self.stopped = threading.Event()
        self.answered = 0
        self.failures: list[str] = []

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                with urllib.request.urlopen(
                    self.base + "/api/search?q=%E5%B2%B8%E7%94%B5", timeout=30
                ) as r:
                    json.load(r)
                self.answered += 1
            except Exception as exc:  # noqa: BLE001 - every failure counts
                self.failures.append(repr(exc))
            time.sleep(0.02)


def get(base: str, path: str, **params) -> dict:
    query = "?" + urllib.parse.urlencode(params) if params else ""
    with urllib.request.urlopen(base + path + query, timeout=30) as answer:
        return json.load(answer)


def wait_for(condition, timeout: float, step: float = 0.1) -> float:
    """Seconds until `condition()` held; fails after `timeout`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(step)
    return time.monotonic() - started


def problems(base: str) -> dict[str, dict]:
    return {file["file"]: file for file in get(base, "/api/health")["warning_files"]}


def updates(log: Path) -> list[tuple[int, int, int]]:
    text = log.read_text(encoding="utf-8", errors="replace")
    return [tuple(int(n) for n in m.groups()) for m in UPDATE_LINE.finditer(text)]


def test_served_folder_follows_files_dropped_in(seeds_copy, tmp_path):
    """The checks of issue #16, against `serve` with two worker processes and nothing else."""
    log_path = tmp_path / "server.log"
    with served(seeds_copy, tmp_path, "--workers", "2") as server:
        base = f"http://127.0.0.1:{server.port}"
        wait_for(lambda: get(base, "/api/health")["watch"]["mode"] == "events", 10)
        client = Searcher(base)
        client.start()

        def total(q: str) -> int:
            return get(base, "/api/search", q=q, per_page=1)["total"]

        # an unseen compilation copied in is found by one of its words
        shutil.copy(TIANJIN, seeds_copy / TIANJIN.name)
        found_in = wait_for(lambda: total("岸电") == 1, 10)
        assert found_in < 4  # within 3 s at this size, and a polling loop's interval
        # the status is written just after the commit it reports
        wait_for(lambda: get(base, "/api/health")["watch"]["updates"] == 1, 5)
        health = get(base, "/api/health")
        assert health["watch"]["enabled"] is True
        assert health["watch"]["last_update"] is not None
        assert health["watch"]["last_error"] is None

        # renamed: the same records, under the new name
        before = len(updates(log_path))
        (seeds_copy / TIANJIN.name).rename(seeds_copy / "renamed.md")
        wait_for(lambda: updates(log_path)[before:] == [(1, 0, 1)], 10)
        assert total("岸电") == 1

        # a file that cannot be read is reported with its error, and serving goes on
        before = len(updates(log_path))
        (seeds_copy / "binary.md").write_bytes(bytes(range(256)) * 64)
        wait_for(lambda: "binary.md" in problems(base), 10)
        assert problems(base)["binary.md"]["error"].startswith("not a text file")
        # its update is logged once it is over, after the manifest the health reads
        wait_for(lambda: len(updates(log_path)) > before, 10)

        # temporary names never start an update
        before = len(updates(log_path))
        for name in (".draft.md", "draft.md.swp", "draft.md~", "draft.md.part", "x.md.tmp"):
            (seeds_copy / name).write_text(small_file(9999, "wftemporary"), encoding="utf-8")
        time.sleep(3)
        assert (len(updates(log_path)), total("wftemporary")) == (before, 0)

        # a file written in two halves a second and a half apart: indexed whole, no error
        halves = small_file(1, "wffirsthalf").split("## 关键节点")
        with open(seeds_copy / "halves.md", "w", encoding="utf-8") as handle:
            handle.write(halves[0])
            handle.flush()
            time.sleep(1.5)
            handle.write("## 关键节点" + halves[1].replace("方案", "方案 wfsecondhalf"))
        wait_for(lambda: total("wfsecondhalf") == 1, 10)
        assert total("wffirsthalf") == 1
        assert "halves.md" not in {f["file"] for f in get(base, "/api/health")["warning_files"]}

        # removing the file removes its records
        (seeds_copy / "halves.md").unlink()
        wait_for(lambda: total("wfsecondhalf") == 0, 10)

        # 200 small files at once: all searchable, in a few batched updates
        before = len(updates(log_path))
        drop = tmp_path / "drop"
        drop.mkdir()
        for number in range(200):
            (drop / f"small-{number:03d}.md").write_text(small_file(number), encoding="utf-8")
        started = time.monotonic()
        for path in sorted(drop.iterdir()):
            shutil.copy(path, seeds_copy / path.name)
        wait_for(lambda: total("wfbatch") == 200, 60, step=0.5)
        all_in = time.monotonic() - started
        assert all_in < 60
        assert total("wf0123") == 1
        batches = updates(log_path)[before:]
        assert sum(added for added, _, _ in batches) == 200
        assert 1 <= len(batches) <= 5

        client.stopped.set()
        client.join()
        assert client.failures == []
        assert client.answered > 50
        assert len(get(base, "/api/health")["warning_files"]) >= 1  # the seed's own warnings
        server.process.terminate()
        server.process.wait(timeout=15)
    text = log_path.read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in text
    assert not (tmp_path / "index" / watch.STATUS_FILE).exists()  # stopped cleanly
    print(f"\nfound in {found_in:.2f} s; 200 files in {all_in:.2f} s, {len(batches)} updates")


def test_no_watch_says_so(client):
    assert client.get("/api/health").json["watch"] == {
        "enabled": False,
        "mode": None,
        "last_update": None,
        "last_error": None,
        "updates": 0,
        "restarts": 0,
        "last_restart_error": None,
        "updating_since": None,
    }


# ---------------------------------------------------------------------------------------------
# The watcher in this process


@pytest.fixture
def watched(seeds_copy, tmp_path):
    """A SeedsWatcher over a fresh copy of the seeds (its index built), stopped afterwards."""
    index = tmp_path / "index"
    update_index(seeds_copy, index)
    watcher = SeedsWatcher(seeds_copy, index, quiet=0.3)
    yield watcher, seeds_copy, index
    watcher.stop()


def test_watcher_reports_a_failed_update_and_keeps_watching(watched, monkeypatch):
    watcher, seeds, index = watched
    real_update = watch.update_index
    failing = {"on": True}

    def update(*args, **kwargs):
        if failing["on"]:
            raise StorageFull("could not update the index (No space left on device)")
        return real_update(*args, **kwargs)

    monkeypatch.setattr(watch, "update_index", update)
    monkeypatch.setattr(watch, "RETRY_SECONDS", 0.5)
    watcher.start()
    shutil.copy(TIANJIN, seeds / TIANJIN.name)
    wait_for(lambda: read_status(index).last_error is not None, 10)
    assert "No space left" in read_status(index).last_error
    with SearchIndex(index) as engine:
        assert engine.search(SearchRequest(q="岸电"))["total"] == 0  # the last index serves on
        failing["on"] = False  # space freed: the retry succeeds
        wait_for(lambda: engine.search(SearchRequest(q="岸电"))["total"] == 1, 10)
    wait_for(lambda: read_status(index).last_error is None, 5)  # written just after the commit
    assert read_status(index).updates == 1


def test_edited_synonyms_apply_at_once(tmp_path, monkeypatch, engine):
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("POLICY_SEARCH_DATA", str(data))
    (data / "synonyms.txt").write_text("碳排量 碳排放\n", encoding="utf-8")
    try:
        analysis.refresh_data(force=True)
        assert analysis.synonyms("岸电") == (("岸电",),)
        (data / "synonyms.txt").write_text("碳排量 碳排放\n岸电 wfshore\n", encoding="utf-8")
        analysis.refresh_data(force=True)
        assert analysis.synonyms("wfshore") == (("wfshore",), ("岸电",))
    finally:
        monkeypatch.delenv("POLICY_SEARCH_DATA")
        analysis.refresh_data(force=True)
    assert analysis.synonyms("wfshore") == (("wfshore",),)


def test_edited_dictionary_rebuilds_in_the_background(watched, tmp_path, monkeypatch):
    watcher, seeds, index = watched
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(analysis.DICTIONARY_FILE, data / "dictionary.txt")
    monkeypatch.setenv("POLICY_SEARCH_DATA", str(data))
    watcher = SeedsWatcher(seeds, index, quiet=0.3).start()
    try:
        wait_for(lambda: read_status(index).mode == "events", 10)
        before = json.loads((index / "gen-000001" / "manifest.json").read_text())["dictionary"]
        with open(data / "dictionary.txt", "a", encoding="utf-8") as handle:
            handle.write("\n岸电改造 100 n\n")
        wait_for(lambda: (index / "gen-000002").is_dir() and read_status(index).updates, 30)
        after = json.loads((index / "gen-000002" / "manifest.json").read_text())["dictionary"]
        assert after != before
        assert after == analysis.dictionary_file_hash()
        # the watcher's process takes the new dictionary once the generation built with it is
        # current (the update ran in a child process, which the parent cannot reuse)
        wait_for(lambda: analysis.loaded_dictionary_hash() == after, 10)
        assert (index / "CURRENT").read_text().strip() == "gen-000002"
    finally:
        watcher.stop()
        monkeypatch.delenv("POLICY_SEARCH_DATA")
        analysis.reload_segmenter()  # the packaged dictionary again, for the tests after


def test_served_issuer_facet_merges_two_bodies_after_an_issuers_edit(
    seeds_copy, tmp_path, monkeypatch
):
    """Records are indexed with the canonical issuer of the table of their time: an edit of
    issuers.txt on a live server, one body made an alias of another, rebuilds the index, and
    the issuer facet then shows the one name for the records of both (the soak's 99 records
    kept the old name)."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(ISSUERS_FILE, data / "issuers.txt")
    monkeypatch.setenv("POLICY_SEARCH_DATA", str(data))
    try:
        with served(seeds_copy, tmp_path, "--workers", "2") as server:
            base = f"http://127.0.0.1:{server.port}"
            wait_for(lambda: get(base, "/api/health")["watch"]["mode"] == "events", 10)

            def issuers() -> dict[str, int]:
                facet = get(base, "/api/search", per_page=1)["facets"]["issuer"]
                return {value["value"]: value["count"] for value in facet}

            before = issuers()
            assert (before["北京市人民政府"], before["北京市发展和改革委员会"]) == (4, 3)
            (data / "issuers.txt").write_text(merged_issuers_table(), encoding="utf-8")
            wait_for(lambda: "北京市发展和改革委员会" not in issuers(), 30, step=0.5)
            after = issuers()
            assert after.pop("北京市人民政府") == 7
            del before["北京市人民政府"], before["北京市发展和改革委员会"]
            assert after == before  # the other bodies as they were
            assert get(base, "/api/search", per_page=1)["generation"].startswith("2.")
    finally:
        monkeypatch.delenv("POLICY_SEARCH_DATA")
        analysis.refresh_data(force=True)


def test_a_server_process_takes_the_dictionary_of_the_generation_it_serves(
    seeds_copy, tmp_path, monkeypatch
):
    """A worker (which never indexes) keeps its dictionary until a generation built with the
    edited one is current, then segments queries with it."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "dictionary.txt").write_text("岸电改造 100 n\n", encoding="utf-8")
    index = tmp_path / "index"
    packaged = analysis.loaded_dictionary_hash()
    try:
        update_index(seeds_copy, index)  # built with the packaged dictionary
        watch.follow_data_files(index, force=True)
        monkeypatch.setenv("POLICY_SEARCH_DATA", str(data))
        watch.follow_data_files(index, force=True)
        assert analysis.loaded_dictionary_hash() == packaged  # the index was not rebuilt yet
        assert "岸电改造" not in analysis.query_words("岸电改造")
        update_index(seeds_copy, index)  # another process's rebuild, seen from here:
        monkeypatch.delenv("POLICY_SEARCH_DATA")
        analysis.reload_segmenter()
        monkeypatch.setenv("POLICY_SEARCH_DATA", str(data))
        assert analysis.loaded_dictionary_hash() == packaged
        watch.follow_data_files(index, force=True)
        assert analysis.loaded_dictionary_hash() == analysis.dictionary_file_hash() != packaged
        assert analysis.query_words("岸电改造") == ["岸电改造"]
    finally:
        monkeypatch.delenv("POLICY_SEARCH_DATA", raising=False)
        analysis.reload_segmenter()
    assert analysis.loaded_dictionary_hash() == packaged


def test_watcher_waits_for_another_indexer(watched, monkeypatch):
    """`policy-search index` (or POST /api/reindex) holding the lock: the watcher retries."""
    watcher, seeds, index = watched
    monkeypatch.setattr(watch, "LOCK_WAIT_SECONDS", 0.2)
    watcher.start()
    wait_for(lambda: read_status(index).mode == "events", 10)
    with writer_lock(index):
        shutil.copy(TIANJIN, seeds / TIANJIN.name)
        time.sleep(2)
        assert read_status(index).updates == 0
    wait_for(lambda: read_status(index).updates == 1, 10)
    with SearchIndex(index) as engine:
        assert engine.search(SearchRequest(q="岸电"))["total"] == 1


@pytest.mark.slow
def test_a_burst_of_500_files_is_a_few_updates(seeds_copy, tmp_path):
    index = tmp_path / "index"
    update_index(seeds_copy, index)
    drop = tmp_path / "drop"
    drop.mkdir()
    for number in range(500):
        (drop / f"small-{number:03d}.md").write_text(small_file(number), encoding="utf-8")
    watcher = SeedsWatcher(seeds_copy, index).start()
    try:
        wait_for(lambda: read_status(index).mode == "events", 10)
        for path in sorted(drop.iterdir()):
            shutil.copy(path, seeds_copy / path.name)
        with SearchIndex(index) as engine:
            wait_for(lambda: engine.search(SearchRequest(q="wfbatch"))["total"] == 500, 180, 1)
        wait_for(lambda: read_status(index).updates >= 1, 5)
        assert 1 <= read_status(index).updates <= 5
    finally:
        watcher.stop()


def test_watcher_polls_where_there_are_no_events_and_says_so(seeds_copy, tmp_path):
    index = tmp_path / "index"
    update_index(seeds_copy, index)
    watcher = SeedsWatcher(seeds_copy, index, quiet=0.3, force_polling=True).start()
    try:
        wait_for(lambda: read_status(index).mode == "polling", 10)
        shutil.copy(TIANJIN, seeds_copy / TIANJIN.name)
        wait_for(lambda: read_status(index).updates == 1, 10)
    finally:
        watcher.stop()
    with SearchIndex(index) as engine:
        assert engine.search(SearchRequest(q="岸电"))["total"] == 1


# ---------------------------------------------------------------------------------------------
# A fork during a long update


def _children(pid: int) -> set[int]:
    """The living child processes of `pid` (from each /proc/*/stat's parent pid)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # ended while we looked
            continue
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def _writer(index: Path) -> int | None:
    """The pid of the process holding the index's writer lock, None when none holds it."""
    fd = os.open(index / ".lock", os.O_RDWR)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return int(os.pread(fd, 32, 0).decode("ascii").strip() or 0) or None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def test_a_worker_killed_during_a_long_update_is_replaced_at_once(seeds_copy, tmp_path):
    """Issue #23: a fork (gunicorn replacing a worker) waited for the watcher's whole update,
    so during a long one a dead worker was not replaced and the arbiter handled no signal."""
    laws = [path for path in sorted((SHARED / "corpus" / "laws").rglob("*.md"))]
    laws = [path for path in laws if path.name != "_index.md"][:500]
    index = tmp_path / "index"
    with served(seeds_copy, tmp_path, "--workers", "2") as server:
        base = f"http://127.0.0.1:{server.port}"
        wait_for(lambda: get(base, "/api/health")["watch"]["mode"] == "events", 10)
        arbiter = server.process.pid
        wait_for(lambda: len(_children(arbiter)) == 2, 10)
        workers = _children(arbiter)
        drop = seeds_copy / "laws"
        drop.mkdir()
        for number, path in enumerate(laws):
            shutil.copy(path, drop / f"{number:03d}-{path.name}")
        wait_for(lambda: _writer(index) is not None, 30)  # the update runs
        updating = _writer(index)
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: len(_children(arbiter) - workers - {updating}) == 1, 5)
        assert _writer(index) == updating  # replaced while the update still runs
        # and the update ends as it would have
        wait_for(lambda: get(base, "/api/health")["watch"]["updates"] == 1, 300, step=0.5)
        assert get(base, "/api/health")["documents"] > 500
        server.process.terminate()
        server.process.wait(timeout=15)
