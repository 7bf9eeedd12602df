"""After an index update: documents that another indexed document repeals (废止) or amends (修改)
by name get the status 已废止 or 已修改, and lose it again when that document is gone. Runs over
the few documents concerned, as one more commit of the same generation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from whoosh import index as whoosh_index
from whoosh import query as wq

from . import docmeta, segments
from .records import Record, unpack

MARKED = ("已废止", "已修改")
# Titles holding these words are the only ones that can repeal or amend another by name.
_VERBS = ("废止", "修改")


def mark_superseded(generation: Path, document_of: Callable[..., dict]) -> bool:
    """Bring the superseded statuses of a generation in line with its documents; whether it
    committed a change. `document_of(record, superseded=...)` makes a record's Whoosh fields."""
    ix = whoosh_index.open_dir(str(generation))
    try:
        with ix.searcher() as searcher:
            wanted: dict[int, str] = {}
            repealing = wq.And(
                [wq.Term("kind", "document"), wq.Or([wq.Term("title", v) for v in _VERBS])]
            )
            for docnum in searcher.docs_for_query(repealing):
                record = unpack(searcher.stored_fields(docnum)["record"])
                found = docmeta.superseding(record["title"], record["content"]) or {}
                for name, status in found.items():
                    for target in searcher.docs_for_query(wq.Term("title_exact", name)):
                        if target != docnum and wanted.get(target) != "已废止":
                            wanted[target] = status
            marked = set(searcher.docs_for_query(wq.Or([wq.Term("status", s) for s in MARKED])))
            changes: dict[int, tuple[dict, str | None]] = {}
            for docnum in marked | set(wanted):
                # as stored: 尚未生效 and 失效 are today's reading of 现行有效 (validity.py)
                record = unpack(searcher.stored_fields(docnum)["record"], calendar=False)
                if record["kind"] != "document":
                    continue
                status = wanted.get(docnum)
                if status is None:
                    # no longer superseded: its own status again (its title may still say 已废止)
                    status_now = docmeta.enriched(Record.from_dict(record)).status
                    if status_now != record["status"]:
                        changes[docnum] = (record, None)
                elif record["status"] != status:
                    changes[docnum] = (record, status)
            if not changes:
                return False
        # the records' texts are unchanged, so are their vector keys
        with segments.writer(ix) as writer:
            for docnum, (record, status) in changes.items():
                writer.delete_document(docnum)
                writer.add_document(**document_of(Record.from_dict(record), superseded=status))
        return True
    finally:
        ix.close()
