"""The web layer over the search library: the search page, detail pages, exports and the JSON API.

`create_app` opens the index once per app; the SearchIndex refreshes itself when the index
changes on disk and keeps one Whoosh searcher per thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from flask import Flask, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from search import vectors, watch
from search.config import settings_from_env
from search.errors import SearchError
from search.layout import current_generation
from search.query import SearchIndex
from search.request import SearchRequest

from .errors import register_error_handlers
from .state import EXTENSION

# Scripts and styles come only from our own static files: no inline code, no CDN, no framing.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

DEFAULTS = {
    "MAX_CONTENT_LENGTH": 64 * 1024,
    "REINDEX_INTERVAL": 5.0,  # seconds between two reindex runs of one app
    "REINDEX_WAIT": 1.0,  # seconds a reindex waits for another indexer's lock
    "REINDEX_FAILURES": 5,  # wrong tokens a client may send within REINDEX_FAILURE_WINDOW
    "REINDEX_FAILURE_WINDOW": 60.0,  # seconds; past the limit the client is refused (429)
    "EXPORT_LIMIT": 10_000,  # records in one export
    "WATCH": False,  # whether `serve` watches the seeds folder (reported by /api/health)
}


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The Flask app. `config` may hold SETTINGS (a search.config.Settings; otherwise read from
    the environment), REINDEX_TOKEN (overrides the settings' token) and any of DEFAULTS."""
    config = dict(config or {})
    app = Flask(__name__)
    app.config.from_mapping(DEFAULTS)
    app.config.update(config)
    settings = config.get("SETTINGS") or settings_from_env()
    if "REINDEX_TOKEN" in config:
        settings = replace(settings, reindex_token=config["REINDEX_TOKEN"] or None)
    app.config["SETTINGS"] = settings
    app.json.ensure_ascii = False
    app.json.sort_keys = False  # the library's key order is the documented one
    if settings.proxy_headers:
        # behind a proxy that sets them (one hop): the client's scheme, host and address
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_port=1, x_prefix=1)

    index = SearchIndex(settings.index)
    app.extensions[EXTENSION] = index
    app.extensions[EXTENSION + ".reindex"] = {
        "lock": threading.Lock(),
        "last": None,
        "failures": {},  # client address -> times of its last wrong tokens
    }
    _warm(index)

    @app.before_request
    def follow_data_files() -> None:
        # edited synonyms at once, an edited dictionary with the generation built with it
        watch.follow_data_files(settings.index)

    @app.before_request
    def refuse_large_bodies() -> None:
        # werkzeug only checks the limit when a view reads the body; check every request
        limit = app.config["MAX_CONTENT_LENGTH"]
        if request.content_length is not None and request.content_length > limit:
            raise RequestEntityTooLarge()

    @app.after_request
    def security_headers(response):
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        return response

    register_error_handlers(app)

    from . import api, feeds, pages

    app.register_blueprint(api.blueprint)
    app.register_blueprint(pages.blueprint)
    app.register_blueprint(feeds.blueprint)
    return app


def _warm(index: SearchIndex) -> None:
    """Open the index and load the segmenter and the sentence encoder now, so the first request
    does not pay for them. A missing index is not an error here: requests answer 503 until one
    is built."""
    vectors.question_vector("政策")
    if current_generation(index.index_root) is None:
        return
    try:
        index.generation  # noqa: B018 - opening the index is the point
        index.search(SearchRequest(q="政策", per_page=1))
        # and what questions read: field lengths, character pairs, the vectors
        index.search(SearchRequest(q="哪些政策规定了节约能源的责任？", per_page=1))
    except SearchError as exc:
        logging.getLogger(__name__).warning("could not open the index: %s", exc)
