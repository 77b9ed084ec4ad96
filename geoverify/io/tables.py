"""Point tables from CSV, GeoJSON and (Geo)Parquet files, with column aliases resolved.

Every reader here returns a :class:`PointTable`: a pandas DataFrame whose cells are the input's
text (or values) under the spec's column names, plus the line (CSV) or feature number (GeoJSON)
of each row, the coordinate system the file declares, and the rows that could not be split into
fields at all (ragged CSV lines), so that callers can count them instead of losing them.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .. import settings
from ..errors import InputError, UploadTooLarge
from ..schema import ALIASES, COORDINATE_SYSTEMS
from .jsondepth import load_json_file

CSV_SUFFIXES = (".csv", ".tsv")
GEOJSON_SUFFIXES = (".geojson", ".json")
PARQUET_SUFFIXES = (".parquet", ".geoparquet", ".pq")

# pyarrow reads CSV in blocks; a block must hold a whole line, so this bounds the longest line.
_CSV_BLOCK_BYTES = 16 << 20

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


def require_columns(mapping: dict[str, str], required: tuple[str, ...], columns: list[str],
                    source: str, kind: str) -> None:
    """Raise :class:`InputError` naming the missing required columns of a ``kind`` file."""
    missing = [name for name in required if name not in mapping]
    if missing:
        found = ", ".join(map(str, columns[:20])) + (f" … ({len(columns)} in all)" if len(columns) > 20 else "")
        found = found or "none"
        raise InputError(
            f"{kind} file lacks required column(s) {', '.join(missing)} (found: {found}); "
            f"a {kind} file needs {', '.join(required)}", source=source)


def _sniff_delimiter(path: Path) -> str:
    with open(path, "rb") as fh:
        head = fh.readline(1 << 20)
    text = head.decode("utf-8-sig", errors="replace")
    counts = {d: text.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


# Columns that are read as numbers directly when every value parses (the fast path).
NUMERIC_COLUMNS = ("lon", "lat", "accuracy", "speed")
# Columns with few distinct values, read dictionary-encoded (one code per row, each text once).
LABEL_COLUMNS = ("member_id", "provider", "device_id")
LABEL_TYPE = pa.dictionary(pa.int32(), pa.string())
# Spellings of mock flags that pyarrow reads as booleans directly (the track reader accepts the
# same words in any case; a file using others is read as text and parsed there).
BOOL_TRUE = ("true", "True", "TRUE", "1", "yes", "Yes", "YES", "y", "Y", "t", "T")
BOOL_FALSE = ("false", "False", "FALSE", "0", "no", "No", "NO", "n", "N", "f", "F")
# Data lines looked at to decide whether times carry offsets and mock flags are plain words.
_SNIFF_LINES = 200
_OFFSET_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)$")


def read_csv_table(path: Path, one_row_per_line: bool = True) -> PointTable:
    """Read a CSV (``,``, ``;`` or tab separated, UTF-8); numeric columns as float64 when they all
    parse, every other column (and a numeric one with a bad value) as text.

    With ``one_row_per_line`` (tracks: one fix per line) a quoted field running over a line break
    is an error naming its line; otherwise (an event's description may hold line breaks) it is read
    as RFC 4180 allows, and later line numbers count rows, not lines.

    Fast path: when the first lines' times all carry a UTC offset, the time column is parsed by
    pyarrow straight into UTC nanoseconds, and a mock column of plain true/false words straight
    into booleans, so no per-row text is kept for them; if any later value does not parse that
    way, the file is read again with those columns as text (the general path).
    """
    source = str(path)
    delimiter, attempts = _csv_plan(path)
    for k, attempt in enumerate(attempts):
        try:
            table, bad = _read_csv(path, delimiter, attempt)
            break
        except pa.ArrowInvalid as exc:
            # A value that does not convert: read again with fewer typed columns.
            _retry_or_raise(exc, path, last=k == len(attempts) - 1)
    frame = _to_pandas(table)
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
    if one_row_per_line:
        _refuse_values_across_lines(frame, lines[: len(frame)], bad, source, quoted=_has_quote(path))
    return PointTable(frame=frame, lines=lines[: len(frame)], source=source, unsplittable=unsplittable)


STRAY_QUOTE = ('a quote (") opens a field that is not closed on its line, so the field runs on over the '
               "next lines; a track CSV holds one fix per line: remove the stray quote or close it")


def _require_utf8(path: Path) -> None:
    """Refuse a file that is not UTF-8 text, naming the line of its first bad byte (read in 1 MiB pieces).

    Before pyarrow reads it: pyarrow checks the text of the columns it converts, but decodes a ragged
    row for the invalid-row handler inside its own callback, where a bad byte raises an exception that
    nobody can catch (Python prints it as "Exception ignored") and the read fails with a parse error
    that does not say why.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            try:
                if not chunk.isascii() or decoder.getstate()[0]:  # ASCII pieces need no decoding
                    decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                # exc.object: the chunk after the few bytes of a character the last chunk began
                line += exc.object.count(b"\n", 0, exc.start)
                raise InputError(f"cannot read CSV: it is not UTF-8 text (byte 0x{exc.object[exc.start]:02x}: "
                                 f"{exc.reason}); save it as UTF-8", source=str(path), line=line) from None
            line += chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise InputError("cannot read CSV: it is not UTF-8 text (it ends inside a character); save it as "
                             "UTF-8", source=str(path), line=line) from None


def _has_quote(path: Path) -> bool:
    """Whether the file holds a double quote anywhere (read in 1 MiB pieces; about 10 ms per 64 MiB)."""
    with open(path, "rb") as fh:
        return any(b'"' in chunk for chunk in iter(lambda: fh.read(1 << 20), b""))


def _refuse_values_across_lines(frame: pd.DataFrame, lines: np.ndarray, bad: list, source: str,
                                quoted: bool = True) -> None:
    """Raise InputError naming the line where a quoted field runs over a line break.

    pyarrow lets a quote carry a field over line breaks (``newlines_in_values`` only covers
    unquoted values); the lines it swallows would be lost without a trace. Rows before the first
    such field are numbered right, so its line number is exact. Without a quote in the file
    (``quoted`` false) no value can hold a line break, and the columns are not looked at.
    """
    for number, text in bad:
        if text and ("\n" in text or "\r" in text):
            raise InputError(STRAY_QUOTE, source=source, line=number if number is not None and number > 0 else None)
    if not quoted:
        return
    for position in range(frame.shape[1]):   # by position: a header may leave several columns unnamed
        column = frame.iloc[:, position]
        if isinstance(column.dtype, pd.StringDtype) and column.dtype.storage == "pyarrow":
            # Two substring searches in Arrow (no regular expression, no copy) rule most columns out.
            array = pa.chunked_array(column.array._pa_array)
            if not any(pc.any(pc.match_substring(array, brk)).as_py() for brk in ("\n", "\r")):
                continue
        if isinstance(column.dtype, pd.CategoricalDtype):
            categories = column.cat.categories
            if not len(categories) or not categories.astype(str).str.contains(r"[\r\n]", regex=True).any():
                continue
            values = column.astype(object)
        elif isinstance(column.dtype, pd.StringDtype) or column.dtype == object:
            values = column
        else:
            continue
        across = values.astype("string").str.contains(r"[\r\n]", regex=True, na=False).to_numpy(dtype=bool)
        if across.any():
            raise InputError(STRAY_QUOTE, source=source, line=int(lines[int(np.argmax(across))]))


def _csv_plan(path: Path) -> tuple[str, list[dict[str, pa.DataType]]]:
    """The delimiter and the column types to try in turn (fast path first, all text last)."""
    delimiter = _sniff_delimiter(path)
    names = _header_names(path, delimiter)
    _require_utf8(path)
    numeric = set(resolve_columns(names, NUMERIC_COLUMNS, str(path)).values())
    labels = set(resolve_columns(names, LABEL_COLUMNS, str(path)).values()) - numeric
    types = {name: pa.float64() if name in numeric else LABEL_TYPE if name in labels else pa.string()
             for name in names}
    fast = _fast_types(path, delimiter, names, str(path))
    return delimiter, ([{**types, **fast}] if fast else []) + [types, dict.fromkeys(names, pa.string())]


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    frame = table.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow"),
                                          pa.bool_(): pd.BooleanDtype()}.get)
    frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
    return frame


def check_rows(rows: int, max_rows: int | None, exact: bool = True) -> None:
    """Raise :class:`~geoverify.errors.UploadTooLarge` when a file holds more than ``max_rows`` rows
    (fixes); ``exact`` false when reading stopped at the first block over the limit."""
    if max_rows is not None and rows > max_rows:
        held = f"{rows} fixes" if exact else f"more than {max_rows} fixes (at least {rows})"
        raise UploadTooLarge(f"the upload holds {held}; at most {max_rows} are accepted per request: split the "
                             "file by member or by day")


def read_csv_in_blocks(path: Path, convert: Callable[[PointTable], T],
                       max_rows: int | None = None) -> list[T] | None:
    """Read a CSV block by block (about 16 MiB of text each), handing each block's rows to
    ``convert`` as a :class:`PointTable` and keeping only what it returns, so that the file's
    text and pyarrow's table are never held whole. Types and fallbacks as
    :func:`read_csv_table`.

    Parameters
    ----------
    max_rows : int, optional
        Stop with :class:`~geoverify.errors.UploadTooLarge` at the first block that takes the rows
        read over this (a service upload's fixes), before converting it.

    Returns
    -------
    list or None
        One ``convert`` result per block; None when the file has no data rows or has rows with
        the wrong number of fields (read those with :func:`read_csv_table`, which numbers the
        lines around them).
    """
    source = str(path)
    delimiter, attempts = _csv_plan(path)
    quoted = _has_quote(path)
    for k, attempt in enumerate(attempts):
        bad: list = []
        parts: list = []
        try:
            with _csv_errors(path):
                reader = pacsv.open_csv(path, **_csv_options(delimiter, attempt, bad))
                line = 2
                for batch in reader:
                    if bad:
                        return None
                    check_rows(line - 2 + batch.num_rows, max_rows, exact=False)
                    frame = _to_pandas(pa.Table.from_batches([batch]))
                    del batch
                    lines = np.arange(line, line + len(frame), dtype=np.int64)
                    _refuse_values_across_lines(frame, lines, [], source, quoted=quoted)
                    parts.append(convert(PointTable(frame=frame, source=source, lines=lines)))
                    line += len(frame)
        except pa.ArrowInvalid as exc:
            _retry_or_raise(exc, path, last=k == len(attempts) - 1)
            continue
        return parts if parts and not bad else None
    return None  # pragma: no cover - the last attempt returns or raises


def _fast_types(path: Path, delimiter: str, names: list[str], source: str) -> dict[str, pa.DataType]:
    """pyarrow types for the time and mock columns when the first lines allow the fast path."""
    mapping = resolve_columns(names, ("time", "mock"), source)
    if not mapping:
        return {}
    index = {col: names.index(col) for col in mapping.values()}
    rows = []
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        next(fh, None)
        for _, line in zip(range(_SNIFF_LINES), fh):
            if '"' in line:
                return {}  # quoted fields: leave the file to the general path
            rows.append(line.rstrip("\r\n").split(delimiter))
    if not rows or any(len(r) != len(names) for r in rows):
        return {}
    out = {}
    time_col = mapping.get("time")
    if time_col is not None and all(_OFFSET_TIME.match(r[index[time_col]]) for r in rows):
        out[time_col] = pa.timestamp("ns", tz="UTC")
    mock_col = mapping.get("mock")
    if mock_col is not None and all(r[index[mock_col]] in BOOL_TRUE + BOOL_FALSE for r in rows):
        out[mock_col] = pa.bool_()
    return out


def _locate_lines(path: Path, texts: list[str | None]) -> list[int]:
    """Line numbers of rows pyarrow skipped, found by their text in file order (rare path)."""
    found, wanted = [], iter(texts)
    target = next(wanted, None)
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            if number == 1 or target is None:
                continue
            # A row that a quote carried over line breaks is found by its first line.
            if line.rstrip("\r\n") == (target or "").split("\n")[0].rstrip("\r\n"):
                found.append(number)
                target = next(wanted, None)
    return found + [-1] * (len(texts) - len(found))


def _header_names(path: Path, delimiter: str) -> list[str]:
    """The header's column names; refused (:class:`InputError` naming the limit) when the header
    line is longer than :data:`~geoverify.settings.MAX_CSV_HEADER_BYTES` or has more than
    :data:`~geoverify.settings.MAX_TABLE_COLUMNS` columns, before any row is read: every column
    costs the readers time and memory in every block of rows."""
    max_bytes, max_columns = settings.MAX_CSV_HEADER_BYTES, settings.MAX_TABLE_COLUMNS
    with open(path, "rb") as fh:
        raw = fh.readline(max_bytes + 1)
    if len(raw) > max_bytes:
        raise InputError(f"the header (the first line) is longer than {max_bytes} bytes, the limit: a header "
                         "names the columns, e.g. member_id,time,lon,lat; keep the columns geoverify reads",
                         source=str(path), line=1)
    columns = raw.count(delimiter.encode()) + 1
    if columns > max_columns:
        raise InputError(f"the header has {columns} columns; at most {max_columns} are read: keep the "
                         "columns geoverify reads (e.g. member_id,time,lon,lat,accuracy) and drop the others",
                         source=str(path), line=1)
    try:
        head = raw.decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise InputError(f"cannot read CSV: its header is not UTF-8 text ({exc}); save it as UTF-8",
                         source=str(path), line=1) from None
    if not head.strip():
        raise InputError("the file is empty or its first line (the header) is blank", source=str(path))
    names = [n.strip().strip('"') for n in head.split(delimiter)]
    seen: set[str] = set()
    for name in names:
        if name.lower() in seen and name:
            raise InputError(f"the header names column {name!r} more than once; name each column once",
                             source=str(path), line=1)
        seen.add(name.lower())
    return names


def _read_csv(path: Path, delimiter: str, types: dict[str, pa.DataType]):
    """pyarrow's CSV reader; rows with the wrong number of fields are collected, not fatal."""
    bad: list[tuple[int | None, str]] = []
    with _csv_errors(path):
        table = pacsv.read_csv(path, **_csv_options(delimiter, types, bad))
    return table, bad


def _retry_or_raise(exc: pa.ArrowInvalid, path: Path, last: bool) -> None:
    """Return when a conversion error lets the read be tried again with fewer typed columns."""
    message = str(exc)
    if "invalid utf8" in message.lower():
        raise InputError(f"cannot read CSV: it is not UTF-8 text ({message}); save it as UTF-8",
                         source=str(path)) from None
    if "conversion error" not in message.lower() or last:
        raise exc


def _csv_options(delimiter: str, types: dict[str, pa.DataType], bad: list) -> dict:
    """pyarrow CSV options; rows with the wrong number of fields are appended to ``bad``."""
    def on_invalid_row(row) -> str:
        bad.append((row.number, row.text))
        return "skip"

    return {
        "read_options": pacsv.ReadOptions(block_size=_CSV_BLOCK_BYTES, encoding="utf8"),
        "parse_options": pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid_row,
                                            newlines_in_values=False),
        "convert_options": pacsv.ConvertOptions(column_types=types, strings_can_be_null=False,
                                                quoted_strings_can_be_null=False,
                                                true_values=list(BOOL_TRUE), false_values=list(BOOL_FALSE)),
    }


@contextmanager
def _csv_errors(path: Path):
    """pyarrow's errors as InputError naming the file (a conversion error passes through)."""
    try:
        yield
    except pa.ArrowInvalid as exc:
        message = str(exc)
        if "conversion error" in message.lower():
            raise
        if "straddling" in message or "block size" in message.lower():
            message = f"a line is longer than {_CSV_BLOCK_BYTES >> 20} MiB; split the file or fix that line"
        raise InputError(f"cannot read CSV: {message}", source=str(path)) from None
    except (UnicodeDecodeError, pa.ArrowException) as exc:
        raise InputError(f"cannot read CSV: {exc}; save it as UTF-8 text", source=str(path)) from None


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
        raise InputError(f"a {kind} GeoJSON file must be a FeatureCollection of Point features",
                         source=source)
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
                raise InputError(f"geometry is {gtype}; a {kind} file holds Point features only",
                                 source=source, feature=number)
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
    return PointTable(frame=frame, lines=np.arange(1, len(rows) + 1, dtype=np.int64), source=source,
                      declared_crs=declared, position_unit="feature", other_columns=list(other))


# Names of columns the readers do not read, kept for error messages ("found: …").
_OTHER_NAMES_KEPT = 20


def _known_column() -> Callable[[object], bool]:
    """Whether a column (property) name is one a reader may use: a spec name or alias, in any case."""
    names = {alias for aliases in ALIASES.values() for alias in aliases} | {"lon", "lat"}
    return lambda name: str(name).strip().lower() in names


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
    return PointTable(frame=frame, lines=np.arange(1, len(frame) + 1, dtype=np.int64), source=str(path),
                      position_unit="row", other_columns=parts[0].other_columns)


def read_parquet_in_blocks(path: Path, convert: Callable[[PointTable], T],
                           block_rows: int = 1 << 18, max_rows: int | None = None) -> list[T]:
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
        labels = [name for name in labels if pa.types.is_string(handle.schema_arrow.field(name).type)
                  or pa.types.is_large_string(handle.schema_arrow.field(name).type)]
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
            parts.append(convert(PointTable(frame=frame, source=source, position_unit="row", other_columns=other,
                                            lines=np.arange(row, row + len(frame), dtype=np.int64))))
            row += len(frame)
            del frame
            pa.default_memory_pool().release_unused()  # the block's Arrow buffers, before the next
    except (InputError, UploadTooLarge):
        raise
    except Exception as exc:  # noqa: BLE001 -- pyarrow raises many types for a damaged file
        raise InputError(f"cannot read Parquet: {exc}", source=source) from None
    if not parts:  # no rows: an empty table with the file's columns
        frame = _to_pandas(handle.schema_arrow.empty_table().select(wanted))
        parts.append(convert(PointTable(frame=frame, source=source, position_unit="row", other_columns=other,
                                        lines=np.zeros(0, dtype=np.int64))))
    return parts


# A little-endian 2D WKB point: byte order 1, type 1 (uint32), then x and y as float64.
_WKB_POINT_BYTES = 21
_WKB_POINT_HEAD = np.array([1, 1, 0, 0, 0], dtype=np.uint8)


def _wkb_points(column: pa.Array, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Lon and lat of a WKB column of points (NaN for a null or empty point)."""
    n = len(column)
    if n and column.null_count == 0 and pa.types.is_binary(column.type):
        offsets = np.frombuffer(column.buffers()[1], dtype=np.int32)[column.offset:column.offset + n + 1]
        if offsets[-1] - offsets[0] == n * _WKB_POINT_BYTES and np.all(np.diff(offsets) == _WKB_POINT_BYTES):
            data = np.frombuffer(column.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
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
    raise InputError(f"unknown file type {suffix!r} for a {kind} file; use .csv, .geojson, .parquet"
                     + (" or .gpx" if kind == "track" else ""), source=str(path))
