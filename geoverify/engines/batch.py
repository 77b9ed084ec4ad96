"""Batch verification: a fix table and grids in, one verified patrol per member and local date out."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from geoverify.detectors.crs_mismatch import check_crs_mismatch
from geoverify.detectors.device import identify
from geoverify.engines.track_summary import duplicate_summary, event_fixes
from geoverify.geo.grid import Grid
from geoverify.io.times import DEFAULT_TZ, check_tz
from geoverify.patrol.verify import Patrol, verify_patrol
from geoverify.preprocessing.cleaning import KEPT, REJECT_REASONS, count_reasons, rejection_reasons
from geoverify.preprocessing.days import DayTrack, rejected_by_patrol, split_days
from geoverify.rules import Rules, RuleSet


@dataclass
class BatchResult:
    """Everything one batch produced."""

    patrols: list[Patrol]
    summary: dict
    warnings: list[str] = field(default_factory=list)
    events: list = field(default_factory=list)  # geoverify.detectors.events.EventCheck
    # How the batch ran (not part of the result document): parts, CPU seconds of each phase.
    stats: dict = field(default_factory=dict, repr=False, compare=False)


def member_grids(grids: Iterable[Grid]) -> dict[str, list[Grid]]:
    """Each member id → the grids listing it in ``members`` (in file order)."""
    out: dict[str, list[Grid]] = {}
    for grid in grids:
        for member in grid.members:
            out.setdefault(member, []).append(grid)
    return out


@dataclass
class BatchContext:
    """What every part of a batch shares: grids, rules and settings (broadcast once to workers).

    Attributes
    ----------
    grids : list of Grid
        Every grid of the grid file (CRS_MISMATCH looks at all of them).
    rules : RuleSet
    tz : str
        IANA zone of local dates and output offsets.
    now : pandas.Timestamp
        Verification time (UTC) for the ``future`` rejection.
    reviews : dict
        flag id → ``confirmed`` or ``dismissed``.
    sites_by_grid : dict
        grid id → that grid's sites (WGS-84 lon/lat).
    event_times : dict
        member id → UTC nanoseconds of the member's event reports.
    history : list of DayTrack
        Earlier stored days (replays, events), in the order given.
    """

    grids: list[Grid]
    rules: RuleSet
    tz: str
    now: pd.Timestamp
    reviews: dict[str, str] = field(default_factory=dict)
    sites_by_grid: dict[str, pd.DataFrame] = field(default_factory=dict)
    event_times: dict[str, np.ndarray] = field(default_factory=dict)
    history: list[DayTrack] = field(default_factory=list)

    @cached_property
    def by_member(self) -> dict[str, list[Grid]]:
        """Each member id → the grids listing it (see :func:`member_grids`)."""
        return member_grids(self.grids)

    @cached_property
    def history_of(self) -> dict[str, list[DayTrack]]:
        """Each member id → its stored days, in the order given."""
        out: dict[str, list[DayTrack]] = {}
        for track in self.history:
            out.setdefault(track.member_id, []).append(track)
        return out

    def member_rules(self, member: str) -> Rules:
        """The rules of the member's first grid (defaults for a member in no grid)."""
        assigned = self.by_member.get(member)
        return self.rules.for_grid_type(assigned[0].grid_type if assigned else None)

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k not in ("by_member", "history_of")}


def batch_context(
    grids: list[Grid],
    *,
    rules: RuleSet | None = None,
    tz: str = DEFAULT_TZ,
    now: pd.Timestamp | None = None,
    events: pd.DataFrame | None = None,
    sites: pd.DataFrame | None = None,
    reviews: Mapping[str, str] | None = None,
    history: Sequence[DayTrack] = (),
) -> BatchContext:
    """Build the shared context of a batch (see :func:`verify_batch` for the parameters)."""
    check_tz(tz)
    now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now).tz_convert("UTC")
    event_times: dict[str, np.ndarray] = {}
    if events is not None and len(events) and "time" in events.columns and "member_id" in events.columns:
        times = events["time"]
        if isinstance(times.dtype, pd.DatetimeTZDtype):
            valid = times.notna().to_numpy()
            frame = pd.DataFrame(
                {
                    "m": events["member_id"].astype(str).to_numpy(dtype=object)[valid],
                    "t": times[valid]
                    .dt.tz_convert("UTC")
                    .dt.tz_localize(None)
                    .to_numpy(dtype="datetime64[ns]")
                    .astype(np.int64),
                }
            )
            event_times = {str(m): g["t"].to_numpy() for m, g in frame.groupby("m", sort=False)}
    return BatchContext(
        grids=list(grids),
        rules=rules or RuleSet(),
        tz=tz,
        now=now,
        reviews=dict(reviews or {}),
        sites_by_grid=_sites_by_grid(sites),
        event_times=event_times,
        history=list(history),
    )


@dataclass
class MemberPart:
    """What the per-member phase returns for some members: patrols measured and what the
    cross-patrol phase needs (small: no fix table)."""

    patrols: list[Patrol] = field(default_factory=list)
    tracks: list[DayTrack] = field(default_factory=list)  # duplicate_summary of each day
    event_tracks: dict[str, list[DayTrack]] = field(default_factory=dict)  # member → event_fixes
    warnings: list[tuple[tuple[dt.date, str], str]] = field(default_factory=list)
    fixes_read: int = 0
    fixes_kept: int = 0
    rejected: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REJECT_REASONS, 0))
    unassigned: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REJECT_REASONS, 0))
    parts: int = 1  # parts merged into this one
    cpu_s: float = 0.0  # CPU seconds spent on them (set by the engine that ran them)


def verify_members(fixes: pd.DataFrame, ctx: BatchContext) -> MemberPart:
    """The per-member phase: clean, split into local days, verify each patrol, add CRS_MISMATCH.

    A pure function of its arguments. ``fixes`` must hold *every* fix of each member it holds
    (all days: cleaning keeps the first of a member's fixes at one time, and a segment crossing
    local midnight is shared by two days), in input order; rows without a member may come in any
    part. Parts of a fix table split by member give, merged, what the whole table gives.

    Parameters
    ----------
    fixes : pandas.DataFrame
        A fix table as the readers return it (WGS-84, UTC).
    ctx : BatchContext

    Returns
    -------
    MemberPart
        Patrols sorted by (date, member), without the cross-patrol flags (DUPLICATE_TRACK) and
        with a provisional credit; the tracks' summaries; fix counts and per-patrol warnings.
    """
    rules, by_member = ctx.rules, ctx.by_member
    member_code, unique_members = pd.factorize(fixes["member_id"], use_na_sentinel=False)
    per_member = [ctx.member_rules(m if isinstance(m, str) else "") for m in unique_members]
    max_acc = np.array([r.max_accuracy_m for r in per_member] or [0.0])[member_code]
    max_gap = np.array([r.max_gap_s for r in per_member] or [0.0])[member_code]
    reasons = rejection_reasons(fixes, now=ctx.now, rules=rules.defaults, max_accuracy_m=max_acc)
    kept_mask = reasons == KEPT
    kept_rows = np.flatnonzero(kept_mask)
    days = split_days(fixes, ctx.tz, max_gap[kept_rows], rows=kept_rows)
    rejected, unassigned = rejected_by_patrol(fixes, reasons, ctx.tz)
    part = MemberPart(
        fixes_read=int(len(fixes)),
        fixes_kept=int(kept_mask.sum()),
        rejected=count_reasons(reasons),
        unassigned=unassigned,
    )
    member_tracks: dict[str, list[DayTrack]] = {}
    for member, date in sorted(set(days) | set(rejected), key=lambda k: (k[1], k[0])):
        # Each day's columns are let go once verified; only members with events keep their tracks.
        cols = days.pop((member, date), None) or _empty_columns()
        track = DayTrack(
            member_id=member, date=date, rejected=rejected.get((member, date), dict.fromkeys(REJECT_REASONS, 0)), **cols
        )
        results = []
        for grid in by_member.get(member) or (None,):
            grid_rules = rules.for_grid_type(grid.grid_type if grid else None)
            results.append(
                (
                    verify_patrol(
                        grid,
                        track,
                        grid_rules,
                        reviews=ctx.reviews,
                        sites=ctx.sites_by_grid.get(grid.grid_id) if grid else None,
                    ),
                    grid,
                )
            )
        patrol, grid = max(results, key=lambda r: r[0].in_grid_s)
        if grid is None:
            part.warnings.append(
                (
                    (date, member),
                    f"member {member} is assigned to no grid; patrol "
                    f"{patrol.patrol_id} has grid_id null and no in-grid time",
                )
            )
        else:
            _add_crs_mismatch(
                patrol,
                grid,
                track,
                ctx.grids,
                rules.for_grid_type(grid.grid_type),
                ctx.reviews,
                ctx.sites_by_grid.get(grid.grid_id),
            )
        part.patrols.append(patrol)
        if len(track.time_ns):
            part.tracks.append(duplicate_summary(track))
        if member in ctx.event_times:
            member_tracks.setdefault(member, []).append(track)
    for member, tracks in member_tracks.items():
        if member in ctx.event_times:
            part.event_tracks[member] = event_fixes(ctx.history_of.get(member, []) + tracks, ctx.event_times[member])
    return part


def merge_parts(parts: Iterable[MemberPart]) -> MemberPart:
    """One part from parts that hold different members (patrols and warnings in (date, member) order)."""
    out = MemberPart(parts=0)
    for part in parts:
        out.parts += part.parts
        out.cpu_s += part.cpu_s
        out.patrols += part.patrols
        out.tracks += part.tracks
        out.event_tracks.update(part.event_tracks)
        out.warnings += part.warnings
        out.fixes_read += part.fixes_read
        out.fixes_kept += part.fixes_kept
        for reason in REJECT_REASONS:
            out.rejected[reason] += part.rejected[reason]
            out.unassigned[reason] += part.unassigned[reason]
    out.patrols.sort(key=lambda p: (p.date, p.member_id))
    out.tracks.sort(key=lambda t: (t.date, t.member_id))
    out.warnings.sort(key=lambda w: w[0])
    return out


def finish_batch(part: MemberPart, ctx: BatchContext, events: pd.DataFrame | None = None) -> BatchResult:
    """The cross-patrol phase: DUPLICATE_TRACK, credit, event checks, warnings and summary.

    Parameters
    ----------
    part : MemberPart
        Every member's part, merged (:func:`merge_parts`).
    ctx : BatchContext
    events : pandas.DataFrame, optional
        The event reports ``ctx`` was built with.

    Returns
    -------
    BatchResult
    """
    started = time.process_time()
    rules, by_member = ctx.rules, ctx.by_member
    warnings = [
        f"member {member} is assigned to {len(assigned)} grids "
        f"({', '.join(g.grid_id for g in assigned)}); each patrol is credited to the "
        "grid where the member spent the most time"
        for member, assigned in by_member.items()
        if len(assigned) > 1
    ]
    warnings += [text for _, text in part.warnings]
    _add_duplicate_tracks(part.patrols, part.tracks, ctx.history, ctx.member_rules, ctx.reviews)
    grid_of: dict[str, Grid | None] = {}
    for patrol in part.patrols:
        grid = next((g for g in by_member.get(patrol.member_id, ()) if g.grid_id == patrol.grid_id), None)
        patrol.settle_credit(rules.for_grid_type(grid.grid_type if grid else None))
        grid_of[patrol.member_id] = grid
    event_tracks = dict(part.event_tracks)
    for member, tracks in ctx.history_of.items():  # members with stored days but no fixes in this batch
        if member not in event_tracks and member in ctx.event_times:
            event_tracks[member] = event_fixes(tracks, ctx.event_times[member])
    checked = _check_events(events, event_tracks, grid_of, by_member, ctx.member_rules, ctx.reviews)
    summary = {
        "fixes_read": part.fixes_read,
        "fixes_kept": part.fixes_kept,
        "fixes_rejected": dict(part.rejected),
        "rejected_without_member_or_time": dict(part.unassigned),
        "patrols": len(part.patrols),
        "events": len(checked),
        "verified_at": ctx.now.isoformat(),
    }
    if any(part.unassigned.values()):
        warnings.append(
            f"{sum(part.unassigned.values())} rejected fix(es) have no usable member id or time and "
            "belong to no patrol; they are counted in summary.rejected_without_member_or_time"
        )
    stats = {"parts": part.parts, "member_cpu_s": part.cpu_s, "cross_cpu_s": time.process_time() - started}
    return BatchResult(patrols=part.patrols, summary=summary, warnings=warnings, events=checked, stats=stats)


def verify_batch(
    grids: list[Grid],
    fixes: pd.DataFrame,
    *,
    rules: RuleSet | None = None,
    tz: str = DEFAULT_TZ,
    now: pd.Timestamp | None = None,
    events: pd.DataFrame | None = None,
    sites: pd.DataFrame | None = None,
    reviews: Mapping[str, str] | None = None,
    history: Sequence[DayTrack] = (),
) -> BatchResult:
    """Verify every patrol in a fix table, in this process.

    The per-member phase (:func:`verify_members`) then the cross-patrol phase
    (:func:`finish_batch`); :mod:`geoverify.engines.parallel` runs the same two over processes or a Dask
    cluster.

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
    ctx = batch_context(
        grids, rules=rules, tz=tz, now=now, events=events, sites=sites, reviews=reviews, history=history
    )
    return finish_batch(merge_parts([verify_members(fixes, ctx)]), ctx, events)


def _empty_columns() -> dict:
    return {
        "time_ns": np.zeros(0, np.int64),
        "lon": np.zeros(0),
        "lat": np.zeros(0),
        "accuracy": np.zeros(0),
        "synthetic": np.zeros(0, bool),
        "source": np.zeros(0, object),
        "line": np.zeros(0, np.int64),
        "mock": np.zeros(0, bool),
        "speed": np.zeros(0),
        "device_id": np.zeros(0, object),
        "crs": np.zeros(0, object),
        "network": np.zeros(0, bool),
    }


def _sites_by_grid(sites: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    if sites is None or not len(sites):
        return {}
    return {str(grid_id): frame.reset_index(drop=True) for grid_id, frame in sites.groupby("grid_id", sort=False)}


def _add_crs_mismatch(
    patrol: Patrol,
    grid: Grid,
    track: DayTrack,
    grids: list[Grid],
    rules: Rules,
    reviews: Mapping[str, str],
    sites: pd.DataFrame | None,
) -> None:
    """Add CRS_MISMATCH to a patrol that mostly missed its grid, when reading it as GCJ-02 fixes that."""
    if patrol.kept == 0 or patrol.in_grid_s > (1.0 - rules.crs_mismatch_share) * (patrol.in_grid_s + patrol.outside_s):
        return
    flag = check_crs_mismatch(
        grid, track, grids, rules, lambda converted: verify_patrol(grid, converted, rules, sites=sites)
    )
    if flag is not None:
        flag.evidence["rule_version"] = rules.version
        patrol.add_flags(identify([flag], patrol.patrol_id, reviews))


def _add_duplicate_tracks(
    patrols: list[Patrol], tracks: list[DayTrack], history: Sequence[DayTrack], member_rules, reviews: Mapping[str, str]
) -> None:
    """DUPLICATE_TRACK: one person carrying two phones, or a day replayed (see geoverify.detectors.duplicates)."""
    from geoverify.detectors.duplicates import find_duplicate_tracks

    found = find_duplicate_tracks([t for t in tracks if len(t.time_ns)], member_rules, history=history)
    for patrol in patrols:
        flags = sorted(found.get((patrol.member_id, patrol.date), []), key=lambda f: f.start)
        if flags:
            patrol.add_flags(identify(flags, patrol.patrol_id, reviews))


def _check_events(events, event_tracks, grid_of, by_member, member_rules, reviews) -> list:
    """EVENT_* checks of each event report against its member's tracks (reduced by
    :func:`geoverify.engines.track_summary.event_fixes`) and grid."""
    if events is None or not len(events):
        return []
    from geoverify.detectors.events import check_events

    member_grid = {m: grid_of.get(m, (by_member.get(m) or [None])[0]) for m in set(events["member_id"].astype(str))}
    checked = check_events(events, event_tracks, member_grid, member_rules)
    for check in checked:
        for code in sorted({f.code for f in check.flags}):
            identify([f for f in check.flags if f.code == code], check.flag_prefix, reviews)
    return checked
