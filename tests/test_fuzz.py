"""Hostile input: the query parser and every API parameter fuzzed (hypothesis, and schemathesis
over our own /api/openapi.json), huge and odd queries, markup in queries and records, path
tricks in document ids, reindex floods, oversized bodies and the security headers everywhere."""

from __future__ import annotations

import shutil
import threading
import time
from html.parser import HTMLParser
from urllib.parse import urlencode

import pytest
import schemathesis
from conftest import SEEDS, XSS_FILE, entry_id
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import escape

from bench.reliability import sent_by, shows_a_traceback
from search.compiler import compile_query
from search.config import Settings
from search.errors import InvalidParameter
from search.indexer import update_index
from search.querylang import MAX_NESTING, QUERY_FIELDS, parse_query
from search.records import file_key
from search.request import MAX_QUERY_CHARS, SearchRequest
from web import create_app
from web.state import SEARCH_PARAMETERS

TOKEN = "fuzz-token"
XSS = file_key(XSS_FILE.name)
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(2)>"
# Hangs are what a time bound catches here; timings are otherwise not asserted.
BOUND_SECONDS = 5.0

# Pieces of the query grammar and of hostile input, so generated queries reach every branch.
QUERY_PIECES = st.sampled_from(
    [
        *"()（）\"“”-:：*?~^!&|+\\/[]{}<>'",
        " ",
        "\t",
        "\u3000",
        "\x00",
        "²",
        "OR",
        "AND",
        "NOT",
        "or",
        *(f"{name}:" for name in QUERY_FIELDS),
        "nofield:",
        "碳排量",
        "双控",
        "碳中和",
        "北京市发展改革委",
        "事件",
        "2021",
        "99999999999999999999",
        SCRIPT,
        IMG,
    ]
)
QUERIES = st.one_of(
    st.lists(QUERY_PIECES, max_size=40).map("".join),
    st.text(max_size=120),
)


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    """The app over its own index of the seeds and the markup file, with a reindex token."""
    root = tmp_path_factory.mktemp("fuzz")
    seeds = root / "seeds"
    shutil.copytree(SEEDS, seeds)
    shutil.copy(XSS_FILE, seeds / XSS_FILE.name)
    update_index(seeds, root / "index")
    app = create_app(
        {
            "SETTINGS": Settings(seeds=seeds, index=root / "index"),
            "REINDEX_TOKEN": TOKEN,
            "REINDEX_INTERVAL": 0,
        }
    )
    yield app
    app.extensions["policy_search"].close()


@pytest.fixture
def fuzz_client(fuzz_app):
    return fuzz_app.test_client()


class Tags(HTMLParser):
    """Every start tag of a page with its attributes, as a browser would build them."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def no_markup_but_ours(text: str) -> None:
    """A page holds no script, handler or javascript: link but our own: record and query text
    is escaped (shown as text, never parsed as tags)."""
    tags = Tags(text).tags
    assert [attrs for tag, attrs in tags if tag == "script"] == [
        {"src": "/static/app.js", "defer": None},
        {"src": "/static/suggest.js", "defer": None},
    ]
    assert not [tag for tag, _ in tags if tag in ("img", "iframe", "object", "embed", "base")]
    for tag, attrs in tags:
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
        for name in ("href", "src", "action", "formaction"):
            value = (attrs.get(name) or "").strip().lower()
            assert not value.startswith(("javascript:", "data:")), (tag, attrs)
            assert value != "x", (tag, attrs)  # the href of the injected <a href=x>
    assert "Traceback" not in text


# ---------------------------------------------------------------------------------------------
# The query parser


@settings(max_examples=400, deadline=None)
@given(QUERIES)
def test_parse_query_never_fails_but_on_deep_nesting(text):
    try:
        node = parse_query(text)
        compile_query(text)
    except InvalidParameter as error:
        assert error.parameter == "q"
        assert "nests parentheses deeper than" in error.message
        return
    assert node.kind in ("and", "or", "not", "word", "phrase", "field")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(QUERIES)
def test_search_answers_any_query(engine, text):
    try:
        result = engine.search(SearchRequest(q=text))
    except InvalidParameter as error:
        assert error.parameter == "q"
        return
    assert 0 <= len(result["hits"]) <= result["per_page"]
    assert result["total"] >= len(result["hits"])


# Values that go wrong in parsers: numbers of every kind, dates, blanks and markup.
PARAMETER_VALUES = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "0",
            "-1",
            "1",
            "1e3",
            "nan",
            "inf",
            "-0",
            "1_0",
            "١",
            "²",
            "１",
            "99999999999999999999",
            "2021",
            "2021-02-30",
            "2021-13",
            "0000",
            "9999",
            "9999-12-31",
            "relevance",
            "-date",
            "0.5-0.6",
            SCRIPT,
            "\x00",
        ]
    ),
    st.text(max_size=30),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.sampled_from([*SEARCH_PARAMETERS, "_sort", "unknown"]),
        st.lists(PARAMETER_VALUES, min_size=1, max_size=3),
        max_size=6,
    )
)
def test_request_from_any_parameters_is_a_search_or_names_the_parameter(engine, params):
    try:
        request = SearchRequest.from_params(params)
    except InvalidParameter as error:
        assert error.parameter in SEARCH_PARAMETERS
        assert error.message.startswith(error.parameter)
        return
    result = engine.search(request)
    assert result["page"] == request.page and result["per_page"] == request.per_page


# ---------------------------------------------------------------------------------------------
# The API, fuzzed from its own OpenAPI document


@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    return schemathesis.openapi.from_wsgi("/api/openapi.json", fuzz_app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_fuzzed_from_the_openapi_document_never_fails(case):
    """Valid and invalid values of every declared parameter of every operation (and the reindex
    token, right or wrong): never a 5xx, never a traceback, every answer as documented."""
    if case.operation.path == "/api/reindex":
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {TOKEN}"}
    response = case.call()
    assert response.status_code < 500, response.text[:500]
    assert not shows_a_traceback(response.text, sent_by(case))
    case.validate_response(
        response,
        checks=[
            schemathesis.checks.not_a_server_error,
            schemathesis.checks.status_code_conformance,
            schemathesis.checks.content_type_conformance,
            schemathesis.checks.response_schema_conformance,
        ],
    )


# ---------------------------------------------------------------------------------------------
# Odd queries, answered or refused quickly


HOSTILE_QUERIES = [
    ("x" * 10_000, 400),
    ("碳" * 10_000, 400),
    ("碳排量 " * (MAX_QUERY_CHARS // 4), 200),
    ("(" * (MAX_NESTING + 1) + "碳" + ")" * (MAX_NESTING + 1), 400),
    ("(" * 5_000, 400),
    ("(" * MAX_NESTING + "碳" + ")" * MAX_NESTING, 200),
    (")" * 500, 200),
    ('"' * 999, 200),
    ("-" * 999, 200),
    ("NOT " * 249, 200),
    ("NOT " * 249 + "碳", 200),
    ("- " * 499 + "碳", 200),
    ("a) " * 333, 200),
    ("a OR " * 199, 200),
    ("*", 200),
    ("a*", 200),
    ("?", 200),
    ("碳*", 200),
    ("nofield:碳", 200),
    ("title:", 200),
    ("year:99999999999999999999", 200),
    ("year:²", 200),
    ('content::"', 200),
    ("issuer:" + SCRIPT, 200),
    (SCRIPT, 200),
]


@pytest.mark.parametrize(("query", "status"), HOSTILE_QUERIES, ids=lambda v: str(v)[:24])
@pytest.mark.parametrize(
    "path",
    ["/api/search", "/", "/export.json", "/export.csv", "/api/timeline", "/timeline", "/feed.atom"],
)
def test_hostile_query_is_answered_or_refused_with_a_message(fuzz_client, path, query, status):
    started = time.perf_counter()
    response = fuzz_client.get(path, query_string={"q": query})
    took = time.perf_counter() - started
    assert took < BOUND_SECONDS, f"{took:.1f} s"
    assert response.status_code == status
    text = response.get_data(as_text=True)
    assert "Traceback" not in text
    if status == 400:
        if path in ("/", "/timeline"):
            assert "<strong>参数有误（q）：</strong>q " in text
        else:
            error = response.json["error"]
            assert (error["status"], error["parameter"]) == (400, "q")
            assert error["message"].startswith("q ")
    if path in ("/", "/timeline"):
        no_markup_but_ours(text)


# ---------------------------------------------------------------------------------------------
# Markup is inert wherever input or records are shown


MARKUP = [SCRIPT, IMG, '"><script>alert(3)</script>', "javascript:alert(4)", "<a href=x>y</a>"]


@pytest.mark.parametrize("markup", MARKUP)
def test_markup_in_any_parameter_is_escaped_on_the_page(fuzz_client, markup):
    for name in SEARCH_PARAMETERS:
        for page in ("/", "/timeline"):
            response = fuzz_client.get(page + "?" + urlencode([("q", "碳排量"), (name, markup)]))
            assert response.status_code in (200, 400)
            no_markup_but_ours(response.get_data(as_text=True))


@pytest.mark.parametrize("markup", MARKUP)
def test_markup_echoed_by_errors_is_escaped(fuzz_client, markup):
    page = fuzz_client.get("/?" + urlencode([("sort", markup)]))
    assert page.status_code == 400
    text = page.get_data(as_text=True)
    no_markup_but_ours(text)
    assert str(escape(repr(markup))) in text  # the message shows the value, as text
    missing = fuzz_client.get("/documents/" + markup.replace("/", ""))
    assert missing.status_code == 404
    no_markup_but_ours(missing.get_data(as_text=True))
    api = fuzz_client.get("/api/search?" + urlencode([("sort", markup)]))
    assert api.status_code == 400 and api.mimetype == "application/json"
    assert api.headers["X-Content-Type-Options"] == "nosniff"


def test_markup_in_records_is_inert_in_suggestions_and_exports(fuzz_client):
    # did-you-mean: a typo near the markup record's words links to words of that record
    page = fuzz_client.get("/?" + urlencode([("q", "注入测式" + SCRIPT)]))
    text = page.get_data(as_text=True)
    no_markup_but_ours(text)
    # exports: CSV and JSON downloads, never rendered as a page
    for path, mimetype in (("/export.csv", "text/csv"), ("/export.json", "application/json")):
        response = fuzz_client.get(path + "?" + urlencode([("q", "注入测试")]))
        assert (response.status_code, response.mimetype) == (200, mimetype)
        assert response.headers["Content-Disposition"].startswith("attachment;")
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        assert SCRIPT in response.get_data(as_text=True)  # the data itself, unchanged
    detail = fuzz_client.get(f"/api/documents/{entry_id(1, 1, XSS)}")
    assert detail.mimetype == "application/json"
    assert SCRIPT in detail.json["title"]


# ---------------------------------------------------------------------------------------------
# Document ids that try to leave the index


PATH_TRICKS = [
    "..",
    "../../etc/passwd",
    "..%2F..%2Fetc%2Fpasswd",
    "..%2f..%2fetc%2fpasswd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%2e%2e",
    "..%252f..%252fetc%252fpasswd",
    "%252e%252e%252f",
    "..%5c..%5cetc%5cpasswd",
    "..\\..\\etc\\passwd",
    "%c0%ae%c0%ae%c0%af",
    "....//....//etc/passwd",
    "%00",
    "x%00.md",
    "%ff%fe",
    "%2fetc%2fpasswd",
    "~root",
    f"{entry_id(1, 1)}%2f..",
]


@pytest.mark.parametrize("trick", PATH_TRICKS)
@pytest.mark.parametrize("prefix", ["/api/documents/", "/documents/"])
def test_document_path_tricks_are_404(fuzz_client, prefix, trick):
    response = fuzz_client.get(prefix + trick)
    assert response.status_code == 404
    text = response.get_data(as_text=True)
    assert "root:" not in text and "Traceback" not in text
    if prefix.startswith("/api/"):
        assert response.mimetype == "application/json"
        assert response.json["error"]["status"] == 404
    else:
        assert response.mimetype == "text/html"
        assert "<h1>未找到（404）</h1>" in text


# ---------------------------------------------------------------------------------------------
# Reindex: tokens and floods


@pytest.fixture
def reindex_app(tmp_path):
    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS, seeds)
    update_index(seeds, tmp_path / "index")
    app = create_app(
        {
            "SETTINGS": Settings(seeds=seeds, index=tmp_path / "index"),
            "REINDEX_TOKEN": TOKEN,
            "REINDEX_INTERVAL": 60,
        }
    )
    yield app
    app.extensions["policy_search"].close()


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        f"Basic {TOKEN}",
        f"Bearer {TOKEN[:-1]}",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN.upper()}",
        "Bearer " + "x" * 10_000,
        "Bearer \u00e9t\u00e9",
    ],
)
def test_reindex_refuses_every_wrong_token(reindex_app, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    response = reindex_app.test_client().post("/api/reindex", headers=headers)
    assert response.status_code in (401, 403)
    assert response.json["error"]["status"] == response.status_code


def test_reindex_flood_runs_once_and_refuses_the_rest(reindex_app):
    """8 clients post 5 times each at once, half with a wrong token: one run, 19 refused by the
    rate limit, every wrong token refused (and none of them used up the allowance). Each client
    has its own address: its 5 wrong tokens stay within the limit of failed guesses."""
    statuses: list[tuple[str, int]] = []
    lock = threading.Lock()

    def caller(number: int) -> None:
        client = reindex_app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"192.0.2.{number + 1}"
        token = TOKEN if number % 2 == 0 else "wrong"
        for _ in range(5):
            response = client.post("/api/reindex", headers={"Authorization": f"Bearer {token}"})
            with lock:
                statuses.append((token, response.status_code))

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == sorted([(TOKEN, 200)] + [(TOKEN, 429)] * 19 + [("wrong", 403)] * 20)
    assert reindex_app.test_client().post("/api/reindex").status_code == 401


# ---------------------------------------------------------------------------------------------
# Oversized bodies and headers


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/reindex"),
        ("get", "/api/search"),
        ("get", "/api/health"),
        ("get", "/export.json"),
    ],
)
def test_oversized_body_is_a_json_413_anywhere_in_the_api(fuzz_client, method, path):
    response = getattr(fuzz_client, method)(path, data=b"x" * (1 << 20))
    assert response.status_code == 413
    assert response.json == {
        "error": {
            "status": 413,
            "parameter": None,
            "message": "the request body is larger than 65536 bytes",
        }
    }


def test_oversized_body_on_a_page_is_a_413_page(fuzz_client):
    response = fuzz_client.get("/", data=b"x" * (1 << 20))
    assert (response.status_code, response.mimetype) == (413, "text/html")
    no_markup_but_ours(response.get_data(as_text=True))


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/?q=碳排量",
        "/?sort=x",
        f"/documents/{entry_id(1, 1, XSS)}",
        "/documents/nope",
        "/nothing",
        "/static/style.css",
        "/static/app.js",
        "/static/suggest.js",
        "/static/nothing.js",
        "/timeline?q=碳",
        "/feed.atom?q=碳",
        "/api/suggest?q=碳",
        "/export.csv?q=碳",
        "/api/reindex",
    ],
)
def test_security_headers_on_pages_errors_and_static_files(fuzz_client, path):
    response = fuzz_client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    response.close()
