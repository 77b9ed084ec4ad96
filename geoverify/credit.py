"""The credit rule: points for a verified patrol, held while a high-severity flag is open, rejected when one is
confirmed."""

from __future__ import annotations

from collections.abc import Iterable

from .flags import Flag
from .rules import Rules

CREDIT_STATUSES = ("verified", "held", "rejected")


def patrol_credit(verified_s: float, coverage_ratio: float, flags: Iterable[Flag], rules: Rules) -> dict:
    """Credit of one patrol, given its flags and their review status.

    Parameters
    ----------
    verified_s : float
        Verified patrol time in seconds.
    coverage_ratio : float
        ``coverage.area_ratio``.
    flags : iterable of Flag
        The patrol's flags with their review ``status``: an open high-severity flag holds the
        credit, a confirmed one rejects it, a dismissed one counts for nothing.
    rules : Rules
        ``points_per_patrol``, ``min_verified_s`` (seconds), ``min_coverage_ratio``.

    Returns
    -------
    dict
        ``{"status": "verified" | "held" | "rejected", "points": float}``; a held or rejected
        patrol earns 0. A verified one earns ``points_per_patrol``
        when ``verified_s >= min_verified_s`` and ``coverage_ratio >= min_coverage_ratio``,
        else 0.
    """
    high = [flag.status for flag in flags if flag.severity == "high"]
    if "confirmed" in high:
        return {"status": "rejected", "points": 0}
    if "open" in high:
        return {"status": "held", "points": 0}
    earns = verified_s >= rules.min_verified_s and coverage_ratio >= rules.min_coverage_ratio
    points = rules.points_per_patrol if earns else 0
    return {"status": "verified", "points": int(points) if float(points).is_integer() else points}
