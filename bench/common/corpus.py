"""The benchmark corpus: the shared reference corpus turned into Markdown in the formats our
ingest reads, at a chosen number of records, plus the query sets the benchmarks run.

Laws become key-node compilations (one file per law, one key node per chapter, one numbered
entry per `第X条` article, with 颁布单位 and date), so their records carry realistic facets. The
ministry's decrees and notices become single policy documents: each is one whole text with its
own 发文字号 and date, which is the form the single-document format was made for. Each
provincial government work report becomes a compilation (one key node per section, one entry
per paragraph), so that its region is a facet and a paragraph is a hit. Laws with no numbered
article (amendments, decisions) stay single documents.

Sizes beyond the shared corpus (~78k records) repeat it: each further copy under new file names,
its text perturbed (some sentences swapped with other records', neighbouring characters swapped in
others) so that the copies do not repeat the terms' statistics exactly. STARD's law articles can
stand in for the corpus too, one file each (`articles_corpus`).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

LAW_SOURCE = ("国家法律法规数据库", "https://flk.npc.gov.cn/")

# Confidence per kind of text: only there so the confidence facet has realistic bands.
CONFIDENCE = {
    "宪法": 0.98,
    "法律": 0.95,
    "行政法规": 0.92,
    "司法解释": 0.9,
    "部门规章": 0.88,
    "地方性法规": 0.85,
    "政府工作报告": 0.75,
}

# Category folders of laws/ that hold laws passed by the NPC (or its standing committee).
NATIONAL_LAW_FOLDERS = {
    "宪法",
    "宪法相关法",
    "民法典",
    "民法商法",
    "行政法",
    "经济法",
    "社会法",
    "刑法",
    "诉讼与非诉讼程序法",
    "其他",
}

PROVINCES = {
    "北京": "北京市",
    "上海": "上海市",
    "天津": "天津市",
    "重庆": "重庆市",
}

_NUMERAL = "一二三四五六七八九十百千零〇两"
ARTICLE = re.compile(rf"^(第[{_NUMERAL}]+条(?:之[{_NUMERAL}]+)?)[\s\u3000]*(.*)$")
REPORT_SECTION = re.compile(rf"^[{_NUMERAL}]+、")
DATE_IN_NAME = re.compile(r"\((\d{4})-(\d{2})-(\d{2})\)")
DATE_IN_TEXT = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日")
LOCAL_CONGRESS = re.compile(r"([\u4e00-\u9fff]{2,8}?(?:省|市|自治区))第[^届]{1,4}届人民代表大会")


@dataclass
class Entry:
    """One numbered entry of a compilation: what becomes one record."""

    title: str
    date: str | None  # ISO
    issuer: str
    content: str
    section: str = ""
    source: tuple[str, str] = LAW_SOURCE


@dataclass
class Node:
    label: str  # the chapter or section the entries belong to
    entries: list[Entry] = field(default_factory=list)


@dataclass
class Unit:
    """One Markdown file of the benchmark corpus and the records it yields."""

    path: str  # relative to the corpus folder
    kind: str  # "compilation" or "document"
    title: str
    region: str
    sector: str
    node_type: str
    confidence: float | None
    date: str | None
    nodes: list[Node] = field(default_factory=list)  # compilations
    # single documents
    issuer: str = ""
    doc_number: str | None = None
    url: str | None = None
    body: str = ""

    @property
    def records(self) -> int:
        return sum(len(n.entries) for n in self.nodes) if self.kind == "compilation" else 1

    def truncated(self, records: int) -> Unit:
        """The same compilation with only its first `records` entries."""
        nodes, left = [], records
        for node in self.nodes:
            if left <= 0:
                break
            nodes.append(Node(node.label, node.entries[:left]))
            left -= len(nodes[-1].entries)
        return Unit(**{**self.__dict__, "nodes": nodes})


@dataclass
class CorpusInfo:
    folder: Path
    files: int
    records: int  # records the corpus was built to yield
    characters: int  # characters of Markdown written
    sources: dict[str, int]  # records per source

    def figures(self) -> dict:
        """What a report keeps of it: files, records, characters and records per source."""
        return {
            "files": self.files,
            "records": self.records,
            "characters": self.characters,
            "sources": self.sources,
        }


# ---------------------------------------------------------------------------------------------
# Reading the shared corpus


def _chinese_date(iso: str | None) -> str:
    if not iso:
        return "日期不详"
    year, month, day = iso.split("-")
    return f"{int(year)}年{int(month)}月{int(day)}日"


def _law_date(path: Path, info: str) -> str | None:
    if m := DATE_IN_NAME.search(path.name):
        return "-".join(m.groups())
    dates = DATE_IN_TEXT.findall(info)
    if not dates:
        return None
    year, month, day = dates[-1]
    return f"{year}-{int(month):02d}-{int(day):02d}"


def _law_kind(category: str, title: str) -> str:
    if category == "宪法" or title.endswith("宪法"):
        return "宪法"
    if category in NATIONAL_LAW_FOLDERS:
        return "法律"
    if category == "DLC":
        return "地方性法规"
    return category  # 行政法规, 部门规章, 司法解释


def _law_issuer(kind: str, parts: tuple[str, ...], info: str, region: str) -> str:
    if kind == "部门规章" and len(parts) > 2:
        return parts[1]
    if kind == "地方性法规":
        if m := LOCAL_CONGRESS.search(info):
            return m.group(1) + "人民代表大会常务委员会"
        return region + "人民代表大会常务委员会"
    if kind == "司法解释":
        if "最高人民检察院" in info and "最高人民法院" not in info:
            return "最高人民检察院"
        return "最高人民法院"
    if kind == "行政法规":
        return "国务院"
    if "全国人民代表大会常务委员会" in info or "常务委员会" in info:
        return "全国人民代表大会常务委员会"
    return "全国人民代表大会"


def _province(folder: str) -> str:
    return PROVINCES.get(folder, folder if folder.endswith(("省", "市", "区")) else folder + "省")


def read_law(path: Path, laws: Path) -> Unit:
    parts = path.relative_to(laws).parts
    text = path.read_text(encoding="utf-8")
    head, _, body = text.partition("<!-- INFO END -->")
    if not body:
        head, body = "", text
    head_lines = [line.strip() for line in head.splitlines() if line.strip()]
    title = head_lines[0].lstrip("#").strip() if head_lines else path.stem
    info = "\n".join(line for line in head_lines[1:] if not line.startswith("#"))
    category = parts[0]
    kind = _law_kind(category, title)
    region = _province(parts[-2]) if category == "DLC" else "全国"
    sector = "地方性法规" if category == "DLC" else category
    date = _law_date(path, info)
    issuer = _law_issuer(kind, parts, info, region)
    nodes: list[Node] = []
    chapter, section = "", ""
    paragraphs: list[str] = []
    for raw in body.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            heading = " ".join(line.lstrip("#").split())
            if line.startswith("## ") or not chapter:
                chapter, section = heading, ""
            else:
                section = heading
            continue
        if m := ARTICLE.match(line):
            if not nodes or nodes[-1].label != (chapter or "正文"):
                nodes.append(Node(chapter or "正文"))
            entry = Entry(
                title=f"{title} {m.group(1)}",
                date=date,
                issuer=issuer,
                content=m.group(2),
                section=" ".join(s for s in (chapter, section) if s),
            )
            nodes[-1].entries.append(entry)
        elif nodes and nodes[-1].entries:
            # a further paragraph of the same article
            nodes[-1].entries[-1].content += line
        else:
            paragraphs.append(line)
    nodes = [n for n in nodes if n.entries]
    common = dict(
        path=f"laws/{'/'.join(parts)}",
        title=title,
        region=region,
        sector=sector,
        node_type=kind,
        confidence=CONFIDENCE[kind],
        date=date,
        issuer=issuer,
    )
    if nodes:
        return Unit(kind="compilation", nodes=nodes, **common)
    return Unit(kind="document", body="\n\n".join(paragraphs), **common)


def read_laws(corpus: Path) -> Iterator[Unit]:
    laws = corpus / "laws"
    for path in sorted(laws.rglob("*.md")):
        if path.name == "_index.md":
            continue
        unit = read_law(path, laws)
        if unit.records and (unit.kind == "compilation" or unit.body):
            yield unit


def read_notices(corpus: Path) -> Iterator[Unit]:
    with open(corpus / "mee_policy_docs.jsonl", encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            doc = json.loads(line)
            kind = "部令" if doc["section"] == "Decrees" else "公告通知"
            yield Unit(
                path=f"mee/{doc['publish_date'][:4]}/{doc['doc_id']}.md",
                kind="document",
                title=doc["title"],
                region="全国",
                sector="生态环境",
                node_type=kind,
                confidence=None,
                date=doc["publish_date"],
                issuer=doc.get("source_name_cn") or "生态环境部",
                doc_number=doc.get("doc_number"),
                url=doc.get("url"),
                body=doc["content"],
            )


def read_reports(corpus: Path) -> Iterator[Unit]:
    with open(corpus / "gov_reports_2026.jsonl", encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            report = json.loads(line)
            province = report["province"]
            issuer = f"{province}人民政府"
            source = (f"{province}人民政府", report["source_url"])
            lines = [t.strip() for t in report["text"].splitlines() if t.strip()]
            nodes = [Node("开篇")]
            for number, paragraph in enumerate(lines[1:], 1):
                if REPORT_SECTION.match(paragraph) and len(paragraph) < 60:
                    nodes.append(Node(paragraph))
                    continue
                nodes[-1].entries.append(
                    Entry(
                        title=f"{report['title']} 第{number}段",
                        date=report["publish_date"],
                        issuer=issuer,
                        content=paragraph,
                        section=nodes[-1].label,
                        source=source,
                    )
                )
            yield Unit(
                path=f"reports/{province}.md",
                kind="compilation",
                title=report["title"],
                region=province,
                sector="政府工作",
                node_type="政府工作报告",
                confidence=CONFIDENCE["政府工作报告"],
                date=report["publish_date"],
                issuer=issuer,
                nodes=[n for n in nodes if n.entries],
            )


def read_units(corpus: Path) -> list[Unit]:
    """Every unit of the shared corpus, in a fixed pseudo-random order that mixes the sources."""
    units = [*read_laws(corpus), *read_notices(corpus), *read_reports(corpus)]
    return sorted(units, key=lambda u: hashlib.sha256(u.path.encode("utf-8")).hexdigest())


# ---------------------------------------------------------------------------------------------
# Writing Markdown


def render(unit: Unit) -> str:
    """The Markdown of one unit, in the formats of seeds/ (key-node compilation) or a single
    policy document."""
    if unit.kind == "document":
        lines = [f"# {unit.title}", "", f"发文机关：{unit.issuer}"]
        if unit.doc_number:
            lines.append(f"发文字号：{unit.doc_number}")
        if unit.date:
            lines.append(f"发布日期：{unit.date}")
        if unit.url:
            lines.append(f"来源：[{unit.issuer}]({unit.url})")
        lines += ["", unit.body, ""]
        return "\n".join(lines)
    lines = [
        f"# {unit.region} {unit.sector} {unit.title}关键节点汇编",
        "",
        "分析时间: 2026-03-01 09:00:00",
        f"共涵盖 {len(unit.nodes)} 个关键节点的相关信息",
        "",
    ]
    for node in unit.nodes:
        lines += [
            "---",
            "",
            f"## 关键节点: {unit.date or '1900-01-01'} ({unit.node_type}) - 可信度: "
            f"{unit.confidence:.2f}",
            "",
        ]
        for number, entry in enumerate(node.entries, 1):
            label, url = entry.source
            lines += [
                f"{number}. **事件名称**：{entry.title}",
                f"**发生时间**：{_chinese_date(entry.date)}",
                f"**颁布单位**：{entry.issuer}",
            ]
            if entry.section:
                lines.append(f"**章节**：{entry.section}")
            lines += [
                f"**核心内容**：{entry.content}",
                f"**数据来源链接**：[{label}]({url})",
                "",
            ]
    return "\n".join(lines)


def select(units: list[Unit], records: int | None) -> list[Unit]:
    """The first units (in the mixed order) that together yield `records` records; the last
    compilation is cut to fit. None: every unit."""
    if records is None:
        return list(units)
    chosen, total = [], 0
    for unit in units:
        if total >= records:
            break
        if total + unit.records > records:
            if unit.kind != "compilation":
                continue
            unit = unit.truncated(records - total)
        chosen.append(unit)
        total += unit.records
    return chosen


def write_corpus(units: list[Unit], folder: Path) -> CorpusInfo:
    """Write the units as Markdown under `folder` (emptied first)."""
    if folder.exists():
        shutil.rmtree(folder)
    characters, sources = 0, {}
    for unit in units:
        target = folder / unit.path
        target.parent.mkdir(parents=True, exist_ok=True)
        text = render(unit)
        target.write_text(text, encoding="utf-8")
        characters += len(text)
        source = unit.path.split("/", 1)[0]
        if source.startswith(SYNTHETIC):
            source = "perturbed copies"
        sources[source] = sources.get(source, 0) + unit.records
    return CorpusInfo(
        folder=folder,
        files=len(units),
        records=sum(u.records for u in units),
        characters=characters,
        sources=sources,
    )


def build_corpus(corpus: Path, folder: Path, records: int | None) -> CorpusInfo:
    """Markdown files under `folder` yielding `records` records (None: as many as the shared
    corpus gives; more than it gives: perturbed copies make up the rest)."""
    return write_corpus(select(list(synthetic_units(read_units(corpus), records)), records), folder)


# ---------------------------------------------------------------------------------------------
# Beyond the shared corpus: perturbed copies

SYNTHETIC = "synthetic-"  # the folder of each further copy: synthetic-1/, synthetic-2/, ...
SENTENCE_END = re.compile(r"(?<=[。；！？])")
HAN = re.compile(r"[\u4e00-\u9fff]")
SWAP_SENTENCES = 0.15  # of a copy's sentences, replaced by a sentence of an earlier record
SWAP_CHARACTERS = 0.3  # of the others, two neighbouring characters swapped
POOL = 2000  # sentences a copy keeps to swap in (a rolling sample of the records before)


class Perturbation:
    """The text changes of one copy, deterministic for its number and the order of its texts."""

    def __init__(self, copy: int):
        self.random = random.Random(f"{SYNTHETIC}{copy}")
        self.pool: list[str] = []

    def text(self, text: str) -> str:
        """`text` with a fraction of its sentences replaced by earlier sentences of the copy and
        neighbouring characters swapped in some others; line breaks and lengths mostly kept."""
        out = []
        for sentence in SENTENCE_END.split(text):
            if not sentence:
                continue
            kept = sentence
            roll = self.random.random()
            if roll < SWAP_SENTENCES and self.pool and "\n" not in sentence:
                sentence = self.pool[self.random.randrange(len(self.pool))]
            elif roll < SWAP_SENTENCES + SWAP_CHARACTERS and len(sentence) > 3:
                # two neighbouring Chinese characters (never a line break or Markdown's marks)
                i = self.random.randrange(len(sentence) - 2)
                if HAN.match(sentence, i) and HAN.match(sentence, i + 1):
                    sentence = sentence[:i] + sentence[i + 1] + sentence[i] + sentence[i + 2 :]
            out.append(sentence)
            if "\n" not in kept:
                if len(self.pool) < POOL:
                    self.pool.append(kept)
                else:
                    self.pool[self.random.randrange(POOL)] = kept
        return "".join(out)

    def unit(self, unit: Unit, copy: int) -> Unit:
        """A copy of `unit` under a new file name, its entries' (or body's) text perturbed."""
        stem, _, suffix = unit.path.rpartition(".")
        path = f"{SYNTHETIC}{copy}/{stem}-{copy}.{suffix}"
        if unit.kind == "document":
            return replace(unit, path=path, body=self.text(unit.body))
        nodes = [
            Node(node.label, [replace(e, content=self.text(e.content)) for e in node.entries])
            for node in unit.nodes
        ]
        return replace(unit, path=path, nodes=nodes)


def synthetic_units(units: list[Unit], records: int | None) -> Iterator[Unit]:
    """The units, then as many perturbed copies of them (copy 1, 2, ...) as it takes to yield
    `records` records (None: the units alone)."""
    yield from units
    available = sum(u.records for u in units)
    if records is None or not available:
        return
    copy = 1
    while available < records:
        perturbation = Perturbation(copy)
        for unit in units:
            yield perturbation.unit(unit, copy)
        available += sum(u.records for u in units)
        copy += 1


def corpus_records(corpus: Path) -> int:
    """How many records the shared corpus yields (sizes above it are perturbed copies)."""
    return sum(u.records for u in read_units(corpus))


# ---------------------------------------------------------------------------------------------
# STARD's law articles as the corpus


def new_file(corpus: Path, marker: str) -> tuple[str, str]:
    """(relative path, Markdown) of one more law compilation to add to a built corpus: a real law
    with `marker` (a word found nowhere else) in its first article, under a new path."""
    laws = [u for u in read_laws(corpus) if u.kind == "compilation" and 20 <= u.records <= 80]
    unit = laws[0]
    first = unit.nodes[0].entries[0]
    first.content = f"{marker}。{first.content}"
    unit.path = f"added/{marker}.md"
    return unit.path, render(unit)


# ---------------------------------------------------------------------------------------------
# Query sets
