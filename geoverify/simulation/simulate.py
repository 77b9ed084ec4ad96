"""Simulated patrols with one anomaly each (teleport, GPS outlier, idle, loop, vehicle, mock location, two
phones, GCJ-02, gap, unassigned), and the sites and event reports of a simulated day.

Built on the walks of :mod:`geoverify.simulation.walks`: deterministic for a seed; times tz-aware in
``Asia/Shanghai``, positions WGS-84 lon/lat degrees, distances metres, durations seconds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import shapely
import shapely.affinity
import shapely.ops
from shapely.geometry import LineString
from shapely.geometry.base import BaseGeometry

from geoverify.schema import SITE_TIERS
from geoverify.simulation.walks import (
    WALK_MPS,
    RngLike,
    _clock,
    _Ctx,
    _random_points,
    _rng,
    _Route,
    _Stretch,
)

# ----------------------------------------------------------------------------- public: scenarios
# Each builder takes the member's grid polygon (lon/lat), the member id, the local date and a random
# source, and returns the fixes with the CSV columns (time tz-aware). Clock times are local.


def honest_patrol(polygon_lonlat, member_id, date, rng=None, *, stops=(), interval_s=10.0) -> pd.DataFrame:
    """08:30–11:00 and 14:00–16:30 in the grid (no fixes over lunch), stopping ~4 min at each of
    ``stops`` (lon/lat pairs; the first half in the morning)."""
    ctx = _Ctx(polygon_lonlat, date, rng, interval_s)
    xy = list(ctx.xy(stops)) if len(stops) else []
    k = (len(xy) + 1) // 2
    return ctx.emit(
        [
            ctx.walk(_clock("08:30"), _clock("11:00"), stops=xy[:k]),
            ctx.walk(_clock("14:00"), _clock("16:30"), stops=xy[k:]),
        ],
        member_id,
    )


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


def gps_outlier(
    polygon_lonlat,
    member_id,
    date,
    rng=None,
    *,
    at=("09:05", "09:40", "10:20", "11:02"),
    spike_m=800.0,
    interval_s=10.0,
) -> pd.DataFrame:
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


def idle(
    polygon_lonlat, member_id, date, rng=None, *, avoid=(), still=("09:20", "10:00"), interval_s=10.0
) -> pd.DataFrame:
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
    return ctx.emit(
        [ctx.walk(_clock("08:30"), t0, end=desk), desk_part, ctx.walk(t1, _clock("11:30"), start=desk)], member_id
    )


def loop(
    polygon_lonlat, member_id, date, rng=None, *, radius_m=40.0, during=("09:30", "10:00"), interval_s=10.0
) -> pd.DataFrame:
    """08:30–11:30 with ``during`` spent walking a ``radius_m`` circle (farming hours)."""
    ctx = _Ctx(polygon_lonlat, date, rng, interval_s)
    inner = ctx.area.buffer(-radius_m - 5)
    c = _random_points(inner if inner.area > 0 else ctx.area, 1, ctx.rng)[0]
    t0, t1 = _clock(during[0]), _clock(during[1])
    t = ctx.times(t0, t1)
    ang = (t - t0) * WALK_MPS / radius_m
    circle = _Stretch(
        t, c[0] + radius_m * np.cos(ang), c[1] + radius_m * np.sin(ang), np.full(len(t), WALK_MPS), sigma=4.0
    )
    a, b = c + (radius_m, 0.0), c + radius_m * np.array([np.cos(ang[-1] + ang[1]), np.sin(ang[-1] + ang[1])])
    return ctx.emit([ctx.walk(_clock("08:30"), t0, end=a), circle, ctx.walk(t1, _clock("11:30"), start=b)], member_id)


def vehicle(
    polygon_lonlat, member_id, date, rng=None, *, kmh=40.0, ride=("10:00", "10:10"), interval_s=10.0
) -> pd.DataFrame:
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
    return ctx.emit(
        [ctx.walk(_clock("08:30"), t0, end=p), _Stretch(t, *car.at(t)), ctx.walk(t1, _clock("11:30"), start=p)],
        member_id,
    )


def mock_location(
    polygon_lonlat, member_id, date, rng=None, *, during=("09:30", "10:30"), interval_s=10.0
) -> pd.DataFrame:
    """08:30–11:30 walk whose ``during`` stretch comes from a mock-location app: ``mock`` true,
    noiseless positions, a constant 3 m accuracy."""
    ctx = _Ctx(polygon_lonlat, date, rng, interval_s)
    t0, t1 = _clock(during[0]), _clock(during[1])
    r = ctx.route(_clock("08:30"), _clock("11:30"))
    ta, tb, tc = ctx.times(_clock("08:30"), t0), ctx.times(t0, t1), ctx.times(t1, _clock("11:30"))
    return ctx.emit(
        [_Stretch(ta, *r.at(ta)), _Stretch(tb, *r.at(tb), sigma=0.0, acc=3.0, mock=True), _Stretch(tc, *r.at(tc))],
        member_id,
    )


def duplicate_track(
    polygon_lonlat, member_ids: tuple[str, str], date, rng=None, *, interval_s=10.0
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
    from geoverify.geo.chinacrs import wgs84_to_gcj02

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

TIERS = SITE_TIERS
_EVENT_TEXT = {
    "garbage": "胡同口堆放装修垃圾，需清运",
    "illegal_parking": "机动车违规停放，堵住胡同口",
    "blocked_fire_lane": "楼道堆放杂物，堵塞消防通道",
    "street_vending": "流动摊贩占道经营",
    "broken_facility": "井盖破损，存在安全隐患",
    "illegal_construction": "院内私搭乱建",
}


def simulate_sites(
    grids: Mapping[str, BaseGeometry], rng: RngLike = None, per_grid: Sequence[int] = (4, 2, 2, 2, 1, 1)
) -> pd.DataFrame:
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
    return pd.DataFrame(
        {
            "site_id": [f"S{k + 1:03d}" for k in range(len(rows))],
            "grid_id": [r[0] for r in rows],
            "lon": [r[1] for r in rows],
            "lat": [r[2] for r in rows],
            "tier": [TIERS[k % 3] for k in range(len(rows))],
        }
    )


def simulate_events(
    tracks: Mapping[str, pd.DataFrame],
    member_grids: Mapping[str, BaseGeometry],
    rng: RngLike = None,
    *,
    reporter: str,
    others: Sequence[str],
) -> pd.DataFrame:
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
        rows.append(
            (
                m,
                f["time"].iloc[i] + pd.Timedelta(seconds=int(rng.integers(0, 8))),
                float(lon[0]),
                float(lat[0]),
                category,
                hashlib.sha256(rng.bytes(64)).hexdigest(),
                text or _EVENT_TEXT[category],
            )
        )

    def nudge(lo, hi):
        a, r = rng.uniform(0, 2 * np.pi), rng.uniform(lo, hi)
        return r * np.array([np.cos(a), np.sin(a)])

    ctx, f, xy, good = member(reporter)
    n, t = len(f), (f["time"] - f["time"].iloc[0]).dt.total_seconds().to_numpy()
    first, second = np.flatnonzero(good[: n // 2]), np.flatnonzero(good[n // 2 :]) + n // 2
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
    for g in rng.permutation(
        ok[
            (ok >= len(f) // 2)
            & (edge[ok] >= 10)
            & (edge[ok] <= 50)
            & shapely.contains_xy(ctx.poly, xy[ok, 0], xy[ok, 1])
        ]
    ):
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


#: Builders taking ``(polygon_lonlat, member_id, date, rng)``; :func:`duplicate_track` takes two members.
SCENARIOS: dict[str, Callable[..., pd.DataFrame]] = {
    "honest": honest_patrol,
    "teleport": teleport,
    "gps_outlier": gps_outlier,
    "idle": idle,
    "loop": loop,
    "vehicle": vehicle,
    "mock_location": mock_location,
    "crs_mismatch": crs_mismatch,
    "gap": gap,
    "unassigned": unassigned,
}
