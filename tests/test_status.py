"""时效性 on the calendar (search/validity.py): the status a document has today follows its 施行
and expiry dates without a reindex, in hits, facets, filters, `status:` queries, documents,
exports and pages alike."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest
import requests
from conftest import served

from search.docmeta import effective_in_text, expires_in_text
from search.indexer import update_index
from search.query import SearchIndex
from search.records import file_key
from search.request import SearchRequest

STATUS_FIXTURES = Path(__file__).parent / "fixtures" / "status"

FUTURE = "某市公共机构节能管理办法"  # 施行 2027-01-01
EXPIRING = "某市新能源汽车推广应用补贴办法"  # 2021-01-01 to 2025-12-31
FIVE_YEARS = "某市绿色建筑专项资金管理办法"  # 2023-03-01, 有效期5年: to 2028-02-29
PERIOD = "某市清洁取暖试点工作方案"  # 自2024年1月1日至2026年12月31日施行
PLAIN = "某市生活垃圾分类管理规定"  # no end (a 许可证's 有效期 is not the rule's)

# What each document is on a day, without reindexing in between.
CALENDAR = {
    "2025-06-01": {
        FUTURE: "尚未生效",
        EXPIRING: "现行有效",
        FIVE_YEARS: "现行有效",
        PERIOD: "现行有效",
        PLAIN: "现行有效",
    },
    "2026-01-01": {
        FUTURE: "尚未生效",
        EXPIRING: "失效",
        FIVE_YEARS: "现行有效",
        PERIOD: "现行有效",
        PLAIN: "现行有效",
    },
    "2027-01-01": {
        FUTURE: "现行有效",
        EXPIRING: "失效",
        FIVE_YEARS: "现行有效",
        PERIOD: "失效",
        PLAIN: "现行有效",
    },
    "2028-03-01": {
        FUTURE: "现行有效",
        EXPIRING: "失效",
        FIVE_YEARS: "失效",
        PERIOD: "失效",
        PLAIN: "现行有效",
    },
}


@pytest.mark.parametrize(
    ("text", "effective", "expected"),
    [
        ("本办法自2021年1月1日起施行，有效期至2025年12月31日。", "2021-01-01", "2025-12-31"),
        ("本方案自2024年1月1日至2026年12月31日施行。", None, "2026-12-31"),
        ("本办法自2023年3月1日起施行，有效期5年。", "2023-03-01", "2028-02-29"),
        ("本通知自2024年7月1日起施行，有效期为三年。", "2024-07-01", "2027-06-30"),
        ("本意见自印发之日起实施，有效期至2027年底。", "2024-12-25", "2027-12-31"),
        ("本规定自二〇二二年一月一日起施行，有效期至二〇二四年六月三十日。", None, "2024-06-30"),
        # a 许可证's 有效期 is no end of the rule that sets it
        ("第十条 生活垃圾清运服务许可证有效期为五年。", "2019-05-01", None),
        ("本办法自2021年1月1日起施行。", "2021-01-01", None),
        # 有效期N年 counts from the 施行 day: none known, no end
        ("本办法有效期5年。", None, None),
    ],
)
def test_expires_in_text(text, effective, expected):
    assert expires_in_text(text, effective) == expected


def test_effective_in_text_from_a_period():
    assert effective_in_text("本方案自2024年1月1日至2026年12月31日施行。", None) == "2024-01-01"


@pytest.fixture(scope="module")
def status_index(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("status")
    shutil.copytree(STATUS_FIXTURES, root / "seeds")
    update_index(root / "seeds", root / "index")
    return root


def search(engine, **params) -> dict:
    return engine.search(
        SearchRequest.from_params({k: [str(v)] for k, v in params.items()} | {"per_page": ["50"]})
    )


def facet(result: dict) -> dict[str, int]:
    return {f["value"]: f["count"] for f in result["facets"]["status"]}


def titles(result: dict) -> set[str]:
    return {hit["title"] for hit in result["hits"]}


@pytest.mark.parametrize("day", list(CALENDAR))
def test_status_follows_the_calendar_without_a_reindex(status_index, monkeypatch, day):
    monkeypatch.setenv("POLICY_SEARCH_TODAY", day)
    expected = CALENDAR[day]
    counts: dict[str, int] = {}
    for status in expected.values():
        counts[status] = counts.get(status, 0) + 1
    with SearchIndex(status_index / "index") as engine:
        generation = engine.generation
        everything = search(engine)
        assert {hit["title"]: hit["status"] for hit in everything["hits"]} == expected
        assert facet(everything) == counts
        for status in ("尚未生效", "现行有效", "失效"):
            wanted = {title for title, s in expected.items() if s == status}
            filtered = search(engine, status=status)
            assert titles(filtered) == wanted
            assert filtered["total"] == len(wanted)
            # the facet keeps its alternatives' counts when one is selected (and shows it)
            assert facet(filtered) == counts | {status: counts.get(status, 0)}
            assert titles(search(engine, q=f"status:{status}")) == wanted
            # inside a query with words: the same calendar
            assert titles(search(engine, q=f"本办法 status:{status}")) == wanted - {PERIOD, PLAIN}
        for hit in everything["hits"]:
            assert engine.document(hit["id"])["status"] == expected[hit["title"]]
        assert engine.generation == generation  # nothing was reindexed


def test_status_on_one_index_as_the_days_pass(status_index, monkeypatch):
    """One engine, open while the date changes: the facet columns are not frozen either."""
    with SearchIndex(status_index / "index") as engine:
        for day, expected in CALENDAR.items():
            monkeypatch.setenv("POLICY_SEARCH_TODAY", day)
            assert {h["title"]: h["status"] for h in search(engine)["hits"]} == expected
            assert facet(search(engine, status="失效"))["失效"] == sum(
                s == "失效" for s in expected.values()
            )


def test_status_stored_dates(status_index):
    with SearchIndex(status_index / "index") as engine:
        found = {h["title"]: h["dates"] for h in search(engine)["hits"]}
    assert found[EXPIRING] == {
        "written": None,
        "published": "2020-12-01",
        "effective": "2021-01-01",
        "expires": "2025-12-31",
    }
    assert (found[PERIOD]["effective"], found[PERIOD]["expires"]) == ("2024-01-01", "2026-12-31")
    assert found[FIVE_YEARS]["expires"] == "2028-02-29"
    assert found[PLAIN]["expires"] is None


def test_status_over_http_before_and_after(status_index, monkeypatch):
    """The served API, detail page and CSV export agree with the facet, on either side of the
    施行 day, from the same index (two servers, one index, no reindex between them)."""
    document_id = f"{file_key('future.md')}-doc"
    generations = []
    # 2026-12-31: only it is not yet in force; 2027-01-01: it, FIVE_YEARS and PLAIN are in force
    # (EXPIRING and PERIOD have ended)
    for day, status, count in (("2026-12-31", "尚未生效", 1), ("2027-01-01", "现行有效", 3)):
        monkeypatch.setenv("POLICY_SEARCH_TODAY", day)
        root = status_index / day
        root.mkdir()
        shutil.copytree(status_index / "index", root / "index")
        with served(status_index / "seeds", root, "--no-watch") as server:
            url = f"http://127.0.0.1:{server.port}"
            found = requests.get(f"{url}/api/search", params={"status": status}).json()
            assert FUTURE in titles(found)
            assert found["total"] == count
            assert facet(found)[status] == count
            generations.append(found["generation"])
            whole = requests.get(f"{url}/api/documents/{document_id}").json()
            assert whole["status"] == status
            page = requests.get(f"{url}/documents/{document_id}").text
            assert f"<dt>时效性</dt>\n<dd>{status}</dd>" in page
            exported = requests.get(f"{url}/export.csv", params={"q": "公共机构"}).text
            (row,) = [r for r in csv.DictReader(io.StringIO(exported)) if r["title"] == FUTURE]
            assert row["status"] == status
    assert generations[0] == generations[1]
