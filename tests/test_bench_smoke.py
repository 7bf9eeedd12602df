"""The benchmarks (bench/) at their smallest: the corpus they write reads back through our ingest
with the facets it was meant to carry, the perturbed copies beyond it are deterministic, the
memory of a process tree is its Pss summed, the scaling report's table and plot have their
structure, and a whole speed run on a tiny corpus cut from the shared one produces every table of
the report. Timings are never asserted."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import REPO, SHARED

from bench import during_pass, scaling, speed
from bench.api_snapshot import differences
from bench.common import articles, load
from bench.common import corpus as bench_corpus
from bench.speed import children as speed_children
from search.documents import parse_text

CORPUS = SHARED / "corpus"
STARD = SHARED / "eval" / "stard"
LAWS = ("碳排放权交易管理暂行条例", "节约能源法", "可再生能源法", "大气污染防治法")


# Every benchmark's entry point; bench/run is bench.speed's.
ENTRY_POINTS = (
    "api_snapshot",
    "corpus",
    "during_pass",
    "policy_pool",
    "related_words",
    "relevance",
    "reliability",
    "scaling",
    "soak",
    "speed",
)


def bench_command(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLICY_SEARCH_")}
    return subprocess.run(
        [*args], cwd=REPO, env=env | {"PYTHONPATH": str(REPO)}, capture_output=True, text=True
    )


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_bench_entry_point_answers_help_with_its_options(name):
    ran = bench_command(sys.executable, "-m", f"bench.{name}", "--help")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith(f"usage: python -m bench.{name} ")
    usage, description, *rest = ran.stdout.split("\n\n")
    assert len(description.split()) >= 8  # a sentence at least, not just the usage
    assert "-h, --help" in ran.stdout


def test_bench_run_answers_help_as_bench_speed_does():
    ran = bench_command(str(REPO / "bench" / "run"), "--help")
    assert ran.returncode == 0 and ran.stdout.startswith("usage: bench/run ")
    speed_help = bench_command(sys.executable, "-m", "bench.speed", "--help").stdout
    options = [line.split()[0] for line in ran.stdout.splitlines() if line.startswith("  -")]
    assert options == [
        line.split()[0] for line in speed_help.splitlines() if line.startswith("  -")
    ]


def test_bench_every_module_with_a_main_is_an_entry_point():
    found = {
        path.parent.name if path.name == "__main__.py" else path.stem
        for path in [*(REPO / "bench").glob("*.py"), *(REPO / "bench").glob("*/__main__.py")]
        if "def main(" in path.read_text(encoding="utf-8") or path.name == "__main__.py"
    }
    assert found == set(ENTRY_POINTS)


@pytest.mark.parametrize("name", ["baselines", "soak_feed"])
def test_bench_library_says_it_is_not_an_entry_point(name):
    ran = bench_command(sys.executable, "-m", f"bench.{name}", "--help")
    assert ran.returncode == 1
    assert f"bench.{name} is a library of the benchmarks" in ran.stderr


LAW = "中华人民共和国节约能源法"


def article(number: str, content: str, chapter: str, title: str = LAW) -> bench_corpus.Entry:
    return bench_corpus.Entry(
        title=f"{title} {number}",
        date="2021-12-24",
        issuer="全国人民代表大会常务委员会",
        content=content,
        section=chapter,
    )


def test_api_snapshot_names_each_difference_and_key_order():
    before = {"search": {"total": 2, "hits": [{"id": "a"}, {"id": "b"}]}, "took": 1}
    after = {"search": {"hits": [{"id": "a"}, {"id": "c"}], "total": 2}, "took": 1}
    assert differences(before, after) == [
        "/search: keys ['total', 'hits'] != ['hits', 'total']",
        "/search/hits[1]/id: 'b' != 'c'",
    ]
    assert differences(before, before) == []


def test_corpus_law_compilation_reads_back_as_entries_with_facets():
    general, management = "第一章 总则", "第二章 节能管理"
    law = bench_corpus.Unit(
        path="laws/经济法/节约能源法(2018-10-26).md",
        kind="compilation",
        title=LAW,
        region="全国",
        sector="经济法",
        node_type="法律",
        confidence=0.95,
        date="2018-10-26",
        issuer="全国人民代表大会常务委员会",
        nodes=[
            bench_corpus.Node(
                general,
                [
                    article("第一条", "为了推动全社会节约能源。", general),
                    article("第二条", "本法所称能源。", general),
                ],
            ),
            bench_corpus.Node(management, [article("第十条", "国务院管理节能工作。", management)]),
        ],
    )
    records, report = parse_text(bench_corpus.render(law), law.path)
    assert report.warnings == []
    assert [(r.title, r.content, r.node_index, r.entry_index) for r in records] == [
        ("中华人民共和国节约能源法 第一条", "为了推动全社会节约能源。", 1, 1),
        ("中华人民共和国节约能源法 第二条", "本法所称能源。", 1, 2),
        ("中华人民共和国节约能源法 第十条", "国务院管理节能工作。", 2, 1),
    ]
    first = records[0]
    assert (first.issuer, first.date, first.region, first.sector) == (
        "全国人民代表大会常务委员会",
        "2021-12-24",
        "全国",
        "经济法",
    )
    assert (first.node_type, first.confidence, first.extra) == ("法律", 0.95, {"章节": general})


def test_corpus_notice_reads_back_as_one_document():
    notice = bench_corpus.Unit(
        path="mee/2024/abc.md",
        kind="document",
        title="关于发布排污许可证申请与核发技术规范的公告",
        region="全国",
        sector="生态环境",
        node_type="公告通知",
        confidence=None,
        date="2024-03-01",
        issuer="生态环境部",
        doc_number="公告2024年第5号",
        url="https://www.mee.gov.cn/example.html",
        body="为贯彻《中华人民共和国环境保护法》，现发布排污许可技术规范。",
    )
    records, report = parse_text(bench_corpus.render(notice), notice.path)
    assert report.warnings == []
    [record] = records
    assert (record.kind, record.title, record.issuer, record.doc_number, record.date) == (
        "document",
        "关于发布排污许可证申请与核发技术规范的公告",
        "生态环境部",
        "公告2024年第5号",
        "2024-03-01",
    )
    assert record.content == "为贯彻《中华人民共和国环境保护法》，现发布排污许可技术规范。"


def test_corpus_select_cuts_the_last_compilation_to_the_size():
    def law(name: str, articles: int) -> bench_corpus.Unit:
        entries = [article(f"第{i}条", "内容。", "", title=name) for i in range(articles)]
        return bench_corpus.Unit(
            path=f"laws/{name}.md",
            kind="compilation",
            title=name,
            region="全国",
            sector="经济法",
            node_type="法律",
            confidence=0.95,
            date=None,
            nodes=[bench_corpus.Node("正文", entries)],
        )

    chosen = bench_corpus.select([law("甲", 3), law("乙", 5), law("丙", 4)], 6)
    assert [(u.title, u.records) for u in chosen] == [("甲", 3), ("乙", 3)]


def test_speed_percentile_and_spread():
    assert speed.percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0
    assert speed.percentile([1.0, 2.0], 95) == pytest.approx(1.95)
    assert speed.median_spread([3.0, 1.0, 2.0]) == {"n": 3, "median": 2.0, "low": 1.0, "high": 3.0}
    assert speed.parse_sizes("max,1000,10k") == [1000, 10_000, None]


@pytest.fixture
def tiny_corpus(tmp_path) -> Path:
    """A few energy laws, notices and reports of the shared corpus, in its own layout."""
    if not (CORPUS / "laws").is_dir():
        pytest.skip("the shared corpus (../shared/corpus) is not here")
    folder = tmp_path / "corpus"
    for name in LAWS:
        for path in (CORPUS / "laws").glob(f"*/{name}*.md"):
            target = folder / path.relative_to(CORPUS)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
    for name, lines in (("mee_policy_docs.jsonl", 10), ("gov_reports_2026.jsonl", 1)):
        with open(CORPUS / name, encoding="utf-8") as handle:
            kept = [next(handle) for _ in range(lines)]
        (folder / name).write_text("".join(kept), encoding="utf-8")
    return folder


def test_corpus_entry_point_writes_the_size_asked_and_keeps_a_folder_with_files(
    tiny_corpus, tmp_path, capsys
):
    from bench.corpus import main

    out = tmp_path / "written"
    main([str(out), "--corpus", str(tiny_corpus), "--records", "120"])
    info = json.loads(capsys.readouterr().out)
    assert info["records"] == 120 and info["folder"] == str(out)
    assert info["files"] == len(list(out.rglob("*.md")))
    with pytest.raises(SystemExit):
        main([str(out), "--corpus", str(tiny_corpus), "--records", "50"])  # not emptied unasked
    assert len(list(out.rglob("*.md"))) == info["files"]


@pytest.mark.timeout(180)
def test_speed_run_writes_every_table(tiny_corpus, tmp_path):
    report = tmp_path / "benchmarks.md"
    options = speed.Options(
        corpus=tiny_corpus,
        eval=STARD,
        sizes=[200],
        out=tmp_path / "out",
        report=report,
        quick=True,
        questions=10,
        repeats=1,
        build_repeats=1,
        http_seconds=0.5,
        profile=False,
        vectors_timeout=60,
        warm_up=False,
    )
    results = speed.run(options, "bench/run (smoke)", log=lambda message: None)

    [size] = results["sizes"]
    assert size["label"] == "200"
    assert size["corpus"]["indexed"] == 200
    engines = ["ours", "sqlite"] + (["tantivy"] if speed.available("tantivy") else [])
    assert list(size["cold"]) == engines
    assert list(size["build"]) == engines
    ours = size["build"]["ours"]
    # the build is the CLI from a cold process, searched as soon as it returned
    assert ours["searchable"]["total"] > 0
    assert ours["seconds"]["n"] == 1 and ours["index_mb"] > 0
    for engine in engines[1:]:
        assert list(size["build"][engine]["phases"]) == [
            "imports",
            "parse_tokenise",
            "insert",
            "start_exit",
        ]
    sets = ["keyword", "filtered", "typos"] + (["questions"] if STARD.is_dir() else [])
    assert sorted(size["queries"]) == sorted(sets)
    for name in sets:
        assert list(size["queries"][name]) == engines
        # the baselines answer the same queries with the same totals as ours (not questions:
        # ours also matches the records nearest a question in meaning)
        agreement = size["agreement"][name]
        if name != "questions":
            assert all(agreement[e] == agreement["queries"] for e in engines[1:])
    servers = ["ours"] + (["datasette"] if speed.available("datasette") else [])
    assert list(size["http"]) == servers
    for server in servers:
        runs = size["http"][server]["load"]
        assert [run["clients"] for run in runs] == [1, 4, 16]
        assert all(run["errors"] == 0 for run in runs)
        after = runs[1]["memory_after"]
        assert after["processes"] >= 1 and 0 < after["pss"] <= after["rss"]
        assert runs[1]["memory_peak"]["pss"] > 0
    assert size["incremental"]["add"]["n"] == 1

    saved = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    assert saved["sizes"][0]["corpus"] == size["corpus"]
    text = report.read_text(encoding="utf-8")
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings == [
        "## Targets (200 unless a size is named)",
        "## Machine",
        "## Corpus",
        "## Index build from a cold process",
        "## Incremental add and cold start",
        "## Query latency in process",
        "## Server memory under load",
        "## Over HTTP (200)",
        "## Fixes made from the profiles",
        "## Notes on fairness",
    ]
    targets = [row.what for row in speed.target_rows(results)]
    assert targets[0].startswith("server memory after 4 clients, 200 (200 records)")
    assert "keyword search as soon as `policy-search index` returns" in targets
    assert "cold start to first answer" in targets


@pytest.mark.timeout(180)
def test_during_pass_times_searches_in_each_phase(tiny_corpus, tmp_path):
    report = tmp_path / "during-pass.md"
    argv = [str(tiny_corpus), "--eval", str(STARD), "--records", "600", "--questions", "3"]
    argv += ["--rounds", "1", "--seconds", "1", "--out", str(tmp_path), "--report", str(report)]
    during_pass.main(argv)
    rows = [line for line in report.read_text(encoding="utf-8").splitlines() if line[:2] == "| "]
    assert rows[0].startswith("| phase | keyword p50 | keyword p95 | question p50 |")
    labels = [row.split(" | ")[0][2:] for row in rows[1:]]
    assert labels == [
        "no pass",
        "pass at the searches' priority",
        "pass niced by 10, as `index` starts it",
    ]
    assert rows[1].endswith(" | – |") and "x)" not in rows[1]
    for row in rows[2:]:
        assert row.count("x)") == 4  # each percentile against the same round's with no pass
        assert float(row.rstrip(" |").rsplit(" | ", 1)[1]) >= 0  # a batch takes seconds
    # each pass was encoding while the searches were timed, and was stopped before it finished
    assert 64 <= during_pass.stored_vectors(tmp_path / "index") < 600


def test_speed_waits_for_the_vectors_while_stats_reports_them(monkeypatch, tmp_path):
    answers = iter(
        [{"vectors": {"done": 40, "total": 100}}, {"vectors": {"done": 100, "total": 100}}]
    )
    monkeypatch.setattr(speed_children, "cli_json", lambda *args: next(answers))
    monkeypatch.setattr(speed_children, "VECTORS_POLL", 0.0)
    started = time.perf_counter()
    found = speed.wait_for_vectors(tmp_path, started, 60.0, (10, 100), time.perf_counter())
    assert (found["done"], found["total"], found["polls"]) == (100, 100, 2)
    assert 0 < found["seconds"] < 60 and found["resolution"] is not None
    # no `vectors` key: made inside `index`, nothing to wait for
    assert speed.vectors_state({"documents": 3}) is None
    # not done in time
    monkeypatch.setattr(
        speed_children, "cli_json", lambda *args: {"vectors": {"done": 1, "total": 2}}
    )
    late = speed.wait_for_vectors(tmp_path, started - 100, 50.0, (1, 2), time.perf_counter())
    assert (late["seconds"], late["done"], late["polls"]) == (None, 1, 0)


def test_speed_reads_the_options_of_serve_from_its_help():
    one_process = """Usage: policy-search serve [OPTIONS]

  Serve with waitress.

Options:
  --port INTEGER     Port [env POLICY_SEARCH_PORT; 8000].
  --threads INTEGER  Worker threads (each holds its own index searcher: memory
                     grows with them).  [default: 4]
  --help             Show this message and exit.
"""
    workers = """Usage: policy-search serve [OPTIONS]

  Several worker processes share the index; each answers `--threads` requests at once.

Options:
  --workers INTEGER RANGE  Server processes sharing the index [default: one
                           per core].  [env var: POLICY_SEARCH_WORKERS; x>=1]
  --threads INTEGER RANGE  Threads a process.  [env var:
                           POLICY_SEARCH_THREADS; default: 6; x>=1]
  --help                   Show this message and exit.
"""
    assert speed.parse_serve_help(one_process) == {"workers": False, "threads_default": 4}
    assert speed.parse_serve_help(workers) == {"workers": True, "threads_default": 6}
    assert speed.parse_serve_help("no options") == {"workers": False, "threads_default": None}


def test_speed_passes_workers_only_when_serve_has_them(tmp_path):
    offered = speed.serve_help()
    options = speed.Options(
        corpus=tmp_path, eval=tmp_path, sizes=[None], out=tmp_path, report=None, quick=True,
        questions=None, repeats=1, build_repeats=1, http_seconds=1.0, profile=False, workers=3,
    )  # fmt: skip
    command, ready, path, config = speed.our_server(8123, tmp_path, tmp_path, options)
    assert ("--workers" in command) == offered["workers"]
    assert config == {
        "workers": 3 if offered["workers"] else None,
        "threads": offered["threads_default"],
    }
    assert ready == "/api/health"
    assert path({"q": ["碳中和"], "issuer": ["国务院"]}) == (
        "/api/search?q=%E7%A2%B3%E4%B8%AD%E5%92%8C&issuer=%E5%9B%BD%E5%8A%A1%E9%99%A2"
    )


# ---------------------------------------------------------------------------------------------
# The memory of a process tree


TREE = textwrap.dedent(
    """
    import os, sys, time
    shared = b"s" * 40_000_000  # written before the fork: its pages are shared with both children
    for _ in range(2):
        if os.fork() == 0:
            own = b"o" * 20_000_000  # each child's own
            time.sleep(60)
            os._exit(0)
    print("forked", flush=True)
    time.sleep(60)
    """
)


def test_load_tree_memory_sums_pss_over_the_processes_of_a_tree():
    parent = subprocess.Popen([sys.executable, "-c", TREE], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout.readline().strip() == "forked"
        deadline = time.monotonic() + 20
        while True:
            memory = load.tree_memory(parent.pid)
            if memory.processes == 3 and memory.pss > 85 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        pids = load.process_tree(parent.pid)
        assert pids[0] == parent.pid and len(pids) == 3
        assert memory.processes == 3
        # 40 MB shared by three processes, 20 MB of each child's own, three interpreters
        assert 80 < memory.pss < 160
        # Rss counts the shared 40 MB in each process, Pss once
        assert memory.rss - memory.pss > 50
        with load.MemorySampler(parent.pid, interval=0.05) as sampler:
            time.sleep(0.2)
        assert sampler.samples >= 2 and sampler.peak.pss >= 80
    finally:
        children = load.process_tree(parent.pid)[1:]
        parent.kill()
        parent.wait()
        parent.stdout.close()
        for pid in children:
            os.kill(pid, signal.SIGKILL)
    assert load.tree_memory(parent.pid) is None


# ---------------------------------------------------------------------------------------------
# Sizes beyond the corpus: perturbed copies


SENTENCES = (
    "国家实行节约能源考核评价制度。",
    "县级以上人民政府应当加强对节能工作的领导；",
    "重点用能单位应当设立能源管理岗位。",
    "排污单位应当按照排污许可证的规定排放污染物！",
    "生态环境主管部门负责监督管理温室气体排放。",
)


def small_laws() -> list[bench_corpus.Unit]:
    units = []
    for law in range(3):
        name = f"第{law}号法"
        entries = [
            article(
                f"第{n}条",
                "".join(SENTENCES[(law + n + k) % len(SENTENCES)] for k in range(3)),
                "",
                title=name,
            )
            for n in range(40)
        ]
        units.append(
            bench_corpus.Unit(
                path=f"laws/经济法/{name}(2018-10-26).md",
                kind="compilation",
                title=name,
                region="全国",
                sector="经济法",
                node_type="法律",
                confidence=0.95,
                date="2018-10-26",
                nodes=[bench_corpus.Node("第一章 总则", entries)],
            )
        )
    return units


def test_corpus_synthetic_copies_are_deterministic_perturbed_and_renamed():
    units = small_laws()
    first = list(bench_corpus.synthetic_units(units, 300))
    again = list(bench_corpus.synthetic_units(small_laws(), 300))
    assert [bench_corpus.render(u) for u in first] == [bench_corpus.render(u) for u in again]
    # the units, then copies 1 and 2 (3 x 120 records cover 300) under new file names
    assert [u.path for u in first[3:5]] == [
        "synthetic-1/laws/经济法/第0号法(2018-10-26)-1.md",
        "synthetic-1/laws/经济法/第1号法(2018-10-26)-1.md",
    ]
    assert len(first) == 9 and first[8].path.startswith("synthetic-2/")
    assert list(bench_corpus.synthetic_units(units, None)) == units
    assert bench_corpus.synthetic_units(units, 120) is not None

    def texts(chosen):
        return [e.content for u in chosen for n in u.nodes for e in n.entries]

    original, copy1, copy2 = texts(first[:3]), texts(first[3:6]), texts(first[6:])
    assert copy1 != copy2
    changed = sum(a != b for a, b in zip(original, copy1, strict=True))
    assert 0.4 * len(original) < changed < len(original)  # most records touched, not all
    # swapped sentences come from the corpus; swapped characters keep the length
    sentences = [s for text in copy1 for s in bench_corpus.SENTENCE_END.split(text) if s]
    foreign = [s for s in sentences if s not in SENTENCES]
    assert 0.15 * len(sentences) < len(foreign) < 0.45 * len(sentences)
    assert all(len(s) in {len(x) for x in SENTENCES} for s in foreign)
    # the records read back, facets intact
    records, report = parse_text(bench_corpus.render(first[3]), first[3].path)
    assert report.warnings == [] and len(records) == 40
    assert (records[0].issuer, records[0].sector) == ("全国人民代表大会常务委员会", "经济法")


def test_corpus_select_and_write_cut_the_copies_to_the_size(tmp_path):
    chosen = bench_corpus.select(list(bench_corpus.synthetic_units(small_laws(), 300)), 300)
    info = bench_corpus.write_corpus(chosen, tmp_path / "corpus")
    assert (info.records, info.files) == (300, 8)
    assert info.sources == {"laws": 120, "perturbed copies": 180}


def test_corpus_articles_one_file_each(tmp_path):
    if not (STARD / "articles.jsonl").is_file():
        pytest.skip("STARD (../shared/eval/stard) is not here")
    info = articles.articles_corpus(STARD, None, tmp_path / "articles", 5)
    assert (info.files, info.records, info.sources) == (5, 5, {"STARD articles": 5})
    for path in sorted((tmp_path / "articles").rglob("*.md")):
        records, report = parse_text(path.read_text(encoding="utf-8"), path.name)
        assert len(records) == 1
        assert {w.code for w in report.warnings} <= {"no_date"}  # a law article has no date


# ---------------------------------------------------------------------------------------------
# The scaling report


def step(clients: int, per_second: float, p95: float, pss: float = 300.0) -> dict:
    memory = {"pss": pss, "pss_anon": pss - 50, "pss_file": 50.0, "rss": pss * 2, "processes": 3}
    return {
        "clients": clients,
        "requests": int(per_second * 10),
        "errors": 0,
        "seconds": 10.0,
        "per_second": per_second,
        "latency": {"n": 100, "p50": p95 / 2, "p95": p95, "p99": p95 * 1.2},
        "memory_after": memory,
        "memory_peak": memory,
    }


def scaled(label: str, records: int, steps: list[dict], vectors: float | None) -> dict:
    size = {
        "label": label,
        "records": records,
        "corpus": {"files": 1, "records": records, "characters": records * 300, "sources": {}},
        "build": {
            "seconds": records / 100,
            "cpu": records / 90,
            "vectors_seconds": vectors,
            "vectors_measured": vectors is not None,
            "max_rss_mb": 300.0,
            "index_mb": records / 250,
            "records": records,
        },
        "server": {"workers": 2, "threads": 4},
        "started_seconds": 1.0,
        "latency": {
            name: {"n": 60, "p50": records / 2000, "p95": records / 1000, "p99": 1.0}
            for name in ("keyword", "filtered", "questions")
        },
        "steps": steps,
    }
    size["capacity"] = scaling.capacity(steps)
    return size


def scaling_results() -> dict:
    return {
        "command": "python -m bench.scaling (smoke)",
        "started": "2026-01-01T00:00",
        "seconds": 600.0,
        "machine": {"cpu": "test", "cores": 2, "memory_gib": 8.0},
        "load": {"start": [1.0, 1.0, 1.0], "end": [2.0, 2.0, 2.0]},
        "corpus_records": 78_000,
        "sizes": [
            scaled("10k", 10_000, [step(1, 80, 20), step(2, 120, 60), step(4, 130, 140)], None),
            scaled("78k (all)", 78_000, [step(1, 60, 40), step(4, 70, 300)], 500.0),
            scaled("300k", 300_000, [step(1, 30, 90), step(2, 35, 150), step(4, 36, 400)], 2000.0),
        ],
    }


def test_scaling_report_table_and_where_it_stops():
    text = scaling.render_report(scaling_results())
    rows = [line for line in text.splitlines() if line.startswith("| 300k")]
    assert rows[0] == (
        "| 300k (synthetic) | 300,000 | 3000.0 s (3333 s) | 2000.0 s | 1,200 MB | 300 MB (300) |"
        " 150 / 300 | 150 / 300 | 150 / 300 | 30.0 (1 client) |"
    )
    assert "| 10k | 10,000 | 100.0 s (111 s) | in the command | 40 MB |" in text
    assert "![build seconds, server memory and p95 latency against records](scaling.svg)" in text
    assert (
        "It serves 50 requests/s with p95 under 100 ms up to 78k (all) (78,000 records: at best "
        "60.0 requests/s with 1 client, p95 40.0 ms) and no longer at 300k (300,000 records: at "
        "best 30.0 requests/s with 1 client, p95 90.0 ms). Interpolated (log records against "
        "log requests/s), it stops at about 111,167 records." in text
    )
    assert "| 300k | 2 | 35.0 | 75.0 | 150 | 180 | 0 | 300 MB |" in text


def test_scaling_write_report_keeps_the_hand_written_part(tmp_path):
    report = tmp_path / "scaling.md"
    scaling.write_report(scaling_results(), report)
    report.write_text(
        report.read_text(encoding="utf-8") + "## On paper\n\nWritten by hand.\n", encoding="utf-8"
    )
    scaling.write_report(scaling_results(), report)
    text = report.read_text(encoding="utf-8")
    assert text.count(scaling.MARKER) == 1
    assert text.endswith(scaling.MARKER + "\n\n## On paper\n\nWritten by hand.\n")
    assert (tmp_path / "scaling.svg").is_file()


def test_scaling_plot_is_svg_with_three_panels_on_a_log_axis():
    svg = scaling.plot(scaling_results())
    root = ET.fromstring(svg)
    ns = {"svg": "http://www.w3.org/2000/svg"}
    panels = root.findall("svg:g[@class='panel']", ns)
    assert len(panels) == 3
    titles = [p.find("svg:text[@class='title']", ns).text for p in panels]
    assert titles == [
        "build (s)",
        "server Pss after 4 clients (MB)",
        "p95 over HTTP, 1 client (ms)",
    ]
    lines = [[line.get("data-name") for line in p.findall("svg:polyline", ns)] for p in panels]
    assert lines == [["searchable", "vectors done"], ["Pss"], ["keyword", "filtered", "questions"]]
    ticks = [t.text for t in panels[0].findall("svg:text[@class='tick']", ns)]
    assert ticks == ["10k", "78k (all)", "300k"]
    # the x of each size is proportional to log(records): 10k..78k..300k
    xs = [
        float(pair.split(",")[0])
        for pair in panels[0].find("svg:polyline", ns).get("points").split()
    ]
    assert (xs[1] - xs[0]) / (xs[2] - xs[1]) == pytest.approx(
        (4.892 - 4.0) / (5.477 - 4.892), rel=0.01
    )
    # the 100 ms line of the latency panel
    assert panels[2].find("svg:line[@class='limit']", ns) is not None


def test_related_words_learns_words_said_in_the_same_places(tmp_path, monkeypatch):
    from bench.related_words import nearest, word_vectors, write_related
    from search import analysis

    topics = [
        ["噪声", "扰民", "夜间", "施工"],
        ["噪音", "扰民", "夜间", "施工"],
        ["租金", "出租人", "房屋", "合同"],
        ["租金", "承租人", "房屋", "合同"],
        ["盗窃", "财物", "数额", "较大"],
        ["抢夺", "财物", "数额", "较大"],
    ]
    vocabulary, vectors, counts = word_vectors(
        [words for words in topics for _ in range(5)], min_count=5, window=3, dimensions=5
    )
    related = nearest(vocabulary, vectors, counts, neighbours=1, min_neighbour_count=5)
    pairs = {word: found[0][0] for word, found in related.items()}
    assert {w: pairs[w] for w in ("噪声", "噪音", "出租人", "承租人", "盗窃", "抢夺")} == {
        "噪声": "噪音",
        "噪音": "噪声",
        "出租人": "承租人",
        "承租人": "出租人",
        "盗窃": "抢夺",
        "抢夺": "盗窃",
    }
    # the file it writes is the one the query compiler reads
    write_related(related, tmp_path / "related_words.txt", "test")
    monkeypatch.setattr(analysis, "data_file", lambda name: tmp_path / name)
    analysis.related_words.cache_clear()
    try:
        assert analysis.related_words()["噪声"] == (("噪音", related["噪声"][0][1]),)
    finally:
        analysis.related_words.cache_clear()
