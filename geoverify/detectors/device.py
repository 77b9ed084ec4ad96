"""Flags of one patrol built from its detections, with their evidence and stable ids."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from geoverify.detectors.intervals import runs
from geoverify.flags import Flag
from geoverify.rules import Rules


def timestamp(ns: int) -> pd.Timestamp:
    """UTC timestamp of nanoseconds since 1970."""
    return pd.Timestamp(int(ns), unit="ns", tz="UTC")


def flag_ids(prefix: str, code: str, starts: Iterable[pd.Timestamp]) -> list[str]:
    """Ids ``<prefix>.<code>.<HHMMSS>Z`` (UTC start), ``-2``, ``-3`` … when a second repeats.

    Examples
    --------
    >>> t = pd.Timestamp("2026-11-02T01:44:50Z")
    >>> flag_ids("M002_20261102", "TELEPORT", [t, t])
    ['M002_20261102.TELEPORT.014450Z', 'M002_20261102.TELEPORT.014450Z-2']
    """
    seen: dict[str, int] = {}
    out = []
    for start in starts:
        base = f"{prefix}.{code}.{pd.Timestamp(start).tz_convert('UTC'):%H%M%S}Z"
        seen[base] = seen.get(base, 0) + 1
        out.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return out


def identify(flags: list[Flag], prefix: str, reviews: Mapping[str, str]) -> list[Flag]:
    """Give one detector's flags (same code, time order) their ids and review status."""
    for flag, fid in zip(flags, flag_ids(prefix, flags[0].code if flags else "", (f.start for f in flags))):
        flag.flag_id = fid
        flag.status = reviews.get(fid, "open")
    return flags


class FixSource:
    """Where the fixes of one day track came from, for evidence: file, line, time and position."""

    def __init__(self, track):
        self.track = track

    def time(self, i: int) -> pd.Timestamp:
        return timestamp(self.track.time_ns[i])

    def where(self, i: int) -> dict:
        return {"source": str(self.track.source[i]), "line": int(self.track.line[i])}

    def point(self, i: int) -> dict:
        return {"lon": float(self.track.lon[i]), "lat": float(self.track.lat[i]), **self.where(i)}


def gap_flags(fixes: FixSource, kept_index, seg_dt, gap, rules: Rules) -> tuple[list[Flag], list[int]]:
    """GAP (low): one per segment longer than ``max_gap_s``; also those segments' indices."""
    flags, segments = [], np.flatnonzero(gap).tolist()
    for s in segments:
        a, b = kept_index[s], kept_index[s + 1]
        flags.append(
            Flag(
                "GAP",
                fixes.time(a),
                fixes.time(b),
                float(fixes.track.lon[a]),
                float(fixes.track.lat[a]),
                {
                    "duration_s": round(float(seg_dt[s]), 3),
                    "max_gap_s": rules.max_gap_s,
                    "last_fix_before": fixes.point(a),
                    "first_fix_after": fixes.point(b),
                },
            )
        )
    return flags, segments


def mock_flags(fixes: FixSource, rules: Rules) -> list[Flag]:
    """MOCK_LOCATION (high): one per run of fixes the device marked as mock locations."""
    track = fixes.track
    flags = []
    for a, b in runs(track.mock & ~track.synthetic):
        devices = sorted({str(d) for d in track.device_id[a : b + 1] if d is not None})
        flags.append(
            Flag(
                "MOCK_LOCATION",
                fixes.time(a),
                fixes.time(b),
                float(np.median(track.lon[a : b + 1])),
                float(np.median(track.lat[a : b + 1])),
                {
                    "mock_fixes": int(b - a + 1),
                    "first_fix": fixes.where(a),
                    "last_fix": fixes.where(b),
                    "device_ids": devices,
                    "duration_s": round((track.time_ns[b] - track.time_ns[a]) / 1e9, 3),
                },
            )
        )
    return flags
