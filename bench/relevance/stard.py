"""STARD's legal questions over law articles: the collection, its tune and held-out splits by law,
the measures (MRR@10, Recall@10, nDCG@10), and our own search over the articles."""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench.common.articles import write_seeds
from bench.common.lexical import CUTOFF, Rankings
from bench.relevance.settings import SPLITS, TUNE_PERCENT

if TYPE_CHECKING:
    from search.ranking import RankingConfig


@dataclass
class Collection:
    articles: list[dict]  # docid, law, article, file, text
    questions: dict[str, str]  # qid -> question
    judgments: dict[str, set[str]]  # qid -> relevant docids
    # questions of a set apart from the training questions (--queries): all of them held out
    all_held_out: bool = False

    def split(self, qid: str) -> str:
        """`tune`, `heldout`, or `straddling` (neither: its judged articles lie in laws of both
        splits); every question of a further set is held out."""
        if self.all_held_out:
            return "heldout"
        return question_split(self.judgments.get(qid, ()))


TRAIN_QUERIES = "queries.train.tsv"


TRAIN_QRELS = "qrels.train.tsv"


def load_collection(
    folder: Path, queries: str = TRAIN_QUERIES, qrels: str = TRAIN_QRELS
) -> Collection:
    """articles.jsonl and the questions and judgments (by default the training ones) of the
    STARD folder. Questions of any other file are all held out: none was looked at."""
    with open(folder / "articles.jsonl", encoding="utf-8") as handle:
        articles = [json.loads(line) for line in handle if line.strip()]
    questions = {}
    for line in (folder / queries).read_text(encoding="utf-8").splitlines():
        if line.strip():
            qid, question = line.split("\t", 1)
            questions[qid] = question.strip()
    judgments: dict[str, set[str]] = {}
    for line in (folder / qrels).read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) == 4 and int(parts[3]) > 0:
            judgments.setdefault(parts[0], set()).add(parts[2])
    questions = {qid: q for qid, q in questions.items() if qid in judgments}
    return Collection(articles, questions, judgments, all_held_out=queries != TRAIN_QUERIES)


def law_of(docid: str) -> str:
    """The law file an article belongs to (`民法典/合同编.md#第五百条` -> `民法典/合同编.md`)."""
    return docid.split("#", 1)[0]


def law_split(law: str) -> str:
    """`tune` or `heldout` for a whole law file, fixed by a hash of its path."""
    bucket = int(hashlib.sha256(law.encode("utf-8")).hexdigest()[:8], 16) % 100
    return "tune" if bucket < TUNE_PERCENT else "heldout"


def question_split(judged: Iterable[str]) -> str:
    """A question's split is that of the laws its judged articles belong to: no law (so no
    article) answers questions of both splits, and what the question map learns from tune
    questions cannot be where held-out answers lie. A question answered in laws of both splits
    is `straddling` and counted in neither."""
    splits = {law_split(law_of(docid)) for docid in judged}
    return splits.pop() if len(splits) == 1 else "straddling"


def measures(rankings: Rankings, judgments: dict[str, set[str]]) -> dict[str, float]:
    """MRR@10, Recall@10 and nDCG@10 (binary gains), averaged over the ranked questions."""
    mrr = recall = ndcg = 0.0
    for qid, ranked in rankings.items():
        relevant = judgments[qid]
        ranked = ranked[:CUTOFF]
        hits = [docid in relevant for docid in ranked]
        first = next((i for i, hit in enumerate(hits) if hit), None)
        mrr += 0.0 if first is None else 1.0 / (first + 1)
        recall += sum(hits) / len(relevant)
        dcg = sum(1.0 / math.log2(i + 2) for i, hit in enumerate(hits) if hit)
        ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(relevant), CUTOFF)))
        ndcg += dcg / ideal
    count = max(1, len(rankings))
    return {"MRR@10": mrr / count, "Recall@10": recall / count, "nDCG@10": ndcg / count}


METRICS = ("MRR@10", "Recall@10", "nDCG@10")


def by_split(
    rankings: Rankings, judgments: dict[str, set[str]], split: Callable[[str], str]
) -> dict[str, dict[str, float]]:
    scores = {}
    for name in SPLITS:
        part = {qid: r for qid, r in rankings.items() if split(qid) == name}
        scores[name] = measures(part, judgments) | {"questions": len(part)}
    return scores


def build_our_index(
    articles: list[dict], workdir: Path, headings: dict[str, list[str]]
) -> tuple[Path, dict[str, str], float]:
    """Index the articles with update_index; (index root, source_file -> docid, seconds)."""
    from search.indexer import update_index

    seeds = workdir / "seeds"
    seeds.mkdir(parents=True, exist_ok=True)
    sources = write_seeds(articles, seeds, headings)
    index_root = workdir / "index"
    started = time.perf_counter()
    result = update_index(seeds, index_root)
    seconds = time.perf_counter() - started
    if result.records != len(articles):
        raise SystemExit(
            f"the ingest made {result.records} records of {len(articles)} articles: "
            "each article should be one record\n" + result.report.summary()
        )
    return index_root, sources, seconds


def run_ours(
    index_root: Path,
    sources: dict[str, str],
    questions: dict[str, str],
    ranking: RankingConfig | None = None,
) -> tuple[Rankings, dict]:
    """Each question through SearchIndex.search with a user's defaults (10 per page), ranked by
    `ranking` (by default, the search's own)."""
    from search.query import SearchIndex
    from search.ranking import DEFAULT
    from search.request import SearchRequest

    rankings: Rankings = {}
    matches: dict[str, int] = {}
    started = time.perf_counter()
    with SearchIndex(index_root, ranking=ranking or DEFAULT) as engine:
        for qid, question in questions.items():
            request = SearchRequest.from_params({"q": [question], "per_page": [str(CUTOFF)]})
            result = engine.search(request)
            rankings[qid] = [sources[hit["source_file"]] for hit in result["hits"]]
            matches[result["match"]] = matches.get(result["match"], 0) + 1
    seconds = time.perf_counter() - started
    return rankings, {"seconds": seconds, "matches": matches}
