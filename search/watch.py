"""The live seeds folder: watch the seeds folder and the data files, and update the index once a
burst of changes has settled (one `update_index` for the whole burst, through the writer's lock).

File events come from the operating system through watchfiles (Rust notify: inotify, FSEvents,
ReadDirectoryChangesW); where there are none (network shares, WSL, WATCHFILES_FORCE_POLLING) notify
polls, and the status says so. Temporary names (an editor's `.swp`, a download's `.part`, hidden
files) never start an update; a file being copied does, but only once it has been quiet for
QUIET_SECONDS, so a copy in progress is not indexed half-way (and if it were, its next change
would index it again: updates go by content hash).

No failure ends the watcher: whatever its loop raises (watchfiles on a file name that is not
UTF-8, a bug) is logged and counted, and the loop starts again with a new notifier. A seeds
folder replaced under it (a new folder renamed into place, or deleted and made again) is seen
by its inode or its own deletion event, and watched anew.

The watcher's status (mode, last update, last error, restarts) is written to `watch.json` in
the index folder, so that every server process can report it, whichever process runs the
watcher.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from . import analysis, issuers
from .errors import IndexLocked, SearchError
from .forked import run_forked
from .indexer import UpdateResult, update_index
from .layout import MANIFEST_FILE, current_generation

log = logging.getLogger(__name__)

STATUS_FILE = "watch.json"
# A burst is over when nothing changed for this long: longer than the pause between two writes of
# one file (a copy, a save in two steps), short enough that an update follows within 3 seconds.
QUIET_SECONDS = 1.8
# A folder that never stops changing is still indexed this often.
MAX_DELAY_SECONDS = 30.0
# After a failed update (a full disk), try again this much later even without a new change.
RETRY_SECONDS = 30.0
# How long an update waits for another indexer (a CLI run, POST /api/reindex), and how long
# after that it tries again.
LOCK_WAIT_SECONDS = 5.0
LOCKED_RETRY_SECONDS = 1.0
# After the loop failed (watchfiles on a name that is not UTF-8, say), it starts again this much
# later, twice as late each time it fails again within HEALTHY_SECONDS, up to the maximum.
RESTART_SECONDS = 0.5
MAX_RESTART_SECONDS = 30.0
HEALTHY_SECONDS = 60.0
DELETED = 3  # watchfiles.Change.deleted, as the notifier reports it


TEMPORARY_SUFFIXES = (".swp", ".swo", ".swx", "~", ".tmp", ".temp", ".part", ".crdownload")
TEMPORARY_SUFFIXES += (".download", ".partial", ".bak")

# The update runs in a child process forked for it (forked.run_forked), never in the process
# that runs the watcher: under gunicorn that is the arbiter, which forks workers (a dead one
# replaced) at any moment. A worker forked while this process held the writer's lock would keep
# a copy of its descriptor (an flock lives until every copy is closed) and of the index files
# being written; so forks used to wait for the update in progress, and during a long rebuild a
# dead worker was not replaced and the arbiter handled no signal. Now a fork waits only for
# the watcher's short work in this process (_guard: following a rebuilt generation's dictionary),
# so that no worker starts with the segmenter's locks held by a thread it does not have.
_guard = threading.Lock()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_guard.acquire,
        after_in_parent=_guard.release,
        after_in_child=_guard.release,
    )


def temporary_name(relative: str) -> bool:
    """A name that is never a document: hidden files and folders, editors' and downloads'
    temporary files (`.x.md.swp`, `x.md~`, `x.md.part`, `#x.md#`). "." is the seeds folder
    itself (replaced, or deleted), no hidden file."""
    if relative == ".":
        return False
    parts = relative.split("/")
    if any(part.startswith(".") for part in parts):
        return True
    name = parts[-1]
    return name.endswith(TEMPORARY_SUFFIXES) or name.startswith(("#", "~$"))


def seeds_change_matters(relative: str) -> bool:
    """Whether a change at this path (relative to the seeds folder) can change the index: a
    Markdown file, or a folder (whose files moved with it)."""
    if temporary_name(relative):
        return False
    name = relative.rsplit("/", 1)[-1]
    return name.endswith(".md") or "." not in name


@dataclass
class WatchStatus:
    """What /api/health and `stats` report of the watcher."""

    enabled: bool = False
    mode: str | None = None  # "events" | "polling" | None (not watching)
    pid: int | None = None
    last_update: str | None = None  # ISO time of the last update the watcher made
    last_error: str | None = None  # the last update's failure, None once one succeeds
    updates: int = 0
    restarts: int = 0  # times the loop failed and was started again
    last_restart_error: str | None = None  # what made it restart last (kept after successes)
    # ISO time the update in progress started (None between updates): an update that never
    # ends (a hung child) shows here rather than nowhere
    updating_since: str | None = None

    def to_dict(self) -> dict:
        return {
            "enabled": self.enabled,
            "mode": self.mode,
            "last_update": self.last_update,
            "last_error": self.last_error,
            "updates": self.updates,
            "restarts": self.restarts,
            "last_restart_error": self.last_restart_error,
            "updating_since": self.updating_since,
        }


def read_status(index_root: Path) -> WatchStatus:
    """The status the running watcher wrote, or a blank one (not watching)."""
    try:
        data = json.loads((Path(index_root) / STATUS_FILE).read_text(encoding="utf-8"))
        return WatchStatus(**{k: data.get(k) for k in WatchStatus.__dataclass_fields__})
    except (OSError, ValueError, TypeError):
        return WatchStatus()


def _notifier_failure(exc: Exception) -> bool:
    """Whether watchfiles' notifier raised `exc` (a path it cannot decode, a watch it lost)."""
    return type(exc).__name__ == "WatchfilesRustInternalError"


def _undecodable_name(exc: Exception) -> bool:
    """Whether the notifier failed on a path it cannot decode (a name that is not UTF-8)."""
    return _notifier_failure(exc) and "decode" in str(exc)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _file_hash(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class SeedsWatcher:
    """Watches `seeds` (and the data folders) in a thread and keeps `index_root` up to date.

    `start()` returns at once; `stop()` ends the thread (within half a second, or after the
    update in progress)."""

    def __init__(
        self,
        seeds: Path,
        index_root: Path,
        *,
        quiet: float = QUIET_SECONDS,
        force_polling: bool | None = None,
    ):
        self.seeds = Path(seeds).resolve()
        self.index_root = Path(index_root)
        self.quiet = quiet
        self.force_polling = force_polling
        self.status = WatchStatus(enabled=True, pid=os.getpid())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._dictionary_hash = _file_hash(analysis.data_file(analysis.DICTIONARY_NAME))
        self._issuers_hash = issuers.file_table_hash()
        # changes made while no server ran: one update, after a quiet period like any other;
        # kept across restarts of the loop
        self._pending_seeds, self._pending_rebuild = True, False
        self._healthy = False
        self._answered = False  # whether the current notifier answered once
        # called (in the watcher's thread) after each update: the server's parent process
        # refreshes the index it shares with the workers it forks
        self.after_update: Callable[[], None] | None = None
        # and after an update that rebuilt the index, once that is done and reported: the
        # parent replaces its workers, which would otherwise each load the new dictionary and
        # read the new generation's columns privately (web/server.py)
        self.after_rebuild: Callable[[], None] | None = None

    # -- life cycle

    def start(self) -> SeedsWatcher:
        self._write_status()  # replaces the status a killed server may have left
        self._thread = threading.Thread(target=self._run, name="seeds-watcher", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        with contextlib.suppress(OSError):
            (self.index_root / STATUS_FILE).unlink()

    # -- the loop

    def _watched(self) -> list[Path]:
        return [self.seeds, *analysis.data_dirs()]

    def _notifier(self):
        """watchfiles' Rust notifier over the watched folders, and whether it polls."""
        # watchfiles.watch() is a loop over RustNotify that sleeps in Rust and cannot say whether
        # it polls; we drive RustNotify ourselves (the same calls, watchfiles pinned below 2)
        from watchfiles._rust_notify import RustNotify
        from watchfiles.main import _default_force_polling  # WATCHFILES_FORCE_POLLING, WSL

        force = _default_force_polling(self.force_polling)
        paths = [str(p) for p in self._watched() if p.is_dir()]
        try:
            notifier = RustNotify(paths, False, force, 300, True, True)
        except OSError as exc:  # out of inotify watches, and the like: poll instead
            log.warning("watch: no file events (%s); polling the seeds folder instead", exc)
            notifier = RustNotify(paths, False, True, 300, True, True)
        polling = repr(notifier).startswith("RustNotify(Poll")
        return notifier, polling

    def _run(self) -> None:
        """Watch until stopped. Whatever fails inside (watchfiles on a name that is not UTF-8,
        the seeds folder gone, a bug of ours) is logged, counted and shown in the status, and
        the loop starts again with a new notifier, after a pause that grows while it keeps
        failing; the changes it may have missed are looked for by an update.

        A name the notifier cannot decode, met after it had answered, is a change like any
        other (a file copied from a Windows archive): the pause stays at its shortest, since
        a folder that receives such files often would otherwise go unwatched for minutes."""
        delay = RESTART_SECONDS
        while not self._stop.is_set():
            self._answered = False
            try:
                if self._watch() == "replaced":
                    continue  # a notifier on the new folder at once
                return
            except Exception as exc:  # noqa: BLE001 - the watcher must outlive any failure
                # watchfiles' own failures (a name that is not UTF-8) need no traceback
                log.error(
                    "watch: the watcher failed (%s: %s); starting it again in %.1f s",
                    type(exc).__name__,
                    exc,
                    delay,
                    exc_info=not _notifier_failure(exc),
                )
                self.status.mode = None
                self.status.restarts += 1
                self.status.last_restart_error = f"{type(exc).__name__}: {exc}"
                self.status.last_error = self.status.last_restart_error
                self._write_status()
                self._pending_seeds = True
                if _undecodable_name(exc) and self._answered:
                    self._healthy = True  # an event, not a fault: no longer pause
            if self._stop.wait(delay):
                return
            # a healthy stretch since the last restart starts the pauses over
            delay = RESTART_SECONDS if self._healthy else min(2 * delay, MAX_RESTART_SECONDS)

    def _folder_identity(self) -> tuple[int, int] | None:
        """(st_dev, st_ino) of the seeds folder, None when it is missing: another value than
        the watched folder's means the folder was replaced (inotify stays on the old one)."""
        try:
            folder = os.stat(self.seeds)
        except OSError:
            return None
        return (folder.st_dev, folder.st_ino) if stat.S_ISDIR(folder.st_mode) else None

    def _watch(self) -> str:
        """The loop over one notifier: "stopped", or "replaced" when the seeds folder was
        replaced (a new notifier must watch the new one); raises what it cannot handle."""
        self._healthy = False
        watched = self._folder_identity()  # read first: a swap after it is seen next tick
        notifier, polling = self._notifier()
        self.status.mode = "polling" if polling else "events"
        log.info("watch: watching %s (%s)", self.seeds, self.status.mode)
        self._write_status()
        first_change = last_change = time.monotonic()
        hold_until = 0.0  # after a failed update: not before then
        healthy_since = time.monotonic()
        try:
            while not self._stop.is_set():
                changes = notifier.watch(50, 50, 500, self._stop)
                self._answered = True
                now = time.monotonic()
                if not self._healthy and now - healthy_since >= HEALTHY_SECONDS:
                    self._healthy = True
                if isinstance(changes, set):
                    if (DELETED, str(self.seeds)) in changes:
                        # the folder itself deleted (a new one may reuse its inode number)
                        log.info("watch: %s was deleted or moved away", self.seeds)
                        self._pending_seeds = True
                        return "replaced"
                    seeds_changed, rebuild = self._classify(changes)
                    if seeds_changed or rebuild:
                        if not (self._pending_seeds or self._pending_rebuild):
                            first_change = now
                        last_change = now
                        self._pending_seeds |= seeds_changed
                        self._pending_rebuild |= rebuild
                elif changes == "stop":
                    break
                identity = self._folder_identity()
                if identity != watched and identity is not None:
                    log.info("watch: %s was replaced; watching the new folder", self.seeds)
                    self._pending_seeds = True  # its files: one update, once it settled
                    return "replaced"
                if identity is None:
                    continue  # gone: no update until it is back (an update would fail)
                settled = now - last_change >= self.quiet
                if (
                    (self._pending_seeds or self._pending_rebuild)
                    and (settled or now - first_change >= MAX_DELAY_SECONDS)
                    and now >= hold_until
                ):
                    outcome = self._update(rebuild=self._pending_rebuild)
                    if outcome == "done":
                        self._pending_seeds = self._pending_rebuild = False
                    else:  # locked: retry soon; failed (a full disk): retry later
                        delay = LOCKED_RETRY_SECONDS if outcome == "locked" else RETRY_SECONDS
                        hold_until = time.monotonic() + delay
        finally:
            notifier.close()
        return "stopped"

    def _classify(self, changes: set[tuple[int, str]]) -> tuple[bool, bool]:
        """(whether the seeds changed, whether the index must be rebuilt) in a set of file
        events: rebuilt for an edited dictionary (words cut anew) or issuers table (records
        carry the canonical issuer of the table they were indexed with)."""
        seeds_changed = rebuild = False
        for _, raw in changes:
            path = Path(raw)
            if path.is_relative_to(self.seeds):
                relative = path.relative_to(self.seeds).as_posix()
                if seeds_change_matters(relative):
                    seeds_changed = True
                continue
            if path.name == analysis.DICTIONARY_NAME:
                digest = _file_hash(analysis.data_file(analysis.DICTIONARY_NAME))
                if digest is not None and digest != self._dictionary_hash:
                    log.info("watch: the dictionary changed; rebuilding the index")
                    self._dictionary_hash = digest
                    rebuild = True
            elif path.name == issuers.ISSUERS_NAME:
                digest = issuers.file_table_hash()  # None: unreadable, the table in use kept
                if digest is not None and digest != self._issuers_hash:
                    log.info("watch: the issuers table changed; rebuilding the index")
                    self._issuers_hash = digest
                    rebuild = True
            elif path.name in analysis.DATA_NAMES:
                log.info("watch: %s changed (searches use it at once)", path.name)
        return seeds_changed, rebuild

    def _update(self, rebuild: bool) -> str:
        """One update: "done", "locked" (another indexer held the lock) or "failed"."""
        started = time.monotonic()
        self.status.updating_since = _now()
        self._write_status()
        try:
            # the words are searchable at once; the sentence vectors follow from a pass in the
            # background (one for the whole burst)
            result = run_forked(
                lambda: update_index(
                    self.seeds,
                    self.index_root,
                    rebuild=rebuild,
                    wait=LOCK_WAIT_SECONDS,
                    vectors="background",
                )
            )
        except IndexLocked as exc:
            log.info("watch: %s; retrying", exc)
            return "locked"
        except SearchError as exc:  # a full disk, an unwritable folder: the last index serves on
            log.error("watch: update failed: %s", exc)
            self.status.last_error = str(exc)
            return "failed"
        finally:
            self._updated()  # however it ended
        if result.rebuilt:
            # the child loaded the dictionary it rebuilt with; workers forked from here later
            # start with it too (those running follow it themselves, on their next request)
            with _guard:
                follow_data_files(self.index_root, force=True)
        if self.after_update is not None:
            try:
                with _guard:  # no fork while it holds a reader's locks
                    self.after_update()
            except Exception as exc:  # noqa: BLE001 - the index is updated all the same
                log.warning("watch: after the update: %s: %s", type(exc).__name__, exc)
        self._report(result, time.monotonic() - started)
        if result.rebuilt and self.after_rebuild is not None:
            try:
                self.after_rebuild()  # not under _guard: it waits for workers to be forked
            except Exception as exc:  # noqa: BLE001 - the index is updated all the same
                log.warning("watch: after the rebuild: %s: %s", type(exc).__name__, exc)
        return "done"

    def _updated(self) -> None:
        """The update in progress ended (however)."""
        self.status.updating_since = None
        self._write_status()

    def _report(self, result: UpdateResult, seconds: float) -> None:
        files_changed = len(result.added) + len(result.changed) + len(result.removed)
        if files_changed or result.rebuilt:
            log.info(
                "watch: update %s: %d added, %d changed, %d removed files; %d records; %.2f s",
                result.generation,
                len(result.added),
                len(result.changed),
                len(result.removed),
                result.records,
                seconds,
            )
            self.status.last_update = _now()
            self.status.updates += 1
        for file in result.report.files:
            if file.error or file.warnings:
                codes = ", ".join(sorted({w.code for w in file.warnings}))
                log.warning("watch: %s: %s", file.path, file.error or codes)
        self.status.last_error = None
        self._write_status()

    def _write_status(self) -> None:
        path = self.index_root / STATUS_FILE
        try:
            self.index_root.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f"{STATUS_FILE}.{os.getpid()}.tmp")
            temporary.write_text(json.dumps(asdict(self.status)), encoding="utf-8")
            os.replace(temporary, path)
        except OSError as exc:  # a full disk: the status stays in memory (and in the log)
            log.warning("watch: cannot write %s: %s", path, exc)


# -- every server process: follow the data files and the dictionary of the current generation

_followed: dict[str, object] = {"generation": None}


def follow_data_files(index_root: Path, force: bool = False) -> None:
    """Reload edited synonyms, stop words and issuers at once, and the dictionary once a
    generation built with it is current (at most one look a second unless `force`; a few stat
    calls)."""
    if analysis.refresh_data(force) is None:
        return  # looked less than a second ago
    generation = current_generation(Path(index_root))
    # the whole path: a process (a test run) may follow more than one index folder
    if generation is None or str(generation) == _followed["generation"]:
        return
    _followed["generation"] = str(generation)
    try:
        with open(generation / MANIFEST_FILE, encoding="utf-8") as handle:
            built_with = json.load(handle).get("dictionary")
    except (OSError, ValueError, AttributeError):
        return
    # only the dictionary that built it: a later edit waits for its own rebuild
    if (
        built_with
        and built_with != analysis.loaded_dictionary_hash()
        and built_with == analysis.dictionary_file_hash()
    ):
        analysis.reload_segmenter()
        log.info("the dictionary of generation %s is loaded", generation.name)
