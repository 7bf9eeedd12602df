"""The policy-search command, run as users run it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from search.query import SearchIndex, SearchRequest

REPO = Path(__file__).resolve().parent.parent


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "search.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_cli_index_search_and_stats(seeds_copy, tmp_path):
    index = tmp_path / "index"
    built = cli("index", "--seeds", str(seeds_copy), "--index", str(index))
    assert built.returncode == 0, built.stderr
    assert built.stdout.startswith("generation 1.1 (rebuilt): 1 added, 0 changed, 0 removed")
    assert "10 key nodes declared but 7 found" in built.stdout

    found = cli("search", "碳排量双控", "--index", str(index))
    assert found.returncode == 0, found.stderr
    assert found.stdout.splitlines()[0].startswith("2 results for '碳排量双控'")
    assert "【双控】" in found.stdout

    filtered = cli(
        "search",
        "",
        "--issuer",
        "北京市发展改革委",
        "--min-confidence",
        "0.5",
        "--json",
        "--index",
        str(index),
    )
    result = json.loads(filtered.stdout)
    assert result["total"] == 3
    assert {hit["issuer"] for hit in result["hits"]} == {"北京市发展改革委"}

    stats = cli("stats", "--index", str(index))
    assert re.fullmatch(
        r"13 records from 1 files, [1-9]\d* ingest warnings; generation 1\.1",
        stats.stdout.splitlines()[0],
    )
    assert "北京市发展改革委" in stats.stdout


def test_cli_search_json_is_exactly_the_library_result(seed_index):
    run = cli("search", "碳中和", "--sort", "-date", "--json", "--index", str(seed_index))
    printed = json.loads(run.stdout)
    with SearchIndex(seed_index) as engine:
        expected = engine.search(SearchRequest(q="碳中和", sort="-date"))
    printed.pop("took_ms"), expected.pop("took_ms")
    assert printed == json.loads(json.dumps(expected, ensure_ascii=False))


def test_cli_bad_parameter_is_a_message_not_a_traceback(seed_index):
    run = cli("search", "碳中和", "--from", "2020-13", "--index", str(seed_index))
    assert run.returncode == 1
    assert run.stderr.strip() == (
        "Error: date_from must be a date as YYYY, YYYY-MM or YYYY-MM-DD, not '2020-13'"
    )


def test_cli_environment_variables_choose_the_index(seed_index):
    import os

    env = dict(os.environ, POLICY_SEARCH_INDEX=str(seed_index))
    run = cli("search", "冬奥会", "--json", env=env)
    assert json.loads(run.stdout)["total"] == 1


def test_cli_missing_index_is_explained(tmp_path):
    run = cli("search", "碳中和", "--index", str(tmp_path / "none"))
    assert run.returncode == 1
    assert "no index at" in run.stderr and "policy-search index" in run.stderr
