"""Ingest: turns Markdown files into records. It reads and decodes a file, tells its format and
hands it to the parser of that format: key-node compilations (compilation.py) or single policy
documents (policy_document.py), both over the labelled lines of labelled_lines.py.
"""

from __future__ import annotations

import os
import re
import stat
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
    """Every *.md file under root, sorted, skipping `_index.md` files and hidden folders."""
    found = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        found += [
            Path(folder) / name
            for name in names
            if name.endswith(".md") and name != "_index.md" and not name.startswith(".")
        ]
    return sorted(found, key=lambda path: path.relative_to(root).as_posix())


def read_file(path: Path, root: Path) -> tuple[list[Record], FileReport]:
    """Read, decode and parse one file; problems become warnings, an unreadable file an error."""
    try:
        relative = path.relative_to(root).as_posix()
    except ValueError:
        relative = path.as_posix()
    try:
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
