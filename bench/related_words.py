"""Related words learned from the reference corpus alone (unsupervised): word vectors from the
positive PMI of words seen near each other in `../shared/corpus` (laws, ministry notices,
provincial reports), factored by a truncated SVD, and each word's nearest words by cosine,
written to search/data/related_words.txt for query expansion (RankingConfig.related_weight).

    python -m bench.related_words ../shared/corpus            # writes search/data/related_words.txt
    python -m bench.related_words ../shared/corpus --show 吵 偷 邻居

No question and no judgment is read: the words are the project's own (search.analysis, with the
domain dictionary), so the file holds terms the index holds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO.parent / "shared" / "corpus"
DEFAULT_OUTPUT = REPO / "search" / "data" / "related_words.txt"


def corpus_paragraphs(corpus: Path) -> Iterator[str]:
    """Every paragraph of the corpus: the laws' text below their header, the notices' content,
    the reports' lines."""
    for path in sorted((corpus / "laws").rglob("*.md")):
        if path.name == "_index.md":
            continue
        text = path.read_text(encoding="utf-8")
        _, _, body = text.partition("<!-- INFO END -->")
        yield from (line for line in (body or text).splitlines() if line.strip())
    for name, key in (("mee_policy_docs.jsonl", "content"), ("gov_reports_2026.jsonl", "text")):
        with open(corpus / name, encoding="utf-8") as lines:
            for line in lines:
                text = json.loads(line).get(key) or ""
                yield from (part for part in text.splitlines() if part.strip())


def is_content(word: str, stop: frozenset[str]) -> bool:
    """A word worth relating: holds a Chinese character, and is not a stop word."""
    return word not in stop and any("\u4e00" <= ch <= "\u9fff" for ch in word)


def tokenized(corpus: Path) -> list[list[str]]:
    """Each paragraph as its content words (the query's own segmentation)."""
    from search.analysis import query_words, stopwords

    stop = stopwords()
    return [[w for w in query_words(p) if is_content(w, stop)] for p in corpus_paragraphs(corpus)]


def word_vectors(
    paragraphs: list[list[str]],
    min_count: int = 5,
    window: int = 5,
    dimensions: int = 200,
    smoothing: float = 0.75,
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(vocabulary, unit vectors, counts): SVD of the shifted-free positive PMI of words within
    `window` of each other (context counts raised to `smoothing`), rows U·√S (Levy, Goldberg and
    Dagan 2015: as good as word2vec's on similarity at this size)."""
    from scipy import sparse
    from scipy.sparse.linalg import svds

    counts = Counter(w for p in paragraphs for w in p)
    vocabulary = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: -counts[w])
    index = {w: i for i, w in enumerate(vocabulary)}
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    for paragraph in paragraphs:
        ids = np.array([index.get(w, -1) for w in paragraph], dtype=np.int64)
        for offset in range(1, window + 1):
            if len(ids) <= offset:
                break
            left, right = ids[:-offset], ids[offset:]
            keep = (left >= 0) & (right >= 0)
            rows += [left[keep], right[keep]]
            cols += [right[keep], left[keep]]
    size = len(vocabulary)
    row, col = np.concatenate(rows), np.concatenate(cols)
    pairs = sparse.coo_matrix((np.ones(len(row), np.float32), (row, col)), shape=(size, size))
    pairs = pairs.tocsr()
    pairs.sum_duplicates()
    total = pairs.sum()
    word_total = np.asarray(pairs.sum(axis=1)).ravel()
    context_total = np.asarray(pairs.sum(axis=0)).ravel() ** smoothing
    context_total /= context_total.sum()
    coo = pairs.tocoo()
    pmi = np.log(coo.data * 1.0 / total) - np.log(
        word_total[coo.row] / total * context_total[coo.col]
    )
    keep = pmi > 0
    ppmi = sparse.csr_matrix(
        (pmi[keep].astype(np.float32), (coo.row[keep], coo.col[keep])), shape=(size, size)
    )
    u, s, _ = svds(ppmi, k=dimensions)
    vectors = u * np.sqrt(s)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-9
    return vocabulary, vectors.astype(np.float32), np.array([counts[w] for w in vocabulary])


def nearest(
    vocabulary: list[str],
    vectors: np.ndarray,
    counts: np.ndarray,
    neighbours: int = 5,
    min_similarity: float = 0.5,
    min_neighbour_count: int = 20,
) -> dict[str, list[tuple[str, float]]]:
    """Each word's nearest words (at least `min_similarity` in cosine, seen at least
    `min_neighbour_count` times), best first."""
    candidates = np.flatnonzero(counts >= min_neighbour_count)
    pool = vectors[candidates]
    related: dict[str, list[tuple[str, float]]] = {}
    for start in range(0, len(vocabulary), 2048):
        block = vectors[start : start + 2048] @ pool.T
        top = np.argpartition(-block, neighbours + 1, axis=1)[:, : neighbours + 1]
        for offset, columns in enumerate(top):
            word = vocabulary[start + offset]
            scored = sorted(
                ((float(block[offset, c]), candidates[c]) for c in columns), reverse=True
            )
            found = [
                (vocabulary[i], round(sim, 2))
                for sim, i in scored
                if i != start + offset and sim >= min_similarity
            ][:neighbours]
            if found:
                related[word] = found
    return related


def write_related(related: dict[str, list[tuple[str, float]]], output: Path, note: str) -> None:
    lines = [
        "# Related words learned from the reference corpus by bench/related_words.py; do not edit",
        "# by hand, rerun it. One word a line, then its nearest words as word:cosine, best first.",
        f"# {note}",
    ]
    lines += [
        word + " " + " ".join(f"{other}:{sim:.2f}" for other, sim in found)
        for word, found in related.items()
    ]
    output.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.related_words", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "corpus", nargs="?", type=Path, default=DEFAULT_CORPUS, help="the shared corpus"
    )
    parser.add_argument(
        "-o", "--output", type=Path, default=DEFAULT_OUTPUT, help="[search/data/related_words.txt]"
    )
    parser.add_argument(
        "--min-count", type=int, default=5, help="times a word is seen at least [5]"
    )
    parser.add_argument(
        "--window", type=int, default=5, help="words either side that count as near [5]"
    )
    parser.add_argument("--dimensions", type=int, default=200, help="of the word vectors [200]")
    parser.add_argument("--neighbours", type=int, default=5, help="related words kept a word [5]")
    parser.add_argument(
        "--min-similarity", type=float, default=0.5, help="cosine a related word needs [0.5]"
    )
    parser.add_argument("--show", nargs="*", help="print these words' neighbours, write nothing")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    paragraphs = tokenized(args.corpus)
    print(f"{len(paragraphs)} paragraphs: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    vocabulary, vectors, counts = word_vectors(
        paragraphs, args.min_count, args.window, args.dimensions
    )
    print(f"{len(vocabulary)} words: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    related = nearest(vocabulary, vectors, counts, args.neighbours, args.min_similarity)
    if args.show is not None:
        for word in args.show:
            print(word, related.get(word))
        return
    note = (
        f"{len(vocabulary)} words seen {args.min_count}+ times, window {args.window}, "
        f"{args.dimensions} dimensions, cosine {args.min_similarity}+"
    )
    write_related(related, args.output, note)
    print(f"{len(related)} words written: {time.perf_counter() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
