"""The speed benchmark (bench/) at its smallest: the corpus it writes reads back through our ingest
with the facets it was meant to carry, and a whole run on a tiny corpus cut from the shared one
produces every table of the report. Timings are never asserted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import SHARED

from bench import corpus as bench_corpus
from bench import speed
from bench.api_snapshot import differences
from search.documents import parse_text

CORPUS = SHARED / "corpus"
STARD = SHARED / "eval" / "stard"
LAWS = ("碳排放权交易管理暂行条例", "节约能源法", "可再生能源法", "大气污染防治法")


LAW = "中华人民共和国节约能源法"


def article(number: str, content: str, chapter: str, title: str = LAW) -> bench_corpus.Entry:
    return bench_corpus.Entry(
        title=f"{title} {number}",
        date="2021-12-24",
        issuer="全国人民代表大会常务委员会",
        content=content,
        section=chapter,
    )


def test_api_snapshot_names_each_difference_and_key_order():
    before = {"search": {"total": 2, "hits": [{"id": "a"}, {"id": "b"}]}, "took": 1}
    after = {"search": {"hits": [{"id": "a"}, {"id": "c"}], "total": 2}, "took": 1}
    assert differences(before, after) == [
        "/search: keys ['total', 'hits'] != ['hits', 'total']",
        "/search/hits[1]/id: 'b' != 'c'",
    ]
    assert differences(before, before) == []


def test_corpus_law_compilation_reads_back_as_entries_with_facets():
    general, management = "第一章 总则", "第二章 节能管理"
    law = bench_corpus.Unit(
        path="laws/经济法/节约能源法(2018-10-26).md",
        kind="compilation",
        title=LAW,
        region="全国",
        sector="经济法",
        node_type="法律",
        confidence=0.95,
        date="2018-10-26",
        issuer="全国人民代表大会常务委员会",
        nodes=[
            bench_corpus.Node(
                general,
                [
                    article("第一条", "为了推动全社会节约能源。", general),
                    article("第二条", "本法所称能源。", general),
                ],
            ),
            bench_corpus.Node(management, [article("第十条", "国务院管理节能工作。", management)]),
        ],
    )
    records, report = parse_text(bench_corpus.render(law), law.path)
    assert report.warnings == []
    assert [(r.title, r.content, r.node_index, r.entry_index) for r in records] == [
        ("中华人民共和国节约能源法 第一条", "为了推动全社会节约能源。", 1, 1),
        ("中华人民共和国节约能源法 第二条", "本法所称能源。", 1, 2),
        ("中华人民共和国节约能源法 第十条", "国务院管理节能工作。", 2, 1),
    ]
    first = records[0]
    assert (first.issuer, first.date, first.region, first.sector) == (
        "全国人民代表大会常务委员会",
        "2021-12-24",
        "全国",
        "经济法",
    )
    assert (first.node_type, first.confidence, first.extra) == ("法律", 0.95, {"章节": general})


def test_corpus_notice_reads_back_as_one_document():
    notice = bench_corpus.Unit(
        path="mee/2024/abc.md",
        kind="document",
        title="关于发布排污许可证申请与核发技术规范的公告",
        region="全国",
        sector="生态环境",
        node_type="公告通知",
        confidence=None,
        date="2024-03-01",
        issuer="生态环境部",
        doc_number="公告2024年第5号",
        url="https://www.mee.gov.cn/example.html",
        body="为贯彻《中华人民共和国环境保护法》，现发布排污许可技术规范。",
    )
    records, report = parse_text(bench_corpus.render(notice), notice.path)
    assert report.warnings == []
    [record] = records
    assert (record.kind, record.title, record.issuer, record.doc_number, record.date) == (
        "document",
        "关于发布排污许可证申请与核发技术规范的公告",
        "生态环境部",
        "公告2024年第5号",
        "2024-03-01",
    )
    assert record.content == "为贯彻《中华人民共和国环境保护法》，现发布排污许可技术规范。"


def test_corpus_select_cuts_the_last_compilation_to_the_size():
    def law(name: str, articles: int) -> bench_corpus.Unit:
        entries = [article(f"第{i}条", "内容。", "", title=name) for i in range(articles)]
        return bench_corpus.Unit(
            path=f"laws/{name}.md",
            kind="compilation",
            title=name,
            region="全国",
            sector="经济法",
            node_type="法律",
            confidence=0.95,
            date=None,
            nodes=[bench_corpus.Node("正文", entries)],
        )

    chosen = bench_corpus.select([law("甲", 3), law("乙", 5), law("丙", 4)], 6)
    assert [(u.title, u.records) for u in chosen] == [("甲", 3), ("乙", 3)]


def test_speed_percentile_and_spread():
    assert speed.percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0
    assert speed.percentile([1.0, 2.0], 95) == pytest.approx(1.95)
    assert speed.median_spread([3.0, 1.0, 2.0]) == {"n": 3, "median": 2.0, "low": 1.0, "high": 3.0}
    assert speed.parse_sizes("max,1000,10k") == [1000, 10_000, None]


@pytest.fixture
def tiny_corpus(tmp_path) -> Path:
    """A few energy laws, notices and reports of the shared corpus, in its own layout."""
    if not (CORPUS / "laws").is_dir():
        pytest.skip("the shared corpus (../shared/corpus) is not here")
    folder = tmp_path / "corpus"
    for name in LAWS:
        for path in (CORPUS / "laws").glob(f"*/{name}*.md"):
            target = folder / path.relative_to(CORPUS)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
    for name, lines in (("mee_policy_docs.jsonl", 10), ("gov_reports_2026.jsonl", 1)):
        with open(CORPUS / name, encoding="utf-8") as handle:
            kept = [next(handle) for _ in range(lines)]
        (folder / name).write_text("".join(kept), encoding="utf-8")
    return folder


@pytest.mark.timeout(120)
def test_speed_run_writes_every_table(tiny_corpus, tmp_path):
    report = tmp_path / "benchmarks.md"
    options = speed.Options(
        corpus=tiny_corpus,
        eval=STARD,
        sizes=[200],
        out=tmp_path / "out",
        report=report,
        quick=True,
        questions=10,
        repeats=1,
        build_repeats=1,
        http_seconds=0.5,
        profile=False,
    )
    results = speed.run(options, "bench/run (smoke)", log=lambda message: None)

    [size] = results["sizes"]
    assert size["label"] == "200"
    assert size["corpus"]["indexed"] == 200
    engines = ["ours", "sqlite"] + (["tantivy"] if speed.available("tantivy") else [])
    assert list(size["cold"]) == engines
    assert set(size["build"]) == {"ours", "prepare", *engines}
    sets = ["keyword", "filtered", "typos"] + (["questions"] if STARD.is_dir() else [])
    assert sorted(size["queries"]) == sorted(sets)
    for name in sets:
        assert list(size["queries"][name]) == engines
        # the baselines answer the same queries with the same totals as ours (not questions:
        # ours also matches the records nearest a question in meaning)
        agreement = size["agreement"][name]
        if name != "questions":
            assert all(agreement[e] == agreement["queries"] for e in engines[1:])
    servers = ["ours"] + (["datasette"] if speed.available("datasette") else [])
    assert list(size["http"]) == servers
    for server in servers:
        assert [run["clients"] for run in size["http"][server]["load"]] == [1, 4, 16]
        assert all(run["errors"] == 0 for run in size["http"][server]["load"])
    assert size["incremental"]["add"]["n"] == 1

    saved = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    assert saved["sizes"][0]["corpus"] == size["corpus"]
    text = report.read_text(encoding="utf-8")
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings == [
        "## Machine",
        "## Corpus",
        "## Targets at the largest size",
        "## Index build",
        "## Incremental add and cold start",
        "## Query latency in process",
        "## Over HTTP (200)",
        "## Fixes made from the profiles",
        "## Notes on fairness",
    ]
