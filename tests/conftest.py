"""Shared fixtures: one session-scoped index built from the real seeds, and fresh copies to modify."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.common.load import Server, free_port, serve
from bench.common.processes import vector_passes
from search.cli import main
from search.indexer import update_index
from search.query import SearchIndex
from search.records import file_key

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"
SEED_FILE = SEEDS / "beijing-industry-carbon-key-nodes.md"
SEED_KEY = file_key(SEED_FILE.name)
SHARED = REPO.parent / "shared"
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session", autouse=True)
def no_vector_pass_left_behind(tmp_path_factory) -> Iterator[None]:
    """Builds, reindexes and the watcher start the sentence-vector pass as a process of its own
    that outlives them (search/vectorstore.py spawn_pass). At the end of the session, wait for
    those working on this session's folders, then stop any still running: left alone, one would
    write into the temporary folders pytest is removing."""
    yield
    ours = str(tmp_path_factory.getbasetemp())
    deadline = time.monotonic() + 30
    while (passes := vector_passes(ours)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in passes:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory) -> Path:
    """An index built from seeds/, shared by every test that only reads it."""
    root = tmp_path_factory.mktemp("seed") / "index"
    update_index(SEEDS, root)
    return root


@pytest.fixture(scope="session")
def engine(seed_index):
    with SearchIndex(seed_index) as opened:
        yield opened


@pytest.fixture
def seeds_copy(tmp_path) -> Path:
    """A private copy of seeds/ that a test may add to, edit or delete from."""
    target = tmp_path / "seeds"
    shutil.copytree(SEEDS, target)
    return target


class Runner:
    """click's CliRunner bound to the policy-search command: `runner.invoke(["search", "x"])`."""

    def __init__(self):
        self.runner = CliRunner()

    def invoke(self, args: list[str], **options):
        return self.runner.invoke(main, args, **options)


@pytest.fixture
def runner() -> Runner:
    return Runner()


# --- the web app (tests/test_web_*.py, tests/test_browser.py) ---------------------------------

WEB_FIXTURES = FIXTURES / "web"
XSS_FILE = WEB_FIXTURES / "xss-entries.md"


@pytest.fixture(scope="session")
def app(seed_index):
    """The web app over the seed index; reindex disabled (no token)."""
    from search.config import Settings
    from web import create_app

    app = create_app({"SETTINGS": Settings(seeds=SEEDS, index=seed_index), "REINDEX_TOKEN": None})
    yield app
    close_app(app)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def xss_seeds(tmp_path_factory) -> Path:
    """seeds/ plus a file whose entries hold <script> and <img onerror> in title and content."""
    target = tmp_path_factory.mktemp("xss") / "seeds"
    shutil.copytree(SEEDS, target)
    shutil.copy(XSS_FILE, target / XSS_FILE.name)
    return target


@pytest.fixture(scope="session")
def xss_client(xss_seeds):
    from search.config import Settings
    from web import create_app

    index = xss_seeds.parent / "index"
    update_index(xss_seeds, index)
    app = create_app({"SETTINGS": Settings(seeds=xss_seeds, index=index)})
    yield app.test_client()
    close_app(app)


@pytest.fixture
def make_app():
    """create_app for one test: every app made is closed when the test ends."""
    from web import create_app

    made = []

    def make(config=None):
        made.append(create_app(config))
        return made[-1]

    yield make
    for app in made:
        close_app(app)


def close_app(app) -> None:
    """Close the app's index searchers (else their files are left to the garbage collector)."""
    from web.state import EXTENSION

    app.extensions[EXTENSION].close()


# --- tracking: the seed plus single policy documents (tests/test_tracking_*.py) ----------------

TRACKING_FIXTURES = FIXTURES / "tracking"


@pytest.fixture(scope="session")
def tracking_seeds(tmp_path_factory) -> Path:
    """seeds/ plus the single policy documents of tests/fixtures/tracking/."""
    target = tmp_path_factory.mktemp("tracking") / "seeds"
    shutil.copytree(SEEDS, target)
    for path in sorted(TRACKING_FIXTURES.glob("*.md")):
        shutil.copy(path, target / path.name)
    return target


@pytest.fixture(scope="session")
def tracking_index(tracking_seeds) -> Path:
    index = tracking_seeds.parent / "index"
    update_index(tracking_seeds, index)
    return index


@pytest.fixture(scope="session")
def tracking_engine(tracking_index):
    with SearchIndex(tracking_index) as opened:
        yield opened


@pytest.fixture(scope="session")
def tracking_app(tracking_seeds, tracking_index):
    from search.config import Settings
    from web import create_app

    app = create_app({"SETTINGS": Settings(seeds=tracking_seeds, index=tracking_index)})
    yield app
    close_app(app)


@pytest.fixture
def tracking_client(tracking_app):
    return tracking_app.test_client()


@contextlib.contextmanager
def served(seeds: Path, root: Path, *options: str, token: str = "") -> Iterator[Server]:
    """`policy-search serve` as a real subprocess on 127.0.0.1 and a free port: the seeds folder
    `seeds`, its index in root/index, its output in root/server.log, the reindex token `token`
    (none: refused), and any further `options` (--workers 2, --no-watch)."""
    port = free_port()
    env = dict(
        os.environ,
        POLICY_SEARCH_SEEDS=str(seeds),
        POLICY_SEARCH_INDEX=str(root / "index"),
        POLICY_SEARCH_REINDEX_TOKEN=token,
    )
    command = [sys.executable, "-m", "search.cli", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), *options]
    with (
        open(root / "server.log", "w+b") as log,
        serve(command, port, "/api/health", 60, env, log, REPO) as server,
    ):
        yield server


# --- compilation entries' ids ----------------------------------------------------------------


@functools.cache
def _entry_ids() -> dict[tuple[str, int | None, int], str]:
    """(file key, node number, entry number) -> id, for every compilation entry of the seeds and
    the fixtures (each file keyed by its name, as the tests copy them into a seeds folder)."""
    from search.documents import read_file
    from search.records import file_key

    found = {}
    for path in [*SEEDS.glob("*.md"), *FIXTURES.rglob("*.md")]:
        records, _ = read_file(path, path.parent)
        for record in records:
            if record.kind == "entry":
                where = (file_key(path.name), record.node_index, record.entry_index)
                found[where] = record.id
    return found


def entry_id(node: int | None, number: int, key: str = SEED_KEY) -> str:
    """The id of entry `number` of key node `node` (1-based, in the file's order; None: before
    any node) of the compilation whose file key is `key`. The ids come from the entries' dates
    and titles (search/compilation.py; tests/test_documents.py tests them), not their places."""
    return _entry_ids()[(key, node, number)]
