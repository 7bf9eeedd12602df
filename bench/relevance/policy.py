"""Our own policy needs (bench/eval/policy) over the notices, reports and regulations of the shared
corpus: our search and the baselines, judged at file level (graded nDCG@10, MRR@10)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench.common.lexical import CUTOFF, Rankings, bigram_tokens, jieba_tokens, run_fts5
from bench.relevance.settings import (
    BM25_BIGRAMS,
    BM25_WORDS,
    FTS5,
    POLICY_KINDS,
    POLICY_SET,
)

if TYPE_CHECKING:
    from search.ranking import RankingConfig


@dataclass
class PolicySet:
    documents: list  # bench.policy_pool.Document: key, unit (as bench.corpus renders it), text
    queries: dict[str, tuple[str, str]]  # qid -> (kind, query)
    qrels: dict[str, dict[str, int]]  # qid -> document key -> grade


def load_policy_set(corpus: Path, folder: Path = POLICY_SET) -> PolicySet:
    from bench.policy_pool import read_collection, read_qrels, read_queries

    qrels = read_qrels(folder)
    queries = {qid: kq for qid, kq in read_queries(folder).items() if qrels.get(qid)}
    return PolicySet(read_collection(corpus), queries, qrels)


def build_policy_index(policy: PolicySet, workdir: Path) -> tuple[Path, float]:
    """The policy documents rendered as bench.corpus renders them and indexed by update_index
    (incremental: a kept work folder is read again in seconds)."""
    from bench.policy_pool import build_ours

    return build_ours(policy.documents, workdir)


def run_ours_on_files(
    index_root: Path, queries: dict[str, str], ranking: RankingConfig | None = None
) -> tuple[Rankings, dict]:
    """Each query through SearchIndex.search with a user's defaults (the first 10 hits), each hit
    read as its file's key, a file counted once where it first appears: what a user of the API
    sees at file level (10 hits from one law are one file)."""
    from bench.policy_pool import key_of
    from search.query import SearchIndex
    from search.ranking import DEFAULT
    from search.request import SearchRequest

    rankings: Rankings = {}
    matches: dict[str, int] = {}
    started = time.perf_counter()
    with SearchIndex(index_root, ranking=ranking or DEFAULT) as engine:
        for qid, query in queries.items():
            request = SearchRequest.from_params({"q": [query], "per_page": [str(CUTOFF)]})
            result = engine.search(request)
            keys = [key_of(hit["source_file"]) for hit in result["hits"]]
            rankings[qid] = list(dict.fromkeys(keys))
            matches[result["match"]] = matches.get(result["match"], 0) + 1
    return rankings, {"seconds": time.perf_counter() - started, "matches": matches}


def policy_measures(rankings: Rankings, policy: PolicySet) -> dict[str, dict[str, float]]:
    """MRR@10 (first document graded 1 or 2) and graded nDCG@10, over every need and per kind."""
    from bench.policy_pool import mrr_ndcg

    groups = {"all": list(policy.queries)}
    for kind in POLICY_KINDS:
        groups[kind] = [q for q, (k, _) in policy.queries.items() if k == kind]
    scores = {}
    for group, qids in groups.items():
        pairs = [mrr_ndcg(rankings.get(q, []), policy.qrels[q]) for q in qids if q in rankings]
        count = max(1, len(pairs))
        scores[group] = {
            "MRR@10": sum(p[0] for p in pairs) / count,
            "nDCG@10": sum(p[1] for p in pairs) / count,
            "questions": len(pairs),
        }
    return scores


def policy_baselines(policy: PolicySet) -> dict[str, tuple[Rankings, dict]]:
    """BM25 over jieba words and over character bigrams, and FTS5, over each whole document."""
    from bench.policy_pool import rank_bm25

    texts = {qid: query for qid, (_, query) in policy.queries.items()}
    found = {}
    for name, tokens in (
        (BM25_WORDS, jieba_tokens()),
        (BM25_BIGRAMS, bigram_tokens),
    ):
        started = time.perf_counter()
        rankings = rank_bm25(policy.documents, texts, tokens)
        found[name] = (rankings, {"seconds": time.perf_counter() - started})
    found[FTS5] = run_fts5({d.key: d.text for d in policy.documents}, texts)
    return found
