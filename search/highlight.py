"""Highlighting: HTML-escaped text with <mark> around the words and phrases a query matched, and
the snippet window holding most of them. Our own rather than Whoosh's, whose fragmenters split on
spaces (Chinese text has none); the text is segmented as it was indexed."""

from __future__ import annotations

import html
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from .analysis import index_tokens

SNIPPET_CHARS = 160


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
