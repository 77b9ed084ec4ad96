"""Tests for geoverify.geo.chinacrs: WGS-84 / GCJ-02 / BD-09 conversions."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from pyproj import Geod

from geoverify.errors import InputError
from geoverify.geo import chinacrs_series
from geoverify.geo.chinacrs import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    from_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

GEOD = Geod(ellps="WGS84")

ALL_FUNCS = [wgs84_to_gcj02, gcj02_to_wgs84, gcj02_to_bd09, bd09_to_gcj02, wgs84_to_bd09, bd09_to_wgs84]

# Far outside the customary GCJ-02 box (lon 72.004..137.8347, lat 0.8293..55.8271).
OUTSIDE = {
    "London": (-0.1276, 51.5072),
    "New York": (-74.0060, 40.7128),
    "Sydney": (151.2093, -33.8688),
    "Moscow": (37.6173, 55.7558),
    "Null Island": (0.0, 0.0),
}

BEIJING = (116.397, 39.909)  # Tiananmen, central Beijing


def metres(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Geodesic distance in metres between two (lon, lat) point arrays."""
    return GEOD.inv(np.ravel(a[0]), np.ravel(a[1]), np.ravel(b[0]), np.ravel(b[1]))[2]


@pytest.fixture(scope="module")
def china_points() -> tuple[np.ndarray, np.ndarray]:
    """A jittered 0.1-degree lattice over 73..135 E, 18..53 N (about 218,000 points)."""
    lon, lat = np.meshgrid(np.arange(73.0, 135.0001, 0.1), np.arange(18.0, 53.0001, 0.1))
    rng = np.random.default_rng(20240601)
    lon = lon + rng.uniform(-0.05, 0.05, lon.shape)
    lat = lat + rng.uniform(-0.05, 0.05, lat.shape)
    return lon.ravel(), lat.ravel()


# --------------------------------------------------------------------------- reference


def _published_gcj02(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The GCJ-02 forward formula written out literally (one sine per term)."""
    a, ee, pi = 6378245.0, 0.00669342162296594323, math.pi
    x, y = lon - 105.0, lat - 35.0
    t_lat = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
        + (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    )
    t_lon = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
        + (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    )
    rad = lat / 180.0 * pi
    magic = 1.0 - ee * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (t_lat * 180.0) / ((a * (1.0 - ee)) / (magic * sqrt_magic) * pi)
    dlon = (t_lon * 180.0) / (a / sqrt_magic * np.cos(rad) * pi)
    return lon + dlon, lat + dlat


def _published_bd09(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The GCJ-02 -> BD-09 formula written out literally (with atan2)."""
    x_pi = math.pi * 3000.0 / 180.0
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * x_pi)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * x_pi)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def test_forward_matches_literal_published_formulas(china_points):
    lon, lat = china_points
    glon, glat = wgs84_to_gcj02(lon, lat)
    rlon, rlat = _published_gcj02(lon, lat)
    # The module derives the sines by multiple-angle identities; only rounding may differ.
    assert np.max(np.abs(glon - rlon)) < 1e-12
    assert np.max(np.abs(glat - rlat)) < 1e-12
    blon, blat = gcj02_to_bd09(lon, lat)
    rlon, rlat = _published_bd09(lon, lat)
    assert np.max(np.abs(blon - rlon)) < 1e-12
    assert np.max(np.abs(blat - rlat)) < 1e-12


def test_bd09_origin_matches_published_formula():
    # atan2(0, 0) = 0 in the published formula, so the origin maps to the bare offsets.
    lon, lat = gcj02_to_bd09(0.0, 0.0)
    assert (float(lon), float(lat)) == (0.0065, 0.006)


# --------------------------------------------------------------------------- round trips

# Required: better than 0.5 m. The iterated inverses reach about 1e-6 m; the tighter bound
# guards against the iteration silently degrading to the one-step approximations.
REQUIRED_M = 0.5
ACHIEVED_M = 1e-5


@pytest.mark.parametrize(
    ("forward", "inverse"),
    [
        (wgs84_to_gcj02, gcj02_to_wgs84),
        (gcj02_to_wgs84, wgs84_to_gcj02),
        (gcj02_to_bd09, bd09_to_gcj02),
        (bd09_to_gcj02, gcj02_to_bd09),
        (wgs84_to_bd09, bd09_to_wgs84),
        (bd09_to_wgs84, wgs84_to_bd09),
    ],
    ids=lambda f: f.__name__,
)
def test_round_trip_across_china(china_points, forward, inverse):
    lon, lat = china_points
    err = metres(inverse(*forward(lon, lat)), (lon, lat))
    assert err.max() < REQUIRED_M
    assert err.max() < ACHIEVED_M


def test_closed_form_bd_inverse_alone_is_only_approximate(china_points):
    # Documents why bd09_to_gcj02 iterates: the published closed form is off by decimetres.
    lon, lat = china_points
    approx = chinacrs_series._bd_inverse_approx(*gcj02_to_bd09(lon, lat))
    assert metres(approx, (lon, lat)).max() > 0.01


def test_to_and_from_wgs84_round_trip(china_points):
    lon, lat = china_points
    for crs in ("gcj02", "bd09", "wgs84"):
        err = metres(to_wgs84(*from_wgs84(lon, lat, crs), crs), (lon, lat))
        assert err.max() < ACHIEVED_M, crs


# --------------------------------------------------------------------------- offsets


def test_beijing_gcj02_offset():
    # The formula moves Tiananmen by 556.1 m (0.00624 deg E, 0.00140 deg N); the GCJ-02
    # offset is a few hundred metres throughout eastern China.
    d = metres(wgs84_to_gcj02(*BEIJING), BEIJING)[0]
    assert 100 < d < 700
    assert 545 < d < 570
    glon, glat = wgs84_to_gcj02(*BEIJING)
    assert float(glon) > BEIJING[0] and float(glat) > BEIJING[1]


def test_beijing_bd09_offset():
    # BD-09 adds roughly another 0.0065 / 0.006 deg: 1379.5 m from WGS-84 in total.
    d = metres(wgs84_to_bd09(*BEIJING), BEIJING)[0]
    assert 1300 < d < 1450


def test_gcj02_offset_is_bounded_over_china(china_points):
    lon, lat = china_points
    d = metres(wgs84_to_gcj02(lon, lat), (lon, lat))
    assert d.min() > 0 and d.max() < 1000


# --------------------------------------------------------------------------- outside China


@pytest.mark.parametrize("name", list(OUTSIDE))
def test_gcj02_outside_china_unchanged_bit_for_bit(name):
    lon, lat = OUTSIDE[name]
    src = (np.array([lon]), np.array([lat]))
    for out in (wgs84_to_gcj02(*src), gcj02_to_wgs84(*src), to_wgs84(*src, "gcj02"), from_wgs84(*src, "GCJ02")):
        assert out[0].tobytes() == src[0].tobytes()
        assert out[1].tobytes() == src[1].tobytes()


def test_bd09_outside_china_unchanged_bit_for_bit():
    # The Baidu formula alone shifts every point; WGS-84 <-> BD-09 passes points outside China.
    lon = np.array([v[0] for v in OUTSIDE.values()])
    lat = np.array([v[1] for v in OUTSIDE.values()])
    for out in (
        wgs84_to_bd09(lon, lat),
        bd09_to_wgs84(lon, lat),
        to_wgs84(lon, lat, "bd09"),
        from_wgs84(lon, lat, "bd09"),
    ):
        assert out[0].tobytes() == lon.tobytes() and out[1].tobytes() == lat.tobytes()
    assert not np.array_equal(gcj02_to_bd09(lon, lat)[0], lon)


def test_china_box_edges():
    # Just outside the box: unchanged; just inside: shifted.
    lon = np.array([72.0039, 137.8348, 100.0, 100.0, 72.0041, 137.8346, 100.0, 100.0])
    lat = np.array([30.0, 30.0, 0.8292, 55.8272, 30.0, 30.0, 0.8294, 55.8270])
    glon, glat = wgs84_to_gcj02(lon, lat)
    unchanged = (glon == lon) & (glat == lat)
    assert unchanged.tolist() == [True] * 4 + [False] * 4


# --------------------------------------------------------------------------- NaN, input types


@pytest.mark.parametrize("func", ALL_FUNCS, ids=lambda f: f.__name__)
def test_nan_passthrough_without_warnings(func):
    lon = np.array([116.397, np.nan, 116.397, np.nan, 121.47])
    lat = np.array([39.909, 39.909, np.nan, np.nan, 31.23])
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        out_lon, out_lat = func(lon, lat)
    np.testing.assert_array_equal(np.isnan(out_lon), np.isnan(lon))
    np.testing.assert_array_equal(np.isnan(out_lat), np.isnan(lat))
    # The non-NaN coordinate of a half-NaN point is left as it was; valid points convert
    # exactly as they would on their own.
    assert out_lat[1] == 39.909 and out_lon[2] == 116.397
    for i in (0, 4):
        single = func(lon[i], lat[i])
        assert (out_lon[i], out_lat[i]) == (float(single[0]), float(single[1]))


def test_nan_passthrough_in_to_and_from_wgs84():
    lon = np.array([np.nan, 116.397, np.nan])
    lat = np.array([np.nan, 39.909, 31.0])
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        for conv in (to_wgs84, from_wgs84):
            for crs in ("gcj02", "bd09", ["bd09", "gcj02", "gcj02"]):
                out_lon, out_lat = conv(lon, lat, crs)
                assert np.isnan(out_lon[[0, 2]]).all() and np.isnan(out_lat[0])
                assert np.isfinite([out_lon[1], out_lat[1], out_lat[2]]).all()


def test_infinite_points_pass_unchanged():
    lon = np.array([np.inf, 116.4])
    lat = np.array([39.9, -np.inf])
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        for func in ALL_FUNCS:
            out = func(lon, lat)
            np.testing.assert_array_equal(out[0], lon)
            np.testing.assert_array_equal(out[1], lat)


def test_scalar_list_and_array_inputs():
    s = wgs84_to_gcj02(*BEIJING)
    assert all(isinstance(v, np.ndarray) and v.shape == () and v.dtype == np.float64 for v in s)
    lst = wgs84_to_gcj02([BEIJING[0]], [BEIJING[1]])
    assert lst[0].shape == (1,) and lst[0].dtype == np.float64
    assert float(lst[0][0]) == float(s[0]) and float(lst[1][0]) == float(s[1])
    ints = gcj02_to_wgs84(np.array([116, 121]), np.array([40, 31]))
    assert ints[0].dtype == np.float64
    # Shapes broadcast and are preserved.
    grid = wgs84_to_bd09(np.array([[116.3], [116.5]]), np.array([39.8, 39.9, 40.0]))
    assert grid[0].shape == grid[1].shape == (2, 3)


def test_inputs_not_modified():
    lon = np.array([116.397, 121.47])
    lat = np.array([39.909, 31.23])
    before = (lon.copy(), lat.copy())
    for func in ALL_FUNCS:
        func(lon, lat)
    to_wgs84(lon, lat, ["gcj02", "bd09"])
    np.testing.assert_array_equal(lon, before[0])
    np.testing.assert_array_equal(lat, before[1])


def test_non_numeric_or_mismatched_input_raises():
    with pytest.raises(InputError, match="numeric"):
        wgs84_to_gcj02(["east"], [39.9])
    with pytest.raises(InputError, match="shapes"):
        wgs84_to_gcj02([116.0, 117.0, 118.0], [39.0, 40.0])


def test_large_block_boundaries_match_small_calls():
    # More points than one internal block, with out-of-China and NaN points interleaved.
    n = chinacrs_series._BLOCK * 2 + 123
    rng = np.random.default_rng(7)
    lon = rng.uniform(60, 150, n)
    lat = rng.uniform(-5, 60, n)
    lon[::97] = np.nan
    for func in (wgs84_to_gcj02, gcj02_to_wgs84, bd09_to_wgs84):
        big = func(lon, lat)
        idx = rng.choice(n, 300, replace=False)
        small = func(lon[idx], lat[idx])
        np.testing.assert_array_equal(big[0][idx], small[0])
        np.testing.assert_array_equal(big[1][idx], small[1])


# --------------------------------------------------------------------------- crs names


def test_crs_names_are_case_insensitive():
    a = to_wgs84(*BEIJING, "gcj02")
    b = to_wgs84(*BEIJING, "GCJ02")
    c = to_wgs84(*BEIJING, " Gcj02 ")
    assert float(a[0]) == float(b[0]) == float(c[0])
    w = to_wgs84(*BEIJING, "WGS84")
    assert (float(w[0]), float(w[1])) == BEIJING


def test_per_point_crs_array():
    lon = np.array([116.40, 116.41, 121.47, 113.26, -0.1276, np.nan])
    lat = np.array([39.90, 39.91, 31.23, 23.13, 51.5072, 30.0])
    crs = np.array(["gcj02", "BD09", "wgs84", "bd09", "gcj02", "gcj02"])
    out_lon, out_lat = to_wgs84(lon, lat, crs)
    expected = {
        0: gcj02_to_wgs84(lon[0], lat[0]),
        1: bd09_to_wgs84(lon[1], lat[1]),
        2: (lon[2], lat[2]),
        3: bd09_to_wgs84(lon[3], lat[3]),
        4: (lon[4], lat[4]),  # London: GCJ-02 leaves it alone
    }
    for i, (elon, elat) in expected.items():
        assert (out_lon[i], out_lat[i]) == (float(elon), float(elat)), i
    assert np.isnan(out_lon[5]) and out_lat[5] == 30.0

    # A plain list (and an object array, as from pandas) work the same way.
    for names in (crs.tolist(), crs.astype(object)):
        again = to_wgs84(lon, lat, names)
        np.testing.assert_array_equal(again[0], out_lon)
        np.testing.assert_array_equal(again[1], out_lat)

    # from_wgs84 is the reverse, point by point.
    back = from_wgs84(out_lon, out_lat, crs)
    ok = np.isfinite(lon)
    assert metres((back[0][ok], back[1][ok]), (lon[ok], lat[ok])).max() < ACHIEVED_M


def test_per_point_crs_array_large(china_points):
    lon, lat = china_points
    rng = np.random.default_rng(3)
    crs = np.array(["wgs84", "gcj02", "bd09"])[rng.integers(0, 3, lon.size)]
    out = to_wgs84(lon, lat, crs)
    for name in ("wgs84", "gcj02", "bd09"):
        sel = crs == name
        exp = to_wgs84(lon[sel], lat[sel], name)
        np.testing.assert_array_equal(out[0][sel], exp[0])
        np.testing.assert_array_equal(out[1][sel], exp[1])


def test_per_point_crs_shape_mismatch_raises():
    with pytest.raises(InputError, match="does not match"):
        to_wgs84([116.4, 116.5], [39.9, 39.9], ["gcj02", "bd09", "wgs84"])


@pytest.mark.parametrize("bad", ["utm", "", "gcj-02", "EPSG:4326"])
def test_unknown_crs_raises_input_error(bad):
    pattern = r"unknown coordinate system .*expected one of 'wgs84', 'gcj02', 'bd09'"
    with pytest.raises(InputError, match=pattern):
        to_wgs84(116.4, 39.9, bad)
    with pytest.raises(InputError, match=pattern):
        from_wgs84(116.4, 39.9, bad)
    with pytest.raises(InputError, match=pattern):
        to_wgs84([116.4, 116.5], [39.9, 39.9], ["gcj02", bad])


def test_unknown_crs_non_string_raises():
    with pytest.raises(InputError, match="unknown coordinate system"):
        to_wgs84(116.4, 39.9, None)
    with pytest.raises(InputError, match="unknown coordinate system"):
        to_wgs84([116.4, 116.5], [39.9, 39.9], ["gcj02", None])
    assert issubclass(InputError, ValueError)
