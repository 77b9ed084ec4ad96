"""The shipped sample day gives what sample_tracks/README.md promises, scenario by scenario."""

from pathlib import Path

import pandas as pd
import pytest

from geoverify.engines.batch import verify_batch
from geoverify.io import read_events, read_grids, read_sites, read_tracks

ROOT = Path(__file__).resolve().parent.parent
NOW = pd.Timestamp("2026-11-03T00:00:00+08:00")


@pytest.fixture(scope="module")
def day():
    result = verify_batch(
        read_grids(ROOT / "grids" / "dongcheng_sample.geojson"),
        read_tracks(ROOT / "sample_tracks"),
        now=NOW,
        events=read_events(ROOT / "sample_tracks" / "events" / "events.csv"),
        sites=read_sites(ROOT / "sample_tracks" / "sites" / "sites.csv"),
    )
    return {p.member_id: p for p in result.patrols}, {e.event_id: e for e in result.events}


# member → (flag codes, credit status, points, in-grid hours, verified hours), from the README's table.
EXPECTED = {
    "M001": (["GAP"], "verified", 5, 5.0, 5.0),
    "M002": (["TELEPORT"], "held", 0, 1.25, 1.25),
    "M003": (["GPS_OUTLIER"] * 4, "verified", 5, 3.0, 3.0),
    "M004": (["IDLE"], "verified", 5, 3.0, 2.33),
    "M005": (["LOOP"], "verified", 5, 3.0, 2.5),
    "M006": (["VEHICLE"], "verified", 5, 2.8, 2.8),
    "M007": (["MOCK_LOCATION"], "held", 0, 3.0, 3.0),
    "M008": (["DUPLICATE_TRACK"], "held", 0, 2.5, 2.5),
    "M009": (["DUPLICATE_TRACK"], "held", 0, 2.1, 2.1),
    "M010": (["CRS_MISMATCH"], "verified", 0, 0.0, 0.0),
    "M011": (["GAP"], "verified", 5, 2.33, 2.33),
    "M012": ([], "verified", 0, 0.0, 0.0),
}


@pytest.mark.parametrize("member", sorted(EXPECTED))
def test_each_scenario_raises_its_flag_and_credit(day, member):
    codes, status, points, in_grid_h, verified_h = EXPECTED[member]
    patrol = day[0][member]
    assert [f.code for f in patrol.flags] == codes
    assert patrol.credit == {"status": status, "points": points}
    assert patrol.in_grid_s / 3600 == pytest.approx(in_grid_h, abs=0.1)
    assert patrol.verified_s / 3600 == pytest.approx(verified_h, abs=0.1)


def test_idle_and_loop_intervals_match_the_simulated_ones(day):
    idle = day[0]["M004"].flags[0]
    assert idle.start == pd.Timestamp("2026-11-02T09:20:00+08:00")
    assert idle.end == pd.Timestamp("2026-11-02T10:00:00+08:00")
    loop = day[0]["M005"].flags[0]
    # 09:30-10:00 circling, plus the walk in and out within 60 m of the centre.
    assert pd.Timestamp("2026-11-02T09:25:00+08:00") <= loop.start <= pd.Timestamp("2026-11-02T09:30:00+08:00")
    assert pd.Timestamp("2026-11-02T10:00:00+08:00") <= loop.end <= pd.Timestamp("2026-11-02T10:05:00+08:00")


def test_honest_patrol_visits_three_of_four_households(day):
    coverage = day[0]["M001"].coverage
    assert (coverage["sites_visited"], coverage["sites_total"]) == (3, 4)
    assert coverage["area_ratio"] == pytest.approx(0.98, abs=0.01)


def test_crs_mismatch_says_what_conversion_would_give(day):
    evidence = day[0]["M010"].flags[0].evidence
    assert evidence["if_converted"]["in_grid_s"] / 3600 == pytest.approx(3.0, abs=0.1)
    assert evidence["if_converted"]["credit"] == {"status": "verified", "points": 5}
    assert 500 <= evidence["median_offset_m"] <= 600


@pytest.mark.parametrize(
    "event_id, codes",
    [
        ("E001", []),
        ("E002", []),
        ("E003", []),
        ("E004", []),
        ("E005", ["EVENT_OUTSIDE_GRID"]),
        ("E006", ["EVENT_FAR_FROM_TRACK", "EVENT_OUTSIDE_GRID"]),
        ("E007", ["EVENT_DUPLICATE"]),
    ],
)
def test_each_sample_event_raises_what_the_readme_says(day, event_id, codes):
    assert sorted(f.code for f in day[1][event_id].flags) == codes
