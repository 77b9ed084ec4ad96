"""Reading an upload request: its body, format, parameters and Idempotency-Key (shared by the
grids, tracks, events and sites blueprints)."""

from __future__ import annotations

import re
from pathlib import Path

from flask import abort, g, jsonify, request

from geoverify.errors import InvalidRequest
from geoverify.schema import COORDINATE_SYSTEMS
from geoverify.settings import MAX_FILE_NAME_CHARS, MAX_IDEMPOTENCY_KEY_CHARS
from geoverify.store import ingest

from .auth import get_store

SUFFIX_OF_TYPE = {
    "text/csv": ".csv",
    "application/csv": ".csv",
    "text/plain": ".csv",
    "application/gpx+xml": ".gpx",
    "application/gpx": ".gpx",
    "application/geo+json": ".geojson",
    "application/json": ".geojson",
    "application/geopackage+sqlite3": ".gpkg",
    "application/x-sqlite3": ".gpkg",
    "application/vnd.apache.parquet": ".parquet",
    "application/x-parquet": ".parquet",
}
#: the longest an upload waits for its own verification when asked to (``Prefer: wait=N``), seconds
MAX_WAIT_S = 60.0
SUFFIXES = {".csv", ".gpx", ".geojson", ".json", ".gpkg", ".parquet", ".shp.zip"}
# An Idempotency-Key: printable ASCII (a structured-field string), no leading or trailing space.
IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")


def idempotency_key() -> str | None:
    """The request's Idempotency-Key, or None; 400 when it is empty, too long or not printable ASCII."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if len(key) > MAX_IDEMPOTENCY_KEY_CHARS or not IDEMPOTENCY_KEY.fullmatch(key):
        what = (
            f"is {len(key)} characters long"
            if len(key) > MAX_IDEMPOTENCY_KEY_CHARS
            else "is empty"
            if not key.strip()
            else "holds characters other than printable ASCII"
        )
        abort(
            400,
            description=f"The Idempotency-Key header {what}; use 1 to {MAX_IDEMPOTENCY_KEY_CHARS} "
            "printable ASCII characters, e.g. a UUID or '<device>-<date>-<batch>'.",
        )
    return key


def _body_and_suffix() -> tuple[bytes, str, str | None]:
    """The uploaded bytes, the reader suffix and a file name (multipart ``file`` or the raw body)."""
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            raise InvalidRequest("a multipart upload needs its file in the 'file' field")
        if len(upload.filename) > MAX_FILE_NAME_CHARS:
            raise InvalidRequest(
                f"the file name is {len(upload.filename)} characters long; at most "
                f"{MAX_FILE_NAME_CHARS} are accepted: rename the file (e.g. M001-2026-11-02.csv)"
            )
        suffix = Path(upload.filename).suffix.lower()
        if suffix not in SUFFIXES:
            raise InvalidRequest(
                f"cannot tell the format of {upload.filename[:80]!r}; name it .csv, .gpx, .geojson, .gpkg or .parquet"
            )
        return upload.read(), suffix, upload.filename
    suffix = SUFFIX_OF_TYPE.get(request.mimetype, "")
    if not suffix:
        shown = request.mimetype[:80] or "(none)"
        abort(
            415,
            description=f"Unsupported Content-Type {shown!r}; use one of "
            f"{', '.join(sorted(SUFFIX_OF_TYPE))}, or multipart/form-data with a 'file'.",
        )
    return request.get_data(cache=False), suffix, None


def handle_upload(kind: str, allowed_members: frozenset | None = None, **params):
    """Parse the request, call :func:`geoverify.store.ingest.upload`, answer its result.

    201 for a new upload, 200 when it repeats an earlier request.
    """
    key = idempotency_key()
    body, suffix, filename = _body_and_suffix()
    if not body:
        abort(400, description="The request body is empty; send the file's content.")
    crs = request.args.get("crs")
    if crs is not None and crs not in COORDINATE_SYSTEMS:
        raise InvalidRequest(f"crs must be wgs84, gcj02 or bd09, got {crs!r}")
    wait = prefer_wait()
    result = ingest.upload(
        get_store(),
        kind,
        body,
        suffix=suffix,
        params={"crs": crs, **params},
        actor=g.principal.name,
        idempotency_key=key,
        allowed_members=allowed_members,
        filename=filename,
        wait=wait,
    )
    response = jsonify(result)
    response.status_code = 200 if result.get("replayed") else 201
    if wait:
        response.headers["Preference-Applied"] = f"wait={wait:g}"
    return response


def prefer_wait() -> float:
    """Seconds the client asks to wait for its upload's verification (RFC 7240 ``Prefer: wait=N``),
    at most :data:`MAX_WAIT_S`; 0 when it does not ask."""
    for header in request.headers.getlist("Prefer"):
        for preference in header.split(","):
            name, _, value = preference.strip().partition("=")
            if name.strip().lower() == "wait":
                try:
                    return max(0.0, min(float(value.strip().strip('"')), MAX_WAIT_S))
                except ValueError:
                    abort(
                        400,
                        description=f"Prefer: wait={value[:40]!r} is not a number of seconds; "
                        f"send e.g. 'Prefer: wait=10' (at most {MAX_WAIT_S:g}).",
                    )
    return 0.0
