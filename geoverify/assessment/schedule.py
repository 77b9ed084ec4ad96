"""Each site's visit schedule by tier (red weekly, yellow fortnightly, green monthly), and the visits
report of the ``geoverify visits`` command, from the visits of :mod:`geoverify.measures.sites`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from geoverify.flags import iso_time
from geoverify.geo.grid import Grid
from geoverify.io.times import DEFAULT_TZ
from geoverify.measures.sites import VISIT_COLUMNS

# Days between required visits by site tier (spec: red weekly, yellow fortnightly, green monthly).
TIER_INTERVAL_DAYS = {"red": 7, "yellow": 14, "green": 30}


def _require(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {', '.join(missing)}; expected {', '.join(columns)}")


def _as_date(value) -> dt.date | None:
    if value is None or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
        return None
    return pd.Timestamp(value).date() if not isinstance(value, dt.date) or isinstance(value, dt.datetime) else value


def visit_schedule(
    sites: pd.DataFrame,
    visits: pd.DataFrame,
    period_start: dt.date,
    period_end: dt.date,
    grids_members: Mapping[str, Sequence[str]],
) -> pd.DataFrame:
    """Each site's last visit, next due date and whether it is overdue at the end of a period.

    A site of tier ``t`` must be visited every ``TIER_INTERVAL_DAYS[t]`` days: after a visit on
    day D the next is due by D + interval. A site with no visit on or before ``period_end`` is
    treated as visited the day before ``period_start``. It is overdue when ``period_end`` is
    after its due date, by ``(period_end - next_due)`` days. Sites without a tier have no
    schedule (``interval_days``, ``next_due`` None, never overdue).

    Parameters
    ----------
    sites : pandas.DataFrame
        ``site_id``, ``grid_id``, optional ``tier`` (as :func:`geoverify.io.read_sites` returns).
    visits : pandas.DataFrame
        ``site_id``, ``member_id``, ``date`` (local date of the visit), optional ``start``/``end``.
        Visits after ``period_end`` are ignored.
    period_start, period_end : datetime.date
        The reporting period, both days included.
    grids_members : mapping
        Grid id → member ids assigned to it (the members responsible for its sites).

    Returns
    -------
    pandas.DataFrame
        One row per site in input order: ``site_id, grid_id, tier, interval_days, members,
        visits_in_period, last_visit_date, last_visit_member, next_due, overdue, days_overdue``
        (dates as ``datetime.date`` or None).
    """
    _require(sites, ("site_id", "grid_id"), "sites")
    _require(visits, ("site_id", "member_id", "date"), "visits")
    if period_start > period_end:
        raise ValueError(f"visit_schedule: period_start {period_start} is after period_end {period_end}; swap them")
    v = pd.DataFrame(
        {
            "site_id": visits["site_id"].astype(str).to_numpy(dtype=object),
            "member_id": visits["member_id"].astype(str).to_numpy(dtype=object),
            "date": [_as_date(d) for d in visits["date"]],
            "end": (
                pd.to_datetime(visits["end"], utc=True)
                if "end" in visits.columns
                else pd.Series(pd.NaT, index=visits.index, dtype="datetime64[ns, UTC]")
            ).to_numpy(),
        }
    )
    v = v[np.array([d is not None and d <= period_end for d in v["date"]], dtype=bool)]
    in_period = v[np.array([d >= period_start for d in v["date"]], dtype=bool)].groupby("site_id").size().to_dict()
    last = v.sort_values(["date", "end"], kind="stable").groupby("site_id").tail(1)
    # site id -> its last visit (date, member_id): a dict, as .loc per site took 8 s for 30,000 sites
    latest = {s: {"date": d, "member_id": m} for s, d, m in zip(last["site_id"], last["date"], last["member_id"])}
    tiers = sites["tier"] if "tier" in sites.columns else pd.Series([None] * len(sites), index=sites.index)
    rows: dict[str, list] = {
        k: []
        for k in (
            "site_id",
            "grid_id",
            "tier",
            "interval_days",
            "members",
            "visits_in_period",
            "last_visit_date",
            "last_visit_member",
            "next_due",
            "overdue",
            "days_overdue",
        )
    }
    for site_id, grid_id, tier in zip(sites["site_id"].astype(str), sites["grid_id"].astype(str), tiers):
        tier = tier if isinstance(tier, str) and tier else None
        interval = TIER_INTERVAL_DAYS.get(tier) if tier else None
        seen = latest.get(site_id)
        last_date = seen["date"] if seen is not None else None
        due = None
        if interval is not None:
            base = last_date if last_date is not None else period_start - dt.timedelta(days=1)
            due = base + dt.timedelta(days=interval)
        late = (period_end - due).days if due is not None and period_end > due else 0
        for key, value in (
            ("site_id", site_id),
            ("grid_id", grid_id),
            ("tier", tier),
            ("interval_days", interval),
            ("members", list(grids_members.get(grid_id, ()))),
            ("visits_in_period", int(in_period.get(site_id, 0))),
            ("last_visit_date", last_date),
            ("last_visit_member", seen["member_id"] if seen is not None else None),
            ("next_due", due),
            ("overdue", late > 0),
            ("days_overdue", late),
        ):
            rows[key].append(value)
    dtypes = {"visits_in_period": np.int64, "overdue": bool, "days_overdue": np.int64}
    return pd.DataFrame({k: pd.Series(col, dtype=dtypes.get(k, object)) for k, col in rows.items()})


def visits_report(
    grids: Sequence[Grid],
    sites: pd.DataFrame,
    visits: pd.DataFrame,
    date_from: dt.date,
    date_to: dt.date,
    tz: str = DEFAULT_TZ,
) -> dict:
    """Visits and every site's schedule over a period, as one JSON-ready document.

    Parameters
    ----------
    grids : sequence of Grid
        Their ``members`` are responsible for the grid's sites.
    sites : pandas.DataFrame
        As :func:`geoverify.io.read_sites` returns it.
    visits : pandas.DataFrame
        From :func:`find_visits` or :func:`patrol_visits`. Visits dated after ``date_to`` are
        ignored; those before ``date_from`` count only for the last visit.
    date_from, date_to : datetime.date
        The period, both days included (local dates).
    tz : str
        IANA zone of the output times.

    Returns
    -------
    dict
        ``period`` {from, to}; ``visits`` in the period (site_id, grid_id, member_id, date,
        start, end in ``tz``, duration_s); ``sites`` (the :func:`visit_schedule` rows, dates ISO);
        ``grids`` (sites, visited_in_period, overdue); ``members`` (grid_ids, sites, visits,
        sites_visited, overdue_sites); ``warnings``.
    """
    _require(visits, VISIT_COLUMNS, "visits")
    grids_members = {g.grid_id: tuple(g.members) for g in grids}
    warnings = [
        f"site {s} names grid {g}, which is not among the grids; nobody is responsible for it"
        for s, g in zip(sites["site_id"].astype(str), sites["grid_id"].astype(str))
        if g not in grids_members
    ]
    schedule = visit_schedule(sites, visits, date_from, date_to, grids_members)
    dates = [_as_date(d) for d in visits["date"]]
    period = visits[np.array([d is not None and date_from <= d <= date_to for d in dates], dtype=bool)]
    period = period.sort_values(["date", "start", "site_id"], kind="stable")
    iso = lambda d: d.isoformat() if d is not None else None  # noqa: E731 -- a local one-liner
    site_rows = [
        {
            **row,
            "last_visit_date": iso(row["last_visit_date"]),
            "next_due": iso(row["next_due"]),
            "overdue": bool(row["overdue"]),
            "days_overdue": int(row["days_overdue"]),
            "visits_in_period": int(row["visits_in_period"]),
        }
        for row in schedule.to_dict(orient="records")
    ]
    grid_rows = [
        {
            "grid_id": g,
            "sites": int(len(part)),
            "visited_in_period": int((part["visits_in_period"] > 0).sum()),
            "overdue": int(part["overdue"].sum()),
        }
        for g, part in schedule.groupby("grid_id", sort=True)
    ]
    member_rows = []
    for member in sorted({m for ms in grids_members.values() for m in ms}):
        own = [g for g, ms in grids_members.items() if member in ms]
        part = schedule[schedule["grid_id"].isin(own)]
        mine = period[period["member_id"].astype(str) == member]
        member_rows.append(
            {
                "member_id": member,
                "grid_ids": own,
                "sites": int(len(part)),
                "visits": int(len(mine)),
                "sites_visited": int(mine["site_id"].nunique()),
                "overdue_sites": int(part["overdue"].sum()),
            }
        )
    return {
        "period": {"from": date_from.isoformat(), "to": date_to.isoformat()},
        "visits": [
            {
                "site_id": str(row.site_id),
                "grid_id": row.grid_id,
                "member_id": str(row.member_id),
                "date": _as_date(row.date).isoformat(),  # type: ignore[union-attr]  # dated, above
                "start": iso_time(row.start, tz),  # type: ignore[arg-type]  # see below
                "end": iso_time(row.end, tz),  # type: ignore[arg-type]  # see below
                "duration_s": float(row.duration_s),  # type: ignore[arg-type]  # see below
            }
            # pandas-stubs type itertuples() fields as any scalar
            for row in period.itertuples(index=False)
        ],
        "sites": site_rows,
        "grids": grid_rows,
        "members": member_rows,
        "warnings": warnings,
    }


def format_visits_table(report: dict) -> str:
    """The :func:`visits_report` document as plain-text tables: sites, then grids, then members."""
    lines = [f"Site visits {report['period']['from']} to {report['period']['to']}", ""]
    header = ("site", "grid", "tier", "every", "visits", "last visit", "by", "next due", "status")
    table = [header]
    for s in report["sites"]:
        status = "no schedule" if s["next_due"] is None else f"overdue {s['days_overdue']} d" if s["overdue"] else "ok"
        table.append(
            (
                s["site_id"],
                s["grid_id"],
                s["tier"] or "-",
                f"{s['interval_days']} d" if s["interval_days"] else "-",
                str(s["visits_in_period"]),
                s["last_visit_date"] or "never",
                s["last_visit_member"] or "-",
                s["next_due"] or "-",
                status,
            )
        )
    lines += _columns(table) + [""]
    lines += _columns(
        [("grid", "sites", "visited", "overdue")]
        + [(g["grid_id"], str(g["sites"]), str(g["visited_in_period"]), str(g["overdue"])) for g in report["grids"]]
    ) + [""]
    lines += _columns(
        [("member", "grids", "sites", "visits", "sites visited", "overdue sites")]
        + [
            (
                m["member_id"],
                ",".join(m["grid_ids"]),
                str(m["sites"]),
                str(m["visits"]),
                str(m["sites_visited"]),
                str(m["overdue_sites"]),
            )
            for m in report["members"]
        ]
    )
    lines += [f"warning: {w}" for w in report["warnings"]]
    return "\n".join(lines) + "\n"


def _columns(rows: list[tuple]) -> list[str]:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
