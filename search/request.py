"""The search request: query-string parameters validated into one SearchRequest (and back), with
the limits every entry point (API, page, exports, CLI) shares."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from .errors import InvalidParameter
from .issuers import canonical_issuer
from .records import STATUSES
from .schema import CONFIDENCE_BANDS

MAX_QUERY_CHARS = 1000
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 10
MAX_PAGE = 10_000
SORTS = ("relevance", "date", "-date", "confidence")


def _parse_date(parameter: str, text: str, end: bool) -> date:
    """YYYY, YYYY-MM or YYYY-MM-DD; as an end bound, the last day of that year or month."""
    parts = text.strip().split("-")
    try:
        if not 1 <= len(parts) <= 3 or not all(p.isdigit() for p in parts) or len(parts[0]) != 4:
            raise ValueError
        year = int(parts[0])
        month = int(parts[1]) if len(parts) > 1 else (12 if end else 1)
        if len(parts) == 3:
            day = int(parts[2])
        elif end:
            following = date(year + (month == 12), month % 12 + 1, 1)
            day = (following - date(year, month, 1)).days
        else:
            day = 1
        return date(year, month, day)
    except ValueError:
        raise InvalidParameter(
            parameter, f"{parameter} must be a date as YYYY, YYYY-MM or YYYY-MM-DD, not {text!r}"
        ) from None


def _parse_int(parameter: str, text: str, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise InvalidParameter(
            parameter, f"{parameter} must be a whole number, not {text!r}"
        ) from None
    if not low <= value <= high:
        raise InvalidParameter(
            parameter, f"{parameter} must be between {low} and {high}, not {value}"
        )
    return value


@dataclass(frozen=True)
class SearchRequest:
    """A validated search: the query text, filters, sort and page."""

    q: str = ""
    issuer: tuple[str, ...] = ()
    node_type: tuple[str, ...] = ()
    region: tuple[str, ...] = ()
    sector: tuple[str, ...] = ()
    year: tuple[int, ...] = ()
    confidence: tuple[str, ...] = ()  # confidence band labels
    doc_type: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    date_from: date | None = None
    date_to: date | None = None
    min_confidence: float | None = None
    sort: str = "relevance"
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE

    # API parameter name -> attribute, for the repeatable facet filters
    FILTER_PARAMETERS = {
        "issuer": "issuer",
        "type": "node_type",
        "region": "region",
        "sector": "sector",
        "year": "year",
        "confidence": "confidence",
        "doc_type": "doc_type",
        "status": "status",
    }

    @classmethod
    def from_params(cls, params: Mapping[str, Sequence[str]]) -> SearchRequest:
        """Build a request from query-string style parameters (each name to its list of values).

        Raises InvalidParameter naming the first parameter whose value cannot be used.
        """

        def one(name: str) -> str | None:
            values = [v for v in params.get(name, ()) if v.strip() != ""]
            return values[-1].strip() if values else None

        def many(name: str) -> tuple[str, ...]:
            seen = dict.fromkeys(v.strip() for v in params.get(name, ()) if v.strip())
            return tuple(seen)

        q = one("q") or ""
        if len(q) > MAX_QUERY_CHARS:
            raise InvalidParameter(
                "q", f"q is {len(q)} characters long; at most {MAX_QUERY_CHARS} are searched"
            )
        years = tuple(_parse_int("year", y, 1, 9999) for y in many("year"))
        bands = many("confidence")
        known_bands = {label for label, _, _ in CONFIDENCE_BANDS}
        for band in bands:
            if band not in known_bands:
                raise InvalidParameter(
                    "confidence",
                    f"confidence must be one of {', '.join(sorted(known_bands))}, not {band!r}",
                )
        statuses = many("status")
        for status in statuses:
            if status not in STATUSES:
                raise InvalidParameter(
                    "status", f"status must be one of {', '.join(STATUSES)}, not {status!r}"
                )
        min_confidence = None
        if (text := one("min_confidence")) is not None:
            try:
                min_confidence = float(text)
            except ValueError:
                min_confidence = math.nan
            if not 0.0 <= min_confidence <= 1.0:
                raise InvalidParameter(
                    "min_confidence", f"min_confidence must be a number from 0 to 1, not {text!r}"
                )
        date_from = _parse_date("date_from", t, end=False) if (t := one("date_from")) else None
        date_to = _parse_date("date_to", t, end=True) if (t := one("date_to")) else None
        if date_from and date_to and date_from > date_to:
            raise InvalidParameter("date_to", "date_to is before date_from")
        sort = one("sort") or "relevance"
        if sort not in SORTS:
            raise InvalidParameter("sort", f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
        page = _parse_int("page", one("page") or "1", 1, MAX_PAGE)
        per_page = _parse_int("per_page", one("per_page") or str(DEFAULT_PER_PAGE), 1, MAX_PER_PAGE)
        return cls(
            q=q,
            # an alias names the same body: the filter, like the facet, uses the canonical name
            issuer=tuple(dict.fromkeys(canonical_issuer(v) for v in many("issuer"))),
            node_type=many("type"),
            region=many("region"),
            sector=many("sector"),
            year=years,
            confidence=bands,
            doc_type=many("doc_type"),
            status=statuses,
            date_from=date_from,
            date_to=date_to,
            min_confidence=min_confidence,
            sort=sort,
            page=page,
            per_page=per_page,
        )

    def to_params(self) -> dict[str, list[str]]:
        """The API parameters of this request (the inverse of from_params), defaults left out."""
        params: dict[str, list[str]] = {}
        if self.q:
            params["q"] = [self.q]
        for name, attribute in self.FILTER_PARAMETERS.items():
            if values := getattr(self, attribute):
                params[name] = [str(v) for v in values]
        if self.date_from:
            params["date_from"] = [self.date_from.isoformat()]
        if self.date_to:
            params["date_to"] = [self.date_to.isoformat()]
        if self.min_confidence is not None:
            params["min_confidence"] = [f"{self.min_confidence:g}"]
        if self.sort != "relevance":
            params["sort"] = [self.sort]
        if self.page != 1:
            params["page"] = [str(self.page)]
        if self.per_page != DEFAULT_PER_PAGE:
            params["per_page"] = [str(self.per_page)]
        return params
