"""Reliability runs against a real `policy-search serve` on 127.0.0.1: load while the index is
updated and then rebuilt, SIGKILLs of the indexer at random points, and a full disk.

    python -m bench.reliability [--duration 60] [--clients 16] [--kills 20] [--seed 1]

prints what each run saw as JSON (and writes it to --out). tests/test_reliability.py runs the same
functions at a smaller size. Every request goes to 127.0.0.1; every loop is bounded in count and
time; every process started here is stopped here, by its own pid.

The parts: workload (the seed copies, the indexer and the server as a user runs them),
under_load, kills, disk, fuzz (one run each), cli (the command line). This package re-exports
what the tests, bench.soak and bench.soak_feed use.
"""

from bench.reliability.cli import main
from bench.reliability.disk import full_disk_check, mount_tmpfs, resize_tmpfs, unmount
from bench.reliability.fuzz import sent_by, shows_a_traceback
from bench.reliability.kills import ExpectedIds, exact_index_problems, index_ids, run_kills
from bench.reliability.under_load import run_load
from bench.reliability.workload import copy_text, get, run_indexer, serve, write_copies

__all__ = [
    "ExpectedIds",
    "copy_text",
    "exact_index_problems",
    "full_disk_check",
    "get",
    "index_ids",
    "main",
    "mount_tmpfs",
    "resize_tmpfs",
    "run_indexer",
    "run_kills",
    "run_load",
    "sent_by",
    "serve",
    "shows_a_traceback",
    "unmount",
    "write_copies",
]
