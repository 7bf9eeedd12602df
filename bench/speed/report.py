"""docs/benchmarks.md from the results: machine, corpus, build, queries, memory and HTTP tables."""

from __future__ import annotations

import json

from bench.common import queries as bench_queries
from bench.speed.settings import MEMORY_CLIENTS
from bench.speed.targets import FIXES, NOTES, _load_at, _ms, _targets


def _ratio(ours: float, theirs: float) -> str:
    if not theirs or theirs != theirs or ours != ours:
        return "–"
    return f"{ours / theirs:.2f}"


def _spread(summary: dict, unit: str = "s", digits: int = 2) -> str:
    if not summary.get("n"):
        return "–"
    median = f"{summary['median']:.{digits}f}"
    if summary["n"] == 1:
        return f"{median} {unit} (n=1)"
    label = "IQR" if summary["n"] >= 4 else "range"
    return (
        f"{median} {unit} ({label} {summary['low']:.{digits}f}–{summary['high']:.{digits}f}, "
        f"n={summary['n']})"
    )


def render_report(results: dict) -> str:
    sizes = results["sizes"]
    largest = sizes[-1]
    articles = results.get("articles", False)
    lines = [
        "# Benchmarks" + (": STARD's law articles" if articles else ""),
        "",
        "Written by `bench/run` (bench/speed/): "
        f"`{results['command']}`, {results['started']}, {results['seconds'] / 60:.1f} min. "
        "Do not edit by hand; rerun it.",
        "",
        "Every figure below comes from one run on one machine; the other engines were measured "
        "in the same run, on the same records and the same jieba tokens, with the same queries "
        "and the same top-k (10), so the ratios (ours / theirs: below 1 means we are faster, or "
        "for requests per second, slower) hold even where the machine's speed varies.",
        "",
        f"## Targets ({largest['label']} unless a size is named)",
        "",
        *_targets(results),
        "",
        "## Machine",
        "",
    ]
    m = results["machine"]
    load_start, load_end = results["load"]["start"], results["load"]["end"]
    lines += [
        f"- CPU: {m['cpu']}, {m['cores']} cores; memory {m['memory_gib']:.1f} GiB; {m['system']}",
        f"- load average (1, 5, 15 min) at start {', '.join(f'{x:.2f}' for x in load_start)}; "
        f"at end {', '.join(f'{x:.2f}' for x in load_end)} (the machine is shared: other "
        "processes may have run during the measurements)",
        "- versions: "
        + ", ".join(f"{name} {version}" for name, version in results["versions"].items()),
        "",
        "## Corpus",
        "",
    ]
    if articles:
        lines.append(
            "STARD's law articles (`articles.jsonl`), one Markdown file per article as "
            "bench/common/articles.py writes them (the law's name and the article as the title, the "
            "headings of its chapter, the text); a size takes the first articles in a fixed "
            "order of their ids' hashes, so every size mixes all the laws."
        )
    else:
        lines.append(
            "Built by bench/common/corpus.py from `shared/corpus`: laws as key-node compilations (one "
            "file per law, one key node per chapter, one entry per article), the ministry's "
            "decrees and notices as single policy documents, the provincial work reports as "
            "compilations (one node per section, one entry per paragraph). Smaller sizes take "
            "whole files in a fixed mixed order and cut the last compilation to fit."
        )
    lines += [
        "",
        "| size | files | records indexed | characters of Markdown | records per source |",
        "|---|---:|---:|---:|---|",
    ]
    for size in sizes:
        c = size["corpus"]
        sources = ", ".join(f"{k} {v:,}" for k, v in sorted(c["sources"].items()))
        lines.append(
            f"| {size['label']} | {c['files']:,} | {c['indexed']:,} | {c['characters']:,} | {sources} |"
        )
    lines += _build_section(sizes)
    lines += [
        "",
        "## Incremental add and cold start",
        "",
        "Incremental: one new law file (a compilation of a few dozen articles) written into the "
        "corpus folder of the largest index, `update_index` run, and a warm `SearchIndex` (as a "
        "server holds) searched until the file's unique word is found; then the file is removed "
        "and the index updated again. The file's words are searchable when the update commits; "
        "the sentence vectors of its records follow (in the product, from the background pass; "
        "here they are computed after the timing, untimed).",
        "",
        "| size | add one file: searchable after | of which update_index | remove it again |",
        "|---|---|---|---|",
    ]
    for size in sizes:
        if "incremental" in size:
            inc = size["incremental"]
            lines.append(
                f"| {size['label']} | {_spread(inc['add'])} | {_spread(inc['update_index'])} | "
                f"{_spread(inc['remove'])} |"
            )
    if not any("incremental" in size for size in sizes):
        lines.append("| – | not measured (it runs at the largest size) | | |")
    lines += [
        "",
        "Cold start: a new process imports the engine, opens the index and answers "
        f"`{bench_queries.KEYWORD_QUERIES[0]}` with facets and highlights; wall time from spawn "
        "to exit.",
        "",
        "| size | engine | first answer after process start | of which imports | peak memory |"
        " ours/theirs |",
        "|---|---|---|---|---:|---:|",
    ]
    for size in sizes:
        cold = size["cold"]
        for engine, c in cold.items():
            lines.append(
                f"| {size['label']} | {engine} | {_spread(c['wall'])} | "
                f"{c['import']['median']:.2f} s | {c['max_rss_mb']:.0f} MB | "
                + (
                    "–"
                    if engine == "ours"
                    else _ratio(cold["ours"]["wall"]["median"], c["wall"]["median"])
                )
                + " |"
            )
    lines += [
        "",
        "## Query latency in process",
        "",
        "Each request returns the top 10 with highlighted snippets, the total and six facets "
        "(issuer, year, type, region, sector, confidence band). Keyword: "
        f"{len(bench_queries.KEYWORD_QUERIES)} queries; filtered: the same with one filter each "
        "(issuer, date range, type, region and years, two issuers, sectors, minimum confidence); "
        "questions: STARD's natural-language questions (ranked any-word matching when too few "
        "records match all words). `repeat`: the measured passes after the first; `first`: the "
        "first time each query is seen (cold caches; ours computes each question's sentence "
        "vector then, and from the cache in the repeats). Milliseconds.",
        "",
        "| size | queries | engine | p50 | p95 | p99 | first p50 / p95 | ours/theirs p50 |"
        " ours/theirs p95 | same totals as ours |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size in sizes:
        for name, engines in size["queries"].items():
            ours = engines["ours"]["repeat"]
            agreement = size["agreement"][name]
            for engine, q in engines.items():
                r, f = q["repeat"], q["first"]
                same = (
                    "–"
                    if engine == "ours"
                    else f"{agreement.get(engine, 0)}/{agreement['queries']}"
                )
                lines.append(
                    f"| {size['label']} | {name} ({r['n']}) | {engine} | {_ms(r['p50'])} | "
                    f"{_ms(r['p95'])} | {_ms(r['p99'])} | {_ms(f['p50'])} / {_ms(f['p95'])} | "
                    + ("–" if engine == "ours" else _ratio(ours["p50"], r["p50"]))
                    + " | "
                    + ("–" if engine == "ours" else _ratio(ours["p95"], r["p95"]))
                    + f" | {same} |"
                )
    lines += _memory_section(sizes)
    if largest.get("http", {}).get("ours", {}).get("latency"):
        lines += _http_section(largest)
    if largest.get("profile"):
        found = largest["profile"]
        lines += [
            "",
            "## Profiles",
            "",
            "pyinstrument, by own time (the flat view; full outputs in bench/out/"
            f"{largest['label']}/profile-*.txt). One pass of every query set (at most 50 "
            f"queries each) at {largest['label']}:",
            "",
            "```",
            *found["queries"],
            "```",
            "",
            f"A build of the {found['build_size']} corpus (`update_index` in process, the "
            "vectors skipped, as `index` leaves them to the background pass):",
            "",
            "```",
            *found["build"],
            "```",
        ]
    lines += ["", FIXES.strip(), "", NOTES.strip(), ""]
    return "\n".join(lines)


def _build_section(sizes: list[dict]) -> list[str]:
    lines = [
        "",
        "## Index build from a cold process",
        "",
        "Each build is a new process, timed from spawn to exit, so interpreter start, imports, "
        "reading the Markdown, parsing, tokenising (rjieba and our dictionary) and writing are "
        "all in it, on both sides. Ours: `python -m search.cli index --seeds S --index I "
        "--rebuild` (whatever the command does before it returns). SQLite FTS5 and tantivy: a "
        "new `python -m bench.speed _child build-sqlite` (or `build-tantivy`) that parses the "
        "same files with our parser (`search.documents`), tokenises them with our tokenizer "
        "(`search.analysis.index_tokens`) and inserts them (`bench.baselines.rows_of` then "
        "`build_sqlite` or `build_tantivy`); its phases are timed inside it (what they leave "
        "out is interpreter start and exit). The engines are built in turn, round after round, "
        "from the same files in the page cache, after one unmeasured build of the repository's "
        "seeds/ by each (so the libraries and the encoder's weights are in the page cache too, "
        "and the encoder's cache folder is written, as on any machine after its first use). "
        "CPU: the process's user and system seconds, steadier than the wall time on a shared "
        "machine (both from wait4, as is the peak memory, ru_maxrss). Index size: everything "
        "in the index folder once the build is complete.",
        "",
        "| size | engine | searchable after (spawn to exit) | CPU | characters/s | phases |"
        " vectors done after | index size | peak memory | ours/theirs time |",
        "|---|---|---|---:|---:|---|---|---:|---:|---:|",
    ]
    for size in sizes:
        builds = size["build"]
        ours = builds["ours"]["seconds"]["median"]
        for engine, b in builds.items():
            name = {"ours": "ours", "sqlite": "SQLite FTS5", "tantivy": "tantivy"}[engine]
            phases = "–"
            if "phases" in b:
                phases = ", ".join(
                    f"{PHASES[k]} {v['median']:.2f} s" for k, v in b["phases"].items()
                )
            vectors = "–"
            if engine == "ours":
                vectors = "in the command"
                if "vectors" in b:
                    v = b["vectors"]
                    vectors = (_spread(v["seconds"]) if v["seconds"]["n"] else "not measured") + (
                        f" (± {v['resolution']:.1f} s)" if v["resolution"] else ""
                    )
                    if v["timed_out"]:
                        vectors += f"; {v['timed_out']} not done in time"
            lines.append(
                f"| {size['label']} | {name} | {_spread(b['seconds'])} | {b['cpu']:.1f} s | "
                f"{b['chars_per_s']:,.0f} | {phases} | {vectors} | {b['index_mb']:.1f} MB | "
                f"{b['max_rss_mb']:.0f} MB | "
                + ("–" if engine == "ours" else _ratio(ours, b["seconds"]["median"]))
                + " |"
            )
    last = sizes[-1]["build"]["ours"]
    if "searchable" in last:
        found = last["searchable"]
        at_return = last.get("vectors_at_return")
        lines += [
            "",
            f"As soon as the last build of {sizes[-1]['label']} returned, a new process "
            f"searched `{found['query']}`: {found['total']:,} records"
            + (
                f", while `stats` said {at_return['done']:,} of {at_return['total']:,} "
                "sentence vectors were done; `stats --json` was then polled until all were."
                if at_return
                else " (`stats` has no `vectors` key: the vectors are made inside the command)."
            ),
        ]
    return lines


PHASES = {
    "imports": "imports",
    "parse_tokenise": "parse + tokenise",
    "insert": "insert",
    "start_exit": "start + exit",
}


def _memory_section(sizes: list[dict]) -> list[str]:
    lines = [
        "",
        "## Server memory under load",
        "",
        f"Each server started fresh at each size, every keyword and filtered query sent once, "
        f"then {MEMORY_CLIENTS} clients for the throughput run. Memory is the Pss of "
        "`/proc/PID/smaps_rollup` summed over the server's process and all its descendants "
        "(its workers): a page shared by several processes (an mmap'd index, the code) is "
        "split among them, so it counts once in the sum. Read right after the load, and "
        "sampled every 0.5 s during it (peak). The Rss sum beside it counts shared pages once "
        "per process.",
        "",
        f"| size | server | processes | Pss after {MEMORY_CLIENTS} clients | anonymous / file |"
        f" peak Pss during | Rss summed | requests/s, {MEMORY_CLIENTS} clients |"
        " ours/theirs requests/s |",
        "|---|---|---:|---:|---|---:|---:|---:|---:|",
    ]
    for size in sizes:
        servers = size.get("http", {})
        runs = {name: _load_at(entry, MEMORY_CLIENTS) for name, entry in servers.items()}
        for name, run in runs.items():
            if run is None:
                continue
            after, peak = run["memory_after"], run["memory_peak"]
            ours = runs.get("ours")
            lines.append(
                f"| {size['label']} | {name} | {after['processes'] if after else '–'} | "
                + (f"{after['pss']:,.0f} MB" if after else "–")
                + " | "
                + (f"{after['pss_anon']:,.0f} / {after['pss_file']:,.0f} MB" if after else "–")
                + " | "
                + (f"{peak['pss']:,.0f} MB" if peak else "–")
                + " | "
                + (f"{after['rss']:,.0f} MB" if after else "–")
                + f" | {run['per_second']:.1f} | "
                + (
                    "–"
                    if name == "ours" or not ours
                    else _ratio(ours["per_second"], run["per_second"])
                )
                + " |"
            )
    return lines


def _server_text(config: dict) -> str:
    threads = f"{config['threads']} threads" if config.get("threads") else "its default threads"
    if config.get("workers"):
        return f"{config['workers']} worker processes of {threads} each, `--workers`"
    return f"one process of {threads}: this `serve` has no `--workers`"


def _http_section(size: dict) -> list[str]:
    http_results = size["http"]
    ours = http_results["ours"]
    health = ours.get("health") or {}
    lines = [
        "",
        f"## Over HTTP ({size['label']})",
        "",
        f"`policy-search serve` ({_server_text(ours['config'])}) and Datasette (`datasette "
        "serve -i`, one process; the FTS5 table searched with `_search` in raw mode and the "
        "same six `_facet`s; Datasette returns rows in table order, without ranking or "
        "snippets) on 127.0.0.1, each started fresh. The client is Python threads with "
        "keep-alive connections on the same 2-core machine, so it takes CPU from the server "
        "under load.",
    ]
    if "vectors" in health:
        lines += ["", f"Our `/api/health` when the server was ready: `{json.dumps(health)}`."]
    lines += [
        "",
        "| server | started in | queries | p50 ms | p95 ms | p99 ms | ours/theirs p50 |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for server, entry in http_results.items():
        for name, q in entry["latency"].items():
            theirs = q["p50"]
            lines.append(
                f"| {server} | {entry['started_seconds']:.1f} s | {name} ({q['n']}) | "
                f"{_ms(q['p50'])} | {_ms(q['p95'])} | {_ms(q['p99'])} | "
                + ("–" if server == "ours" else _ratio(ours["latency"][name]["p50"], theirs))
                + " |"
            )
    seconds = ours["load"][0]["seconds"] if ours["load"] else 0
    lines += [
        "",
        f"Throughput: keyword and filtered queries in turn, for about {seconds:.0f} s per level; "
        "Pss summed over the server's processes right after each level.",
        "",
        "| server | clients | requests/s | p50 ms | p95 ms | p99 ms | errors | Pss after |"
        " ours/theirs requests/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for server, entry in http_results.items():
        for i, run in enumerate(entry["load"]):
            theirs = run["per_second"]
            after = run.get("memory_after")
            lines.append(
                f"| {server} | {run['clients']} | {run['per_second']:.1f} | "
                f"{_ms(run['latency']['p50'])} | {_ms(run['latency']['p95'])} | "
                f"{_ms(run['latency']['p99'])} | {run['errors']} | "
                + (f"{after['pss']:,.0f} MB" if after else "–")
                + " | "
                + ("–" if server == "ours" else _ratio(ours["load"][i]["per_second"], theirs))
                + " |"
            )
    return lines
