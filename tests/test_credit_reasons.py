"""Credit explained (issue #14): every patrol says which rule gave or withheld its points, with the
figures and thresholds compared, in the command line's JSON as in the library."""

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from geoverify.cli.main import main
from geoverify.engines.batch import verify_batch
from geoverify.flags import Flag
from geoverify.io import read_events, read_grids, read_sites, read_tracks
from geoverify.patrol.credit import REASON_RULES, credit_reasons, patrol_credit
from geoverify.rules import Rules

ROOT = Path(__file__).resolve().parent.parent
NOW = pd.Timestamp("2026-11-03T00:00:00+08:00")
T0 = pd.Timestamp("2026-11-02T01:00:00Z")


@pytest.fixture(scope="module")
def day():
    result = verify_batch(
        read_grids(ROOT / "grids" / "dongcheng_sample.geojson"),
        read_tracks(ROOT / "sample_tracks"),
        now=NOW,
        events=read_events(ROOT / "sample_tracks" / "events" / "events.csv"),
        sites=read_sites(ROOT / "sample_tracks" / "sites" / "sites.csv"),
    )
    return {p.member_id: p for p in result.patrols}


def by_rule(patrol):
    return {r["rule"]: r for r in patrol.credit_reasons}


def flag(code, status="open", **evidence):
    return Flag(
        code, T0, T0 + pd.Timedelta(seconds=60), 116.4, 39.9, evidence, flag_id=f"P.{code}.010000Z", status=status
    )


def test_a_short_patrol_says_its_verified_time_is_below_the_two_hours(day):
    """M002: 1.25 h in the grid, held by its TELEPORT; released it would still earn 0."""
    reasons = by_rule(day["M002"])
    assert [r["rule"] for r in day["M002"].credit_reasons] == ["held", "verified_time", "coverage", "points"]
    assert reasons["held"] == {
        "rule": "held",
        "flag_id": day["M002"].flags[0].flag_id,
        "code": "TELEPORT",
        "met": False,
    }
    assert reasons["verified_time"]["value_s"] == pytest.approx(4490, abs=1)
    assert reasons["verified_time"]["required_s"] == 7200 and reasons["verified_time"]["met"] is False
    assert reasons["coverage"]["met"] is True and reasons["coverage"]["required"] == 0.5
    assert reasons["points"] == {"rule": "points", "points": 0, "points_per_patrol": 5, "met": False}


def test_a_credited_patrol_meets_every_rule_and_names_what_idle_took_off(day):
    patrol = day["M004"]
    reasons = by_rule(patrol)
    assert all(r["met"] for r in patrol.credit_reasons)
    assert reasons["points"]["points"] == patrol.credit["points"] == 5
    [idle] = reasons["verified_time"]["excluded"]
    assert idle["code"] == "IDLE" and idle["seconds"] == pytest.approx(2400, abs=1)
    assert reasons["verified_time"]["in_grid_s"] - idle["seconds"] == pytest.approx(patrol.verified_s, abs=0.01)


def test_no_grid_and_crs_mismatch_are_named(day):
    assert [r["rule"] for r in day["M012"].credit_reasons][0] == "grid"
    crs = by_rule(day["M010"])["crs_mismatch"]
    assert crs["code"] == "CRS_MISMATCH" and crs["if_converted_points"] == 5 and crs["met"] is False
    # two phones: each side's DUPLICATE_TRACK holds its own patrol
    assert by_rule(day["M008"])["held"]["code"] == by_rule(day["M009"])["held"]["code"] == "DUPLICATE_TRACK"


def test_reasons_follow_reviews_and_agree_with_the_credit():
    rules = Rules()
    rejected = credit_reasons(9000, 0.8, [flag("MOCK_LOCATION", "confirmed"), flag("TELEPORT")], rules)
    assert [r["rule"] for r in rejected] == ["rejected", "held", "verified_time", "coverage", "points"]
    assert rejected[-1] == {"rule": "points", "points": 0, "points_per_patrol": 5, "met": False}
    dismissed = credit_reasons(
        9000, 0.8, [flag("MOCK_LOCATION", "dismissed"), flag("IDLE", "dismissed", excluded_in_grid_s=900.0)], rules
    )
    assert [r["rule"] for r in dismissed] == ["verified_time", "coverage", "points"]
    assert dismissed[0]["excluded"] == [] and dismissed[-1]["points"] == 5
    thin = credit_reasons(9000, 0.3, [], rules)
    assert thin[1] == {"rule": "coverage", "value": 0.3, "required": 0.5, "met": False}
    assert {r["rule"] for r in rejected + dismissed + thin} <= set(REASON_RULES)
    for verified_s, ratio, flags in ((9000, 0.8, []), (100, 0.8, []), (9000, 0.8, [flag("TELEPORT")])):
        points = credit_reasons(verified_s, ratio, flags, rules)[-1]
        assert points["points"] == patrol_credit(verified_s, ratio, flags, rules)["points"]


def test_thresholds_come_from_the_grid_types_rules():
    rules = Rules(min_verified_s=3600, min_coverage_ratio=0.2, points_per_patrol=3)
    reasons = credit_reasons(4000, 0.25, [], rules)
    assert reasons[0]["required_s"] == 3600 and reasons[1]["required"] == 0.2
    assert reasons[-1] == {"rule": "points", "points": 3, "points_per_patrol": 3, "met": True}


def test_the_command_lines_json_carries_the_reasons(tmp_path):
    out = tmp_path / "out.json"
    result = CliRunner().invoke(
        main,
        [
            "verify",
            "--grids",
            str(ROOT / "grids" / "dongcheng_sample.geojson"),
            "--tracks",
            str(ROOT / "sample_tracks" / "teleport_M002.csv"),
            "--format",
            "json",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    [patrol] = json.loads(out.read_text())["patrols"]
    assert patrol["credit"] == {"status": "held", "points": 0}  # the credit object is unchanged
    assert [r["rule"] for r in patrol["credit_reasons"]] == ["held", "verified_time", "coverage", "points"]
    assert patrol["credit_reasons"][1]["met"] is False
