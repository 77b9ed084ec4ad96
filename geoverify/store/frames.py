"""Store rows to the tables the library verifies (fix table, events, sites, grids) and back."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, and_, func, or_, select

from geoverify.geo.grid import Grid
from geoverify.schema import TRACK_COLUMNS
from geoverify.store.schema import events, fixes, grids, sites
from geoverify.store.storing import visible


def load_grids(conn: Connection) -> list[Grid]:
    """Every stored grid as a :class:`~geoverify.geo.grid.Grid` (WGS-84), in grid_id order."""
    rows = conn.execute(select(grids).order_by(grids.c.grid_id)).all()
    return [
        Grid(
            grid_id=r.grid_id,
            geometry_wgs84=shapely.from_geojson(r.geometry),
            name=r.name,
            grid_type=r.grid_type,
            members=tuple(json.loads(r.members)),
            properties=json.loads(r.properties),
        )
        for r in rows
    ]


def grid_row(grid: Grid) -> dict:
    """The stored columns of a grid (without upload id and time)."""
    return {
        "grid_id": grid.grid_id,
        "name": grid.name,
        "grid_type": grid.grid_type,
        "members": json.dumps(list(grid.members), ensure_ascii=False),
        "geometry": shapely.to_geojson(grid.geometry_wgs84),
        "properties": json.dumps(grid.properties, ensure_ascii=False, default=str, sort_keys=True),
    }


def _windows(column, windows: list[tuple[int, int]]):
    return or_(*[and_(column >= lo, column < hi) for lo, hi in windows])


def fix_frame(conn: Connection, windows: list[tuple[int, int]]) -> pd.DataFrame:
    """Stored fixes whose time falls in any ``[start_ns, end_ns)`` window, as a fix table (those of
    complete uploads only)."""
    if not windows:
        return fix_table_from_rows([])
    return fix_table_from_rows(
        conn.execute(
            select(*FIX_TABLE_COLUMNS)
            .where(_windows(fixes.c.time_ns, windows), visible())
            .order_by(fixes.c.member_id, fixes.c.time_ns)
        ).all()
    )


#: the ``fixes`` columns :func:`fix_table_from_rows` reads, in the order its rows hold them
FIX_TABLE_COLUMNS = tuple(
    fixes.c[name]
    for name in ("member_id", "time_ns", "lon", "lat", "accuracy", "speed", "provider", "mock", "device_id", "crs")
) + (fixes.c.source, fixes.c.line)


def fix_table_from_rows(rows: Sequence[Sequence]) -> pd.DataFrame:
    """A fix table (:data:`geoverify.schema.TRACK_COLUMNS`) from stored fix rows selected as
    :data:`FIX_TABLE_COLUMNS` (tuples in that order), read column by column."""
    names = [c.name for c in FIX_TABLE_COLUMNS]
    if rows:
        values = dict(zip(names, zip(*rows)))
    else:
        values = {name: () for name in names}
    data = {
        "member_id": pd.array(values["member_id"], dtype="string"),
        "time": pd.to_datetime(np.fromiter(values["time_ns"], np.int64, len(rows)), unit="ns", utc=True),
        **{name: np.array(values[name], dtype="float64") for name in ("lon", "lat", "accuracy", "speed")},
        "provider": pd.array(values["provider"], dtype="string"),
        "mock": pd.array(values["mock"], dtype="boolean"),
        "device_id": pd.array(values["device_id"], dtype="string"),
        "crs": pd.Categorical(values["crs"]),
        "source": pd.Categorical(values["source"]),
        "line": np.fromiter(values["line"], np.int64, len(rows)),
    }
    return pd.DataFrame({name: data[name] for name in TRACK_COLUMNS})


def _nullable(values: pd.Series) -> list:
    """A column as Python values with ``None`` for every missing one (NaN, NA, None)."""
    out = values.astype(object).to_numpy(dtype=object, copy=True)
    out[values.isna().to_numpy()] = None
    return out.tolist()


def _nullable_floats(values: pd.Series) -> list:
    """A numeric column as Python floats with ``None`` for every missing one."""
    numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
    out = numbers.astype(object)
    out[np.isnan(numbers)] = None
    return out.tolist()


def fix_columns_from_table(frame: pd.DataFrame, upload_id: int) -> dict[str, list]:
    """The ``fixes`` columns of a fix table's rows (all with a member id and a time), as lists.

    Times become UTC nanoseconds, ``mock`` a bool or None, a missing ``crs`` ``wgs84``; ``source``
    and ``line`` are the table's own (the file and line each fix was read from).
    """
    crs = frame["crs"].astype(object).where(frame["crs"].notna(), "wgs84") if "crs" in frame else "wgs84"
    return {
        "member_id": frame["member_id"].astype(str).tolist(),
        "time_ns": frame["time"].to_numpy(dtype="datetime64[ns]").astype(np.int64).tolist(),
        **{name: _nullable_floats(frame[name]) for name in ("lon", "lat", "accuracy", "speed")},
        "provider": _nullable(frame["provider"]),
        "mock": _nullable(frame["mock"].astype("boolean")),
        "device_id": _nullable(frame["device_id"]),
        "crs": [str(c) for c in (crs.tolist() if hasattr(crs, "tolist") else [crs] * len(frame))],
        "source": frame["source"].astype(str).tolist(),
        "line": frame["line"].astype(np.int64).tolist(),
        "upload_id": [upload_id] * len(frame),
    }


def event_frame(conn: Connection, windows: list[tuple[int, int]]) -> pd.DataFrame:
    """Stored events in the windows, as :func:`geoverify.io.read_events` returns them."""
    rows = (
        conn.execute(
            select(events)
            .where(_windows(events.c.time_ns, windows))
            .order_by(events.c.time_ns, events.c.event_id, events.c.member_id)
        ).all()
        if windows
        else []
    )
    return event_table_from_rows([dict(r._mapping) for r in rows])


def event_table_from_rows(records: list[dict]) -> pd.DataFrame:
    """Stored event rows (dicts, in the order wanted) as :func:`geoverify.io.read_events` returns them."""
    if not records:  # most member-days have no events: the empty table is built once (7 ms each time)
        global _NO_EVENTS
        if _NO_EVENTS is None:
            _NO_EVENTS = _event_table(records)
        return _NO_EVENTS.copy()
    return _event_table(records)


_NO_EVENTS: pd.DataFrame | None = None


def unique_event_table(rows: list) -> pd.DataFrame:
    """Event rows (mappings as stored, an event possibly more than once) as one event table in
    time order."""
    unique = {(r["event_id"], r["member_id"]): dict(r) for r in rows}
    return event_table_from_rows(sorted(unique.values(), key=lambda r: (r["time_ns"], r["event_id"], r["member_id"])))


def _event_table(records: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(
        records,
        columns=[
            "event_id",
            "member_id",
            "time_ns",
            "lon",
            "lat",
            "category",
            "photo_sha256",
            "description",
            "source",
            "line",
        ],
    )
    frame.insert(2, "time", pd.to_datetime(frame.pop("time_ns").astype("int64"), unit="ns", utc=True))
    for name in ("event_id", "member_id", "category", "photo_sha256", "description"):
        frame[name] = frame[name].astype("string")
    return frame.astype({"lon": "float64", "lat": "float64"})


def stored_marks(conn: Connection) -> tuple[tuple, tuple]:
    """What changes when grids or sites change, read in one statement: (count, latest upload,
    latest update) of the grids and (count, latest upload) of the sites (every change of a site
    sets its ``upload_id`` to the newer upload's; sites are never deleted)."""
    row = conn.execute(
        select(
            select(func.count()).select_from(grids).scalar_subquery(),
            select(func.max(grids.c.upload_id)).scalar_subquery(),
            select(func.max(grids.c.updated_at)).scalar_subquery(),
            select(func.count()).select_from(sites).scalar_subquery(),
            select(func.max(sites.c.upload_id)).scalar_subquery(),
        )
    ).one()
    return tuple(row[:3]), tuple(row[3:])


def cached_site_frame(cache: dict, conn: Connection, mark: tuple) -> pd.DataFrame:
    """:func:`site_frame`, kept in ``cache`` while the sites' ``mark`` (:func:`stored_marks`) holds."""
    cached = cache.get("sites")
    if cached is None or cached[0] != mark:
        cached = (mark, site_frame(conn))
        cache["sites"] = cached
    return cached[1]


def site_frame(conn: Connection) -> pd.DataFrame:
    """Every stored site, as :func:`geoverify.io.read_sites` returns them."""
    rows = conn.execute(select(sites).order_by(sites.c.site_id)).all()
    frame = pd.DataFrame([dict(r._mapping) for r in rows], columns=["site_id", "grid_id", "lon", "lat", "tier", "name"])
    for name in ("site_id", "grid_id", "tier", "name"):
        frame[name] = frame[name].astype("string")
    frame["source"], frame["line"] = "store", 0
    return frame.astype({"lon": "float64", "lat": "float64"})
