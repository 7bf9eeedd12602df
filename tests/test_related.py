"""search/related.py and `/api/documents/<id>/related`, 相关政策 on the detail page."""

from __future__ import annotations

import pytest
from conftest import entry_id

from search.errors import DocumentNotFound
from search.records import file_key
from search.related import related

SEED = file_key("beijing-industry-carbon-key-nodes.md")
NOTICE = f"{file_key('bjfgw-notice.md')}-doc"


def test_related_of_a_carbon_neutrality_hit_exclude_it(tracking_engine):
    drainage = entry_id(5, 1)
    result = related(tracking_engine, drainage)
    ids = [r["id"] for r in result["related"]]
    assert 1 <= len(ids) <= 5
    assert drainage not in ids
    assert "碳中和" in result["terms"]
    # the other entry holding 碳中和 is among them, with the key terms it shares
    sharing = {r["id"]: r["terms"] for r in result["related"]}
    assert {"碳中和", "碳排量"} <= set(sharing[entry_id(3, 2)])
    scores = [r["score"] for r in result["related"]]
    assert scores == sorted(scores, reverse=True)


def test_related_leaves_out_the_siblings_of_the_node(tracking_engine):
    first = entry_id(1, 1)
    ids = [r["id"] for r in related(tracking_engine, first)["related"]]
    assert first not in ids
    assert not {entry_id(1, 2), entry_id(1, 3)} & set(ids)
    assert ids


def test_related_of_a_document_and_of_nothing(tracking_engine):
    ids = [r["id"] for r in related(tracking_engine, NOTICE)["related"]]
    assert NOTICE not in ids and ids
    with pytest.raises(DocumentNotFound):
        related(tracking_engine, "nope")


def test_api_related_and_the_detail_page(tracking_client):
    body = tracking_client.get(f"/api/documents/{entry_id(5, 1)}/related").json
    assert list(body) == ["related", "terms"]
    assert tracking_client.get("/api/documents/nope/related").status_code == 404
    page = tracking_client.get(f"/documents/{entry_id(5, 1)}").text
    assert "相关政策" in page
    for other in body["related"]:
        assert f'href="/documents/{other["id"]}"' in page
