"""Batch verification: a fix table and grids in, one verified patrol per member and local date out."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .cleaning import KEPT, REJECT_REASONS, count_reasons, rejection_reasons
from .crs_mismatch import check_crs_mismatch
from .grid import Grid
from .io.times import DEFAULT_TZ, check_tz
from .patrol import DayTrack, Patrol, verify_patrol
from .patrol_flags import identify
from .rules import Rules, RuleSet

NS_PER_DAY = 86_400 * 10**9


@dataclass
class BatchResult:
    """Everything one batch produced."""

    patrols: list[Patrol]
    summary: dict
    warnings: list[str] = field(default_factory=list)
    events: list = field(default_factory=list)  # geoverify.events.EventCheck


def member_grids(grids: Iterable[Grid]) -> dict[str, list[Grid]]:
    """Each member id → the grids listing it in ``members`` (in file order)."""
    out: dict[str, list[Grid]] = {}
    for grid in grids:
        for member in grid.members:
            out.setdefault(member, []).append(grid)
    return out


def _local_ns(time: pd.Series, tz: str) -> np.ndarray:
    """Wall-clock nanoseconds in ``tz`` (as if the local time were UTC); invalid for NaT."""
    local = time.dt.tz_convert(tz).dt.tz_localize(None)
    return local.to_numpy(dtype="datetime64[ns]").astype(np.int64)


def split_days(fixes: pd.DataFrame, tz: str, max_gap_s: np.ndarray) -> dict[tuple[str, dt.date], dict]:
    """Cut each member's kept fixes into local days.

    A segment no longer than its member's ``max_gap_s`` that crosses local midnight gets a
    point interpolated at midnight, given to both days, so no patrol time is lost or counted
    twice; longer segments (gaps) belong to neither day.

    Parameters
    ----------
    fixes : pandas.DataFrame
        Kept fixes only.
    max_gap_s : numpy.ndarray
        Per fix, the gap threshold of its member's rules (seconds).

    Returns
    -------
    dict
        (member_id, date) → column arrays ``time_ns, lon, lat, accuracy, synthetic, source, line,
        mock, speed, device_id, crs``.
    """
    if fixes.empty:
        return {}
    members = fixes["member_id"].to_numpy(dtype=object)
    codes, uniques = pd.factorize(members)
    time_ns = fixes["time"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    local = _local_ns(fixes["time"], tz)
    order = np.lexsort((time_ns, codes))
    codes, time_ns, local = codes[order], time_ns[order], local[order]
    cols = {
        "lon": fixes["lon"].to_numpy(dtype=float)[order],
        "lat": fixes["lat"].to_numpy(dtype=float)[order],
        "accuracy": fixes["accuracy"].to_numpy(dtype=float, na_value=np.nan)[order],
        "source": fixes["source"].to_numpy(dtype=object)[order],
        "line": fixes["line"].to_numpy(dtype=np.int64)[order],
        "mock": fixes["mock"].to_numpy(dtype=bool, na_value=False)[order],
        "speed": fixes["speed"].to_numpy(dtype=float, na_value=np.nan)[order],
        "device_id": fixes["device_id"].to_numpy(dtype=object, na_value=None)[order],
        "crs": fixes["crs"].to_numpy(dtype=object)[order],
    }
    gap_limit = np.asarray(max_gap_s, dtype=float)[order]
    day = np.floor_divide(local, NS_PER_DAY)
    synthetic = np.zeros(len(order), dtype=bool)

    # Segments that cross local midnight and are not gaps: interpolate a point at midnight.
    same_member = codes[1:] == codes[:-1]
    crossing = np.flatnonzero(same_member & (day[1:] != day[:-1])
                              & ((time_ns[1:] - time_ns[:-1]) <= gap_limit[1:] * 1e9))
    if len(crossing):
        a, b = crossing, crossing + 1
        midnight_local = day[b] * NS_PER_DAY
        offset = local[b] - time_ns[b]
        mid_ns = midnight_local - offset
        f = (mid_ns - time_ns[a]) / (time_ns[b] - time_ns[a])
        ins = {
            "lon": cols["lon"][a] + f * (cols["lon"][b] - cols["lon"][a]),
            "lat": cols["lat"][a] + f * (cols["lat"][b] - cols["lat"][a]),
            "accuracy": np.full(len(a), np.nan),
            "source": np.full(len(a), "(interpolated at local midnight)", dtype=object),
            "line": np.zeros(len(a), dtype=np.int64),
            "mock": cols["mock"][a] & cols["mock"][b],
            "speed": np.full(len(a), np.nan),
            "device_id": cols["device_id"][a],
            "crs": cols["crs"][a],
        }
        # Each midnight point ends day a and starts day b (unless fix b is itself at midnight).
        into_b = mid_ns < time_ns[b]
        codes = np.concatenate([codes, codes[a], codes[b][into_b]])
        time_ns = np.concatenate([time_ns, mid_ns, mid_ns[into_b]])
        day = np.concatenate([day, day[a], day[b][into_b]])
        synthetic = np.concatenate([synthetic, np.ones(len(a) + int(into_b.sum()), dtype=bool)])
        for key in cols:
            cols[key] = np.concatenate([cols[key], ins[key], ins[key][into_b]])
        order = np.lexsort((time_ns, day, codes))
        codes, time_ns, day, synthetic = codes[order], time_ns[order], day[order], synthetic[order]
        cols = {k: v[order] for k, v in cols.items()}

    starts = np.flatnonzero(np.concatenate([[True], (codes[1:] != codes[:-1]) | (day[1:] != day[:-1])]))
    ends = np.append(starts[1:], len(codes))
    out = {}
    for s, e in zip(starts.tolist(), ends.tolist()):
        key = (str(uniques[codes[s]]), _epoch_day_to_date(int(day[s])))
        out[key] = {"time_ns": time_ns[s:e], "synthetic": synthetic[s:e],
                    **{k: v[s:e] for k, v in cols.items()}}
    return out


def _epoch_day_to_date(day: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=day)


def _rejected_by_patrol(fixes: pd.DataFrame, reasons: np.ndarray, tz: str):
    """Rejection counts per (member, date), and counts of rejected fixes without a member or time."""
    rejected = reasons != KEPT
    dated = rejected & fixes["member_id"].notna().to_numpy() & fixes["time"].notna().to_numpy()
    per_patrol: dict[tuple[str, dt.date], dict[str, int]] = {}
    if dated.any():
        sub = fixes.loc[dated, ["member_id", "time"]]
        days = np.floor_divide(_local_ns(sub["time"], tz), NS_PER_DAY)
        frame = pd.DataFrame({"m": sub["member_id"].to_numpy(dtype=object), "d": days,
                              "r": reasons[dated]})
        for (member, day, reason), count in frame.value_counts().items():
            counts = per_patrol.setdefault((str(member), _epoch_day_to_date(int(day))),
                                           dict.fromkeys(REJECT_REASONS, 0))
            counts[reason] = int(count)
    unassigned = count_reasons(np.where(rejected & ~dated, reasons, KEPT))
    return per_patrol, unassigned


def verify_batch(grids: list[Grid], fixes: pd.DataFrame, *, rules: RuleSet | None = None,
                 tz: str = DEFAULT_TZ, now: pd.Timestamp | None = None, events: pd.DataFrame | None = None,
                 sites: pd.DataFrame | None = None, reviews: Mapping[str, str] | None = None,
                 history: Sequence[DayTrack] = ()) -> BatchResult:
    """Verify every patrol in a fix table.

    Parameters
    ----------
    grids : list of Grid
        Grids with their ``members``; a member's patrol is measured against its grid.
    fixes : pandas.DataFrame
        A fix table as the readers return it (WGS-84, UTC), any row order.
    rules : RuleSet, optional
        Thresholds per grid type; built-in defaults when omitted.
    tz : str
        IANA zone that defines a patrol's local date and the output offsets.
    now : pandas.Timestamp, optional
        Verification time for the ``future`` rejection; defaults to the current time.
    events : pandas.DataFrame, optional
        Event reports (as :func:`geoverify.io.read_events` returns them) to check.
    sites : pandas.DataFrame, optional
        Sites (as :func:`geoverify.io.read_sites` returns them); each patrol counts visits to
        its grid's sites.
    reviews : mapping of flag id to ``"confirmed"`` or ``"dismissed"``, optional
        Auditors' decisions, applied to the flags they name.
    history : sequence of DayTrack
        Earlier days' tracks, compared against for replayed tracks but not verified again.

    Returns
    -------
    BatchResult
        Patrols sorted by date then member, checked events, a summary accounting for every
        fix, warnings.
    """
    check_tz(tz)
    rules = rules or RuleSet()
    reviews = reviews or {}
    now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now).tz_convert("UTC")
    by_member = member_grids(grids)
    warnings: list[str] = []
    for member, assigned in by_member.items():
        if len(assigned) > 1:
            warnings.append(f"member {member} is assigned to {len(assigned)} grids "
                            f"({', '.join(g.grid_id for g in assigned)}); each patrol is credited to the "
                            "grid where the member spent the most time")

    def member_rules(member: str) -> Rules:
        assigned = by_member.get(member)
        return rules.for_grid_type(assigned[0].grid_type if assigned else None)

    # Per-fix thresholds from each member's grid type, looked up once per member.
    member_code, unique_members = pd.factorize(fixes["member_id"], use_na_sentinel=False)
    per_member = [member_rules(m if isinstance(m, str) else "") for m in unique_members]
    max_acc = np.array([r.max_accuracy_m for r in per_member] or [0.0])[member_code]
    max_gap = np.array([r.max_gap_s for r in per_member] or [0.0])[member_code]
    reasons = rejection_reasons(fixes, now=now, rules=rules.defaults, max_accuracy_m=max_acc)
    kept_mask = reasons == KEPT
    days = split_days(fixes.loc[kept_mask], tz, max_gap[kept_mask])
    rejected, unassigned = _rejected_by_patrol(fixes, reasons, tz)
    sites_by_grid = _sites_by_grid(sites)

    patrols, tracks, patrol_rules, grid_of = [], [], [], {}
    for member, date in sorted(set(days) | set(rejected), key=lambda k: (k[1], k[0])):
        cols = days.get((member, date)) or _empty_columns()
        track = DayTrack(member_id=member, date=date,
                         rejected=rejected.get((member, date), dict.fromkeys(REJECT_REASONS, 0)), **cols)
        results = []
        for grid in by_member.get(member) or [None]:
            grid_rules = rules.for_grid_type(grid.grid_type if grid else None)
            results.append((verify_patrol(grid, track, grid_rules, reviews=reviews,
                                          sites=sites_by_grid.get(grid.grid_id) if grid else None), grid))
        patrol, grid = max(results, key=lambda r: r[0].in_grid_s)
        grid_rules = rules.for_grid_type(grid.grid_type if grid else None)
        if grid is None:
            warnings.append(f"member {member} is assigned to no grid; patrol {patrol.patrol_id} has grid_id "
                            "null and no in-grid time")
        else:
            _add_crs_mismatch(patrol, grid, track, grids, grid_rules, reviews, sites_by_grid.get(grid.grid_id))
        patrols.append(patrol)
        tracks.append(track)
        patrol_rules.append(grid_rules)
        grid_of[member] = grid

    _add_duplicate_tracks(patrols, tracks, history, member_rules, reviews)
    for patrol, grid_rules in zip(patrols, patrol_rules):
        patrol.settle_credit(grid_rules)
    checked = _check_events(events, tracks, history, grid_of, by_member, member_rules, reviews)

    counts = count_reasons(reasons)
    summary = {"fixes_read": int(len(fixes)), "fixes_kept": int(kept_mask.sum()),
               "fixes_rejected": counts, "rejected_without_member_or_time": unassigned,
               "patrols": len(patrols), "events": len(checked), "verified_at": now.isoformat()}
    if any(unassigned.values()):
        warnings.append(f"{sum(unassigned.values())} rejected fix(es) have no usable member id or time and "
                        "belong to no patrol; they are counted in summary.rejected_without_member_or_time")
    return BatchResult(patrols=patrols, summary=summary, warnings=warnings, events=checked)


def _empty_columns() -> dict:
    return {"time_ns": np.zeros(0, np.int64), "lon": np.zeros(0), "lat": np.zeros(0),
            "accuracy": np.zeros(0), "synthetic": np.zeros(0, bool), "source": np.zeros(0, object),
            "line": np.zeros(0, np.int64), "mock": np.zeros(0, bool), "speed": np.zeros(0),
            "device_id": np.zeros(0, object), "crs": np.zeros(0, object)}


def _sites_by_grid(sites: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    if sites is None or not len(sites):
        return {}
    return {str(grid_id): frame.reset_index(drop=True) for grid_id, frame in sites.groupby("grid_id", sort=False)}


def _add_crs_mismatch(patrol: Patrol, grid: Grid, track: DayTrack, grids: list[Grid], rules: Rules,
                      reviews: Mapping[str, str], sites: pd.DataFrame | None) -> None:
    """Add CRS_MISMATCH to a patrol that mostly missed its grid, when reading it as GCJ-02 fixes that."""
    if patrol.kept == 0 or patrol.in_grid_s > (1.0 - rules.crs_mismatch_share) * (patrol.in_grid_s + patrol.outside_s):
        return
    flag = check_crs_mismatch(grid, track, grids, rules,
                              lambda converted: verify_patrol(grid, converted, rules, sites=sites))
    if flag is not None:
        flag.evidence["rule_version"] = rules.version
        patrol.add_flags(identify([flag], patrol.patrol_id, reviews))


def _add_duplicate_tracks(patrols: list[Patrol], tracks: list[DayTrack], history: Sequence[DayTrack],
                          member_rules, reviews: Mapping[str, str]) -> None:
    """DUPLICATE_TRACK: one person carrying two phones, or a day replayed (see geoverify.duplicates)."""
    from .duplicates import find_duplicate_tracks

    found = find_duplicate_tracks([t for t in tracks if len(t.time_ns)], member_rules, history=history)
    for patrol in patrols:
        flags = sorted(found.get((patrol.member_id, patrol.date), []), key=lambda f: f.start)
        if flags:
            patrol.add_flags(identify(flags, patrol.patrol_id, reviews))


def _check_events(events, tracks, history, grid_of, by_member, member_rules, reviews) -> list:
    """EVENT_* checks of each event report against its member's tracks and grid."""
    if events is None or not len(events):
        return []
    from .events import check_events

    by_track: dict[str, list[DayTrack]] = {}
    for track in list(history) + list(tracks):
        if len(track.time_ns):
            by_track.setdefault(track.member_id, []).append(track)
    member_grid = {m: grid_of.get(m, (by_member.get(m) or [None])[0]) for m in set(events["member_id"].astype(str))}
    checked = check_events(events, by_track, member_grid, member_rules)
    for check in checked:
        for code in sorted({f.code for f in check.flags}):
            identify([f for f in check.flags if f.code == code], str(check.event_id), reviews)
    return checked
