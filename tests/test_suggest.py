"""search/suggest.py and `/api/suggest`: titles, issuers and terms as you type."""

from __future__ import annotations

import time

from search.request import SearchRequest
from search.suggest import Suggester, suggest, suggester


def texts(result: dict, kind: str) -> list[str]:
    return [s["text"] for s in result["suggestions"] if s["kind"] == kind]


def test_suggest_terms_starting_with_the_typed_text(tracking_engine):
    result = suggest(tracking_engine, "碳排")
    terms = texts(result, "term")
    assert terms and all(term.startswith("碳排") for term in terms)
    assert {"碳排量", "碳排放"} <= set(terms)
    # titles holding the text follow the words
    assert "北京市碳排量权交易市场运作" in texts(result, "title")
    assert result["suggestions"][0]["kind"] == "term"


def test_suggest_titles_containing_the_typed_text(tracking_engine):
    assert texts(suggest(tracking_engine, "排水集团"), "title") == [
        "北京排水集团发布《北京排水集团碳中和规划》和《北京排水集团碳中和实施方案》"
    ]


def test_suggest_issuers_by_any_of_their_names(tracking_engine):
    for typed in ("北京市发", "北京市发改委", "发改委"):
        assert texts(suggest(tracking_engine, typed), "issuer") == ["北京市发展和改革委员会"]


def test_suggest_nothing_for_nothing(tracking_engine):
    assert suggest(tracking_engine, "")["suggestions"] == []
    assert suggest(tracking_engine, "   ")["suggestions"] == []
    assert suggest(tracking_engine, "qqqqzzzz")["suggestions"] == []
    assert len(suggest(tracking_engine, "北", limit=3)["suggestions"]) == 3


def test_suggest_lists_are_built_once_per_commit_not_per_keystroke(tracking_engine):
    """(How fast a keystroke is answered is measured in bench/, not asserted here.)"""
    built = suggester(tracking_engine)
    for typed in ("碳", "碳排", "碳排放", "北京", "北京市发展", "能源", "管理办法"):
        suggest(tracking_engine, typed)
        assert suggester(tracking_engine) is built


def test_api_suggest(tracking_client):
    body = tracking_client.get("/api/suggest?q=碳排").json
    assert list(body) == ["suggestions"]
    assert all(set(s) == {"text", "kind"} for s in body["suggestions"])
    assert "碳排量" in texts(body, "term")
    assert tracking_client.get("/api/suggest").json == {"suggestions": []}
    bad = tracking_client.get("/api/suggest?q=碳&limit=99")
    assert bad.status_code == 400 and bad.json["error"]["parameter"] == "limit"


def test_suggest_after_a_commit_answers_from_the_old_lists_until_the_new_are_built(
    seeds_copy, tmp_path
):
    import shutil

    from conftest import TRACKING_FIXTURES

    from search.indexer import update_index
    from search.query import SearchIndex

    index = tmp_path / "index"
    update_index(seeds_copy, index)
    with SearchIndex(index) as engine:
        assert texts(suggest(engine, "排放权交易管理办法"), "title") == []
        shutil.copy(TRACKING_FIXTURES / "bjfgw-notice.md", seeds_copy / "bjfgw-notice.md")
        update_index(seeds_copy, index)
        # the keystroke right after the commit is not kept waiting: the old lists answer it
        assert texts(suggest(engine, "排放权交易管理办法"), "title") == []
        deadline = time.monotonic() + 30
        while not texts(suggest(engine, "排放权交易管理办法"), "title"):
            assert time.monotonic() < deadline, "the new lists were never built"
            time.sleep(0.05)
        assert texts(suggest(engine, "排放权交易管理办法"), "title") == [
            "北京市发展和改革委员会关于印发北京市碳排放权交易管理办法的通知"
        ]


def test_suggest_nothing_of_a_deleted_file(seeds_copy, tmp_path):
    import shutil

    from conftest import TRACKING_FIXTURES, WEB_FIXTURES

    from search.indexer import update_index
    from search.query import SearchIndex

    index = tmp_path / "index"
    notice_title = "北京市发展和改革委员会关于印发北京市碳排放权交易管理办法的通知"
    shutil.copy(TRACKING_FIXTURES / "bjfgw-notice.md", seeds_copy / "bjfgw-notice.md")
    # the port's one record twice: its words are in two records, enough to be suggested
    for name in ("tianjin-a.md", "tianjin-b.md"):
        shutil.copy(WEB_FIXTURES / "tianjin-port-key-nodes.md", seeds_copy / name)
    update_index(seeds_copy, index, vectors="skip")
    with SearchIndex(index) as engine:
        assert texts(suggest(engine, "排放权交易管理办法"), "title") == [notice_title]
        assert "岸电" in texts(suggest(engine, "岸电"), "term")
    for name in ("bjfgw-notice.md", "tianjin-a.md", "tianjin-b.md"):
        (seeds_copy / name).unlink()
    update_index(seeds_copy, index, vectors="skip")
    with SearchIndex(index) as engine:
        assert engine.search(SearchRequest(q="岸电"))["total"] == 0
        searcher, _ = engine.searcher()
        lists = Suggester(searcher.reader())  # this commit's lists (suggest() rebuilds them later)

        def listed(typed: str, kind: str) -> list[str]:
            return texts({"suggestions": lists.suggest(typed)}, kind)

        assert listed("排放权交易管理办法", "title") == []
        assert listed("岸电", "term") == []
        # the seeds' own titles, terms and issuers are still there
        assert "碳排放" in listed("碳排", "term")
        assert listed("北京市发", "issuer") == ["北京市发展和改革委员会"]
    # the same lists as a fresh build of what is left: same items, same weights
    update_index(seeds_copy, tmp_path / "fresh", vectors="skip")
    with SearchIndex(tmp_path / "fresh") as fresh:
        searcher, _ = fresh.searcher()
        built = Suggester(searcher.reader())
    for kind in ("title", "issuer", "term"):
        assert lists.kinds[kind].texts == built.kinds[kind].texts
        assert lists.kinds[kind].weights.tolist() == built.kinds[kind].weights.tolist()


def test_suggest_terms_of_the_configured_dictionary(seeds_copy, tmp_path, monkeypatch):
    """A word added to the data folder's dictionary (POLICY_SEARCH_DATA) is suggested: the
    lists read the packaged dictionary only."""
    from search import analysis
    from search.indexer import update_index
    from search.query import SearchIndex

    data = tmp_path / "data"
    data.mkdir()
    packaged = analysis.DICTIONARY_FILE.read_text(encoding="utf-8")
    (data / "dictionary.txt").write_text(packaged + "\n零碳示范园区 5 n\n", encoding="utf-8")
    monkeypatch.setenv("POLICY_SEARCH_DATA", str(data))
    index = tmp_path / "index"
    update_index(seeds_copy, index, vectors="skip")
    with SearchIndex(index) as engine:
        assert texts(suggest(engine, "零碳示范"), "term") == ["零碳示范园区"]
