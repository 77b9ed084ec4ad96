"""Deterministic GPS track simulator: sample patrols for the demo and tests, bulk days for benchmarks.

Everything is drawn from a seeded :class:`numpy.random.Generator`, so the same seed gives the same
fixes. Walks are built in metres on a :class:`~geoverify.geo.projection.LocalProjection` centred on the
grid (x east, y north), then returned as WGS-84 lon/lat degrees. Times are tz-aware in
``Asia/Shanghai``; durations are seconds, distances metres, speeds m/s.

A walker moves between random waypoints inside the grid along L-shaped legs (east-west, then
north-south, or the other way round), as one walks along hutongs, pausing now and then. GPS noise
is a first-order autoregressive error (correlated over ~30 s, as real receivers drift rather than
jump); the reported ``accuracy`` is about 1.5 × the per-axis noise (a 68 % radius, as Android does).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
import shapely.affinity
import shapely.ops
from scipy.signal import lfilter
from shapely.geometry import LineString
from shapely.geometry.base import BaseGeometry

from geoverify.geo.projection import LocalProjection
from geoverify.io.times import DEFAULT_TZ
from geoverify.schema import TRACK_OPTIONAL, TRACK_REQUIRED

TZ = DEFAULT_TZ
CSV_COLUMNS = TRACK_REQUIRED + TRACK_OPTIONAL
WALK_MPS = 1.3  # walking speed
NOISE_M = 5.0  # per-axis GPS noise, 1 sigma
NOISE_TAU_S = 30.0  # correlation time of the GPS error
INSET_M = 8.0  # walkers keep this far inside the grid's edges (before noise)
SITE_STOP_S = 240.0  # an honest stop at a household

RngLike = np.random.Generator | int | None


def _rng(rng: RngLike) -> np.random.Generator:
    """A Generator as is; an int seeds one; None means seed 0 (deterministic by default)."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(0 if rng is None else rng)


def _day_start(date) -> pd.Timestamp:
    return pd.Timestamp(pd.Timestamp(date).date()).tz_localize(TZ)


def _clock(hhmm: str) -> float:
    """'08:30' → seconds after local midnight."""
    h, m = hhmm.split(":")
    return int(h) * 3600.0 + int(m) * 60.0


def _device(member_id: str, n: int = 1) -> str:
    return f"DEV-{hashlib.sha1(f'{member_id}/{n}'.encode()).hexdigest()[:8].upper()}"


def _ar_noise(shape, sigma, interval_s: float, rng: np.random.Generator) -> np.ndarray:
    """AR(1) noise along the last axis with stationary standard deviation ``sigma`` (metres)."""
    phi = float(np.exp(-interval_s / NOISE_TAU_S))
    w = rng.standard_normal(shape)
    z = rng.standard_normal(shape[:-1] + (1,))
    sig = np.asarray(sigma, dtype=float)
    sig_b = sig[..., None] if sig.ndim else sig
    out = lfilter([np.sqrt(1 - phi * phi)], [1.0, -phi], w, axis=-1, zi=phi * z)[0]
    return out * sig_b


def _random_points(area: BaseGeometry, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` uniform points (metres) inside ``area``, by rejection in its bounding box."""
    minx, miny, maxx, maxy = area.bounds
    out = np.empty((0, 2))
    while len(out) < n:
        cand = rng.uniform((minx, miny), (maxx, maxy), size=(max(2 * n, 16), 2))
        out = np.vstack([out, cand[shapely.contains_xy(area, cand[:, 0], cand[:, 1])]])
    return out[:n]


def _leg(area: BaseGeometry, p: np.ndarray, q: np.ndarray, rng: np.random.Generator) -> list | None:
    """Vertices after ``p`` of a street-like leg to ``q`` staying in ``area``; None when there is none."""
    corners = [np.array([q[0], p[1]]), np.array([p[0], q[1]])]
    if rng.random() < 0.5:
        corners.reverse()
    for c in corners:
        if area.covers(LineString([p, c, q])):
            return [c, q]
    return [q] if area.covers(LineString([p, q])) else None


def _into(area: BaseGeometry, p) -> np.ndarray:
    """``p`` (metres), or the nearest point of ``area`` when it lies outside."""
    p = np.asarray(p, float)
    if area.covers(shapely.Point(p)):
        return p
    inner = area.buffer(-0.5)  # a hair inside, so that legs to it are covered despite rounding
    return np.asarray(shapely.ops.nearest_points(inner if inner.area > 0 else area, shapely.Point(p))[0].coords[0])


@dataclass
class _Route:
    """A piecewise-linear true path: knot times (s after local midnight) and positions (m)."""

    t: np.ndarray
    x: np.ndarray
    y: np.ndarray

    def at(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Position and true speed at times ``t``."""
        x, y = np.interp(t, self.t, self.x), np.interp(t, self.t, self.y)
        dt_k = np.diff(self.t)
        v = np.divide(np.hypot(np.diff(self.x), np.diff(self.y)), dt_k, out=np.zeros_like(dt_k), where=dt_k > 0)
        i = np.clip(np.searchsorted(self.t, t, side="right") - 1, 0, max(len(v) - 1, 0))
        return x, y, (v[i] if len(v) else np.zeros_like(x))


def _route(
    area, rng, t0: float, t1: float, speed: float, start=None, end=None, stops=(), stop_s: float = SITE_STOP_S
) -> _Route:
    """A walk from ``t0`` to ``t1`` between random waypoints, visiting ``stops`` (spread over the
    time) and arriving at ``end`` at ``t1`` when given."""
    duration = t1 - t0
    pos = _into(area, start) if start is not None else _random_points(area, 1, rng)[0]
    ts, pts = [0.0], [pos]
    stops = [_into(area, s) for s in stops]
    end = None if end is None else _into(area, end)
    due = [duration * (i + 1) / (len(stops) + 1) for i in range(len(stops))]

    def go(target, v) -> bool:
        nonlocal pos
        path = _leg(area, pos, target, rng)
        for p in path or ():
            d = float(np.hypot(*(p - pos)))
            if d > 1e-9:
                ts.append(ts[-1] + d / v)
                pts.append(p)
                pos = p
        return path is not None

    def stay(s: float) -> None:
        if s > 0:
            ts.append(ts[-1] + s)
            pts.append(pos)

    for _ in range(100_000):
        v = speed * rng.lognormal(0.0, 0.08)
        if end is None and ts[-1] >= duration:
            break
        if end is not None and ts[-1] + (np.abs(end - pos).sum() * 1.15 + 250.0) / v >= duration:
            if go(end, v):
                break
        elif stops and ts[-1] >= due[0]:
            if go(stops[0], v):
                stops.pop(0), due.pop(0)
                stay(stop_s * rng.uniform(0.95, 1.25))
                continue
        if go(_random_points(area, 1, rng)[0], v) and rng.random() < 0.3:
            stay(rng.uniform(10.0, 60.0))  # a look round, a word with a neighbour
    else:  # pragma: no cover - only for degenerate areas
        raise RuntimeError("could not route a walk inside the polygon")
    t = np.asarray(ts)
    if end is not None and t[-1] > duration:
        t *= duration / t[-1]  # walk a little faster to be there on time
    elif end is not None:
        t, pts = np.append(t, duration), pts + [pos]
    xy = np.asarray(pts)
    return _Route(t + t0, xy[:, 0], xy[:, 1])


@dataclass
class _Stretch:
    """Fixes of one kind: times (s after local midnight), true positions (m) and speeds (m/s)."""

    t: np.ndarray
    x: np.ndarray
    y: np.ndarray
    v: np.ndarray
    sigma: float = NOISE_M  # per-axis noise, m (0: a mock app's perfect fixes)
    acc: float | None = None  # median reported accuracy, m; default 1.5 × sigma
    mock: bool = False


class _Ctx:
    """One grid, one day: projection, inset walking area, clock and random source."""

    def __init__(self, polygon_lonlat: BaseGeometry, date, rng: RngLike, interval_s: float):
        c = polygon_lonlat.centroid
        self.proj = LocalProjection(c.x, c.y)
        self.poly = shapely.transform(polygon_lonlat, lambda xy: np.column_stack(self.proj.forward(xy[:, 0], xy[:, 1])))
        area = self.poly.buffer(-INSET_M)
        self.area = area if area.area > 0.2 * self.poly.area else self.poly
        shapely.prepare(self.area)
        self.day0, self.dt, self.rng = _day_start(date), float(interval_s), _rng(rng)

    def xy(self, lonlat) -> np.ndarray:
        a = np.asarray(lonlat, float).reshape(-1, 2)
        return np.column_stack(self.proj.forward(a[:, 0], a[:, 1]))

    def times(self, t0: float, t1: float) -> np.ndarray:
        return np.arange(t0, t1 - 1e-9, self.dt)

    def route(self, t0, t1, area=None, speed=WALK_MPS, **kw) -> _Route:
        return _route(self.area if area is None else area, self.rng, t0, t1, speed, **kw)

    def walk(self, t0, t1, sigma=NOISE_M, **kw) -> _Stretch:
        t = self.times(t0, t1)
        return _Stretch(t, *self.route(t0, t1, **kw).at(t), sigma=sigma)

    def emit(self, parts: Sequence[_Stretch], member_id: str, device_id: str | None = None) -> pd.DataFrame:
        """Noisy fixes of the stretches, in time order, with the CSV columns."""
        rng, cols = self.rng, []
        for p in parts:
            n = len(p.t)
            ex, ey = _ar_noise((2, n), p.sigma, self.dt, rng) if n else (np.zeros(0), np.zeros(0))
            acc = (p.acc if p.acc is not None else 1.5 * p.sigma) * (rng.lognormal(0, 0.25, n) if p.sigma else 1.0)
            spd = np.clip(p.v + (rng.normal(0, 0.12, n) if p.sigma else 0.0), 0, None)
            cols.append((p.t, p.x + ex, p.y + ey, np.maximum(np.broadcast_to(acc, (n,)), 3.0), spd, np.full(n, p.mock)))
        t, x, y, acc, spd, mock = (np.concatenate(c) for c in zip(*cols))
        lon, lat = self.proj.inverse(x, y)
        return pd.DataFrame(
            {
                "member_id": member_id,
                "time": (self.day0 + pd.to_timedelta(t, unit="s")).as_unit("ns"),
                "lon": lon,
                "lat": lat,
                "accuracy": np.round(acc, 1),
                "speed": np.round(spd, 2),
                "provider": "gps",
                "mock": mock,
                "device_id": device_id or _device(member_id),
            }
        )[list(CSV_COLUMNS)]


# ----------------------------------------------------------------------------- public: one walk


def simulate_walk(
    polygon_lonlat: BaseGeometry,
    start,
    duration_s: float,
    interval_s: float = 10,
    speed_mps: float = WALK_MPS,
    noise_m: float = NOISE_M,
    rng: RngLike = None,
) -> pd.DataFrame:
    """A person walking the streets of a polygon, as a phone records it.

    Parameters
    ----------
    polygon_lonlat : shapely Polygon or MultiPolygon
        WGS-84 lon/lat degrees; holes are never walked through.
    start : datetime-like
        Time of the first fix; a naive time is read in ``Asia/Shanghai``.
    duration_s : float
        Seconds covered: fixes at ``start + k * interval_s`` for ``k * interval_s < duration_s``.
    interval_s : float
        Seconds between fixes.
    speed_mps : float
        Median walking speed in m/s (each leg varies by about 8 %).
    noise_m : float
        Per-axis GPS error, 1 sigma, metres (0 for the true path).
    rng : numpy.random.Generator or int, optional
        Random source or seed (None: seed 0).

    Returns
    -------
    pandas.DataFrame
        ``time`` (tz-aware), ``lon``, ``lat`` (WGS-84 degrees), ``accuracy`` (reported 68 % radius, m).
    """
    start = pd.Timestamp(start)
    start = start.tz_localize(TZ) if start.tzinfo is None else start
    ctx = _Ctx(polygon_lonlat, start, rng, interval_s)
    t0 = (start - ctx.day0).total_seconds()
    frame = ctx.emit([ctx.walk(t0, t0 + duration_s, sigma=noise_m, speed=speed_mps)], "-")
    return frame[["time", "lon", "lat", "accuracy"]]
