"""pyinstrument profiles of the largest size, for the report's hot spots."""

from __future__ import annotations

import shutil
from pathlib import Path

from bench.common.machine import available
from bench.speed.settings import size_label


def profile(options, engine, sets, work: Path, log) -> dict:
    """pyinstrument over one pass of every query set at this size, and over a build of the
    smallest size's corpus; full outputs beside the results, the top of each in the report."""
    if not available("pyinstrument"):
        return {}
    from pyinstrument import Profiler
    from pyinstrument.renderers import ConsoleRenderer

    from search.indexer import update_index
    from search.request import SearchRequest

    def flat(profiler: Profiler, name: str) -> list[str]:
        renderer = ConsoleRenderer(unicode=True, color=False, flat=True, show_all=False)
        text = profiler.output(renderer)
        (work / f"profile-{name}.txt").write_text(text, encoding="utf-8")
        return _flat_top(text)

    found = {}
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for name in ("keyword", "filtered", "typos", "questions"):
        for params in sets.get(name, [])[:50]:
            engine.search(SearchRequest.from_params(params))
    profiler.stop()
    found["queries"] = flat(profiler, "queries")
    smallest = options.out / size_label(options.sizes[0]) / "corpus"
    target = work / "profile-index"
    shutil.rmtree(target, ignore_errors=True)
    profiler = Profiler(interval=0.001)
    profiler.start()
    # what `policy-search index` does before it returns (its vectors are the background pass's,
    # whose threads the profile would show only as this thread waiting for them)
    update_index(smallest, target, rebuild=True, vectors="skip")
    profiler.stop()
    shutil.rmtree(target, ignore_errors=True)
    found["build"] = flat(profiler, "build")
    found["build_size"] = size_label(options.sizes[0])
    log(f"profiles written to {work}")
    return found


def _flat_top(text: str, count: int = 12) -> list[str]:
    lines = [line.strip() for line in text.splitlines()]
    body = [line for line in lines if line and line[0].isdigit()]
    return body[:count]
