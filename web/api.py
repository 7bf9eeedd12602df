"""The JSON API: search, one record, health, reindex and the OpenAPI document that describes them.

`/api/search` serves exactly what SearchIndex.search returns. Parameters the API does not know
are ignored, as most search APIs do.
"""

from __future__ import annotations

import hmac
import math
import time
from collections import deque

from flask import Blueprint, current_app, jsonify, request
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Forbidden, TooManyRequests, Unauthorized

from search.errors import InvalidParameter
from search.indexer import update_index
from search.related import related as related_records
from search.request import MAX_QUERY_CHARS, SearchRequest
from search.suggest import MAX_SUGGESTIONS
from search.suggest import suggest as suggestions
from search.timeline import timeline as key_node_timeline
from search.watch import WatchStatus, read_status

from .openapi import openapi_document
from .state import EXTENSION, HEALTH_WARNING_FILES, search_index, search_request, settings

blueprint = Blueprint("api", __name__, url_prefix="/api")


@blueprint.get("/search")
def search():
    return jsonify(search_index().search(search_request()))


@blueprint.get("/timeline")
def timeline():
    return jsonify(key_node_timeline(search_index(), search_request()))


@blueprint.get("/suggest")
def suggest():
    """Titles, issuing bodies and terms starting with or containing `q`, for the search box."""
    typed = request.args.get("q", "")
    if len(typed) > MAX_QUERY_CHARS:
        raise InvalidParameter("q", f"q is {len(typed)} characters long; at most {MAX_QUERY_CHARS}")
    limit = request.args.get("limit", str(MAX_SUGGESTIONS))
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_SUGGESTIONS:
        raise InvalidParameter("limit", f"limit must be from 1 to {MAX_SUGGESTIONS}, not {limit!r}")
    return jsonify(suggestions(search_index(), typed, int(limit)))


@blueprint.get("/documents/<record_id>")
def document(record_id: str):
    index = search_index()
    record = index.document(record_id)
    record["siblings"] = [
        {"id": other["id"], "title": other["title"]} for other in index.siblings(record)
    ]
    return jsonify(record)


@blueprint.get("/documents/<record_id>/related")
def related(record_id: str):
    return jsonify(related_records(search_index(), record_id))


@blueprint.get("/health")
def health():
    # count and label from one search: two calls could straddle a commit and mix generations
    index = search_index()
    browse = index.search(SearchRequest(per_page=1))
    changes = index.changes()
    return jsonify(
        {
            "status": "ok",
            "documents": browse["total"],
            "generation": browse["generation"],
            "vectors": index.vector_progress(),
            "changed": changes["changed"],
            "watch": watch_status(),
            # a monitor polls this: the first files only (those that failed first), all of them
            # in `policy-search stats`
            "warning_files": _first_problems(changes["warning_files"]),
            "warning_files_total": len(changes["warning_files"]),
        }
    )


def _first_problems(files: list[dict]) -> list[dict]:
    """The files whose reading failed, then those with warnings, in path order each, at most
    HEALTH_WARNING_FILES of them."""
    failed = [f for f in files if f["error"]]
    warned = [f for f in files if not f["error"]]
    return (failed + warned)[:HEALTH_WARNING_FILES]


def watch_status() -> dict:
    """The seeds folder's watcher, as the process running it last wrote (search/watch.py)."""
    if not current_app.config["WATCH"]:
        return WatchStatus().to_dict()
    status = read_status(settings().index)
    if status.pid is None:  # not started yet, or stopped
        return WatchStatus(enabled=True).to_dict()
    return {**status.to_dict(), "enabled": True}


@blueprint.post("/reindex")
def reindex():
    """Run the incremental update; needs `Authorization: Bearer <POLICY_SEARCH_REINDEX_TOKEN>`."""
    _check_guesses()
    _check_token()
    _check_rate()
    # the words are searchable when this answers; the new records' sentence vectors follow
    # from a pass in the background (/api/health says how far it is)
    result = update_index(
        settings().seeds,
        settings().index,
        wait=current_app.config["REINDEX_WAIT"],
        vectors="background",
    )
    return jsonify(
        {
            "generation": result.generation,
            "rebuilt": result.rebuilt,
            "added": result.added,
            "changed": result.changed,
            "removed": result.removed,
            "unchanged": result.unchanged,
            "records": result.records,
            "warnings": result.report.warnings,
            "notices": result.notices,
            "seconds": round(result.seconds, 3),
        }
    )


def _check_token() -> None:
    token = settings().reindex_token
    if not token:
        raise Forbidden(
            "reindex is disabled: no token is configured (set POLICY_SEARCH_REINDEX_TOKEN)"
        )
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise Unauthorized(
            "reindex needs the header 'Authorization: Bearer <token>'",
            www_authenticate=WWWAuthenticate("bearer", {"realm": "policy-search"}),
        )
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        _record_failed_guess()
        raise Forbidden("the reindex token is wrong")


def _check_guesses() -> None:
    """Refuse (429) a client that sent REINDEX_FAILURES wrong tokens within the window, before
    looking at its token: otherwise the token could be guessed at the speed of the server."""
    state = current_app.extensions[EXTENSION + ".reindex"]
    limit = current_app.config["REINDEX_FAILURES"]
    window = current_app.config["REINDEX_FAILURE_WINDOW"]
    now = time.monotonic()
    with state["lock"]:
        recent = [t for t in state["failures"].get(request.remote_addr, ()) if now - t < window]
    if len(recent) < limit:
        return
    wait = max(1, math.ceil(recent[-limit] + window - now))
    raise TooManyRequests(
        f"{limit} wrong reindex tokens from this client within {window:g} s; retry in {wait} s",
        retry_after=wait,
    )


def _record_failed_guess() -> None:
    state = current_app.extensions[EXTENSION + ".reindex"]
    limit = current_app.config["REINDEX_FAILURES"]
    window = current_app.config["REINDEX_FAILURE_WINDOW"]
    now = time.monotonic()
    with state["lock"]:
        failures: dict[str | None, deque] = state["failures"]
        # clients whose last failure is past the window are forgotten: the table stays small
        for client in [c for c, times in failures.items() if now - times[-1] >= window]:
            del failures[client]
        # only a client's last `limit` failures decide whether it is refused
        failures.setdefault(request.remote_addr, deque(maxlen=limit)).append(now)


def _check_rate() -> None:
    """At most one reindex per REINDEX_INTERVAL seconds per app; counted when it starts."""
    state = current_app.extensions[EXTENSION + ".reindex"]
    interval = current_app.config["REINDEX_INTERVAL"]
    now = time.monotonic()
    with state["lock"]:
        last = state["last"]
        if last is not None and now - last < interval:
            wait = max(1, math.ceil(interval - (now - last)))
            raise TooManyRequests(
                f"a reindex ran less than {interval:g} s ago; retry in {wait} s",
                retry_after=wait,
            )
        state["last"] = now


@blueprint.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())
