"""Point tables from GeoJSON Points and (Geo)Parquet files, and any point file by its suffix."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from geoverify.errors import InputError, UploadTooLarge
from geoverify.io.csv_points import LABEL_COLUMNS, read_csv_table
from geoverify.io.jsondepth import load_json_file
from geoverify.io.tables import (
    _OTHER_NAMES_KEPT,
    CSV_SUFFIXES,
    GEOJSON_SUFFIXES,
    PARQUET_SUFFIXES,
    PointTable,
    T,
    _known_column,
    _to_pandas,
    check_rows,
    normalise_crs_name,
    resolve_columns,
)


def read_geojson_points(path: Path, kind: str) -> PointTable:
    """Read a GeoJSON FeatureCollection of Point features into a table of properties plus lon/lat.

    A feature whose geometry is null gets NaN coordinates (an invalid row for the caller to
    count); a feature of any other geometry type is an error naming it.
    """
    source = str(path)
    try:
        document = load_json_file(path)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        raise InputError(f"not valid JSON ({exc})", source=source, line=line) from None
    return geojson_points_table(document, source, kind)


def geojson_points_table(document: object, source: str, kind: str) -> PointTable:
    """The :func:`read_geojson_points` table of an already parsed GeoJSON document."""
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        raise InputError(f"a {kind} GeoJSON file must be a FeatureCollection of Point features", source=source)
    features = document.get("features")
    if not isinstance(features, list):
        raise InputError("'features' must be a list", source=source)
    declared = _geojson_declared_crs(document, source)
    rows = []
    known = _known_column()
    other: dict[str, Any] = {}
    for number, feature in enumerate(features, start=1):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise InputError("is not a GeoJSON Feature object", source=source, feature=number)
        props = feature.get("properties") or {}
        if not isinstance(props, dict):
            raise InputError("'properties' must be an object", source=source, feature=number)
        geometry = feature.get("geometry")
        lon = lat = None
        if geometry is not None:
            if not isinstance(geometry, dict) or geometry.get("type") != "Point":
                gtype = geometry.get("type") if isinstance(geometry, dict) else type(geometry).__name__
                raise InputError(
                    f"geometry is {gtype}; a {kind} file holds Point features only", source=source, feature=number
                )
            coords = geometry.get("coordinates")
            if isinstance(coords, list) and len(coords) >= 2:
                lon, lat = coords[0], coords[1]
        # Only properties that name a column the readers know become columns: the table has one cell
        # per feature and column, so a property name of its own in each feature would cost
        # features × names cells. The others are only remembered (a few) for error messages.
        row = {}
        for k, v in props.items():
            if known(k):
                row[k] = v
            elif len(other) < _OTHER_NAMES_KEPT:
                other.setdefault(str(k), None)
        row["lon"], row["lat"] = lon, lat
        rows.append(row)
    frame = pd.DataFrame.from_records(rows) if rows else pd.DataFrame(columns=["lon", "lat"])
    return PointTable(
        frame=frame,
        lines=np.arange(1, len(rows) + 1, dtype=np.int64),
        source=source,
        declared_crs=declared,
        position_unit="feature",
        other_columns=list(other),
    )


def _geojson_declared_crs(document: dict, source: str) -> str | None:
    if "coordinate_system" in document:
        return normalise_crs_name(document["coordinate_system"], source)
    legacy = document.get("crs")
    if isinstance(legacy, dict):
        name = (legacy.get("properties") or {}).get("name")
        if name is not None:
            return normalise_crs_name(name, source)
    return None


def read_parquet_table(path: Path) -> PointTable:
    """Read a Parquet or GeoParquet file; a WKB ``geometry`` column of points gives lon/lat.

    Label columns (member, provider, device) come back dictionary-encoded (categorical), numbers
    and times as arrays, and little-endian 2D WKB points (what GeoParquet writers produce) are
    decoded straight from the column's bytes; no Python object per row is made.
    """
    parts = read_parquet_in_blocks(path, lambda block: block)
    if len(parts) == 1:
        return parts[0]
    frame = pd.concat([p.frame for p in parts], ignore_index=True)
    return PointTable(
        frame=frame,
        lines=np.arange(1, len(frame) + 1, dtype=np.int64),
        source=str(path),
        position_unit="row",
        other_columns=parts[0].other_columns,
    )


def read_parquet_in_blocks(
    path: Path, convert: Callable[[PointTable], T], block_rows: int = 1 << 18, max_rows: int | None = None
) -> list[T]:
    """Read a (Geo)Parquet file about ``block_rows`` rows at a time, handing each block to
    ``convert`` as a :class:`PointTable` (positions are row numbers from 1) and keeping only what
    it returns, so that the file's Arrow table is never held whole.

    A file of more than ``max_rows`` rows (its metadata says how many) is refused with
    :class:`~geoverify.errors.UploadTooLarge` before any is read: compressed, a few hundred
    kilobytes of Parquet can hold millions of rows."""
    source = str(path)
    try:
        handle = pq.ParquetFile(path)
        check_rows(handle.metadata.num_rows, max_rows)
        names = handle.schema_arrow.names
        labels = list(resolve_columns(names, LABEL_COLUMNS, source).values())
        labels = [
            name
            for name in labels
            if pa.types.is_string(handle.schema_arrow.field(name).type)
            or pa.types.is_large_string(handle.schema_arrow.field(name).type)
        ]
        handle = pq.ParquetFile(path, read_dictionary=labels)
        decode_wkb = "geometry" in names and not {"lon", "lat"} & {c.lower() for c in names}
        # Only the columns a reader may use are read: a column costs memory for every row, and a
        # compressed file can hold many columns of nothing.
        known = _known_column()
        wanted = [name for name in names if known(name) or (decode_wkb and name == "geometry")]
        other = [name for name in names if name not in wanted][:_OTHER_NAMES_KEPT]
        batches = handle.iter_batches(batch_size=block_rows, columns=wanted)
        parts, row = [], 1
        for batch in batches:
            table = pa.Table.from_batches([batch])
            del batch
            lon = lat = None
            if decode_wkb:
                lon, lat = _wkb_points(table.column("geometry").combine_chunks(), source)
                table = table.drop_columns(["geometry"])
            frame = _to_pandas(table)
            del table
            if lon is not None:
                frame["lon"], frame["lat"] = lon, lat
            parts.append(
                convert(
                    PointTable(
                        frame=frame,
                        source=source,
                        position_unit="row",
                        other_columns=other,
                        lines=np.arange(row, row + len(frame), dtype=np.int64),
                    )
                )
            )
            row += len(frame)
            del frame
            pa.default_memory_pool().release_unused()  # the block's Arrow buffers, before the next
    except (InputError, UploadTooLarge):
        raise
    except Exception as exc:  # noqa: BLE001 -- pyarrow raises many types for a damaged file
        raise InputError(f"cannot read Parquet: {exc}", source=source) from None
    if not parts:  # no rows: an empty table with the file's columns
        frame = _to_pandas(handle.schema_arrow.empty_table().select(wanted))
        parts.append(
            convert(
                PointTable(
                    frame=frame,
                    source=source,
                    position_unit="row",
                    other_columns=other,
                    lines=np.zeros(0, dtype=np.int64),
                )
            )
        )
    return parts


# A little-endian 2D WKB point: byte order 1, type 1 (uint32), then x and y as float64.
_WKB_POINT_BYTES = 21
_WKB_POINT_HEAD = np.array([1, 1, 0, 0, 0], dtype=np.uint8)


def _wkb_points(column: pa.Array, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Lon and lat of a WKB column of points (NaN for a null or empty point)."""
    n = len(column)
    if n and column.null_count == 0 and pa.types.is_binary(column.type):
        offsets = np.frombuffer(column.buffers()[1], dtype=np.int32)[column.offset : column.offset + n + 1]
        if offsets[-1] - offsets[0] == n * _WKB_POINT_BYTES and np.all(np.diff(offsets) == _WKB_POINT_BYTES):
            data = np.frombuffer(column.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
            rows = data.reshape(n, _WKB_POINT_BYTES)
            if bool((rows[:, :5] == _WKB_POINT_HEAD).all()):
                xy = np.ascontiguousarray(rows[:, 5:]).view("<f8")
                return xy[:, 0].astype(np.float64), xy[:, 1].astype(np.float64)
    import shapely

    geoms = shapely.from_wkb(column.to_numpy(zero_copy_only=False), on_invalid="ignore")
    types = shapely.get_type_id(geoms)
    if np.any((types != 0) & (types != -1)):
        first = int(np.flatnonzero((types != 0) & (types != -1))[0]) + 1
        raise InputError("geometry is not a Point; a track table holds points", source=source, line=first)
    return shapely.get_x(geoms), shapely.get_y(geoms)


def read_point_table(path: str | Path, kind: str) -> PointTable:
    """Read any supported point file (CSV, GeoJSON, Parquet) by its suffix."""
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", source=str(path))
    if path.is_dir():
        raise InputError(f"is a folder; give a {kind} file", source=str(path))
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return read_csv_table(path, one_row_per_line=kind == "track")
    if suffix in GEOJSON_SUFFIXES:
        return read_geojson_points(path, kind)
    if suffix in PARQUET_SUFFIXES:
        return read_parquet_table(path)
    raise InputError(
        f"unknown file type {suffix!r} for a {kind} file; use .csv, .geojson, .parquet"
        + (" or .gpx" if kind == "track" else ""),
        source=str(path),
    )
