"""geoverify.measures.heatmap: seconds per cell, split exactly along each counted segment."""

import numpy as np
import pytest

from geoverify.geo.projection import LocalProjection
from geoverify.measures.heatmap import HeatMap, heatmap_geojson, time_per_cell

PROJ = LocalProjection(116.4, 39.9)  # central Beijing
BOX = (0.0, 0.0, 100.0, 100.0)  # metres: 4 × 4 cells of 25 m


def test_straight_walk_splits_time_by_length_in_each_cell():
    heat = time_per_cell([0, 100], [10, 10], [0, 200], bounds=BOX, cell_m=25)
    assert heat.seconds.shape == (4, 4)
    np.testing.assert_allclose(heat.seconds[0], [50, 50, 50, 50])
    assert heat.seconds[1:].sum() == 0
    assert heat.total_s == pytest.approx(200)


def test_diagonal_walk_counts_the_corner_it_clips():
    # From (20, 0) to (30, 10): crosses x = 25 at y = 5, so half in cell (0, 0) and half in (0, 1).
    heat = time_per_cell([20, 30], [0, 10], [0, 10], bounds=BOX, cell_m=25)
    assert heat.seconds[0, 0] == pytest.approx(5)
    assert heat.seconds[0, 1] == pytest.approx(5)
    # From (20, 20) to (30, 30): passes through the corner (25, 25) itself.
    heat = time_per_cell([20, 30], [20, 30], [0, 10], bounds=BOX, cell_m=25)
    assert heat.seconds[0, 0] == pytest.approx(5)
    assert heat.seconds[1, 1] == pytest.approx(5)
    assert heat.total_s == pytest.approx(10)


def test_standing_still_gives_the_whole_time_to_one_cell():
    heat = time_per_cell([60, 60, 60], [60, 60, 60], [0, 30, 90], bounds=BOX, cell_m=25)
    assert heat.seconds[2, 2] == pytest.approx(90)
    assert heat.total_s == pytest.approx(90)


def test_time_is_conserved_on_a_random_walk():
    rng = np.random.default_rng(5)
    xy = np.cumsum(rng.normal(0, 8, size=(500, 2)), axis=0) + 50
    t = np.arange(500) * 10.0
    heat = time_per_cell(xy[:, 0], xy[:, 1], t, bounds=(-500, -500, 600, 600), cell_m=25)
    assert heat.total_s + heat.outside_s == pytest.approx(4990)


def test_gaps_teleports_and_track_changes_count_nowhere():
    x = [10, 10, 10, 90, 90]
    y = [10, 10, 10, 90, 90]
    t = [0, 100, 1000, 1001, 1100]  # a 900 s gap, then a 113 m jump in 1 s (teleport)
    heat = time_per_cell(x, y, t, bounds=BOX, cell_m=25, max_gap_s=300, max_speed_mps=150 / 3.6)
    assert heat.total_s == pytest.approx(100 + 99)
    two_tracks = time_per_cell(
        [10, 10, 90, 90], [10, 10, 90, 90], [0, 50, 60, 110], bounds=BOX, track_ids=["A", "A", "B", "B"]
    )
    assert two_tracks.seconds[0, 0] == pytest.approx(50)
    assert two_tracks.seconds[3, 3] == pytest.approx(50)
    assert two_tracks.total_s == pytest.approx(100)


def test_unsorted_input_is_sorted_by_time():
    heat = time_per_cell([100, 0], [10, 10], [200, 0], bounds=BOX, cell_m=25)
    np.testing.assert_allclose(heat.seconds[0], [50, 50, 50, 50])


def test_time_outside_the_box_is_reported():
    heat = time_per_cell([50, 150], [10, 10], [0, 100], bounds=BOX, cell_m=25)
    assert heat.total_s == pytest.approx(50)
    assert heat.outside_s == pytest.approx(50)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"cell_m": 0}, "cell_m must be a positive"),
        ({"cell_m": 0.01}, "use a cell of at least"),
        ({"bounds": (10, 0, 0, 10)}, "bounds must be"),
        ({"track_ids": ["A"]}, "track_ids must have one label per fix"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    args = {"bounds": BOX, **kwargs}
    with pytest.raises(ValueError, match=match):
        time_per_cell([0, 1], [0, 1], [0, 1], **args)


def test_geojson_cells_are_lonlat_squares_of_the_right_size():
    heat = time_per_cell([0, 50], [5, 5], [0, 100], bounds=(0, 0, 50, 25), cell_m=25)
    doc = heatmap_geojson(heat, PROJ.inverse)
    assert doc["properties"] == {"cell_m": 25.0, "total_s": 100.0, "max_s": 50.0, "outside_s": 0.0}
    assert [f["properties"]["seconds"] for f in doc["features"]] == [50.0, 50.0]
    ring = np.array(doc["features"][0]["geometry"]["coordinates"][0])
    x, y = PROJ.forward(ring[:, 0], ring[:, 1])
    np.testing.assert_allclose([x.min(), y.min(), x.max(), y.max()], [0, 0, 25, 25], atol=0.02)


def test_empty_input_gives_an_empty_map():
    heat = time_per_cell([], [], [], bounds=BOX)
    assert isinstance(heat, HeatMap) and heat.total_s == 0
    assert heatmap_geojson(heat, PROJ.inverse)["features"] == []
