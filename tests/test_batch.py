"""Cleaning and batch verification: rejection reasons, row order, duplicates, local dates."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from conftest import SQUARE_100, T0, fix_frame, metric_grid

from geoverify.engines.batch import verify_batch
from geoverify.preprocessing.cleaning import REJECT_REASONS, rejection_reasons
from geoverify.rules import Rules

NOW = pd.Timestamp("2026-11-03T12:00:00+08:00")


def walk_rows(n=30, step_s=10.0, start_s=0.0):
    """A walk inside the square along y=50, 2 m per 10 s."""
    return [(10 + 2 * i, 50, start_s + i * step_s, 10.0) for i in range(n)]


@pytest.fixture
def grids():
    return [metric_grid(SQUARE_100, members=("M1",))]


def test_rejection_reasons_each_counted():
    fixes = fix_frame(walk_rows(6))
    fixes.loc[0, "lat"] = np.nan  # invalid: NaN
    fixes.loc[1, ["lon", "lat"]] = [0.0, 0.0]  # invalid: exactly 0,0
    fixes.loc[2, "time"] = fixes.loc[3, "time"]  # duplicate of the row after it
    fixes.loc[4, "time"] = NOW + pd.Timedelta(seconds=301)  # future
    fixes.loc[5, "accuracy"] = 100.5  # low_accuracy
    reasons = rejection_reasons(fixes, now=NOW, rules=Rules())
    assert reasons.tolist() == ["invalid", "invalid", "", "duplicate", "future", "low_accuracy"]


@pytest.mark.parametrize(
    "lon, lat, ok",
    [
        (180.0, 90.0, True),
        (180.0001, 39.9, False),
        (116.4, -90.0001, False),
        (np.inf, 39.9, False),
        (0.0, 39.9, True),
        (116.4, 0.0, True),
    ],
)
def test_coordinate_validity(lon, lat, ok):
    fixes = fix_frame(walk_rows(1))
    fixes.loc[0, ["lon", "lat"]] = [lon, lat]
    assert (rejection_reasons(fixes, now=NOW, rules=Rules())[0] == "") is ok


def test_future_tolerance_is_300_s():
    fixes = fix_frame(walk_rows(2))
    fixes.loc[0, "time"] = NOW + pd.Timedelta(seconds=300)
    fixes.loc[1, "time"] = NOW + pd.Timedelta(seconds=300.001)
    assert rejection_reasons(fixes, now=NOW, rules=Rules()).tolist() == ["", "future"]


def test_duplicate_keeps_the_first_in_input_order():
    fixes = fix_frame([(10, 50, 0, 5.0), (30, 50, 0, 5.0)])
    assert rejection_reasons(fixes, now=NOW, rules=Rules()).tolist() == ["", "duplicate"]


def test_every_fix_is_accounted_for(grids):
    fixes = fix_frame(walk_rows(20))
    fixes.loc[3, "lon"] = np.nan
    fixes.loc[4, "accuracy"] = 500
    fixes = pd.concat([fixes, fixes.iloc[[7, 8]]], ignore_index=True)
    result = verify_batch(grids, fixes, now=NOW)
    (patrol,) = result.patrols
    assert patrol.kept == 18
    assert patrol.rejected == {"invalid": 1, "duplicate": 2, "future": 0, "low_accuracy": 1}
    s = result.summary
    assert s["fixes_read"] == 22 == s["fixes_kept"] + sum(s["fixes_rejected"].values())


def test_row_order_and_duplicated_rows_do_not_change_results(grids):
    rng = np.random.default_rng(7)
    rows = [(50 + 40 * np.sin(i / 9), 50 + 40 * np.cos(i / 7), i * 10.0, 8.0) for i in range(200)]
    fixes = fix_frame(rows)
    base = verify_batch(grids, fixes, now=NOW).patrols[0]
    shuffled = fixes.sample(frac=1.0, random_state=3).reset_index(drop=True)
    doubled = pd.concat([shuffled, shuffled.iloc[rng.integers(0, 200, 50)]], ignore_index=True)
    again = verify_batch(grids, doubled, now=NOW).patrols[0]
    assert again.in_grid_s == pytest.approx(base.in_grid_s, abs=1e-9)
    assert again.distance_m == pytest.approx(base.distance_m, abs=1e-9)
    assert again.coverage == base.coverage
    assert again.kept == base.kept == 200
    assert again.rejected["duplicate"] == 50


def test_naive_times_are_read_in_the_configured_zone(tmp_path, grids):
    from geoverify.io import read_tracks

    lonlat = grids[0].geometry_wgs84.representative_point()
    path = tmp_path / "t.csv"
    path.write_text(
        "member_id,time,lon,lat\n"
        f"M1,2026-11-02 23:59:00,{lonlat.x},{lonlat.y}\n"
        f"M1,2026-11-02T23:59:00+00:00,{lonlat.x},{lonlat.y}\n"
    )
    fixes = read_tracks(path, tz="Asia/Shanghai")
    assert fixes["time"].tolist() == [pd.Timestamp("2026-11-02T15:59:00Z"), pd.Timestamp("2026-11-02T23:59:00Z")]
    result = verify_batch(grids, fixes, tz="Asia/Shanghai", now=NOW)
    # Shanghai dates: 2026-11-02 23:59 and 2026-11-03 07:59.
    assert [p.date for p in result.patrols] == [dt.date(2026, 11, 2), dt.date(2026, 11, 3)]


def test_patrol_crossing_local_midnight_is_split_at_midnight(grids):
    # Fixes every 60 s from 23:50 to 00:10 local: 10 minutes on each side of midnight.
    start = (pd.Timestamp("2026-11-02T23:50:00+08:00") - T0).total_seconds()
    fixes = fix_frame([(10 + i, 50, start + 60 * i, 5.0) for i in range(21)])
    result = verify_batch(grids, fixes, now=NOW)
    first, second = result.patrols
    assert (first.date, second.date) == (dt.date(2026, 11, 2), dt.date(2026, 11, 3))
    assert first.in_grid_s == pytest.approx(600.0) and second.in_grid_s == pytest.approx(600.0)
    assert first.kept == 10 and second.kept == 11
    assert first.end == second.start == pd.Timestamp("2026-11-02T16:00:00Z")


def test_midnight_point_interpolated_between_fixes(grids):
    # 23:59:30 → 00:00:50 local, 80 s: 30 s belong to the first day, 50 s to the second.
    start = (pd.Timestamp("2026-11-02T23:59:30+08:00") - T0).total_seconds()
    result = verify_batch(grids, fix_frame([(10, 50, start), (90, 50, start + 80)]), now=NOW)
    assert [p.in_grid_s for p in result.patrols] == pytest.approx([30.0, 50.0])


def test_gap_across_midnight_belongs_to_neither_day(grids):
    start = (pd.Timestamp("2026-11-02T23:55:00+08:00") - T0).total_seconds()
    result = verify_batch(grids, fix_frame([(10, 50, start), (20, 50, start + 600)]), now=NOW)
    assert [(p.in_grid_s, p.gap_s) for p in result.patrols] == [(0.0, 0.0), (0.0, 0.0)]


def test_member_with_no_grid_gets_a_patrol_and_a_warning(grids):
    fixes = fix_frame(walk_rows(5), member="M9")
    result = verify_batch(grids, fixes, now=NOW)
    (patrol,) = result.patrols
    assert patrol.grid_id is None and patrol.member_id == "M9"
    assert patrol.distance_m == pytest.approx(8.0)
    assert any("M9" in w and "no grid" in w for w in result.warnings)


def test_member_in_two_grids_is_credited_where_most_time_was_spent():
    left = metric_grid(SQUARE_100, grid_id="A", members=("M1",))
    right = metric_grid(
        SQUARE_100.__class__([(200, 0), (300, 0), (300, 100), (200, 100)]), grid_id="B", members=("M1",)
    )
    fixes = fix_frame([(210 + 2 * i, 50, 10.0 * i) for i in range(30)])
    result = verify_batch([left, right], fixes, now=NOW)
    assert result.patrols[0].grid_id == "B"
    assert any("2 grids" in w for w in result.warnings)


def test_fixes_without_member_or_time_are_counted_not_lost(grids):
    fixes = fix_frame(walk_rows(3))
    fixes.loc[0, "member_id"] = pd.NA
    fixes.loc[1, "time"] = pd.NaT
    result = verify_batch(grids, fixes, now=NOW)
    assert result.summary["rejected_without_member_or_time"]["invalid"] == 2
    assert result.patrols[0].kept == 1
    assert set(result.summary["fixes_rejected"]) == set(REJECT_REASONS)


# --- the two phases' hand-over (geoverify.engines.track_summary) ---------------------------------------


def test_event_fixes_keep_the_fixes_either_side_of_each_event():
    from conftest import day_track

    from geoverify.engines.track_summary import event_fixes

    day1 = day_track([(0, 0), (10, 0), (20, 0), (30, 0)], [0, 10, 20, 30])
    day2 = day_track([(40, 0), (50, 0)], [86_400, 86_410], date=dt.date(2026, 11, 3))
    day2.synthetic[0] = True  # a midnight point is never an event's fix
    events = T0.value + np.array([15, 30, 86_405, -100, 90_000], dtype=np.int64) * 10**9
    kept = event_fixes([day1, day2], events)
    # 15 s: fixes at 10 and 20; 30 s: 30 and the next input fix (86 410 s); before the first fix: 0 s;
    # after the last: 86 410 s.
    assert [((t.time_ns - T0.value) // 10**9).tolist() for t in kept] == [[0, 10, 20, 30], [86_410]]
    assert kept[0].line.tolist() == [2, 3, 4, 5] and not kept[1].synthetic.any()
    assert event_fixes([day1], np.zeros(0, np.int64)) == []


def test_duplicate_summary_keeps_times_positions_and_distinct_devices():
    from conftest import day_track

    from geoverify.engines.track_summary import duplicate_summary

    track = day_track([(0, 0), (10, 0), (20, 0)], [0, 10, 20])
    track.device_id = np.array(["B", None, "A"], dtype=object)
    slim = duplicate_summary(track)
    assert slim.time_ns is track.time_ns and slim.lon is track.lon and slim.lat is track.lat
    assert slim.device_id.tolist() == ["A", "B"] and len(slim.accuracy) == len(slim.source) == 0


def test_events_of_a_member_with_only_stored_days_are_checked_against_them(grids):
    from conftest import day_track

    history = [day_track([(10, 50), (20, 50), (30, 50)], [0, 60, 120], member="M1")]
    events = pd.DataFrame(
        {
            "event_id": ["E1", "E2"],
            "member_id": ["M1", "M1"],
            "time": [T0 + pd.Timedelta(seconds=30), T0 + pd.Timedelta(hours=3)],
            "lon": history[0].lon[[1, 1]],
            "lat": history[0].lat[[1, 1]],
            "category": ["garbage", "road"],
        }
    )
    result = verify_batch(grids, fix_frame(walk_rows(3), member="M2"), now=NOW, events=events, history=history)
    assert [[f.code for f in e.flags] for e in result.events] == [[], ["EVENT_NO_TRACK"]]
    assert [p.member_id for p in result.patrols] == ["M2"]
