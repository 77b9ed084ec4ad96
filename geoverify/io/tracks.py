"""Reading GPS tracks (CSV, GPX, GeoJSON Points, Parquet, or a folder of them) into one fix table."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.types import union_categoricals

from geoverify.errors import GeoverifyWarning, InputError
from geoverify.geo.chinacrs import to_wgs84
from geoverify.io.csv_points import read_csv_in_blocks
from geoverify.io.gpx import read_gpx_table
from geoverify.io.point_files import read_parquet_in_blocks, read_point_table
from geoverify.io.tables import (
    CSV_SUFFIXES,
    GEOJSON_SUFFIXES,
    PARQUET_SUFFIXES,
    PointTable,
    check_rows,
    normalise_crs_name,
    require_columns,
    resolve_columns,
)
from geoverify.io.times import DEFAULT_TZ, parse_times
from geoverify.schema import COORDINATE_SYSTEMS, TRACK_COLUMNS, TRACK_OPTIONAL, TRACK_REQUIRED

TRACK_SUFFIXES = CSV_SUFFIXES + GEOJSON_SUFFIXES + PARQUET_SUFFIXES + (".gpx",)
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f", ""}


def empty_fixes() -> pd.DataFrame:
    """A fix table with no rows and the columns of :data:`geoverify.schema.TRACK_COLUMNS`."""
    return _fix_frame_from_columns({}, 0)


def _fill(n: int, value, dtype) -> pd.Series:
    if dtype == "category":
        # Categories as Python objects: taking them per fix then shares one string object.
        known = value is not None and value == value
        categories = pd.Index([value] if known else [], dtype=object)
        codes = np.full(n, 0 if known else -1, dtype=np.int8)
        return pd.Series(pd.Categorical.from_codes(codes, categories=categories), index=pd.RangeIndex(n))
    return pd.Series(value, index=pd.RangeIndex(n), dtype=dtype)


def _fix_frame_from_columns(columns: dict, n: int) -> pd.DataFrame:
    def get(name, default, dtype):
        return columns[name] if name in columns else _fill(n, default, dtype)

    # copy=False: each column keeps its own array (no copy into one block per dtype).
    frame = pd.DataFrame(
        copy=False,
        data={
            "member_id": get("member_id", np.nan, "category"),
            "time": get("time", pd.NaT, "datetime64[ns, UTC]"),
            "lon": get("lon", np.nan, "float64"),
            "lat": get("lat", np.nan, "float64"),
            "accuracy": get("accuracy", np.nan, "float64"),
            "speed": get("speed", np.nan, "float64"),
            "provider": get("provider", np.nan, "category"),
            "mock": get("mock", pd.NA, "boolean"),
            "device_id": get("device_id", np.nan, "category"),
            "crs": get("crs", "wgs84", "category"),
            "source": get("source", "", "category"),
            "line": get("line", 0, "int64"),
        },
    )
    return frame[list(TRACK_COLUMNS)]


def _numbers(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_float_dtype(values.dtype):
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _text(values: pd.Series) -> pd.Series:
    out = values.astype("string").str.strip()
    return out.mask(out == "")


def _labels(values: pd.Series) -> pd.Series:
    """Text of a column with few distinct values (member ids, providers, devices) as a categorical:
    stripped, empty as missing; one code per fix and one string per distinct value, so a million
    fixes of a few thousand members cost a few megabytes and need no Python string per fix."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        # Strip and blank the distinct texts only, then renumber the codes.
        texts = pd.Series(values.cat.categories.astype(object), dtype=object).map(
            lambda v: v.strip() if isinstance(v, str) else (None if v is None or v != v else str(v).strip())
        )
        texts = texts.where(texts != "", None)
        new_codes, uniques = pd.factorize(texts.to_numpy(dtype=object), use_na_sentinel=True)
        old_codes = values.cat.codes.to_numpy()
        codes = np.where(old_codes < 0, -1, np.append(new_codes, -1)[old_codes]).astype(np.int32)
        return pd.Series(
            pd.Categorical.from_codes(codes, categories=pd.Index(list(uniques), dtype=object)), index=values.index
        )
    if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
        array = pa.chunked_array(values.array._pa_array).combine_chunks()
        trimmed = pc.utf8_trim_whitespace(array)
        trimmed = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)
        encoded = trimmed.dictionary_encode()
        codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int32)
        return pd.Series(
            pd.Categorical.from_codes(codes, categories=pd.Index(encoded.dictionary.to_pylist(), dtype=object)),
            index=values.index,
        )
    return _object_categories(_text(values).astype("category"))


def _object_categories(values: pd.Series) -> pd.Series:
    """The same categorical with its categories as Python objects (so that tables can be joined)."""
    if not isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype("category")
    categories = pd.Index(values.cat.categories.astype(object).tolist(), dtype=object)
    return pd.Series(pd.Categorical.from_codes(values.cat.codes.to_numpy(), categories=categories), index=values.index)


def _booleans(values: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("boolean")
    text = values.astype("string").str.strip().str.lower()
    out = pd.Series(pd.NA, index=values.index, dtype="boolean")
    out[text.isin(_TRUE).fillna(False).to_numpy(dtype=bool)] = True
    out[text.isin(_FALSE - {""}).fillna(False).to_numpy(dtype=bool)] = False
    return out


def fixes_from_table(
    table: PointTable, *, tz: str = DEFAULT_TZ, crs: str = "wgs84", member_id: str | None = None
) -> pd.DataFrame:
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
    require_columns(mapping, TRACK_REQUIRED, columns + table.other_columns, table.source, "track")
    n = len(frame)
    raw = {name: frame[col].reset_index(drop=True) for name, col in mapping.items()}
    out: dict[str, Any] = {
        "member_id": _labels(raw["member_id"]),
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
            out[name] = _labels(raw[name])
    if "mock" in raw:
        out["mock"] = _booleans(raw["mock"])
    declared = normalise_crs_name(crs, "--crs") if table.declared_crs is None else table.declared_crs
    if "crs" in raw:
        per_row = _text(raw["crs"]).fillna(declared).str.lower().str.replace("-", "").str.replace("_", "")
        unknown = ~per_row.isin(COORDINATE_SYSTEMS)
        if unknown.any():
            first = int(np.flatnonzero(unknown.to_numpy())[0])
            raise InputError(
                f"unknown coordinate system {per_row.iloc[first]!r} in column "
                f"{mapping['crs']!r}; use one of {', '.join(COORDINATE_SYSTEMS)}",
                source=table.source,
                line=int(table.lines[first]),
            )
        out["crs"] = _object_categories(per_row.astype("category"))
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
    return _fix_frame_from_columns(
        {
            "source": _fill(n, table.source, "category"),
            "line": pd.Series(np.asarray(table.unsplittable, dtype=np.int64)),
        },
        n,
    )


def track_files(path: str | Path) -> list[Path]:
    """The track files named by ``path``: the file itself, or a folder's files in name order.

    Files of other types in a folder are skipped with a warning naming them (never silently).

    Raises
    ------
    InputError
        When ``path`` does not exist, or is a folder without track files (naming the folder and
        the suffixes of track files).
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
    shown = f"{', '.join(skipped[:5])}{' …' if len(skipped) > 5 else ''}"
    if not files:
        held = f"only {len(skipped)} file(s) of other types ({shown})" if skipped else "no files"
        raise InputError(
            f"the folder holds no track files, {held}; track files end in {', '.join(TRACK_SUFFIXES)}", source=str(path)
        )
    if skipped:
        warnings.warn(
            f"{path}: skipped {len(skipped)} file(s) that are not tracks: {shown}", GeoverifyWarning, stacklevel=2
        )
    return files


def warn_if_swapped(fixes: pd.DataFrame, source: str, unit: str = "line") -> None:
    """Warn (:class:`GeoverifyWarning`) with :func:`swapped_hint` when there is one."""
    hint = swapped_hint(fixes, source, unit)
    if hint is not None:
        warnings.warn(hint, GeoverifyWarning, stacklevel=3)


def swapped_hint(fixes: pd.DataFrame, source: str, unit: str = "line") -> str | None:
    """What to say when a file's fixes look like lon and lat were swapped, else None.

    A fix whose latitude is beyond ±90° is rejected as ``invalid``; when most such fixes would be
    valid positions with lon and lat exchanged (lon=39.9, lat=116.4 in Beijing), the hint
    says so, with a count and the first such fix (its ``unit``: line, feature or row). The fixes
    are still rejected and counted, never changed: the hint only says where to look.
    """
    lon = fixes["lon"].to_numpy(dtype=np.float64, na_value=np.nan)
    lat = fixes["lat"].to_numpy(dtype=np.float64, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        out_of_range = np.isfinite(lon) & np.isfinite(lat) & ((np.abs(lat) > 90) | (np.abs(lon) > 180))
        swappable = out_of_range & (np.abs(lat) <= 180) & (np.abs(lon) <= 90)
    n = int(swappable.sum())
    if not n or 2 * n < int(out_of_range.sum()):
        return None
    first = int(np.flatnonzero(swappable)[0])
    return (
        f"{source}: columns lon and lat look swapped: {n} fix(es) have a latitude beyond ±90° but "
        f"would be valid with lon and lat exchanged ({unit} {int(fixes['line'].iloc[first])}: "
        f"lon={lon[first]:g}, lat={lat[first]:g}); they are rejected as invalid. Put the longitude "
        "(east, e.g. 116.4 in Beijing) in lon and the latitude (north, e.g. 39.9) in lat"
    )


def read_track_file(
    path: str | Path,
    *,
    tz: str = DEFAULT_TZ,
    crs: str = "wgs84",
    member_id: str | None = None,
    kind_hint: str = "track",
    max_fixes: int | None = None,
    hints: list[str] | None = None,
    source: str | None = None,
) -> pd.DataFrame:
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
    max_fixes : int, optional
        Refuse a file of more fixes (:class:`~geoverify.errors.UploadTooLarge`, a service
        upload's limit) as soon as that is known: from a Parquet file's metadata before reading,
        at the first CSV block over it, before the fix table of other files is built.
    hints : list of str, optional
        Given, what the file's content suggests (:func:`swapped_hint`) is appended to it instead
        of being warned (for a service, which answers it).
    source : str, optional
        How hints name the file (default: ``path``).

    Warns
    -----
    GeoverifyWarning
        When the file's lon and lat look swapped (:func:`warn_if_swapped`).
    """
    fixes = _read_track_file(path, tz=tz, crs=crs, member_id=member_id, kind_hint=kind_hint, max_fixes=max_fixes)
    suffix = Path(path).suffix.lower()
    unit = "feature" if suffix in GEOJSON_SUFFIXES else "row" if suffix in PARQUET_SUFFIXES else "line"
    if hints is None:
        warn_if_swapped(fixes, source or str(path), unit)
    else:
        hint = swapped_hint(fixes, source or str(path), unit)
        hints += [hint] if hint is not None else []
    return fixes


def _read_track_file(
    path: str | Path, *, tz: str, crs: str, member_id: str | None, kind_hint: str, max_fixes: int | None
) -> pd.DataFrame:
    """:func:`read_track_file` without the swapped-columns check."""
    path = Path(path)
    if path.suffix.lower() in CSV_SUFFIXES and path.is_file():
        # Block by block: the fix table is built without holding the file's text whole.
        parts = read_csv_in_blocks(
            path, lambda block: fixes_from_table(block, tz=tz, crs=crs, member_id=member_id), max_rows=max_fixes
        )
        if parts is not None:
            fixes = concat_fixes(parts)
            pa.default_memory_pool().release_unused()
            return fixes
    if path.suffix.lower() in PARQUET_SUFFIXES and path.is_file():
        # Block by block: the fix table is built without holding the file's Arrow table whole.
        fixes = concat_fixes(
            read_parquet_in_blocks(
                path, lambda block: fixes_from_table(block, tz=tz, crs=crs, member_id=member_id), max_rows=max_fixes
            )
        )
        pa.default_memory_pool().release_unused()
        return fixes
    if path.suffix.lower() == ".gpx":
        table = read_gpx_table(path, member_id)
    else:
        table = read_point_table(path, kind_hint)
    check_rows(len(table.frame) + len(table.unsplittable), max_fixes)
    table_unsplittable = unsplittable_fixes(table) if table.unsplittable else None
    fixes = fixes_from_table(table, tz=tz, crs=crs, member_id=member_id)
    del table
    # pyarrow's allocator keeps freed blocks (the file's text) for reuse; give them back.
    pa.default_memory_pool().release_unused()
    if table_unsplittable is not None:
        fixes = pd.concat([fixes, table_unsplittable], ignore_index=True)
    return fixes


def read_tracks(
    path: str | Path, *, tz: str = DEFAULT_TZ, crs: str = "wgs84", member_id: str | None = None
) -> pd.DataFrame:
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
    return concat_fixes(frames)


def concat_fixes(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Fix tables joined end to end, their categorical columns' categories united."""
    if len(frames) == 1:
        return frames[0]
    for name in ("member_id", "provider", "device_id", "source", "crs"):
        parts = [_object_categories(f[name]) for f in frames]
        merged = pd.Index(union_categoricals(parts).categories.tolist(), dtype=object)
        for f, part in zip(frames, parts):
            f[name] = pd.Categorical(part, categories=merged)
    return pd.concat(frames, ignore_index=True)
