"""Reliability runs against a real `policy-search serve` on 127.0.0.1: load while the index is
updated and then rebuilt, SIGKILLs of the indexer at random points, and a full disk.

This module is its command line (`python -m bench.reliability`): every run, one JSON report."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

from bench.common.machine import machine_at_start
from bench.reliability.disk import run_full_disk
from bench.reliability.fuzz import run_fuzz
from bench.reliability.kills import run_kills
from bench.reliability.under_load import run_load


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        prog="python -m bench.reliability", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--clients", type=int, default=16, help="concurrent load clients")
    parser.add_argument("--files", type=int, default=400, help="files before the update")
    parser.add_argument("--added", type=int, default=200, help="files the update adds")
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs of the indexer")
    parser.add_argument("--kill-files", type=int, default=150, help="files of the kill run")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the kill delays")
    parser.add_argument("--examples", type=int, default=300, help="fuzz cases per operation")
    parser.add_argument("--out", type=Path, help="write the JSON report here too")
    parser.add_argument("--workdir", type=Path, help="keep the work files here")
    args = parser.parse_args(argv)
    report: dict = {"machine": machine_at_start()}
    with contextlib.ExitStack() as stack:
        if args.workdir:
            base = args.workdir
            base.mkdir(parents=True, exist_ok=True)
        else:
            base = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="reliability-")))
        started = time.monotonic()
        print(f"load: {args.clients} clients, {args.duration:g} s ...", file=sys.stderr)
        report["load"] = run_load(
            base / "load",
            clients=args.clients,
            duration=args.duration,
            initial_files=args.files,
            added_files=args.added,
        )
        print(f"kills: {args.kills} ...", file=sys.stderr)
        kills = run_kills(base / "kills", kills=args.kills, files=args.kill_files, seed=args.seed)
        report["kills"] = kills
        print("full disk ...", file=sys.stderr)
        report["full_disk"] = run_full_disk(base / "disk")
        print(f"fuzz: {args.examples} examples per operation and mode ...", file=sys.stderr)
        report["fuzz"] = run_fuzz(base / "fuzz", examples=args.examples)
        report["seconds"] = round(time.monotonic() - started, 1)
    text = json.dumps(report, ensure_ascii=False, indent=2)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return report
