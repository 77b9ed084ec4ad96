"""Auditors' reviews and the credit rule: dismissing restores what a flag excluded, confirming rejects."""

import numpy as np
import pytest
from conftest import chain, day_track, metric_grid, still
from shapely.geometry import box

from geoverify.flags import Flag
from geoverify.patrol.credit import patrol_credit
from geoverify.patrol.verify import verify_patrol
from geoverify.rules import Rules

GRID = metric_grid(box(-100, -100, 300, 300))
RULES = Rules()


def lawn(seconds, start_s=0.0):
    """Up and down the grid at 1 m/s for ``seconds``; (xy, t) every 10 s."""
    t = np.arange(0, seconds, 10.0)
    lane, along = np.divmod(t, 360.0)
    lane %= 8
    x = -80 + lane * 45
    y = np.where(lane % 2 == 0, -80 + along, 280 - along)
    return np.column_stack([x, y]), t + start_s


def by_code(patrol, code):
    return [f for f in patrol.flags if f.code == code]


def teleport_track():
    """Two hours of patrol with one 3 km jump and back 10 s later... as a relocation there and back."""
    xy1, t1 = lawn(4000)
    far, tf = still((3000, 0), 600, 10)  # 10 min 3 km away (outside the grid)
    xy2, t2 = lawn(4000)
    xy, t = chain((xy1, t1), (far, tf), (xy2, t2), interval=10)
    return day_track(xy, t)


def test_open_teleport_holds_the_credit_and_excludes_its_time():
    patrol = verify_patrol(GRID, teleport_track(), RULES)
    jumps = by_code(patrol, "TELEPORT")
    assert len(jumps) == 2 and all(f.status == "open" for f in jumps)
    assert patrol.teleport_s == pytest.approx(20.0)
    assert patrol.credit == {"status": "held", "points": 0}


def test_dismissing_the_teleports_counts_their_time_and_lifts_the_hold():
    track = teleport_track()
    before = verify_patrol(GRID, track, RULES)
    reviews = {f.flag_id: "dismissed" for f in by_code(before, "TELEPORT")}
    after = verify_patrol(GRID, track, RULES, reviews=reviews)
    assert [f.status for f in by_code(after, "TELEPORT")] == ["dismissed", "dismissed"]
    assert after.teleport_s == 0.0
    assert after.in_grid_s + after.outside_s == pytest.approx(before.in_grid_s + before.outside_s + 20.0)
    assert after.credit["status"] == "verified"
    assert after.credit["points"] == (5 if after.verified_s >= 7200 and after.coverage["area_ratio"] >= 0.5 else 0)


def test_confirming_a_high_flag_rejects_the_credit():
    track = teleport_track()
    first = by_code(verify_patrol(GRID, track, RULES), "TELEPORT")[0]
    patrol = verify_patrol(GRID, track, RULES, reviews={first.flag_id: "confirmed"})
    assert patrol.credit == {"status": "rejected", "points": 0}


def test_flag_ids_are_stable_for_the_same_input():
    a = [f.flag_id for f in verify_patrol(GRID, teleport_track(), RULES).flags]
    b = [f.flag_id for f in verify_patrol(GRID, teleport_track(), RULES).flags]
    assert a == b and len(set(a)) == len(a)
    assert a[0].startswith("M1_20261102.TELEPORT.")


def test_dismissing_idle_restores_verified_time():
    xy1, t1 = lawn(3600)
    s, ts = still(xy1[-1], 1200, 10)
    xy2, t2 = lawn(3600)
    xy, t = chain((xy1, t1), (s, ts), (xy2, t2), interval=10)
    track = day_track(xy, t)
    before = verify_patrol(GRID, track, RULES)
    idle = by_code(before, "IDLE")[0]
    assert before.verified_s == pytest.approx(before.in_grid_s - idle.evidence["excluded_in_grid_s"])
    after = verify_patrol(GRID, track, RULES, reviews={idle.flag_id: "dismissed"})
    assert after.verified_s == after.in_grid_s == before.in_grid_s


def test_dismissing_a_gap_counts_its_time():
    xy, t = lawn(3000)
    t = np.where(t >= 1500, t + 600, t)  # a 610 s hole inside the grid
    track = day_track(xy, t)
    before = verify_patrol(GRID, track, RULES)
    gap = by_code(before, "GAP")[0]
    after = verify_patrol(GRID, track, RULES, reviews={gap.flag_id: "dismissed"})
    assert before.gap_s == pytest.approx(610.0) and after.gap_s == 0.0
    assert after.in_grid_s == pytest.approx(before.in_grid_s + 610.0)


def test_a_dismissed_gap_counts_its_time_but_is_no_stay():
    # Three hours without fixes between two points 48 m apart (sample member M001's lunch gap): once
    # dismissed, its time is patrol time, but nothing is known of how the phone moved in it, so it is
    # neither a LOOP nor an IDLE stretch, and all of it is verified.
    xy1, t1 = lawn(3600)
    xy2, t2 = lawn(3600)
    xy2 = xy2 + (xy1[-1] + (48.0, 0.0) - xy2[0])
    track = day_track(np.vstack([xy1, xy2]), np.concatenate([t1, t2 + t1[-1] + 10_810.0]))
    before = verify_patrol(GRID, track, RULES)
    (gap,) = by_code(before, "GAP")
    after = verify_patrol(GRID, track, RULES, reviews={gap.flag_id: "dismissed"})
    assert [f.code for f in after.flags] == ["GAP"] and after.flags[0].status == "dismissed"
    assert after.in_grid_s == pytest.approx(before.in_grid_s + 10_810.0)
    assert after.verified_s == pytest.approx(before.verified_s + 10_810.0)


def test_dismissing_a_gps_outlier_keeps_the_fix():
    xy = np.array([(0, 0), (10, 0), (800, 0), (30, 0), (40, 0)], float)
    track = day_track(xy, [0, 10, 20, 30, 40])
    before = verify_patrol(GRID, track, RULES)
    spike = by_code(before, "GPS_OUTLIER")[0]
    assert before.distance_m == pytest.approx(40.0)
    after = verify_patrol(GRID, track, RULES, reviews={spike.flag_id: "dismissed"})
    assert after.distance_m == pytest.approx(10 + 790 + 770 + 10)


def _flag(severity_code, status="open"):
    import pandas as pd

    t = pd.Timestamp("2026-11-02T01:00:00Z")
    return Flag(severity_code, t, t, 116.4, 39.9, {}, status=status)


@pytest.mark.parametrize(
    "verified_s, coverage, points", [(7200.0, 0.5, 5), (7199.9, 0.9, 0), (9000.0, 0.4999, 0), (0.0, 0.0, 0)]
)
def test_credit_rule_thresholds(verified_s, coverage, points):
    assert patrol_credit(verified_s, coverage, [], RULES) == {"status": "verified", "points": points}


@pytest.mark.parametrize(
    "flags, status",
    [
        ([_flag("IDLE")], "verified"),  # medium: no hold
        ([_flag("MOCK_LOCATION")], "held"),
        ([_flag("MOCK_LOCATION", "dismissed")], "verified"),
        ([_flag("DUPLICATE_TRACK", "confirmed"), _flag("TELEPORT")], "rejected"),
        ([_flag("LOOP", "confirmed")], "verified"),  # confirming a medium one changes nothing
    ],
)
def test_credit_status_follows_high_severity_reviews(flags, status):
    credit = patrol_credit(8000.0, 0.8, flags, RULES)
    assert credit["status"] == status
    assert credit["points"] == (5 if status == "verified" else 0)


def test_points_per_patrol_follow_the_rules():
    rural = Rules(points_per_patrol=4, min_verified_s=3600)
    assert patrol_credit(3600.0, 0.5, [], rural) == {"status": "verified", "points": 4}
