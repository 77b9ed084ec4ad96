"""Impossible jumps: lone GPS spikes (dropped from the geometry) and teleports (not patrol time).

Speeds here are *accuracy-adjusted*: the distance between two fixes less both fixes'
reported accuracy (an unknown accuracy counts as 0), never below 0, over the time between
them. Two fixes 250 m apart each reporting 30 m accuracy may really be only 190 m apart.
"""

from __future__ import annotations

import numpy as np

from .rules import Rules


def adjusted_distance(xa, ya, acc_a, xb, yb, acc_b) -> np.ndarray:
    """Distance in metres between fixes a and b less both accuracies, at least 0."""
    return np.maximum(np.hypot(xb - xa, yb - ya) - np.nan_to_num(acc_a) - np.nan_to_num(acc_b), 0.0)


def find_spikes(x: np.ndarray, y: np.ndarray, t: np.ndarray, accuracy: np.ndarray,
                rules: Rules) -> np.ndarray:
    """Fixes that jump away and straight back (GPS spikes).

    A fix ``i`` (neither first nor last) is a spike when the adjusted speed into it and out
    of it both exceed ``rules.teleport_kmh`` while the adjusted speed from fix ``i-1``
    straight to fix ``i+1`` stays below it.

    Parameters
    ----------
    x, y : numpy.ndarray
        Positions in metres on a local projection, time order.
    t : numpy.ndarray
        Times in seconds, strictly increasing.
    accuracy : numpy.ndarray
        Reported accuracy in metres (NaN when unknown).

    Returns
    -------
    numpy.ndarray of bool
        True for each spike fix.
    """
    n = len(x)
    spike = np.zeros(n, dtype=bool)
    if n < 3:
        return spike
    limit = rules.teleport_mps
    step = adjusted_distance(x[:-1], y[:-1], accuracy[:-1], x[1:], y[1:], accuracy[1:]) / np.diff(t)
    skip = (adjusted_distance(x[:-2], y[:-2], accuracy[:-2], x[2:], y[2:], accuracy[2:])
            / (t[2:] - t[:-2]))
    spike[1:-1] = (step[:-1] > limit) & (step[1:] > limit) & (skip < limit)
    return spike


def find_teleports(x: np.ndarray, y: np.ndarray, t: np.ndarray, accuracy: np.ndarray,
                   rules: Rules) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Segments whose adjusted speed exceeds ``teleport_kmh`` over at least ``teleport_min_m``.

    Returns
    -------
    mask : numpy.ndarray of bool
        One per segment ``i → i+1``.
    adjusted_m : numpy.ndarray
        Adjusted distance of each segment, metres.
    speed_kmh : numpy.ndarray
        Adjusted speed of each segment, km/h.
    """
    if len(x) < 2:
        return np.zeros(0, dtype=bool), np.zeros(0), np.zeros(0)
    adjusted = adjusted_distance(x[:-1], y[:-1], accuracy[:-1], x[1:], y[1:], accuracy[1:])
    speed = adjusted / np.diff(t) * 3.6
    return (speed > rules.teleport_kmh) & (adjusted >= rules.teleport_min_m), adjusted, speed
