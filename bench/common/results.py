"""The results file a long benchmark keeps beside its report: saved after each size, so a run that
stops keeps what it measured, and finished with the load average and the seconds it took."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path


def save_results(results: dict, out: Path) -> None:
    """Write `results` to <out>/results.json."""
    (out / "results.json").write_text(
        json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8"
    )


def finish_results(results: dict, out: Path, started: float) -> None:
    """The load average at the end and the seconds since `started` (perf_counter), then save."""
    results["load"]["end"] = list(os.getloadavg())
    results["seconds"] = time.perf_counter() - started
    save_results(results, out)
