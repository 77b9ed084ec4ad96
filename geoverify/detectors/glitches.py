"""Position glitches and jumps: the first stage of the motion model.

A *jump* is a step between two fixes that is faster than ``teleport_kmh`` over at least
``teleport_min_m``, distances taken after subtracting both fixes' reported accuracy (unknown
accuracy counts as 0). Steps that the motion around them explains are not jumps: a train at
160 km/h makes every step "faster than 150 km/h", but each one is within ``jump_speed_factor``
times the median speed of the neighbouring steps (see :func:`local_speed`).

Every remaining jump is resolved against an *anchor*, the last fix before it that is not a glitch:

``stale``
    The anchor repeats the position of the fixes before it to within a metre (a phone reporting
    its last known position while it moves on, as phones in buses, trains and cars do), the first
    of those is at most ``max_gap_s`` before the jump, and the jump is none from it (or from the fix
    before it): the repeats are the glitch, and the track simply moved on. A position held longer
    than that is judged as it stands (a mock-location app holds its position exactly).
``network``
    The fix jumped to reports a network position (provider ``network``/``cell``/``wifi``, or an
    accuracy of exactly 0 where accuracy is reported): it and the network fixes after it that
    are still out of reach of the anchor (see ``come_back``) are glitches, however long they last.
    A GPS fix jumping away from a network anchor makes the anchor the glitch.
``come_back``
    The track comes back: a later fix, at most ``glitch_max_s`` after the first fix away, lies
    within reach of the anchor (less than ``teleport_min_m`` plus ``jump_speed_factor`` times the
    local speed times the time since the anchor) and nearer to the anchor than to the first fix
    away. The fixes away are a glitch, however many there are.
``before_gap``
    The track ends (a gap or the end of the day) less than ``glitch_max_s`` after the jump,
    without coming back: too short a stay away to be a relocation.
``cold_start``
    The anchor lies less than ``glitch_max_s`` after the start of its run (the first fix of the
    day or after a gap) and the fixes after the jump stay coherent for longer than that: the
    first fixes after the gap were wrong, not the rest.

Anything else is a jump the track does not come back from: a TELEPORT candidate, with the anchor
and the fix it jumped to. A track without accuracy or provider columns meets only the
``come_back``, ``before_gap`` and ``cold_start`` rules, so removing those columns can turn a glitch
into a TELEPORT but never a relocation into a glitch.

The work is vectorised except for one short Python step per unexplained jump (real days have
a handful; a synthetic day of walking has none).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from geoverify.detectors.intervals import runs
from geoverify.rules import Rules

NEIGHBOURS = 4  # steps either side whose median speed is the local speed of a step
STALE_M = 1.0  # fixes repeating a position within this distance (metres) report a frozen position


@dataclass
class GlitchRun:
    """Fixes ``first..last`` (inclusive, indices of the day's fixes) dropped as one position glitch."""

    first: int
    last: int
    reason: str  # stale, network, come_back, before_gap, cold_start
    anchor: int  # the last good fix before the run (-1 when none)


@dataclass
class Glitches:
    """Result of :func:`find_glitches`."""

    mask: np.ndarray  # one per fix: dropped as a glitch
    runs: list[GlitchRun] = field(default_factory=list)
    jumps: list[tuple[int, int]] = field(default_factory=list)  # (anchor, fix jumped to), unresolved


def adjusted_distance(xa, ya, acc_a, xb, yb, acc_b) -> np.ndarray:
    """Distance in metres between fixes a and b less both accuracies (unknown = 0), at least 0."""
    return np.maximum(np.hypot(xb - xa, yb - ya) - np.nan_to_num(acc_a) - np.nan_to_num(acc_b), 0.0)


def local_speed(step_mps: np.ndarray, breaks: np.ndarray, step_m: np.ndarray) -> np.ndarray:
    """Median speed (m/s) of the :data:`NEIGHBOURS` steps either side of each step, itself left out.

    Steps across a break (a gap) and steps shorter than :data:`STALE_M` (a position repeated, as
    phones do that update their position only now and then) are not neighbours. NaN where a step
    has no neighbour.

    Parameters
    ----------
    step_mps : numpy.ndarray
        Speed of each step (fix to fix), m/s.
    breaks : numpy.ndarray of bool
        One per step: a gap.
    step_m : numpy.ndarray
        Length of each step in metres.
    """
    m = len(step_mps)
    if not m:
        return np.zeros(0)
    run = np.concatenate([[0], np.cumsum(breaks[:-1])])
    offsets = np.array([o for o in range(-NEIGHBOURS, NEIGHBOURS + 1) if o])
    idx = np.arange(m)[:, None] + offsets[None, :]
    inside = (idx >= 0) & (idx < m)
    idx = np.clip(idx, 0, m - 1)
    same = inside & (run[idx] == run[:, None]) & ~breaks[idx] & (step_m[idx] >= STALE_M)
    values = np.where(same, step_mps[idx], np.nan)
    out = np.full(m, np.nan)
    has = same.any(axis=1)
    out[has] = np.nanmedian(values[has], axis=1)
    return out


def find_glitches(
    x: np.ndarray, y: np.ndarray, t: np.ndarray, accuracy: np.ndarray, network: np.ndarray, rules: Rules
) -> Glitches:
    """Position glitches and unresolved jumps of one day's fixes (see the module docstring).

    Parameters
    ----------
    x, y : numpy.ndarray
        Positions in metres on a local projection, time order.
    t : numpy.ndarray
        Seconds, strictly increasing.
    accuracy : numpy.ndarray
        Reported accuracy in metres (NaN unknown).
    network : numpy.ndarray of bool
        Fixes reporting a network position (:func:`network_fixes`).
    rules : Rules
        ``teleport_kmh``, ``teleport_min_m``, ``glitch_max_s``, ``max_gap_s``, ``vehicle_kmh`` and
        ``jump_speed_factor``.

    Returns
    -------
    Glitches
    """
    n = len(t)
    out = Glitches(mask=np.zeros(n, dtype=bool))
    if n < 2:
        return out
    dt = np.diff(t)
    breaks = dt > rules.max_gap_s
    length = np.hypot(np.diff(x), np.diff(y))
    # The adjusted distance is never longer than the distance: test that first, on every step.
    fast = np.flatnonzero((length >= rules.teleport_min_m) & (length > rules.teleport_mps * dt) & ~breaks)
    if not len(fast):
        return out
    adjusted = np.zeros(len(dt))
    adjusted[fast] = adjusted_distance(x[fast], y[fast], accuracy[fast], x[fast + 1], y[fast + 1], accuracy[fast + 1])
    fast = fast[(adjusted[fast] >= rules.teleport_min_m) & (adjusted[fast] / dt[fast] > rules.teleport_mps)]
    if not len(fast):
        return out
    # Every step's local speed: the fast steps need theirs, and any fix may become an anchor.
    local = local_speed(length / dt, breaks, length)
    limit = _limits(local, rules)
    jump = np.zeros(len(dt), dtype=bool)
    jump[fast] = adjusted[fast] / dt[fast] > limit[fast]
    # Riding, a step is explained too when it and a neighbouring step together are not too fast:
    # phones in vehicles stamp positions late now and then (a stalled step, then a long one).
    riding = fast[jump[fast] & (limit[fast] > rules.teleport_mps)]
    if len(riding):
        jump[riding] = ~_absorbed(x, y, t, riding, limit[riding], breaks)
    if not jump.any():
        return out
    run_id = np.concatenate([[0], np.cumsum(breaks)])
    run_first = np.concatenate([[0], np.flatnonzero(breaks) + 1])
    run_last = np.concatenate([np.flatnonzero(breaks), [n - 1]])
    fix_limit = np.concatenate([limit, limit[-1:]])
    reach = np.nan_to_num(np.concatenate([local, local[-1:]])) * rules.jump_speed_factor
    resolver = _Resolver(x, y, t, accuracy, network, (fix_limit, reach), run_id, run_first, run_last, rules, out)
    for k in np.flatnonzero(jump).tolist():
        resolver.resolve(k + 1)
    out.runs.sort(key=lambda r: r.first)
    return out


def _absorbed(x, y, t, steps: np.ndarray, limit: np.ndarray, breaks: np.ndarray) -> np.ndarray:
    """Whether each step ``k`` spans, with the step before or after it (same run), at most ``limit`` m/s."""
    n = len(t)
    out = np.zeros(len(steps), dtype=bool)
    for first, last in ((steps - 1, steps + 1), (steps, steps + 2)):
        ok = (first >= 0) & (last <= n - 1)
        f, l = np.clip(first, 0, n - 1), np.clip(last, 0, n - 1)  # noqa: E741 -- f and l: first and last fix
        joined = ok & ~breaks[np.clip(f, 0, len(breaks) - 1)] & ~breaks[np.clip(l - 1, 0, len(breaks) - 1)]
        speed = np.hypot(x[l] - x[f], y[l] - y[f]) / np.where(t[l] > t[f], t[l] - t[f], np.inf)
        out |= joined & (speed <= limit)
    return out


def _limits(local: np.ndarray, rules: Rules) -> np.ndarray:
    """Per step, the speed (m/s) above which it is a jump: ``teleport_kmh``, or ``jump_speed_factor`` times
    the local speed where that is vehicle motion (faster than ``vehicle_kmh``)."""
    local = np.nan_to_num(local)
    return np.where(
        local * 3.6 > rules.vehicle_kmh,
        np.maximum(rules.teleport_mps, rules.jump_speed_factor * local),
        rules.teleport_mps,
    )


class _Resolver:
    """The sequential part of :func:`find_glitches`: one call per unexplained jump."""

    def __init__(self, x, y, t, accuracy, network, speeds, run_id, run_first, run_last, rules: Rules, out: Glitches):
        self.x, self.y, self.t, self.acc, self.net = x, y, t, accuracy, network
        (self.limit, self.reach), self.run_id, self.run_first, self.run_last = speeds, run_id, run_first, run_last
        self.rules, self.out = rules, out

    def anchor(self, b: int) -> int:
        """The last fix before ``b`` in its run that is not a glitch, or -1."""
        first = self.run_first[self.run_id[b]]
        good = np.flatnonzero(~self.out.mask[first:b])
        return first + int(good[-1]) if len(good) else -1

    def jumps(self, a: int, js) -> np.ndarray:
        """Whether each fix of ``js`` is a jump away from anchor ``a``."""
        js = np.asarray(js)
        d = adjusted_distance(self.x[a], self.y[a], self.acc[a], self.x[js], self.y[js], self.acc[js])
        return (d >= self.rules.teleport_min_m) & (d / (self.t[js] - self.t[a]) > self.limit[a])

    def stale_from(self, a: int) -> int:
        """The first of the fixes up to ``a`` that repeat ``a``'s position within :data:`STALE_M` (frozen)."""
        start = int(self.run_first[self.run_id[a]])
        good = start + np.flatnonzero(~self.out.mask[start : a + 1])
        near = np.hypot(self.x[good] - self.x[a], self.y[good] - self.y[a]) <= STALE_M
        differ = np.flatnonzero(~near)
        return int(good[differ[-1] + 1]) if len(differ) else int(good[0])

    def returned(self, a: int, js, b: int) -> np.ndarray:
        """Whether each fix of ``js`` is back after the jump from anchor ``a`` to ``b``: within reach of
        the anchor (less than ``teleport_min_m`` plus ``jump_speed_factor`` times the local speed at
        ``a`` times the time since ``a``), and nearer to the anchor than to ``b``."""
        js = np.asarray(js)
        d = adjusted_distance(self.x[a], self.y[a], self.acc[a], self.x[js], self.y[js], self.acc[js])
        from_b = np.hypot(self.x[js] - self.x[b], self.y[js] - self.y[b])
        near = np.hypot(self.x[js] - self.x[a], self.y[js] - self.y[a]) < from_b
        return near & (d < self.rules.teleport_min_m + self.reach[a] * (self.t[js] - self.t[a]))

    def drop_fixes(self, first: int, last: int, reason: str, anchor: int) -> None:
        """Drop the fixes ``first..last`` not dropped yet, one run per stretch between earlier glitches."""
        fresh = ~self.out.mask[first : last + 1]
        for a, b in runs(fresh):
            self.drop(first + a, first + b, reason, anchor)

    def drop(self, first: int, last: int, reason: str, anchor: int) -> None:
        self.out.mask[first : last + 1] = True
        self.out.runs.append(GlitchRun(first, last, reason, anchor))

    def resolve(self, b: int) -> None:
        if self.out.mask[b]:
            return
        a = self.anchor(b)
        while a >= 0 and bool(self.jumps(a, [b])[0]):
            end = int(self.run_last[self.run_id[b]])
            first = self.stale_from(a)
            # A frozen position was taken up to one fix before it first shows: try from there too.
            before = self.anchor(first) if first > self.run_first[self.run_id[first]] else -1
            frozen = first < a and self.t[b] - self.t[first] <= self.rules.max_gap_s
            if frozen and not (self.jumps(first, [b])[0] and (before < 0 or self.jumps(before, [b])[0])):
                self.drop_fixes(first + 1, a, "stale", first)
                return
            if self.net[b]:
                # The jump's own fix, and the network fixes after it still out of reach of the anchor.
                away = np.arange(b + 1, end + 1)
                stop = np.flatnonzero(~(self.net[away] & ~self.returned(a, away, b)))
                last = b + (int(stop[0]) if len(stop) else len(away))
                self.drop(b, last, "network", a)
                if last >= end:
                    return
                b = last + 1
                continue
            if self.net[a]:
                self.drop(a, a, "network", self.anchor(a))
                a = self.anchor(b)
                continue
            horizon = min(int(np.searchsorted(self.t, self.t[b] + self.rules.glitch_max_s, side="right")) - 1, end)
            if horizon > b:
                back = np.flatnonzero(self.returned(a, np.arange(b + 1, horizon + 1), b))
                if len(back):
                    self.drop(b, b + int(back[0]), "come_back", a)
                    return
            if self.t[end] - self.t[b] < self.rules.glitch_max_s:
                self.drop(b, end, "before_gap", a)
                return
            start = int(self.run_first[self.run_id[b]])
            if self.t[a] - self.t[start] < self.rules.glitch_max_s:
                self.drop(start, a, "cold_start", -1)
                return
            self.out.jumps.append((a, b))
            return
