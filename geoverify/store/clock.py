"""Bookkeeping timestamps of the store (uploads, reviews, ledger entries, audit entries, tokens)."""

from __future__ import annotations

import datetime as dt


def utc_now_text() -> str:
    """The current time in UTC, ISO 8601 with microseconds (bookkeeping timestamps)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
