"""The policy-search command, through click's CliRunner (and once as a process, as users run it)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from search.query import SearchIndex
from search.request import SearchRequest

REPO = Path(__file__).resolve().parent.parent


def test_cli_index_search_and_stats(runner, seeds_copy, tmp_path):
    index = tmp_path / "index"
    built = runner.invoke(["index", "--seeds", str(seeds_copy), "--index", str(index)])
    assert built.exit_code == 0, built.output
    assert built.stdout.startswith("generation 1.1 (rebuilt): 1 added, 0 changed, 0 removed")
    assert "10 key nodes declared but 7 found" in built.stdout

    found = runner.invoke(["search", "碳排量双控", "--index", str(index)])
    assert found.exit_code == 0, found.output
    assert found.stdout.splitlines()[0].startswith("2 results for '碳排量双控'")
    assert "【双控】" in found.stdout

    filtered = runner.invoke(
        [
            "search",
            "",
            "--issuer",
            "北京市发展改革委",
            "--min-confidence",
            "0.5",
            "--json",
            "--index",
            str(index),
        ]
    )
    result = json.loads(filtered.stdout)
    assert result["total"] == 3
    assert {hit["issuer"] for hit in result["hits"]} == {"北京市发展改革委"}

    stats = runner.invoke(["stats", "--index", str(index)])
    assert re.fullmatch(
        r"13 records from 1 files, [1-9]\d* ingest warnings; generation 1\.1",
        stats.stdout.splitlines()[0],
    )
    # the files whose reading left warnings, with their codes
    assert stats.stdout.splitlines()[1] == (
        "  beijing-industry-carbon-key-nodes.md: nodes_missing, truncated"
    )
    assert stats.stdout.splitlines()[2:4] == [
        "sentence vectors: 0 of 13 (no pass running: `policy-search vectors`)",
        "live folder: not watched (no server with its watcher runs on this index)",
    ]
    assert "北京市发展和改革委员会" in stats.stdout
    as_json = json.loads(runner.invoke(["stats", "--json", "--index", str(index)]).stdout)
    assert as_json["warning_files"] == [
        {
            "file": "beijing-industry-carbon-key-nodes.md",
            "codes": ["nodes_missing", "truncated"],
            "error": None,
        }
    ]


def test_cli_search_json_is_exactly_the_library_result(runner, seed_index):
    run = runner.invoke(
        ["search", "碳中和", "--sort", "-date", "--json", "--index", str(seed_index)]
    )
    printed = json.loads(run.stdout)
    with SearchIndex(seed_index) as engine:
        expected = engine.search(SearchRequest(q="碳中和", sort="-date"))
    printed.pop("took_ms"), expected.pop("took_ms")
    assert printed == json.loads(json.dumps(expected, ensure_ascii=False))


def test_cli_bad_parameter_is_a_message_not_a_traceback(seed_index):
    # run as a process: what matters is all a user sees of it, exit status and stderr
    run = subprocess.run(
        [sys.executable, "-m", "search.cli", "search", "碳中和", "--from", "2020-13"]
        + ["--index", str(seed_index)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1
    assert run.stderr.strip() == (
        "Error: date_from must be a date as YYYY, YYYY-MM or YYYY-MM-DD, not '2020-13'"
    )


def test_cli_environment_variables_choose_the_index(runner, seed_index):
    run = runner.invoke(
        ["search", "冬奥会", "--json"], env={"POLICY_SEARCH_INDEX": str(seed_index)}
    )
    assert json.loads(run.stdout)["total"] == 1


def test_cli_options_override_environment_variables(runner, seed_index, tmp_path):
    env = {"POLICY_SEARCH_INDEX": str(tmp_path / "none")}
    run = runner.invoke(["search", "冬奥会", "--json", "--index", str(seed_index)], env=env)
    assert json.loads(run.stdout)["total"] == 1


def test_cli_missing_index_is_explained(runner, tmp_path):
    run = runner.invoke(["search", "碳中和", "--index", str(tmp_path / "none")])
    assert run.exit_code == 1
    assert "no index at" in run.stderr and "policy-search index" in run.stderr


def test_cli_search_by_alias_doc_type_and_status(runner, tracking_index):
    found = runner.invoke(
        [
            "search",
            "",
            "--issuer",
            "北京市发改委",
            "--doc-type",
            "通知",
            "--index",
            str(tracking_index),
        ]
    )
    assert found.exit_code == 0, found.output
    assert found.stdout.splitlines()[0].startswith("1 results for ''")
    assert "京发改规〔2024〕5号 · 现行有效" in found.stdout
    repealed = runner.invoke(
        ["search", "", "--status", "已废止", "--json", "--index", str(tracking_index)]
    )
    assert [hit["title"] for hit in json.loads(repealed.stdout)["hits"]] == [
        "北京市重点碳排放单位管理办法（试行）"
    ]
    bad = runner.invoke(["search", "", "--status", "废", "--index", str(tracking_index)])
    assert bad.exit_code != 0 and "status must be one of" in bad.output


def watch_line(printed: str) -> str:
    [line] = [line for line in printed.splitlines() if line.startswith("live folder:")]
    return line


def test_cli_stats_shows_the_watcher_of_a_server_on_the_index(runner, seeds_copy, tmp_path):
    """`stats` says whether a server's watcher keeps the index up to date, how often it updated
    and what made it restart (as /api/health does)."""
    import os
    import time

    from search.indexer import update_index
    from search.watch import SeedsWatcher, read_status

    index = tmp_path / "index"
    update_index(seeds_copy, index, vectors="skip")
    watcher = SeedsWatcher(seeds_copy, index, quiet=0.3).start()
    try:
        deadline = time.monotonic() + 20
        while read_status(index).mode != "events":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        source = seeds_copy / "beijing-industry-carbon-key-nodes.md"
        (seeds_copy / "copy.md").write_text(
            source.read_text(encoding="utf-8").replace("北京市", "天津市"), encoding="utf-8"
        )
        while read_status(index).updates < 1:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        shown = watch_line(runner.invoke(["stats", "--index", str(index)]).stdout)
        assert shown.startswith(f"live folder: watched by process {os.getpid()} (events); ")
        assert re.search(r"; \d+ updates, the last at 20\d\d-", shown)
        as_json = json.loads(runner.invoke(["stats", "--json", "--index", str(index)]).stdout)
        assert as_json["watch"]["enabled"] is True
        assert as_json["watch"]["mode"] == "events"
    finally:
        watcher.stop()
    after = watch_line(runner.invoke(["stats", "--index", str(index)]).stdout)
    assert after == "live folder: not watched (no server with its watcher runs on this index)"
