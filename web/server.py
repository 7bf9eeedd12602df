"""Serving the app: several worker processes sharing one index on disk (gunicorn's pre-fork
model, Linux and macOS), or one process of threads (waitress: Windows, tests, --workers 1).

One Python process answers one search at a time (the GIL), so a second core needs a second
process. The app is created once in the parent, with the segmenter's dictionary and the sentence
encoder loaded, and the workers are forked from it: those pages stay shared between them (the
memory of a server is its processes' Pss summed, which counts shared pages once). Each worker
opens its own Whoosh searchers after the fork; the index files are read through the page cache,
shared as well. A reindex in one worker commits a new index generation that every worker's
SearchIndex sees on its next request.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import json
import os
import signal
from collections.abc import Callable
from typing import Protocol

from flask import Flask

from .errors import HTTP_MESSAGES, error_body
from .state import EXTENSION


def default_workers() -> int:
    """One worker process per core."""
    return max(1, os.cpu_count() or 1)


def serve(
    make_app: Callable[[], Flask],
    host: str,
    port: int,
    workers: int,
    threads: int,
    announce: Callable[[str], None] = print,
    watcher: Callable[[], Watcher] | None = None,
    proxy_headers: bool = False,
) -> None:
    """Serve until stopped: `workers` processes of `threads` threads each. `watcher` makes the
    seeds folder's watcher (search/watch.py), started in exactly one process: the parent of the
    workers, or the one process. `proxy_headers`: a proxy's X-Forwarded-* headers are left for
    the app to apply (create_app's ProxyFix); otherwise neither server acts on them."""
    _limit_malloc_arenas()
    if workers <= 1 or os.name != "posix":
        import waitress

        app = make_app()
        announce(f"Serving on http://{host}:{port}/ (1 process, {threads} threads)")
        running = watcher().start() if watcher else None
        previous = signal.signal(signal.SIGTERM, _exit)  # stop as on Ctrl-C: watcher included
        try:
            waitress.serve(
                app,
                host=host,
                port=port,
                threads=threads,
                ident="policy-search",
                # waitress drops X-Forwarded-* from proxies it was not told to trust; trusting
                # them is the app's one decision, so it keeps them only for the app to apply
                clear_untrusted_proxy_headers=not proxy_headers,
            )
        finally:
            signal.signal(signal.SIGTERM, previous)
            if running:
                running.stop()
        return
    _PreforkServer(make_app, host, port, workers, threads, announce, watcher, proxy_headers).run()


class Watcher(Protocol):
    def start(self) -> Watcher: ...
    def stop(self) -> None: ...


def _exit(signum, frame) -> None:
    raise SystemExit(0)


# glibc gives each thread that allocates its own arena (up to 8 a core), and a search's numpy
# arrays leave each one holding freed memory: 4 threads a worker kept some 30 MB each. It also
# raises its threshold for handing large blocks back to the system each time one is freed, so a
# question's temporary arrays stayed in every worker: a fixed threshold returns them.
MALLOC_ARENAS = 2
MMAP_THRESHOLD = 1 << 20


def _limit_malloc_arenas() -> None:
    """Cap glibc's malloc arenas and fix its mmap threshold before any thread starts; elsewhere
    (macOS, Windows, musl), nothing."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-8, MALLOC_ARENAS)  # M_ARENA_MAX
        libc.mallopt(-3, MMAP_THRESHOLD)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def _trim_malloc() -> None:
    """Hand the memory that loading and warming freed back to the system (glibc only), so no
    worker starts with a copy of it."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)


def _forked(server, worker) -> None:
    """In each new worker: drop the searchers inherited from the parent (their open files share
    read offsets with every other process), so the worker opens its own; the columns read in the
    parent stay, shared."""
    server.app.wsgi().extensions[EXTENSION].close(keep_columns=True)


def _prepared(server) -> None:
    # the parent serves no request: close its searchers, which would otherwise hold the files of
    # generations long replaced (and their disk space); the columns it read are kept for the
    # workers to share
    server.app.wsgi().extensions[EXTENSION].close(keep_columns=True)
    _trim_malloc()
    # objects alive before the fork never need collecting: leaving them out of the collector's
    # walk keeps it from writing to (and so copying) their pages in every worker
    gc.freeze()
    # the watcher runs here, in the parent, so exactly one process updates the index (threads
    # are not copied into forked workers)
    if server.app.make_watcher is not None:
        watcher = server.app.make_watcher()
        # after each update the parent opens the new generation (no searcher, just its columns)
        # and lets the former one go: workers forked later share it, and the files of segments
        # merged away are not kept mapped here for the server's life
        watcher.after_update = server.app.wsgi().extensions[EXTENSION].follow
        server.app.watcher = watcher.start()


def _stopping(server) -> None:
    if getattr(server.app, "watcher", None) is not None:
        server.app.watcher.stop()


try:
    from gunicorn import util as gunicorn_util
    from gunicorn.app.base import BaseApplication
except ImportError:  # Windows: gunicorn needs fcntl; serve() uses waitress there
    BaseApplication = object
    gunicorn_util = None


def _write_json_error(sock, status: int, reason: str, detail: str) -> None:
    """gunicorn's answer to a request it cannot parse (a bad request line, a bad header, one too
    large), in the JSON shape of every error of ours rather than its own HTML page: an API client
    reads the same `{"error": ...}` whatever refused its request. gunicorn.util.write_error's
    signature and its one caller (Worker.handle_error) belong to gunicorn < 27 (pinned)."""
    message = HTTP_MESSAGES.get(status, reason.lower())
    if detail:
        message = f"{message}: {detail}"
    body = json.dumps(error_body(status, message), ensure_ascii=False).encode("utf-8")
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    gunicorn_util.write_nonblock(sock, head.encode("latin-1") + body)


class _PreforkServer(BaseApplication):
    def __init__(
        self,
        make_app,
        host,
        port,
        workers,
        threads,
        announce,
        make_watcher=None,
        proxy_headers=False,
    ):
        self._make_app = make_app
        self.make_watcher = make_watcher
        self.watcher = None
        self._options = {
            "bind": f"{host}:{port}",
            "workers": workers,
            "worker_class": "gthread",
            "threads": threads,
            "preload_app": True,
            "post_fork": _forked,
            "when_ready": _prepared,
            "on_exit": _stopping,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "warning",
            "proc_name": "policy-search",
            # a search can take a few seconds at the largest sizes; a rebuild runs in the
            # background of the request that asked for it
            "timeout": 120,
            "graceful_timeout": 10,
            # a query may hold 1,000 characters (request.MAX_QUERY_CHARS): 9,000 bytes in the
            # request line once percent-encoded, past gunicorn's largest bounded limit (8190);
            # 0 lifts it (as waitress did), and the app refuses a longer q with a 400 of its own
            "limit_request_line": 0,
            # gunicorn takes X-Forwarded-Proto from local clients by default; forwarded headers
            # are trusted only when the operator says so, and then applied by the app (ProxyFix)
            "forwarded_allow_ips": "*" if proxy_headers else "",
        }
        self._announce = announce
        self._summary = (
            f"Serving on http://{host}:{port}/ ({workers} processes, {threads} threads each)"
        )
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)
        gunicorn_util.write_error = _write_json_error

    def load(self) -> Flask:
        app = self._make_app()
        self._announce(self._summary)
        return app
