"""DUPLICATE_TRACK: one person carrying two members' phones, and a member replaying an earlier day."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from geoverify.flags import Flag
from geoverify.geo.projection import LocalProjection
from geoverify.preprocessing.days import DayTrack
from geoverify.rules import Rules

NS = 10**9
# Tracks are indexed in time buckets of at least this many seconds (and at least the longest
# max_gap_s, so that a segment that is not a gap spans at most two buckets).
BUCKET_S = 300.0
# A little under the length of a degree of latitude (110.6-111.7 km), so boxes in degrees err wide.
M_PER_DEG = 110_000.0
# Replay: the later track is sampled every REPLAY_SAMPLE_S seconds; each sample votes for the time
# shifts that put a fix of the earlier track within the distance threshold of it; shifts are binned
# REPLAY_BIN_S wide and the REPLAY_CANDIDATES best pairs of adjacent bins are measured in full.
REPLAY_SAMPLE_S = 30.0
REPLAY_BIN_S = 60.0
REPLAY_CANDIDATES = 3


@dataclass
class _Path:
    """A track on one local projection: times (s after a common reference), metres, its max_gap_s."""

    t: np.ndarray
    x: np.ndarray
    y: np.ndarray
    max_gap_s: float

    def shifted(self, shift_s: float) -> _Path:
        return _Path(self.t + shift_s, self.x, self.y, self.max_gap_s)

    def covers(self, t: np.ndarray) -> np.ndarray:
        """Whether each time lies on a segment that is not a gap (times strictly between fixes)."""
        i = np.searchsorted(self.t, t, side="right") - 1
        ok = (i >= 0) & (i < len(self.t) - 1)
        j = np.clip(i, 0, max(len(self.t) - 2, 0))
        seg = self.t[j + 1] - self.t[j] if len(self.t) > 1 else np.full(len(t), np.inf)
        return ok & (seg <= self.max_gap_s)

    def at(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.interp(t, self.t, self.x), np.interp(t, self.t, self.y)


@dataclass
class _Match:
    """How closely two paths follow each other over their common (non-gap) time."""

    overlap_s: float
    within_s: float
    median_m: float
    max_m: float
    start_s: float
    end_s: float

    @property
    def share(self) -> float:
        return self.within_s / self.overlap_s if self.overlap_s > 0 else 0.0


def _fraction_within(x0, y0, x1, y1, radius_m: float) -> np.ndarray:
    """Share of each interval during which a vector moving linearly from (x0, y0) to (x1, y1) is no
    longer than ``radius_m``: |r(s)|² is a convex quadratic in s, so the share is one interval."""
    dx, dy = x1 - x0, y1 - y0
    a = dx * dx + dy * dy
    b = 2.0 * (x0 * dx + y0 * dy)
    c = x0 * x0 + y0 * y0 - radius_m * radius_m
    disc = b * b - 4.0 * a * c
    moving = a > 1e-12
    root = np.sqrt(np.maximum(disc, 0.0))
    denom = np.where(moving, 2.0 * a, 1.0)
    s1, s2 = (-b - root) / denom, (-b + root) / denom
    frac = np.clip(np.minimum(s2, 1.0) - np.maximum(s1, 0.0), 0.0, 1.0)
    frac = np.where(disc < 0, 0.0, frac)
    return np.where(moving, frac, (c <= 0).astype(float))


def _compare_paths(a: _Path, b: _Path, radius_m: float) -> _Match | None:
    """Compare two paths at the union of their fix times, each interpolated linearly in time.

    Only intervals on a non-gap segment of both paths count; the time within ``radius_m`` of each
    other is exact for linear motion between the sample times.
    """
    lo, hi = max(a.t[0], b.t[0]), min(a.t[-1], b.t[-1])
    if hi <= lo:
        return None
    t = np.union1d(a.t[(a.t >= lo) & (a.t <= hi)], b.t[(b.t >= lo) & (b.t <= hi)])
    if len(t) < 2:
        return None
    mid = 0.5 * (t[:-1] + t[1:])
    ok = a.covers(mid) & b.covers(mid)
    if not ok.any():
        return None
    xa, ya = a.at(t)
    xb, yb = b.at(t)
    rx, ry = xb - xa, yb - ya
    step = np.diff(t)
    frac = _fraction_within(rx[:-1], ry[:-1], rx[1:], ry[1:], radius_m)
    used = np.zeros(len(t), dtype=bool)
    used[:-1] |= ok
    used[1:] |= ok
    d = np.hypot(rx, ry)[used]
    idx = np.flatnonzero(ok)
    return _Match(
        overlap_s=float(step[ok].sum()),
        within_s=float((step * frac)[ok].sum()),
        median_m=float(np.median(d)),
        max_m=float(d.max()),
        start_s=float(t[idx[0]]),
        end_s=float(t[idx[-1] + 1]),
    )


def _check_tracks(tracks: Sequence[DayTrack], name: str) -> None:
    seen = set()
    for track in tracks:
        if not isinstance(track, DayTrack):
            raise TypeError(f"{name}: expected DayTrack objects, got {type(track).__name__}")
        key = (track.member_id, track.date)
        if key in seen:
            raise ValueError(
                f"{name}: member {track.member_id} on {track.date.isoformat()} appears twice; "
                "pass one DayTrack per member and local date"
            )
        seen.add(key)


def _cell_projection(track: DayTrack) -> LocalProjection:
    # Centres rounded to 0.01° (about 1 km), as for members without a grid in patrol.py.
    return LocalProjection(round(float(np.median(track.lon)), 2), round(float(np.median(track.lat)), 2))


class _Paths:
    """Each track projected on demand onto a given projection, cached."""

    def __init__(self, tracks: list[DayTrack], rules: list[Rules], ref_ns: int):
        self.tracks, self.rules, self.ref_ns = tracks, rules, ref_ns
        self._cache: dict = {}

    def get(self, k: int, proj: LocalProjection) -> _Path:
        key = (k, proj.lon0, proj.lat0)
        if key not in self._cache:
            tr = self.tracks[k]
            x, y = proj.forward(tr.lon, tr.lat)
            self._cache[key] = _Path(
                (tr.time_ns - self.ref_ns) / NS, np.asarray(x), np.asarray(y), self.rules[k].max_gap_s
            )
        return self._cache[key]


def _bucket_boxes(tracks: list[DayTrack], margin_m: float, bucket_s: float):
    """One lon/lat box per track and time bucket, holding the fixes in the bucket and the fixes
    either side of it (segments crossing the bucket's edges), widened by ``margin_m``."""
    owner, bucket, boxes = [], [], []
    for k, tr in enumerate(tracks):
        b = tr.time_ns // int(bucket_s * NS)
        starts = np.flatnonzero(np.concatenate([[True], b[1:] != b[:-1]]))
        ends = np.append(starts[1:], len(b))
        before, after = np.maximum(starts - 1, 0), np.minimum(ends, len(b) - 1)
        lo_x = np.minimum(np.minimum.reduceat(tr.lon, starts), np.minimum(tr.lon[before], tr.lon[after]))
        hi_x = np.maximum(np.maximum.reduceat(tr.lon, starts), np.maximum(tr.lon[before], tr.lon[after]))
        lo_y = np.minimum(np.minimum.reduceat(tr.lat, starts), np.minimum(tr.lat[before], tr.lat[after]))
        hi_y = np.maximum(np.maximum.reduceat(tr.lat, starts), np.maximum(tr.lat[before], tr.lat[after]))
        dlat = margin_m / M_PER_DEG
        coslat = np.cos(np.radians(np.minimum(np.maximum(np.abs(lo_y), np.abs(hi_y)) + dlat, 89.0)))
        dlon = dlat / coslat
        owner.append(np.full(len(starts), k))
        bucket.append(b[starts])
        boxes.append(shapely.box(lo_x - dlon, lo_y - dlat, hi_x + dlon, hi_y + dlat))
    if not owner:
        return np.zeros(0, int), np.zeros(0, np.int64), np.zeros(0, object)
    return np.concatenate(owner), np.concatenate(bucket), np.concatenate(boxes)


def cell_bucket_s(rules: Sequence[Rules]) -> float:
    """Length (s) of the time buckets in which tracks are indexed for the two-phones check."""
    return max([BUCKET_S] + [r.max_gap_s for r in rules])


def track_cells(track: DayTrack, bucket_s: float) -> tuple[np.ndarray, np.ndarray]:
    """The space-time cells of a day track: where it can meet another member's track.

    Parameters
    ----------
    track : DayTrack
        At least one fix (UTC nanoseconds, WGS-84 degrees).
    bucket_s : float
        Bucket length in seconds (:func:`cell_bucket_s`).

    Returns
    -------
    buckets : numpy.ndarray of int64
        UTC seconds // ``bucket_s`` of each cell.
    bounds : numpy.ndarray, shape (n, 4)
        ``min_lon, min_lat, max_lon, max_lat`` (degrees) of the fixes in the bucket and the fixes
        either side of it. Two tracks within any distance d of each other at some time have boxes
        within d of each other in that time's bucket (as :func:`find_duplicate_tracks` finds its
        candidates).
    """
    _, bucket, boxes = _bucket_boxes([track], 0.0, bucket_s)
    return bucket.astype(np.int64), shapely.bounds(boxes).reshape(-1, 4)


def _close_pairs(tracks: list[DayTrack], margin_m: float, bucket_s: float) -> dict[tuple[int, int], int]:
    """Pairs of tracks (i < j) whose boxes meet in the same time bucket → number of such buckets."""
    owner, bucket, boxes = _bucket_boxes(tracks, margin_m, bucket_s)
    order = np.argsort(bucket, kind="stable")
    owner, bucket, boxes = owner[order], bucket[order], boxes[order]
    starts = np.flatnonzero(np.concatenate([[True], bucket[1:] != bucket[:-1]])) if len(bucket) else np.zeros(0, int)
    ends = np.append(starts[1:], len(bucket)) if len(bucket) else np.zeros(0, int)
    found = []
    for s, e in zip(np.asarray(starts).tolist(), np.asarray(ends).tolist()):
        if e - s < 2:
            continue
        left, right = shapely.STRtree(boxes[s:e]).query(boxes[s:e], predicate="intersects")
        i, j = owner[s:e][left], owner[s:e][right]
        keep = i < j
        found.append(np.column_stack([i[keep], j[keep]]))
    if not found:
        return {}
    pairs, counts = np.unique(np.concatenate(found), axis=0, return_counts=True)
    return {(int(i), int(j)): int(c) for (i, j), c in zip(pairs, counts)}


def _device_ids(track: DayTrack) -> list[str]:
    return sorted({str(d) for d in track.device_id if d is not None and d == d})


def _evidence(match: _Match, rules: Rules, track: DayTrack, other: DayTrack, kind: str, **extra) -> dict:
    return {
        "kind": kind,
        "other_member_id": other.member_id,
        "other_date": other.date.isoformat(),
        **extra,
        "overlap_s": round(match.overlap_s, 1),
        "within_s": round(match.within_s, 1),
        "share_within": round(match.share, 4),
        "median_distance_m": round(match.median_m, 1),
        "max_distance_m": round(match.max_m, 1),
        "duplicate_track_distance_m": rules.duplicate_track_distance_m,
        "duplicate_track_share": rules.duplicate_track_share,
        "duplicate_track_min_overlap_s": rules.duplicate_track_min_overlap_s,
        "max_gap_s": rules.max_gap_s,
        "device_ids": _device_ids(track),
        "other_device_ids": _device_ids(other),
        "rule_version": rules.version,
    }


def _flag(track: DayTrack, ref_ns: int, match: _Match, evidence: dict) -> Flag:
    start_ns = ref_ns + int(round(match.start_s * NS))
    end_ns = ref_ns + int(round(match.end_s * NS))
    # Representative position: the member's own fix nearest the middle of the overlap.
    i = int(np.argmin(np.abs(track.time_ns - (start_ns + end_ns) // 2)))
    return Flag(
        "DUPLICATE_TRACK",
        pd.Timestamp(start_ns, unit="ns", tz="UTC"),
        pd.Timestamp(end_ns, unit="ns", tz="UTC"),
        float(track.lon[i]),
        float(track.lat[i]),
        evidence,
    )


def _passes(match: _Match | None, rules: Rules) -> bool:
    return (
        match is not None
        and match.overlap_s >= rules.duplicate_track_min_overlap_s
        and match.share >= rules.duplicate_track_share
    )


def _two_phones(tracks, rules, is_history, paths, ref_ns, out) -> None:
    margin = 0.5 * max(r.duplicate_track_distance_m for r in rules) + 1.0
    bucket_s = max(BUCKET_S, max(r.max_gap_s for r in rules))
    for (i, j), buckets in _close_pairs(tracks, margin, bucket_s).items():
        a, b = tracks[i], tracks[j]
        if a.member_id == b.member_id or (is_history[i] and is_history[j]):
            continue
        if rules[i].pair_patrol or rules[j].pair_patrol:
            continue  # members of pair-patrol grids walk together on purpose
        # The tracks can be within the distance only in buckets where their boxes meet.
        checked = [
            (me, other)
            for me, other in ((i, j), (j, i))
            if not is_history[me]
            and buckets * bucket_s >= rules[me].duplicate_track_share * rules[me].duplicate_track_min_overlap_s
        ]
        if not checked:
            continue
        proj = _cell_projection(a)
        pa, pb = paths.get(i, proj), paths.get(j, proj)
        measured: dict[float, _Match | None] = {}
        for me, other in checked:
            r = rules[me]
            radius = r.duplicate_track_distance_m
            if radius not in measured:
                measured[radius] = _compare_paths(pa, pb, radius)
            match = measured[radius]
            if match is not None and _passes(match, r):
                ev = _evidence(match, r, tracks[me], tracks[other], "two_phones")
                out[(tracks[me].member_id, tracks[me].date)].append(_flag(tracks[me], ref_ns, match, ev))


def _thin(t: np.ndarray, every_s: float) -> np.ndarray:
    """Indices of the first fix at or after each multiple of ``every_s`` (at most one per step)."""
    return np.unique(np.searchsorted(t, np.arange(t[0], t[-1] + every_s, every_s))).clip(0, len(t) - 1)


def _shift_candidates(later: _Path, earlier: _Path, radius_m: float) -> tuple[list[float], int]:
    """Time shifts (s, later minus earlier) that put the most later samples near the earlier track,
    by votes; and the number of samples voting for the best one."""
    from scipy.spatial import cKDTree  # imported here: scipy.spatial costs about 0.25 s to import

    idx = np.unique(_thin(later.t, REPLAY_SAMPLE_S))
    near = cKDTree(np.column_stack([later.x[idx], later.y[idx]])).sparse_distance_matrix(
        cKDTree(np.column_stack([earlier.x, earlier.y])), radius_m, output_type="ndarray"
    )
    if len(near) == 0:
        return [], 0
    shift = later.t[idx][near["i"]] - earlier.t[near["j"]]
    cell = np.floor(shift / REPLAY_BIN_S).astype(np.int64)
    # Each sample votes once per bin; a window is two adjacent bins, so a shift near a bin edge
    # is not split.
    votes = np.unique(np.column_stack([cell, near["i"]]), axis=0)
    bins, count = np.unique(votes[:, 0], return_counts=True)
    window = np.unique(np.concatenate([bins, bins - 1]))
    lookup = dict(zip(bins.tolist(), count.tolist()))
    score = np.array([lookup.get(w, 0) + lookup.get(w + 1, 0) for w in window.tolist()])
    best = window[np.argsort(-score, kind="stable")[:REPLAY_CANDIDATES]]
    shifts = [float(np.median(shift[(cell == w) | (cell == w + 1)])) for w in best.tolist()]
    return shifts, int(score.max())


def _replays(tracks, rules, is_history, paths, ref_ns, out) -> None:
    by_member: dict[str, list[int]] = {}
    for k, tr in enumerate(tracks):
        by_member.setdefault(tr.member_id, []).append(k)
    for ks in by_member.values():
        for k in ks:
            if is_history[k]:
                continue
            later, r = tracks[k], rules[k]
            radius = r.duplicate_track_distance_m
            proj = _cell_projection(later)
            pl = paths.get(k, proj)
            best = None
            earlier = (e for e in ks if 0 < (later.date - tracks[e].date).days <= r.duplicate_replay_window_days)
            for e in sorted(earlier, key=lambda e: tracks[e].date):
                pe = paths.get(e, proj)
                shifts, votes = _shift_candidates(pl, pe, radius)
                # every vote stands for REPLAY_SAMPLE_S of the later track; half the needed time at least
                if votes * REPLAY_SAMPLE_S < 0.5 * r.duplicate_track_share * r.duplicate_track_min_overlap_s:
                    continue
                shifts.append(float(pl.t[0] - pe.t[0]))  # start points aligned
                for s in shifts:
                    m = _compare_paths(pl, pe.shifted(s), radius)
                    if m is None or not _passes(m, r):
                        continue
                    span = _span(pl, m)
                    if span >= r.duplicate_replay_min_span_m and (best is None or m.share > best[0].share):
                        best = (m, e, s, span)
            if best is not None:
                m, e, s, span = best
                days = (later.date - tracks[e].date).days
                ev = _evidence(
                    m,
                    r,
                    later,
                    tracks[e],
                    "replay",
                    shift_s=round(s, 1),
                    clock_shift_s=round(s - days * 86400.0, 1),
                    span_m=round(span, 1),
                    duplicate_replay_min_span_m=r.duplicate_replay_min_span_m,
                )
                out[(later.member_id, later.date)].append(_flag(later, ref_ns, m, ev))


def _span(path: _Path, match: _Match) -> float:
    """How far (m) the path's fixes during the match reach from their mean position."""
    inside = (path.t >= match.start_s) & (path.t <= match.end_s)
    x, y = path.x[inside], path.y[inside]
    return float(np.hypot(x - x.mean(), y - y.mean()).max()) if len(x) else 0.0


def find_duplicate_tracks(
    tracks: Sequence[DayTrack],
    rules_for_member: Callable[[str], Rules],
    history: Sequence[DayTrack] = (),
    kinds: Collection[str] = ("two_phones", "replay"),
) -> dict[tuple[str, dt.date], list[Flag]]:
    """DUPLICATE_TRACK flags: two phones carried by one person, and replays of an earlier day.

    **Two phones.** Two different members' tracks are compared at the union of their fix times,
    each interpolated linearly in time (never across a segment longer than its member's
    ``max_gap_s``), on a local transverse Mercator (metres). ``overlap_s`` is the time both
    tracks cover; ``within_s`` the part of it during which they are at most
    ``duplicate_track_distance_m`` apart (exact for linear motion). Both members are flagged
    when ``overlap_s >= duplicate_track_min_overlap_s`` and ``within_s / overlap_s >=
    duplicate_track_share``, each with its own rules. A pair is skipped when either member's
    rules have ``pair_patrol``. Candidates come from an STRtree of per-track, per-hour lon/lat
    boxes, so the cost grows with the number of tracks that actually meet, not all pairs.

    **Replay.** A member's track is compared with each of the same member's tracks of the
    ``duplicate_replay_window_days`` dates before it, shifted in time by an unknown amount: every 30 s sample
    of the later track votes for the shifts that bring a fix of the earlier track within the distance
    threshold (a KD-tree radius query); the best-voted shifts and the start-aligned shift are measured in full as
    above. A replay repeats the shape at the same pace, so one shift holds the whole day; honest
    days on the same streets agree only here and there, at scattered shifts. The later day is
    flagged when the measure passes and the matched stretch reaches at least
    ``duplicate_replay_min_span_m`` from its centre (a phone on the same desk is IDLE, not a
    replay); the evidence names the best-matching earlier day.

    Parameters
    ----------
    tracks : sequence of DayTrack
        The days to check; one per (member, date). WGS-84 lon/lat, UTC times.
    rules_for_member : callable
        Member id → the :class:`~geoverify.rules.Rules` of the member's grid.
    history : sequence of DayTrack, optional
        Stored tracks that are only compared against, never flagged (earlier days for replays;
        also other members' tracks of the same day for the two-phones check).
    kinds : collection of {"two_phones", "replay"}, optional
        Which checks to make (both by default); the service makes them at different times.

    Returns
    -------
    dict
        (member_id, date) of every track in ``tracks`` → its DUPLICATE_TRACK flags (possibly
        empty). Evidence: ``kind`` (``two_phones`` or ``replay``), ``other_member_id``,
        ``other_date``, ``overlap_s``, ``within_s``, ``share_within``, ``median_distance_m``,
        ``max_distance_m``, the thresholds, ``device_ids``/``other_device_ids``,
        ``rule_version``; replays add ``shift_s`` (later minus earlier), ``clock_shift_s`` (the
        shift less whole days) and ``span_m``. ``start``/``end`` bound the compared overlap.

    Examples
    --------
    >>> from geoverify.rules import Rules
    >>> find_duplicate_tracks([], lambda member: Rules())
    {}
    """
    _check_tracks(tracks, "tracks")
    _check_tracks(history, "history")
    keys = {(t.member_id, t.date) for t in tracks}
    everything = list(tracks) + [h for h in history if (h.member_id, h.date) not in keys]
    flagged = [len(t.time_ns) >= 2 for t in everything]
    usable = [t for t, ok in zip(everything, flagged) if ok]
    is_history = [k >= len(tracks) for k, ok in enumerate(flagged) if ok]
    out: dict[tuple[str, dt.date], list[Flag]] = {(t.member_id, t.date): [] for t in tracks}
    if not usable:
        return out
    member_rules = {m: rules_for_member(m) for m in {t.member_id for t in usable}}
    rules = [member_rules[t.member_id] for t in usable]
    ref_ns = int(min(int(t.time_ns[0]) for t in usable))
    paths = _Paths(usable, rules, ref_ns)
    if "two_phones" in kinds:
        _two_phones(usable, rules, is_history, paths, ref_ns, out)
    if "replay" in kinds:
        _replays(usable, rules, is_history, paths, ref_ns, out)
    for flags in out.values():
        flags.sort(key=lambda f: (f.start, f.evidence["kind"], f.evidence["other_member_id"]))
    return out
