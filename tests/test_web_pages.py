"""The browser pages (web/pages.py) with Flask's test client: the search page's hits, facets,
chart, paging and states, the detail page, exports, escaping and the page-side errors."""

from __future__ import annotations

import csv
import html
import io
import re
from urllib.parse import urlencode

import pytest
from conftest import entry_id

from search.config import Settings
from search.records import file_key
from search.request import SORTS
from web.pages import SORT_LABELS, csv_cell, web_url

SEED = file_key("beijing-industry-carbon-key-nodes.md")
XSS = file_key("xss-entries.md")
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(2)>"


def entry(node: int, number: int, key: str = SEED) -> str:
    return entry_id(node, number, key)


def url(*pairs: tuple[str, str]) -> str:
    return "/?" + urlencode(pairs) if pairs else "/"


def page(client, path: str, status: int = 200) -> str:
    response = client.get(path)
    assert response.status_code == status
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


def hit_ids(text: str) -> list[str]:
    return re.findall(r'<li class="hit" data-id="([^"]+)">', text)


FACET_LINK = re.compile(
    r'<a class="facet-value( selected)?" href="([^"]*)"\s+data-facet="([^"]*)" '
    r'data-value="([^"]*)">.*?<span class="count">(\d+)</span>',
    re.S,
)


def facets(text: str) -> dict[str, list[tuple[str, int, bool, str]]]:
    """facet parameter -> [(value, count, selected, toggle url)] as the sidebar shows them."""
    found: dict[str, list] = {}
    for selected, href, facet, value, count in FACET_LINK.findall(text):
        found.setdefault(facet, []).append(
            (html.unescape(value), int(count), bool(selected), html.unescape(href))
        )
    return found


def links(text: str, css_class: str) -> list[tuple[str, str]]:
    """(href, text) of the links with this class."""
    pattern = rf'<a class="{css_class}" href="([^"]*)">(.*?)</a>'
    return [
        (html.unescape(h), re.sub(r"<[^>]+>|\s+", "", t))
        for h, t in re.findall(pattern, text, re.S)
    ]


# ---------------------------------------------------------------------------------------------
# The search page


def test_page_lists_hits_with_marked_title_and_snippet(client):
    text = page(client, url(("q", "碳排量双控")))
    assert '<html lang="zh-CN">' in text
    assert sorted(hit_ids(text)) == sorted([entry(1, 2), entry(3, 2)])
    assert (
        f'<a href="/documents/{entry(3, 2)}">北京市2021年政府工作报告中关于<mark>碳排量</mark>的举措</a>'
        in text
    )
    assert "能源和<mark>碳排量</mark>的总量与强度<mark>双重管控</mark>" in text
    assert '<span class="issuer">北京市发展改革委</span>' in text
    assert '<time datetime="2020-04">2020年4月</time>' in text
    assert '<span class="node-type">季节性</span>' in text
    assert '<span class="confidence">可信度 0.58</span>' in text
    assert (
        '<a href="https://news.bjx.com.cn/html/20210201/1133777.shtml" '
        'rel="noopener noreferrer" target="_blank">来源</a>'
    ) in text
    assert '共 <strong id="total">2</strong> 条结果' in text


def test_page_marks_issuers_taken_from_source_links(client):
    text = page(client, url(("issuer", "北京市人民政府")))
    assert len(hit_ids(text)) == 4
    assert (
        text.count(
            '<span class="issuer">北京市人民政府<span class="derived" title="发布单位取自来源链接的名称">'
            "（据来源）</span></span>"
        )
        == 4
    )


def test_page_facets_with_counts_and_toggle_links(client):
    text = page(client, url(("q", "碳排量")))
    shown = facets(text)
    assert list(shown) == [
        "issuer", "year", "type", "region", "sector", "confidence", "doc_type"
    ]  # fmt: skip
    assert shown["issuer"] == [
        ("北京市人民政府", 3, False, url(("q", "碳排量"), ("issuer", "北京市人民政府"))),
        (
            "北京市发展和改革委员会",
            1,
            False,
            url(("q", "碳排量"), ("issuer", "北京市发展和改革委员会")),
        ),
    ]
    assert shown["year"] == [
        ("2023", 3, False, url(("q", "碳排量"), ("year", "2023"))),
        ("2021", 3, False, url(("q", "碳排量"), ("year", "2021"))),
        ("2020", 1, False, url(("q", "碳排量"), ("year", "2020"))),
        ("2013", 1, False, url(("q", "碳排量"), ("year", "2013"))),
    ]
    assert shown["type"] == [
        ("事件", 7, False, url(("q", "碳排量"), ("type", "事件"))),
        ("季节性", 1, False, url(("q", "碳排量"), ("type", "季节性"))),
    ]
    assert shown["confidence"] == [
        ("0.5-0.6", 8, False, url(("q", "碳排量"), ("confidence", "0.5-0.6")))
    ]


def test_page_facet_values_toggle_and_clear(client):
    state = (("q", "碳排量"), ("issuer", "北京市人民政府"), ("issuer", "北京市发展改革委"))
    text = page(client, url(*state, ("sort", "date"), ("page", "2")))
    assert facets(text)["issuer"] == [
        # each selected value's link removes it (and goes back to page 1)
        ("北京市人民政府", 3, True, url(state[0], state[2], ("sort", "date"))),
        ("北京市发展和改革委员会", 1, True, url(state[0], state[1], ("sort", "date"))),
    ]
    assert links(text, "clear") == [(url(("q", "碳排量"), ("sort", "date")), "清除发布单位筛选")]
    assert links(text, "chip") == [
        (url(state[0], state[2], ("sort", "date")), "发布单位：北京市人民政府×（移除）"),
        (url(state[0], state[1], ("sort", "date")), "发布单位：北京市发展改革委×（移除）"),
    ]
    assert links(text, "clear-all") == [(url(("q", "碳排量"), ("sort", "date")), "清除全部筛选")]
    # the form keeps the selected values, so a new query keeps the filters
    assert '<input type="hidden" name="issuer" value="北京市人民政府">' in text
    assert '<input type="hidden" name="issuer" value="北京市发展改革委">' in text


def test_page_sort_choices_are_every_sort_of_the_library(client):
    text = page(client, "/")
    assert re.findall(r'<option value="([^"]+)"', text) == [
        "relevance", "-date", "date", "confidence", "10", "20", "50", "100",
    ]  # fmt: skip
    assert set(SORT_LABELS) == set(SORTS)


def test_page_filter_inputs_keep_their_values(client):
    text = page(
        client,
        url(
            ("date_from", "2021"),
            ("date_to", "2023-06"),
            ("min_confidence", "0.56"),
            ("sort", "-date"),
        ),
    )
    assert 'name="date_from" value="2021"' in text
    assert 'name="date_to" value="2023-06"' in text
    assert 'value="0.56" placeholder="0–1"' in text
    assert '<option value="-date" selected>日期（新→旧）</option>' in text
    assert [label for _, label in links(text, "chip")] == [
        "起始日期：2021×（移除）",
        "截止日期：2023-06×（移除）",
        "最低可信度：0.56×（移除）",
    ]
    for name in ("q", "date_from", "date_to", "min_confidence", "sort", "per_page"):
        assert f'<label for="{name}"' in text


BAR = re.compile(r'<a class="bar-link( selected)?" href="([^"]*)" data-year="(\d+)"')


def bars(text: str) -> list[tuple[str, str, str]]:
    return [(selected, html.unescape(href), year) for selected, href, year in BAR.findall(text)]


def test_page_year_chart_bars_link_to_their_year(client):
    text = page(client, url(("q", "碳排量")))
    assert bars(text) == [
        ("", url(("q", "碳排量"), ("year", year)), year)
        for year in ("2013", "2020", "2021", "2023")
    ]
    assert 'aria-label="2021 年：3 条"' in text
    # years between with no records are drawn as empty slots, without links
    empty = re.findall(r'<text class="bar-year empty"[^>]*>(\d+)</text>', text)
    assert empty == ["2014", "2015", "2016", "2017", "2018", "2019", "2022"]


def test_page_year_chart_bar_of_the_chosen_year_clears_it(client):
    text = page(client, url(("q", "碳排量"), ("year", "2021")))
    assert bars(text) == [
        ("", url(("q", "碳排量"), ("year", "2013")), "2013"),
        ("", url(("q", "碳排量"), ("year", "2020")), "2020"),
        (" selected", url(("q", "碳排量")), "2021"),
        ("", url(("q", "碳排量"), ("year", "2023")), "2023"),
    ]
    assert sorted(hit_ids(text)) == sorted([entry(2, 1), entry(3, 1 + 1), entry(5, 1)])


def test_page_paging_links(client):
    text = page(client, url(("per_page", "5"), ("page", "2")))
    assert len(hit_ids(text)) == 5
    assert '<ol class="hits" start="6">' in text
    nav = text[text.index('<nav class="paging"') : text.index("</nav>")]
    assert re.findall(r'<a href="([^"]*)"( rel="\w+"| aria-current="page")?>', nav) == [
        (html.escape(url(("per_page", "5"))), ' rel="prev"'),
        (html.escape(url(("per_page", "5"))), ""),
        (html.escape(url(("per_page", "5"), ("page", "2"))), ' aria-current="page"'),
        (html.escape(url(("per_page", "5"), ("page", "3"))), ""),
        (html.escape(url(("per_page", "5"), ("page", "3"))), ' rel="next"'),
    ]


def test_page_empty_state_offers_the_suggestion(client):
    text = page(client, url(("q", "碳中合"), ("sort", "date")))
    assert hit_ids(text) == []
    assert "没有找到与“碳中合”匹配的记录。" in text
    assert links(text, "suggestion") == [(url(("sort", "date"), ("q", "碳中和")), "碳中和")]


def test_page_export_links_carry_the_search_without_paging(client):
    text = page(client, url(("q", "碳排量"), ("issuer", "北京市人民政府"), ("page", "1")))
    query = html.escape(urlencode([("q", "碳排量"), ("issuer", "北京市人民政府")]))
    assert f'<a href="/export.csv?{query}">CSV</a>' in text
    assert f'<a href="/export.json?{query}">JSON</a>' in text
    assert f'<a href="/api/search?{query}">API</a>' in text
    assert "导出全部匹配结果（最多 10,000 条）" in text


def test_page_bad_parameter_shows_the_message_with_status_400(client):
    text = page(client, url(("q", "碳"), ("date_from", "2020-13")), status=400)
    assert (
        "<strong>参数有误（date_from）：</strong>date_from must be a date as YYYY, YYYY-MM or "
        "YYYY-MM-DD, not &#39;2020-13&#39;"
    ) in text
    assert "Traceback" not in text
    # the bad value can be removed with one click
    assert links(text, "chip") == [(url(("q", "碳")), "起始日期：2020-13×（移除）")]


def test_page_missing_index_is_a_503_page(tmp_path, make_app):
    client = make_app({"SETTINGS": Settings(index=tmp_path / "index")}).test_client()
    for path in ("/", "/documents/x"):
        text = page(client, path, status=503)
        assert "<h1>服务暂不可用（503）</h1>" in text
        assert f"no index at {tmp_path / 'index'}: build it with `policy-search index`" in text


def test_page_unknown_path_and_method(client):
    assert "<h1>未找到（404）</h1>" in page(client, "/nothing", status=404)
    response = client.post("/")
    assert (response.status_code, response.mimetype) == (405, "text/html")


# ---------------------------------------------------------------------------------------------
# The detail page


def test_document_page_shows_every_field_sources_and_siblings(client):
    text = page(client, f"/documents/{entry(1, 2)}")
    assert "<h1>北京市&#34;十四五&#34;阶段能源发展计划</h1>" in text
    fields = dict(re.findall(r"<dt>(.*?)</dt>\s*<dd>(.*?)</dd>", text, re.S))
    assert fields == {
        "发布单位": "北京市发展改革委",
        "发布单位（规范名称）": "北京市发展和改革委员会",
        "日期（原文）": "2020年4月",
        "日期": "2020-04",
        "日期精度": "月",
        "施行日期": '<span class="missing">—</span>',
        "地点": '<span class="missing">—</span>',
        "规模": '<span class="missing">—</span>',
        "关键节点日期": "2020-04-15",
        "节点类型": "季节性",
        "可信度": "0.58",
        "地区": "北京市",
        "领域": "工业领域",
        "发文字号": '<span class="missing">—</span>',
        "公文种类": "计划",
        "时效性": '<span class="missing">—</span>',
        "记录类型": "汇编条目",
        "节点 / 条目序号": "1 / 2",
        "分析时间": "2025-05-01 16:56:12",
        "是否截断": "否",
        "编号": entry(1, 2),
        "汇编 / 文件标题": "北京市 工业领域 碳排量关键节点政策与事件汇编",
        "源文件": "beijing-industry-carbon-key-nodes.md",
    }
    assert '<div class="content">推行一系列方案来加强能源和碳排量的总量与强度双重管控' in text
    assert (
        '<a href="https://fgw.beijing.gov.cn/fgwzwgk/2024zcwj/ghjhwb/wngh/202204/'
        'W020240628797068019955.pdf" rel="noopener noreferrer" target="_blank">北京市发展改革委</a>'
    ) in text
    siblings = text[text.index('<ol class="siblings">') :]
    siblings = siblings[: siblings.index("</ol>")]
    assert re.findall(r'<a href="/documents/([^"]+)">', siblings) == [entry(1, 1), entry(1, 3)]
    assert '<pre class="raw">' not in text  # the index keeps the fields, not the Markdown
    assert f'<a href="/api/documents/{entry(1, 2)}">以 JSON 查看</a>' in text


def test_document_page_unknown_id_is_a_404_page(client):
    text = page(client, "/documents/nope", status=404)
    assert "no record has the id &#39;nope&#39;" in text


# ---------------------------------------------------------------------------------------------
# Escaping: record text is never markup


def test_script_in_a_record_is_inert_text_in_list_snippet_and_detail(xss_client):
    listing = page(xss_client, url(("q", "注入测试")))
    assert hit_ids(listing) == [entry(1, 2, XSS), entry(1, 1, XSS)]
    detail = page(xss_client, f"/documents/{entry(1, 1, XSS)}")
    for text in (listing, detail):
        assert "<script>alert" not in text
        assert "<img src=x" not in text
        assert html.escape(SCRIPT, quote=False) in text
        assert html.escape(IMG, quote=False) in text
    # title and snippet, with the marks the library added
    assert f"<mark>注入测试</mark>{html.escape(SCRIPT, quote=False)}标题" in listing
    assert f"这是一条<mark>注入测试</mark>记录：{html.escape(SCRIPT, quote=False)}" in listing
    # a javascript: link in the seed never becomes a link
    assert "javascript:" not in listing
    assert 'href="javascript' not in detail


def test_web_url_allows_only_http_links():
    assert web_url("https://www.beijing.gov.cn/a.html")
    assert web_url("http://example.org")
    for bad in ("javascript:alert(1)", " JavaScript:alert(1)", "data:text/html,x", "", None):
        assert not web_url(bad)


def test_pages_have_no_inline_script_style_or_handlers(client):
    pages = ("/", url(("q", "碳排量")), f"/documents/{entry(1, 2)}", "/nothing", "/timeline")
    for path in pages:
        response = client.get(path)
        text = response.get_data(as_text=True)
        assert re.findall(r"<script[^>]*>", text) == [
            '<script src="/static/app.js" defer>',
            '<script src="/static/suggest.js" defer>',
        ]
        assert re.search(r"<style|\sstyle=|\son\w+=", text) is None
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_static_files_are_served(client):
    for path, mimetype in (
        ("/static/style.css", "text/css"),
        ("/static/app.js", "text/javascript"),
        ("/static/suggest.js", "text/javascript"),
        ("/static/favicon.svg", "image/svg+xml"),
    ):
        response = client.get(path)
        assert (response.status_code, response.mimetype) == (200, mimetype)
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        response.close()


# ---------------------------------------------------------------------------------------------
# Exports


def csv_rows(response) -> list[list[str]]:
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_export_csv_holds_every_match_with_a_bom(client):
    response = client.get("/export.csv?issuer=北京市发展改革委&per_page=1&page=2")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="policy-search.csv"'
    rows = csv_rows(response)
    assert rows[0] == [
        "id", "title", "issuer", "issuer_canonical", "issuer_derived", "date", "date_text",
        "doc_number", "doc_type", "status", "written", "published", "effective", "node_date",
        "node_type", "confidence", "region", "sector", "kind", "source_file", "sources", "url",
    ]  # fmt: skip
    source = (
        "北京市发展改革委 https://fgw.beijing.gov.cn/fgwzwgk/2024zcwj/ghjhwb/wngh/202204/"
        "W020240628797068019955.pdf"
    )
    assert rows[1:] == [
        [
            entry(1, number),
            '北京市"十四五"阶段能源发展计划',
            "北京市发展改革委",
            "北京市发展和改革委员会",
            "false",
            "2020-04",
            "2020年4月",
            "",
            "计划",
            "",
            "",
            "",
            "",
            "2020-04-15",
            "季节性",
            "0.58",
            "北京市",
            "工业领域",
            "entry",
            "beijing-industry-carbon-key-nodes.md",
            source,
            f"http://localhost/documents/{entry(1, number)}",
        ]  # fmt: skip
        for number in (1, 2, 3)
    ]


def test_export_json_holds_every_match_in_the_search_order(client):
    response = client.get("/export.json?q=碳排量&per_page=2&page=3")
    assert response.status_code == 200
    body = response.json
    search = client.get("/api/search?q=碳排量&per_page=100").json
    assert {k: v for k, v in body.items() if k != "hits"} == {
        "query": "碳排量",
        "total": 8,
        "exported": 8,
        "limit": 10000,
        "truncated": False,
        "sort": "relevance",
        "generation": search["generation"],
    }
    assert body["hits"] == search["hits"]


def test_export_is_capped_and_says_so(seed_index, make_app):
    config = {"SETTINGS": Settings(index=seed_index), "EXPORT_LIMIT": 5}
    client = make_app(config).test_client()
    body = client.get("/export.json").json
    assert (body["total"], body["exported"], body["limit"], body["truncated"]) == (13, 5, 5, True)
    assert len(csv_rows(client.get("/export.csv"))) == 1 + 5
    assert "导出全部匹配结果（最多 5 条；共 13 条，超出部分不导出）" in page(client, "/")


def test_export_bad_parameter_is_a_json_400(client):
    for path in ("/export.csv?min_confidence=2", "/export.json?min_confidence=2"):
        response = client.get(path)
        assert response.status_code == 400
        assert response.json == {
            "error": {
                "status": 400,
                "parameter": "min_confidence",
                "message": "min_confidence must be a number from 0 to 1, not '2'",
            }
        }


@pytest.mark.parametrize("value", ["=HYPERLINK(1)", "+1", "-1", "@SUM(1)"])
def test_export_csv_cells_never_start_a_formula(value):
    assert csv_cell(value) == "'" + value
    assert csv_cell("2020-04") == "2020-04"


def test_page_unexpected_error_is_a_500_page_without_details(app, monkeypatch):
    def broken(self, request):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(type(app.extensions["policy_search"]), "search", broken)
    text = page(app.test_client(), url(("q", "碳")), status=500)
    assert "<h1>服务器内部错误（500）</h1>" in text
    assert "an unexpected error occurred on the server; it has been logged" in text
    assert "secret internals" not in text and "Traceback" not in text
