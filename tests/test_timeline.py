"""search/timeline.py and `/api/timeline`, `/timeline`: the key nodes of a search, oldest first."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qsl, urlsplit

from conftest import entry_id

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
