"""Grid reader: formats, CRS handling, members, repair of invalid polygons."""

import json

import geopandas as gpd
import pytest
import shapely
from conftest import SQUARE_100, SQUARE_WITH_HOLE, to_lonlat
from pyproj import Transformer
from shapely.geometry import Polygon, mapping

from geoverify.errors import GeoverifyWarning, GridGeometryError, InputError
from geoverify.geo.chinacrs import from_wgs84
from geoverify.io import read_grids


def feature(geom, **props):
    return {"type": "Feature", "geometry": mapping(geom), "properties": props}


def write_fc(path, features, **extra):
    path.write_text(json.dumps({"type": "FeatureCollection", **extra, "features": features}))
    return path


def test_geojson_with_members_list_and_types(tmp_path):
    path = write_fc(
        tmp_path / "g.geojson",
        [
            feature(to_lonlat(SQUARE_100), grid_id="G1", name="东四第一网格", grid_type="urban", members=["M1", "M2"]),
            feature(to_lonlat(SQUARE_WITH_HOLE), grid_id="G2", members="M3, M4"),
        ],
    )
    g1, g2 = read_grids(path)
    assert (g1.grid_id, g1.name, g1.grid_type, g1.members) == ("G1", "东四第一网格", "urban", ("M1", "M2"))
    assert g2.members == ("M3", "M4")
    assert g1.area_m2 == pytest.approx(10_000, rel=1e-6)
    assert g2.area_m2 == pytest.approx(10_000 - 400, rel=1e-6)


@pytest.mark.parametrize("driver, suffix", [("GPKG", ".gpkg"), ("ESRI Shapefile", ".shp")])
def test_geopackage_and_shapefile(tmp_path, driver, suffix):
    frame = gpd.GeoDataFrame(
        {"grid_id": ["G1"], "members": ['["M1","M2"]']}, geometry=[to_lonlat(SQUARE_WITH_HOLE)], crs=4326
    )
    path = tmp_path / f"grids{suffix}"
    frame.to_file(path, driver=driver)
    (grid,) = read_grids(path)
    assert grid.members == ("M1", "M2")
    assert grid.area_m2 == pytest.approx(9_600, rel=1e-5)


def test_legacy_crs_member_naming_a_projected_crs_is_reprojected(tmp_path):
    # The same square written in UTM zone 50N metres with a legacy "crs" member.
    to_utm = Transformer.from_crs(4326, 32650, always_xy=True)
    lonlat = to_lonlat(SQUARE_100)
    utm = shapely.transform(lonlat, lambda xy: __import__("numpy").column_stack(to_utm.transform(xy[:, 0], xy[:, 1])))
    path = write_fc(
        tmp_path / "utm.geojson",
        [feature(utm, grid_id="G1")],
        crs={"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32650"}},
    )
    (grid,) = read_grids(path)
    assert grid.geometry_wgs84.bounds == pytest.approx(lonlat.bounds, abs=1e-7)
    assert grid.area_m2 == pytest.approx(10_000, rel=1e-4)


def test_projected_coordinates_without_crs_are_an_error(tmp_path):
    path = write_fc(
        tmp_path / "noCrs.geojson",
        [feature(Polygon([(954219, 4442967), (955000, 4442967), (955000, 4443500)]), grid_id="G1")],
    )
    with pytest.raises(InputError, match="not longitude/latitude"):
        read_grids(path)


def test_gcj02_grid_file_is_converted(tmp_path):
    lonlat = to_lonlat(SQUARE_100)
    gcj = shapely.transform(
        lonlat, lambda xy: __import__("numpy").column_stack(from_wgs84(xy[:, 0], xy[:, 1], "gcj02"))
    )
    path = write_fc(tmp_path / "gcj.geojson", [feature(gcj, grid_id="G1")], coordinate_system="gcj02")
    (grid,) = read_grids(path)
    assert grid.geometry_wgs84.bounds == pytest.approx(lonlat.bounds, abs=1e-8)


def test_small_repair_warns_with_grid_and_area_change(tmp_path):
    # A square with a tiny self-intersecting spike at one corner: make_valid drops a sliver.
    spiky = Polygon([(0, 0), (100, 0), (100, 100), (0, 100), (0, 50), (-0.5, 50.2), (0.5, 50.4), (0, 50.6)])
    path = write_fc(tmp_path / "g.geojson", [feature(to_lonlat(spiky), grid_id="DC-09")])
    with pytest.warns(GeoverifyWarning, match=r"grid 'DC-09' was invalid .*area changed by"):
        (grid,) = read_grids(path)
    assert grid.geometry_wgs84.is_valid
    assert grid.area_m2 == pytest.approx(10_000, rel=0.01)


def test_bow_tie_repair_changing_area_is_an_error(tmp_path):
    bow_tie = Polygon([(0, 0), (100, 100), (100, 0), (0, 100)])
    path = write_fc(tmp_path / "g.geojson", [feature(to_lonlat(bow_tie), grid_id="G-bow")])
    with pytest.raises(GridGeometryError, match=r"feature 1: grid 'G-bow' is invalid .*over 1%"):
        read_grids(path)


def test_missing_and_repeated_grid_ids(tmp_path):
    path = write_fc(tmp_path / "g.geojson", [feature(to_lonlat(SQUARE_100), name="x")])
    with pytest.raises(InputError, match="lacks a 'grid_id' property"):
        read_grids(path)
    path = write_fc(
        tmp_path / "h.geojson",
        [feature(to_lonlat(SQUARE_100), grid_id="A"), feature(to_lonlat(SQUARE_100), grid_id="A")],
    )
    with pytest.raises(InputError, match=r"feature 2: grid_id 'A' repeats feature 1"):
        read_grids(path)


def test_non_polygon_grid_is_an_error(tmp_path):
    path = write_fc(tmp_path / "g.geojson", [feature(shapely.Point(116.4, 39.9), grid_id="P")])
    with pytest.raises(GridGeometryError, match="grid 'P' is a Point"):
        read_grids(path)
