"""Ingest: turns Markdown files into records. It finds the seeds folder's files (under names
JSON can hold, never through a link out of the folder, each with its hash), reads and decodes a
file, tells its format and hands it to the parser of that format: key-node compilations
(compilation.py) or single policy documents (policy_document.py), both over the labelled lines
of labelled_lines.py.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import time
from collections.abc import Iterable
from pathlib import Path

from .compilation import Compilation, is_compilation
from .labelled_lines import MARKDOWN, top_blocks
from .policy_document import parse_document
from .records import FileReport, IngestReport, IngestWarning, Record

# More than this share of NUL, control or undecodable characters means the file is not text.
_BINARY_RATIO = 0.1
_BINARY_CHARS = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f\ufffd]")
# Characters left in otherwise good text would garble JSON, HTML and the index, and XML forbids
# them (an Atom feed holding one is no feed): control characters, the non-characters U+FFFE and
# U+FFFF, and lone surrogates. A form feed (a page break in text taken from a PDF) becomes a
# line break instead.
_CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f\ufffe\uffff\ud800-\udfff]")
_FORM_FEED = "\x0c"


def find_markdown_files(root: Path) -> list[Path]:
    """Every *.md file under root, sorted, skipping `_index.md` files and hidden folders. Links
    to folders are not walked (os.walk); links to files are listed, and read_file refuses those
    that lead out of root."""
    found = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        found += [
            Path(folder) / name
            for name in names
            if name.endswith(".md") and name != "_index.md" and not name.startswith(".")
        ]
    return sorted(found, key=lambda path: path.relative_to(root).as_posix())


def readable_name(relative: str) -> str:
    """A relative path as valid Unicode. A name that is not UTF-8 (GBK, from an archive made on
    Windows) reaches us with its bytes as surrogate escapes, which JSON, HTML, CSV and the index
    cannot hold: each such part of the path is read as GB18030, or shows its bytes as \\xNN when
    it is not GB18030 either."""
    if relative.isascii() or not _has_surrogates(relative):
        return relative
    parts = []
    for part in relative.split("/"):
        if _has_surrogates(part):
            raw = os.fsencode(part)
            try:
                part = raw.decode("gb18030")
            except UnicodeDecodeError:
                part = escaped_name(part)
        parts.append(part)
    return "/".join(parts)


def escaped_name(relative: str) -> str:
    """A relative path with its bytes that are not UTF-8 shown as \\xNN (valid Unicode)."""
    return os.fsencode(relative).decode("utf-8", "backslashreplace")


def _has_surrogates(text: str) -> bool:
    return any("\udc80" <= character <= "\udcff" for character in text)


def markdown_names(root: Path) -> dict[str, Path]:
    """Every Markdown file under root (find_markdown_files) by its readable relative path, the
    name its records and reports carry. A name that is not UTF-8 and reads like another file's
    (the same name saved once as UTF-8, once as GBK) keeps its bytes escaped, so neither is lost."""
    paths = {path.relative_to(root).as_posix(): path for path in find_markdown_files(root)}
    names: dict[str, Path] = {}
    clashing = []
    for relative, path in paths.items():
        name = readable_name(relative)
        if name != relative and name in paths:
            clashing.append((relative, path))
        else:
            names[name] = path
    for relative, path in clashing:
        names[escaped_name(relative)] = path
    return dict(sorted(names.items()))


def outside_link(path: Path, root: Path) -> str | None:
    """Where `path` leads when it is a link whose target lies outside root (never to be read),
    else None."""
    if not path.is_symlink():
        return None
    target = path.resolve()
    if target.is_relative_to(Path(root).resolve()):
        return None
    return readable_name(os.readlink(path))


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# A file changed less than this long ago may change again within the same clock tick without
# its size, times or inode showing it: such a file is hashed at every scan until it is older.
STABLE_SECONDS = 2.0


def _file_state(path: Path) -> list[int] | None:
    """What tells that a file is unchanged without opening it: its size, modification and
    change times and inode (as git does); None for a file changed a moment ago."""
    try:
        info = path.stat()
    except OSError:
        return None
    if time.time_ns() - max(info.st_mtime_ns, info.st_ctime_ns) < STABLE_SECONDS * 1e9:
        return None
    return [info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino]


def scan_folder(seeds: Path, known: dict | None = None) -> dict[str, tuple[Path, str, list | None]]:
    """Readable relative POSIX path (markdown_names) -> (path, sha256, state) of every
    Markdown file under the seeds folder. A file whose state is the one `known` (the manifest's
    files) recorded keeps its recorded hash unread: an update opens only the files that changed
    (each open of a file whose name is not UTF-8 costs the watcher's notifier a restart, and a
    large folder's hashing is most of an update's time)."""
    known = known or {}
    found: dict[str, tuple[Path, str, list | None]] = {}
    for relative, path in markdown_names(seeds).items():
        # a link out of the folder is never read, hashed included: its target names it
        target = outside_link(path, seeds)
        if target is not None:
            found[relative] = (path, f"outside:{target}", None)
            continue
        state = _file_state(path)
        entry = known.get(relative)
        if state is not None and entry is not None and entry.get("state") == state:
            found[relative] = (path, entry["sha256"], state)
            continue
        try:
            found[relative] = (path, _file_hash(path), state)
        except OSError as exc:
            found[relative] = (path, f"unreadable:{exc.errno}", None)
    return found


def read_file(path: Path, root: Path, name: str | None = None) -> tuple[list[Record], FileReport]:
    """Read, decode and parse one file; problems become warnings, an unreadable file an error.
    `name`: the file's relative path as markdown_names gives it (by default, from `path`)."""
    if name is not None:
        relative = name
    else:
        try:
            relative = readable_name(path.relative_to(root).as_posix())
        except ValueError:
            relative = readable_name(path.as_posix())
    try:
        target = outside_link(path, root)
        if target is not None:
            return [], FileReport(
                relative,
                error=f"not read: {relative} is a link to {target}, outside the seeds folder; "
                "copy the file into the folder instead",
            )
        # Reading a FIFO or device would block or never end.
        if not stat.S_ISREG(path.stat().st_mode):
            kind = "a folder" if path.is_dir() else "not a regular file"
            return [], FileReport(relative, error=f"cannot read it: it is {kind}")
        data = path.read_bytes()
    except OSError as exc:
        return [], FileReport(relative, error=f"cannot read it: {exc.strerror or exc}")
    text, warnings = _decode(data)
    bad = len(_BINARY_CHARS.findall(text))
    if text and bad / len(text) > _BINARY_RATIO:
        share = round(100 * bad / len(text))
        return [], FileReport(
            relative,
            error=f"not a text file ({share}% NUL, control or undecodable characters); "
            "save it as UTF-8 Markdown",
        )
    records, report = parse_text(text, relative)
    report.warnings[:0] = warnings
    return records, report


def ingest_paths(paths: Iterable[Path], root: Path) -> tuple[list[Record], IngestReport]:
    """Read every path (relative to root for ids) and gather their records and reports."""
    records: list[Record] = []
    report = IngestReport()
    for path in paths:
        file_records, file_report = read_file(path, root)
        records += file_records
        report.files.append(file_report)
    return records, report


def parse_text(text: str, source_file: str) -> tuple[list[Record], FileReport]:
    """Parse already-decoded Markdown. source_file is the POSIX path relative to the seeds folder (used for ids)."""
    report = FileReport(source_file)
    warnings = report.warnings
    if text.startswith("\ufeff"):
        text = text[1:]
        warnings.append(IngestWarning("bom", "a UTF-8 byte order mark was removed", 1))
    if "\r" in text:
        kind = "CRLF" if "\r\n" in text else "CR"
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        warnings.append(IngestWarning("crlf", f"{kind} line endings were turned into LF"))
    page_breaks = text.count(_FORM_FEED)
    text = text.replace(_FORM_FEED, "\n")
    text, removed = _CONTROL_CHARS.subn("", text)
    if removed or page_breaks:
        message = f"{removed + page_breaks} control character(s) were removed"
        if page_breaks:
            message += f" ({page_breaks} form feed(s) became line breaks)"
        warnings.append(IngestWarning("control_chars", message))
    if not text.strip():
        warnings.append(IngestWarning("empty", "the file is empty"))
        return [], report

    blocks = top_blocks(MARKDOWN.parse(text))
    if is_compilation(blocks):
        records = Compilation(source_file, text, report).parse(blocks)
    else:
        records = [parse_document(blocks, text, source_file, warnings)]
    report.records = len(records)
    warnings.sort(key=lambda warning: warning.line or 0)
    return records, report


# ---------------------------------------------------------------------------------------------
# Decoding


def _decode(data: bytes) -> tuple[str, list[IngestWarning]]:
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
    replaced = data.decode("utf-8", errors="replace")
    bad = replaced.count("\ufffd")
    # A few stray bytes (a file cut mid-character, one corrupt byte) are replaced: reading the
    # whole file as GB18030 instead would turn its valid UTF-8 into mojibake.
    if bad > max(3, len(replaced) // 1000):
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError:
            pass
        else:
            return text, [IngestWarning("undecodable", "not UTF-8; decoded as GB18030", line)]
    return replaced, [
        IngestWarning("undecodable", f"{bad} byte(s) are not UTF-8; replaced with U+FFFD", line)
    ]
