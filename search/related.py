"""Related records: the records closest to one record by its key terms (its most telling words by
tf-idf, searched as any-word BM25F) and, where sentence vectors are there, by meaning; never the
record itself, nor the other entries of its own key node (the detail page lists those apart)."""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import TYPE_CHECKING

import numpy as np
from whoosh import query as wq

from .analysis import query_words, stopwords
from .errors import DocumentNotFound
from .records import unpack

if TYPE_CHECKING:
    from .query import SearchIndex

MAX_RELATED = 5
KEY_TERMS = 10
TEXT_CHARS = 3000  # of the content read for key terms: a long law's first articles say enough
CANDIDATES = 40
MEANING_WEIGHT = 0.4  # of the fused score, when both records have a vector
TITLE_BOOST = 2.0
COMMON_SHARE = 0.5  # a word in more than this share of the records tells none of them apart
FIELDS = (
    "id", "title", "issuer", "issuer_canonical", "date", "date_text", "kind", "doc_type",
    "node_date", "source_file",
)  # fmt: skip
_ENTRY_PART = re.compile(r"-e[0-9a-f]+(?:-\d+)?$")  # an entry's part of its id
# Words of any policy text, which the stop list keeps for searching but say nothing of what a
# record is about.
GENERIC_WORDS = frozenset(
    [
        "以上",
        "以下",
        "发布",
        "实现",
        "进行",
        "开展",
        "推进",
        "推动",
        "加强",
        "工作",
        "有关",
        "相关",
        "提高",
        "提升",
        "具体",
        "通过",
        "实施",
        "建立",
        "完善",
        "规定",
        "要求",
        "需要",
        "主要",
        "重要",
        "积极",
        "有效",
        "各类",
        "部门",
        "单位",
        "我们",
        "他们",
        "可以",
        "应当",
    ]
)


def key_terms(reader, title: str, content: str, limit: int = KEY_TERMS) -> list[tuple[str, float]]:
    """The record's most telling words: frequency in its title (counted double) and content
    times their rarity in the index; words in no other record, or in most, say nothing of
    relatedness."""
    counts = Counter(query_words(content[:TEXT_CHARS]))
    for word in query_words(title):
        counts[word] += TITLE_BOOST
    stop = stopwords()
    total = max(reader.doc_count(), 1)
    weighted = []
    for word, count in counts.items():
        if len(word) < 2 or any(ch.isdigit() for ch in word) or word in stop:
            continue
        if word in GENERIC_WORDS:
            continue
        frequency = max(reader.doc_frequency("content", word), reader.doc_frequency("title", word))
        if frequency < 2 or frequency > total * COMMON_SHARE:
            continue
        rarity = math.log(1 + (total - frequency + 0.5) / (frequency + 0.5))
        weighted.append((word, count * rarity))
    weighted.sort(key=lambda pair: (-pair[1], pair[0]))
    return weighted[:limit]


def related(index: SearchIndex, record_id: str, limit: int = MAX_RELATED) -> dict:
    """`{"related": [...], "terms": [...]}`: up to `limit` records close to this one, best first."""
    searcher, generation = index.searcher()
    docnum = searcher.document_number(id=record_id)
    if docnum is None:
        raise DocumentNotFound(f"no record has the id {record_id!r}")
    record = unpack(searcher.stored_fields(docnum)["record"])
    reader = searcher.reader()
    node = _ENTRY_PART.sub("", record_id) if record["kind"] == "entry" else None
    terms = key_terms(reader, record["title"], record["content"])

    scores: dict[int, float] = {}
    matched: dict[int, list[str]] = {}
    if terms:
        query = wq.Or(
            [wq.Term("content", word, boost=weight) for word, weight in terms]
            + [wq.Term("title", word, boost=weight * TITLE_BOOST) for word, weight in terms]
        )
        results = searcher.search(query, limit=CANDIDATES, terms=True)
        best = max((hit.score for hit in results), default=0.0) or 1.0
        for hit in results:
            scores[hit.docnum] = (1 - MEANING_WEIGHT) * hit.score / best
            words = {text.decode("utf-8") for _, text in hit.matched_terms()}
            matched[hit.docnum] = [word for word, _ in terms if word in words]

    rows = generation.scoring.vector_rows(reader)
    present = rows >= 0
    if len(present) > docnum and present[docnum]:
        cache = generation.scoring.cache
        vector = cache.vectors(rows[[docnum]])[0]
        # the stored vectors are unit vectors (to int8 precision): their dot is the cosine
        similarity = cache.cosines(vector / max(float(np.linalg.norm(vector)), 1e-9), rows)
        cosine = np.where(present, similarity, -1.0)
        nearest = np.argsort(-cosine)[: CANDIDATES + 1]
        for other in nearest.tolist():
            if cosine[other] > 0 and not reader.is_deleted(other):
                scores[other] = scores.get(other, 0.0) + MEANING_WEIGHT * float(cosine[other])
        for other in list(scores):
            if other not in nearest and present[other] and cosine[other] > 0:
                scores[other] += MEANING_WEIGHT * float(cosine[other])

    out = []
    for other, score in sorted(scores.items(), key=lambda item: (-item[1], item[0])):
        if other == docnum:
            continue
        found = unpack(searcher.stored_fields(other)["record"])
        if node and _ENTRY_PART.sub("", found["id"]) == node:
            continue  # a sibling of the same key node: the detail page lists those apart
        out.append(
            {
                **{name: found[name] for name in FIELDS},
                "score": round(score, 4),
                "terms": matched.get(other, []),
            }
        )
        if len(out) == limit:
            break
    return {"related": out, "terms": [word for word, _ in terms]}
