"""One name per issuing body: the alias table `data/issuers.txt` (canonical name = alias = ...),
applied when indexing (the issuer facet holds canonical names) and to the `issuer` filter."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from .analysis import DATA_DIR
from .errors import SearchError

ISSUERS_FILE = DATA_DIR / "issuers.txt"


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


@cache
def _table() -> dict[str, str]:
    return read_table(ISSUERS_FILE)


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
