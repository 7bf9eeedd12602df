"""Ranking: how a question is read (question words dropped, dictionary words inside longer words
added, the title weighed below the body) and long questions answered by ranked matching over a
small index of law articles built here; plus the split and measures of bench/relevance.py."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from whoosh import query as wq

from bench.relevance import measures, split_of
from search import ranking
from search.analysis import query_words
from search.documents import file_key
from search.indexer import update_index
from search.query import SearchIndex, SearchRequest, compile_query

ARTICLES = {
    "civil-54.md": (
        "民法典 第五十四条",
        "自然人从事工商业经营，经依法登记，为个体工商户。个体工商户可以起字号。",
    ),
    "civil-56.md": (
        "民法典 第五十六条",
        "个体工商户的债务，个人经营的，以个人财产承担；家庭经营的，以家庭财产承担；"
        "无法区分的，以家庭财产承担。",
    ),
    "civil-1064.md": (
        "民法典 第一千零六十四条",
        "夫妻双方共同签名或者夫妻一方事后追认等共同意思表示所负的债务，属于夫妻共同债务。",
    ),
    "labour-7.md": (
        "劳动合同法 第七条",
        "用人单位自用工之日起即与劳动者建立劳动关系。用人单位应当建立职工名册备查。",
    ),
    "labour-10.md": (
        "劳动合同法 第十条",
        "建立劳动关系，应当订立书面劳动合同。已建立劳动关系，未同时订立书面劳动合同的，"
        "应当自用工之日起一个月内订立书面劳动合同。",
    ),
}


def record_id(name: str) -> str:
    return file_key(name) + "-doc"


@pytest.fixture(scope="module")
def law_engine(tmp_path_factory) -> Iterator[SearchIndex]:
    """An index of five law articles, each written as a single policy document."""
    seeds = tmp_path_factory.mktemp("laws")
    for name, (title, text) in ARTICLES.items():
        (seeds / name).write_text(f"# {title}\n\n{text}\n", encoding="utf-8")
    root = tmp_path_factory.mktemp("law-index") / "index"
    update_index(seeds, root)
    with SearchIndex(root) as opened:
        yield opened


def search(engine: SearchIndex, q: str) -> dict:
    return engine.search(SearchRequest.from_params({"q": [q]}))


def terms(query: wq.Query) -> dict[str, float]:
    """Each content-field word of a query with the largest boost it is searched with."""
    found: dict[str, float] = {}
    for leaf in query.leaves():
        if isinstance(leaf, wq.Term) and leaf.fieldname == "content":
            found[leaf.text] = max(found.get(leaf.text, 0.0), leaf.boost)
    return found


def test_question_query_drops_question_words():
    query = ranking.question_query(query_words("谁可以成为个体工商户？"))
    # 工商 and 商户: the dictionary words inside 工商户
    assert set(terms(query)) == {"成为", "个体", "工商户", "工商", "商户"}


def test_question_query_adds_dictionary_words_inside_longer_words():
    query = ranking.question_query(query_words("碳排放权怎么交易"))
    searched = terms(query)
    assert searched["碳排放权"] == 1.0
    assert searched["交易"] == 1.0
    assert searched["碳排放"] == searched["排放"] == ranking.SUBWORD_WEIGHT


def test_question_query_weighs_the_title_below_the_body():
    query = ranking.question_query(["债务"])
    boosts = {leaf.fieldname: leaf.boost for leaf in query.leaves()}
    assert boosts["title"] == ranking.QUESTION_FIELD_WEIGHTS["title"] < boosts["content"]


def test_compile_query_keeps_the_keyword_form_for_all_words():
    compiled = compile_query("个体工商户 债务")
    assert compiled.content_words == ["个体", "工商户", "债务"]
    assert isinstance(compiled.query, wq.And)
    assert isinstance(compiled.any_query, wq.Or)


def test_search_long_question_is_answered_by_any_words(law_engine):
    # no article holds 个体工商户, 债务, 财产 and 承担 all: the one holding most of them wins
    result = search(law_engine, "个体工商户的债务用什么财产承担？")
    assert result["match"] == "any"
    assert [hit["id"] for hit in result["hits"]] == [
        record_id("civil-56.md"),
        record_id("civil-54.md"),
        record_id("civil-1064.md"),
    ]


def test_search_question_finds_the_article_by_its_words(law_engine):
    result = search(law_engine, "没有签书面劳动合同，劳动关系从什么时候开始建立？")
    assert result["match"] == "any"
    assert [hit["id"] for hit in result["hits"]][:2] == [
        record_id("labour-10.md"),
        record_id("labour-7.md"),
    ]


def test_search_keywords_still_require_every_word(law_engine):
    result = search(law_engine, "字号 登记")
    assert result["match"] == "all"
    assert [hit["id"] for hit in result["hits"]] == [record_id("civil-54.md")]


def test_split_is_fixed_by_the_question_id():
    splits = [split_of(str(qid)) for qid in range(2000)]
    assert splits == [split_of(str(qid)) for qid in range(2000)]
    assert 0.65 < splits.count("tune") / len(splits) < 0.75


def test_measures_of_two_rankings():
    judgments = {"1": {"a", "b"}, "2": {"c"}}
    rankings = {"1": ["x", "a", "y", "b"], "2": ["x", "y"]}
    scores = measures(rankings, judgments)
    assert scores["MRR@10"] == pytest.approx((1 / 2 + 0) / 2)
    assert scores["Recall@10"] == pytest.approx((2 / 2 + 0) / 2)
    ideal = 1 + 1 / math.log2(3)
    assert scores["nDCG@10"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / ideal / 2)
