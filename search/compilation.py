"""Key-node compilations: a file of `## 关键节点: <date> (<type>) - 可信度: <n>` headings, each over
a numbered list of entries with labelled lines, read as one record per entry."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from markdown_it.token import Token

from .labelled_lines import (
    Line,
    block_lines,
    field_of,
    heading_text,
    inline_lines,
    last_text_line,
    looks_cut,
    top_blocks,
)
from .records import FileReport, IngestWarning, Record, file_key
from .values import (
    is_publisher,
    join_lines,
    parse_confidence,
    parse_date,
    region_and_sector,
    source_from_value,
    unique_sources,
)

_NODE_WORD = "关键节点"
_FULLWIDTH = str.maketrans({"：": ":", "（": "(", "）": ")", "　": " ", "－": "-", "—": "-"})
_NODE_TYPE = re.compile(r"\(([^()]*)\)")
_NODE_CONFIDENCE = re.compile(r"可信度\s*:?\s*([^\s()]*)")
_NODE_DATE_END = re.compile(r"\(|可信度|\s-\s")
_DECLARED_NODES = re.compile(r"共\s*(?:涵盖|包含|计|有)?\s*(\d+)\s*个\s*关键节点")
_ANALYSIS_TIME = "分析时间"


@dataclass
class _Node:
    index: int | None  # None for entries outside every key node
    line: int = 0
    date: str | None = None
    node_type: str | None = None
    confidence: float | None = None
    entries: int = 0
    # in its entries' ids: its date's digits ("0" undated or outside every node), numbered
    # from the second node of one date on
    id_part: str = "0"


@dataclass
class _Entry:
    node: _Node
    index: int
    lines: list[Line]
    start: int  # 0-based first source line
    end: int  # 0-based line after the last


def _is_node_heading(text: str) -> bool:
    return text.translate(_FULLWIDTH).lstrip().startswith(_NODE_WORD)


def is_compilation(blocks: list[list[Token]]) -> bool:
    """Key-node headings, or numbered items carrying entry labels such as 发生时间."""
    for block in blocks:
        head = block[0]
        if head.type == "heading_open" and _is_node_heading(heading_text(block)):
            return True
        if head.type == "ordered_list_open":
            for token in block:
                if token.type == "inline" and any(
                    line.label and field_of(line.label) for line in inline_lines(token)
                ):
                    return True
    return False


class Compilation:
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
        # how many times each node id part, and each (node, entry) id part, was given so far
        self.id_parts_given: dict[tuple[str, ...], int] = {("0",): 1}  # "0": outside every node

    def unique_id_part(self, part: str, *within: str) -> str:
        """`part` the first time (under `within`) in this file, then `part-2`, `part-3`, ...:
        numbered for exact duplicates only."""
        key = (*within, part)
        count = self.id_parts_given[key] = self.id_parts_given.get(key, 0) + 1
        return part if count == 1 else f"{part}-{count}"

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
                text = heading_text(block)
                if _is_node_heading(text):
                    current = self.node(text, len(nodes) + 1, span[0] + 1)
                    # the node's date, not its position: a node inserted above changes no id
                    current.id_part = self.unique_id_part(
                        re.sub(r"\D", "", current.date or "") or "0"
                    )
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
                for item in top_blocks(block[1:-1]):
                    current.entries += 1
                    item_span = item[0].map or span
                    open_entry = _Entry(
                        current, current.entries, block_lines(item[1:-1]), *item_span
                    )
                    entries.append(open_entry)
                in_header = False
            elif head.type == "hr":
                continue
            elif open_entry is not None:
                # A paragraph after the list (a blank line before `**发生时间**：…`) continues it.
                open_entry.lines += block_lines(block)
                open_entry.end = max(open_entry.end, span[1])
            elif in_header:
                for line in block_lines(block):
                    if line.label == _ANALYSIS_TIME and self.analysis_time is None:
                        self.analysis_time = line.value
                    if declared is None and (match := _DECLARED_NODES.search(line.text)):
                        declared, declared_line = int(match[1]), line.number
            else:
                text = " ".join(line.text for line in block_lines(block))
                self.warn("orphan_text", f"not part of any entry: {text[:40]}", span[0] + 1)

        self.report.declared_nodes, self.report.found_nodes = declared, len(nodes)
        if declared is not None and declared != len(nodes):
            code = "nodes_missing" if declared > len(nodes) else "nodes_extra"
            self.warn(code, f"{declared} key nodes declared but {len(nodes)} found", declared_line)
        for node in nodes:
            if not node.entries:
                self.warn("empty_node", f"key node {node.date or '?'} has no entries", node.line)
        if self.title:
            self.region, self.sector = region_and_sector(self.title)
        records = [self.record(entry) for entry in entries]
        if entries:
            self.check_truncation(entries, records[-1])
        return records

    def node(self, text: str, index: int, line: int) -> _Node:
        node = _Node(index, line)
        rest = text.translate(_FULLWIDTH).lstrip()[len(_NODE_WORD) :].lstrip(" :")
        date_part = _NODE_DATE_END.split(rest, maxsplit=1)[0].strip(" -")
        date = parse_date(date_part) if date_part else None
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
            node.confidence = parse_confidence(confidence[1])
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
            id="",  # from its title, once read
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
        record.id = f"{self.key}-n{node.id_part}-e{self.entry_id_part(node, record)}"
        where = entry.start + 1
        if not record.title:
            self.warn("no_title", "an entry has no title", where)
        if record.date_text is None:
            self.warn("no_date", f"entry {record.title!r} has no date", where)
        if record.issuer is None and record.sources and is_publisher(record.sources[0].label):
            record.issuer, record.issuer_derived = record.sources[0].label, True
        return record

    def entry_id_part(self, node: _Node, record: Record) -> str:
        """The entry's own identity, not its position: a short hash of its node's date and its
        title (its text when it has none), so that an entry inserted above it changes neither
        its id nor any bookmark or feed id naming it; numbered only when one key node holds
        the same title twice."""
        identity = f"{node.date or ''}\n{record.title or record.raw}"
        digest = hashlib.sha1(identity.encode("utf-8")).hexdigest()[:8]
        return self.unique_id_part(digest, node.id_part)

    def check_truncation(self, entries: list[_Entry], record: Record) -> None:
        """Mark the file's last entry truncated when the file seems cut short inside it."""
        last = entries[-1]
        final_line = last_text_line(self.text)
        reason = None
        if last.lines and last.lines[-1].number == final_line:
            reason = looks_cut(last.lines[-1])
        # Every other entry ends with the same label (数据来源链接) but this one lacks it.
        endings = {_line_field(entry.lines[-1]) for entry in entries[:-1] if entry.lines}
        if reason is None and last.end >= final_line and len(entries) > 2 and len(endings) == 1:
            (ending,) = endings
            if ending is not None and ending not in {_line_field(line) for line in last.lines}:
                reason = f"lacks its {ending} line, which ends every other entry"
        if reason:
            record.truncated = True
            self.warn("truncated", f"the file seems cut short: the last entry {reason}", final_line)


def _line_field(line: Line) -> str | None:
    return line.label and (field_of(line.label) or line.label)


def _fill(record: Record, lines: list[Line], warnings: list[IngestWarning]) -> None:
    """Set an entry's fields from its labelled lines; unknown labels go to `extra`."""
    content: list[str] = []
    target: str | None = None  # the extra label or "content" an unlabelled line continues
    for position, line in enumerate(lines):
        record.sources += line.links
        if line.label is None:
            if position == 0:
                record.title = line.text
            elif target is not None and target in record.extra:
                record.extra[target] = join_lines([record.extra[target], line.text])
            elif target == "content" and content:
                content[-1] = join_lines([content[-1], line.text])
            else:
                content.append(line.text)
            continue
        label, value = line.label, line.value
        kind = field_of(label)
        target = "content" if kind == "content" else None
        if kind == "content":
            content.append(value)
        elif kind == "source" and line.links:
            continue
        elif kind == "source" and (source := source_from_value(value)):
            record.sources.append(source)
        elif kind == "title" and not record.title:
            record.title = value
        elif kind == "issuer" and record.issuer is None:
            record.issuer = value
        elif kind == "date" and record.date_text is None:
            record.date_text = value
            date = parse_date(value)
            if date:
                record.date, record.date_precision = date[1], date[2]
            else:
                warnings.append(IngestWarning("bad_date", f"{value!r} is not a date", line.number))
        elif kind == "effective" and record.effective_date is None and (date := parse_date(value)):
            record.effective_date = date[1]
        elif kind == "place" and record.place is None:
            record.place = value
        elif kind == "scale" and record.scale is None:
            record.scale = value
        elif kind == "doc_number" and record.doc_number is None:
            record.doc_number = value
        else:
            # An unknown label, a second one for a field already set, or a source without a link.
            record.extra[label] = join_lines([record.extra.get(label, ""), value])
            target = label
    record.content = join_lines(content)
    record.sources = unique_sources(record.sources)
