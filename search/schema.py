"""The index schema, declared once. Facet fields are sortable columns so facet counts and sorts
read them column-wise instead of loading stored documents."""

from __future__ import annotations

from whoosh.columns import NumericColumn
from whoosh.fields import COLUMN, ID, STORED, TEXT, SchemaClass

from .analysis import ChineseAnalyzer, WordPositions

# Exact-value facet fields as they are named in the index (issuer: the canonical name).
FACET_FIELDS = ("issuer", "node_type", "region", "sector", "doc_type", "status")

# Confidence is kept in thousandths: Whoosh's sortable float columns are broken.
CONFIDENCE_SCALE = 1000
MISSING_CONFIDENCE = -1
# Confidence bands shown as a facet: (label, low inclusive, high exclusive) in thousandths.
CONFIDENCE_BANDS = (
    ("0.9-1.0", 900, 1001),
    ("0.8-0.9", 800, 900),
    ("0.7-0.8", 700, 800),
    ("0.6-0.7", 600, 700),
    ("0.5-0.6", 500, 600),
    ("0.0-0.5", 0, 500),
)


def words() -> TEXT:
    """A full-text field: our analyzer, positions for phrases, postings made by WordPositions."""
    field = TEXT(analyzer=ChineseAnalyzer(), phrase=True)
    field.format = WordPositions(field_boost=field.format.field_boost)
    return field


class PolicySchema(SchemaClass):
    """Only `record` is stored: every other field is there to be searched, or read as a column.
    Dates, years and confidences are plain columns: numpy filters and sorts them (facets.py), so
    the many-tiered terms Whoosh's NUMERIC and DATETIME fields would write are never read."""

    id = ID(unique=True)
    source_file = ID()
    kind = ID()
    title = words()
    content = words()
    # issuer, place, scale, node type and unknown labels: searchable words of lesser weight
    meta = words()
    issuer = ID(sortable=True)
    node_type = ID(sortable=True)
    region = ID(sortable=True)
    sector = ID(sortable=True)
    # the whole title as one term and a column: suggestions (suggest.py) and exact lookups
    title_exact = ID(sortable=True)
    doc_type = ID(sortable=True)  # 公文种类 (docmeta.py)
    status = ID(sortable=True)  # 时效性 (docmeta.py)
    # 施行 and expiry days (ISO) as words, for `status:` on the calendar (validity.py); absent
    # when the document states none
    effective_day = ID()
    expires_day = ID()
    # the year as a word, for `year:2021` in a query
    year_word = ID()
    # the date as its proleptic Gregorian ordinal (date.toordinal()), 0 for none
    date = COLUMN(NumericColumn("i", default=0))
    year = COLUMN(NumericColumn("i", default=0))
    # the same 施行 and expiry days as ordinals, 0 for none: the status facet and filter
    effective = COLUMN(NumericColumn("i", default=0))
    expires = COLUMN(NumericColumn("i", default=0))
    confidence = COLUMN(NumericColumn("i", default=MISSING_CONFIDENCE))
    # the key of the text the record's sentence vector reads (vectorstore.py keeps the vectors)
    vkey = COLUMN(NumericColumn("q", default=0))
    # the record's stored fields, compressed JSON (records.pack): what hits, details and
    # exports show
    record = STORED()
