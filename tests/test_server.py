"""web/server.py: `policy-search serve` with several worker processes (gunicorn, pre-forked) as a
real subprocess: every worker answers, raw UTF-8 in the request line is accepted, and a reindex
done through one worker is served by all of them."""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request

from conftest import WEB_FIXTURES, served

from bench.common.load import child_processes

TOKEN = "server-test-token"


def _raw_get(port: int, target: bytes) -> tuple[int, dict]:
    """GET with `target` sent byte for byte (as curl sends a URL holding Chinese)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_workers_share_the_index_and_all_see_a_reindex(seeds_copy, tmp_path):
    # --no-watch: the reindex below is the only update (the watcher is tests/test_watch.py's)
    with served(seeds_copy, tmp_path, "--workers", "2", "--no-watch", token=TOKEN) as server:
        port = server.port
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30  # the first worker may answer before the second is up
        while (
            len(workers := child_processes(server.process.pid)) < 2 and time.monotonic() < deadline
        ):
            time.sleep(0.2)
        assert len(workers) == 2

        status, body = _raw_get(port, "/api/search?q=碳中和".encode())
        assert (status, body["total"]) == (200, 2)

        answered_by = set()
        for _ in range(40):
            status, body = _raw_get(port, b"/api/health")
            answered_by.add(body["generation"])
        assert answered_by == {"1.1"}

        (seeds_copy / "tianjin.md").write_bytes(
            (WEB_FIXTURES / "tianjin-port-key-nodes.md").read_bytes()
        )
        request = urllib.request.Request(
            base + "/api/reindex", method="POST", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        with urllib.request.urlopen(request) as answer:
            generation = json.load(answer)["generation"]
        # whichever worker answers, it serves the new commit
        seen = {_raw_get(port, "/api/search?q=岸电".encode())[1]["generation"] for _ in range(40)}
        totals = {_raw_get(port, "/api/search?q=岸电".encode())[1]["total"] for _ in range(40)}
        assert (seen, totals) == ({generation}, {1})
        assert sorted(child_processes(server.process.pid)) == sorted(workers)


def test_an_index_of_another_format_is_reported_then_rebuilt_by_serve(seeds_copy, tmp_path):
    # an index written by an earlier version (its manifest says format 4): searching it says so
    # (503, with what to do), and `serve` rebuilds it before answering
    from search.errors import IndexOutdated
    from search.indexer import update_index
    from search.layout import MANIFEST_FILE, MANIFEST_VERSION, current_generation
    from search.query import SearchIndex
    from search.request import SearchRequest
    from web import create_app

    index = tmp_path / "index"
    update_index(seeds_copy, index, vectors="skip")
    manifest = current_generation(index) / MANIFEST_FILE
    text = manifest.read_text(encoding="utf-8")
    assert text.startswith(f'{{"version": {MANIFEST_VERSION},')
    manifest.write_text(text.replace(f'"version": {MANIFEST_VERSION}', '"version": 4', 1), "utf-8")

    message = (
        f"the index at {index} was written by another version of policy-search (index format 4; "
        f"this version reads {MANIFEST_VERSION}): run `policy-search index` to rebuild it"
    )
    with SearchIndex(index) as engine:
        try:
            engine.search(SearchRequest(q="碳中和"))
        except IndexOutdated as error:
            assert str(error) == message
        else:
            raise AssertionError("an outdated index was searched")
    from search.config import Settings

    app = create_app({"SETTINGS": Settings(seeds=seeds_copy, index=index, watch=False)})
    answer = app.test_client().get("/api/search?q=碳中和")
    assert answer.status_code == 503 and answer.get_json()["error"]["message"] == message

    with served(seeds_copy, tmp_path, "--workers", "1", "--no-watch") as server:
        url = f"http://127.0.0.1:{server.port}/api/search?q=" + urllib.parse.quote("碳中和")
        with urllib.request.urlopen(url) as answer:
            body = json.load(answer)
        assert (answer.status, body["total"], body["generation"]) == (200, 2, "2.1")
    log = (tmp_path / "server.log").read_text(encoding="utf-8")
    assert f"An index of another version at {index}: building it" in log


def test_serve_finishes_the_vectors_an_index_lacks(seeds_copy, tmp_path):
    # an index whose vector pass never ran (skipped, or stopped by a reboot): serve starts one,
    # without the watcher too, and /api/health counts the vectors up to every record
    from search.indexer import update_index

    update_index(seeds_copy, tmp_path / "index", vectors="skip")
    with served(seeds_copy, tmp_path, "--workers", "1", "--no-watch") as server:
        health = f"http://127.0.0.1:{server.port}/api/health"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with urllib.request.urlopen(health) as answer:
                vectors = json.load(answer)["vectors"]
            if vectors["done"] == vectors["total"]:
                break
            time.sleep(0.2)
        assert vectors == {"done": 13, "total": 13}


def test_requests_gunicorn_cannot_parse_get_our_json_error(seeds_copy, tmp_path):
    # a bad request line or header is refused by gunicorn before the app sees it: in the same
    # JSON shape as every other error, not gunicorn's HTML page
    with served(seeds_copy, tmp_path, "--workers", "2", "--no-watch") as server:
        for raw in (
            b"GET /api/search?q=x HTTP/9.9\r\nHost: x\r\n\r\n",
            b"GET /api/search?q=x HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
            b"GET /api/search?q=x HTTP/1.1\r\nHost: x\r\nX-\x01: y\r\n\r\n",
        ):
            with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
                sock.sendall(raw)
                data = b""
                while chunk := sock.recv(65536):
                    data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            assert lines[0].startswith("HTTP/1.1 400 "), raw
            assert "Content-Type: application/json" in lines, raw
            error = json.loads(body)["error"]
            assert error["status"] == 400 and error["parameter"] is None
            assert error["message"].startswith("the request could not be understood: "), error


def test_the_longest_query_the_api_takes_passes_gunicorn(seeds_copy, tmp_path):
    # 1,000 Chinese characters (the API's maxLength for q) are some 9,000 bytes in the request
    # line: answered, and one more character is refused by the app with its own message
    from search.request import MAX_QUERY_CHARS

    with served(seeds_copy, tmp_path, "--workers", "2", "--no-watch") as server:
        base = f"http://127.0.0.1:{server.port}/api/search?q="
        longest = "碳排放" * (MAX_QUERY_CHARS // 3) + "碳"
        assert len(longest) == MAX_QUERY_CHARS
        with urllib.request.urlopen(base + urllib.parse.quote(longest)) as answer:
            assert answer.status == 200 and json.load(answer)["query"] == longest
        try:
            urllib.request.urlopen(base + urllib.parse.quote(longest + "碳"))
        except urllib.error.HTTPError as error:
            assert error.code == 400
            assert json.load(error)["error"]["message"] == (
                f"q is {MAX_QUERY_CHARS + 1} characters long; at most {MAX_QUERY_CHARS} are searched"
            )
        else:
            raise AssertionError("a query over the limit was answered")


def test_one_blas_thread_a_process_unless_the_environment_says(tmp_path):
    # set before numpy loads its BLAS: with a thread per core, small products under load were
    # ten times slower and the server's requests/s fell as clients were added
    import subprocess
    import sys

    probe = "import search, numpy, os; print(os.environ['OPENBLAS_NUM_THREADS'])"
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    ours = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    theirs = subprocess.run(
        [sys.executable, "-c", probe],
        env={**env, "OPENBLAS_NUM_THREADS": "2"},
        capture_output=True,
        text=True,
    )
    assert (ours.stdout.strip(), theirs.stdout.strip()) == ("1", "2")
