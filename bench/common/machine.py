"""What a report says of the machine it ran on and the versions it measured."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import platform
import sqlite3
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path


def machine() -> dict:
    """The processor, cores, memory, system and Python a speed report names."""
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = None
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = int(line.split()[1]) / 1024 / 1024
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": memory,
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def versions() -> dict:
    found = {"sqlite": sqlite3.sqlite_version}
    for name in (
        "whoosh-reloaded",
        "rjieba",
        "jieba",
        "numpy",
        "markdown-it-py",
        "flask",
        "waitress",
        "tantivy",
        "datasette",
        "uvicorn",
    ):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


def available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def machine_at_start() -> dict:
    """When and where a long run started: date, cores, Python, platform and the load average."""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
