"""What a user could pick instead, fed exactly what our engine indexes: SQLite FTS5 and tantivy
over the same records (read by search.documents) and the same jieba tokens (search.analysis),
answering the same compiled queries with the same top-k, facet counts and highlights.

Tokens are split in two columns per field: the words in order (so phrases match word by word, as
in our index) and the dictionary words found inside them (so `排放` finds 碳排放, as in our index,
where they share the word's position). A term searches both columns, a phrase the words only.
"""

from __future__ import annotations

import json
import pickle
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from whoosh import query as wq

from search.analysis import index_tokens
from search.compiler import compile_query
from search.documents import find_markdown_files, read_file
from search.ranking import DEFAULT as RANKING
from search.request import SearchRequest
from search.schema import CONFIDENCE_BANDS

TEXT_FIELDS = ("title", "content", "meta")
FACET_COLUMNS = ("issuer", "year", "node_type", "region", "sector", "band")
SNIPPET_TOKENS = 24


@dataclass
class Row:
    """One record as both baselines store it."""

    id: str
    title_text: str  # as written, to show
    issuer: str
    node_type: str
    region: str
    sector: str
    year: int
    date: int  # YYYYMMDD, 0 when unknown
    confidence: float  # -1 when unknown
    band: str
    tokens: dict[str, tuple[str, str]]  # field -> (words, sub-words), space-separated


def _band(confidence: float | None) -> str:
    if confidence is None:
        return ""
    thousandths = round(confidence * 1000)
    for label, low, high in CONFIDENCE_BANDS:
        if low <= thousandths < high:
            return label
    return ""


def split_tokens(text: str) -> tuple[str, str]:
    """(words, sub-words) of a text as our index sees it: at each position the last token is
    the word, those before it the dictionary words inside it."""
    words, subwords = [], []
    tokens = index_tokens(text)
    for i, (term, position, _, _) in enumerate(tokens):
        last = i + 1 == len(tokens) or tokens[i + 1][1] != position
        (words if last else subwords).append(term)
    return " ".join(words), " ".join(subwords)


def rows_of(seeds: Path) -> Iterator[Row]:
    """Parse and tokenise every record of a corpus folder, as our indexer does."""
    for path in find_markdown_files(seeds):
        records, _ = read_file(path, seeds)
        for record in records:
            meta = [record.issuer, record.place, record.scale, record.node_type, record.doc_number]
            meta += list(record.extra.values())
            texts = {
                "title": record.title or "",
                "content": record.content or "",
                "meta": "\n".join(m for m in meta if m),
            }
            yield Row(
                id=record.id,
                title_text=record.title or "",
                issuer=record.issuer or "",
                node_type=record.node_type or "",
                region=record.region or "",
                sector=record.sector or "",
                year=record.year or 0,
                date=_date_number(record.date),
                confidence=-1.0 if record.confidence is None else record.confidence,
                band=_band(record.confidence),
                tokens={name: split_tokens(text) for name, text in texts.items()},
            )


def prepare(seeds: Path, out: Path) -> int:
    """Parse and tokenise a corpus once into `out` (a pickle) for both baselines; the count."""
    rows = list(rows_of(seeds))
    with open(out, "wb") as handle:
        pickle.dump(rows, handle, protocol=pickle.HIGHEST_PROTOCOL)
    return len(rows)


def load_rows(path: Path) -> list[Row]:
    with open(path, "rb") as handle:
        return pickle.load(handle)


def _date_number(iso: str | None) -> int:
    """YYYYMMDD of an ISO date truncated to its precision (2020-04 is 20200401); 0 for none."""
    if not iso:
        return 0
    year, month, day = (iso.split("-") + ["01", "01"])[:3]
    return int(year + month + day)


# ---------------------------------------------------------------------------------------------
# Our compiled queries in the baselines' terms


def _fts_string(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def fts5_expression(query: wq.Query) -> str:
    """A Whoosh query tree compiled by search.compiler as an FTS5 MATCH expression."""
    if isinstance(query, wq.Term):
        return f"{{{query.fieldname} {query.fieldname}_sub}} : {_fts_string(str(query.text))}"
    if isinstance(query, wq.Phrase):
        return f"{query.fieldname} : {_fts_string(' '.join(query.words))}"
    if isinstance(query, wq.AndNot):
        return f"({fts5_expression(query.a)}) NOT ({fts5_expression(query.b)})"
    if isinstance(query, wq.And | wq.Or):
        joiner = " AND " if isinstance(query, wq.And) else " OR "
        return "(" + joiner.join(fts5_expression(q) for q in query.subqueries) + ")"
    raise ValueError(f"no FTS5 form for {query!r}")


def tantivy_query(query: wq.Query, schema):
    """A Whoosh query tree compiled by search.compiler as a tantivy query, boosts kept."""
    import tantivy

    Q, Occur = tantivy.Query, tantivy.Occur
    if isinstance(query, wq.Term):
        text = str(query.text)
        clause = Q.boolean_query(
            [
                (Occur.Should, Q.term_query(schema, query.fieldname, text)),
                (Occur.Should, Q.term_query(schema, query.fieldname + "_sub", text)),
            ]
        )
    elif isinstance(query, wq.Phrase):
        words = list(query.words)
        clause = (
            Q.phrase_query(schema, query.fieldname, words)
            if len(words) > 1
            else Q.term_query(schema, query.fieldname, words[0])
        )
    elif isinstance(query, wq.AndNot):
        clause = Q.boolean_query(
            [
                (Occur.Must, tantivy_query(query.a, schema)),
                (Occur.MustNot, tantivy_query(query.b, schema)),
            ]
        )
    elif isinstance(query, wq.And | wq.Or):
        occur = Occur.Must if isinstance(query, wq.And) else Occur.Should
        clause = Q.boolean_query([(occur, tantivy_query(q, schema)) for q in query.subqueries])
    else:
        raise ValueError(f"no tantivy form for {query!r}")
    boost = getattr(query, "boost", 1.0)
    return Q.boost_query(clause, boost) if boost != 1.0 else clause


def _filters(request: SearchRequest) -> dict[str, tuple]:
    """Active filters by facet name ('' for the ranges), as plain values."""
    found: dict[str, tuple] = {}
    for name in ("issuer", "node_type", "region", "sector"):
        if values := getattr(request, name):
            found[name] = ("in", tuple(values))
    if request.year:
        found["year"] = ("in", tuple(request.year))
    if request.confidence:
        found["band"] = ("in", tuple(request.confidence))
    ranges = []
    if request.date_from:
        ranges.append(("date", ">=", _date_number(request.date_from.isoformat())))
    if request.date_to:
        ranges.append(("date", "<=", _date_number(request.date_to.isoformat())))
    if request.min_confidence is not None:
        ranges.append(("confidence", ">=", request.min_confidence))
    if ranges:
        found[""] = ("ranges", tuple(ranges))
    return found


# ---------------------------------------------------------------------------------------------
# SQLite FTS5


SQLITE_SCHEMA = """
CREATE TABLE docs (
    rowid INTEGER PRIMARY KEY, id TEXT, title TEXT, issuer TEXT, node_type TEXT, region TEXT,
    sector TEXT, year INTEGER, date INTEGER, confidence REAL, band TEXT
);
CREATE VIRTUAL TABLE docs_fts USING fts5(
    title, title_sub, content, content_sub, meta, meta_sub,
    tokenize = 'unicode61 remove_diacritics 0'
);
"""
# bm25 weights per column: our field weights, the same for a field's words and sub-words
SQLITE_RANK = "bm25({})".format(
    ", ".join(str(RANKING.field_weights[f]) for f in TEXT_FIELDS for _ in (0, 1))
)


def build_sqlite(rows: list[Row], path: Path) -> None:
    if path.exists():
        path.unlink()
    db = sqlite3.connect(path)
    db.executescript(SQLITE_SCHEMA)
    with db:
        db.executemany(
            "INSERT INTO docs VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                (
                    i,
                    r.id,
                    r.title_text,
                    r.issuer,
                    r.node_type,
                    r.region,
                    r.sector,
                    r.year,
                    r.date,
                    r.confidence,
                    r.band,
                )
                for i, r in enumerate(rows, 1)
            ),
        )
        db.executemany(
            "INSERT INTO docs_fts (rowid, title, title_sub, content, content_sub, meta, meta_sub)"
            " VALUES (?,?,?,?,?,?,?)",
            ((i, *(t for f in TEXT_FIELDS for t in r.tokens[f])) for i, r in enumerate(rows, 1)),
        )
        db.execute("INSERT INTO docs_fts (docs_fts, rank) VALUES ('rank', ?)", (SQLITE_RANK,))
        db.execute("INSERT INTO docs_fts (docs_fts) VALUES ('optimize')")
    for column in FACET_COLUMNS:
        db.execute(f"CREATE INDEX docs_{column} ON docs ({column})")
    db.commit()
    db.execute("VACUUM")
    db.close()


def _sql_filters(filters: dict[str, tuple], skip: str | None = None) -> tuple[str, list]:
    clauses, params = [], []
    for name, (kind, values) in filters.items():
        if name == skip:
            continue
        if kind == "in":
            clauses.append(f"d.{name} IN ({','.join('?' * len(values))})")
            params += list(values)
        else:
            for column, op, value in values:
                clauses.append(f"d.{column} {op} ?")
                params.append(value)
    return "".join(f" AND {c}" for c in clauses), params


class SqliteSearch:
    """Search, facets by GROUP BY and FTS5 snippets over the SQLite baseline."""

    def __init__(self, path: Path):
        self.db = sqlite3.connect(path, check_same_thread=False)
        self.db.execute("CREATE TEMP TABLE matched (rowid INTEGER PRIMARY KEY)")

    def expression(self, request: SearchRequest) -> str:
        """The MATCH expression answering a request: all words, or any word for questions that
        match too few records with all (the same fallback rule as ours)."""
        compiled = compile_query(request.q)
        expression = fts5_expression(compiled.query)
        if compiled.any_query is None:
            return expression
        (count,) = self.db.execute(
            "SELECT count(*) FROM docs_fts WHERE docs_fts MATCH ?", (expression,)
        ).fetchone()
        if RANKING.answers_by_any_word(len(compiled.content_words), count):
            return fts5_expression(compiled.any_query)
        return expression

    def search(self, request: SearchRequest) -> dict:
        expression = self.expression(request)
        filters = _filters(request)
        db = self.db
        db.execute("DELETE FROM temp.matched")
        db.execute(
            "INSERT INTO temp.matched SELECT rowid FROM docs_fts WHERE docs_fts MATCH ?",
            (expression,),
        )
        where, params = _sql_filters(filters)
        hits = db.execute(
            "SELECT d.id, d.title, d.issuer, d.date, d.node_type, d.region, "
            f"snippet(docs_fts, 2, '<mark>', '</mark>', '…', {SNIPPET_TOKENS}) "
            "FROM docs_fts JOIN docs d ON d.rowid = docs_fts.rowid "
            f"WHERE docs_fts MATCH ?{where} ORDER BY rank LIMIT ? OFFSET ?",
            [expression, *params, request.per_page, (request.page - 1) * request.per_page],
        ).fetchall()
        (total,) = db.execute(
            f"SELECT count(*) FROM temp.matched m CROSS JOIN docs d ON d.rowid = m.rowid WHERE 1{where}",
            params,
        ).fetchone()
        facets = {}
        for column in FACET_COLUMNS:
            facet_where, facet_params = _sql_filters(filters, skip=column)
            present = f"d.{column} > 0" if column == "year" else f"d.{column} != ''"
            facets[column] = db.execute(
                f"SELECT d.{column}, count(*) AS n FROM temp.matched m "
                f"CROSS JOIN docs d ON d.rowid = m.rowid WHERE {present}"
                f"{facet_where} GROUP BY d.{column} ORDER BY n DESC",
                facet_params,
            ).fetchall()
        return {"total": total, "hits": hits, "facets": facets}


# ---------------------------------------------------------------------------------------------
# tantivy


def tantivy_schema():
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw")
    builder.add_text_field("title_text", stored=True, index_option="basic")
    for name in TEXT_FIELDS:
        # content's tokens are stored for the snippets, as FTS5 stores its columns
        builder.add_text_field(name, stored=name == "content", tokenizer_name="whitespace")
        builder.add_text_field(name + "_sub", tokenizer_name="whitespace", index_option="freq")
    for name in ("issuer", "node_type", "region", "sector", "band"):
        builder.add_text_field(name, stored=True, tokenizer_name="raw", fast=True)
    for name in ("year", "date"):
        builder.add_integer_field(name, stored=True, indexed=True, fast=True)
    builder.add_float_field("confidence", stored=True, indexed=True, fast=True)
    return builder.build()


def build_tantivy(rows: list[Row], path: Path) -> None:
    import shutil

    import tantivy

    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    schema = tantivy_schema()
    index = tantivy.Index(schema, str(path))
    writer = index.writer(256_000_000)  # tantivy's default threads: one per core
    for r in rows:
        fields = {
            "id": r.id,
            "title_text": r.title_text,
            "issuer": r.issuer,
            "node_type": r.node_type,
            "region": r.region,
            "sector": r.sector,
            "band": r.band,
            "year": r.year,
            "date": r.date,
            "confidence": r.confidence,
        }
        for name in TEXT_FIELDS:
            fields[name], fields[name + "_sub"] = r.tokens[name]
        writer.add_document(tantivy.Document(**fields))
    writer.commit()
    writer.wait_merging_threads()


class TantivySearch:
    """Search, facets by aggregations and snippets over the tantivy baseline."""

    def __init__(self, path: Path):
        import tantivy

        self.tantivy = tantivy
        self.index = tantivy.Index.open(str(path))
        self.schema = self.index.schema
        self.searcher = self.index.searcher()

    def _filter_clauses(self, filters: dict[str, tuple], skip: str | None = None) -> list:
        Q, FieldType = self.tantivy.Query, self.tantivy.FieldType
        clauses = []
        for name, (kind, values) in filters.items():
            if name == skip:
                continue
            if kind == "in":
                clauses.append(Q.term_set_query(self.schema, name, list(values)))
                continue
            for column, op, value in values:
                field_type = FieldType.Float if column == "confidence" else FieldType.Integer
                low, high = (value, None) if op == ">=" else (None, value)
                clauses.append(Q.range_query(self.schema, column, field_type, low, high))
        return clauses

    def _and(self, query, clauses):
        if not clauses:
            return query
        Occur = self.tantivy.Occur
        return self.tantivy.Query.boolean_query(
            [(Occur.Must, query), *((Occur.Must, c) for c in clauses)]
        )

    def search(self, request: SearchRequest) -> dict:
        searcher = self.searcher
        compiled = compile_query(request.q)
        text_query = tantivy_query(compiled.query, self.schema)
        if compiled.any_query is not None:
            count = searcher.search(text_query, 1, count=True).count
            if RANKING.answers_by_any_word(len(compiled.content_words), count):
                text_query = tantivy_query(compiled.any_query, self.schema)
        filters = _filters(request)
        query = self._and(text_query, self._filter_clauses(filters))
        result = searcher.search(
            query, request.per_page, count=True, offset=(request.page - 1) * request.per_page
        )
        snippets = self.tantivy.SnippetGenerator.create(searcher, query, self.schema, "content")
        hits = []
        for score, address in result.hits:
            doc = searcher.doc(address)
            hits.append(
                {
                    "id": doc["id"][0],
                    "title": doc["title_text"][0],
                    "issuer": doc["issuer"][0],
                    "snippet": snippets.snippet_from_doc(doc).to_html(),
                    "score": score,
                }
            )
        facets = {}
        # facets whose own filter is active count without it, the others share one aggregation
        groups: dict[str | None, list[str]] = {}
        for column in FACET_COLUMNS:
            groups.setdefault(column if column in filters else None, []).append(column)
        for skip, columns in groups.items():
            facet_query = self._and(text_query, self._filter_clauses(filters, skip=skip))
            spec = {c: {"terms": {"field": c, "size": 10_000}} for c in columns}
            answer = searcher.aggregate(facet_query, spec)
            for c in columns:
                facets[c] = [
                    (b["key"], b["doc_count"])
                    for b in answer[c]["buckets"]
                    if b["key"] not in ("", 0)
                ]
        return {"total": result.count, "hits": hits, "facets": facets}


# ---------------------------------------------------------------------------------------------
# Datasette


def datasette_metadata(path: Path) -> None:
    """Datasette's table metadata: search docs through docs_fts, joined by rowid."""
    metadata = {
        "databases": {"bench": {"tables": {"docs": {"fts_table": "docs_fts", "fts_pk": "rowid"}}}}
    }
    path.write_text(json.dumps(metadata), encoding="utf-8")


def datasette_params(request: SearchRequest, expression: str) -> list[tuple[str, str]]:
    """Datasette table-page parameters for a request: raw FTS5 search, filters, facets."""
    params = [("_search", expression), ("_searchmode", "raw"), ("_size", str(request.per_page))]
    params += [("_facet", column) for column in FACET_COLUMNS]
    for name, (kind, values) in _filters(request).items():
        if kind == "in":
            params.append((f"{name}__in", ",".join(str(v) for v in values)))
        else:
            for column, op, value in values:
                params.append((f"{column}__{'gte' if op == '>=' else 'lte'}", str(value)))
    return params


if __name__ == "__main__":
    raise SystemExit(
        "bench.baselines is a library of the benchmarks, not one of them: see python -m bench.speed --help"
    )
