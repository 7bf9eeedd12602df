"""search/watch.py and the file names it meets: names that are not UTF-8 (GBK, from archives
copied from Windows), the seeds folder replaced under a running watcher, an exception inside
the watcher's loop; against a real served instance and a SeedsWatcher in this process."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import urllib.parse
import urllib.request
from pathlib import Path

from conftest import WEB_FIXTURES, served

from search import watch
from search.indexer import update_index
from search.query import SearchIndex
from search.request import SearchRequest
from search.watch import SeedsWatcher, read_status, temporary_name

TIANJIN = WEB_FIXTURES / "tianjin-port-key-nodes.md"
GBK_NAME = "碳排放通知.md"


def small_file(word: str) -> str:
    """A one-entry compilation holding `word` (a word no other file holds)."""
    return (
        TIANJIN.read_text(encoding="utf-8")
        .replace("天津港岸电设施全覆盖实施方案", f"天津港岸电设施 {word} 方案")
        .replace("减少船舶辅机燃油消耗", f"减少船舶辅机燃油消耗 {word}")
    )


def drop_gbk_named(folder: Path, word: str) -> None:
    """A file whose name is GBK bytes (not UTF-8), as a copy from a Windows share leaves it."""
    with open(os.path.join(os.fsencode(folder), GBK_NAME.encode("gbk")), "wb") as handle:
        handle.write(small_file(word).encode("utf-8"))


def has_lone_surrogate(text: str) -> bool:
    return any(0xD800 <= ord(character) <= 0xDFFF for character in text)


def wait_for(condition, timeout: float, step: float = 0.1) -> None:
    import time

    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(step)


def fetch(base: str, path: str, **params) -> bytes:
    query = "?" + urllib.parse.urlencode(params) if params else ""
    with urllib.request.urlopen(base + path + query, timeout=30) as answer:
        return answer.read()


def get(base: str, path: str, **params) -> dict:
    return json.loads(fetch(base, path, **params))


def total(engine: SearchIndex, q: str) -> int:
    return engine.search(SearchRequest(q=q))["total"]


# ---------------------------------------------------------------------------------------------
# Names that are not UTF-8


def test_update_index_reads_a_gbk_named_file_under_its_readable_name(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    drop_gbk_named(seeds, "wfgbkname")
    index = tmp_path / "index"
    result = update_index(seeds, index, vectors="skip")
    assert result.added == [GBK_NAME]
    assert [(file.path, file.error) for file in result.report.files] == [(GBK_NAME, None)]
    manifest = json.loads((index / "gen-000001" / "manifest.json").read_text(encoding="utf-8"))
    assert list(manifest["files"]) == [GBK_NAME]
    with SearchIndex(index) as engine:
        hits = engine.search(SearchRequest(q="wfgbkname"))["hits"]
        assert [hit["source_file"] for hit in hits] == [GBK_NAME]
        first_id = hits[0]["id"]
        record = engine.document(first_id)
        text = json.dumps(record, ensure_ascii=False)
        assert not has_lone_surrogate(text)
        text.encode("utf-8")  # no lone surrogate: raises otherwise
    # the same id from a rebuild: ids come from the readable name
    update_index(seeds, index, rebuild=True, vectors="skip")
    with SearchIndex(index) as engine:
        assert [hit["id"] for hit in engine.search(SearchRequest(q="wfgbkname"))["hits"]] == [
            first_id
        ]
    # unchanged: a second update reads nothing
    assert update_index(seeds, index, vectors="skip").files_read == 0


def test_update_index_keeps_a_gbk_name_apart_from_the_same_utf8_name(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    drop_gbk_named(seeds, "wfgbkcopy")
    (seeds / GBK_NAME).write_text(small_file("wfutf8copy"), encoding="utf-8")
    result = update_index(seeds, tmp_path / "index", vectors="skip")
    # the UTF-8 name keeps it; the other shows its bytes that are not UTF-8 as \\xNN
    escaped = GBK_NAME.encode("gbk").decode("utf-8", "backslashreplace")
    assert result.added == sorted([GBK_NAME, escaped])
    with SearchIndex(tmp_path / "index") as engine:
        assert [h["source_file"] for h in engine.search(SearchRequest(q="wfgbkcopy"))["hits"]] == [
            escaped
        ]
        assert total(engine, "wfutf8copy") == 1


def test_served_gbk_named_file_is_found_and_the_watcher_goes_on(seeds_copy, tmp_path):
    """Issue #23, defect 1: a GBK name dropped into a live server made watchfiles raise, and
    the watcher's thread ended without a word; files dropped later were never indexed."""
    with served(seeds_copy, tmp_path, "--workers", "2") as server:
        base = f"http://127.0.0.1:{server.port}"
        wait_for(lambda: get(base, "/api/health")["watch"]["mode"] == "events", 10)

        def found(q: str) -> int:
            return get(base, "/api/search", q=q)["total"]

        drop_gbk_named(seeds_copy, "wfgbklive")
        wait_for(lambda: found("wfgbklive") == 1, 10)
        (seeds_copy / "later.md").write_text(small_file("wflaterfile"), encoding="utf-8")
        wait_for(lambda: found("wflaterfile") == 1, 10)

        health = get(base, "/api/health")["watch"]
        assert (health["enabled"], health["mode"]) == (True, "events")
        # the notifier's failure shows; it settles (an update opens only changed files)
        assert 1 <= health["restarts"] <= 3
        assert "decode path" in health["last_restart_error"]

        # every format that shows the name holds valid Unicode
        hits = get(base, "/api/search", q="wfgbklive")["hits"]
        assert [hit["source_file"] for hit in hits] == [GBK_NAME]
        record = get(base, f"/api/documents/{hits[0]['id']}")
        assert record["source_file"] == GBK_NAME
        for raw in (
            fetch(base, "/api/search", q="wfgbklive"),
            fetch(base, f"/api/documents/{hits[0]['id']}"),
            fetch(base, "/", q="wfgbklive"),
            fetch(base, "/export.csv", q="wfgbklive"),
            fetch(base, "/api/health"),
        ):
            assert not has_lone_surrogate(raw.decode("utf-8"))
        rows = list(csv.reader(io.StringIO(fetch(base, "/export.csv", q="wfgbklive").decode())))
        assert len(rows) == 2
        server.process.terminate()
        server.process.wait(timeout=15)
    assert "Traceback" not in (tmp_path / "server.log").read_text(errors="replace")


def test_watcher_keeps_up_with_gbk_names_dropped_one_after_another(seeds_copy, tmp_path):
    """Each GBK name costs the notifier a restart; restarts for such names do not grow the
    pause between them (a pause doubling up to 30 s left a folder fed such files unwatched)."""
    index = tmp_path / "index"
    update_index(seeds_copy, index, vectors="skip")
    watcher = SeedsWatcher(seeds_copy, index, quiet=0.3).start()
    try:
        wait_for(lambda: read_status(index).mode == "events", 10)
        with SearchIndex(index) as engine:
            for number in range(8):
                name = f"碳排放通知{number}.md".encode("gbk")
                with open(os.path.join(os.fsencode(seeds_copy), name), "wb") as handle:
                    handle.write(small_file(f"wfgbkseries{number}").encode("utf-8"))
                wait_for(lambda n=number: total(engine, f"wfgbkseries{n}") == 1, 10)
        status = read_status(index)
        assert status.restarts >= 8
        assert "decode path" in status.last_restart_error
    finally:
        watcher.stop()


def test_watcher_restarts_after_any_exception_and_says_so(seeds_copy, tmp_path, monkeypatch):
    """No exception ends the watcher silently: an unexpected one (here from the classification
    of events) restarts the loop, counted, and the changes it missed are indexed."""
    index = tmp_path / "index"
    update_index(seeds_copy, index, vectors="skip")
    monkeypatch.setattr(watch, "RESTART_SECONDS", 0.2, raising=False)
    real_classify = SeedsWatcher._classify
    failures = {"left": 1}

    def classify(self, changes):
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("an unforeseen failure")
        return real_classify(self, changes)

    monkeypatch.setattr(SeedsWatcher, "_classify", classify)
    watcher = SeedsWatcher(seeds_copy, index, quiet=0.3).start()
    try:
        wait_for(lambda: read_status(index).mode == "events", 10)
        (seeds_copy / "first.md").write_text(small_file("wffirstdrop"), encoding="utf-8")
        wait_for(lambda: read_status(index).restarts == 1, 10)
        assert read_status(index).last_restart_error == "RuntimeError: an unforeseen failure"
        with SearchIndex(index) as engine:
            wait_for(lambda: total(engine, "wffirstdrop") == 1, 10)
            (seeds_copy / "second.md").write_text(small_file("wfseconddrop"), encoding="utf-8")
            wait_for(lambda: total(engine, "wfseconddrop") == 1, 10)
        assert watcher.status.to_dict()["restarts"] == 1
    finally:
        watcher.stop()


# ---------------------------------------------------------------------------------------------
# The seeds folder replaced


def test_the_folder_itself_is_no_hidden_file():
    assert temporary_name(".") is False


def _watch_replaced_folder(seeds_copy, tmp_path, replace) -> None:
    index = tmp_path / "index"
    update_index(seeds_copy, index, vectors="skip")
    watcher = SeedsWatcher(seeds_copy, index, quiet=0.3).start()
    try:
        wait_for(lambda: read_status(index).mode == "events", 10)
        with SearchIndex(index) as engine:
            assert total(engine, "碳排量") > 0
            replace(seeds_copy)
            wait_for(lambda: total(engine, "wfreplaced") == 1, 10)
            assert total(engine, "碳排量") == 0  # the old folder's files are gone
            (seeds_copy / "after.md").write_text(small_file("wfafterswap"), encoding="utf-8")
            wait_for(lambda: total(engine, "wfafterswap") == 1, 10)
    finally:
        watcher.stop()


def test_watcher_follows_a_folder_renamed_into_place(seeds_copy, tmp_path):
    def rename_into_place(seeds: Path) -> None:
        new = tmp_path / "seeds.new"
        new.mkdir()
        (new / "fresh.md").write_text(small_file("wfreplaced"), encoding="utf-8")
        seeds.rename(tmp_path / "seeds.old")
        new.rename(seeds)

    _watch_replaced_folder(seeds_copy, tmp_path, rename_into_place)


def test_watcher_follows_a_folder_deleted_and_made_again(seeds_copy, tmp_path):
    def delete_and_make_again(seeds: Path) -> None:
        shutil.rmtree(seeds)
        seeds.mkdir()
        (seeds / "fresh.md").write_text(small_file("wfreplaced"), encoding="utf-8")

    _watch_replaced_folder(seeds_copy, tmp_path, delete_and_make_again)


def test_the_status_shows_an_update_in_progress(seeds_copy, tmp_path):
    """An update that does not end (a hung child, a lock held for long) shows in the status
    (`updating_since`), and the field is cleared once it ends."""
    from search.indexer import writer_lock

    index = tmp_path / "index"
    update_index(seeds_copy, index, vectors="skip")
    watcher = SeedsWatcher(seeds_copy, index, quiet=0.3).start()
    try:
        wait_for(lambda: read_status(index).mode == "events", 10)
        with writer_lock(index):  # the update waits for the lock (up to LOCK_WAIT_SECONDS)
            (seeds_copy / "held.md").write_text(small_file("wfheldupdate"), encoding="utf-8")
            wait_for(lambda: read_status(index).updating_since is not None, 10)
            assert read_status(index).updating_since.startswith("20")
        with SearchIndex(index) as engine:
            wait_for(lambda: total(engine, "wfheldupdate") == 1, 20)
        wait_for(lambda: read_status(index).updating_since is None, 10)
    finally:
        watcher.stop()
