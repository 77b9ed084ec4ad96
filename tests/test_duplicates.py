"""DUPLICATE_TRACK: one person carrying two phones, and a member replaying an earlier day."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest
from conftest import DATE, day_track, to_lonlat
from shapely.geometry import box

import geoverify.detectors.duplicates as duplicates
from geoverify.detectors.duplicates import find_duplicate_tracks
from geoverify.preprocessing.days import DayTrack
from geoverify.rules import Rules
from geoverify.simulation.simulate import duplicate_track, honest_patrol

RULES = Rules()
DAY2 = DATE + dt.timedelta(days=1)
GRID_400 = to_lonlat(box(0, 0, 400, 400))


def _same_rules(member: str) -> Rules:
    return RULES


def _line(member, seconds, dy=0.0, dy_after=None, switch_s=None, x0=0.0):
    """Walk east at 1 m/s along y=dy, fixes at ``seconds``; from ``switch_s`` on along y=dy_after."""
    t = np.asarray(seconds, dtype=float)
    y = np.full(len(t), float(dy))
    if switch_s is not None:
        y[t >= switch_s] = dy_after
    return day_track(np.column_stack([x0 + t, y]), t, member=member)


def _frame_track(frame: pd.DataFrame, date=DATE, shift_s=0.0, member=None) -> DayTrack:
    """A DayTrack from a simulator frame (its own device ids kept), optionally moved in time."""
    t_ns = pd.DatetimeIndex(frame["time"]).asi8 + int(round(shift_s * 1e9))
    n = len(frame)
    return DayTrack(
        member_id=member or str(frame["member_id"].iloc[0]),
        date=date,
        time_ns=t_ns,
        lon=frame["lon"].to_numpy(float),
        lat=frame["lat"].to_numpy(float),
        accuracy=frame["accuracy"].to_numpy(float),
        synthetic=np.zeros(n, bool),
        source=np.full(n, "sim", object),
        line=np.arange(2, n + 2),
        device_id=frame["device_id"].to_numpy(object),
    )


def _flags(result, member, date=DATE):
    return result[(member, date)]


# ---------------------------------------------------------------------------- two phones, one person


@pytest.mark.parametrize("switch_s, flagged", [(2410.0, True), (2380.0, False)])
def test_two_phones_share_of_80_percent(switch_s, flagged):
    # Same times 0..3000 s; M2 10 m beside M1, then 50 m beside it from switch_s. The step from 10 m to
    # 50 m takes one 10 s segment, half of it within 30 m: within = switch_s - 10 + 5 of 3000 s.
    t = np.arange(0, 3001, 10.0)
    a = _line("M1", t)
    b = _line("M2", t, dy=10, dy_after=50, switch_s=switch_s)
    result = find_duplicate_tracks([a, b], _same_rules)
    share = (switch_s - 5) / 3000
    assert share == pytest.approx(2405 / 3000 if flagged else 2375 / 3000)  # 0.8017 / 0.7917
    if not flagged:
        assert result == {("M1", DATE): [], ("M2", DATE): []}
        return
    (fa,), (fb,) = _flags(result, "M1"), _flags(result, "M2")
    for flag, other in ((fa, "M2"), (fb, "M1")):
        ev = flag.evidence
        assert flag.code == "DUPLICATE_TRACK" and flag.severity == "high" and flag.flag_id == ""
        assert ev["kind"] == "two_phones" and ev["other_member_id"] == other
        assert ev["other_date"] == DATE.isoformat()
        assert ev["overlap_s"] == pytest.approx(3000.0)
        assert ev["share_within"] == pytest.approx(share, abs=1e-4)
        assert ev["median_distance_m"] == pytest.approx(10.0, abs=0.01)
        assert ev["max_distance_m"] == pytest.approx(50.0, abs=0.01)
        assert ev["duplicate_track_distance_m"] == 30.0 and ev["duplicate_track_share"] == 0.8
        assert ev["duplicate_track_min_overlap_s"] == 1800.0 and ev["rule_version"] == RULES.version
        assert (flag.end - flag.start).total_seconds() == pytest.approx(3000.0)


@pytest.mark.parametrize("end_s, flagged", [(2810.0, True), (2790.0, False)])
def test_two_phones_needs_30_min_of_overlap(end_s, flagged):
    a = _line("M1", np.arange(0, 3001, 10.0))
    b = _line("M2", np.arange(1000, end_s + 1, 10.0), dy=5)
    result = find_duplicate_tracks([a, b], _same_rules)
    assert bool(_flags(result, "M1")) is flagged and bool(_flags(result, "M2")) is flagged
    if flagged:
        assert _flags(result, "M1")[0].evidence["overlap_s"] == pytest.approx(1810.0)


def test_two_phones_interpolates_at_the_other_fix_times():
    # M2's fixes fall 5 s after M1's and 3 m to the side: compared at common times, 3 m apart
    a = _line("M1", np.arange(0, 2401, 10.0))
    b = _line("M2", np.arange(5, 2396, 10.0), dy=3)
    result = find_duplicate_tracks([a, b], _same_rules)
    (flag,) = _flags(result, "M2")
    assert flag.evidence["overlap_s"] == pytest.approx(2390.0)
    assert flag.evidence["max_distance_m"] == pytest.approx(3.0, abs=0.01)


def test_two_phones_never_across_a_gap():
    # M2 has no fix from 1000 s to 1600 s (a gap): only 1000 + 1400 s overlap
    a = _line("M1", np.arange(0, 3001, 10.0))
    t = np.concatenate([np.arange(0, 1001, 10.0), np.arange(1600, 3001, 10.0)])
    b = _line("M2", t, dy=5)
    (flag,) = _flags(find_duplicate_tracks([a, b], _same_rules), "M2")
    assert flag.evidence["overlap_s"] == pytest.approx(2400.0)


def test_pair_patrol_grids_are_exempt():
    t = np.arange(0, 3001, 10.0)
    a, b = _line("M1", t), _line("M2", t, dy=5)
    pair = dataclasses.replace(RULES, pair_patrol=True)
    result = find_duplicate_tracks([a, b], lambda m: pair if m == "M2" else RULES)
    assert result == {("M1", DATE): [], ("M2", DATE): []}


def test_tracks_apart_or_at_other_times_are_not_compared(monkeypatch):
    calls = []
    real = duplicates._compare_paths
    monkeypatch.setattr(duplicates, "_compare_paths", lambda *a, **k: calls.append(1) or real(*a, **k))
    t = np.arange(0, 3001, 10.0)
    # 300 members each walking their own street 500 m apart, and one pair 5 m apart
    tracks = [_line(f"M{i:03d}", t, dy=500.0 * i) for i in range(300)]
    tracks.append(_line("TWIN", t, dy=500.0 * 7 + 5))
    # and a member on M000's street, but in the afternoon
    tracks.append(_line("LATE", t + 6 * 3600))
    result = find_duplicate_tracks(tracks, _same_rules)
    assert [k for k, v in result.items() if v] == [("M007", DATE), ("TWIN", DATE)]
    assert len(calls) <= 4  # the index finds the one close pair; never 300 × 300 comparisons


def test_simulated_two_phones_and_honest_colleagues():
    a, b = duplicate_track(GRID_400, ("M1", "M2"), "2026-11-02", rng=3)
    honest = [_frame_track(honest_patrol(GRID_400, m, "2026-11-02", rng=seed)) for m, seed in (("M3", 11), ("M4", 12))]
    result = find_duplicate_tracks([_frame_track(a), _frame_track(b), *honest], _same_rules)
    (fa,), (fb,) = _flags(result, "M1"), _flags(result, "M2")
    assert fa.evidence["other_member_id"] == "M2" and fb.evidence["other_member_id"] == "M1"
    assert fa.evidence["share_within"] >= 0.95
    assert fa.evidence["overlap_s"] == pytest.approx(7500.0, abs=20)  # 08:45-10:50
    assert fa.evidence["device_ids"] == [str(a["device_id"].iloc[0])]
    assert fa.evidence["other_device_ids"] == [str(b["device_id"].iloc[0])]
    assert result[("M3", DATE)] == [] and result[("M4", DATE)] == []


# ---------------------------------------------------------------------------- replay of an earlier day


def _replay(frame: pd.DataFrame, clock_shift_s: float, seed: int = 5, trim_s: float = 0.0) -> DayTrack:
    """Day 1's fixes played again a day later, ``clock_shift_s`` later, with fresh 3 m noise and
    every 7th fix lost; ``trim_s`` seconds cut from the start."""
    rng = np.random.default_rng(seed)
    day1 = _frame_track(frame)
    keep = (np.arange(len(day1.time_ns)) % 7 != 3) & (day1.time_ns >= day1.time_ns[0] + trim_s * 1e9)
    lon = day1.lon + rng.normal(0, 3 / 85_000, len(keep))
    lat = day1.lat + rng.normal(0, 3 / 111_000, len(keep))
    n = int(keep.sum())
    return DayTrack(
        member_id=day1.member_id,
        date=DAY2,
        time_ns=day1.time_ns[keep] + int((86400 + clock_shift_s) * 1e9),
        lon=lon[keep],
        lat=lat[keep],
        accuracy=day1.accuracy[keep],
        synthetic=np.zeros(n, bool),
        source=np.full(n, "sim", object),
        line=np.arange(2, n + 2),
        device_id=day1.device_id[keep],
    )


@pytest.fixture(scope="module")
def honest_day1() -> pd.DataFrame:
    return honest_patrol(GRID_400, "M1", "2026-11-02", rng=21)


def test_replay_flags_the_later_day(honest_day1):
    day1 = _frame_track(honest_day1)
    day2 = _replay(honest_day1, clock_shift_s=420.0)
    result = find_duplicate_tracks([day2, day1], _same_rules)
    assert result[("M1", DATE)] == []
    (flag,) = result[("M1", DAY2)]
    ev = flag.evidence
    assert flag.code == "DUPLICATE_TRACK" and ev["kind"] == "replay"
    assert ev["other_member_id"] == "M1" and ev["other_date"] == DATE.isoformat()
    assert ev["shift_s"] == pytest.approx(86400 + 420, abs=30)
    assert ev["clock_shift_s"] == pytest.approx(420, abs=30)
    assert ev["share_within"] >= 0.9 and ev["overlap_s"] >= 4 * 3600
    assert ev["span_m"] >= 100 and ev["duplicate_replay_min_span_m"] == 100.0
    assert flag.start >= pd.Timestamp(day2.time_ns[0], tz="UTC")


def test_replay_against_history_with_a_trimmed_start(honest_day1):
    day1 = _frame_track(honest_day1)
    day2 = _replay(honest_day1, clock_shift_s=-1500.0, trim_s=1200.0)
    result = find_duplicate_tracks([day2], _same_rules, history=[day1])
    assert list(result) == [("M1", DAY2)]  # history is compared against, never flagged
    (flag,) = result[("M1", DAY2)]
    assert flag.evidence["clock_shift_s"] == pytest.approx(-1500, abs=30)


def test_honest_days_on_the_same_streets_are_not_a_replay(honest_day1):
    day1 = _frame_track(honest_day1)
    day2 = _frame_track(honest_patrol(GRID_400, "M1", "2026-11-03", rng=22), date=DAY2)
    day3 = _frame_track(honest_patrol(GRID_400, "M1", "2026-11-04", rng=23), date=DAY2 + dt.timedelta(days=1))
    result = find_duplicate_tracks([day1, day2, day3], _same_rules)
    assert all(v == [] for v in result.values()) and len(result) == 3


def test_a_phone_on_the_same_desk_two_days_is_not_a_replay():
    rng = np.random.default_rng(1)
    t = np.arange(0, 7200, 10.0)

    def desk(date, offset_s):
        xy = rng.normal(0, 4, (len(t), 2)) + 200
        return day_track(xy, t + offset_s, member="M1", date=date)

    result = find_duplicate_tracks([desk(DATE, 0), desk(DAY2, 86400)], _same_rules)
    assert result == {("M1", DATE): [], ("M1", DAY2): []}


def test_duplicate_keys_are_rejected():
    a = _line("M1", np.arange(0, 100, 10.0))
    with pytest.raises(ValueError, match="tracks: member M1 on 2026-11-02 appears twice"):
        find_duplicate_tracks([a, a], _same_rules)


@pytest.mark.parametrize("days_apart,flagged", [(7, True), (8, False)])
def test_replays_are_looked_for_within_the_replay_window(honest_day1, days_apart, flagged):
    """``duplicate_replay_window_days`` (7): a replay of the day a week before is flagged, of a day
    eight days before is not looked for."""
    day1 = _frame_track(honest_day1)
    later = _replay(honest_day1, clock_shift_s=420.0)
    extra = int((days_apart - 1) * 86400 * 1e9)
    later = dataclasses.replace(later, date=DATE + dt.timedelta(days=days_apart), time_ns=later.time_ns + extra)
    result = find_duplicate_tracks([later, day1], _same_rules)
    assert Rules().duplicate_replay_window_days == 7
    assert len(result[("M1", later.date)]) == (1 if flagged else 0)
