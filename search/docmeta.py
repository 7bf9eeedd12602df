"""What a record says about itself as a document, worked out when it is indexed: the issuer's one
name (issuers.py), its 公文种类 from the title, its 施行 date when only the text states it
(自2025年1月1日起施行), and its 时效性 (status)."""

from __future__ import annotations

import datetime
import re
from dataclasses import replace

from .issuers import canonical_issuer
from .records import Record
from .validity import DATED, full_day
from .values import DAY, numeral_value, parse_date

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
# 自2021年1月1日至2025年12月31日施行: in force from the one day to the other.
_PERIOD = re.compile(rf"自\s*({DAY})\s*起?\s*(?:至|到)\s*({DAY})\s*止?\s*(?:施行|实施|执行|有效)")
# 有效期至2025年12月31日 (or to a month, a year: its last day); 有效期5年, 有效期为五年. Only the
# document's own: 本办法有效期…, …起施行，有效期… (a 许可证有效期为五年 is no end of the rule).
_OWN = r"(?:本[\u4e00-\u9fff]{1,8}?|(?:施行|实施|执行)[，,、]?)"
_VALID_UNTIL = re.compile(
    _OWN + r"有效期限?(?:为|是)?\s*(?:至|到|截至|截止(?:到|至)?)\s*(\S{4,24})"
)
_VALID_FOR = re.compile(_OWN + r"有效期限?(?:为|是)?\s*(\d{1,2}|[一二三四五六七八九十]{1,2})\s*年")
_EFFECTIVE_ON_ISSUE = re.compile(r"自\s*(?:公布|发布|印发|颁布)之日起\s*(?:施行|实施|执行|生效)")
_REPEALED_MARK = re.compile(r"[（(](?:已废止|已失效|失效|废止)[）)]")
# A title that repeals or amends documents: 关于废止《环境信访办法》的决定, 关于废止、修改部分规章的
# 决定, 排污许可管理办法（试行）自2024年7月1日起废止.
_SUPERSEDING = re.compile(
    r"关于(?:废止|修改)|决定(?:予以)?(?:废止|修改)|(?:废止|修改)(?:部分)?[^《》]{0,12}《|起废止$"
)
# Titles that only talk about a decision: its draft, its explanation, an interview.
_NOT_A_DECISION = re.compile(r"征求意见|草案|送审稿|说明|解读|答记者问|问答")
_REPEALED_ON = re.compile(r"^《?(?P<name>.+?)》?(?:自.{4,20}?起)?(?:予以|同时)?废止$")
_BOOK_TITLE = re.compile(r"《([^《》]{2,80})》")
# A run of names: 《甲办法》《乙规定》, 《甲办法》和《乙规定》.
_NAMES = r"(?P<names>《[^《》]{2,80}》(?:[、，,和及与]?《[^《》]{2,80}》)*)"
_NOTE = r"(?:[（(][^（）()]{0,60}[）)])?"
# What a decision does to the names it states, sentence by sentence; names anywhere else (the
# basis, 根据《立法法》; the decision naming itself) are left alone.
_ACTIONS = (
    ("已废止", re.compile(rf"废止{_NAMES}")),
    (
        "已废止",
        re.compile(rf"{_NAMES}{_NOTE}(?:自[^，。；,;《》]{{4,16}}?起)?(?:同时|予以|一并)?废止"),
    ),
    ("已修改", re.compile(rf"将{_NAMES}[^。\n《》]{{0,80}}?修改为")),
    ("已修改", re.compile(rf"对{_NAMES}{_NOTE}(?:作|作出|进行|予以)(?:如下|以下|相应)?修改")),
    ("已修改", re.compile(rf"(?:删去|删除|修改){_NAMES}")),
    ("已修改", re.compile(rf"在{_NAMES}[^。\n《》]{{0,40}}?增加")),
    ("已修改", re.compile(rf"{_NAMES}{_NOTE}(?:根据本决定)?作(?:相应)?修改")),
)
_BASIS = re.compile(rf"(?:根据|依据|按照|遵照|依照){_NAMES}")
# A numbered item (一、) opens a part; a sub-item ((一), 1、) is a line of its list.
_ITEM = re.compile(
    r"(?=(?<![\w〕）)])(?:[一二三四五六七八九十]{1,3}、|[（(][一二三四五六七八九十]{1,3}[）)]|\d{1,2}[、．.](?!\d)))"
)
_PART = re.compile(r"^[一二三四五六七八九十]{1,3}、")
# A heading over a list of names: 一、决定予以废止的规章, （二）修改的规范性文件, 一、废止下列规章：
_LIST_HEADING = re.compile(
    r"^(?:[一二三四五六七八九十]{1,3}、|[（(][一二三四五六七八九十]{1,3}[）)])\s*(?:决定)?(?:予以)?"
    r"(?P<verb>废止|修改)(?:的|下列|以下)[^\s，。；：:《]{0,20}[：:]?(?=\s|$)"
)
_SUB_ITEM = re.compile(r"^(?:[（(][一二三四五六七八九十]{1,3}[）)]|\d{1,2}[、．.])\s*")
# A listed name runs up to its note on dates and numbers: 甲办法（试行）（2016年，…号）.
_LISTED_NAME = re.compile(
    r"^《?(?P<name>[^《》（(\s，。；]{2,80}(?:[（(][^（）()\d]{1,6}[）)])?)》?"
)
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
        match = _EFFECTIVE_FROM.search(window) or _PERIOD.search(window)
        if match and (date := parse_date(match[1])):
            return date[1]
    if any(_EFFECTIVE_ON_ISSUE.search(window) for window in windows):
        return issued
    return None


def expires_in_text(content: str, effective: str | None) -> str | None:
    """The last day a text says it is in force (ISO): 有效期至2025年12月31日, 自…至2025年12月31日
    施行, or 有效期5年 counted from `effective` (its 施行 date)."""
    for window in (content[:_TEXT_WINDOW], content[-_TEXT_WINDOW:]):
        if (match := _PERIOD.search(window)) and (date := parse_date(match[2])):
            return date[1]
        if (match := _VALID_UNTIL.search(window)) and (date := parse_date(match[1])):
            return _last_day(date[1])
        start = full_day(effective)
        if start and (match := _VALID_FOR.search(window)) and (years := numeral_value(match[1])):
            first = datetime.date.fromisoformat(start)
            try:
                end = first.replace(year=first.year + years)
            except ValueError:  # from 29 February to a year without one
                end = first.replace(year=first.year + years, day=28)
            return (end - datetime.timedelta(days=1)).isoformat()
    return None


def _last_day(iso: str) -> str:
    """The last day of an ISO year or month (an ISO day as it is)."""
    parts = [int(p) for p in iso.split("-")]
    if len(parts) == 3:
        return iso
    year, month = parts[0], parts[1] if len(parts) == 2 else 12
    following = datetime.date(year + (month == 12), month % 12 + 1, 1)
    return (following - datetime.timedelta(days=1)).isoformat()


def status(record: Record) -> str | None:
    """时效性 as stored: 已废止 when its title says so, else 现行有效 when it is dated (which the
    calendar reads as 尚未生效 before its 施行 date and 失效 after its expiry, validity.py); None
    for entries and undated documents. That another indexed document repealed or amended it
    is marked afterwards (supersede.py)."""
    if record.kind != "document":
        return None
    if _REPEALED_MARK.search(record.title):
        return "已废止"
    if record.dates.effective or record.date:
        return DATED
    return None


def superseding(title: str, content: str) -> dict[str, str] | None:
    """The documents a decision repeals (已废止) or amends (已修改), by title, as its structure
    states them: 废止《…》 / 将《…》…修改为 / 对《…》作如下修改 in its title or items, or the names
    listed under a part headed 废止 or 修改. None for any other document (drafts and
    explanations of a decision included)."""
    title = title.strip()
    if not _SUPERSEDING.search(title) or _NOT_A_DECISION.search(title):
        return None
    found: dict[str, str] = {}

    def mark(name: str, status: str) -> None:
        name = name.strip()
        if name and name != title and found.get(name) != "已废止":
            found[name] = status

    if (repealed := _REPEALED_ON.match(title)) and "关于" not in title:
        mark(repealed["name"], "已废止")
    for text in (title, *content.splitlines()):
        for status, name in _actions(text):
            mark(name, status)
    listing = None  # the status a list heading gives the items below it
    for line in content.splitlines():
        for item in filter(None, (piece.strip() for piece in _ITEM.split(line))):
            if heading := _LIST_HEADING.match(item):
                listing = "已废止" if heading["verb"] == "废止" else "已修改"
                rest = item[heading.end() :].strip()  # the text on one line: the list follows
                if rest.startswith("《") and (listed := _listed_name(rest)):
                    mark(listed, listing)
            elif _PART.match(item):
                listing = None  # a part of another kind: 二、将《甲办法》第五条修改为…
            elif listing and not _actions(item) and (listed := _listed_name(item)):
                mark(listed, listing)
    return found or None


def _actions(text: str) -> list[tuple[str, str]]:
    """(status, name) of what the sentences of `text` do to the names they state."""
    basis = {match.span("names") for match in _BASIS.finditer(text)}
    acted = []
    for status, pattern in _ACTIONS:
        for match in pattern.finditer(text):
            if match.span("names") not in basis:
                acted += [(status, name) for name in _BOOK_TITLE.findall(match["names"])]
    return acted


def _listed_name(item: str) -> str | None:
    """The name a list item starts with: （一）甲办法（2015年，…号） or 1、《乙规定》（…）."""
    if not _SUB_ITEM.match(item) and not item.startswith("《"):
        return None
    match = _LISTED_NAME.match(_SUB_ITEM.sub("", item, count=1))
    return match["name"] if match else None


def enriched(record: Record, superseded: str | None = None) -> Record:
    """The record with issuer_canonical, doc_type, its 施行 and expiry dates and its stored
    status filled in; `superseded` (已废止, 已修改) when another indexed document repeals or
    amends it."""
    dates = record.dates
    if record.kind == "document":
        issued = dates.published or dates.written or record.date
        effective = (
            dates.effective or record.effective_date or effective_in_text(record.content, issued)
        )
        expires = dates.expires or expires_in_text(record.content, effective)
        dates = replace(dates, effective=effective, expires=expires)
    filled = replace(
        record,
        issuer_canonical=canonical_issuer(record.issuer),
        doc_type=doc_type(record.title),
        dates=dates,
        effective_date=record.effective_date or dates.effective,
    )
    if superseded and record.kind == "document":
        return replace(filled, status=superseded)
    return replace(filled, status=status(filled))
