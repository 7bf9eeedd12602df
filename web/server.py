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

import gc
import os
from collections.abc import Callable

from flask import Flask

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
) -> None:
    """Serve until stopped: `workers` processes of `threads` threads each."""
    if workers <= 1 or os.name != "posix":
        import waitress

        app = make_app()
        announce(f"Serving on http://{host}:{port}/ (1 process, {threads} threads)")
        waitress.serve(app, host=host, port=port, threads=threads, ident="policy-search")
        return
    _PreforkServer(make_app, host, port, workers, threads, announce).run()


def _forked(server, worker) -> None:
    """In each new worker: drop the searchers inherited from the parent (their open files share
    read offsets with every other process), so the worker opens its own."""
    server.app.wsgi().extensions[EXTENSION].close()


def _prepared(server) -> None:
    # objects alive before the fork never need collecting: leaving them out of the collector's
    # walk keeps it from writing to (and so copying) their pages in every worker
    gc.freeze()


try:
    from gunicorn.app.base import BaseApplication
except ImportError:  # Windows: gunicorn needs fcntl; serve() uses waitress there
    BaseApplication = object


class _PreforkServer(BaseApplication):
    def __init__(self, make_app, host, port, workers, threads, announce):
        self._make_app = make_app
        self._options = {
            "bind": f"{host}:{port}",
            "workers": workers,
            "worker_class": "gthread",
            "threads": threads,
            "preload_app": True,
            "post_fork": _forked,
            "when_ready": _prepared,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "warning",
            "proc_name": "policy-search",
            # a search can take a few seconds at the largest sizes; a rebuild runs in the
            # background of the request that asked for it
            "timeout": 120,
            "graceful_timeout": 10,
        }
        self._announce = announce
        self._summary = (
            f"Serving on http://{host}:{port}/ ({workers} processes, {threads} threads each)"
        )
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        app = self._make_app()
        self._announce(self._summary)
        return app
