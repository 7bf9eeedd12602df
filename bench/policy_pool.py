"""The judging pool of the policy question set (bench/eval/policy): every question run by several
rankers over the ministry notices, the 2026 provincial reports and the local regulations of
laws/DLC/, their top 10 documents merged into one pool to read and grade; `--score` measures each
ranker against the judgments.

    python -m bench.policy_pool                 # rank, write the pool to /tmp/policy_pool/
    python -m bench.policy_pool --no-ours       # without our engine (no index to build)
    python -m bench.policy_pool --score         # MRR@10 and nDCG@10 of the saved rankings

Rankers, all at the level of a whole document: BM25 over jieba words and over character bigrams
(bm25s, as bench.relevance's baselines), SQLite FTS5 over jieba words, and our own search
(update_index over the documents rendered as bench.corpus renders them, SearchIndex.search with
a user's defaults), its record hits folded into their files.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.common.corpus import Unit, read_law, read_notices, read_reports, write_corpus
from bench.common.lexical import bigram_tokens, jieba_tokens, run_bm25, run_fts5

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO.parent / "shared" / "corpus"
DEFAULT_SET = REPO / "bench" / "eval" / "policy"
DEFAULT_WORK = Path(tempfile.gettempdir()) / "policy_pool"
DEPTH = 10  # documents per ranker in the pool, and the cutoff of the measures
KINDS = ("keyword", "title", "question")  # the kinds of need in queries.tsv, in report order
REPORT_YEAR = 2026  # every report of gov_reports_2026.jsonl; its ids are "<year>-<province>"
RANKERS = {
    "bm25-words": "(a) BM25 over jieba words (bm25s)",
    "bm25-bigrams": "(b) BM25 over character bigrams (bm25s)",
    "fts5": "(c) SQLite FTS5 over jieba words (bm25())",
    "ours": "(d) policy-search (SearchIndex.search, defaults), hits folded into files",
}

Rankings = dict[str, list[str]]  # qid -> document keys, best first


# ---------------------------------------------------------------------------------------------
# The collection: documents and their keys


@dataclass
class Document:
    key: str  # mee/<doc_id>, report/<id>, law/<path under corpus/laws>
    unit: Unit  # as bench.corpus reads it (unit.path is the rendered file)
    text: str  # title, issuer and body: what the baselines index


def key_of(rendered: str) -> str:
    """The judging key of a rendered file (a path relative to the seeds folder, as the index's
    `source_file` holds it): mee/<year>/<doc_id>.md -> mee/<doc_id>, reports/<province>.md ->
    report/2026-<province>, laws/DLC/<...>.md -> law/DLC/<...>.md."""
    source, _, rest = rendered.partition("/")
    if source == "mee":
        return "mee/" + Path(rest).stem
    if source == "reports":
        return f"report/{REPORT_YEAR}-{Path(rest).stem}"
    if source == "laws":
        return "law/" + rest
    raise ValueError(f"{rendered} is no file of the policy collection")


def plain_text(unit: Unit) -> str:
    if unit.kind == "document":
        return "\n".join([unit.title, unit.issuer, unit.body])
    lines = [unit.title, unit.issuer]
    for node in unit.nodes:
        lines.append(node.label)
        lines += [entry.content for entry in node.entries]
    return "\n".join(lines)


def read_collection(corpus: Path) -> list[Document]:
    """The ministry notices, the provincial reports and the local regulations of laws/DLC/."""
    laws = corpus / "laws"
    units = [*read_notices(corpus), *read_reports(corpus)]
    units += [
        read_law(path, laws)
        for path in sorted((laws / "DLC").rglob("*.md"))
        if path.name != "_index.md"
    ]
    return [Document(key_of(u.path), u, plain_text(u)) for u in units]


# ---------------------------------------------------------------------------------------------
# Queries and judgments


def read_queries(folder: Path) -> dict[str, tuple[str, str]]:
    """qid -> (kind, query) from queries.tsv."""
    queries = {}
    for line in (folder / "queries.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip():
            qid, kind, query = line.split("\t")
            queries[qid] = (kind, query.strip())
    return queries


def read_qrels(folder: Path) -> dict[str, dict[str, int]]:
    """qid -> key -> grade from qrels.tsv."""
    qrels: dict[str, dict[str, int]] = {}
    path = folder / "qrels.tsv"
    if not path.is_file():
        return qrels
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            qid, _, key, grade = line.split("\t")
            qrels.setdefault(qid, {})[key] = int(grade)
    return qrels


# ---------------------------------------------------------------------------------------------
# Rankers


def rank_bm25(
    documents: list[Document], queries: dict[str, str], tokens: Callable[[str], list[str]]
) -> Rankings:
    """BM25 over each document's whole text (title, issuer, body), as bench.relevance's
    baselines score law articles."""
    articles = [{"docid": d.key, "law": "", "text": d.text} for d in documents]
    rankings, _ = run_bm25(articles, queries, tokens, {})
    return {qid: ranked[:DEPTH] for qid, ranked in rankings.items()}


def rank_fts5(documents: list[Document], queries: dict[str, str]) -> Rankings:
    """FTS5's bm25() over the jieba words of each document's whole text, as bench.relevance's
    baseline ranks law articles (the query's distinct words OR-ed)."""
    rankings, _ = run_fts5({d.key: d.text for d in documents}, queries)
    return {qid: ranked[:DEPTH] for qid, ranked in rankings.items()}


def build_ours(documents: list[Document], work: Path) -> tuple[Path, float]:
    """Render the documents as bench.corpus does and index them with update_index (incremental:
    a rerun over unchanged files reads nothing)."""
    from search.indexer import update_index

    seeds, index = work / "seeds", work / "index"
    write_corpus([d.unit for d in documents], seeds)
    started = time.perf_counter()
    update_index(seeds, index)
    return index, time.perf_counter() - started


def rank_ours(index: Path, queries: dict[str, str], pages: int = 5) -> Rankings:
    """Each query through SearchIndex.search (100 hits a page, up to `pages` pages); a file
    ranks where its best record does."""
    from search.query import SearchIndex, SearchRequest

    rankings: Rankings = {}
    with SearchIndex(index) as engine:
        for qid, query in queries.items():
            files: list[str] = []
            for page in range(1, pages + 1):
                params = {"q": [query], "per_page": ["100"], "page": [str(page)]}
                result = engine.search(SearchRequest.from_params(params))
                for hit in result["hits"]:
                    key = key_of(hit["source_file"])
                    if key not in files:
                        files.append(key)
                if len(files) >= DEPTH or page >= result["pages"]:
                    break
            rankings[qid] = files[:DEPTH]
    return rankings


# ---------------------------------------------------------------------------------------------
# The pool, to read


_SENTENCE = re.compile(r"[^。；！？\n]+[。；！？]?")


def excerpt(text: str, words: list[str], count: int = 3, width: int = 110) -> list[str]:
    """The sentences holding most of the query's distinct words (of 2 characters or more)."""
    wanted = {w for w in words if len(w) >= 2}
    scored = []
    for position, sentence in enumerate(_SENTENCE.findall(text)):
        found = sum(1 for w in wanted if w in sentence)
        if found:
            scored.append((-found, position, sentence.strip()))
    best = sorted(scored)[:count]
    return [
        s[:width] + ("…" if len(s) > width else "") for _, _, s in sorted(best, key=lambda b: b[1])
    ]


def write_pool(
    documents: list[Document],
    queries: dict[str, tuple[str, str]],
    runs: dict[str, Rankings],
    qrels: dict[str, dict[str, int]],
    work: Path,
) -> Path:
    """pool.md (per question: each candidate with the rankers and ranks that found it, its grade
    if judged, title and excerpts) and pool.tsv (qid, key, rankers)."""
    by_key = {d.key: d for d in documents}
    tokens = jieba_tokens()
    lines, rows = [], []
    for qid, (kind, query) in queries.items():
        found: dict[str, list[str]] = {}
        for name, rankings in runs.items():
            for rank, key in enumerate(rankings.get(qid, []), 1):
                found.setdefault(key, []).append(f"{name}@{rank}")
        lines += [f"## {qid} [{kind}] {query}", "", f"{len(found)} candidates", ""]
        words = tokens(query) + bigram_tokens(query)
        for key, where in sorted(found.items(), key=lambda kv: -len(kv[1])):
            doc = by_key[key]
            grade = qrels.get(qid, {}).get(key)
            mark = "?" if grade is None else str(grade)
            lines.append(f"- [{mark}] `{key}` {doc.unit.title} ({', '.join(where)})")
            lines += [f"    > {s}" for s in excerpt(doc.text, words)]
            rows.append(f"{qid}\t{key}\t{','.join(where)}")
        lines.append("")
    work.mkdir(parents=True, exist_ok=True)
    (work / "pool.md").write_text("\n".join(lines), encoding="utf-8")
    (work / "pool.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return work / "pool.md"


# ---------------------------------------------------------------------------------------------
# Measures


def mrr_ndcg(ranked: list[str], grades: dict[str, int]) -> tuple[float, float]:
    """Reciprocal rank of the first document graded 1 or 2, and nDCG@10 with the grade as gain
    (trec_eval's convention); unjudged documents count 0."""
    ranked = ranked[:DEPTH]
    first = next((i for i, key in enumerate(ranked) if grades.get(key, 0) > 0), None)
    rr = 0.0 if first is None else 1.0 / (first + 1)
    dcg = sum(grades.get(key, 0) / math.log2(i + 2) for i, key in enumerate(ranked))
    ideal = sorted((g for g in grades.values() if g > 0), reverse=True)[:DEPTH]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return rr, (dcg / idcg if idcg else 0.0)


def score_table(
    runs: dict[str, Rankings],
    queries: dict[str, tuple[str, str]],
    qrels: dict[str, dict[str, int]],
) -> str:
    """A Markdown table: MRR@10 and nDCG@10 of each ranker, over all judged questions and per
    kind."""
    judged = [qid for qid in queries if qrels.get(qid)]
    kinds = sorted({queries[q][0] for q in judged}, key=lambda k: (KINDS + (k,)).index(k))
    groups = {"all": judged} | {k: [q for q in judged if queries[q][0] == k] for k in kinds}
    head = "| ranker | " + " | ".join(f"{g} ({len(qs)}) MRR / nDCG" for g, qs in groups.items())
    lines = [head + " |", "|---" * (1 + len(groups)) + "|"]
    for name, rankings in runs.items():
        cells = []
        for qids in groups.values():
            pairs = [mrr_ndcg(rankings.get(q, []), qrels[q]) for q in qids]
            mrr = sum(p[0] for p in pairs) / max(1, len(pairs))
            ndcg = sum(p[1] for p in pairs) / max(1, len(pairs))
            cells.append(f"{mrr:.3f} / {ndcg:.3f}")
        lines.append(f"| {RANKERS.get(name, name)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# The command


def run_rankers(
    documents: list[Document], queries: dict[str, tuple[str, str]], work: Path, ours: bool
) -> dict[str, Rankings]:
    texts = {qid: query for qid, (_, query) in queries.items()}
    runs = {
        "bm25-words": rank_bm25(documents, texts, jieba_tokens()),
        "bm25-bigrams": rank_bm25(documents, texts, bigram_tokens),
        "fts5": rank_fts5(documents, texts),
    }
    if ours:
        index, seconds = build_ours(documents, work)
        print(f"our index: update_index took {seconds:.0f} s", file=sys.stderr)
        runs["ours"] = rank_ours(index, texts)
    return runs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.policy_pool", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="the shared corpus")
    parser.add_argument(
        "--set", type=Path, default=DEFAULT_SET, help="folder of queries.tsv and qrels.tsv"
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=DEFAULT_WORK,
        help="where the rankings, the pool and our index go (outside the repository)",
    )
    parser.add_argument("--no-ours", action="store_true", help="leave out our engine")
    parser.add_argument(
        "--score",
        action="store_true",
        help="score the rankings saved in the work folder (ranking first if there are none)",
    )
    args = parser.parse_args(argv)
    if not (args.corpus / "mee_policy_docs.jsonl").is_file():
        parser.error(f"{args.corpus} is not the shared corpus folder")
    queries = read_queries(args.set)
    qrels = read_qrels(args.set)
    saved = args.work / "rankings.json"
    documents = None
    if args.score and saved.is_file():
        runs = json.loads(saved.read_text(encoding="utf-8"))
    else:
        documents = read_collection(args.corpus)
        runs = run_rankers(documents, queries, args.work, not args.no_ours)
        args.work.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps(runs, ensure_ascii=False, indent=1), encoding="utf-8")
        pool = write_pool(documents, queries, runs, qrels, args.work)
        print(f"{len(documents)} documents, {len(queries)} questions; pool in {pool}")
    if args.score:
        missing = [qid for qid in queries if not qrels.get(qid)]
        if missing:
            print(f"no judgments for {', '.join(missing)}", file=sys.stderr)
        print(score_table(runs, queries, qrels))


if __name__ == "__main__":
    main()
