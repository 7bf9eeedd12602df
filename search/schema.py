"""The index schema, declared once. Facet fields are sortable columns so facet counts and sorts
read them column-wise instead of loading stored documents."""

from __future__ import annotations

from whoosh.columns import FixedBytesColumn
from whoosh.fields import COLUMN, DATETIME, ID, NUMERIC, STORED, TEXT, SchemaClass

from .analysis import BigramAnalyzer, ChineseAnalyzer
from .vectors import VECTOR_BYTES

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


class PolicySchema(SchemaClass):
    id = ID(stored=True, unique=True)
    source_file = ID(stored=True)
    kind = ID(stored=True)
    title = TEXT(analyzer=ChineseAnalyzer(), stored=True, phrase=True)
    content = TEXT(analyzer=ChineseAnalyzer(), phrase=True)
    # issuer, place, scale, node type and unknown labels: searchable words of lesser weight
    meta = TEXT(analyzer=ChineseAnalyzer(), phrase=True)
    issuer = ID(stored=True, sortable=True)
    node_type = ID(stored=True, sortable=True)
    region = ID(stored=True, sortable=True)
    sector = ID(stored=True, sortable=True)
    # the whole title as one term and a column: suggestions (suggest.py) and exact lookups
    title_exact = ID(sortable=True)
    doc_type = ID(sortable=True)  # 公文种类 (docmeta.py)
    status = ID(sortable=True)  # 时效性 (docmeta.py)
    date = DATETIME(stored=True, sortable=True)
    year = NUMERIC(int, bits=32, stored=True, sortable=True, signed=False)
    confidence = NUMERIC(int, bits=32, stored=True, sortable=True)
    # title and content again as overlapping character pairs, for ranked matching of questions
    grams = TEXT(analyzer=BigramAnalyzer(), phrase=False)
    # the record's sentence vector (search/vectors.py), float16 bytes, read column-wise
    vector = COLUMN(FixedBytesColumn(VECTOR_BYTES))
    # the whole record as JSON: what hits, details and exports show
    record = STORED()
