"""Point tables from CSV files, read with pyarrow in blocks: UTF-8 checked first, numbers, labels and
times on the fast path when every value parses, ragged lines counted, every error naming its line."""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from geoverify import settings
from geoverify.errors import InputError
from geoverify.io.tables import PointTable, T, _to_pandas, check_rows, resolve_columns

# pyarrow reads CSV in blocks; a block must hold a whole line, so this bounds the longest line.
_CSV_BLOCK_BYTES = 16 << 20


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


STRAY_QUOTE = (
    'a quote (") opens a field that is not closed on its line, so the field runs on over the '
    "next lines; a track CSV holds one fix per line: remove the stray quote or close it"
)


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
                raise InputError(
                    f"cannot read CSV: it is not UTF-8 text (byte 0x{exc.object[exc.start]:02x}: "
                    f"{exc.reason}); save it as UTF-8",
                    source=str(path),
                    line=line,
                ) from None
            line += chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise InputError(
                "cannot read CSV: it is not UTF-8 text (it ends inside a character); save it as UTF-8",
                source=str(path),
                line=line,
            ) from None


def _has_quote(path: Path) -> bool:
    """Whether the file holds a double quote anywhere (read in 1 MiB pieces; about 10 ms per 64 MiB)."""
    with open(path, "rb") as fh:
        return any(b'"' in chunk for chunk in iter(lambda: fh.read(1 << 20), b""))


def _refuse_values_across_lines(
    frame: pd.DataFrame, lines: np.ndarray, bad: list, source: str, quoted: bool = True
) -> None:
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
    for position in range(frame.shape[1]):  # by position: a header may leave several columns unnamed
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
    types = {name: pa.float64() if name in numeric else LABEL_TYPE if name in labels else pa.string() for name in names}
    fast = _fast_types(path, delimiter, names, str(path))
    return delimiter, ([{**types, **fast}] if fast else []) + [types, dict.fromkeys(names, pa.string())]


def read_csv_in_blocks(path: Path, convert: Callable[[PointTable], T], max_rows: int | None = None) -> list[T] | None:
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
        raise InputError(
            f"the header (the first line) is longer than {max_bytes} bytes, the limit: a header "
            "names the columns, e.g. member_id,time,lon,lat; keep the columns geoverify reads",
            source=str(path),
            line=1,
        )
    columns = raw.count(delimiter.encode()) + 1
    if columns > max_columns:
        raise InputError(
            f"the header has {columns} columns; at most {max_columns} are read: keep the "
            "columns geoverify reads (e.g. member_id,time,lon,lat,accuracy) and drop the others",
            source=str(path),
            line=1,
        )
    try:
        head = raw.decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"cannot read CSV: its header is not UTF-8 text ({exc}); save it as UTF-8", source=str(path), line=1
        ) from None
    if not head.strip():
        raise InputError("the file is empty or its first line (the header) is blank", source=str(path))
    names = [n.strip().strip('"') for n in head.split(delimiter)]
    seen: set[str] = set()
    for name in names:
        if name.lower() in seen and name:
            raise InputError(
                f"the header names column {name!r} more than once; name each column once", source=str(path), line=1
            )
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
        raise InputError(
            f"cannot read CSV: it is not UTF-8 text ({message}); save it as UTF-8", source=str(path)
        ) from None
    if "conversion error" not in message.lower() or last:
        raise exc


def _csv_options(delimiter: str, types: dict[str, pa.DataType], bad: list) -> dict:
    """pyarrow CSV options; rows with the wrong number of fields are appended to ``bad``."""

    def on_invalid_row(row) -> str:
        bad.append((row.number, row.text))
        return "skip"

    return {
        "read_options": pacsv.ReadOptions(block_size=_CSV_BLOCK_BYTES, encoding="utf8"),
        "parse_options": pacsv.ParseOptions(
            delimiter=delimiter, invalid_row_handler=on_invalid_row, newlines_in_values=False
        ),
        "convert_options": pacsv.ConvertOptions(
            column_types=types,
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
            true_values=list(BOOL_TRUE),
            false_values=list(BOOL_FALSE),
        ),
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
