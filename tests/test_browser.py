"""End to end: `policy-search serve` as a real subprocess on a private copy of the seeds (plus a
file of entries holding <script>), driven by a real headless Chromium."""

from __future__ import annotations

import shutil
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import REPO, SEEDS, WEB_FIXTURES, XSS_FILE, entry_id, served
from playwright.sync_api import expect, sync_playwright

from search.records import file_key

pytestmark = pytest.mark.browser

SEED = file_key("beijing-industry-carbon-key-nodes.md")
XSS = file_key("xss-entries.md")
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(2)>"


def entry(node: int, number: int, key: str = SEED) -> str:
    return entry_id(node, number, key)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> str:
    """The base URL of a served app that built its own index from seeds/ plus the XSS file."""
    root = tmp_path_factory.mktemp("served")
    seeds = root / "seeds"
    shutil.copytree(SEEDS, seeds)
    shutil.copy(XSS_FILE, seeds / XSS_FILE.name)
    with served(seeds, root) as running:
        yield f"http://127.0.0.1:{running.port}"


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Tab:
    """A fresh page plus what it reported: dialogs opened and console errors."""

    def __init__(self, browser, width: int = 1280, height: int = 900):
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.page = self.context.new_page()
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page.on("dialog", self._dialog)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _console(self, message) -> None:
        if message.type == "error":
            self.errors.append(message.text)


@pytest.fixture
def tab(browser):
    opened = Tab(browser)
    yield opened
    opened.context.close()
    assert opened.errors == []  # no CSP violations, no script errors


def hit_ids(page) -> list[str]:
    return page.locator("li.hit").evaluate_all("items => items.map(item => item.dataset.id)")


def facet_counts(page, facet: str) -> dict[str, int]:
    links = page.locator(f'section.facet[data-facet="{facet}"] a.facet-value')
    pairs = links.evaluate_all(
        "links => links.map(a => [a.dataset.value, a.querySelector('.count').textContent])"
    )
    return {value: int(count) for value, count in pairs}


def query(page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def total(page) -> int:
    return int(page.locator("#total").inner_text())


def test_search_box_finds_the_dual_control_entries(server, tab):
    page = tab.page
    page.goto(server + "/")
    assert total(page) == 15
    page.get_by_label("检索词").fill("碳排量双控")
    page.get_by_role("button", name="搜索").click()
    expect(page.locator("#total")).to_have_text("2")
    # blank fields and defaults are left out of the URL
    assert query(page) == {"q": ["碳排量双控"]}
    assert sorted(hit_ids(page)) == sorted([entry(1, 2), entry(3, 2)])
    titles = page.locator("li.hit h2").all_inner_texts()
    assert "北京市2021年政府工作报告中关于碳排量的举措" in titles
    marks = page.locator("li.hit .snippet mark").all_inner_texts()
    assert "双重管控" in marks and "双控" in marks


def test_facet_click_filters_and_changes_the_counts(server, tab):
    page = tab.page
    page.goto(server + "/")
    assert facet_counts(page, "type") == {"事件": 10, "季节性": 3, "政策": 2}
    assert facet_counts(page, "year") == {
        "2024": 2,
        "2023": 4,
        "2022": 2,
        "2021": 3,
        "2020": 3,
        "2013": 1,
    }
    page.locator(
        'section.facet[data-facet="issuer"] a[data-value="北京市发展和改革委员会"]'
    ).click()
    expect(page.locator("#total")).to_have_text("3")
    assert query(page) == {"issuer": ["北京市发展和改革委员会"]}
    assert facet_counts(page, "type") == {"季节性": 3}
    assert facet_counts(page, "year") == {"2020": 3}
    # the issuer facet ignores its own selection: the alternatives stay, with their counts
    assert facet_counts(page, "issuer") == {
        "北京市人民政府": 4,
        "北京市发展和改革委员会": 3,
        "测试发布单位": 2,
        "Asia Financial": 1,
        "国家电投集团产融控股股份有限公司年度报告": 1,
    }
    selected = page.locator("a.facet-value.selected")
    expect(selected).to_have_count(1)
    # a second value of the same facet widens the selection
    page.locator('section.facet[data-facet="issuer"] a[data-value="测试发布单位"]').click()
    expect(page.locator("#total")).to_have_text("5")
    assert query(page) == {"issuer": ["北京市发展和改革委员会", "测试发布单位"]}
    page.get_by_role("link", name="清除全部筛选").click()
    expect(page.locator("#total")).to_have_text("15")


def test_paging_detail_page_and_back_button(server, tab):
    page = tab.page
    page.goto(server + "/?per_page=5")
    first = hit_ids(page)
    assert len(first) == 5
    page.get_by_role("link", name="下一页").click()
    expect(page.locator("ol.hits")).to_have_attribute("start", "6")
    second = hit_ids(page)
    assert query(page) == {"per_page": ["5"], "page": ["2"]}
    page.locator("nav.paging").get_by_role("link", name="3", exact=True).click()
    expect(page.locator("ol.hits")).to_have_attribute("start", "11")
    third = hit_ids(page)
    assert len(set(first + second + third)) == 15
    title = page.locator("li.hit h2 a").first.inner_text()
    page.locator("li.hit h2 a").first.click()
    expect(page.locator("h1")).to_have_text(title)
    assert urlsplit(page.url).path == f"/documents/{third[0]}"
    page.go_back()
    expect(page.locator("ol.hits")).to_have_attribute("start", "11")
    assert query(page) == {"per_page": ["5"], "page": ["3"]} and hit_ids(page) == third
    page.go_back()
    expect(page.locator("ol.hits")).to_have_attribute("start", "6")
    assert hit_ids(page) == second
    page.go_back()
    expect(page.locator("ol.hits")).to_have_attribute("start", "1")
    assert hit_ids(page) == first


def test_detail_page_links_its_siblings(server, tab):
    page = tab.page
    page.goto(server + f"/documents/{entry(1, 2)}")
    siblings = page.locator("ol.siblings a")
    expect(siblings).to_have_count(2)
    siblings.nth(1).click()
    assert urlsplit(page.url).path == f"/documents/{entry(1, 3)}"
    expect(page.locator("h1")).to_have_text('北京市"十四五"阶段能源发展计划')


def test_year_bar_click_filters_to_that_year(server, tab):
    page = tab.page
    page.goto(server + "/?q=碳排量")
    assert total(page) == 8
    page.locator('a.bar-link[data-year="2021"]').click()
    expect(page.locator("#total")).to_have_text("3")
    assert query(page) == {"q": ["碳排量"], "year": ["2021"]}
    expect(page.locator('a.bar-link.selected[data-year="2021"]')).to_have_count(1)
    expect(page.locator("a.chip")).to_have_text(["年份：2021 ×（移除）"])
    # another bar replaces the year; the chosen bar again clears it
    page.locator('a.bar-link[data-year="2020"]').click()
    expect(page.locator("#total")).to_have_text("1")
    page.locator('a.bar-link[data-year="2020"]').click()
    expect(page.locator("#total")).to_have_text("8")
    assert query(page) == {"q": ["碳排量"]}


def test_script_in_a_record_stays_inert_text(server, tab):
    page = tab.page
    page.goto(server + "/?q=注入测试")
    assert hit_ids(page) == [entry(1, 2, XSS), entry(1, 1, XSS)]
    hit = page.locator(f'li.hit[data-id="{entry(1, 1, XSS)}"]')
    expect(hit.locator("h2")).to_have_text(f"注入测试{SCRIPT}标题{IMG}")
    expect(hit.locator(".snippet")).to_contain_text(f"{SCRIPT} 以及 {IMG}")
    assert page.locator("main img, main script").count() == 0
    hit.locator("h2 a").click()
    expect(page.locator("h1")).to_have_text(f"注入测试{SCRIPT}标题{IMG}")
    expect(page.locator("div.content")).to_contain_text(SCRIPT)
    expect(page.locator("div.content")).to_contain_text(IMG)
    assert page.locator("main img, main script").count() == 0
    page.wait_for_timeout(300)
    assert tab.dialogs == []


def test_keyboard_reaches_the_search_and_focus_is_visible(server, tab):
    page = tab.page
    page.goto(server + "/?q=碳排量")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused == "跳到主要内容"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    page.locator("body").click(position={"x": 5, "y": 400})
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.type(" 双控")
    page.keyboard.press("Enter")
    expect(page.locator("#total")).to_have_text("2")


def test_screenshots_desktop_and_phone(server, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    for name, width, height in (("desktop", 1280, 900), ("phone", 390, 844)):
        shown = Tab(browser, width, height)
        page = shown.page
        page.goto(server + "/?q=碳排量")
        # nothing wider than the screen: no sideways scrolling at phone width
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(ARTIFACTS / f"search-{name}.png"), full_page=True)
        page.goto(server + f"/documents/{entry(1, 2)}")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(ARTIFACTS / f"document-{name}.png"), full_page=True)
        shown.context.close()
        assert shown.errors == []
    for name in ("search-desktop", "search-phone", "document-desktop", "document-phone"):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 10_000


def test_page_offers_to_refresh_when_a_file_is_dropped_in(tmp_path, tab):
    """One process (waitress) watching its seeds: the open page notices the new generation."""
    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS, seeds)
    with served(seeds, tmp_path, "--workers", "1") as running:
        page = tab.page
        page.goto(f"http://127.0.0.1:{running.port}/?q=岸电")
        assert total(page) == 0
        assert page.locator("#index-changed").inner_text() != "未知"
        expect(page.locator("#stale-banner")).to_be_hidden()
        shutil.copy(WEB_FIXTURES / "tianjin-port-key-nodes.md", seeds / "tianjin.md")
        expect(page.locator("#stale-banner")).to_be_visible(timeout=15_000)
        page.locator("#stale-refresh").click()
        expect(page.locator("#total")).to_have_text("1")
        expect(page.locator("#stale-banner")).to_be_hidden()
