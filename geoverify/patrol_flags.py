"""Flags of one patrol built from its detections, with their evidence and stable ids."""

from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from .flags import Flag
from .intervals import runs
from .rules import Rules

REVIEW_DECISIONS = ("confirmed", "dismissed")


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


def dismissed(flags: list[Flag]) -> np.ndarray:
    """Which of ``flags`` an auditor dismissed."""
    return np.array([f.status == "dismissed" for f in flags], dtype=bool)


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


def spike_flags(fixes: FixSource, x, y, t_s, spikes: np.ndarray, rules: Rules) -> list[Flag]:
    """GPS_OUTLIER (low): one per lone spike fix, dropped from the geometry."""
    track = fixes.track
    flags = []
    for i in np.flatnonzero(spikes).tolist():
        d_in = float(np.hypot(x[i] - x[i - 1], y[i] - y[i - 1]))
        d_out = float(np.hypot(x[i + 1] - x[i], y[i + 1] - y[i]))
        accuracy = track.accuracy[i]
        flags.append(Flag("GPS_OUTLIER", fixes.time(i), fixes.time(i), float(track.lon[i]), float(track.lat[i]), {
            "distance_in_m": round(d_in, 1), "distance_out_m": round(d_out, 1),
            "speed_in_kmh": round(d_in / (t_s[i] - t_s[i - 1]) * 3.6, 1),
            "speed_out_kmh": round(d_out / (t_s[i + 1] - t_s[i]) * 3.6, 1),
            "accuracy_m": None if np.isnan(accuracy) else float(accuracy),
            "teleport_kmh": rules.teleport_kmh, "fix": fixes.where(i),
            "dropped_from_geometry": True}))
    return flags


def teleport_flags(fixes: FixSource, kept_index, tk, seg_len, adjusted, speed_kmh, teleport,
                   rules: Rules) -> tuple[list[Flag], list[tuple[int, int]]]:
    """TELEPORT (high): one per run of teleport segments; also the runs (segment indices)."""
    flags, spans = [], runs(teleport)
    for first, last in spans:
        a, b = kept_index[first], kept_index[last + 1]
        worst = first + int(np.argmax(speed_kmh[first:last + 1]))
        duration = round(float(tk[last + 1] - tk[first]), 3)
        flags.append(Flag("TELEPORT", fixes.time(a), fixes.time(b), float(fixes.track.lon[b]),
                          float(fixes.track.lat[b]), {
                              "from": fixes.point(a), "to": fixes.point(b), "segments": last - first + 1,
                              "distance_m": round(float(seg_len[first:last + 1].sum()), 1),
                              "adjusted_distance_m": round(float(adjusted[first:last + 1].sum()), 1),
                              "duration_s": duration, "max_speed_kmh": round(float(speed_kmh[worst]), 1),
                              "teleport_kmh": rules.teleport_kmh, "teleport_min_m": rules.teleport_min_m,
                              "excluded_s": duration}))
    return flags, spans


def gap_flags(fixes: FixSource, kept_index, seg_dt, gap, rules: Rules) -> tuple[list[Flag], list[int]]:
    """GAP (low): one per segment longer than ``max_gap_s``; also those segments' indices."""
    flags, segments = [], np.flatnonzero(gap).tolist()
    for s in segments:
        a, b = kept_index[s], kept_index[s + 1]
        flags.append(Flag("GAP", fixes.time(a), fixes.time(b), float(fixes.track.lon[a]),
                          float(fixes.track.lat[a]), {
                              "duration_s": round(float(seg_dt[s]), 3), "max_gap_s": rules.max_gap_s,
                              "last_fix_before": fixes.point(a), "first_fix_after": fixes.point(b)}))
    return flags, segments


def mock_flags(fixes: FixSource, rules: Rules) -> list[Flag]:
    """MOCK_LOCATION (high): one per run of fixes the device marked as mock locations."""
    track = fixes.track
    flags = []
    for a, b in runs(track.mock & ~track.synthetic):
        devices = sorted({str(d) for d in track.device_id[a:b + 1] if d is not None})
        flags.append(Flag("MOCK_LOCATION", fixes.time(a), fixes.time(b), float(np.median(track.lon[a:b + 1])),
                          float(np.median(track.lat[a:b + 1])), {
                              "mock_fixes": int(b - a + 1), "first_fix": fixes.where(a), "last_fix": fixes.where(b),
                              "device_ids": devices, "duration_s": round((track.time_ns[b] - track.time_ns[a]) / 1e9, 3)}))
    return flags
