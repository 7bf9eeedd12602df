"""The `policy-search` command: a thin layer that calls the library and reports its errors.

Options shared by several commands are declared once below; each reads its POLICY_SEARCH_*
environment variable when not given (defaults < environment < options).
"""

from __future__ import annotations

import contextlib
import html
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import click

from .config import ENV_PREFIX, Settings, settings_from_env
from .errors import SearchError
from .indexer import VECTOR_MODES, Progress, update_index
from .layout import MANIFEST_VERSION, current_generation, index_format
from .query import SearchIndex
from .request import SearchRequest
from .vectorstore import pass_running, spawn_pass
from .watch import read_status

PATH = click.Path(path_type=Path, file_okay=False)


def _option(*names: str, env: str, **options) -> Callable:
    """An option that falls back on POLICY_SEARCH_<env> and then on Settings' default."""
    return click.option(
        *names, envvar=ENV_PREFIX + env, show_envvar=True, show_default=True, **options
    )


seeds_option = _option(
    "--seeds", env="SEEDS", type=PATH, default=Settings.seeds, help="Folder of Markdown files."
)
index_option = _option(
    "--index", "index_dir", env="INDEX", type=PATH, default=Settings.index, help="Index folder."
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
vectors_option = click.option(
    "--vectors",
    type=click.Choice(VECTOR_MODES),
    default="background",
    show_default=True,
    help="When to compute the sentence vectors of new records: in a background process "
    "(keyword search works at once), now (before returning), or skip.",
)


@contextlib.contextmanager
def _progress_bar() -> Iterator[Progress | None]:
    """A progress callback for update_index drawing click's bar, on a terminal only (elsewhere
    click would still print the bar's label)."""
    if not sys.stderr.isatty():
        yield None
        return
    with contextlib.ExitStack() as stack:
        bar = None

        def show(done: int, total: int, name: str) -> None:
            nonlocal bar
            if bar is None:  # the total is known from the first call
                bar = stack.enter_context(
                    click.progressbar(length=total, label="files", show_pos=True, file=sys.stderr)
                )
            bar.update(done - bar.pos)

        yield show


def _fail(exc: SearchError) -> click.ClickException:
    return click.ClickException(str(exc))


@click.group()
@click.version_option(package_name="policy-search")
def main() -> None:
    """Full-text search over Chinese policy documents."""


@main.command()
@seeds_option
@index_option
@click.option(
    "--rebuild", is_flag=True, help="Build a fresh index beside the old one and swap it in."
)
@click.option(
    "--wait",
    type=float,
    default=0.0,
    show_default=True,
    help="Seconds to wait for another indexer.",
)
@click.option("--quiet", is_flag=True, help="Print only the one-line summary.")
@vectors_option
def index(
    seeds: Path, index_dir: Path, rebuild: bool, wait: float, quiet: bool, vectors: str
) -> None:
    """Build or update the index from the seeds folder.

    Run again, it reads only added and changed files and drops the records of deleted ones.
    Keyword search works when it returns; the sentence vectors that rank questions by meaning
    are computed by a pass in the background (`stats` says how far it is), unless
    --vectors now.
    """
    try:
        with _progress_bar() as progress:
            result = update_index(
                seeds, index_dir, rebuild=rebuild, wait=wait, progress=progress, vectors=vectors
            )
    except SearchError as exc:
        raise _fail(exc) from exc
    click.echo(result.summary().splitlines()[0] if quiet else result.summary())
    if vectors == "background" and not quiet:
        click.echo("Sentence vectors: computing in the background (see `policy-search stats`).")


@main.command()
@index_option
def vectors(index_dir: Path) -> None:
    """Compute the sentence vectors the index lacks, in the foreground (after the pass running
    in the background, if one is: it returns with every vector stored)."""
    from .vectorpass import run
    from .vectorstore import pass_running

    if pass_running(index_dir):
        click.echo("A vector pass is running on this index; waiting for it ...")
    stored = run(index_dir, wait=True)
    click.echo(f"stored {stored} sentence vectors")


@main.command()
@click.argument("query", default="")
@click.option("--issuer", multiple=True, help="Issuing body (repeatable: any of them).")
@click.option("--type", "node_type", multiple=True, help="Key node type, e.g. 事件 (repeatable).")
@click.option("--region", multiple=True, help="Region, e.g. 北京市 (repeatable).")
@click.option("--sector", multiple=True, help="Sector, e.g. 工业领域 (repeatable).")
@click.option("--year", multiple=True, help="Year (repeatable).")
@click.option("--doc-type", multiple=True, help="公文种类, e.g. 通知 (repeatable).")
@click.option("--status", multiple=True, help="时效性, e.g. 现行有效 (repeatable).")
@click.option("--from", "date_from", help="Earliest date: YYYY, YYYY-MM or YYYY-MM-DD.")
@click.option("--to", "date_to", help="Latest date: YYYY, YYYY-MM or YYYY-MM-DD.")
@click.option("--min-confidence", help="Minimum confidence, 0 to 1.")
@click.option("--sort", help="relevance (default), date, -date or confidence.")
@click.option("--page", help="Page number, from 1.")
@click.option("--per-page", help="Hits per page (at most 100).")
@click.option("--json", "as_json", is_flag=True, help="Print exactly the JSON the API serves.")
@index_option
def search(query: str, as_json: bool, index_dir: Path, **options) -> None:
    """Search the index, e.g. policy-search search "碳排量双控" --issuer 北京市发展改革委."""
    names = {"node_type": "type", "date_from": "date_from", "date_to": "date_to"}
    params: dict[str, list[str]] = {"q": [query]}
    for name, value in options.items():
        if value:
            params[names.get(name, name)] = list(value) if isinstance(value, tuple) else [value]
    try:
        request = SearchRequest.from_params(params)
        with SearchIndex(index_dir) as engine:
            result = engine.search(request)
    except SearchError as exc:
        raise _fail(exc) from exc
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    click.echo(_readable(result))


def _plain(html_text: str) -> str:
    return html.unescape(html_text.replace("<mark>", "【").replace("</mark>", "】"))


def _readable(result: dict) -> str:
    lines = [
        f"{result['total']} results for {result['query']!r} "
        f"(page {result['page']}/{result['pages']}, {result['took_ms']} ms"
        + (", any word" if result["match"] == "any" else "")
        + ")"
    ]
    if result["notice"]:
        lines.append(result["notice"])
    if result["suggestion"]:
        lines.append(f"Did you mean: {result['suggestion']}")
    first = (result["page"] - 1) * result["per_page"]
    for number, hit in enumerate(result["hits"], first + 1):
        facts = [hit["issuer"], hit["date_text"] or hit["date"], hit["node_type"]]
        facts += [hit["doc_number"], hit["status"]]
        if hit["confidence"] is not None:
            facts.append(f"可信度 {hit['confidence']}")
        lines.append(f"\n{number}. {_plain(hit['title_html'])}  [{hit['id']}]")
        lines.append("   " + " · ".join(str(f) for f in facts if f))
        lines.append("   " + _plain(hit["snippet"]))
        for source in hit["sources"]:
            lines.append(f"   {source['label']}: {source['url']}")
    return "\n".join(lines)


@main.command()
@index_option
@json_option
def stats(index_dir: Path, as_json: bool) -> None:
    """Show the record count, the index generation, the vector pass, the live folder's watcher
    and the counts per facet."""
    try:
        with SearchIndex(index_dir) as engine:
            result = engine.stats()
    except SearchError as exc:
        raise _fail(exc) from exc
    result["watch"] = _watch_status(index_dir)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    click.echo(
        f"{result['documents']} records from {result['files']} files, "
        f"{result['warnings']} ingest warnings; generation {result['generation']}"
    )
    for file in result["warning_files"]:
        click.echo(f"  {file['file']}: {file['error'] or ', '.join(file['codes'])}")
    done, total = result["vectors"]["done"], result["vectors"]["total"]
    running = pass_running(index_dir)
    if done < total:
        pending = " (pass running)" if running else " (no pass running: `policy-search vectors`)"
    else:
        pending = ""
    click.echo(f"sentence vectors: {done} of {total}{pending}")
    click.echo(_watch_line(result["watch"]))
    for facet, values in result["facets"].items():
        click.echo(f"\n{facet}:")
        for value in values:
            click.echo(f"  {value['count']:>6}  {value['value']}")


def _watch_status(index_dir: Path) -> dict:
    """What the watcher of a server on this index last wrote, if that server still runs."""
    status = read_status(index_dir)
    alive = status.pid is not None and _process_alive(status.pid)
    return {**status.to_dict(), "enabled": alive, "pid": status.pid if alive else None}


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _watch_line(watch: dict) -> str:
    if not watch["enabled"]:
        return "live folder: not watched (no server with its watcher runs on this index)"
    line = (
        f"live folder: watched by process {watch['pid']} ({watch['mode'] or 'starting'}); "
        f"{watch['updates']} updates, the last at {watch['last_update'] or '-'}"
    )
    if watch["restarts"]:
        line += f"; restarted {watch['restarts']} times, last: {watch['last_restart_error']}"
    if watch["updating_since"]:
        line += f"; updating since {watch['updating_since']}"
    if watch["last_error"]:
        line += f"; last update failed: {watch['last_error']}"
    return line


@main.command()
@_option("--host", env="HOST", default=Settings.host, help="Address to listen on.")
@_option("--port", env="PORT", type=int, default=Settings.port, help="Port.")
@seeds_option
@index_option
@_option(
    "--workers",
    env="WORKERS",
    type=click.IntRange(min=1),
    default=None,
    help="Server processes sharing the index [default: one per core]; 1 serves from one "
    "process of threads (waitress, as on Windows).",
)
@_option(
    "--threads", env="THREADS", type=click.IntRange(min=1), default=4, help="Threads a process."
)
@_option(
    "--watch/--no-watch",
    env="WATCH",
    default=Settings.watch,
    help="Update the index when files in the seeds folder (or the data files) change.",
)
@_option(
    "--public-url",
    env="PUBLIC_URL",
    default=None,
    help="The address readers reach the server at (behind a proxy, the proxy's), for the links "
    "in feeds [default: the address each request came to].",
)
@_option(
    "--forwarded/--no-forwarded",
    env="PROXY_HEADERS",
    default=Settings.proxy_headers,
    help="Trust a proxy's X-Forwarded-Proto/Host/Port/Prefix/For headers (only behind a proxy "
    "that sets them: any client can send them).",
)
def serve(
    host: str,
    port: int,
    seeds: Path,
    index_dir: Path,
    workers: int | None,
    threads: int,
    watch: bool,
    public_url: str | None,
    forwarded: bool,
) -> None:
    """Serve the web page and the JSON API; builds the index first if there is none.

    The sentence vectors the index lacks (a pass stopped before it finished) are computed by a
    pass in the background, as after a build.

    Several worker processes share the index (pre-forked by gunicorn); each answers `--threads`
    requests at once. Markdown files added to, changed in or removed from the seeds folder are
    searchable within seconds (--no-watch: only after `policy-search index`). POST /api/reindex
    needs the token in POLICY_SEARCH_REINDEX_TOKEN (without it, it is refused).
    """
    from web import create_app
    from web.server import default_workers
    from web.server import serve as run_server

    try:
        settings = settings_from_env(
            host=host,
            port=port,
            seeds=seeds,
            index=index_dir,
            watch=watch,
            public_url=public_url,
            proxy_headers=forwarded,
        )
    except SearchError as exc:
        raise _fail(exc) from exc
    current = current_generation(settings.index)
    if current is None or index_format(current) != MANIFEST_VERSION:
        what = "No index" if current is None else "An index of another version"
        click.echo(f"{what} at {settings.index}: building it from {settings.seeds} ...")
        from .forked import run_forked

        try:
            # in a child process: what a build leaves in memory would otherwise stay in the
            # server's parent and be shared with every worker forked from it (some 60 MB at
            # 3,000 records)
            result = run_forked(
                lambda: update_index(settings.seeds, settings.index, wait=30, vectors="background")
            )
        except SearchError as exc:
            raise _fail(exc) from exc
        click.echo(result.summary().splitlines()[0])
    elif not settings.watch:
        # the sentence vectors a former pass did not finish (stopped by a reboot, or skipped):
        # a pass finishes them (with the watcher, its first update starts one)
        spawn_pass(settings.index)
    make_watcher = None
    if settings.watch:
        from .watch import SeedsWatcher

        _log_to_stderr("search.watch")
        make_watcher = lambda: SeedsWatcher(settings.seeds, settings.index)  # noqa: E731
    run_server(
        lambda: create_app({"SETTINGS": settings, "WATCH": settings.watch}),
        settings.host,
        settings.port,
        workers or default_workers(),
        threads,
        announce=click.echo,
        watcher=make_watcher,
        proxy_headers=settings.proxy_headers,
    )


def _log_to_stderr(name: str) -> None:
    """One line per message of logger `name` (the watcher's updates) on stderr, with the time."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # waitress gives the root logger a handler of its own


if __name__ == "__main__":  # pragma: no cover
    main()
