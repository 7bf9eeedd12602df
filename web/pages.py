"""The browser pages: search with facets, a per-year chart and paging; one record; exports.

All state lives in the query string, named as in the JSON API, so a search can be shared and the
back button works. The page shows the same result dict `/api/search` serves.
"""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import datetime
from urllib.parse import urlencode, urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from search.contract import EXPORT_COLUMNS
from search.errors import InvalidParameter
from search.issuers import canonical_issuer
from search.related import related as related_records
from search.request import MAX_PAGE, SearchRequest
from search.timeline import timeline as key_node_timeline
from search.timeline import years

from .state import (
    FILTER_PARAMETERS,
    filters_only,
    public_url,
    search_index,
    search_request,
    search_state,
)

blueprint = Blueprint("pages", __name__)

# facet name in the result -> the URL parameter that filters on it
FACET_PARAMETER = {attribute: name for name, attribute in SearchRequest.FILTER_PARAMETERS.items()}
FACET_LABELS = {
    "issuer": "发布单位",
    "year": "年份",
    "node_type": "节点类型",
    "region": "地区",
    "sector": "领域",
    "confidence": "可信度",
    "doc_type": "公文种类",
    "status": "时效性",
}
PARAMETER_LABELS = {
    **{FACET_PARAMETER[facet]: label for facet, label in FACET_LABELS.items()},
    "date_from": "起始日期",
    "date_to": "截止日期",
    "min_confidence": "最低可信度",
}
SORT_LABELS = {
    "relevance": "相关度",
    "-date": "日期（新→旧）",
    "date": "日期（旧→新）",
    "confidence": "可信度（高→低）",
}
PER_PAGE_CHOICES = (10, 20, 50, 100)
FACET_SHOWN = 12  # values shown before "more"
KIND_LABELS = {"entry": "汇编条目", "document": "政策文件"}

# Parameters kept by "clear all filters": the words, the order and the page size.
KEPT_WHEN_CLEARING = ("q", "sort", "per_page")


# ---------------------------------------------------------------------------------------------
# URLs that change one piece of the search state


def search_url(pairs: list[tuple[str, str]], endpoint: str = "pages.search") -> str:
    base = url_for(endpoint)
    return base + ("?" + urlencode(pairs) if pairs else "")


def without(state, name: str, value: str | None = None) -> list[tuple[str, str]]:
    """The state without parameter `name` (or only its `value`), back on the first page."""
    return [
        (n, v)
        for n, v in state
        if n != "page" and not (n == name and (value is None or same(name, v, value)))
    ]


def same(name: str, given: str, value: str) -> bool:
    """Whether a parameter's value as given is `value`: an issuer by any of its names."""
    if name == "issuer":
        return canonical_issuer(given) == canonical_issuer(value)
    return given == value


def toggled(state, name: str, value: str) -> list[tuple[str, str]]:
    if any(n == name and same(name, v, value) for n, v in state):
        return without(state, name, value)
    return without(state, "page") + [(name, value)]


def replaced(state, name: str, value: str) -> list[tuple[str, str]]:
    return without(state, name) + [(name, value)]


def with_page(state, page: int) -> str:
    pairs = without(state, "page")
    return search_url(pairs + [("page", str(page))] if page > 1 else pairs)


# ---------------------------------------------------------------------------------------------
# What the template shows, computed from the search result


def value_label(facet: str, value) -> str:
    if facet == "year":
        return f"{value} 年"
    return str(value)


def facet_views(result: dict, state) -> list[dict]:
    views = []
    for facet, values in result["facets"].items():
        parameter = FACET_PARAMETER[facet]
        results = [
            {
                "value": value["value"],
                "label": value_label(facet, value["value"]),
                "count": value["count"],
                "selected": value["selected"],
                "toggle_url": search_url(toggled(state, parameter, str(value["value"]))),
            }
            for value in values
        ]
        selected = any(value["selected"] for value in values)
        views.append(
            {
                "name": facet,
                "parameter": parameter,
                "label": FACET_LABELS[facet],
                "results": results[:FACET_SHOWN],
                "more": results[FACET_SHOWN:],
                "clear_url": search_url(without(state, parameter)) if selected else None,
            }
        )
    return views


def active_filters(state, endpoint: str = "pages.search") -> list[dict]:
    return [
        {
            "label": PARAMETER_LABELS[name],
            "value": value,
            "remove_url": search_url(without(state, name, value), endpoint),
        }
        for name, value in state
        if name in PARAMETER_LABELS
    ]


def page_numbers(current: int, last: int) -> list[int | None]:
    """First, last and two either side of the current page; None where pages are skipped."""
    shown = sorted({1, last, *range(max(1, current - 2), min(last, current + 2) + 1)})
    numbers: list[int | None] = []
    for number in shown:
        if numbers and number - numbers[-1] > 1:
            numbers.append(None)
        numbers.append(number)
    return numbers


def paging(result: dict, state) -> dict | None:
    last = min(result["pages"], MAX_PAGE)
    current = result["page"]
    if last <= 1 and current == 1:
        return None
    return {
        "current": current,
        "last": last,
        "previous_url": with_page(state, current - 1) if current > 1 else None,
        "next_url": with_page(state, current + 1) if current < last else None,
        "pages": [
            {"number": n, "url": with_page(state, n) if n else None}
            for n in page_numbers(current, last)
        ],
    }


# Geometry of the per-year chart, in SVG user units.
BAR_SLOT = 36
BAR_WIDTH = 26
PLOT_HEIGHT = 110
TOP = 18  # room for the count above the tallest bar
BOTTOM = 22  # room for the year labels
MAX_FILLED_SPAN = 30  # up to this many years, years without records show as empty slots


def year_chart(result: dict, state) -> dict | None:
    """Bars of records per year (the year facet: it ignores its own selection, so every year
    stays visible); each bar links to the search filtered to its year."""
    counts = {v["value"]: v["count"] for v in result["facets"]["year"] if v["count"]}
    if not counts:
        return None
    first, last = min(counts), max(counts)
    years = range(first, last + 1) if last - first < MAX_FILLED_SPAN else sorted(counts)
    highest = max(counts.values())
    chosen = {str(v["value"]) for v in result["facets"]["year"] if v["selected"]}
    label_every = max(1, -(-len(years) // 12))
    bars = []
    for i, year in enumerate(years):
        count = counts.get(year, 0)
        height = round(PLOT_HEIGHT * count / highest) if count else 0
        only_this = chosen == {str(year)}
        bars.append(
            {
                "year": year,
                "count": count,
                "x": i * BAR_SLOT + (BAR_SLOT - BAR_WIDTH) // 2,
                "y": TOP + PLOT_HEIGHT - height,
                "width": BAR_WIDTH,
                "height": height,
                "center": i * BAR_SLOT + BAR_SLOT // 2,
                "selected": str(year) in chosen,
                "show_label": i % label_every == 0 or i == len(years) - 1,
                "url": (
                    search_url(
                        without(state, "year") if only_this else replaced(state, "year", str(year))
                    )
                    if count
                    else None
                ),
            }
        )
    return {
        "bars": bars,
        "width": len(years) * BAR_SLOT,
        "height": TOP + PLOT_HEIGHT + BOTTOM,
        "baseline": TOP + PLOT_HEIGHT,
        "label_y": TOP + PLOT_HEIGHT + 16,
    }


def render_search(
    result: dict | None,
    state,
    error: InvalidParameter | None = None,
    status=200,
    changed: str | None = None,
):
    values = {}
    for name, value in state:
        values.setdefault(name, []).append(value)
    hidden = [(n, v) for n, v in state if n in FILTER_PARAMETERS]
    page = render_template(
        "search.html",
        result=result,
        error=error,
        q=values.get("q", [""])[-1],
        form=values,
        hidden=hidden,
        sort_labels=SORT_LABELS,
        per_page_choices=PER_PAGE_CHOICES,
        facets=facet_views(result, state) if result else [],
        filters=active_filters(state),
        clear_all_url=search_url([(n, v) for n, v in state if n in KEPT_WHEN_CLEARING]),
        paging=paging(result, state) if result else None,
        chart=year_chart(result, state) if result else None,
        suggestion_url=(
            search_url(replaced(without(state, "page"), "q", result["suggestion"]))
            if result and result["suggestion"]
            else None
        ),
        export_query=urlencode(without(state, "page")),
        timeline_url=search_url(filters_only(state), "pages.timeline"),
        within_hidden=without(state, "page"),
        feed_url=search_url(filters_only(state), "feeds.feed"),
        export_limit=current_app.config["EXPORT_LIMIT"],
        kind_labels=KIND_LABELS,
        changed=changed,
        changed_text=changed_text(changed),
    )
    return Response(page, status=status, mimetype="text/html")


def changed_text(changed: str | None) -> str:
    """When the index last changed, as the page shows it (the script shows it in local time)."""
    if not changed:
        return "未知"
    return datetime.fromisoformat(changed).strftime("%Y-%m-%d %H:%M:%S UTC")


# ---------------------------------------------------------------------------------------------
# Routes


@blueprint.app_template_filter("web_url")
def web_url(url: str | None) -> bool:
    """Only http(s) sources become links: a javascript: URL in a seed file must never run."""
    return urlsplit((url or "").strip()).scheme.lower() in ("http", "https")


@blueprint.get("/")
def search():
    state = search_state()
    if within := request.args.get("within", "").strip():
        # 结果中检索: the words are added to the query; every filter, the order and size stay
        words = " ".join(v for n, v in state if n == "q")
        return redirect(search_url(replaced(without(state, "q"), "q", f"{words} {within}".strip())))
    try:
        # the query's grammar is checked while searching (too deep nesting): same page for both
        result = search_index().search(search_request())
    except InvalidParameter as error:
        return render_search(None, state, error, status=400)
    return render_search(result, state, changed=search_index().changes()["changed"])


@blueprint.get("/timeline")
def timeline():
    """The key-node timeline of the search in the query string, grouped by year."""
    state = filters_only(search_state())
    error, status = None, 200
    try:
        result = key_node_timeline(search_index(), search_request())
    except InvalidParameter as exc:
        result, error, status = None, exc, 400
    page = render_template(
        "timeline.html",
        result=result,
        years=years(result["nodes"]) if result else [],
        error=error,
        q=dict(state).get("q", ""),
        hidden=[(n, v) for n, v in state if n in FILTER_PARAMETERS or n in PARAMETER_LABELS],
        filters=active_filters(state, "pages.timeline"),
        search_url=search_url(state),
        feed_url=search_url(state, "feeds.feed"),
    )
    return Response(page, status=status, mimetype="text/html")


@blueprint.get("/documents/<record_id>")
def document(record_id: str):
    index = search_index()
    record = index.document(record_id)
    return render_template(
        "document.html",
        record=record,
        siblings=index.siblings(record),
        related=related_records(index, record_id)["related"],
        kind_labels=KIND_LABELS,
    )


def exported() -> tuple[dict, list[dict]]:
    """Every hit of this request's search in its order (not one page), up to EXPORT_LIMIT."""
    limit = current_app.config["EXPORT_LIMIT"]
    result = search_index().search(replace(search_request(), page=1, per_page=limit))
    return result, result["hits"]


def csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    # a cell starting like a formula would be run by spreadsheet programs
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@blueprint.get("/export.csv")
def export_csv():
    result, hits = exported()
    buffer = io.StringIO()
    buffer.write("\ufeff")  # the BOM makes Excel read the file as UTF-8
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    for hit in hits:
        row = dict(
            hit,
            sources="\n".join(f"{s['label']} {s['url']}" for s in hit["sources"]),
            **hit["dates"],
            url=public_url("pages.document", record_id=hit["id"]),
        )
        writer.writerow([csv_cell(row[column]) for column in EXPORT_COLUMNS])
    return Response(
        buffer.getvalue(),
        mimetype="text/csv",
        headers={
            "Content-Disposition": 'attachment; filename="policy-search.csv"',
            "X-Total-Count": str(result["total"]),
        },
    )


@blueprint.get("/export.json")
def export_json():
    result, hits = exported()
    limit = current_app.config["EXPORT_LIMIT"]
    response = jsonify(
        {
            "query": result["query"],
            "total": result["total"],
            "exported": len(hits),
            "limit": limit,
            "truncated": result["total"] > len(hits),
            "sort": result["sort"],
            "generation": result["generation"],
            "hits": hits,
        }
    )
    response.headers["Content-Disposition"] = 'attachment; filename="policy-search.json"'
    return response
