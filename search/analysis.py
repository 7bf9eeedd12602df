"""Chinese analysis for Whoosh: a jieba tokenizer with ordinal positions and character offsets,
the domain dictionary, the synonym groups and the stop list (all editable data files in search/data)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from whoosh.analysis import Composable, Token, Tokenizer

DATA_DIR = Path(__file__).parent / "data"
DICTIONARY_FILE = DATA_DIR / "dictionary.txt"
SYNONYMS_FILE = DATA_DIR / "synonyms.txt"
STOPWORDS_FILE = DATA_DIR / "stopwords.txt"

# Dictionary words inside a longer word are indexed too (jieba's search mode, extended from 2-
# and 3-character pieces to every length); past this length a "word" is a run of Latin or digits.
MAX_COMPOUND = 12

_segmenter_lock = threading.Lock()
_segmenter = None


def _data_lines(path: Path) -> Iterator[list[str]]:
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            yield line.split()


def _load_segmenter():
    """Import the segmenter and load the domain dictionary, once per process.

    rjieba (a Rust port of jieba) segments identically and about 19x faster; jieba is the fallback.
    """
    global _segmenter
    with _segmenter_lock:
        if _segmenter is None:
            try:
                import rjieba as segmenter
            except ImportError:  # pragma: no cover - rjieba ships wheels for our platforms
                import jieba as segmenter

                segmenter.setLogLevel(60)
            for fields in _data_lines(DICTIONARY_FILE):
                word = fields[0]
                freq = int(fields[1]) if len(fields) > 1 else None
                tag = fields[2] if len(fields) > 2 else None
                segmenter.add_word(word, freq, tag)
            _segmenter = segmenter
    return _segmenter


def _has_word(segmenter, word: str) -> bool:
    if hasattr(segmenter, "has_word"):
        return segmenter.has_word(word)
    return bool(segmenter.get_FREQ(word))  # jieba


# Full-width ASCII (Ｇ, ２, ：) folded to its half-width form, one character for one, so that
# character offsets into the original text stay valid.
_FULLWIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def fold_width(text: str) -> str:
    return text.translate(_FULLWIDTH)


def normalize(text: str) -> str:
    """Fold full-width forms and case so that ＧＤＰ, gdp and GDP are one term."""
    return fold_width(text).lower()


def _is_word(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def segment(text: str) -> list[tuple[str, int, int]]:
    """jieba's default segmentation: (word, start, end) for every word, punctuation included."""
    return _load_segmenter().tokenize(fold_width(text), "default", True)


def index_tokens(text: str) -> list[tuple[str, int, int, int]]:
    """(term, position, start, end) as indexed: each word at its ordinal position, preceded by
    the dictionary words inside it (search mode) at the same position, so that `排放` finds
    碳排放 while phrase queries see one position per word."""
    segmenter = _load_segmenter()
    out: list[tuple[str, int, int, int]] = []
    position = 0
    for word, start, end in segmenter.tokenize(fold_width(text), "default", True):
        parts = _word_parts(word)
        if parts is None:
            continue
        lowered, inner = parts
        for gram, gram_start, gram_end in inner:
            out.append((gram, position, start + gram_start, start + gram_end))
        out.append((lowered, position, start, end))
        position += 1
    return out


@lru_cache(maxsize=1 << 18)
def _word_parts(word: str) -> tuple[str, tuple[tuple[str, int, int], ...]] | None:
    """A word lower-cased and the dictionary words inside it (offsets within the word), or None
    for punctuation and spaces. Cached: words recur, and the search for the words inside one
    cost more than the segmentation itself."""
    if not _is_word(word):
        return None
    length = len(word)
    inner: tuple[tuple[str, int, int], ...] = ()
    if 2 < length <= MAX_COMPOUND:
        segmenter = _load_segmenter()
        inner = tuple(
            (word[i : i + size].lower(), i, i + size)
            for size in range(2, length)
            for i in range(length - size + 1)
            if _has_word(segmenter, word[i : i + size])
        )
    return word.lower(), inner


def query_words(text: str) -> list[str]:
    """The words of query text, one per position (no sub-words): what a phrase must match in order."""
    return [word.lower() for word, _, _ in segment(text) if _is_word(word)]


class ChineseTokenizer(Tokenizer):
    """Whoosh tokenizer over jieba. Index mode emits sub-words; query mode emits words only."""

    def __eq__(self, other):
        return isinstance(other, ChineseTokenizer)

    def __hash__(self):
        return hash(ChineseTokenizer)

    def __call__(
        self,
        value,
        positions=False,
        chars=False,
        keeporiginal=False,
        removestops=True,
        start_pos=0,
        start_char=0,
        tokenize=True,
        mode="",
        **kwargs,
    ):
        token = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        if not tokenize:
            token.original = token.text = value
            token.boost = 1.0
            if positions:
                token.pos = start_pos
            if chars:
                token.startchar = start_char
                token.endchar = start_char + len(value)
            yield token
            return
        if mode == "query":
            terms = [(w.lower(), None, s, e) for w, s, e in segment(value) if _is_word(w)]
            terms = [(text, i, s, e) for i, (text, _, s, e) in enumerate(terms)]
        else:
            terms = index_tokens(value)
        for text, position, start, end in terms:
            token.text = text
            token.boost = 1.0
            token.stopped = False
            if keeporiginal:
                token.original = value[start:end]
            if positions:
                token.pos = start_pos + position
            if chars:
                token.startchar = start_char + start
                token.endchar = start_char + end
            yield token


def ChineseAnalyzer() -> Composable:
    """The analyzer of every full-text field (index and query alike)."""
    return ChineseTokenizer()


_RUN = re.compile(r"\w+")


def character_bigrams(text: str) -> list[str]:
    """Overlapping pairs of characters within each run of letters and digits (a run of one
    stays whole), width and case folded: 碳排放权 -> 碳排 排放 放权. No dictionary decides
    them, so they match where the segmenter cut a question and an article differently."""
    grams: list[str] = []
    for run in _RUN.findall(normalize(text)):
        if len(run) == 1:
            grams.append(run)
        else:
            grams += [run[i : i + 2] for i in range(len(run) - 1)]
    return grams


class BigramTokenizer(Tokenizer):
    """Whoosh tokenizer of the character-pair field (frequencies only: no positions, no
    highlighting)."""

    def __eq__(self, other):
        return isinstance(other, BigramTokenizer)

    def __hash__(self):
        return hash(BigramTokenizer)

    def __call__(self, value, positions=False, chars=False, removestops=True, mode="", **kwargs):
        token = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        for position, gram in enumerate(character_bigrams(value)):
            token.text = gram
            token.boost = 1.0
            token.stopped = False
            if positions:
                token.pos = position
            yield token


def BigramAnalyzer() -> Composable:
    return BigramTokenizer()


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    return frozenset(normalize(w) for fields in _data_lines(STOPWORDS_FILE) for w in fields)


@lru_cache(maxsize=1)
def synonym_groups() -> dict[str, tuple[tuple[str, ...], ...]]:
    """Map each normalised word to its group, each member as its query words (a phrase if several)."""
    groups: dict[str, tuple[tuple[str, ...], ...]] = {}
    for fields in _data_lines(SYNONYMS_FILE):
        members = tuple(tuple(query_words(w)) for w in fields)
        for word in fields:
            groups[normalize(word)] = members
    return groups


def synonyms(word: str) -> tuple[tuple[str, ...], ...]:
    """Every way to say `word`, itself first; each as a tuple of words (a phrase if several)."""
    group = synonym_groups().get(normalize(word))
    if not group:
        return ((normalize(word),),)
    own = (normalize(word),)
    return (own, *(m for m in group if m != own))
