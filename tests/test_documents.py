"""Ingest: the seed compilation, hand-written fixtures, byte-level variants and the law corpus."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import asdict
from pathlib import Path

import pytest
from conftest import entry_id
from hypothesis import given, settings
from hypothesis import strategies as st

from search.documents import find_markdown_files, ingest_paths, parse_text, read_file
from search.indexer import update_index
from search.query import SearchIndex
from search.records import Dates, FileReport, IngestWarning, Record, Source, file_key
from search.request import SearchRequest

SEEDS = Path(__file__).parent.parent / "seeds"
SEED_FILE = SEEDS / "beijing-industry-carbon-key-nodes.md"
FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
LAWS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "laws"
ID = re.compile(r"^[0-9a-z-]+$")

SEED_COMPILATION = "北京市 工业领域 碳排量关键节点政策与事件汇编"
ENERGY_PLAN = '北京市"十四五"阶段能源发展计划'
ENERGY_PLAN_DIGEST = hashlib.sha1(f"2020-04-15\n{ENERGY_PLAN}".encode()).hexdigest()[:8]
ENERGY_PLAN_SOURCE = Source(
    "北京市发展改革委",
    "https://fgw.beijing.gov.cn/fgwzwgk/2024zcwj/ghjhwb/wngh/202204/W020240628797068019955.pdf",
)


def read_fixture(name: str) -> tuple[list[Record], FileReport]:
    return read_file(FIXTURES / name, FIXTURES)


def codes(report: FileReport) -> list[tuple[str, int | None]]:
    return [(warning.code, warning.line) for warning in report.warnings]


def without_raw(record: Record) -> dict:
    fields = record.to_dict()
    del fields["raw"]
    return fields


def entry(**fields) -> dict:
    """The dict of an entry record: defaults for every field not given."""
    defaults = Record(id="", kind="entry", source_file="", title="").to_dict()
    del defaults["raw"]
    return defaults | fields


@pytest.fixture(scope="module")
def seed() -> tuple[list[Record], FileReport]:
    return read_file(SEED_FILE, SEEDS)


def by_title(records: list[Record], title: str) -> Record:
    (found,) = [record for record in records if record.title == title]
    return found


# ---------------------------------------------------------------------------------------------
# The seed


def test_read_file_seed_titles_in_order(seed):
    records, report = seed
    assert report.records == len(records) == 13
    assert [record.title for record in records] == [
        ENERGY_PLAN,
        ENERGY_PLAN,
        ENERGY_PLAN,
        "北京市政府工作报告中提出的能源消耗强度降低指标",
        "北京市碳排量权交易市场运作",
        "北京市2021年政府工作报告中关于碳排量的举措",
        "国家电投集团产融控股股份有限公司技术改造项目",
        "北京排水集团发布《北京排水集团碳中和规划》和《北京排水集团碳中和实施方案》",
        "北京国有企业绿色低碳发展行动计划",
        "北京冬奥会期间污染工厂停工",
        "北京丰台站开通运营",
        "大兴国际氢能示范区起步区北区全面投运、南区一期建成",
        "中关村科幻产业创新中心揭牌",
    ]


def test_read_file_seed_first_entry_whole(seed):
    records, _ = seed
    assert without_raw(records[0]) == entry(
        id=f"{file_key('beijing-industry-carbon-key-nodes.md')}-n20200415-e{ENERGY_PLAN_DIGEST}",
        source_file="beijing-industry-carbon-key-nodes.md",
        title=ENERGY_PLAN,
        content="采取多项举措达成能源结构优化的新进展和能源使用效能的持续领跑。具体涵盖煤炭产能的压缩、"
        "煤炭消耗量的显著降低、清洁能源占比的提高、机动车排放的缩减和新能源车数量的增长、节能降耗成果突出、"
        "环保建筑和节能方案的推广、绿色出行比例的上升等。",
        issuer="北京市发展改革委",
        date_text="2020年4月",
        date="2020-04",
        date_precision="month",
        node_date="2020-04-15",
        node_type="季节性",
        confidence=0.58,
        region="北京市",
        sector="工业领域",
        compilation=SEED_COMPILATION,
        analysis_time="2025-05-01 16:56:12",
        node_index=1,
        entry_index=1,
        sources=[asdict(ENERGY_PLAN_SOURCE)],
    )


def test_read_file_seed_first_node_entries(seed):
    records, _ = seed
    first_node = [record for record in records if record.node_date == "2020-04-15"]
    assert [
        (r.issuer, r.issuer_derived, r.date_text, r.date, r.date_precision, r.confidence)
        for r in first_node
    ] == [("北京市发展改革委", False, "2020年4月", "2020-04", "month", 0.58)] * 3
    assert {r.node_type for r in first_node} == {"季节性"}
    assert [r.entry_index for r in first_node] == [1, 2, 3]


def test_read_file_seed_drainage_entry_has_day_date_and_place(seed):
    records, _ = seed
    drainage = by_title(
        records, "北京排水集团发布《北京排水集团碳中和规划》和《北京排水集团碳中和实施方案》"
    )
    assert (drainage.date_text, drainage.date, drainage.date_precision) == (
        "2021年6月25日",
        "2021-06-25",
        "day",
    )
    assert drainage.place == "北京市"
    assert (drainage.issuer, drainage.issuer_derived) == ("北京市人民政府", True)
    assert drainage.node_date == "2021-06-01"


def test_read_file_seed_last_entry_kept_truncated(seed):
    records, report = seed
    last = records[-1]
    assert last.title == "中关村科幻产业创新中心揭牌"
    assert (
        last.content
        == "该中心的揭牌将推动科技创新，促进绿色低碳技术的发展，有助于降低工业领域的碳排量。"
    )
    assert (last.date, last.place, last.truncated, last.sources) == ("2023", "北京市", True, [])
    assert last.raw.endswith("**数据来源链接**：[北京市")
    assert [r.title for r in records if r.truncated] == ["中关村科幻产业创新中心揭牌"]
    assert ("truncated", 110) in codes(report)


def test_read_file_seed_report_declared_and_found_nodes(seed):
    _, report = seed
    assert (report.declared_nodes, report.found_nodes, report.error) == (10, 7, None)
    assert report.warnings == [
        IngestWarning("nodes_missing", "10 key nodes declared but 7 found", 4),
        IngestWarning(
            "truncated", "the file seems cut short: the last entry ends in an unclosed link", 110
        ),
    ]


def test_read_file_seed_inline_source_links(seed):
    records, _ = seed
    node = [record for record in records if record.node_date == "2021-03-31"]
    assert [record.sources for record in node] == [
        [Source("来源", "https://www.beijing.gov.cn/ywdt/gzdt/202311/t20231128_3311333.html")],
        [Source("来源", "https://news.bjx.com.cn/html/20210201/1133777.shtml")],
    ]
    # The link is in sources; a label that names nothing (来源) leaves the text with its syntax.
    assert node[0].content.endswith("显著优于全市平均水平。")
    assert node[1].content.endswith("提升清洁能源占比。")
    assert "](" not in node[0].content
    # 来源 is no publisher.
    assert [record.issuer for record in node] == [None, None]
    assert (node[0].date_text, node[0].date, node[0].scale) == (
        "2013年启动至今",
        "2013",
        "覆盖近1300家单位，碳排量总量占全市半数以上",
    )


def test_read_file_seed_url_label_gives_no_issuer(seed):
    records, _ = seed
    (record,) = [record for record in records if record.node_date == "2021-03-01"]
    url = "http://en.people.cn/n3/2021/0305/c90000-9825065.html"
    assert record.sources == [Source(url, url)]
    assert (record.issuer, record.issuer_derived) == (None, False)
    assert record.raw == (
        "1. **事件名称**：北京市政府工作报告中提出的能源消耗强度降低指标\n"
        "**发生时间**：2021年3月\n"
        "**地点**：北京市\n"
        "**范围和效应**：依据政府工作报告，中国计划在2021年将单位国内生产总值(GDP)的能源消耗缩减约3%。"
        "这一指标旨在通过提升能源效能来降低碳排量，对北京市的工业领域碳排量产生直接影响。\n"
        f"**数据来源链接**：[{url}]({url})"
    )


def test_read_file_seed_hard_break_lines(seed):
    records, _ = seed
    (record,) = [record for record in records if record.node_date == "2021-04-30"]
    assert (record.date, record.place) == ("2023", "全国")
    assert record.content.startswith("通过锅炉现阶段煤种燃烧适应性调整试验")
    assert record.content.endswith("减排二氧化碳7300吨。")


def test_read_file_seed_ids_stable_and_unique(seed):
    records, _ = seed
    again, _ = read_file(SEED_FILE, SEEDS)
    ids = [record.id for record in records]
    assert ids == [record.id for record in again]
    assert len(set(ids)) == len(ids)
    assert all(ID.match(record_id) for record_id in ids)
    # <file key>-n<node date>-e<sha1 of the node date and the title>, numbered from the second
    # entry of one title in a node on
    key = file_key("beijing-industry-carbon-key-nodes.md")
    event = "2021-03-01\n北京市政府工作报告中提出的能源消耗强度降低指标"
    assert ids[:4] == [
        f"{key}-n20200415-e{ENERGY_PLAN_DIGEST}",
        f"{key}-n20200415-e{ENERGY_PLAN_DIGEST}-2",
        f"{key}-n20200415-e{ENERGY_PLAN_DIGEST}-3",
        f"{key}-n20210301-e{hashlib.sha1(event.encode()).hexdigest()[:8]}",
    ]


def compilation_text(nodes: list[tuple[str, list[str]]]) -> str:
    """A key-node compilation of the given nodes (date, entry titles), entries numbered 1, 2, ..."""
    text = "# 上海市 交通领域 碳排量关键节点政策与事件汇编\n\n分析时间: 2025-06-01 10:00:00\n"
    for date, titles in nodes:
        text += f"\n## 关键节点: {date} (政策) - 可信度: 0.7\n\n"
        for number, title in enumerate(titles, 1):
            text += f"{number}. **{title}**\n   - **颁布日期**: {date}\n"
            text += "   - **颁布单位**: 上海市人民政府\n\n"
    return text


def ids_by_title(text: str) -> list[tuple[str, str]]:
    records, report = parse_text(text, "shanghai.md")
    assert report.warnings == []
    return [(record.title, record.id) for record in records]


def test_compilation_entry_ids_survive_an_insertion_above_them():
    """A bookmark or a feed id names the same entry after entries (or a key node) are inserted
    above it: each id comes from the entry's node date and title, not from its position."""
    nodes = [
        ("2024-01-10", ["上海市氢能推广方案", "上海港岸电设施投运", "上海市公交电动化计划"]),
        ("2024-03-01", ["上海市碳普惠办法", "上海港岸电设施投运"]),
    ]
    before = ids_by_title(compilation_text(nodes))
    inserted = [
        ("2023-12-01", ["上海市交通碳达峰方案"]),  # a whole key node above the others
        ("2024-01-10", ["上海市新能源车补贴细则", *nodes[0][1]]),  # an entry at a node's top
        ("2024-03-01", ["上海市碳排放交易规则", *nodes[1][1]]),
    ]
    after = ids_by_title(compilation_text(inserted))
    new_titles = {"上海市交通碳达峰方案", "上海市新能源车补贴细则", "上海市碳排放交易规则"}
    assert [(title, id_) for title, id_ in after if title not in new_titles] == before
    assert len({id_ for _, id_ in after}) == len(after) == 8


def test_compilation_entry_ids_number_only_exact_duplicates():
    key = file_key("shanghai.md")
    same = ["上海港岸电设施投运", "上海港岸电设施投运"]
    digest = hashlib.sha1("2024-01-10\n上海港岸电设施投运".encode()).hexdigest()[:8]
    assert ids_by_title(compilation_text([("2024-01-10", same)])) == [
        ("上海港岸电设施投运", f"{key}-n20240110-e{digest}"),
        ("上海港岸电设施投运", f"{key}-n20240110-e{digest}-2"),
    ]
    # another entry above the two leaves them as they were
    moved = ids_by_title(compilation_text([("2024-01-10", ["上海市氢能推广方案", *same])]))
    assert moved[1:] == [
        ("上海港岸电设施投运", f"{key}-n20240110-e{digest}"),
        ("上海港岸电设施投运", f"{key}-n20240110-e{digest}-2"),
    ]
    # two key nodes of one date: the second's part is numbered
    twice = ids_by_title(compilation_text([("2024-01-10", same[:1]), ("2024-01-10", same[:1])]))
    assert twice == [
        ("上海港岸电设施投运", f"{key}-n20240110-e{digest}"),
        ("上海港岸电设施投运", f"{key}-n20240110-2-e{digest}"),
    ]


def test_read_file_seed_compilation_fields(seed):
    records, _ = seed
    assert {
        (r.kind, r.region, r.sector, r.analysis_time, r.compilation, r.source_file) for r in records
    } == {
        (
            "entry",
            "北京市",
            "工业领域",
            "2025-05-01 16:56:12",
            SEED_COMPILATION,
            "beijing-industry-carbon-key-nodes.md",
        )
    }


def test_read_file_seed_records_round_trip(seed):
    records, _ = seed
    assert [Record.from_dict(record.to_dict()) for record in records] == records


# ---------------------------------------------------------------------------------------------
# Hand-written fixtures


def test_read_file_empty_file():
    records, report = read_fixture("empty.md")
    assert records == []
    assert (report.records, report.error, codes(report)) == (0, None, [("empty", None)])


def test_read_file_variants_entry_before_any_node():
    records, report = read_fixture("variants.md")
    assert without_raw(records[0]) == entry(
        id=entry_id(None, 1, file_key("variants.md")),
        source_file="variants.md",
        title="上海市碳达峰实施方案",
        content="明确交通领域碳达峰路径。",
        issuer="上海市人民政府",
        date_text="2022-07-28",
        date="2022-07-28",
        date_precision="day",
        region="上海市",
        sector="交通领域",
        compilation="上海市 交通领域 碳排量关键节点政策与事件汇编",
        analysis_time="2025-06-01 10:00:00",
        entry_index=1,
    )
    assert (report.declared_nodes, report.found_nodes) == (3, 1)
    assert report.warnings == [
        IngestWarning("nodes_missing", "3 key nodes declared but 1 found", 4)
    ]


def test_read_file_variants_nested_bullets():
    records, _ = read_fixture("variants.md")
    url = "https://jtw.sh.gov.cn/zxzfxx/20210715/abc.html"
    assert without_raw(records[1]) == entry(
        id=entry_id(1, 1, file_key("variants.md")),
        source_file="variants.md",
        title="上海市交通节能减排专项扶持办法",
        # The content label's own value is empty; its nested bullets continue it.
        content="新能源公交车购置补贴\n充电设施建设奖励",
        # `**颁布单位：**…`, a bold CommonMark does not close, still gives the issuer.
        issuer="上海市交通委员会",
        date_text="2021/7/15",
        date="2021-07-15",
        date_precision="day",
        scale="全市公交企业",
        # Full-width colon and parentheses in the key-node heading.
        node_date="2021-07",
        node_type="政策",
        confidence=0.7,
        region="上海市",
        sector="交通领域",
        compilation="上海市 交通领域 碳排量关键节点政策与事件汇编",
        analysis_time="2025-06-01 10:00:00",
        node_index=1,
        entry_index=1,
        sources=[{"label": url, "url": url}],
        extra={"责任部门": "市交通委"},
    )
    assert records[1].raw.splitlines()[-1] == f"   - **数据来源链接**：{url}"


def test_read_file_variants_continuation_lines():
    records, _ = read_fixture("variants.md")
    harbour = records[2]
    assert (harbour.title, harbour.date_text, harbour.date, harbour.date_precision) == (
        "上海港岸电设施全面投运",
        "2021.7",
        "2021-07",
        "month",
    )
    assert harbour.place == "上海市浦东新区"
    # Two content labels (效应, 影响) joined; the inline link moved to sources.
    assert harbour.content == "靠港船舶使用岸电，减少燃油排放。\n年减排二氧化碳约1万吨。"
    assert harbour.sources == [Source("来源", "https://www.shanghai.gov.cn/a.html")]
    assert (harbour.issuer, harbour.issuer_derived) == (None, False)


def test_read_file_variants_paragraph_after_blank_line_continues_entry():
    records, _ = read_fixture("variants.md")
    cars = records[3]
    assert (cars.title, cars.date, cars.place) == ("上海市新能源汽车推广", "2021-07-01", "上海市")
    assert cars.extra == {"备注": "数据为初步统计"}
    assert cars.sources == [Source("来源", "https://www.shanghai.gov.cn/b.html")]
    assert cars.raw == (
        "3. **事件名称**：上海市新能源汽车推广\n"
        "**发生时间**：2021年7月1日\n"
        "\n"
        "**地点**：上海市\n"
        "**备注**：数据为初步统计\n"
        "**数据来源链接**：[来源](https://www.shanghai.gov.cn/b.html)"
    )


def test_read_file_bad_nodes_keep_entries_and_warn():
    records, report = read_fixture("bad-nodes.md")
    assert [(r.node_index, r.node_date, r.node_type, r.confidence, r.title) for r in records] == [
        (1, "2022-05-10", None, None, "广东省工业领域碳达峰实施方案"),
        (2, None, "政策", 0.61, "广州碳排放权交易所扩容"),
        (4, None, "事件", None, "珠三角电网改造"),
    ]
    assert codes(report) == [
        ("no_node_type", 5),
        ("bad_confidence", 5),
        ("no_date", 7),
        ("bad_node_date", 11),
        ("no_date", 13),
        ("bad_confidence", 18),
        ("empty_node", 18),
        ("bad_node_date", 20),
        ("bad_confidence", 20),
        ("bad_date", 23),
    ]
    assert report.warnings[1].message == (
        "key node '关键节点: 2022-05-10 - 可信度: 高': 可信度 '高' is not a number from 0 to 1"
    )
    assert (report.declared_nodes, report.found_nodes) == (4, 4)


def test_read_file_bad_nodes_region_and_sector_without_spaces():
    records, _ = read_fixture("bad-nodes.md")
    assert {(r.region, r.sector) for r in records} == {("广东省", "工业领域")}


def test_read_file_bad_nodes_unparseable_date_kept_as_written():
    records, _ = read_fixture("bad-nodes.md")
    grid = records[2]
    assert (grid.date_text, grid.date, grid.date_precision) == ("某年春季", None, None)
    assert (grid.issuer, grid.issuer_derived) == ("南方电网", True)


def test_read_file_truncated_inside_url():
    records, report = read_fixture("truncated-url.md")
    (record,) = records
    assert (record.title, record.issuer, record.date, record.truncated) == (
        "北京市绿色建筑管理办法",
        "北京市住房和城乡建设委员会",
        "2022-01",
        True,
    )
    # The cut URL is no source; the text is kept in extra.
    assert record.sources == []
    assert record.extra == {
        "数据来源链接": "[北京市住房和城乡建设委员会](https://zjw.beijing.gov.cn/bjjs/xxgk/fgwj"
    }
    assert codes(report) == [("truncated", 8)]


def test_read_file_truncated_entry_missing_last_line():
    records, report = read_fixture("truncated-lines.md")
    assert [record.truncated for record in records] == [False, False, True]
    assert records[2].content == "有助于降低"
    assert report.warnings == [
        IngestWarning(
            "truncated",
            "the file seems cut short: the last entry lacks its source line, "
            "which ends every other entry",
            15,
        )
    ]


def test_read_file_html_kept_verbatim():
    records, report = read_fixture("html.md")
    first, second = records
    assert first.title == "杭州<b>亚运会</b>绿电供应"
    assert first.content == (
        '全部场馆使用绿电<script>alert("x")</script>，减少排放。\n'
        "<script>\n"
        'document.write("<img src=x onerror=alert(1)>")\n'
        "</script>"
    )
    assert first.raw.endswith("</script>")
    assert (second.title, second.date, second.entry_index) == (
        "宁波舟山港零碳码头",
        "2022-06-30",
        2,
    )
    assert second.content == '<div onclick="steal()">岸电全覆盖</div>'
    assert report.warnings == []


def test_read_file_policy_document_whole():
    records, report = read_fixture("policy-document.md")
    title = "国务院关于印发2030年前碳达峰行动方案的通知"
    assert [without_raw(record) for record in records] == [
        {
            **entry(),
            "id": f"{file_key('policy-document.md')}-doc",
            "kind": "document",
            "source_file": "policy-document.md",
            "title": title,
            "content": "各省、自治区、直辖市人民政府，国务院各部委、各直属机构：\n"
            "现将《2030年前碳达峰行动方案》印发给你们，请认真贯彻执行。\n"
            "一、总体要求\n"
            "（一）指导思想\n"
            "坚持系统观念，处理好发展和减排的关系。\n"
            "二、主要目标\n"
            "1. 到2025年，非化石能源消费比重达到20%左右。\n"
            "2. 到2030年，非化石能源消费比重达到25%左右。\n"
            "指标 | 2025年 | 2030年\n"
            "非化石能源消费比重 | 20% | 25%",
            "issuer": "国务院",
            # 发布日期 wins over 成文日期.
            "date_text": "2021年10月26日",
            "date": "2021-10-26",
            "date_precision": "day",
            "compilation": title,
            "doc_number": "国发〔2021〕23号",
            "effective_date": "2021-10-26",
            "dates": {
                "written": "2021-10-24",
                "published": "2021-10-26",
                "effective": "2021-10-26",
                "expires": None,
            },
            "headings": ["一、总体要求", "（一）指导思想", "二、主要目标"],
            "sources": [
                {
                    "label": "中国政府网",
                    "url": "https://www.gov.cn/zhengce/content/2021-10/26/content_5644984.htm",
                }
            ],
            "extra": {"主题分类": "能源/节能与能源综合利用"},
        }
    ]
    assert records[0].raw == (FIXTURES / "policy-document.md").read_text(encoding="utf-8")
    assert report.warnings == []


def test_read_file_law_with_subtitle_and_effective_line():
    (record,), report = read_fixture("civil-code-part.md")
    assert (record.kind, record.title, record.date_text, record.date, record.effective_date) == (
        "document",
        "中华人民共和国民法典",
        "2020年5月28日",
        "2020-05-28",
        "2021-01-01",
    )
    assert record.extra == {
        "subtitle": "物权编",
        "history": "2020年5月28日 第十三届全国人民代表大会第三次会议通过\n2021年1月1日 施行",
    }
    assert record.headings == ["第一分编  通则", "第一章  一般规定"]
    assert record.region is None
    assert report.warnings == []


def test_read_file_local_regulation_date_from_file_name():
    name = "北京市生活垃圾管理条例(2020-09-25).md"
    (record,), report = read_fixture(name)
    assert (record.id, record.title, record.region, record.sector) == (
        f"{file_key(name)}-doc",
        "北京市生活垃圾管理条例",
        "北京市",
        None,
    )
    assert (record.date_text, record.date, record.date_precision) == (
        "2020-09-25",
        "2020-09-25",
        "day",
    )
    assert record.content == "第一章 总则\n第一条 为了加强生活垃圾管理，改善城乡环境，制定本条例。"
    assert report.warnings == []


# ---------------------------------------------------------------------------------------------
# Bytes: encodings, line endings, garbage, things that are no files


def test_read_file_bom_removed(tmp_path):
    text = (FIXTURES / "policy-document.md").read_text(encoding="utf-8")
    (tmp_path / "policy-document.md").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    records, report = read_file(tmp_path / "policy-document.md", tmp_path)
    expected, _ = read_fixture("policy-document.md")
    assert records == expected
    assert report.warnings == [IngestWarning("bom", "a UTF-8 byte order mark was removed", 1)]


def test_read_file_crlf_normalised(tmp_path):
    text = (FIXTURES / "variants.md").read_text(encoding="utf-8")
    (tmp_path / "variants.md").write_bytes(text.replace("\n", "\r\n").encode("utf-8"))
    records, report = read_file(tmp_path / "variants.md", tmp_path)
    expected, expected_report = read_fixture("variants.md")
    assert records == expected
    assert codes(report) == [("crlf", None), *codes(expected_report)]
    assert report.warnings[0].message == "CRLF line endings were turned into LF"


def test_read_file_cr_only_normalised(tmp_path):
    text = (FIXTURES / "truncated-lines.md").read_text(encoding="utf-8")
    (tmp_path / "truncated-lines.md").write_bytes(text.replace("\n", "\r").encode("utf-8"))
    records, report = read_file(tmp_path / "truncated-lines.md", tmp_path)
    assert records == read_fixture("truncated-lines.md")[0]
    assert codes(report) == [("crlf", None), ("truncated", 15)]


def test_read_file_gb18030_fallback(tmp_path):
    text = (FIXTURES / "policy-document.md").read_text(encoding="utf-8")
    (tmp_path / "policy-document.md").write_bytes(text.encode("gb18030"))
    records, report = read_file(tmp_path / "policy-document.md", tmp_path)
    assert records == read_fixture("policy-document.md")[0]
    assert report.warnings == [IngestWarning("undecodable", "not UTF-8; decoded as GB18030", 1)]


def test_read_file_stray_bad_byte_replaced(tmp_path):
    data = (FIXTURES / "truncated-lines.md").read_bytes()
    (tmp_path / "truncated-lines.md").write_bytes(data.replace("试点".encode(), b"\xff", 1))
    records, report = read_file(tmp_path / "truncated-lines.md", tmp_path)
    assert [record.title for record in records] == [
        "天津港绿色能源示范项目投运",
        "天津市电力需求侧管理\ufffd",
        "滨海新区燃煤机组关停",
    ]
    assert report.warnings[0] == IngestWarning(
        "undecodable", "1 byte(s) are not UTF-8; replaced with U+FFFD", 9
    )


def test_read_file_cut_mid_character(tmp_path):
    data = (FIXTURES / "truncated-lines.md").read_bytes()
    (tmp_path / "cut.md").write_bytes(data.rstrip(b"\n")[:-2])  # half of 低
    records, report = read_file(tmp_path / "cut.md", tmp_path)
    assert (records[-1].content, records[-1].truncated) == ("有助于降\ufffd", True)
    assert [warning.code for warning in report.warnings] == ["undecodable", "truncated"]
    assert report.warnings[-1].message == (
        "the file seems cut short: the last entry ends in the middle of a character"
    )


def test_read_file_control_characters_removed(tmp_path):
    body = "第一条 为了加强生活垃圾管理，改善城乡环境，制定本条例。"
    (tmp_path / "bell.md").write_bytes(f"# 标题\x07\n\n{body}\x00\n".encode())
    (record,), report = read_file(tmp_path / "bell.md", tmp_path)
    assert (record.title, record.content) == ("标题", body)
    assert codes(report)[0] == ("control_chars", None)


def test_read_file_binary_garbage_is_an_error(tmp_path):
    garbage = bytes((index * 7919 + 13) % 256 for index in range(4096)) + b"\x00" * 512
    (tmp_path / "garbage.md").write_bytes(garbage)
    records, report = read_file(tmp_path / "garbage.md", tmp_path)
    assert (records, report.records, report.warnings) == ([], 0, [])
    assert report.error.startswith("not a text file (")


def test_read_file_folder_is_an_error(tmp_path):
    (tmp_path / "folder.md").mkdir()
    records, report = read_file(tmp_path / "folder.md", tmp_path)
    assert (records, report.path, report.error) == (
        [],
        "folder.md",
        "cannot read it: it is a folder",
    )


def test_read_file_fifo_is_an_error(tmp_path):
    os.mkfifo(tmp_path / "pipe.md")
    records, report = read_file(tmp_path / "pipe.md", tmp_path)
    assert (records, report.error) == ([], "cannot read it: it is not a regular file")


def test_read_file_missing_file_is_an_error(tmp_path):
    records, report = read_file(tmp_path / "gone.md", tmp_path)
    assert (records, report.error) == ([], "cannot read it: No such file or directory")


def test_read_file_five_megabytes_in_seconds(tmp_path):
    node = "\n".join(
        [
            "## 关键节点: 2021-06-01 (事件) - 可信度: 0.56",
            "",
            *(
                f"{index}. **事件名称**：北京市第{index}批节能技术改造项目\n"
                f"   - **发生时间**：2021年6月{index}日\n"
                "   - **地点**：北京市\n"
                f"   - **范围和效应**：{'推进工业节能降碳，提升能源利用效率。' * 12}\n"
                f"   - **数据来源链接**：[北京市人民政府](https://www.beijing.gov.cn/{index}.html)"
                for index in range(1, 5)
            ),
            "",
            "",
        ]
    )
    copies = 5_000_000 // len(node.encode()) + 1
    text = "# 北京市 工业领域 汇编\n\n" + node * copies
    (tmp_path / "big.md").write_text(text, encoding="utf-8")
    assert (tmp_path / "big.md").stat().st_size > 5_000_000

    started = time.perf_counter()
    records, report = read_file(tmp_path / "big.md", tmp_path)
    seconds = time.perf_counter() - started

    # About 3 s on an idle machine, nearly all of it markdown-it; the margin is for busy shared
    # runners. Quadratic behaviour on 5 MB would take minutes.
    assert seconds < 15
    assert (len(records), report.found_nodes, report.warnings) == (4 * copies, copies, [])
    assert len({record.id for record in records}) == len(records)
    last = records[-1]
    last_digest = hashlib.sha1("2021-06-01\n北京市第4批节能技术改造项目".encode()).hexdigest()[:8]
    assert (last.id, last.date, last.issuer, last.issuer_derived) == (
        f"{file_key('big.md')}-n20210601-{copies}-e{last_digest}",
        "2021-06-04",
        "北京市人民政府",
        True,
    )


# ---------------------------------------------------------------------------------------------
# parse_text on its own


def test_parse_text_document_without_title():
    (record,), report = parse_text(
        "第一条 本办法自发布之日起施行。\n", "misc/无标题(2019-01-01).md"
    )
    assert (record.id, record.kind, record.title, record.date) == (
        f"{file_key('misc/无标题(2019-01-01).md')}-doc",
        "document",
        "无标题",
        "2019-01-01",
    )
    assert codes(report) == [("no_title", 1)]


def test_parse_text_numbered_list_without_labels_is_a_document():
    text = "# 机动车驾驶证申领和使用规定\n\n1. 申请小型汽车准驾车型的，在18周岁以上；\n2. 其他。\n"
    (record,), report = parse_text(text, "rules.md")
    assert record.kind == "document"
    assert record.content == "1. 申请小型汽车准驾车型的，在18周岁以上；\n2. 其他。"
    assert codes(report) == [("no_date", 1)]


def test_parse_text_document_source_as_plain_text():
    text = "# 通知\n\n来源：新华社\n成文日期：2021年13月1日\n\n正文。\n"
    (record,), report = parse_text(text, "notice.md")
    assert record.extra == {"来源": "新华社"}
    assert (record.date_text, record.date, record.sources) == ("2021年13月1日", None, [])
    assert codes(report) == [("bad_date", 4)]


FRAGMENTS = [
    "# 北京市 工业领域 汇编",
    "## 关键节点: 2020-04-15 (季节性) - 可信度: 0.58",
    "## 关键节点：（事件）",
    "1. ",
    "2) ",
    "   - ",
    "**",
    "事件名称",
    "发生时间",
    "颁布单位",
    "：",
    ": ",
    "2021年6月25日",
    "2021-13-45",
    "[北京市",
    "](https://www.beijing.gov.cn/a",
    ")",
    "<script>alert(1)</script>",
    "<div>",
    "<!-- INFO END -->",
    "发文机关：国务院",
    "| a | b |\n|---|---|\n| c | d |",
    "```",
    "> ",
    "---",
    "\n",
    "\n\n",
    "  \n",
    "\r\n",
    "\ufeff",
    "\x00",
    "\ufffd",
    "可信度: 高",
]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4)), max_size=40))
def test_parse_text_never_raises(pieces):
    records, report = parse_text("".join(pieces), "fuzz/示例.md")
    ids = [record.id for record in records]
    assert report.records == len(records)
    assert len(set(ids)) == len(ids)
    assert all(ID.match(record_id) for record_id in ids)
    assert all(isinstance(record.title, str) for record in records)
    assert [Record.from_dict(record.to_dict()) for record in records] == records


# ---------------------------------------------------------------------------------------------
# Files and ids


def test_file_key_is_sha1_prefix():
    assert file_key("a/b.md") == hashlib.sha1(b"a/b.md").hexdigest()[:12]
    assert (
        file_key("经济法/节约能源法(2018-10-26).md")
        == (hashlib.sha1("经济法/节约能源法(2018-10-26).md".encode()).hexdigest()[:12])
    )
    assert file_key("a/b.md") != file_key("a/c.md")


def test_find_markdown_files_skips_index_and_hidden(tmp_path):
    for name in ["b.md", "a/z.md", "a/_index.md", "a/notes.txt", ".git/x.md", "a/.cache/y.md"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("# x\n", encoding="utf-8")
    found = find_markdown_files(tmp_path)
    assert [path.relative_to(tmp_path).as_posix() for path in found] == ["a/z.md", "b.md"]


def test_ingest_paths_fixture_folder():
    paths = find_markdown_files(FIXTURES)
    records, report = ingest_paths(paths, FIXTURES)
    assert [(f.path, f.records, f.error) for f in report.files] == [
        ("bad-nodes.md", 3, None),
        ("civil-code-part.md", 1, None),
        ("empty.md", 0, None),
        ("html.md", 2, None),
        ("policy-document.md", 1, None),
        ("truncated-lines.md", 3, None),
        ("truncated-url.md", 1, None),
        ("variants.md", 4, None),
        ("北京市生活垃圾管理条例(2020-09-25).md", 1, None),
    ]
    assert (report.records, report.errors, len(records)) == (16, 0, 16)
    assert len({record.id for record in records}) == 16


# ---------------------------------------------------------------------------------------------
# The law corpus beside the repository


def test_read_file_law_energy_conservation():
    if not LAWS.is_dir():
        pytest.skip(f"the law corpus {LAWS} is absent")
    path = LAWS / "经济法" / "节约能源法(2018-10-26).md"
    (record,), report = read_file(path, LAWS)
    assert (record.kind, record.title, record.date_text, record.date, record.date_precision) == (
        "document",
        "中华人民共和国节约能源法",
        "2018年10月26日",
        "2018-10-26",
        "day",
    )
    assert record.headings[0] == "第一章 总则"
    assert "第一章 总则" in record.content.splitlines()
    assert record.extra["history"].splitlines()[0] == (
        "1997年11月1日 第八届全国人民代表大会常务委员会第二十八次会议通过"
    )
    assert report.warnings == []


def test_read_file_every_law_gives_one_titled_document():
    if not LAWS.is_dir():
        pytest.skip(f"the law corpus {LAWS} is absent")
    paths = find_markdown_files(LAWS)
    assert paths
    records, report = ingest_paths(paths, LAWS)
    assert report.errors == 0
    assert [f.records for f in report.files] == [1] * len(paths)
    assert all(record.kind == "document" and record.title for record in records)
    assert len({record.id for record in records}) == len(records)


def test_read_file_policy_document_with_spaced_out_labels(tmp_path):
    # gov.cn's 政策文件库 spaces short labels out to one width: 索　引　号, 标　　题
    (tmp_path / "notice.md").write_text(
        "# 北京市发展和改革委员会关于做好碳排放单位管理工作的通知\n\n"
        "索　引　号：11000000/2025-00012\n"
        "标　　题：北京市发展和改革委员会关于做好碳排放单位管理工作的通知\n"
        "发文机关：北京市发展和改革委员会\n"
        "发文字号：京发改〔2025〕12号\n"
        "成文日期：2025年02月14日\n"
        "发布日期：2025-02-18\n\n"
        "各有关单位：\n\n现将有关事项通知如下。本通知自2025年3月1日起施行。\n",
        encoding="utf-8",
    )
    (record,), report = read_file(tmp_path / "notice.md", tmp_path)
    assert report.warnings == []
    assert (record.issuer, record.doc_number, record.date) == (
        "北京市发展和改革委员会",
        "京发改〔2025〕12号",
        "2025-02-18",
    )
    assert record.dates == Dates(written="2025-02-14", published="2025-02-18")
    # the title line repeats the H1, so it stays among the other labels
    assert record.extra == {
        "索引号": "11000000/2025-00012",
        "标题": "北京市发展和改革委员会关于做好碳排放单位管理工作的通知",
    }
    assert record.content == "各有关单位：\n现将有关事项通知如下。本通知自2025年3月1日起施行。"


def test_the_stored_dict_is_asdict_without_what_the_index_does_not_keep():
    records, _ = ingest_paths(sorted(FIXTURES.glob("*.md")), FIXTURES)
    records += read_file(SEED_FILE, SEEDS)[0]
    rich = [r for r in records if r.sources and r.extra and r.headings]
    assert rich and any(r.kind == "document" and r.dates.published for r in records)
    for record in records:
        expected = asdict(record)
        del expected["raw"]
        stored = record.stored_dict()
        assert stored == expected
        assert list(stored) == list(expected)  # the JSON's key order too
        assert "raw" not in stored and record.raw


def test_read_file_characters_xml_forbids_removed(tmp_path):
    """Text taken from PDFs holds form feeds (page breaks), and U+FFFE, U+FFFF can appear: no
    record field keeps them (an Atom feed holding one is ill-formed XML)."""
    first = "第一条 为了加强生活垃圾管理，制定本条例。"
    second = "第二条 本条例适用于本市行政区域内的生活垃圾管理。"
    text = f"# 标题\ufffe\n\n发文字号: 京政发〔2020〕1号\uffff\n\n{first}\x0c{second}\x0c\n"
    (tmp_path / "pdf.md").write_bytes(text.encode())
    (record,), report = read_file(tmp_path / "pdf.md", tmp_path)
    assert (record.title, record.content) == ("标题", f"{first}\n{second}")
    assert codes(report)[0] == ("control_chars", None)
    assert report.warnings[0].message == (
        "4 control character(s) were removed (2 form feed(s) became line breaks)"
    )
    forbidden = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
    assert forbidden.findall(json.dumps(asdict(record), ensure_ascii=False)) == []


def test_parse_text_lone_surrogates_removed():
    (record,), report = parse_text("# 标\ud800题\n\n正\udfff文。\n", "surrogates.md")
    assert (record.title, record.content) == ("标题", "正文。")
    assert codes(report)[0] == ("control_chars", None)
    json.dumps(asdict(record), ensure_ascii=False).encode("utf-8")  # raises on a surrogate


def test_read_file_link_out_of_the_folder_is_refused(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (tmp_path / "secret.txt").write_text("# 机密\n\n不应被索引的内容。\n", encoding="utf-8")
    (seeds / "leak.md").symlink_to(Path("..") / "secret.txt")
    records, report = read_file(seeds / "leak.md", seeds)
    assert (records, report.path, report.error) == (
        [],
        "leak.md",
        "not read: leak.md is a link to ../secret.txt, outside the seeds folder; "
        "copy the file into the folder instead",
    )


def test_update_index_links_inside_kept_outside_refused(tmp_path):
    """Issue #23, defect 11: `seeds/leak.md -> ../secret.txt` was indexed and served."""
    seeds = tmp_path / "seeds"
    (seeds / "sub").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "secret.md").write_text("# 机密文件\n\n机密内容 wfsecret。\n", encoding="utf-8")
    (outside / "hidden.md").write_text("# 外部文件\n\n外部内容 wfoutside。\n", encoding="utf-8")
    (seeds / "sub" / "real.md").write_text("# 内部文件\n\n内部内容 wfinside。\n", encoding="utf-8")
    (seeds / "leak.md").symlink_to(tmp_path / "secret.md")
    (seeds / "alias.md").symlink_to(Path("sub") / "real.md")
    (seeds / "linked-folder").symlink_to(outside, target_is_directory=True)
    (seeds / "dangling.md").symlink_to(tmp_path / "gone.md")
    assert [p.relative_to(seeds).as_posix() for p in find_markdown_files(seeds)] == [
        "alias.md",
        "dangling.md",
        "leak.md",
        "sub/real.md",
    ]
    result = update_index(seeds, tmp_path / "index", vectors="skip")
    assert {file.path: file.error for file in result.report.files} == {
        "alias.md": None,
        "dangling.md": f"not read: dangling.md is a link to {tmp_path / 'gone.md'}, outside "
        "the seeds folder; copy the file into the folder instead",
        "leak.md": f"not read: leak.md is a link to {tmp_path / 'secret.md'}, outside the "
        "seeds folder; copy the file into the folder instead",
        "sub/real.md": None,
    }
    with SearchIndex(tmp_path / "index") as engine:
        assert engine.search(SearchRequest(q="wfsecret"))["total"] == 0
        assert engine.search(SearchRequest(q="wfoutside"))["total"] == 0
        hits = engine.search(SearchRequest(q="wfinside"))["hits"]
        assert sorted(hit["source_file"] for hit in hits) == ["alias.md", "sub/real.md"]
    # unchanged links: the next update reads nothing
    assert update_index(seeds, tmp_path / "index", vectors="skip").files_read == 0
