"""A patrol as GeoJSON for the map: its track cut into in-grid, outside and flagged parts,
its flags as points, its grid polygon and the area it covered (all WGS-84 lon/lat); the same simplified
for display; and a grid's day heat map."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString, mapping
from sqlalchemy import Connection, select

from geoverify.errors import NotFound
from geoverify.geo.grid import Grid
from geoverify.measures.heatmap import heatmap_geojson, time_per_cell
from geoverify.rules import RuleSet
from geoverify.store.queries import get_patrol, grid_feature, list_patrols
from geoverify.store.schema import fixes, grids
from geoverify.store.storing import visible

# Above this many vertices the track is simplified for display (figures are never affected).
MAX_DISPLAY_POINTS = 2000


def _day_fixes(conn: Connection, member_id: str, date: str, tz: str) -> pd.DataFrame:
    start = pd.Timestamp(dt.date.fromisoformat(date)).tz_localize(tz).value
    end = pd.Timestamp(dt.date.fromisoformat(date) + dt.timedelta(days=1)).tz_localize(tz).value
    rows = conn.execute(
        select(fixes.c.time_ns, fixes.c.lon, fixes.c.lat)
        .where(fixes.c.member_id == member_id, fixes.c.time_ns >= start, fixes.c.time_ns < end, visible())
        .order_by(fixes.c.time_ns)
    ).all()
    frame = pd.DataFrame(rows, columns=["time_ns", "lon", "lat"]).astype({"lon": float, "lat": float})
    ok = (
        np.isfinite(frame["lon"])
        & np.isfinite(frame["lat"])
        & (frame["lon"].abs() <= 180)
        & (frame["lat"].abs() <= 90)
        & ~((frame["lon"] == 0) & (frame["lat"] == 0))
    )
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
        lines = [
            line.simplify(tolerance, preserve_topology=False)  # type: ignore[misc]  # a LineString's is one
            for line in lines
        ]
        total_points = sum(len(line.coords) for line in lines)
        tolerance *= 2
    return lines


def patrol_geojson(
    conn: Connection, patrol_id: str, tz: str, rules: RuleSet, grid_scope: frozenset | None = None
) -> dict:
    """The patrol's map as a GeoJSON FeatureCollection.

    Features carry ``properties.kind``: ``track`` (with ``part`` ``in_grid``, ``outside`` or
    ``flagged``), ``flag`` (with code, severity, status, evidence), ``grid`` and ``covered``
    (the grid area within the rules' ``coverage_buffer_m`` of the counted path, metres, for the
    grid's type). ``properties.simplified`` on the collection says whether the track was
    simplified for display.
    """
    patrol = get_patrol(conn, patrol_id, grid_scope)
    frame = _day_fixes(conn, patrol["member_id"], patrol["date"], tz)
    grid_row = None
    if patrol["grid_id"] is not None:
        grid_row = conn.execute(select(grids).where(grids.c.grid_id == patrol["grid_id"])).first()
    grid = (
        None
        if grid_row is None
        else Grid(
            grid_id=grid_row.grid_id,
            grid_type=grid_row.grid_type,
            geometry_wgs84=shapely.from_geojson(grid_row.geometry),
        )
    )
    spans = [
        (pd.Timestamp(f["start"]).value, pd.Timestamp(f["end"]).value, f.get("status", "open")) for f in patrol["flags"]
    ]
    features, lines, parts = [], [], []
    if len(frame) >= 2:
        classes = _classes(frame, spans, grid)
        coords = frame[["lon", "lat"]].to_numpy()
        edges = np.flatnonzero(np.concatenate([[True], classes[1:] != classes[:-1], [True]]))
        for a, b in zip(edges[:-1], edges[1:]):
            lines.append(LineString(coords[a : b + 1]))
            parts.append(classes[a])
    simplified = len(frame) > MAX_DISPLAY_POINTS
    if simplified:
        lines = _simplify(lines, len(frame))
    for line, part in zip(lines, parts):
        features.append(
            {
                "type": "Feature",
                "geometry": mapping(line),
                "properties": {"kind": "track", "part": part, "points": len(line.coords)},
            }
        )
    for flag in patrol["flags"] + patrol.get("event_flags", []):
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [flag["lon"], flag["lat"]]},
                "properties": {
                    "kind": "flag",
                    **{
                        k: flag.get(k)
                        for k in ("flag_id", "code", "severity", "status", "start", "end", "evidence", "reviews")
                    },
                },
            }
        )
    if grid_row is not None:
        features.append(grid_feature(grid_row))
        counted = [line for line, part in zip(lines, parts) if part not in ("flagged", "confirmed")]
        if counted and grid is not None:  # grid is there with grid_row
            projector = grid.projection
            buffer_m = rules.for_grid_type(grid.grid_type).coverage_buffer_m
            # A plain MultiLineString, simplified to 2 m: buffering a noded union is far slower.
            metric = shapely.transform(
                shapely.MultiLineString(counted), lambda xy: np.column_stack(projector.forward(xy[:, 0], xy[:, 1]))
            )
            covered = metric.simplify(2.0).buffer(buffer_m, quad_segs=4).intersection(grid.geometry)
            if not covered.is_empty:
                back = shapely.transform(covered, lambda xy: np.column_stack(projector.inverse(xy[:, 0], xy[:, 1])))
                features.append(
                    {
                        "type": "Feature",
                        "geometry": json.loads(shapely.to_geojson(back.simplify(0.00001))),
                        "properties": {"kind": "covered", "buffer_m": buffer_m},
                    }
                )
    return {
        "type": "FeatureCollection",
        "features": features,
        "properties": {
            "patrol_id": patrol_id,
            "member_id": patrol["member_id"],
            "date": patrol["date"],
            "grid_id": patrol["grid_id"],
            "credit": patrol["credit"],
            "simplified": simplified,
            "fixes": len(frame),
        },
    }


def simplified(document: dict, tolerance_m: float) -> dict:
    """Track and covered-area features of :func:`patrol_geojson` simplified by ``tolerance_m`` metres.

    Simplified on a local metric projection centred on the features; coordinates rounded to 1e-6
    degrees (WGS-84). Display only: no figure changes. Track features get their new ``points``.
    """
    shapes = [f for f in document["features"] if f["properties"].get("kind") in ("track", "covered")]
    if not shapes:
        return document
    geometries = [shapely.geometry.shape(f["geometry"]) for f in shapes]
    centre = shapely.union_all([geom.envelope for geom in geometries]).centroid
    projection = Grid(grid_id="display", geometry_wgs84=centre.buffer(1e-6)).projection
    for feature, geom in zip(shapes, geometries):
        metric = shapely.transform(geom, lambda xy: np.column_stack(projection.forward(xy[:, 0], xy[:, 1])))
        if tolerance_m > 0:
            metric = metric.simplify(tolerance_m, preserve_topology=feature["properties"]["kind"] == "covered")
        back = shapely.transform(
            metric, lambda xy: np.round(np.column_stack(projection.inverse(xy[:, 0], xy[:, 1])), 6)
        )
        feature["geometry"] = json.loads(shapely.to_geojson(back))
        if feature["properties"]["kind"] == "track":
            feature["properties"]["points"] = int(shapely.get_num_coordinates(back))
    document["properties"]["simplify_m"] = tolerance_m
    return document


def day_heatmap(
    conn: Connection,
    grid_id: str,
    date: str,
    tz: str,
    rules: RuleSet,
    *,
    cell_m: float,
    member_id: str | None = None,
    grid_scope: frozenset | None = None,
    max_patrols: int = 1000,
) -> dict:
    """A grid's day heat map as GeoJSON: seconds spent in each ``cell_m`` square cell (metres).

    Cells cover the grid's box on its local metric projection; features are WGS-84 lon/lat squares
    with ``properties.seconds``. Counted segments only (no gaps, none faster than the rules'
    teleport speed), from the day's patrols of the grid (``max_patrols`` at most), or one member's.

    Raises
    ------
    NotFound
        The grid does not exist or is outside ``grid_scope``.
    """
    row = conn.execute(select(grids).where(grids.c.grid_id == grid_id)).first()
    if row is None or (grid_scope is not None and grid_id not in grid_scope):
        raise NotFound(f"no grid {grid_id!r}; GET /api/v1/grids lists the grids you can see")
    grid = Grid(
        grid_id=row.grid_id, geometry_wgs84=shapely.from_geojson(row.geometry), name=row.name, grid_type=row.grid_type
    )
    page = list_patrols(
        conn,
        grid_id=grid_id,
        member_id=member_id,
        date_from=date,
        date_to=date,
        limit=max_patrols,
        grid_scope=grid_scope,
    )
    members = sorted({p["member_id"] for p in page["patrols"]})
    frames = [_day_fixes(conn, member, date, tz).assign(member_id=member) for member in members]
    day = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame({"time_ns": [], "lon": [], "lat": [], "member_id": []})
    )
    grid_rules = rules.for_grid_type(grid.grid_type)
    x, y = grid.projection.forward(day["lon"].to_numpy(float), day["lat"].to_numpy(float))
    heat = time_per_cell(
        x,
        y,
        day["time_ns"].to_numpy(np.int64) / 1e9,
        bounds=grid.geometry.bounds,
        cell_m=cell_m,
        max_gap_s=grid_rules.max_gap_s,
        max_speed_mps=grid_rules.teleport_mps,
        track_ids=day["member_id"].to_numpy(object),
    )
    document = heatmap_geojson(heat, grid.projection.inverse)
    document["properties"].update({"grid_id": grid_id, "date": date, "members": members})
    return document
