"""The changes kept since session 1, each re-measured on its own (`--steps`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from search.ranking import RankingConfig


# Question words added to search/data/stopwords.txt in the question-words step; the steps before
# it run without them.
ADDED_STOPWORDS = frozenset(
    {"哪", "哪儿", "何种", "何时", "什么样", "怎么样", "多久", "多长时间", "多大", "几个"}
    | {"怎么回事", "有何", "啥", "为啥", "咋", "咋办", "是否是", "可不可以", "需不需要"}
    | {"算不算", "行不行", "不会", "能够", "到底", "究竟", "哦", "哈"}
)


@dataclass
class Step:
    name: str  # what changed, as the report shows it
    ranking: RankingConfig  # the search's ranking with this step's changes and those before it


def kept_steps() -> list[Step]:
    """Each kept change, cumulative: the first row is the ranking as found, the last is now."""
    from search.analysis import stopwords
    from search.ranking import DEFAULT as now

    # steps 7-10 (issue #13) undone in every row before theirs
    before_13 = {
        "rank_every_question": False,
        "spread_rounds": 0,
        "same_file_keywords": False,
        "keyword_documents": 0,
        "two_keywords_filled": False,
    }
    found = replace(
        now,
        question_field_weights=now.field_weights,
        subword_weight=0.0,
        gram_weight=0.0,
        meaning_weight=0.0,
        question_map=False,
        stopwords=stopwords() - ADDED_STOPWORDS,
        **before_13,
    )
    title = replace(found, question_field_weights=SESSION_1_TITLE_WEIGHTS)
    pieces = replace(title, subword_weight=now.subword_weight)
    stop_list = replace(pieces, stopwords=now.stopwords)
    pairs = replace(stop_list, gram_weight=SESSION_1_GRAM_WEIGHT)
    meaning = replace(pairs, meaning_weight=UNMAPPED_MEANING_WEIGHT)
    questions = replace(meaning, rank_every_question=True)
    spread = replace(questions, spread_rounds=now.spread_rounds)
    same_file = replace(spread, same_file_keywords=now.same_file_keywords)
    fill = replace(same_file, keyword_documents=now.keyword_documents)
    return [
        Step("0. as found: Whoosh BM25F, ranked OR of the question's words", found),
        Step("1. title weighs 0.2, not 2, in ranked matching (keywords keep 2)", title),
        Step("2. dictionary words inside longer question words, at 0.5", pieces),
        Step("3. more question words in the stop list", stop_list),
        Step(
            f"4. + BM25 of the question's character pairs (x {SESSION_1_GRAM_WEIGHT}, "
            "each part divided by its best)",
            pairs,
        ),
        Step(
            f"5. + cosine of sentence vectors (x {UNMAPPED_MEANING_WEIGHT}, as a z-score)", meaning
        ),
        Step(
            "6. every query that reads as a question is ranked, all its words held or not",
            questions,
        ),
        Step("7. hits spread over their files (each file's best record first)", spread),
        Step(
            "8. keywords held by a document across its records match there too (after the "
            "records holding them all)",
            same_file,
        ),
        Step(
            f"9. 3+ keywords in fewer than {now.keyword_documents} documents: the best record of "
            "further documents holding 2 of them follows",
            fill,
        ),
        *later_steps(fill, now),
    ]


# The cosine's weight step 5 chose (session 2, with the Universal Sentence Encoder's vectors);
# step 11 moved it, with E5's.
UNMAPPED_MEANING_WEIGHT = 0.15


def later_steps(before: RankingConfig, now: RankingConfig) -> list[Step]:
    """The steps after step 9, from `before` to the ranking as it is."""
    pairs = replace(before, gram_weight=now.gram_weight)
    meaning = replace(pairs, meaning_weight=now.meaning_weight)
    two_keywords = replace(meaning, two_keywords_filled=now.two_keywords_filled)
    return [
        Step(f"10. character pairs weigh {now.gram_weight}, not 0.5", pairs),
        Step(
            f"11. the cosine weighs {now.meaning_weight}, not {UNMAPPED_MEANING_WEIGHT} (E5's "
            "sentence vectors)",
            meaning,
        ),
        Step(
            "12. step 9 for two keywords typed apart: documents holding one of them follow",
            two_keywords,
        ),
    ]


# The weights steps 1 and 4 chose (session 1); later steps may have moved them.
SESSION_1_TITLE_WEIGHTS = {"title": 0.2, "content": 1.0, "meta": 0.5}


SESSION_1_GRAM_WEIGHT = 0.5
