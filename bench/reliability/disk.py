"""A full disk: the indexer on a small tmpfs (or under a file-size limit) must fail cleanly and
leave the served index as it was."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import time
from pathlib import Path

from bench.reliability.kills import ExpectedIds, exact_index_problems
from bench.reliability.workload import BROWSE, get, run_indexer, serve, write_copies


def _limit_file_size(limit: int):
    def apply() -> None:
        # writes past the limit fail with EFBIG instead of killing the process with SIGXFSZ
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def directory_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def mount_tmpfs(path: Path, size: int) -> bool:
    """Mount a tmpfs of `size` bytes at `path`; False where that is not allowed."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        timeout=30,
    )
    return done.returncode == 0


def resize_tmpfs(path: Path, size: int) -> None:
    subprocess.run(
        ["mount", "-o", f"remount,size={size}", str(path)], check=True, capture_output=True
    )


def unmount(path: Path, attempts: int = 20) -> None:
    """Unmount the tmpfs at `path`. A process that outlives the check (the vector pass a build
    spawns) may still hold a file there: try again for a while, then detach it lazily (it goes
    once its last file is closed) rather than leave it mounted under a temporary folder."""
    for _ in range(attempts):
        if subprocess.run(["umount", str(path)], capture_output=True, timeout=30).returncode == 0:
            return
        time.sleep(0.25)
    subprocess.run(["umount", "--lazy", str(path)], capture_output=True, timeout=30)


def full_disk_check(
    seeds: Path, index: Path, rebuild: bool, popen: dict, port: int | None = None
) -> dict:
    """Run the indexer where it cannot write; it must fail cleanly (exit 1, a message naming the
    disk, no traceback, no half-built generation left) while the old index still answers."""
    from search.query import SearchIndex
    from search.request import SearchRequest

    with SearchIndex(index) as before_engine:
        before = before_engine.search(SearchRequest())
        failed = run_indexer(seeds, index, rebuild=rebuild, **popen)
        still = before_engine.search(SearchRequest())
    served = None
    if port is not None:
        status, _, body = get(port, BROWSE)
        served = json.loads(body)["total"] if status == 200 else status
    return {
        "rebuild": rebuild,
        "returncode": failed.returncode,
        "message": failed.stderr.strip(),
        "traceback": "Traceback" in failed.stderr,
        "records_before": before["total"],
        "records_served_after_failure": still["total"],
        "generation_after_failure": still["generation"],
        "generation_before": before["generation"],
        "server_served": served,
        "leftover_builds": sorted(p.name for p in index.glob("gen-*.tmp")),
    }


def run_full_disk(workdir: Path, files: int = 60) -> dict:
    """A rebuild and an update on a full disk: a small tmpfs where we may mount one, and a file
    size limit (RLIMIT_FSIZE) everywhere. Then the space comes back and the next run completes."""
    results = {}
    seeds, index = workdir / "seeds", workdir / "index"
    write_copies(seeds, range(files))
    if run_indexer(seeds, index).returncode != 0:
        raise RuntimeError("the first build failed")
    size = directory_size(index)
    with serve(seeds, index) as port:
        # file size limit: any index file bigger than a quarter of a generation cannot be written
        limit = _limit_file_size(max(size // 4, 4096))
        write_copies(seeds, range(files, files + 20))
        results["rlimit update"] = full_disk_check(seeds, index, False, {"preexec_fn": limit}, port)
        results["rlimit rebuild"] = full_disk_check(seeds, index, True, {"preexec_fn": limit}, port)
        after = run_indexer(seeds, index)
        results["rlimit next run"] = {
            "returncode": after.returncode,
            "summary": after.stdout.strip(),
            "problems": exact_index_problems(index, ExpectedIds(seeds)()),
        }
    # a real full disk: the index on a tmpfs with room for one generation and a half
    disk = workdir / "disk"
    if mount_tmpfs(disk, size * 3):
        try:
            moved = disk / "index"
            shutil.copytree(index, moved)
            used = directory_size(moved)
            resize_tmpfs(disk, used + used // 2)
            write_copies(seeds, range(files + 20, files + 40))
            results["tmpfs rebuild"] = full_disk_check(seeds, moved, True, {})
            resize_tmpfs(disk, used * 4)
            after = run_indexer(seeds, moved, rebuild=True)
            results["tmpfs next run"] = {
                "returncode": after.returncode,
                "summary": after.stdout.strip(),
                "problems": exact_index_problems(moved, ExpectedIds(seeds)()),
            }
        finally:
            unmount(disk)
    else:
        results["tmpfs"] = "mount refused here: only the file size limit was tried"
    return results
