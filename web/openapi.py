"""The OpenAPI 3.1 document of what the app serves. Schemas are strict (every field required, no
others allowed), so tests/test_web_api.py can validate real responses against them. The Hit,
Record and Source schemas are derived from the library's record/hit contract."""

from __future__ import annotations

from search.contract import hit_properties, properties
from search.records import STATUSES, Dates, Record, Source
from search.request import DEFAULT_PER_PAGE, MAX_PAGE, MAX_PER_PAGE, MAX_QUERY_CHARS, SORTS
from search.schema import CONFIDENCE_BANDS

from .state import HEALTH_WARNING_FILES

DATE_PATTERN = r"^\d{4}(-\d{1,2}(-\d{1,2})?)?$"
BANDS = [label for label, _, _ in CONFIDENCE_BANDS]


def _nullable(kind: str) -> dict:
    return {"type": [kind, "null"]}


def _object(properties: dict, description: str | None = None) -> dict:
    schema = {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
    if description:
        schema["description"] = description
    return schema


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema_name: str, description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": _ref(schema_name)}},
    }


def _error(description: str) -> dict:
    return _json("Error", description)


def _repeatable(name: str, description: str, items: dict) -> dict:
    return {
        "name": name,
        "in": "query",
        "description": description + " Repeat the parameter to accept any of several values.",
        "style": "form",
        "explode": True,
        "schema": {"type": "array", "items": items},
    }


def _query(name: str, description: str, schema: dict) -> dict:
    return {"name": name, "in": "query", "description": description, "schema": schema}


SEARCH_PARAMETERS = [
    _query(
        "q",
        'Words that must all match; OR, NOT or -, "phrases", field:value and parentheses. '
        "Empty: browse every record that matches the filters, newest first.",
        {"type": "string", "maxLength": MAX_QUERY_CHARS, "default": ""},
    ),
    _repeatable(
        "issuer",
        "Issuing body, e.g. 北京市发展和改革委员会, or any alias of it (北京市发改委): the alias "
        "table search/data/issuers.txt gives each body one name.",
        {"type": "string"},
    ),
    _repeatable("type", "Key node type, e.g. 事件.", {"type": "string"}),
    _repeatable("region", "Region, e.g. 北京市.", {"type": "string"}),
    _repeatable("sector", "Sector, e.g. 工业领域.", {"type": "string"}),
    _repeatable(
        "year", "Year of the record's date.", {"type": "integer", "minimum": 1, "maximum": 9999}
    ),
    _repeatable("confidence", "Confidence band.", {"type": "string", "enum": BANDS}),
    _repeatable("doc_type", "公文种类 from the title, e.g. 通知, 办法, 条例.", {"type": "string"}),
    _repeatable(
        "status", "时效性 of a single policy document.", {"type": "string", "enum": list(STATUSES)}
    ),
    _query(
        "date_from",
        "Earliest date: YYYY, YYYY-MM or YYYY-MM-DD (the first day of that year or month).",
        {"type": "string", "pattern": DATE_PATTERN},
    ),
    _query(
        "date_to",
        "Latest date: YYYY, YYYY-MM or YYYY-MM-DD (the last day of that year or month).",
        {"type": "string", "pattern": DATE_PATTERN},
    ),
    _query(
        "min_confidence",
        "Lowest confidence, from 0 to 1.",
        {"type": "number", "minimum": 0, "maximum": 1},
    ),
    _query(
        "sort",
        "relevance (by default; newest first when q is empty), date (oldest first), "
        "-date (newest first) or confidence (highest first).",
        {"type": "string", "enum": list(SORTS), "default": "relevance"},
    ),
    _query(
        "page",
        "Page number.",
        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
    ),
    _query(
        "per_page",
        "Hits per page.",
        {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE, "default": DEFAULT_PER_PAGE},
    ),
]

SOURCE = _object(properties(Source, _ref))

DATES = _object(properties(Dates, _ref))

HIT = _object(hit_properties(_ref))


def _facet(value: dict) -> dict:
    return {
        "type": "array",
        "items": _object(
            {
                "value": value,
                "count": {"type": "integer", "minimum": 0},
                "selected": {"type": "boolean"},
            }
        ),
    }


FACETS = _object(
    {
        "issuer": _facet({"type": "string"}),
        "year": _facet({"type": "integer"}),
        "node_type": _facet({"type": "string"}),
        "region": _facet({"type": "string"}),
        "sector": _facet({"type": "string"}),
        "confidence": _facet({"type": "string", "enum": BANDS}),
        "doc_type": _facet({"type": "string"}),
        "status": _facet({"type": "string", "enum": list(STATUSES)}),
    },
    "Counts per value within the other filters: a facet ignores its own selection.",
)

SEARCH_RESULT = _object(
    {
        "query": {"type": "string"},
        "total": {"type": "integer", "minimum": 0},
        "page": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
        "per_page": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
        "pages": {"type": "integer", "minimum": 1},
        "sort": {"type": "string", "enum": list(SORTS)},
        "match": {
            "type": "string",
            "enum": ["all", "any"],
            "description": "all: keywords, each hit holding every word (or, after those, some of them in a document that holds them all); any: a question, or words no record holds together, ranked by the words, character pairs and meaning they share.",
        },
        "took_ms": {"type": "number", "minimum": 0},
        "generation": {"type": "string"},
        "hits": {"type": "array", "items": _ref("Hit")},
        "facets": _ref("Facets"),
        "suggestion": {
            **_nullable("string"),
            "description": "A query that finds something, when this one found nothing.",
        },
        "notice": {
            **_nullable("string"),
            "description": "Why nothing was found, when the query's quoted phrases are what no "
            "record holds: a quoted phrase must occur as written.",
        },
    }
)

RECORD = _object(
    {
        **properties(Record, _ref),
        "siblings": {
            "type": "array",
            "description": "The other entries of the same key node, in order.",
            "items": _object({"id": {"type": "string"}, "title": {"type": "string"}}),
        },
    }
)

WARNING_FILE = _object(
    {
        "file": {"type": "string", "description": "Path within the seeds folder."},
        "codes": {
            "type": "array",
            "items": {"type": "string"},
            "description": "The codes of its ingest warnings (truncated, no_date, ...).",
        },
        "error": {**_nullable("string"), "description": "Why it could not be read at all."},
    }
)

WATCH = _object(
    {
        "enabled": {"type": "boolean", "description": "Whether serve watches the seeds folder."},
        "mode": {
            "type": ["string", "null"],
            "enum": ["events", "polling", None],
            "description": "File events from the system, or polling where it has none.",
        },
        "last_update": {
            **_nullable("string"),
            "description": "When the watcher last updated the index (ISO 8601).",
        },
        "last_error": {
            **_nullable("string"),
            "description": "Why the last update failed (the last index serves on); null after "
            "a success.",
        },
        "updates": {"type": ["integer", "null"], "description": "Updates the watcher made."},
        "restarts": {
            "type": ["integer", "null"],
            "description": "Times the watcher failed and started again (a file name that is not "
            "UTF-8, the seeds folder gone, ...).",
        },
        "last_restart_error": {
            **_nullable("string"),
            "description": "What made the watcher start again last time; kept after successes.",
        },
        "updating_since": {
            **_nullable("string"),
            "description": "When the update in progress started (ISO 8601); null between "
            "updates. An update running for long (a rebuild of a large folder takes minutes) "
            "may be hung.",
        },
    },
    "The seeds folder's watcher (`serve --no-watch` turns it off).",
)

HEALTH = _object(
    {
        "status": {"type": "string", "const": "ok"},
        "documents": {"type": "integer", "minimum": 0},
        "generation": {"type": "string"},
        "vectors": _ref("VectorProgress"),
        "changed": {
            **_nullable("string"),
            "description": "When the index last changed (ISO 8601).",
        },
        "watch": WATCH,
        "warning_files": {
            "type": "array",
            "items": WARNING_FILE,
            "description": (
                "Files whose last reading failed (first) or left warnings, at most "
                f"{HEALTH_WARNING_FILES}; `policy-search stats` lists them all."
            ),
        },
        "warning_files_total": {
            "type": "integer",
            "minimum": 0,
            "description": "How many files failed or left warnings.",
        },
    }
)

VECTOR_PROGRESS = _object(
    {
        "done": {"type": "integer", "minimum": 0},
        "total": {"type": "integer", "minimum": 0},
    },
    "Records whose sentence vector is computed, of those with text: below the total while the "
    "pass that follows a build runs (questions are then ranked without meaning for the rest).",
)

REINDEX_SUMMARY = _object(
    {
        "generation": {"type": "string"},
        "rebuilt": {"type": "boolean"},
        "added": {"type": "array", "items": {"type": "string"}},
        "changed": {"type": "array", "items": {"type": "string"}},
        "removed": {"type": "array", "items": {"type": "string"}},
        "unchanged": {"type": "integer", "minimum": 0},
        "records": {"type": "integer", "minimum": 0},
        "warnings": {"type": "integer", "minimum": 0},
        "notices": {"type": "array", "items": {"type": "string"}},
        "seconds": {"type": "number", "minimum": 0},
    },
    "Seeds files added, changed and removed since the last run (paths relative to the seeds "
    "folder), records in the index afterwards and ingest warnings of the files read.",
)

EXPORT = _object(
    {
        "query": {"type": "string"},
        "total": {"type": "integer", "minimum": 0},
        "exported": {"type": "integer", "minimum": 0},
        "limit": {"type": "integer", "minimum": 1},
        "truncated": {"type": "boolean", "description": "True when total exceeds limit."},
        "sort": {"type": "string", "enum": list(SORTS)},
        "generation": {"type": "string"},
        "hits": {"type": "array", "items": _ref("Hit")},
    }
)

TIMELINE_ENTRY = _object(
    {
        "id": {"type": "string"},
        "title": {"type": "string"},
        "title_html": {"type": "string", "description": "The title, escaped, matches marked."},
        "date": _nullable("string"),
        "date_text": _nullable("string"),
        "issuer": _nullable("string"),
        "issuer_canonical": _nullable("string"),
    }
)

TIMELINE = _object(
    {
        "query": {"type": "string"},
        "entries": {"type": "integer", "minimum": 0, "description": "Matching entries shown."},
        "truncated": {
            "type": "boolean",
            "description": "True when more entries matched than a timeline shows (5,000: "
            "the newest are kept).",
        },
        "generation": {"type": "string"},
        "nodes": {
            "type": "array",
            "description": "Key nodes holding a matching entry, by date (oldest first).",
            "items": _object(
                {
                    "id": {"type": "string", "description": "<file key>-n<node date>."},
                    "date": _nullable("string"),
                    "node_type": _nullable("string"),
                    "confidence": _nullable("number"),
                    "source_file": {"type": "string"},
                    "region": _nullable("string"),
                    "sector": _nullable("string"),
                    "entries": {"type": "array", "items": _ref("TimelineEntry")},
                }
            ),
        },
    },
    "The key-node timeline of a search: single documents belong to no node and are left out.",
)

SUGGESTIONS = _object(
    {
        "suggestions": {
            "type": "array",
            "items": _object(
                {
                    "text": {"type": "string"},
                    "kind": {"type": "string", "enum": ["title", "issuer", "term"]},
                }
            ),
        }
    },
    "Issuing bodies (canonical names; an alias finds its body), terms, then titles, each "
    "starting with the typed text first, then containing it.",
)

RELATED = _object(
    {
        "related": {
            "type": "array",
            "maxItems": 5,
            "items": _object(
                {
                    "id": {"type": "string"},
                    "title": {"type": "string"},
                    "issuer": _nullable("string"),
                    "issuer_canonical": _nullable("string"),
                    "date": _nullable("string"),
                    "date_text": _nullable("string"),
                    "kind": {"type": "string", "enum": ["entry", "document"]},
                    "doc_type": _nullable("string"),
                    "node_date": _nullable("string"),
                    "source_file": {"type": "string"},
                    "score": {"type": "number"},
                    "terms": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "The record's key terms this one holds too.",
                    },
                }
            ),
        },
        "terms": {
            "type": "array",
            "items": {"type": "string"},
            "description": "The record's key terms (tf-idf) the related records were found by.",
        },
    },
    "Records close in key terms and (where sentence vectors exist) meaning; never the record "
    "itself nor the other entries of its key node.",
)

ERROR = _object(
    {
        "error": _object(
            {
                "status": {"type": "integer", "minimum": 400, "maximum": 599},
                "parameter": {
                    **_nullable("string"),
                    "description": "The request parameter that was wrong, if one was.",
                },
                "message": {"type": "string"},
            }
        )
    },
    "Every error has this shape; the status repeats the HTTP status.",
)

SEARCH_PARAMETER_REFS = [
    {"$ref": f"#/components/parameters/{p['name']}"} for p in SEARCH_PARAMETERS
]
# an export holds every hit, so it reads all the search parameters but the paging ones
EXPORT_PARAMETER_REFS = [
    ref for ref in SEARCH_PARAMETER_REFS if not ref["$ref"].endswith(("/page", "/per_page"))
]
# a timeline and a feed have their own order and size: they read the words and the filters
FILTER_PARAMETER_REFS = [ref for ref in EXPORT_PARAMETER_REFS if not ref["$ref"].endswith("/sort")]


def openapi_document() -> dict:
    """The OpenAPI description of the API and the exports."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "policy-search",
            "version": "1",
            "description": (
                "Full-text search over Chinese policy documents. Parameters a path does not "
                "declare are ignored. Errors are JSON of the Error shape with a 4xx or 5xx status."
            ),
        },
        "paths": {
            "/api/search": {
                "get": {
                    "operationId": "search",
                    "summary": "Search records, with facet counts.",
                    "parameters": SEARCH_PARAMETER_REFS,
                    "responses": {
                        "200": _json("SearchResult", "One page of hits, facets, suggestion."),
                        "400": _error("A parameter has a value that cannot be used."),
                        "503": _error("There is no index yet."),
                    },
                }
            },
            "/api/documents/{id}": {
                "get": {
                    "operationId": "document",
                    "summary": "One whole record and its siblings under the same key node.",
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {
                        "200": _json("Record", "The record."),
                        "404": _error("No record has this id."),
                        "503": _error("There is no index yet."),
                    },
                }
            },
            "/api/timeline": {
                "get": {
                    "operationId": "timeline",
                    "summary": "The key nodes holding an entry that the search matches, by date.",
                    "parameters": FILTER_PARAMETER_REFS,
                    "responses": {
                        "200": _json("Timeline", "The nodes, oldest first, with their entries."),
                        "400": _error("A parameter has a value that cannot be used."),
                        "503": _error("There is no index yet."),
                    },
                }
            },
            "/api/suggest": {
                "get": {
                    "operationId": "suggest",
                    "summary": "Suggestions as you type: titles, issuers and terms.",
                    "parameters": [
                        _query(
                            "q",
                            "The text typed so far.",
                            {"type": "string", "maxLength": MAX_QUERY_CHARS, "default": ""},
                        ),
                        _query(
                            "limit",
                            "Most suggestions.",
                            {"type": "integer", "minimum": 1, "maximum": 10, "default": 10},
                        ),
                    ],
                    "responses": {
                        "200": _json("Suggestions", "The suggestions, best first."),
                        "400": _error("A parameter has a value that cannot be used."),
                        "503": _error("There is no index yet."),
                    },
                }
            },
            "/api/documents/{id}/related": {
                "get": {
                    "operationId": "related",
                    "summary": "Up to 5 records related to this one.",
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {
                        "200": _json("Related", "The related records, best first."),
                        "404": _error("No record has this id."),
                        "503": _error("There is no index yet."),
                    },
                }
            },
            "/feed.atom": {
                "get": {
                    "operationId": "feed",
                    "summary": "The newest 50 records matching a search, as an Atom 1.0 feed.",
                    "parameters": FILTER_PARAMETER_REFS,
                    "responses": {
                        "200": {
                            "description": "Atom: each entry links to the record's page, its "
                            "summary is the snippet (escaped HTML).",
                            "content": {"application/atom+xml": {"schema": {"type": "string"}}},
                        },
                        "400": _error("A parameter has a value that cannot be used."),
                        "503": _error("There is no index yet."),
                    },
                }
            },
            "/api/health": {
                "get": {
                    "operationId": "health",
                    "summary": "Whether the index is open; its record count and generation.",
                    "responses": {
                        "200": _json("Health", "The index is open."),
                        "503": _error("There is no index yet."),
                    },
                }
            },
            "/api/reindex": {
                "post": {
                    "operationId": "reindex",
                    "summary": "Update the index from the seeds folder (added and changed files).",
                    "description": (
                        "Needs the token of POLICY_SEARCH_REINDEX_TOKEN; without one configured "
                        "reindex is disabled. At most one run per 5 seconds; a client that "
                        "sent 5 wrong tokens within 60 seconds is refused until they age out."
                    ),
                    "security": [{"bearer": []}],
                    "responses": {
                        "200": _json("ReindexSummary", "What the update did."),
                        "401": _error("No bearer token was sent."),
                        "403": _error("The token is wrong, or reindex is disabled."),
                        "409": _error("Another indexer holds the index lock."),
                        "413": _error("The request body is too large."),
                        "429": {
                            **_error(
                                "A reindex ran moments ago, or this client sent too many wrong tokens."
                            ),
                            "headers": {
                                "Retry-After": {
                                    "description": "Seconds to wait.",
                                    "schema": {"type": "integer"},
                                }
                            },
                        },
                        "507": _error(
                            "The disk or the file size limit is full; the last complete index "
                            "keeps serving."
                        ),
                    },
                }
            },
            "/api/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document.",
                    "responses": {
                        "200": {
                            "description": "The OpenAPI document.",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
            "/export.json": {
                "get": {
                    "operationId": "export_json",
                    "summary": "Every hit of a search (not just one page) as JSON, up to a limit.",
                    "parameters": EXPORT_PARAMETER_REFS,
                    "responses": {
                        "200": _json("Export", "The hits, in the search's order."),
                        "400": _error("A parameter has a value that cannot be used."),
                        "503": _error("There is no index yet."),
                    },
                }
            },
            "/export.csv": {
                "get": {
                    "operationId": "export_csv",
                    "summary": "Every hit of a search as CSV (UTF-8 with a BOM), up to a limit.",
                    "parameters": EXPORT_PARAMETER_REFS,
                    "responses": {
                        "200": {
                            "description": "One row per hit.",
                            "content": {"text/csv": {"schema": {"type": "string"}}},
                        },
                        "400": _error("A parameter has a value that cannot be used."),
                        "503": _error("There is no index yet."),
                    },
                }
            },
        },
        "components": {
            "parameters": {p["name"]: p for p in SEARCH_PARAMETERS},
            "schemas": {
                "Error": ERROR,
                "Source": SOURCE,
                "Dates": DATES,
                "Hit": HIT,
                "Facets": FACETS,
                "SearchResult": SEARCH_RESULT,
                "Record": RECORD,
                "Health": HEALTH,
                "VectorProgress": VECTOR_PROGRESS,
                "ReindexSummary": REINDEX_SUMMARY,
                "Export": EXPORT,
                "TimelineEntry": TIMELINE_ENTRY,
                "Timeline": TIMELINE,
                "Suggestions": SUGGESTIONS,
                "Related": RELATED,
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
