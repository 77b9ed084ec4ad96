"""Rules files: defaults, per grid type overrides, errors naming the key, and the printed defaults."""

import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import PROJ, T0, chain, still, walk
from shapely.geometry import box

from geoverify.cli.main import main
from geoverify.engines.batch import verify_batch
from geoverify.errors import RulesError
from geoverify.geo.grid import Grid
from geoverify.io.tracks import _fix_frame_from_columns
from geoverify.rules import Rules, load_rules, parse_rules, rules_to_toml


def test_builtin_defaults_are_the_spec_figures():
    r = Rules()
    assert (r.max_gap_s, r.teleport_kmh, r.idle_radius_m, r.idle_min_s, r.loop_radius_m, r.loop_min_s) == (
        300,
        150,
        50,
        900,
        60,
        600,
    )
    assert (
        r.vehicle_kmh,
        r.coverage_buffer_m,
        r.event_max_distance_m,
        r.points_per_patrol,
        r.min_verified_s,
        r.min_coverage_ratio,
        r.max_accuracy_m,
    ) == (30, 30, 200, 5, 7200, 0.5, 100)
    assert (r.duplicate_track_distance_m, r.duplicate_track_share, r.duplicate_track_min_overlap_s) == (30, 0.8, 1800)
    assert (r.event_outside_grid_m, r.event_duplicate_distance_m, r.event_duplicate_window_s) == (20, 30, 72 * 3600)
    assert (r.site_visit_radius_m, r.site_visit_min_s, r.future_tolerance_s) == (30, 120, 300)


def test_grid_type_overrides_defaults_and_carries_the_version():
    rs = parse_rules(
        {
            "version": "city-1",
            "defaults": {"max_gap_s": 400},
            "grid_type": {"rural": {"idle_min_s": 1800, "pair_patrol": True}},
        }
    )
    assert rs.for_grid_type("urban").max_gap_s == 400 and rs.for_grid_type("urban").idle_min_s == 900
    rural = rs.for_grid_type("rural")
    assert (rural.max_gap_s, rural.idle_min_s, rural.pair_patrol, rural.version) == (400, 1800, True, "city-1")


@pytest.mark.parametrize(
    "doc, message",
    [
        ({"defaults": {"idle_min": 900}}, r"defaults: unknown key 'idle_min'; allowed keys are: .*idle_min_s"),
        ({"defaults": {"idle_min_s": "15 min"}}, r"defaults.idle_min_s: expected a number"),
        ({"defaults": {"max_gap_s": -1}}, r"max_gap_s: must be a finite number >= 0"),
        ({"grid_type": {"rural": {"pair_patrol": 1}}}, r"grid_type.rural.pair_patrol: expected true or false"),
        ({"defaults": {"duplicate_track_share": 80}}, r"duplicate_track_share: a share between 0 and 1"),
        ({"rule": {}}, r"unknown top-level key 'rule'"),
        ({"defaults": {"duplicate_replay_window_days": 2.5}}, r"duplicate_replay_window_days: a whole number"),
    ],
)
def test_bad_rules_name_the_key_and_what_is_allowed(doc, message):
    with pytest.raises(RulesError, match=message):
        parse_rules(doc, source="rules.toml")


def test_a_whole_number_key_stays_a_whole_number():
    rules = parse_rules({"defaults": {"duplicate_replay_window_days": 14.0}}, source="rules.toml").defaults
    assert rules.duplicate_replay_window_days == 14 and isinstance(rules.duplicate_replay_window_days, int)


def test_printed_defaults_read_back_equal(tmp_path):
    text = CliRunner().invoke(main, ["rules", "show"]).output
    path = tmp_path / "rules.toml"
    path.write_text(text)
    assert load_rules(path).defaults == Rules()
    custom = parse_rules({"version": "v2", "grid_type": {"rural": {"max_gap_s": 600}}})
    path.write_text(rules_to_toml(custom))
    assert load_rules(path) == custom


def test_bad_rules_file_exits_2_naming_the_file(tmp_path):
    path = tmp_path / "city.toml"
    path.write_text("[defaults]\nvehicle_kph = 30\n")
    result = CliRunner().invoke(main, ["rules", "show", "--rules", str(path)])
    assert result.exit_code == 2
    assert "city.toml: defaults: unknown key 'vehicle_kph'" in result.stderr


def test_rule_version_and_thresholds_of_the_grid_type_reach_the_flags():
    # A 12-minute still phone: not IDLE by default (900 s), IDLE where the rural rules say 600 s.
    w1, t1 = walk((0, 0), 0, 1.3, 600, 10)
    s, ts = still(w1[-1], 720, 10)
    w2, t2 = walk(s[-1], 90, 1.3, 600, 10)
    xy, t = chain((w1, t1), (s, ts), (w2, t2), interval=10)
    lon, lat = PROJ.inverse(xy[:, 0], xy[:, 1])
    n = len(t)
    fixes = _fix_frame_from_columns(
        {
            "member_id": pd.Series(["M1"] * n, dtype="string"),
            "time": pd.Series([T0 + pd.Timedelta(seconds=float(x)) for x in t], dtype="datetime64[ns, UTC]"),
            "lon": lon,
            "lat": lat,
        },
        n,
    )
    from conftest import to_lonlat

    area = to_lonlat(box(-2000, -2000, 2000, 2000))
    rs = parse_rules({"version": "city-7", "grid_type": {"rural": {"idle_min_s": 600}}})
    now = pd.Timestamp("2026-11-03T00:00:00+08:00")
    urban = verify_batch([Grid("G", area, grid_type="urban", members=("M1",))], fixes, rules=rs, now=now)
    rural = verify_batch([Grid("G", area, grid_type="rural", members=("M1",))], fixes, rules=rs, now=now)
    assert urban.patrols[0].flags == []
    (idle,) = rural.patrols[0].flags
    assert idle.code == "IDLE" and idle.evidence["min_duration_s"] == 600
    assert idle.evidence["rule_version"] == "city-7" and rural.patrols[0].rule_version == "city-7"
