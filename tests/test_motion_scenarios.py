"""The motion model on simulated days of what real phones do (geoverify.simulation.motion_scenarios)."""

import dataclasses

import numpy as np
import pytest
from conftest import day_track

from geoverify.patrol.verify import verify_patrol
from geoverify.preprocessing.providers import network_fixes
from geoverify.rules import Rules
from geoverify.simulation.motion_scenarios import SCENARIOS

MOTION_CODES = {"GPS_OUTLIER", "TELEPORT", "IDLE", "LOOP", "VEHICLE", "GAP"}


def verify(scenario, *, strip=False):
    accuracy = np.full(len(scenario.t), np.nan) if strip else scenario.accuracy
    track = day_track(np.column_stack([scenario.x, scenario.y]), scenario.t, accuracy=accuracy)
    if not strip:
        track.network = network_fixes(scenario.provider, scenario.accuracy)
    return verify_patrol(None, track, Rules())


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_raises_exactly_the_expected_motion_flags(name):
    scenario = SCENARIOS[name]()
    patrol = verify(scenario)
    codes = [f.code for f in patrol.flags if f.code in MOTION_CODES]
    assert codes == list(scenario.expected), [(f.code, f.start, f.evidence) for f in patrol.flags]
    assert (patrol.credit["status"] == "held") == scenario.held


@pytest.mark.parametrize("name", ["train", "city_bus", "car_in_traffic", "subway"])
def test_a_ride_is_one_vehicle_stretch_covering_at_least_90_percent(name):
    scenario = SCENARIOS[name]()
    patrol = verify(scenario)
    rides = [f for f in patrol.flags if f.code == "VEHICLE"]
    assert len(rides) == 1
    start, end = scenario.ride
    flagged = (rides[0].end - rides[0].start).total_seconds()
    assert flagged >= 0.9 * (end - start), (flagged, end - start)
    # ... and hardly any of the walks either side (at most one window's worth, 30 s, each side).
    assert flagged <= (end - start) + 60


def test_train_is_vehicle_never_teleport():
    patrol = verify(SCENARIOS["train"]())
    assert "TELEPORT" not in [f.code for f in patrol.flags] and patrol.teleport_s == 0


def test_excursions_drop_every_fix_away_and_keep_them_in_the_evidence():
    scenario = SCENARIOS["excursions"]()
    patrol = verify(scenario)
    outliers = [f for f in patrol.flags if f.code == "GPS_OUTLIER"]
    assert [f.evidence["fixes"] for f in outliers] == [2, 4, 5]
    assert all(f.evidence["reason"] == "come_back" and f.evidence["dropped_from_geometry"] for f in outliers)
    assert [round(f.evidence["max_distance_m"], -2) >= 600 for f in outliers] == [True] * 3
    assert patrol.teleport_s == 0


def test_cold_start_glitch_is_the_first_fix_after_the_gap():
    patrol = verify(SCENARIOS["cold_start"]())
    outlier = next(f for f in patrol.flags if f.code == "GPS_OUTLIER")
    gap = next(f for f in patrol.flags if f.code == "GAP")
    assert outlier.evidence["reason"] == "cold_start" and outlier.evidence["fixes"] == 1
    assert outlier.start > gap.start


def test_network_positions_are_glitches_and_stripped_columns_do_not_make_a_glitch():
    scenario = SCENARIOS["network_fallback"]()
    outlier = next(f for f in verify(scenario).flags if f.code == "GPS_OUTLIER")
    assert outlier.evidence["reason"] == "network" and outlier.evidence["fixes"] == 48
    # Without accuracy and provider, four minutes away and back is two jumps: TELEPORT both ways.
    stripped = verify(scenario, strip=True)
    assert [f.code for f in stripped.flags if f.code in MOTION_CODES] == ["TELEPORT", "TELEPORT"]
    assert stripped.credit["status"] == "held"


def test_tight_circle_is_a_loop_for_most_of_its_time():
    patrol = verify(SCENARIOS["tight_circle"]())
    loop = next(f for f in patrol.flags if f.code == "LOOP")
    assert loop.evidence["duration_s"] >= 0.9 * 2400
    assert loop.evidence["still_share"] <= 0.5


def test_sparse_wait_is_idle_for_most_of_its_time():
    patrol = verify(SCENARIOS["sparse_wait"]())
    idle = next(f for f in patrol.flags if f.code == "IDLE")
    assert idle.evidence["duration_s"] >= 0.9 * 1200


def test_relocation_without_return_is_still_a_teleport():
    # A mock-location app on for 5 minutes 2 km away: TELEPORT there and back, whatever the columns.
    scenario = SCENARIOS["excursions"]()
    x, t = scenario.x.copy(), scenario.t
    x[(t > 1000) & (t < 1300)] += 2000.0
    moved = dataclasses.replace(scenario, x=x)
    for strip in (False, True):
        codes = [f.code for f in verify(moved, strip=strip).flags if f.code == "TELEPORT"]
        assert codes == ["TELEPORT", "TELEPORT"]


def test_shipped_motion_samples_are_the_scenarios_and_raise_their_flags(tmp_path):
    # sample_tracks/motion holds each scenario as a track CSV (what `geoverify simulate` writes);
    # read back through the CSV reader (provider column included) each raises its expected flags.
    from pathlib import Path

    import pandas as pd

    from geoverify.engines.batch import verify_batch
    from geoverify.io.tracks import read_tracks
    from geoverify.simulation.motion_scenarios import write_motion_samples

    shipped = Path(__file__).resolve().parents[1] / "sample_tracks" / "motion"
    written = write_motion_samples(tmp_path)
    assert sorted(p.name for p in written) == sorted(p.name for p in shipped.glob("*.csv"))
    for path in written:
        assert path.read_bytes() == (shipped / path.name).read_bytes(), path.name
    result = verify_batch([], read_tracks(shipped), now=pd.Timestamp("2027-01-01", tz="UTC"))
    by_member = {p.member_id: p for p in result.patrols}
    for k, (name, build) in enumerate(SCENARIOS.items()):
        patrol = by_member[f"M{101 + k}"]
        codes = [f.code for f in patrol.flags if f.code in MOTION_CODES]
        assert codes == list(build().expected), name
