"""One name per issuing body: the alias table `data/issuers.txt` (canonical name = alias = ...),
applied when indexing (the issuer facet holds canonical names) and to the `issuer` filter.

Like the other data files, a file of the same name in the data folder replaces it, and an edit
is used by a running process at its next look (`analysis.refresh_data`), without a restart. The
records keep the canonical name of the table they were indexed with: a generation's manifest
records that table's hash (table_hash), and an edited table leads to a rebuild (the watcher's,
or the next `policy-search index`'s)."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from pathlib import Path

from . import analysis
from .errors import SearchError

ISSUERS_NAME = "issuers.txt"
ISSUERS_FILE = analysis.DATA_DIR / ISSUERS_NAME

log = logging.getLogger(__name__)


def _key(name: str) -> str:
    """Spaces and full-width spaces do not tell two names apart."""
    return "".join(name.split())


def read_table(path: Path) -> dict[str, str]:
    """alias (and canonical name) -> canonical name, from a table file; SearchError names the
    line when one alias would name two bodies."""
    table: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        names = [_key(name) for name in line.split("=") if _key(name)]
        canonical = names[0]
        for name in names:
            if table.get(name, canonical) != canonical:
                raise SearchError(
                    f"{path}:{number}: {name} is already an alias of {table[name]}; "
                    "an alias must name one body only"
                )
            table[name] = canonical
    return table


_loaded: dict[str, str] | None = None  # the table in use
_load_lock = threading.Lock()


def reload_table() -> None:
    """Read the issuers file in use again. A table that cannot be read (an alias of two bodies,
    a file being replaced) is logged and the one in use is kept: an edit loses nothing."""
    global _loaded
    with _load_lock:
        path = analysis.data_file(ISSUERS_NAME)
        try:
            _loaded = read_table(path)
        except (SearchError, OSError, UnicodeDecodeError) as exc:
            if _loaded is None and path == ISSUERS_FILE:
                raise  # the packaged table itself: nothing to fall back to
            log.warning("%s; the issuers table in use is kept", exc)
            if _loaded is None:
                _loaded = read_table(ISSUERS_FILE)


def _table() -> dict[str, str]:
    if _loaded is None:
        reload_table()
    return _loaded  # type: ignore[return-value]


analysis.on_data_change(ISSUERS_NAME, reload_table)


def table_hash(table: dict[str, str] | None = None) -> str:
    """The sha256 of an issuers table (the one in use by default), of its names and not of its
    file: an edit that leaves every alias where it was (a comment, a line moved) changes nothing
    indexed, and costs no rebuild."""
    table = _table() if table is None else table
    names = json.dumps(sorted(table.items()), ensure_ascii=False)
    return hashlib.sha256(names.encode("utf-8")).hexdigest()


def file_table_hash() -> str | None:
    """table_hash of the issuers file on disk now; None when it cannot be read (an edit that
    makes an alias name two bodies: the table in use is kept, reload_table)."""
    try:
        return table_hash(read_table(analysis.data_file(ISSUERS_NAME)))
    except (SearchError, OSError, UnicodeDecodeError):
        return None


def canonical_issuer(name: str | None) -> str | None:
    """The body's canonical name; a name the table does not know is its own canonical name."""
    if name is None or not name.strip():
        return None
    return _table().get(_key(name), name.strip())


def aliases(canonical: str) -> list[str]:
    """Every name of a body, its canonical name first."""
    return [canonical] + sorted(a for a, c in _table().items() if c == canonical and a != canonical)


def canonical_names() -> list[str]:
    return sorted(set(_table().values()))
