"""Single policy documents: a whole file as one record, its title (H1), the metadata or the law's
history below it (up to `<!-- INFO END -->` if there is one), then the body."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from markdown_it.token import Token

from .labelled_lines import (
    INFO_END,
    PLAIN_LABEL,
    Line,
    block_lines,
    field_of,
    heading_text,
    last_text_line,
    looks_cut,
)
from .records import IngestWarning, Record, file_key
from .values import DAY, join_lines, parse_date, region_prefix, source_from_value, unique_sources

# For a document, 发布日期 wins over 成文日期, which wins over any other date label.
_DOCUMENT_DATE_PRIORITY = {"发布日期": 0, "公布日期": 0, "颁布日期": 0, "成文日期": 1}
_FULL_DATE_AT_START = re.compile(rf"^[（(]?\s*{DAY}")
_HISTORY_EVENT = re.compile(r"通过|修正|修订|公布|发布|施行|批准")
_EFFECTIVE_AFTER_DATE = re.compile(r"^[\s，,]*(?:起|开始)?施行")
_FILENAME_DATE = re.compile(r"\((\d{4}-\d{1,2}-\d{1,2})\)\s*$")


def _is_header_block(lines: list[Line]) -> bool:
    """Metadata lines (`发文机关：国务院`) or law history lines (`1997年11月1日 …通过`)."""
    known = False
    for line in lines:
        label = line.label or ((match := PLAIN_LABEL.match(line.text)) and match[1])
        if _FULL_DATE_AT_START.match(line.text) and _HISTORY_EVENT.search(line.text):
            known = True
        elif label:
            known = known or field_of(label) is not None
        else:
            return False
    return known


def parse_document(
    blocks: list[list[Token]], text: str, source_file: str, warnings: list[IngestWarning]
) -> Record:
    """A whole file as one record: title, metadata or law history, then the body."""
    marker = next(
        (
            position
            for position, block in enumerate(blocks)
            if block[0].type == "html_block" and block[0].content.strip() == INFO_END
        ),
        None,
    )
    title = subtitle = None
    header: list[Line] = []
    body: list[Line] = []
    headings: list[str] = []
    in_header = True
    for position, block in enumerate(blocks):
        head = block[0]
        if position == marker:
            in_header = False
            continue
        is_h1 = head.type == "heading_open" and head.tag == "h1"
        if is_h1 and title is None:
            title = heading_text(block)
            continue
        if is_h1 and in_header and subtitle is None:
            subtitle = heading_text(block)
            continue
        if in_header and head.type == "hr":
            continue
        lines = block_lines(block)
        # Without the marker the header is the run of metadata blocks right after the title.
        in_header = in_header and (marker is not None or _is_header_block(lines))
        if in_header:
            header += lines
            continue
        if head.type == "heading_open":
            headings.append(heading_text(block))
        body += lines

    stem = PurePosixPath(source_file).stem
    record = Record(
        id=f"{file_key(source_file)}-doc",
        kind="document",
        source_file=source_file,
        title=title or "",
        content=join_lines(line.text for line in body),
        headings=headings,
        raw=text,
    )
    if subtitle:
        record.extra["subtitle"] = subtitle
    dated = _document_header(record, header, warnings)
    if not record.title:
        record.title = _FILENAME_DATE.sub("", stem).strip() or stem
        warnings.append(IngestWarning("no_title", "no # title; the file name stands in", 1))
    record.compilation = record.title
    record.region = region_prefix(record.title)
    record.sources = unique_sources([*record.sources, *(s for line in body for s in line.links)])
    if not dated:
        from_name = _FILENAME_DATE.search(stem)
        date = parse_date(from_name[1]) if from_name else None
        if date:
            record.date_text, record.date, record.date_precision = date
        elif record.date_text is None:
            warnings.append(IngestWarning("no_date", "the document has no date", 1))
    tail = body or header
    if tail and tail[-1].number == last_text_line(text) and (reason := looks_cut(tail[-1])):
        record.truncated = True
        warnings.append(
            IngestWarning("truncated", f"the file seems cut short: it {reason}", tail[-1].number)
        )
    return record


def _document_header(record: Record, header: list[Line], warnings: list[IngestWarning]) -> bool:
    """Fill a document's metadata from its header lines; whether that gave it a date."""
    dates: list[tuple[int, str, str, int]] = []  # (priority, label, value, line)
    history: list[str] = []
    for line in header:
        record.sources += line.links
        label, value = line.label, line.value
        if label is None and (match := PLAIN_LABEL.match(line.text)):
            label, value = "".join(match[1].split()), match[2].strip()
        kind = field_of(label) if label else None
        if label is None or _FULL_DATE_AT_START.match(line.text):
            history.append(line.text)
        elif kind == "issuer" and record.issuer is None:
            record.issuer = value
        elif kind == "doc_number" and record.doc_number is None:
            record.doc_number = value
        elif kind == "date":
            dates.append((_DOCUMENT_DATE_PRIORITY.get(label, 2), label, value, line.number))
        elif kind == "effective" and record.effective_date is None and (date := parse_date(value)):
            record.effective_date = date[1]
        elif kind == "title" and not record.title:
            record.title = value
        elif kind == "source" and line.links:
            continue
        elif kind == "source" and (source := source_from_value(value)):
            record.sources.append(source)
        else:
            record.extra[label] = join_lines([record.extra.get(label, ""), value])
    if history:
        record.extra["history"] = "\n".join(history)

    for priority, label, value, _ in dates:
        if priority < 2 and (date := parse_date(value)):
            which = "written" if label == "成文日期" else "published"
            if getattr(record.dates, which) is None:
                setattr(record.dates, which, date[1])
    if record.effective_date:
        record.dates.effective = record.effective_date
    for _, label, value, number in sorted(dates, key=lambda item: item[0]):
        date = parse_date(value)
        if date:
            record.date_text, record.date, record.date_precision = value, date[1], date[2]
            return True
        warnings.append(IngestWarning("bad_date", f"{label} {value!r} is not a date", number))
        record.date_text = record.date_text or value
    # A law's history: the latest version's date is its date; a `… 施行` line its effective date.
    latest = None
    for line in history:
        date = parse_date(line)
        if date is None:
            continue
        after = line[line.find(date[0]) + len(date[0]) :]
        if _EFFECTIVE_AFTER_DATE.match(after):
            record.effective_date = record.effective_date or date[1]
            record.dates.effective = record.effective_date
        elif latest is None or date[1] > latest[1]:
            latest = date
    if latest:
        record.date_text, record.date, record.date_precision = latest
        return True
    return False
