"""Stays: a phone left lying still (IDLE) and a member circling a small area (LOOP).

Both are stretches of at least a minimum duration whose fixes stay within a radius. What tells
them apart is whether the phone moves, read from the motion model
(:func:`geoverify.detectors.motion.classify_motion`): a stretch is *still* when more than half of
its time (not of its fixes) is still. Walking a tight circle is moving (it turns consistently at
walking pace); jitter is not.

"Within a radius R" is tested on the stretch's extent along four directions (0°, 45°, 90°,
135°): at most 2R along each, an octagon round the circle of radius R (its corners are 8 % further
out). That test is exact for windows of any length in O(1) after an O(n log n) build, so the scan
costs no Python loop per fix. A stay never spans a gap, a teleport or a vehicle ride.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geoverify.detectors.intervals import RangeTable, runs, window_cover
from geoverify.detectors.motion import Motion
from geoverify.rules import Rules

_DIAGONAL = np.sqrt(0.5)
NOISE_FLOOR_M = 10.0  # a still phone's fixes wander at least this far from their centre


@dataclass(frozen=True)
class Stay:
    """A flagged stretch of fixes ``first..last`` (inclusive indices)."""

    code: str  # "IDLE" or "LOOP"
    first: int
    last: int


def stay_windows(
    x: np.ndarray,
    y: np.ndarray,
    t: np.ndarray,
    breaks: np.ndarray,
    radius_m: float,
    min_s: float,
    tables: dict | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Windows of fixes ``first..last`` spanning ``min_s`` seconds within ``radius_m`` metres.

    One window per starting fix: from fix ``i`` to the first fix at least ``min_s`` later,
    kept when it spans no break and its extent along each of four directions is at most
    ``2 * radius_m``. Longer stays are covered by overlapping windows.

    Parameters
    ----------
    x, y : numpy.ndarray
        Positions in metres on a local projection, time order.
    t : numpy.ndarray
        Seconds, increasing.
    breaks : numpy.ndarray of bool
        One per segment ``i → i+1``: segments a stay may not span (gaps, teleports).
    radius_m, min_s : float
        Radius in metres and minimum duration in seconds.
    tables : dict, optional
        A cache of range tables for the same ``x, y``, shared between calls.

    Returns
    -------
    first, last : numpy.ndarray of int
        Inclusive fix indices of each window.
    """
    n = len(t)
    if n < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    last = np.searchsorted(t, t + min_s, side="left")
    first = np.flatnonzero(last < n)
    last = last[first]
    crossed = np.concatenate([[0], np.cumsum(breaks, dtype=np.int64)])
    keep = crossed[last] == crossed[first]
    first, last = first[keep], last[keep]
    directions = (x, y, (x + y) * _DIAGONAL, (x - y) * _DIAGONAL)
    # A window's extent is at least the distance between its end fixes: a cheap first cut.
    for values in directions:
        keep = np.abs(values[last] - values[first]) <= 2.0 * radius_m
        first, last = first[keep], last[keep]
    tables = {} if tables is None else tables
    for k, values in enumerate(directions):
        if not len(first):
            break
        keep = _spans(values, first, last, tables, k) <= 2.0 * radius_m
        first, last = first[keep], last[keep]
    return first, last


def _spans(
    values: np.ndarray, first: np.ndarray, last: np.ndarray, tables: dict | None = None, key: object = None
) -> np.ndarray:
    """``max - min`` of ``values`` over each window ``[first, last]``: directly when the windows
    hold few fixes in all, else with a :class:`RangeTable` (O(n log n) to build, kept in
    ``tables[key]`` for the next call)."""
    counts = last - first + 1
    total = int(counts.sum())
    if total > len(values) * max(np.log2(len(values)), 1.0):
        tables = {} if tables is None else tables
        if key not in tables:
            tables[key] = RangeTable(values)
        return tables[key].span(first, last)
    offsets = np.cumsum(counts) - counts
    index = np.arange(total) - np.repeat(offsets - first, counts)
    window = values[index]
    return np.maximum.reduceat(window, offsets) - np.minimum.reduceat(window, offsets)


def find_stays(
    x: np.ndarray,
    y: np.ndarray,
    t: np.ndarray,
    breaks: np.ndarray,
    motion: Motion,
    rules: Rules,
    site_x: np.ndarray | None = None,
    site_y: np.ndarray | None = None,
) -> list[Stay]:
    """IDLE and LOOP stretches of one patrol.

    A window (see :func:`stay_windows`) is *still* when more than half of its time is still in
    ``motion`` (time-weighted). IDLE: still windows of ``idle_min_s`` within
    ``idle_radius_m``, joined, then trimmed at both ends to the fixes within GPS noise of the
    stretch's centre (so the walk in and out is not idle time), still lasting ``idle_min_s``;
    not when the centre lies within ``site_visit_radius_m`` of a site (a stay at a household is
    a visit). LOOP: moving windows of ``loop_min_s`` within ``loop_radius_m``, joined, outside
    IDLE stretches, lasting ``loop_min_s``.

    Parameters
    ----------
    x, y, t, breaks
        As for :func:`stay_windows`; ``breaks`` should include vehicle segments.
    motion : Motion
        The day's motion model (``still`` and ``weight_s`` per fix).
    site_x, site_y : numpy.ndarray, optional
        Sites of the grid, metres on the same projection.

    Returns
    -------
    list of Stay
        In time order.
    """
    n = len(t)
    if n < 2:
        return []
    total_s = np.concatenate([[0.0], np.cumsum(motion.weight_s)])
    starts = np.concatenate([[True], breaks])
    tables: dict = {}
    first, last = stay_windows(x, y, t, breaks, rules.idle_radius_m, rules.idle_min_s, tables)
    loop_first, loop_last = stay_windows(x, y, t, breaks, rules.loop_radius_m, rules.loop_min_s, tables)
    if not len(first) and not len(loop_first):
        return []  # no stay window: the still test is never computed
    still_s = np.concatenate([[0.0], np.cumsum(np.where(motion.still, motion.weight_s, 0.0))])

    def still_share(first, last):
        whole = total_s[last + 1] - total_s[first]
        return np.where(whole > 0, (still_s[last + 1] - still_s[first]) / np.where(whole > 0, whole, 1.0), 0.0)

    still = still_share(first, last) > 0.5
    idle_cover = window_cover(n, first[still], last[still])
    stays, idle_fixes = [], np.zeros(n, dtype=bool)
    for a, b in _split_at(runs(idle_cover), starts):
        a, b = _trim_to_noise(x, y, a, b)
        if t[b] - t[a] < rules.idle_min_s:
            continue
        idle_fixes[a : b + 1] = True
        cx, cy = x[a : b + 1].mean(), y[a : b + 1].mean()
        if (
            site_x is not None
            and len(site_x)
            and np.min(np.hypot(site_x - cx, site_y - cy)) <= rules.site_visit_radius_m
        ):
            continue
        stays.append(Stay("IDLE", a, b))

    first, last = loop_first, loop_last
    moving = still_share(first, last) <= 0.5
    loop_cover = window_cover(n, first[moving], last[moving]) & ~idle_fixes
    for a, b in _split_at(runs(loop_cover), starts):
        if t[b] - t[a] >= rules.loop_min_s:
            stays.append(Stay("LOOP", a, b))
    stays.sort(key=lambda s: (s.first, s.code))
    return stays


def _trim_to_noise(x: np.ndarray, y: np.ndarray, a: int, b: int) -> tuple[int, int]:
    """Drop the walk in and out of a still stretch: keep from the first to the last fix within
    GPS noise of its centre (twice the median distance from the median point, at least
    :data:`NOISE_FLOOR_M`)."""
    sx, sy = x[a : b + 1], y[a : b + 1]
    d = np.hypot(sx - np.median(sx), sy - np.median(sy))
    near = np.flatnonzero(d <= max(2.0 * float(np.median(d)), NOISE_FLOOR_M))
    return a + int(near[0]), a + int(near[-1])


def _split_at(spans: list[tuple[int, int]], starts: np.ndarray) -> list[tuple[int, int]]:
    out = []
    for first, last in spans:
        cuts = np.flatnonzero(starts[first + 1 : last + 1]).tolist()
        edges = [first] + [first + 1 + c for c in cuts] + [last + 1]
        out += [(a, b - 1) for a, b in zip(edges[:-1], edges[1:]) if b - 1 > a]
    return out


def stay_evidence(
    stay: Stay, x: np.ndarray, y: np.ndarray, t: np.ndarray, motion: Motion, accuracy: np.ndarray, rules: Rules
) -> dict:
    """Figures of a stay for its flag: centre offset, radius, path length, speeds, thresholds."""
    sl = slice(stay.first, stay.last + 1)
    sx, sy = x[sl], y[sl]
    cx, cy = float(sx.mean()), float(sy.mean())
    dist = np.hypot(sx - cx, sy - cy)
    acc = accuracy[sl]
    idle = stay.code == "IDLE"
    return {
        "duration_s": round(float(t[stay.last] - t[stay.first]), 3),
        "fixes": int(stay.last - stay.first + 1),
        "radius_m": round(float(dist.max()), 1),
        "rms_radius_m": round(float(np.sqrt(np.mean(dist**2))), 1),
        "path_length_m": round(float(np.hypot(np.diff(sx), np.diff(sy)).sum()), 1),
        "median_motion_mps": round(float(np.median(motion.progress_mps[sl])), 3),
        "still_share": round(
            float(np.sum(motion.weight_s[sl] * motion.still[sl]) / max(float(motion.weight_s[sl].sum()), 1e-9)), 3
        ),
        "median_accuracy_m": None if np.all(np.isnan(acc)) else round(float(np.nanmedian(acc)), 1),
        "radius_limit_m": rules.idle_radius_m if idle else rules.loop_radius_m,
        "min_duration_s": rules.idle_min_s if idle else rules.loop_min_s,
        "still_mps": rules.still_mps,
        "motion_bin_s": rules.motion_bin_s,
    }
