"""search/values.py: dates as written (Arabic and Chinese numerals, year ranges)."""

from __future__ import annotations

import pytest

from search.docmeta import effective_in_text
from search.documents import parse_text
from search.values import parse_date


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024年3月8日", ("2024年3月8日", "2024-03-08", "day")),
        ("2024-03-08", ("2024-03-08", "2024-03-08", "day")),
        ("2024年3月", ("2024年3月", "2024-03", "month")),
        ("2024年", ("2024年", "2024", "year")),
        # both zero forms: 〇 (U+3007) and ○ (U+25CB)
        ("二〇二四年三月八日", ("二〇二四年三月八日", "2024-03-08", "day")),
        ("二○一二年一月九日", ("二○一二年一月九日", "2012-01-09", "day")),
        # 零, and a Latin O or a digit 0 typed for the zero inside a Chinese year
        ("二零二四年三月八日", ("二零二四年三月八日", "2024-03-08", "day")),
        ("二O二四年三月八日", ("二O二四年三月八日", "2024-03-08", "day")),
        ("二0二四年三月八日", ("二0二四年三月八日", "2024-03-08", "day")),
        # 十, 廿 and 卅 forms of months and days
        ("二〇二三年十二月二十一日", ("二〇二三年十二月二十一日", "2023-12-21", "day")),
        ("二〇二三年十月十日", ("二〇二三年十月十日", "2023-10-10", "day")),
        ("二〇二三年十一月十五日", ("二〇二三年十一月十五日", "2023-11-15", "day")),
        ("二〇二三年一月廿一日", ("二〇二三年一月廿一日", "2023-01-21", "day")),
        ("二〇二三年三月三十日", ("二〇二三年三月三十日", "2023-03-30", "day")),
        ("二〇二三年三月卅一日", ("二〇二三年三月卅一日", "2023-03-31", "day")),
        ("二〇二三年五月二十日", ("二〇二三年五月二十日", "2023-05-20", "day")),
        ("二〇二三年五月", ("二〇二三年五月", "2023-05", "month")),
        ("二〇二三年", ("二〇二三年", "2023", "year")),
        ("2024年三月八日", ("2024年三月八日", "2024-03-08", "day")),
        # inside a sentence
        (
            "本办法自二〇二四年四月一日起施行。",
            ("二〇二四年四月一日", "2024-04-01", "day"),
        ),
        # a range of years: its start is the date, the range kept as written
        ("2021—2025年", ("2021—2025年", "2021", "year")),
        ("2021-2025年", ("2021-2025年", "2021", "year")),
        ("2021至2025年", ("2021至2025年", "2021", "year")),
        ("2021年至2025年", ("2021年至2025年", "2021", "year")),
        ("北京市2021～2025年节能规划", ("2021～2025年", "2021", "year")),
        ("二〇二一至二〇二五年", ("二〇二一至二〇二五年", "2021", "year")),
    ],
)
def test_parse_date_forms(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "“十四五”规划",
        "十四五时期",
        "二〇二三年十三月一日",
        "二〇二三年二月三十日",
        "二〇二三年二月十十日",
        "第一二三次会议",
        "OOOO年",
    ],
)
def test_parse_date_not_a_date(text):
    assert parse_date(text) is None


def test_parse_text_document_dated_in_chinese_numerals():
    text = (
        "# 某市人民政府关于印发某市节能办法的通知\n\n"
        "发文机关：某市人民政府\n成文日期：二○一二年一月九日\n发布日期：二〇二四年三月八日\n\n"
        "本办法自二〇二四年四月一日起施行。\n"
    )
    (record,), report = parse_text(text, "notice.md")
    assert (record.date_text, record.date, record.date_precision) == (
        "二〇二四年三月八日",
        "2024-03-08",
        "day",
    )
    assert (record.dates.written, record.dates.published) == ("2012-01-09", "2024-03-08")
    assert report.warnings == []


def test_effective_in_text_in_chinese_numerals():
    assert effective_in_text("本办法自二〇二四年四月一日起施行。", None) == "2024-04-01"
    assert effective_in_text("本规定自二○二三年十二月二十一日起实施。", None) == "2023-12-21"


def test_parse_text_law_history_in_chinese_numerals():
    text = (
        "# 某市节约能源条例\n\n"
        "二〇一二年一月九日某市第十三届人民代表大会常务委员会第二十九次会议通过\n"
        "二〇二三年十二月二十一日某市第十六届人民代表大会常务委员会第七次会议修正\n"
        "二〇二四年四月一日起施行\n\n"
        "第一条 为了推进节约能源，制定本条例。\n"
    )
    (record,), report = parse_text(text, "law.md")
    assert (record.date_text, record.date) == ("二〇二三年十二月二十一日", "2023-12-21")
    assert record.effective_date == "2024-04-01"
    assert record.content == "第一条 为了推进节约能源，制定本条例。"
    assert report.warnings == []
