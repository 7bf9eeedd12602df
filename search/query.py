"""The engine: SearchIndex.search, the one search function the CLI and the web both call.

A request (request.py) is compiled (compiler.py) and matched against the current index commit
(reader.py); keyword queries keep Whoosh's BM25F order, long questions are ranked in numpy
(scoring.py); filters, facet counts and sorts work on numpy columns (facets.py); hits are
highlighted (highlight.py) and shaped as the record/hit contract says (contract.py).
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from whoosh import query as wq
from whoosh.searching import Searcher

from .analysis import normalize, query_words
from .compiler import CompiledQuery, compile_query
from .contract import hit
from .errors import DocumentNotFound, SearchError
from .facets import all_of, facet_counts, filter_masks, sorted_page
from .highlight import Highlight, Highlighter
from .layout import MANIFEST_FILE, manifest_report, read_manifest
from .querylang import QUOTE_MARKS
from .ranking import DEFAULT, RankingConfig
from .reader import CurrentIndex, Generation
from .records import unpack
from .request import SearchRequest
from .scoring import (
    Postings,
    keyword_scores,
    matching_docs,
    rank_question,
    spread_over_files,
    union,
)


@dataclass
class _Matched:
    """The records a query matched (document numbers, sorted) and how."""

    docs: np.ndarray
    query: wq.Query | None  # what ranks them by BM25F; None: nothing to rank by
    scores: np.ndarray | None = None  # ranked matching's fused scores of every document
    match: str = "all"  # "any": no record matched every word, so records matching some are
    terms: Postings | None = None  # the postings matching read, for ranking by the query
    # keywords: each record's tier, ranked in order before its score (see _keyword_match);
    # None: every matched record holds every word
    tier: np.ndarray | None = None


class SearchIndex:
    """The current index generation, opened once and refreshed when a commit or swap happens,
    searched with one RankingConfig (ranking.DEFAULT unless given).

    Safe to share between threads: each thread gets its own Whoosh searcher, pinned to the same
    commit as the facet columns, so docnums always agree even while a writer commits.
    """

    def __init__(self, index_root: Path, ranking: RankingConfig = DEFAULT):
        self.index_root = Path(index_root)
        self.ranking = ranking
        self._current = CurrentIndex(self.index_root, weighting=ranking.weighting)
        self.highlighter = Highlighter()

    def __enter__(self) -> SearchIndex:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def follow(self) -> None:
        """Open the current generation now, its columns read and the former generation's let
        go: a process that answers no request (a pre-forking server's parent) calls it after
        each update, so that workers forked later share the current columns and the files of
        removed segments are not held for good."""
        self._current.generation()

    def close(self, keep_columns: bool = False) -> None:
        """Close every searcher this object opened (in any thread); with `keep_columns`, keep
        what was read of the current generation (its facet, scoring and vector columns), for
        processes forked after this to share."""
        self._current.close(keep_columns)

    @property
    def generation(self) -> str:
        return self._current.generation().label

    def searcher(self) -> tuple[Searcher, Generation]:
        """This thread's Whoosh searcher and the generation it reads (for code that reads the
        index directly: the relevance bench, tests)."""
        return self._current.searcher()

    def own_searcher(self) -> contextlib.AbstractContextManager[tuple[Searcher, Generation]]:
        """A searcher of the current generation and that generation, for one task in a thread
        of its own, closed when the `with` block ends."""
        return self._current.own_searcher()

    # -- search

    def search(self, request: SearchRequest, kind: str | None = None) -> dict:
        """Run a search; the result is exactly what the JSON API serves. `kind` ("entry" or
        "document") keeps the hits and total to records of that kind (the timeline's entries)."""
        started = time.perf_counter()
        searcher, generation = self.searcher()
        columns = generation.columns
        compiled = compile_query(request.q, self.ranking) if request.q.strip() else None
        matched = self._match(searcher, generation, compiled)
        masks = filter_masks(request, columns, matched.docs)
        allowed = matched.docs[all_of(masks, len(matched.docs))]
        if kind is not None:
            of_kind, _ = Postings(searcher.reader())("kind", kind)
            allowed = allowed[np.isin(allowed, of_kind)]
        total = int(len(allowed))
        sort = request.sort
        if sort == "relevance" and matched.query is None:
            sort = "-date"
        page_docs, scores = self._page(searcher, generation, matched, allowed, sort, request)
        terms = compiled.highlight if compiled else Highlight()
        hits = [
            self._hit(searcher, docnum, score, terms)
            for docnum, score in zip(page_docs, scores, strict=True)
        ]
        suggestion = notice = None
        # only when the words found nothing: if filters emptied the result, the words are right
        if len(matched.docs) == 0 and compiled is not None:
            suggestion = self._suggest(searcher, request, compiled)
            if compiled.phrases:
                # a quoted phrase is strict: say so, rather than quietly match its words apart
                quoted = "、".join(f"“{p}”" for p in compiled.phrases)
                notice = f"引号中的短语须原样出现：没有记录含有{quoted}。去掉引号可按词检索。"
        return {
            "query": request.q,
            "total": total,
            "page": request.page,
            "per_page": request.per_page,
            "pages": max(1, math.ceil(total / request.per_page)),
            "sort": sort,
            "match": matched.match,
            "took_ms": round((time.perf_counter() - started) * 1000, 2),
            "generation": generation.label,
            "hits": hits,
            "facets": facet_counts(request, columns, matched.docs, masks),
            "suggestion": suggestion,
            "notice": notice,
        }

    def _match(
        self, searcher: Searcher, generation: Generation, compiled: CompiledQuery | None
    ) -> _Matched:
        """Every live record without words; else the records matching all words, or, when
        too few do, ranked matching of any word (long questions)."""
        live = generation.columns.live
        if compiled is None or compiled.query is None:
            return _Matched(np.flatnonzero(live), None)
        terms = Postings(searcher.reader())
        docs = matching_docs(searcher, compiled.query, terms)
        docs = docs[live[docs]] if len(docs) else docs
        if compiled.any_query is None or not (
            # a question is ranked by one path whether or not some record holds all its words:
            # holding every word of a sentence says little about answering it
            (compiled.reads_as_question and self.ranking.rank_every_question)
            or self.ranking.answers_by_any_word(len(compiled.content_words), len(docs))
        ):
            return self._keyword_match(searcher, generation, compiled, docs, terms)
        question = rank_question(
            searcher,
            generation.scoring,
            compiled.any_query,
            compiled.text,
            live,
            self.ranking,
            widen=compiled.reads_as_question,
        )
        return _Matched(
            np.flatnonzero(question.matched), compiled.any_query, question.scores, "any"
        )

    def _keyword_match(
        self,
        searcher: Searcher,
        generation: Generation,
        compiled: CompiledQuery,
        docs: np.ndarray,
        terms: Postings,
    ) -> _Matched:
        """Keywords: the records holding every word (tier 0); then the records holding some of
        them in other documents that hold them all, across their articles or paragraphs (散煤
        in one article of a regulation, 禁燃区 in another: tier 1, ranking.same_file_keywords);
        then, for three keywords or more, while fewer than ranking.keyword_documents documents
        are matched, the best record of each further document holding two of them or more (tier
        2); and so for two keywords typed apart, documents holding one of them
        (ranking.two_keywords_filled). Each tier by the keywords' BM25F. In an index of one
        file, or when enough documents hold every word, nothing is added."""
        query = compiled.query
        ranking = self.ranking
        if not (
            (ranking.same_file_keywords or ranking.keyword_documents)
            and compiled.any_query is not None
            and isinstance(query, wq.And)
            and len(query.subqueries) > 1
            and len(docs)
        ):
            return _Matched(docs, query, terms=terms)
        live = generation.columns.live
        files = generation.scoring.files(searcher.reader())
        clauses = [matching_docs(searcher, clause, terms) for clause in query.subqueries]
        clauses = [c[live[c]] for c in clauses]
        some = union(clauses, len(live))
        matched_files = np.unique(files[docs])
        tier = np.full(len(live), 3, dtype=np.int8)
        tier[docs] = 0
        if ranking.same_file_keywords:
            common = np.unique(files[clauses[0]])
            for clause in clauses[1:]:
                common = np.intersect1d(common, files[clause])
            common = np.setdiff1d(common, matched_files)
            common = common[common >= 0]
            tier[some[np.isin(files[some], common)]] = 1
            matched_files = np.union1d(matched_files, common)
        wanted = ranking.keyword_documents - len(matched_files)
        scores = None
        typed_apart = ranking.two_keywords_filled and len(compiled.raw_words) >= 2
        if wanted > 0 and (len(clauses) >= 3 or typed_apart):
            scores = keyword_scores(
                searcher, generation.scoring, wq.Or(query.subqueries), terms, ranking
            )
            held = np.zeros(len(live), dtype=np.int32)
            for clause in clauses:
                held[clause] += 1
            rest = some[
                ~np.isin(files[some], matched_files)
                & (files[some] >= 0)
                & (held[some] >= min(2, len(clauses) - 1))
            ]
            rest = rest[np.lexsort((rest, -scores[rest]))]
            _, first_of_file = np.unique(files[rest], return_index=True)
            best = rest[np.sort(first_of_file)][:wanted]
            tier[best] = 2
        if not (tier < 3).sum() > len(docs):
            return _Matched(docs, query, terms=terms)
        if scores is None:
            scores = keyword_scores(
                searcher, generation.scoring, wq.Or(query.subqueries), terms, ranking
            )
        return _Matched(np.flatnonzero(tier < 3), query, scores, "all", terms, tier)

    def _page(
        self,
        searcher: Searcher,
        generation: Generation,
        matched: _Matched,
        allowed: np.ndarray,
        sort: str,
        request: SearchRequest,
    ) -> tuple[list[int], list[float | None]]:
        """The document numbers of the requested page, and their scores (None when sorted).
        By relevance, the best ranking.spread_window records are spread over their files
        (scoring.spread_over_files), so that a page shows more documents."""
        first, count = (request.page - 1) * request.per_page, request.per_page
        if sort != "relevance":
            page_docs = sorted_page(generation.columns, allowed, sort, first, count)
            return page_docs, [None] * len(page_docs)
        window = self.ranking.spread_window if self.ranking.spread_rounds else 0
        depth = max(first + count, window)
        if matched.scores is not None:
            docs, scores = _fused_page(matched.scores, allowed, 0, depth, matched.tier)
        elif len(allowed) == 0 or first >= len(allowed):
            return [], []
        else:
            keyword = keyword_scores(
                searcher,
                generation.scoring,
                matched.query,
                matched.terms or Postings(searcher.reader()),
                self.ranking,
            )
            docs, scores = _fused_page(keyword, allowed, 0, depth)
        if window and len(docs) > 1:
            head = min(window, len(docs))
            files = generation.scoring.files(searcher.reader())
            score_of = dict(zip(docs, scores, strict=True))
            spread = spread_over_files(np.asarray(docs[:head]), files, self.ranking.spread_rounds)
            docs = spread.tolist() + docs[head:]
            scores = [score_of[d] for d in docs]
        return docs[first : first + count], scores[first : first + count]

    def _hit(self, searcher: Searcher, docnum: int, score: float | None, terms: Highlight) -> dict:
        record = unpack(searcher.stored_fields(int(docnum))["record"])
        return hit(
            record,
            title_html=self.highlighter.whole(record["title"], terms),
            snippet=self.highlighter.snippet(record["content"], terms),
            score=score,
        )

    def _suggest(self, searcher, request: SearchRequest, compiled: CompiledQuery) -> str | None:
        """A query that finds something: each typed word the index does not know replaced by the
        nearest indexed word (by edit distance), or else reduced to its known pieces."""
        if compiled.phrases:
            unquoted = request.q.translate({ord(mark): " " for mark in QUOTE_MARKS}).strip()
            if unquoted and self.search(replace(request, q=unquoted, page=1))["total"]:
                return " ".join(unquoted.split())
        reader = searcher.reader()
        stop = self.ranking.dropped_words()

        def known(word: str) -> bool:
            return any(reader.doc_frequency(f, word) for f in self.ranking.field_weights)

        words, changed = [], False
        for raw in compiled.raw_words:
            pieces = [w for w in query_words(raw) if w not in stop]
            if all(known(p) for p in pieces):
                words.append(raw)
                continue
            changed = True
            typed = normalize(raw)
            if 2 <= len(typed) <= 12:
                distance = 1 if len(typed) <= 4 else 2
                # only words sharing the first character are compared: Whoosh measures the edit
                # distance to each candidate in Python (~60 ms a word at 3k records otherwise)
                corrections = searcher.suggest(
                    "content", typed, limit=1, maxdist=distance, prefix=1
                )
                if corrections:
                    words.append(corrections[0])
                    continue
            words += [p for p in pieces if len(p) > 1 and known(p)]
        if not changed or not words:
            return None
        suggestion = " ".join(words)
        found = self.search(replace(request, q=suggestion, page=1))
        return suggestion if found["total"] else None

    # -- documents and statistics

    def document(self, record_id: str) -> dict:
        """The whole record with this id, or DocumentNotFound."""
        searcher, _ = self.searcher()
        stored = searcher.document(id=record_id)
        if stored is None:
            raise DocumentNotFound(f"no record has the id {record_id!r}")
        return unpack(stored["record"])

    def siblings(self, record: dict) -> list[dict]:
        """The other entries of the same key node of the same file, in order."""
        if record["kind"] != "entry":
            return []
        searcher, _ = self.searcher()
        others = []
        for stored in searcher.documents(source_file=record["source_file"]):
            other = unpack(stored["record"])
            if other["node_index"] == record["node_index"] and other["id"] != record["id"]:
                others.append(other)
        return sorted(others, key=lambda r: r["entry_index"] or 0)

    def stats(self) -> dict:
        """Counts per facet over the whole index, the generation and the ingest report."""
        generation = self._current.generation()
        browse = self.search(SearchRequest(per_page=1))
        try:
            report = manifest_report(read_manifest(generation.path))
            files, warnings = len(report.files), report.warnings
        except Exception:  # noqa: BLE001 - the manifest is advisory here
            files, warnings = None, None
        return {
            "documents": browse["total"],
            "generation": browse["generation"],  # of the count, should a commit come between
            "files": files,
            "warnings": warnings,
            "vectors": self.vector_progress(),
            "warning_files": self.changes()["warning_files"],
            "facets": browse["facets"],
        }

    def vector_progress(self) -> dict:
        """{"done", "total"}: live records with text whose sentence vector is computed, of all.
        Until done == total, questions are ranked without meaning for the others."""
        searcher, generation = self.searcher()
        return generation.scoring.vector_progress(searcher.reader(), generation.columns.live)

    def changes(self) -> dict:
        """When the current generation last changed (its manifest's time, ISO) and the files whose
        last reading left warnings or an error, with their warning codes; read again whenever the
        manifest changes."""
        generation = self._current.generation()
        manifest_path = generation.path / MANIFEST_FILE
        try:
            stat = manifest_path.stat()
            # the manifest is written just after the commit it describes: a commit seen before
            # it was rewritten must not keep the old facts (keyed by the file, not the commit)
            key = (generation.label, stat.st_ino, stat.st_mtime_ns, stat.st_size)
        except OSError:
            stat, key = None, (generation.label,)
        cached = getattr(self, "_changes", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        changed, problems = None, []
        try:
            if stat is not None:
                changed = datetime.fromtimestamp(stat.st_mtime, UTC)
            for file in manifest_report(read_manifest(generation.path)).files:
                if file.warnings or file.error:
                    codes = sorted({w.code for w in file.warnings})
                    problems.append({"file": file.path, "codes": codes, "error": file.error})
        except (OSError, SearchError):  # the manifest is advisory here
            pass
        facts = {
            "changed": changed.isoformat(timespec="seconds") if changed else None,
            "warning_files": problems,
        }
        self._changes = (key, facts)
        return facts


def _fused_page(
    scores: np.ndarray,
    docs: np.ndarray,
    first: int,
    count: int,
    tier: np.ndarray | None = None,
) -> tuple[list[int], list[float]]:
    """A page of `docs` by their scores, best first (ties by document number, as Whoosh); with
    `tier`, lower tiers first."""
    wanted = first + count
    if tier is None and len(docs) > 4 * wanted + 64:
        # only the records that can be on the page are sorted: those scoring at least the
        # wanted-th best score (ties with it included, so the order of ties stays exact)
        values = scores[docs]
        threshold = np.partition(values, len(values) - wanted)[len(values) - wanted]
        docs = docs[values >= threshold]
    keys = (docs, -scores[docs]) if tier is None else (docs, -scores[docs], tier[docs])
    order = np.lexsort(keys)[first : first + count]
    page = docs[order]
    return page.tolist(), [round(float(scores[d]), 4) for d in page]
