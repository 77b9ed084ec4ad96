"""Event checks: no track, far from the track, outside the grid, duplicate reports."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from conftest import DATE, PROJ, SQUARE_100, T0, day_track, metric_grid

from geoverify.detectors.events import EventCheck, check_events
from geoverify.rules import Rules

RULES = Rules()


def _events(rows) -> pd.DataFrame:
    """Events from (event_id, member_id, x_m, y_m, seconds_after_T0, category) rows."""
    xy = np.array([(r[2], r[3]) for r in rows], dtype=float).reshape(-1, 2)
    lon, lat = PROJ.inverse(xy[:, 0], xy[:, 1])
    return pd.DataFrame(
        {
            "event_id": [r[0] for r in rows],
            "member_id": [r[1] for r in rows],
            "time": pd.Series(pd.to_datetime([T0 + pd.Timedelta(seconds=r[4]) for r in rows], utc=True)),
            "lon": lon,
            "lat": lat,
            "category": [r[5] for r in rows],
            "source": "events.csv",
            "line": np.arange(2, len(rows) + 2),
        }
    )


def _check(rows, tracks, grid=None, rules=RULES):
    members = {r[1] for r in rows}
    return check_events(_events(rows), tracks, {m: grid for m in members}, lambda m: rules)


def _codes(check: EventCheck) -> list[str]:
    return [f.code for f in check.flags]


# A walk east along y=50 at 1 m/s from (0, 50) at 0 s to (100, 50) at 100 s.
EAST = {"M1": [day_track([(0, 50), (100, 50)], [0, 100])]}


@pytest.mark.parametrize("offset_m, flagged", [(190.0, False), (210.0, True)])
def test_far_from_track_190_vs_210_m(offset_m, flagged):
    (check,) = _check([("E1", "M1", 30, 50 + offset_m, 30, "road")], EAST)
    assert ("EVENT_FAR_FROM_TRACK" in _codes(check)) is flagged
    if flagged:
        (flag,) = check.flags
        assert flag.severity == "high"
        assert flag.evidence["distance_m"] == pytest.approx(210.0, abs=0.01)
        assert flag.evidence["event_max_distance_m"] == 200.0
        assert flag.evidence["rule_version"] == RULES.version
        assert flag.start == flag.end == T0 + pd.Timedelta(seconds=30)
        assert (flag.lon, flag.lat) == pytest.approx((check.lon, check.lat))


def test_position_interpolated_between_the_fixes_around_the_event():
    # 100 m from (0, 0) to (80, 60) in 100 s: at 25 s the member is at (20, 15)
    tracks = {"M1": [day_track([(0, 0), (80, 60)], [0, 100])]}
    (check,) = _check([("E1", "M1", 20, 265, 25, "road")], tracks)
    (flag,) = check.flags
    assert flag.code == "EVENT_FAR_FROM_TRACK"
    ev = flag.evidence
    assert ev["distance_m"] == pytest.approx(250.0, abs=0.01) and ev["interpolated"] is True
    lon, lat = PROJ.inverse(20.0, 15.0)
    assert (ev["position"]["lon"], ev["position"]["lat"]) == pytest.approx((float(lon), float(lat)), abs=1e-7)
    assert [f["seconds_from_event"] for f in ev["fixes"]] == [-25.0, 75.0]
    assert ev["fixes"][0]["time"] == "2026-11-02T00:00:00+00:00"
    assert ev["fixes"][1]["line"] == 3


def test_no_interpolation_across_a_gap():
    # fixes 1000 s apart: a gap; the event 100 s after the first fix takes that fix's position
    tracks = {"M1": [day_track([(0, 0), (100, 0)], [0, 1000])]}
    (check,) = _check([("E1", "M1", 0, 205, 100, "road")], tracks)
    (flag,) = check.flags
    assert flag.evidence["distance_m"] == pytest.approx(205.0, abs=0.01)
    assert flag.evidence["interpolated"] is False


@pytest.mark.parametrize("seconds, no_track", [(399.0, False), (401.0, True), (-301.0, True), (-299.0, False)])
def test_no_fix_within_300_s(seconds, no_track):
    (check,) = _check([("E1", "M1", 50, 50, seconds, "road")], EAST)
    assert ("EVENT_NO_TRACK" in _codes(check)) is no_track
    if no_track:
        (flag,) = check.flags  # no position, so no distance flag either
        assert flag.evidence["nearest_fix_s"] == pytest.approx(301.0)
        assert flag.evidence["max_gap_s"] == 300.0


def test_member_without_any_track():
    (check,) = _check([("E1", "M9", 50, 50, 0, "road")], EAST)
    (flag,) = check.flags
    assert flag.code == "EVENT_NO_TRACK" and flag.evidence["nearest_fix_s"] is None


def test_track_of_another_day_is_used():
    tracks = {
        "M1": [
            day_track([(0, 0), (10, 0)], [0, 60]),
            day_track([(0, 0), (10, 0)], [86400, 86460], date=DATE + dt.timedelta(days=1)),
        ]
    }
    (check,) = _check([("E1", "M1", 5, 0, 86430, "road")], tracks)
    assert check.flags == []


@pytest.mark.parametrize("outside_m, flagged", [(19.0, False), (21.0, True)])
def test_outside_grid_19_vs_21_m(outside_m, flagged):
    grid = metric_grid(SQUARE_100)
    tracks = {"M1": [day_track([(90, 50), (100, 50)], [0, 100])]}
    (check,) = _check([("E1", "M1", 100 + outside_m, 50, 100, "road")], tracks, grid=grid)
    assert _codes(check) == (["EVENT_OUTSIDE_GRID"] if flagged else [])
    if flagged:
        ev = check.flags[0].evidence
        assert ev["distance_outside_m"] == pytest.approx(21.0, abs=0.01)
        assert ev["grid_id"] == "G1" and ev["event_outside_grid_m"] == 20.0
        assert check.flags[0].severity == "medium"


def test_no_outside_flag_for_a_member_without_grid():
    tracks = {"M1": [day_track([(400, 50), (500, 50)], [0, 100])]}
    (check,) = _check([("E1", "M1", 500, 50, 100, "road")], tracks, grid=None)
    assert check.flags == []


@pytest.mark.parametrize(
    "x_m, hours, category, duplicate",
    [
        (29.0, 71.0, "garbage", True),
        (31.0, 71.0, "garbage", False),
        (29.0, 73.0, "garbage", False),
        (29.0, 71.0, "road", False),
    ],
)
def test_duplicate_within_30_m_and_72_h(x_m, hours, category, duplicate):
    rows = [("E1", "M1", 0, 0, 0, "garbage"), ("E2", "M2", x_m, 0, hours * 3600, category)]
    first, second = _check(rows, {})
    assert "EVENT_DUPLICATE" not in _codes(first)
    assert ("EVENT_DUPLICATE" in _codes(second)) is duplicate
    if duplicate:
        (flag,) = [f for f in second.flags if f.code == "EVENT_DUPLICATE"]
        ev = flag.evidence
        assert ev["earlier_event_id"] == "E1" and ev["earlier_member_id"] == "M1"
        assert ev["distance_m"] == pytest.approx(29.0, abs=0.01)
        assert ev["time_apart_s"] == pytest.approx(71 * 3600)
        assert ev["earlier_event_time"] == "2026-11-02T00:00:00+00:00"
        assert ev["event_duplicate_distance_m"] == 30.0 and ev["event_duplicate_window_s"] == 259200.0
        assert flag.severity == "medium"


def test_duplicate_ties_in_time_broken_by_event_id_and_earliest_reported():
    rows = [("B", "M1", 0, 0, 100, "garbage"), ("A", "M2", 5, 0, 100, "garbage"), ("C", "M3", 10, 0, 200, "garbage")]
    b, a, c = _check(rows, {})  # input order kept
    assert [x.event_id for x in (b, a, c)] == ["B", "A", "C"]
    assert "EVENT_DUPLICATE" not in _codes(a)
    (fb,) = [f for f in b.flags if f.code == "EVENT_DUPLICATE"]
    assert fb.evidence["earlier_event_id"] == "A"
    (fc,) = [f for f in c.flags if f.code == "EVENT_DUPLICATE"]
    assert fc.evidence["earlier_event_id"] == "A" and fc.evidence["earlier_matches"] == 2


def test_two_members_events_of_one_id_are_apart_and_tied_by_member():
    rows = [("E1", "M2", 0, 0, 100, "garbage"), ("E1", "M1", 5, 0, 100, "garbage")]
    m2, m1 = _check(rows, {})
    assert (m1.flag_prefix, m2.flag_prefix) == ("E1@M1", "E1@M2")
    # Same time, same id: the smaller member id is the earlier report.
    (flag,) = [f for f in m2.flags if f.code == "EVENT_DUPLICATE"]
    assert flag.evidence["earlier_member_id"] == "M1" and "EVENT_DUPLICATE" not in _codes(m1)


def test_event_check_to_dict():
    (check,) = _check([("E1", "M1", 30, 260, 30, "road")], EAST)
    d = check.to_dict("Asia/Shanghai")
    assert d["event_id"] == "E1" and d["member_id"] == "M1" and d["category"] == "road"
    assert d["time"] == "2026-11-02T08:00:30+08:00"
    assert d["flags"][0]["code"] == "EVENT_FAR_FROM_TRACK"
    assert d["flags"][0]["start"] == "2026-11-02T08:00:30+08:00"


def test_check_events_validates_its_input():
    frame = _events([("E1", "M1", 0, 0, 0, "road")])
    with pytest.raises(ValueError, match="events: missing column.*category"):
        check_events(frame.drop(columns="category"), {}, {}, lambda m: RULES)
    naive = frame.assign(time=frame["time"].dt.tz_localize(None))
    with pytest.raises(ValueError, match="time.*time zone"):
        check_events(naive, {}, {}, lambda m: RULES)
    bad = frame.assign(lon=np.nan)
    with pytest.raises(ValueError, match="line 2.*lon/lat"):
        check_events(bad, {}, {}, lambda m: RULES)


def test_empty_events():
    assert check_events(_events([]), EAST, {}, lambda m: RULES) == []


def test_event_description_may_span_lines(tmp_path):
    """A quoted description with a line break is valid CSV for events (tracks refuse it: one fix per line)."""
    from geoverify.io import read_events

    path = tmp_path / "events.csv"
    path.write_text(
        "event_id,member_id,time,lon,lat,category,description\n"
        'E1,M1,2026-11-02T09:00:00+08:00,116.4,39.9,litter,"two bags\nby the gate"\n'
        "E2,M1,2026-11-02T10:00:00+08:00,116.4,39.9,litter,one bag\n",
        encoding="utf-8",
    )
    events = read_events(path, tz="Asia/Shanghai")
    assert events["event_id"].tolist() == ["E1", "E2"]
    assert events["description"].tolist() == ["two bags\nby the gate", "one bag"]
