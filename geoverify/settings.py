"""Settings read from the environment, in one place (see docs/configuration.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from geoverify.errors import InputError
from geoverify.io.times import DEFAULT_TZ

ENV_TZ = "GEOVERIFY_TZ"
ENV_RULES = "GEOVERIFY_RULES"
ENV_DATABASE_URL = "GEOVERIFY_DATABASE_URL"
DEFAULT_DATABASE_URL = "sqlite:///geoverify.db"
ENV_SETTLE_AT = "GEOVERIFY_SETTLE_AT"
ENV_MAX_FIXES_PER_UPLOAD = "GEOVERIFY_MAX_FIXES_PER_UPLOAD"
ENV_UPLOAD_PART_FIXES = "GEOVERIFY_UPLOAD_PART_FIXES"
DEFAULT_SETTLE_AT = "02:00"  # a day's credit settles at this local time on the next day


def configured_tz() -> str:
    """The zone for naive times and output offsets: ``$GEOVERIFY_TZ`` or Asia/Shanghai."""
    return os.environ.get(ENV_TZ) or DEFAULT_TZ


def configured_rules_path() -> str | None:
    """A rules file named by ``$GEOVERIFY_RULES``, if any."""
    return os.environ.get(ENV_RULES) or None


def configured_settle_after_s() -> float:
    """Seconds after the next local midnight at which a day's credit settles: ``$GEOVERIFY_SETTLE_AT``
    (``HH:MM``, 00:00–23:59) or 02:00.

    Raises
    ------
    InputError
        When the variable is not ``HH:MM``.
    """
    text = (os.environ.get(ENV_SETTLE_AT) or DEFAULT_SETTLE_AT).strip()
    hours, _, minutes = text.partition(":")
    if not (hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60 and len(minutes) == 2):
        raise InputError(f"{text!r} is not a local time HH:MM; set it like 02:00", source=ENV_SETTLE_AT)
    return int(hours) * 3600.0 + int(minutes) * 60.0


def configured_max_fixes_per_upload() -> int | None:
    """``$GEOVERIFY_MAX_FIXES_PER_UPLOAD`` (fixes one track upload may hold), or None when unset.

    Raises
    ------
    InputError
        When it is not a whole number of at least 1.
    """
    text = (os.environ.get(ENV_MAX_FIXES_PER_UPLOAD) or "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise InputError(f"{text!r} is not a whole number >= 1", source=ENV_MAX_FIXES_PER_UPLOAD)
    return int(text)


def configured_upload_part_fixes() -> int | None:
    """``$GEOVERIFY_UPLOAD_PART_FIXES`` (fixes per writer transaction of a track upload stored in
    parts), or None when unset: parts then follow a time budget (:mod:`geoverify.store.track_upload`).

    Raises
    ------
    InputError
        When it is not a whole number of at least 1.
    """
    text = (os.environ.get(ENV_UPLOAD_PART_FIXES) or "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise InputError(f"{text!r} is not a whole number >= 1", source=ENV_UPLOAD_PART_FIXES)
    return int(text)


def configured_database_url() -> str:
    """``$GEOVERIFY_DATABASE_URL`` or ``sqlite:///geoverify.db`` (in the working directory)."""
    return os.environ.get(ENV_DATABASE_URL) or DEFAULT_DATABASE_URL


# The Ed25519 private key that signs audit checkpoints: a file kept outside the database
# (``geoverify audit keygen``; see docs/audit.md). Unset: no checkpoints are signed.
ENV_AUDIT_KEY = "GEOVERIFY_AUDIT_KEY"


def configured_audit_key_path() -> str | None:
    """The audit key file named by ``$GEOVERIFY_AUDIT_KEY``, or None when unset."""
    return (os.environ.get(ENV_AUDIT_KEY) or "").strip() or None


# Defaults of the HTTP service's protective limits (app config keys; ``GEOVERIFY_<KEY>`` in the
# environment). See docs/configuration.md and docs/reliability.md.
DEFAULT_UPLOAD_RATE_LIMIT = "120/minute"  # uploads per token, all upload endpoints together
DEFAULT_RATELIMIT_STORAGE_URI = "memory://"  # per process; e.g. redis://… to share between processes
DEFAULT_RATELIMIT_STRATEGY = "moving-window"
DEFAULT_CORS_ORIGINS: tuple[str, ...] = ()  # no cross-origin access unless origins are listed
MAX_ID_CHARS = 512  # ids and other text values in paths and query strings
MAX_IDEMPOTENCY_KEY_CHARS = 255

# Bounds on what one input may ask of the readers and the service, so that a small hostile input
# cannot cost much more memory or time than its size (see docs/limits.md). Fixed, not configured.
MAX_QUERY_INT = 2**53 - 1  # integer query parameters (cursors, offsets): exact in every JSON client
MAX_JSON_DEPTH = 64  # arrays/objects inside each other in a JSON or GeoJSON body (a MultiPolygon needs 8)
MAX_TABLE_COLUMNS = 1000  # columns of a CSV header, properties of a grid file (a track needs 4)
MAX_TABLE_CELLS = 10_000_000  # a grid file's features × distinct properties (values GDAL lays out)
MAX_CSV_HEADER_BYTES = 64 * 1024  # the header line of a CSV
MAX_FILE_NAME_CHARS = 200  # the file name of a multipart upload
MAX_HEATMAP_CELLS_PER_SIDE = 1000  # heat-map cells along the longer side of a grid's box

# How long a client may take to send a request, and how many connections the server holds
# (``geoverify serve``; see "Slow clients and a reverse proxy" in docs/operations.md). A client
# that takes longer is disconnected, so that idle or trickling connections cannot use up the server.
ENV_HEADER_TIMEOUT = "GEOVERIFY_HEADER_TIMEOUT"
ENV_BODY_TIMEOUT = "GEOVERIFY_BODY_TIMEOUT"
ENV_BODY_MIN_RATE = "GEOVERIFY_BODY_MIN_RATE"
ENV_KEEPALIVE_TIMEOUT = "GEOVERIFY_KEEPALIVE_TIMEOUT"
ENV_CONNECTION_LIMIT = "GEOVERIFY_CONNECTION_LIMIT"


@dataclass(frozen=True)
class ConnectionLimits:
    """Deadlines of a request's arrival and the server's connection limit.

    Attributes
    ----------
    header_timeout_s : float
        Seconds from a connection's opening (or, on a kept-alive connection, from the first byte of
        the next request) to the end of the request's headers, in total: trickling a header line now
        and then does not extend it.
    body_timeout_s : float
        Seconds a request body may take once its headers are in, plus one second for every
        ``body_min_rate`` bytes received: a body must keep arriving at about that rate.
    body_min_rate : int
        Bytes per second (see ``body_timeout_s``).
    keepalive_timeout_s : int
        Seconds an idle kept-alive connection stays open between requests.
    connection_limit : int
        Connections held open at once per server process; more wait in the kernel's queue.
    """

    header_timeout_s: float = 20.0
    body_timeout_s: float = 60.0
    body_min_rate: int = 16 * 1024
    keepalive_timeout_s: int = 30
    connection_limit: int = 4096


def _positive_setting(name: str, default: float, integer: bool) -> float:
    text = (os.environ.get(name) or "").strip()
    if not text:
        return default
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        value = 0
    if not value > 0 or value == float("inf"):
        kind = "a whole number" if integer else "a number of seconds"
        raise InputError(f"{text!r} is not {kind} above 0", source=name)
    return value


def configured_connection_limits() -> ConnectionLimits:
    """The :class:`ConnectionLimits` of ``$GEOVERIFY_HEADER_TIMEOUT``, ``$GEOVERIFY_BODY_TIMEOUT``,
    ``$GEOVERIFY_BODY_MIN_RATE``, ``$GEOVERIFY_KEEPALIVE_TIMEOUT`` and ``$GEOVERIFY_CONNECTION_LIMIT``
    (defaults for those unset).

    Raises
    ------
    InputError
        When one is not a number above 0 (a whole number for the rate, keep-alive and limit).
    """
    default = ConnectionLimits()
    return ConnectionLimits(
        header_timeout_s=_positive_setting(ENV_HEADER_TIMEOUT, default.header_timeout_s, integer=False),
        body_timeout_s=_positive_setting(ENV_BODY_TIMEOUT, default.body_timeout_s, integer=False),
        body_min_rate=int(_positive_setting(ENV_BODY_MIN_RATE, default.body_min_rate, integer=True)),
        keepalive_timeout_s=int(_positive_setting(ENV_KEEPALIVE_TIMEOUT, default.keepalive_timeout_s, integer=True)),
        connection_limit=int(_positive_setting(ENV_CONNECTION_LIMIT, default.connection_limit, integer=True)),
    )
