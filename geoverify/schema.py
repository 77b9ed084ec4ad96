"""Column names of the tables geoverify reads, stated once, with the aliases it accepts."""

from __future__ import annotations

import unicodedata

# A fix table, as every track reader returns it (one row per input fix, nothing dropped):
#   member_id str, time datetime64[ns, UTC] (NaT when unparseable), lon/lat float64 degrees
#   (NaN when unparseable), accuracy/speed float64 (NaN when absent; metres, m/s),
#   provider str, mock boolean (NA when absent), device_id str,
#   crs str ("wgs84", "gcj02", "bd09": what the input declared), source str (file), line int.
TRACK_REQUIRED = ("member_id", "time", "lon", "lat")
TRACK_OPTIONAL = ("accuracy", "speed", "provider", "mock", "device_id")
TRACK_COLUMNS = TRACK_REQUIRED + TRACK_OPTIONAL + ("crs", "source", "line")

EVENT_REQUIRED = ("event_id", "member_id", "time", "lon", "lat", "category")
EVENT_OPTIONAL = ("photo_sha256", "description")

SITE_REQUIRED = ("site_id", "grid_id", "lon", "lat")
SITE_OPTIONAL = ("tier", "name")

GRID_REQUIRED = ("grid_id",)
GRID_OPTIONAL = ("name", "grid_type", "members")

SITE_TIERS = ("red", "yellow", "green")
COORDINATE_SYSTEMS = ("wgs84", "gcj02", "bd09")

# Accepted spellings of a column, lower case, mapped to the spec's name.
ALIASES = {
    "member_id": ("member_id", "member", "memberid", "user_id", "userid", "user", "worker_id", "uid", "staff_id"),
    "time": ("time", "tracked_at", "timestamp", "datetime", "date_time", "recorded_at", "ts", "started_at"),
    "lon": ("lon", "longitude", "lng", "long", "x"),
    "lat": ("lat", "latitude", "y"),
    "accuracy": ("accuracy", "horizontal_accuracy", "acc", "hacc", "accuracy_m"),
    "speed": ("speed", "speed_mps", "velocity"),
    "provider": ("provider", "source_provider", "location_provider"),
    "mock": ("mock", "is_mock", "mocked", "is_mock_location", "from_mock_provider"),
    "device_id": ("device_id", "device", "deviceid", "imei"),
    "crs": ("crs", "coordinate_system", "coord_sys", "coordsys"),
    "event_id": ("event_id", "event", "id", "report_id"),
    "category": ("category", "type", "event_type"),
    "photo_sha256": ("photo_sha256", "photo_hash"),
    "description": ("description", "desc", "note"),
    "site_id": ("site_id", "site", "household_id"),
    "grid_id": ("grid_id", "grid", "gridid", "grid_code"),
    "tier": ("tier", "level", "risk"),
    "name": ("name", "title"),
}

# Ids (grid ids, member ids) are printed in reports, logs and URLs: bounded and printable.
MAX_ID_CHARS = 128


def id_problem(value: str) -> str | None:
    """Why ``value`` cannot be used as a grid or member id, or None when it can.

    An id is at most :data:`MAX_ID_CHARS` characters and holds no control or format characters
    (newlines, tabs, NUL, bidirectional overrides …), which would let an id rewrite a report's
    line or a log entry.
    """
    if len(value) > MAX_ID_CHARS:
        return f"is {len(value):,} characters long (at most {MAX_ID_CHARS})"
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            return f"contains the control character U+{ord(ch):04X}"
    return None
