"""The JSON API (web/api.py) with Flask's test client on the seed index: every parameter, every
error with its exact body, documents, health, reindex and the OpenAPI document."""

from __future__ import annotations

import json
import re
import shutil
import time
import urllib.request
from datetime import UTC, datetime

import jsonschema
import pytest
from conftest import SEED_FILE, SEEDS, WEB_FIXTURES, entry_id, served
from openapi_spec_validator import validate as validate_openapi

from search.config import Settings
from search.indexer import update_index, writer_lock
from search.records import file_key
from search.request import SearchRequest
from web.state import HEALTH_WARNING_FILES, SEARCH_PARAMETERS

SEED = file_key("beijing-industry-carbon-key-nodes.md")
TOKEN = "s3cret-token"


def entry(node: int, number: int) -> str:
    return entry_id(node, number)


def ids(body: dict) -> list[str]:
    return [hit["id"] for hit in body["hits"]]


def counts(body: dict, facet: str) -> dict:
    return {value["value"]: value["count"] for value in body["facets"][facet]}


def error(status: int, message: str, parameter: str | None = None) -> dict:
    return {"error": {"status": status, "parameter": parameter, "message": message}}


def without_timing(body: dict) -> dict:
    return {key: value for key, value in body.items() if key != "took_ms"}


# ---------------------------------------------------------------------------------------------
# /api/search


def test_search_serves_exactly_the_library_result(client, engine):
    response = client.get("/api/search", query_string={"q": "碳排量双控", "per_page": "5"})
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    expected = engine.search(SearchRequest(q="碳排量双控", per_page=5))
    assert without_timing(response.json) == without_timing(expected)
    # the library's key order is kept
    assert list(response.json) == list(expected)


def test_search_carbon_dual_control_finds_both_dual_control_entries(client):
    body = client.get("/api/search?q=碳排量双控").json
    # the 2020-04-15 entry on 能源和碳排量的总量与强度双重管控, and the 2021 政府工作报告 entry
    assert sorted(ids(body)) == sorted([entry(1, 2), entry(3, 2)])
    hits = {hit["id"]: hit for hit in body["hits"]}
    assert hits[entry(1, 2)]["node_date"] == "2020-04-15"
    assert "双重管控" in hits[entry(1, 2)]["snippet"]
    assert hits[entry(3, 2)]["title"] == "北京市2021年政府工作报告中关于碳排量的举措"
    assert {key: body[key] for key in ("query", "total", "page", "per_page", "pages")} == {
        "query": "碳排量双控",
        "total": 2,
        "page": 1,
        "per_page": 10,
        "pages": 1,
    }


def test_search_hit_has_every_documented_field(client):
    body = client.get("/api/search", query_string={"q": '"碳排量权交易"'}).json
    hit = dict(body["hits"][0])
    assert isinstance(hit.pop("score"), float)
    assert hit == {
        "id": entry(3, 1),
        "title": "北京市碳排量权交易市场运作",
        "title_html": "北京市<mark>碳排量权交易</mark>市场运作",
        "issuer": None,
        "issuer_canonical": None,
        "issuer_derived": False,
        "date": "2013",
        "date_text": "2013年启动至今",
        "dates": {"written": None, "published": None, "effective": None, "expires": None},
        "doc_number": None,
        "doc_type": None,
        "status": None,
        "confidence": 0.56,
        "node_type": "事件",
        "node_date": "2021-03-31",
        "region": "北京市",
        "sector": "工业领域",
        "kind": "entry",
        "source_file": "beijing-industry-carbon-key-nodes.md",
        "sources": [
            {
                "label": "来源",
                "url": "https://www.beijing.gov.cn/ywdt/gzdt/202311/t20231128_3311333.html",
            }
        ],
        "snippet": hit["snippet"],
    }
    assert "<mark>碳排量权交易</mark>" in hit["snippet"]


def test_search_facets_of_the_whole_seed(client):
    body = client.get("/api/search").json
    assert body["total"] == 13
    assert body["facets"] == {
        "issuer": [
            {"value": "北京市人民政府", "count": 4, "selected": False},
            {"value": "北京市发展和改革委员会", "count": 3, "selected": False},
            {"value": "Asia Financial", "count": 1, "selected": False},
            {"value": "国家电投集团产融控股股份有限公司年度报告", "count": 1, "selected": False},
        ],
        "year": [
            {"value": 2023, "count": 4, "selected": False},
            {"value": 2022, "count": 2, "selected": False},
            {"value": 2021, "count": 3, "selected": False},
            {"value": 2020, "count": 3, "selected": False},
            {"value": 2013, "count": 1, "selected": False},
        ],
        "node_type": [
            {"value": "事件", "count": 10, "selected": False},
            {"value": "季节性", "count": 3, "selected": False},
        ],
        "region": [{"value": "北京市", "count": 13, "selected": False}],
        "sector": [{"value": "工业领域", "count": 13, "selected": False}],
        "confidence": [{"value": "0.5-0.6", "count": 13, "selected": False}],
        "doc_type": [
            {"value": "计划", "count": 4, "selected": False},
            {"value": "方案", "count": 1, "selected": False},
        ],
        "status": [],
    }


def test_search_issuer_filter_counts(client):
    body = client.get("/api/search?issuer=北京市发展改革委").json
    assert body["total"] == 3
    assert ids(body) == [entry(1, 1), entry(1, 2), entry(1, 3)]
    assert [value for value in body["facets"]["issuer"] if value["selected"]] == [
        {"value": "北京市发展和改革委员会", "count": 3, "selected": True}
    ]
    assert counts(body, "year") == {2020: 3}
    assert counts(body, "node_type") == {"季节性": 3}


def test_search_empty_query_with_filters_browses_newest_first(client):
    body = client.get("/api/search?q=&type=事件&issuer=北京市人民政府").json
    assert body["sort"] == "-date"
    assert [(hit["id"], hit["date"]) for hit in body["hits"]] == [
        (entry(7, 1), "2023"),
        (entry(7, 2), "2023"),
        (entry(6, 1), "2022-03"),
        (entry(5, 1), "2021-06-25"),
    ]


def test_search_date_range_2022_gives_the_two_entries_of_node_2022_03_01(client):
    body = client.get("/api/search?date_from=2022&date_to=2022").json
    assert ids(body) == [entry(6, 1), entry(6, 2)]
    assert {hit["node_date"] for hit in body["hits"]} == {"2022-03-01"}


def test_search_min_confidence(client):
    body = client.get("/api/search?min_confidence=0.57&per_page=20").json
    assert body["total"] == 6
    assert {hit["confidence"] for hit in body["hits"]} == {0.57, 0.58}


@pytest.mark.parametrize(
    ("query", "total"),
    [
        ("issuer=北京市发展改革委&issuer=北京市人民政府", 7),
        ("type=季节性", 3),
        ("type=事件&type=季节性", 13),
        ("region=北京市", 13),
        ("region=上海市", 0),
        ("sector=工业领域", 13),
        ("year=2021", 3),
        ("year=2021&year=2013", 4),
        ("confidence=0.5-0.6", 13),
        ("confidence=0.9-1.0", 0),
        ("date_from=2021-03&date_to=2021-06", 2),
        ("date_from=2021-06-25&date_to=2021-06-25", 1),
        ("date_from=2023", 4),
        ("date_to=2013", 1),
        ("min_confidence=0", 13),
        ("min_confidence=0.58", 3),
        ("q=碳中和", 2),
        ("q=碳中和&year=2021&sort=date", 2),
        ("q=碳排量&type=季节性", 1),
    ],
)
def test_search_each_filter(client, query, total):
    response = client.get("/api/search?" + query)
    assert response.status_code == 200
    assert response.json["total"] == total


def test_search_sorts(client):
    def dates(sort):
        return [
            hit["date"] for hit in client.get(f"/api/search?sort={sort}&per_page=4").json["hits"]
        ]

    assert dates("date") == ["2013", "2020-04", "2020-04", "2020-04"]
    assert dates("-date") == ["2023", "2023", "2023", "2023"]
    by_confidence = client.get("/api/search?sort=confidence&per_page=4").json
    assert [hit["confidence"] for hit in by_confidence["hits"]] == [0.58, 0.58, 0.58, 0.57]
    relevance = client.get("/api/search?q=碳排量&sort=relevance").json
    scores = [hit["score"] for hit in relevance["hits"]]
    assert scores == sorted(scores, reverse=True) and relevance["sort"] == "relevance"


def test_search_paging_covers_every_record_once(client):
    pages = [client.get(f"/api/search?per_page=5&page={page}").json for page in (1, 2, 3)]
    assert [len(page["hits"]) for page in pages] == [5, 5, 3]
    assert {page["pages"] for page in pages} == {3}
    assert len({hit for page in pages for hit in ids(page)}) == 13
    beyond = client.get("/api/search?per_page=5&page=4").json
    assert (beyond["total"], beyond["hits"]) == (13, [])


def test_search_ignores_unknown_parameters(client):
    plain = client.get("/api/search?q=碳中和").json
    noisy = client.get("/api/search?q=碳中和&_foo=1&callback=x&format=xml").json
    assert without_timing(noisy) == without_timing(plain)


def test_search_suggestion_when_nothing_matches(client):
    body = client.get("/api/search?q=碳中合").json
    assert (body["total"], body["hits"], body["suggestion"]) == (0, [], "碳中和")


@pytest.mark.parametrize(
    ("query", "parameter", "message"),
    [
        (
            "date_from=2020-13",
            "date_from",
            "date_from must be a date as YYYY, YYYY-MM or YYYY-MM-DD, not '2020-13'",
        ),
        (
            "date_to=20200",
            "date_to",
            "date_to must be a date as YYYY, YYYY-MM or YYYY-MM-DD, not '20200'",
        ),
        ("date_from=2022&date_to=2021", "date_to", "date_to is before date_from"),
        ("page=-1", "page", "page must be between 1 and 10000, not -1"),
        ("page=0", "page", "page must be between 1 and 10000, not 0"),
        ("page=10001", "page", "page must be between 1 and 10000, not 10001"),
        ("page=two", "page", "page must be a whole number, not 'two'"),
        ("per_page=100000", "per_page", "per_page must be between 1 and 100, not 100000"),
        ("per_page=0", "per_page", "per_page must be between 1 and 100, not 0"),
        (
            "sort=newest",
            "sort",
            "sort must be one of relevance, date, -date, confidence, not 'newest'",
        ),
        (
            "min_confidence=high",
            "min_confidence",
            "min_confidence must be a number from 0 to 1, not 'high'",
        ),
        (
            "min_confidence=1.5",
            "min_confidence",
            "min_confidence must be a number from 0 to 1, not '1.5'",
        ),
        (
            "min_confidence=nan",
            "min_confidence",
            "min_confidence must be a number from 0 to 1, not 'nan'",
        ),
        ("year=twenty", "year", "year must be a whole number, not 'twenty'"),
        (
            "confidence=0.3-0.4",
            "confidence",
            "confidence must be one of 0.0-0.5, 0.5-0.6, 0.6-0.7, 0.7-0.8, 0.8-0.9, 0.9-1.0, "
            "not '0.3-0.4'",
        ),
        (
            "q=" + "碳" * 1001,
            "q",
            "q is 1001 characters long; at most 1000 are searched",
        ),
        (
            "q=" + "(" * 25 + "碳",
            "q",
            "q nests parentheses deeper than 20 levels; simplify it",
        ),
    ],
)
def test_search_bad_parameter_is_a_400_naming_it(client, query, parameter, message):
    response = client.get("/api/search?" + query)
    assert response.status_code == 400
    assert response.mimetype == "application/json"
    assert response.json == error(400, message, parameter)


def test_search_body_keeps_chinese_unescaped(client):
    raw = client.get("/api/search?q=碳排量双控").get_data()
    assert "碳排量".encode() in raw
    assert b"\\u" not in raw
    bad = client.get("/api/search?date_from=二〇二〇年").get_data()
    assert "二〇二〇年".encode() in bad and b"\\u" not in bad


# ---------------------------------------------------------------------------------------------
# /api/documents/<id>


def test_document_is_the_whole_record_with_its_siblings(client, engine):
    response = client.get(f"/api/documents/{entry(1, 2)}")
    assert response.status_code == 200
    record = engine.document(entry(1, 2))
    assert response.json == {
        **record,
        "siblings": [
            {"id": entry(1, 1), "title": '北京市"十四五"阶段能源发展计划'},
            {"id": entry(1, 3), "title": '北京市"十四五"阶段能源发展计划'},
        ],
    }
    assert (record["issuer"], record["node_date"], record["compilation"]) == (
        "北京市发展改革委",
        "2020-04-15",
        "北京市 工业领域 碳排量关键节点政策与事件汇编",
    )


def test_document_alone_in_its_node_has_no_siblings(client):
    assert client.get(f"/api/documents/{entry(2, 1)}").json["siblings"] == []


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/api/documents/nope", "no record has the id 'nope'"),
        ("/api/documents/%2e%2e", "no record has the id '..'"),
        (f"/api/documents/{entry(1, 2)}x", f"no record has the id '{entry(1, 2)}x'"),
        (
            "/api/documents/..%2F..%2Fetc%2Fpasswd",
            "nothing is served at /api/documents/../../etc/passwd; see /api/openapi.json for the API",
        ),
        (
            "/api/documents/a/b",
            "nothing is served at /api/documents/a/b; see /api/openapi.json for the API",
        ),
        ("/api/nothing", "nothing is served at /api/nothing; see /api/openapi.json for the API"),
    ],
)
def test_document_unknown_ids_and_paths_are_json_404s(client, path, message):
    response = client.get(path)
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    assert response.json == error(404, message)


# ---------------------------------------------------------------------------------------------
# /api/health and a missing index


def test_health(client, engine):
    response = client.get("/api/health")
    assert response.status_code == 200
    body = response.json
    changed = body.pop("changed")
    assert body == {
        "status": "ok",
        "documents": 13,
        "generation": engine.generation,
        "vectors": {"done": 13, "total": 13},
        "watch": {
            "enabled": False,
            "mode": None,
            "last_update": None,
            "last_error": None,
            "updates": 0,
            "restarts": 0,
            "last_restart_error": None,
            "updating_since": None,
        },
        "warning_files": [
            {
                "file": "beijing-industry-carbon-key-nodes.md",
                "codes": ["nodes_missing", "truncated"],
                "error": None,
            }
        ],
        "warning_files_total": 1,
    }
    assert datetime.fromisoformat(changed) <= datetime.now(UTC)


def test_health_lists_the_first_problem_files_failed_ones_first(tmp_path, make_app):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for n in range(HEALTH_WARNING_FILES + 5):  # no date in any of them: a warning each
        (seeds / f"note-{n:03d}.md").write_text(
            f"# 关于第{n}号事项的通知\n\n内容。\n", encoding="utf-8"
        )
    (seeds / "zz-broken.md").write_bytes(b"# \xff\xfe broken\n")  # not UTF-8: an error
    index = tmp_path / "index"
    update_index(seeds, index)
    client = make_app({"SETTINGS": Settings(seeds=seeds, index=index)}).test_client()
    body = client.get("/api/health").json
    listed = body["warning_files"]
    assert body["warning_files_total"] == HEALTH_WARNING_FILES + 6
    assert len(listed) == HEALTH_WARNING_FILES
    assert listed[0]["file"] == "zz-broken.md" and listed[0]["error"]
    assert [f["file"] for f in listed[1:]] == [
        f"note-{n:03d}.md" for n in range(HEALTH_WARNING_FILES - 1)
    ]
    assert listed[1]["codes"] == ["no_date"] and listed[1]["error"] is None


@pytest.fixture
def no_index_client(tmp_path, make_app):
    settings = Settings(seeds=SEEDS, index=tmp_path / "index")
    return make_app({"SETTINGS": settings}).test_client(), tmp_path / "index"


@pytest.mark.parametrize("path", ["/api/health", "/api/search?q=碳", "/api/documents/x"])
def test_missing_index_is_a_503_not_a_500(no_index_client, path):
    client, root = no_index_client
    response = client.get(path)
    assert response.status_code == 503
    assert response.json == error(503, f"no index at {root}: build it with `policy-search index`")


# ---------------------------------------------------------------------------------------------
# /api/reindex


@pytest.fixture
def private(seeds_copy, tmp_path, make_app):
    """An app with its own index built from a copy of the seeds, and a reindex token."""
    index = tmp_path / "index"
    update_index(seeds_copy, index)
    config = {
        "SETTINGS": Settings(seeds=seeds_copy, index=index),
        "REINDEX_TOKEN": TOKEN,
        "REINDEX_INTERVAL": 0,
        "REINDEX_WAIT": 0,
    }
    return make_app(config), seeds_copy, index


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_reindex_disabled_without_a_configured_token(client):
    for headers in ({}, bearer("anything"), bearer("")):
        response = client.post("/api/reindex", headers=headers)
        assert response.status_code == 403
        assert response.json == error(
            403, "reindex is disabled: no token is configured (set POLICY_SEARCH_REINDEX_TOKEN)"
        )


def test_reindex_token_from_the_environment(seed_index, monkeypatch, make_app):
    monkeypatch.setenv("POLICY_SEARCH_REINDEX_TOKEN", "from-env")
    monkeypatch.setenv("POLICY_SEARCH_INDEX", str(seed_index))
    client = make_app({"REINDEX_INTERVAL": 0}).test_client()
    assert client.post("/api/reindex", headers=bearer("wrong")).status_code == 403
    assert client.get("/api/health").json["documents"] == 13


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Basic czNjcmV0"}, {"Authorization": "Bearer "}]
)
def test_reindex_without_a_bearer_token_is_401(private, headers):
    app, _, _ = private
    response = app.test_client().post("/api/reindex", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer realm=policy-search"
    assert response.json == error(401, "reindex needs the header 'Authorization: Bearer <token>'")


def test_reindex_with_a_wrong_token_is_403(private):
    app, _, _ = private
    response = app.test_client().post("/api/reindex", headers=bearer(TOKEN + "x"))
    assert response.status_code == 403
    assert response.json == error(403, "the reindex token is wrong")


def test_reindex_makes_a_new_file_searchable(private):
    app, seeds, _ = private
    client = app.test_client()
    assert client.get("/api/search?q=岸电").json["total"] == 0
    shutil.copy(WEB_FIXTURES / "tianjin-port-key-nodes.md", seeds / "tianjin-port-key-nodes.md")
    response = client.post("/api/reindex", headers=bearer(TOKEN))
    assert response.status_code == 200
    summary = dict(response.json)
    assert summary.pop("seconds") >= 0
    generation = summary.pop("generation")
    assert summary == {
        "rebuilt": False,
        "added": ["tianjin-port-key-nodes.md"],
        "changed": [],
        "removed": [],
        "unchanged": 1,
        "records": 14,
        "warnings": 0,
        "notices": [],
    }
    found = client.get("/api/search?q=岸电").json
    assert ids(found) == [entry_id(1, 1, file_key("tianjin-port-key-nodes.md"))]
    assert found["generation"] == generation
    health = client.get("/api/health").json
    assert (health["status"], health["documents"], health["generation"]) == ("ok", 14, generation)
    assert health["vectors"]["total"] == 14
    # the new record's vector is computed by a pass in the background
    deadline = time.monotonic() + 120
    while client.get("/api/health").json["vectors"]["done"] < 14:
        assert time.monotonic() < deadline, "the vector pass did not finish"
        time.sleep(0.2)
    # nothing changed since: an empty update
    again = client.post("/api/reindex", headers=bearer(TOKEN)).json
    assert (again["added"], again["changed"], again["removed"]) == ([], [], [])


def test_marks_follow_an_edited_entry_under_a_running_server(seeds_copy, tmp_path):
    """The served process highlights 碳中和, the 排水集团 entry's text is edited (its record id,
    from its node's date and title, stays), a reindex runs: the marks sit on 碳中和 in the new
    text, not at the old offsets."""

    def marked(base: str) -> dict[str, list[str]]:
        with urllib.request.urlopen(base + "/api/search?q=%E7%A2%B3%E4%B8%AD%E5%92%8C") as answer:
            body = json.load(answer)
        return {
            hit["id"]: re.findall(r"<mark>(.*?)</mark>", hit["title_html"] + hit["snippet"])
            for hit in body["hits"]
        }

    # --no-watch: the reindex below is the only update
    with served(seeds_copy, tmp_path, "--no-watch", token=TOKEN) as server:
        base = f"http://127.0.0.1:{server.port}"
        before = marked(base)
        assert before[entry(5, 1)] == ["碳中和", "碳中和", "碳中和"]
        seed = seeds_copy / SEED_FILE.name
        text = seed.read_text(encoding="utf-8")
        old_text = "北京排水集团将实现碳中和"
        assert text.count(old_text) == 1
        seed.write_text(
            text.replace(old_text, "北京市人民政府国资委所属的" + old_text), encoding="utf-8"
        )
        request = urllib.request.Request(
            base + "/api/reindex", method="POST", headers=bearer(TOKEN)
        )
        with urllib.request.urlopen(request) as answer:
            assert json.load(answer)["changed"] == [SEED_FILE.name]
        after = marked(base)
    assert after.keys() == before.keys()
    assert after[entry(5, 1)] == ["碳中和", "碳中和", "碳中和"]
    assert all(marks and set(marks) == {"碳中和"} for marks in after.values())


def test_reindex_rate_limit_is_429_with_retry_after(private):
    app, _, _ = private
    app.config["REINDEX_INTERVAL"] = 5
    client = app.test_client()
    assert client.post("/api/reindex", headers=bearer(TOKEN)).status_code == 200
    response = client.post("/api/reindex", headers=bearer(TOKEN))
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "5"
    assert response.json == error(429, "a reindex ran less than 5 s ago; retry in 5 s")
    # refused callers do not use up the allowance
    assert client.post("/api/reindex").status_code == 401


def test_reindex_failed_token_guesses_are_limited_per_client(private):
    """Wrong tokens count per client: past REINDEX_FAILURES of them within the window, that
    client is refused (429), even with the right token, while another client is not."""
    app, _, _ = private
    guesser = app.test_client()
    guesser.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "192.0.2.8"
    for number in range(5):
        response = guesser.post("/api/reindex", headers=bearer(f"guess-{number}"))
        assert response.status_code == 403
        assert response.json == error(403, "the reindex token is wrong")
    for token in ("guess-5", TOKEN):
        response = guesser.post("/api/reindex", headers=bearer(token))
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "60"
        assert response.json == error(
            429, "5 wrong reindex tokens from this client within 60 s; retry in 60 s"
        )
    assert other.post("/api/reindex", headers=bearer(TOKEN)).status_code == 200


def test_reindex_failed_guesses_are_forgotten_after_the_window(private):
    app, _, _ = private
    app.config["REINDEX_FAILURE_WINDOW"] = 0.5
    client = app.test_client()
    for number in range(5):
        assert client.post("/api/reindex", headers=bearer(f"guess-{number}")).status_code == 403
    response = client.post("/api/reindex", headers=bearer(TOKEN))
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"
    deadline = time.monotonic() + 10
    while client.post("/api/reindex", headers=bearer(TOKEN)).status_code == 429:
        assert time.monotonic() < deadline, "the failed guesses were never forgotten"
        time.sleep(0.1)


def test_reindex_while_another_indexer_runs_is_409(private):
    app, _, index = private
    with writer_lock(index):
        response = app.test_client().post("/api/reindex", headers=bearer(TOKEN))
    assert response.status_code == 409
    assert response.json["error"]["status"] == 409
    assert response.json["error"]["message"].startswith("another indexer (pid ")


def test_reindex_only_accepts_post(client):
    response = client.get("/api/reindex")
    assert response.status_code == 405
    assert sorted(response.headers["Allow"].split(", ")) == ["OPTIONS", "POST"]
    assert response.json == error(405, "GET is not allowed on /api/reindex")


def test_oversized_body_is_413(private):
    app, _, _ = private
    response = app.test_client().post(
        "/api/reindex", headers=bearer(TOKEN), data=b"x" * (64 * 1024 + 1)
    )
    assert response.status_code == 413
    assert response.json == error(413, "the request body is larger than 65536 bytes")


# ---------------------------------------------------------------------------------------------
# Errors the app never answers with a traceback


def test_unexpected_error_is_a_json_500_without_details(app, monkeypatch):
    def broken(self, request):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(type(app.extensions["policy_search"]), "search", broken)
    response = app.test_client().get("/api/search?q=碳")
    assert response.status_code == 500
    assert response.json == error(
        500, "an unexpected error occurred on the server; it has been logged"
    )


def test_security_headers_on_every_response(client):
    for path in ("/api/search?q=碳", "/api/nothing", "/api/openapi.json", "/api/search?page=0"):
        headers = client.get(path).headers
        assert headers["Content-Security-Policy"] == (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
            "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        )
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"


# ---------------------------------------------------------------------------------------------
# /api/openapi.json against what is served


@pytest.fixture(scope="module")
def openapi(app):
    return app.test_client().get("/api/openapi.json").json


def check(openapi: dict, path: str, method: str, response) -> None:
    """Validate a real response against the schema the document declares for it."""
    declared = openapi["paths"][path][method]["responses"][str(response.status_code)]
    schema = declared["content"]["application/json"]["schema"]
    jsonschema.validate(
        response.json,
        {**schema, "components": openapi["components"]},
        cls=jsonschema.Draft202012Validator,
    )


def test_openapi_is_a_valid_document(openapi):
    validate_openapi(openapi)
    assert openapi["openapi"] == "3.1.0"


def test_openapi_declares_every_route_the_app_serves(app, openapi):
    served = {
        (rule.rule.replace("<record_id>", "{id}"), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith(("api.", "pages.export", "feeds."))
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    declared = {(path, method) for path, item in openapi["paths"].items() for method in item}
    assert served == declared


def test_openapi_declares_every_parameter_the_search_reads(openapi):
    class Recording(dict):
        read: set = set()

        def get(self, name, default=None):
            self.read.add(name)
            return default

    SearchRequest.from_params(Recording())
    declared = [
        openapi["components"]["parameters"][ref["$ref"].rsplit("/", 1)[1]]["name"]
        for ref in openapi["paths"]["/api/search"]["get"]["parameters"]
    ]
    assert sorted(declared) == sorted(Recording.read) == sorted(SEARCH_PARAMETERS)
    limits = {
        name: openapi["components"]["parameters"][name]["schema"]
        for name in ("q", "page", "per_page", "sort")
    }
    assert limits == {
        "q": {"type": "string", "maxLength": 1000, "default": ""},
        "page": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 1},
        "per_page": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
        "sort": {
            "type": "string",
            "enum": ["relevance", "date", "-date", "confidence"],
            "default": "relevance",
        },
    }


@pytest.mark.parametrize(
    "query",
    [
        "q=碳排量双控",
        "",
        "q=碳中合",
        "issuer=北京市发展改革委&sort=date&per_page=2&page=2",
        "q=碳中和&year=2021&confidence=0.5-0.6&min_confidence=0.5&date_from=2021",
        "page=0",
        "date_from=2020-13",
    ],
)
def test_openapi_matches_search_responses(client, openapi, query):
    check(openapi, "/api/search", "get", client.get("/api/search?" + query))


def test_openapi_matches_the_other_responses(client, openapi, private, no_index_client):
    check(openapi, "/api/documents/{id}", "get", client.get(f"/api/documents/{entry(1, 2)}"))
    check(openapi, "/api/documents/{id}", "get", client.get("/api/documents/nope"))
    check(openapi, "/api/health", "get", client.get("/api/health"))
    check(openapi, "/api/health", "get", no_index_client[0].get("/api/health"))
    check(openapi, "/api/reindex", "post", client.post("/api/reindex"))
    check(openapi, "/export.json", "get", client.get("/export.json?q=碳排量"))
    check(openapi, "/export.json", "get", client.get("/export.json?sort=x"))
    reindex = private[0].test_client()
    check(openapi, "/api/reindex", "post", reindex.post("/api/reindex"))
    check(openapi, "/api/reindex", "post", reindex.post("/api/reindex", headers=bearer(TOKEN)))


def test_openapi_matches_the_tracking_responses(tracking_client, openapi):
    check(openapi, "/api/timeline", "get", tracking_client.get("/api/timeline?region=北京市"))
    check(openapi, "/api/timeline", "get", tracking_client.get("/api/timeline?year=x"))
    check(openapi, "/api/suggest", "get", tracking_client.get("/api/suggest?q=碳排"))
    check(openapi, "/api/suggest", "get", tracking_client.get("/api/suggest?limit=0"))
    related = tracking_client.get(f"/api/documents/{entry_id(5, 1)}/related")
    check(openapi, "/api/documents/{id}/related", "get", related)
    missing = tracking_client.get("/api/documents/nope/related")
    check(openapi, "/api/documents/{id}/related", "get", missing)
    notice = file_key("bjfgw-notice.md") + "-doc"
    check(openapi, "/api/documents/{id}", "get", tracking_client.get(f"/api/documents/{notice}"))
    found = tracking_client.get("/api/search?q=碳排放权&status=现行有效&doc_type=通知")
    check(openapi, "/api/search", "get", found)
    assert found.json["total"] == 1
    check(openapi, "/api/search", "get", tracking_client.get("/api/search?status=废"))
