"""Shared fixtures: tiny grids and tracks built in metres around a Beijing origin.

Geometries are written in metres on the local projection centred at :data:`ORIGIN`, then
converted to WGS-84, so that every figure in a test can be computed by hand.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon

from geoverify.geo.grid import Grid
from geoverify.geo.projection import LocalProjection
from geoverify.preprocessing.days import DayTrack
from geoverify.rules import Rules
from geoverify.simulation.walks import _ar_noise

ORIGIN = (116.4, 39.9)  # lon, lat: central Beijing
PROJ = LocalProjection(*ORIGIN)
T0 = pd.Timestamp("2026-11-02T08:00:00+08:00")
DATE = dt.date(2026, 11, 2)

# Named metric geometries (metres on PROJ).
SQUARE_100 = Polygon([(0, 0), (100, 0), (100, 100), (0, 100)])
SQUARE_WITH_HOLE = Polygon([(0, 0), (100, 0), (100, 100), (0, 100)], holes=[[(40, 40), (60, 40), (60, 60), (40, 60)]])
TWO_SQUARES_ONE_HOLED = MultiPolygon([SQUARE_WITH_HOLE, Polygon([(200, 0), (300, 0), (300, 100), (200, 100)])])
L_SHAPE = Polygon([(0, 0), (100, 0), (100, 40), (40, 40), (40, 100), (0, 100)])


def to_lonlat(geom):
    """A metric geometry on PROJ → WGS-84 lon/lat."""
    return shapely.transform(geom, lambda xy: np.column_stack(PROJ.inverse(xy[:, 0], xy[:, 1])))


def metric_grid(geom, grid_id="G1", members=("M1",), grid_type=None) -> Grid:
    """A Grid whose local projection is PROJ, so its metric coordinates are ``geom``'s."""
    return Grid(
        grid_id=grid_id, geometry_wgs84=to_lonlat(geom), members=tuple(members), grid_type=grid_type, centre=ORIGIN
    )


def day_track(xy, seconds, accuracy=None, member="M1", date=DATE) -> DayTrack:
    """A DayTrack from metric positions and seconds after T0."""
    xy = np.asarray(xy, dtype=float)
    lon, lat = PROJ.inverse(xy[:, 0], xy[:, 1])
    n = len(xy)
    t_ns = T0.value + np.round(np.asarray(seconds, dtype=float) * 1e9).astype(np.int64)
    acc = np.full(n, np.nan) if accuracy is None else np.asarray(accuracy, dtype=float)
    return DayTrack(
        member_id=member,
        date=date,
        time_ns=t_ns,
        lon=np.asarray(lon),
        lat=np.asarray(lat),
        accuracy=acc,
        synthetic=np.zeros(n, bool),
        source=np.full(n, "test", object),
        line=np.arange(2, n + 2),
    )


def fix_frame(rows, member="M1") -> pd.DataFrame:
    """A fix table (as readers return) from (x_m, y_m, seconds_after_T0[, accuracy]) rows."""
    from geoverify.io.tracks import _fix_frame_from_columns

    rows = [tuple(r) for r in rows]
    xy = np.array([(r[0], r[1]) for r in rows], dtype=float).reshape(-1, 2)
    lon, lat = PROJ.inverse(xy[:, 0], xy[:, 1])
    n = len(rows)
    times = pd.Series([T0 + pd.Timedelta(seconds=r[2]) for r in rows], dtype="datetime64[ns, UTC]")
    return _fix_frame_from_columns(
        {
            "member_id": pd.Series([member] * n, dtype="string"),
            "time": times,
            "lon": np.asarray(lon, dtype=float),
            "lat": np.asarray(lat, dtype=float),
            "accuracy": np.array([r[3] if len(r) > 3 else np.nan for r in rows], dtype=float),
            "source": pd.Series(["test"] * n, dtype="string"),
            "line": np.arange(2, n + 2),
        },
        n,
    )


# Track builders in metres on PROJ: (xy, seconds) pairs, joined end to end by ``chain``.


def jitter(n: int, sigma: float, interval: float, seed: int) -> np.ndarray:
    """Correlated GPS error (metres), ``sigma`` per axis, as phones drift."""
    rng = np.random.default_rng(seed)
    return np.column_stack([_ar_noise((n,), sigma, interval, rng), _ar_noise((n,), sigma, interval, rng)])


def walk(start, heading_deg, speed, seconds, interval):
    """Straight walk: positions every ``interval`` s for ``seconds`` s (end excluded)."""
    t = np.arange(0, seconds, interval, dtype=float)
    h = np.radians(heading_deg)
    return np.asarray(start) + np.column_stack([np.cos(h), np.sin(h)]) * speed * t[:, None], t


def circle(centre, radius, speed, seconds, interval):
    """Circling from the circle's west point (so a walk east along y=0 arrives there)."""
    t = np.arange(0, seconds, interval, dtype=float)
    a = np.pi + speed * t / radius
    return np.asarray(centre) + radius * np.column_stack([np.cos(a), np.sin(a)]), t


def still(at, seconds, interval):
    t = np.arange(0, seconds, interval, dtype=float)
    return np.tile(np.asarray(at, float), (len(t), 1)), t


def chain(*parts, interval):
    """Concatenate (xy, t) parts end to end in time; returns xy, t."""
    xys, ts, t0 = [], [], 0.0
    for xy, t in parts:
        xys.append(xy)
        ts.append(t + t0)
        t0 += t[-1] + interval
    return np.vstack(xys), np.concatenate(ts)


@pytest.fixture
def rules() -> Rules:
    return Rules()


@pytest.fixture
def square_grid() -> Grid:
    return metric_grid(SQUARE_100)


# The one check of the API's RFC 9457 problem+json error shape (service and map tests).
def assert_problem(response, status: int, *, detail_has: str | None = None) -> dict:
    """Every error answers RFC 9457 problem+json with an actionable detail."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:500])
    assert response.mimetype == "application/problem+json"
    body = response.get_json(force=True)
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert body["type"] == "about:blank"
    assert isinstance(body["detail"], str) and len(body["detail"]) >= 20
    if detail_has is not None:
        assert detail_has in body["detail"], body["detail"]
    return body


@pytest.fixture(name="assert_problem")
def assert_problem_fixture():
    return assert_problem
