"""Parsing ISO 8601 times: offsets honoured, naive times read in a configured zone."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from geoverify.errors import InputError

DEFAULT_TZ = "Asia/Shanghai"

# A time part followed by Z or a numeric offset: +08, +0800, +08:00.
_OFFSET_PATTERN = r"\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$"


def check_tz(tz: str) -> ZoneInfo:
    """Return the zone named ``tz`` (IANA name, e.g. ``Asia/Shanghai``) or raise InputError."""
    try:
        return ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(f"unknown time zone {tz!r}; use an IANA name such as Asia/Shanghai") from None


def parse_times(values, tz: str = DEFAULT_TZ) -> pd.Series:
    """Parse ISO 8601 strings (or datetimes) to UTC timestamps with nanosecond resolution.

    Parameters
    ----------
    values : array-like of str or datetime
        Times with an offset (``2026-11-02T08:00:00+08:00``, ``…Z``) are taken as given;
        times without one are read in ``tz``. Fractional seconds are kept.
    tz : str
        IANA zone for naive times.

    Returns
    -------
    pandas.Series
        ``datetime64[ns, UTC]``; NaT where a value cannot be parsed or lies outside
        1677–2262 (the caller counts those fixes as ``invalid``).

    Examples
    --------
    >>> parse_times(["2026-11-02 08:00:00", "2026-11-02T00:00:00Z"]).dt.hour.tolist()
    [0, 0]
    """
    check_tz(tz)
    series = pd.Series(values)
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series.dt.tz_convert("UTC").astype("datetime64[ns, UTC]").reset_index(drop=True)
    if pd.api.types.is_datetime64_dtype(series.dtype):
        return _localise(series, tz).reset_index(drop=True)
    text = series.astype("string").str.strip()
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]")
    # RE2 through pyarrow: ~15x faster than pandas' Python-regex path on a million strings.
    matched = pc.match_substring_regex(pa.array(text, type=pa.string(), from_pandas=True), _OFFSET_PATTERN)
    has_offset = matched.fill_null(False).to_numpy(zero_copy_only=False)
    if has_offset.any():
        out[has_offset] = _to_datetime(text[has_offset], utc=True)
    if (~has_offset).any():
        out[~has_offset] = _localise(_to_datetime(text[~has_offset], utc=False), tz)
    return out.reset_index(drop=True)


def _to_datetime(text: pd.Series, utc: bool) -> pd.Series:
    parsed = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=utc)
    if not (pd.api.types.is_datetime64_any_dtype(parsed.dtype)):
        parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]" if utc else "datetime64[ns]")
    try:
        return parsed.astype("datetime64[ns, UTC]" if utc else "datetime64[ns]")
    except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime):
        # Out of the nanosecond range (before 1677 or after 2262): unusable as a fix time.
        kept = parsed.where((parsed.dt.year > 1677) & (parsed.dt.year < 2262))
        return kept.astype("datetime64[ns, UTC]" if utc else "datetime64[ns]")


def _localise(naive: pd.Series, tz: str) -> pd.Series:
    local = naive.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    return local.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")


def epoch_ns(times: pd.Series) -> np.ndarray:
    """Tz-aware timestamps as int64 UTC nanoseconds since 1970 (NaT as the minimum int64)."""
    utc = times.dt.tz_convert("UTC").dt.tz_localize(None)
    return utc.to_numpy(dtype="datetime64[ns]").view(np.int64)
