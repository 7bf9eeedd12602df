"""web/feeds.py: `/feed.atom`, read back by a real feed parser."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import feedparser
import pytest

from search.config import Settings
from search.indexer import update_index
from search.records import file_key
from web.feeds import xml_text

SEED = file_key("beijing-industry-carbon-key-nodes.md")
NOTICE = file_key("bjfgw-notice.md")


def test_feed_is_valid_atom_of_the_matching_records_newest_first(tracking_client):
    response = tracking_client.get("/feed.atom?q=碳中和&sort=date&page=3")
    assert response.status_code == 200
    assert response.content_type == "application/atom+xml; charset=utf-8"
    feed = feedparser.parse(response.data)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    assert feed.feed.title == "政策检索：“碳中和”"
    assert feed.feed.id == "http://localhost/feed.atom?q=%E7%A2%B3%E4%B8%AD%E5%92%8C"
    assert feed.feed.updated == "2024-12-30T00:00:00Z"  # the newest record holding 碳中和
    ids = [entry.id for entry in feed.entries]
    assert ids == [
        f"http://localhost/documents/{file_key('future-rules.md')}-doc",
        f"http://localhost/documents/{NOTICE}-doc",
        f"http://localhost/documents/{SEED}-n5-e1",
        f"http://localhost/documents/{SEED}-n3-e2",
    ]
    drainage = feed.entries[2]
    assert drainage.title.startswith("北京排水集团发布")
    assert drainage.link == f"http://localhost/documents/{SEED}-n5-e1"
    assert drainage.updated == "2021-06-25T00:00:00Z"
    # the snippet travels as escaped HTML with its marks (feed readers may drop <mark>)
    assert "碳中和" in drainage.summary
    assert "&lt;mark&gt;碳中和&lt;/mark&gt;" in response.text
    assert [tag.term for tag in drainage.tags] == ["事件", "方案"]
    notice = feed.entries[1]
    assert notice.author == "北京市发展和改革委员会"


def test_feed_with_filters_and_at_most_fifty(tracking_client):
    feed = feedparser.parse(tracking_client.get("/feed.atom?issuer=北京市发改委").data)
    assert not feed.bozo
    assert len(feed.entries) == 4
    assert "issuer=北京市发改委" in feed.feed.title
    everything = feedparser.parse(tracking_client.get("/feed.atom").data)
    assert feed.feed.id != everything.feed.id
    assert len(everything.entries) == 16  # fewer than 50 records in all
    assert everything.feed.updated == everything.entries[0].updated == "2025-01-10T00:00:00Z"
    empty = feedparser.parse(tracking_client.get("/feed.atom?q=不存在的词语组合").data)
    assert not empty.bozo and empty.entries == []
    assert tracking_client.get("/feed.atom?year=abc").status_code == 400


def _strict(data: bytes) -> feedparser.FeedParserDict:
    """A feed that a strict XML parser accepts (xml.etree raises on any ill-formed byte), read."""
    ET.fromstring(data)
    feed = feedparser.parse(data)
    assert feed.bozo == 0, feed.get("bozo_exception")
    return feed


# --- characters XML forbids (issue #23, defect 8) ---------------------------------------------

# A form feed (PDF page breaks), U+FFFE and ESC in a title and a body: ingest removes ESC, keeps
# the others today; the feed must be well-formed whatever the index holds.
HOSTILE = (
    "# 关于\x0c正常\ufffe运行\x1b的通知\n\n发文机关：北京市发展和改革委员会\n"
    "发布日期：2024年12月25日\n\n正常运行\x0c第二页\ufffe内容。\n"
)


@pytest.fixture(scope="module")
def hostile_index(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    (root / "seeds").mkdir()
    (root / "seeds" / "hostile.md").write_text(HOSTILE, encoding="utf-8")
    update_index(root / "seeds", root / "index")
    return root


def test_xml_text_drops_every_character_xml_forbids():
    forbidden = "\x00\x08\x0b\x0c\x0e\x1b\x1f\ud800\udfff\ufffe\uffff"
    assert xml_text(f"甲{forbidden}乙") == "甲乙"
    kept = "\t\n\r 甲\x7f\ud7ff\ue000\ufffd\U00010000\U0010ffff"
    assert xml_text(kept) == kept


def test_feed_of_a_record_with_forbidden_characters_is_well_formed(make_app, hostile_index):
    settings = Settings(seeds=hostile_index / "seeds", index=hostile_index / "index")
    client = make_app({"SETTINGS": settings}).test_client()
    for url in ("/feed.atom", "/feed.atom?q=正常", "/feed.atom?issuer=北京市发改委"):
        response = client.get(url)
        assert response.status_code == 200
        feed = _strict(response.data)
        assert [entry.title for entry in feed.entries] == ["关于正常运行的通知"]
        assert "第二页" in feed.entries[0].summary
        for forbidden in ("\x0c", "\ufffe", "\x1b"):
            assert forbidden not in response.text


@pytest.mark.parametrize(
    ("query", "title"),
    [
        ("q=正常%0C正常", "政策检索：“正常正常”"),
        ("q=%EF%BF%BE正常", "政策检索：“正常”"),
        ("q=正常%1B", "政策检索：“正常”"),
        ("issuer=北京市发改委%0C", "政策检索：issuer=北京市发改委"),
    ],
    ids=["form-feed", "U+FFFE", "escape", "form-feed-in-a-filter"],
)
def test_feed_of_a_query_with_forbidden_characters_is_well_formed(
    make_app, hostile_index, query, title
):
    settings = Settings(seeds=hostile_index / "seeds", index=hostile_index / "index")
    client = make_app({"SETTINGS": settings}).test_client()
    response = client.get("/feed.atom?" + query)
    assert response.status_code == 200
    feed = _strict(response.data)
    assert feed.feed.title == title
