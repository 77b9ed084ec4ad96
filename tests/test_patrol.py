"""In-grid time, gaps, distance, spikes and teleports of one patrol, pinned on hand-computable cases."""

import numpy as np
import pytest
from conftest import L_SHAPE, TWO_SQUARES_ONE_HOLED, day_track, metric_grid

from geoverify.patrol.verify import verify_patrol


def test_straight_walk_across_square_counts_exact_time_inside(square_grid, rules):
    # From x=-50 to x=150 at y=50 in 200 s (1 m/s): inside from x=0 to x=100, i.e. 100 s.
    track = day_track([(-50, 50), (150, 50)], [0, 200])
    patrol = verify_patrol(square_grid, track, rules)
    assert patrol.in_grid_s == pytest.approx(100.0, abs=1e-6)
    assert patrol.outside_s == pytest.approx(100.0, abs=1e-6)
    assert patrol.distance_m == pytest.approx(200.0, abs=1e-6)
    assert patrol.gap_s == 0


def test_crossing_is_interpolated_with_unequal_speeds(square_grid, rules):
    # 25 m outside then 75 m inside in one 40 s segment: 30 s inside; then 60 s fully inside.
    track = day_track([(-25, 10), (75, 10), (75, 70)], [0, 40, 100])
    patrol = verify_patrol(square_grid, track, rules)
    assert patrol.in_grid_s == pytest.approx(30.0 + 60.0, abs=1e-6)


def test_diagonal_crossing_of_a_corner(square_grid, rules):
    # From (-20, 50) to (50, 120): inside between (0, 70) and (30, 100), 30√2 of 70√2 metres.
    track = day_track([(-20, 50), (50, 120)], [0, 70])
    patrol = verify_patrol(square_grid, track, rules)
    assert patrol.in_grid_s == pytest.approx(70 * 30 / 70, abs=1e-6)


def test_walk_along_the_boundary_counts_as_inside(square_grid, rules):
    track = day_track([(0, 0), (100, 0), (100, 100)], [0, 100, 200])
    patrol = verify_patrol(square_grid, track, rules)
    assert patrol.in_grid_s == pytest.approx(200.0, abs=1e-6)


def test_zero_length_segment_on_the_boundary_counts_fully(square_grid, rules):
    track = day_track([(100, 50), (100, 50), (100, 50)], [0, 120, 240])
    patrol = verify_patrol(square_grid, track, rules)
    assert patrol.in_grid_s == pytest.approx(240.0, abs=1e-6)


def test_zero_length_segment_outside_counts_nothing(square_grid, rules):
    track = day_track([(100.5, 50), (100.5, 50)], [0, 120])
    assert verify_patrol(square_grid, track, rules).in_grid_s == 0.0


def test_multipolygon_with_hole(rules):
    grid = metric_grid(TWO_SQUARES_ONE_HOLED)
    # y=50 from x=-10 to x=310 at 2 m/s: inside 0..40, 60..100 (hole 40..60), 200..300: 180 m, 90 s.
    track = day_track([(-10, 50), (310, 50)], [0, 160])
    patrol = verify_patrol(grid, track, rules)
    assert patrol.in_grid_s == pytest.approx(90.0, abs=1e-6)
    assert patrol.outside_s == pytest.approx(70.0, abs=1e-6)


def test_concave_grid_segment_leaving_and_reentering(rules):
    grid = metric_grid(L_SHAPE)
    # From (20, 80) to (80, 20): crosses the notch [40,100]x[40,100] between (40,60) and (60,40).
    track = day_track([(20, 80), (80, 20)], [0, 60])
    patrol = verify_patrol(grid, track, rules)
    # Inside parts: (20,80)-(40,60) and (60,40)-(80,20): 2 × 20√2 of 60√2 → 2/3 of 60 s.
    assert patrol.in_grid_s == pytest.approx(40.0, abs=1e-6)


@pytest.mark.parametrize("dt, gap", [(300.0, False), (300.001, True), (299.0, False), (301.0, True)])
def test_gap_threshold(square_grid, rules, dt, gap):
    track = day_track([(50, 50), (50, 60)], [0, dt])
    patrol = verify_patrol(square_grid, track, rules)
    assert patrol.gap_s == pytest.approx(dt if gap else 0.0, abs=1e-6)
    assert patrol.in_grid_s == pytest.approx(0.0 if gap else dt, abs=1e-6)


def test_lone_spike_is_dropped_and_flagged_low(square_grid, rules):
    xy = [(10, 50), (20, 50), (900, 50), (30, 50), (40, 50)]
    patrol = verify_patrol(square_grid, day_track(xy, [0, 10, 20, 30, 40]), rules)
    codes = [(f.code, f.severity) for f in patrol.flags]
    assert codes == [("GPS_OUTLIER", "low")]
    # Geometry without the spike: 10 → 20 → 30 → 40 along y=50: 30 m, 40 s all inside.
    assert patrol.distance_m == pytest.approx(30.0, abs=1e-6)
    assert patrol.in_grid_s == pytest.approx(40.0, abs=1e-6)
    assert patrol.kept == 5
    assert patrol.flags[0].evidence["teleport_kmh"] == 150


def test_real_relocation_is_a_teleport_not_a_spike(square_grid, rules):
    # Walks 190 s, jumps 3 km in 10 s and walks on there for 200 s (> glitch_max_s = 120):
    # TELEPORT (high); its 10 s are not patrol time.
    xy = [(10 + k, 50) for k in range(20)] + [(3029 + 10 * k, 50) for k in range(21)]
    patrol = verify_patrol(square_grid, day_track(xy, np.arange(41) * 10.0), rules)
    assert [(f.code, f.severity) for f in patrol.flags] == [("TELEPORT", "high")]
    assert patrol.teleport_s == pytest.approx(10.0)
    assert patrol.in_grid_s == pytest.approx(190.0)
    assert patrol.outside_s == pytest.approx(200.0)
    assert patrol.distance_m == pytest.approx(219.0)
    assert patrol.credit["status"] == "held"
    ev = patrol.flags[0].evidence
    assert ev["distance_m"] == pytest.approx(3000.0) and ev["max_speed_kmh"] == pytest.approx(1080.0)
    # Both sides: where it was, where it continued, and for how long.
    assert ev["from"]["line"] == 21 and ev["to"]["line"] == 22 and ev["continued_s"] == pytest.approx(200.0)


def test_jump_away_that_ends_the_day_within_glitch_max_s_is_an_outlier(square_grid, rules):
    # Two fixes 3 km away, then nothing: the track never stays away longer than 120 s.
    xy = [(10, 50), (20, 50), (3020, 50), (3030, 50)]
    patrol = verify_patrol(square_grid, day_track(xy, [0, 10, 20, 30]), rules)
    assert [(f.code, f.severity) for f in patrol.flags] == [("GPS_OUTLIER", "low")]
    assert patrol.flags[0].evidence["reason"] == "before_gap" and patrol.flags[0].evidence["fixes"] == 2
    assert patrol.credit["status"] != "held"


@pytest.mark.parametrize("jump_m, codes", [(250, []), (270, ["TELEPORT"])])
def test_teleport_needs_200_m_after_accuracy(square_grid, rules, jump_m, codes):
    # 250 m in 2 s is 450 km/h, but with 30 m accuracy on both fixes only 190 m remain: no teleport.
    # The member stands 200 s before the jump (GPS jitter of 3 m) and walks on from there for 300 s.
    xy = [(3 * (k % 2), 50) for k in range(21)] + [(jump_m + 10 * k, 50) for k in range(31)]
    t = [10 * k for k in range(21)] + [202 + 10 * k for k in range(31)]
    track = day_track(xy, t, accuracy=[30] * 52)
    assert [f.code for f in verify_patrol(square_grid, track, rules).flags] == codes


def test_frozen_position_then_a_move_is_a_glitch_not_a_teleport(square_grid, rules):
    # A phone on a bus repeats its last position (that of fix 20) for 100 s, then reports where
    # the bus is, 1.5 km on (1,500 m in 5 s is a jump; from fix 20, 105 s earlier, 51 km/h is none).
    xy = [(50 + 10 * k, 50) for k in range(20)] + [(240, 50)] * 10 + [(1740 + 10 * k, 50) for k in range(20)]
    t = [10 * k for k in range(20)] + [200 + 10 * k for k in range(10)] + [295 + 10 * k for k in range(20)]
    patrol = verify_patrol(square_grid, day_track(xy, t), rules)
    assert [(f.code, f.evidence["reason"], f.evidence["fixes"]) for f in patrol.flags] == [("GPS_OUTLIER", "stale", 10)]
    assert patrol.teleport_s == 0


def test_vehicle_speed_is_not_a_teleport(square_grid, rules):
    # 140 km/h over 1 km: fast but below teleport_kmh.
    v = 140 / 3.6
    track = day_track([(0, 50), (1000, 50)], [0, 1000 / v])
    assert verify_patrol(square_grid, track, rules).flags == []


def test_member_without_grid_gets_distance_but_no_in_grid_time(rules):
    track = day_track([(0, 0), (30, 40)], [0, 60])
    patrol = verify_patrol(None, track, rules)
    assert patrol.grid_id is None
    assert patrol.in_grid_s == 0 and patrol.coverage["area_ratio"] == 0
    assert patrol.distance_m == pytest.approx(50.0, abs=1e-6)
    assert patrol.outside_s == pytest.approx(60.0)


def test_span_is_split_into_in_grid_outside_gap_and_teleport(square_grid, rules):
    rng = np.random.default_rng(1)
    xy = np.cumsum(rng.normal(0, 30, size=(300, 2)), axis=0)
    seconds = np.cumsum(rng.choice([5, 10, 400], size=300, p=[0.5, 0.45, 0.05]))
    patrol = verify_patrol(square_grid, day_track(xy, seconds), rules)
    total = patrol.in_grid_s + patrol.outside_s + patrol.gap_s + patrol.teleport_s
    # Glitches remove fixes from the geometry, never time, except a glitch at either end of the
    # day, whose seconds its flag reports as uncounted.
    uncounted = sum(f.evidence["uncounted_s"] for f in patrol.flags if f.code == "GPS_OUTLIER")
    assert total + uncounted == pytest.approx(seconds[-1] - seconds[0], abs=1e-6)


def test_honest_patrol_earns_points(square_grid, rules):
    # Back and forth along y = 10, 30, 50, 70, 90 at 1 m/s for 800 fixes (7990 s), all inside:
    # every point of the square lies within 30 m of one of those lines.
    xs = []
    for k in range(800):
        xs.append((k * 10) % 100 if (k // 10) % 2 == 0 else 100 - (k * 10) % 100)
    xy = [(x, 10 + 20 * ((k // 10) % 5)) for k, x in enumerate(xs)]
    patrol = verify_patrol(square_grid, day_track(xy, np.arange(800) * 10.0), rules)
    assert patrol.in_grid_s == pytest.approx(7990.0)
    assert patrol.coverage["area_ratio"] == pytest.approx(1.0, abs=0.01)
    assert patrol.credit == {"status": "verified", "points": 5}
