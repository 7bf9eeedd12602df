"""The writer: builds and updates the Whoosh index from the seeds folder.

An incremental update writes into the current generation (each Whoosh commit is atomic) and then
its manifest; a rebuild writes a new generation beside it and swaps `CURRENT` in one rename, so no
reader ever sees a half-built index (the folder's layout: layout.py). One writer at a time holds
`.lock` (an flock: the kernel releases it when a writer dies).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import gc
import json
import os
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from whoosh import index as whoosh_index

from . import (
    analysis,
    docmeta,
    issuers,
    pairs,
    segments,
    supersede,
    validity,
    vectorpass,
    vectors,
)
from .documents import read_file, scan_folder
from .errors import IndexLocked, IndexWriteFailed, SearchError, StorageFull
from .layout import (
    CURRENT_FILE,
    LOCK_FILE,
    MANIFEST_FILE,
    MANIFEST_VERSION,
    current_generation,
    generation_label,
    generation_name,
    generation_number,
    manifest_entry,
    read_manifest,
    remove_abandoned_builds,
    remove_old_generations,
)
from .records import IngestReport, Record, pack
from .schema import CONFIDENCE_SCALE, MISSING_CONFIDENCE, PolicySchema
from .vectorstore import spawn_pass, text_key

# A full build commits a segment every this many bytes of Markdown (_batches).
SEGMENT_BYTES = 24 * 1024 * 1024
VECTOR_MODES = ("background", "now", "skip")

Progress = Callable[[int, int, str], None]


@dataclass
class UpdateResult:
    """What one `index` run did."""

    generation: str
    rebuilt: bool
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    records: int = 0  # records in the index afterwards
    report: IngestReport = field(default_factory=IngestReport)  # of the files read this run
    notices: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def files_read(self) -> int:
        return len(self.added) + len(self.changed)

    def summary(self) -> str:
        lines = [
            f"generation {self.generation} ({'rebuilt' if self.rebuilt else 'updated'}): "
            f"{len(self.added)} added, {len(self.changed)} changed, {len(self.removed)} removed, "
            f"{self.unchanged} unchanged files; {self.records} records in the index; "
            f"{self.seconds:.2f} s"
        ]
        lines += [f"notice: {n}" for n in self.notices]
        if self.report.files:
            lines.append(self.report.summary())
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Files written whole


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------
# Lock


@contextlib.contextmanager
def writer_lock(index_root: Path, wait: float = 0.0) -> Iterator[None]:
    """Hold the one-writer lock; wait up to `wait` seconds for another writer, then fail clearly.

    flock is released by the kernel when its holder dies, so a lock left by a killed indexer never
    blocks the next one; the file itself stays and is reused.
    """
    index_root.mkdir(parents=True, exist_ok=True)
    fd = os.open(index_root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
                    raise IndexLocked(
                        f"another indexer (pid {holder}) is updating {index_root}; "
                        "wait for it to finish, or pass --wait SECONDS to wait for it"
                    ) from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
        yield
    finally:
        os.close(fd)  # closing releases the flock


# ---------------------------------------------------------------------------------------------
# Records to Whoosh documents


def date_ordinal(iso: str | None) -> int:
    """The ordinal of an ISO date, or of the first day of an ISO year or month; 0 for none."""
    if not iso:
        return 0
    parts = [int(p) for p in iso.split("-")] + [1, 1]
    return date(parts[0], parts[1], parts[2]).toordinal()


def record_document(record: Record, superseded: str | None = None) -> dict:
    """The Whoosh fields of one record (normalised first: docmeta.enriched; `superseded`: the
    status another document gives it, supersede.py)."""
    record = docmeta.enriched(record, superseded=superseded)
    meta = [
        record.issuer,
        record.issuer_canonical,
        record.place,
        record.scale,
        record.node_type,
        record.doc_number,
    ]
    meta += list(record.extra.values())
    document = {
        "id": record.id,
        "source_file": record.source_file,
        "kind": record.kind,
        "title": record.title or "",
        "title_exact": record.title or "",
        "content": record.content or "",
        "meta": "\n".join(m for m in meta if m),
        "issuer": record.issuer_canonical or "",
        "doc_type": record.doc_type or "",
        "status": record.status or "",
        "node_type": record.node_type or "",
        "region": record.region or "",
        "sector": record.sector or "",
        "date": date_ordinal(record.date),
        "year": record.year or 0,
        "confidence": (
            MISSING_CONFIDENCE
            if record.confidence is None
            else round(record.confidence * CONFIDENCE_SCALE)
        ),
        pairs.SIDE.key: pairs.text_of(record.title, record.content),
        "vkey": text_key(vectors.record_text(record.title or "", record.content or "")),
        "record": pack(record),
    }
    if record.year:
        document["year_word"] = str(record.year)
    # the calendar reads a 现行有效 document's status from these (validity.py)
    for column, day in (("effective", record.dates.effective), ("expires", record.dates.expires)):
        if day := validity.full_day(day):
            document[f"{column}_day"] = day
            document[column] = date_ordinal(day)
    return document


# ---------------------------------------------------------------------------------------------
# Manifest


def check_manifest(generation: Path, manifest: dict) -> None:
    """Raise SearchError unless the manifest describes the index beside it, file by file: an
    update trusting a manifest that does not would skip files whose records are not there."""
    ix = whoosh_index.open_dir(str(generation))
    try:
        with ix.reader() as reader:
            listed = {relative: entry["records"] for relative, entry in manifest["files"].items()}
            indexed = reader.doc_count()
            for relative, records in listed.items():
                found = (
                    sum(1 for _ in reader.postings("source_file", relative).all_ids())
                    if ("source_file", relative) in reader
                    else 0
                )
                if found != records:
                    break
            else:
                if indexed == sum(listed.values()):
                    return
    finally:
        ix.close()
    raise SearchError(
        f"the index manifest {generation / MANIFEST_FILE} does not match the index "
        f"({sum(listed.values())} records listed for {len(listed)} files, {indexed} indexed)"
    )


def _check_dictionary(manifest: dict) -> None:
    """Raise SearchError when the index was built with another dictionary than the one loaded:
    its words were cut differently, so adding to it would mix two segmentations."""
    recorded = manifest.get("dictionary")  # absent: built before the hash was recorded
    if recorded is not None and recorded != analysis.loaded_dictionary_hash():
        raise SearchError(f"the dictionary {analysis.data_file('dictionary.txt')} changed")


def _check_issuers(manifest: dict) -> None:
    """Raise SearchError when the index was built with another issuers table than the one
    loaded: its records carry the canonical names of that table (docmeta), so an alias added
    since would leave the facet showing two names for one body until a rebuild. An index that
    recorded none (built before the hash was recorded) is rebuilt once."""
    if manifest.get("issuers") != issuers.table_hash():
        raise SearchError(f"the issuers table {analysis.data_file(issuers.ISSUERS_NAME)} changed")


# ---------------------------------------------------------------------------------------------
# Update


def update_index(
    seeds: Path,
    index_root: Path,
    *,
    rebuild: bool = False,
    wait: float = 0.0,
    progress: Progress | None = None,
    vectors: str = "now",
) -> UpdateResult:
    """Bring the index in line with the seeds folder: incrementally, or from scratch with `rebuild`.

    The words are searchable when this returns. The sentence vectors of new records are
    computed then too (`vectors="now"`, after any pass running in the background), or by a pass in a process of its own that outlives this
    call (`"background"`: questions are ranked without meaning until it is done), or not
    (`"skip"`).

    An incremental run reads only the files that were added or changed since the last run (by
    content hash) and removes the records of deleted files. A missing or corrupt manifest, one
    that does not match the index, or no index at all, leads to a full build. A file system error
    (a full disk) raises SearchError and leaves the last complete index in place.
    """
    if not seeds.is_dir():
        raise SearchError(f"the seeds folder {seeds} does not exist or is not a folder")
    if vectors not in VECTOR_MODES:
        raise ValueError(f"vectors must be one of {VECTOR_MODES}, not {vectors!r}")
    started = time.monotonic()
    try:
        # index with the dictionary on disk, edited or not; in this thread only: the searches a
        # serving process answers meanwhile keep the dictionary of the generation they search
        with writer_lock(index_root, wait), analysis.dictionary_on_disk():
            # and with the issuers table on disk: the watcher's process may serve no request
            # that would have looked at the data files
            analysis.refresh_data(force=True)
            remove_abandoned_builds(index_root)
            try:
                generation = current_generation(index_root)
                notices = []
                manifest = None
                if generation is not None and not rebuild:
                    try:
                        manifest = read_manifest(generation)
                        check_manifest(generation, manifest)
                        _check_dictionary(manifest)
                        _check_issuers(manifest)
                    except SearchError as exc:
                        manifest = None
                        notices.append(f"{exc}; rebuilding the whole index")
                if manifest is None:
                    result = _build(seeds, index_root, progress)
                else:
                    result = _update(seeds, generation, manifest, progress)
                result.notices[:0] = notices
                _mark_superseded(index_root, result)
                remove_old_generations(index_root)
            except OSError:
                remove_abandoned_builds(index_root)  # a half-built generation: never swapped in
                raise
    except OSError as exc:
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
        failure = (StorageFull if full else IndexWriteFailed)(_write_failure(index_root, exc))
    else:
        failure = None
    if failure is not None:
        _close_abandoned_files()
        raise failure from None
    if vectors == "now":
        # wait for a pass running in the background rather than return without the vectors
        vectorpass.run(index_root, wait=True)
    elif vectors == "background":
        spawn_pass(index_root)
    result.seconds = time.monotonic() - started
    return result


def _close_abandoned_files() -> None:
    """Close the files a failed Whoosh commit left open. A commit that merges segments opens
    their files and, when the disk fills mid-way, drops them without closing them; they are
    garbage once the failure's traceback is gone, and collected here rather than by a later
    collection (in a server: at any moment) that would warn about each one."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def _mark_superseded(index_root: Path, result: UpdateResult) -> None:
    """Statuses one document gives another (废止, 修改): after the update, one more commit."""
    generation = current_generation(index_root)
    if generation is not None and supersede.mark_superseded(generation, record_document):
        ix = whoosh_index.open_dir(str(generation))
        try:
            result.generation = generation_label(generation, ix.latest_generation())
        finally:
            ix.close()


def _write_failure(index_root: Path, exc: OSError) -> str:
    """The message of an update that failed on the file system (a full disk, above all)."""
    what = exc.strerror or str(exc)
    if exc.filename:
        what += f": {exc.filename}"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = "the disk is full: free some space"
    elif exc.errno == errno.EFBIG:
        fix = "an index file reached the file size limit: raise the limit (ulimit -f)"
    else:
        fix = "fix that"
    return (
        f"could not update the index at {index_root} ({what}). Searches keep using the last "
        f"complete index; {fix}, then run `policy-search index` again"
    )


def _read(
    seeds: Path,
    files: dict[str, tuple[Path, str]],
    names,
    progress,
    report,
    writer,
    manifest,
    before: int = 0,
    total: int | None = None,
):
    total = len(names) if total is None else total
    for done, relative in enumerate(names, before + 1):
        path, sha256, state = files[relative]
        records, file_report = read_file(path, seeds, name=relative)
        report.files.append(file_report)
        for record in records:
            writer.add_document(**record_document(record))
        manifest["files"][relative] = _with_state(manifest_entry(sha256, file_report), state)
        if progress:
            progress(done, total, relative)


def _with_state(entry: dict, state: list[int] | None) -> dict:
    """A manifest entry with the file state documents.scan_folder compares (none: hashed again next time)."""
    if state is None:
        entry.pop("state", None)
    else:
        entry["state"] = state
    return entry


def _batches(names: list[str], files: dict[str, tuple[Path, str]]) -> Iterator[list[str]]:
    """`names` in runs of about SEGMENT_BYTES of Markdown: a full build writes one segment a run,
    so the postings a writer pools in memory stay bounded however large the seeds folder."""
    batch: list[str] = []
    size = 0
    for relative in names:
        batch.append(relative)
        size += files[relative][0].lstat().st_size  # a dangling link: no error, its own size
        if size >= SEGMENT_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _build(seeds: Path, index_root: Path, progress: Progress | None) -> UpdateResult:
    numbers = [n for p in index_root.iterdir() if (n := generation_number(p.name)) is not None]
    name = generation_name(max(numbers, default=0) + 1)
    building = index_root / (name + ".tmp")
    building.mkdir()
    files = scan_folder(seeds)
    manifest = {
        "version": MANIFEST_VERSION,
        "dictionary": analysis.loaded_dictionary_hash(),
        "issuers": issuers.table_hash(),
        "files": {},
    }
    report = IngestReport()
    ix = whoosh_index.create_in(str(building), PolicySchema())
    names = sorted(files)
    done = 0
    for batch in _batches(names, files):
        with segments.writer(ix, merge=False) as writer:
            _read(seeds, files, batch, progress, report, writer, manifest, done, len(names))
        done += len(batch)
    records = ix.doc_count()
    commit = ix.latest_generation()
    ix.close()
    _write_atomically(building / MANIFEST_FILE, json.dumps(manifest, ensure_ascii=False))
    final = index_root / name
    os.rename(building, final)
    _fsync_dir(index_root)
    _write_atomically(index_root / CURRENT_FILE, name + "\n")
    return UpdateResult(
        generation=generation_label(final, commit),
        rebuilt=True,
        added=sorted(files),
        records=records,
        report=report,
    )


def _update(
    seeds: Path, generation: Path, manifest: dict, progress: Progress | None
) -> UpdateResult:
    known = manifest["files"]
    files = scan_folder(seeds, known)
    added = sorted(set(files) - set(known))
    removed = sorted(set(known) - set(files))
    changed = sorted(r for r in set(files) & set(known) if files[r][1] != known[r]["sha256"])
    # touched, not changed: the new state spares the next scan opening them
    touched = [
        relative
        for relative in set(files) & set(known)
        if relative not in changed and known[relative].get("state") != files[relative][2]
    ]
    for relative in touched:
        _with_state(known[relative], files[relative][2])
    report = IngestReport()
    ix = whoosh_index.open_dir(str(generation))
    try:
        if added or removed or changed:
            with segments.writer(ix) as writer:
                # delete-then-add by file keeps a rerun idempotent if we die before the manifest
                for relative in removed + changed + added:
                    writer.delete_by_term("source_file", relative)
                for relative in removed:
                    del known[relative]
                _read(seeds, files, changed + added, progress, report, writer, manifest)
        if added or removed or changed or touched:
            _write_atomically(generation / MANIFEST_FILE, json.dumps(manifest, ensure_ascii=False))
        records = ix.doc_count()
        label = generation_label(generation, ix.latest_generation())
    finally:
        ix.close()
    return UpdateResult(
        generation=label,
        rebuilt=False,
        added=added,
        changed=changed,
        removed=removed,
        unchanged=len(files) - len(added) - len(changed),
        records=records,
        report=report,
    )
