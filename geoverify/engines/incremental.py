"""Verifying some member-days on their own: the incremental path of the store's workers.

A batch (:mod:`geoverify.engines.batch`) verifies every patrol of its input together. A live store
re-verifies only the member-days an upload touched. Each member-day's own measures (cleaning,
motion, in-grid time, coverage, IDLE/LOOP/VEHICLE, …) depend only on the member's fixes; what
compares it with others needs only small summaries:

- DUPLICATE_TRACK two phones: the same day's tracks of the members whose space-time cells meet
  the member's (``others``); each pair is judged from the two tracks alone;
- DUPLICATE_TRACK replay: the member's own days of the replay window before (``history``);
- EVENT_*: the member's fixes around each event time, and the earlier events nearby.

Given those, :func:`finish_member_days` gives each member-day exactly the patrol the batch gives
it. It also names each day's two-phones *partners* (members whose comparison with it passes for
either side), which the store re-verifies when the pair's outcome may have changed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pandas as pd

from geoverify.detectors.device import identify
from geoverify.detectors.duplicates import find_duplicate_tracks
from geoverify.detectors.events import EventCheck
from geoverify.engines.batch import BatchContext, MemberPart, _check_events, verify_members
from geoverify.patrol.verify import Patrol
from geoverify.preprocessing.days import DayTrack

Key = tuple[str, dt.date]


@dataclass
class MemberDays:
    """What :func:`finish_member_days` found for the asked member-days.

    Attributes
    ----------
    patrols : list of Patrol
        One per asked member-day with at least one fix (kept or rejected), fully verified.
    summaries : dict
        (member, date) → the day's track as DUPLICATE_TRACK reads it (only days with kept fixes).
    partners : dict
        (member, date) → member ids whose two-phones comparison with the day passes, for the
        day's member or for the other.
    events : dict
        (member, date) → the checked event reports of that asked member-day (by the event's
        local date).
    """

    patrols: list[Patrol] = field(default_factory=list)
    summaries: dict[Key, DayTrack] = field(default_factory=dict)
    partners: dict[Key, set[str]] = field(default_factory=dict)
    events: dict[Key, list[EventCheck]] = field(default_factory=dict)


def measure_member_days(fixes: pd.DataFrame, ctx: BatchContext, keys: Iterable[Key]) -> MemberPart:
    """The per-member phase for some member-days (no comparison with other members yet).

    Parameters
    ----------
    fixes : pandas.DataFrame
        Every stored fix of the keys' members within ``max_gap_s`` of each asked day (more is
        allowed: other days are measured and left out).
    ctx : BatchContext
        Grids, rules, reviews, sites, and the events of the keys' members (``event_times``).
    keys : iterable of (member_id, date)

    Returns
    -------
    MemberPart
        Only the asked member-days' patrols and track summaries; the event tracks of the
        members, for their event checks.
    """
    wanted = set(keys)
    part = verify_members(fixes, ctx)
    part.patrols = [p for p in part.patrols if (p.member_id, p.date) in wanted]
    part.tracks = [t for t in part.tracks if (t.member_id, t.date) in wanted]
    return part


def find_replays(
    part: MemberPart, ctx: BatchContext, keys: Iterable[Key], history: Sequence[DayTrack] = ()
) -> dict[Key, list]:
    """The replay half of DUPLICATE_TRACK for the measured member-days: each compared with its
    member's own days (among ``keys`` and ``history``) of the replay window before it.

    Unlike the two-phones check this needs no other member's latest track, so the service makes
    it before taking the writer lock; a change of an earlier day queues its later days again.

    Returns
    -------
    dict
        (member_id, date) of each key → its replay flags (possibly empty).
    """
    wanted = set(keys)
    own = [t for t in part.tracks if (t.member_id, t.date) in wanted]
    return find_duplicate_tracks(
        own, ctx.member_rules, kinds=("replay",), history=[h for h in history if (h.member_id, h.date) not in wanted]
    )


def finish_member_days(
    part: MemberPart,
    ctx: BatchContext,
    keys: Iterable[Key],
    *,
    others: Sequence[DayTrack] = (),
    history: Sequence[DayTrack] = (),
    replays: dict[Key, list] | None = None,
    events: pd.DataFrame | None = None,
) -> MemberDays:
    """Compare the measured member-days with their neighbours, settle their credit, check events.

    Parameters
    ----------
    part : MemberPart
        From :func:`measure_member_days`.
    ctx : BatchContext
    keys : iterable of (member_id, date)
        The member-days asked for.
    others : sequence of DayTrack
        Track summaries of other members on the keys' dates that may meet them (candidates
        found through the space-time index); keys' own days are left out if present.
    history : sequence of DayTrack
        Track summaries of the keys' members on the days of the replay window before each key.
    replays : dict, optional
        Replay flags already found by :func:`find_replays` (then ``history`` is not used).
    events : pandas.DataFrame, optional
        The keys' members' events and every earlier event within the duplicate window of them.

    Returns
    -------
    MemberDays
    """
    wanted = set(keys)
    own = [t for t in part.tracks if (t.member_id, t.date) in wanted]
    neighbours = [t for t in others if (t.member_id, t.date) not in wanted]
    if replays is None:
        found = find_duplicate_tracks(
            own + neighbours, ctx.member_rules, history=[h for h in history if (h.member_id, h.date) not in wanted]
        )
    else:
        found = find_duplicate_tracks(own + neighbours, ctx.member_rules, kinds=("two_phones",))
        for key, flags in replays.items():
            found[key] = found.get(key, []) + flags
    out = MemberDays(summaries={(t.member_id, t.date): t for t in own})
    for key in wanted:
        mine = found.get(key, [])
        partners = {f.evidence["other_member_id"] for f in mine if f.evidence["kind"] == "two_phones"}
        for other in neighbours:
            if other.date == key[1] and any(
                f.evidence["kind"] == "two_phones" and f.evidence["other_member_id"] == key[0]
                for f in found.get((other.member_id, other.date), [])
            ):
                partners.add(other.member_id)
        out.partners[key] = partners
    grid_of = {}
    for patrol in part.patrols:
        flags = sorted(found.get((patrol.member_id, patrol.date), []), key=lambda f: f.start)
        if flags:
            patrol.add_flags(identify(flags, patrol.patrol_id, ctx.reviews))
        grid = next((g for g in ctx.by_member.get(patrol.member_id, ()) if g.grid_id == patrol.grid_id), None)
        patrol.settle_credit(ctx.rules.for_grid_type(grid.grid_type if grid else None))
        grid_of[patrol.member_id] = grid
    out.patrols = part.patrols
    if events is not None and len(events):
        checked = _check_events(events, part.event_tracks, grid_of, ctx.by_member, ctx.member_rules, ctx.reviews)
        for check in checked:
            key = (check.member_id, pd.Timestamp(check.time).tz_convert(ctx.tz).date())
            if key in wanted:
                out.events.setdefault(key, []).append(check)
    return out
