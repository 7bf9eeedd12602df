"""Ingest: turns Markdown files (key-node compilations and single policy documents) into records.

It reads markdown-it-py's token stream; regular expressions only ever look at one extracted value.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from markdown_it import MarkdownIt
from markdown_it.token import Token

from .records import FileReport, IngestReport, IngestWarning, Record, Source

_MARKDOWN = MarkdownIt("commonmark").enable("table")

_INFO_END = "<!-- INFO END -->"
_COLONS = (":", "：")

# More than this share of NUL, control or undecodable characters means the file is not text.
_BINARY_RATIO = 0.1
_BINARY_CHARS = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f\ufffd]")
# Control characters left in otherwise good text would garble JSON, HTML and the index.
_CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f]")

# The labels of compilation entries and document headers, by the record field they fill.
_LABELS = {
    "title": ("事件名称", "政策名称", "名称", "标题", "政策标题", "文件名称", "项目名称"),
    "issuer": ("颁布单位", "发布单位", "发文机关", "发布机关", "颁布机关", "发文单位", "制定机关"),
    "date": (
        "颁布/执行日期", "颁布日期", "执行日期", "发布日期", "公布日期", "成文日期",
        "发生时间", "日期", "时间", "发布时间", "颁布时间",
    ),
    "effective": ("施行日期", "实施日期", "生效日期", "施行时间", "实施时间"),
    "place": ("地点", "发生地点"),
    "scale": ("规模", "范围", "影响范围"),
    "content": (
        "核心内容", "范围和效应", "效应", "影响", "内容", "主要内容", "具体内容", "政策内容",
        "事件内容", "概要", "摘要", "简介", "描述", "措施", "主要措施",
    ),
    "source": (
        "数据来源链接", "来源", "数据来源", "来源链接", "链接", "原文链接", "参考链接",
        "信息来源", "出处",
    ),
    "doc_number": ("发文字号", "文号"),
}  # fmt: skip
_FIELD_BY_LABEL = {label: name for name, labels in _LABELS.items() for label in labels}
# For a document, 发布日期 wins over 成文日期, which wins over any other date label.
_DOCUMENT_DATE_PRIORITY = {"发布日期": 0, "公布日期": 0, "颁布日期": 0, "成文日期": 1}

# Link labels that name no publisher.
_GENERIC_LINK_LABELS = {
    "来源", "数据来源", "来源链接", "链接", "原文", "原文链接", "全文", "详情", "查看", "点击",
    "点击查看", "这里", "此处", "网页", "官网", "下载", "pdf", "source", "link", "here", "more",
}  # fmt: skip

_URL = re.compile(r"(?:[a-z][a-z0-9+.-]*://|www\.)\S+", re.IGNORECASE)
_DOMAIN = re.compile(r"^[\w.-]+\.[a-z]{2,}(?:[/:?#]\S*)?$", re.IGNORECASE)

# Most specific first: at one position the regex engine takes the first alternative that fits.
# A bare `2023` counts only as the whole value, so `第1823次会议` is no year.
_DATE = re.compile(
    r"(?<!\d)\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*[日号]"
    r"|(?<!\d)\d{4}\s*年\s*\d{1,2}\s*月"
    r"|(?<!\d)\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?!\d)"
    r"|(?<!\d)\d{4}[-/.]\d{1,2}(?!\d)"
    r"|(?<!\d)\d{4}\s*年"
    r"|^\s*\d{4}\s*$"
)
_PRECISION = {1: "year", 2: "month", 3: "day"}
_FULL_DATE_AT_START = re.compile(r"^[（(]?\s*\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日")
_HISTORY_EVENT = re.compile(r"通过|修正|修订|公布|发布|施行|批准")
_EFFECTIVE_AFTER_DATE = re.compile(r"^[\s，,]*(?:起|开始)?施行")
_FILENAME_DATE = re.compile(r"\((\d{4}-\d{1,2}-\d{1,2})\)\s*$")

# A label written without bold: short, no spaces or punctuation before the colon.
_PLAIN_LABEL = re.compile(
    r"^([^\s:：*\[\]()（）《》〈〉,，。、；;!！?？\"“”]{1,12})\s*[:：](?!//)\s*(.*)$"
)
# `**颁布单位：**北京…`: CommonMark refuses this bold (punctuation before `**`, a letter after).
_LITERAL_BOLD_LABEL = re.compile(r"^\*\*([^*:：]{1,20}?)\s*(?:[:：]\s*\*\*|\*\*\s*[:：])\s*(.*)$")
_MAX_LABEL = 20

_NODE_WORD = "关键节点"
_FULLWIDTH = str.maketrans({"：": ":", "（": "(", "）": ")", "　": " ", "－": "-", "—": "-"})
_NODE_TYPE = re.compile(r"\(([^()]*)\)")
_NODE_CONFIDENCE = re.compile(r"可信度\s*:?\s*([^\s()]*)")
_NODE_DATE_END = re.compile(r"\(|可信度|\s-\s")
_DECLARED_NODES = re.compile(r"共\s*(?:涵盖|包含|计|有)?\s*(\d+)\s*个\s*关键节点")
_ANALYSIS_TIME = "分析时间"

# A place name at the start of a title; 区 alone is left out (保护区, 风景名胜区 are no regions).
_REGION_PREFIX = re.compile(
    r"^(?:[\u4e00-\u9fff]{2,9}?自治(?:区|州|县)|[\u4e00-\u9fff]{2,5}?(?:省|市|县)(?!场))"
)
_REGION_SUFFIXES = ("省", "市", "自治区", "区", "县", "州")
_SECTOR_SUFFIXES = ("领域", "行业")
_SECTOR_PREFIX = re.compile(r"^[\u4e00-\u9fff]{1,6}?(?:领域|行业)")


# ---------------------------------------------------------------------------------------------
# Public API


def file_key(relative_path: str) -> str:
    """Stable short id of a file: the first 12 hex digits of the sha1 of its POSIX relative path."""
    return hashlib.sha1(relative_path.encode("utf-8")).hexdigest()[:12]


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
    text, removed = _CONTROL_CHARS.subn("", text)
    if removed:
        warnings.append(
            IngestWarning("control_chars", f"{removed} control character(s) were removed")
        )
    if not text.strip():
        warnings.append(IngestWarning("empty", "the file is empty"))
        return [], report

    blocks = _top_blocks(_MARKDOWN.parse(text))
    if _is_compilation(blocks):
        records = _Compilation(source_file, text, report).parse(blocks)
    else:
        records = [_parse_document(blocks, text, source_file, warnings)]
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


# ---------------------------------------------------------------------------------------------
# Tokens to lines


@dataclass(slots=True)
class _Line:
    """One source line of inline text, with its label (`**地点**：北京市`) split off."""

    number: int  # 1-based
    text: str  # emphasis markers and link syntax dropped, link labels kept
    literal: str = ""  # only the plain text, where unclosed link or bold syntax shows
    label: str | None = None
    value: str = ""
    links: list[Source] = field(default_factory=list)


def _top_blocks(tokens: list[Token]) -> list[list[Token]]:
    """Split a token stream into its blocks: one opening token with everything up to its close."""
    blocks = []
    start = 0
    while start < len(tokens):
        end = start
        depth = tokens[start].nesting
        while depth > 0:
            end += 1
            depth += tokens[end].nesting
        blocks.append(tokens[start : end + 1])
        start = end + 1
    return blocks


def _first_line(token: Token) -> int:
    return token.map[0] + 1 if token.map else 0


def _lines(tokens: list[Token]) -> list[_Line]:
    """The lines of some blocks: inline text, table rows, and HTML or code kept verbatim."""
    lines: list[_Line] = []
    prefix = ""
    row: list[_Line] | None = None
    row_number = 0
    for token in tokens:
        if token.type == "list_item_open":
            # Keep the number of an ordered item (`34. 拍卖…`); it is part of the text.
            prefix = f"{token.info}{token.markup} " if token.info else ""
        elif token.type == "tr_open":
            row, row_number = [], _first_line(token)
        elif token.type == "tr_close" and row is not None:
            cells = " | ".join(cell.text for cell in row)
            lines.append(_Line(row_number, cells, links=[s for cell in row for s in cell.links]))
            row = None
        elif token.type == "inline":
            found = _inline_lines(token)
            if row is not None:
                links = [source for line in found for source in line.links]
                row.append(_Line(row_number, " ".join(line.text for line in found), links=links))
                continue
            if prefix:
                found[0].text = prefix + found[0].text
                prefix = ""
            lines += found
        elif token.type in ("html_block", "code_block", "fence"):
            if token.type == "html_block" and token.content.strip() == _INFO_END:
                continue
            first = _first_line(token) + (token.type == "fence")
            content = token.content.rstrip("\n").split("\n")
            lines += [_Line(first + offset, text) for offset, text in enumerate(content)]
    return lines


def _inline_lines(token: Token) -> list[_Line]:
    lines = []
    number = _first_line(token)
    pieces: list[tuple[str, bool, bool]] = []  # (text, bold, plain text outside links)
    links: list[Source] = []
    bold = 0
    href: str | None = None
    link_label: list[str] = []
    link_start = 0
    for child in token.children or []:
        kind = child.type
        if kind in ("softbreak", "hardbreak"):
            lines.append(_make_line(number + len(lines), pieces, links))
            pieces, links = [], []
        elif kind == "strong_open":
            bold += 1
        elif kind == "strong_close":
            bold -= 1
        elif kind == "link_open":
            href, link_label, link_start = str(child.attrs.get("href", "")), [], len(pieces)
        elif kind == "link_close" and href is not None:
            label = "".join(link_label).strip()
            links.append(Source(label, href))
            if not _is_publisher(label):
                # `…平均水平。[来源](url)`: the link is kept in sources; 来源 says nothing in the text
                del pieces[link_start:]
            href = None
        elif kind in ("text", "code_inline", "html_inline", "image"):
            pieces.append((child.content, bold > 0, kind == "text" and href is None))
            if href is not None:
                link_label.append(child.content)
    lines.append(_make_line(number + len(lines), pieces, links))
    return lines


def _make_line(number: int, pieces: list[tuple[str, bool, bool]], links: list[Source]) -> _Line:
    text = "".join(piece[0] for piece in pieces).strip()
    line = _Line(number, text, "".join(p[0] for p in pieces if p[2]), links=links)
    start = 0
    while start < len(pieces) and not pieces[start][0].strip():
        start += 1
    if start < len(pieces) and pieces[start][1]:
        end = start
        while end < len(pieces) and pieces[end][1]:
            end += 1
        bold = "".join(piece[0] for piece in pieces[start:end]).strip()
        rest = "".join(piece[0] for piece in pieces[end:]).strip()
        if bold.endswith(_COLONS):
            _set_label(line, bold[:-1], rest)
        elif rest.startswith(_COLONS):
            _set_label(line, bold, rest[1:])
    elif (match := _LITERAL_BOLD_LABEL.match(text)) or (
        (match := _PLAIN_LABEL.match(text)) and _field_of(match[1]) is not None
    ):
        _set_label(line, match[1], match[2])
    return line


def _set_label(line: _Line, label: str, value: str) -> None:
    label = "".join(label.split())
    if label and len(label) <= _MAX_LABEL:
        line.label, line.value = label, value.strip()


def _field_of(label: str) -> str | None:
    """The record field a label fills; None for a label we do not know (kept in `extra`)."""
    if label in _FIELD_BY_LABEL:
        return _FIELD_BY_LABEL[label]
    if label.endswith("名称"):
        return "title"
    if label.endswith(("日期", "时间")):
        return "date"
    if "来源" in label or "链接" in label:
        return "source"
    if label.endswith("内容"):
        return "content"
    return None


def _heading_text(block: list[Token]) -> str:
    return " ".join(line.text for line in _inline_lines(block[1])) if len(block) > 2 else ""


# ---------------------------------------------------------------------------------------------
# Values


def _parse_date(text: str) -> tuple[str, str, str] | None:
    """The first date in text as (as written, ISO truncated to its precision, precision)."""
    match = _DATE.search(text)
    if not match:
        return None
    parts = [int(number) for number in re.findall(r"\d+", match[0])]
    year, month, day = (parts + [1, 1])[:3]
    try:
        datetime.date(year, month, day)
    except ValueError:
        return None
    if year < 1000:
        return None
    iso = "-".join([f"{year:04d}", f"{month:02d}", f"{day:02d}"][: len(parts)])
    return match[0].strip(), iso, _PRECISION[len(parts)]


def _parse_confidence(value: str) -> float | None:
    percent = value.endswith(("%", "％"))
    try:
        number = float(value.rstrip("%％"))
    except ValueError:
        return None
    if percent:
        number /= 100
    # NaN fails both comparisons, so it is refused along with out-of-range values.
    return number if 0 <= number <= 1 else None


def _is_url(text: str) -> bool:
    return bool(_URL.fullmatch(text) or _DOMAIN.match(text))


def _is_publisher(label: str) -> bool:
    """Whether a link label names its publisher (`北京市人民政府`) rather than a URL or `来源`."""
    label = label.strip()
    return bool(label) and not _is_url(label) and label.casefold() not in _GENERIC_LINK_LABELS


def _source_from_value(value: str) -> Source | None:
    """A source written as plain text: `https://…`, or `中国政府网 https://…`."""
    match = _URL.search(value)
    # Bracket syntax here is a link markdown-it could not close, so its URL is cut short.
    if not match or "[" in value:
        return None
    name = (value[: match.start()] + value[match.end() :]).strip(" ：:()（）")
    return Source(name or match[0], match[0])


def _region_prefix(title: str) -> str | None:
    match = _REGION_PREFIX.match(title)
    # 城市市容… starts like a city but is none.
    if match and "市" not in match[0][:-1]:
        return match[0]
    return None


def _region_and_sector(title: str) -> tuple[str | None, str | None]:
    """Region and sector from a compilation title like `北京市 工业领域 碳排量…汇编`."""
    parts = title.split()
    if len(parts) >= 3:
        if parts[0].endswith(_SECTOR_SUFFIXES):
            return None, parts[0]
        return parts[0], parts[1]
    if len(parts) == 2:
        first = parts[0]
        if first.endswith(_SECTOR_SUFFIXES):
            return None, first
        if _region_prefix(first) == first or first.endswith(_REGION_SUFFIXES):
            return first, None
        return None, None
    region = _region_prefix(title)
    sector = _SECTOR_PREFIX.match(title[len(region) :] if region else title)
    return region, sector[0] if sector else None


def _join(parts: Iterable[str]) -> str:
    return "\n".join(part for part in parts if part)


def _unique(sources: Iterable[Source]) -> list[Source]:
    return list(dict.fromkeys(sources))


def _last_text_line(text: str) -> int:
    """1-based number of the last line that is not blank."""
    return text.rstrip().count("\n") + 1


def _looks_cut(line: _Line) -> str | None:
    """Why the last line of a file looks cut short, or None."""
    literal = line.literal
    opened = literal.rfind("[")
    target = literal.rfind("](")
    if (opened >= 0 and "]" not in literal[opened:]) or (
        target >= 0 and ")" not in literal[target:]
    ):
        return "ends in an unclosed link"
    if literal.count("**") % 2:
        return "ends in unclosed bold text"
    if line.text.endswith("\ufffd"):
        return "ends in the middle of a character"
    if line.label and not line.value and not line.links:
        return f"ends with an empty {line.label}"
    return None


# ---------------------------------------------------------------------------------------------
# Key-node compilations


@dataclass
class _Node:
    index: int | None  # None for entries outside every key node
    line: int = 0
    date: str | None = None
    node_type: str | None = None
    confidence: float | None = None
    entries: int = 0


@dataclass
class _Entry:
    node: _Node
    index: int
    lines: list[_Line]
    start: int  # 0-based first source line
    end: int  # 0-based line after the last


def _is_node_heading(text: str) -> bool:
    return text.translate(_FULLWIDTH).lstrip().startswith(_NODE_WORD)


def _is_compilation(blocks: list[list[Token]]) -> bool:
    """Key-node headings, or numbered items carrying entry labels such as 发生时间."""
    for block in blocks:
        head = block[0]
        if head.type == "heading_open" and _is_node_heading(_heading_text(block)):
            return True
        if head.type == "ordered_list_open":
            for token in block:
                if token.type == "inline" and any(
                    line.label and _field_of(line.label) for line in _inline_lines(token)
                ):
                    return True
    return False


class _Compilation:
    """The parse of one key-node compilation file."""

    def __init__(self, source_file: str, text: str, report: FileReport):
        self.source_file = source_file
        self.key = file_key(source_file)
        self.text = text
        self.source_lines = text.split("\n")
        self.report = report
        self.title: str | None = None
        self.analysis_time: str | None = None
        self.region: str | None = None
        self.sector: str | None = None

    def warn(self, code: str, message: str, line: int | None) -> None:
        self.report.warnings.append(IngestWarning(code, message, line))

    def parse(self, blocks: list[list[Token]]) -> list[Record]:
        nodes: list[_Node] = []
        outside = _Node(None)
        current = outside
        entries: list[_Entry] = []
        open_entry: _Entry | None = None  # the entry a following paragraph continues
        in_header = True
        declared, declared_line = None, None
        for block in blocks:
            head = block[0]
            span = head.map or [0, 0]
            if head.type == "heading_open":
                text = _heading_text(block)
                if _is_node_heading(text):
                    current = self.node(text, len(nodes) + 1, span[0] + 1)
                    nodes.append(current)
                elif head.tag == "h1" and self.title is None:
                    self.title = text
                    continue
                else:
                    # Another section heading ends the key node: entries after it belong to none.
                    current = outside
                    self.warn("orphan_text", f"not part of any entry: {text[:40]}", span[0] + 1)
                in_header, open_entry = False, None
            elif head.type == "ordered_list_open":
                for item in _top_blocks(block[1:-1]):
                    current.entries += 1
                    item_span = item[0].map or span
                    open_entry = _Entry(current, current.entries, _lines(item[1:-1]), *item_span)
                    entries.append(open_entry)
                in_header = False
            elif head.type == "hr":
                continue
            elif open_entry is not None:
                # A paragraph after the list (a blank line before `**发生时间**：…`) continues it.
                open_entry.lines += _lines(block)
                open_entry.end = max(open_entry.end, span[1])
            elif in_header:
                for line in _lines(block):
                    if line.label == _ANALYSIS_TIME and self.analysis_time is None:
                        self.analysis_time = line.value
                    if declared is None and (match := _DECLARED_NODES.search(line.text)):
                        declared, declared_line = int(match[1]), line.number
            else:
                text = " ".join(line.text for line in _lines(block))
                self.warn("orphan_text", f"not part of any entry: {text[:40]}", span[0] + 1)

        self.report.declared_nodes, self.report.found_nodes = declared, len(nodes)
        if declared is not None and declared != len(nodes):
            code = "nodes_missing" if declared > len(nodes) else "nodes_extra"
            self.warn(code, f"{declared} key nodes declared but {len(nodes)} found", declared_line)
        for node in nodes:
            if not node.entries:
                self.warn("empty_node", f"key node {node.date or '?'} has no entries", node.line)
        if self.title:
            self.region, self.sector = _region_and_sector(self.title)
        records = [self.record(entry) for entry in entries]
        if entries:
            self.check_truncation(entries, records[-1])
        return records

    def node(self, text: str, index: int, line: int) -> _Node:
        node = _Node(index, line)
        rest = text.translate(_FULLWIDTH).lstrip()[len(_NODE_WORD) :].lstrip(" :")
        date_part = _NODE_DATE_END.split(rest, maxsplit=1)[0].strip(" -")
        date = _parse_date(date_part) if date_part else None
        if date:
            node.date = date[1]
        else:
            problem = f"{date_part!r} is not a date" if date_part else "it has no date"
            self.warn("bad_node_date", f"key node {text!r}: {problem}", line)
        node_type = _NODE_TYPE.search(rest)
        if node_type and node_type[1].strip():
            node.node_type = node_type[1].strip()
        else:
            self.warn("no_node_type", f"key node {text!r} has no (type)", line)
        confidence = _NODE_CONFIDENCE.search(rest)
        if confidence:
            node.confidence = _parse_confidence(confidence[1])
        if node.confidence is None:
            problem = (
                f"可信度 {confidence[1]!r} is not a number from 0 to 1"
                if confidence
                else "it has no 可信度"
            )
            self.warn("bad_confidence", f"key node {text!r}: {problem}", line)
        return node

    def record(self, entry: _Entry) -> Record:
        node = entry.node
        record = Record(
            id=f"{self.key}-n{node.index or 0}-e{entry.index}",
            kind="entry",
            source_file=self.source_file,
            title="",
            node_date=node.date,
            node_type=node.node_type,
            confidence=node.confidence,
            region=self.region,
            sector=self.sector,
            compilation=self.title,
            analysis_time=self.analysis_time,
            node_index=node.index,
            entry_index=entry.index,
            raw="\n".join(self.source_lines[entry.start : entry.end]).rstrip(),
        )
        _fill(record, entry.lines, self.report.warnings)
        where = entry.start + 1
        if not record.title:
            self.warn("no_title", "an entry has no title", where)
        if record.date_text is None:
            self.warn("no_date", f"entry {record.title!r} has no date", where)
        if record.issuer is None and record.sources and _is_publisher(record.sources[0].label):
            record.issuer, record.issuer_derived = record.sources[0].label, True
        return record

    def check_truncation(self, entries: list[_Entry], record: Record) -> None:
        """Mark the file's last entry truncated when the file seems cut short inside it."""
        last = entries[-1]
        final_line = _last_text_line(self.text)
        reason = None
        if last.lines and last.lines[-1].number == final_line:
            reason = _looks_cut(last.lines[-1])
        # Every other entry ends with the same label (数据来源链接) but this one lacks it.
        endings = {_line_field(entry.lines[-1]) for entry in entries[:-1] if entry.lines}
        if reason is None and last.end >= final_line and len(entries) > 2 and len(endings) == 1:
            (ending,) = endings
            if ending is not None and ending not in {_line_field(line) for line in last.lines}:
                reason = f"lacks its {ending} line, which ends every other entry"
        if reason:
            record.truncated = True
            self.warn("truncated", f"the file seems cut short: the last entry {reason}", final_line)


def _line_field(line: _Line) -> str | None:
    return line.label and (_field_of(line.label) or line.label)


def _fill(record: Record, lines: list[_Line], warnings: list[IngestWarning]) -> None:
    """Set an entry's fields from its labelled lines; unknown labels go to `extra`."""
    content: list[str] = []
    target: str | None = None  # the extra label or "content" an unlabelled line continues
    for position, line in enumerate(lines):
        record.sources += line.links
        if line.label is None:
            if position == 0:
                record.title = line.text
            elif target is not None and target in record.extra:
                record.extra[target] = _join([record.extra[target], line.text])
            elif target == "content" and content:
                content[-1] = _join([content[-1], line.text])
            else:
                content.append(line.text)
            continue
        label, value = line.label, line.value
        kind = _field_of(label)
        target = "content" if kind == "content" else None
        if kind == "content":
            content.append(value)
        elif kind == "source" and line.links:
            continue
        elif kind == "source" and (source := _source_from_value(value)):
            record.sources.append(source)
        elif kind == "title" and not record.title:
            record.title = value
        elif kind == "issuer" and record.issuer is None:
            record.issuer = value
        elif kind == "date" and record.date_text is None:
            record.date_text = value
            date = _parse_date(value)
            if date:
                record.date, record.date_precision = date[1], date[2]
            else:
                warnings.append(IngestWarning("bad_date", f"{value!r} is not a date", line.number))
        elif kind == "effective" and record.effective_date is None and (date := _parse_date(value)):
            record.effective_date = date[1]
        elif kind == "place" and record.place is None:
            record.place = value
        elif kind == "scale" and record.scale is None:
            record.scale = value
        elif kind == "doc_number" and record.doc_number is None:
            record.doc_number = value
        else:
            # An unknown label, a second one for a field already set, or a source without a link.
            record.extra[label] = _join([record.extra.get(label, ""), value])
            target = label
    record.content = _join(content)
    record.sources = _unique(record.sources)


# ---------------------------------------------------------------------------------------------
# Single policy documents


def _is_header_block(lines: list[_Line]) -> bool:
    """Metadata lines (`发文机关：国务院`) or law history lines (`1997年11月1日 …通过`)."""
    known = False
    for line in lines:
        label = line.label or ((match := _PLAIN_LABEL.match(line.text)) and match[1])
        if _FULL_DATE_AT_START.match(line.text) and _HISTORY_EVENT.search(line.text):
            known = True
        elif label:
            known = known or _field_of(label) is not None
        else:
            return False
    return known


def _parse_document(
    blocks: list[list[Token]], text: str, source_file: str, warnings: list[IngestWarning]
) -> Record:
    """A whole file as one record: title, metadata or law history, then the body."""
    marker = next(
        (
            position
            for position, block in enumerate(blocks)
            if block[0].type == "html_block" and block[0].content.strip() == _INFO_END
        ),
        None,
    )
    title = subtitle = None
    header: list[_Line] = []
    body: list[_Line] = []
    headings: list[str] = []
    in_header = True
    for position, block in enumerate(blocks):
        head = block[0]
        if position == marker:
            in_header = False
            continue
        is_h1 = head.type == "heading_open" and head.tag == "h1"
        if is_h1 and title is None:
            title = _heading_text(block)
            continue
        if is_h1 and in_header and subtitle is None:
            subtitle = _heading_text(block)
            continue
        if in_header and head.type == "hr":
            continue
        lines = _lines(block)
        # Without the marker the header is the run of metadata blocks right after the title.
        in_header = in_header and (marker is not None or _is_header_block(lines))
        if in_header:
            header += lines
            continue
        if head.type == "heading_open":
            headings.append(_heading_text(block))
        body += lines

    stem = PurePosixPath(source_file).stem
    record = Record(
        id=f"{file_key(source_file)}-doc",
        kind="document",
        source_file=source_file,
        title=title or "",
        content=_join(line.text for line in body),
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
    record.region = _region_prefix(record.title)
    record.sources = _unique([*record.sources, *(s for line in body for s in line.links)])
    if not dated:
        from_name = _FILENAME_DATE.search(stem)
        date = _parse_date(from_name[1]) if from_name else None
        if date:
            record.date_text, record.date, record.date_precision = date
        elif record.date_text is None:
            warnings.append(IngestWarning("no_date", "the document has no date", 1))
    tail = body or header
    if tail and tail[-1].number == _last_text_line(text) and (reason := _looks_cut(tail[-1])):
        record.truncated = True
        warnings.append(
            IngestWarning("truncated", f"the file seems cut short: it {reason}", tail[-1].number)
        )
    return record


def _document_header(record: Record, header: list[_Line], warnings: list[IngestWarning]) -> bool:
    """Fill a document's metadata from its header lines; whether that gave it a date."""
    dates: list[tuple[int, str, str, int]] = []  # (priority, label, value, line)
    history: list[str] = []
    for line in header:
        record.sources += line.links
        label, value = line.label, line.value
        if label is None and (match := _PLAIN_LABEL.match(line.text)):
            label, value = "".join(match[1].split()), match[2].strip()
        kind = _field_of(label) if label else None
        if label is None or _FULL_DATE_AT_START.match(line.text):
            history.append(line.text)
        elif kind == "issuer" and record.issuer is None:
            record.issuer = value
        elif kind == "doc_number" and record.doc_number is None:
            record.doc_number = value
        elif kind == "date":
            dates.append((_DOCUMENT_DATE_PRIORITY.get(label, 2), label, value, line.number))
        elif kind == "effective" and record.effective_date is None and (date := _parse_date(value)):
            record.effective_date = date[1]
        elif kind == "title" and not record.title:
            record.title = value
        elif kind == "source" and line.links:
            continue
        elif kind == "source" and (source := _source_from_value(value)):
            record.sources.append(source)
        else:
            record.extra[label] = _join([record.extra.get(label, ""), value])
    if history:
        record.extra["history"] = "\n".join(history)

    for _, label, value, number in sorted(dates, key=lambda item: item[0]):
        date = _parse_date(value)
        if date:
            record.date_text, record.date, record.date_precision = value, date[1], date[2]
            return True
        warnings.append(IngestWarning("bad_date", f"{label} {value!r} is not a date", number))
        record.date_text = record.date_text or value
    # A law's history: the latest version's date is its date; a `… 施行` line its effective date.
    latest = None
    for line in history:
        date = _parse_date(line)
        if date is None:
            continue
        after = line[line.find(date[0]) + len(date[0]) :]
        if _EFFECTIVE_AFTER_DATE.match(after):
            record.effective_date = record.effective_date or date[1]
        elif latest is None or date[1] > latest[1]:
            latest = date
    if latest:
        record.date_text, record.date, record.date_precision = latest
        return True
    return False
