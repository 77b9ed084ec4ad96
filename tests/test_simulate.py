"""GPS track simulator: determinism, geometry, timing, and the defining property of each scenario."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Polygon

from geoverify.geo.projection import LocalProjection
from geoverify.simulation import samples, walks
from geoverify.simulation import simulate as sim
from geoverify.simulation.city import simulate_city

PROJ = LocalProjection(116.415, 39.94)
DATE = "2026-11-02"
# An irregular pentagon (metres on PROJ) with a walled compound cut out of it.
GRID_M = Polygon(
    [(0, 0), (420, -20), (450, 380), (200, 430), (-10, 400)], holes=[[(150, 150), (260, 150), (260, 240), (150, 240)]]
)
GRID = shapely.transform(GRID_M, lambda xy: np.column_stack(PROJ.inverse(xy[:, 0], xy[:, 1])))
SAMPLE_GRIDS = Path(__file__).resolve().parent.parent / "grids" / "dongcheng_sample.geojson"


def metres(frame: pd.DataFrame) -> np.ndarray:
    return np.column_stack(PROJ.forward(frame["lon"].to_numpy(), frame["lat"].to_numpy()))


def seconds(frame: pd.DataFrame) -> np.ndarray:
    return (frame["time"] - frame["time"].iloc[0]).dt.total_seconds().to_numpy()


def longest_within(xy: np.ndarray, t: np.ndarray, radius: float) -> float:
    """Longest time span (no hole over 300 s) whose fixes all lie within ``radius`` of its first fix."""
    best = 0.0
    for i in range(len(xy)):
        far = np.hypot(*(xy[i:] - xy[i]).T) > radius
        far[1:] |= np.diff(t[i:]) > 300
        j = int(np.argmax(far)) if far.any() else len(far)
        best = max(best, t[i + j - 1] - t[i])
    return best


def test_same_seed_same_frame():
    def walk(seed):
        return walks.simulate_walk(GRID, "2026-11-02 08:30", 1800, rng=seed)

    pd.testing.assert_frame_equal(walk(7), walk(7))
    assert not walk(7)[["lon", "lat"]].equals(walk(8)[["lon", "lat"]])
    pd.testing.assert_frame_equal(sim.teleport(GRID, "M1", DATE, 3), sim.teleport(GRID, "M1", DATE, 3))

    def city():
        return simulate_city([GRID], 5, DATE, 10, seed=4, hours=0.5)

    pd.testing.assert_frame_equal(city(), city())


def test_walk_stays_inside_apart_from_noise():
    exact = metres(walks.simulate_walk(GRID, "2026-11-02 08:30", 3 * 3600, noise_m=0, rng=1))
    assert shapely.distance(GRID_M, shapely.points(exact)).max() < 0.01  # holes included
    noisy = metres(walks.simulate_walk(GRID, "2026-11-02 08:30", 3 * 3600, noise_m=5, rng=1))
    outside = shapely.distance(GRID_M, shapely.points(noisy))
    assert outside.max() < 30 and (outside == 0).mean() > 0.9


def test_walk_columns_and_interval():
    frame = walks.simulate_walk(GRID, pd.Timestamp("2026-11-02 08:30", tz="Asia/Shanghai"), 600, interval_s=5, rng=2)
    assert list(frame.columns) == ["time", "lon", "lat", "accuracy"]
    assert len(frame) == 120 and str(frame["time"].dt.tz) == "Asia/Shanghai"
    assert np.all(np.diff(seconds(frame)) == 5)
    assert frame["accuracy"].between(3, 100).all()
    step = np.hypot(*np.diff(metres(walks.simulate_walk(GRID, "2026-11-02 08:30", 3600, noise_m=0, rng=2)), axis=0).T)
    assert step.max() < 10 * 1.3 * 1.5  # walking pace, never a jump


@pytest.mark.parametrize("name", sorted(sim.SCENARIOS))
def test_scenarios_have_the_csv_columns_and_keep_the_interval(name):
    frame = sim.SCENARIOS[name](GRID, "M1", DATE, 5)
    assert tuple(frame.columns) == walks.CSV_COLUMNS and (frame["member_id"] == "M1").all()
    dt = np.diff(seconds(frame))
    assert np.all(dt > 0) and np.mean(dt == 10) > 0.99


def test_honest_patrol_is_long_inside_and_never_still_for_15_minutes():
    frame = sim.honest_patrol(GRID, "M1", DATE, 5, stops=np.column_stack(PROJ.inverse([100, 350], [50, 300])))
    xy, t = metres(frame), seconds(frame)
    inside = shapely.contains_xy(GRID_M, xy[:, 0], xy[:, 1])
    assert inside.mean() > 0.95 and len(frame) * 10 >= 5 * 3600 - 20
    assert longest_within(xy, t, 25) < 900
    for stop in ([100, 50], [350, 300]):  # stays at each stop for at least 3 minutes
        near = np.hypot(*(xy - stop).T) < 30
        assert near.sum() * 10 >= 180


def test_teleport_jumps_over_2_km_in_one_step():
    frame = sim.teleport(GRID, "M1", DATE, 6)
    step, dt = np.hypot(*np.diff(metres(frame), axis=0).T), np.diff(seconds(frame))
    jumps = np.flatnonzero(step > 2000)
    assert len(jumps) == 1 and dt[jumps[0]] <= 10
    assert np.all(step[jumps[0] + 1 :] < 100)  # and walks on over there


def test_gps_outliers_are_lone_spikes():
    frame = sim.gps_outlier(GRID, "M1", DATE, 6)
    xy = metres(frame)
    into, out = np.hypot(*(xy[1:-1] - xy[:-2]).T), np.hypot(*(xy[2:] - xy[1:-1]).T)
    across = np.hypot(*(xy[2:] - xy[:-2]).T)
    spikes = np.flatnonzero((into > 500) & (out > 500) & (across < 100))
    assert len(spikes) == 4 and np.all((into[spikes] > 700) & (into[spikes] < 900))


def test_idle_phone_stays_within_50_m_for_15_minutes():
    frame = sim.idle(GRID, "M1", DATE, 6)
    assert longest_within(metres(frame), seconds(frame), 25) >= 900


def test_loop_circles_within_60_m_while_walking():
    frame = sim.loop(GRID, "M1", DATE, 6)
    xy, s = metres(frame), (frame["time"] - frame["time"].iloc[0]).dt.total_seconds().to_numpy() + 8.5 * 3600
    circle = (s >= 9.5 * 3600) & (s < 10 * 3600)
    r = np.hypot(*(xy[circle] - xy[circle].mean(axis=0)).T)
    assert r.max() < 60 and frame["speed"][circle].median() > 1.0
    assert np.hypot(*np.diff(xy[circle], axis=0).T).sum() > 1800  # it really keeps moving


def test_vehicle_rides_above_30_kmh_for_over_2_minutes():
    frame = sim.vehicle(GRID, "M1", DATE, 6)
    kmh = np.hypot(*np.diff(metres(frame), axis=0).T) / np.diff(seconds(frame)) * 3.6
    fast = np.flatnonzero(kmh > 30)
    assert len(fast) >= 50 and np.all(np.diff(fast)[:25] == 1)


def test_mock_stretch_is_flagged_noiseless_and_an_hour_long():
    frame = sim.mock_location(GRID, "M1", DATE, 6)
    mock = frame["mock"].to_numpy(dtype=bool)
    assert mock.sum() == 360 and np.all(np.diff(np.flatnonzero(mock)) == 1)
    assert (frame["accuracy"][mock] == 3.0).all() and not (frame["accuracy"][~mock] == 3.0).all()


def test_duplicate_pair_stays_within_30_m():
    a, b = sim.duplicate_track(GRID, ("M8", "M9"), DATE, 6)
    xa, xb, ta, tb = metres(a), metres(b), a["time"].astype("int64"), b["time"].astype("int64")
    gap = np.hypot(np.interp(tb, ta, xa[:, 0]) - xb[:, 0], np.interp(tb, ta, xa[:, 1]) - xb[:, 1])
    assert gap.max() < 30 and np.median(gap) < 10
    assert seconds(b)[-1] >= 2 * 3600 - 600 and a["device_id"].iloc[0] != b["device_id"].iloc[0]


def test_crs_mismatch_is_one_gcj02_offset_away():
    from geoverify.geo.chinacrs import gcj02_to_wgs84

    frame = sim.crs_mismatch(GRID, "M1", DATE, 6)
    lon, lat = gcj02_to_wgs84(frame["lon"].to_numpy(), frame["lat"].to_numpy())
    true = np.column_stack(PROJ.forward(lon, lat))
    assert shapely.contains_xy(GRID_M, true[:, 0], true[:, 1]).mean() > 0.95
    assert 400 < np.median(np.hypot(*(metres(frame) - true).T)) < 700


def test_gap_is_a_40_minute_hole():
    dt = np.diff(seconds(sim.gap(GRID, "M1", DATE, 6)))
    assert sorted(dt)[-1] == 40 * 60 + 10 and sorted(dt)[-2] == 10


def test_simulate_city_has_the_requested_size():
    other = shapely.affinity.translate(GRID, 0.006, 0.0)
    frame = simulate_city([GRID, other], n_members=30, date=DATE, interval_s=10, seed=1, hours=1)
    assert len(frame) == 30 * 360 and tuple(frame.columns) == walks.CSV_COLUMNS
    assert frame.groupby("member_id", observed=True).size().eq(360).all()
    one = frame[frame["member_id"] == "C00001"]
    assert np.all(np.diff(seconds(one)) == 10) and one["time"].iloc[0] == pd.Timestamp("2026-11-02 08:00+08:00")
    assert shapely.contains_xy(other, one["lon"], one["lat"]).mean() > 0.8


def test_write_samples_matches_the_sample_grids(tmp_path):
    paths = samples.write_samples(SAMPLE_GRIDS, tmp_path)
    assert sum(p.stat().st_size for p in paths) < 3_000_000
    grids = samples.load_grids(SAMPLE_GRIDS)
    assigned = {m: g for g, (_, members) in grids.items() for m in members}
    tracks = [p for p in paths if p.parent == tmp_path]
    assert len(tracks) == 12 and {p.name for p in tmp_path.iterdir() if p.is_file()} == {p.name for p in tracks}
    for path in tracks:
        frame = pd.read_csv(path, dtype={"mock": str})
        assert tuple(frame.columns) == walks.CSV_COLUMNS and frame["time"].str.endswith("+08:00").all()
        assert set(frame["mock"]) <= {"true", "false"}
        member = frame["member_id"].iloc[0]
        assert (member in assigned) == (not path.name.startswith("unassigned"))
    events = pd.read_csv(tmp_path / "events" / "events.csv")
    assert list(events.columns) == [
        "event_id",
        "member_id",
        "time",
        "lon",
        "lat",
        "category",
        "photo_sha256",
        "description",
    ]
    sites = pd.read_csv(tmp_path / "sites" / "sites.csv")
    assert list(sites.columns) == ["site_id", "grid_id", "lon", "lat", "tier"] and len(sites) == 12
    assert set(sites["tier"]) == {"red", "yellow", "green"} and set(sites["grid_id"]) == set(grids)


def test_a_stop_outside_the_grid_is_visited_from_its_nearest_inside_point():
    frame = sim.honest_patrol(GRID, "M1", DATE, 9, stops=np.column_stack(PROJ.inverse([205], [195])))  # in the hole
    xy = metres(frame)
    assert shapely.distance(GRID_M, shapely.points(xy)).max() < 30
    assert (np.hypot(*(xy - [205, 195]).T) < 80).sum() * 10 >= 180
