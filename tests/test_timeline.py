"""search/timeline.py and `/api/timeline`, `/timeline`: the key nodes of a search, oldest first."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qsl, urlsplit

from conftest import entry_id

from search.indexer import update_index
from search.query import SearchIndex
from search.records import file_key
from search.request import SearchRequest
from search.timeline import timeline

SEED = file_key("beijing-industry-carbon-key-nodes.md")
NODE_DATES = [
    "2020-04-15",
    "2021-03-01",
    "2021-03-31",
    "2021-04-30",
    "2021-06-01",
    "2022-03-01",
    "2023-03-01",
]


def test_timeline_of_a_region_lists_every_node_in_date_order(tracking_engine):
    result = timeline(tracking_engine, SearchRequest(region=("北京市",)))
    assert [node["date"] for node in result["nodes"]] == NODE_DATES
    assert result["entries"] == 13  # single documents belong to no key node
    assert result["truncated"] is False
    first = result["nodes"][0]
    assert {k: v for k, v in first.items() if k != "entries"} == {
        "id": f"{SEED}-n20200415",  # the node's date, not its place
        "date": "2020-04-15",
        "node_type": "季节性",
        "confidence": 0.58,
        "source_file": "beijing-industry-carbon-key-nodes.md",
        "region": "北京市",
        "sector": "工业领域",
    }
    assert [entry["id"] for entry in first["entries"]] == [entry_id(1, n) for n in (1, 2, 3)]
    assert first["entries"][0] == {
        "id": entry_id(1, 1),
        "title": '北京市"十四五"阶段能源发展计划',
        "title_html": "北京市&quot;十四五&quot;阶段能源发展计划",
        "date": "2020-04",
        "date_text": "2020年4月",
        "issuer": "北京市发展改革委",
        "issuer_canonical": "北京市发展和改革委员会",
    }


def test_timeline_keeps_only_matching_entries(tracking_engine):
    result = timeline(tracking_engine, SearchRequest(q="碳中和"))
    assert [(n["date"], [e["id"] for e in n["entries"]]) for n in result["nodes"]] == [
        ("2021-03-31", [entry_id(3, 2)]),
        ("2021-06-01", [entry_id(5, 1)]),
    ]
    assert "<mark>碳中和</mark>" in result["nodes"][1]["entries"][0]["title_html"]


def test_timeline_with_filters_and_no_match(tracking_engine):
    result = timeline(tracking_engine, SearchRequest(year=(2021,), node_type=("事件",)))
    assert [n["date"] for n in result["nodes"]] == ["2021-03-01", "2021-03-31", "2021-06-01"]
    assert timeline(tracking_engine, SearchRequest(q="不存在的词语组合"))["nodes"] == []


def test_api_timeline_answers_the_documented_shape(tracking_client):
    body = tracking_client.get("/api/timeline?region=北京市&type=季节性").json
    assert list(body) == ["query", "entries", "truncated", "generation", "nodes"]
    assert [n["date"] for n in body["nodes"]] == ["2020-04-15"]
    bad = tracking_client.get("/api/timeline?year=abc")
    assert bad.status_code == 400
    assert bad.json["error"]["parameter"] == "year"


def test_page_timeline_groups_by_year_and_links_back(tracking_client):
    text = tracking_client.get("/timeline?q=碳中和&region=北京市&sort=date&page=2").text
    assert re.findall(r'<h2 id="year-(\d+)">', text) == ["2021"]
    assert "排水集团" in text
    assert f'href="/documents/{entry_id(5, 1)}"' in text
    back = unescape(re.search(r'id="back-to-search" href="([^"]+)"', text)[1])
    # back to the search with every filter; a timeline has no order or page of its own
    assert parse_qsl(urlsplit(back).query) == [("q", "碳中和"), ("region", "北京市")]


def test_search_page_links_to_its_timeline_and_feed(tracking_client):
    text = tracking_client.get("/?q=碳中和&region=北京市&page=1&sort=date").text
    timeline_url = unescape(re.search(r'id="timeline-link"[^>]*href="([^"]+)"', text)[1])
    feed_url = unescape(re.search(r'id="feed-link"[^>]*href="([^"]+)"', text)[1])
    assert urlsplit(timeline_url).path == "/timeline"
    assert urlsplit(feed_url).path == "/feed.atom"
    for url in (timeline_url, feed_url):
        assert parse_qsl(urlsplit(url).query) == [("q", "碳中和"), ("region", "北京市")]


def test_page_timeline_with_a_bad_parameter_says_which(tracking_client):
    response = tracking_client.get("/timeline?year=abc")
    assert response.status_code == 400
    assert "参数有误（year）" in response.text


# --- the limit (issue #23, defect 9): it counts entries, and the newest are kept ------------------


def test_timeline_limit_counts_entries_not_documents(tracking_engine):
    # the tracking index holds 13 entries and 3 single documents, every one matching
    whole = timeline(tracking_engine, SearchRequest(), limit=13)
    assert whole["entries"] == 13 and whole["truncated"] is False
    assert [n["date"] for n in whole["nodes"]] == NODE_DATES
    # one entry too many: the oldest entry goes (n3-e1, 2013), no node is lost
    result = timeline(tracking_engine, SearchRequest(), limit=12)
    assert result["entries"] == 12 and result["truncated"] is True
    assert [n["date"] for n in result["nodes"]] == NODE_DATES
    assert [e["id"] for e in result["nodes"][2]["entries"]] == [entry_id(3, 2)]


def test_timeline_limit_keeps_the_newest_entries(tracking_engine):
    result = timeline(tracking_engine, SearchRequest(), limit=9)
    assert result["entries"] == 9 and result["truncated"] is True
    # the three of 2020-04 and the one of 2013 are the oldest entries: dropped
    assert [(n["date"], [e["id"] for e in n["entries"]]) for n in result["nodes"]] == [
        ("2021-03-01", [entry_id(2, 1)]),
        ("2021-03-31", [entry_id(3, 2)]),
        ("2021-04-30", [entry_id(4, 1)]),
        ("2021-06-01", [entry_id(5, 1)]),
        ("2022-03-01", [entry_id(6, 2), entry_id(6, 1)]),  # by date: 2022-02, 2022-03
        ("2023-03-01", [entry_id(7, 1), entry_id(7, 2), entry_id(7, 3)]),
    ]


def _compilation(days: list[str]) -> str:
    """A key-node compilation of one report a day, each node dated its day."""
    parts = ["# 天津市 港口领域 关键节点汇编\n\n分析时间: 2026-03-01 10:00:00\n"]
    for day in days:
        year, month, date = day.split("-")
        parts.append(
            f"\n---\n\n## 关键节点: {day} (事件) - 可信度: 0.70\n\n"
            f"1. **事件名称**：港口运行日报{day}\n"
            f"**发生时间**：{int(year)}年{int(month)}月{int(date)}日\n"
            "**地点**：天津市\n"
            "**效应**：港口吞吐量与能耗统计。\n"
        )
    return "".join(parts)


def test_timeline_limit_on_more_entries_than_it_keeps(tmp_path):
    # a newer single document and 12 daily reports; the limit keeps the 5 newest reports
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    days = [f"2026-02-{day:02d}" for day in range(15, 27)]
    (seeds / "port-nodes.md").write_text(_compilation(days), encoding="utf-8")
    (seeds / "port-notice.md").write_text(
        "# 天津市港口管理局关于港口运行的通知\n\n发文机关：天津市港口管理局\n"
        "发布日期：2026年2月28日\n\n港口吞吐量与能耗统计按日报送。\n",
        encoding="utf-8",
    )
    update_index(seeds, tmp_path / "index")
    with SearchIndex(tmp_path / "index") as engine:
        result = timeline(engine, SearchRequest(q="港口"), limit=5)
        assert result["entries"] == 5 and result["truncated"] is True
        assert [n["date"] for n in result["nodes"]] == days[-5:]  # up to 2026-02-26
        assert [n["entries"][0]["title"] for n in result["nodes"]] == [
            f"港口运行日报{day}" for day in days[-5:]
        ]
        everything = timeline(engine, SearchRequest(q="港口"))
        assert everything["entries"] == 12 and everything["truncated"] is False
        assert [n["date"] for n in everything["nodes"]] == days
