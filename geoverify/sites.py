"""Site visits (households, key points) from tracks, and each site's visit schedule by tier."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from .flags import iso_time
from .grid import Grid
from .patrol import DayTrack
from .projection import LocalProjection
from .rules import RuleSet

# Days between required visits by site tier (spec: red weekly, yellow fortnightly, green monthly).
TIER_INTERVAL_DAYS = {"red": 7, "yellow": 14, "green": 30}
# A little under the length of a degree of latitude, so search boxes in degrees err wide.
M_PER_DEG = 110_000.0
NS = 10**9


@dataclass(frozen=True)
class Visit:
    """A stay within the visit radius of one site.

    ``site`` indexes the site arrays given to :func:`site_visits`; ``start_s``/``end_s`` are on
    the fixes' time axis (seconds), entry and exit interpolated along the segments into and out
    of the circle; ``first``/``last`` index the first and last fix inside it.
    """

    site: int
    start_s: float
    end_s: float
    first: int
    last: int

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def _crossing(x0, y0, x1, y1, radius_m: float, entering: bool) -> np.ndarray:
    """Where (0..1) segments from (x0, y0) to (x1, y1), relative to the site, cross the circle:
    the first root of |p(s)|² = r² when entering (outside to inside), the second when leaving."""
    dx, dy = x1 - x0, y1 - y0
    a = np.maximum(dx * dx + dy * dy, 1e-300)
    b = 2.0 * (x0 * dx + y0 * dy)
    c = x0 * x0 + y0 * y0 - radius_m * radius_m
    root = np.sqrt(np.maximum(b * b - 4.0 * a * c, 0.0))
    s = (-b - root) / (2.0 * a) if entering else (-b + root) / (2.0 * a)
    return np.clip(s, 0.0, 1.0)


def site_visits(x: np.ndarray, y: np.ndarray, t_s: np.ndarray, site_x: np.ndarray, site_y: np.ndarray,
                radius_m: float, min_s: float, max_gap_s: float) -> list[Visit]:
    """Stays of at least ``min_s`` within ``radius_m`` of each site.

    A stay is a run of consecutive fixes within the radius (boundary included) with no segment
    longer than ``max_gap_s`` between them; it starts where the segment from the fix before
    enters the circle and ends where the segment to the fix after leaves it (moving in a straight
    line at constant speed), or at the first/last fix inside when that segment is a gap or
    there is none. A segment that crosses the circle with no fix inside is not a stay.

    Parameters
    ----------
    x, y : numpy.ndarray
        Fix positions in metres on one local projection.
    t_s : numpy.ndarray
        Fix times in seconds, non-decreasing.
    site_x, site_y : numpy.ndarray
        Site positions in metres on the same projection.
    radius_m, min_s, max_gap_s : float
        Visit radius (m), minimum stay (s), longest segment that is not a gap (s).

    Returns
    -------
    list of Visit
        Ordered by start time, then site.

    Examples
    --------
    >>> import numpy as np
    >>> v = site_visits(np.array([5.0, 5.0]), np.zeros(2), np.array([0.0, 200.0]),
    ...                 np.zeros(1), np.zeros(1), 30.0, 120.0, 300.0)
    >>> [(s.site, s.start_s, s.end_s) for s in v]
    [(0, 0.0, 200.0)]
    """
    x, y, t = (np.asarray(a, dtype=float) for a in (x, y, t_s))
    sx, sy = np.asarray(site_x, dtype=float), np.asarray(site_y, dtype=float)
    if not (len(x) == len(y) == len(t)):
        raise ValueError(f"site_visits: x, y and t_s must have the same length, got {len(x)}, {len(y)}, {len(t)}")
    if len(sx) != len(sy):
        raise ValueError(f"site_visits: site_x and site_y must have the same length, got {len(sx)}, {len(sy)}")
    if np.any(np.diff(t) < 0):
        raise ValueError("site_visits: t_s must be increasing (sort the fixes by time)")
    n = len(t)
    if n == 0 or len(sx) == 0:
        return []
    near = cKDTree(np.column_stack([sx, sy])).sparse_distance_matrix(
        cKDTree(np.column_stack([x, y])), radius_m, output_type="ndarray")
    if len(near) == 0:
        return []
    order = np.lexsort((near["j"], near["i"]))
    site, fix = near["i"][order].astype(np.int64), near["j"][order].astype(np.int64)
    new = np.ones(len(site), dtype=bool)
    new[1:] = (site[1:] != site[:-1]) | (fix[1:] != fix[:-1] + 1) | (t[fix[1:]] - t[fix[:-1]] > max_gap_s)
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], len(site)) - 1
    site, first, last = site[starts], fix[starts], fix[ends]

    before = np.maximum(first - 1, 0)
    after = np.minimum(last + 1, n - 1)
    enters = (first > 0) & (t[first] - t[before] <= max_gap_s)
    leaves = (last < n - 1) & (t[after] - t[last] <= max_gap_s)
    cx, cy = sx[site], sy[site]
    s_in = _crossing(x[before] - cx, y[before] - cy, x[first] - cx, y[first] - cy, radius_m, entering=True)
    s_out = _crossing(x[last] - cx, y[last] - cy, x[after] - cx, y[after] - cy, radius_m, entering=False)
    start = np.where(enters, t[before] + s_in * (t[first] - t[before]), t[first])
    end = np.where(leaves, t[last] + s_out * (t[after] - t[last]), t[last])
    keep = end - start >= min_s
    visits = [Visit(int(s), float(a), float(b), int(f), int(g))
              for s, a, b, f, g in zip(site[keep], start[keep], end[keep], first[keep], last[keep])]
    return sorted(visits, key=lambda v: (v.start_s, v.site))


def _require(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {', '.join(missing)}; expected {', '.join(columns)}")


def _as_date(value) -> dt.date | None:
    if value is None or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
        return None
    return pd.Timestamp(value).date() if not isinstance(value, dt.date) or isinstance(value, dt.datetime) else value


def visit_schedule(sites: pd.DataFrame, visits: pd.DataFrame, period_start: dt.date, period_end: dt.date,
                   grids_members: Mapping[str, Sequence[str]]) -> pd.DataFrame:
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
        raise ValueError(f"visit_schedule: period_start {period_start} is after period_end {period_end}; "
                         "swap them")
    v = pd.DataFrame({"site_id": visits["site_id"].astype(str).to_numpy(dtype=object),
                      "member_id": visits["member_id"].astype(str).to_numpy(dtype=object),
                      "date": [_as_date(d) for d in visits["date"]],
                      "end": (pd.to_datetime(visits["end"], utc=True) if "end" in visits.columns
                              else pd.Series(pd.NaT, index=visits.index, dtype="datetime64[ns, UTC]")).to_numpy()})
    v = v[np.array([d is not None and d <= period_end for d in v["date"]], dtype=bool)]
    in_period = v[np.array([d >= period_start for d in v["date"]], dtype=bool)].groupby("site_id").size().to_dict()
    last = v.sort_values(["date", "end"], kind="stable").groupby("site_id").tail(1)
    # site id -> its last visit (date, member_id): a dict, as .loc per site took 8 s for 30,000 sites
    latest = {s: {"date": d, "member_id": m} for s, d, m in zip(last["site_id"], last["date"], last["member_id"])}
    tiers = sites["tier"] if "tier" in sites.columns else pd.Series([None] * len(sites), index=sites.index)
    rows: dict[str, list] = {k: [] for k in (
        "site_id", "grid_id", "tier", "interval_days", "members", "visits_in_period",
                            "last_visit_date", "last_visit_member", "next_due", "overdue", "days_overdue")}
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
        for key, value in (("site_id", site_id), ("grid_id", grid_id), ("tier", tier), ("interval_days", interval),
                           ("members", list(grids_members.get(grid_id, ()))),
                           ("visits_in_period", int(in_period.get(site_id, 0))), ("last_visit_date", last_date),
                           ("last_visit_member", seen["member_id"] if seen is not None else None),
                           ("next_due", due), ("overdue", late > 0), ("days_overdue", late)):
            rows[key].append(value)
    dtypes = {"visits_in_period": np.int64, "overdue": bool, "days_overdue": np.int64}
    return pd.DataFrame({k: pd.Series(col, dtype=dtypes.get(k, object)) for k, col in rows.items()})


def _track_visits(track: DayTrack, grid: Grid | None, site_lon, site_lat, candidates, rules) -> list[Visit]:
    proj = grid.projection if grid is not None else LocalProjection(
        round(float(np.median(track.lon)), 2), round(float(np.median(track.lat)), 2))
    x, y = proj.forward(track.lon, track.lat)
    sx, sy = proj.forward(site_lon[candidates], site_lat[candidates])
    t_s = (track.time_ns - track.time_ns[0]) / NS
    return site_visits(np.atleast_1d(x), np.atleast_1d(y), t_s, np.atleast_1d(sx), np.atleast_1d(sy),
                       rules.site_visit_radius_m, rules.site_visit_min_s, rules.max_gap_s)


VISIT_COLUMNS = ("site_id", "grid_id", "member_id", "date", "start", "end", "duration_s")


def find_visits(grids: Sequence[Grid], tracks: Sequence[DayTrack], sites: pd.DataFrame,
                rules: RuleSet | None = None) -> pd.DataFrame:
    """Visits to any site found in day tracks.

    Each track is searched for stays near the sites an STRtree of site points finds near it, on
    its member's grid projection (metres), with the member's rules (``site_visit_radius_m``,
    ``site_visit_min_s``, ``max_gap_s``).

    Returns
    -------
    pandas.DataFrame
        ``site_id, grid_id`` (the site's), ``member_id, date`` (the track's local date),
        ``start, end`` (UTC timestamps), ``duration_s``.
    """
    rules = rules or RuleSet()
    _require(sites, ("site_id", "grid_id", "lon", "lat"), "sites")
    member_grid: dict[str, Grid] = {}
    for g in grids:
        for m in g.members:
            member_grid.setdefault(m, g)
    site_ids = sites["site_id"].astype(str).to_numpy(dtype=object)
    site_grid = sites["grid_id"].astype(str).to_numpy(dtype=object)
    lon, lat = sites["lon"].to_numpy(dtype=float), sites["lat"].to_numpy(dtype=float)
    tree = shapely.STRtree(shapely.points(lon, lat))  # type: ignore[arg-type]  # types-shapely: points() of arrays
    found = []
    for track in tracks:
        if len(track.time_ns) == 0:
            continue
        grid = member_grid.get(track.member_id)
        r = rules.for_grid_type(grid.grid_type if grid is not None else None)
        pad = r.site_visit_radius_m / M_PER_DEG
        pad_lon = pad / np.cos(np.radians(min(float(np.abs(track.lat).max()) + pad, 89.0)))
        area = shapely.box(track.lon.min() - pad_lon, track.lat.min() - pad, track.lon.max() + pad_lon,
                           track.lat.max() + pad)
        candidates = np.sort(tree.query(area))
        if not len(candidates):
            continue
        for v in _track_visits(track, grid, lon, lat, candidates, r):
            k = int(candidates[v.site])
            start = pd.Timestamp(int(track.time_ns[0] + round(v.start_s * NS)), unit="ns", tz="UTC")
            end = pd.Timestamp(int(track.time_ns[0] + round(v.end_s * NS)), unit="ns", tz="UTC")
            found.append((site_ids[k], site_grid[k], track.member_id, track.date, start, end,
                          round(v.duration_s, 1)))
    return pd.DataFrame(found, columns=list(VISIT_COLUMNS))


def patrol_visits(patrols: Sequence) -> pd.DataFrame:
    """The visits :func:`geoverify.patrol.verify_patrol` counted (``Patrol.site_visits``: the
    patrol grid's sites), as the table :func:`visits_report` takes."""
    rows = [(v["site_id"], p.grid_id, p.member_id, p.date, v["start"], v["end"], v["duration_s"])
            for p in patrols for v in getattr(p, "site_visits", ())]
    return pd.DataFrame(rows, columns=list(VISIT_COLUMNS))


def visits_report(grids: Sequence[Grid], sites: pd.DataFrame, visits: pd.DataFrame, date_from: dt.date,
                  date_to: dt.date, tz: str = "Asia/Shanghai") -> dict:
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
    warnings = [f"site {s} names grid {g}, which is not among the grids; nobody is responsible for it"
                for s, g in zip(sites["site_id"].astype(str), sites["grid_id"].astype(str)) if g not in grids_members]
    schedule = visit_schedule(sites, visits, date_from, date_to, grids_members)
    dates = [_as_date(d) for d in visits["date"]]
    period = visits[np.array([d is not None and date_from <= d <= date_to for d in dates], dtype=bool)]
    period = period.sort_values(["date", "start", "site_id"], kind="stable")
    iso = lambda d: d.isoformat() if d is not None else None  # noqa: E731 -- a local one-liner
    site_rows = [{**row, "last_visit_date": iso(row["last_visit_date"]), "next_due": iso(row["next_due"]),
                  "overdue": bool(row["overdue"]), "days_overdue": int(row["days_overdue"]),
                  "visits_in_period": int(row["visits_in_period"])}
                 for row in schedule.to_dict(orient="records")]
    grid_rows = [{"grid_id": g, "sites": int(len(part)), "visited_in_period": int((part["visits_in_period"] > 0).sum()),
                  "overdue": int(part["overdue"].sum())}
                 for g, part in schedule.groupby("grid_id", sort=True)]
    member_rows = []
    for member in sorted({m for ms in grids_members.values() for m in ms}):
        own = [g for g, ms in grids_members.items() if member in ms]
        part = schedule[schedule["grid_id"].isin(own)]
        mine = period[period["member_id"].astype(str) == member]
        member_rows.append({"member_id": member, "grid_ids": own, "sites": int(len(part)), "visits": int(len(mine)),
                            "sites_visited": int(mine["site_id"].nunique()),
                            "overdue_sites": int(part["overdue"].sum())})
    return {"period": {"from": date_from.isoformat(), "to": date_to.isoformat()},
            "visits": [{"site_id": str(row.site_id), "grid_id": row.grid_id, "member_id": str(row.member_id),
                        "date": _as_date(row.date).isoformat(),  # type: ignore[union-attr]  # dated, above
                        "start": iso_time(row.start, tz),  # type: ignore[arg-type]  # see below
                        "end": iso_time(row.end, tz),  # type: ignore[arg-type]  # see below
                        "duration_s": float(row.duration_s)}  # type: ignore[arg-type]  # see below
                       # pandas-stubs type itertuples() fields as any scalar
                       for row in period.itertuples(index=False)],
            "sites": site_rows, "grids": grid_rows, "members": member_rows, "warnings": warnings}


def format_visits_table(report: dict) -> str:
    """The :func:`visits_report` document as plain-text tables: sites, then grids, then members."""
    lines = [f"Site visits {report['period']['from']} to {report['period']['to']}", ""]
    header = ("site", "grid", "tier", "every", "visits", "last visit", "by", "next due", "status")
    table = [header]
    for s in report["sites"]:
        status = ("no schedule" if s["next_due"] is None
                  else f"overdue {s['days_overdue']} d" if s["overdue"] else "ok")
        table.append((s["site_id"], s["grid_id"], s["tier"] or "-",
                      f"{s['interval_days']} d" if s["interval_days"] else "-", str(s["visits_in_period"]),
                      s["last_visit_date"] or "never", s["last_visit_member"] or "-", s["next_due"] or "-", status))
    lines += _columns(table) + [""]
    lines += _columns([("grid", "sites", "visited", "overdue")] +
                      [(g["grid_id"], str(g["sites"]), str(g["visited_in_period"]), str(g["overdue"]))
                       for g in report["grids"]]) + [""]
    lines += _columns([("member", "grids", "sites", "visits", "sites visited", "overdue sites")] +
                      [(m["member_id"], ",".join(m["grid_ids"]), str(m["sites"]), str(m["visits"]),
                        str(m["sites_visited"]), str(m["overdue_sites"])) for m in report["members"]])
    lines += [f"warning: {w}" for w in report["warnings"]]
    return "\n".join(lines) + "\n"


def _columns(rows: list[tuple]) -> list[str]:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
