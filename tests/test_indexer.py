"""Incremental updates, rebuild swaps, the writer lock and crash safety, on real Markdown."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from conftest import SEED_FILE, WEB_FIXTURES, entry_id
from whoosh import index as whoosh_index
from whoosh import query as wq
from whoosh.scoring import BM25F

from search import analysis, watch
from search.errors import IndexLocked, IndexMissing
from search.indexer import update_index, writer_lock
from search.issuers import ISSUERS_FILE, canonical_issuer
from search.layout import (
    CURRENT_FILE,
    MANIFEST_FILE,
    MANIFEST_VERSION,
    current_generation,
    open_index,
)
from search.query import SearchIndex
from search.reader import CurrentIndex
from search.records import unpack
from search.request import SearchRequest

REPO = Path(__file__).resolve().parent.parent


NEW_COMPILATION = """# 上海市 交通领域 碳排量关键节点政策与事件汇编

分析时间: 2025-06-01 10:00:00
共涵盖 1 个关键节点的相关信息

## 关键节点: 2024-01-10 (政策) - 可信度: 0.71

1. **上海市氢燃料电池汽车推广方案**
   - **颁布/执行日期**: 2024年1月
   - **颁布单位**: 上海市经信委
   - **核心内容**: 推广氢燃料电池汽车，建设加氢站网络，降低交通领域碳排量。
   - **数据来源链接**: [上海市经信委](https://example.org/hydrogen)
"""


def search(index: Path, **params) -> dict:
    request = SearchRequest.from_params({k: [str(v)] for k, v in params.items()})
    with SearchIndex(index) as engine:
        return engine.search(request)


def test_index_build_then_rerun_touches_nothing(seeds_copy, tmp_path):
    index = tmp_path / "index"
    first = update_index(seeds_copy, index)
    assert first.rebuilt and first.records == 13 and first.generation == "1.1"
    again = update_index(seeds_copy, index)
    assert (again.rebuilt, again.files_read, again.unchanged, again.records) == (False, 0, 1, 13)
    assert again.generation == first.generation  # no commit when nothing changed


def test_index_adds_a_new_file_without_rereading_the_others(seeds_copy, tmp_path):
    index = tmp_path / "index"
    update_index(seeds_copy, index)
    assert search(index, q="氢燃料电池")["total"] == 0
    (seeds_copy / "shanghai.md").write_text(NEW_COMPILATION, encoding="utf-8")
    result = update_index(seeds_copy, index)
    assert (result.added, result.changed, result.removed) == (["shanghai.md"], [], [])
    assert result.files_read == 1 and result.unchanged == 1 and result.records == 14
    assert [f.path for f in result.report.files] == ["shanghai.md"]
    found = search(index, q="氢燃料电池")
    assert [h["title"] for h in found["hits"]] == ["上海市氢燃料电池汽车推广方案"]
    assert found["hits"][0]["issuer"] == "上海市经信委"
    assert search(index, q="碳排量双控")["total"] == 2


def test_index_edit_and_delete_update_exactly_that_files_records(seeds_copy, tmp_path):
    index = tmp_path / "index"
    (seeds_copy / "shanghai.md").write_text(NEW_COMPILATION, encoding="utf-8")
    update_index(seeds_copy, index)
    assert search(index)["total"] == 14
    edited = NEW_COMPILATION.replace("加氢站网络", "换电站网络")
    (seeds_copy / "shanghai.md").write_text(edited, encoding="utf-8")
    result = update_index(seeds_copy, index)
    assert (result.added, result.changed, result.removed) == ([], ["shanghai.md"], [])
    assert search(index, q="加氢站")["total"] == 0
    assert search(index, q="换电站")["total"] == 1
    assert search(index)["total"] == 14
    (seeds_copy / "shanghai.md").unlink()
    result = update_index(seeds_copy, index)
    assert (result.added, result.changed, result.removed) == ([], [], ["shanghai.md"])
    assert search(index, q="换电站")["total"] == 0
    assert search(index)["total"] == 13


def test_index_rebuild_swaps_in_a_new_generation_and_keeps_one_old(seeds_copy, tmp_path):
    index = tmp_path / "index"
    update_index(seeds_copy, index)
    with SearchIndex(index) as engine:
        assert engine.generation == "1.1"
        update_index(seeds_copy, index, rebuild=True)
        assert engine.generation == "2.1"  # an open SearchIndex follows the swap
        update_index(seeds_copy, index, rebuild=True)
        assert engine.search(SearchRequest())["total"] == 13
    assert sorted(p.name for p in index.iterdir() if p.is_dir()) == ["gen-000002", "gen-000003"]
    assert (index / CURRENT_FILE).read_text().strip() == "gen-000003"


def test_index_missing_is_a_clear_error(tmp_path):
    with pytest.raises(IndexMissing, match="no index at .*policy-search index"):
        open_index(tmp_path / "nothing")


def test_index_corrupt_or_missing_manifest_rebuilds_with_a_notice(seeds_copy, tmp_path):
    index = tmp_path / "index"
    update_index(seeds_copy, index)
    (current_generation(index) / MANIFEST_FILE).write_text("{not json", encoding="utf-8")
    result = update_index(seeds_copy, index)
    assert result.rebuilt and result.records == 13
    assert "corrupt" in result.notices[0] and "rebuilding the whole index" in result.notices[0]
    (current_generation(index) / MANIFEST_FILE).unlink()
    result = update_index(seeds_copy, index)
    assert result.rebuilt and "is missing" in result.notices[0]


def test_index_second_writer_fails_with_a_clear_message(seeds_copy, tmp_path):
    index = tmp_path / "index"
    update_index(seeds_copy, index)
    busy = f"another indexer \\(pid {os.getpid()}\\) is updating"
    with writer_lock(index), pytest.raises(IndexLocked, match=busy):
        update_index(seeds_copy, index, wait=0.3)
    assert update_index(seeds_copy, index).records == 13


def _cli(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "search.cli", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def test_index_lock_left_by_a_killed_writer_is_recovered(seeds_copy, tmp_path):
    index = tmp_path / "index"
    update_index(seeds_copy, index)
    with subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from search.indexer import writer_lock\n"
            "with writer_lock(Path(sys.argv[1])):\n    print('locked', flush=True); time.sleep(60)",
            str(index),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(IndexLocked):
            update_index(seeds_copy, index)
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (index / ".lock").exists()  # the file stays; the kernel released its lock
    assert update_index(seeds_copy, index).records == 13


def _many_files(seeds: Path, count: int) -> None:
    text = SEED_FILE.read_text(encoding="utf-8")
    for number in range(count):
        (seeds / f"copy-{number:04d}.md").write_text(
            text.replace("北京市 工业领域", f"北京市 工业领域{number}"), encoding="utf-8"
        )


def test_index_sigkill_during_rebuild_leaves_the_previous_index_searchable(seeds_copy, tmp_path):
    index = tmp_path / "index"
    update_index(seeds_copy, index)
    before = search(index, q="碳排量双控")
    _many_files(seeds_copy, 300)
    with _cli("index", "--rebuild", "--seeds", str(seeds_copy), "--index", str(index)) as rebuild:
        deadline = time.monotonic() + 60
        while not list(index.glob("gen-*.tmp")) and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.5)
        assert rebuild.poll() is None, "the rebuild ended before it could be killed"
        rebuild.send_signal(signal.SIGKILL)
        rebuild.wait()
    assert list(index.glob("gen-*.tmp"))  # killed midway: the half-built generation is there
    after = search(index, q="碳排量双控")
    assert (after["total"], after["generation"]) == (before["total"], before["generation"])
    with _cli("index", "--seeds", str(seeds_copy), "--index", str(index)) as finished:
        out, err = finished.communicate(timeout=300)
    assert finished.returncode == 0, err
    assert not list(index.glob("gen-*.tmp"))
    assert search(index)["total"] == 13 * 301


def test_cli_index_reports_lock_conflicts_without_a_traceback(runner, seeds_copy, tmp_path):
    index = tmp_path / "index"
    update_index(seeds_copy, index)
    with writer_lock(index):
        run = runner.invoke(["index", "--seeds", str(seeds_copy), "--index", str(index)])
    assert run.exit_code == 1
    assert "Error: another indexer" in run.stderr and "Traceback" not in run.output
    assert (
        json.loads((current_generation(index) / MANIFEST_FILE).read_text())["version"]
        == MANIFEST_VERSION
    )


def test_index_keeps_one_compressed_record_in_separate_segment_files(seeds_copy, tmp_path):
    index = tmp_path / "index"
    update_index(seeds_copy, index, vectors="skip")
    generation = current_generation(index)
    assert not list(generation.glob("*.seg"))  # no compound segment: read through the page cache
    assert list(generation.glob("*.pst"))
    ix, _ = open_index(index)
    try:
        with ix.reader() as reader:
            stored = reader.stored_fields(0)
            assert list(stored) == ["record"] and isinstance(stored["record"], bytes)
            record = unpack(stored["record"])
            assert "raw" not in record and record["id"] == entry_id(1, 1)
            # numbers are plain columns: no many-tiered terms for them in the term index
            assert {field for field, _ in reader.all_terms()} == {
                "content", "doc_type", "id", "issuer", "kind", "meta", "node_type",
                "region", "sector", "source_file", "status", "title", "title_exact", "year_word",
            }  # fmt: skip
            assert reader.has_column("date") and reader.has_column("vkey")
    finally:
        ix.close()


def test_facet_columns_of_unchanged_segments_are_reused_after_an_update(seeds_copy, tmp_path):
    index = tmp_path / "index"
    update_index(seeds_copy, index, vectors="skip")
    with SearchIndex(index) as engine:
        _, before = engine.searcher()
        (seeds_copy / "tianjin.md").write_bytes(
            (WEB_FIXTURES / "tianjin-port-key-nodes.md").read_bytes()
        )
        update_index(seeds_copy, index, vectors="skip")
        _, after = engine.searcher()
        assert after.label != before.label
        kept = set(before.columns.segments) & set(after.columns.segments)
        assert len(kept) == 1 and len(after.columns.segments) == 2
        (segment,) = kept
        assert after.columns.segments[segment] is before.columns.segments[segment]
        assert int(after.columns.live.sum()) == 14
        counts = engine.search(SearchRequest(region=("天津市",)))["facets"]["region"]
        assert {c["value"]: c["count"] for c in counts} == {"北京市": 13, "天津市": 1}


def test_an_undated_index_gaining_dated_records_keeps_answering(tmp_path):
    # a segment whose records have no date has no date column: its records read as undated
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "undated.md").write_text("# 无日期的文件\n\n关于节能的说明。\n", encoding="utf-8")
    index = tmp_path / "index"
    update_index(seeds, index, vectors="skip")
    (seeds / "seed.md").write_bytes(SEED_FILE.read_bytes())
    update_index(seeds, index, vectors="skip")
    with SearchIndex(index) as engine:
        result = engine.search(SearchRequest(sort="date", per_page=100))
        assert result["total"] == 14
        assert result["hits"][-1]["title"] == "无日期的文件"  # undated last, either way
        assert result["hits"][0]["date"] == "2013"
        years = {f["value"]: f["count"] for f in result["facets"]["year"]}
        assert sum(years.values()) == 13


def test_pooled_writer_writes_the_segment_whoosh_writes(tmp_path):
    # the same documents through Whoosh's own writer and ours: every segment file byte for byte
    from whoosh import index as whoosh_index

    from search._whoosh import PooledWriter
    from search.documents import read_file
    from search.indexer import record_document
    from search.schema import PolicySchema

    documents = []
    for path in [SEED_FILE, *sorted(WEB_FIXTURES.glob("*.md"))]:
        records, _ = read_file(path, path.parent)
        documents += [record_document(r) for r in records]
    for document in documents:
        document.pop("_pairs")
    # copies under other ids: common words then have postings over several 128-posting blocks
    documents += [
        {**document, "id": f"{document['id']}-copy{n}"} for n in range(12) for document in documents
    ]
    assert len(documents) > 200

    def build(name, writer_of):
        folder = tmp_path / name
        folder.mkdir()
        ix = whoosh_index.create_in(str(folder), PolicySchema())
        writer = writer_of(ix)
        for document in documents:
            writer.add_document(**document)
        writer.commit(merge=False)
        ix.close()
        return {
            p.name.split(".", 1)[1]: p.read_bytes()
            for p in folder.iterdir()
            if p.name.startswith("MAIN_") and "." in p.name
        }

    theirs = build("whoosh", lambda ix: ix.writer(compound=False))

    def pooled(ix):
        writer = PooledWriter(ix, compound=False)
        assert writer._plain_schema  # our schema takes the writer's own add_document
        return writer

    ours = build("pooled", pooled)
    assert {"pst", "trm", "_content_len.col", "_stored.col"} <= set(theirs)
    assert len(theirs["pst"]) > 10_000
    assert sorted(ours) == sorted(theirs)
    for extension, data in theirs.items():
        assert ours[extension] == data, extension


def test_a_build_in_several_segments_answers_as_one_segment(seeds_copy, tmp_path, monkeypatch):
    # a full build commits a segment per SEGMENT_BYTES of Markdown: the same answers, to the score
    from search import indexer

    for fixture in sorted(WEB_FIXTURES.glob("*.md")):
        (seeds_copy / fixture.name).write_bytes(fixture.read_bytes())
    whole = update_index(seeds_copy, tmp_path / "whole", vectors="skip")
    monkeypatch.setattr(indexer, "SEGMENT_BYTES", 1)
    parts = update_index(seeds_copy, tmp_path / "parts", vectors="skip")
    assert whole.records == parts.records > 13
    segments = {}
    for name in ("whole", "parts"):
        with SearchIndex(tmp_path / name) as engine:
            searcher, _ = engine.searcher()
            segments[name] = len(searcher.reader().leaf_readers())
    assert segments == {"whole": 1, "parts": 3}
    for query in ("碳中和", "岸电 港口", "北京如何推动工业领域的碳排放双控？", "year:2021"):
        answers = [search(tmp_path / name, q=query, per_page=50) for name in ("whole", "parts")]
        assert answers[0]["total"] == answers[1]["total"] > 0, query
        assert [(h["id"], h["score"]) for h in answers[0]["hits"]] == [
            (h["id"], h["score"]) for h in answers[1]["hits"]
        ], query
        assert answers[0]["facets"] == answers[1]["facets"], query


def test_saved_segment_columns_are_the_columns_whoosh_holds(seeds_copy, tmp_path):
    # each segment's facet columns, numbers, lengths and vector keys are saved beside it after
    # its commit; read from there, they equal what stepping through Whoosh's columns gives
    from search import facets, segment_columns
    from search.segments import column_arrays

    for fixture in sorted(WEB_FIXTURES.glob("*.md")):
        (seeds_copy / fixture.name).write_bytes(fixture.read_bytes())
    index = tmp_path / "index"
    update_index(seeds_copy, index, vectors="skip")
    (seeds_copy / "xss-entries.md").unlink()
    update_index(seeds_copy, index, vectors="skip")  # a segment with deletions is kept
    ix, _ = open_index(index)
    try:
        with ix.reader() as reader:
            for leaf, _ in reader.leaf_readers():
                saved = segment_columns.load(leaf)
                assert saved is not None
                expected = facets._Segment(leaf).arrays()  # read from the saved file
                segment_columns.path_of(leaf).unlink()
                assert segment_columns.load(leaf) is None
                computed = column_arrays(leaf)  # read from Whoosh's columns
                assert sorted(saved) == sorted(computed)
                assert {"codes_issuer", "number_date", "length_content", "vkey"} <= set(saved)
                for name, array in computed.items():
                    assert np.array_equal(saved[name], array), name
                    if name in expected:
                        assert np.array_equal(expected[name], array), name
    finally:
        ix.close()


def test_health_facts_follow_the_manifest_written_after_its_commit(seeds_copy, tmp_path):
    # the indexer writes the manifest just after its commit: a reader that saw the commit first
    # must not keep the previous manifest's warnings for the rest of that commit
    index = tmp_path / "index"
    update_index(seeds_copy, index, vectors="skip")
    with SearchIndex(index) as engine:
        (before,) = engine.changes()["warning_files"]  # the seed ends mid-entry
        assert (before["codes"], before["error"]) == (["nodes_missing", "truncated"], None)
        manifest_path = current_generation(index) / MANIFEST_FILE
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        (entry,) = manifest["files"].values()
        entry["error"] = "not a text file (written by this test)"
        time.sleep(0.01)
        manifest_path.write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
        (problem,) = engine.changes()["warning_files"]
        assert problem["error"] == "not a text file (written by this test)"


def test_index_uses_the_issuers_file_on_disk(seeds_copy, tmp_path, monkeypatch):
    """An indexer in a long-running process (the watcher, which serves no request that would
    look at the data files) indexes with the issuers table edited since it started."""
    assert canonical_issuer("Asia Financial") == "Asia Financial"  # the table is loaded
    data = tmp_path / "data"
    data.mkdir()
    override = data / "issuers.txt"
    override.write_text(ISSUERS_FILE.read_text(encoding="utf-8") + "\n亚洲金融 = Asia Financial\n")
    monkeypatch.setenv("POLICY_SEARCH_DATA", str(data))
    index = tmp_path / "index"
    try:
        update_index(seeds_copy, index)
        with SearchIndex(index) as engine:
            facet = engine.search(SearchRequest(per_page=1))["facets"]["issuer"]
    finally:
        monkeypatch.delenv("POLICY_SEARCH_DATA")
        analysis.refresh_data(force=True)
    assert {value["value"]: value["count"] for value in facet} == {
        "北京市人民政府": 4,
        "北京市发展和改革委员会": 3,
        "亚洲金融": 1,
        "国家电投集团产融控股股份有限公司年度报告": 1,
    }


def test_a_rebuild_for_an_edited_dictionary_leaves_searches_their_dictionary(
    seeds_copy, tmp_path, monkeypatch
):
    """A process that both indexes and serves (the watcher in a one-process server): while it
    rebuilds for an edited dictionary, its searches of the generation still served segment with
    the dictionary that built it; they take the new one when the rebuilt generation is current."""
    index = tmp_path / "index"
    update_index(seeds_copy, index, vectors="skip")
    data = tmp_path / "data"
    data.mkdir()
    dictionary = analysis.DICTIONARY_FILE.read_text(encoding="utf-8") + "\n排水集团碳 100 n\n"
    (data / "dictionary.txt").write_text(dictionary, encoding="utf-8")
    phrase = SearchRequest(q='"排水集团碳中和"')
    drainage = [entry_id(5, 1)]
    during: list[tuple[list[str], list[str]]] = []

    def hits() -> list[str]:
        return [hit["id"] for hit in engine.search(phrase)["hits"]]

    def serve_a_search(done: int, total: int, path: str) -> None:
        # from another thread, as a request would be: the indexer's own thread is this one
        words = server.submit(analysis.query_words, "排水集团碳中和").result()
        during.append((words, server.submit(hits).result()))

    with SearchIndex(index) as engine, ThreadPoolExecutor(1) as server:
        assert hits() == drainage
        monkeypatch.setenv("POLICY_SEARCH_DATA", str(data))
        try:
            result = update_index(seeds_copy, index, progress=serve_a_search, vectors="skip")
            assert result.rebuilt
            assert during == [(["排水", "集团", "碳中和"], drainage)]
            built_with = json.loads((current_generation(index) / MANIFEST_FILE).read_text())
            assert built_with["dictionary"] == analysis.dictionary_file_hash()
            watch.follow_data_files(index, force=True)  # what each request does first
            assert server.submit(analysis.query_words, "排水集团碳中和").result() == [
                "排水集团碳",
                "中",
                "和",
            ]
            assert server.submit(hits).result() == drainage  # the new words, the new index
        finally:
            monkeypatch.delenv("POLICY_SEARCH_DATA")
            analysis.reload_segmenter()
    assert analysis.query_words("排水集团碳中和") == ["排水", "集团", "碳中和"]


# -- an index that lives for months: deleted documents and superseded generations


def numbered_compilation(number: int, edit: int = 0) -> str:
    """NEW_COMPILATION as a file of its own: its title numbered, its content at edit `edit`."""
    return NEW_COMPILATION.replace(
        "上海市氢燃料电池汽车推广方案", f"上海市氢燃料电池汽车推广方案 第{number}号"
    ).replace("建设加氢站网络", f"建设加氢站网络 第{edit}次修订")


def stored_records(generation: Path) -> dict[str, dict]:
    """Every live record of a generation by id, as stored."""
    ix = whoosh_index.open_dir(str(generation))
    try:
        with ix.searcher() as searcher:
            found = [unpack(fields["record"], calendar=False) for fields in searcher.documents()]
    finally:
        ix.close()
    return {record["id"]: record for record in found}


def deleted_fractions(generation: Path) -> list[float]:
    """Each segment's deleted documents as a fraction of its documents."""
    ix = whoosh_index.open_dir(str(generation))
    try:
        with ix.reader() as reader:
            return [
                1 - leaf.doc_count() / leaf.doc_count_all()
                for leaf, _ in reader.leaf_readers()
                if leaf.doc_count_all()
            ]
    finally:
        ix.close()


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.iterdir() if path.is_file())


def test_edits_and_deletions_never_leave_a_quarter_of_a_segment_deleted(tmp_path):
    """A server that runs for months edits and deletes records that sit in the build's big
    segment, which Whoosh's own merge policy never merges: without a merge of its own, the
    generation grew by every record ever edited. No segment keeps a quarter of its documents
    deleted after any commit, and the index holds what a fresh build of the same files holds."""
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for number in range(60):
        (seeds / f"n{number:03d}.md").write_text(numbered_compilation(number), encoding="utf-8")
    index = tmp_path / "index"
    update_index(seeds, index, vectors="skip")
    generation = index / "gen-000001"
    worst = []
    for step in range(1, 31):
        # two edits of the build's files, one deletion and one new file a commit
        for number in (step % 60, (step * 7) % 60):
            path = seeds / f"n{number:03d}.md"
            if path.exists():
                path.write_text(numbered_compilation(number, step), encoding="utf-8")
        (seeds / f"n{(step * 13 + 5) % 60:03d}.md").unlink(missing_ok=True)
        (seeds / f"new{step:03d}.md").write_text(numbered_compilation(100 + step), "utf-8")
        result = update_index(seeds, index, vectors="skip")
        assert not result.rebuilt
        fractions = deleted_fractions(generation)
        worst.append(max(fractions))
        assert all(fraction < 0.25 for fraction in fractions), (step, fractions)
    assert max(worst) > 0  # deletions were kept for a while: not one merge a commit
    fresh = tmp_path / "fresh"
    update_index(seeds, fresh, vectors="skip")
    assert stored_records(generation) == stored_records(fresh / "gen-000001")
    assert len(stored_records(generation)) == len(list(seeds.glob("*.md")))
    # the merged segments' pairs, posting arrays and columns answer as the fresh build's do
    for q in ("第7次修订", "加氢站网络第12次修订是什么", ""):
        merged, built = search(index, q=q, per_page=100), search(fresh, q=q, per_page=100)
        assert merged["total"] > 0
        assert (merged["total"], merged["facets"]) == (built["total"], built["facets"])
        assert {h["id"] for h in merged["hits"]} == {h["id"] for h in built["hits"]}
    # the few small segments Whoosh's policy leaves cost more than their records at this size
    # (without the merges: 2.3 times the fresh build's bytes)
    assert folder_bytes(generation) < 2 * folder_bytes(fresh / "gen-000001")


def test_a_superseded_generation_is_removed_by_an_update_after_its_grace(seeds_copy, tmp_path):
    """The generation before a rebuild was kept until the next rebuild (26 MB for the whole of
    a soak): an update once it has been superseded for the grace period removes it; before
    that, readers that found it current just before the swap may still be opening it. A
    searcher that opened it before its removal keeps answering (POSIX: its files stay open)."""
    index = tmp_path / "index"
    update_index(seeds_copy, index, vectors="skip")
    with SearchIndex(index) as engine:
        expected = sorted(hit["id"] for hit in engine.search(SearchRequest(per_page=50))["hits"])
    assert len(expected) == 13
    old = CurrentIndex(index, BM25F)
    try:
        searcher, _ = old.searcher()
        update_index(seeds_copy, index, rebuild=True, vectors="skip")
        update_index(seeds_copy, index, vectors="skip")  # within the grace: kept
        assert sorted(p.name for p in index.iterdir() if p.is_dir()) == [
            "gen-000001",
            "gen-000002",
        ]
        superseded = time.time() - 10 * 60
        os.utime(index / CURRENT_FILE, (superseded, superseded))
        result = update_index(seeds_copy, index, vectors="skip")
        assert (result.rebuilt, result.files_read) == (False, 0)
        assert sorted(p.name for p in index.iterdir() if p.is_dir()) == ["gen-000002"]
        # the searcher of the removed generation still reads its postings and stored records
        hits = searcher.search(wq.Term("source_file", SEED_FILE.name), limit=None)
        assert sorted(unpack(hit["record"])["id"] for hit in hits) == expected
        assert searcher.doc_count() == 13
    finally:
        old.close()
    assert search(index, per_page=50)["total"] == 13


def merged_issuers_table() -> str:
    """The packaged issuers table with 北京市发展和改革委员会 and its aliases made aliases of
    北京市人民政府: two bodies' records become one body's."""
    lines = ISSUERS_FILE.read_text(encoding="utf-8").splitlines()
    (merged,) = [line for line in lines if line.startswith("北京市发展和改革委员会 =")]
    lines.remove(merged)
    (kept,) = [n for n, line in enumerate(lines) if line.startswith("北京市人民政府 =")]
    lines[kept] += " = " + merged
    return "\n".join(lines) + "\n"


def test_index_rebuilds_when_the_issuers_table_changed(seeds_copy, tmp_path, monkeypatch):
    """Records carry the canonical issuer of the table they were indexed with: after an edit of
    issuers.txt, `index` rebuilds (the manifest records the table's hash), so a server without
    the watcher gets the merged names at its next `index`; an edit that leaves the table as it
    was (a comment) rebuilds nothing."""
    data = tmp_path / "data"
    data.mkdir()
    override = data / "issuers.txt"
    shutil.copy(ISSUERS_FILE, override)
    monkeypatch.setenv("POLICY_SEARCH_DATA", str(data))
    index = tmp_path / "index"
    try:
        update_index(seeds_copy, index, vectors="skip")
        with open(override, "a", encoding="utf-8") as handle:
            handle.write("\n# a comment: the same table\n")
        assert update_index(seeds_copy, index, vectors="skip").rebuilt is False
        override.write_text(merged_issuers_table(), encoding="utf-8")
        result = update_index(seeds_copy, index, vectors="skip")
        with SearchIndex(index) as engine:
            facet = engine.search(SearchRequest(per_page=1))["facets"]["issuer"]
        again = update_index(seeds_copy, index, vectors="skip")
    finally:
        monkeypatch.delenv("POLICY_SEARCH_DATA")
        analysis.refresh_data(force=True)
    assert (result.rebuilt, result.generation) == (True, "2.1")
    assert result.notices == [f"the issuers table {override} changed; rebuilding the whole index"]
    assert {value["value"]: value["count"] for value in facet} == {
        "北京市人民政府": 7,
        "Asia Financial": 1,
        "国家电投集团产融控股股份有限公司年度报告": 1,
    }
    assert again.rebuilt is False
