"""CRS_MISMATCH: a GCJ-02 track declared WGS-84, told apart from an honest patrol next door."""

import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import PROJ, T0, to_lonlat
from shapely.geometry import box

from geoverify.engines.batch import verify_batch
from geoverify.geo.chinacrs import wgs84_to_gcj02
from geoverify.geo.grid import Grid
from geoverify.io.tracks import _fix_frame_from_columns
from geoverify.rules import parse_rules

NOW = pd.Timestamp("2026-11-03T00:00:00+08:00")
GRID_A = to_lonlat(box(0, 0, 400, 400))
# The square one GCJ-02 offset away: where a GCJ-02 phone walking grid A says it is.
GRID_B = shapely.transform(GRID_A, lambda xy: np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1])))


def lawnmower(seconds=7200, interval=10.0):
    """An honest walk up and down grid A (metres on PROJ), 1.2 m/s, 20-380 m."""
    t = np.arange(0, seconds, interval)
    s = 1.2 * t
    lane, along = np.divmod(s, 360.0)
    lane = lane % 8
    x = 20 + lane * 45
    y = np.where(lane % 2 == 0, 20 + along, 380 - along)
    return np.column_stack([x, y]), t


def frame(lon, lat, t, member="M1"):
    n = len(t)
    return _fix_frame_from_columns(
        {
            "member_id": pd.Series([member] * n, dtype="string"),
            "time": pd.Series([T0 + pd.Timedelta(seconds=float(s)) for s in t], dtype="datetime64[ns, UTC]"),
            "lon": np.asarray(lon, float),
            "lat": np.asarray(lat, float),
            "source": pd.Series(["t.csv"] * n, dtype="string"),
            "line": np.arange(2, n + 2),
        },
        n,
    )


def gcj_track(member="M1"):
    xy, t = lawnmower()
    lon, lat = PROJ.inverse(xy[:, 0], xy[:, 1])
    glon, glat = wgs84_to_gcj02(lon, lat)
    return frame(glon, glat, t, member)


def test_gcj02_track_declared_wgs84_is_flagged_with_what_conversion_would_give():
    grids = [Grid("A", GRID_A, members=("M1",))]
    result = verify_batch(grids, gcj_track(), now=NOW)
    patrol = result.patrols[0]
    assert [f.code for f in patrol.flags] == ["CRS_MISMATCH"]
    flag = patrol.flags[0]
    assert flag.severity == "medium"
    e = flag.evidence
    assert e["share_in_grid_as_read"] == 0.0 and e["share_in_grid_as_gcj02"] == 1.0
    assert 300 < e["median_offset_m"] < 800  # about one GCJ-02 offset in Beijing
    assert patrol.in_grid_s == 0.0
    assert e["if_converted"]["in_grid_s"] == pytest.approx(7190.0, abs=1e-3)
    assert e["if_converted"]["credit"] == {"status": "verified", "points": 0}  # 7190 s < 7200 s


def test_honest_patrol_in_the_neighbouring_grid_is_not_a_crs_mismatch():
    # The same positions, but grid B is a real grid: the member honestly walked the wrong grid.
    grids = [Grid("A", GRID_A, members=("M1",)), Grid("B", GRID_B, members=("M2",))]
    patrol = verify_batch(grids, gcj_track(), now=NOW).patrols[0]
    assert patrol.flags == []
    assert patrol.in_grid_s == 0.0


def test_what_counts_as_mostly_inside_another_grid_is_the_rule_crs_mismatch_other_grid_share():
    # Grid B covers only the southern 160 m of where the track says it is: about 39 % of its fixes.
    south = to_lonlat(box(0, 0, 400, 160))
    part_b = shapely.transform(south, lambda xy: np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1])))
    grids = [Grid("A", GRID_A, members=("M1",)), Grid("B", part_b, members=("M2",))]
    (flag,) = verify_batch(grids, gcj_track(), now=NOW).patrols[0].flags  # 39 % < 50 %: not mostly
    assert flag.code == "CRS_MISMATCH" and flag.evidence["crs_mismatch_other_grid_share"] == 0.5
    loose = parse_rules({"defaults": {"crs_mismatch_other_grid_share": 0.3}}, source="test")
    assert verify_batch(grids, gcj_track(), rules=loose, now=NOW).patrols[0].flags == []


def test_declared_gcj02_track_is_converted_and_not_flagged():
    grids = [Grid("A", GRID_A, members=("M1",))]
    fixes = gcj_track()
    from geoverify.geo.chinacrs import to_wgs84

    fixes["lon"], fixes["lat"] = to_wgs84(fixes["lon"].to_numpy(), fixes["lat"].to_numpy(), "gcj02")
    fixes["crs"] = pd.Series(["gcj02"] * len(fixes), dtype="category")
    patrol = verify_batch(grids, fixes, now=NOW).patrols[0]
    assert patrol.flags == [] and patrol.in_grid_s == pytest.approx(7190.0, abs=1e-3)


def test_track_in_its_grid_is_never_checked():
    xy, t = lawnmower()
    lon, lat = PROJ.inverse(xy[:, 0], xy[:, 1])
    patrol = verify_batch([Grid("A", GRID_A, members=("M1",))], frame(lon, lat, t), now=NOW).patrols[0]
    assert patrol.flags == [] and patrol.in_grid_s == pytest.approx(7190.0, abs=1e-3)
