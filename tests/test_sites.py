"""Site visits (within 30 m for at least 120 s) and the visit schedule by tier."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from conftest import DATE, PROJ, SQUARE_100, T0, fix_frame, metric_grid
from shapely.geometry import Polygon

from geoverify.assessment.schedule import TIER_INTERVAL_DAYS, format_visits_table, visit_schedule, visits_report
from geoverify.engines.batch import verify_batch
from geoverify.measures.sites import VISIT_COLUMNS, Visit, patrol_visits, site_visits

SITE = (np.array([0.0]), np.array([0.0]))


def _visits(xy, t, radius_m=30.0, min_s=120.0, max_gap_s=300.0, sites=SITE):
    xy = np.asarray(xy, dtype=float)
    return site_visits(xy[:, 0], xy[:, 1], np.asarray(t, dtype=float), sites[0], sites[1], radius_m, min_s, max_gap_s)


def _walk_through(dwell_end_s):
    """Walk east at 1 m/s: enter the 30 m circle at t=30 (x=-30), stand at the site, then leave:
    fix at x=20 at ``dwell_end_s`` and x=60 at +40 s, so the exit (x=30) is at dwell_end_s + 10."""
    xy = [(-60, 0), (-20, 0), (0, 0), (0, 0), (20, 0), (60, 0)]
    t = [0, 40, 60, dwell_end_s - 20, dwell_end_s, dwell_end_s + 40]
    return xy, t


@pytest.mark.parametrize("dwell_end_s, expected", [(141.0, 121.0), (139.0, None)])
def test_visit_needs_120_s_with_entry_and_exit_interpolated(dwell_end_s, expected):
    visits = _visits(*_walk_through(dwell_end_s))
    if expected is None:
        assert visits == []  # 119 s inside: too short
    else:
        (v,) = visits
        assert v.site == 0 and (v.first, v.last) == (1, 4)
        assert v.start_s == pytest.approx(30.0) and v.end_s == pytest.approx(151.0)
        assert v.duration_s == pytest.approx(expected)


@pytest.mark.parametrize("distance_m, visited", [(29.0, True), (31.0, False)])
def test_radius_29_vs_31_m(distance_m, visited):
    t = np.arange(0, 201, 10.0)
    xy = np.column_stack([np.full(len(t), distance_m), np.zeros(len(t))])
    visits = _visits(xy, t)
    assert (len(visits) == 1) is visited
    if visited:
        assert (visits[0].start_s, visits[0].end_s) == (0.0, 200.0)


@pytest.mark.parametrize("gap_s, expected", [(400.0, []), (200.0, [(0.0, 400.0)])])
def test_visit_broken_by_gap(gap_s, expected):
    # 100 s inside, no fix for gap_s (a gap when > 300 s), then 100 s more, still inside
    t = np.concatenate([np.arange(0, 101, 10.0), 100 + gap_s + np.arange(0, 101, 10.0)])
    xy = np.column_stack([np.full(len(t), 5.0), np.zeros(len(t))])
    got = [(v.start_s, v.end_s) for v in _visits(xy, t)]
    assert got == [(pytest.approx(a), pytest.approx(b)) for a, b in expected]


def test_gap_before_entry_uses_the_first_fix_time():
    # The segment into the circle lasts 400 s (> max_gap_s): no interpolation across it.
    xy = [(-500, 0), (0, 0), (0, 0)]
    (v,) = _visits(xy, [0, 400, 600])
    assert (v.start_s, v.end_s) == (400.0, 600.0)


def test_several_sites_and_repeated_visits():
    sites = (np.array([0.0, 200.0, 1000.0]), np.array([0.0, 0.0, 0.0]))
    # at site 0 for 150 s, walk to site 1 (stay 200 s), back to site 0 for 130 s
    xy = [(0, 0), (0, 0), (200, 0), (200, 0), (0, 0), (0, 0)]
    t = [0, 150, 300, 500, 650, 780]
    visits = _visits(xy, t, sites=sites)
    # leaving site 0 at 1.333 m/s: exit at 150 + 30/200*150 = 172.5; entry at site 1: 300 - 22.5
    assert [(v.site, round(v.start_s, 3), round(v.end_s, 3)) for v in visits] == [
        (0, 0.0, 172.5),
        (1, 277.5, 522.5),
        (0, 627.5, 780.0),
    ]
    assert all(isinstance(v, Visit) for v in visits)


def test_site_visits_rejects_bad_input():
    with pytest.raises(ValueError, match="t_s .*increasing"):
        site_visits(np.zeros(2), np.zeros(2), np.array([5.0, 1.0]), *SITE, 30, 120, 300)
    with pytest.raises(ValueError, match="x, y and t_s"):
        site_visits(np.zeros(2), np.zeros(3), np.zeros(2), *SITE, 30, 120, 300)


def _sites():
    return pd.DataFrame(
        {
            "site_id": ["S-red", "S-yellow", "S-green", "S-red-never", "S-none"],
            "grid_id": ["G1", "G1", "G1", "G2", "G2"],
            "lon": 116.4,
            "lat": 39.9,
            "tier": pd.Series(["red", "yellow", "green", "red", None], dtype="string"),
        }
    )


def _visit_rows():
    def row(site, member, day):
        start = pd.Timestamp(f"{day}T01:00:00Z")
        return {
            "site_id": site,
            "member_id": member,
            "date": dt.date.fromisoformat(day),
            "start": start,
            "end": start + pd.Timedelta(minutes=5),
        }

    return pd.DataFrame(
        [
            row("S-red", "M1", "2026-10-30"),
            row("S-red", "M2", "2026-11-02"),
            row("S-yellow", "M1", "2026-11-02"),
            row("S-red", "M1", "2026-11-20"),
        ]
    )


def test_tier_intervals():
    assert TIER_INTERVAL_DAYS == {"red": 7, "yellow": 14, "green": 30}


def test_visit_schedule_overdue_by_tier():
    table = visit_schedule(
        _sites(), _visit_rows(), dt.date(2026, 11, 1), dt.date(2026, 11, 12), {"G1": ["M1", "M2"], "G2": ["M3"]}
    ).set_index("site_id")
    red = table.loc["S-red"]
    # last visit 11-02 (the 11-20 visit is after the period), due 11-02 + 7 = 11-09: 3 days overdue
    assert red["last_visit_date"] == dt.date(2026, 11, 2) and red["last_visit_member"] == "M2"
    assert red["interval_days"] == 7 and red["next_due"] == dt.date(2026, 11, 9)
    assert bool(red["overdue"]) and red["days_overdue"] == 3
    assert red["visits_in_period"] == 1 and list(red["members"]) == ["M1", "M2"]
    yellow = table.loc["S-yellow"]
    assert yellow["next_due"] == dt.date(2026, 11, 16) and not yellow["overdue"] and yellow["days_overdue"] == 0
    # never visited: counted from the day before the period (10-31) + 30 = 11-30
    green = table.loc["S-green"]
    assert green["last_visit_date"] is None and green["next_due"] == dt.date(2026, 11, 30)
    assert not green["overdue"]
    never = table.loc["S-red-never"]
    assert never["next_due"] == dt.date(2026, 11, 7) and never["days_overdue"] == 5
    assert list(never["members"]) == ["M3"]
    untiered = table.loc["S-none"]
    assert untiered["interval_days"] is None and untiered["next_due"] is None and not untiered["overdue"]


def test_visit_schedule_due_on_the_last_day_is_not_overdue():
    table = visit_schedule(
        _sites().iloc[:1], _visit_rows().iloc[1:2], dt.date(2026, 11, 1), dt.date(2026, 11, 9), {"G1": ["M1"]}
    )
    assert table.loc[0, "next_due"] == dt.date(2026, 11, 9) and not table.loc[0, "overdue"]


def test_visit_schedule_names_missing_columns():
    with pytest.raises(ValueError, match="visits.*member_id"):
        visit_schedule(_sites(), _visit_rows().drop(columns="member_id"), DATE, DATE, {})
    with pytest.raises(ValueError, match="period_start .* after period_end"):
        visit_schedule(_sites(), _visit_rows(), dt.date(2026, 11, 5), dt.date(2026, 11, 1), {})


def test_visits_report_from_tracks():
    grid = metric_grid(SQUARE_100, members=("M1", "M2"))
    sx, sy = np.array([50.0, 90.0]), np.array([50.0, 10.0])
    slon, slat = PROJ.inverse(sx, sy)
    sites = pd.DataFrame(
        {
            "site_id": ["H1", "H2"],
            "grid_id": ["G1", "G1"],
            "lon": slon,
            "lat": slat,
            "tier": pd.Series(["red", "green"], dtype="string"),
        }
    )
    # M1 stands at H1 (10 m away) from 0 to 300 s, then walks off; never near H2 (40+ m away)
    result = verify_batch(
        [grid], fix_frame([(60, 50, 0), (60, 50, 300), (60, 90, 340)]), sites=sites, now=T0 + pd.Timedelta(days=1)
    )
    visits = patrol_visits(result.patrols)
    report = visits_report([grid], sites, visits, DATE, DATE + dt.timedelta(days=10), tz="Asia/Shanghai")
    (visit,) = report["visits"]
    assert visit["site_id"] == "H1" and visit["member_id"] == "M1" and visit["date"] == DATE.isoformat()
    # exit at 300 + 40 * (sqrt(30² - 10²) / 40) = 300 + 28.28 s
    assert visit["duration_s"] == pytest.approx(328.3, abs=0.05)
    assert visit["start"] == "2026-11-02T08:00:00+08:00"
    by_site = {s["site_id"]: s for s in report["sites"]}
    assert by_site["H1"]["last_visit_date"] == "2026-11-02" and by_site["H1"]["next_due"] == "2026-11-09"
    assert by_site["H1"]["overdue"] and by_site["H1"]["days_overdue"] == 3
    assert by_site["H2"]["last_visit_date"] is None and by_site["H2"]["next_due"] == "2026-12-01"
    (g,) = report["grids"]
    assert g == {"grid_id": "G1", "sites": 2, "visited_in_period": 1, "overdue": 1}
    members = {m["member_id"]: m for m in report["members"]}
    assert members["M1"]["visits"] == 1 and members["M2"]["visits"] == 0
    assert members["M2"]["overdue_sites"] == 1
    text = format_visits_table(report)
    assert "H1" in text and "overdue 3 d" in text


def test_visits_report_warns_about_sites_of_unknown_grids():
    grid = metric_grid(Polygon([(0, 0), (10, 0), (10, 10)]))
    sites = pd.DataFrame(
        {"site_id": ["X"], "grid_id": ["G9"], "lon": [116.4], "lat": [39.9], "tier": pd.Series(["red"], dtype="string")}
    )
    report = visits_report([grid], sites, pd.DataFrame(columns=list(VISIT_COLUMNS)), DATE, DATE, tz="Asia/Shanghai")
    assert any("G9" in w for w in report["warnings"])


def test_visits_report_from_batch_patrols():
    # The command line path: verify_batch counts visits per patrol, visits_report schedules them.
    grid = metric_grid(SQUARE_100, members=("M1",))
    slon, slat = PROJ.inverse(np.array([50.0]), np.array([50.0]))
    sites = pd.DataFrame(
        {"site_id": ["H1"], "grid_id": ["G1"], "lon": slon, "lat": slat, "tier": pd.Series(["yellow"], dtype="string")}
    )
    rows = [(60, 50, s) for s in range(0, 301, 10)] + [(60, 90, 340)]
    result = verify_batch([grid], fix_frame(rows), sites=sites, now=T0 + pd.Timedelta(days=1))
    visits = patrol_visits(result.patrols)
    assert list(visits["site_id"]) == ["H1"] and list(visits["member_id"]) == ["M1"]
    report = visits_report([grid], sites, visits, dt.date(2026, 11, 10), dt.date(2026, 11, 20))
    (site,) = report["sites"]
    # visited 11-02, before the period: counts as the last visit; yellow: due 11-16, 4 days overdue
    assert site["last_visit_date"] == "2026-11-02" and site["visits_in_period"] == 0
    assert site["next_due"] == "2026-11-16" and site["days_overdue"] == 4
    assert report["visits"] == []
