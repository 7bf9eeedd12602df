"""One size of the speed benchmark: its corpus written, each engine built from a cold
process, queried in process, over HTTP and after an incremental add."""

from __future__ import annotations

import contextlib
import shutil
import statistics
import time
from dataclasses import replace
from pathlib import Path

from bench.common import articles as bench_articles
from bench.common import corpus as bench_corpus
from bench.common import queries as bench_queries
from bench.common.stats import median_spread, summary_ms
from bench.speed.children import build_ours_cold, run_child
from bench.speed.profiles import profile
from bench.speed.servers import http
from bench.speed.settings import Options, size_label


def _query_sets(options: Options, has_questions: bool) -> dict[str, list[dict]]:
    sets = {
        "keyword": bench_queries.keyword_params(),
        "filtered": bench_queries.filtered_params(),
        "typos": bench_queries.typo_params(),
    }
    if has_questions:
        limit = options.questions
        sets["questions"] = [{"q": [q]} for q in bench_queries.questions(options.eval, limit)]
    return sets


def _timed_passes(search, requests: list, repeats: int) -> tuple[list[float], list[float], list]:
    """(first-pass latencies, latencies of `repeats` further passes, first-pass results)."""
    first, repeat, results = [], [], []
    for request in requests:
        started = time.perf_counter()
        results.append(search(request))
        first.append(time.perf_counter() - started)
    for _ in range(repeats):
        for request in requests:
            started = time.perf_counter()
            search(request)
            repeat.append(time.perf_counter() - started)
    return first, repeat, results


def write_size_corpus(options: Options, records: int | None, folder: Path):
    """The Markdown of one size: cut from the shared corpus, or STARD's law articles."""
    if options.articles:
        laws = options.corpus / "laws"
        return bench_articles.articles_corpus(
            options.eval, laws if laws.is_dir() else None, folder, records
        )
    return bench_corpus.build_corpus(options.corpus, folder, records)


def bench_size(records: int | None, options: Options, engines: list[str], log) -> dict:
    from search.query import SearchIndex
    from search.ranking import DEFAULT as RANKING
    from search.request import SearchRequest
    from search.vectors import clear_cache

    label = "all" if options.articles and records is None else size_label(records)
    work = options.out / label
    work.mkdir(parents=True, exist_ok=True)
    seeds = work / "corpus"
    log(f"[{label}] writing the corpus")
    info = write_size_corpus(options, records, seeds)
    result: dict = {
        "label": label,
        "records": records,
        "corpus": info.figures(),
    }
    repeats = 1 if records is None else options.build_repeats
    first_query = bench_queries.KEYWORD_QUERIES[0]

    # -- builds from a cold process, side by side: each round builds ours, then each baseline
    index = work / "index"
    sqlite_path = work / "bench.sqlite"
    tantivy_path = work / "tantivy"
    scratch = work / "builds"  # earlier rounds of ours: a background pass may still write there
    shutil.rmtree(index, ignore_errors=True)
    shutil.rmtree(scratch, ignore_errors=True)
    runs: dict[str, list[dict]] = {engine: [] for engine in engines}
    for round_ in range(repeats):
        target = index if round_ == repeats - 1 else scratch / f"index-{round_}"
        runs["ours"].append(build_ours_cold(seeds, target, options.vectors_timeout, first_query))
        built = runs["ours"][-1]
        vectors = built.get("vectors")
        log(
            f"[{label}] ours: searchable after {built['wall']:.1f} s"
            + (f", vectors done after {vectors['seconds']:.1f} s" if vectors else "")
        )
        if vectors and vectors["seconds"] is None:
            log(f"[{label}] the vectors were not done in {options.vectors_timeout:.0f} s")
        for engine, path in (("sqlite", sqlite_path), ("tantivy", tantivy_path)):
            if engine in engines:
                runs[engine].append(run_child(f"build-{engine}", str(seeds), str(path)))
                log(f"[{label}] {engine}: built in {runs[engine][-1]['wall']:.1f} s")
    result["build"] = {
        engine: _build_summary(found, info.characters) for engine, found in runs.items()
    }
    result["corpus"]["indexed"] = runs["ours"][-1]["records"]

    # -- cold start: process start, imports, open, first answer
    cold_runs = 2 if options.quick else 5
    where = {"ours": index, "sqlite": sqlite_path, "tantivy": tantivy_path}
    result["cold"] = {}
    for engine in engines:
        found = [
            run_child(f"cold-{engine}", str(where[engine]), first_query) for _ in range(cold_runs)
        ]
        result["cold"][engine] = {
            "wall": median_spread([r["wall"] for r in found]),
            "import": median_spread([r["phases"]["import"] for r in found]),
            "answer": median_spread([r["phases"]["answer"] for r in found]),
            "max_rss_mb": statistics.median(r["max_rss_mb"] for r in found),
        }
    log(f"[{label}] cold start {result['cold']['ours']['wall']['median']:.2f} s")

    # -- in-process query latency
    has_questions = (options.eval / "queries.train.tsv").is_file()
    sets = _query_sets(options, has_questions)
    # The baselines match keywords record by record; ours runs without its document-level
    # additions (ranking.same_file_keywords, keyword_documents) so that totals compare alike.
    record_level = replace(RANKING, same_file_keywords=False, keyword_documents=0)
    searchers = {"ours": SearchIndex(index, ranking=record_level)}
    if "sqlite" in engines:
        from bench.baselines import SqliteSearch

        searchers["sqlite"] = SqliteSearch(sqlite_path)
    if "tantivy" in engines:
        from bench.baselines import TantivySearch

        searchers["tantivy"] = TantivySearch(tantivy_path)
    result["queries"], result["agreement"] = {}, {}
    for name, params in sets.items():
        requests = [SearchRequest.from_params(p) for p in params]
        totals = {}
        result["queries"][name] = {}
        for engine, searcher in searchers.items():
            # the questions are many and slow: one measured pass after the first
            passes = 1 if name == "questions" else options.repeats
            if engine == "ours":  # the first pass computes each question's vector, at every size
                clear_cache()
            first, repeat, answers = _timed_passes(searcher.search, requests, passes)
            result["queries"][name][engine] = {
                "first": summary_ms(first),
                "repeat": summary_ms(repeat),
            }
            totals[engine] = [a["total"] for a in answers]
        result["agreement"][name] = {
            engine: sum(a == b for a, b in zip(totals["ours"], found, strict=True))
            for engine, found in totals.items()
            if engine != "ours"
        } | {"queries": len(requests)}
        log(
            f"[{label}] {name}: ours p95 "
            f"{result['queries'][name]['ours']['repeat']['p95']:.1f} ms over {len(requests)}"
        )

    # -- incremental add of one new file
    largest = records == options.sizes[-1]
    if largest or options.quick:
        result["incremental"] = incremental(options, seeds, index, searchers["ours"], log)

    # -- HTTP: the server's memory after 4 clients at every size; latency and 1, 4 and 16
    # clients at the largest
    result["http"] = http(
        options, seeds, index, sqlite_path, sets, searchers, engines, log, largest
    )

    if options.profile and largest:
        result["profile"] = profile(options, searchers["ours"], sets, work, log)
    for searcher in searchers.values():
        with contextlib.suppress(Exception):
            searcher.db.close()  # type: ignore[attr-defined]
    shutil.rmtree(scratch, ignore_errors=True)
    return result


def _build_summary(runs: list[dict], characters: int) -> dict:
    """Median and spread of the builds' wall times (process start to exit), their throughput
    over the Markdown's characters, peak memory and index size; the phases the baselines time
    inside their process; for ours, when the vectors are finished after the command returns,
    when they were done (from process start)."""
    seconds = [r["wall"] for r in runs]
    summary = {
        "seconds": median_spread(seconds),
        "chars_per_s": characters / statistics.median(seconds),
        "cpu": statistics.median(r["cpu"] for r in runs),
        "max_rss_mb": statistics.median(r["max_rss_mb"] for r in runs),
        "index_mb": runs[-1]["index_bytes"] / 1e6,
    }
    if "phases" in runs[-1]:
        summary["phases"] = {
            name: median_spread([r["phases"][name] for r in runs]) for name in runs[-1]["phases"]
        }
        # what the phases leave out: the interpreter's start and the process's exit
        summary["phases"]["start_exit"] = median_spread(
            [r["wall"] - sum(r["phases"].values()) for r in runs]
        )
    if "searchable" in runs[-1]:
        summary["searchable"] = runs[-1]["searchable"]
        summary["vectors_at_return"] = runs[-1]["vectors_at_return"]
    vectors = [r["vectors"] for r in runs if r.get("vectors")]
    if vectors:
        finished = [v["seconds"] for v in vectors if v["seconds"] is not None]
        summary["vectors"] = {
            "seconds": median_spread(finished),
            "resolution": max((v["resolution"] or 0.0) for v in vectors),
            "timed_out": len(vectors) - len(finished),
            "total": vectors[-1]["total"],
        }
    return summary


def incremental(options: Options, seeds: Path, index: Path, engine, log) -> dict:
    """Add one new file to the index and time until a search finds it; then remove it. The file
    is of the corpus's kind: a law compilation, or with --articles one more article. Its words
    are searchable when the update commits, as the watcher's update (or `policy-search index`)
    leaves them; the sentence vectors of its records, which the product computes afterwards in
    the background, are computed here in the foreground, untimed, so what follows measures a
    complete index."""
    from search import vectorpass
    from search.indexer import update_index
    from search.request import SearchRequest

    adds, updates, removes = [], [], []
    for n in range(1 if options.quick else 3):
        marker = f"benchmarkmarker{n}x{int(time.time())}"
        if options.articles:
            relative, text = bench_articles.new_article(options.eval, marker)
        else:
            relative, text = bench_corpus.new_file(options.corpus, marker)
        target = seeds / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        request = SearchRequest.from_params({"q": [marker]})
        engine.search(request)  # a warm engine, as a running server has
        started = time.perf_counter()
        target.write_text(text, encoding="utf-8")
        update = update_index(seeds, index, vectors="skip")
        updated = time.perf_counter()
        found = engine.search(request)["total"]
        adds.append(time.perf_counter() - started)
        updates.append(updated - started)
        if not found:
            raise RuntimeError(f"the added file {relative} is not found by {marker}")
        vectorpass.run(index)
        started = time.perf_counter()
        target.unlink()
        update_index(seeds, index, vectors="skip")
        engine.search(request)
        removes.append(time.perf_counter() - started)
        log(f"added one file ({update.records} records) searchable in {adds[-1]:.2f} s")
    return {
        "add": median_spread(adds),
        "update_index": median_spread(updates),
        "remove": median_spread(removes),
    }


# ---------------------------------------------------------------------------------------------
# The report


# ---------------------------------------------------------------------------------------------
# Targets (issue #12), measured and reported, never asserted


# ---------------------------------------------------------------------------------------------
# Entry point
