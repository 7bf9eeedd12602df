"""Subscriptions: `/feed.atom` takes every search parameter and serves the newest matching records
as an Atom 1.0 feed (RFC 4287), for feed readers that poll it.

Ids are `tag:` URIs (RFC 4151) made from a record's id or the feed's query alone, so a reader
never sees an entry as new because it came through another host name or scheme; links are
built on the configured public URL (search/config.py) when there is one."""

from __future__ import annotations

import datetime
import re
from dataclasses import replace
from urllib.parse import quote, urlencode
from xml.etree import ElementTree as ET

from flask import Blueprint, Response

from .state import filters_only, public_url, search_index, search_request, search_state

blueprint = Blueprint("feeds", __name__)

ATOM = "http://www.w3.org/2005/Atom"
FEED_SIZE = 50
# The tag URIs' authority and date: fixed for good, since a changed id is a new entry to readers.
TAG = "tag:policy-search,2024:"

# What XML 1.0 forbids (its Char production): C0 controls but tab, LF and CR (a form feed is
# common in text taken from PDFs), lone surrogates, U+FFFE and U+FFFF. One of them in a title,
# a snippet or the echoed query made the whole feed ill-formed, which a feed reader rejects.
_XML_FORBIDDEN = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    """`text` without the characters XML forbids: every text and attribute the feed writes goes
    through here, whatever the index holds (an index built before ingest removed them, too)."""
    return _XML_FORBIDDEN.sub("", text)


def _timestamp(iso: str) -> str:
    """An ISO date of any precision (2020, 2020-04, 2020-04-15) as an RFC 3339 timestamp."""
    parts = [int(p) for p in iso.split("-")] + [1, 1]
    return datetime.datetime(parts[0], parts[1], parts[2]).strftime("%Y-%m-%dT00:00:00Z")


def _title(result: dict, pairs: list[tuple[str, str]]) -> str:
    what = [f"“{result['query']}”"] if result["query"] else []
    what += [f"{name}={value}" for name, value in pairs if name != "q"]
    return "政策检索：" + ("，".join(what) if what else "全部记录")


def _add(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(
        parent, f"{{{ATOM}}}{tag}", {name: xml_text(value) for name, value in attributes.items()}
    )
    if text is not None:
        element.text = xml_text(text)
    return element


@blueprint.get("/feed.atom")
def feed():
    """The newest FEED_SIZE records matching the search in the query string, as Atom."""
    result = search_index().search(
        replace(search_request(), sort="-date", page=1, per_page=FEED_SIZE)
    )
    pairs = filters_only(search_state())  # a feed is always the newest first, one page
    query = "?" + urlencode(pairs) if pairs else ""
    self_url = public_url("feeds.feed") + query
    dated = [_timestamp(hit["date"]) for hit in result["hits"] if hit["date"]]
    updated = max(dated, default=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))

    ET.register_namespace("", ATOM)
    root = ET.Element(f"{{{ATOM}}}feed")
    _add(root, "id", TAG + "feed.atom" + query)
    _add(root, "title", _title(result, pairs))
    _add(root, "subtitle", f"共 {result['total']} 条匹配记录，最新 {len(result['hits'])} 条")
    _add(root, "updated", updated)
    _add(root, "link", rel="self", type="application/atom+xml", href=self_url)
    _add(
        root,
        "link",
        rel="alternate",
        type="text/html",
        href=public_url("pages.search") + query,
    )
    _add(_add(root, "author"), "name", "policy-search")
    _add(root, "generator", "policy-search")
    for hit in result["hits"]:
        page = public_url("pages.document", record_id=hit["id"])
        entry = _add(root, "entry")
        _add(entry, "id", TAG + "record/" + quote(hit["id"], safe=""))
        _add(entry, "title", hit["title"])
        _add(entry, "updated", _timestamp(hit["date"]) if hit["date"] else updated)
        _add(entry, "link", rel="alternate", type="text/html", href=page)
        if hit["issuer"]:
            _add(_add(entry, "author"), "name", hit["issuer"])
        for term in (hit["node_type"], hit["doc_type"]):
            if term:
                _add(entry, "category", term=term)
        # the snippet is escaped HTML with <mark> around matches: Atom's type="html" carries it
        _add(entry, "summary", hit["snippet"], type="html")
    body = ET.tostring(root, encoding="unicode", xml_declaration=False)
    return Response(
        '<?xml version="1.0" encoding="utf-8"?>\n' + body,
        mimetype="application/atom+xml",
    )
