"""The key-node timeline of a search: the key nodes that hold a matching entry, oldest first,
each with its matching entries in their order within the node."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING

from .request import SearchRequest

if TYPE_CHECKING:
    from .query import SearchIndex

# Matching entries shown in one timeline: the newest; older ones are left out and `truncated` says so.
TIMELINE_LIMIT = 5000
ENTRY_FIELDS = ("id", "title", "title_html", "date", "date_text", "issuer", "issuer_canonical")
_ENTRY_PART = re.compile(r"-e[0-9a-f]+(?:-\d+)?$")


def _node_key(record_id: str) -> str:
    """An entry's id without its entry part: `<file key>-n<node date>`, the node's own id."""
    return _ENTRY_PART.sub("", record_id)


def timeline(index: SearchIndex, request: SearchRequest, limit: int = TIMELINE_LIMIT) -> dict:
    """The key nodes holding an entry that the request (its words and filters) matches: at most
    `limit` entries, the newest by their own date (a timeline is read for what happened last)."""
    # only entries are asked for, so single documents never spend the limit, and newest first,
    # so that what the limit leaves out is the oldest
    result = index.search(replace(request, sort="-date", page=1, per_page=limit), kind="entry")
    nodes: dict[str, dict] = {}
    for hit in result["hits"]:
        key = _node_key(hit["id"])
        node = nodes.get(key)
        if node is None:
            node = nodes[key] = {
                "id": key,
                "date": hit["node_date"],
                "node_type": hit["node_type"],
                "confidence": hit["confidence"],
                "source_file": hit["source_file"],
                "region": hit["region"],
                "sector": hit["sector"],
                "entries": [],
            }
        node["entries"].append({name: hit[name] for name in ENTRY_FIELDS})
    ordered = sorted(
        nodes.values(),
        key=lambda n: (n["date"] is None, n["date"] or "", n["source_file"], n["id"]),
    )
    for node in ordered:  # by date, then as the file lists them (the sort keeps ties in file order)
        node["entries"].sort(key=lambda entry: entry["date"] or "")
    return {
        "query": result["query"],
        "entries": len(result["hits"]),
        "truncated": result["total"] > len(result["hits"]),
        "generation": result["generation"],
        "nodes": ordered,
    }


def years(nodes: list[dict]) -> list[tuple[str, list[dict]]]:
    """Nodes grouped by the year of their date, in order ('' for undated nodes)."""
    grouped: dict[str, list[dict]] = {}
    for node in nodes:
        grouped.setdefault((node["date"] or "")[:4], []).append(node)
    return list(grouped.items())
