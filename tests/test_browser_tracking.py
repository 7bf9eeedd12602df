"""Tracking end to end in a real headless Chromium: the key-node timeline, suggestions as you
type, the feed link, related records, one name per issuer, filter chips and 结果中检索, served
by `policy-search serve` over the seed plus the single documents of tests/fixtures/tracking/."""

from __future__ import annotations

import shutil
from urllib.parse import parse_qs, urlsplit

import feedparser
import pytest
from conftest import SEEDS, TRACKING_FIXTURES, entry_id, served
from playwright.sync_api import expect
from test_browser import ARTIFACTS, Tab, browser, query, total  # noqa: F401 - browser: fixture

from search.records import file_key

pytestmark = pytest.mark.browser

SEED = file_key("beijing-industry-carbon-key-nodes.md")
NOTICE = f"{file_key('bjfgw-notice.md')}-doc"
NODE_DATES = [
    "2020-04-15",
    "2021-03-01",
    "2021-03-31",
    "2021-04-30",
    "2021-06-01",
    "2022-03-01",
    "2023-03-01",
]
SIZES = (("desktop", 1280, 900), ("phone", 390, 844))


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("served-tracking")
    seeds = root / "seeds"
    shutil.copytree(SEEDS, seeds)
    for path in TRACKING_FIXTURES.glob("*.md"):
        shutil.copy(path, seeds / path.name)
    with served(seeds, root) as running:
        yield f"http://127.0.0.1:{running.port}"


@pytest.fixture
def tab(browser):  # noqa: F811 - the browser fixture of test_browser
    opened = Tab(browser)
    yield opened
    opened.context.close()
    assert opened.errors == []


def test_timeline_of_the_region_from_the_search_page_and_back(server, tab):
    page = tab.page
    page.goto(server + "/?region=北京市&sort=date&per_page=20")
    page.locator("#timeline-link").click()
    assert urlsplit(page.url).path == "/timeline"
    assert query(page) == {"region": ["北京市"]}
    nodes = page.locator("li.node")
    expect(nodes).to_have_count(7)
    assert page.locator("li.node time.node-date").all_inner_texts() == NODE_DATES
    assert page.locator("section.timeline-year h2").all_inner_texts() == [
        "2020 年",
        "2021 年",
        "2022 年",
        "2023 年",
    ]
    first = nodes.nth(0)
    expect(first.locator(".node-type")).to_have_text("季节性")
    expect(first.locator(".confidence")).to_have_text("可信度 0.58")
    expect(first.locator(".node-entries > li")).to_have_count(3)
    first.locator(".node-entries a").nth(1).click()
    assert urlsplit(page.url).path == f"/documents/{entry_id(1, 2)}"
    page.go_back()
    page.locator("#back-to-search").click()
    assert urlsplit(page.url).path == "/"
    assert query(page) == {"region": ["北京市"]}


def test_timeline_of_words_shows_the_drainage_entry(server, tab):
    page = tab.page
    page.goto(server + "/timeline?q=碳中和")
    expect(page.locator("li.node")).to_have_count(2)
    entry = page.locator(f'li[data-id="{entry_id(5, 1)}"]')
    expect(entry).to_contain_text("北京排水集团")
    expect(entry.locator("mark").first).to_have_text("碳中和")


def test_suggestions_with_the_keyboard(server, tab):
    page = tab.page
    page.goto(server + "/")
    box = page.locator("#q")
    box.press_sequentially("碳排", delay=50)
    options = page.locator("#suggestions li")
    expect(options.first).to_be_visible()
    expect(box).to_have_attribute("aria-expanded", "true")
    terms = page.locator('#suggestions li[data-kind="term"]').evaluate_all(
        "items => items.map(item => item.dataset.text)"
    )
    assert terms and all(term.startswith("碳排") for term in terms)
    box.press("ArrowDown")
    box.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    chosen = options.nth(1).get_attribute("data-text")
    box.press("Enter")
    page.wait_for_url("**/?q=*")
    assert query(page) == {"q": [chosen]}
    assert total(page) > 0
    # Escape closes the list and leaves the typed text
    box = page.locator("#q")
    box.fill("")
    box.press_sequentially("北京市发", delay=50)
    expect(page.locator('#suggestions li[data-kind="issuer"]')).to_have_text(
        ["北京市发展和改革委员会发布单位"]
    )
    box.press("Escape")
    expect(page.locator("#suggestions")).to_be_hidden()
    expect(box).to_have_value("北京市发")
    # an issuer taken from the list becomes the issuer filter
    box.press("ArrowDown")
    expect(page.locator('#suggestions li[data-kind="issuer"]')).to_have_attribute(
        "aria-selected", "true"
    )
    box.press("Enter")
    page.wait_for_url("**/?issuer=*")
    assert query(page) == {"issuer": ["北京市发展和改革委员会"]}
    assert total(page) == 4


def test_feed_link_of_the_current_search_parses_as_atom(server, tab):
    page = tab.page
    page.goto(server + "/?q=碳中和")
    link = page.locator("#feed-link")
    expect(link).to_have_text("订阅（Atom）")
    response = page.request.get(server + link.get_attribute("href"))
    assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
    feed = feedparser.parse(response.body())
    assert not feed.bozo and feed.version == "atom10"
    assert f"{server}/documents/{entry_id(5, 1)}" in [entry.link for entry in feed.entries]


def test_related_records_on_the_detail_page(server, tab):
    page = tab.page
    page.goto(server + f"/documents/{entry_id(5, 1)}")
    related = page.locator("ol.related > li")
    expect(related.first).to_be_visible()
    ids = related.evaluate_all("items => items.map(item => item.dataset.id)")
    assert 1 <= len(ids) <= 5 and entry_id(5, 1) not in ids
    related.first.locator("a").click()
    assert urlsplit(page.url).path == f"/documents/{ids[0]}"


def test_one_issuer_name_chips_and_search_within(server, tab):
    page = tab.page
    page.goto(server + "/?issuer=北京市发改委")
    assert total(page) == 4
    selected = page.locator("a.facet-value.selected")
    expect(selected).to_have_count(1)
    expect(selected.locator(".value")).to_have_text("北京市发展和改革委员会")
    expect(selected.locator(".count")).to_have_text("4")
    expect(page.locator("a.chip")).to_have_text(["发布单位：北京市发改委 ×（移除）"])
    # 结果中检索: the words join the query, the filter stays
    page.locator("#within").fill("碳排放权")
    page.locator("#within-form button").click()
    expect(page.locator("#total")).to_have_text("1")
    assert query(page) == {"issuer": ["北京市发改委"], "q": ["碳排放权"]}
    page.locator("#within").fill("通知")
    page.locator("#within").press("Enter")
    expect(page.locator("#total")).to_have_text("1")
    assert parse_qs(urlsplit(page.url).query)["q"] == ["碳排放权 通知"]
    expect(page.locator(f'li.hit[data-id="{NOTICE}"] .doc-number')).to_have_text(
        "京发改规〔2024〕5号"
    )
    # the chip removes the filter and keeps the words
    page.locator("a.chip").click()
    assert query(page) == {"q": ["碳排放权 通知"]}
    # the facets of a single document
    page.goto(server + "/?status=已废止")
    assert total(page) == 1
    expect(page.locator("a.chip")).to_have_text(["时效性：已废止 ×（移除）"])


def test_screenshots_of_tracking_desktop_and_phone(server, browser):  # noqa: F811
    ARTIFACTS.mkdir(exist_ok=True)
    for name, width, height in SIZES:
        shown = Tab(browser, width, height)
        page = shown.page
        for label, path in (
            ("timeline", "/timeline?region=北京市"),
            ("search-tracking", "/?q=碳排放权&issuer=北京市发改委"),
            ("related", f"/documents/{entry_id(5, 1)}"),
            ("notice", f"/documents/{NOTICE}"),
        ):
            page.goto(server + path)
            assert page.evaluate("document.documentElement.scrollWidth") <= width, label
            page.screenshot(path=str(ARTIFACTS / f"{label}-{name}.png"), full_page=True)
        page.goto(server + "/")
        page.locator("#q").press_sequentially("碳排", delay=50)
        expect(page.locator("#suggestions li").first).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / f"suggest-{name}.png"))
        shown.context.close()
        assert shown.errors == []
