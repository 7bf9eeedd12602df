"""时效性 on the calendar: the index keeps a document's own status (已废止, 已修改, or 现行有效 for
any dated document) with its 施行 and expiry dates, and what it is today (尚未生效, 现行有效, 失效)
is worked out when it is read, so the status follows the calendar without a reindex. Today's
date is one function here; POLICY_SEARCH_TODAY (YYYY-MM-DD) sets it, for tests and trials."""

from __future__ import annotations

import datetime
import os

import numpy as np
from whoosh import query as wq

from .config import ENV_PREFIX
from .errors import SearchError

# The stored status the calendar decides on: a dated document no other document supersedes.
DATED = "现行有效"
NOT_YET = "尚未生效"
EXPIRED = "失效"
# The ID fields holding a document's 施行 and expiry dates (ISO days) for `status:` queries.
EFFECTIVE_FIELD, EXPIRES_FIELD = "effective_day", "expires_day"
TODAY_VARIABLE = ENV_PREFIX + "TODAY"


def today() -> datetime.date:
    """Today's date, or the date POLICY_SEARCH_TODAY names."""
    fixed = os.environ.get(TODAY_VARIABLE, "").strip()
    if not fixed:
        return datetime.date.today()
    try:
        return datetime.date.fromisoformat(fixed)
    except ValueError:
        raise SearchError(
            f"{TODAY_VARIABLE} must be a date as YYYY-MM-DD, not {fixed!r}: fix or unset it"
        ) from None


def full_day(iso: str | None) -> str | None:
    """An ISO date that names a day (2025-01-01), else None: a 施行 month or year is no boundary
    the calendar can pass."""
    return iso if iso and len(iso) == 10 else None


def status_on(stored: str | None, effective: str | None, expires: str | None, day) -> str | None:
    """The status on `day` of a document stored with `stored`, in force from `effective` to
    `expires` (inclusive ISO days, either None)."""
    if stored != DATED:
        return stored or None
    on = day.isoformat()
    if (start := full_day(effective)) and start > on:
        return NOT_YET
    if (end := full_day(expires)) and end < on:
        return EXPIRED
    return DATED


def as_of_today(record: dict) -> dict:
    """A stored record's dict with its status for today (records.unpack)."""
    if record.get("status") == DATED:
        dates = record.get("dates") or {}
        record["status"] = status_on(DATED, dates.get("effective"), dates.get("expires"), today())
    return record


def status_codes(
    codes: np.ndarray, values: list[str], effective: np.ndarray, expires: np.ndarray, day
) -> np.ndarray:
    """Facet codes of the status column (indexes into `values`, which must hold NOT_YET and
    EXPIRED) for `day`, from the stored codes and the 施行 and expiry ordinals (0: none)."""
    dated = codes == values.index(DATED)
    on = day.toordinal()
    not_yet = dated & (effective > on)
    expired = dated & ~not_yet & (expires > 0) & (expires < on)
    today_codes = codes.copy()
    today_codes[not_yet] = values.index(NOT_YET)
    today_codes[expired] = values.index(EXPIRED)
    return today_codes


def status_query(status: str, day) -> wq.Query:
    """The Whoosh query of `status:<status>` on `day`."""
    if status not in (DATED, NOT_YET, EXPIRED):
        return wq.Term("status", status)
    on = day.isoformat()
    dated = wq.Term("status", DATED)
    not_yet = wq.TermRange(EFFECTIVE_FIELD, on, None, startexcl=True)
    expired = wq.TermRange(EXPIRES_FIELD, None, on, endexcl=True)
    if status == NOT_YET:
        return wq.And([dated, not_yet])
    if status == EXPIRED:
        return wq.AndNot(wq.And([dated, expired]), not_yet)
    return wq.AndNot(dated, wq.Or([not_yet, expired]))
