"""Site visits (households, key points): stays of a track within the visit radius of a site.

Each site's visit schedule by tier is :mod:`geoverify.assessment.schedule`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

# A little under the length of a degree of latitude, so search boxes in degrees err wide.
M_PER_DEG = 110_000.0
NS = 10**9


@dataclass(frozen=True)
class Visit:
    """A stay within the visit radius of one site.

    ``site`` indexes the site arrays given to :func:`site_visits`; ``start_s``/``end_s`` are on
    the fixes' time axis (seconds), entry and exit interpolated along the segments into and out
    of the circle; ``first``/``last`` index the first and last fix inside it.
    """

    site: int
    start_s: float
    end_s: float
    first: int
    last: int

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def _crossing(x0, y0, x1, y1, radius_m: float, entering: bool) -> np.ndarray:
    """Where (0..1) segments from (x0, y0) to (x1, y1), relative to the site, cross the circle:
    the first root of |p(s)|² = r² when entering (outside to inside), the second when leaving."""
    dx, dy = x1 - x0, y1 - y0
    a = np.maximum(dx * dx + dy * dy, 1e-300)
    b = 2.0 * (x0 * dx + y0 * dy)
    c = x0 * x0 + y0 * y0 - radius_m * radius_m
    root = np.sqrt(np.maximum(b * b - 4.0 * a * c, 0.0))
    s = (-b - root) / (2.0 * a) if entering else (-b + root) / (2.0 * a)
    return np.clip(s, 0.0, 1.0)


def site_visits(
    x: np.ndarray,
    y: np.ndarray,
    t_s: np.ndarray,
    site_x: np.ndarray,
    site_y: np.ndarray,
    radius_m: float,
    min_s: float,
    max_gap_s: float,
) -> list[Visit]:
    """Stays of at least ``min_s`` within ``radius_m`` of each site.

    A stay is a run of consecutive fixes within the radius (boundary included) with no segment
    longer than ``max_gap_s`` between them; it starts where the segment from the fix before
    enters the circle and ends where the segment to the fix after leaves it (moving in a straight
    line at constant speed), or at the first/last fix inside when that segment is a gap or
    there is none. A segment that crosses the circle with no fix inside is not a stay.

    Parameters
    ----------
    x, y : numpy.ndarray
        Fix positions in metres on one local projection.
    t_s : numpy.ndarray
        Fix times in seconds, non-decreasing.
    site_x, site_y : numpy.ndarray
        Site positions in metres on the same projection.
    radius_m, min_s, max_gap_s : float
        Visit radius (m), minimum stay (s), longest segment that is not a gap (s).

    Returns
    -------
    list of Visit
        Ordered by start time, then site.

    Examples
    --------
    >>> import numpy as np
    >>> v = site_visits(np.array([5.0, 5.0]), np.zeros(2), np.array([0.0, 200.0]),
    ...                 np.zeros(1), np.zeros(1), 30.0, 120.0, 300.0)
    >>> [(s.site, s.start_s, s.end_s) for s in v]
    [(0, 0.0, 200.0)]
    """
    x, y, t = (np.asarray(a, dtype=float) for a in (x, y, t_s))
    sx, sy = np.asarray(site_x, dtype=float), np.asarray(site_y, dtype=float)
    if not (len(x) == len(y) == len(t)):
        raise ValueError(f"site_visits: x, y and t_s must have the same length, got {len(x)}, {len(y)}, {len(t)}")
    if len(sx) != len(sy):
        raise ValueError(f"site_visits: site_x and site_y must have the same length, got {len(sx)}, {len(sy)}")
    if np.any(np.diff(t) < 0):
        raise ValueError("site_visits: t_s must be increasing (sort the fixes by time)")
    n = len(t)
    if n == 0 or len(sx) == 0:
        return []
    near = cKDTree(np.column_stack([sx, sy])).sparse_distance_matrix(
        cKDTree(np.column_stack([x, y])), radius_m, output_type="ndarray"
    )
    if len(near) == 0:
        return []
    order = np.lexsort((near["j"], near["i"]))
    site, fix = near["i"][order].astype(np.int64), near["j"][order].astype(np.int64)
    new = np.ones(len(site), dtype=bool)
    new[1:] = (site[1:] != site[:-1]) | (fix[1:] != fix[:-1] + 1) | (t[fix[1:]] - t[fix[:-1]] > max_gap_s)
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], len(site)) - 1
    site, first, last = site[starts], fix[starts], fix[ends]

    before = np.maximum(first - 1, 0)
    after = np.minimum(last + 1, n - 1)
    enters = (first > 0) & (t[first] - t[before] <= max_gap_s)
    leaves = (last < n - 1) & (t[after] - t[last] <= max_gap_s)
    cx, cy = sx[site], sy[site]
    s_in = _crossing(x[before] - cx, y[before] - cy, x[first] - cx, y[first] - cy, radius_m, entering=True)
    s_out = _crossing(x[last] - cx, y[last] - cy, x[after] - cx, y[after] - cy, radius_m, entering=False)
    start = np.where(enters, t[before] + s_in * (t[first] - t[before]), t[first])
    end = np.where(leaves, t[last] + s_out * (t[after] - t[last]), t[last])
    keep = end - start >= min_s
    visits = [
        Visit(int(s), float(a), float(b), int(f), int(g))
        for s, a, b, f, g in zip(site[keep], start[keep], end[keep], first[keep], last[keep])
    ]
    return sorted(visits, key=lambda v: (v.start_s, v.site))


VISIT_COLUMNS = ("site_id", "grid_id", "member_id", "date", "start", "end", "duration_s")


def patrol_visits(patrols: Sequence) -> pd.DataFrame:
    """The visits :func:`geoverify.patrol.verify.verify_patrol` counted (``Patrol.site_visits``: the
    patrol grid's sites), as the table :func:`visits_report` takes."""
    rows = [
        (v["site_id"], p.grid_id, p.member_id, p.date, v["start"], v["end"], v["duration_s"])
        for p in patrols
        for v in getattr(p, "site_visits", ())
    ]
    return pd.DataFrame(rows, columns=list(VISIT_COLUMNS))
