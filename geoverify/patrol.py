"""One patrol (one member, one local date, the member's grid): measured, flagged and credited.

:func:`verify_patrol` is a pure function of (grid, the day's fixes, rules): no I/O, no global
state, so a batch can be spread over processes or a cluster patrol by patrol.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .coverage import coverage_ratio
from .credit import patrol_credit
from .flags import Flag, iso_time
from .grid import Grid
from .ingrid import in_grid_fraction
from .outliers import find_spikes, find_teleports
from .projection import LocalProjection
from .rules import Rules


@dataclass
class DayTrack:
    """The kept fixes of one member on one local date, in time order.

    ``time_ns`` is UTC nanoseconds since 1970, strictly increasing; ``lon``/``lat`` WGS-84
    degrees; ``accuracy`` metres (NaN unknown). ``synthetic`` marks points interpolated at
    local midnight so that a segment crossing it is shared by the two days; they are not
    input fixes. ``source``/``line`` say where each fix came from (for evidence).
    ``mock`` is True where the device marked the fix as a mock location; ``speed`` is the
    device-reported speed in m/s (NaN unknown); ``device_id`` the reporting device (None unknown).
    """

    member_id: str
    date: dt.date
    time_ns: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    accuracy: np.ndarray
    synthetic: np.ndarray
    source: np.ndarray
    line: np.ndarray
    rejected: dict[str, int] = field(default_factory=dict)
    mock: np.ndarray | None = None
    speed: np.ndarray | None = None
    device_id: np.ndarray | None = None

    def __post_init__(self):
        n = len(self.time_ns)
        if self.mock is None:
            self.mock = np.zeros(n, dtype=bool)
        if self.speed is None:
            self.speed = np.full(n, np.nan)
        if self.device_id is None:
            self.device_id = np.full(n, None, dtype=object)

    @property
    def kept(self) -> int:
        """Number of input fixes kept (synthetic points excluded)."""
        return int(len(self.time_ns) - self.synthetic.sum())


def patrol_id(member_id: str, date: dt.date) -> str:
    """The stable id of a member's patrol on a local date, e.g. ``M001_20261102``."""
    return f"{member_id}_{date:%Y%m%d}"


@dataclass
class Patrol:
    """Figures of one patrol. Durations in seconds, distances in metres."""

    patrol_id: str
    member_id: str
    date: dt.date
    grid_id: str | None
    kept: int
    rejected: dict[str, int]
    in_grid_s: float
    outside_s: float
    gap_s: float
    teleport_s: float
    verified_s: float
    distance_m: float
    coverage: dict
    flags: list[Flag]
    credit: dict
    start: pd.Timestamp | None
    end: pd.Timestamp | None
    rule_version: str

    def to_dict(self, tz: str) -> dict:
        """The patrol object of the command line's JSON (spec "Command line")."""
        return {
            "patrol_id": self.patrol_id,
            "member_id": self.member_id,
            "date": self.date.isoformat(),
            "grid_id": self.grid_id,
            "start": iso_time(self.start, tz) if self.start is not None else None,
            "end": iso_time(self.end, tz) if self.end is not None else None,
            "fixes": {"kept": self.kept, "rejected": dict(self.rejected)},
            "in_grid_s": round(self.in_grid_s, 3),
            "outside_s": round(self.outside_s, 3),
            "gap_s": round(self.gap_s, 3),
            "teleport_s": round(self.teleport_s, 3),
            "verified_s": round(self.verified_s, 3),
            "distance_m": round(self.distance_m, 1),
            "coverage": dict(self.coverage),
            "flags": [f.to_dict(tz) for f in self.flags],
            "credit": dict(self.credit),
            "rule_version": self.rule_version,
        }


def _timestamp(ns: int) -> pd.Timestamp:
    return pd.Timestamp(int(ns), unit="ns", tz="UTC")


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of each run of True in ``mask``."""
    if not mask.any():
        return []
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), (np.flatnonzero(edges == -1) - 1).tolist()))


def verify_patrol(grid: Grid | None, track: DayTrack, rules: Rules) -> Patrol:
    """Measure, flag and credit one patrol.

    Parameters
    ----------
    grid : Grid or None
        The member's grid; None for a member assigned to no grid (in-grid time and
        coverage are then 0).
    track : DayTrack
        The member's kept fixes of the day, time order, WGS-84.
    rules : Rules
        Thresholds for the grid's type.

    Returns
    -------
    Patrol
        With ``in_grid_s`` (seconds inside the grid over segments that are neither gaps nor
        teleports, boundary crossings interpolated), ``outside_s`` (the rest of those
        segments' time), ``gap_s`` (segments longer than ``max_gap_s``), ``teleport_s``,
        ``distance_m`` (length of counted segments), coverage, GPS_OUTLIER and TELEPORT
        flags, and the credit.
    """
    n = len(track.time_ns)
    if grid is not None:
        projection = grid.projection
    elif n:
        # Centres rounded to 0.01° (about 1 km) so members without a grid share projections;
        # the scale error 1 km off-centre is about 1e-8.
        projection = LocalProjection(round(float(np.median(track.lon)), 2), round(float(np.median(track.lat)), 2))
    else:
        projection = None
    x, y = projection.forward(track.lon, track.lat) if n else (np.zeros(0), np.zeros(0))
    t_s = (track.time_ns - track.time_ns[0]) / 1e9 if n else np.zeros(0)

    spikes = find_spikes(x, y, t_s, track.accuracy, rules) & ~track.synthetic
    keep = ~spikes
    xk, yk, tk, acck = x[keep], y[keep], t_s[keep], track.accuracy[keep]
    kept_index = np.flatnonzero(keep)

    seg_dt = np.diff(tk)
    seg_len = np.hypot(np.diff(xk), np.diff(yk))
    gap = seg_dt > rules.max_gap_s
    teleport, adjusted, speed_kmh = find_teleports(xk, yk, tk, acck, rules)
    counted = ~gap & ~teleport

    frac = in_grid_fraction(grid, xk, yk) if grid is not None else np.zeros(len(seg_dt))
    in_grid_s = float(np.sum(seg_dt * frac, where=counted))
    outside_s = float(np.sum(seg_dt * (1.0 - frac), where=counted))
    gap_s = float(np.sum(seg_dt, where=gap))
    teleport_s = float(np.sum(seg_dt, where=teleport & ~gap))
    distance_m = float(np.sum(seg_len, where=counted))

    buffer_m = rules.coverage_buffer_m
    area_ratio = 0.0
    if grid is not None and counted.any():
        c = np.flatnonzero(counted)
        area_ratio = coverage_ratio(grid, xk[c], yk[c], xk[c + 1], yk[c + 1], buffer_m)

    flags = _spike_flags(track, x, y, t_s, spikes, rules) + _teleport_flags(
        track, kept_index, xk, yk, tk, seg_len, adjusted, speed_kmh, teleport, rules)
    flags.sort(key=lambda f: (f.start, f.code))
    verified_s = in_grid_s
    coverage = {"area_ratio": round(area_ratio, 4), "buffer_m": buffer_m,
                "sites_visited": 0, "sites_total": 0}
    return Patrol(
        patrol_id=patrol_id(track.member_id, track.date), member_id=track.member_id, date=track.date,
        grid_id=grid.grid_id if grid is not None else None, kept=track.kept, rejected=dict(track.rejected),
        in_grid_s=in_grid_s, outside_s=outside_s, gap_s=gap_s, teleport_s=teleport_s,
        verified_s=verified_s, distance_m=distance_m, coverage=coverage, flags=flags,
        credit=patrol_credit(verified_s, area_ratio, flags, rules),
        start=_timestamp(track.time_ns[0]) if n else None, end=_timestamp(track.time_ns[-1]) if n else None,
        rule_version=rules.version,
    )


def _where(track: DayTrack, i: int) -> dict:
    return {"source": str(track.source[i]), "line": int(track.line[i])}


def _spike_flags(track, x, y, t_s, spikes, rules) -> list[Flag]:
    flags = []
    for i in np.flatnonzero(spikes).tolist():
        d_in = float(np.hypot(x[i] - x[i - 1], y[i] - y[i - 1]))
        d_out = float(np.hypot(x[i + 1] - x[i], y[i + 1] - y[i]))
        flags.append(Flag("GPS_OUTLIER", _timestamp(track.time_ns[i]), _timestamp(track.time_ns[i]),
                          float(track.lon[i]), float(track.lat[i]), {
                              "distance_in_m": round(d_in, 1), "distance_out_m": round(d_out, 1),
                              "speed_in_kmh": round(d_in / (t_s[i] - t_s[i - 1]) * 3.6, 1),
                              "speed_out_kmh": round(d_out / (t_s[i + 1] - t_s[i]) * 3.6, 1),
                              "accuracy_m": None if np.isnan(track.accuracy[i]) else float(track.accuracy[i]),
                              "teleport_kmh": rules.teleport_kmh, "fix": _where(track, i),
                              "dropped_from_geometry": True, "rule_version": rules.version}))
    return flags


def _teleport_flags(track, kept_index, xk, yk, tk, seg_len, adjusted, speed_kmh, teleport, rules) -> list[Flag]:
    flags = []
    for first, last in _runs(teleport):
        a, b = kept_index[first], kept_index[last + 1]
        worst = first + int(np.argmax(speed_kmh[first:last + 1]))
        flags.append(Flag("TELEPORT", _timestamp(track.time_ns[a]), _timestamp(track.time_ns[b]),
                          float(track.lon[b]), float(track.lat[b]), {
                              "from": {"lon": float(track.lon[a]), "lat": float(track.lat[a]), **_where(track, a)},
                              "to": {"lon": float(track.lon[b]), "lat": float(track.lat[b]), **_where(track, b)},
                              "segments": last - first + 1,
                              "distance_m": round(float(seg_len[first:last + 1].sum()), 1),
                              "adjusted_distance_m": round(float(adjusted[first:last + 1].sum()), 1),
                              "duration_s": round(float(tk[last + 1] - tk[first]), 3),
                              "max_speed_kmh": round(float(speed_kmh[worst]), 1),
                              "teleport_kmh": rules.teleport_kmh, "teleport_min_m": rules.teleport_min_m,
                              "excluded_s": round(float(tk[last + 1] - tk[first]), 3),
                              "rule_version": rules.version}))
    return flags
