"""The record/hit contract: hits, exports and schemas all follow the declared fields."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from search.contract import (
    DATE_COLUMNS,
    EXPORT_COLUMNS,
    HIT_FIELDS,
    MADE_PER_SEARCH,
    hit,
    hit_properties,
    properties,
)
from search.records import Record, Source, about


def ref(name: str) -> dict:
    return {"$ref": name}


def test_hit_fields_are_record_fields_or_made_per_search():
    record_fields = {f.name for f in dataclasses.fields(Record)}
    assert set(HIT_FIELDS) <= record_fields | set(MADE_PER_SEARCH)
    assert set(MADE_PER_SEARCH) <= set(HIT_FIELDS)


def test_export_columns_are_stored_hit_fields_and_the_page_url():
    assert set(EXPORT_COLUMNS) - set(HIT_FIELDS) == {"url", *DATE_COLUMNS}
    assert not set(EXPORT_COLUMNS) & set(MADE_PER_SEARCH)


def test_hit_takes_the_fields_in_order_from_the_record_and_the_search():
    record = Record(id="a-doc", kind="document", source_file="a.md", title="标题", content="正文")
    made = hit(record.to_dict(), title_html="<mark>标题</mark>", snippet="正文", score=1.5)
    assert list(made) == list(HIT_FIELDS)
    assert (made["id"], made["title_html"], made["score"], made["sources"]) == (
        "a-doc",
        "<mark>标题</mark>",
        1.5,
        [],
    )


def test_schemas_follow_the_declared_types_and_descriptions():
    @dataclass
    class Example:
        name: str
        count: int | None
        share: float
        flag: bool = about("Whether it is so.", default=False)
        kind: Literal["a", "b"] | None = None
        tags: list[str] = field(default_factory=list)
        sources: list[Source] = field(default_factory=list)
        extra: dict[str, str] = field(default_factory=dict)

    assert properties(Example, ref) == {
        "name": {"type": "string"},
        "count": {"type": ["integer", "null"]},
        "share": {"type": "number"},
        "flag": {"type": "boolean", "description": "Whether it is so."},
        "kind": {"type": ["string", "null"], "enum": ["a", "b", None]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "sources": {"type": "array", "items": {"$ref": "Source"}},
        "extra": {"type": "object", "additionalProperties": {"type": "string"}},
    }


def test_hit_schema_lists_the_hit_fields_in_order():
    schemas = hit_properties(ref)
    assert list(schemas) == list(HIT_FIELDS)
    assert schemas["score"] == {
        "type": ["number", "null"],
        "description": "Relevance score; null when sorted.",
    }
    assert schemas["date"] == properties(Record, ref)["date"]
