"""The monthly and quarterly assessment of grid members (the points system's 月度/季度考核).

Per member and grid over a month (``2026-11``) or a quarter (``2026-Q4``):

- **days meeting the daily time**: patrol days whose ``verified_s`` is at least the grid type's
  ``min_verified_s`` (the rules; 7200 s by default);
- **points**: the credit ledger's points of the period's patrol days (grants less reversals), the
  points a scoring system was paid; beside them ``points_provisional``, the current credit of the
  patrol days that have not settled yet (not in the ledger);
- **share of households visited in the quarter**: the grid's sites with at least one visit from
  the first day of the quarter holding the period to the assessment day, over all its sites;
- **overdue visits** per tier on the assessment day (the period's last day, or today while the
  period runs): :func:`geoverify.assessment.schedule.visit_schedule`, red every 7 days, yellow 14, green 30.

Pure functions over tables the caller reads (the store: :mod:`geoverify.store.assessment`); the
exports (CSV, XLSX) are in :mod:`geoverify.assessment.export`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from geoverify.assessment.schedule import TIER_INTERVAL_DAYS, visit_schedule
from geoverify.rules import RuleSet

PERIOD_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2]|Q[1-4])$"
#: Visits are read from this many days before the quarter's first day: the longest visit interval,
#: so a site's last visit before the quarter still decides whether it is overdue early in it.
VISIT_LOOKBACK_DAYS = max(TIER_INTERVAL_DAYS.values())
TIERS = ("red", "yellow", "green")
#: Figures summed over rows (members) into grids and over grids into the totals.
SUMMED = ("patrol_days", "days_met", "verified_s", "points", "points_provisional", "site_visits")
#: Figures of a grid's sites, the same on every row of the grid and counted once per grid in the totals.
SITE_FIGURES = ("sites_total", "sites_visited", "overdue_red", "overdue_yellow", "overdue_green")


@dataclass(frozen=True)
class Period:
    """A month or a quarter of local dates.

    Attributes
    ----------
    label : str
        ``YYYY-MM`` or ``YYYY-Qn``.
    kind : str
        ``month`` or ``quarter``.
    start, end : datetime.date
        First and last day, both included.
    """

    label: str
    kind: str
    start: dt.date
    end: dt.date

    @property
    def quarter_start(self) -> dt.date:
        """First day of the quarter that holds the period."""
        return dt.date(self.start.year, 3 * ((self.start.month - 1) // 3) + 1, 1)

    @property
    def visits_from(self) -> dt.date:
        """Earliest visit date the assessment reads: :data:`VISIT_LOOKBACK_DAYS` before the quarter."""
        try:
            return self.quarter_start - dt.timedelta(days=VISIT_LOOKBACK_DAYS)
        except OverflowError:
            return dt.date.min

    def as_of(self, today: dt.date | None = None) -> dt.date:
        """The assessment day: the period's last day, or ``today`` while the period runs (never
        before its first day)."""
        if today is None or today >= self.end:
            return self.end
        return max(today, self.start)


def parse_period(text: str) -> Period:
    """A :class:`Period` from ``YYYY-MM`` (a month) or ``YYYY-Qn`` (a quarter, n = 1…4).

    Raises
    ------
    ValueError
        Naming the expected forms, for anything else (``2026-13``, ``2026-Q5``, ``0000-01``).

    Examples
    --------
    >>> parse_period("2026-Q4")
    Period(label='2026-Q4', kind='quarter', start=datetime.date(2026, 10, 1), end=datetime.date(2026, 12, 31))
    >>> parse_period("2026-02").end
    datetime.date(2026, 2, 28)
    """
    match = re.fullmatch(PERIOD_PATTERN, text or "")
    year = int(text[:4]) if match else 0
    if not match or not 1 <= year < dt.MAXYEAR:
        raise ValueError(f"period {text!r}: give a month like 2026-11 or a quarter like 2026-Q4")
    part = match.group(1)
    if part.startswith("Q"):
        first = 3 * (int(part[1]) - 1) + 1
        kind, last = "quarter", first + 2
    else:
        first = last = int(part)
        kind = "month"
    after = dt.date(year + 1, 1, 1) if last == 12 else dt.date(year, last + 1, 1)
    end = after - dt.timedelta(days=1)
    return Period(label=text, kind=kind, start=dt.date(year, first, 1), end=end)


@dataclass(frozen=True)
class GridInfo:
    """What the assessment needs of a grid: its id, name, type (for the rules) and members."""

    grid_id: str
    name: str | None = None
    grid_type: str | None = None
    members: tuple[str, ...] = ()


def _frame(table: pd.DataFrame | None, columns: Sequence[str], name: str) -> pd.DataFrame:
    """``table`` with ``date`` as datetime.date (from ISO text, dates or timestamps) and ``grid_id``
    as text or None, or an empty frame of ``columns``."""
    if table is None or len(table) == 0:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {', '.join(missing)}; expected {', '.join(columns)}")
    out = table.copy()
    if "date" in out.columns:
        days = pd.to_datetime(out["date"].astype(str).str.slice(0, 10), format="%Y-%m-%d")
        out["date"] = pd.Series(days.dt.date.to_numpy(dtype=object), index=out.index, dtype=object)
    if "grid_id" in out.columns:
        grid = out["grid_id"]
        out["grid_id"] = grid.astype(str).astype(object).where(grid.notna(), None)
    return out


def _within(frame: pd.DataFrame, first: dt.date, last: dt.date) -> pd.DataFrame:
    if not len(frame):
        return frame
    return frame[((frame["date"] >= first) & (frame["date"] <= last)).astype(bool)]


def _number(value: float, digits: int = 3) -> int | float:
    """Whole numbers as integers (JSON, CSV), others rounded to ``digits``."""
    value = round(float(value), digits)
    return int(value) if value.is_integer() else value


def _site_figures(
    period: Period,
    as_of: dt.date,
    grid_ids: Sequence[str],
    sites: pd.DataFrame,
    visits: pd.DataFrame,
    grids_members: dict[str, tuple[str, ...]],
) -> tuple[dict, list[dict]]:
    """Per grid: sites, sites visited in the quarter to ``as_of``, overdue sites per tier; and the
    overdue sites (the :func:`visit_schedule` rows)."""
    figures = {g: {"sites_total": 0, "sites_visited": 0, **{f"overdue_{t}": 0 for t in TIERS}} for g in grid_ids}
    mine = sites[[str(g) in figures for g in sites["grid_id"]]] if len(sites) else sites
    if not len(mine):
        return figures, []
    # Read from visits_from: a site with no visit since then counts as visited the day before it.
    schedule = visit_schedule(mine, visits, period.visits_from, as_of, grids_members)
    quarter = _within(visits, period.quarter_start, as_of)
    seen = set(quarter["site_id"].astype(str)) if len(quarter) else set()
    overdue = []
    for row in schedule.to_dict(orient="records"):
        grid = figures[row["grid_id"]]
        grid["sites_total"] += 1
        grid["sites_visited"] += row["site_id"] in seen
        if row["overdue"]:
            grid[f"overdue_{row['tier']}"] += 1
            overdue.append(
                {
                    "site_id": row["site_id"],
                    "grid_id": row["grid_id"],
                    "tier": row["tier"],
                    "last_visit_date": row["last_visit_date"].isoformat() if row["last_visit_date"] else None,
                    "last_visit_member": row["last_visit_member"],
                    "next_due": row["next_due"].isoformat(),
                    "days_overdue": int(row["days_overdue"]),
                }
            )
    return figures, sorted(overdue, key=lambda s: (s["grid_id"], -s["days_overdue"], s["site_id"]))


def _share(visited: int, total: int) -> float | None:
    return round(visited / total, 4) if total else None


def _grouped(frame: pd.DataFrame, values: dict[str, pd.Series]) -> dict[tuple[str, str | None], dict]:
    """Sums of ``values`` (series on ``frame``'s index) per (member, grid), grid None kept."""
    if not len(frame):
        return {}
    keys = pd.DataFrame({"member_id": frame["member_id"].astype(str), "grid_id": frame["grid_id"].fillna(""), **values})
    sums = keys.groupby(["member_id", "grid_id"], sort=False).sum()
    return {(m, g or None): row for (m, g), row in zip(sums.index, sums.to_dict(orient="records"))}


def assess(
    period: Period,
    grids: Sequence[GridInfo],
    patrols: pd.DataFrame | None,
    ledger: pd.DataFrame | None,
    sites: pd.DataFrame | None,
    visits: pd.DataFrame | None,
    rules: RuleSet | None = None,
    *,
    today: dt.date | None = None,
    member_id: str | None = None,
) -> dict:
    """The assessment of ``period``: one row per member and grid, per-grid figures and totals.

    Parameters
    ----------
    period : Period
    grids : sequence of GridInfo
        The grids assessed; each member in ``members`` gets a row even without patrols. Patrols and
        ledger entries of other grids are left out; those with no grid (``grid_id`` None: a member
        assigned to no grid) make rows without a grid whenever they are given.
    patrols : pandas.DataFrame
        ``member_id, grid_id, date`` (local), ``verified_s`` (s), ``points`` (the current credit)
        and ``settled`` (bool: the day's credit has entered the ledger).
    ledger : pandas.DataFrame
        Ledger entries: ``member_id, grid_id, date`` (the patrol's local date), ``points``
        (negative for a reversal).
    sites : pandas.DataFrame
        ``site_id, grid_id, tier`` (``red``/``yellow``/``green`` or None).
    visits : pandas.DataFrame
        Site visits ``site_id, member_id, date`` (local; optional ``end``, a UTC time, orders the
        visits of one day), from :attr:`Period.visits_from` on.
    rules : RuleSet, optional
        ``min_verified_s`` (s) per grid type; the built-in rules by default.
    today : datetime.date, optional
        The local date today: overdue sites are counted on :meth:`Period.as_of` ``(today)``.
    member_id : str, optional
        Only this member's rows (grid figures and totals then cover those rows).

    Returns
    -------
    dict
        ``period`` {label, kind, from, to, quarter_from, as_of, visits_from}, ``rule_version``,
        ``points_source`` ("ledger"), ``rows``, ``grids``, ``totals``, ``overdue_sites``. A row:
        ``member_id, grid_id, grid_name, grid_type, required_s`` (s), ``patrol_days, days_met,
        verified_s`` (s), ``points, points_provisional, site_visits`` (the member's visits to the
        grid's sites in the period), ``sites_total, sites_visited`` (in the quarter),
        ``visited_share`` (0…1, None without sites) and ``overdue_red, overdue_yellow,
        overdue_green``.
    """
    rules = rules or RuleSet()
    as_of = period.as_of(today)
    patrols = _within(
        _frame(patrols, ("member_id", "grid_id", "date", "verified_s", "points", "settled"), "patrols"),
        period.start,
        period.end,
    )
    ledger = _within(_frame(ledger, ("member_id", "grid_id", "date", "points"), "ledger"), period.start, period.end)
    sites = _frame(sites, ("site_id", "grid_id", "tier"), "sites")
    visits = _within(_frame(visits, ("site_id", "member_id", "date"), "visits"), period.visits_from, as_of)
    known = {g.grid_id: g for g in grids}
    required = {
        g: rules.for_grid_type(known[g].grid_type if g in known else None).min_verified_s for g in [*known, None]
    }
    patrols = patrols[(patrols["grid_id"].isna() | patrols["grid_id"].isin(list(known))).astype(bool)]
    ledger = ledger[(ledger["grid_id"].isna() | ledger["grid_id"].isin(list(known))).astype(bool)]
    verified = patrols["verified_s"].astype(float)
    points = patrols["points"].astype(float)
    daily = patrols["grid_id"].map({g: s for g, s in required.items() if g is not None}).astype(float)
    met = verified >= daily.fillna(required[None])
    by_patrols = _grouped(
        patrols,
        {
            "patrol_days": pd.Series(1, index=patrols.index),
            "days_met": met.astype(int),
            "verified_s": verified,
            "points_provisional": points.where(~patrols["settled"].astype(bool), 0.0),
        },
    )
    by_ledger = _grouped(ledger, {"points": ledger["points"].astype(float)})
    site_grid = dict(zip(sites["site_id"].astype(str), sites["grid_id"].astype(str)))
    in_period = _within(visits, period.start, as_of)
    in_period = in_period.assign(grid_id=in_period["site_id"].astype(str).map(site_grid).astype(object))
    in_period = in_period[in_period["grid_id"].notna()]
    by_visits = _grouped(in_period, {"site_visits": pd.Series(1, index=in_period.index)})
    keys: dict[tuple[str, str | None], None] = {}
    for g in grids:
        keys.update({(str(m), g.grid_id): None for m in g.members})
    keys.update(dict.fromkeys(by_patrols))
    keys.update(dict.fromkeys(by_ledger))
    if member_id is not None:
        keys = {k: None for k in keys if k[0] == member_id}
    site_figures, overdue = _site_figures(
        period, as_of, list(known), sites, visits, {g.grid_id: tuple(g.members) for g in grids}
    )
    rows = []
    for member, grid_id in sorted(keys, key=lambda k: (k[1] is None, k[1] or "", k[0])):
        grid = known.get(grid_id) if grid_id is not None else None
        own, paid = by_patrols.get((member, grid_id), {}), by_ledger.get((member, grid_id), {})
        figures = site_figures.get(grid_id) if grid_id is not None else None
        row = {
            "member_id": member,
            "grid_id": grid_id,
            "grid_name": grid.name if grid else None,
            "grid_type": grid.grid_type if grid else None,
            "required_s": _number(required[grid_id]),
            "patrol_days": int(own.get("patrol_days", 0)),
            "days_met": int(own.get("days_met", 0)),
            "verified_s": _number(own.get("verified_s", 0.0)),
            "points": _number(paid.get("points", 0.0)),
            "points_provisional": _number(own.get("points_provisional", 0.0)),
            "site_visits": int(by_visits.get((member, grid_id), {}).get("site_visits", 0)),
        }
        row.update({k: (figures or {}).get(k) for k in SITE_FIGURES[:2]})
        row["visited_share"] = _share(figures["sites_visited"], figures["sites_total"]) if figures else None
        row.update({k: (figures or {}).get(k) for k in SITE_FIGURES[2:]})
        rows.append(row)
    grid_rows = _grid_rows(rows)
    shown = {g["grid_id"] for g in grid_rows}
    return {
        "period": {
            "label": period.label,
            "kind": period.kind,
            "from": period.start.isoformat(),
            "to": period.end.isoformat(),
            "quarter_from": period.quarter_start.isoformat(),
            "as_of": as_of.isoformat(),
            "visits_from": period.visits_from.isoformat(),
        },
        "rule_version": rules.version,
        "points_source": "ledger",
        "rows": rows,
        "grids": grid_rows,
        "totals": _totals(grid_rows),
        "overdue_sites": [s for s in overdue if s["grid_id"] in shown],
    }


def _grid_rows(rows: list[dict]) -> list[dict]:
    """Rows summed per grid (the rows' grids, in row order); a grid's site figures taken once."""
    out: dict[str | None, dict] = {}
    for row in rows:
        grid_id = row["grid_id"]
        if grid_id not in out:
            out[grid_id] = {
                "grid_id": grid_id,
                "grid_name": row["grid_name"],
                "grid_type": row["grid_type"],
                "members": 0,
                **{k: 0 if k in SUMMED else row[k] for k in list(row)[4:]},
            }
        entry = out[grid_id]
        entry["members"] += 1
        for k in SUMMED:
            entry[k] = _number(entry[k] + row[k])
    return list(out.values())


def _totals(grid_rows: list[dict]) -> dict:
    """Sums over grids (a grid's sites counted once); ``visited_share`` of all their sites."""
    totals: dict[str, Any] = {
        "grids": sum(g["grid_id"] is not None for g in grid_rows),
        "members": sum(g["members"] for g in grid_rows),
    }
    totals.update({k: _number(sum(g[k] for g in grid_rows)) for k in SUMMED})
    totals.update({k: sum(g[k] or 0 for g in grid_rows) for k in SITE_FIGURES[:2]})
    totals["visited_share"] = _share(totals["sites_visited"], totals["sites_total"])
    totals.update({k: sum(g[k] or 0 for g in grid_rows) for k in SITE_FIGURES[2:]})
    return totals
