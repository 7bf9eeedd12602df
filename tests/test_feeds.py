"""web/feeds.py: `/feed.atom`, read back by a real feed parser."""

from __future__ import annotations

import csv
import io
import urllib.request
from dataclasses import replace
from xml.etree import ElementTree as ET

import feedparser
import pytest
from conftest import entry_id, served

from search.config import Settings, settings_from_env
from search.indexer import update_index
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
    assert feed.feed.id == "tag:policy-search,2024:feed.atom?q=%E7%A2%B3%E4%B8%AD%E5%92%8C"
    assert feed.feed.updated == "2024-12-30T00:00:00Z"  # the newest record holding 碳中和
    ids = [entry.id for entry in feed.entries]
    assert ids == [
        f"tag:policy-search,2024:record/{file_key('future-rules.md')}-doc",
        f"tag:policy-search,2024:record/{NOTICE}-doc",
        f"tag:policy-search,2024:record/{entry_id(5, 1)}",
        f"tag:policy-search,2024:record/{entry_id(3, 2)}",
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
    "# 关于正常\ufffe运行\x1b的通知\n\n发文机关：北京市发展和改革委员会\n"
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
    from web.feeds import xml_text

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


# --- ids that never change, links to where readers reach us (issue #23, defect 13) -------------

TAG = "tag:policy-search,2024:"
CARBON = "%E7%A2%B3%E4%B8%AD%E5%92%8C"  # 碳中和, percent-encoded
CARBON_IDS = [
    f"{file_key('future-rules.md')}-doc",
    f"{NOTICE}-doc",
    entry_id(5, 1),
    entry_id(3, 2),
]


def _links(feed) -> list[str]:
    return [link.href for link in feed.feed.links] + [entry.link for entry in feed.entries]


def test_feed_ids_do_not_depend_on_host_or_scheme(tracking_client):
    first = _strict(tracking_client.get("/feed.atom?q=碳中和", base_url="http://a.example").data)
    second = _strict(
        tracking_client.get("/feed.atom?q=碳中和", base_url="https://b.example:8443").data
    )
    assert [entry.id for entry in first.entries] == [f"{TAG}record/{id}" for id in CARBON_IDS]
    assert [entry.id for entry in second.entries] == [entry.id for entry in first.entries]
    assert first.feed.id == second.feed.id == f"{TAG}feed.atom?q={CARBON}"
    # unconfigured, links follow the request: the address the reader used
    assert _links(first) == [
        f"http://a.example/feed.atom?q={CARBON}",
        f"http://a.example/?q={CARBON}",
        *[f"http://a.example/documents/{id}" for id in CARBON_IDS],
    ]
    assert second.entries[0].link == f"https://b.example:8443/documents/{CARBON_IDS[0]}"


FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "policy.example.org"}


def test_feed_links_use_the_configured_public_url(make_app, tracking_app):
    settings = replace(
        tracking_app.config["SETTINGS"], public_url="https://policy.example.org/archive"
    )
    client = make_app({"SETTINGS": settings}).test_client()
    response = client.get("/feed.atom?q=碳中和", base_url="http://10.0.0.5:8000", headers=FORWARDED)
    feed = _strict(response.data)
    public = "https://policy.example.org/archive"
    assert _links(feed) == [
        f"{public}/feed.atom?q={CARBON}",
        f"{public}/?q={CARBON}",
        *[f"{public}/documents/{id}" for id in CARBON_IDS],
    ]
    assert [entry.id for entry in feed.entries] == [f"{TAG}record/{id}" for id in CARBON_IDS]


def test_csv_export_links_use_the_configured_public_url(make_app, tracking_app):
    """The export's links, like the feed's, point at the public address, not at the host a
    proxy reached (they were built from the Host header)."""
    settings = replace(
        tracking_app.config["SETTINGS"], public_url="https://policy.example.org/archive"
    )
    client = make_app({"SETTINGS": settings}).test_client()
    response = client.get("/export.csv?q=碳中和", base_url="http://10.0.0.5:8000")
    rows = list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig"))))
    public = "https://policy.example.org/archive"
    assert sorted(row["url"] for row in rows) == sorted(
        f"{public}/documents/{id}" for id in CARBON_IDS
    )


def test_feed_links_follow_forwarded_headers_only_when_trusted(make_app, tracking_app):
    settings = tracking_app.config["SETTINGS"]
    trusting = make_app({"SETTINGS": replace(settings, proxy_headers=True)}).test_client()
    feed = _strict(trusting.get("/feed.atom?q=碳中和", headers=FORWARDED).data)
    assert feed.entries[0].link == f"https://policy.example.org/documents/{CARBON_IDS[0]}"
    assert feed.feed.links[0].href == f"https://policy.example.org/feed.atom?q={CARBON}"
    # by default a client's X-Forwarded-* headers are ignored: anyone can send them
    default = make_app({"SETTINGS": settings}).test_client()
    feed = _strict(default.get("/feed.atom?q=碳中和", headers=FORWARDED).data)
    assert feed.entries[0].link == f"http://localhost/documents/{CARBON_IDS[0]}"


def test_settings_read_public_url_and_proxy_headers(monkeypatch):
    from search.errors import InvalidSetting

    assert settings_from_env().public_url is None
    assert settings_from_env().proxy_headers is False
    monkeypatch.setenv("POLICY_SEARCH_PUBLIC_URL", "https://policy.example.org/archive/")
    monkeypatch.setenv("POLICY_SEARCH_PROXY_HEADERS", "1")
    settings = settings_from_env()
    assert settings.public_url == "https://policy.example.org/archive"
    assert settings.proxy_headers is True
    assert settings_from_env(public_url="http://other.example").public_url == (
        "http://other.example"
    )
    monkeypatch.setenv("POLICY_SEARCH_PROXY_HEADERS", "off")
    assert settings_from_env().proxy_headers is False
    monkeypatch.setenv("POLICY_SEARCH_PUBLIC_URL", "policy.example.org")
    with pytest.raises(InvalidSetting) as raised:
        settings_from_env()
    message = (
        "the public URL (--public-url, POLICY_SEARCH_PUBLIC_URL) must be an absolute http:// "
        "or https:// address such as https://policy.example.org/, not 'policy.example.org'"
    )
    assert str(raised.value) == message


def test_serve_refuses_a_public_url_that_is_no_address(runner, tmp_path):
    result = runner.invoke(
        ["serve", "--index", str(tmp_path / "index"), "--public-url", "ftp://policy.example.org"]
    )
    assert result.exit_code == 1
    assert "must be an absolute http:// or https:// address" in result.output
    assert "not 'ftp://policy.example.org'" in result.output
    assert not (tmp_path / "index").exists()  # refused before building anything


def test_served_feed_with_forwarded_headers_and_bad_percent_escapes(tmp_path):
    """The real server (`serve --forwarded`): links follow the proxy's headers; a query whose
    percent-escapes are not UTF-8 (%ED%A0%80 would be a lone surrogate) gets a well-formed feed."""
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "hostile.md").write_text(HOSTILE, encoding="utf-8")
    with served(seeds, tmp_path, "--workers", "1", "--no-watch", "--forwarded") as server:
        base = f"http://127.0.0.1:{server.port}"
        query = "?q=%E6%AD%A3%E5%B8%B8%0C%E6%AD%A3%E5%B8%B8"  # 正常\f正常
        request = urllib.request.Request(base + "/feed.atom" + query, headers=FORWARDED)
        with urllib.request.urlopen(request) as answer:
            feed = _strict(answer.read())
        record = f"{file_key('hostile.md')}-doc"
        assert [entry.link for entry in feed.entries] == [
            f"https://policy.example.org/documents/{record}"
        ]
        assert [entry.id for entry in feed.entries] == [f"{TAG}record/{record}"]
        assert feed.feed.title == "政策检索：“正常正常”"
        with urllib.request.urlopen(base + "/feed.atom?q=%ED%A0%80") as answer:
            assert answer.status == 200
            feed = _strict(answer.read())
        # werkzeug keeps bytes that are not UTF-8 as the escapes they came as
        assert feed.feed.title == "政策检索：“%ED%A0%80”"
        assert feed.entries == []


def test_served_by_workers_ignores_forwarded_headers_by_default(tmp_path):
    """gunicorn took X-Forwarded-Proto from any local client: by default nothing forwarded is
    trusted, whichever server serves."""
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "hostile.md").write_text(HOSTILE, encoding="utf-8")
    with served(seeds, tmp_path, "--workers", "2", "--no-watch") as server:
        base = f"http://127.0.0.1:{server.port}"
        request = urllib.request.Request(base + "/feed.atom", headers=FORWARDED)
        with urllib.request.urlopen(request) as answer:
            feed = _strict(answer.read())
        record = f"{file_key('hostile.md')}-doc"
        assert [entry.link for entry in feed.entries] == [f"{base}/documents/{record}"]
        assert [entry.id for entry in feed.entries] == [f"{TAG}record/{record}"]
