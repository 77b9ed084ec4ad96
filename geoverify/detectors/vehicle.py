"""Riding instead of walking (VEHICLE): the vehicle stretches of the motion model, as flags' figures."""

from __future__ import annotations

import numpy as np

from geoverify.detectors.motion import Motion
from geoverify.rules import Rules


def vehicle_evidence(
    first: int, last: int, seg_len: np.ndarray, seg_dt: np.ndarray, counted: np.ndarray, motion: Motion, rules: Rules
) -> dict:
    """Figures of one ride (segments ``first..last``, inclusive) for its flag.

    Durations in seconds, distances in metres, speeds in km/h: the stretch's duration and
    distance, its mean speed, its highest pace (windowed, ``pace_window_s``), the seconds above
    ``vehicle_kmh`` and the seconds paused (pace at or below ``ride_floor_kmh``) inside it.
    """
    sel = slice(first, last + 1)
    dt = np.where(counted[sel], seg_dt[sel], 0.0)
    kmh = motion.pace_mps[sel] * 3.6
    duration = float(dt.sum())
    distance = float(np.sum(seg_len[sel], where=counted[sel]))
    return {
        "duration_s": round(duration, 3),
        "distance_m": round(distance, 1),
        "mean_speed_kmh": round(distance / duration * 3.6, 1) if duration else 0.0,
        "max_speed_kmh": round(float(kmh.max()), 1),
        "fast_s": round(float(dt[kmh > rules.vehicle_kmh].sum()), 3),
        "paused_s": round(float(dt[kmh <= rules.ride_floor_kmh].sum()), 3),
        "segments": int(last - first + 1),
        "vehicle_kmh": rules.vehicle_kmh,
        "vehicle_min_s": rules.vehicle_min_s,
        "pace_window_s": rules.pace_window_s,
        "vehicle_join_s": rules.vehicle_join_s,
    }
