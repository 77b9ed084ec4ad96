"""One patrol (one member, one local date, the member's grid): measured, flagged and credited.

:func:`verify_patrol` is a pure function of (grid, the day's fixes, rules): no I/O, no global
state, so a batch can be spread over processes or a cluster patrol by patrol.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from geoverify.detectors.device import FixSource, identify, mock_flags, timestamp
from geoverify.detectors.motion import classify_motion
from geoverify.flags import Flag, iso_time
from geoverify.geo.grid import Grid
from geoverify.measures.coverage import coverage_ratio
from geoverify.measures.sites import site_visits
from geoverify.patrol.behaviour import behaviour_flags
from geoverify.patrol.credit import credit_reasons, patrol_credit
from geoverify.patrol.path import KeptPath, cut_segments, drop_glitches, project
from geoverify.preprocessing.days import DayTrack
from geoverify.rules import Rules


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
    site_visits: list[dict] = field(default_factory=list)
    #: why the credit is what it is (:func:`geoverify.patrol.credit.credit_reasons`), set with it
    credit_reasons: list[dict] = field(default_factory=list)

    def add_flags(self, flags: list[Flag]) -> None:
        """Add flags found across patrols (CRS_MISMATCH, DUPLICATE_TRACK), keeping time order."""
        self.flags = sorted(self.flags + list(flags), key=lambda f: (f.start, f.code))

    def settle_credit(self, rules: Rules) -> None:
        """Recompute the credit, and the reasons for it, from verified time, coverage and every
        flag's review status."""
        self.credit = patrol_credit(self.verified_s, self.coverage["area_ratio"], self.flags, rules)
        self.credit_reasons = credit_reasons(
            self.verified_s,
            self.coverage["area_ratio"],
            self.flags,
            rules,
            in_grid_s=self.in_grid_s,
            has_grid=self.grid_id is not None,
        )

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
            "site_visits": [
                {**v, "start": iso_time(v["start"], tz), "end": iso_time(v["end"], tz)} for v in self.site_visits
            ],
            "flags": [f.to_dict(tz) for f in self.flags],
            "credit": dict(self.credit),
            "credit_reasons": [dict(r) for r in self.credit_reasons],
            "rule_version": self.rule_version,
        }


def verify_patrol(
    grid: Grid | None,
    track: DayTrack,
    rules: Rules,
    *,
    sites: pd.DataFrame | None = None,
    reviews: Mapping[str, str] | None = None,
) -> Patrol:
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
    sites : pandas.DataFrame, optional
        The grid's sites (``site_id``, ``lon``, ``lat`` WGS-84): visits are counted, and a stay at
        a site is a visit, not IDLE.
    reviews : mapping of flag id to ``"confirmed"`` or ``"dismissed"``, optional
        Auditors' decisions. A dismissed flag restores what it excluded: a GPS_OUTLIER fix is
        kept in the geometry, a TELEPORT or GAP segment counts as patrol time, IDLE, LOOP and
        VEHICLE time counts as verified. A confirmed high-severity flag rejects the credit.

    Returns
    -------
    Patrol
        With ``in_grid_s`` (seconds inside the grid over segments that are neither gaps nor
        teleports, boundary crossings interpolated), ``outside_s`` (the rest of those
        segments' time), ``gap_s`` (segments longer than ``max_gap_s``), ``teleport_s``,
        ``distance_m`` (length of counted segments), ``verified_s`` (``in_grid_s`` less the
        in-grid time of IDLE, LOOP and VEHICLE stretches), coverage, flags and credit.
    """
    reviews = reviews or {}
    pid = patrol_id(track.member_id, track.date)
    n = len(track.time_ns)
    at = project(grid, track)
    fixes = FixSource(track)

    # Stage 1 of the motion model: position glitches leave the geometry unless an auditor
    # dismissed their flag; the jumps the track does not come back from are TELEPORT candidates.
    outliers, path, vouched, jumps = drop_glitches(fixes, at, pid, reviews, rules)
    teleports, gaps, segments = cut_segments(fixes, grid, path, vouched, jumps, pid, reviews, rules)
    counted = segments.counted
    in_grid_s = float(segments.in_grid_s.sum())
    outside_s = float(np.sum(segments.dt * (1.0 - segments.in_grid_share), where=counted))
    gap_s = float(np.sum(segments.dt, where=segments.gap))
    teleport_s = float(np.sum(segments.dt, where=segments.teleport))
    distance_m = float(np.sum(segments.length, where=counted))

    # Stage 2: one labelling of the remaining segments, read by IDLE, LOOP and VEHICLE.
    motion = classify_motion(path.x, path.y, path.t, segments.observed, rules)
    site_xy = _site_positions(at.projection, sites)
    behaviour, excluded = behaviour_flags(fixes, pid, reviews, path, segments, motion, site_xy, rules)
    verified_s = in_grid_s - float(segments.in_grid_s[excluded].sum())

    buffer_m = rules.coverage_buffer_m
    area_ratio = 0.0
    if grid is not None and counted.any():
        c = np.flatnonzero(counted)
        area_ratio = coverage_ratio(grid, path.x[c], path.y[c], path.x[c + 1], path.y[c + 1], buffer_m)
    visits = _site_visits(sites, site_xy, path, track, rules)

    flags = outliers + teleports + gaps + behaviour + identify(mock_flags(fixes, rules), pid, reviews)
    for flag in flags:
        flag.evidence["rule_version"] = rules.version
    flags.sort(key=lambda f: (f.start, f.code))
    coverage = {
        "area_ratio": round(area_ratio, 4),
        "buffer_m": buffer_m,
        "sites_visited": len({v["site_id"] for v in visits}),
        "sites_total": 0 if sites is None else len(sites),
    }
    patrol = Patrol(
        patrol_id=pid,
        member_id=track.member_id,
        date=track.date,
        grid_id=grid.grid_id if grid is not None else None,
        kept=track.kept,
        rejected=dict(track.rejected),
        in_grid_s=in_grid_s,
        outside_s=outside_s,
        gap_s=gap_s,
        teleport_s=teleport_s,
        verified_s=verified_s,
        distance_m=distance_m,
        coverage=coverage,
        flags=flags,
        credit={},
        start=timestamp(track.time_ns[0]) if n else None,
        end=timestamp(track.time_ns[-1]) if n else None,
        rule_version=rules.version,
        site_visits=visits,
    )
    patrol.settle_credit(rules)
    return patrol


def _site_positions(projection, sites: pd.DataFrame | None) -> tuple[np.ndarray | None, np.ndarray | None]:
    if sites is None or projection is None or not len(sites):
        return None, None
    return projection.forward(sites["lon"].to_numpy(dtype=float), sites["lat"].to_numpy(dtype=float))


def _site_visits(sites, site_xy, path: KeptPath, track: DayTrack, rules: Rules) -> list[dict]:
    """Visits of the grid's sites: within ``site_visit_radius_m`` for ``site_visit_min_s``."""
    if site_xy[0] is None or len(path.t) < 2:
        return []
    t0 = int(track.time_ns[0])
    out = []
    for visit in site_visits(
        path.x,
        path.y,
        path.t,
        site_xy[0],
        site_xy[1],
        rules.site_visit_radius_m,
        rules.site_visit_min_s,
        rules.max_gap_s,
    ):
        out.append(
            {
                "site_id": str(sites["site_id"].iloc[visit.site]),
                "start": timestamp(t0 + round(visit.start_s * 1e9)),
                "end": timestamp(t0 + round(visit.end_s * 1e9)),
                "duration_s": round(float(visit.end_s - visit.start_s), 3),
            }
        )
    return out
