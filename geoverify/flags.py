"""Flags: what looked wrong in a patrol, when and where, with the evidence that raised it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

#: Severities, most severe first.
SEVERITIES = ("high", "medium", "low")

#: Every flag code (in the spec's table order) and its severity.
SEVERITY = {
    "TELEPORT": "high",
    "GPS_OUTLIER": "low",
    "IDLE": "medium",
    "LOOP": "medium",
    "GAP": "low",
    "VEHICLE": "medium",
    "MOCK_LOCATION": "high",
    "DUPLICATE_TRACK": "high",
    "CRS_MISMATCH": "medium",
    "EVENT_NO_TRACK": "high",
    "EVENT_FAR_FROM_TRACK": "high",
    "EVENT_OUTSIDE_GRID": "medium",
    "EVENT_DUPLICATE": "medium",
}


@dataclass
class Flag:
    """One flag. ``start``/``end`` are UTC timestamps; ``lon``/``lat`` WGS-84 degrees.

    ``flag_id`` is stable for the same input: ``<patrol_id or event_id@member_id>.<CODE>.<start
    as UTC HHMMSS>Z`` (with ``-2``, ``-3`` … appended when that repeats); reviews refer to it.
    ``status`` is ``open`` until an auditor ``confirmed`` or ``dismissed`` it.
    """

    code: str
    start: pd.Timestamp
    end: pd.Timestamp
    lon: float
    lat: float
    evidence: dict[str, Any] = field(default_factory=dict)
    flag_id: str = ""
    status: str = "open"

    @property
    def severity(self) -> str:
        return SEVERITY[self.code]

    def to_dict(self, tz: str) -> dict[str, Any]:
        """JSON-ready dict; times in ISO 8601 with the offset of ``tz``."""
        return {
            "flag_id": self.flag_id,
            "code": self.code,
            "severity": self.severity,
            "status": self.status,
            "start": iso_time(self.start, tz),
            "end": iso_time(self.end, tz),
            "lon": round(float(self.lon), 7),
            "lat": round(float(self.lat), 7),
            "evidence": self.evidence,
        }


def iso_time(ts: pd.Timestamp, tz: str) -> str:
    """ISO 8601 with the offset of ``tz``; whole seconds unless the time has a fraction."""
    local = pd.Timestamp(ts).tz_convert(tz)
    if local.microsecond == 0 and local.nanosecond == 0:
        return local.isoformat(timespec="seconds")
    return local.isoformat(timespec="milliseconds")
