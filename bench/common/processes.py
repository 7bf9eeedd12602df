"""The command line of our CLI run as a user would (`python -m search.cli`), in an environment
where only that command line chooses folders, and the processes it leaves behind."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def cli(*args: str) -> list[str]:
    """The command line of `policy-search ARGS` in this interpreter."""
    return [sys.executable, "-m", "search.cli", *args]


def child_env() -> dict[str, str]:
    """This environment without our own settings, so only the command line chooses folders."""
    return {k: v for k, v in os.environ.items() if not k.startswith("POLICY_SEARCH_")}


def vector_passes(under: str | Path) -> list[int]:
    """Pids of the vector passes over an index below `under` (they belong to init, not to the
    server: search/vectorstore.py spawn_pass)."""
    prefix = str(under)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"search.vectorpass" in args and any(a.startswith(os.fsencode(prefix)) for a in args):
            found.append(int(entry.name))
    return found
