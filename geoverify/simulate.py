"""Deterministic GPS track simulator: sample patrols for the demo and tests, bulk days for benchmarks.

Everything is drawn from a seeded :class:`numpy.random.Generator`, so the same seed gives the same
fixes. Walks are built in metres on a :class:`~geoverify.projection.LocalProjection` centred on the
grid (x east, y north), then returned as WGS-84 lon/lat degrees. Times are tz-aware in
``Asia/Shanghai``; durations are seconds, distances metres, speeds m/s.

A walker moves between random waypoints inside the grid along L-shaped legs (east-west, then
north-south, or the other way round), as one walks along hutongs, pausing now and then. GPS noise
is a first-order autoregressive error (correlated over ~30 s, as real receivers drift rather than
jump); the reported ``accuracy`` is about 1.5 × the per-axis noise (a 68 % radius, as Android does).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
import shapely.affinity
import shapely.ops
from scipy.signal import lfilter
from shapely.geometry import LineString, shape
from shapely.geometry.base import BaseGeometry

from .projection import LocalProjection

TZ = "Asia/Shanghai"
CSV_COLUMNS = ("member_id", "time", "lon", "lat", "accuracy", "speed", "provider", "mock", "device_id")
WALK_MPS = 1.3          # walking speed
NOISE_M = 5.0           # per-axis GPS noise, 1 sigma
NOISE_TAU_S = 30.0      # correlation time of the GPS error
INSET_M = 8.0           # walkers keep this far inside the grid's edges (before noise)
SITE_STOP_S = 240.0     # an honest stop at a household

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


def _route(area, rng, t0: float, t1: float, speed: float, start=None, end=None, stops=(),
           stop_s: float = SITE_STOP_S) -> _Route:
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
        t *= duration / t[-1]          # walk a little faster to be there on time
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
    sigma: float = NOISE_M   # per-axis noise, m (0: a mock app's perfect fixes)
    acc: float | None = None  # median reported accuracy, m; default 1.5 × sigma
    mock: bool = False


class _Ctx:
    """One grid, one day: projection, inset walking area, clock and random source."""

    def __init__(self, polygon_lonlat: BaseGeometry, date, rng: RngLike, interval_s: float):
        c = polygon_lonlat.centroid
        self.proj = LocalProjection(c.x, c.y)
        self.poly = shapely.transform(polygon_lonlat,
                                      lambda xy: np.column_stack(self.proj.forward(xy[:, 0], xy[:, 1])))
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
            cols.append((p.t, p.x + ex, p.y + ey, np.maximum(np.broadcast_to(acc, (n,)), 3.0), spd,
                         np.full(n, p.mock)))
        t, x, y, acc, spd, mock = (np.concatenate(c) for c in zip(*cols))
        lon, lat = self.proj.inverse(x, y)
        return pd.DataFrame({
            "member_id": member_id, "time": (self.day0 + pd.to_timedelta(t, unit="s")).as_unit("ns"),
            "lon": lon, "lat": lat,
            "accuracy": np.round(acc, 1), "speed": np.round(spd, 2), "provider": "gps", "mock": mock,
            "device_id": device_id or _device(member_id)})[list(CSV_COLUMNS)]


# ----------------------------------------------------------------------------- public: one walk


def simulate_walk(polygon_lonlat: BaseGeometry, start, duration_s: float, interval_s: float = 10,
                  speed_mps: float = WALK_MPS, noise_m: float = NOISE_M, rng: RngLike = None) -> pd.DataFrame:
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


# ----------------------------------------------------------------------------- public: scenarios
# Each builder takes the member's grid polygon (lon/lat), the member id, the local date and a random
# source, and returns the fixes with the CSV columns (time tz-aware). Clock times are local.


def honest_patrol(polygon_lonlat, member_id, date, rng=None, *, stops=(), interval_s=10.0) -> pd.DataFrame:
    """08:30–11:00 and 14:00–16:30 in the grid (no fixes over lunch), stopping ~4 min at each of
    ``stops`` (lon/lat pairs; the first half in the morning)."""
    ctx = _Ctx(polygon_lonlat, date, rng, interval_s)
    xy = list(ctx.xy(stops)) if len(stops) else []
    k = (len(xy) + 1) // 2
    return ctx.emit([ctx.walk(_clock("08:30"), _clock("11:00"), stops=xy[:k]),
                     ctx.walk(_clock("14:00"), _clock("16:30"), stops=xy[k:])], member_id)


def teleport(polygon_lonlat, member_id, date, rng=None, *, jump_m=3000.0, interval_s=10.0) -> pd.DataFrame:
    """Walks the grid 08:30–09:45, then jumps ``jump_m`` north-east in one step and walks on there
    until 11:30."""
    ctx = _Ctx(polygon_lonlat, date, rng, interval_s)
    a = ctx.route(_clock("08:30"), _clock("09:45"))
    off = np.array([1.0, 0.8]) / np.hypot(1.0, 0.8) * jump_m
    away = shapely.affinity.translate(ctx.area, *off)
    shapely.prepare(away)
    b = ctx.route(_clock("09:45"), _clock("11:30"), area=away, start=np.array([a.x[-1], a.y[-1]]) + off)
    ta, tb = ctx.times(_clock("08:30"), _clock("09:45")), ctx.times(_clock("09:45"), _clock("11:30"))
    return ctx.emit([_Stretch(ta, *a.at(ta)), _Stretch(tb, *b.at(tb))], member_id)


def gps_outlier(polygon_lonlat, member_id, date, rng=None, *, at=("09:05", "09:40", "10:20", "11:02"),
                spike_m=800.0, interval_s=10.0) -> pd.DataFrame:
    """An honest 08:30–11:30 walk with lone one-fix spikes ``spike_m`` away at the ``at`` times."""
    ctx = _Ctx(polygon_lonlat, date, rng, interval_s)
    frame = ctx.emit([ctx.walk(_clock("08:30"), _clock("11:30"))], member_id)
    rows = np.searchsorted((frame["time"] - ctx.day0).dt.total_seconds().to_numpy(), [_clock(a) for a in at])
    x, y = ctx.proj.forward(frame["lon"].to_numpy()[rows], frame["lat"].to_numpy()[rows])
    ang = ctx.rng.uniform(0, 2 * np.pi, len(rows))
    lon, lat = ctx.proj.inverse(x + spike_m * np.cos(ang), y + spike_m * np.sin(ang))
    frame.loc[rows, "lon"], frame.loc[rows, "lat"] = lon, lat
    frame.loc[rows, "accuracy"] = np.round(ctx.rng.uniform(35, 60, len(rows)), 1)
    return frame


def idle(polygon_lonlat, member_id, date, rng=None, *, avoid=(), still=("09:20", "10:00"),
         interval_s=10.0) -> pd.DataFrame:
    """08:30–11:30 with the phone left on a desk from ``still[0]`` to ``still[1]`` (jitter of a few
    metres, indoor accuracy); the desk is at least 100 m from every ``avoid`` point (sites)."""
    ctx = _Ctx(polygon_lonlat, date, rng, interval_s)
    cand, desk = ctx.xy(avoid), _random_points(ctx.area, 200, ctx.rng)
    if len(cand):  # the first candidate 100 m from every site, else the farthest one
        clear = np.hypot(*(desk[:, None, :] - cand[None]).transpose(2, 0, 1)).min(axis=1)
        desk = desk[int(np.argmax(np.minimum(clear, 100.0)))]
    else:
        desk = desk[0]
    t0, t1 = _clock(still[0]), _clock(still[1])
    t = ctx.times(t0, t1)
    desk_part = _Stretch(t, np.full(len(t), desk[0]), np.full(len(t), desk[1]), np.zeros(len(t)), sigma=2.5, acc=14.0)
    return ctx.emit([ctx.walk(_clock("08:30"), t0, end=desk), desk_part,
                     ctx.walk(t1, _clock("11:30"), start=desk)], member_id)


def loop(polygon_lonlat, member_id, date, rng=None, *, radius_m=40.0, during=("09:30", "10:00"),
         interval_s=10.0) -> pd.DataFrame:
    """08:30–11:30 with ``during`` spent walking a ``radius_m`` circle (farming hours)."""
    ctx = _Ctx(polygon_lonlat, date, rng, interval_s)
    inner = ctx.area.buffer(-radius_m - 5)
    c = _random_points(inner if inner.area > 0 else ctx.area, 1, ctx.rng)[0]
    t0, t1 = _clock(during[0]), _clock(during[1])
    t = ctx.times(t0, t1)
    ang = (t - t0) * WALK_MPS / radius_m
    circle = _Stretch(t, c[0] + radius_m * np.cos(ang), c[1] + radius_m * np.sin(ang), np.full(len(t), WALK_MPS),
                      sigma=4.0)
    a, b = c + (radius_m, 0.0), c + radius_m * np.array([np.cos(ang[-1] + ang[1]), np.sin(ang[-1] + ang[1])])
    return ctx.emit([ctx.walk(_clock("08:30"), t0, end=a), circle,
                     ctx.walk(t1, _clock("11:30"), start=b)], member_id)


def vehicle(polygon_lonlat, member_id, date, rng=None, *, kmh=40.0, ride=("10:00", "10:10"),
            interval_s=10.0) -> pd.DataFrame:
    """08:30–11:30 walking, but during ``ride`` the member rides at ``kmh`` east along a main road
    and back (half the time each way), then walks on."""
    ctx = _Ctx(polygon_lonlat, date, rng, interval_s)
    t0, t1 = _clock(ride[0]), _clock(ride[1])
    reach = kmh / 3.6 * (t1 - t0) / 2
    holes = shapely.union_all([shapely.Polygon(h) for h in getattr(ctx.poly, "interiors", [])])
    for p in _random_points(ctx.area, 500, ctx.rng):  # a start whose road east misses any walled compound
        if holes.is_empty or not LineString([p, p + (reach, 0)]).intersects(holes.buffer(10)):
            break
    car = _Route(np.array([t0, (t0 + t1) / 2, t1]), np.array([p[0], p[0] + reach, p[0]]), np.full(3, p[1]))
    t = ctx.times(t0, t1)
    return ctx.emit([ctx.walk(_clock("08:30"), t0, end=p), _Stretch(t, *car.at(t)),
                     ctx.walk(t1, _clock("11:30"), start=p)], member_id)


def mock_location(polygon_lonlat, member_id, date, rng=None, *, during=("09:30", "10:30"),
                  interval_s=10.0) -> pd.DataFrame:
    """08:30–11:30 walk whose ``during`` stretch comes from a mock-location app: ``mock`` true,
    noiseless positions, a constant 3 m accuracy."""
    ctx = _Ctx(polygon_lonlat, date, rng, interval_s)
    t0, t1 = _clock(during[0]), _clock(during[1])
    r = ctx.route(_clock("08:30"), _clock("11:30"))
    ta, tb, tc = ctx.times(_clock("08:30"), t0), ctx.times(t0, t1), ctx.times(t1, _clock("11:30"))
    return ctx.emit([_Stretch(ta, *r.at(ta)), _Stretch(tb, *r.at(tb), sigma=0.0, acc=3.0, mock=True),
                     _Stretch(tc, *r.at(tc))], member_id)


def duplicate_track(polygon_lonlat, member_ids: tuple[str, str], date, rng=None, *, interval_s=10.0
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One person, two phones: the first member 08:30–11:00, the second's phone in the same pocket
    08:45–10:50 (sampled 3 s later, its own GPS error; the two stay within ~5–10 m)."""
    ctx = _Ctx(polygon_lonlat, date, rng, interval_s)
    r = ctx.route(_clock("08:30"), _clock("11:00"))
    ta, tb = ctx.times(_clock("08:30"), _clock("11:00")), ctx.times(_clock("08:45"), _clock("10:50")) + 3.0
    a = ctx.emit([_Stretch(ta, *r.at(ta), sigma=3.0)], member_ids[0])
    xb, yb, vb = r.at(tb)
    return a, ctx.emit([_Stretch(tb, xb + 0.5, yb, vb, sigma=3.0)], member_ids[1])


def crs_mismatch(polygon_lonlat, member_id, date, rng=None, *, interval_s=10.0) -> pd.DataFrame:
    """An honest 08:30–11:30 walk whose coordinates come out in GCJ-02 while nothing declares it."""
    from .chinacrs import wgs84_to_gcj02

    ctx = _Ctx(polygon_lonlat, date, rng, interval_s)
    frame = ctx.emit([ctx.walk(_clock("08:30"), _clock("11:30"))], member_id)
    frame["lon"], frame["lat"] = wgs84_to_gcj02(frame["lon"].to_numpy(), frame["lat"].to_numpy())
    return frame


def gap(polygon_lonlat, member_id, date, rng=None, *, hole=("09:40", "10:20"), interval_s=10.0) -> pd.DataFrame:
    """An honest 08:30–11:30 walk with no fixes during ``hole`` (battery saver killed the app)."""
    ctx = _Ctx(polygon_lonlat, date, rng, interval_s)
    frame = ctx.emit([ctx.walk(_clock("08:30"), _clock("11:30"))], member_id)
    s = (frame["time"] - ctx.day0).dt.total_seconds()
    return frame[(s < _clock(hole[0])) | (s >= _clock(hole[1]))].reset_index(drop=True)


def unassigned(polygon_lonlat, member_id, date, rng=None, *, interval_s=10.0) -> pd.DataFrame:
    """An honest 08:30–11:00 walk in a grid by a member that no grid lists."""
    ctx = _Ctx(polygon_lonlat, date, rng, interval_s)
    return ctx.emit([ctx.walk(_clock("08:30"), _clock("11:00"))], member_id)


# ----------------------------------------------------------------------------- public: sites, events

TIERS = ("red", "yellow", "green")
_EVENT_TEXT = {
    "garbage": "胡同口堆放装修垃圾，需清运",
    "illegal_parking": "机动车违规停放，堵住胡同口",
    "blocked_fire_lane": "楼道堆放杂物，堵塞消防通道",
    "street_vending": "流动摊贩占道经营",
    "broken_facility": "井盖破损，存在安全隐患",
    "illegal_construction": "院内私搭乱建",
}


def simulate_sites(grids: Mapping[str, BaseGeometry], rng: RngLike = None,
                   per_grid: Sequence[int] = (4, 2, 2, 2, 1, 1)) -> pd.DataFrame:
    """Households to visit: ``per_grid[i % len(per_grid)]`` in the i-th grid, at least 25 m inside it
    and 60 m from each other; tiers cycle red, yellow, green.

    Returns
    -------
    pandas.DataFrame
        ``site_id, grid_id, lon, lat`` (WGS-84 degrees), ``tier``.
    """
    rng, rows = _rng(rng), []
    for i, (grid_id, poly) in enumerate(grids.items()):
        ctx = _Ctx(poly, "2000-01-01", rng, 10)
        inner = ctx.poly.buffer(-25.0)
        chosen: list[np.ndarray] = []
        for p in _random_points(inner if inner.area > 0 else ctx.poly, 400, rng):
            if len(chosen) == per_grid[i % len(per_grid)]:
                break
            if all(np.hypot(*(p - c)) >= 60 for c in chosen):
                chosen.append(p)
        lon, lat = ctx.proj.inverse(*np.asarray(chosen).reshape(-1, 2).T)
        rows += [(grid_id, a, b) for a, b in zip(lon, lat)]
    return pd.DataFrame({"site_id": [f"S{k + 1:03d}" for k in range(len(rows))],
                         "grid_id": [r[0] for r in rows], "lon": [r[1] for r in rows], "lat": [r[2] for r in rows],
                         "tier": [TIERS[k % 3] for k in range(len(rows))]})


def simulate_events(tracks: Mapping[str, pd.DataFrame], member_grids: Mapping[str, BaseGeometry],
                    rng: RngLike = None, *, reporter: str, others: Sequence[str]) -> pd.DataFrame:
    """Event reports around simulated tracks, with one case for each event flag.

    ``reporter`` (a track with two visits of the same street at least 1 h apart) files two
    reports a few metres from where they stand, one 1 km away from where they are
    (``EVENT_FAR_FROM_TRACK``) and one that repeats their first report's category within 10 m
    (``EVENT_DUPLICATE``). ``others[0]`` files one next to their track and one ~55 m beyond their
    grid's edge while standing near it (``EVENT_OUTSIDE_GRID``); ``others[1]`` one next to theirs.

    Parameters
    ----------
    tracks : mapping of member id to frame with ``time, lon, lat, accuracy``
    member_grids : mapping of member id to their grid polygon (WGS-84 lon/lat)

    Returns
    -------
    pandas.DataFrame
        ``event_id, member_id, time`` (tz-aware), ``lon, lat`` (WGS-84), ``category``,
        ``photo_sha256``, ``description``; ids in time order.
    """
    rng, rows = _rng(rng), []

    def member(m):
        ctx, f = _Ctx(member_grids[m], "2000-01-01", rng, 10), tracks[m].reset_index(drop=True)
        return ctx, f, ctx.xy(f[["lon", "lat"]].to_numpy()), f["accuracy"].to_numpy() < 25

    def report(m, ctx, f, i, xy, category, text=None):
        lon, lat = ctx.proj.inverse([xy[0]], [xy[1]])
        rows.append((m, f["time"].iloc[i] + pd.Timedelta(seconds=int(rng.integers(0, 8))), float(lon[0]),
                     float(lat[0]), category, hashlib.sha256(rng.bytes(64)).hexdigest(), text or _EVENT_TEXT[category]))

    def nudge(lo, hi):
        a, r = rng.uniform(0, 2 * np.pi), rng.uniform(lo, hi)
        return r * np.array([np.cos(a), np.sin(a)])

    ctx, f, xy, good = member(reporter)
    n, t = len(f), (f["time"] - f["time"].iloc[0]).dt.total_seconds().to_numpy()
    first, second = np.flatnonzero(good[: n // 2]), np.flatnonzero(good[n // 2:]) + n // 2
    d = np.hypot(*(xy[first][:, None] - xy[second][None]).transpose(2, 0, 1))
    d[t[second][None] - t[first][:, None] < 3600] = np.inf
    pairs = np.argwhere(d < 10)  # the same spot passed again at least an hour later (else the nearest)
    ii, jj = pairs[rng.integers(len(pairs))] if len(pairs) else np.unravel_index(np.argmin(d), d.shape)
    i, j = first[ii], second[jj]
    spot = xy[i] + nudge(2, 6)
    report(reporter, ctx, f, i, spot, "garbage")
    report(reporter, ctx, f, j, spot + nudge(2, 8), "garbage", "同一处装修垃圾再次上报")
    b = rng.choice(first[np.abs(first - i) > 60])
    report(reporter, ctx, f, b, xy[b] + nudge(3, 12), "illegal_parking")
    c = rng.choice(second[np.abs(second - j) > 60])
    report(reporter, ctx, f, c, xy[c] + nudge(1000, 1000), "street_vending")

    ctx, f, xy, good = member(others[0])
    ok = np.flatnonzero(good)
    e = rng.choice(ok[ok < len(f) // 2])
    report(others[0], ctx, f, e, xy[e] + nudge(3, 12), "blocked_fire_lane")
    ring = max(getattr(ctx.poly, "geoms", [ctx.poly]), key=lambda g: g.area).exterior
    pts = shapely.points(xy)
    edge = shapely.distance(ring, pts)
    for g in rng.permutation(ok[(ok >= len(f) // 2) & (edge[ok] >= 10) & (edge[ok] <= 50)
                                & shapely.contains_xy(ctx.poly, xy[ok, 0], xy[ok, 1])]):
        q = np.asarray(ring.interpolate(ring.project(pts[g])).coords[0])
        loc = q + (q - xy[g]) / np.hypot(*(q - xy[g])) * 55.0
        if ctx.poly.distance(shapely.Point(loc)) >= 40 and np.hypot(*(loc - xy[g])) <= 120:
            report(others[0], ctx, f, g, loc, "illegal_construction")
            break

    ctx, f, xy, good = member(others[1])
    h = rng.choice(np.flatnonzero(good))
    report(others[1], ctx, f, h, xy[h] + nudge(3, 12), "broken_facility")

    out = pd.DataFrame(rows, columns=["member_id", "time", "lon", "lat", "category", "photo_sha256", "description"])
    out = out.sort_values("time", kind="stable").reset_index(drop=True)
    out.insert(0, "event_id", [f"E{k + 1:03d}" for k in range(len(out))])
    return out


# ----------------------------------------------------------------------------- public: sample files

#: (scenario, member) of the sample day; each member patrols the grid that lists them.
PLAN: tuple[tuple[str, str | tuple[str, str]], ...] = (
    ("honest", "M001"), ("teleport", "M002"), ("gps_outlier", "M003"), ("idle", "M004"), ("loop", "M005"),
    ("vehicle", "M006"), ("mock_location", "M007"), ("duplicate_track", ("M008", "M009")),
    ("crs_mismatch", "M010"), ("gap", "M011"), ("unassigned", "M012"))
UNASSIGNED_WALKS_IN = 3  # index of the grid the unassigned member walks in (DC-04 in the sample)


def load_grids(path: str | Path) -> dict[str, tuple[BaseGeometry, tuple[str, ...]]]:
    """``grid_id → (polygon, members)`` of a GeoJSON FeatureCollection (WGS-84 lon/lat)."""
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    out = {}
    for feat in doc["features"]:
        props = feat.get("properties") or {}
        members = props.get("members") or []
        if isinstance(members, str):
            members = json.loads(members) if members.strip().startswith("[") else members.split(",")
        out[str(props["grid_id"])] = (shape(feat["geometry"]), tuple(str(m).strip() for m in members))
    return out


def _iso(times: pd.Series) -> pd.Series:
    s = times.dt.strftime("%Y-%m-%dT%H:%M:%S%z")
    return s.str[:-2] + ":" + s.str[-2:]


def _write_csv(frame: pd.DataFrame, path: Path, decimals: Mapping[str, int]) -> Path:
    out = frame.copy()
    if "time" in out:
        out["time"] = _iso(out["time"])
    for col, n in decimals.items():
        out[col] = out[col].round(n)
    if "mock" in out:
        out["mock"] = np.where(out["mock"].to_numpy(dtype=bool), "true", "false")
    path.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(path, index=False, lineterminator="\n", encoding="utf-8")
    return path


def write_samples(grids_path: str | Path, out_dir: str | Path, date: str = "2026-11-02",
                  seed: int = 20261102) -> list[Path]:
    """Write the sample day: one track CSV per scenario of :data:`PLAN`, events and sites.

    Tracks go to ``out_dir/<scenario>_<member>.csv`` (columns :data:`CSV_COLUMNS`, times ISO 8601
    with offset, lon/lat 6 decimals). Events go to ``out_dir/events/events.csv`` and sites to
    ``out_dir/sites/sites.csv``, in sub-folders so that ``out_dir`` itself reads as a folder of
    tracks; the motion model's scenarios (:mod:`geoverify.motion_scenarios`) go to ``out_dir/motion``.
    A member patrols the grid whose ``members`` lists them (else, and for the unassigned member, a grid
    chosen by position in the file).

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    grids, out_dir = load_grids(grids_path), Path(out_dir)
    ids = list(grids)
    polys = {g: p for g, (p, _) in grids.items()}
    home = {m: g for g, (_, ms) in grids.items() for m in ms}
    sites = simulate_sites(polys, np.random.default_rng([seed, 100]))
    tracks, paths, where = {}, [], {}
    for k, (name, who) in enumerate(PLAN):
        first = who if isinstance(who, str) else who[0]
        fallback = ids[(UNASSIGNED_WALKS_IN if name == "unassigned" else k) % len(ids)]
        grid_id = fallback if name == "unassigned" else home.get(first, fallback)
        poly, rng, mine = polys[grid_id], np.random.default_rng([seed, k]), sites[sites["grid_id"] == grid_id]
        if name == "honest":
            frames = [honest_patrol(poly, who, date, rng, stops=mine[["lon", "lat"]].to_numpy()[:3])]
        elif name == "idle":
            frames = [idle(poly, who, date, rng, avoid=mine[["lon", "lat"]].to_numpy())]
        elif name == "duplicate_track":
            frames = list(duplicate_track(poly, who, date, rng))  # type: ignore[arg-type]  # PLAN gives it two ids
        else:
            frames = [SCENARIOS[name](poly, who, date, rng)]
        for frame in frames:
            m = frame["member_id"].iloc[0]
            tracks[m], where[m] = frame, grid_id
            paths.append(_write_csv(frame, out_dir / f"{name}_{m}.csv",
                                    {"lon": 6, "lat": 6, "accuracy": 1, "speed": 2}))
    events = simulate_events(tracks, {m: polys[g] for m, g in where.items()}, np.random.default_rng([seed, 101]),
                             reporter="M001", others=("M003", "M005"))
    paths.append(_write_csv(events, out_dir / "events" / "events.csv", {"lon": 6, "lat": 6}))
    paths.append(_write_csv(sites, out_dir / "sites" / "sites.csv", {"lon": 6, "lat": 6}))
    from .motion_scenarios import write_motion_samples

    paths += write_motion_samples(out_dir / "motion", date)
    return paths


#: Builders taking ``(polygon_lonlat, member_id, date, rng)``; :func:`duplicate_track` takes two members.
SCENARIOS: dict[str, Callable[..., pd.DataFrame]] = {
             "honest": honest_patrol, "teleport": teleport, "gps_outlier": gps_outlier, "idle": idle, "loop": loop,
             "vehicle": vehicle, "mock_location": mock_location, "crs_mismatch": crs_mismatch, "gap": gap,
             "unassigned": unassigned}


# ----------------------------------------------------------------------------- public: bulk city day


def _polygons(grids) -> list[BaseGeometry]:
    if isinstance(grids, (str, Path)):
        return [p for p, _ in load_grids(grids).values()]
    if isinstance(grids, Mapping):
        grids = list(grids.values())
    elif hasattr(grids, "geometry") and not isinstance(grids, BaseGeometry):  # a GeoDataFrame
        grids = list(grids.geometry)
    return [g[0] if isinstance(g, tuple) else getattr(g, "geometry_wgs84", g) for g in grids]  # (poly, members)


def simulate_city(grids, n_members: int, date="2026-11-02", interval_s: float = 10.0, seed: int = 0, *,
                  start: str = "08:00", hours: float = 8.0, pool: int = 256) -> pd.DataFrame:
    """A city's day of patrols for benchmarks, generated for all members at once.

    Member ``C00000 + i`` walks grid ``i % len(grids)`` from ``start`` for ``hours``: street-like
    L-shaped legs between waypoints drawn from ``pool`` points inside the grid, short pauses,
    1.0–1.5 m/s, correlated GPS noise of 3–7 m. Legs of non-convex grids may cut a corner outside.

    Parameters
    ----------
    grids : path to a GeoJSON, mapping of id to polygon, or sequence of polygons / Grid objects
        Polygons in WGS-84 lon/lat.
    n_members : int
    date : date-like
        Local (``Asia/Shanghai``) date.
    interval_s : float
        Seconds between fixes.
    seed : int

    Returns
    -------
    pandas.DataFrame
        ``n_members × ceil(hours * 3600 / interval_s)`` rows sorted by member and time, with
        :data:`CSV_COLUMNS` (``time`` tz-aware; ids, provider and device as categoricals).
    """
    polys, rng = _polygons(grids), np.random.default_rng(seed)
    n_grids, n_t = len(polys), int(np.ceil(hours * 3600.0 / interval_s))
    duration = n_t * interval_s
    plon, plat, kx, ky, leg = (np.empty((n_grids, pool)), np.empty((n_grids, pool)), np.empty(n_grids),
                               np.empty(n_grids), np.empty(n_grids))
    e2 = 0.00669437999014
    for g, poly in enumerate(polys):
        ctx = _Ctx(poly, date, rng, interval_s)
        pts = _random_points(ctx.area, pool, rng)
        plon[g], plat[g] = ctx.proj.inverse(pts[:, 0], pts[:, 1])
        s = np.sin(np.radians(ctx.proj.lat0)) ** 2  # metres per degree on the WGS-84 ellipsoid
        kx[g] = np.radians(6378137.0) * np.cos(np.radians(ctx.proj.lat0)) / np.sqrt(1 - e2 * s)
        ky[g] = np.radians(6378137.0) * (1 - e2) / (1 - e2 * s) ** 1.5
        leg[g] = np.abs(pts[1:] - pts[:-1]).sum(axis=1).mean()
    gm = np.arange(n_members) % n_grids
    speed = rng.uniform(1.0, 1.5, n_members)
    n_wp = int(np.ceil(duration / (leg.min() / 1.5) * 1.2)) + 4
    pick = rng.integers(0, pool, (n_members, n_wp))
    wlon, wlat = plon[gm[:, None], pick], plat[gm[:, None], pick]
    flip = rng.random((n_members, n_wp - 1)) < 0.5
    klon, klat = np.empty((n_members, 3 * n_wp)), np.empty((n_members, 3 * n_wp))
    for k_, w, corner in ((klon, wlon, np.where(flip, wlon[:, :-1], wlon[:, 1:])),
                          (klat, wlat, np.where(flip, wlat[:, 1:], wlat[:, :-1]))):
        k_[:, 0::3], k_[:, 1::3], k_[:, 2::3] = w, w, np.column_stack([corner, w[:, -1]])
    klon, klat = klon[:, :-1], klat[:, :-1]  # arrive, leave (after a pause), corner, arrive, ...
    dist = np.hypot(np.diff(klon) * kx[gm, None], np.diff(klat) * ky[gm, None])
    dt_k = dist / speed[:, None]
    dt_k[:, 0::3] = rng.exponential(20.0, (n_members, n_wp)) * (rng.random((n_members, n_wp)) < 0.35)
    tk = np.concatenate([np.zeros((n_members, 1)), np.cumsum(dt_k, axis=1)], axis=1)
    short = tk[:, -1] <= duration
    tk[short] *= (duration * 1.001 / tk[short, -1])[:, None]
    t = np.arange(n_t) * interval_s
    offset = np.arange(n_members)[:, None] * (tk[:, -1].max() + 1.0)
    flat, q = (tk + offset).ravel(), (t[None, :] + offset).ravel()
    i = np.searchsorted(flat, q, side="right") - 1
    frac = (q - flat[i]) / (flat[i + 1] - flat[i])
    lon_f, lat_f = klon.ravel(), klat.ravel()
    lon = (lon_f[i] + frac * (lon_f[i + 1] - lon_f[i])).reshape(n_members, n_t)
    lat = (lat_f[i] + frac * (lat_f[i + 1] - lat_f[i])).reshape(n_members, n_t)
    v = np.column_stack([np.divide(dist, dt_k, out=np.zeros_like(dist), where=dt_k > 0),
                         np.zeros(n_members)]).ravel()[i]
    sigma = rng.uniform(3.0, 7.0, n_members)
    lon += _ar_noise((n_members, n_t), sigma, interval_s, rng) / kx[gm, None]
    lat += _ar_noise((n_members, n_t), sigma, interval_s, rng) / ky[gm, None]
    size = n_members * n_t
    t0 = (_day_start(date) + pd.Timedelta(seconds=_clock(start))).value
    codes = np.repeat(np.arange(n_members), n_t)
    names = [f"C{m:05d}" for m in range(n_members)]
    return pd.DataFrame({
        "member_id": pd.Categorical.from_codes(codes, pd.Index(names)),
        "time": pd.DatetimeIndex(np.tile(t0 + (t * 1e9).astype(np.int64), n_members).view("M8[ns]"))
                  .tz_localize("UTC").tz_convert(TZ),
        "lon": lon.ravel(), "lat": lat.ravel(),
        "accuracy": np.round(1.5 * np.repeat(sigma, n_t) * rng.lognormal(0, 0.25, size), 1),
        "speed": np.round(np.clip(v + rng.normal(0, 0.12, size), 0, None), 2),
        "provider": pd.Categorical.from_codes(np.zeros(size, np.int8), pd.Index(["gps"])),
        "mock": np.zeros(size, bool),
        "device_id": pd.Categorical.from_codes(codes, pd.Index([_device(m) for m in names])),
    })
