"""Over HTTP: our server and Datasette started fresh, their latency, throughput and memory under
load."""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from bench.common.machine import available
from bench.common.processes import cli
from bench.common.stats import summary_ms
from bench.speed.children import repo_child_env
from bench.speed.settings import CONCURRENCY, MEMORY_CLIENTS, REPO, Options


def http(options, seeds, index, sqlite_path, sets, searchers, engines, log, full) -> dict:
    """Each server started fresh and loaded by 4 clients, its memory (Pss summed over all its
    processes) sampled during that load and read after it. `full` (the largest size): first the
    latency of every query set with one client, then 1, 4 and 16 clients. Our server and, with
    the same queries as FTS5 expressions, Datasette serving the SQLite FTS5 table."""

    from bench.common import load

    result: dict = {}
    mixed = sets["keyword"] + sets["filtered"]
    servers = ["ours"]
    if "sqlite" in engines and available("datasette"):
        servers.append("datasette")
    for server_name in servers:
        port = load.free_port()
        if server_name == "ours":
            command, ready, path, config = our_server(port, index, seeds, options)
        else:
            command, ready, path = _datasette_server(port, sqlite_path, searchers["sqlite"])
            config = {"workers": None, "threads": None}
        paths = {name: [path(p) for p in params] for name, params in sets.items()}
        mixed_paths = [path(p) for p in mixed]
        entry: dict = {"config": config, "latency": {}, "load": []}
        with load.serve(command, port, ready, env=repo_child_env()) as server:
            entry["started_seconds"] = server.started_seconds
            entry["memory_started"] = load.memory_figures(server.memory())
            if server_name == "ours":
                entry["health"] = load_json(port, "/api/health")
            if full:
                for name, urls in paths.items():
                    load.latencies(port, urls[: max(5, len(urls) // 10)])  # warm-up
                    passes = 1 if name == "questions" else 2
                    seconds, errors = load.latencies(port, urls, passes=passes)
                    entry["latency"][name] = summary_ms(seconds) | {"errors": errors}
            else:
                load.latencies(port, mixed_paths)  # warm-up: every query once
            for clients in CONCURRENCY if full else (MEMORY_CLIENTS,):
                with server.sampler() as sampler:
                    run = load.load(port, mixed_paths, clients, options.http_seconds)
                entry["load"].append(load.step_figures(run, server.memory(), sampler.peak))
                after = entry["load"][-1]["memory_after"]
                log(
                    f"[http] {server_name} {clients} clients: {run.per_second:.1f} req/s, "
                    f"p95 {entry['load'][-1]['latency']['p95']:.0f} ms, {run.errors} errors, "
                    f"Pss {after['pss'] if after else float('nan'):.0f} MB"
                )
        result[server_name] = entry
    return result


def load_json(port: int, path: str) -> dict | None:
    """One GET answered with JSON, or None."""
    import http.client

    from bench.common.load import HOST

    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        return json.loads(body) if response.status == 200 else None
    except (OSError, ValueError):
        return None
    finally:
        connection.close()


@functools.lru_cache(maxsize=1)
def serve_help() -> dict:
    """What this checkout's `policy-search serve` offers, read once from its --help: whether it
    has --workers (pre-forked processes), and the default of --threads."""
    text = subprocess.run(
        cli("serve", "--help"), cwd=REPO, env=repo_child_env(), capture_output=True, text=True
    ).stdout
    return parse_serve_help(text)


def parse_serve_help(text: str) -> dict:
    """{"workers": has a --workers option, "threads_default": --threads's default or None}, from
    the options list of click's help (the description may name options too)."""
    options = {
        found.group(1): found.group(2)
        for found in re.finditer(r"^ {2}(--[a-z-]+)(.*?)(?=^ {2}-|\Z)", text, re.M | re.S)
    }
    threads = re.search(r"default:\s*(\d+)", options.get("--threads", ""))
    return {
        "workers": "--workers" in options,
        "threads_default": int(threads.group(1)) if threads else None,
    }


def our_server(port: int, index: Path, seeds: Path, options: Options):
    """(command, ready path, request params -> URL path, config) of `policy-search serve`:
    `--workers` (default: one per core) only when serve has it; config says what was used."""
    from bench.common import load

    offered = serve_help()
    command = cli("serve", "--port", str(port), "--index", str(index), "--seeds", str(seeds))
    config: dict = {"workers": None, "threads": options.threads or offered["threads_default"]}
    if offered["workers"]:
        config["workers"] = options.workers or os.cpu_count() or 1
        command += ["--workers", str(config["workers"])]
    if options.threads:
        command += ["--threads", str(options.threads)]

    def path(params: dict) -> str:
        pairs = [(k, v) for k, values in params.items() for v in values]
        return load.path_with("/api/search", pairs)

    return command, "/api/health", path, config


def _datasette_server(port: int, sqlite_path: Path, sqlite):
    """The same for Datasette serving the SQLite FTS5 baseline; each request's FTS5 expression
    is the one the SQLite baseline chose (all words, or any word for questions)."""
    from bench.baselines import datasette_metadata, datasette_params
    from bench.common import load
    from search.request import SearchRequest

    metadata_path = sqlite_path.with_name("datasette.json")
    datasette_metadata(metadata_path)
    command = [
        sys.executable, "-m", "datasette", "serve", "-i", str(sqlite_path),
        "--port", str(port), "--metadata", str(metadata_path),
        "--setting", "sql_time_limit_ms", "20000",
        "--setting", "facet_time_limit_ms", "20000",
        "--setting", "suggest_facets", "off",
    ]  # fmt: skip

    def path(params: dict) -> str:
        request = SearchRequest.from_params(params)
        return load.path_with(
            "/bench/docs.json", datasette_params(request, sqlite.expression(request))
        )

    return command, "/bench/docs.json?_size=1", path
