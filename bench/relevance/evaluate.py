"""One evaluation: every system over both sets, scored per split."""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bench.common.articles import chapter_headings
from bench.common.lexical import baseline_text, bigram_tokens, jieba_tokens, run_bm25, run_fts5
from bench.relevance.policy import (
    PolicySet,
    build_policy_index,
    load_policy_set,
    policy_baselines,
    policy_measures,
    run_ours_on_files,
)
from bench.relevance.question_map import learn_question_map
from bench.relevance.settings import (
    BM25_BIGRAMS,
    BM25_WORDS,
    FTS5,
    OURS,
    POLICY_KINDS,
    POLICY_METRICS,
    POLICY_SET,
    SPLITS,
)
from bench.relevance.stard import (
    METRICS,
    TRAIN_QRELS,
    TRAIN_QUERIES,
    Collection,
    build_our_index,
    by_split,
    load_collection,
    run_ours,
)
from bench.relevance.steps import kept_steps

if TYPE_CHECKING:
    from search.ranking import RankingConfig


@dataclass
class Scores:
    """One system's scores: on the legal questions by split, on the policy needs by kind."""

    legal: dict[str, dict[str, float]] | None = None
    policy: dict[str, dict[str, float]] | None = None


@dataclass
class Run:
    systems: dict[str, Scores] = field(default_factory=dict)
    steps: list[tuple[str, Scores]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    policy_needs: dict[str, int] = field(default_factory=dict)  # kind -> needs


@dataclass
class Sets:
    """What one run measures: the legal questions (and their index), the policy needs (and
    theirs); either may be absent."""

    collection: Collection | None = None
    questions: dict[str, str] = field(default_factory=dict)  # the legal questions run
    legal_index: tuple[Path, dict[str, str]] | None = None  # index root, source_file -> docid
    policy: PolicySet | None = None
    policy_index: Path | None = None

    def measure(self, ranking: RankingConfig | None, run: Run | None = None) -> Scores:
        scores = Scores()
        if self.legal_index is not None:
            root, sources = self.legal_index
            rankings, info = run_ours(root, sources, self.questions, ranking)
            scores.legal = by_split(rankings, self.collection.judgments, self.collection.split)
            if run is not None:
                matched = ", ".join(f"{n} by {k} words" for k, n in sorted(info["matches"].items()))
                run.notes.append(
                    f"{len(self.questions)} legal questions through SearchIndex.search: "
                    f"{info['seconds']:.0f} s ({matched})"
                )
        if self.policy_index is not None:
            texts = {qid: query for qid, (_, query) in self.policy.queries.items()}
            rankings, info = run_ours_on_files(self.policy_index, texts, ranking)
            scores.policy = policy_measures(rankings, self.policy)
            if run is not None:
                matched = ", ".join(f"{n} by {k} words" for k, n in sorted(info["matches"].items()))
                run.notes.append(
                    f"{len(texts)} policy needs through SearchIndex.search: "
                    f"{info['seconds']:.0f} s ({matched})"
                )
        return scores


def evaluate(
    data: Path | None,
    corpus: Path | None = None,
    work: Path | None = None,
    split: str = "all",
    limit: int | None = None,
    steps: bool = False,
    laws: Path | None = None,
    train_map: Path | None = None,
    queries: str = TRAIN_QUERIES,
    qrels: str = TRAIN_QRELS,
    policy_set: Path = POLICY_SET,
) -> tuple[Run, Sets]:
    """Index the law articles (`data`, STARD) and the policy documents (`corpus`), run the
    questions and needs through ours and the baselines, score them. With `laws` (the corpus's
    law folder), each article carries its chapter's headings; with `train_map`, the question map
    is learned first (from the training questions' tune split). The indexes are built in `work`
    (kept, and updated incrementally by the next run) or in a temporary folder."""
    run = Run()
    sets = Sets()
    with contextlib.ExitStack() as stack:
        if work is None:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="relevance-")))
        if data is not None:
            collection = load_collection(data, queries, qrels)
            headings = chapter_headings(collection.articles, laws)
            placed = sum(1 for h in headings.values() if h)
            run.notes.append(
                f"chapter headings from {laws.name}/: found for {placed} of "
                f"{len(collection.articles)} articles"
                if headings
                else "law articles without chapter headings"
            )
            questions = {
                qid: q
                for qid, q in collection.questions.items()
                if split == "all" or collection.split(qid) == split
            }
            if limit:
                questions = dict(list(questions.items())[:limit])
            root, sources, seconds = build_our_index(collection.articles, work / "legal", headings)
            run.notes.append(
                f"indexing {len(collection.articles)} articles (update_index, "
                f"{'incremental' if seconds < 60 else 'whole'}): {seconds:.0f} s"
            )
            sets.collection, sets.questions, sets.legal_index = (
                collection,
                questions,
                (root, sources),
            )
            if train_map is not None:
                started = time.perf_counter()
                training = load_collection(data) if collection.all_held_out else collection
                note = learn_question_map(training, root, sources, train_map)
                run.notes.append(f"{note}: {time.perf_counter() - started:.0f} s")
                print(note, file=sys.stderr)
        if corpus is not None:
            sets.policy = load_policy_set(corpus, policy_set)
            sets.policy_index, seconds = build_policy_index(sets.policy, work / "policy")
            run.notes.append(
                f"indexing {len(sets.policy.documents)} policy documents (update_index, "
                f"{'incremental' if seconds < 60 else 'whole'}): {seconds:.0f} s"
            )
            run.policy_needs = {
                kind: sum(1 for k, _ in sets.policy.queries.values() if k == kind)
                for kind in POLICY_KINDS
            }
        if steps:
            for step in kept_steps():
                run.steps.append((step.name, sets.measure(step.ranking)))
                print(f"step: {step.name}: {_brief(run.steps[-1][1])}", file=sys.stderr)
        run.systems[OURS] = sets.measure(None, run)
        print(f"{OURS}: {_brief(run.systems[OURS])}", file=sys.stderr)
    if sets.collection is not None:
        articles = sets.collection.articles
        for name, tokens in ((BM25_WORDS, jieba_tokens()), (BM25_BIGRAMS, bigram_tokens)):
            rankings, info = run_bm25(articles, sets.questions, tokens, headings)
            scores = by_split(rankings, sets.collection.judgments, sets.collection.split)
            run.systems.setdefault(name, Scores()).legal = scores
            run.notes.append(f"legal, {name}: {info['seconds']:.0f} s")
        texts = {a["docid"]: baseline_text(a, headings.get(a["docid"], ())) for a in articles}
        rankings, info = run_fts5(texts, sets.questions)
        scores = by_split(rankings, sets.collection.judgments, sets.collection.split)
        run.systems.setdefault(FTS5, Scores()).legal = scores
        run.notes.append(f"legal, {FTS5}: {info['seconds']:.0f} s")
    if sets.policy is not None:
        for name, (rankings, info) in policy_baselines(sets.policy).items():
            run.systems.setdefault(name, Scores()).policy = policy_measures(rankings, sets.policy)
            run.notes.append(f"policy, {name}: {info['seconds']:.0f} s")
    return run, sets


def _brief(scores: Scores) -> str:
    parts = []
    if scores.legal:
        parts += [
            f"legal {split} " + " ".join(f"{scores.legal[split][m]:.3f}" for m in METRICS)
            for split in SPLITS
        ]
    if scores.policy:
        parts += [
            f"policy {group} " + " ".join(f"{scores.policy[group][m]:.3f}" for m in POLICY_METRICS)
            for group in ("all", *POLICY_KINDS)
        ]
    return "  ".join(parts)
