"""The question map: a linear map from a question's sentence vector towards the vectors of the
articles that answer it, learned on the tune split (`--train-map`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.relevance.stard import Collection

# Chosen on a fifth of the tune questions held apart while the map learned from the rest.
MAP_TRAINING = {
    "regularisation": 0.1,  # pulls A towards 0 (the map towards the identity)
    "epochs": 2,
    "temperature": 20.0,  # cosines x this before the softmax
    "rate": 0.5,
    "batch": 64,
    "seed": 0,
}


def record_vectors(index_root: Path, sources: dict[str, str]) -> dict[str, np.ndarray]:
    """docid -> the sentence vector our index holds for that article (none until the vector
    pass has encoded it), as ranked matching reads it (ScoringColumns' vector cache)."""
    from search.query import SearchIndex
    from search.records import unpack

    with SearchIndex(index_root) as engine:
        searcher, generation = engine.searcher()
        columns = generation.scoring
        rows = columns.vector_rows(searcher.reader())
        matrix = columns.cache.vectors(rows)
        return {
            sources[unpack(fields["record"])["source_file"]]: matrix[docnum]
            for docnum, fields in searcher.iter_docs()
            if rows[docnum] >= 0
        }


def train_question_map(
    questions: np.ndarray, documents: np.ndarray, pairs: np.ndarray, **settings
) -> np.ndarray:
    """A map A such that a question's vector q + qA lies nearest the vectors of the articles that
    answer it: softmax cross-entropy of each judged (question row, document row) pair against
    every document, by mini-batch gradient descent (the gradient of a bilinear score is an outer
    product, so numpy is enough). Deterministic for a given seed."""
    import numpy as np

    options = MAP_TRAINING | settings
    rng = np.random.default_rng(options["seed"])
    dimensions = documents.shape[1]
    mapping = np.zeros((dimensions, dimensions), dtype=np.float32)
    order = pairs.copy()
    tau = options["temperature"]
    for _ in range(options["epochs"]):
        rng.shuffle(order)
        for start in range(0, len(order), options["batch"]):
            batch = order[start : start + options["batch"]]
            q = questions[batch[:, 0]]
            moved = q + q @ mapping
            logits = tau * (moved @ documents.T)
            logits -= logits.max(axis=1, keepdims=True)
            p = np.exp(logits)
            p /= p.sum(axis=1, keepdims=True)
            gradient = tau * q.T @ (p @ documents - documents[batch[:, 1]]) / len(batch)
            mapping -= options["rate"] * (gradient + options["regularisation"] * mapping)
    return mapping


def learn_question_map(
    collection: Collection, index_root: Path, sources: dict[str, str], output: Path
) -> str:
    """Train the question map on every judged tune question and write it to `output`."""
    from search import vectors

    by_docid = record_vectors(index_root, sources)
    docids = sorted(by_docid)
    row = {docid: i for i, docid in enumerate(docids)}
    documents = np.stack([by_docid[d] for d in docids]).astype(np.float32)
    qids = [q for q in collection.questions if collection.split(q) == "tune"]
    questions = vectors.embed([collection.questions[q] for q in qids])
    pairs = np.array(
        [
            (i, row[d])
            for i, q in enumerate(qids)
            for d in sorted(collection.judgments[q])
            if d in row
        ]
    )
    mapping = train_question_map(questions, documents, pairs)
    output.parent.mkdir(parents=True, exist_ok=True)
    np.save(output, mapping.astype(np.float16))
    vectors.question_map.cache_clear()
    return (
        f"question map learned from {len(pairs)} judged pairs of {len(qids)} tune questions "
        f"({', '.join(f'{k} {v}' for k, v in MAP_TRAINING.items())}), written to {output.name}"
    )
