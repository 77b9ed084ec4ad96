"""The credit rule: points for a verified patrol, held while a high-severity flag is open."""

from __future__ import annotations

from typing import Iterable

from .flags import Flag
from .rules import Rules

CREDIT_STATUSES = ("verified", "held", "rejected")


def patrol_credit(verified_s: float, coverage_ratio: float, flags: Iterable[Flag], rules: Rules) -> dict:
    """Credit of one patrol before any auditor's decision.

    Parameters
    ----------
    verified_s : float
        Verified patrol time in seconds.
    coverage_ratio : float
        ``coverage.area_ratio``.
    flags : iterable of Flag
        The patrol's flags; any high-severity one holds the credit.
    rules : Rules
        ``points_per_patrol``, ``min_verified_s`` (seconds), ``min_coverage_ratio``.

    Returns
    -------
    dict
        ``{"status": "verified" | "held", "points": float}``; a held patrol earns 0 until an
        auditor resolves its high-severity flags. A verified one earns ``points_per_patrol``
        when ``verified_s >= min_verified_s`` and ``coverage_ratio >= min_coverage_ratio``,
        else 0.
    """
    if any(flag.severity == "high" for flag in flags):
        return {"status": "held", "points": 0}
    earns = verified_s >= rules.min_verified_s and coverage_ratio >= rules.min_coverage_ratio
    points = rules.points_per_patrol if earns else 0
    return {"status": "verified", "points": int(points) if float(points).is_integer() else points}
