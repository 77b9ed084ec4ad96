"""Point tables: what every point reader returns, with column aliases resolved and row limits checked.

Every reader (:mod:`geoverify.io.csv_points` for CSV, :mod:`geoverify.io.point_files` for GeoJSON and
(Geo)Parquet) returns a :class:`PointTable`: a pandas DataFrame whose cells are the input's text (or
values) under the spec's column names, plus the line (CSV) or feature number (GeoJSON) of each row,
the coordinate system the file declares, and the rows that could not be split into fields at all
(ragged CSV lines), so that callers can count them instead of losing them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa

from geoverify.errors import InputError, UploadTooLarge
from geoverify.schema import ALIASES, COORDINATE_SYSTEMS

CSV_SUFFIXES = (".csv", ".tsv")
GEOJSON_SUFFIXES = (".geojson", ".json")
PARQUET_SUFFIXES = (".parquet", ".geoparquet", ".pq")
T = TypeVar("T")


@dataclass
class PointTable:
    """Rows of one point file under the spec's column names."""

    frame: pd.DataFrame
    lines: np.ndarray  # int64, the line (CSV) or 1-based feature number (GeoJSON) of each row
    source: str
    declared_crs: str | None = None
    unsplittable: list[int] = field(default_factory=list)  # CSV lines with the wrong field count
    position_unit: str = "line"  # "line" or "feature"
    other_columns: list[str] = field(default_factory=list)  # names seen but not read (GeoJSON, Parquet)


def normalise_crs_name(value: object, where: str) -> str:
    """Map a declared coordinate system name to one of ``COORDINATE_SYSTEMS``."""
    text = str(value).strip().lower().replace("-", "").replace("_", "")
    names = {
        "wgs84": "wgs84",
        "epsg4326": "wgs84",
        "crs84": "wgs84",
        "ogc:crs84": "wgs84",
        "urn:ogc:def:crs:ogc:1.3:crs84": "wgs84",
        "urn:ogc:def:crs:epsg::4326": "wgs84",
        "gcj02": "gcj02",
        "gcj": "gcj02",
        "mars": "gcj02",
        "bd09": "bd09",
        "bd09ll": "bd09",
        "baidu": "bd09",
    }
    if text in names:
        return names[text]
    raise InputError(f"unknown coordinate system {value!r}; use one of {', '.join(COORDINATE_SYSTEMS)}", source=where)


def resolve_columns(columns: list[str], wanted: tuple[str, ...], source: str) -> dict[str, str]:
    """Map input column names to spec names for the ``wanted`` spec columns.

    An exact spec name wins over an alias; the first alias in ``ALIASES`` order wins otherwise.
    """
    lowered: dict[str, str] = {}
    for col in columns:
        lowered.setdefault(str(col).strip().lower(), col)
    mapping: dict[str, str] = {}
    for name in wanted:
        for alias in ALIASES.get(name, (name,)):
            if alias in lowered and lowered[alias] not in mapping.values():
                mapping[name] = lowered[alias]
                break
    return mapping


def require_columns(
    mapping: dict[str, str], required: tuple[str, ...], columns: list[str], source: str, kind: str
) -> None:
    """Raise :class:`InputError` naming the missing required columns of a ``kind`` file."""
    missing = [name for name in required if name not in mapping]
    if missing:
        found = ", ".join(map(str, columns[:20])) + (f" … ({len(columns)} in all)" if len(columns) > 20 else "")
        found = found or "none"
        raise InputError(
            f"{kind} file lacks required column(s) {', '.join(missing)} (found: {found}); "
            f"a {kind} file needs {', '.join(required)}",
            source=source,
        )


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    frame = table.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow"), pa.bool_(): pd.BooleanDtype()}.get)
    frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
    return frame


def check_rows(rows: int, max_rows: int | None, exact: bool = True) -> None:
    """Raise :class:`~geoverify.errors.UploadTooLarge` when a file holds more than ``max_rows`` rows
    (fixes); ``exact`` false when reading stopped at the first block over the limit."""
    if max_rows is not None and rows > max_rows:
        held = f"{rows} fixes" if exact else f"more than {max_rows} fixes (at least {rows})"
        raise UploadTooLarge(
            f"the upload holds {held}; at most {max_rows} are accepted per request: split the file by member or by day"
        )


# Names of columns the readers do not read, kept for error messages ("found: …").
_OTHER_NAMES_KEPT = 20


def _known_column() -> Callable[[object], bool]:
    """Whether a column (property) name is one a reader may use: a spec name or alias, in any case."""
    names = {alias for aliases in ALIASES.values() for alias in aliases} | {"lon", "lat"}
    return lambda name: str(name).strip().lower() in names
