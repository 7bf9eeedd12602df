"""Markdown as both formats read it: markdown-it-py's token stream turned into source lines of
inline text, each with its label split off (`**颁布单位**：北京…`, `发文机关：国务院`), the table of
labels by the record field they fill, and the signs that a file was cut short in a line.

Regular expressions only ever look at one extracted value, never at the Markdown itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from markdown_it import MarkdownIt
from markdown_it.token import Token

from .records import Source
from .values import is_publisher

MARKDOWN = MarkdownIt("commonmark").enable("table")

INFO_END = "<!-- INFO END -->"
_COLONS = (":", "：")

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

# A label written without bold: short, no punctuation before the colon, and no spaces but those
# that space out a Chinese label to a width (gov.cn's `索　引　号：`, `标　　题：`).
PLAIN_LABEL = re.compile(
    r"^([^\s:：*\[\]()（）《》〈〉,，。、；;!！?？\"“”]{1,12}"
    r"|[\u4e00-\u9fff]{1,6}(?:[ \u3000]+[\u4e00-\u9fff]{1,6}){1,5})\s*[:：](?!//)\s*(.*)$"
)
# `**颁布单位：**北京…`: CommonMark refuses this bold (punctuation before `**`, a letter after).
_LITERAL_BOLD_LABEL = re.compile(r"^\*\*([^*:：]{1,20}?)\s*(?:[:：]\s*\*\*|\*\*\s*[:：])\s*(.*)$")
_MAX_LABEL = 20


@dataclass(slots=True)
class Line:
    """One source line of inline text, with its label (`**地点**：北京市`) split off."""

    number: int  # 1-based
    text: str  # emphasis markers and link syntax dropped, link labels kept
    literal: str = ""  # only the plain text, where unclosed link or bold syntax shows
    label: str | None = None
    value: str = ""
    links: list[Source] = field(default_factory=list)


def top_blocks(tokens: list[Token]) -> list[list[Token]]:
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


def block_lines(tokens: list[Token]) -> list[Line]:
    """The lines of some blocks: inline text, table rows, and HTML or code kept verbatim."""
    lines: list[Line] = []
    prefix = ""
    row: list[Line] | None = None
    row_number = 0
    for token in tokens:
        if token.type == "list_item_open":
            # Keep the number of an ordered item (`34. 拍卖…`); it is part of the text.
            prefix = f"{token.info}{token.markup} " if token.info else ""
        elif token.type == "tr_open":
            row, row_number = [], _first_line(token)
        elif token.type == "tr_close" and row is not None:
            cells = " | ".join(cell.text for cell in row)
            lines.append(Line(row_number, cells, links=[s for cell in row for s in cell.links]))
            row = None
        elif token.type == "inline":
            found = inline_lines(token)
            if row is not None:
                links = [source for line in found for source in line.links]
                row.append(Line(row_number, " ".join(line.text for line in found), links=links))
                continue
            if prefix:
                found[0].text = prefix + found[0].text
                prefix = ""
            lines += found
        elif token.type in ("html_block", "code_block", "fence"):
            if token.type == "html_block" and token.content.strip() == INFO_END:
                continue
            first = _first_line(token) + (token.type == "fence")
            content = token.content.rstrip("\n").split("\n")
            lines += [Line(first + offset, text) for offset, text in enumerate(content)]
    return lines


def inline_lines(token: Token) -> list[Line]:
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
            if not is_publisher(label):
                # `…平均水平。[来源](url)`: the link is kept in sources; 来源 says nothing in the text
                del pieces[link_start:]
            href = None
        elif kind in ("text", "code_inline", "html_inline", "image"):
            pieces.append((child.content, bold > 0, kind == "text" and href is None))
            if href is not None:
                link_label.append(child.content)
    lines.append(_make_line(number + len(lines), pieces, links))
    return lines


def _make_line(number: int, pieces: list[tuple[str, bool, bool]], links: list[Source]) -> Line:
    text = "".join(piece[0] for piece in pieces).strip()
    line = Line(number, text, "".join(p[0] for p in pieces if p[2]), links=links)
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
        (match := PLAIN_LABEL.match(text)) and field_of(match[1]) is not None
    ):
        _set_label(line, match[1], match[2])
    return line


def _set_label(line: Line, label: str, value: str) -> None:
    label = "".join(label.split())
    if label and len(label) <= _MAX_LABEL:
        line.label, line.value = label, value.strip()


def field_of(label: str) -> str | None:
    """The record field a label fills; None for a label we do not know (kept in `extra`)."""
    label = "".join(label.split())  # 标　　题 is 标题
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


def heading_text(block: list[Token]) -> str:
    return " ".join(line.text for line in inline_lines(block[1])) if len(block) > 2 else ""


def last_text_line(text: str) -> int:
    """1-based number of the last line that is not blank."""
    return text.rstrip().count("\n") + 1


def looks_cut(line: Line) -> str | None:
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
