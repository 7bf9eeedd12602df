"""The one query builder: a parsed query (querylang.py) compiled into Whoosh queries. Its words
are analysed like indexed text and widened by the synonym groups, weighed per field by the
RankingConfig; plain words also get their ranked-OR form, with which long questions are matched
(scoring.py), and the words and phrases a match may be highlighted as."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from whoosh import query as wq

from . import validity
from .analysis import index_tokens, normalize, query_words, related_words, synonyms
from .highlight import Highlight
from .issuers import canonical_issuer
from .querylang import QUOTE_MARKS, Node, is_plain, parse_query, walk
from .ranking import DEFAULT, RankingConfig


@dataclass
class CompiledQuery:
    query: wq.Query | None  # None: match every record
    any_query: wq.Query | None  # the ranked-OR form, when the query is plain words
    content_words: list[str]  # plain words after stop words, in order
    raw_words: list[str]  # the plain words as typed (for suggestions)
    highlight: Highlight
    phrases: list[str] = field(default_factory=list)  # the "quoted phrases", as typed
    text: str = ""  # the text compiled: a question's quote marks removed
    # a sentence rather than keywords: ranked matching widens it by meaning (scoring.py)
    reads_as_question: bool = False


def compile_query(text: str, ranking: RankingConfig = DEFAULT) -> CompiledQuery:
    """Parse and compile a query string for the index."""
    text = _unquoted_question(text, ranking) or text
    node = parse_query(text)
    # Stop words are dropped from plain words unless nothing else would be left.
    plain = [w for n in walk(node) if n.kind == "word" for w in query_words(n.text)]
    stop = ranking.dropped_words()
    compiler = _Compiler(ranking, drop_stopwords=any(w not in stop for w in plain))
    query = compiler.compile(node)
    reads_as_question = _reads_as_question(text, compiler, ranking)
    any_query = None
    if is_plain(node) and query is not None:
        any_query = compiler.question_query(plain, related=reads_as_question)
        if type(any_query) is wq.Or:
            # Past 5,000 records Whoosh ORs through a binary tree of union matchers that it
            # rebalances at every match; scoring the postings in blocks of arrays gives the same
            # scores in half the time on long questions.
            any_query.matcher_type = wq.Or.ARRAY_MATCHER
    if query is not None and not isinstance(query, wq.AndNot) and isinstance(query, wq.Not):
        query = wq.AndNot(wq.Every(), query.query)
    return CompiledQuery(
        query,
        any_query,
        compiler.content_words,
        compiler.raw_words,
        compiler.highlight,
        compiler.phrases,
        text,
        reads_as_question=reads_as_question,
    )


def question_query(
    words: Sequence[str], drop_stopwords: bool = True, ranking: RankingConfig = DEFAULT
) -> wq.Query | None:
    """The ranked-OR form of a query's plain words (each analysed query word, in order): any word
    may match, each with its synonyms and, at the subword weight, the dictionary words inside it."""
    return _Compiler(ranking, drop_stopwords).question_query(words)


def subwords(word: str) -> list[str]:
    """The dictionary words inside `word`, as the index holds them beside it."""
    return [term for term, _, _, _ in index_tokens(word) if term != word]


class _Compiler:
    def __init__(self, ranking: RankingConfig, drop_stopwords: bool):
        self.ranking = ranking
        self.stop = ranking.dropped_words() if drop_stopwords else frozenset()
        self.content_words: list[str] = []
        self.raw_words: list[str] = []
        self.phrases: list[str] = []
        self.highlight = Highlight()

    def compile(self, node: Node) -> wq.Query | None:
        if node.kind == "word":
            self.raw_words.append(node.text)
            return _combine(wq.And, self.words_clause(query_words(node.text)))
        if node.kind == "phrase":
            words = query_words(node.text)
            if not words:
                return None
            self.phrases.append(node.text)
            self.highlight.add(words)
            clauses = _text_clauses(words, 1.0, self.ranking.field_weights)
            return clauses[0] if len(clauses) == 1 else wq.Or(clauses)
        if node.kind == "field":
            if node.field in ("title", "content"):
                clauses = self.words_clause(query_words(node.text), node.field)
                return _combine(wq.And, clauses)
            if node.field == "year":
                # not a year the index can hold (year:99999999999, year:²): matches nothing
                try:
                    year = int(node.text)
                except ValueError:
                    return wq.NullQuery
                return wq.Term("year_word", str(year)) if 1 <= year <= 9999 else wq.NullQuery
            if node.field == "status":  # 尚未生效, 现行有效 and 失效 follow the calendar
                return validity.status_query(node.text.strip(), validity.today())
            if node.field == "issuer":  # the index holds each body's one name (issuers.py)
                return wq.Term("issuer", canonical_issuer(node.text) or "")
            return wq.Term(node.field, node.text.strip())
        if node.kind == "not":
            return wq.Not(self.compile(node.children[0]) or wq.NullQuery)
        children = [self.compile(c) for c in node.children]
        children = [c for c in children if c is not None]
        if node.kind == "or":
            return _combine(wq.Or, children)
        return _combine(wq.And, children)

    def words_clause(self, words: list[str], field_name: str | None = None) -> list[wq.Query]:
        """One clause per content word, all of which must match: the word or a synonym."""
        fields = {field_name: 1.0} if field_name else self.ranking.field_weights
        clauses = []
        for word in words:
            if word in self.stop:
                continue
            self.content_words.append(word)
            for variant in synonyms(word):
                self.highlight.add(variant)
            alternatives = self.synonym_clauses(word, fields)
            clauses.append(alternatives[0] if len(alternatives) == 1 else wq.Or(alternatives))
        return clauses

    def question_query(self, words: Sequence[str], related: bool = False) -> wq.Query | None:
        """Any word may match, each with its synonyms and the dictionary words inside it, over
        the fields as weighed for questions; with `related`, its nearest words in meaning too."""
        fields = self.ranking.question_field_weights
        subword_weight = self.ranking.subword_weight
        clauses: list[wq.Query] = []
        for word in words:
            if word in self.stop:
                continue
            clauses.append(wq.Or(self.synonym_clauses(word, fields)))
            if subword_weight:
                for piece in subwords(word):
                    if piece not in self.stop:
                        clauses.append(wq.Or(_text_clauses([piece], subword_weight, fields)))
        if related and self.ranking.related_weight:
            clauses += self.related_clauses(words, fields)
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else wq.Or(clauses)

    def related_clauses(self, words: Sequence[str], fields: Mapping[str, float]) -> list[wq.Query]:
        """The question's words' nearest words in meaning not already in it, each once, at
        related_weight times its best cosine to them."""
        ranking = self.ranking
        asked = {normalize(w) for w in words}
        best: dict[str, float] = {}
        for word in asked - self.stop:
            found = related_words().get(word, ())[: ranking.related_count]
            for other, similarity in found:
                if similarity >= ranking.related_similarity and other not in asked:
                    best[other] = max(best.get(other, 0.0), similarity)
        return [
            wq.Or(_text_clauses([other], ranking.related_weight * similarity, fields))
            for other, similarity in best.items()
        ]

    def synonym_clauses(self, word: str, fields: Mapping[str, float]) -> list[wq.Query]:
        """The word and each of its synonyms (at the synonym weight) in each field."""
        alternatives: list[wq.Query] = []
        for i, variant in enumerate(synonyms(word)):
            boost = 1.0 if i == 0 else self.ranking.synonym_weight
            alternatives += _text_clauses(variant, boost, fields)
        return alternatives


def _text_clauses(
    words: Sequence[str], boost: float, fields: Mapping[str, float]
) -> list[wq.Query]:
    """A term (one word) or a phrase (several) in each field, boosted by the field's weight."""
    if len(words) == 1:
        return [wq.Term(f, words[0], boost=boost * b) for f, b in fields.items()]
    return [wq.Phrase(f, list(words), boost=boost * b) for f, b in fields.items()]


def _combine(kind: type, clauses: list[wq.Query]) -> wq.Query | None:
    if not clauses:
        return None
    positives = [c for c in clauses if not isinstance(c, wq.Not)]
    negatives = [c.query for c in clauses if isinstance(c, wq.Not)]
    if kind is wq.Or or not negatives:
        return clauses[0] if len(clauses) == 1 else kind(clauses)
    positive = _combine(wq.And, positives) if positives else wq.Every()
    return wq.AndNot(positive, wq.Or(negatives) if len(negatives) > 1 else negatives[0])


def _unquoted_question(text: str, ranking: RankingConfig) -> str | None:
    """The text without its quote marks, when it reads as a question that quotes a name; else None.

    In a keyword query `"…"` is a phrase that must match as written. A question that cites a term
    in quotes means no such thing: it is ranked as if it had no quotes. A question ends in a
    question mark, or is written without spaces with text outside its quotes."""
    stripped = text.strip()
    if not any(mark in stripped for mark in QUOTE_MARKS):
        return None
    plain = stripped.translate({ord(mark): None for mark in QUOTE_MARKS})
    node = parse_query(plain)
    if not plain.strip() or not is_plain(node):
        return None
    if stripped.endswith(("?", "？")):
        return plain
    outside = re.sub(r'"[^"]*"?|“[^”]*”?|「[^」]*」?|『[^』]*』?', "", stripped)
    if any(ch.isspace() for ch in stripped) or not outside.strip():
        return None
    words = [w for w in query_words(plain) if w not in ranking.dropped_words()]
    return plain if len(words) >= ranking.question_min_words else None


def _reads_as_question(text: str, compiler: _Compiler, ranking: RankingConfig) -> bool:
    """A sentence rather than keywords: it ends in a question mark, or it is written without
    spaces and holds question_min_words content words or more (排污许克证 is a typo of one
    term, 生态环境 损害 赔偿 three keywords; 我的邻居天天很吵怎么办 is a question)."""
    if text.strip().endswith(("?", "？")):
        return True
    return (
        len(compiler.raw_words) == 1 and len(compiler.content_words) >= ranking.question_min_words
    )
