"""Relevance on real questions, on two sets: STARD's legal questions over law articles and our
own policy needs over ministry notices, provincial reports and local regulations
(bench/eval/policy), answered by our own search (ingest, index and SearchIndex.search as the web
and API run them) and by plain BM25 and FTS5 baselines; written to docs/relevance.md.

This module is its command line (`python -m bench.relevance`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.relevance.evaluate import evaluate
from bench.relevance.report import report
from bench.relevance.settings import (
    DEFAULT_CORPUS,
    DEFAULT_DATA,
    DEFAULT_REPORT,
    POLICY_SET,
    REPO,
    SPLITS,
)
from bench.relevance.stard import TRAIN_QRELS, TRAIN_QUERIES


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.relevance", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA, help="the STARD folder")
    parser.add_argument(
        "--corpus",
        type=Path,
        default=DEFAULT_CORPUS,
        help="the shared corpus, for the policy needs (default ../shared/corpus)",
    )
    parser.add_argument(
        "--policy-set",
        type=Path,
        default=POLICY_SET,
        help="the folder of the policy needs' queries.tsv and qrels.tsv",
    )
    parser.add_argument("--no-legal", action="store_true", help="leave out the legal questions")
    parser.add_argument("--no-policy", action="store_true", help="leave out the policy needs")
    parser.add_argument(
        "--work",
        type=Path,
        help="keep the indexes in this folder (the next run updates them in seconds) rather "
        "than in a temporary one",
    )
    parser.add_argument("--split", choices=("all", *SPLITS), default="all")
    parser.add_argument("--limit", type=int, help="run only the first N legal questions")
    parser.add_argument(
        "--steps", action="store_true", help="also re-measure each kept change, one at a time"
    )
    parser.add_argument(
        "--laws",
        type=Path,
        help="the corpus's law folder: give each article the headings of its chapter",
    )
    parser.add_argument(
        "--queries",
        default=TRAIN_QUERIES,
        help=f"the questions file in the data folder (default {TRAIN_QUERIES}; the questions "
        "of any other file are all counted as held out)",
    )
    parser.add_argument("--qrels", default=TRAIN_QRELS, help="its judgments file")
    parser.add_argument(
        "--train-map",
        action="store_true",
        help="learn the question map from the tune questions first and write it to "
        "search/data/question_map.npy (what the search then uses)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help=f"where to write the report (default {DEFAULT_REPORT.relative_to(REPO)} "
        "for a whole run of both sets; a partial run writes none unless asked)",
    )
    args = parser.parse_args(argv)
    data = None
    if not args.no_legal:
        data = args.data if args.data.is_absolute() else Path.cwd() / args.data
        if not (data / "articles.jsonl").is_file():
            parser.error(f"{data} holds no articles.jsonl: pass the STARD folder")
        for name in (args.queries, args.qrels):
            if not (data / name).is_file():
                parser.error(f"{data / name} does not exist")
    corpus = None
    if not args.no_policy:
        corpus = args.corpus
        if not (corpus / "mee_policy_docs.jsonl").is_file():
            parser.error(f"{corpus} is not the shared corpus folder (or pass --no-policy)")
    if args.laws and not args.laws.is_dir():
        parser.error(f"{args.laws} is not a folder")
    output = args.output
    whole = not (args.limit or args.no_legal or args.no_policy or args.laws)
    if output is None and whole and args.split == "all" and args.queries == TRAIN_QUERIES:
        output = DEFAULT_REPORT
    from search.vectors import QUESTION_MAP_FILE

    train_map = QUESTION_MAP_FILE if args.train_map else None
    run, sets = evaluate(
        data,
        corpus,
        args.work,
        args.split,
        args.limit,
        args.steps,
        args.laws,
        train_map,
        args.queries,
        args.qrels,
        args.policy_set,
    )
    text = report(run, sets, data, args.split)
    print(text)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        print(f"written to {output}", file=sys.stderr)
