"""Searches while the sentence-vector pass runs: how much the pass that follows a build slows the
searches a server answers meanwhile, at the priority the background pass runs at and at the
searches' own.

`python -m bench.during_pass [CORPUS] [--records N] [--rounds R] [--seconds S]` writes N records
of the shared corpus (bench/common/corpus.py), indexes them without vectors, then, round after round,
times the same searches (keyword queries and STARD questions, one at a time, in this process)
three ways: with no pass running, with a pass at the searches' priority, and with a pass at
vectorstore.PASS_NICENESS. Each pass is a `python -m search.vectorpass` process, stopped at the
end of its phase (what it stored stays, so the next one goes on from there); its speed in each
phase is reported too. The phases of a round run back to back, so their ratios hold on a noisy
machine. Writes docs/during-pass.md (--report)."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import corpus as bench_corpus
from bench.common import queries as bench_queries
from bench.common.machine import machine, versions
from bench.common.stats import percentile
from search import vectors

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO.parent / "shared" / "corpus"
DEFAULT_EVAL = REPO.parent / "shared" / "eval" / "stard"
QUESTIONS = 100


@dataclass
class Phase:
    label: str
    niceness: int | None
    latencies: dict[str, list[float]] = field(default_factory=dict)
    encoded: int = 0  # vectors the pass stored while the searches ran
    seconds: float = 0.0


def phases() -> list[Phase]:
    from search.vectorstore import PASS_NICENESS

    return [
        Phase("no pass", None),
        Phase("pass at the searches' priority", 0),
        Phase(f"pass niced by {PASS_NICENESS}, as `index` starts it", PASS_NICENESS),
    ]


def stored_vectors(index: Path) -> int:
    from search.vectorstore import VectorStore

    return VectorStore(index).count()


def start_pass(index: Path, niceness: int, log) -> subprocess.Popen:
    command = [sys.executable, "-m", "search.vectorpass"]
    if niceness:
        command += ["--niceness", str(niceness)]
    return subprocess.Popen(
        [*command, str(index)], cwd=REPO, stdout=log, stderr=log, stdin=subprocess.DEVNULL
    )


def wait_encoding(index: Path, before: int, process: subprocess.Popen, timeout: float = 120):
    """Wait until the pass has stored its first batch (its model loaded, its threads busy)."""
    deadline = time.monotonic() + timeout
    while stored_vectors(index) <= before:
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the vector pass stopped or stored nothing; see its log")
        time.sleep(0.1)


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)


def time_searches(engine, requests: dict, seconds: float) -> dict[str, list[float]]:
    """Latencies (s) of each kind's searches, the kinds in turn, for about `seconds` in all."""
    found: dict[str, list[float]] = {kind: [] for kind in requests}
    share = seconds / len(requests)
    for kind, batch in requests.items():
        deadline = time.monotonic() + share
        while time.monotonic() < deadline:
            for request in batch:
                vectors.clear_cache()  # a question's vector is computed anew, as a new one's is
                started = time.perf_counter()
                engine.search(request)
                found[kind].append(time.perf_counter() - started)
                if time.monotonic() > deadline:
                    break
    return found


def run(args) -> dict:
    from search.indexer import update_index
    from search.query import SearchIndex
    from search.request import SearchRequest

    work = args.out
    seeds, index = work / "seeds", work / "index"
    if not seeds.exists():
        bench_corpus.build_corpus(args.corpus, seeds, args.records)
    shutil.rmtree(index, ignore_errors=True)  # and the vectors a former run stored
    update_index(seeds, index, vectors="skip")
    requests = {
        "keyword": [SearchRequest.from_params(p) for p in bench_queries.keyword_params()],
        "question": [
            SearchRequest.from_params({"q": [q]})
            for q in bench_queries.questions(args.eval, args.questions)
        ],
    }
    results = phases()
    load_start = os.getloadavg()
    log_path = work / "passes.log"
    with SearchIndex(index) as engine, open(log_path, "ab") as log:
        total = engine.vector_progress()["total"]
        # a first batch of vectors, so that questions are compared with some in every phase
        # (with none, ranking skips the question's vector), then one unmeasured round of searches
        first = start_pass(index, 0, log)
        wait_encoding(index, 0, first)
        stop(first)
        time_searches(engine, requests, 2.0)
        for _ in range(args.rounds):
            for phase in results:
                process = None
                if phase.niceness is not None:
                    before = stored_vectors(index)
                    process = start_pass(index, phase.niceness, log)
                    wait_encoding(index, before, process)
                    before = stored_vectors(index)
                started = time.monotonic()
                for kind, latencies in time_searches(engine, requests, args.seconds).items():
                    phase.latencies.setdefault(kind, []).extend(latencies)
                if process is not None:
                    phase.seconds += time.monotonic() - started
                    phase.encoded += stored_vectors(index) - before
                    stop(process)
                    if stored_vectors(index) >= total:
                        raise RuntimeError("the pass finished: give it more --records")
    return {
        "records": total,
        "rounds": args.rounds,
        "seconds": args.seconds,
        "phases": results,
        "machine": machine(),
        "load": (load_start, os.getloadavg()),
        "versions": versions(),
        "date": time.strftime("%Y-%m-%d"),
        "command": " ".join(["python -m bench.during_pass", *sys.argv[1:]]),
    }


def render(result: dict) -> str:
    baseline = result["phases"][0]
    kinds = list(baseline.latencies)
    lines = [
        "# Searches while the vector pass runs",
        "",
        "Written by `python -m bench.during_pass` (see its docstring); do not edit by hand.",
        "",
        f"Run on {result['date']}: `{result['command']}`. {result['records']:,} records of the "
        "shared corpus, indexed without vectors; then, "
        f"{result['rounds']} rounds of {result['seconds']:.0f} s a phase, the same searches "
        "(one at a time, in one process: the keyword queries and STARD questions of the speed "
        "benchmark; each question's vector computed anew, as a new question's is) with no "
        "pass running, with a pass (`python -m search.vectorpass`, one "
        "encoding thread per core) at the searches' priority, and with a pass niced as "
        "`policy-search index` and the server start it. The phases of a round run back to back; "
        "ratios are against the same round's searches with no pass. The pass's speed is that "
        "of its phase, while the searches ran without a pause (a client that never waits: one "
        "core busy with searching throughout).",
        "",
        "| phase | "
        + " | ".join(f"{k} p50 | {k} p95" for k in kinds)
        + " | pass speed (records/s) |",
        "|---|" + "---:|" * (2 * len(kinds) + 1),
    ]
    for phase in result["phases"]:
        cells = []
        for kind in kinds:
            for p in (50, 95):
                ours = percentile(phase.latencies[kind], p)
                base = percentile(baseline.latencies[kind], p)
                ratio = "" if phase is baseline else f" ({ours / base:.2f}x)"
                cells.append(f"{ours * 1000:.1f} ms{ratio}")
        speed = f"{phase.encoded / phase.seconds:.1f}" if phase.seconds else "–"
        lines.append(f"| {phase.label} | " + " | ".join(cells) + f" | {speed} |")
    m, v = result["machine"], result["versions"]
    lines += [
        "",
        "Searches timed per phase: "
        + ", ".join(
            f"{phase.label}: " + ", ".join(f"{len(x)} {k}" for k, x in phase.latencies.items())
            for phase in result["phases"]
        )
        + ".",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']:.1f} GiB, {m['system']}, "
        f"Python {m['python']}; load average (1, 5, 15 min) at start "
        + ", ".join(f"{x:.2f}" for x in result["load"][0])
        + "; at end "
        + ", ".join(f"{x:.2f}" for x in result["load"][1])
        + ". Versions: "
        + ", ".join(f"{k} {x}" for k, x in v.items())
        + ".",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.during_pass", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "corpus", type=Path, nargs="?", default=DEFAULT_CORPUS, help="the shared corpus"
    )
    parser.add_argument("--eval", type=Path, default=DEFAULT_EVAL, help="STARD folder")
    parser.add_argument("--records", type=int, default=6000, help="records indexed [6000]")
    parser.add_argument(
        "--questions", type=int, default=QUESTIONS, help=f"questions searched [{QUESTIONS}]"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the three phases [3]")
    parser.add_argument("--seconds", type=float, default=20.0, help="searching, per phase")
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "bench" / "out" / "during-pass",
        help="work folder [bench/out/during-pass]",
    )
    parser.add_argument(
        "--report",
        type=Path,
        default=REPO / "docs" / "during-pass.md",
        help="[docs/during-pass.md]",
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    result = run(args)
    text = render(result)
    args.report.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
