"""A patrol's behaviour flags read from stage 2 of the motion model: IDLE, LOOP and VEHICLE, and the
segments whose in-grid time they take from verified time (unless an auditor dismissed them)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from geoverify.detectors.device import FixSource, identify
from geoverify.detectors.motion import VEHICLE, Motion
from geoverify.detectors.stays import find_stays, stay_evidence
from geoverify.detectors.vehicle import vehicle_evidence
from geoverify.flags import Flag
from geoverify.patrol.path import KeptPath, Segments
from geoverify.rules import Rules


def behaviour_flags(
    fixes: FixSource,
    pid: str,
    reviews: Mapping[str, str],
    path: KeptPath,
    segments: Segments,
    motion: Motion,
    site_xy: tuple[np.ndarray | None, np.ndarray | None],
    rules: Rules,
) -> tuple[list[Flag], np.ndarray]:
    """IDLE, LOOP and VEHICLE flags with stable ids and review status, and the mask of segments
    whose in-grid time they exclude from verified time.

    ``site_xy`` are the grid's sites on the path's projection (metres; None without sites): a stay
    at a site is a visit, not IDLE.
    """
    excluded = np.zeros(len(segments.dt), dtype=bool)
    track = fixes.track
    kept_index = path.index
    found: dict[str, list[tuple[Flag, int, int]]] = {"IDLE": [], "LOOP": [], "VEHICLE": []}
    for stay in find_stays(
        path.x, path.y, path.t, ~segments.observed | (motion.state == VEHICLE), motion, rules, *site_xy
    ):
        a, b = kept_index[stay.first], kept_index[stay.last]
        sl = slice(stay.first, stay.last + 1)
        lon, lat = float(np.mean(track.lon[kept_index[sl]])), float(np.mean(track.lat[kept_index[sl]]))
        evidence = {
            "centre": {"lon": round(lon, 7), "lat": round(lat, 7)},
            **stay_evidence(stay, path.x, path.y, path.t, motion, path.accuracy, rules),
        }
        found[stay.code].append(
            (Flag(stay.code, fixes.time(a), fixes.time(b), lon, lat, evidence), stay.first, stay.last - 1)
        )
    for first, last in motion.rides:
        a, b = kept_index[first], kept_index[last + 1]
        evidence = vehicle_evidence(first, last, segments.length, segments.dt, segments.counted, motion, rules)
        evidence.update({"from": fixes.point(a), "to": fixes.point(b)})
        found["VEHICLE"].append(
            (
                Flag("VEHICLE", fixes.time(a), fixes.time(b), float(track.lon[a]), float(track.lat[a]), evidence),
                first,
                last,
            )
        )
    flags = []
    for items in found.values():
        identify([f for f, _, _ in items], pid, reviews)
        for flag, first, last in items:
            flag.evidence["excluded_in_grid_s"] = round(float(segments.in_grid_s[first : last + 1].sum()), 3)
            if flag.status != "dismissed":
                excluded[first : last + 1] = True
            flags.append(flag)
    return flags, excluded
