"""The soak of bench/soak.py at a small size: a served folder of a few dozen records, a change
every couple of seconds (each its own commit: the watcher waits 1.8 s of quiet), sampled every
3 s for about a minute and a quarter."""

from __future__ import annotations

import shutil

from conftest import FIXTURES, SEED_FILE

from bench.reliability import write_copies
from bench.soak import run_soak, summary, workspace

# What the short run asserts of bench/soak.py's verdicts (Pss, disk and vectors need the long
# run: a minute is mostly warm-up for them).
CHECKED = (
    "open_files_flat",
    "searchers_flat",
    "searchers_within_threads",
    "commits_until_the_end",
    "requests",
    "final_index_identical",
    "driver_record_matches_folder",
)
# A thread's searcher holds about 20 files per segment, and the segments of a generation come
# and go with merges: the open files may move by a few segments' worth without a leak. One
# searcher leaked per commit adds a searcher per commit and about 75 open files here, over
# the dozen commits between the first third and the last.
OPEN_FILES_SLACK = 100
SEARCHERS_SLACK = 2


def test_soak_keeps_open_files_and_searchers_flat_across_commits(tmp_path):
    work = workspace(tmp_path / "soak")
    shutil.copy(SEED_FILE, work.seeds)
    for path in sorted((FIXTURES / "tracking").glob("*.md")):
        shutil.copy(path, work.seeds)
    write_copies(work.seeds, range(3))

    report = run_soak(
        work,
        seconds=75,
        interval=3,
        step=2.2,
        startup_timeout=120,
        settle_timeout=30,
        wait_for_vectors=False,
        ratio=1.0,
        slack=OPEN_FILES_SLACK,
        searchers_slack=SEARCHERS_SLACK,
        pause=0.05,
        say=print,
    )

    print(summary(report))  # shown when the test fails
    generations = {s["generation"] for s in report["samples"] if s["generation"]}
    failed = {
        name: verdict
        for name, verdict in report["verdicts"].items()
        if name in CHECKED and not verdict["passed"]
    }
    assert (failed, report["requests"]["samples"], report["driver"]["errors"]) == ({}, [], [])
    assert report["comparison"]["served_records"] == report["comparison"]["fresh_records"] > 0
    # the run must have committed often enough for a leak per commit to show
    assert len(generations) >= 10
