"""Event report checks: no track at the time, far from the track, outside the grid, reported twice."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shapely
from pyproj import Geod
from scipy.spatial import cKDTree

from geoverify.flags import Flag, iso_time
from geoverify.geo.grid import Grid
from geoverify.geo.projection import LocalProjection
from geoverify.preprocessing.days import DayTrack
from geoverify.rules import Rules
from geoverify.schema import EVENT_REQUIRED

NS = 10**9
EARTH_RADIUS_M = 6_371_008.8
_GEOD = Geod(ellps="WGS84")


@dataclass
class EventCheck:
    """One event report and its flags. ``time`` is a UTC timestamp; ``lon``/``lat`` WGS-84 degrees."""

    event_id: str
    member_id: str
    time: pd.Timestamp
    lon: float
    lat: float
    category: str
    flags: list[Flag] = field(default_factory=list)

    @property
    def flag_prefix(self) -> str:
        """``<event_id>@<member_id>``, the start of its flags' ids: event ids are the reporting
        member's own, so two members' events may share one."""
        return f"{self.event_id}@{self.member_id}"

    def to_dict(self, tz: str) -> dict:
        """JSON-ready dict; times in ISO 8601 with the offset of ``tz``."""
        return {
            "event_id": self.event_id,
            "member_id": self.member_id,
            "time": iso_time(self.time, tz),
            "lon": round(float(self.lon), 7),
            "lat": round(float(self.lat), 7),
            "category": self.category,
            "flags": [f.to_dict(tz) for f in self.flags],
        }


def _utc(ns: int) -> pd.Timestamp:
    return pd.Timestamp(int(ns), unit="ns", tz="UTC")


def _where(events: pd.DataFrame, i: int) -> str:
    if "source" in events.columns and "line" in events.columns:
        return f"{events['source'].iloc[i]}, line {events['line'].iloc[i]}"
    return f"events row {i}"


def _validate(events: pd.DataFrame) -> None:
    missing = [c for c in EVENT_REQUIRED if c not in events.columns]
    if missing:
        raise ValueError(
            f"events: missing column(s) {', '.join(missing)}; read the file with "
            "geoverify.io.read_events, which names them as required"
        )
    if len(events) and not isinstance(events["time"].dtype, pd.DatetimeTZDtype):
        raise ValueError(
            "events: column 'time' must hold timestamps with a time zone (UTC); "
            "read the file with geoverify.io.read_events or localise the times"
        )
    bad = (events["time"].isna() | events["lon"].isna() | events["lat"].isna()).to_numpy(dtype=bool)
    if bad.any():
        raise ValueError(
            f"{_where(events, int(np.flatnonzero(bad)[0]))}: event has no time or no lon/lat; fix or remove that event"
        )


def _member_fixes(day_tracks: Sequence[DayTrack]):
    """The member's input fixes of all days, in time order (midnight points left out: they lie
    on the segment between two real fixes, so interpolation is unchanged)."""
    parts = [(t, ~t.synthetic) for t in day_tracks if len(t.time_ns)]
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0, object), np.zeros(0, np.int64)
    cat = lambda name: np.concatenate([np.asarray(getattr(t, name))[m] for t, m in parts])  # noqa: E731 -- a local one-liner
    t_ns, lon, lat, source, line = cat("time_ns"), cat("lon"), cat("lat"), cat("source"), cat("line")
    order = np.argsort(t_ns, kind="stable")
    # The same fix may come twice (a stored day and its re-upload): keep the first of each time.
    order = order[np.concatenate([[True], np.diff(t_ns[order]) > 0])]
    return t_ns[order], lon[order], lat[order], source[order], line[order]


def _fix_ref(t_ns: int, event_ns: int, source, line) -> dict:
    return {
        "time": iso_time(_utc(t_ns), "UTC"),
        "seconds_from_event": round((t_ns - event_ns) / NS, 3),
        "source": str(source),
        "line": int(line),
    }


def _track_flags(
    rows: np.ndarray,
    t_ev: np.ndarray,
    x_ev: np.ndarray,
    y_ev: np.ndarray,
    fixes,
    proj: LocalProjection,
    rules: Rules,
    lon_ev,
    lat_ev,
) -> dict[int, Flag]:
    """EVENT_NO_TRACK or EVENT_FAR_FROM_TRACK for one member's events (``rows`` index them)."""
    t_f, lon_f, lat_f, src_f, line_f = fixes
    gap_ns = rules.max_gap_s * NS
    out: dict[int, Flag] = {}
    n = len(t_f)
    if n == 0:
        for k, row in enumerate(rows.tolist()):
            out[row] = Flag(
                "EVENT_NO_TRACK",
                _utc(t_ev[k]),
                _utc(t_ev[k]),
                float(lon_ev[k]),
                float(lat_ev[k]),
                {
                    "nearest_fix_s": None,
                    "nearest_fix_time": None,
                    "max_gap_s": rules.max_gap_s,
                    "rule_version": rules.version,
                },
            )
        return out
    nxt = np.searchsorted(t_f, t_ev, side="right")  # t_f[nxt - 1] <= t_ev < t_f[nxt]
    prev = nxt - 1
    has_prev, has_next = prev >= 0, nxt < n
    p, q = np.clip(prev, 0, n - 1), np.clip(nxt, 0, n - 1)
    d_prev = np.where(has_prev, t_ev - t_f[p], np.iinfo(np.int64).max)
    d_next = np.where(has_next, t_f[q] - t_ev, np.iinfo(np.int64).max)
    nearest = np.where(d_prev <= d_next, p, q)
    nearest_ns = np.minimum(d_prev, d_next)
    no_track = nearest_ns > gap_ns
    # Interpolate between the fixes around the event unless they are a gap apart; otherwise
    # (at either end of the track, or beside a gap) take the nearest fix within max_gap_s.
    bracket = has_prev & has_next & ((t_f[q] - t_f[p]) <= gap_ns)
    # Only the fixes around the events are projected, not the member's whole track.
    idx = np.concatenate([p, q, nearest])
    xs, ys = (np.atleast_1d(v) for v in proj.forward(lon_f[idx], lat_f[idx]))
    (xp, xq, xn), (yp, yq, yn) = np.split(xs, 3), np.split(ys, 3)
    span = np.where(bracket, t_f[q] - t_f[p], 1)
    f = np.where(bracket, (t_ev - t_f[p]) / span, 0.0)
    px = np.where(bracket, xp + f * (xq - xp), xn)
    py = np.where(bracket, yp + f * (yq - yp), yn)
    dist = np.hypot(x_ev - px, y_ev - py)
    plon, plat = proj.inverse(px, py)
    for k in np.flatnonzero(no_track | (dist > rules.event_max_distance_m)).tolist():
        row, when, elon, elat = int(rows[k]), _utc(t_ev[k]), float(lon_ev[k]), float(lat_ev[k])
        if no_track[k]:
            j = int(nearest[k])
            out[row] = Flag(
                "EVENT_NO_TRACK",
                when,
                when,
                elon,
                elat,
                {
                    "nearest_fix_s": round(float(nearest_ns[k]) / NS, 3),
                    "nearest_fix_time": iso_time(_utc(t_f[j]), "UTC"),
                    "max_gap_s": rules.max_gap_s,
                    "rule_version": rules.version,
                },
            )
            continue
        around = [int(p[k]), int(q[k])] if bracket[k] else [int(nearest[k])]
        out[row] = Flag(
            "EVENT_FAR_FROM_TRACK",
            when,
            when,
            elon,
            elat,
            {
                "distance_m": round(float(dist[k]), 2),
                "position": {"lon": round(float(plon[k]), 7), "lat": round(float(plat[k]), 7)},
                "interpolated": bool(bracket[k]),
                "fixes": [_fix_ref(t_f[j], t_ev[k], src_f[j], line_f[j]) for j in around],
                "event_max_distance_m": rules.event_max_distance_m,
                "max_gap_s": rules.max_gap_s,
                "rule_version": rules.version,
            },
        )
    return out


def _outside_flags(rows, t_ev, x_ev, y_ev, grid: Grid, rules: Rules, lon_ev, lat_ev) -> dict[int, Flag]:
    """EVENT_OUTSIDE_GRID for one member's events, distances on the grid's projection."""
    outside = shapely.distance(grid.geometry, shapely.points(x_ev, y_ev))
    out = {}
    for k in np.flatnonzero(outside > rules.event_outside_grid_m).tolist():
        when = _utc(t_ev[k])
        out[int(rows[k])] = Flag(
            "EVENT_OUTSIDE_GRID",
            when,
            when,
            float(lon_ev[k]),
            float(lat_ev[k]),
            {
                "distance_outside_m": round(float(outside[k]), 2),
                "grid_id": grid.grid_id,
                "event_outside_grid_m": rules.event_outside_grid_m,
                "rule_version": rules.version,
            },
        )
    return out


def _sphere(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    lam, phi = np.radians(lon), np.radians(lat)
    return EARTH_RADIUS_M * np.column_stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)])


def _duplicate_flags(ids, members, t_ns, lon, lat, category, rules: list[Rules]) -> dict[int, Flag]:
    """EVENT_DUPLICATE: for each event, the earliest earlier event of its category within its
    member's distance and time window. Candidates from one KD-tree radius query in (x, y, z, t),
    time scaled so that the window maps onto the distance."""
    n = len(ids)
    if n < 2:
        return {}
    d_max = max(r.event_duplicate_distance_m for r in rules)
    w_max = max(max(r.event_duplicate_window_s for r in rules), 1e-9)
    scale = d_max / w_max
    points = np.column_stack([_sphere(lon, lat), (t_ns - t_ns.min()) / NS * scale])
    # A pair within d_max and w_max is within √2·d_max in these four dimensions; 1 % and 1 m spare
    # cover the sphere against the ellipsoid.
    pairs = cKDTree(points).query_pairs(np.sqrt(2) * d_max * 1.01 + 1.0, output_type="ndarray")
    if not len(pairs):
        return {}
    order = np.lexsort((members, ids, t_ns))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    i, j = pairs[:, 0], pairs[:, 1]
    later = np.where(rank[i] > rank[j], i, j)
    earlier = np.where(rank[i] > rank[j], j, i)
    keep = category[later] == category[earlier]
    later, earlier = later[keep], earlier[keep]
    # Geodesic distance on WGS-84: equal to the distance on a local transverse Mercator centred there
    # to about 1e-8 over a few tens of metres.
    dist = _GEOD.inv(lon[earlier], lat[earlier], lon[later], lat[later])[2] if len(later) else np.zeros(0)
    apart = (t_ns[later] - t_ns[earlier]) / NS
    limit_d = np.array([r.event_duplicate_distance_m for r in rules])
    limit_w = np.array([r.event_duplicate_window_s for r in rules])
    ok = (dist <= limit_d[later]) & (apart <= limit_w[later])
    frame = pd.DataFrame(
        {"later": later[ok], "earlier": earlier[ok], "rank": rank[earlier[ok]], "dist": dist[ok], "apart": apart[ok]}
    ).sort_values(["later", "rank"])
    out = {}
    matches = frame.groupby("later")["earlier"].size()
    row: Any  # pandas-stubs type itertuples() fields as any scalar
    for row in frame.drop_duplicates("later").itertuples(index=False):
        k, e, r = int(row.later), int(row.earlier), rules[int(row.later)]
        when = _utc(t_ns[k])
        out[k] = Flag(
            "EVENT_DUPLICATE",
            when,
            when,
            float(lon[k]),
            float(lat[k]),
            {
                "earlier_event_id": str(ids[e]),
                "earlier_member_id": str(members[e]),
                "earlier_event_time": iso_time(_utc(t_ns[e]), "UTC"),
                "distance_m": round(float(row.dist), 2),
                "time_apart_s": round(float(row.apart), 3),
                "category": str(category[k]),
                "earlier_matches": int(matches[k]),
                "event_duplicate_distance_m": r.event_duplicate_distance_m,
                "event_duplicate_window_s": r.event_duplicate_window_s,
                "rule_version": r.version,
            },
        )
    return out


def check_events(
    events: pd.DataFrame,
    tracks: Mapping[str, Sequence[DayTrack]],
    member_grid: Mapping[str, Grid | None],
    rules_for_member: Callable[[str], Rules],
) -> list[EventCheck]:
    """Check event reports against the reporting members' tracks, grids and earlier reports.

    - ``EVENT_NO_TRACK``: no input fix of the member within ``max_gap_s`` of the event time.
    - ``EVENT_FAR_FROM_TRACK``: the event lies more than ``event_max_distance_m`` from the
      member's position at the event time, interpolated linearly in time between the fixes
      around it (not across a gap: beside a gap or past either end of the track, the nearest fix
      within ``max_gap_s`` stands for the position). Not raised with EVENT_NO_TRACK.
    - ``EVENT_OUTSIDE_GRID``: more than ``event_outside_grid_m`` outside the member's grid;
      never for a member without a grid.
    - ``EVENT_DUPLICATE``: an earlier event (earlier time; at equal times the smaller
      ``event_id``) of the same category, by any member, within ``event_duplicate_distance_m``
      and ``event_duplicate_window_s``; the evidence names the earliest such event.

    Distances are metres on the member's grid projection (a local transverse Mercator centred
    on the events, rounded to 0.01°, for a member without a grid); event-to-event distances are
    geodesic on WGS-84, the same to about 1e-8 at these ranges. Thresholds come from the
    reporting member's rules. Flags never delete an event.

    Parameters
    ----------
    events : pandas.DataFrame
        As :func:`geoverify.io.read_events` returns it: ``event_id, member_id, time`` (tz-aware),
        ``lon, lat`` (WGS-84 degrees), ``category``; ``source``/``line`` name rows in messages.
    tracks : mapping
        Member id → all of that member's DayTracks (any dates).
    member_grid : mapping
        Member id → the member's Grid, or None (missing: None).
    rules_for_member : callable
        Member id → Rules.

    Returns
    -------
    list of EventCheck
        One per event, in input order; flags ordered NO_TRACK/FAR_FROM_TRACK, OUTSIDE_GRID,
        DUPLICATE, each with ``start == end ==`` the event time and the event's location.

    Raises
    ------
    ValueError
        When a required column is missing, times are not time-zone-aware, or an event has no
        time or position (the message names the source line).
    """
    _validate(events)
    n = len(events)
    ids = events["event_id"].astype(str).to_numpy(dtype=object)
    members = events["member_id"].astype(str).to_numpy(dtype=object)
    category = events["category"].astype(str).to_numpy(dtype=object)
    t_ns = (
        events["time"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]").astype(np.int64)
        if n
        else np.zeros(0, np.int64)
    )
    lon = events["lon"].to_numpy(dtype=float)
    lat = events["lat"].to_numpy(dtype=float)
    member_rules = {m: rules_for_member(m) for m in set(members.tolist())}
    found: list[list[Flag]] = [[] for _ in range(n)]
    codes, uniques = pd.factorize(members) if n else (np.zeros(0, int), np.zeros(0, object))
    by_code = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[by_code], np.arange(len(uniques) + 1))
    for c, member in enumerate(uniques):
        rows = by_code[bounds[c] : bounds[c + 1]]
        rules, grid = member_rules[member], member_grid.get(member)
        proj = (
            grid.projection
            if grid is not None
            else LocalProjection(round(float(np.median(lon[rows])), 2), round(float(np.median(lat[rows])), 2))
        )
        x, y = proj.forward(lon[rows], lat[rows])
        x, y = np.atleast_1d(x), np.atleast_1d(y)
        fixes = _member_fixes(tracks.get(member, ()))
        for row, flag in _track_flags(rows, t_ns[rows], x, y, fixes, proj, rules, lon[rows], lat[rows]).items():
            found[row].append(flag)
        if grid is not None:
            for row, flag in _outside_flags(rows, t_ns[rows], x, y, grid, rules, lon[rows], lat[rows]).items():
                found[row].append(flag)
    rules_by_row = [member_rules[m] for m in members.tolist()]
    for row, flag in _duplicate_flags(ids, members, t_ns, lon, lat, category, rules_by_row).items():
        found[row].append(flag)
    return [
        EventCheck(
            str(ids[k]), str(members[k]), _utc(t_ns[k]), float(lon[k]), float(lat[k]), str(category[k]), found[k]
        )
        for k in range(n)
    ]
