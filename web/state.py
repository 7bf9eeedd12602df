"""What the views share: the app's one open SearchIndex, its settings, and a request's search."""

from __future__ import annotations

from flask import current_app, request, url_for

from search.config import Settings
from search.query import SearchIndex
from search.request import SearchRequest

# Every parameter the search reads, named as in the API; the page's URLs use the same names.
FILTER_PARAMETERS = tuple(SearchRequest.FILTER_PARAMETERS)  # issuer, type, region, ...
SEARCH_PARAMETERS = (
    "q",
    *FILTER_PARAMETERS,
    "date_from",
    "date_to",
    "min_confidence",
    "sort",
    "page",
    "per_page",
)

EXTENSION = "policy_search"

# At most this many files of `warning_files` in /api/health, which monitors poll (a folder of 12k
# law articles without dates made every health check 130 KB); `policy-search stats` lists all.
HEALTH_WARNING_FILES = 50


def search_index() -> SearchIndex:
    return current_app.extensions[EXTENSION]


def settings() -> Settings:
    return current_app.config["SETTINGS"]


def search_request() -> SearchRequest:
    """The validated search of this request's query string (unknown parameters are ignored)."""
    return SearchRequest.from_params(request.args.to_dict(flat=False))


def search_state() -> list[tuple[str, str]]:
    """The search parameters of this request as given, blanks and unknown names dropped: the
    state that links on the page change one piece of."""
    return [
        (name, value)
        for name, value in request.args.items(multi=True)
        if name in SEARCH_PARAMETERS and value.strip()
    ]


# Parameters a timeline or a feed ignores: they order and page a list of hits.
LIST_PARAMETERS = ("sort", "page", "per_page")


def filters_only(state: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The words and filters of a search state, without its order and paging."""
    return [(n, v) for n, v in state if n not in LIST_PARAMETERS]


def public_url(endpoint: str, **values: str) -> str:
    """An absolute link (feeds, CSV exports): under the configured public URL, else where the
    request came (its Host and scheme, or the proxy's X-Forwarded-* headers when the operator
    trusts them)."""
    base = settings().public_url
    if not base:
        return url_for(endpoint, _external=True, **values)
    path = url_for(endpoint, **values)[len(request.script_root) :]  # the public URL holds it
    return base.rstrip("/") + path
