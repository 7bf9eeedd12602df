"""Reliability: a real server under load while the index is updated and rebuilt, SIGKILLs of the
indexer, corrupt manifests and a full disk. The short runs are CI's; the `slow` ones are the runs
bench/reliability.py makes (60 s of 16 clients, 20 kills)."""

from __future__ import annotations

import json
import resource
import shutil
import signal
from pathlib import Path

import pytest

from bench.reliability import (
    ExpectedIds,
    exact_index_problems,
    full_disk_check,
    index_ids,
    mount_tmpfs,
    resize_tmpfs,
    run_indexer,
    run_kills,
    run_load,
    unmount,
    write_copies,
)
from search.config import Settings
from search.indexer import update_index
from search.layout import MANIFEST_FILE, MANIFEST_VERSION, current_generation
from search.query import SearchIndex
from search.request import SearchRequest
from web import create_app

RECORDS = 13  # of the seed compilation, so of each copy of it
NO_ROOM_MESSAGE = "Searches keep using the last complete index; "


def browse_total(index: Path) -> int:
    with SearchIndex(index) as engine:
        return engine.search(SearchRequest())["total"]


# ---------------------------------------------------------------------------------------------
# Load while the index changes


def check_load(result: dict) -> None:
    assert result["indexer"]["update"]["returncode"] == 0, result["indexer"]["update"]["stderr"]
    assert result["indexer"]["rebuild"]["returncode"] == 0, result["indexer"]["rebuild"]["stderr"]
    assert (result["failed"], result["server_errors"]) == (0, 0), result["failure_samples"]
    assert result["inconsistencies"] == []
    # the clients saw the first index, the updated one and the rebuilt one, each complete
    initial, added = result["files"]["initial"], result["files"]["added"]
    assert sorted(result["records"].values()) == [
        initial * RECORDS,
        (initial + added) * RECORDS,
        (initial + added) * RECORDS,
    ]
    assert set(result["answers_per_generation"]) == set(result["records"])
    for phase in result["phases"].values():
        assert phase["requests"] > 0 and phase["failed"] == 0


def test_load_8_clients_while_the_index_is_updated_then_rebuilt(tmp_path):
    result = run_load(tmp_path, clients=8, duration=10, initial_files=40, added_files=20)
    check_load(result)


@pytest.mark.slow
def test_load_16_clients_for_60_seconds_while_the_index_is_updated_then_rebuilt(tmp_path):
    result = run_load(tmp_path, clients=16, duration=60, initial_files=400, added_files=200)
    check_load(result)


# ---------------------------------------------------------------------------------------------
# SIGKILL of the indexer


def check_kills(result: dict, kills: int) -> None:
    assert result["kills"] >= kills
    assert result["problems"] == []
    assert (result["failed_requests"], result["server_errors"]) == (0, 0)
    assert result["inconsistencies"] == [], result["log"]
    assert result["leftover_builds"] == []
    final = result["final_records"]
    assert final["lost"] == final["duplicated"] == 0
    assert final["indexed"] == final["unique_ids"] == final["expected"]
    assert final["expected"] == result["final_files"] * RECORDS


def test_sigkill_of_the_indexer_loses_and_duplicates_nothing(tmp_path):
    result = run_kills(tmp_path, kills=4, files=60, clients=2, seed=7)
    check_kills(result, 4)


@pytest.mark.slow
def test_sigkill_of_the_indexer_20_times_during_updates_and_rebuilds(tmp_path):
    result = run_kills(tmp_path, kills=20, files=150, seed=1)
    check_kills(result, 20)
    assert result["kills_by_kind"]["update"] >= 5 and result["kills_by_kind"]["rebuild"] >= 5


def test_sigkill_between_commit_and_manifest_rebuilds_exactly(seeds_copy, tmp_path):
    """A run killed after the Whoosh commit, before its manifest: the old manifest no longer
    describes the index, so the next run rebuilds rather than trust it."""
    index = tmp_path / "index"
    update_index(seeds_copy, index)
    manifest = current_generation(index) / MANIFEST_FILE
    old = manifest.read_bytes()
    write_copies(seeds_copy, range(3))
    update_index(seeds_copy, index)
    manifest.write_bytes(old)  # as if killed before the manifest was written
    write_copies(seeds_copy, range(3, 5))
    result = update_index(seeds_copy, index)
    assert result.rebuilt and result.records == 6 * RECORDS
    assert result.notices == [
        f"the index manifest {manifest} does not match the index (13 records listed for 1 "
        "files, 52 indexed); rebuilding the whole index"
    ]
    assert exact_index_problems(index, ExpectedIds(seeds_copy)()) == []


# ---------------------------------------------------------------------------------------------
# Corrupt manifests


@pytest.mark.parametrize(
    ("damage", "notice"),
    [
        (lambda text: text[: len(text) // 2], "is corrupt ("),
        (lambda text: "", "is corrupt (Expecting value"),
        (lambda text: "\x00\xff garbage", "is corrupt (Expecting value"),
        (lambda text: "[]", "is corrupt (unexpected content)"),
        (
            lambda text: f'{{"version": {MANIFEST_VERSION}, "files": []}}',
            "is corrupt (unexpected content)",
        ),
        (
            lambda text: '{"version": 1, "files": {}}',
            "is from another version of policy-search (index format 1; this version writes "
            f"{MANIFEST_VERSION})",
        ),
        (
            lambda text: (
                f'{{"version": {MANIFEST_VERSION}, "files": '
                '{"beijing-industry-carbon-key-nodes.md": 5}}'
            ),
            "is corrupt (bad entry for 'beijing-industry-carbon-key-nodes.md')",
        ),
        (
            lambda text: text.replace('"records": 13', '"records": "13"'),
            "is corrupt (bad entry for 'beijing-industry-carbon-key-nodes.md')",
        ),
    ],
    ids=["truncated", "empty", "binary", "list", "files-list", "version", "entry", "records"],
)
def test_manifest_damaged_rebuilds_with_a_notice(seeds_copy, tmp_path, damage, notice):
    index = tmp_path / "index"
    write_copies(seeds_copy, range(2))
    update_index(seeds_copy, index)
    manifest = current_generation(index) / MANIFEST_FILE
    manifest.write_text(damage(manifest.read_text(encoding="utf-8")), encoding="utf-8")
    result = update_index(seeds_copy, index)
    assert result.rebuilt and result.records == 3 * RECORDS
    assert len(result.notices) == 1
    assert result.notices[0].startswith(f"the index manifest {manifest} {notice}")
    assert result.notices[0].endswith("; rebuilding the whole index")
    assert exact_index_problems(index, ExpectedIds(seeds_copy)()) == []


def test_manifest_of_another_index_is_not_trusted(seeds_copy, tmp_path):
    """A manifest listing a file (with its current hash) whose records are not in the index: an
    update trusting it would never index that file."""
    other_seeds = tmp_path / "other"
    shutil.copytree(seeds_copy, other_seeds)
    write_copies(other_seeds, range(1))
    write_copies(seeds_copy, range(1))
    other, index = tmp_path / "other-index", tmp_path / "index"
    update_index(other_seeds, other)
    (seeds_copy / "copy-00000.md").unlink()
    update_index(seeds_copy, index)
    write_copies(seeds_copy, range(1))
    # the other manifest lists copy-00000.md with exactly the hash it has on disk now
    shutil.copy(
        current_generation(other) / MANIFEST_FILE, current_generation(index) / MANIFEST_FILE
    )
    result = update_index(seeds_copy, index)
    assert result.rebuilt and result.records == 2 * RECORDS
    assert (
        "does not match the index (26 records listed for 2 files, 13 indexed)"
        in (result.notices[0])
    )
    assert sorted(index_ids(index)) == sorted(ExpectedIds(seeds_copy)())


# ---------------------------------------------------------------------------------------------
# A full disk


def file_size_limit(limit: int):
    """For Popen(preexec_fn=...): writes past `limit` bytes fail with EFBIG (SIGXFSZ ignored)."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@pytest.fixture
def small_index(tmp_path) -> tuple[Path, Path]:
    seeds, index = tmp_path / "seeds", tmp_path / "index"
    write_copies(seeds, range(30))
    update_index(seeds, index)
    write_copies(seeds, range(30, 40))
    return seeds, index


@pytest.mark.parametrize("rebuild", [False, True], ids=["update", "rebuild"])
def test_full_disk_fails_cleanly_and_the_old_index_keeps_serving(small_index, rebuild):
    seeds, index = small_index
    limit = {"preexec_fn": file_size_limit(20_000)}
    outcome = full_disk_check(seeds, index, rebuild, limit)
    assert outcome == {
        "rebuild": rebuild,
        "returncode": 1,
        "message": f"Error: could not update the index at {index} (File too large). "
        + NO_ROOM_MESSAGE
        + "an index file reached the file size limit: raise the limit (ulimit -f), then run "
        "`policy-search index` again",
        "traceback": False,
        "records_before": 30 * RECORDS,
        "records_served_after_failure": 30 * RECORDS,
        "generation_after_failure": "1.1",
        "generation_before": "1.1",
        "server_served": None,
        "leftover_builds": [],
    }
    # space is back: the next run completes, with every file exactly once
    after = run_indexer(seeds, index, rebuild=rebuild)
    assert after.returncode == 0, after.stderr
    assert exact_index_problems(index, ExpectedIds(seeds)()) == []
    assert browse_total(index) == 40 * RECORDS


def test_full_disk_on_a_small_tmpfs(small_index, tmp_path):
    seeds, index = small_index
    disk = tmp_path / "disk"
    used = sum(p.stat().st_size for p in index.rglob("*") if p.is_file())
    if not mount_tmpfs(disk, used * 3):
        pytest.skip("mounting a tmpfs is not allowed here (the file size limit test covers it)")
    try:
        moved = disk / "index"
        shutil.copytree(index, moved)
        resize_tmpfs(disk, used + used // 2)  # room for the index and half another
        outcome = full_disk_check(seeds, moved, True, {})
        assert outcome["returncode"] == 1 and not outcome["traceback"]
        assert outcome["message"] == (
            f"Error: could not update the index at {moved} (No space left on device). "
            + NO_ROOM_MESSAGE
            + "the disk is full: free some space, then run `policy-search index` again"
        )
        assert outcome["records_served_after_failure"] == 30 * RECORDS
        assert outcome["leftover_builds"] == []
        resize_tmpfs(disk, used * 4)
        after = run_indexer(seeds, moved, rebuild=True)
        assert after.returncode == 0, after.stderr
        assert exact_index_problems(moved, ExpectedIds(seeds)()) == []
    finally:
        unmount(disk)


# Whoosh's writer, cancelled by the failed write, leaves one segment file for the garbage
# collector to close: a ResourceWarning, not an error of ours.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_reindex_on_a_full_disk_is_a_clear_error_and_the_next_one_works(small_index):
    seeds, index = small_index
    app = create_app(
        {
            "SETTINGS": Settings(seeds=seeds, index=index),
            "REINDEX_TOKEN": "t",
            "REINDEX_INTERVAL": 0,
            "REINDEX_WAIT": 0,
        }
    )
    client = app.test_client()
    headers = {"Authorization": "Bearer t"}
    # the limit applies to this process: set it around the one call only
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, hard))
    try:
        refused = client.post("/api/reindex", headers=headers)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    try:
        assert refused.status_code == 507  # Insufficient Storage
        message = refused.json["error"]["message"]
        assert message.startswith(f"could not update the index at {index} (File too large)")
        assert client.get("/api/health").json["documents"] == 30 * RECORDS
        done = client.post("/api/reindex", headers=headers)
        assert done.status_code == 200 and done.json["records"] == 40 * RECORDS
        assert client.get("/api/health").json["documents"] == 40 * RECORDS
    finally:
        app.extensions["policy_search"].close()


def test_cli_reports_any_write_failure_without_a_traceback(small_index):
    """Not only a full disk: a file system error of the indexer is a message, and the next run
    after it is fixed completes (rebuilding: the commit landed, its manifest did not)."""
    seeds, index = small_index
    blocker = current_generation(index) / (MANIFEST_FILE + ".tmp")
    blocker.mkdir()  # the new manifest cannot be written
    failed = run_indexer(seeds, index)
    assert (failed.returncode, failed.stdout) == (1, "")
    assert failed.stderr == (
        f"Error: could not update the index at {index} (Is a directory: {blocker}). "
        + NO_ROOM_MESSAGE
        + "fix that, then run `policy-search index` again\n"
    )
    blocker.rmdir()
    after = run_indexer(seeds, index)
    assert after.returncode == 0 and "rebuilt" in after.stdout
    assert exact_index_problems(index, ExpectedIds(seeds)()) == []


def test_server_answers_with_security_headers_as_served_by_waitress(tmp_path):
    """The headers of the real server (not only Flask's test client) on a page, a static file,
    an error and the API."""
    from bench.reliability import get, serve

    seeds, index = tmp_path / "seeds", tmp_path / "index"
    write_copies(seeds, range(2))
    assert run_indexer(seeds, index).returncode == 0
    with serve(seeds, index, threads=2) as port:
        for path, status in (
            ("/", 200),
            ("/static/style.css", 200),
            ("/documents/..%2F..%2Fetc%2Fpasswd", 404),
            ("/api/documents/%2e%2e%2f%2e%2e%2fetc%2fpasswd", 404),
            ("/api/search?page=0", 400),
        ):
            answered, headers, body = get(port, path)
            assert answered == status, path
            assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
            assert headers["X-Content-Type-Options"] == "nosniff"
            assert headers["X-Frame-Options"] == "DENY"
            assert b"root:" not in body and b"Traceback" not in body
        assert json.loads(get(port, "/api/health")[2])["documents"] == 2 * RECORDS
