"""What the reliability runs work on: copies of the seed compilation (each its own file with its
own words), the indexer and the server run as a user would, and the requests the clients ask."""

from __future__ import annotations

import contextlib
import http.client
import re
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.common import load
from bench.common.load import HOST
from bench.common.processes import child_env, cli

REPO = Path(__file__).resolve().parents[2]


SEED_FILE = REPO / "seeds" / "beijing-industry-carbon-key-nodes.md"


RECORDS_PER_COPY = 13  # records of the seed compilation, so of every copy of it


REQUEST_TIMEOUT = 30.0


INDEX_TIMEOUT = 900.0  # seconds any one indexer run may take before the run is called failed


MAX_REQUESTS_PER_CLIENT = 1_000_000


# What the load clients ask, in turn. The browse query's total is the index's record count, so it
# tells a complete index from a half-built one; the others must be stable within a generation.
BROWSE = "/api/search?per_page=5"


SEARCHES = (
    BROWSE,
    "/api/search?" + urllib.parse.urlencode({"q": "碳排量双控"}),
    "/api/search?" + urllib.parse.urlencode({"q": "碳中和", "sort": "-date"}),
    "/api/search?"
    + urllib.parse.urlencode({"q": "", "issuer": "北京市发展改革委", "type": "事件"}),
    "/api/search?" + urllib.parse.urlencode({"q": '"碳排量权交易" OR 排水', "per_page": "20"}),
    "/api/health",
    "/?" + urllib.parse.urlencode({"q": "碳排量"}),
)


def copy_text(number: int, revision: int = 0) -> str:
    """The seed compilation as a different file: its own sector name and analysis time, so the
    copies differ in content (and a new revision in hash) while each holds the same 13 records."""
    text = SEED_FILE.read_text(encoding="utf-8")
    text = text.replace("北京市 工业领域", f"北京市 工业领域{number}")
    stamp = f"{revision // 3600 % 24:02d}:{revision // 60 % 60:02d}:{revision % 60:02d}"
    return re.sub(r"分析时间: \S+ \S+", f"分析时间: 2025-05-01 {stamp}", text, count=1)


def copy_name(number: int) -> str:
    return f"copy-{number:05d}.md"


def write_copies(seeds: Path, numbers, revision: int = 0) -> None:
    seeds.mkdir(parents=True, exist_ok=True)
    for number in numbers:
        (seeds / copy_name(number)).write_text(copy_text(number, revision), encoding="utf-8")


def markdown_files(seeds: Path) -> list[Path]:
    return sorted(seeds.glob("*.md"))


def start_indexer(seeds: Path, index: Path, *, rebuild: bool = False, **popen) -> subprocess.Popen:
    args = ["index", "--seeds", str(seeds), "--index", str(index), "--quiet"]
    if rebuild:
        args.append("--rebuild")
    return subprocess.Popen(
        cli(*args),
        cwd=REPO,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


@dataclass
class IndexRun:
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def generation(self) -> str | None:
        found = re.search(r"generation (\d+\.\d+) \(", self.stdout)
        return found.group(1) if found else None


def run_indexer(seeds: Path, index: Path, *, rebuild: bool = False, **popen) -> IndexRun:
    """Run the indexer to its end (bounded by INDEX_TIMEOUT)."""
    started = time.monotonic()
    with start_indexer(seeds, index, rebuild=rebuild, **popen) as process:
        try:
            out, err = process.communicate(timeout=INDEX_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
    return IndexRun(process.returncode, out, err, time.monotonic() - started)


def get(port: int, path: str, timeout: float = REQUEST_TIMEOUT) -> tuple[int, dict, bytes]:
    """One GET on a fresh connection: (status, headers, body)."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@contextlib.contextmanager
def serve(seeds: Path, index: Path, threads: int = 8, timeout: float = 120.0) -> Iterator[int]:
    """`policy-search serve` on a free port of 127.0.0.1 until the block ends; yields the port.
    Raises if the server logged a traceback."""
    port = load.free_port()
    command = cli(
        "serve", "--host", HOST, "--port", str(port), "--seeds", str(seeds), "--index", str(index)
    )
    with tempfile.TemporaryFile() as log:
        # --no-watch: the runs measured here are the only indexers (a watcher would take the lock)
        command = [*command, "--threads", str(threads), "--no-watch"]
        with load.serve(command, port, "/api/health", timeout, child_env(), log, REPO):
            yield port
        log.seek(0)
        output = log.read().decode("utf-8", "replace")
    if "Traceback" in output:
        first = max(0, output.index("Traceback") - 300)
        raise RuntimeError(f"the server logged a traceback:\n{output[first : first + 6000]}")
