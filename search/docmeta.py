"""What a record says about itself as a document, worked out when it is indexed: the issuer's one
name (issuers.py), its 公文种类 from the title, its 施行 date when only the text states it
(自2025年1月1日起施行), and its 时效性 (status)."""

from __future__ import annotations

import datetime
import re
from dataclasses import replace

from .issuers import canonical_issuer
from .records import Record
from .values import DAY, parse_date

# Longest first: 实施细则 before 细则, 办法 before 法.
DOC_TYPES = tuple(
    sorted(
        (
            "通知", "通报", "公告", "通告", "意见", "决定", "决议", "命令", "公报", "报告",
            "请示", "批复", "函", "纪要", "议案", "条例", "规定", "办法", "细则", "规则",
            "规划", "计划", "方案", "纲要", "指南", "标准", "解释", "法", "章程", "措施",
        ),
        key=len,
        reverse=True,
    )
)  # fmt: skip
# Trailing notes that are no part of the type: （试行）, (2020年修正), （征求意见稿）.
_TRAILING_NOTE = re.compile(r"(?:[（(][^（）()]{1,20}[）)]\s*)+$")
_LAST_BOOK_TITLE = re.compile(r"《([^《》]+)》[^《》]*$")
_NOT_LAW = ("方法", "做法", "想法", "说法", "看法", "用法", "立法", "执法", "违法", "守法")

_EFFECTIVE_FROM = re.compile(rf"自\s*({DAY})\s*起\s*(?:施行|实施|执行|生效)")
_EFFECTIVE_ON_ISSUE = re.compile(r"自\s*(?:公布|发布|印发|颁布)之日起\s*(?:施行|实施|执行|生效)")
_REPEALED_MARK = re.compile(r"[（(](?:已废止|已失效|失效|废止)[）)]")
# A title that repeals or amends the documents it names: 关于废止《环境信访办法》的决定.
_SUPERSEDING = re.compile(r"关于(?:废止|修改)|(?:废止|修改)(?:部分)?[^《》]{0,12}《")
_BOOK_TITLE = re.compile(r"《([^《》]{2,80})》")
# How far into a text (from either end) the 施行 sentence is looked for: notices state it in
# their first lines, rules in their last article.
_TEXT_WINDOW = 600


def doc_type(title: str) -> str | None:
    """The 公文种类 the title (or the last 《name》 in it) ends with: 通知, 办法, 条例, ..."""
    name = _TRAILING_NOTE.sub("", title.strip()).strip()
    if (book := _LAST_BOOK_TITLE.search(name)) and not name.endswith(DOC_TYPES):
        name = _TRAILING_NOTE.sub("", book[1]).strip()
    for kind in DOC_TYPES:
        if name.endswith(kind) and len(name) > len(kind):
            if kind == "法" and name.endswith(_NOT_LAW):
                return None
            return kind
    return None


def effective_in_text(content: str, issued: str | None) -> str | None:
    """The 施行 date a text states near its start or end: 自2025年1月1日起施行, or 自印发之日起施行
    (then the date it was issued)."""
    windows = [content[:_TEXT_WINDOW], content[-_TEXT_WINDOW:]]
    for window in windows:
        if (match := _EFFECTIVE_FROM.search(window)) and (date := parse_date(match[1])):
            return date[1]
    if any(_EFFECTIVE_ON_ISSUE.search(window) for window in windows):
        return issued
    return None


def status(record: Record, today: datetime.date) -> str | None:
    """时效性 as far as the document itself tells: 尚未生效 before its 施行 date, 已废止 when its
    title says so, else 现行有效 when it is dated; None for entries and undated documents.
    That another indexed document repealed or amended it is marked afterwards (indexer)."""
    if record.kind != "document":
        return None
    if _REPEALED_MARK.search(record.title):
        return "已废止"
    effective = record.dates.effective
    if effective and len(effective) == 10 and effective > today.isoformat():
        return "尚未生效"
    if effective or record.date:
        return "现行有效"
    return None


def superseding(title: str, content: str) -> tuple[str, list[str]] | None:
    """(the status it gives, the titles it names) when a document repeals (废止) or amends (修改)
    other documents by name, in its title or else its first lines; None otherwise."""
    if not _SUPERSEDING.search(title):
        return None
    names = _BOOK_TITLE.findall(title) or _BOOK_TITLE.findall(content[:_TEXT_WINDOW])
    if not names:
        return None
    return ("已废止" if "废止" in title else "已修改"), list(dict.fromkeys(names))


def enriched(
    record: Record, today: datetime.date | None = None, superseded: str | None = None
) -> Record:
    """The record with issuer_canonical, doc_type, dates.effective and status filled in;
    `superseded` (已废止, 已修改) when another indexed document repeals or amends it."""
    dates = record.dates
    if record.kind == "document" and not dates.effective:
        issued = dates.published or dates.written or record.date
        effective = record.effective_date or effective_in_text(record.content, issued)
        dates = replace(dates, effective=effective)
    filled = replace(
        record,
        issuer_canonical=canonical_issuer(record.issuer),
        doc_type=doc_type(record.title),
        dates=dates,
        effective_date=record.effective_date or dates.effective,
    )
    if superseded and record.kind == "document":
        return replace(filled, status=superseded)
    return replace(filled, status=status(filled, today or datetime.date.today()))
