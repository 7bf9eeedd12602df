"""The index folder's layout, which the writer (indexer.py) and the readers share: generation
folders, the `CURRENT` pointer, the lock file's name and each generation's manifest.

`gen-NNNNNN/` holds one whole Whoosh index and its manifest (`manifest.json`: each seeds file's
hash, record count and ingest warnings); the file `CURRENT` names the generation readers use.
The writer removes the generations readers no longer use (remove_old_generations).
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

from whoosh import index as whoosh_index

from ._whoosh import has_commit
from .errors import IndexMissing, IndexOutdated, SearchError
from .records import FileReport, IngestReport, IngestWarning

CURRENT_FILE = "CURRENT"
LOCK_FILE = ".lock"
MANIFEST_FILE = "manifest.json"
# 2: the character-pair field and sentence vectors. 3: separate segment files, numbers as plain
# columns, one compressed stored record, vectors kept beside the index (vectorstore.py). An index
# of another version is rebuilt. 4: canonical issuers, 公文种类 and 时效性 fields, the dictionary's
# hash. 5: character pairs as arrays beside each segment (pairs.py), not a Whoosh field. 6: the
# 施行 and expiry days stored, 时效性 stored without the calendar's part (validity.py); compilation
# entries' ids from their node's date and their title, not their position.
MANIFEST_VERSION = 6
GENERATION_PREFIX = "gen-"
# How long the generation a rebuild replaced is kept (remove_old_generations): a minute or two
# covers a reader between reading `CURRENT` and opening the generation it names.
SUPERSEDED_GRACE_SECONDS = 120.0


def generation_number(name: str) -> int | None:
    """The number of a generation folder's name (`gen-000012` -> 12), None for other names."""
    if name.startswith(GENERATION_PREFIX) and name[len(GENERATION_PREFIX) :].isdigit():
        return int(name[len(GENERATION_PREFIX) :])
    return None


def generation_name(number: int) -> str:
    return f"{GENERATION_PREFIX}{number:06d}"


def generation_label(generation: Path, commit: int) -> str:
    """`<generation number>.<Whoosh commit number>`: changes with every commit readers can see."""
    return f"{generation_number(generation.name)}.{commit}"


def current_generation(index_root: Path) -> Path | None:
    """The folder of the generation readers should use, or None when there is no index yet."""
    try:
        name = (index_root / CURRENT_FILE).read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    path = index_root / name
    if generation_number(name) is None or not has_commit(path):
        return None
    return path


def open_index(index_root: Path) -> tuple[whoosh_index.Index, Path]:
    """Open the current generation for reading."""
    path = current_generation(index_root)
    if path is None:
        raise IndexMissing(
            f"no index at {index_root}: build it with `policy-search index` "
            "(it reads the seeds folder)"
        )
    check_format(path)
    return whoosh_index.open_dir(str(path)), path


_VERSION_PREFIX = re.compile(rb'^\{"version": (\d+)[,}]')


def index_format(generation: Path) -> int | None:
    """The index format a generation was written in, from the start of its manifest (written
    first, so the whole manifest, megabytes at 78k records, is not read); None if unreadable."""
    try:
        with open(generation / MANIFEST_FILE, "rb") as handle:
            found = _VERSION_PREFIX.match(handle.read(64))
    except OSError:
        return None
    return int(found.group(1)) if found else None


def check_format(generation: Path) -> None:
    """Raise IndexOutdated when the generation is of another index format than this version's:
    its Whoosh schema may not even load. `policy-search index` (or `serve`) rebuilds it."""
    found = index_format(generation)
    if found is not None and found != MANIFEST_VERSION:
        raise IndexOutdated(
            f"the index at {generation.parent} was written by another version of policy-search "
            f"(index format {found}; this version reads {MANIFEST_VERSION}): run "
            "`policy-search index` to rebuild it"
        )


def read_manifest(generation: Path) -> dict:
    """The manifest of a generation; raises SearchError when it is missing or corrupt."""
    path = generation / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SearchError(f"the index manifest {path} is missing") from None
    except (OSError, ValueError) as exc:
        raise SearchError(f"the index manifest {path} is corrupt ({exc})") from None
    if isinstance(manifest, dict) and manifest.get("version") != MANIFEST_VERSION:
        raise SearchError(
            f"the index manifest {path} is from another version of policy-search (index format "
            f"{manifest.get('version')!r}; this version writes {MANIFEST_VERSION})"
        )
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise SearchError(f"the index manifest {path} is corrupt (unexpected content)")
    for relative, entry in manifest["files"].items():
        if not _valid_entry(entry):
            raise SearchError(f"the index manifest {path} is corrupt (bad entry for {relative!r})")
    return manifest


def _valid_entry(entry: object) -> bool:
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("sha256"), str)
        and isinstance(entry.get("records"), int)
        and isinstance(entry.get("error"), str | None)
        and isinstance(entry.get("warnings"), list)
        and all(isinstance(w, list) and len(w) == 3 for w in entry["warnings"])
    )


def manifest_entry(sha256: str, report: FileReport) -> dict:
    """What the manifest keeps of one file read: its hash and its ingest report."""
    return {
        "sha256": sha256,
        "records": report.records,
        "error": report.error,
        "warnings": [[w.code, w.message, w.line] for w in report.warnings],
    }


def manifest_report(manifest: dict) -> IngestReport:
    """The ingest report of every file in the index, as recorded when each was last read."""
    files = []
    for path, entry in sorted(manifest["files"].items()):
        warnings = [IngestWarning(code, message, line) for code, message, line in entry["warnings"]]
        files.append(FileReport(path, entry["records"], warnings, entry["error"]))
    return IngestReport(files)


def remove_abandoned_builds(index_root: Path) -> None:
    """Folders of rebuilds that died before their swap: never referenced, safe to drop."""
    for path in index_root.glob(GENERATION_PREFIX + "*.tmp"):
        shutil.rmtree(path, ignore_errors=True)


def remove_old_generations(index_root: Path) -> None:
    """Keep the current generation, and the one before it until it has been superseded for
    SUPERSEDED_GRACE_SECONDS (since `CURRENT` was last written: the swap): a reader that found
    it current just before the swap may still be opening it. Readers that opened it hold its
    files open (searchers open what they read when they open, reader.py), and on POSIX a file
    removed under them stays readable; so it goes at the first update or rebuild after the
    grace, rather than taking the disk of a whole generation until the next rebuild."""
    current = current_generation(index_root)
    if current is None:
        return
    keep = generation_number(current.name)
    try:
        superseded_for = time.time() - (index_root / CURRENT_FILE).stat().st_mtime
    except OSError:
        superseded_for = 0.0
    for path in index_root.iterdir():
        number = generation_number(path.name)
        if number is None or number >= keep or not path.is_dir():
            continue
        if number == keep - 1 and superseded_for < SUPERSEDED_GRACE_SECONDS:
            continue
        shutil.rmtree(path, ignore_errors=True)
