"""Point tables from CSV, GeoJSON and (Geo)Parquet files, with column aliases resolved.

Every reader here returns a :class:`PointTable`: a pandas DataFrame whose cells are the input's
text (or values) under the spec's column names, plus the line (CSV) or feature number (GeoJSON)
of each row, the coordinate system the file declares, and the rows that could not be split into
fields at all (ragged CSV lines), so that callers can count them instead of losing them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from ..errors import InputError
from ..schema import ALIASES, COORDINATE_SYSTEMS

CSV_SUFFIXES = (".csv", ".tsv")
GEOJSON_SUFFIXES = (".geojson", ".json")
PARQUET_SUFFIXES = (".parquet", ".geoparquet", ".pq")

# pyarrow reads CSV in blocks; a block must hold a whole line, so this bounds the longest line.
_CSV_BLOCK_BYTES = 16 << 20


@dataclass
class PointTable:
    """Rows of one point file under the spec's column names."""

    frame: pd.DataFrame
    lines: np.ndarray  # int64, the line (CSV) or 1-based feature number (GeoJSON) of each row
    source: str
    declared_crs: str | None = None
    unsplittable: list[int] = field(default_factory=list)  # CSV lines with the wrong field count
    position_unit: str = "line"  # "line" or "feature"


def normalise_crs_name(value: object, where: str) -> str:
    """Map a declared coordinate system name to one of ``COORDINATE_SYSTEMS``."""
    text = str(value).strip().lower().replace("-", "").replace("_", "")
    names = {"wgs84": "wgs84", "epsg4326": "wgs84", "crs84": "wgs84", "ogc:crs84": "wgs84",
             "urn:ogc:def:crs:ogc:1.3:crs84": "wgs84", "urn:ogc:def:crs:epsg::4326": "wgs84",
             "gcj02": "gcj02", "gcj": "gcj02", "mars": "gcj02", "bd09": "bd09", "bd09ll": "bd09",
             "baidu": "bd09"}
    if text in names:
        return names[text]
    raise InputError(f"unknown coordinate system {value!r}; use one of {', '.join(COORDINATE_SYSTEMS)}",
                     source=where)


def resolve_columns(columns: list[str], wanted: tuple[str, ...], source: str) -> dict[str, str]:
    """Map input column names to spec names for the ``wanted`` spec columns.

    An exact spec name wins over an alias; the first alias in ``ALIASES`` order wins otherwise.
    """
    lowered = {}
    for col in columns:
        lowered.setdefault(str(col).strip().lower(), col)
    mapping = {}
    for name in wanted:
        for alias in ALIASES.get(name, (name,)):
            if alias in lowered and lowered[alias] not in mapping.values():
                mapping[name] = lowered[alias]
                break
    return mapping


def require_columns(mapping: dict[str, str], required: tuple[str, ...], columns: list[str],
                    source: str, kind: str) -> None:
    """Raise :class:`InputError` naming the missing required columns of a ``kind`` file."""
    missing = [name for name in required if name not in mapping]
    if missing:
        found = ", ".join(map(str, columns)) or "none"
        raise InputError(
            f"{kind} file lacks required column(s) {', '.join(missing)} (found: {found}); "
            f"a {kind} file needs {', '.join(required)}", source=source)


def _sniff_delimiter(path: Path) -> str:
    with open(path, "rb") as fh:
        head = fh.readline(1 << 20)
    text = head.decode("utf-8-sig", errors="replace")
    counts = {d: text.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=counts.get)
    return best if counts[best] > 0 else ","


# Columns that are read as numbers directly when every value parses (the fast path).
NUMERIC_COLUMNS = ("lon", "lat", "accuracy", "speed")


def read_csv_table(path: Path) -> PointTable:
    """Read a CSV (``,``, ``;`` or tab separated, UTF-8); numeric columns as float64 when they all
    parse, every other column (and a numeric one with a bad value) as text."""
    source = str(path)
    delimiter = _sniff_delimiter(path)
    names = _header_names(path, delimiter)
    numeric = set(resolve_columns(names, NUMERIC_COLUMNS, source).values())
    types = {name: pa.float64() if name in numeric else pa.string() for name in names}
    try:
        table, bad = _read_csv(path, delimiter, types)
    except pa.ArrowInvalid as exc:
        if "conversion error" not in str(exc).lower():
            raise
        table, bad = _read_csv(path, delimiter, dict.fromkeys(names, pa.string()))
    frame = table.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow")}.get)
    frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
    # Line numbers: the header is line 1; skipped ragged rows keep their own numbers.
    if any(number is None for number, _ in bad):
        bad = list(zip(_locate_lines(path, [text for _, text in bad]), [text for _, text in bad]))
    unsplittable = []
    skipped = set()
    for number, text in bad:
        skipped.add(number)
        if text is not None and text.strip():
            unsplittable.append(number)
    total = len(frame) + len(skipped)
    all_lines = np.arange(2, total + 2, dtype=np.int64)
    lines = all_lines[~np.isin(all_lines, np.fromiter(skipped, dtype=np.int64))] if skipped else all_lines
    return PointTable(frame=frame, lines=lines[: len(frame)], source=source, unsplittable=unsplittable)


def _locate_lines(path: Path, texts: list[str | None]) -> list[int]:
    """Line numbers of rows pyarrow skipped, found by their text in file order (rare path)."""
    found, wanted = [], iter(texts)
    target = next(wanted, None)
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            if number == 1 or target is None:
                continue
            if line.rstrip("\r\n") == (target or "").rstrip("\r\n"):
                found.append(number)
                target = next(wanted, None)
    return found + [-1] * (len(texts) - len(found))


def _header_names(path: Path, delimiter: str) -> list[str]:
    with open(path, "rb") as fh:
        head = fh.readline(_CSV_BLOCK_BYTES).decode("utf-8-sig", errors="replace").rstrip("\r\n")
    if not head.strip():
        raise InputError("the file is empty or its first line (the header) is blank", source=str(path))
    return [n.strip().strip('"') for n in head.split(delimiter)]


def _read_csv(path: Path, delimiter: str, types: dict[str, pa.DataType]):
    """pyarrow's CSV reader; rows with the wrong number of fields are collected, not fatal."""
    bad: list[tuple[int | None, str]] = []

    def on_invalid_row(row) -> str:
        bad.append((row.number, row.text))
        return "skip"

    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=_CSV_BLOCK_BYTES, encoding="utf8"),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid_row,
                                             newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=False,
                                                 quoted_strings_can_be_null=False),
        )
    except pa.ArrowInvalid as exc:
        message = str(exc)
        if "conversion error" in message.lower():
            raise
        if "straddling" in message or "block size" in message.lower():
            message = f"a line is longer than {_CSV_BLOCK_BYTES >> 20} MiB; split the file or fix that line"
        raise InputError(f"cannot read CSV: {message}", source=str(path)) from None
    except (UnicodeDecodeError, pa.ArrowException) as exc:
        raise InputError(f"cannot read CSV: {exc}; save it as UTF-8 text", source=str(path)) from None
    return table, bad


def read_geojson_points(path: Path, kind: str) -> PointTable:
    """Read a GeoJSON FeatureCollection of Point features into a table of properties plus lon/lat.

    A feature whose geometry is null gets NaN coordinates (an invalid row for the caller to
    count); a feature of any other geometry type is an error naming it.
    """
    source = str(path)
    try:
        with open(path, "rb") as fh:
            document = json.load(fh)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        raise InputError(f"not valid JSON ({exc})", source=source, line=line) from None
    return geojson_points_table(document, source, kind)


def geojson_points_table(document: object, source: str, kind: str) -> PointTable:
    """The :func:`read_geojson_points` table of an already parsed GeoJSON document."""
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        raise InputError(f"a {kind} GeoJSON file must be a FeatureCollection of Point features",
                         source=source)
    features = document.get("features")
    if not isinstance(features, list):
        raise InputError("'features' must be a list", source=source)
    declared = _geojson_declared_crs(document, source)
    rows = []
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
                raise InputError(f"geometry is {gtype}; a {kind} file holds Point features only",
                                 source=source, feature=number)
            coords = geometry.get("coordinates")
            if isinstance(coords, list) and len(coords) >= 2:
                lon, lat = coords[0], coords[1]
        row = {k: v for k, v in props.items() if k not in ("lon", "lat")}
        row["lon"], row["lat"] = lon, lat
        rows.append(row)
    frame = pd.DataFrame.from_records(rows) if rows else pd.DataFrame(columns=["lon", "lat"])
    return PointTable(frame=frame, lines=np.arange(1, len(rows) + 1, dtype=np.int64), source=source,
                      declared_crs=declared, position_unit="feature")


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
    """Read a Parquet or GeoParquet file; a WKB ``geometry`` column of points gives lon/lat."""
    source = str(path)
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many types for a damaged file
        raise InputError(f"cannot read Parquet: {exc}", source=source) from None
    if "geometry" in frame.columns and not {"lon", "lat"} & {c.lower() for c in frame.columns}:
        import shapely

        geoms = shapely.from_wkb(frame["geometry"].to_numpy(), on_invalid="ignore")
        types = shapely.get_type_id(geoms)
        if np.any((types != 0) & (types != -1)):
            first = int(np.flatnonzero((types != 0) & (types != -1))[0]) + 1
            raise InputError("geometry is not a Point; a track table holds points", source=source,
                             line=first)
        frame = frame.drop(columns="geometry")
        frame["lon"], frame["lat"] = shapely.get_x(geoms), shapely.get_y(geoms)
    return PointTable(frame=frame, lines=np.arange(1, len(frame) + 1, dtype=np.int64), source=source,
                      position_unit="row")


def read_point_table(path: str | Path, kind: str) -> PointTable:
    """Read any supported point file (CSV, GeoJSON, Parquet) by its suffix."""
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", source=str(path))
    if path.is_dir():
        raise InputError(f"is a folder; give a {kind} file", source=str(path))
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return read_csv_table(path)
    if suffix in GEOJSON_SUFFIXES:
        return read_geojson_points(path, kind)
    if suffix in PARQUET_SUFFIXES:
        return read_parquet_table(path)
    raise InputError(f"unknown file type {suffix!r} for a {kind} file; use .csv, .geojson, .parquet"
                     + (" or .gpx" if kind == "track" else ""), source=str(path))
