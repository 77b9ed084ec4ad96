"""The motion model: one time-weighted segmentation of a day's track that every motion flag reads.

The day's fixes go through two stages:

1. :mod:`geoverify.detectors.glitches` drops *position glitches* (GPS_OUTLIER) and finds the jumps
   the track does not come back from (TELEPORT candidates);
2. :func:`classify_motion`, on the fixes that remain, labels every segment (the time between two
   consecutive fixes) *still*, *on foot*, *cycling* (up to the e-bike cap), *vehicle*, or leaves it
   out as a gap or teleport.

IDLE and LOOP are stretches of still and moving fixes within a radius
(:mod:`geoverify.detectors.stays`); VEHICLE is the vehicle state
(:mod:`geoverify.detectors.vehicle`). Since they all read this one labelling, a stretch is never
both a ride and a stay, and a jump that vehicle motion explains is never a TELEPORT.

**Pace.** The speed of a segment is measured over a window of ``pace_window_s`` seconds centred on
it (positions interpolated along the track, never across a gap or teleport; a longer segment is its
own window): the displacement over the window divided by its duration. Over 30 s, 5-10 m of GPS
jitter adds well under 1 m/s, where fix-to-fix speeds at 1 s sampling would add 5-15 m/s; a corner
shortens the displacement by at most 30 % for the few seconds around it.

**Vehicle.** Segments whose pace exceeds ``ride_floor_kmh`` are *ride-like* (faster than anyone
walks; cyclists are ride-like too). Runs of ride-like segments separated by pauses of at most
``vehicle_join_s`` seconds (stops at lights and stations, a corner, one bad fix) form one stretch,
and a stretch is a vehicle ride when its speed over ``fast_window_s`` (10 s: short enough to
start and end with the ride, long enough to average 1 s jitter) exceeds ``vehicle_kmh`` for at
least ``vehicle_min_s`` seconds in all. An e-bike, capped at 25 km/h, never builds up those seconds; a
bus with stops every few hundred metres, whose pace passes 30 km/h between them, does.

**Still.** A fix is still unless the member makes progress at the scale of a minute (the speed
between the centres of the ``motion_bin_s`` bins either side, at least ``still_mps``) or moves
*coherently* at the scale of seconds: positions averaged in ``turn_bin_s`` bins, steps between
consecutive bins at least ``coherent_mps`` on average over ``coherent_window_s`` and turning
consistently (mean cosine of the turn between consecutive steps at least ``coherent_cos``). Jitter
turns at random, and tends to turn back (each error step undoes the last: a negative mean cosine);
walking a 15 m circle turns by the same small angle every step (cosine about 0.75 at 10 s). So a
walker circling a courtyard is moving, where bin centroids a minute apart barely move.

Shares of still time in a window are weighted by time (each fix stands for half of each of its
segments), so a phone that samples sparsely while waiting is not outvoted by the dense fixes of
the walk around it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from geoverify.detectors.intervals import runs
from geoverify.rules import Rules

STILL, FOOT, CYCLE, VEHICLE, EXCLUDED = 0, 1, 2, 3, 4
FOOT_KMH = 10.0  # walking and running pace; faster without a vehicle is cycling


@dataclass
class Motion:
    """Result of :func:`classify_motion` on the kept fixes of one day.

    Attributes
    ----------
    pace_mps : numpy.ndarray
        One per segment: windowed speed in m/s (0 for excluded segments).
    state : numpy.ndarray of int8
        One per segment: :data:`STILL`, :data:`FOOT`, :data:`CYCLE`, :data:`VEHICLE` or
        :data:`EXCLUDED` (a gap or teleport).
    rides : list of (first, last)
        Inclusive segment indices of each vehicle stretch.
    weight_s : numpy.ndarray
        One per fix: the seconds it stands for (half of each counted segment it ends).
    still, progress_mps : numpy.ndarray
        Per fix, computed when first asked for (only days with a stay window need them): not
        moving beyond GPS noise (see the module docstring); the speed between the bin centres a
        minute either side (m/s, for evidence).
    """

    pace_mps: np.ndarray
    state: np.ndarray
    rides: list[tuple[int, int]]
    weight_s: np.ndarray
    fixes: tuple = field(repr=False, default=())  # (x, y, t, counted, rules) for the lazy parts

    @cached_property
    def progress_mps(self) -> np.ndarray:
        x, y, t, _, rules = self.fixes
        return progress_speed(x, y, t, rules.motion_bin_s)

    @cached_property
    def still(self) -> np.ndarray:
        x, y, t, counted, rules = self.fixes
        return (self.progress_mps < rules.still_mps) & ~coherent_motion(x, y, t, counted, rules)


def classify_motion(x: np.ndarray, y: np.ndarray, t: np.ndarray, counted: np.ndarray, rules: Rules) -> Motion:
    """Label each segment of the day's kept fixes (see the module docstring).

    Parameters
    ----------
    x, y : numpy.ndarray
        Positions in metres on a local projection, time order, glitches removed.
    t : numpy.ndarray
        Seconds, strictly increasing.
    counted : numpy.ndarray of bool
        One per segment: neither a gap nor a teleport.
    rules : Rules
        ``pace_window_s``, ``ride_floor_kmh``, ``vehicle_kmh``, ``vehicle_min_s``,
        ``vehicle_join_s``, ``motion_bin_s``, ``still_mps``, ``turn_bin_s``, ``coherent_mps``,
        ``coherent_cos``, ``coherent_window_s``.
    """
    n = len(t)
    m = max(n - 1, 0)
    seg_dt = np.diff(t) if n else np.zeros(0)
    weight = np.zeros(n)
    if m:
        half = np.where(counted, seg_dt / 2.0, 0.0)
        weight[:-1] += half
        weight[1:] += half
    pace = segment_pace(x, y, t, counted, rules.pace_window_s)
    kmh = pace * 3.6
    rides = []
    # The shorter window and step speeds only matter where the pace is ride-like (most patrol days:
    # nowhere).
    if (counted & (kmh > rules.ride_floor_kmh)).any():
        quick = segment_pace(x, y, t, counted, rules.fast_window_s)
        step_kmh = np.hypot(np.diff(x), np.diff(y)) / np.where(seg_dt > 0, seg_dt, np.inf) * 3.6
        rides = ride_stretches(pace, seg_dt, counted, rules, step_kmh, quick)
    state = np.full(m, EXCLUDED, dtype=np.int8)
    state[counted & (pace < rules.still_mps)] = STILL
    state[counted & (pace >= rules.still_mps) & (kmh <= FOOT_KMH)] = FOOT
    state[counted & (kmh > FOOT_KMH)] = CYCLE
    for first, last in rides:
        sel = slice(first, last + 1)
        state[sel] = np.where(counted[sel], VEHICLE, EXCLUDED)
    return Motion(pace_mps=pace, state=state, rides=rides, weight_s=weight, fixes=(x, y, t, counted, rules))


def _run_bounds(t: np.ndarray, counted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each fix, the first and last fix of its run of counted segments."""
    n = len(t)
    breaks = ~counted
    run = np.concatenate([[0], np.cumsum(breaks)])
    starts = np.concatenate([[0], np.flatnonzero(breaks) + 1])
    ends = np.concatenate([np.flatnonzero(breaks), [n - 1]])
    return starts[run], ends[run]


def segment_pace(x: np.ndarray, y: np.ndarray, t: np.ndarray, counted: np.ndarray, window_s: float) -> np.ndarray:
    """Speed (m/s) of each segment over a ``window_s`` window centred on it (0 where not counted)."""
    n = len(t)
    if n < 2:
        return np.zeros(0)
    first, last = _run_bounds(t, counted)
    mid = (t[:-1] + t[1:]) / 2.0
    lo = np.minimum(np.maximum(mid - window_s / 2.0, t[first[:-1]]), t[:-1])
    hi = np.maximum(np.minimum(mid + window_s / 2.0, t[last[:-1]]), t[1:])
    x_hi, y_hi = _interp2(hi, t, x, y)
    x_lo, y_lo = _interp2(lo, t, x, y)
    return np.where(counted, np.hypot(x_hi - x_lo, y_hi - y_lo) / (hi - lo), 0.0)


def _interp2(q: np.ndarray, t: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``x`` and ``y`` interpolated linearly at times ``q`` (within ``t``'s range), one search for both."""
    i = np.clip(np.searchsorted(t, q, side="right") - 1, 0, len(t) - 2)
    f = np.clip((q - t[i]) / (t[i + 1] - t[i]), 0.0, 1.0)
    return x[i] + f * (x[i + 1] - x[i]), y[i] + f * (y[i + 1] - y[i])


def ride_stretches(
    pace: np.ndarray, seg_dt: np.ndarray, counted: np.ndarray, rules: Rules, step_kmh: np.ndarray, quick: np.ndarray
) -> list[tuple[int, int]]:
    """Vehicle stretches: ride-like runs joined across short pauses, fast for ``vehicle_min_s`` in all.

    Parameters
    ----------
    pace, seg_dt : numpy.ndarray
        Per segment: windowed speed (m/s) and duration (s).
    counted : numpy.ndarray of bool
        Per segment: neither a gap nor a teleport.
    step_kmh : numpy.ndarray
        Per segment: fix-to-fix speed (km/h). The window's edges reach a few seconds beyond the
        ride; a stretch's end segments slower than ``ride_floor_kmh`` are trimmed off.
    quick : numpy.ndarray
        Per segment: speed (m/s) over the shorter ``fast_window_s``, which the seconds above
        ``vehicle_kmh`` are counted on: a 30 s window straddling the start of a ride at 31 km/h
        reads slower than 30 km/h.

    Returns
    -------
    list of (first, last)
        Inclusive segment indices, from the first to the last ride-like segment of each stretch.
    """
    kmh = pace * 3.6
    ridelike = counted & (kmh > rules.ride_floor_kmh)
    pieces = runs(ridelike)
    if not pieces:
        return []
    ends = np.concatenate([[0.0], np.cumsum(seg_dt)])
    blocked = np.concatenate([[0], np.cumsum(~counted)])
    joined = [list(pieces[0])]
    for first, last in pieces[1:]:
        prev_last = joined[-1][1]
        pause = ends[first] - ends[prev_last + 1]
        if pause <= rules.vehicle_join_s and blocked[first] == blocked[prev_last + 1]:
            joined[-1][1] = last
        else:
            joined.append([first, last])
    fast_s = np.concatenate([[0.0], np.cumsum(np.where(counted & (quick * 3.6 > rules.vehicle_kmh), seg_dt, 0.0))])
    out = []
    for a, b in joined:
        moving = np.flatnonzero(step_kmh[a : b + 1] > rules.ride_floor_kmh)
        if fast_s[b + 1] - fast_s[a] >= rules.vehicle_min_s and len(moving):
            out.append((a + int(moving[0]), a + int(moving[-1])))
    return out


def progress_speed(x: np.ndarray, y: np.ndarray, t: np.ndarray, bin_s: float) -> np.ndarray:
    """Speed (m/s) at each fix between the centres of the ``bin_s`` bins before and after its own."""
    n = len(t)
    if n == 0:
        return np.zeros(0)
    cx, cy, ct, inverse = _bins(x, y, t, bin_s)
    m = len(ct)
    if m < 2:
        return np.zeros(n)
    before = np.maximum(np.arange(m) - 1, 0)
    after = np.minimum(np.arange(m) + 1, m - 1)
    dt = ct[after] - ct[before]
    speed = np.hypot(cx[after] - cx[before], cy[after] - cy[before]) / np.where(dt > 0, dt, np.inf)
    return speed[inverse]


def _bins(x, y, t, bin_s):
    """Centres (x, y, t) of the fixes in each ``bin_s`` bin that holds any, and each fix's bin."""
    bins = np.floor((t - t[0]) / bin_s).astype(np.int64)
    inverse = np.concatenate([[0], np.cumsum(bins[1:] != bins[:-1])])  # t increases: bins never go back
    count = np.bincount(inverse)
    return (np.bincount(inverse, x) / count, np.bincount(inverse, y) / count, np.bincount(inverse, t) / count, inverse)


def coherent_motion(x: np.ndarray, y: np.ndarray, t: np.ndarray, counted: np.ndarray, rules: Rules) -> np.ndarray:
    """Per fix: moving along a path that turns consistently, at walking pace (module docstring)."""
    n = len(t)
    out = np.zeros(n, dtype=bool)
    if n < 4:
        return out
    cx, cy, ct, inverse = _bins(x, y, t, rules.turn_bin_s)
    m = len(ct)
    if m < 3:
        return out
    # Bins on either side of a gap or teleport are not consecutive steps.
    blocked = np.concatenate([[0], np.cumsum(~counted)])
    first_fix = np.flatnonzero(np.concatenate([[True], inverse[1:] != inverse[:-1]]))
    joined = blocked[first_fix[1:]] == blocked[first_fix[1:] - 1]
    sx, sy, sdt = np.diff(cx), np.diff(cy), np.diff(ct)
    length = np.hypot(sx, sy)
    speed = np.where(joined, length / np.where(sdt > 0, sdt, np.inf), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = (sx[:-1] * sx[1:] + sy[:-1] * sy[1:]) / (length[:-1] * length[1:])
    cos = np.where(joined[:-1] & joined[1:] & np.isfinite(cos), cos, -1.0)
    # Window means over the steps whose middle lies within coherent_window_s / 2 of each bin.
    step_t = (ct[:-1] + ct[1:]) / 2.0
    turn_t = ct[1:-1]
    half = rules.coherent_window_s / 2.0
    mean_speed = _window_mean(step_t, speed, ct, half)
    mean_cos = _window_mean(turn_t, cos, ct, half)
    coherent_bin = (mean_speed >= rules.coherent_mps) & (mean_cos >= rules.coherent_cos)
    out[:] = coherent_bin[inverse]
    return out


def _window_mean(at: np.ndarray, values: np.ndarray, centres: np.ndarray, half: float) -> np.ndarray:
    """Mean of ``values`` (taken at times ``at``, increasing) within ``half`` seconds of each centre."""
    csum = np.concatenate([[0.0], np.cumsum(values)])
    lo = np.searchsorted(at, centres - half, side="left")
    hi = np.searchsorted(at, centres + half, side="right")
    count = hi - lo
    return np.where(count > 0, (csum[hi] - csum[lo]) / np.maximum(count, 1), 0.0)
