"""web/feeds.py: `/feed.atom`, read back by a real feed parser."""

from __future__ import annotations

import feedparser
from conftest import entry_id

from search.records import file_key

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
        f"http://localhost/documents/{entry_id(5, 1)}",
        f"http://localhost/documents/{entry_id(3, 2)}",
    ]
    drainage = feed.entries[2]
    assert drainage.title.startswith("北京排水集团发布")
    assert drainage.link == f"http://localhost/documents/{entry_id(5, 1)}"
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
