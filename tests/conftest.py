"""Shared fixtures: one session-scoped index built from the real seeds, and fresh copies to modify."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from search.indexer import update_index
from search.query import SearchIndex

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"
SEED_FILE = SEEDS / "beijing-industry-carbon-key-nodes.md"
SHARED = REPO.parent / "shared"
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory) -> Path:
    """An index built from seeds/, shared by every test that only reads it."""
    root = tmp_path_factory.mktemp("seed") / "index"
    update_index(SEEDS, root)
    return root


@pytest.fixture(scope="session")
def engine(seed_index) -> SearchIndex:
    return SearchIndex(seed_index)


@pytest.fixture
def seeds_copy(tmp_path) -> Path:
    """A private copy of seeds/ that a test may add to, edit or delete from."""
    target = tmp_path / "seeds"
    shutil.copytree(SEEDS, target)
    return target
