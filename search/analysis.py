"""Chinese analysis for Whoosh: a jieba tokenizer with ordinal positions and character offsets,
the domain dictionary, the synonym groups and the stop list (all editable data files in search/data,
each overridable by a file of the same name in the folder POLICY_SEARCH_DATA names).

A long-running process picks up edited data files without a restart: `refresh_data()` (called at
most once a second per process, by the web app) reloads the synonyms, the stop list and the
issuers at once; the dictionary decides what the index holds, so a process's searches take an
edited one (`reload_segmenter`) only alongside an index generation built with it (the manifest
records the dictionary's hash), while an indexer builds that generation with the file on disk
in its own thread (`dictionary_on_disk`)."""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache, partial
from pathlib import Path

from whoosh.analysis import Composable, Token, Tokenizer
from whoosh.formats import Positions

from .config import data_folder

DATA_DIR = Path(__file__).parent / "data"
DICTIONARY_NAME = "dictionary.txt"
DICTIONARY_FILE = DATA_DIR / DICTIONARY_NAME
SYNONYMS_FILE = DATA_DIR / "synonyms.txt"
STOPWORDS_FILE = DATA_DIR / "stopwords.txt"
# The editable data files a configured data folder may override (any of them).
DATA_NAMES = (
    "dictionary.txt",
    "synonyms.txt",
    "stopwords.txt",
    "issuers.txt",
    "related_words.txt",
)


def data_dirs() -> list[Path]:
    """The folders data files are read from: the packaged one, then the configured one."""
    configured = data_folder()
    return [DATA_DIR] if configured is None else [DATA_DIR, configured]


def data_file(name: str) -> Path:
    """The data file `name` in use: the configured folder's when it has one, else the packaged one."""
    configured = data_folder()
    if configured is not None and (configured / name).is_file():
        return configured / name
    return DATA_DIR / name


# Dictionary words inside a longer word are indexed too (jieba's search mode, extended from 2-
# and 3-character pieces to every length); past this length a "word" is a run of Latin or digits.
MAX_COMPOUND = 12

_segmenter_lock = threading.Lock()


def _data_lines(path: Path) -> Iterator[list[str]]:
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            yield line.split()


def _new_segmenter(dictionary: bytes):
    """A segmenter of its own with jieba's dictionary and ours (the bytes of dictionary.txt).

    rjieba (a Rust port of jieba) segments identically and about 19x faster; jieba is the fallback.
    Always an instance, never the module's own: a dictionary replaced (words cannot be taken out
    of one) is then freed with its last reference, where the module's would stay for the
    process's life, and in each worker forked from it.
    """
    try:
        import rjieba

        _empty_module_segmenter(rjieba)
        segmenter = rjieba.Jieba()
    except ImportError:  # pragma: no cover - rjieba ships wheels for our platforms
        import jieba

        jieba.setLogLevel(60)
        segmenter = jieba.Tokenizer()  # jieba's module-level one loads nothing until used
    for line in dictionary.decode("utf-8").splitlines():
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        freq = int(fields[1]) if len(fields) > 1 else None
        tag = fields[2] if len(fields) > 2 else None
        segmenter.add_word(fields[0], freq, tag)
    return segmenter


_module_segmenter_emptied = False


def _empty_module_segmenter(rjieba) -> None:
    """Give back the memory of the segmenter rjieba makes on import (some 16 MB of jieba's
    dictionary), which nothing here uses."""
    global _module_segmenter_emptied
    if not _module_segmenter_emptied:
        rjieba.clear()
        _module_segmenter_emptied = True


def _word_parts(segmenter, word: str) -> tuple[str, tuple[tuple[str, int, int], ...]] | None:
    """A word lower-cased and the dictionary words inside it (offsets within the word), or None
    for punctuation and spaces."""
    if not _is_word(word):
        return None
    length = len(word)
    inner: tuple[tuple[str, int, int], ...] = ()
    if 2 < length <= MAX_COMPOUND:
        inner = tuple(
            (word[i : i + size].lower(), i, i + size)
            for size in range(2, length)
            for i in range(length - size + 1)
            if _has_word(segmenter, word[i : i + size])
        )
    return word.lower(), inner


class _Dictionary:
    """A segmenter loaded with one version of dictionary.txt, and the words found inside words
    with it (cached: words recur, and that search cost more than the segmentation itself).

    The cache holds the segmenter, not the object: no reference cycle, so a replaced dictionary
    is freed at once, even where the collector never looks (a server freezes what it loaded
    before forking its workers: gc.freeze)."""

    def __init__(self, dictionary: bytes):
        self.digest = hashlib.sha256(dictionary).hexdigest()
        self.segmenter = _new_segmenter(dictionary)
        self.word_parts = lru_cache(maxsize=1 << 18)(partial(_word_parts, self.segmenter))


# The process's dictionary segments queries and highlights: the one that built the generation
# served. An indexer segments with the dictionary on disk (`dictionary_on_disk`), set for its
# own thread only, so that a process serving while it indexes (the watcher in a one-process
# server) keeps its searches' words in line with the index they search until the new one is
# current (watch.follow_data_files then switches with `reload_segmenter`).
_process: _Dictionary | None = None
_indexing = threading.local()  # .dictionary: the thread's own, while it indexes
_on_disk: _Dictionary | None = None  # the last loaded for an indexer: reused while unchanged


def _dictionary() -> _Dictionary:
    own = getattr(_indexing, "dictionary", None)
    if own is not None:
        return own
    if _process is not None:
        return _process
    return _load_process_dictionary()


def _load_process_dictionary() -> _Dictionary:
    """The segmenter with the domain dictionary, loaded once per process (and on reload)."""
    global _process
    with _segmenter_lock:
        if _process is None:
            _process = _Dictionary(data_file(DICTIONARY_NAME).read_bytes())
    return _process


def loaded_dictionary_hash() -> str:
    """The sha256 of the dictionary this thread segments with (an indexer's: the one recorded in
    the generation it builds)."""
    return _dictionary().digest


def dictionary_file_hash() -> str | None:
    """The sha256 of the dictionary file on disk now (None if unreadable)."""
    try:
        return hashlib.sha256(data_file(DICTIONARY_NAME).read_bytes()).hexdigest()
    except OSError:
        return None


def _read_on_disk() -> _Dictionary | None:
    """The dictionary file on disk now, loaded (or the last one loaded, unchanged); None when it
    is the process's own or cannot be read (being replaced, or gone: the one loaded stays)."""
    global _on_disk
    try:
        dictionary = data_file(DICTIONARY_NAME).read_bytes()
    except OSError:
        return None
    digest = hashlib.sha256(dictionary).hexdigest()
    if digest == (_process or _load_process_dictionary()).digest:
        return None
    with _segmenter_lock:
        if _on_disk is None or _on_disk.digest != digest:
            _on_disk = _Dictionary(dictionary)
        return _on_disk


@contextmanager
def dictionary_on_disk() -> Iterator[str]:
    """Segment with the dictionary file on disk in this thread only (an indexer), whether or not
    it was edited since the process loaded its own; yields its hash."""
    dictionary = _read_on_disk()
    if dictionary is None:
        yield loaded_dictionary_hash()
        return
    _indexing.dictionary = dictionary
    try:
        yield dictionary.digest
    finally:
        del _indexing.dictionary


def reload_segmenter() -> bool:
    """The process segments with the dictionary file if it changed; True when it did. Everything
    computed with the old one (the synonyms' query words) is forgotten."""
    global _process
    dictionary = _read_on_disk()
    if dictionary is None:
        return False
    with _segmenter_lock:
        _process = dictionary
    _synonym_groups.cache_clear()
    return True


def _has_word(segmenter, word: str) -> bool:
    if hasattr(segmenter, "has_word"):
        return segmenter.has_word(word)
    # jieba: a Tokenizer
    frequency = getattr(segmenter, "get_FREQ", None) or segmenter.FREQ.get  # pragma: no cover
    return bool(frequency(word))  # pragma: no cover


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
    return _dictionary().segmenter.tokenize(fold_width(text), "default", True)


def index_tokens(text: str) -> list[tuple[str, int, int, int]]:
    """(term, position, start, end) as indexed: each word at its ordinal position, preceded by
    the dictionary words inside it (search mode) at the same position, so that `排放` finds
    碳排放 while phrase queries see one position per word."""
    dictionary = _dictionary()
    out: list[tuple[str, int, int, int]] = []
    position = 0
    for word, start, end in dictionary.segmenter.tokenize(fold_width(text), "default", True):
        parts = dictionary.word_parts(word)
        if parts is None:
            continue
        lowered, inner = parts
        for gram, gram_start, gram_end in inner:
            out.append((gram, position, start + gram_start, start + gram_end))
        out.append((lowered, position, start, end))
        position += 1
    return out


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


class WordPositions(Positions):
    """Whoosh's Positions format, the postings of a document made straight from index_tokens
    when the field's analyzer is ours: the same (word, frequency, weight, encoded positions) as
    Positions.word_values gives (tests/test_analysis.py), without a Token object per word, which
    was a fifth of a build's time."""

    def word_values(self, value, analyzer, **kwargs):
        if not isinstance(analyzer, ChineseTokenizer) or kwargs.get("mode") != "index":
            yield from super().word_values(value, analyzer, **kwargs)
            return
        positions: dict[str, list[int]] = {}
        for text, position, _, _ in index_tokens(value):
            found = positions.get(text)
            if found is None:
                positions[text] = [position]
            else:
                found.append(position)
        boost = self.field_boost
        for text, found in positions.items():
            yield text, len(found), float(len(found)) * boost, self.encode(found)


def ChineseAnalyzer() -> Composable:
    """The analyzer of every full-text field (index and query alike)."""
    return ChineseTokenizer()


_RUN = re.compile(r"\w+")


def pair_runs(text: str) -> list[str]:
    """The runs of letters and digits character pairs are made within, width and case folded."""
    return _RUN.findall(normalize(text))


def character_bigrams(text: str) -> list[str]:
    """Overlapping pairs of characters within each run of letters and digits (a run of one
    stays whole), width and case folded: 碳排放权 -> 碳排 排放 放权. No dictionary decides
    them, so they match where the segmenter cut a question and an article differently.
    (pairs.py codes the same pairs as numbers.)"""
    grams: list[str] = []
    for run in pair_runs(text):
        if len(run) == 1:
            grams.append(run)
        else:
            grams += [run[i : i + 2] for i in range(len(run) - 1)]
    return grams


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    return frozenset(
        normalize(w) for fields in _data_lines(data_file("stopwords.txt")) for w in fields
    )


def synonym_groups() -> dict[str, tuple[tuple[str, ...], ...]]:
    """Map each normalised word to its group, each member as its query words (a phrase if several)."""
    return _synonym_groups(_dictionary().digest)


# per dictionary: an indexer's thread (another dictionary than the searches') may ask too
@lru_cache(maxsize=2)
def _synonym_groups(dictionary_digest: str) -> dict[str, tuple[tuple[str, ...], ...]]:
    groups: dict[str, tuple[tuple[str, ...], ...]] = {}
    for fields in _data_lines(data_file("synonyms.txt")):
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


@lru_cache(maxsize=1)
def related_words() -> dict[str, tuple[tuple[str, float], ...]]:
    """Each word's nearest words in meaning with their cosine, best first, as learned from the
    reference corpus by bench/related_words.py (related_words.txt; empty when there is none)."""
    path = data_file("related_words.txt")
    if not path.is_file():
        return {}
    related = {}
    for word, *others in _data_lines(path):
        pairs = (other.rpartition(":") for other in others)
        related[normalize(word)] = tuple((normalize(w), float(sim)) for w, _, sim in pairs)
    return related


# -- data files edited while a process runs


def _signature(name: str) -> tuple:
    path = data_file(name)
    try:
        stat = path.stat()
    except OSError:
        return (str(path), None, None)
    return (str(path), stat.st_mtime_ns, stat.st_size)


REFRESH_INTERVAL = 1.0  # seconds between two looks at the data files' modification times
_data_reloaders: dict[str, list[Callable[[], None]]] = {
    "synonyms.txt": [_synonym_groups.cache_clear],
    "stopwords.txt": [stopwords.cache_clear],
    "related_words.txt": [related_words.cache_clear],
}
_data_seen: dict[str, tuple] = {name: _signature(name) for name in _data_reloaders}
_data_checked = 0.0
_refresh_lock = threading.Lock()


def on_data_change(name: str, reload: Callable[[], None]) -> None:
    """Have `refresh_data` call `reload` when the data file `name` (e.g. issuers.txt) changes."""
    _data_reloaders.setdefault(name, []).append(reload)
    _data_seen.setdefault(name, _signature(name))  # as it is now: the caller reads it from here


def refresh_data(force: bool = False) -> list[str] | None:
    """Reload the data files (other than the dictionary) edited since the last look, at most once
    every REFRESH_INTERVAL seconds unless `force`: the names of those reloaded, None when it did
    not look (too soon). A few stat calls: cheap enough for every request."""
    global _data_checked
    now = time.monotonic()
    if not force and now - _data_checked < REFRESH_INTERVAL:
        return None
    if not _refresh_lock.acquire(blocking=force):
        return None  # another thread is looking (`force`: wait for it, then look again)
    try:
        _data_checked = now
        changed = []
        for name, reloaders in _data_reloaders.items():
            signature = _signature(name)
            if signature != _data_seen.get(name):
                _data_seen[name] = signature
                for reload in reloaders:
                    reload()
                changed.append(name)
        return changed
    finally:
        _refresh_lock.release()
