"""A patrol as GeoJSON for the map: its track cut into in-grid, outside and flagged parts,
its flags as points, its grid polygon and the area it covered (all WGS-84 lon/lat)."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString, mapping
from sqlalchemy import Connection, select

from ..grid import Grid
from .queries import get_patrol, grid_feature
from .schema import fixes, grids
from .storing import visible

# Above this many vertices the track is simplified for display (figures are never affected).
MAX_DISPLAY_POINTS = 2000
COVERAGE_BUFFER_M = 30.0


def _day_fixes(conn: Connection, member_id: str, date: str, tz: str) -> pd.DataFrame:
    start = pd.Timestamp(dt.date.fromisoformat(date)).tz_localize(tz).value
    end = pd.Timestamp(dt.date.fromisoformat(date) + dt.timedelta(days=1)).tz_localize(tz).value
    rows = conn.execute(select(fixes.c.time_ns, fixes.c.lon, fixes.c.lat).where(
        fixes.c.member_id == member_id, fixes.c.time_ns >= start, fixes.c.time_ns < end, visible())
        .order_by(fixes.c.time_ns)).all()
    frame = pd.DataFrame(rows, columns=["time_ns", "lon", "lat"]).astype({"lon": float, "lat": float})
    ok = (np.isfinite(frame["lon"]) & np.isfinite(frame["lat"]) & (frame["lon"].abs() <= 180)
          & (frame["lat"].abs() <= 90) & ~((frame["lon"] == 0) & (frame["lat"] == 0)))
    return frame[ok].reset_index(drop=True)


#: what a track segment inside a flag's span is drawn as, by the flag's review status; an open flag
#: wins over a confirmed one, a confirmed one over a dismissed one
PART_OF_STATUS = (("dismissed", "dismissed"), ("confirmed", "confirmed"), ("open", "flagged"))


def _classes(frame: pd.DataFrame, flag_spans: list[tuple[int, int, str]], grid: Grid | None) -> np.ndarray:
    """Each segment's part: ``flagged`` (an open flag's span), ``confirmed``, ``dismissed``, else
    ``in_grid`` or ``outside``."""
    t = frame["time_ns"].to_numpy(dtype=np.int64)
    t0, t1 = t[:-1], t[1:]
    out = np.full(len(t0), "outside", dtype=object)
    flagged = np.zeros(len(t0), dtype=bool)
    for status, part in PART_OF_STATUS:
        for start, end, flag_status in flag_spans:
            if flag_status == status:
                hit = (t0 < end) & (t1 > start) if end > start else (t0 <= start) & (t1 >= start)
                out[hit] = part
                flagged |= hit
    if grid is not None and len(t0):
        lon, lat = frame["lon"].to_numpy(), frame["lat"].to_numpy()
        mid = shapely.points((lon[:-1] + lon[1:]) / 2, (lat[:-1] + lat[1:]) / 2)
        inside = shapely.covers(grid.geometry_wgs84, mid)
        out[~flagged & inside] = "in_grid"
    return out


def _simplify(lines: list[LineString], total_points: int) -> list[LineString]:
    tolerance = 0.00001  # degrees, about 1 m
    while total_points > MAX_DISPLAY_POINTS and tolerance < 0.01:
        lines = [line.simplify(tolerance, preserve_topology=False)  # type: ignore[misc]  # a LineString's is one
                 for line in lines]
        total_points = sum(len(line.coords) for line in lines)
        tolerance *= 2
    return lines


def patrol_geojson(conn: Connection, patrol_id: str, tz: str, grid_scope: frozenset | None = None) -> dict:
    """The patrol's map as a GeoJSON FeatureCollection.

    Features carry ``properties.kind``: ``track`` (with ``part`` ``in_grid``, ``outside`` or
    ``flagged``), ``flag`` (with code, severity, status, evidence), ``grid`` and ``covered``
    (the grid area within 30 m of the counted path). ``properties.simplified`` on the
    collection says whether the track was simplified for display.
    """
    patrol = get_patrol(conn, patrol_id, grid_scope)
    frame = _day_fixes(conn, patrol["member_id"], patrol["date"], tz)
    grid_row = None
    if patrol["grid_id"] is not None:
        grid_row = conn.execute(select(grids).where(grids.c.grid_id == patrol["grid_id"])).first()
    grid = None if grid_row is None else Grid(grid_id=grid_row.grid_id,
                                              geometry_wgs84=shapely.from_geojson(grid_row.geometry))
    spans = [(pd.Timestamp(f["start"]).value, pd.Timestamp(f["end"]).value, f.get("status", "open"))
             for f in patrol["flags"]]
    features, lines, parts = [], [], []
    if len(frame) >= 2:
        classes = _classes(frame, spans, grid)
        coords = frame[["lon", "lat"]].to_numpy()
        edges = np.flatnonzero(np.concatenate([[True], classes[1:] != classes[:-1], [True]]))
        for a, b in zip(edges[:-1], edges[1:]):
            lines.append(LineString(coords[a:b + 1]))
            parts.append(classes[a])
    simplified = len(frame) > MAX_DISPLAY_POINTS
    if simplified:
        lines = _simplify(lines, len(frame))
    for line, part in zip(lines, parts):
        features.append({"type": "Feature", "geometry": mapping(line),
                         "properties": {"kind": "track", "part": part, "points": len(line.coords)}})
    for flag in patrol["flags"] + patrol.get("event_flags", []):
        features.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [flag["lon"], flag["lat"]]},
                         "properties": {"kind": "flag", **{k: flag.get(k) for k in (
                             "flag_id", "code", "severity", "status", "start", "end", "evidence", "reviews")}}})
    if grid_row is not None:
        features.append(grid_feature(grid_row))
        counted = [line for line, part in zip(lines, parts) if part not in ("flagged", "confirmed")]
        if counted and grid is not None:  # grid is there with grid_row
            projector = grid.projection
            # A plain MultiLineString, simplified to 2 m: buffering a noded union is far slower.
            metric = shapely.transform(shapely.MultiLineString(counted),
                                       lambda xy: np.column_stack(projector.forward(xy[:, 0], xy[:, 1])))
            covered = metric.simplify(2.0).buffer(COVERAGE_BUFFER_M, quad_segs=4).intersection(grid.geometry)
            if not covered.is_empty:
                back = shapely.transform(covered, lambda xy: np.column_stack(projector.inverse(xy[:, 0], xy[:, 1])))
                features.append({"type": "Feature", "geometry": json.loads(shapely.to_geojson(back.simplify(0.00001))),
                                  "properties": {"kind": "covered", "buffer_m": COVERAGE_BUFFER_M}})
    return {"type": "FeatureCollection", "features": features,
            "properties": {"patrol_id": patrol_id, "member_id": patrol["member_id"], "date": patrol["date"],
                           "grid_id": patrol["grid_id"], "credit": patrol["credit"], "simplified": simplified,
                           "fixes": len(frame)}}
