"""Lexical baselines: plain BM25 (bm25s) over jieba words or character bigrams, and SQLite FTS5,
ranking texts for questions, as bench.relevance and bench.policy_pool compare our search with."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import numpy as np

CUTOFF = 10  # documents ranked a question: the @10 of the measures
_WORD = re.compile(r"\w")


def baseline_text(article: dict, headings: list[str] = ()) -> str:
    """What the baselines index: the same words our index holds (law name, chapter headings and
    article text)."""
    return "\n".join([article["law"], *headings, article["text"]])


def jieba_tokens() -> Callable[[str], list[str]]:
    """Plain jieba (its own dictionary only, default mode), punctuation dropped."""
    import jieba

    jieba.setLogLevel(60)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return lambda text: [w for w in tokenizer.lcut(text) if _WORD.search(w)]


_RUN = re.compile(r"\w+")


def bigram_tokens(text: str) -> list[str]:
    """Overlapping character pairs within each run of word characters (a lone one stays)."""
    grams = []
    for run in _RUN.findall(text.lower()):
        grams += [run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]
    return grams


def run_bm25(
    articles: list[dict],
    questions: dict[str, str],
    tokens: Callable[[str], list[str]],
    headings: dict[str, list[str]],
) -> tuple[Rankings, dict]:
    """BM25 (bm25s, Lucene's formula, k1=1.2 b=0.75) over the given tokens."""
    import bm25s

    started = time.perf_counter()
    corpus = [tokens(baseline_text(a, headings.get(a["docid"], ()))) for a in articles]
    retriever = bm25s.BM25(k1=1.2, b=0.75)
    retriever.index(corpus, show_progress=False)
    vocabulary = retriever.vocab_dict
    qids = list(questions)
    rankings: Rankings = {}
    for qid in qids:
        words = [w for w in tokens(questions[qid]) if w in vocabulary]
        if not words:
            rankings[qid] = []
            continue
        scores = retriever.get_scores(words)
        top = np.argsort(-scores, kind="stable")[:CUTOFF]
        rankings[qid] = [articles[i]["docid"] for i in top if scores[i] > 0]
    return rankings, {"seconds": time.perf_counter() - started}


def run_fts5(texts: dict[str, str], questions: dict[str, str]) -> tuple[Rankings, dict]:
    """SQLite FTS5's bm25() over jieba words (space-separated, so unicode61 keeps each word),
    each question's distinct words OR-ed; `texts` maps a key to what is indexed under it."""
    import sqlite3

    started = time.perf_counter()
    tokens = jieba_tokens()
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE docs USING fts5(key UNINDEXED, body, tokenize='unicode61')")
    db.executemany(
        "INSERT INTO docs (key, body) VALUES (?, ?)",
        [(key, " ".join(tokens(text))) for key, text in texts.items()],
    )
    rankings: Rankings = {}
    for qid, question in questions.items():
        words = dict.fromkeys(w for w in tokens(question) if w.strip())
        if not words:
            rankings[qid] = []
            continue
        match = " OR ".join('"' + w.replace('"', '""') + '"' for w in words)
        rows = db.execute(
            "SELECT key FROM docs WHERE docs MATCH ? ORDER BY bm25(docs) LIMIT ?", (match, CUTOFF)
        )
        rankings[qid] = [row[0] for row in rows]
    db.close()
    return rankings, {"seconds": time.perf_counter() - started}


Rankings = dict[str, list[str]]  # question id -> docids, best first (at most CUTOFF)
