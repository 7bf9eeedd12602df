"""Querying: the one search function the CLI and the web both call.

A query string is parsed by a small grammar of our own (AND by default, OR, NOT or `-`, "phrases",
`field:value`, parentheses) that never fails on odd input; its words are analysed like indexed
text and widened by the synonym groups. Filters and facet counts work on per-generation numpy
columns of the facet fields, so counting facets never loads stored documents.
"""

from __future__ import annotations

import html
import json
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path

import numpy as np
from whoosh import index as whoosh_index
from whoosh import query as wq
from whoosh.searching import Searcher
from whoosh.util.times import datetime_to_long

from . import ranking
from .analysis import index_tokens, normalize, query_words, stopwords, synonyms
from .errors import DocumentNotFound, IndexMissing, InvalidParameter
from .indexer import current_generation, generation_label, manifest_report, read_manifest
from .schema import CONFIDENCE_SCALE, FACET_FIELDS
from .scoring import ScoringColumns, rank_question

MAX_QUERY_CHARS = 1000
MAX_NESTING = 20
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 10
MAX_PAGE = 10_000
SNIPPET_CHARS = 160
SORTS = ("relevance", "date", "-date", "confidence")


# Confidence bands shown as a facet: (label, low inclusive, high exclusive) in thousandths.
CONFIDENCE_BANDS = (
    ("0.9-1.0", 900, 1001),
    ("0.8-0.9", 800, 900),
    ("0.7-0.8", 700, 800),
    ("0.6-0.7", 600, 700),
    ("0.5-0.6", 500, 600),
    ("0.0-0.5", 0, 500),
)
FACETS = ("issuer", "year", "node_type", "region", "sector", "confidence")

# Names accepted before a colon in a query, and the index field each searches.
QUERY_FIELDS = {
    "title": "title",
    "content": "content",
    "issuer": "issuer",
    "type": "node_type",
    "node_type": "node_type",
    "region": "region",
    "sector": "sector",
    "year": "year",
    "source": "source_file",
    "kind": "kind",
}


# ---------------------------------------------------------------------------------------------
# The request


def _parse_date(parameter: str, text: str, end: bool) -> date:
    """YYYY, YYYY-MM or YYYY-MM-DD; as an end bound, the last day of that year or month."""
    parts = text.strip().split("-")
    try:
        if not 1 <= len(parts) <= 3 or not all(p.isdigit() for p in parts) or len(parts[0]) != 4:
            raise ValueError
        year = int(parts[0])
        month = int(parts[1]) if len(parts) > 1 else (12 if end else 1)
        if len(parts) == 3:
            day = int(parts[2])
        elif end:
            following = date(year + (month == 12), month % 12 + 1, 1)
            day = (following - date(year, month, 1)).days
        else:
            day = 1
        return date(year, month, day)
    except ValueError:
        raise InvalidParameter(
            parameter, f"{parameter} must be a date as YYYY, YYYY-MM or YYYY-MM-DD, not {text!r}"
        ) from None


def _parse_int(parameter: str, text: str, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise InvalidParameter(
            parameter, f"{parameter} must be a whole number, not {text!r}"
        ) from None
    if not low <= value <= high:
        raise InvalidParameter(
            parameter, f"{parameter} must be between {low} and {high}, not {value}"
        )
    return value


@dataclass(frozen=True)
class SearchRequest:
    """A validated search: the query text, filters, sort and page."""

    q: str = ""
    issuer: tuple[str, ...] = ()
    node_type: tuple[str, ...] = ()
    region: tuple[str, ...] = ()
    sector: tuple[str, ...] = ()
    year: tuple[int, ...] = ()
    confidence: tuple[str, ...] = ()  # confidence band labels
    date_from: date | None = None
    date_to: date | None = None
    min_confidence: float | None = None
    sort: str = "relevance"
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE

    # API parameter name -> attribute, for the repeatable facet filters
    FILTER_PARAMETERS = {
        "issuer": "issuer",
        "type": "node_type",
        "region": "region",
        "sector": "sector",
        "year": "year",
        "confidence": "confidence",
    }

    @classmethod
    def from_params(cls, params: Mapping[str, Sequence[str]]) -> SearchRequest:
        """Build a request from query-string style parameters (each name to its list of values).

        Raises InvalidParameter naming the first parameter whose value cannot be used.
        """

        def one(name: str) -> str | None:
            values = [v for v in params.get(name, ()) if v.strip() != ""]
            return values[-1].strip() if values else None

        def many(name: str) -> tuple[str, ...]:
            seen = dict.fromkeys(v.strip() for v in params.get(name, ()) if v.strip())
            return tuple(seen)

        q = one("q") or ""
        if len(q) > MAX_QUERY_CHARS:
            raise InvalidParameter(
                "q", f"q is {len(q)} characters long; at most {MAX_QUERY_CHARS} are searched"
            )
        years = tuple(_parse_int("year", y, 1, 9999) for y in many("year"))
        bands = many("confidence")
        known_bands = {label for label, _, _ in CONFIDENCE_BANDS}
        for band in bands:
            if band not in known_bands:
                raise InvalidParameter(
                    "confidence",
                    f"confidence must be one of {', '.join(sorted(known_bands))}, not {band!r}",
                )
        min_confidence = None
        if (text := one("min_confidence")) is not None:
            try:
                min_confidence = float(text)
            except ValueError:
                min_confidence = math.nan
            if not 0.0 <= min_confidence <= 1.0:
                raise InvalidParameter(
                    "min_confidence", f"min_confidence must be a number from 0 to 1, not {text!r}"
                )
        date_from = _parse_date("date_from", t, end=False) if (t := one("date_from")) else None
        date_to = _parse_date("date_to", t, end=True) if (t := one("date_to")) else None
        if date_from and date_to and date_from > date_to:
            raise InvalidParameter("date_to", "date_to is before date_from")
        sort = one("sort") or "relevance"
        if sort not in SORTS:
            raise InvalidParameter("sort", f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
        page = _parse_int("page", one("page") or "1", 1, MAX_PAGE)
        per_page = _parse_int("per_page", one("per_page") or str(DEFAULT_PER_PAGE), 1, MAX_PER_PAGE)
        return cls(
            q=q,
            issuer=many("issuer"),
            node_type=many("type"),
            region=many("region"),
            sector=many("sector"),
            year=years,
            confidence=bands,
            date_from=date_from,
            date_to=date_to,
            min_confidence=min_confidence,
            sort=sort,
            page=page,
            per_page=per_page,
        )

    def to_params(self) -> dict[str, list[str]]:
        """The API parameters of this request (the inverse of from_params), defaults left out."""
        params: dict[str, list[str]] = {}
        if self.q:
            params["q"] = [self.q]
        for name, attribute in self.FILTER_PARAMETERS.items():
            if values := getattr(self, attribute):
                params[name] = [str(v) for v in values]
        if self.date_from:
            params["date_from"] = [self.date_from.isoformat()]
        if self.date_to:
            params["date_to"] = [self.date_to.isoformat()]
        if self.min_confidence is not None:
            params["min_confidence"] = [f"{self.min_confidence:g}"]
        if self.sort != "relevance":
            params["sort"] = [self.sort]
        if self.page != 1:
            params["page"] = [str(self.page)]
        if self.per_page != DEFAULT_PER_PAGE:
            params["per_page"] = [str(self.per_page)]
        return params


# ---------------------------------------------------------------------------------------------
# Query grammar


@dataclass
class Node:
    kind: str  # and, or, not, word, phrase, field
    children: list[Node] = field(default_factory=list)
    text: str = ""
    field: str = ""


def _lex(text: str) -> list[tuple[str, str]]:
    """Tokens: ( ) - OR AND NOT, "phrase", word. An unclosed quote runs to the end."""
    tokens: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "()（）":
            tokens.append(("(" if ch in "(（" else ")", ch))
            i += 1
        elif ch in '"“”':
            close = text.find('"' if ch == '"' else "”", i + 1)
            if ch == "“" and close < 0:
                close = text.find('"', i + 1)
            end = n if close < 0 else close
            tokens.append(("phrase", text[i + 1 : end]))
            i = end + 1
        elif (
            ch == "-"
            and i + 1 < n
            and not text[i + 1].isspace()
            and (i == 0 or text[i - 1].isspace() or text[i - 1] in "(（")
        ):
            tokens.append(("not", ch))
            i += 1
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in '()（）"“”':
                j += 1
            word = text[i:j]
            if word in ("OR", "AND", "NOT"):
                tokens.append((word.lower() if word != "NOT" else "not", word))
            elif (
                j < n
                and text[j] in '"“'
                and word[-1] in ":："
                and word[:-1].lower() in QUERY_FIELDS
            ):
                # field:"a phrase"
                ch = text[j]
                close = text.find('"' if ch == '"' else "”", j + 1)
                end = n if close < 0 else close
                tokens.append(("field", word[:-1] + "\x00" + text[j + 1 : end]))
                j = end + 1
            else:
                tokens.append(("word", word))
            i = j
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]):
        self.tokens = tokens
        self.i = 0

    def peek(self) -> str | None:
        return self.tokens[self.i][0] if self.i < len(self.tokens) else None

    def parse(self) -> Node:
        items = [self.or_expr(0)]
        while self.i < len(self.tokens):  # a stray ")" ends a group early: skip it, go on
            self.i += 1
            items.append(self.or_expr(0))
        # one flat AND, not one level per stray ")": a query of them must not nest 1000 deep
        return items[0] if len(items) == 1 else Node("and", items)

    def or_expr(self, depth: int) -> Node:
        items = [self.and_expr(depth)]
        while self.peek() == "or":
            self.i += 1
            items.append(self.and_expr(depth))
        items = [i for i in items if not _empty(i)]
        return items[0] if len(items) == 1 else Node("or", items)

    def and_expr(self, depth: int) -> Node:
        items = []
        while (kind := self.peek()) not in (None, "or", ")"):
            if kind == "and":
                self.i += 1
                continue
            items.append(self.unary(depth))
        items = [i for i in items if not _empty(i)]
        return items[0] if len(items) == 1 else Node("and", items)

    def unary(self, depth: int) -> Node:
        negations = 0
        while self.peek() == "not":  # counted, not nested: NOT NOT x is x, at any length
            self.i += 1
            negations += 1
        if negations and self.peek() in (None, "or", ")"):
            return Node("and")
        node = self.primary(depth)
        return Node("not", [node]) if negations % 2 else node

    def primary(self, depth: int) -> Node:
        kind, text = self.tokens[self.i]
        self.i += 1
        if kind == "(":
            if depth >= MAX_NESTING:
                raise InvalidParameter(
                    "q", f"q nests parentheses deeper than {MAX_NESTING} levels; simplify it"
                )
            node = self.or_expr(depth + 1)
            if self.peek() == ")":
                self.i += 1
            return node
        if kind == "phrase":
            return Node("phrase", text=text)
        if kind == "field":
            name, value = text.split("\x00", 1)
            return Node("field", text=value, field=QUERY_FIELDS[name.lower()])
        if kind == "word":
            name, sep, value = text.partition(":")
            if not sep:
                name, sep, value = text.partition("：")
            if sep and value and name.lower() in QUERY_FIELDS:
                return Node("field", text=value, field=QUERY_FIELDS[name.lower()])
        return Node("word", text=text)  # also a lone ")" or stray operator word


def _empty(node: Node) -> bool:
    return node.kind in ("and", "or") and not node.children


def parse_query(text: str) -> Node:
    """The syntax tree of a query string. Never fails on odd input, except too deep nesting."""
    return _Parser(_lex(text)).parse()


@dataclass
class Highlight:
    """What a match may show as: single indexed terms, and phrases (runs of words in order)."""

    terms: set[str] = field(default_factory=set)
    phrases: set[tuple[str, ...]] = field(default_factory=set)

    def add(self, words: Sequence[str]) -> None:
        if len(words) == 1:
            self.terms.add(words[0])
        elif words:
            self.phrases.add(tuple(words))


@dataclass
class CompiledQuery:
    query: wq.Query | None  # None: match every record
    any_query: wq.Query | None  # the ranked-OR form, when the query is plain words
    content_words: list[str]  # plain words after stop words, in order
    raw_words: list[str]  # the plain words as typed (for suggestions)
    highlight: Highlight
    phrases: list[str] = field(default_factory=list)  # the "quoted phrases", as typed
    text: str = ""  # the text compiled: a question's quote marks removed


class _Compiler:
    def __init__(self, drop_stopwords: bool):
        self.drop_stopwords = drop_stopwords
        self.content_words: list[str] = []
        self.raw_words: list[str] = []
        self.phrases: list[str] = []
        self.highlight = Highlight()

    def words_clause(self, words: list[str], field_name: str | None = None) -> list[wq.Query]:
        clauses = []
        stop = stopwords()
        for word in words:
            if self.drop_stopwords and word in stop:
                continue
            self.content_words.append(word)
            alternatives = []
            for i, variant in enumerate(synonyms(word)):
                boost = 1.0 if i == 0 else ranking.SYNONYM_WEIGHT
                self.highlight.add(variant)
                alternatives += self.text_clauses(variant, boost, field_name)
            clauses.append(alternatives[0] if len(alternatives) == 1 else wq.Or(alternatives))
        return clauses

    def text_clauses(
        self, words: Sequence[str], boost: float, field_name: str | None
    ) -> list[wq.Query]:
        fields = {field_name: 1.0} if field_name else ranking.FIELD_WEIGHTS
        if len(words) == 1:
            return [wq.Term(f, words[0], boost=boost * b) for f, b in fields.items()]
        return [wq.Phrase(f, list(words), boost=boost * b) for f, b in fields.items()]

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
            clauses = self.text_clauses(words, 1.0, None)
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
                return wq.Term("year", year) if 1 <= year <= 9999 else wq.NullQuery
            return wq.Term(node.field, node.text.strip())
        if node.kind == "not":
            return wq.Not(self.compile(node.children[0]) or wq.NullQuery)
        children = [self.compile(c) for c in node.children]
        children = [c for c in children if c is not None]
        if node.kind == "or":
            return _combine(wq.Or, children)
        return _combine(wq.And, children)


def _combine(kind: type, clauses: list[wq.Query]) -> wq.Query | None:
    if not clauses:
        return None
    positives = [c for c in clauses if not isinstance(c, wq.Not)]
    negatives = [c.query for c in clauses if isinstance(c, wq.Not)]
    if kind is wq.Or or not negatives:
        return clauses[0] if len(clauses) == 1 else kind(clauses)
    positive = _combine(wq.And, positives) if positives else wq.Every()
    return wq.AndNot(positive, wq.Or(negatives) if len(negatives) > 1 else negatives[0])


def _is_plain(node: Node) -> bool:
    return node.kind == "word" or (
        node.kind == "and" and all(c.kind == "word" for c in node.children)
    )


# Quote marks a sentence may carry around a name it cites (北京如何通过“碳排放权交易市场”实现…).
QUOTE_MARKS = '"“”「」『』'


def _unquoted_question(text: str) -> str | None:
    """The text without its quote marks, when it reads as a question that quotes a name; else None.

    In a keyword query `"…"` is a phrase that must match as written. A question that cites a term
    in quotes means no such thing: it is ranked as if it had no quotes. A question ends in a
    question mark, or is written without spaces with text outside its quotes."""
    stripped = text.strip()
    if not any(mark in stripped for mark in QUOTE_MARKS):
        return None
    plain = stripped.translate({ord(mark): None for mark in QUOTE_MARKS})
    node = parse_query(plain)
    if not plain.strip() or not _is_plain(node):
        return None
    if stripped.endswith(("?", "？")):
        return plain
    outside = re.sub(r'"[^"]*"?|“[^”]*”?|「[^」]*」?|『[^』]*』?', "", stripped)
    if any(ch.isspace() for ch in stripped) or not outside.strip():
        return None
    words = [w for w in query_words(plain) if w not in stopwords()]
    return plain if len(words) >= ranking.QUESTION_MIN_WORDS else None


def compile_query(text: str) -> CompiledQuery:
    """Parse and compile a query string for the index."""
    text = _unquoted_question(text) or text
    node = parse_query(text)
    # Stop words are dropped from plain words unless nothing else would be left.
    plain = [w for n in _walk(node) if n.kind == "word" for w in query_words(n.text)]
    drop = any(w not in stopwords() for w in plain)
    compiler = _Compiler(drop_stopwords=drop)
    query = compiler.compile(node)
    any_query = None
    if _is_plain(node) and query is not None:
        words = [w for n in _walk(node) if n.kind == "word" for w in query_words(n.text)]
        any_query = ranking.question_query(words, drop_stopwords=drop)
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
    )


def _walk(node: Node):
    yield node
    for child in node.children:
        yield from _walk(child)


# ---------------------------------------------------------------------------------------------
# Facet columns of one index generation


class Columns:
    """The facet fields of every document as numpy arrays, read once per index commit."""

    def __init__(self, reader):
        size = reader.doc_count_all()
        self.live = np.zeros(size, dtype=bool)
        self.live[np.fromiter(reader.all_doc_ids(), dtype=np.int64)] = True
        self.codes: dict[str, np.ndarray] = {}
        self.values: dict[str, list[str]] = {}
        for name in FACET_FIELDS:
            raw = list(reader.column_reader(name)) if reader.has_column(name) else [""] * size
            values = sorted(set(raw))
            lookup = {v: i for i, v in enumerate(values)}
            self.codes[name] = np.fromiter((lookup[v] for v in raw), dtype=np.int32, count=size)
            self.values[name] = values
        self.year = self._numbers(reader, "year", size)
        self.confidence = self._numbers(reader, "confidence", size)
        # untranslated: dates as Whoosh's long ticks, the scale of datetime_to_long
        self.date = self._numbers(reader, "date", size, translate=False)
        self.band = np.full(size, -1, dtype=np.int32)
        for i, (_, low, high) in enumerate(CONFIDENCE_BANDS):
            self.band[(self.confidence >= low) & (self.confidence < high)] = i
        self.scoring = ScoringColumns(size)

    @staticmethod
    def _numbers(reader, name: str, size: int, translate: bool = True) -> np.ndarray:
        if not reader.has_column(name):
            return np.zeros(size, dtype=np.int64)
        column = reader.column_reader(name, translate=translate)
        if translate:
            return np.fromiter(column, dtype=np.int64, count=size)
        # A record without a date reads as the column's default, 2**64 - 1, past int64: read
        # unsigned and keep it as 0 (undated records are told apart by year 0 anyway).
        ticks = np.fromiter(column, dtype=np.uint64, count=size)
        ticks[ticks > np.iinfo(np.int64).max] = 0
        return ticks.astype(np.int64)


# ---------------------------------------------------------------------------------------------
# Highlighting


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or touching matches (a word and the dictionary words inside it, or a phrase's
    words) become one mark covering the longest extent."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _mark(text: str, spans: list[tuple[int, int]], start: int, end: int) -> str:
    out, cursor = [], start
    for s, e in spans:
        if e <= start or s >= end:
            continue
        s, e = max(s, start), min(e, end)
        out.append(html.escape(text[cursor:s]))
        out.append("<mark>" + html.escape(text[s:e]) + "</mark>")
        cursor = e
    out.append(html.escape(text[cursor:end]))
    return "".join(out)


class Highlighter:
    """HTML-escaped text with <mark> around matches; token lists cached by the text itself,
    since highlighting re-segments stored text. (Not by record id: an edited entry keeps its id,
    and its new text must not be marked at the old text's offsets.)"""

    def __init__(self, cache_size: int = 4096):
        self._cache: OrderedDict[str, list] = OrderedDict()
        self._size = cache_size
        self._lock = threading.Lock()

    def _tokens(self, text: str) -> list[tuple[str, int, int, int]]:
        with self._lock:
            tokens = self._cache.get(text)
            if tokens is not None:
                self._cache.move_to_end(text)
                return tokens
        tokens = index_tokens(text)
        with self._lock:
            self._cache[text] = tokens
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return tokens

    def spans(self, text: str, wanted: Highlight) -> list[tuple[int, int]]:
        if not text or not (wanted.terms or wanted.phrases):
            return []
        tokens = self._tokens(text)
        spans = [(s, e) for t, _, s, e in tokens if t in wanted.terms]
        if wanted.phrases:
            at: dict[tuple[str, int], tuple[int, int]] = {(t, p): (s, e) for t, p, s, e in tokens}
            firsts = {phrase[0] for phrase in wanted.phrases}
            for t, position, start, _ in tokens:
                if t not in firsts:
                    continue
                for phrase in wanted.phrases:
                    if phrase[0] != t:
                        continue
                    ends = [at.get((w, position + i)) for i, w in enumerate(phrase)]
                    if all(ends):
                        spans.append((start, ends[-1][1]))
        return _merge(spans)

    def whole(self, text: str, wanted: Highlight) -> str:
        return _mark(text, self.spans(text, wanted), 0, len(text))

    def snippet(self, text: str, wanted: Highlight, width: int = SNIPPET_CHARS) -> str:
        """The window of `width` characters holding the most matches, marked."""
        spans = self.spans(text, wanted)
        if not spans or len(text) <= width:
            begin = 0
        else:
            best, best_count, j = 0, 0, 0
            for i, (start, _) in enumerate(spans):
                while j < len(spans) and spans[j][1] <= start + width:
                    j += 1
                if j - i > best_count:
                    best, best_count = i, j - i
            begin = max(0, min(spans[best][0] - width // 8, len(text) - width))
        end = min(len(text), begin + width)
        body = _mark(text, spans, begin, end)
        return ("…" if begin > 0 else "") + body + ("…" if end < len(text) else "")


# ---------------------------------------------------------------------------------------------
# The index as a searchable object


@dataclass
class _Generation:
    path: Path
    label: str
    index: whoosh_index.FileIndex
    commit: int  # the Whoosh TOC generation every searcher of this generation reads
    columns: Columns


class SearchIndex:
    """The current index generation, opened once and refreshed when a commit or swap happens.

    Safe to share between threads: each thread gets its own Whoosh searcher, pinned to the same
    commit as the facet columns, so docnums always agree even while a writer commits.
    """

    def __init__(self, index_root: Path):
        self.index_root = Path(index_root)
        self._lock = threading.Lock()
        self._generation: _Generation | None = None
        self._local = threading.local()
        self._searchers: list = []  # every open searcher, to close them all on close()
        self.highlighter = Highlighter()

    def __enter__(self) -> SearchIndex:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        # dropped without close() (an app nobody closed): close the searchers' files now rather
        # than leave them to the garbage collector, which warns about each one
        if "_searchers" in self.__dict__:  # __init__ got that far
            self.close()

    def close(self) -> None:
        """Close every searcher this object opened (in any thread)."""
        with self._lock:
            for searcher in self._searchers:
                searcher.close()
            self._searchers.clear()
            self._generation = None
        self._local = threading.local()

    # -- opening and refreshing

    def _current(self) -> _Generation:
        path = current_generation(self.index_root)
        if path is None:
            raise IndexMissing(
                f"no index at {self.index_root}: build it with `policy-search index`"
            )
        generation = self._generation
        if (
            generation is not None
            and generation.path == path
            and generation.index.latest_generation() == generation.commit
        ):
            return generation
        with self._lock:
            for _ in range(5):
                try:
                    ix = whoosh_index.open_dir(str(path))
                    with ix.reader() as reader:
                        commit = reader.generation()
                        label = generation_label(path, commit)
                        if self._generation is None or self._generation.label != label:
                            columns = Columns(reader)
                            self._generation = _Generation(path, label, ix, commit, columns)
                    return self._generation
                except (OSError, whoosh_index.EmptyIndexError):
                    # a writer committed and deleted the commit being opened: open the new one
                    path = current_generation(self.index_root) or path
        raise IndexMissing(
            f"the index at {self.index_root} kept changing while being opened; retry"
        )

    def _open_searcher(self, generation: _Generation):
        ix = generation.index
        toc = whoosh_index.TOC.read(ix.storage, ix.indexname, gen=generation.commit)
        reader = whoosh_index.FileIndex._reader(
            ix.storage, toc.schema, toc.segments, toc.generation
        )
        return Searcher(reader, weighting=ranking.weighting(), fromindex=ix)

    def _searcher(self):
        local = self._local
        for _ in range(5):
            generation = self._current()
            if getattr(local, "label", None) == generation.label:
                return local.searcher, generation
            try:
                searcher = self._open_searcher(generation)
            except (OSError, whoosh_index.EmptyIndexError):
                continue  # a writer committed and cleaned that commit's files: refresh, retry
            with self._lock:
                if getattr(local, "searcher", None) is not None:
                    local.searcher.close()
                    self._searchers.remove(local.searcher)
                self._searchers.append(searcher)
            local.searcher, local.label = searcher, generation.label
            return searcher, generation
        raise IndexMissing(
            f"the index at {self.index_root} kept changing while being opened; retry"
        )

    @property
    def generation(self) -> str:
        return self._current().label

    # -- search

    def search(self, request: SearchRequest) -> dict:
        """Run a search; the result is exactly what the JSON API serves."""
        started = time.perf_counter()
        searcher, generation = self._searcher()
        columns = generation.columns
        compiled = compile_query(request.q) if request.q.strip() else None
        match = "all"
        ranked = None
        if compiled is None or compiled.query is None:
            matched = np.flatnonzero(columns.live)
            query = None
        else:
            query = compiled.query
            matched = self._docs(searcher, query, columns)
            if compiled.any_query is not None and (
                len(matched) == 0
                or (
                    len(compiled.content_words) >= ranking.FALLBACK_MIN_WORDS
                    and len(matched) < ranking.MIN_CONJUNCTIVE_HITS
                )
            ):
                query = compiled.any_query
                question = rank_question(
                    searcher,
                    columns.scoring,
                    query,
                    compiled.text,
                    columns.live,
                    widen=_reads_as_question(compiled.text, compiled),
                )
                ranked = question.scores
                matched = np.flatnonzero(question.matched)
                match = "any"
        masks = self._filter_masks(request, columns, matched)
        allowed = matched[_all(masks, len(matched))]
        total = int(len(allowed))
        first = (request.page - 1) * request.per_page
        sort = request.sort
        if sort == "relevance" and query is None:
            sort = "-date"
        if sort == "relevance" and ranked is not None:
            page_docs, scores = _fused_page(ranked, allowed, first, request.per_page)
        elif sort == "relevance":
            page_docs, scores = self._ranked(
                searcher, query, allowed, len(matched), first, request.per_page
            )
        else:
            page_docs = _sorted_page(columns, allowed, sort, first, request.per_page)
            scores = [None] * len(page_docs)
        terms = compiled.highlight if compiled else Highlight()
        hits = [
            self._hit(searcher, docnum, score, terms)
            for docnum, score in zip(page_docs, scores, strict=True)
        ]
        suggestion = notice = None
        # only when the words found nothing: if filters emptied the result, the words are right
        if len(matched) == 0 and compiled is not None:
            suggestion = self._suggest(searcher, request, compiled)
            if compiled.phrases:
                # a quoted phrase is strict: say so, rather than quietly match its words apart
                quoted = "、".join(f"“{p}”" for p in compiled.phrases)
                notice = f"引号中的短语须原样出现：没有记录含有{quoted}。去掉引号可按词检索。"
        return {
            "query": request.q,
            "total": total,
            "page": request.page,
            "per_page": request.per_page,
            "pages": max(1, math.ceil(total / request.per_page)),
            "sort": sort,
            "match": match,
            "took_ms": round((time.perf_counter() - started) * 1000, 2),
            "generation": generation.label,
            "hits": hits,
            "facets": self._facets(request, columns, matched, masks),
            "suggestion": suggestion,
            "notice": notice,
        }

    @staticmethod
    def _docs(searcher, query: wq.Query, columns: Columns) -> np.ndarray:
        docs = _matching_docs(searcher, query)
        return docs[columns.live[docs]] if len(docs) else docs

    @staticmethod
    def _ranked(searcher, query, allowed: np.ndarray, matched: int, first: int, count: int):
        if len(allowed) == 0 or first >= len(allowed):
            return [], []
        filter_set = None if len(allowed) == matched else set(allowed.tolist())
        results = searcher.search(query, limit=first + count, filter=filter_set)
        window = list(results.items())[first : first + count]
        return [d for d, _ in window], [round(s, 4) for _, s in window]

    def _filter_masks(self, request: SearchRequest, columns: Columns, docs: np.ndarray) -> dict:
        """One boolean mask over `docs` per active filter, keyed by facet name ('' for ranges)."""
        masks: dict[str, np.ndarray] = {}
        for facet in FACET_FIELDS:
            selected = getattr(request, facet)
            if selected:
                values = columns.values[facet]
                codes = [values.index(v) for v in selected if v in values]
                masks[facet] = np.isin(columns.codes[facet][docs], codes)
        if request.year:
            masks["year"] = np.isin(columns.year[docs], list(request.year))
        if request.confidence:
            wanted = [
                i for i, (label, _, _) in enumerate(CONFIDENCE_BANDS) if label in request.confidence
            ]
            masks["confidence"] = np.isin(columns.band[docs], wanted)
        ranges = []
        if request.date_from:
            low = datetime_to_long(datetime.combine(request.date_from, datetime.min.time()))
            ranges.append((columns.year[docs] > 0) & (columns.date[docs] >= low))
        if request.date_to:
            high = datetime_to_long(datetime.combine(request.date_to, datetime.min.time()))
            ranges.append((columns.year[docs] > 0) & (columns.date[docs] <= high))
        if request.min_confidence is not None:
            ranges.append(
                columns.confidence[docs] >= round(request.min_confidence * CONFIDENCE_SCALE)
            )
        if ranges:
            masks[""] = _all(ranges, len(docs))
        return masks

    def _facets(
        self, request: SearchRequest, columns: Columns, docs: np.ndarray, masks: dict
    ) -> dict:
        """Counts per facet value; a facet ignores its own selection so alternatives stay visible."""
        facets = {}
        for facet in FACETS:
            keep = _all([m for name, m in masks.items() if name != facet], len(docs))
            subset = docs[keep]
            if facet in FACET_FIELDS:
                values = columns.values[facet]
                counts = np.bincount(columns.codes[facet][subset], minlength=len(values))
                pairs = [(v, int(c)) for v, c in zip(values, counts, strict=True) if v and c]
                pairs.sort(key=lambda p: (-p[1], p[0]))
                selected = set(getattr(request, facet))
            elif facet == "year":
                years, counts = np.unique(columns.year[subset], return_counts=True)
                pairs = [(int(y), int(c)) for y, c in zip(years, counts, strict=True) if y > 0]
                pairs.sort(reverse=True)
                selected = set(request.year)
            else:
                counts = np.bincount(columns.band[subset] + 1, minlength=len(CONFIDENCE_BANDS) + 1)[
                    1:
                ]
                pairs = [
                    (label, int(c))
                    for (label, _, _), c in zip(CONFIDENCE_BANDS, counts, strict=True)
                    if c
                ]
                selected = set(request.confidence)
            present = {v for v, _ in pairs}
            pairs += [(v, 0) for v in sorted(selected - present, key=str)]
            facets[facet] = [{"value": v, "count": c, "selected": v in selected} for v, c in pairs]
        return facets

    def _hit(self, searcher, docnum: int, score: float | None, terms: Highlight) -> dict:
        record = json.loads(searcher.stored_fields(int(docnum))["record"])
        return {
            "id": record["id"],
            "title": record["title"],
            "title_html": self.highlighter.whole(record["title"], terms),
            "issuer": record["issuer"],
            "issuer_derived": record["issuer_derived"],
            "date": record["date"],
            "date_text": record["date_text"],
            "confidence": record["confidence"],
            "node_type": record["node_type"],
            "node_date": record["node_date"],
            "region": record["region"],
            "sector": record["sector"],
            "kind": record["kind"],
            "source_file": record["source_file"],
            "sources": record["sources"],
            "snippet": self.highlighter.snippet(record["content"], terms),
            "score": score,
        }

    def _suggest(self, searcher, request: SearchRequest, compiled: CompiledQuery) -> str | None:
        """A query that finds something: each typed word the index does not know replaced by the
        nearest indexed word (by edit distance), or else reduced to its known pieces."""
        if compiled.phrases:
            unquoted = request.q.translate({ord(mark): " " for mark in QUOTE_MARKS}).strip()
            if unquoted and self.search(replace(request, q=unquoted, page=1))["total"]:
                return " ".join(unquoted.split())
        reader = searcher.reader()
        stop = stopwords()

        def known(word: str) -> bool:
            return any(reader.doc_frequency(f, word) for f in ranking.FIELD_WEIGHTS)

        words, changed = [], False
        for raw in compiled.raw_words:
            pieces = [w for w in query_words(raw) if w not in stop]
            if all(known(p) for p in pieces):
                words.append(raw)
                continue
            changed = True
            typed = normalize(raw)
            if 2 <= len(typed) <= 12:
                distance = 1 if len(typed) <= 4 else 2
                corrections = searcher.suggest("content", typed, limit=1, maxdist=distance)
                if corrections:
                    words.append(corrections[0])
                    continue
            words += [p for p in pieces if len(p) > 1 and known(p)]
        if not changed or not words:
            return None
        suggestion = " ".join(words)
        found = self.search(replace(request, q=suggestion, page=1))
        return suggestion if found["total"] else None

    # -- documents and statistics

    def document(self, record_id: str) -> dict:
        """The whole record with this id, or DocumentNotFound."""
        searcher, _ = self._searcher()
        stored = searcher.document(id=record_id)
        if stored is None:
            raise DocumentNotFound(f"no record has the id {record_id!r}")
        return json.loads(stored["record"])

    def siblings(self, record: dict) -> list[dict]:
        """The other entries of the same key node of the same file, in order."""
        if record["kind"] != "entry":
            return []
        searcher, _ = self._searcher()
        others = []
        for stored in searcher.documents(source_file=record["source_file"]):
            other = json.loads(stored["record"])
            if other["node_index"] == record["node_index"] and other["id"] != record["id"]:
                others.append(other)
        return sorted(others, key=lambda r: r["entry_index"] or 0)

    def stats(self) -> dict:
        """Counts per facet over the whole index, the generation and the ingest report."""
        generation = self._current()
        browse = self.search(SearchRequest(per_page=1))
        try:
            report = manifest_report(read_manifest(generation.path))
            files, warnings = len(report.files), report.warnings
        except Exception:  # noqa: BLE001 - the manifest is advisory here
            files, warnings = None, None
        return {
            "documents": browse["total"],
            "generation": browse["generation"],  # of the count, should a commit come between
            "files": files,
            "warnings": warnings,
            "facets": browse["facets"],
        }


def _matching_docs(searcher, query: wq.Query) -> np.ndarray:
    """The sorted numbers of the documents a query matches. A term reads its postings whole and
    And, Or and AndNot combine sorted arrays: Whoosh's own matchers step through every match with
    Python calls at each level of the query, three times slower on our queries."""
    kind = type(query)
    if kind is wq.Term:
        reader = searcher.reader()
        if (query.fieldname, query.text) not in reader:
            return np.empty(0, dtype=np.int64)
        ids = reader.postings(query.fieldname, query.text).all_ids()
        return np.fromiter(ids, dtype=np.int64)
    if kind in (wq.And, wq.Or) and query.subqueries:
        parts = [_matching_docs(searcher, q) for q in query.subqueries]
        if kind is wq.Or:
            return np.unique(np.concatenate(parts))
        docs = parts[0]
        for part in parts[1:]:
            docs = np.intersect1d(docs, part, assume_unique=True)
        return docs
    if kind is wq.AndNot:
        return np.setdiff1d(
            _matching_docs(searcher, query.a), _matching_docs(searcher, query.b), assume_unique=True
        )
    return np.unique(np.fromiter(searcher.docs_for_query(query), dtype=np.int64))


def _all(masks: list[np.ndarray] | dict, size: int) -> np.ndarray:
    keep = np.ones(size, dtype=bool)
    for mask in masks.values() if isinstance(masks, dict) else masks:
        keep &= mask
    return keep


def _reads_as_question(text: str, compiled: CompiledQuery) -> bool:
    """A sentence rather than keywords: it ends in a question mark, or it is written without
    spaces and holds ranking.QUESTION_MIN_WORDS content words or more (排污许克证 is a typo of
    one term, 生态环境 损害 赔偿 three keywords; 我的邻居天天很吵怎么办 is a question)."""
    if text.strip().endswith(("?", "？")):
        return True
    return (
        len(compiled.raw_words) == 1 and len(compiled.content_words) >= ranking.QUESTION_MIN_WORDS
    )


def _fused_page(
    scores: np.ndarray, docs: np.ndarray, first: int, count: int
) -> tuple[list[int], list[float]]:
    """A page of `docs` by their fused question scores, best first (ties by document number)."""
    order = np.lexsort((docs, -scores[docs]))[first : first + count]
    page = docs[order]
    return page.tolist(), [round(float(scores[d]), 4) for d in page]


def _sorted_page(
    columns: Columns, docs: np.ndarray, sort: str, first: int, count: int
) -> list[int]:
    if sort == "confidence":
        order = np.lexsort((docs, -columns.confidence[docs]))
    else:
        dated = columns.year[docs] > 0
        key = columns.date[docs] if sort == "date" else -columns.date[docs]
        # records without a date go last whichever the direction; ties by docnum keep it stable
        order = np.lexsort((docs, key, ~dated))
    return docs[order][first : first + count].tolist()
