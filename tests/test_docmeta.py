"""search/docmeta.py: issuer's one name, 公文种类, 施行 dates stated in the text, 时效性."""

from __future__ import annotations

import datetime
import shutil
from pathlib import Path

import pytest

from search.docmeta import doc_type, effective_in_text, enriched
from search.records import Dates, Record
from search.validity import status_on

TODAY = datetime.date(2026, 1, 1)


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("国务院关于印发2030年前碳达峰行动方案的通知", "通知"),
        ("北京市生活垃圾管理条例", "条例"),
        ("关于废止《环境信访办法》的决定", "决定"),
        ("碳排放权交易管理办法（试行）", "办法"),
        ("中华人民共和国节约能源法(2018年修正)", "法"),
        ('北京市"十四五"阶段能源发展计划', "计划"),
        ("北京排水集团发布《北京排水集团碳中和规划》和《北京排水集团碳中和实施方案》", "方案"),
        ("北京市政府工作报告中提出的能源消耗强度降低指标", None),
        ("节能减排的新方法", None),
        ("通知", None),
    ],
)
def test_doc_type_from_the_title(title, expected):
    assert doc_type(title) == expected


def test_effective_in_text_at_either_end():
    assert effective_in_text("现予公布，自2025年1月1日起施行。", None) == "2025-01-01"
    assert effective_in_text("第一条……" + "。" * 2000 + "本办法自2024年9月1日起实施。", None) == (
        "2024-09-01"
    )
    assert effective_in_text("本通知自印发之日起施行。", "2024-12-25") == "2024-12-25"
    assert effective_in_text("没有施行日期。", "2024-12-25") is None


def document(**fields) -> Record:
    return Record(id="x-doc", kind="document", source_file="x.md", **fields)


def test_enriched_document():
    record = enriched(
        document(
            title="北京市发展和改革委员会关于印发北京市碳排放权交易管理办法的通知",
            issuer="北京市发改委",
            date="2024-12-25",
            dates=Dates(written="2024-12-20", published="2024-12-25"),
            content="本办法自2025年1月1日起施行。",
        )
    )
    assert (record.issuer, record.issuer_canonical) == ("北京市发改委", "北京市发展和改革委员会")
    assert record.dates == Dates("2024-12-20", "2024-12-25", "2025-01-01", None)
    assert record.effective_date == "2025-01-01"
    assert (record.doc_type, record.status) == ("通知", "现行有效")


def test_enriched_status():
    # stored as 现行有效 with its 施行 day; the calendar reads it as 尚未生效 until then
    future = enriched(document(title="甲办法", content="自2099年1月1日起施行"))
    assert (future.status, future.dates.effective) == ("现行有效", "2099-01-01")
    assert status_on(future.status, future.dates.effective, None, TODAY) == "尚未生效"
    assert enriched(document(title="乙条例（已废止）", date="2001")).status == "已废止"
    assert enriched(document(title="无日期的办法")).status is None
    entry = Record(id="x-n1-e1", kind="entry", source_file="x.md", title="丙通知", date="2020")
    assert enriched(entry).status is None


# --- over a real index: the seed plus tests/fixtures/tracking/ ---------------------------------

NOTICE = "bjfgw-notice.md"


def search(engine, **params):
    from search.request import SearchRequest

    return engine.search(
        SearchRequest.from_params(
            {k: v if isinstance(v, list) else [str(v)] for k, v in params.items()}
        )
    )


def test_index_issuer_facet_is_one_value_for_every_alias(tracking_engine):
    everything = search(tracking_engine)
    counts = {f["value"]: f["count"] for f in everything["facets"]["issuer"]}
    # the seed's three 北京市发展改革委 entries and the notice's 北京市发展和改革委员会
    assert counts["北京市发展和改革委员会"] == 4
    assert "北京市发展改革委" not in counts
    for alias in ("北京市发改委", "北京市发展改革委", "北京市发展和改革委员会"):
        found = search(tracking_engine, issuer=alias, per_page=20)
        assert found["total"] == 4
        assert {h["issuer"] for h in found["hits"]} == {
            "北京市发展改革委",
            "北京市发展和改革委员会",
        }
        assert {h["issuer_canonical"] for h in found["hits"]} == {"北京市发展和改革委员会"}
        assert [f for f in found["facets"]["issuer"] if f["selected"]] == [
            {"value": "北京市发展和改革委员会", "count": 4, "selected": True}
        ]
    assert search(tracking_engine, q="issuer:北京市发改委")["total"] == 4


def test_index_notice_number_dates_type_and_status(tracking_engine):
    from search.records import file_key

    found = search(tracking_engine, q="碳排放权交易管理办法 通知")
    notice = next(h for h in found["hits"] if h["id"] == f"{file_key(NOTICE)}-doc")
    assert notice["doc_number"] == "京发改规〔2024〕5号"
    assert notice["dates"] == {
        "written": "2024-12-20",
        "published": "2024-12-25",
        "effective": "2025-01-01",
        "expires": None,
    }
    assert notice["date"] == "2024-12-25"  # 发布日期, as before
    assert (notice["doc_type"], notice["status"]) == ("通知", "现行有效")
    whole = tracking_engine.document(notice["id"])
    assert whole["dates"] == notice["dates"]


def test_index_doc_type_and_status_facets_filter(tracking_engine):
    everything = search(tracking_engine)
    # the rules (尚未生效 by their own text) are repealed by the indexed decision
    assert everything["facets"]["status"] == [
        {"value": "现行有效", "count": 2, "selected": False},
        {"value": "已废止", "count": 1, "selected": False},
    ]
    assert {f["value"]: f["count"] for f in everything["facets"]["doc_type"]} == {
        "计划": 4,
        "办法": 1,
        "决定": 1,
        "方案": 1,
        "通知": 1,
    }
    repealed = search(tracking_engine, status="已废止")
    assert [h["title"] for h in repealed["hits"]] == ["北京市重点碳排放单位管理办法（试行）"]
    assert repealed["hits"][0]["dates"]["effective"] == "2099-01-01"
    assert search(tracking_engine, doc_type="办法")["total"] == 1
    assert search(tracking_engine, doc_type="办法", status="现行有效")["total"] == 0
    assert search(tracking_engine, q="status:已废止")["total"] == 1


def test_superseding_titles():
    from search.docmeta import superseding

    assert superseding("关于废止《环境信访办法》的决定", "") == {"环境信访办法": "已废止"}
    assert superseding("国务院关于修改部分行政法规的决定", "对《甲条例》《乙办法》作出修改") == {
        "甲条例": "已修改",
        "乙办法": "已修改",
    }
    assert superseding("关于印发《碳排放权交易管理办法（修订版）》的通知", "") is None
    assert superseding("中华人民共和国节约能源法(2018年修正)", "") is None


def test_superseded_status_follows_the_repealing_document(seeds_copy, tmp_path):
    import shutil

    from conftest import TRACKING_FIXTURES

    from search.indexer import update_index
    from search.query import SearchIndex

    for name in ("future-rules.md", "repeal-decision.md"):
        shutil.copy(TRACKING_FIXTURES / name, seeds_copy / name)
    index = tmp_path / "index"
    assert update_index(seeds_copy, index).generation == "1.2"  # the build, then the marks
    with SearchIndex(index) as engine:
        assert search(engine, status="已废止")["total"] == 1
    # the decision gone, the rules are 尚未生效 again (by their own 施行 date)
    (seeds_copy / "repeal-decision.md").unlink()
    update_index(seeds_copy, index)
    with SearchIndex(index) as engine:
        assert search(engine, status="已废止")["total"] == 0
        assert [h["title"] for h in search(engine, status="尚未生效")["hits"]] == [
            "北京市重点碳排放单位管理办法（试行）"
        ]
    # and back: the decision added again marks them
    shutil.copy(TRACKING_FIXTURES / "repeal-decision.md", seeds_copy / "repeal-decision.md")
    update_index(seeds_copy, index)
    with SearchIndex(index) as engine:
        assert search(engine, status="已废止")["total"] == 1
        assert search(engine)["total"] == 15


# --- which documents a 废止/修改 decision repeals and which it amends (issue #23) ---------------

SUPERSEDE_FIXTURES = Path(__file__).parent / "fixtures" / "supersede"


def test_superseded_statuses_read_from_the_decisions_structure(tmp_path):
    from search.indexer import update_index
    from search.query import SearchIndex

    seeds = tmp_path / "seeds"
    shutil.copytree(SUPERSEDE_FIXTURES, seeds)
    index = tmp_path / "index"
    update_index(seeds, index)
    with SearchIndex(index) as engine:
        hits = search(engine, per_page=100)["hits"]
    assert {hit["title"]: hit["status"] for hit in hits} == {
        # 一、废止《…》《…》
        "某省城市供水管理办法": "已废止",
        "某省燃煤锅炉管理规定": "已废止",
        # 二、对《…》作如下修改 / 三、将《…》…修改为: amended, not repealed
        "某省大气污染防治办法": "已修改",
        "某省节约用水办法": "已修改",
        # a list of rules under a 废止 heading, then under a 修改 heading, named without 《》
        "某市扬尘污染防治管理办法": "已废止",
        "某市机动车排气检测管理规定（试行）": "已废止",
        "某市排污许可管理办法": "已修改",
        # the basis a decision cites (根据《…》) is not touched
        "中华人民共和国立法法": "现行有效",
        "规章制定程序条例": "现行有效",
        "国务院办公厅关于全面推行行政规范性文件合法性审核机制的指导意见": "现行有效",
        # a draft (征求意见稿) and an explanation (说明) change nothing
        "某省河道采砂管理办法": "现行有效",
        "关于废止《某省河道采砂管理办法》的决定（征求意见稿）": "现行有效",
        "关于修改《某省河道采砂管理办法》的说明": "现行有效",
        "某省人民政府关于废止和修改部分省政府规章的决定": "现行有效",
        "某市生态环境局关于废止、修改部分规范性文件的决定": "现行有效",
    }


def test_superseding_reads_numbered_items():
    from search.docmeta import superseding

    decision = (SUPERSEDE_FIXTURES / "repeal-and-amend-decision.md").read_text(encoding="utf-8")
    assert superseding("某省人民政府关于废止和修改部分省政府规章的决定", decision) == {
        "某省城市供水管理办法": "已废止",
        "某省燃煤锅炉管理规定": "已废止",
        "某省大气污染防治办法": "已修改",
        "某省节约用水办法": "已修改",
    }
    listed = (SUPERSEDE_FIXTURES / "repeal-list-decision.md").read_text(encoding="utf-8")
    assert superseding("某市生态环境局关于废止、修改部分规范性文件的决定", listed) == {
        "某市扬尘污染防治管理办法": "已废止",
        "某市机动车排气检测管理规定（试行）": "已废止",
        "某市排污许可管理办法": "已修改",
    }
    # as the corpus's pages give it: the whole text on one line
    assert superseding(
        "关于废止、修改部分规章和规范性文件的决定",
        "根据《中华人民共和国行政许可法》第十七条和第二十条的规定，我局决定对《甲办法》等3件规章"
        "予以废止或者修改： 一、废止的规章和规范性文件 1、《甲办法》（1995年2月6日国家环境保护局令"
        "第15号） 2、《乙规定》（2001年6月19日） 二、决定予以修改的规范性文件 《丙通知》1999年1月"
        "23日 修改内容：删除第七条。",
    ) == {"甲办法": "已废止", "乙规定": "已废止", "丙通知": "已修改"}
    assert superseding("排污许可管理办法（试行）自2024年7月1日起废止", "") == {
        "排污许可管理办法（试行）": "已废止"
    }
    assert superseding("关于废止《甲办法》的决定（征求意见稿）", "废止《甲办法》。") is None
    assert superseding("关于修改《甲办法》的说明", "将《甲办法》第六条修改为：") is None
    assert superseding("关于修改《甲办法》的决定", "根据《乙法》，将第六条修改为：") == {
        "甲办法": "已修改"
    }
