"""The query sets the speed and scaling benchmarks run: keyword queries as users type them, the
same with typos and with filters, and STARD's natural-language questions."""

from __future__ import annotations

from pathlib import Path

# Keyword queries as users type them: topic words of the energy and environment laws, a few
# broad legal words that match thousands of records, and a few rare ones.
KEYWORD_QUERIES = (
    "碳排放权交易",
    "大气污染 防治",
    "可再生能源",
    "节约能源 考核",
    "温室气体 排放",
    "生态环境 损害 赔偿",
    "固体废物 污染",
    "排污许可",
    "环境影响评价",
    "新能源汽车",
    "碳达峰 碳中和",
    "能源消费 总量",
    "清洁生产",
    "水污染 防治",
    "土壤污染 修复",
    "危险废物 经营许可证",
    "煤炭",
    "节能审查",
    "核安全",
    "绿色低碳 发展",
    "光伏 发电",
    "建筑节能",
    "机动车 排放 检验",
    "野生动物 保护",
    "环境信息 公开",
    "罚款",
    "劳动合同 解除",
    "个体工商户",
    "知识产权",
    "安全生产 责任",
)


# Keyword queries with a typo (a character of the same sound): a word the index does not know
# gets a did-you-mean suggestion (searched in the index's words by edit distance); pieces it does
# know are answered by ranked matching of any word.
TYPO_QUERIES = ("碳中合", "碳排良", "新能原", "排污许克证", "温室汽体", "大汽污染")


# Filters as the web page sends them (API parameter names), cycled over the keyword queries.
FILTERS = (
    {"issuer": ["全国人民代表大会常务委员会"]},
    {"date_from": ["2015"], "date_to": ["2024-12"]},
    {"type": ["行政法规"]},
    {"region": ["全国"], "year": ["2021", "2022"]},
    {"issuer": ["国务院", "生态环境部"]},
    {"sector": ["经济法", "行政法"]},
    {"min_confidence": ["0.9"]},
)


def keyword_params() -> list[dict[str, list[str]]]:
    return [{"q": [q]} for q in KEYWORD_QUERIES]


def typo_params() -> list[dict[str, list[str]]]:
    return [{"q": [q]} for q in TYPO_QUERIES]


def filtered_params() -> list[dict[str, list[str]]]:
    return [{"q": [q], **FILTERS[i % len(FILTERS)]} for i, q in enumerate(KEYWORD_QUERIES)]


def questions(eval_folder: Path, limit: int | None = None) -> list[str]:
    """The natural-language questions of STARD's training set (queries.train.tsv)."""
    path = eval_folder / "queries.train.tsv"
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if "\t" in line:
            found.append(line.split("\t", 1)[1].strip())
    return found[:limit] if limit else found
