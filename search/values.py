"""The values inside labelled lines, as records keep them: dates (as written, ISO, precision),
confidences, sources and publishers, regions and sectors from titles."""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable

from .records import Source

# Link labels that name no publisher.
_GENERIC_LINK_LABELS = {
    "来源", "数据来源", "来源链接", "链接", "原文", "原文链接", "全文", "详情", "查看", "点击",
    "点击查看", "这里", "此处", "网页", "官网", "下载", "pdf", "source", "link", "here", "more",
}  # fmt: skip

_URL = re.compile(r"(?:[a-z][a-z0-9+.-]*://|www\.)\S+", re.IGNORECASE)
_DOMAIN = re.compile(r"^[\w.-]+\.[a-z]{2,}(?:[/:?#]\S*)?$", re.IGNORECASE)

# Months and days are validated by _number and datetime.date, as Arabic ones are.
# Digits of a year written in Chinese numerals: 二〇二四, 二○一二 (U+3007 and U+25CB both stand
# for zero), 二零二四, and a Latin O or a digit 0 typed for the zero inside such a year.
_ZEROS = "〇○零OＯ0０"
_CHINESE_DIGITS = dict.fromkeys(_ZEROS, 0) | {d: i for i, d in enumerate("一二三四五六七八九", 1)}
_CHINESE_YEAR = (
    rf"(?<![{_ZEROS}一二三四五六七八九十])[{_ZEROS}一二三四五六七八九]{{4}}(?=\s*[年至到—–~～-])"
)
_YEAR = rf"(?:(?<!\d)\d{{4}}|{_CHINESE_YEAR})"
_MONTH = r"(?:\d{1,2}|[一二三四五六七八九十]{1,3})"
_DAY_OF_MONTH = r"(?:\d{1,2}|[一二三四五六七八九十廿卅]{1,3})"
# A whole day as written in a sentence (自二〇二四年四月一日起施行): docmeta reads 施行 dates with it.
DAY = rf"{_YEAR}\s*年\s*{_MONTH}\s*月\s*{_DAY_OF_MONTH}\s*[日号]"
# 2021—2025年, 2021年至2025年: a period, whose start is its date (the end is no date of its own).
_YEAR_RANGE = re.compile(rf"({_YEAR})\s*年?\s*(?:至|到|—+|–|~|～|-)\s*{_YEAR}\s*年")

# Most specific first: at one position the regex engine takes the first alternative that fits.
# A bare `2023` counts only as the whole value, so `第1823次会议` is no year.
_DATE = re.compile(
    rf"{_YEAR_RANGE.pattern}"
    rf"|{DAY}"
    rf"|{_YEAR}\s*年\s*{_MONTH}\s*月"
    r"|(?<!\d)\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?!\d)"
    r"|(?<!\d)\d{4}[-/.]\d{1,2}(?!\d)"
    rf"|{_YEAR}\s*年"
    r"|^\s*\d{4}\s*$"
)
_NUMBER = re.compile(rf"\d+|[{_ZEROS}一二三四五六七八九十廿卅]+")
_PRECISION = {1: "year", 2: "month", 3: "day"}


def numeral_value(numeral: str) -> int | None:
    """An Arabic or Chinese numeral's value: 2024, 二〇二四 (digit by digit), 十二, 二十一, 廿一, 卅."""
    if numeral.isdecimal():
        return int(numeral)
    tens = {"十": 1, "廿": 2, "卅": 3}
    head, ten, tail = next(
        ((numeral[:i], tens[c], numeral[i + 1 :]) for i, c in enumerate(numeral) if c in tens),
        (numeral, 0, ""),
    )
    try:
        if not ten:
            return int("".join(str(_CHINESE_DIGITS[c]) for c in head))
        if len(head) > 1 or len(tail) > 1 or (head and ten != 1):
            return None
        return (_CHINESE_DIGITS[head] if head else 1) * ten * 10 + (
            _CHINESE_DIGITS[tail] if tail else 0
        )
    except KeyError:
        return None


# A place name at the start of a title; 区 alone is left out (保护区, 风景名胜区 are no regions).
_REGION_PREFIX = re.compile(
    r"^(?:[\u4e00-\u9fff]{2,9}?自治(?:区|州|县)|[\u4e00-\u9fff]{2,5}?(?:省|市|县)(?!场))"
)
_REGION_SUFFIXES = ("省", "市", "自治区", "区", "县", "州")
_SECTOR_SUFFIXES = ("领域", "行业")
_SECTOR_PREFIX = re.compile(r"^[\u4e00-\u9fff]{1,6}?(?:领域|行业)")


def parse_date(text: str) -> tuple[str, str, str] | None:
    """The first date in text as (as written, ISO truncated to its precision, precision). Arabic
    or Chinese numerals (二〇二四年三月八日, 十二月二十一日); a range of years (2021—2025年) gives its
    start year, the range kept as written."""
    match = _DATE.search(text)
    if not match:
        return None
    written = match[0].strip()
    numerals = [match[1]] if match[1] else _NUMBER.findall(written)
    parts = [numeral_value(numeral) for numeral in numerals]
    if None in parts:
        return None
    year, month, day = (parts + [1, 1])[:3]
    try:
        datetime.date(year, month, day)
    except ValueError:
        return None
    if year < 1000:
        return None
    iso = "-".join([f"{year:04d}", f"{month:02d}", f"{day:02d}"][: len(parts)])
    return written, iso, _PRECISION[len(parts)]


def parse_confidence(value: str) -> float | None:
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


def is_publisher(label: str) -> bool:
    """Whether a link label names its publisher (`北京市人民政府`) rather than a URL or `来源`."""
    label = label.strip()
    return bool(label) and not _is_url(label) and label.casefold() not in _GENERIC_LINK_LABELS


def source_from_value(value: str) -> Source | None:
    """A source written as plain text: `https://…`, or `中国政府网 https://…`."""
    match = _URL.search(value)
    # Bracket syntax here is a link markdown-it could not close, so its URL is cut short.
    if not match or "[" in value:
        return None
    name = (value[: match.start()] + value[match.end() :]).strip(" ：:()（）")
    return Source(name or match[0], match[0])


def region_prefix(title: str) -> str | None:
    match = _REGION_PREFIX.match(title)
    # 城市市容… starts like a city but is none.
    if match and "市" not in match[0][:-1]:
        return match[0]
    return None


def region_and_sector(title: str) -> tuple[str | None, str | None]:
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
        if region_prefix(first) == first or first.endswith(_REGION_SUFFIXES):
            return first, None
        return None, None
    region = region_prefix(title)
    sector = _SECTOR_PREFIX.match(title[len(region) :] if region else title)
    return region, sector[0] if sector else None


def join_lines(parts: Iterable[str]) -> str:
    return "\n".join(part for part in parts if part)


def unique_sources(sources: Iterable[Source]) -> list[Source]:
    return list(dict.fromkeys(sources))
