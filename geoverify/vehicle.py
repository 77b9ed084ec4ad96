"""Riding instead of walking: speed above ``vehicle_kmh`` sustained for ``vehicle_min_s`` (VEHICLE)."""

from __future__ import annotations

import numpy as np

from .intervals import runs
from .rules import Rules


def find_vehicle_runs(seg_len: np.ndarray, seg_dt: np.ndarray, counted: np.ndarray,
                      rules: Rules) -> list[tuple[int, int]]:
    """Runs of consecutive segments each faster than ``vehicle_kmh``, lasting ``vehicle_min_s`` or more.

    Parameters
    ----------
    seg_len : numpy.ndarray
        Segment lengths in metres (local projection).
    seg_dt : numpy.ndarray
        Segment durations in seconds.
    counted : numpy.ndarray of bool
        Segments that may belong to a ride: not gaps and not teleports.
    rules : Rules
        ``vehicle_kmh`` (km/h) and ``vehicle_min_s`` (seconds). E-bikes are capped at 25 km/h in
        China, so the default 30 km/h leaves them walking-pace patrols.

    Returns
    -------
    list of (first, last)
        Inclusive segment indices of each ride.
    """
    if not len(seg_len):
        return []
    with np.errstate(divide="ignore", invalid="ignore"):
        kmh = np.where(seg_dt > 0, seg_len / seg_dt * 3.6, 0.0)
    fast = counted & (kmh > rules.vehicle_kmh)
    return [(a, b) for a, b in runs(fast) if seg_dt[a:b + 1].sum() >= rules.vehicle_min_s]


def vehicle_evidence(first: int, last: int, seg_len: np.ndarray, seg_dt: np.ndarray, rules: Rules) -> dict:
    """Figures of a ride for its flag: duration (s), distance (m), mean and top speed (km/h)."""
    dt = seg_dt[first:last + 1]
    length = seg_len[first:last + 1]
    duration = float(dt.sum())
    return {
        "duration_s": round(duration, 3),
        "distance_m": round(float(length.sum()), 1),
        "mean_speed_kmh": round(float(length.sum()) / duration * 3.6, 1),
        "max_speed_kmh": round(float(np.max(length / dt)) * 3.6, 1),
        "segments": int(last - first + 1),
        "vehicle_kmh": rules.vehicle_kmh,
        "vehicle_min_s": rules.vehicle_min_s,
    }
