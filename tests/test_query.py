"""The search function on an index built from the real seed: exact hits, facets, filters, sorts."""

from __future__ import annotations

from conftest import entry_id

from search.records import file_key
from search.request import SearchRequest

SEED = file_key("beijing-industry-carbon-key-nodes.md")


def entry(node: int, number: int) -> str:
    return entry_id(node, number)


def run(engine, **params):
    request = SearchRequest.from_params(
        {k: v if isinstance(v, list) else [str(v)] for k, v in params.items()}
    )
    return engine.search(request)


def ids(result) -> list[str]:
    return [hit["id"] for hit in result["hits"]]


def facet(result, name) -> dict:
    return {f["value"]: f["count"] for f in result["facets"][name]}


def test_search_carbon_dual_control_finds_both_dual_control_entries(engine):
    result = run(engine, q="碳排量双控")
    # 2020-04-15 entry on 能源和碳排量的总量与强度双重管控, and the 2021 report entry saying "双控"
    assert sorted(ids(result)) == sorted([entry(1, 2), entry(3, 2)])
    assert result["total"] == 2
    assert result["match"] == "all"


def test_search_phrase_finds_the_trading_market_entry(engine):
    result = run(engine, q='"碳排量权交易"')
    assert ids(result) == [entry(3, 1)]
    assert "<mark>碳排量权交易</mark>" in result["hits"][0]["snippet"]


def test_search_carbon_neutrality_finds_drainage_group_and_report(engine):
    result = run(engine, q="碳中和")
    assert sorted(ids(result)) == sorted([entry(5, 1), entry(3, 2)])


def test_search_subword_and_synonym_match(engine):
    # 排放 is inside 碳排放; 碳排放 is a synonym of the seed's 碳排量
    assert run(engine, q="碳排放")["total"] == run(engine, q="碳排量")["total"] == 8
    assert run(engine, q="发改委")["total"] == 3


def test_facets_issuer_counts_and_self_exclusion(engine):
    everything = run(engine)
    assert everything["total"] == 13
    assert facet(everything, "issuer")["北京市发展和改革委员会"] == 3
    selected = run(engine, issuer="北京市发展改革委")
    assert selected["total"] == 3
    # the issuer facet ignores its own selection, so the alternatives stay visible
    assert facet(selected, "issuer") == facet(everything, "issuer")
    assert [f for f in selected["facets"]["issuer"] if f["selected"]] == [
        {"value": "北京市发展和改革委员会", "count": 3, "selected": True}
    ]
    # the other facets count within the selection
    assert facet(selected, "node_type") == {"季节性": 3}
    assert facet(selected, "year") == {2020: 3}


def test_facets_of_the_whole_seed(engine):
    result = run(engine)
    assert facet(result, "node_type") == {"事件": 10, "季节性": 3}
    assert facet(result, "year") == {2023: 4, 2022: 2, 2021: 3, 2020: 3, 2013: 1}
    assert facet(result, "region") == {"北京市": 13}
    assert facet(result, "sector") == {"工业领域": 13}
    assert facet(result, "confidence") == {"0.5-0.6": 13}


def test_filter_year_2022_gives_the_two_entries_of_node_2022_03_01(engine):
    result = run(engine, date_from="2022", date_to="2022")
    assert ids(result) == [entry(6, 1), entry(6, 2)]


def test_filter_min_confidence(engine):
    result = run(engine, min_confidence="0.57", per_page=20)
    assert result["total"] == 6
    assert {hit["confidence"] for hit in result["hits"]} == {0.57, 0.58}


def test_filter_several_issuers_and_a_type(engine):
    result = run(engine, issuer=["北京市发展改革委", "北京市人民政府"], per_page=20)
    assert result["total"] == 3 + facet(run(engine), "issuer")["北京市人民政府"]
    assert run(engine, type="季节性", q="碳排量")["total"] == 1


def test_empty_query_browses_newest_first(engine):
    result = run(engine, type="事件", per_page=20)
    dates = [hit["date"] for hit in result["hits"]]
    assert result["total"] == 10
    assert dates == sorted(dates, reverse=True)
    assert result["sort"] == "-date"


def test_sort_by_date_and_confidence_and_paging(engine):
    oldest = run(engine, sort="date", per_page=3)
    assert [hit["date"] for hit in oldest["hits"]] == ["2013", "2020-04", "2020-04"]
    by_confidence = run(engine, sort="confidence", per_page=3)
    assert [hit["confidence"] for hit in by_confidence["hits"]] == [0.58, 0.58, 0.58]
    last = run(engine, per_page=5, page=3)
    assert len(last["hits"]) == 3 and last["pages"] == 3
    pages = [ids(run(engine, per_page=5, page=p)) for p in (1, 2, 3)]
    assert len({i for page in pages for i in page}) == 13


def test_not_or_and_fields(engine):
    assert sorted(ids(run(engine, q="碳中和 -排水"))) == [entry(3, 2)]
    assert sorted(ids(run(engine, q="碳中和 NOT 排水"))) == [entry(3, 2)]
    assert run(engine, q="冬奥会 OR 丰台站")["total"] == 2
    assert run(engine, q="issuer:北京市发展改革委")["total"] == 3
    assert run(engine, q="type:季节性 碳排量")["total"] == 1
    assert run(engine, q="title:丰台站")["total"] == 1
    assert run(engine, q="year:2013")["total"] == 1


def test_odd_input_is_answered_not_raised(engine):
    # unclosed groups and quotes close at the end; lone operators and punctuation are no words,
    # so they browse all 13 records; unknown words find nothing
    totals = {
        "((((碳中和": 2,
        "碳中和))": 2,
        '"碳中和': 2,
        "OR OR": 13,
        "AND": 13,
        "-": 13,
        "*": 13,
        "a*": 0,
        "?": 13,
        "foo:bar": 0,
        "：": 13,
        "()": 13,
    }
    assert {text: run(engine, q=text)["total"] for text in totals} == totals
    assert ids(run(engine, q="((碳中和 -排水")) == [entry(3, 2)]


def test_long_question_falls_back_to_ranked_any_word_matching(engine):
    result = run(engine, q="北京冬奥会期间有没有要求污染工厂停工呢")
    assert result["match"] == "any"
    assert ids(result)[0] == entry(6, 2)


def test_snippet_marks_whole_words_and_escapes_html(engine):
    hit = next(h for h in run(engine, q="碳排量双控")["hits"] if h["id"] == entry(3, 2))
    assert "<mark>碳排量</mark>" in hit["snippet"]
    assert "&quot;<mark>双控</mark>&quot;" in hit["snippet"]
    other = next(h for h in run(engine, q="碳排量双控")["hits"] if h["id"] == entry(1, 2))
    assert "<mark>双重管控</mark>" in other["snippet"]
    assert "<mark>双重</mark>" not in other["snippet"]


def test_did_you_mean_when_nothing_matches(engine):
    result = run(engine, q="碳排良")
    assert result["total"] == 0
    assert result["suggestion"] == "碳排量"
    assert run(engine, q="碳中和")["suggestion"] is None
    # the words match; a filter emptied the result: nothing to suggest
    filtered = run(engine, q="碳中和", year=["1999"])
    assert (filtered["total"], filtered["suggestion"]) == (0, None)


QUOTED_QUESTION = "北京如何通过“碳排放权交易市场”实现“碳中和”？"


def test_a_question_quoting_a_name_is_ranked_as_if_unquoted(engine):
    quoted = run(engine, q=QUOTED_QUESTION)
    unquoted = run(engine, q="北京如何通过碳排放权交易市场实现碳中和？")
    assert (quoted["total"], quoted["match"]) == (13, "any")
    assert ids(quoted) == ids(unquoted)
    assert [h["score"] for h in quoted["hits"]] == [h["score"] for h in unquoted["hits"]]
    # the trading market's entry, then the drainage group's carbon-neutrality plan
    assert ids(quoted)[:3] == [entry(3, 1), entry(5, 1), entry(3, 2)]
    # without the question mark it still reads as a sentence (no spaces, words outside quotes)
    assert ids(run(engine, q=QUOTED_QUESTION[:-1]))[:3] == ids(quoted)[:3]


def test_a_quoted_phrase_in_a_keyword_query_is_strict_and_says_so(engine):
    result = run(engine, q='"碳排放权交易市场"')
    assert (result["total"], result["match"], result["hits"]) == (0, "all", [])
    assert result["notice"] == (
        "引号中的短语须原样出现：没有记录含有“碳排放权交易市场”。去掉引号可按词检索。"
    )
    assert result["suggestion"] == "碳排放权交易市场"
    assert run(engine, q="碳排放权交易市场")["total"] > 0
    # a phrase that occurs as written: found, no notice
    found = run(engine, q='"排水集团碳中和"')
    assert (ids(found), found["notice"]) == ([entry(5, 1)], None)
    assert run(engine, q="碳排良")["notice"] is None


def test_hit_fields(engine):
    hit = run(engine, q="排水集团")["hits"][0]
    assert hit["id"] == entry(5, 1)
    assert hit["date"] == "2021-06-25"
    assert hit["date_text"] == "2021年6月25日"
    assert hit["issuer"] == "北京市人民政府" and hit["issuer_derived"] is True
    assert hit["node_type"] == "事件" and hit["confidence"] == 0.56
    assert hit["sources"] == [
        {
            "label": "北京市人民政府",
            "url": "https://gzw.beijing.gov.cn/yggq/qydt/202106/t20210630_2425567.html",
        }
    ]
    assert hit["source_file"] == "beijing-industry-carbon-key-nodes.md"


def test_document_and_siblings(engine):
    record = engine.document(entry(7, 3))
    assert record["title"] == "中关村科幻产业创新中心揭牌"
    assert record["truncated"] is True
    assert [s["id"] for s in engine.siblings(record)] == [entry(7, 1), entry(7, 2)]
