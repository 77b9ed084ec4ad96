"""IDLE, LOOP, VEHICLE, MOCK_LOCATION and GAP on one patrol: each raised, and its near miss not."""

import numpy as np
import pytest
from conftest import chain, circle, day_track, jitter, metric_grid, still, walk
from shapely.geometry import box

from geoverify.patrol.verify import verify_patrol

BIG = box(-2000, -2000, 2000, 2000)


def through_circle(minutes, speed=1.3, radius=40.0):
    """Walk east to a courtyard, circle it for ``minutes``, leave radially: (xy, t) every 10 s.

    Within 60 m of the centre: the circling plus 20 m in and 20 m out (about 31 s at 1.3 m/s).
    """
    w1, t1 = walk((-radius - 660, 0), 0, 1.3, 510, 10)  # ends 3 m short of (-40, 0)
    c, tc = circle((0, 0), radius, speed, minutes * 60, 10)
    out = c[-1] / np.hypot(*c[-1])
    w2, t2 = walk(c[-1] + out * 13, np.degrees(np.arctan2(out[1], out[0])), 1.3, 600, 10)
    return chain((w1, t1), (c, tc), (w2, t2), interval=10)


def patrol_with(xy, t, sigma=0.0, interval=10.0, seed=1, grid=None, rules=None, **kw):
    from geoverify.rules import Rules

    if sigma:
        xy = xy + jitter(len(xy), sigma, interval, seed)
    return verify_patrol(grid or metric_grid(BIG), day_track(xy, t), rules or Rules(), **kw)


def codes(patrol):
    return [f.code for f in patrol.flags]


def around_still(minutes, interval):
    w1, t1 = walk((0, 0), 0, 1.3, 600, interval)
    s, ts = still(w1[-1] + (1.3 * interval, 0), minutes * 60, interval)
    w2, t2 = walk(s[-1] + (0, 1.3 * interval), 90, 1.3, 600, interval)
    return chain((w1, t1), (s, ts), (w2, t2), interval=interval)


@pytest.mark.parametrize("sigma", [5.0, 10.0])
@pytest.mark.parametrize("interval", [5.0, 10.0, 30.0])
def test_phone_still_for_16_minutes_with_jitter_is_idle(sigma, interval):
    xy, t = around_still(16, interval)
    patrol = patrol_with(xy, t, sigma, interval, seed=int(sigma * 100 + interval))
    assert codes(patrol) == ["IDLE"]
    idle = patrol.flags[0]
    assert idle.severity == "medium"
    duration = idle.evidence["duration_s"]
    assert 900 <= duration <= 16 * 60 + 120, duration
    assert idle.evidence["radius_m"] <= 50 and idle.evidence["min_duration_s"] == 900
    assert idle.evidence["centre"] == {"lon": pytest.approx(idle.lon), "lat": pytest.approx(idle.lat)}
    assert idle.evidence["path_length_m"] > 0 and idle.evidence["still_mps"] == 0.35
    assert patrol.verified_s == pytest.approx(patrol.in_grid_s - idle.evidence["excluded_in_grid_s"])
    assert idle.evidence["excluded_in_grid_s"] == pytest.approx(duration, abs=1e-6)


@pytest.mark.parametrize("interval", [5.0, 10.0, 30.0])
def test_phone_still_for_14_minutes_is_not_idle(interval):
    xy, t = around_still(14, interval)
    patrol = patrol_with(xy, t, 10.0, interval, seed=7)
    assert codes(patrol) == []
    assert patrol.verified_s == patrol.in_grid_s


@pytest.mark.parametrize("speed, sigma", [(1.3, 5.0), (1.3, 10.0), (0.6, 8.0)])
def test_circling_a_courtyard_for_15_minutes_is_a_loop_not_idle(speed, sigma):
    xy, t = through_circle(15, speed)
    patrol = patrol_with(xy, t, sigma, 10, seed=3)
    assert codes(patrol) == ["LOOP"]
    loop = patrol.flags[0]
    assert 600 <= loop.evidence["duration_s"] <= 15 * 60 + 120
    assert loop.evidence["median_motion_mps"] >= loop.evidence["still_mps"]
    assert patrol.verified_s == pytest.approx(patrol.in_grid_s - loop.evidence["excluded_in_grid_s"])


def test_courtyard_walk_of_9_minutes_is_not_a_loop():
    # 540 s circling + about 31 s in and out within 60 m: under 600 s.
    xy, t = through_circle(9)
    assert codes(patrol_with(xy, t, 8.0, 10, seed=4)) == []


@pytest.mark.parametrize("sigma", [5.0, 10.0])
def test_honest_slow_walk_with_jitter_raises_nothing(sigma):
    # 0.5 m/s along streets (an L), an hour, with jitter: neither still nor circling.
    w1, t1 = walk((0, 0), 0, 0.5, 1800, 10)
    w2, t2 = walk(w1[-1], 90, 0.5, 1800, 10)
    xy, t = chain((w1, t1), (w2, t2), interval=10)
    patrol = patrol_with(xy, t, sigma, 10, seed=5)
    assert codes(patrol) == []


def test_stay_at_a_household_is_a_visit_not_idle():
    import pandas as pd
    from conftest import PROJ

    xy, t = around_still(20, 10)
    site = xy[len(xy) // 2]
    lon, lat = PROJ.inverse(np.array([site[0] + 10]), np.array([site[1]]))
    sites = pd.DataFrame({"site_id": ["S1"], "lon": lon, "lat": lat, "tier": ["red"]})
    patrol = patrol_with(xy, t, 5.0, 10, seed=6, sites=sites)
    assert "IDLE" not in codes(patrol)
    assert patrol.coverage["sites_visited"] == 1 and patrol.coverage["sites_total"] == 1


@pytest.mark.parametrize(
    "kmh, seconds, flagged", [(40, 180, True), (40, 100, False), (24, 900, False), (31, 130, True)]
)
def test_vehicle_speed_sustained_for_120_s(kmh, seconds, flagged):
    w1, t1 = walk((-1500, 0), 0, 1.3, 600, 10)
    r, tr = walk(w1[-1] + (13, 0), 0, kmh / 3.6, seconds, 10)
    w2, t2 = walk(r[-1] + (kmh / 3.6 * 10, 0), 90, 1.3, 600, 10)
    xy, t = chain((w1, t1), (r, tr), (w2, t2), interval=10)
    patrol = patrol_with(xy, t)
    assert codes(patrol) == (["VEHICLE"] if flagged else [])
    if flagged:
        ride = patrol.flags[0]
        assert ride.severity == "medium"
        assert ride.evidence["mean_speed_kmh"] == pytest.approx(kmh, rel=0.02)
        assert ride.evidence["duration_s"] >= 120
        assert patrol.verified_s == pytest.approx(patrol.in_grid_s - ride.evidence["duration_s"])


def test_mock_locations_are_flagged_high_and_hold_the_credit():
    xy, t = walk((0, 0), 0, 1.3, 9000, 10)
    track = day_track(xy, t)
    track.mock[100:130] = True
    from geoverify.rules import Rules

    patrol = verify_patrol(metric_grid(box(-100, -100, 12000, 100)), track, Rules())
    assert codes(patrol) == ["MOCK_LOCATION"]
    mock = patrol.flags[0]
    assert mock.severity == "high" and mock.evidence["mock_fixes"] == 30
    assert (mock.end - mock.start).total_seconds() == 290
    assert patrol.credit == {"status": "held", "points": 0}


def test_gap_is_flagged_low_with_its_duration():
    xy, t = walk((0, 0), 0, 0.1, 1000, 10)
    t = np.where(t >= 500, t + 400, t)  # 10 s step → 410 s hole
    patrol = patrol_with(xy, t)
    assert codes(patrol) == ["GAP"]
    assert patrol.flags[0].severity == "low"
    assert patrol.flags[0].evidence["duration_s"] == pytest.approx(410)
    assert patrol.gap_s == pytest.approx(410)


@pytest.mark.parametrize("windows", [5, 5000], ids=["few-direct", "many-sparse-table"])
def test_window_spans_match_brute_force(windows):
    # Both ways of measuring a window's extent (direct for few windows, a sparse table for many)
    # give each window's max - min exactly.
    from geoverify.detectors.stays import _spans

    rng = np.random.default_rng(3)
    values = rng.normal(0, 30, 600).cumsum()
    first = rng.integers(0, 500, windows)
    last = first + rng.integers(0, 100, windows)
    expected = [values[a : b + 1].max() - values[a : b + 1].min() for a, b in zip(first, last)]
    assert _spans(values, first, last).tolist() == expected
