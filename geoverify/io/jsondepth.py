"""JSON documents read with a bound on their nesting depth, checked before parsing and without recursion.

Python's JSON parser recurses once per nested array or object, so a body of a few kilobytes
(``[[[[…]]]]``) exhausts the interpreter's stack (``RecursionError``). :func:`check_json_depth` scans
the raw bytes instead: vectorised over chunks of 1 MiB, it skips what lies inside strings (escapes
included) and counts ``[``/``{`` against ``]``/``}``; its memory is bounded by the chunk whatever the
document's size, and it stops at the first bracket over the limit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import numpy as np

from geoverify import settings
from geoverify.errors import JsonTooDeep

_CHUNK_BYTES = 1 << 20
_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_STEP = np.zeros(256, dtype=np.int8)
_STEP[[ord("["), ord("{")]] = 1
_STEP[[ord("]"), ord("}")]] = -1


def _depth_message(limit: int) -> str:
    return (
        f"the JSON nests arrays and objects more than {limit} levels deep (the limit is {limit}; "
        "a GeoJSON MultiPolygon needs 8): send the document without the extra nesting"
    )


class _DepthScan:
    """The running state of a scan: depth, whether inside a string, backslashes just before."""

    def __init__(self, limit: int):
        self.limit = limit
        self.depth = 0
        self.in_string = False
        self.backslashes = 0  # a run of backslashes ending the previous chunk

    def feed(self, chunk: bytes) -> bool:
        """Scan the next chunk; False as soon as the depth goes over the limit."""
        if not chunk:
            return True
        a = np.frombuffer(chunk, dtype=np.uint8)
        quotes = np.flatnonzero(a == _QUOTE)
        slashes = a == _BACKSLASH
        if len(quotes) and (self.backslashes or slashes.any()):
            # A quote is escaped when an odd run of backslashes precedes it (possibly from the
            # previous chunk): the last byte that is not a backslash, at or before each position.
            last_other = np.maximum.accumulate(np.where(slashes, -1, np.arange(len(a))))
            before = np.maximum(quotes - 1, 0)
            run = np.where(quotes > 0, quotes - 1 - last_other[before], 0)
            from_previous = (quotes == 0) | (last_other[before] < 0)
            run = run + np.where(from_previous, self.backslashes, 0)
            quotes = quotes[run % 2 == 0]
        # Backslashes ending the chunk: up to the last other byte, or all of them (and the run before).
        to_other = int(np.argmin(slashes[::-1]))
        trailing = to_other if not slashes[-1 - to_other] else len(a) + self.backslashes
        steps = _STEP[a]
        brackets = np.flatnonzero(steps)
        if len(brackets):
            # Brackets after an even number of string quotes (counting the state carried in) are structure.
            inside = (np.searchsorted(quotes, brackets) + self.in_string) % 2 == 1
            moves = steps[brackets[~inside]].astype(np.int64)
            if len(moves):
                depths = self.depth + np.cumsum(moves)
                if int(depths.max()) > self.limit:
                    return False
                self.depth = int(depths[-1])
        self.in_string ^= bool(len(quotes) % 2)
        self.backslashes = trailing
        return True


def _utf8(data: bytes) -> bytes:
    """The document as UTF-8 bytes (JSON may come in UTF-16 or UTF-32, as :func:`json.loads` accepts)."""
    encoding = json.detect_encoding(data[:4])
    return data if encoding in ("utf-8", "utf-8-sig") else data.decode(encoding, errors="replace").encode()


def depth_within(chunks: Iterable[bytes], limit: int | None = None) -> bool:
    """Whether the JSON text in ``chunks`` (UTF-8) nests at most ``limit`` levels deep.

    Parameters
    ----------
    chunks : iterable of bytes
        The document, in pieces of any size.
    limit : int, optional
        Levels allowed; :data:`geoverify.settings.MAX_JSON_DEPTH` by default.

    Examples
    --------
    >>> depth_within([b'{"a": [[1, "]]]]"]]}'], limit=3), depth_within([b'[[[[]]]]'], limit=3)
    (True, False)
    """
    scan = _DepthScan(settings.MAX_JSON_DEPTH if limit is None else limit)
    return all(scan.feed(chunk) for chunk in chunks)


def _chunks(data: bytes) -> Iterable[bytes]:
    view = memoryview(data)
    for start in range(0, len(data), _CHUNK_BYTES):
        yield view[start : start + _CHUNK_BYTES].tobytes()


def _file_chunks(fh: BinaryIO) -> Iterable[bytes]:
    first = fh.read(4)
    encoding = json.detect_encoding(first)
    if encoding not in ("utf-8", "utf-8-sig"):
        yield _utf8(first + fh.read())
        return
    yield first
    yield from iter(lambda: fh.read(_CHUNK_BYTES), b"")


def check_json_depth(data: bytes, source: str | None = None, limit: int | None = None) -> None:
    """Raise :class:`JsonTooDeep` (an :class:`InputError` naming the limit) when ``data`` nests too deep."""
    limit = settings.MAX_JSON_DEPTH if limit is None else limit
    if not depth_within(_chunks(_utf8(data)), limit):
        raise JsonTooDeep(_depth_message(limit), source=source)


def check_json_file_depth(path: str | Path, limit: int | None = None) -> None:
    """:func:`check_json_depth` for a file, read in chunks of 1 MiB (never held whole)."""
    limit = settings.MAX_JSON_DEPTH if limit is None else limit
    with open(path, "rb") as fh:
        if not depth_within(_file_chunks(fh), limit):
            raise JsonTooDeep(_depth_message(limit), source=str(path))


def load_json(data: bytes, source: str | None = None) -> object:
    """Parse a JSON document after :func:`check_json_depth`.

    Raises
    ------
    JsonTooDeep
        Nested deeper than :data:`geoverify.settings.MAX_JSON_DEPTH`.
    ValueError
        Not valid JSON (:class:`json.JSONDecodeError` or :class:`UnicodeDecodeError`).
    """
    check_json_depth(data, source)
    return json.loads(data)


def load_json_file(path: str | Path) -> object:
    """Parse a JSON file after :func:`check_json_file_depth` (same errors as :func:`load_json`)."""
    check_json_file_depth(path)
    with open(path, "rb") as fh:
        return json.load(fh)
