"""The OpenAPI 3.1 document of what the app serves. Schemas are strict (every field required, no
others allowed), so tests/test_web_api.py can validate real responses against them. The Hit,
Record and Source schemas are derived from the library's record/hit contract."""

from __future__ import annotations

from search.contract import hit_properties, properties
from search.records import Record, Source
from search.request import DEFAULT_PER_PAGE, MAX_PAGE, MAX_PER_PAGE, MAX_QUERY_CHARS, SORTS
from search.schema import CONFIDENCE_BANDS

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
    _repeatable("issuer", "Issuing body, e.g. 北京市发展改革委.", {"type": "string"}),
    _repeatable("type", "Key node type, e.g. 事件.", {"type": "string"}),
    _repeatable("region", "Region, e.g. 北京市.", {"type": "string"}),
    _repeatable("sector", "Sector, e.g. 工业领域.", {"type": "string"}),
    _repeatable(
        "year", "Year of the record's date.", {"type": "integer", "minimum": 1, "maximum": 9999}
    ),
    _repeatable("confidence", "Confidence band.", {"type": "string", "enum": BANDS}),
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

HEALTH = _object(
    {
        "status": {"type": "string", "const": "ok"},
        "documents": {"type": "integer", "minimum": 0},
        "generation": {"type": "string"},
    }
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
                        "reindex is disabled. At most one run per 5 seconds."
                    ),
                    "security": [{"bearer": []}],
                    "responses": {
                        "200": _json("ReindexSummary", "What the update did."),
                        "401": _error("No bearer token was sent."),
                        "403": _error("The token is wrong, or reindex is disabled."),
                        "409": _error("Another indexer holds the index lock."),
                        "413": _error("The request body is too large."),
                        "429": {
                            **_error("A reindex ran moments ago."),
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
                "Hit": HIT,
                "Facets": FACETS,
                "SearchResult": SEARCH_RESULT,
                "Record": RECORD,
                "Health": HEALTH,
                "ReindexSummary": REINDEX_SUMMARY,
                "Export": EXPORT,
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
