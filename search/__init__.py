"""policy-search library: Markdown ingest, Chinese analysis, Whoosh indexing and querying."""

__version__ = "0.1.0"
