"""Ranking: how a question is read (question words dropped, dictionary words inside longer words
added, the title weighed below the body) and long questions answered by ranked matching over a
small index of law articles built here; plus the split and measures of bench/relevance.py."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from whoosh import query as wq

from bench.relevance import (
    ADDED_STOPWORDS,
    by_split,
    kept_steps,
    law_of,
    law_split,
    load_collection,
    measures,
    question_split,
    record_vectors,
    train_question_map,
)
from search import _whoosh, compiler, pairs, scoring, vectors
from search.analysis import character_bigrams, query_words
from search.compiler import compile_query, question_query
from search.indexer import update_index
from search.query import SearchIndex
from search.ranking import DEFAULT
from search.records import file_key, unpack
from search.request import SearchRequest

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


@contextlib.contextmanager
def documents_engine(
    tmp_path_factory, name: str, documents: dict[str, tuple[str, str]], vector_mode: str = "now"
) -> Iterator[SearchIndex]:
    """An index of `documents` (file name -> (title, text)), each a single policy document."""
    seeds = tmp_path_factory.mktemp(name)
    for file_name, (title, text) in documents.items():
        (seeds / file_name).write_text(f"# {title}\n\n{text}\n", encoding="utf-8")
    root = tmp_path_factory.mktemp(f"{name}-index") / "index"
    update_index(seeds, root, vectors=vector_mode)
    with SearchIndex(root) as opened:
        yield opened


@pytest.fixture(scope="module")
def law_engine(tmp_path_factory) -> Iterator[SearchIndex]:
    """An index of five law articles, each written as a single policy document."""
    with documents_engine(tmp_path_factory, "laws", ARTICLES) as opened:
        yield opened


def search(engine: SearchIndex, q: str) -> dict:
    return engine.search(SearchRequest.from_params({"q": [q]}))


@contextlib.contextmanager
def ranked_by(engine: SearchIndex, **changes) -> Iterator[SearchIndex]:
    """The same index searched with some of the ranking's settings changed."""
    with SearchIndex(engine.index_root, ranking=replace(DEFAULT, **changes)) as variant:
        yield variant


def terms(query: wq.Query) -> dict[str, float]:
    """Each content-field word of a query with the largest boost it is searched with."""
    found: dict[str, float] = {}
    for leaf in query.leaves():
        if isinstance(leaf, wq.Term) and leaf.fieldname == "content":
            found[leaf.text] = max(found.get(leaf.text, 0.0), leaf.boost)
    return found


def test_question_query_drops_question_words():
    query = question_query(query_words("谁可以成为个体工商户？"))
    # 工商 and 商户: the dictionary words inside 工商户
    assert set(terms(query)) == {"成为", "个体", "工商户", "工商", "商户"}


def test_question_query_adds_dictionary_words_inside_longer_words():
    query = question_query(query_words("碳排放权怎么交易"))
    searched = terms(query)
    assert searched["碳排放权"] == 1.0
    assert searched["交易"] == 1.0
    assert searched["碳排放"] == searched["排放"] == DEFAULT.subword_weight


def test_question_query_weighs_the_title_below_the_body():
    query = question_query(["债务"])
    boosts = {leaf.fieldname: leaf.boost for leaf in query.leaves()}
    assert boosts["title"] == DEFAULT.question_field_weights["title"] < boosts["content"]


def test_a_question_is_widened_by_related_words_only_when_they_weigh(monkeypatch):
    # none ships (docs/relevance.md, session 4): a learned file's words, as the compiler reads it
    monkeypatch.setattr(compiler, "related_words", lambda: {"吵": (("噪声", 0.7), ("振动", 0.4))})
    widened = replace(DEFAULT, related_weight=0.5)
    question = "邻居家每天晚上都很吵怎么办"
    searched = terms(compile_query(question, widened).any_query)
    # 噪声 at 0.5 x its cosine; 振动 is below the cosine related words must reach
    assert searched["噪声"] == pytest.approx(0.35)
    assert "振动" not in searched
    assert "噪声" not in terms(compile_query(question).any_query)
    # keywords are never widened
    assert "噪声" not in terms(compile_query("吵 邻居", widened).any_query)


def test_ranking_config_is_frozen_and_varied_by_replace():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT.gram_weight = 1.0
    with pytest.raises(TypeError):
        DEFAULT.field_weights["title"] = 1.0
    variant = replace(DEFAULT, gram_weight=0.0, question_field_weights={"content": 1.0})
    assert (variant.gram_weight, DEFAULT.gram_weight) == (0.0, 1.0)
    assert dict(variant.question_field_weights) == {"content": 1.0}
    # all words match in fewer than 3 records: 3 content words or more go to ranked matching
    assert DEFAULT.answers_by_any_word(content_words=3, all_words_hits=2)
    assert not DEFAULT.answers_by_any_word(content_words=2, all_words_hits=2)
    assert DEFAULT.answers_by_any_word(content_words=1, all_words_hits=0)


def test_compile_query_keeps_the_keyword_form_for_all_words():
    compiled = compile_query("个体工商户 债务")
    assert compiled.content_words == ["个体", "工商户", "债务"]
    assert isinstance(compiled.query, wq.And)
    assert isinstance(compiled.any_query, wq.Or)


def test_search_long_question_is_answered_by_any_words(law_engine):
    # no article holds 个体工商户, 债务, 财产 and 承担 all: the one holding most of them wins
    question = "个体工商户的债务用什么财产承担？"
    with ranked_by(law_engine, meaning_candidates=0) as engine:
        result = search(engine, question)
    assert result["match"] == "any"
    assert [hit["id"] for hit in result["hits"]] == [
        record_id("civil-56.md"),
        record_id("civil-54.md"),
        record_id("civil-1064.md"),
    ]
    # as a question it also matches the two articles nearest in meaning, ranked after these
    widened = search(law_engine, question)
    assert [hit["id"] for hit in widened["hits"]][:3] == [h["id"] for h in result["hits"]]
    assert widened["total"] == len(ARTICLES)


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


BUILDINGS = {
    "rating.md": ("绿色建筑星级评价办法", "绿色建筑按照星级进行评价，分为一星级、二星级和三星级。"),
    "labels.md": (
        "绿色建筑标识管理办法",
        "绿色建筑标识分为一星级、二星级、三星级，由住房城乡建设部门认定。",
    ),
    "subsidy.md": ("绿色建筑奖励办法", "对获得二星级以上标识的绿色建筑给予奖励。"),
    "code.md": ("绿色建筑条例", "新建民用建筑应当执行绿色建筑标准，并公开节能信息。"),
    "hotel.md": ("旅游饭店管理办法", "旅游饭店按照星级划分，由评定机构评定。"),
    "water.md": ("节约用水条例", "工业用水应当循环利用，推广雨水收集利用。"),
}


@pytest.fixture(scope="module")
def buildings_engine(tmp_path_factory) -> Iterator[SearchIndex]:
    """Six documents: three hold both 绿色建筑 and 星级, one each of them, one neither."""
    with documents_engine(tmp_path_factory, "buildings", BUILDINGS, vector_mode="skip") as opened:
        yield opened


def hit_files(result: dict) -> list[str]:
    return [hit["source_file"] for hit in result["hits"]]


def test_two_keywords_typed_apart_are_followed_by_documents_holding_one(buildings_engine):
    # fewer than ten documents hold both: those that do come first, then the documents holding
    # either keyword (by their BM25F), never one holding neither
    result = search(buildings_engine, "建筑 星级")
    assert result["match"] == "all"
    assert sorted(hit_files(result)[:3]) == ["labels.md", "rating.md", "subsidy.md"]
    assert sorted(hit_files(result)[3:]) == ["code.md", "hotel.md"]
    assert result["total"] == 5
    # the same two words written as one (the segmenter's cut, not the user's): both must match
    together = search(buildings_engine, "建筑星级")
    assert sorted(hit_files(together)) == ["labels.md", "rating.md", "subsidy.md"]
    with ranked_by(buildings_engine, two_keywords_filled=False) as engine:
        alone = search(engine, "建筑 星级")
    assert hit_files(alone) == hit_files(result)[:3]


def test_split_is_by_law_so_no_law_answers_both_splits():
    laws = [f"民法商法/法{n}.md" for n in range(200)]
    splits = [law_split(law) for law in laws]
    assert 0.6 < splits.count("tune") / len(splits) < 0.8
    tune = next(law for law in laws if law_split(law) == "tune")
    held = next(law for law in laws if law_split(law) == "heldout")
    assert question_split([f"{tune}#第一条", f"{tune}#第九条"]) == "tune"
    assert question_split([f"{held}#第二条"]) == "heldout"
    assert question_split([f"{tune}#第一条", f"{held}#第二条"]) == "straddling"
    assert law_of(f"{tune}#第一条") == tune


def test_relevance_steps_replay_the_changes_up_to_the_ranking_as_it_is():
    steps = kept_steps()
    assert steps[0].ranking.question_field_weights == DEFAULT.field_weights
    assert (steps[0].ranking.subword_weight, steps[0].ranking.meaning_weight) == (0.0, 0.0)
    assert not steps[0].ranking.dropped_words() & ADDED_STOPWORDS
    assert steps[3].ranking.dropped_words() >= ADDED_STOPWORDS
    assert steps[-1].ranking == DEFAULT


def test_measures_of_two_rankings():
    judgments = {"1": {"a", "b"}, "2": {"c"}}
    rankings = {"1": ["x", "a", "y", "b"], "2": ["x", "y"]}
    scores = measures(rankings, judgments)
    assert scores["MRR@10"] == pytest.approx((1 / 2 + 0) / 2)
    assert scores["Recall@10"] == pytest.approx((2 / 2 + 0) / 2)
    ideal = 1 + 1 / math.log2(3)
    assert scores["nDCG@10"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / ideal / 2)


# --- ranked matching in numpy: words, character pairs, sentence vectors ------------------------


def test_character_bigrams_pair_characters_within_runs():
    assert character_bigrams("碳排放权，Ｇ２0 交易!") == [
        "碳排",
        "排放",
        "放权",
        "g2",
        "20",
        "交易",
    ]
    assert character_bigrams("税") == ["税"]
    assert character_bigrams("——") == []


def test_pair_codes_are_the_character_bigrams_in_order():
    text = "碳排放权，Ｇ２0 交易! 税 碳排"
    decoded = [
        chr(code >> 21) + ("" if code & 0x1FFFFF == 0x1FFFFF else chr(code & 0x1FFFFF))
        for code in pairs.question_codes(text).tolist()
    ]
    assert decoded == character_bigrams(text) == [
        "碳排", "排放", "放权", "g2", "20", "交易", "税", "碳排",
    ]  # fmt: skip


def plain_pair_bm25(texts: dict[int, str], question: str, live: int) -> dict[int, float]:
    """BM25 of a question's character pairs over documents, written out term by term as the
    `grams` field of index format 4 scored them: Whoosh's one-byte lengths, the probabilistic
    idf, the average over every document."""
    from whoosh.util.numeric import byte_to_length, length_to_byte

    grams = {d: character_bigrams(t) for d, t in texts.items()}
    average = sum(len(g) for g in grams.values()) / len(texts)
    k1, b = DEFAULT.bm25_k1, DEFAULT.bm25_b
    scores: dict[int, float] = {}
    for gram in character_bigrams(question):
        holders = {d: g.count(gram) for d, g in grams.items() if gram in g}
        idf = math.log(1 + (live - len(holders) + 0.5) / (len(holders) + 0.5))
        for d, tf in holders.items():
            length = byte_to_length(length_to_byte(len(grams[d])))
            part = idf * (tf * (k1 + 1)) / (tf + k1 * ((1 - b) + b * length / average))
            scores[d] = scores.get(d, 0.0) + part
    return scores


@pytest.mark.parametrize(
    ("question", "holders"),
    [("个体工商户的债务用什么财产承担？", 3), ("员工入职以后多久必须签劳动合同？", 2), ("税", 0)],
)
def test_character_pair_scores_are_bm25_of_the_bigrams(law_engine, question, holders):
    searcher, generation = law_engine.searcher()
    texts = {
        docnum: f"{unpack(fields['record'])['title']}\n{unpack(fields['record'])['content']}"
        for docnum, fields in searcher.iter_docs()
    }
    ours = generation.scoring.pairs.bm25(searcher, question, DEFAULT, 256)
    expected = plain_pair_bm25(texts, question, searcher.doc_count())
    assert set(np.flatnonzero(ours).tolist()) == {d for d, s in expected.items() if s > 0}
    for docnum, score in expected.items():
        assert ours[docnum] == pytest.approx(score, rel=1e-5)
    assert len(expected) == holders


def test_character_pairs_follow_records_through_updates_and_merges(tmp_path):
    # each update adds a segment; a segment a quarter deleted is rewritten at the next commit
    # (segments.merge_policy) and Whoosh merges small ones, and a merged segment's pairs are
    # made again from its stored records, without the deleted ones
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    root = tmp_path / "index"
    names = list(ARTICLES)
    updates = 0
    for step, name in enumerate(names):
        title, text = ARTICLES[name]
        (seeds / name).write_text(f"# {title}\n\n{text}\n", encoding="utf-8")
        if step == 0:  # a segment of two records, one of which is deleted below
            (seeds / "extra.md").write_text(f"# {title}\n\n{text}另\n", encoding="utf-8")
        if step == 3:
            (seeds / names[0]).unlink()
        update_index(seeds, root, vectors="skip")
        updates += 1
    for again in range(2):  # more segments: Whoosh merges the small ones
        (seeds / f"again-{again}.md").write_text(f"# {title}\n\n{text}再次{again}\n", "utf-8")
        update_index(seeds, root, vectors="skip")
        updates += 1
    with SearchIndex(root) as engine:
        searcher, generation = engine.searcher()
        parts = generation.scoring.pairs.parts(searcher.reader())
        assert sum(len(s.lengths) for s, _ in parts) == searcher.reader().doc_count_all()
        assert len(parts) < updates  # some segments were merged
        for docnum, fields in searcher.iter_docs():
            record = unpack(fields["record"])
            text = f"{record['title']}\n{record['content']}"
            segment, offset = next((s, o) for s, o in reversed(parts) if o <= docnum)
            held = {}
            for row, code in enumerate(segment.codes.tolist()):
                start, end = segment.starts[row], segment.starts[row + 1]
                found = np.flatnonzero(segment.docs[start:end] == docnum - offset)
                if len(found):
                    held[code] = int(segment.tf[start + found[0]])
            expected = {}
            for code in pairs.question_codes(text).tolist():
                expected[code] = expected.get(code, 0) + 1
            assert held == expected, record["id"]
        assert searcher.doc_count() == len(names) - 1 + 1 + 2  # one deleted, extra, again


def test_numpy_word_scores_are_whoosh_bm25f_scores(law_engine):
    # the same question scored by Whoosh's own matchers and by scoring.bm25, record by record
    compiled = compile_query("个体工商户的债务用什么财产承担？")
    searcher, generation = law_engine.searcher()
    whoosh_scores = dict(searcher.search(compiled.any_query, limit=None).items())
    terms_, others = scoring.flatten(compiled.any_query)
    assert others == [] and len(terms_) > 10
    ours = scoring.bm25(searcher, generation.scoring, terms_, DEFAULT)
    assert set(np.flatnonzero(ours).tolist()) == set(whoosh_scores)
    for docnum, score in whoosh_scores.items():
        assert ours[docnum] == pytest.approx(score, rel=1e-5)


def test_postings_read_as_arrays_are_whoosh_postings(law_engine):
    # every term of the fields kept as arrays: the same documents and weights as Whoosh's matchers
    from search.segments import ARRAYS_FOR

    searcher, _ = law_engine.searcher()
    reader = searcher.reader()
    ((leaf, _),) = reader.leaf_readers()
    present = {field for field, _ in reader.all_terms()} & ARRAYS_FOR
    assert present >= {"title", "content", "source_file"}
    assert all(_whoosh._arrays_of(leaf, field) is not None for field in present)
    checked = 0
    for field, text in reader.all_terms():
        if field not in ARRAYS_FOR:
            continue
        matcher = reader.postings(field, text)
        expected = []
        while matcher.is_active():
            expected.append((matcher.id(), matcher.weight()))
            matcher.next()
        docs, tf = _whoosh.postings(reader, field, text)
        assert list(zip(docs.tolist(), tf.tolist(), strict=True)) == expected, (field, text)
        checked += 1
    assert checked > 100


def test_whoosh_internals_are_read_from_the_pinned_version():
    # an upgrade changes the pin and this module together, and must pass the test above
    pyproject = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text()
    assert f'"whoosh-reloaded=={_whoosh.PINNED_VERSION}"' in pyproject


def test_every_record_has_its_sentence_vector(law_engine):
    searcher, generation = law_engine.searcher()
    rows = generation.scoring.vector_rows(searcher.reader())
    assert (rows >= 0).all()
    matrix = generation.scoring.cache.vectors(rows)
    for docnum in range(searcher.doc_count_all()):
        record = unpack(searcher.stored_fields(docnum)["record"])
        expected = vectors.embed([vectors.record_text(record["title"], record["content"])])[0]
        assert np.linalg.norm(matrix[docnum]) == pytest.approx(1.0, abs=2e-2)
        assert float(matrix[docnum] @ expected) > 0.999  # int8 storage, same vector


def test_sentence_vectors_follow_records_through_updates(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for name in ("civil-54.md", "labour-7.md"):
        title, text = ARTICLES[name]
        (seeds / name).write_text(f"# {title}\n\n{text}\n", encoding="utf-8")
    root = tmp_path / "index"
    update_index(seeds, root)
    (seeds / "civil-54.md").unlink()
    title, text = ARTICLES["labour-10.md"]
    (seeds / "labour-10.md").write_text(f"# {title}\n\n{text}\n", encoding="utf-8")
    assert update_index(seeds, root).files_read == 1
    with SearchIndex(root) as engine:
        searcher, generation = engine.searcher()
        matrix = generation.scoring.cache.vectors(generation.scoring.vector_rows(searcher.reader()))
        live = {}
        for docnum, fields in searcher.iter_docs():
            record = unpack(fields["record"])
            live[record["id"]] = docnum
        assert set(live) == {record_id("labour-7.md"), record_id("labour-10.md")}
        for name in ("labour-7.md", "labour-10.md"):
            title, text = ARTICLES[name]
            expected = vectors.embed([vectors.record_text(title, text)])[0]
            assert float(matrix[live[record_id(name)]] @ expected) > 0.999


def test_each_signal_of_ranked_matching_counts(law_engine):
    # 员工 and 合同 are in no article: the question matches by 劳动 / 签 alone in different ways
    question = "员工入职以后多久必须签劳动合同？"
    with ranked_by(law_engine, gram_weight=0.0, meaning_weight=0.0) as engine:
        words_only = search(engine, question)
    with ranked_by(law_engine, meaning_candidates=0) as engine:
        full = search(engine, question)
    assert words_only["match"] == full["match"] == "any"
    assert words_only["total"] == full["total"]  # the signals order the matches, never add any
    assert full["hits"][0]["id"] == record_id("labour-10.md")
    assert [h["score"] for h in full["hits"]] != [h["score"] for h in words_only["hits"]]


def test_question_map_training_moves_questions_to_their_answers():
    # three documents; each question starts nearest the wrong one, and is paired with another
    rng = np.random.default_rng(7)
    documents = np.linalg.qr(rng.normal(size=(16, 3)))[0].T.astype(np.float32)  # orthonormal
    wrong = [1, 2, 0]
    questions = documents[wrong] + 0.1 * rng.normal(size=(3, 16)).astype(np.float32)
    pairs = np.array([(0, 0), (1, 1), (2, 2)])
    before = np.argmax(questions @ documents.T, axis=1)
    assert before.tolist() == wrong
    mapping = train_question_map(questions, documents, pairs, epochs=200, batch=3)
    after = np.argmax((questions + questions @ mapping) @ documents.T, axis=1)
    assert after.tolist() == [0, 1, 2]
    again = train_question_map(questions, documents, pairs, epochs=200, batch=3)
    assert np.array_equal(mapping, again)  # the same seed learns the same map


def test_question_vector_is_moved_by_a_map_when_there_is_one(tmp_path, monkeypatch):
    plain = vectors.embed(["房东不修房子怎么办"], question=True)[0]
    monkeypatch.setattr(vectors, "QUESTION_MAP_FILE", tmp_path / "none.npy")
    vectors.question_map.cache_clear()
    assert np.array_equal(vectors.question_vector("房东不修房子怎么办"), plain)
    mapping = np.eye(vectors.DIMENSIONS, dtype=np.float32) * 0.5
    np.save(tmp_path / "map.npy", mapping)
    monkeypatch.setattr(vectors, "QUESTION_MAP_FILE", tmp_path / "map.npy")
    vectors.question_map.cache_clear()
    try:
        moved = vectors.question_vector("房东不修房子怎么办")
        assert np.allclose(moved, plain + plain @ mapping, atol=1e-5)
        assert np.array_equal(vectors.question_vector("房东不修房子怎么办", mapped=False), plain)
    finally:
        vectors.question_map.cache_clear()


def test_the_question_map_reads_each_articles_vector_from_the_store(law_engine):
    # what the map learns from (bench.relevance --train-map): the vector of each article's
    # record, by the article's id, as the pass stored it
    sources = {name: f"law#{name}" for name in ARTICLES}
    found = record_vectors(law_engine.index_root, sources)
    assert sorted(found) == sorted(sources.values())
    for name, (title, text) in ARTICLES.items():
        expected = vectors.embed([vectors.record_text(title, text)])[0]
        assert np.allclose(found[f"law#{name}"], expected, atol=0.02)


def test_a_question_also_matches_the_records_nearest_in_meaning(law_engine):
    # 登记 is in one article only; as a question, the nearest records in meaning join it
    question = "做生意要去哪里登记？"
    with ranked_by(law_engine, meaning_candidates=0) as engine:
        by_words = search(engine, question)
    widened = search(law_engine, question)
    assert by_words["match"] == widened["match"] == "any"
    assert [h["id"] for h in by_words["hits"]] == [record_id("civil-54.md")]
    assert widened["total"] == len(ARTICLES)  # every record is among the 50 nearest here
    assert widened["hits"][0]["id"] == record_id("civil-54.md")
    # keywords are not widened, and a question no record matches by its words matches nothing
    assert search(law_engine, "登记 字号")["total"] == 1
    assert search(law_engine, "做生意 去 哪里 登记")["total"] == 1  # four keywords
    nothing = search(law_engine, "做生意要去哪里备案审批？")
    assert nothing["total"] == 0


def test_embed_encodes_a_repeated_text_once_and_alike():
    text = "重点用能单位应当每年报送能源利用状况报告。"
    vectors._cache.pop((False, text), None)
    first = vectors.embed([text, "", text])
    assert np.array_equal(first[0], first[2]) and not first[1].any()
    assert (False, text) in vectors._cache
    assert np.array_equal(vectors.embed([text])[0], first[0])
    assert np.isclose(np.linalg.norm(first[0]), 1.0, atol=1e-4)
    assert first.shape == (3, vectors.DIMENSIONS)
    vectors.clear_cache()
    assert (False, text) not in vectors._cache
    # the vector pass encodes each text once and keeps nothing in the cache
    assert np.array_equal(vectors.embed([text], remember=False)[0], first[0])
    assert (False, text) not in vectors._cache


def test_a_question_is_read_as_a_question_and_a_record_as_a_passage():
    # E5 reads each with its own prefix: the same words give two different vectors, and the
    # question's is nearer the passage that answers it than to one that does not
    question = "邻居装修太吵了怎么办"
    as_question = vectors.question_vector(question, mapped=False)
    as_passage = vectors.embed([question])[0]
    assert not np.allclose(as_question, as_passage, atol=1e-3)
    passages = vectors.embed(
        [
            "不动产的相邻权利人应当按照有利生产、方便生活、团结互助、公平合理的原则，正确处理相邻关系。",
            "专利权的期限为二十年，自申请日起计算。",
        ]
    )
    near, far = passages @ as_question
    assert near > far


def test_threads_encode_side_by_side_and_alike():
    # the vector pass encodes batches on several threads at once (vectorstore.fill), and a
    # server's threads encode questions at once: the engine is reentrant, and the vectors are
    # the same as one at a time
    texts = [
        f"第{i}条 新建建筑应当按照绿色建筑标准进行设计和建造，节约能源{i}。" for i in range(12)
    ]
    one_by_one = np.stack([vectors.embed([text])[0] for text in texts])
    for text in texts:
        vectors._cache.pop((False, text), None)
    with ThreadPoolExecutor(4) as pool:
        together = np.stack(list(pool.map(lambda text: vectors.embed([text])[0], texts)))
    assert np.allclose(one_by_one, together, atol=1e-6)


def test_a_further_question_set_is_all_held_out(tmp_path):
    (tmp_path / "articles.jsonl").write_text(
        json.dumps(
            {"docid": "a#第一条", "law": "a", "article": "第一条", "file": "a.md", "text": "x"}
        )
        + "\n",
        encoding="utf-8",
    )
    (tmp_path / "queries.test.tsv").write_text(
        "q1\t什么是x？\nq2\t没有判断的问题\n", encoding="utf-8"
    )
    (tmp_path / "qrels.test.tsv").write_text("q1 0 a#第一条 1\n", encoding="utf-8")
    collection = load_collection(tmp_path, "queries.test.tsv", "qrels.test.tsv")
    assert collection.all_held_out and list(collection.questions) == ["q1"]
    assert collection.split("q1") == "heldout"
    scores = by_split({"q1": ["a#第一条"]}, collection.judgments, collection.split)
    assert scores["heldout"]["MRR@10"] == 1.0 and scores["tune"]["questions"] == 0


KEYWORD_QUERIES = [
    "碳排量双控",
    "碳中和",
    '"碳排量权交易"',
    "碳排量 OR 冬奥",
    "碳中和 -排水",
    "title:丰台站",
    "issuer:北京市发展改革委 能源",
    "北京 (能源 OR 排放)",
    "year:2022",
    "双重管控",
    "发改委",
]


@pytest.mark.parametrize("text", KEYWORD_QUERIES)
def test_keyword_ranking_in_numpy_is_whoosh_bm25f(engine, text):
    # the page the engine serves (numpy BM25F over postings arrays) is Whoosh's own ranking
    result = engine.search(SearchRequest(q=text, per_page=100))
    assert result["match"] == "all" and result["total"] > 0
    compiled = compile_query(text)
    searcher, _ = engine.searcher()
    whoosh = [
        (searcher.stored_fields(d)["record"], round(s, 4))
        for d, s in searcher.search(compiled.query, limit=None).items()
    ]
    assert [(h["id"], h["score"]) for h in result["hits"]] == [
        (unpack(stored)["id"], score) for stored, score in whoosh
    ]
