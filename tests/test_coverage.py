"""coverage.area_ratio against the exact definition computed with GEOS."""

import numpy as np
import pytest
import shapely
import shapely.affinity
from conftest import L_SHAPE, SQUARE_100, TWO_SQUARES_ONE_HOLED, day_track, metric_grid
from shapely.geometry import Polygon

from geoverify.measures.coverage import coverage_ratio
from geoverify.patrol.verify import verify_patrol

# Irregular grid a few hundred metres across, like a real one.
PENTAGON = Polygon([(0, 0), (420, -30), (480, 260), (210, 400), (-40, 230)])


def exact_ratio(grid_geom, xy, buffer_m=30.0):
    path = shapely.LineString(xy) if len(xy) > 1 else shapely.Point(xy[0])
    covered = grid_geom.intersection(path.buffer(buffer_m, quad_segs=64))
    return covered.area / grid_geom.area


def random_walk(rng, start, n, step, box):
    xy = [np.asarray(start, float)]
    heading = rng.uniform(0, 2 * np.pi)
    for _ in range(n - 1):
        heading += rng.normal(0, 0.6)
        nxt = xy[-1] + step * np.array([np.cos(heading), np.sin(heading)])
        nxt = np.clip(nxt, box[0], box[1])
        xy.append(nxt)
    return np.array(xy)


@pytest.mark.parametrize(
    "geom",
    [SQUARE_100, L_SHAPE, TWO_SQUARES_ONE_HOLED, PENTAGON, shapely.affinity.scale(L_SHAPE, 5, 5)],
    ids=["square", "L", "multi-hole", "pentagon", "L-500m"],
)
@pytest.mark.parametrize("seed", range(6))
def test_raster_coverage_within_001_of_exact(geom, seed):
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = geom.bounds
    n = int(rng.integers(2, 400))
    xy = random_walk(
        rng,
        rng.uniform([minx, miny], [maxx, maxy]),
        n,
        rng.uniform(3, 20),
        ((minx - 60, miny - 60), (maxx + 60, maxy + 60)),
    )
    grid = metric_grid(geom)
    ratio = coverage_ratio(grid, xy[:-1, 0], xy[:-1, 1], xy[1:, 0], xy[1:, 1], 30.0)
    assert ratio == pytest.approx(exact_ratio(grid.geometry, xy), abs=0.01)


def test_single_point_covers_a_disc():
    grid = metric_grid(PENTAGON)
    x = np.array([200.0])
    y = np.array([200.0])
    ratio = coverage_ratio(grid, x, y, x, y, 30.0)
    assert ratio == pytest.approx(np.pi * 900 / PENTAGON.area, abs=0.002)


def test_empty_path_covers_nothing(square_grid):
    empty = np.zeros(0)
    assert coverage_ratio(square_grid, empty, empty, empty, empty, 30.0) == 0.0


def test_path_just_outside_the_grid_covers_its_edge(rules):
    # A walk 10 m outside the square's left edge covers a 20 m strip inside: 20 %.
    grid = metric_grid(SQUARE_100)
    track = day_track([(-10, -200), (-10, 300)], [0, 250])
    patrol = verify_patrol(grid, track, rules)
    assert patrol.in_grid_s == 0
    assert patrol.coverage["area_ratio"] == pytest.approx(0.2, abs=0.01)


def test_gaps_and_teleports_do_not_cover(rules):
    grid = metric_grid(SQUARE_100)
    # The only segment crossing the square is a gap (400 s): nothing covered.
    track = day_track([(-50, 50), (150, 50)], [0, 400])
    assert verify_patrol(grid, track, rules).coverage["area_ratio"] == 0.0


def exact_segments_ratio(grid_geom, x0, y0, x1, y1, buffer_m=30.0):
    """GEOS: the grid's share within buffer_m of a set of (possibly disjoint) segments."""
    segs = shapely.linestrings(np.stack([np.column_stack([x0, y0]), np.column_stack([x1, y1])], axis=1))
    return grid_geom.intersection(shapely.union_all(shapely.buffer(segs, buffer_m, quad_segs=64))).area / grid_geom.area


@pytest.mark.parametrize("heading", [0, 90, 45, 30, 1e-7, 89.9999999])
def test_straight_line_covers_its_strip(heading):
    # A straight line through the square's centre at any heading (horizontal, vertical and
    # near-axis ones included, where the rectangle's sides are parallel to rows or columns).
    grid = metric_grid(SQUARE_100)
    h = np.radians(heading)
    ends = np.array([50, 50]) + np.outer([-200, 200], [np.cos(h), np.sin(h)])
    xy = np.array([ends[0], ends[0] + (ends[1] - ends[0]) * 0.3, ends[1]])
    ratio = coverage_ratio(grid, xy[:-1, 0], xy[:-1, 1], xy[1:, 0], xy[1:, 1], 30.0)
    assert ratio == pytest.approx(exact_ratio(grid.geometry, xy), abs=0.01)
    if heading == 0:
        assert ratio == pytest.approx(0.6, abs=0.01)  # the strip 20 <= y <= 80


def test_disjoint_pieces_each_cover_their_buffer():
    # Counted segments need not join (a gap between them is left out): both pieces' ends count.
    grid = metric_grid(PENTAGON)
    x0, y0 = np.array([50.0, 300.0]), np.array([50.0, 200.0])
    x1, y1 = np.array([90.0, 300.0]), np.array([60.0, 260.0])
    ratio = coverage_ratio(grid, x0, y0, x1, y1, 30.0)
    assert ratio == pytest.approx(exact_segments_ratio(grid.geometry, x0, y0, x1, y1), abs=0.01)


@pytest.mark.parametrize("seed", range(3))
def test_simulated_patrol_day_within_001_of_exact(seed):
    # A whole simulated day (8 h at 10 s, GPS noise) in a 400 m grid, as the benchmark runs it.
    from geoverify.simulation.simulate import honest_patrol

    grid = metric_grid(shapely.affinity.scale(PENTAGON, 0.9, 0.9))
    fixes = honest_patrol(grid.geometry_wgs84, "M1", "2026-11-02", seed)
    x, y = grid.projection.forward(fixes["lon"].to_numpy(), fixes["lat"].to_numpy())
    assert len(x) > 1000
    ratio = coverage_ratio(grid, x[:-1], y[:-1], x[1:], y[1:], 30.0)
    assert ratio == pytest.approx(exact_segments_ratio(grid.geometry, x[:-1], y[:-1], x[1:], y[1:]), abs=0.01)


@pytest.mark.parametrize(
    "geom",
    [SQUARE_100, L_SHAPE, TWO_SQUARES_ONE_HOLED, PENTAGON, shapely.affinity.rotate(PENTAGON, 17)],
    ids=["square", "L", "multi-hole", "pentagon", "rotated"],
)
def test_centres_inside_the_grid_match_geos(geom):
    # The row-crossing fill marks exactly the centres GEOS finds inside (holes excluded).
    from geoverify.measures.coverage import coverage_raster

    grid = metric_grid(geom)
    cover = coverage_raster(grid)
    xs = cover.x0 + (np.arange(cover.nx) + 0.5) * cover.column_m
    ys = cover.y0 + (np.arange(cover.ny) + 0.5) * cover.row_m
    expected = shapely.intersects_xy(grid.geometry, *np.meshgrid(xs, ys))
    assert np.array_equal(cover.in_grid, expected)
    assert cover.cell_count * cover.row_m * cover.column_m == pytest.approx(grid.area_m2, rel=0.02)
