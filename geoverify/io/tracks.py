"""Reading GPS tracks (CSV, GPX, GeoJSON Points, Parquet, or a folder of them) into one fix table."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from ..chinacrs import to_wgs84
from ..errors import GeoverifyWarning, InputError
from ..schema import COORDINATE_SYSTEMS, TRACK_COLUMNS, TRACK_OPTIONAL, TRACK_REQUIRED
from .gpx import read_gpx_table
from .tables import (CSV_SUFFIXES, GEOJSON_SUFFIXES, PARQUET_SUFFIXES, PointTable, normalise_crs_name,
                     read_point_table, require_columns, resolve_columns)
from .times import DEFAULT_TZ, parse_times

TRACK_SUFFIXES = CSV_SUFFIXES + GEOJSON_SUFFIXES + PARQUET_SUFFIXES + (".gpx",)
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f", ""}


def empty_fixes() -> pd.DataFrame:
    """A fix table with no rows and the columns of :data:`geoverify.schema.TRACK_COLUMNS`."""
    return _fix_frame_from_columns({}, 0)


def _fill(n: int, value, dtype) -> pd.Series:
    return pd.Series(value, index=pd.RangeIndex(n), dtype=dtype)


def _fix_frame_from_columns(columns: dict, n: int) -> pd.DataFrame:
    def get(name, default, dtype):
        return columns[name] if name in columns else _fill(n, default, dtype)

    frame = pd.DataFrame({
        "member_id": get("member_id", pd.NA, "string"),
        "time": get("time", pd.NaT, "datetime64[ns, UTC]"),
        "lon": get("lon", np.nan, "float64"),
        "lat": get("lat", np.nan, "float64"),
        "accuracy": get("accuracy", np.nan, "float64"),
        "speed": get("speed", np.nan, "float64"),
        "provider": get("provider", pd.NA, "string"),
        "mock": get("mock", pd.NA, "boolean"),
        "device_id": get("device_id", pd.NA, "string"),
        "crs": get("crs", "wgs84", "category"),
        "source": get("source", "", "category"),
        "line": get("line", 0, "int64"),
    })
    return frame[list(TRACK_COLUMNS)]


def _numbers(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_float_dtype(values.dtype):
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _text(values: pd.Series) -> pd.Series:
    out = values.astype("string").str.strip()
    return out.mask(out == "")


def _booleans(values: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("boolean")
    text = values.astype("string").str.strip().str.lower()
    out = pd.Series(pd.NA, index=values.index, dtype="boolean")
    out[text.isin(_TRUE).fillna(False).to_numpy(dtype=bool)] = True
    out[text.isin(_FALSE - {""}).fillna(False).to_numpy(dtype=bool)] = False
    return out


def fixes_from_table(table: PointTable, *, tz: str = DEFAULT_TZ, crs: str = "wgs84",
                     member_id: str | None = None) -> pd.DataFrame:
    """Turn a :class:`PointTable` of a track file into a fix table in WGS-84.

    Values that cannot be parsed become NaN/NaT (the cleaner counts those fixes as ``invalid``);
    nothing is dropped here. Coordinates are converted to WGS-84 from the coordinate system
    the file (or its ``crs`` column) declares, else from ``crs``.
    """
    frame = table.frame
    if member_id is not None:
        frame = frame.assign(member_id=member_id)
    columns = list(frame.columns)
    mapping = resolve_columns(columns, TRACK_REQUIRED + TRACK_OPTIONAL + ("crs",), table.source)
    require_columns(mapping, TRACK_REQUIRED, columns, table.source, "track")
    n = len(frame)
    raw = {name: frame[col].reset_index(drop=True) for name, col in mapping.items()}
    out = {
        "member_id": _text(raw["member_id"]),
        "time": parse_times(raw["time"], tz),
        "lon": _numbers(raw["lon"]),
        "lat": _numbers(raw["lat"]),
        "source": _fill(n, table.source, "category"),
        "line": table.lines.astype(np.int64),
    }
    for name in ("accuracy", "speed"):
        if name in raw:
            out[name] = _numbers(raw[name])
    for name in ("provider", "device_id"):
        if name in raw:
            out[name] = _text(raw[name])
    if "mock" in raw:
        out["mock"] = _booleans(raw["mock"])
    declared = normalise_crs_name(crs, "--crs") if table.declared_crs is None else table.declared_crs
    if "crs" in raw:
        per_row = _text(raw["crs"]).fillna(declared).str.lower().str.replace("-", "").str.replace("_", "")
        unknown = ~per_row.isin(COORDINATE_SYSTEMS)
        if unknown.any():
            first = int(np.flatnonzero(unknown.to_numpy())[0])
            raise InputError(f"unknown coordinate system {per_row.iloc[first]!r} in column "
                             f"{mapping['crs']!r}; use one of {', '.join(COORDINATE_SYSTEMS)}",
                             source=table.source, line=int(table.lines[first]))
        out["crs"] = per_row.astype("category")
        if n and not (per_row == "wgs84").all():
            out["lon"], out["lat"] = to_wgs84(out["lon"], out["lat"], per_row.to_numpy(dtype=object))
    else:
        out["crs"] = _fill(n, declared, "category")
        if n and declared != "wgs84":
            out["lon"], out["lat"] = to_wgs84(out["lon"], out["lat"], declared)
    return _fix_frame_from_columns(out, n)


def unsplittable_fixes(table: PointTable) -> pd.DataFrame:
    """Fix rows (all invalid) for the CSV lines that could not be split into fields."""
    n = len(table.unsplittable)
    return _fix_frame_from_columns({
        "source": _fill(n, table.source, "category"),
        "line": pd.Series(np.asarray(table.unsplittable, dtype=np.int64)),
    }, n)


def track_files(path: str | Path) -> list[Path]:
    """The track files named by ``path``: the file itself, or a folder's files in name order.

    Files of other types in a folder are skipped with a warning naming them (never silently).
    """
    path = Path(path)
    if not path.exists():
        raise InputError("no such file or folder", source=str(path))
    if path.is_file():
        return [path]
    files, skipped = [], []
    for child in sorted(path.iterdir()):
        if child.is_file():
            if child.suffix.lower() in TRACK_SUFFIXES:
                files.append(child)
            elif not child.name.startswith(".") and child.suffix.lower() not in (".md", ".txt", ".rst"):
                skipped.append(child.name)
    if skipped:
        warnings.warn(f"{path}: skipped {len(skipped)} file(s) that are not tracks: "
                      f"{', '.join(skipped[:5])}{' …' if len(skipped) > 5 else ''}",
                      GeoverifyWarning, stacklevel=2)
    return files


def read_track_file(path: str | Path, *, tz: str = DEFAULT_TZ, crs: str = "wgs84",
                    member_id: str | None = None, kind_hint: str = "track") -> pd.DataFrame:
    """Read one track file into a fix table (see :data:`geoverify.schema.TRACK_COLUMNS`).

    Parameters
    ----------
    path : path
        CSV (``,``/``;``/tab), GPX, GeoJSON FeatureCollection of Points, or (Geo)Parquet.
    tz : str
        IANA zone in which times without an offset are read.
    crs : {"wgs84", "gcj02", "bd09"}
        Coordinate system of the file unless it declares its own.
    member_id : str, optional
        Overrides the member column; for GPX the default is the file name's stem.
    """
    path = Path(path)
    if path.suffix.lower() == ".gpx":
        table = read_gpx_table(path, member_id)
    else:
        table = read_point_table(path, kind_hint)
    fixes = fixes_from_table(table, tz=tz, crs=crs, member_id=member_id)
    if table.unsplittable:
        fixes = pd.concat([fixes, unsplittable_fixes(table)], ignore_index=True)
    return fixes


def read_tracks(path: str | Path, *, tz: str = DEFAULT_TZ, crs: str = "wgs84",
                member_id: str | None = None) -> pd.DataFrame:
    """Read a track file or a folder of track files into one fix table, nothing dropped.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`geoverify.schema.TRACK_COLUMNS`; lon/lat in WGS-84 degrees, time in UTC,
        one row per input fix in file order (unparseable values as NaN/NaT).
    """
    frames = [read_track_file(f, tz=tz, crs=crs, member_id=member_id) for f in track_files(path)]
    if not frames:
        return empty_fixes()
    if len(frames) == 1:
        return frames[0]
    for name in ("source", "crs"):
        merged = union_categoricals([f[name] for f in frames])
        for f in frames:
            f[name] = pd.Categorical(f[name], categories=merged.categories)
    return pd.concat(frames, ignore_index=True)
