"""Segmentation, positions, offsets, dictionary, synonyms and stop words on real sentences."""

from __future__ import annotations

from conftest import SEED_FILE

from search.analysis import (
    ChineseTokenizer,
    index_tokens,
    normalize,
    query_words,
    stopwords,
    synonyms,
)

SENTENCE = (
    "推行一系列方案来加强能源和碳排量的总量与强度双重管控，具体举措包括能源和碳排量双控指标。"
)


def test_query_words_keep_domain_terms_whole():
    assert query_words("北京市发展改革委明确碳中和时间表，实现碳达峰") == [
        "北京市",
        "发展改革委",
        "明确",
        "碳中和",
        "时间表",
        "实现",
        "碳达峰",
    ]
    assert query_words("碳排量双控") == ["碳排量", "双控"]
    assert query_words("碳排放权和能耗双控") == ["碳排放权", "和", "能耗双控"]


def test_query_words_drop_punctuation_and_fold_width_and_case():
    assert query_words("ＧＤＰ增长，GDP！") == ["gdp", "增长", "gdp"]
    assert normalize("ＣＯ２") == "co2"


def test_index_tokens_put_subwords_at_the_position_of_their_word():
    tokens = index_tokens("碳排放权交易")
    assert tokens == [
        ("排放", 0, 1, 3),
        ("放权", 0, 2, 4),
        ("碳排放", 0, 0, 3),
        ("碳排放权", 0, 0, 4),
        ("交易", 1, 4, 6),
    ]


def test_index_tokens_positions_are_ordinal_and_offsets_point_into_the_text():
    tokens = index_tokens(SENTENCE)
    main_words = {}
    for term, position, start, end in tokens:
        assert SENTENCE[start:end].lower() == term
        main_words.setdefault(position, term)
    assert sorted(main_words) == list(range(len(main_words)))
    positions = {term: position for term, position, _, _ in tokens}
    # 双重管控 and its pieces share one position; 能源和碳排量 are consecutive words
    assert positions["双重"] == positions["管控"] == positions["双重管控"]
    assert positions["碳排量"] - positions["和"] == 1


def test_index_tokens_offsets_survive_full_width_text():
    text = "Ｇｄｐ增长"
    assert index_tokens(text) == [("gdp", 0, 0, 3), ("增长", 1, 3, 5)]


def test_tokenizer_query_mode_emits_words_only_with_ordinal_positions():
    tokenizer = ChineseTokenizer()
    tokens = [(t.text, t.pos) for t in tokenizer("碳排放权交易", positions=True, mode="query")]
    assert tokens == [("碳排放权", 0), ("交易", 1)]
    indexed = [
        (t.text, t.pos, t.startchar, t.endchar)
        for t in tokenizer("碳排放权交易", positions=True, chars=True, mode="index")
    ]
    assert indexed == index_tokens("碳排放权交易")


def test_tokenizer_finds_subword_queries_in_indexed_text():
    indexed = {
        term for term, _, _, _ in index_tokens("加强细颗粒物、臭氧、温室气体协同管控，控制碳排放")
    }
    for query in ("排放", "碳排放", "温室气体", "颗粒物"):
        assert all(word in indexed for word in query_words(query)), query


def test_synonyms_cover_the_domain_groups():
    assert synonyms("碳排量") == (("碳排量",), ("碳排放",), ("碳排放量",))
    assert synonyms("双控") == (("双控",), ("双重管控",), ("总量", "和", "强度", "双控"))
    assert synonyms("发改委") == (("发改委",), ("发展改革委",), ("发展和改革委员会",))
    assert synonyms("发展和改革委员会")[0] == ("发展和改革委员会",)
    assert synonyms("煤炭") == (("煤炭",),)


def test_stopwords_hold_function_and_question_words_not_content_words():
    stop = stopwords()
    assert {"的", "什么", "怎么", "是否", "谁", "可以"} <= stop
    assert not {"碳排放", "能源", "法律", "责任"} & stop


def test_word_positions_give_the_postings_whoosh_positions_give():
    # the fast path of our full-text fields against Whoosh's own Positions format, on the seed
    from whoosh.formats import Positions

    from search.analysis import ChineseAnalyzer, WordPositions

    text = SEED_FILE.read_text(encoding="utf-8")[:6000] + " 碳排放 碳排放权交易 碳排放。"
    analyzer = ChineseAnalyzer()
    ours = list(WordPositions().word_values(text, analyzer, mode="index"))
    theirs = list(Positions().word_values(text, analyzer, mode="index"))
    assert ours == theirs
    assert len(ours) > 300
    repeated = {word: (freq, value) for word, freq, _, value in ours}
    assert repeated["碳排放"][0] >= 3  # a word and the sub-word of longer ones, every position
    assert Positions().decode_positions(repeated["碳排放"][1])[-1] > 1000
