"""The record/hit contract: what the search serves of a record. Each field is declared once, typed
and described, in records.py (Record, Source) or here (the fields a search makes); the hit JSON,
the export columns and the JSON schemas of the API's Hit, Record and Source derive from these.

A new record field shows in `/api/documents` and the Record schema as soon as Record declares it;
naming it in HIT_FIELDS (and EXPORT_COLUMNS) adds it to hits (and exports) and their schemas.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from .records import Record


@dataclass(frozen=True)
class SearchField:
    """A hit field that the search makes for each hit: not stored in the record."""

    type: object
    description: str


MADE_PER_SEARCH = {
    "title_html": SearchField(str, "The title, HTML-escaped, with <mark> around matches."),
    "snippet": SearchField(
        str, "An HTML-escaped window of the content with <mark> around matches."
    ),
    "score": SearchField(float | None, "Relevance score; null when sorted."),
}

# A hit's fields in the order of its JSON: the record's own, and those made per search.
HIT_FIELDS = (
    "id",
    "title",
    "title_html",
    "issuer",
    "issuer_canonical",
    "issuer_derived",
    "date",
    "date_text",
    "dates",
    "doc_number",
    "doc_type",
    "status",
    "confidence",
    "node_type",
    "node_date",
    "region",
    "sector",
    "kind",
    "source_file",
    "sources",
    "snippet",
    "score",
)

# A document's dates (Record.dates) as three export columns.
DATE_COLUMNS = ("written", "published", "effective")

# The CSV export's columns, in their published order: hit fields (sources as one cell of
# "label url" lines; dates as three columns written, published, effective), and `url`, the
# record's page, which the web layer adds.
EXPORT_COLUMNS = (
    "id",
    "title",
    "issuer",
    "issuer_canonical",
    "issuer_derived",
    "date",
    "date_text",
    "doc_number",
    "doc_type",
    "status",
    *DATE_COLUMNS,
    "node_date",
    "node_type",
    "confidence",
    "region",
    "sector",
    "kind",
    "source_file",
    "sources",
    "url",
)


def hit(record: dict, title_html: str, snippet: str, score: float | None) -> dict:
    """The JSON of one hit: HIT_FIELDS of a stored record (as a dict) and of the search."""
    made = {"title_html": title_html, "snippet": snippet, "score": score}
    # a record stored by an older version lacks the fields added since: null until reindexed
    return {name: made[name] if name in made else record.get(name) for name in HIT_FIELDS}


# ---------------------------------------------------------------------------------------------
# JSON schemas, from the declared types

Ref = Callable[[str], dict]  # the schema that refers to a named schema (Source)


def properties(cls: type, ref: Ref) -> dict[str, dict]:
    """The JSON schema of each field of a dataclass (Record, Source) that the index keeps, in
    declaration order."""
    hints = _hints(cls)
    return {
        f.name: _described(_schema(hints[f.name], ref), f.metadata.get("description"))
        for f in dataclasses.fields(cls)
        if f.metadata.get("stored", True)
    }


def hit_properties(ref: Ref) -> dict[str, dict]:
    """The JSON schema of each field of a hit, in the order of its JSON."""
    record = properties(Record, ref)
    return {
        name: (
            _described(_schema(MADE_PER_SEARCH[name].type, ref), MADE_PER_SEARCH[name].description)
            if name in MADE_PER_SEARCH
            else record[name]
        )
        for name in HIT_FIELDS
    }


@cache
def _hints(cls: type) -> dict[str, object]:
    return typing.get_type_hints(cls)


_PLAIN = {str: "string", bool: "boolean", int: "integer", float: "number"}


def _schema(annotation: object, ref: Ref) -> dict:
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType) and type(None) in arguments:
        (inner,) = [a for a in arguments if a is not type(None)]
        schema = _schema(inner, ref)
        schema["type"] = [schema["type"], "null"]
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
        return schema
    if origin is typing.Literal:
        return {"type": "string", "enum": list(arguments)}
    if origin is list:
        return {"type": "array", "items": _schema(arguments[0], ref)}
    if origin is dict:
        return {"type": "object", "additionalProperties": _schema(arguments[1], ref)}
    if dataclasses.is_dataclass(annotation):
        return ref(annotation.__name__)
    return {"type": _PLAIN[annotation]}


def _described(schema: dict, description: str | None) -> dict:
    return {**schema, "description": description} if description else schema
