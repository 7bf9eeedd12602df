"""The records ingest produces and everything downstream (index, facets, API) consumes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Source:
    label: str
    url: str


@dataclass
class Record:
    """One searchable unit: an entry of a key-node compilation, or a whole policy document.

    Dates: `date_text` is the date as written; `date` is ISO truncated to `date_precision`
    ("2020", "2020-04" or "2020-04-15" for "year", "month", "day").
    """

    id: str
    kind: str  # "entry" (of a key-node compilation) or "document" (a single policy document)
    source_file: str  # path relative to the seeds folder, POSIX separators
    title: str
    content: str = ""
    issuer: str | None = None
    issuer_derived: bool = False  # True when taken from the first source link's label
    date_text: str | None = None
    date: str | None = None
    date_precision: str | None = None
    place: str | None = None
    scale: str | None = None
    node_date: str | None = None  # the key node's date, ISO
    node_type: str | None = None  # 季节性, 事件, 政策, ...
    confidence: float | None = None
    region: str | None = None  # from the compilation title, e.g. 北京市
    sector: str | None = None  # from the compilation title, e.g. 工业领域
    compilation: str | None = None  # the compilation's (or document's) full H1 title
    analysis_time: str | None = None
    node_index: int | None = None  # 1-based key node number within the file
    entry_index: int | None = None  # 1-based entry number within the node
    doc_number: str | None = None  # 发文字号
    effective_date: str | None = None  # 施行日期, ISO
    headings: list[str] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)  # labels we do not know, kept verbatim
    truncated: bool = False
    raw: str = ""

    @property
    def year(self) -> int | None:
        return int(self.date[:4]) if self.date else None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Record:
        values = dict(data)
        values["sources"] = [Source(**s) for s in values.get("sources", [])]
        return cls(**values)


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
