"""The server's memory after a rebuild (issue #23's soak, "Pss flat"): a replaced dictionary is
freed with its last reference (search/analysis.py), and under gunicorn the workers are replaced
one at a time after a rebuild, so that they share the parent's new dictionary and columns again
(web/server.py), while a client that keeps its connection alive never sees a request fail."""

from __future__ import annotations

import gc
import http.client
import json
import shutil
import threading
import time
import urllib.parse
import weakref

from conftest import WEB_FIXTURES, served

from bench.common.load import child_processes
from search import analysis

TIANJIN = WEB_FIXTURES / "tianjin-port-key-nodes.md"
NEW_WORD = "岸电改造"


def test_a_replaced_dictionary_is_freed_with_its_last_reference(tmp_path, monkeypatch):
    """Nothing but the process keeps a dictionary (no cycle, no module-level segmenter): once
    another replaces it, its memory goes at once, without waiting for the garbage collector
    (which never visits the objects a server froze before forking its workers)."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(analysis.DICTIONARY_FILE, data / "dictionary.txt")
    with open(data / "dictionary.txt", "a", encoding="utf-8") as handle:
        handle.write(f"\n{NEW_WORD} 100 n\n")
    assert analysis.query_words(NEW_WORD) == ["岸电", "改造"]
    gc.disable()
    try:
        before = weakref.ref(analysis._dictionary())
        monkeypatch.setenv("POLICY_SEARCH_DATA", str(data))
        assert analysis.reload_segmenter()
        assert analysis.query_words(NEW_WORD) == [NEW_WORD]
        assert before() is None
        edited = weakref.ref(analysis._dictionary())
        monkeypatch.delenv("POLICY_SEARCH_DATA")
        assert analysis.reload_segmenter()  # the packaged dictionary again
        assert edited() is None
        assert analysis.query_words(NEW_WORD) == ["岸电", "改造"]
    finally:
        gc.enable()
        monkeypatch.delenv("POLICY_SEARCH_DATA", raising=False)
        analysis.reload_segmenter()


# ---------------------------------------------------------------------------------------------
# The served tree after a rebuild


def _wait_for(condition, timeout: float, step: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(step)


class KeptAliveClient(threading.Thread):
    """Searches without pause over one kept-alive connection (as the soak's clients do: a
    connection closed under it is a failed request), keeping every failure and every answer's
    total and first title."""

    def __init__(self, port: int, query: str):
        super().__init__(daemon=True)
        self.port = port
        self.path = "/api/search?" + urllib.parse.urlencode({"q": query})
        self.stopped = threading.Event()
        self.answers: list[tuple[int, tuple[str, ...]]] = []
        self.failures: list[str] = []

    def run(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            while not self.stopped.is_set():
                try:
                    connection.request("GET", self.path)
                    response = connection.getresponse()
                    body = response.read()
                    if response.status != 200:
                        self.failures.append(f"{response.status}: {body[:200]!r}")
                        continue
                    answer = json.loads(body)
                    self.answers.append(
                        (answer["total"], tuple(h["title"] for h in answer["hits"]))
                    )
                except (OSError, http.client.HTTPException) as exc:
                    self.failures.append(repr(exc))
                    connection.close()
        finally:
            connection.close()


def _search(port: int, query: str) -> tuple[int, tuple[str, ...]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", "/api/search?" + urllib.parse.urlencode({"q": query}))
        answer = json.loads(connection.getresponse().read())
    finally:
        connection.close()
    return answer["total"], tuple(hit["title"] for hit in answer["hits"])


def test_workers_are_replaced_after_a_rebuild_and_no_request_fails(
    seeds_copy, tmp_path, monkeypatch
):
    shutil.copy(TIANJIN, seeds_copy / TIANJIN.name)
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(analysis.DICTIONARY_FILE, data / "dictionary.txt")
    monkeypatch.setenv("POLICY_SEARCH_DATA", str(data))
    old_words = (
        2,
        ("天津港岸电设施全覆盖实施方案", "国家电投集团产融控股股份有限公司技术改造项目"),
    )
    new_words = (1, ("国家电投集团产融控股股份有限公司技术改造项目",))
    with served(seeds_copy, tmp_path, "--workers", "2") as server:
        arbiter = server.process.pid
        _wait_for(lambda: len(child_processes(arbiter)) == 2, 30)
        workers = child_processes(arbiter)
        assert _search(server.port, NEW_WORD) == old_words
        client = KeptAliveClient(server.port, NEW_WORD)
        client.start()
        try:
            _wait_for(lambda: len(client.answers) >= 20, 30)
            with open(data / "dictionary.txt", "a", encoding="utf-8") as handle:
                handle.write(f"\n{NEW_WORD} 100 n\n")
            # a rebuild with the new dictionary, then two workers, neither of those before
            _wait_for(lambda: _search(server.port, NEW_WORD) == new_words, 60)
            _wait_for(lambda: not child_processes(arbiter) & workers, 60)
            _wait_for(lambda: len(child_processes(arbiter)) == 2, 30)
            replaced = child_processes(arbiter)
            answered = len(client.answers)
            _wait_for(lambda: len(client.answers) >= answered + 40, 30)
        finally:
            client.stopped.set()
            client.join(30)
        assert replaced.isdisjoint(workers)
        assert client.failures == []
        # every answer was one dictionary's or the other's, the last ones the new one's
        assert set(client.answers) <= {old_words, new_words}
        assert client.answers[-40:] == [new_words] * 40
        assert {_search(server.port, NEW_WORD) for _ in range(20)} == {new_words}
