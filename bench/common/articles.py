"""STARD's law articles as Markdown our ingest reads, one file each (with their chapter's headings,
read from the laws of the shared corpus): the seeds of bench.relevance and a corpus of the
speed benchmark."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

from bench.common.corpus import CorpusInfo

_HEADING = re.compile(r"^(#{2,6})\s+(.+?)\s*$")


_ARTICLE = re.compile(r"^(第[零〇一二三四五六七八九十百千]+条(?:之[一二三四五六七八九十]+)?)")


def law_headings(path: Path) -> dict[str, list[str]]:
    """第X条 -> the headings above it in its law file (编, 章, 节: `## 第十四章  租赁合同`)."""
    found: dict[str, list[str]] = {}
    open_headings: dict[int, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        heading = _HEADING.match(line)
        if heading:
            level = len(heading.group(1))
            open_headings = {k: v for k, v in open_headings.items() if k < level}
            open_headings[level] = " ".join(heading.group(2).split())
            continue
        article = _ARTICLE.match(line.strip())
        if article and article.group(1) not in found:
            found[article.group(1)] = [open_headings[k] for k in sorted(open_headings)]
    return found


def chapter_headings(articles: list[dict], laws: Path | None) -> dict[str, list[str]]:
    """docid -> the headings of the chapter (and part, section) the article sits in, read from
    the law files of the corpus (`file` under `laws`); empty without the corpus."""
    if laws is None or not laws.is_dir():
        return {}
    by_file: dict[str, dict[str, list[str]]] = {}
    out = {}
    for article in articles:
        name = article["file"]
        if name not in by_file:
            path = laws / name
            by_file[name] = law_headings(path) if path.is_file() else {}
        out[article["docid"]] = by_file[name].get(article["article"], [])
    return out


_FILE_DATE = re.compile(r"\((\d{4}-\d{2}-\d{2})\)")


def article_markdown(article: dict, headings: Sequence[str] = ()) -> str:
    """One article as a single policy document, in the shape of the unseen legal set: the law's
    name and the article's label as the H1 title (the record's title), a 发布日期 line (the date
    in the law file's name, when it has one), a 类别 line (the law's folder: 民法典, 司法解释, ...),
    optionally the headings of its chapter on one line (`--laws`), then the article's text."""
    lines = [f"# {article['law']} {article['article']}", ""]
    published = _FILE_DATE.search(article["file"])
    if published:
        lines.append(f"发布日期：{published.group(1)}")
    lines += [f"类别：{article['file'].split('/')[0]}", ""]
    if headings:
        lines += [" / ".join(headings), ""]
    return "\n".join(lines) + "\n" + article["text"].strip() + "\n"


def write_seeds(
    articles: list[dict], folder: Path, headings: dict[str, list[str]]
) -> dict[str, str]:
    """One Markdown file per article; returns source_file (path relative to `folder`) -> docid."""
    sources = {}
    for number, article in enumerate(articles):
        relative = f"{number // 1000:02d}/article-{number:05d}.md"
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        text = article_markdown(article, headings.get(article["docid"], ()))
        path.write_text(text, encoding="utf-8")
        sources[relative] = article["docid"]
    return sources


def articles_corpus(stard: Path, laws: Path | None, folder: Path, count: int | None) -> CorpusInfo:
    """STARD's law articles (`articles.jsonl`), one Markdown file each as bench.relevance writes
    its seeds (with their chapter's headings, read from `laws`): the first `count` (None: all) in
    a fixed order of their ids' hashes, so that any size mixes every law."""

    with open(stard / "articles.jsonl", encoding="utf-8") as handle:
        articles = [json.loads(line) for line in handle if line.strip()]
    articles.sort(key=lambda a: hashlib.sha256(a["docid"].encode("utf-8")).hexdigest())
    chosen = articles[:count] if count else articles
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    written = write_seeds(chosen, folder, chapter_headings(chosen, laws))
    characters = sum(len((folder / path).read_text(encoding="utf-8")) for path in written)
    return CorpusInfo(
        folder=folder,
        files=len(written),
        records=len(chosen),
        characters=characters,
        sources={"STARD articles": len(chosen)},
    )


def new_article(stard: Path, marker: str) -> tuple[str, str]:
    """(relative path, Markdown) of one more article file for a corpus of STARD's articles: the
    first article with `marker` (a word found nowhere else) at the start of its text."""

    with open(stard / "articles.jsonl", encoding="utf-8") as handle:
        article = json.loads(handle.readline())
    article["text"] = f"{marker}。{article['text']}"
    return f"added/{marker}.md", article_markdown(article)
