"""The soak: a real `policy-search serve --workers 2`, its watcher on, fed for a long time the way a
policy archive is (files dropped in, some with GBK names copied from Windows shares; edited,
renamed, deleted; the whole folder swapped once; the dictionary and issuers.txt edited once) while
4 clients search, sampled every --interval seconds for what grows when a server leaks.

    python -m bench.soak [--minutes 30] [--records 12000] [--interval 30] [--out FILE]

Verdicts (issue #23): after warm-up the series are flat (the last third's maximum within 10% of
the first third's, for open files and Pss), the index folder is bounded by two generations, no
request failed or answered 5xx, and at the end the served index holds exactly what a fresh build
of the same folder holds, every vector done. Prints a summary, writes the whole report as JSON
(--out) and exits 1 if a verdict fails. The driver and the clients are in bench/soak_feed.py;
tests/test_soak.py runs the same functions at a small size. Every request goes to 127.0.0.1; every loop is bounded in count and time; every process
started here (the server, the vector passes it spawns, the fresh build) is stopped here by its pid.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from bench.common import load
from bench.common.corpus import build_corpus
from bench.common.machine import machine_at_start
from bench.common.processes import vector_passes
from bench.soak_feed import (
    REPO,
    SOAK_CANONICAL,
    SOAK_ISSUER,
    Clients,
    Driver,
    Workspace,
    client_paths,
    folder_files,
    server_env,
    workspace,
)
from search.layout import generation_number
from search.query import SearchIndex
from search.records import unpack

CORPUS = REPO.parent / "shared" / "corpus"
HOST = load.HOST
MAX_SAMPLES = 10_000
FRESH_BUILD_TIMEOUT = 1800.0


# ---------------------------------------------------------------------------------------------
# Samples: what grows when a server leaks


def process_figures(pid: int, index_root: Path) -> dict | None:
    """Open files and threads of one process; of its open files, those in the index folder and
    those deleted (a searcher kept on a removed generation holds both); its searchers (seen from
    outside: see below); None once the process is gone."""
    try:
        descriptors = os.listdir(f"/proc/{pid}/fd")
        status = Path(f"/proc/{pid}/status").read_text()
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return None
    targets = []
    for descriptor in descriptors:
        with contextlib.suppress(OSError):  # closed while we looked
            targets.append(os.readlink(f"/proc/{pid}/fd/{descriptor}"))
    inside = str(index_root.resolve()) + os.sep
    mapped_deleted = {
        line.split(maxsplit=5)[-1]
        for line in maps.splitlines()
        if inside in line and line.endswith(" (deleted)")
    }
    threads = next(int(line.split()[1]) for line in status.splitlines() if line[:8] == "Threads:")
    # a searcher opens each file of each segment once: the most descriptors on one index file
    # is how many searchers hold that segment (all of them, for a segment older than they are)
    per_file = Counter(t.removesuffix(" (deleted)") for t in targets if t.startswith(inside))
    return {
        "pid": pid,
        "open_files": len(descriptors),
        "threads": threads,
        "index_files": sum(target.startswith(inside) for target in targets),
        "deleted_files": sum(target.endswith(" (deleted)") for target in targets),
        "deleted_maps": len(mapped_deleted),
        "searchers": max(per_file.values(), default=0),
    }


def disk_usage(folder: Path) -> int:
    """Bytes the files under `folder` take on disk (as du counts them)."""
    total = 0
    for parent, _, names in os.walk(folder):
        for name in names:
            with contextlib.suppress(OSError):  # removed while we walked
                total += os.lstat(os.path.join(parent, name)).st_blocks * 512
    return total


def vector_store_bytes(index_root: Path) -> int:
    return sum(
        path.stat().st_size for path in index_root.glob("vectors-*.sqlite*") if path.is_file()
    )


def generations(index_root: Path) -> int:
    with contextlib.suppress(OSError):
        return sum(generation_number(p.name) is not None for p in index_root.iterdir())
    return 0


def stop_processes(pids: list[int]) -> None:
    """SIGTERM, then SIGKILL, each of `pids` (ours) by its pid."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in pids):
        time.sleep(0.1)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def health(port: int) -> dict:
    """GET /api/health (whatever it reports), or {"error": ...} when it does not answer."""
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        connection.request("GET", "/api/health")
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            return {"error": f"{response.status}: {body[:300].decode('utf-8', 'replace')}"}
        return json.loads(body)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return {"error": repr(exc)}
    finally:
        connection.close()


def sample(server_pid: int, port: int, work: Workspace, started: float) -> dict:
    processes = [
        figures
        for pid in load.process_tree(server_pid)
        if (figures := process_figures(pid, work.index)) is not None
    ]
    memory = load.tree_memory(server_pid)
    answer = health(port)
    return {
        "seconds": round(time.monotonic() - started, 1),
        "open_files": sum(p["open_files"] for p in processes),
        "threads": sum(p["threads"] for p in processes),
        "index_files": sum(p["index_files"] for p in processes),
        "deleted_files": sum(p["deleted_files"] for p in processes),
        "deleted_maps": sum(p["deleted_maps"] for p in processes),
        "searchers": sum(p["searchers"] for p in processes),
        "pss_mb": round(memory.pss, 1) if memory else None,
        "index_mb": round(disk_usage(work.index) / 1e6, 2),
        "generations": generations(work.index),
        "vector_passes": len(vector_passes(work.root)),
        "documents": answer.get("documents"),
        "generation": answer.get("generation"),
        "vectors": answer.get("vectors"),
        "watch": answer.get("watch"),
        "health_error": answer.get("error"),
        "processes": processes,
    }


class Sampler(threading.Thread):
    def __init__(self, server_pid: int, port: int, work: Workspace, interval: float):
        super().__init__(name="soak-sampler", daemon=True)
        self.args = (server_pid, port, work)
        self.interval = interval
        self.samples: list[dict] = []
        self._stopping = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        for _ in range(MAX_SAMPLES):
            self.samples.append(sample(*self.args, started))
            if self._stopping.wait(self.interval):
                return

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=120)


# ---------------------------------------------------------------------------------------------
# The end: settled, then compared with a fresh build of the same folder


def settle(port: int, work: Workspace, timeout: float, wait_for_vectors: bool) -> dict:
    """Wait (at most `timeout` seconds) until the served generation and the watcher's update
    count stay the same for three looks 2 s apart and, if `wait_for_vectors`, no vector pass runs
    and every vector is done. Returns how long it took and whether it settled."""
    started = time.monotonic()
    seen, same = None, 0
    while time.monotonic() - started < timeout:
        answer = health(port)
        watch = answer.get("watch") or {}
        now = (answer.get("generation"), watch.get("updates"), answer.get("documents"))
        same = same + 1 if now == seen and "error" not in answer else 0
        seen = now
        vectors = answer.get("vectors") or {}
        vectors_done = vectors.get("done") == vectors.get("total") and not vector_passes(work.root)
        if same >= 3 and (vectors_done or not wait_for_vectors):
            return {"settled": True, "seconds": round(time.monotonic() - started, 1)}
        time.sleep(2)
    return {"settled": False, "seconds": round(time.monotonic() - started, 1)}


def fresh_build(work: Workspace) -> dict:
    """`policy-search index` of the final seeds folder into another folder, with the run's data
    files (no vectors: only the records are compared)."""
    command = [sys.executable, "-m", "search.cli", "index", "--vectors", "skip", "--quiet"]
    env = server_env(work, index=work.fresh_index)
    started = time.monotonic()
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        out, err = process.communicate(timeout=FRESH_BUILD_TIMEOUT)
    except BaseException:  # a timeout, or Ctrl-C: the build is ours to stop
        process.kill()
        process.communicate()
        raise
    return {
        "returncode": process.returncode,
        "seconds": round(time.monotonic() - started, 1),
        "output": out.strip()[-500:],
        "error": err.strip()[-1500:],
    }


def index_records(index_root: Path) -> dict[str, dict]:
    """Every live record of the index's current generation, by id, as the index stores it."""
    with SearchIndex(index_root) as index:
        searcher, _ = index.searcher()
        records = (unpack(stored["record"]) for stored in searcher.all_stored_fields())
        return {record["id"]: record for record in records}


def compare(served: dict[str, dict], fresh: dict[str, dict]) -> dict:
    """What tells the served index from the fresh one: ids on one side only, and records whose
    stored fields differ (with the names of those fields)."""
    only_served = sorted(served.keys() - fresh.keys())
    only_fresh = sorted(fresh.keys() - served.keys())
    differing = []
    for record_id in sorted(served.keys() & fresh.keys()):
        a, b = served[record_id], fresh[record_id]
        if a != b:
            names = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
            differing.append({"id": record_id, "fields": names})
    return {
        "served_records": len(served),
        "fresh_records": len(fresh),
        "only_served": len(only_served),
        "only_fresh": len(only_fresh),
        "differing": len(differing),
        "only_served_samples": only_served[:10],
        "only_fresh_samples": only_fresh[:10],
        "differing_samples": differing[:10],
        "identical": not (only_served or only_fresh or differing),
    }


# ---------------------------------------------------------------------------------------------
# Verdicts


def flat(values: list[float], ratio: float, slack: float = 0.0) -> dict:
    """The issue's flatness: the first sixth dropped (warm-up), the rest cut in thirds; passes
    when the last third's maximum is at most `ratio` times the first third's plus `slack`."""
    kept = [v for v in values[len(values) // 6 :] if v is not None]
    third = len(kept) // 3
    if third < 1:
        return {"passed": False, "why": f"{len(kept)} samples after warm-up: too few"}
    first, last = max(kept[:third]), max(kept[-third:])
    limit = round(first * ratio + slack, 2)
    return {
        "first_third_max": first,
        "last_third_max": last,
        "limit": limit,
        "passed": last <= limit,
    }


def commits_until_the_end(samples: list[dict]) -> dict:
    """Whether the served generation still changed in the last third: flat series prove nothing
    of a server that stopped committing (a watcher that died)."""
    kept = samples[len(samples) // 6 :]
    last = {s["generation"] for s in kept[-(len(kept) // 3 or 1) :] if s["generation"]}
    return {"generations_in_last_third": len(last), "passed": len(last) >= 2}


def lasting(samples: list[dict]) -> set[int]:
    """The pids seen in more than one sample: the server's own processes. A child forked for
    one update (search/forked.py) lives a second or two, runs the forking thread only and holds
    copies of its parent's descriptors beside its own: what it holds is not the server's to
    keep flat, and it is gone by the next sample."""
    seen = Counter(p["pid"] for s in samples for p in s["processes"])
    return {pid for pid, count in seen.items() if count > 1}


def lasting_series(samples: list[dict], key: str) -> list[int]:
    """`key` summed per sample over the server's own processes (see lasting)."""
    kept = lasting(samples)
    return [sum(p[key] for p in s["processes"] if p["pid"] in kept) for s in samples]


def searchers_within_threads(samples: list[dict]) -> dict:
    """Whether, after warm-up, every server process held at most one searcher per thread it
    had: searchers released with their thread never outnumber the threads; one leaked per commit
    soon does."""
    server = lasting(samples)
    kept = samples[len(samples) // 6 :]
    over_before: set[int] = set()
    over = []
    # over in two samples running: a reader opened for a moment (a new commit's columns being
    # read, a suggestion rebuild) is one more descriptor on a file when it falls in a sample
    for s in kept:
        now = {p["pid"] for p in s["processes"] if p["searchers"] > p["threads"]}
        over += [
            {"seconds": s["seconds"], "pid": p["pid"], "searchers": p["searchers"]}
            | {"threads": p["threads"]}
            for p in s["processes"]
            if p["pid"] in server and p["pid"] in now & over_before
        ]
        over_before = now
    return {"samples_over": len(over), "first_over": over[:1], "passed": bool(kept) and not over}


def verdicts(report: dict, ratio: float, slack: float, searchers_slack: float) -> dict:
    # the series are judged while the driver changed the folder: after it, while the run waits
    # for the last vectors, the server rests and commits no more
    samples = [s for s in report["samples"] if s["seconds"] <= report["seconds"]]
    served = report.get("served_issuers", {})
    comparison = report.get("comparison") or {}
    final = report.get("final_health") or {}
    vectors = final.get("vectors") or {}
    fresh_mb = report.get("fresh_generation_mb")
    # two generations (the current one and, for a grace after a rebuild, the one it replaced),
    # each at most 1.5 times a fresh build: deleted records stay under a quarter of each segment
    # (4/3), and a few small segments cost more than their records
    disk_limit = None if fresh_mb is None else 3.0 * fresh_mb + report["vector_store_mb"]
    disk_max = max((s["index_mb"] for s in samples[len(samples) // 6 :]), default=None)
    requests = report["requests"]
    return {
        "open_files_flat": flat(lasting_series(samples, "open_files"), ratio, slack),
        "searchers_flat": flat(lasting_series(samples, "searchers"), ratio, searchers_slack),
        "searchers_within_threads": searchers_within_threads(samples),
        "commits_until_the_end": commits_until_the_end(samples),
        "pss_flat": flat([s["pss_mb"] for s in samples], 1.1),
        "disk_bounded": {
            "max_mb": disk_max,
            "limit_mb": disk_limit and round(disk_limit, 2),
            "passed": disk_limit is not None and disk_max is not None and disk_max <= disk_limit,
        },
        "requests": {
            "failed": requests["failed"],
            "server_errors": requests["server_errors"],
            "passed": requests["failed"] == 0 and requests["server_errors"] == 0,
        },
        "final_index_identical": {"passed": bool(comparison.get("identical"))},
        "vectors_done": {
            "done": vectors.get("done"),
            "total": vectors.get("total"),
            "passed": bool(vectors) and vectors.get("done") == vectors.get("total"),
        },
        "issuers_edit_applied": {
            **served,
            "passed": served.get(SOAK_CANONICAL, 0) > 0 and served.get(SOAK_ISSUER, 0) == 0,
        },
        "driver_record_matches_folder": {"passed": report["driver"]["matches_folder"]},
    }


# ---------------------------------------------------------------------------------------------
# The whole run


def run_soak(
    work: Workspace,
    *,
    seconds: float,
    interval: float,
    step: float,
    seed: int = 1,
    startup_timeout: float = 1800.0,
    settle_timeout: float = 900.0,
    wait_for_vectors: bool = True,
    ratio: float = 1.1,
    slack: float = 0.0,
    # one: a reader opened for a moment (a new commit's columns read, a suggestion rebuild)
    # when a sample falls on it; a leak grows by one a commit
    searchers_slack: float = 1.0,
    gbk_names: bool = True,
    pause: float = 0.0,
    say: Callable[[str], None] = lambda message: print(message, file=sys.stderr),
) -> dict:
    """Serve `work.seeds` for `seconds` under the driver and the clients, sampling every
    `interval` seconds; then settle, compare with a fresh build and judge (`ratio` and `slack`:
    how much the open files may grow, see flat(); `searchers_slack`, the searchers).
    `gbk_names=False` leaves GBK names out (to see the rest when they stop the watcher);
    `pause`: each client's wait between requests. Returns the whole report."""
    port = load.free_port()
    command = [sys.executable, "-m", "search.cli", "serve", "--host", HOST, "--port", str(port)]
    command += ["--workers", "2"]
    report: dict = {
        "machine": machine_at_start(),
        "seconds": seconds,
        "interval": interval,
        "step": step,
    }
    # the driver stops a little before the end: the last changes are indexed while sampled
    driver = Driver(work, seconds - min(60.0, seconds * 0.1), step, seed, gbk_names)
    say(f"soak: {len(driver.expected)} files; serving on 127.0.0.1:{port} ...")
    try:
        with (
            open(work.log, "w+b") as log,
            load.serve(
                command, port, "/api/health", startup_timeout, server_env(work), log, REPO
            ) as server,
        ):
            report["startup_seconds"] = round(server.started_seconds, 1)
            sampler = Sampler(server.process.pid, port, work, interval)
            clients = Clients(port, client_paths(), pause)
            try:
                sampler.start()
                clients.start()
                driver.start()
                say(f"soak: driving for {seconds:g} s, a sample every {interval:g} s ...")
                end = time.monotonic() + seconds
                while time.monotonic() < end and server.process.poll() is None:
                    time.sleep(min(1.0, max(0.0, end - time.monotonic())))
                driver.stop()
                say("soak: settling ...")
                report["settle"] = settle(port, work, settle_timeout, wait_for_vectors)
                report["final_health"] = health(port)
            finally:
                driver.stop()
                clients.stop()
                sampler.stop()
            report["server_exited"] = server.process.poll()
    finally:
        # the vector passes the server spawned belong to init and outlive it: ours to stop
        stop_processes(vector_passes(work.root))
    report["requests"] = clients.figures()
    report["samples"] = sampler.samples
    report["driver"] = {
        "changes": Counter(a["action"] for a in driver.actions),
        "errors": driver.errors,
        "files": len(driver.expected),
        "matches_folder": folder_files(work.seeds) == driver.expected,
        "actions": driver.actions,
    }
    say("soak: a fresh build of the final folder ...")
    report["fresh_build"] = fresh_build(work)
    served = index_records(work.index)
    # the body each of the driver's records is counted under (the issuer facet's value): the
    # name as written stays in `issuer`
    report["served_issuers"] = Counter(
        r["issuer_canonical"] for r in served.values() if r.get("issuer") == SOAK_ISSUER
    )
    if report["fresh_build"]["returncode"] == 0:
        report["comparison"] = compare(served, index_records(work.fresh_index))
        report["fresh_generation_mb"] = round(disk_usage(work.fresh_index) / 1e6, 2)
    report["vector_store_mb"] = round(vector_store_bytes(work.index) / 1e6, 2)
    report["watch_log"] = watch_lines(work.log)
    report["verdicts"] = verdicts(report, ratio, slack, searchers_slack)
    report["passed"] = all(v["passed"] for v in report["verdicts"].values())
    return report


def watch_lines(log: Path, limit: int = 40) -> list[str]:
    """The server log's lines about the watcher and any traceback's last line, the last `limit`."""
    text = log.read_text(encoding="utf-8", errors="replace")
    lines = [
        line
        for line in text.splitlines()
        if "watch" in line or "Error" in line or "Traceback" in line
    ]
    return lines[-limit:]


def summary(report: dict) -> str:
    samples = report["samples"]
    last = samples[-1] if samples else {}
    lines = [
        f"soak: {report['seconds']:g} s, {len(samples)} samples, "
        f"{report['requests']['requests']} requests, {dict(report['driver']['changes'])}",
        f"last sample: open files {last.get('open_files')}, threads {last.get('threads')}, "
        f"index files open {last.get('index_files')} ({last.get('deleted_files')} deleted), "
        f"searchers {last.get('searchers')}, "
        f"Pss {last.get('pss_mb')} MB, index {last.get('index_mb')} MB in "
        f"{last.get('generations')} generations, vectors {last.get('vectors')}",
        f"watcher: {(report.get('final_health') or {}).get('watch')}",
    ]
    for name, verdict in report["verdicts"].items():
        details = ", ".join(f"{k} {v}" for k, v in verdict.items() if k != "passed")
        lines.append(f"  {'PASS' if verdict['passed'] else 'FAIL'} {name}: {details}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--minutes", type=float, default=30.0, help="how long the soak runs")
    parser.add_argument("--records", type=int, default=12000, help="records of the corpus")
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--step", type=float, default=5.0, help="seconds between two changes")
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="the shared corpus")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the driver")
    parser.add_argument("--out", type=Path, help="write the JSON report here")
    parser.add_argument("--workdir", type=Path, help="keep the work files here")
    parser.add_argument(
        "--settle", type=float, default=900.0, help="seconds the end waits for the vectors"
    )
    parser.add_argument(
        "--no-gbk-names",
        dest="gbk_names",
        action="store_false",
        help="only UTF-8 names (to see the rest while a GBK name stops the watcher)",
    )
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        if args.workdir:
            root = args.workdir
        else:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="soak-")))
        work = workspace(root)
        info = build_corpus(args.corpus, work.seeds, args.records)
        print(f"soak: corpus of {info.records} records in {info.files} files", file=sys.stderr)
        report = run_soak(
            work,
            seconds=args.minutes * 60,
            interval=args.interval,
            step=args.step,
            seed=args.seed,
            settle_timeout=args.settle,
            gbk_names=args.gbk_names,
        )
        report["corpus"] = {"records": info.records, "files": info.files}
    text = json.dumps(report, ensure_ascii=False, indent=2)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(summary(report))
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
