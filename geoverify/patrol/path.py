"""A patrol's counted path: the day's fixes on the grid's metric projection, with position glitches
dropped (stage 1 of the motion model) and its segments cut into counted, gap and teleport.

Auditors' decisions are applied here: a dismissed GPS_OUTLIER keeps its fixes in the geometry, a
dismissed TELEPORT or GAP counts its segment as patrol time again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from geoverify.detectors.device import FixSource, gap_flags, identify
from geoverify.detectors.glitches import adjusted_distance, find_glitches
from geoverify.detectors.jumps import outlier_flags, teleport_flags
from geoverify.flags import Flag
from geoverify.geo.grid import Grid
from geoverify.geo.projection import LocalProjection
from geoverify.measures.ingrid import in_grid_fraction
from geoverify.preprocessing.days import DayTrack
from geoverify.rules import Rules


@dataclass
class Projected:
    """The day's fixes on a local metric projection: ``x``, ``y`` metres east and north, ``t``
    seconds since the day's first fix; ``projection`` None for a day without fixes."""

    projection: LocalProjection | None
    x: np.ndarray
    y: np.ndarray
    t: np.ndarray


@dataclass
class KeptPath:
    """The fixes left in the geometry after glitches are dropped (metres, seconds, accuracy metres),
    ``index`` their positions among the day's fixes."""

    x: np.ndarray
    y: np.ndarray
    t: np.ndarray
    accuracy: np.ndarray
    index: np.ndarray


@dataclass
class Segments:
    """The segments between consecutive kept fixes: ``dt`` seconds, ``length`` metres, ``gap`` and
    ``teleport`` masks (after reviews), ``counted`` (neither), ``in_grid_share`` the share (0..1) of
    each segment inside the grid, ``in_grid_s`` each counted segment's seconds inside the grid (0 for
    the others). ``observed`` are the counted segments the phone recorded: not a gap, even one an
    auditor dismissed (its time counts, but how the phone moved in it is unknown, so the motion model
    treats it as a break)."""

    dt: np.ndarray
    length: np.ndarray
    gap: np.ndarray
    teleport: np.ndarray
    counted: np.ndarray
    in_grid_share: np.ndarray
    in_grid_s: np.ndarray
    observed: np.ndarray


def project(grid: Grid | None, track: DayTrack) -> Projected:
    """The track on the grid's projection, or for a member without a grid on a projection centred
    on the track's median position rounded to 0.01° (about 1 km, so such members share projections;
    the scale error 1 km off-centre is about 1e-8)."""
    n = len(track.time_ns)
    if grid is not None:
        projection: LocalProjection | None = grid.projection
    elif n:
        projection = LocalProjection(round(float(np.median(track.lon)), 2), round(float(np.median(track.lat)), 2))
    else:
        projection = None
    if not n or projection is None:
        return Projected(projection, np.zeros(0), np.zeros(0), np.zeros(0))
    x, y = projection.forward(track.lon, track.lat)
    return Projected(projection, x, y, (track.time_ns - track.time_ns[0]) / 1e9)


def drop_glitches(
    fixes: FixSource, at: Projected, pid: str, reviews: Mapping[str, str], rules: Rules
) -> tuple[list[Flag], KeptPath, np.ndarray, list[tuple[int, int]]]:
    """GPS_OUTLIER flags and the path without the glitches an auditor has not vouched for.

    Returns
    -------
    (flags, path, vouched, jumps)
        ``vouched`` marks the day's fixes an auditor kept by dismissing their flag; ``jumps`` the
        (anchor, fix jumped to) pairs the track does not come back from: TELEPORT candidates.
    """
    track = fixes.track
    n = len(track.time_ns)
    glitches = find_glitches(at.x, at.y, at.t, track.accuracy, track.network & ~track.synthetic, rules)
    glitch_runs = [r for r in glitches.runs if not track.synthetic[r.first : r.last + 1].all()]
    outliers = identify(outlier_flags(fixes, at.x, at.y, at.t, glitch_runs, rules), pid, reviews)
    vouched = np.zeros(n, dtype=bool)
    for flag, run in zip(outliers, glitch_runs):
        if flag.status == "dismissed":
            vouched[run.first : run.last + 1] = True
    keep = ~(glitches.mask & ~vouched)
    keep[track.synthetic] = True
    path = KeptPath(at.x[keep], at.y[keep], at.t[keep], track.accuracy[keep], np.flatnonzero(keep))
    for flag, run in zip(outliers, glitch_runs):
        # A glitch at the start or end of the day shortens the span that the figures cover.
        lost = 0.0
        if flag.status != "dismissed" and len(path.t):
            lost = path.t[0] - at.t[0] if run.first == 0 else at.t[-1] - path.t[-1] if run.last == n - 1 else 0.0
        flag.evidence["uncounted_s"] = round(float(lost), 3)
    return outliers, path, vouched, glitches.jumps


def cut_segments(
    fixes: FixSource,
    grid: Grid | None,
    path: KeptPath,
    vouched: np.ndarray,
    jumps: list[tuple[int, int]],
    pid: str,
    reviews: Mapping[str, str],
    rules: Rules,
) -> tuple[list[Flag], list[Flag], Segments]:
    """TELEPORT and GAP flags, and the path's segments with what counts as patrol time.

    A jump is a teleport segment when its two fixes are consecutive in the kept geometry (a fix an
    auditor vouched for between them joins the path). Returns (teleport flags, gap flags, segments).
    """
    seg_dt = np.diff(path.t)
    seg_len = np.hypot(np.diff(path.x), np.diff(path.y))
    adjusted = adjusted_distance(
        path.x[:-1], path.y[:-1], path.accuracy[:-1], path.x[1:], path.y[1:], path.accuracy[1:]
    )
    gap = seg_dt > rules.max_gap_s
    teleport = np.zeros(len(seg_dt), dtype=bool)
    position = np.full(len(vouched), -1)
    position[path.index] = np.arange(len(path.index))
    for a, b in jumps:
        if position[a] >= 0 and position[b] == position[a] + 1 and not vouched[a] and not vouched[b]:
            teleport[position[a]] = True
    teleport &= ~gap
    jump_flags, jump_spans = teleport_flags(
        fixes, path.index, path.t, seg_len, adjusted, teleport, gap | teleport, rules
    )
    for flag, (first, last) in zip(identify(jump_flags, pid, reviews), jump_spans):
        if flag.status == "dismissed":
            teleport[first : last + 1] = False
    recorded = ~gap
    gaps, gap_segments = gap_flags(fixes, path.index, seg_dt, gap, rules)
    for flag, s in zip(identify(gaps, pid, reviews), gap_segments):
        if flag.status == "dismissed":
            gap[s] = False
    counted = ~gap & ~teleport
    frac = in_grid_fraction(grid, path.x, path.y) if grid is not None else np.zeros(len(seg_dt))
    in_grid = np.where(counted, seg_dt * frac, 0.0)
    return jump_flags, gaps, Segments(seg_dt, seg_len, gap, teleport, counted, frac, in_grid, counted & recorded)
