"""The credit rule: points for a verified patrol, held while a high-severity flag is open, rejected
when one is confirmed.

:func:`patrol_credit` settles the credit; :func:`credit_reasons` says which rule gave or withheld
the points, with the figures and thresholds it compared (the map page and the reports turn these
codes into sentences).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from geoverify.flags import Flag
from geoverify.rules import Rules

CREDIT_STATUSES = ("verified", "held", "rejected")
#: the reasons' ``rule`` codes, in the order they are listed
REASON_RULES = ("rejected", "held", "grid", "crs_mismatch", "verified_time", "coverage", "points")
#: flags whose stretches are taken off verified time unless an auditor dismissed them
EXCLUDING_CODES = ("IDLE", "LOOP", "VEHICLE")


def _number(value: float) -> int | float:
    """``value`` as an int when it is whole (points print as ``5``, not ``5.0``)."""
    return int(value) if float(value).is_integer() else value


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
    return {"status": "verified", "points": _number(points)}


def credit_reasons(
    verified_s: float,
    coverage_ratio: float,
    flags: Iterable[Flag],
    rules: Rules,
    *,
    in_grid_s: float | None = None,
    has_grid: bool = True,
) -> list[dict[str, Any]]:
    """Why :func:`patrol_credit` gave or withheld the points: one entry per rule it applied.

    Parameters
    ----------
    verified_s, coverage_ratio, flags, rules
        As for :func:`patrol_credit`.
    in_grid_s : float, optional
        The patrol's in-grid time (seconds), to show how much IDLE, LOOP and VEHICLE took off.
    has_grid : bool
        False for a member assigned to no grid (its in-grid time and coverage are 0).

    Returns
    -------
    list of dict
        In this order, each with ``rule`` and ``met`` (whether it allows the points):

        - ``{"rule": "rejected", "flag_id", "code", "met": False}`` per confirmed high-severity flag;
        - ``{"rule": "held", "flag_id", "code", "met": False}`` per open high-severity flag;
        - ``{"rule": "grid", "met": False}`` when the member is in no grid;
        - ``{"rule": "crs_mismatch", "flag_id", "code", "if_converted_points", "met": False}`` per
          CRS_MISMATCH flag not dismissed: the track sits one GCJ-02 offset off its grid, and read
          as GCJ-02 it would earn ``if_converted_points``;
        - ``{"rule": "verified_time", "value_s", "required_s", "met", "in_grid_s", "excluded"}``:
          ``excluded`` lists the IDLE, LOOP and VEHICLE flags not dismissed, with the in-grid
          seconds each took off (``{"flag_id", "code", "seconds"}``);
        - ``{"rule": "coverage", "value", "required", "met"}`` (area ratios);
        - ``{"rule": "points", "points", "points_per_patrol", "met"}``: the points granted and
          those a patrol that meets every rule earns.
    """
    flags = list(flags)
    reasons: list[dict[str, Any]] = []
    for status, rule in (("confirmed", "rejected"), ("open", "held")):
        reasons += [
            {"rule": rule, "flag_id": f.flag_id, "code": f.code, "met": False}
            for f in flags
            if f.severity == "high" and f.status == status
        ]
    if not has_grid:
        reasons.append({"rule": "grid", "met": False})
    for f in flags:
        if f.code == "CRS_MISMATCH" and f.status != "dismissed":
            converted = (f.evidence.get("if_converted") or {}).get("credit") or {}
            reasons.append(
                {
                    "rule": "crs_mismatch",
                    "flag_id": f.flag_id,
                    "code": f.code,
                    "if_converted_points": converted.get("points"),
                    "met": False,
                }
            )
    excluded = [
        {"flag_id": f.flag_id, "code": f.code, "seconds": round(float(f.evidence["excluded_in_grid_s"]), 3)}
        for f in flags
        if f.code in EXCLUDING_CODES
        and f.status != "dismissed"
        and float(f.evidence.get("excluded_in_grid_s") or 0) > 0
    ]
    time_met = verified_s >= rules.min_verified_s
    reasons.append(
        {
            "rule": "verified_time",
            "value_s": round(float(verified_s), 3),
            "required_s": _number(rules.min_verified_s),
            "met": bool(time_met),
            "in_grid_s": None if in_grid_s is None else round(float(in_grid_s), 3),
            "excluded": excluded,
        }
    )
    coverage_met = coverage_ratio >= rules.min_coverage_ratio
    reasons.append(
        {
            "rule": "coverage",
            "value": round(float(coverage_ratio), 4),
            "required": _number(rules.min_coverage_ratio),
            "met": bool(coverage_met),
        }
    )
    credit = patrol_credit(verified_s, coverage_ratio, flags, rules)
    reasons.append(
        {
            "rule": "points",
            "points": credit["points"],
            "points_per_patrol": _number(rules.points_per_patrol),
            "met": credit["status"] == "verified" and bool(time_met and coverage_met),
        }
    )
    return reasons
