"""search/vectorstore.py and search/vectorpass.py: sentence vectors kept beside the index by the
text they read, filled by a pass after the words are committed, read by the searching side."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import WEB_FIXTURES, vector_passes

from search import vectorpass, vectors
from search.indexer import update_index
from search.query import SearchIndex
from search.request import SearchRequest
from search.vectorstore import (
    COSINE_BLOCK_BYTES,
    FORMER_STORE_FILES,
    PASS_LOCK_FILE,
    PASS_NICENESS,
    QUEUE_LOCK_FILE,
    VectorCache,
    VectorStore,
    pass_lock,
    quantize,
    text_key,
)

QUESTION = "北京市在冬奥会期间对工业企业采取了什么措施？"


def test_text_keys_are_stable_and_zero_only_for_no_text():
    assert text_key("碳中和") == text_key("碳中和") != text_key("碳达峰")
    assert text_key("") == text_key("  \n") == 0
    assert isinstance(text_key("碳中和"), int) and -(2**63) <= text_key("碳中和") < 2**63


def test_int8_vectors_keep_their_cosines():
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(50, vectors.DIMENSIONS)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    rows, scales = quantize(matrix)
    back = rows.astype(np.float32) * scales[:, None]
    assert rows.dtype == np.int8 and np.abs(rows).max() == 127
    cosines = np.einsum("ij,ij->i", back, matrix) / np.linalg.norm(back, axis=1)
    assert (1 - cosines).max() < 1e-4


def test_a_build_without_vectors_answers_questions_by_words_then_the_pass_completes_it(
    seeds_copy, tmp_path
):
    root = tmp_path / "index"
    update_index(seeds_copy, root, vectors="skip")
    with SearchIndex(root) as engine:
        assert engine.vector_progress() == {"done": 0, "total": 13}
        assert engine.stats()["vectors"] == {"done": 0, "total": 13}
        by_words = engine.search(SearchRequest(q=QUESTION))
        assert by_words["match"] == "any" and by_words["total"] > 0
        assert vectorpass.run(root) == 13
        # the same open engine sees the vectors as the pass stores them, without a commit
        assert engine.vector_progress() == {"done": 13, "total": 13}
        with_meaning = engine.search(SearchRequest(q=QUESTION))
    with SearchIndex(root) as fresh:
        assert fresh.search(SearchRequest(q=QUESTION))["hits"] == with_meaning["hits"]
    assert [h["score"] for h in with_meaning["hits"]] != [h["score"] for h in by_words["hits"]]


def test_vectors_are_reused_across_updates_and_rebuilds(seeds_copy, tmp_path):
    root = tmp_path / "index"
    update_index(seeds_copy, root)
    store = VectorStore(root)
    assert store.known(np.array([text_key("nothing like it")])).tolist() == [False]
    (seeds_copy / "tianjin.md").write_bytes(
        (WEB_FIXTURES / "tianjin-port-key-nodes.md").read_bytes()
    )
    update_index(seeds_copy, root, vectors="skip")
    assert vectorpass.run(root) == 1  # only the new file's one record is encoded
    update_index(seeds_copy, root, rebuild=True, vectors="skip")
    assert vectorpass.run(root) == 0  # a rebuild of known texts encodes nothing
    with SearchIndex(root) as engine:
        assert engine.vector_progress() == {"done": 14, "total": 14}


def _stored_keys(root) -> set[int]:
    return set(VectorStore(root).read_since(0)[1].tolist())


def test_the_store_drops_the_vectors_of_texts_no_record_holds_any_more(seeds_copy, tmp_path):
    root = tmp_path / "index"
    update_index(seeds_copy, root)
    seed_keys = _stored_keys(root)
    assert len(seed_keys) == 13
    added = seeds_copy / "tianjin.md"
    added.write_bytes((WEB_FIXTURES / "tianjin-port-key-nodes.md").read_bytes())
    update_index(seeds_copy, root)
    [tianjin] = _stored_keys(root) - seed_keys
    added.unlink()
    update_index(seeds_copy, root)  # the pass after the update prunes
    assert _stored_keys(root) == seed_keys
    added.write_bytes((WEB_FIXTURES / "tianjin-port-key-nodes.md").read_bytes())
    update_index(seeds_copy, root, vectors="skip")
    assert vectorpass.run(root) == 1  # a text that comes back is encoded again
    assert _stored_keys(root) == seed_keys | {tianjin}
    with SearchIndex(root) as engine:
        assert engine.vector_progress() == {"done": 14, "total": 14}
    # a store that holds exactly the live texts is left as it is
    assert VectorStore(root).keep_only(np.array(sorted(seed_keys | {tianjin}))) == 0


def test_the_store_of_a_former_encoder_is_removed_and_its_texts_encoded_anew(seeds_copy, tmp_path):
    root = tmp_path / "index"
    update_index(seeds_copy, root, vectors="skip")
    former = root / FORMER_STORE_FILES[0]
    former.write_bytes(b"vectors of another encoder")
    (root / (FORMER_STORE_FILES[0] + "-wal")).write_bytes(b"")
    assert VectorStore(root).path.name == f"vectors-{vectors.ENCODER}.sqlite" != former.name
    assert vectorpass.run(root) == 13
    assert not former.exists() and not (root / (FORMER_STORE_FILES[0] + "-wal")).exists()
    with SearchIndex(root) as engine:
        assert engine.vector_progress() == {"done": 13, "total": 13}


def test_a_second_pass_leaves_the_work_to_the_first(seeds_copy, tmp_path):
    root = tmp_path / "index"
    update_index(seeds_copy, root, vectors="skip")
    with pass_lock(root) as held:
        assert held
        assert vectorpass.run(root) is None
    assert vectorpass.run(root) == 13


def _niceness(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[16])  # field 19 of proc(5)


def test_the_pass_a_build_starts_in_the_background_runs_niced(seeds_copy, tmp_path):
    root = tmp_path / "index"
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    expected = min(19, ours + PASS_NICENESS)
    update_index(seeds_copy, root, vectors="skip")
    with pass_lock(root) as held:  # the spawned pass waits for it, so it is still there to see
        assert held
        update_index(seeds_copy, root, vectors="background")  # spawns the pass, returns
        deadline = time.monotonic() + 30
        seen: list[int] = []
        while time.monotonic() < deadline:
            passes = vector_passes(str(root))
            seen = [_niceness(pid) for pid in passes]
            if seen and seen[0] == expected:
                break
            time.sleep(0.05)
        assert len(passes) == 1 and seen == [expected]
    deadline = time.monotonic() + 60
    with SearchIndex(root) as engine:
        while engine.vector_progress()["done"] < 13 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert engine.vector_progress() == {"done": 13, "total": 13}


def test_the_cache_tops_up_from_the_store(tmp_path):
    store = VectorStore(tmp_path)
    cache = VectorCache(store)
    cache.refresh()
    assert cache.size == 0
    keys = [text_key(t) for t in ("甲", "乙", "丙")]
    matrix = np.eye(3, vectors.DIMENSIONS, dtype=np.float32)
    store.add(keys[:2], matrix[:2])
    cache.refresh()
    rows = cache.rows_of(np.array([keys[1], keys[2], 0, keys[0]]))
    assert rows.tolist() == [1, -1, -1, 0]
    store.add(keys, matrix)  # two already there: kept as they are
    cache.refresh()
    assert cache.size == 3
    rows = cache.rows_of(np.array(keys))
    question = np.zeros(vectors.DIMENSIONS, dtype=np.float32)
    question[2] = 2.0
    assert cache.cosines(question, rows).tolist() == pytest.approx([0, 0, 2.0])
    assert cache.vectors(np.array([rows[0], -1]))[:, :3].ravel().tolist() == pytest.approx(
        [1, 0, 0, 0, 0, 0]
    )


def test_cosines_over_many_blocks_are_the_products_of_every_row(tmp_path):
    # more rows than one block of the products holds, and a last block cut short
    count = 3 * (COSINE_BLOCK_BYTES // (4 * vectors.DIMENSIONS)) + 7
    rng = np.random.default_rng(1)
    matrix = rng.normal(size=(count, vectors.DIMENSIONS)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    keys = [text_key(f"条文{i}") for i in range(count)]
    store = VectorStore(tmp_path)
    store.add(keys, matrix)
    cache = VectorCache(store)
    cache.refresh()
    rows = cache.rows_of(np.array(keys[::-1] + [0]))
    question = matrix[5]
    cosines = cache.cosines(question, rows)
    assert cosines.dtype == np.float32 and len(cosines) == count + 1
    assert cosines[:-1] == pytest.approx((matrix @ question)[::-1], abs=0.02)
    assert cosines[-1] == 0
    assert int(np.argmax(cosines)) == count - 1 - 5


def test_update_index_refuses_an_unknown_vectors_mode(seeds_copy, tmp_path):
    with pytest.raises(ValueError, match="vectors must be one of"):
        update_index(seeds_copy, tmp_path / "index", vectors="later")


def _locked(path: Path, waiting: bool = False) -> bool:
    """Whether some process holds a flock of `path` (with `waiting`: waits for one), as
    /proc/locks lists them (looking does not take the lock, which would make the pass that tries
    it leave)."""
    inode = os.stat(path).st_ino
    for line in Path("/proc/locks").read_text().splitlines():
        # "1: FLOCK ADVISORY WRITE <pid> <device>:<inode> 0 EOF"; a waiter's: "1: -> FLOCK ..."
        fields = line.split()
        if "FLOCK" not in fields or ("->" in fields) != waiting:
            continue
        if fields[fields.index("FLOCK") + 4].rsplit(":", 1)[-1] == str(inode):
            return True
    return False


def _run_in_thread(root, results: dict, name: str, progress=None) -> threading.Thread:
    """A pass as `python -m search.vectorpass` runs it (queued), in a thread; its result (how
    many it stored, None when it left) in results[name]."""

    def run() -> None:
        results[name] = vectorpass.run(root, progress, queue=True)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_pass_started_while_another_prunes_waits_for_it_and_runs(seeds_copy, tmp_path):
    root = tmp_path / "index"
    update_index(seeds_copy, root, vectors="skip")
    store = VectorStore(root)
    stale = text_key("一段已删除文件的文字")
    # a vector no record reads: the first pass prunes it once its records are encoded
    store.add([stale], np.ones((1, vectors.DIMENSIONS), np.float32))
    seeds_and_stale: set[int] = set()
    blocker = sqlite3.connect(store.path, timeout=30, isolation_level=None, check_same_thread=False)
    blocked = threading.Event()

    def hold_the_store(stored: int, total: int) -> None:
        # once the first pass stored its last batch, take the store's write lock: its prune
        # (after its last look for records) waits for it
        if stored == total == 13:
            blocker.execute("BEGIN IMMEDIATE")
            blocked.set()

    results: dict[str, int | None] = {}
    try:
        first = _run_in_thread(root, results, "first", hold_the_store)
        assert blocked.wait(60)
        seeds_and_stale = _stored_keys(root)
        # a commit while the first pass prunes, and the pass it starts
        (seeds_copy / "tianjin.md").write_bytes(
            (WEB_FIXTURES / "tianjin-port-key-nodes.md").read_bytes()
        )
        update_index(seeds_copy, root, vectors="skip")
        second = _run_in_thread(root, results, "second")
        deadline = time.monotonic() + 30
        while not _locked(root / QUEUE_LOCK_FILE) and "second" not in results:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # a third, while the second waits: the second will see to the work, the third leaves
        third = _run_in_thread(root, results, "third")
        third.join(30)
        assert results == {"third": None}
    finally:
        if blocked.is_set():
            blocker.execute("ROLLBACK")
        blocker.close()
    first.join(60)
    second.join(60)
    assert results == {"first": 13, "second": 1, "third": None}
    assert len(seeds_and_stale) == 14
    [tianjin] = _stored_keys(root) - seeds_and_stale
    assert _stored_keys(root) == seeds_and_stale - {stale} | {tianjin}
    with SearchIndex(root) as engine:
        assert engine.vector_progress() == {"done": 14, "total": 14}


def run_behind_a_pass(root: Path, call) -> tuple[threading.Thread, bool]:
    """`call` started in a thread while this process holds the pass lock, as a pass in the
    background does; the lock is let go once the thread waits for it (or has ended). Returns
    the thread and whether it was still waiting then."""
    with pass_lock(root, queue=True) as held:
        assert held
        thread = threading.Thread(target=call, daemon=True)
        thread.start()
        deadline = time.monotonic() + 60
        while thread.is_alive() and not _locked(root / PASS_LOCK_FILE, waiting=True):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        return thread, thread.is_alive()


def test_update_index_with_vectors_now_waits_for_a_running_pass(seeds_copy, tmp_path):
    root = tmp_path / "index"
    update_index(seeds_copy, root, vectors="skip")
    (seeds_copy / "tianjin.md").write_bytes(
        (WEB_FIXTURES / "tianjin-port-key-nodes.md").read_bytes()
    )
    results = {}

    def update() -> None:
        results["update"] = update_index(seeds_copy, root, vectors="now")

    updating, _ = run_behind_a_pass(root, update)
    updating.join(60)
    assert results["update"].added == ["tianjin.md"]
    with SearchIndex(root) as engine:
        assert engine.vector_progress() == {"done": 14, "total": 14}


def test_the_cache_reads_a_store_made_anew(tmp_path):
    store = VectorStore(tmp_path)
    cache = VectorCache(store)
    keys = [text_key(t) for t in ("甲", "乙", "丙")]
    matrix = np.eye(3, vectors.DIMENSIONS, dtype=np.float32)
    store.add(keys[:2], matrix[:2])
    cache.refresh()
    assert cache.rows_of(np.array(keys)).tolist() == [0, 1, -1]
    # the store deleted and made anew (its rows numbered from 1 again), with one vector
    for suffix in ("", "-wal", "-shm"):
        store.path.with_name(store.path.name + suffix).unlink(missing_ok=True)
    store.add(keys[2:], matrix[2:])
    cache.refresh()
    assert cache.size == 1
    assert cache.rows_of(np.array(keys)).tolist() == [-1, -1, 0]
    question = np.zeros(vectors.DIMENSIONS, dtype=np.float32)
    question[2] = 2.0
    assert cache.cosines(question, cache.rows_of(np.array(keys[2:]))).tolist() == [
        pytest.approx(2.0)
    ]


def test_questions_use_the_vectors_of_a_store_made_anew(seeds_copy, tmp_path):
    from conftest import TRACKING_FIXTURES

    root = tmp_path / "index"
    (seeds_copy / "tianjin.md").write_bytes(
        (WEB_FIXTURES / "tianjin-port-key-nodes.md").read_bytes()
    )
    update_index(seeds_copy, root)
    with SearchIndex(root) as engine:
        assert engine.vector_progress() == {"done": 14, "total": 14}
        # the store made anew by a rebuild that reads a new file first: its vector is row 1
        store = VectorStore(root)
        for suffix in ("", "-wal", "-shm"):
            store.path.with_name(store.path.name + suffix).unlink(missing_ok=True)
        notice = seeds_copy / "a-notice.md"
        notice.write_bytes((TRACKING_FIXTURES / "bjfgw-notice.md").read_bytes())
        update_index(seeds_copy, root, rebuild=True)
        assert engine.vector_progress() == {"done": 15, "total": 15}
        found = engine.search(SearchRequest(q="碳排放权交易市场如何推动碳中和目标实现？"))["hits"]
    with SearchIndex(root) as fresh:
        question = SearchRequest(q="碳排放权交易市场如何推动碳中和目标实现？")
        assert fresh.search(question)["hits"] == found


def test_the_vectors_command_waits_for_a_running_pass_then_completes(seeds_copy, tmp_path):
    """`policy-search vectors` while a background pass holds the lock: it said "another vector
    pass is running" and failed; it waits, then returns with every vector stored."""
    from click.testing import CliRunner

    from search.cli import main

    root = tmp_path / "index"
    update_index(seeds_copy, root, vectors="skip")
    results = {}

    def command() -> None:
        results["cli"] = CliRunner().invoke(main, ["vectors", "--index", str(root)])

    waiting, waited = run_behind_a_pass(root, command)
    assert waited
    waiting.join(120)
    assert results["cli"].exit_code == 0, results["cli"].output
    assert results["cli"].output.splitlines() == [
        "A vector pass is running on this index; waiting for it ...",
        "stored 13 sentence vectors",
    ]
    with SearchIndex(root) as engine:
        assert engine.vector_progress() == {"done": 13, "total": 13}
