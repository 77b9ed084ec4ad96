"""A bulk city day of honest patrols for benchmarks, generated for all members at once."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from shapely.geometry.base import BaseGeometry

from geoverify.simulation.samples import load_grids
from geoverify.simulation.walks import TZ, _ar_noise, _clock, _Ctx, _day_start, _device, _random_points

# ----------------------------------------------------------------------------- public: bulk city day


def _polygons(grids) -> list[BaseGeometry]:
    if isinstance(grids, (str, Path)):
        return [p for p, _ in load_grids(grids).values()]
    if isinstance(grids, Mapping):
        grids = list(grids.values())
    elif hasattr(grids, "geometry") and not isinstance(grids, BaseGeometry):  # a GeoDataFrame
        grids = list(grids.geometry)
    return [g[0] if isinstance(g, tuple) else getattr(g, "geometry_wgs84", g) for g in grids]  # (poly, members)


def simulate_city(
    grids,
    n_members: int,
    date="2026-11-02",
    interval_s: float = 10.0,
    seed: int = 0,
    *,
    start: str = "08:00",
    hours: float = 8.0,
    pool: int = 256,
) -> pd.DataFrame:
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
    plon, plat, kx, ky, leg = (
        np.empty((n_grids, pool)),
        np.empty((n_grids, pool)),
        np.empty(n_grids),
        np.empty(n_grids),
        np.empty(n_grids),
    )
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
    for k_, w, corner in (
        (klon, wlon, np.where(flip, wlon[:, :-1], wlon[:, 1:])),
        (klat, wlat, np.where(flip, wlat[:, 1:], wlat[:, :-1])),
    ):
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
    v = np.column_stack([np.divide(dist, dt_k, out=np.zeros_like(dist), where=dt_k > 0), np.zeros(n_members)]).ravel()[
        i
    ]
    sigma = rng.uniform(3.0, 7.0, n_members)
    lon += _ar_noise((n_members, n_t), sigma, interval_s, rng) / kx[gm, None]
    lat += _ar_noise((n_members, n_t), sigma, interval_s, rng) / ky[gm, None]
    size = n_members * n_t
    t0 = (_day_start(date) + pd.Timedelta(seconds=_clock(start))).value
    codes = np.repeat(np.arange(n_members), n_t)
    names = [f"C{m:05d}" for m in range(n_members)]
    return pd.DataFrame(
        {
            "member_id": pd.Categorical.from_codes(codes, pd.Index(names)),
            "time": pd.DatetimeIndex(np.tile(t0 + (t * 1e9).astype(np.int64), n_members).view("M8[ns]"))
            .tz_localize("UTC")
            .tz_convert(TZ),
            "lon": lon.ravel(),
            "lat": lat.ravel(),
            "accuracy": np.round(1.5 * np.repeat(sigma, n_t) * rng.lognormal(0, 0.25, size), 1),
            "speed": np.round(np.clip(v + rng.normal(0, 0.12, size), 0, None), 2),
            "provider": pd.Categorical.from_codes(np.zeros(size, np.int8), pd.Index(["gps"])),
            "mock": np.zeros(size, bool),
            "device_id": pd.Categorical.from_codes(codes, pd.Index([_device(m) for m in names])),
        }
    )
