"""How results are ranked: every knob of relevance in one frozen RankingConfig, whose DEFAULT the
search uses. Tuning (bench/relevance.py, docs/relevance.md) builds variants of it with
dataclasses.replace and passes them to SearchIndex(index_root, ranking=...)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from whoosh.scoring import BM25F

from .analysis import stopwords


def _weights(**weights: float) -> MappingProxyType:
    return MappingProxyType(weights)


@dataclass(frozen=True)
class RankingConfig:
    """Field weights, BM25 parameters and how long questions are matched."""

    # Full-text fields a plain query word searches, with their weights: a word in the title (the
    # policy's or law's name) says more about the record than the same word in the body.
    field_weights: Mapping[str, float] = field(
        default_factory=lambda: _weights(title=2.0, content=1.0, meta=0.5)
    )
    # The same for ranked matching of a question's words. A title is short, so one question word
    # in it earns a title's full score, and every record under the same name shares it: in a long
    # question the words that happen to be in a name would then outrank the record that answers.
    question_field_weights: Mapping[str, float] = field(
        default_factory=lambda: _weights(title=0.2, content=1.0, meta=0.5)
    )
    # BM25 term-frequency saturation and length normalisation.
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    # Synonyms match a little below the word the user typed.
    synonym_weight: float = 0.8
    # In ranked matching, the dictionary words inside a longer question word (个体 and 工商户 in
    # 个体工商户) match too, at this weight: the article that answers may use only the shorter one.
    subword_weight: float = 0.5
    # A question's words also match, in ranked matching, their nearest words in meaning as
    # learned from the reference corpus (search/data/related_words.txt, bench/related_words.py),
    # at related_weight times their cosine, the related_count nearest at related_similarity or
    # more (0: none). Keywords are never widened so. None ships: learned from the corpus's
    # official text, they moved neither the legal questions nor the policy needs beyond noise.
    related_weight: float = 0.0
    related_count: int = 5
    related_similarity: float = 0.5
    # Ranked matching adds, to the words' BM25F score (divided by its best value among the
    # matched records), the BM25 of the question's character pairs (likewise divided) at
    # gram_weight and the cosine of sentence vectors (as a z-score over all records) at
    # meaning_weight. Pairs match where the segmenter cut question and article differently
    # (偿还 / 清偿还款); vectors, where they say the same thing in other words. See scoring.py
    # and docs/relevance.md. The cosine is E5's (search/vectors.py); 0.6 is as good as any
    # weight from 0.5 to 0.8 on the legal tune questions and the best of them on the policy needs.
    gram_weight: float = 1.0
    meaning_weight: float = 0.6
    # Move question vectors by a map learned from judged questions (search/vectors.py), when
    # search/data/question_map.npy exists. None ships: learned on legal questions of some laws,
    # it did not help questions answered by other laws, nor the policy needs.
    question_map: bool = False
    # A query that reads as a question (it ends in a question mark, or it is written without
    # spaces and holds question_min_words content words or more) also matches this many records
    # nearest to it in meaning, whether or not they share a word with it.
    meaning_candidates: int = 50
    question_min_words: int = 4
    # The idf of character pairs: "whoosh" (never below 1) or "probabilistic" (near 0 for pairs
    # in most records, such as those of 合同 or 可以 in law articles).
    gram_idf: str = "probabilistic"
    # When all words must match and fewer records than this do, a query of at least
    # fallback_min_words content words is answered by ranked matching of any word instead (a
    # question's wording is rarely all in the article that answers it). Shorter queries fall
    # back only when nothing matches all their words.
    min_conjunctive_hits: int = 3
    fallback_min_words: int = 3
    # A query that reads as a question is answered by ranked matching even when some records
    # hold all its words: the record that holds every word of a sentence is seldom the one that
    # answers it (on unseen legal questions, MRR 0.10 by all words against 0.46 ranked).
    rank_every_question: bool = True
    # Hits by relevance: among the best spread_window records, each file's best comes before any
    # file's second, and so on for spread_rounds rounds (0: plain score order). A page then
    # shows more documents, rather than ten articles of one law (scoring.spread_over_files).
    spread_rounds: int = 1
    # Keywords that no record holds together but a document does, across its articles or
    # paragraphs, match that document's records holding some of them, after the records that
    # hold them all (query.SearchIndex._with_same_file).
    same_file_keywords: bool = True
    # Three keywords or more held (together, by a record or a document) in fewer documents than
    # this are followed by the best record of each further document holding two of them or
    # more, up to this many documents in all (0: none).
    keyword_documents: int = 10
    # The same for two keywords typed apart (绿色建筑 星级, not 碳排量双控, which the segmenter
    # cuts in two): documents holding one of them follow. Added in session 6: the policy needs'
    # keyword nDCG@10 went 0.898 -> 0.919 (BM25 over jieba: 0.906).
    two_keywords_filled: bool = True
    spread_window: int = 100
    # The words a query drops unless nothing else is left; None: search/data/stopwords.txt.
    stopwords: frozenset[str] | None = None

    def __post_init__(self) -> None:
        # frozen all the way down: a variant is made with dataclasses.replace, never by editing
        for name in ("field_weights", "question_field_weights"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    def answers_by_any_word(self, content_words: int, all_words_hits: int) -> bool:
        """Whether a query of plain words, whose words all match in `all_words_hits` records, is
        answered by ranked matching of any word instead."""
        return all_words_hits == 0 or (
            content_words >= self.fallback_min_words and all_words_hits < self.min_conjunctive_hits
        )

    def dropped_words(self) -> frozenset[str]:
        """The stop list queries use."""
        return stopwords() if self.stopwords is None else self.stopwords

    def weighting(self) -> BM25F:
        """The scoring model of every search."""
        return BM25F(B=self.bm25_b, K1=self.bm25_k1)


DEFAULT = RankingConfig()


def bm25_term(idf: float, tf, length, average: float, ranking: RankingConfig):
    """One term's BM25 for the documents whose term frequencies and lengths are in the float32
    arrays `tf` and `length` (the words of questions, scoring.bm25, and their character pairs,
    pairs.py). Keyword queries keep Whoosh's own order of operations (scoring._add_scores)."""
    k1, b = ranking.bm25_k1, ranking.bm25_b
    return idf * (tf * (k1 + 1)) / (tf + k1 * ((1 - b) + b * length / average))
