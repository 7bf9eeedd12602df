"""The benchmark corpus on its own: the shared corpus written as the Markdown our ingest reads, cut
to a number of records (perturbed copies beyond its ~78k), or STARD's law articles one file each,
as bench.speed and bench.scaling write each size; prints what it wrote as JSON.

    python -m bench.corpus /tmp/corpus-12k --records 12000
    python -m bench.corpus /tmp/articles-3k --articles --records 3000

The building itself lives in bench/common/corpus.py and bench/common/articles.py.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from bench.common.articles import articles_corpus
from bench.common.corpus import build_corpus

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO.parent / "shared" / "corpus"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.corpus", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("out", type=Path, help="the folder to write")
    parser.add_argument(
        "--corpus", type=Path, default=DEFAULT_CORPUS, help="the shared corpus [../shared/corpus]"
    )
    parser.add_argument("--records", type=int, help="records to write [all the corpus gives]")
    parser.add_argument(
        "--articles", action="store_true", help="STARD's law articles instead, one file each"
    )
    parser.add_argument("--eval", type=Path, help="STARD's folder [<corpus>/../eval/stard]")
    parser.add_argument(
        "--replace", action="store_true", help="empty the folder first if it holds files"
    )
    args = parser.parse_args(argv)
    if args.out.exists() and any(args.out.iterdir()) and not args.replace:
        parser.error(f"{args.out} holds files: name an empty folder, or add --replace")
    if args.articles:
        stard = args.eval or args.corpus.parent / "eval" / "stard"
        if not (stard / "articles.jsonl").is_file():
            parser.error(f"--articles needs STARD's articles.jsonl in {stard} (see --eval)")
        laws = args.corpus / "laws"
        info = articles_corpus(stard, laws if laws.is_dir() else None, args.out, args.records)
    else:
        if not (args.corpus / "laws").is_dir():
            parser.error(f"{args.corpus} is not the shared corpus folder (it has no laws/)")
        info = build_corpus(args.corpus, args.out, args.records)
    print(json.dumps(asdict(info), ensure_ascii=False, default=str, indent=1))


if __name__ == "__main__":
    main()
