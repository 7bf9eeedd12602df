"""A snapshot of everything the search serves, to show that a change of structure changed no
answer: `/api/search` for the README's examples and more, `/api/documents/<id>`, the exports, the
OpenAPI document, the search page, the CLI's `search --json` and `stats --json`, and the records
ingest makes of every fixture file. Run time (`took_ms`) is left out; all else must be equal.

    python -m bench.api_snapshot --out /tmp/api-before.json      # before the change
    python -m bench.api_snapshot --compare /tmp/api-before.json  # after it: exit 1 on a difference
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"
FIXTURES = REPO / "tests" / "fixtures"

# /api/search parameters: the README's examples first, then each feature once.
SEARCHES: list[list[tuple[str, str]]] = [
    [("q", "碳排量双控")],
    [("q", "碳中和"), ("issuer", "北京市发展改革委"), ("date_from", "2020")]
    + [("date_to", "2021-06"), ("min_confidence", "0.57")],
    [("q", '"碳排量权交易"')],
    [("type", "事件"), ("sort", "-date")],
    [("q", "碳排量双控"), ("issuer", "北京市发展改革委"), ("sort", "-date")],
    [("type", "事件"), ("date_from", "2021"), ("date_to", "2022-06")]
    + [("min_confidence", "0.56"), ("per_page", "50")],
    [("q", "碳排量 双控")],
    [("q", "碳中和 -排水")],
    [("q", "我的邻居天天很吵怎么办")],
    [("q", "北京如何通过“碳排放权交易市场”实现“碳中和”？")],
    [("q", "能源")],
    [("q", "能源 OR 氢能")],
    [("q", "(能源 OR 交通) NOT 煤炭")],
    [("q", "NOT 能源")],
    [("q", "title:能源")],
    [("q", "content:碳排量 issuer:北京市发展改革委")],
    [("q", "type:事件")],
    [("q", "year:2021")],
    [("q", "year:abc")],
    [("q", 'title:"能源发展计划"')],
    [("q", "“双重管控”")],
    [("q", "北京市工业领域如何降低能源消耗强度？")],
    [("q", "怎么减少工业碳排放")],
    [("q", "发改委 节能")],
    [("q", "ＧＤＰ")],
    [("q", "的")],
    [("q", "碳排量双空")],
    [("q", "能原消耗")],
    [("q", "zzzzqqq")],
    [("q", "碳中合")],
    [("q", "碳排良")],
    [("q", "碳中和"), ("year", "1999")],
    [("q", '"碳排放权交易市场"')],
    [("q", '"排水集团碳中和"')],
    [("q", '"节能降耗 推广"')],
    [("q", "(((能源")],
    [("q", "能源"), ("sort", "date")],
    [("q", "能源"), ("sort", "confidence")],
    [("q", "能源"), ("page", "2"), ("per_page", "3")],
    [("q", "能源"), ("page", "99")],
    [("q", "能源"), ("year", "2021"), ("year", "2020")],
    [("q", "能源"), ("confidence", "0.5-0.6")],
    [("confidence", "0.9-1.0")],
    [("region", "北京市"), ("sector", "工业领域"), ("sort", "confidence")],
    [("issuer", "不存在的单位")],
    [("q", "")],
    [("q", "   "), ("unknown", "x")],
    # errors: the one JSON shape
    [("date_from", "2020-13")],
    [("per_page", "1000")],
    [("sort", "best")],
    [("confidence", "0.3-0.4")],
    [("min_confidence", "nan")],
    [("date_from", "2022"), ("date_to", "2021")],
    [("q", "(" * 30 + "能源")],
    [("q", "x" * 1001)],
]

# The same searches as `policy-search search` arguments.
CLI_SEARCHES: list[list[str]] = [
    ["碳排量双控"],
    ["碳中和", "--issuer", "北京市发展改革委", "--from", "2020", "--to", "2021-06"]
    + ["--min-confidence", "0.57"],
    ['"碳排量权交易"'],
    ["", "--type", "事件", "--sort", "-date"],
    ["我的邻居天天很吵怎么办", "--per-page", "5", "--page", "2"],
]

PAGES = [
    [("q", "碳排量双控")],
    [("q", "能源"), ("year", "2021"), ("per_page", "3"), ("page", "2")],
    [("q", "碳中合"), ("sort", "date")],
    [("q", '"碳排放权交易市场"')],
    [("sort", "bad")],
]

_TOOK = re.compile(r"（用时 [0-9.]+ 毫秒）")


def _without_time(value):
    if isinstance(value, dict):
        return {k: _without_time(v) for k, v in value.items() if k != "took_ms"}
    if isinstance(value, list):
        return [_without_time(v) for v in value]
    return value


def _json_response(response) -> dict:
    return {
        "status": response.status_code,
        "keys": list(response.get_json()) if response.is_json else None,
        "body": _without_time(response.get_json()),
    }


def _seeds(folder: Path, wide: bool) -> Path:
    """seeds/, and for the wide snapshot every fixture file beside it (both formats)."""
    target = folder / ("seeds-wide" if wide else "seeds")
    shutil.copytree(SEEDS, target)
    if wide:
        for path in sorted((FIXTURES / "web").glob("*.md")) + sorted(
            (FIXTURES / "ingest").glob("*.md")
        ):
            shutil.copy(path, target / path.name)
    return target


def _records() -> dict:
    """The records and ingest report of every fixture file and seed."""
    from search.documents import read_file

    out = {}
    for path in sorted(FIXTURES.rglob("*.md")) + sorted(SEEDS.glob("*.md")):
        records, report = read_file(path, REPO)
        out[path.relative_to(REPO).as_posix()] = {
            "records": [r.to_dict() for r in records],
            "report": asdict(report),
        }
    return out


def _serve(seeds: Path, index: Path, searches) -> dict:
    from search.config import Settings
    from web import create_app
    from web.state import EXTENSION

    app = create_app({"SETTINGS": Settings(seeds=seeds, index=index), "REINDEX_TOKEN": None})
    client = app.test_client()
    out: dict = {"search": {}, "documents": {}, "exports": {}, "pages": {}}
    ids: dict[str, None] = {}
    try:
        for params in searches:
            key = urlencode(params)
            response = client.get("/api/search?" + key)
            out["search"][key] = _json_response(response)
            for hit in (response.get_json() or {}).get("hits", []):
                ids[hit["id"]] = None
        for record_id in [*ids, "no-such-id"]:
            out["documents"][record_id] = _json_response(client.get(f"/api/documents/{record_id}"))
        for params in searches[:12]:
            key = urlencode(params)
            out["exports"]["json " + key] = _json_response(client.get("/export.json?" + key))
            csv = client.get("/export.csv?" + key)
            out["exports"]["csv " + key] = [csv.status_code, csv.get_data(as_text=True)]
        for params in PAGES:
            key = urlencode(params)
            page = client.get("/?" + key)
            out["pages"][key] = [page.status_code, _TOOK.sub("", page.get_data(as_text=True))]
        first = next(iter(ids), None)
        if first:
            page = client.get(f"/documents/{first}")
            out["pages"]["document"] = [page.status_code, page.get_data(as_text=True)]
        out["openapi"] = client.get("/api/openapi.json").get_json()
        out["health"] = _json_response(client.get("/api/health"))
    finally:
        app.extensions[EXTENSION].close()
    return out


def _cli(index: Path) -> dict:
    from click.testing import CliRunner

    from search.cli import main

    runner = CliRunner()
    out = {}
    for arguments in CLI_SEARCHES:
        run = runner.invoke(main, ["search", *arguments, "--json", "--index", str(index)])
        out[" ".join(arguments)] = [run.exit_code, _without_time(json.loads(run.output))]
    run = runner.invoke(main, ["stats", "--json", "--index", str(index)])
    out["stats"] = [run.exit_code, json.loads(run.output)]
    run = runner.invoke(main, ["search", "碳中和", "--from", "2020-13", "--index", str(index)])
    out["bad date"] = [run.exit_code, run.output]
    return out


def snapshot() -> dict:
    """Build the indexes in a temporary folder and record every answer."""
    from search.indexer import update_index

    result: dict = {"records": _records()}
    with tempfile.TemporaryDirectory(prefix="policy-search-snapshot-") as folder:
        for name, wide in (("seeds", False), ("wide", True)):
            seeds = _seeds(Path(folder), wide)
            index = Path(folder) / f"index-{name}"
            update_index(seeds, index)
            result[name] = _serve(seeds, index, SEARCHES)
            result[name]["cli"] = _cli(index)
    return result


def differences(before, after, path: str = "") -> list[str]:
    """Where two snapshots differ, key order included, as readable paths."""
    if isinstance(before, dict) and isinstance(after, dict):
        found = []
        if list(before) != list(after):
            found.append(f"{path}: keys {list(before)} != {list(after)}")
        for key in before:
            if key in after:
                found += differences(before[key], after[key], f"{path}/{key}")
        return found
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        found = []
        for i, (b, a) in enumerate(zip(before, after, strict=True)):
            found += differences(b, a, f"{path}[{i}]")
        return found
    return [] if before == after else [f"{path}: {before!r:.200} != {after!r:.200}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.api_snapshot", description=__doc__)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--out", type=Path, help="write the snapshot to this file")
    group.add_argument("--compare", type=Path, help="compare with the snapshot in this file")
    args = parser.parse_args(argv)
    # through JSON both ways, so that tuples and lists (and key order) compare as stored
    current = json.loads(json.dumps(snapshot(), ensure_ascii=False))
    if args.out:
        args.out.write_text(json.dumps(current, ensure_ascii=False, indent=1), encoding="utf-8")
        print(f"written to {args.out}", file=sys.stderr)
        return 0
    before = json.loads(args.compare.read_text(encoding="utf-8"))
    found = differences(before, current)
    for line in found[:50]:
        print(line)
    print(f"{len(found)} differences" if found else "identical", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
