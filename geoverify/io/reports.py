"""Reading event reports and sites (households, key points) from CSV or GeoJSON Points."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geoverify.errors import InputError
from geoverify.geo.chinacrs import to_wgs84
from geoverify.io.point_files import read_point_table
from geoverify.io.tables import PointTable, normalise_crs_name, require_columns, resolve_columns
from geoverify.io.times import DEFAULT_TZ, parse_times
from geoverify.schema import EVENT_OPTIONAL, EVENT_REQUIRED, SITE_OPTIONAL, SITE_REQUIRED, SITE_TIERS


def _first_bad(mask: np.ndarray, table: PointTable, message: str) -> None:
    if mask.any():
        i = int(np.flatnonzero(mask)[0])
        position = int(table.lines[i])
        kwargs = {"feature": position} if table.position_unit == "feature" else {"line": position}
        extra = f" ({int(mask.sum())} rows like it)" if mask.sum() > 1 else ""
        raise InputError(message + extra, source=table.source, **kwargs)


def _strict_table(
    path: str | Path, kind: str, required: tuple[str, ...], optional: tuple[str, ...], crs: str
) -> tuple[PointTable, dict[str, pd.Series]]:
    table = read_point_table(path, kind)
    if table.unsplittable:
        raise InputError(
            "has the wrong number of fields; fix that line", source=table.source, line=table.unsplittable[0]
        )
    columns = list(table.frame.columns)
    mapping = resolve_columns(columns, required + optional, table.source)
    require_columns(mapping, required, columns + table.other_columns, table.source, kind)
    raw: dict[str, Any] = {name: table.frame[col].reset_index(drop=True) for name, col in mapping.items()}
    for name in required:
        if name in ("lon", "lat", "time"):
            continue
        text = raw[name].astype("string").str.strip()
        _first_bad((text.isna() | (text == "")).to_numpy(dtype=bool), table, f"{kind} has no {name}")
        raw[name] = text
    lon = pd.to_numeric(raw["lon"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    lat = pd.to_numeric(raw["lat"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    _first_bad(
        ~np.isfinite(lon) | ~np.isfinite(lat) | (np.abs(lon) > 180) | (np.abs(lat) > 90) | ((lon == 0) & (lat == 0)),
        table,
        f"{kind} has no valid lon/lat",
    )
    declared = table.declared_crs or normalise_crs_name(crs, "--crs")
    if declared != "wgs84":
        lon, lat = to_wgs84(lon, lat, declared)
    raw["lon"], raw["lat"] = lon, lat
    return table, raw


def read_events(path: str | Path, *, tz: str = DEFAULT_TZ, crs: str = "wgs84") -> pd.DataFrame:
    """Read event reports.

    Returns
    -------
    pandas.DataFrame
        ``event_id, member_id, time`` (UTC), ``lon, lat`` (WGS-84 degrees), ``category``,
        ``photo_sha256, description`` (or missing), ``source, line``.

    Raises
    ------
    InputError
        Naming the first line (or feature) that lacks a required value or has an
        unparseable time or position, or repeats an ``event_id``.
    """
    table, raw = _strict_table(path, "event", EVENT_REQUIRED, EVENT_OPTIONAL, crs)
    times = parse_times(raw["time"], tz)
    _first_bad(times.isna().to_numpy(), table, "event time is not an ISO 8601 time")
    ids = raw["event_id"]
    _first_bad(
        pd.DataFrame({"m": raw["member_id"], "e": ids}).duplicated().to_numpy(dtype=bool),
        table,
        "event_id repeats an earlier event of the same member",
    )
    n = len(ids)
    frame = pd.DataFrame(
        {
            "event_id": ids,
            "member_id": raw["member_id"],
            "time": times,
            "lon": raw["lon"],
            "lat": raw["lat"],
            "category": raw["category"],
            "photo_sha256": raw.get("photo_sha256", pd.Series([None] * n, dtype="string")).astype("string"),
            "description": raw.get("description", pd.Series([None] * n, dtype="string")).astype("string"),
            "source": table.source,
            "line": table.lines,
        }
    )
    return frame


def read_sites(path: str | Path, *, crs: str = "wgs84") -> pd.DataFrame:
    """Read sites (households, key points).

    Returns
    -------
    pandas.DataFrame
        ``site_id, grid_id, lon, lat`` (WGS-84 degrees), ``tier`` (``red``, ``yellow``,
        ``green`` or missing), ``name``, ``source, line``.
    """
    table, raw = _strict_table(path, "site", SITE_REQUIRED, SITE_OPTIONAL, crs)
    n = len(raw["site_id"])
    _first_bad(raw["site_id"].duplicated().to_numpy(dtype=bool), table, "site_id repeats an earlier site")
    tier = raw.get("tier", pd.Series([None] * n, dtype="string")).astype("string").str.strip().str.lower()
    tier = tier.mask(tier == "")
    _first_bad(
        (~tier.isna() & ~tier.isin(SITE_TIERS)).to_numpy(dtype=bool),
        table,
        f"tier must be one of {', '.join(SITE_TIERS)} or empty",
    )
    return pd.DataFrame(
        {
            "site_id": raw["site_id"],
            "grid_id": raw["grid_id"],
            "lon": raw["lon"],
            "lat": raw["lat"],
            "tier": tier,
            "name": raw.get("name", pd.Series([None] * n, dtype="string")).astype("string"),
            "source": table.source,
            "line": table.lines,
        }
    )
