"""The records ingest produces and everything downstream (index, facets, API) consumes, each
field typed and described once; and the reports of an ingest."""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from . import validity


def about(description: str, stored: bool = True, **options: Any) -> Any:
    """A field with its description: the API's schemas show it (contract.py). A field that is
    not `stored` is kept by ingest only (its tests, its report), not in the index."""
    return field(metadata={"description": description, "stored": stored}, **options)


def file_key(relative_path: str) -> str:
    """Stable short id of a file: the first 12 hex digits of the sha1 of its POSIX relative path.
    Ingest passes readable names (documents.readable_name); a name still holding the surrogate
    escapes of bytes that are not UTF-8 hashes those bytes rather than failing."""
    return hashlib.sha1(relative_path.encode("utf-8", "surrogateescape")).hexdigest()[:12]


@dataclass(frozen=True)
class Source:
    label: str
    url: str


@dataclass
class Dates:
    """The dates of a single policy document, ISO (YYYY-MM-DD, or shorter when written so)."""

    written: str | None = about("成文日期.", default=None)
    published: str | None = about("发布日期 (or 公布日期).", default=None)
    effective: str | None = about("施行日期 (or 实施日期, or 自…起施行 in the text).", default=None)
    expires: str | None = about(
        "The last day it is in force: 有效期至…, 自…至…施行, or 有效期N年 from its 施行 date.",
        default=None,
    )


STATUSES = ("现行有效", "已修改", "已废止", "尚未生效", "失效")


@dataclass
class Record:
    """One searchable unit: an entry of a key-node compilation, or a whole policy document.

    Every field is declared here once, typed and described; the API's JSON, its OpenAPI schemas
    and the export columns are derived from these declarations (contract.py).
    """

    id: str
    kind: Literal["entry", "document"] = about(
        "entry: of a key-node compilation; document: a single policy document."
    )
    source_file: str = about("The file's path relative to the seeds folder, POSIX separators.")
    title: str
    content: str = ""
    issuer: str | None = None
    issuer_canonical: str | None = about(
        "The issuing body's one name (search/data/issuers.txt); the issuer filter and facet use "
        "it.",
        default=None,
    )
    issuer_derived: bool = about(
        "True when the issuer was taken from the first source link's label.", default=False
    )
    date_text: str | None = about("The date as written.", default=None)
    date: str | None = about(
        "ISO date truncated to its precision: 2020, 2020-04 or 2020-04-15.", default=None
    )
    date_precision: Literal["year", "month", "day"] | None = None
    place: str | None = None
    scale: str | None = None
    node_date: str | None = about("The key node's date, ISO.", default=None)
    node_type: str | None = about("The key node's type: 季节性, 事件, 政策, ...", default=None)
    confidence: float | None = None
    region: str | None = about("From the compilation's title, e.g. 北京市.", default=None)
    sector: str | None = about("From the compilation's title, e.g. 工业领域.", default=None)
    compilation: str | None = about(
        "The compilation's (or the document's) whole H1 title.", default=None
    )
    analysis_time: str | None = None
    node_index: int | None = about("1-based key node number within the file.", default=None)
    entry_index: int | None = about("1-based entry number within the key node.", default=None)
    doc_number: str | None = about("发文字号.", default=None)
    effective_date: str | None = about("施行日期, ISO.", default=None)
    dates: Dates = about(
        "成文, 发布 and 施行 dates of a single policy document.", default_factory=Dates
    )
    doc_type: str | None = about(
        "公文种类 from the title: 通知, 公告, 办法, 意见, 决定, 条例, ...", default=None
    )
    status: Literal["现行有效", "已修改", "已废止", "尚未生效", "失效"] | None = about(
        "时效性 today: 现行有效, 已修改, 已废止, 尚未生效 (before its 施行 date) or 失效 (after its "
        "expiry); null when unknown (and for entries).",
        default=None,
    )
    headings: list[str] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    extra: dict[str, str] = about("Labels we do not know, kept verbatim.", default_factory=dict)
    truncated: bool = False
    # the Markdown as written: ingest keeps it, the index does not (the fields say it all, and
    # a single document's Markdown would double what the index stores of it)
    raw: str = about("The record's Markdown as written.", stored=False, default="")

    @property
    def year(self) -> int | None:
        return int(self.date[:4]) if self.date else None

    def to_dict(self) -> dict:
        return asdict(self)

    def stored_dict(self) -> dict:
        """The fields the index keeps of the record: what /api/documents serves. The same dict
        as asdict() less the fields not stored, made without asdict's deep copy of every value
        (a build packs every record: asdict was a tenth of a build's time)."""
        return {name: _plain(getattr(self, name)) for name in _STORED_NAMES}

    @classmethod
    def from_dict(cls, data: dict) -> Record:
        values = dict(data)
        values["sources"] = [Source(**s) for s in values.get("sources", [])]
        values["dates"] = Dates(**values.get("dates", {}))
        return cls(**values)


def is_stored(name: str) -> bool:
    """Whether the index keeps the Record field `name`."""
    return _STORED[name]


_STORED = {f.name: f.metadata.get("stored", True) for f in fields(Record)}
_STORED_NAMES = tuple(name for name, stored in _STORED.items() if stored)


def _plain(value: Any) -> Any:
    """`value` as asdict() gives it: dataclasses as dicts, lists and dicts copied, their items
    made plain too; strings, numbers and None as they are."""
    if isinstance(value, str) or value is None:
        return value
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if hasattr(value, "__dataclass_fields__"):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    return value


def pack(record: Record) -> bytes:
    """A record as the index stores it: its stored fields as JSON, compressed (a third of the
    bytes on Chinese text, read back in microseconds per hit)."""
    return zlib.compress(json.dumps(record.stored_dict(), ensure_ascii=False).encode("utf-8"))


def unpack(stored: bytes, calendar: bool = True) -> dict:
    """The record dict of what pack() stored, its status as of today (validity.py); with
    `calendar=False`, the status as stored."""
    record = json.loads(zlib.decompress(stored))
    return validity.as_of_today(record) if calendar else record


@dataclass(frozen=True)
class IngestWarning:
    code: str  # machine-readable: truncated, nodes_missing, no_date, bad_confidence, ...
    message: str  # what was wrong, in the user's terms
    line: int | None = None  # 1-based line in the source file


@dataclass
class FileReport:
    path: str
    records: int = 0
    warnings: list[IngestWarning] = field(default_factory=list)
    error: str | None = None  # set when the file could not be read at all (then skipped)
    declared_nodes: int | None = None
    found_nodes: int | None = None


@dataclass
class IngestReport:
    files: list[FileReport] = field(default_factory=list)

    @property
    def records(self) -> int:
        return sum(f.records for f in self.files)

    @property
    def warnings(self) -> int:
        return sum(len(f.warnings) for f in self.files)

    @property
    def errors(self) -> int:
        return sum(1 for f in self.files if f.error)

    def summary(self) -> str:
        lines = [
            f"{len(self.files)} files, {self.records} records, "
            f"{self.warnings} warnings, {self.errors} unreadable"
        ]
        for f in self.files:
            if f.error:
                lines.append(f"  {f.path}: skipped: {f.error}")
            for w in f.warnings:
                where = f":{w.line}" if w.line else ""
                lines.append(f"  {f.path}{where}: {w.code}: {w.message}")
        return "\n".join(lines)
