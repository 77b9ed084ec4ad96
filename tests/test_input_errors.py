"""Input mistakes and hostile inputs to the readers and the command line (issue #13).

A newcomer's mistakes (a CSV given as grids, an empty tracks folder, lon and lat swapped) get a
message naming the file and what to do; inputs whose cost would not be bounded by their size (a
50,000-column CSV header, JSON nested 50,000 deep, a property name of its own in every GeoJSON
feature, a heat map of millions of cells) are refused naming the limit, or read at a bounded cost.
"""

from __future__ import annotations

import json
import re
import sqlite3
import warnings
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely
import shapely.affinity
from click.testing import CliRunner
from conftest import SQUARE_100, to_lonlat
from shapely.geometry import mapping

from geoverify.errors import HeatmapTooFine, InputError, JsonTooDeep, UploadTooLarge
from geoverify.io import read_events, read_grids, read_sites, read_track_file
from geoverify.io.csv_points import read_csv_in_blocks
from geoverify.io.jsondepth import check_json_depth, depth_within
from geoverify.io.point_files import geojson_points_table, read_parquet_in_blocks, read_point_table
from geoverify.io.tracks import TRACK_SUFFIXES, track_files
from geoverify.measures.heatmap import smallest_cell_m, time_per_cell
from geoverify.settings import MAX_CSV_HEADER_BYTES, MAX_JSON_DEPTH, MAX_TABLE_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
GRIDS = ROOT / "grids" / "dongcheng_sample.geojson"
HONEST = ROOT / "sample_tracks" / "honest_M001.csv"
NOW = "2026-11-03T00:00:00+08:00"
GRID_FORMATS = "grids are read from GeoJSON (.geojson, .json), GeoPackage (.gpkg) or Shapefile"
FORMATS_RE = re.escape(GRID_FORMATS)
READERS = {"track": read_track_file, "event": read_events, "site": read_sites}


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def run(args: list[str], env: dict | None = None):
    """``geoverify …`` in this process (exceptions other than the CLI's own are raised)."""
    from geoverify.cli.main import main

    return CliRunner().invoke(main, args, env=env, catch_exceptions=False)


# --------------------------------------------------------------------------- wide CSV headers


def wide_csv(path: Path, columns: int, named: bool) -> Path:
    extra = [f"c{i}" if named else "" for i in range(4, columns)]
    header = ",".join(["member_id", "time", "lon", "lat", *extra])
    row = "M001,2026-11-02T08:00:00+08:00,116.41,39.94" + "," * (columns - 4)
    return write(path, f"{header}\n{row}\n")


@pytest.mark.parametrize("kind", READERS)
def test_csv_header_of_50000_columns_is_refused_naming_the_limit(tmp_path, kind):
    path = wide_csv(tmp_path / "wide.csv", 50_000, named=False)
    with pytest.raises(
        InputError,
        match=rf"wide.csv, line 1: the header has 50000 columns; at most "
        rf"{MAX_TABLE_COLUMNS} are read",
    ):
        READERS[kind](path)


@pytest.mark.parametrize("kind", READERS)
def test_csv_header_longer_than_the_limit_is_refused(tmp_path, kind):
    path = wide_csv(tmp_path / "wide.csv", 50_000, named=True)  # 390 KiB of header
    with pytest.raises(
        InputError,
        match=rf"line 1: the header \(the first line\) is longer than "
        rf"{MAX_CSV_HEADER_BYTES} bytes, the limit",
    ):
        READERS[kind](path)


def test_csv_header_at_the_column_limit_is_read(tmp_path):
    fixes = read_track_file(wide_csv(tmp_path / "wide.csv", MAX_TABLE_COLUMNS, named=True))
    assert len(fixes) == 1 and fixes["lon"].iloc[0] == 116.41


def test_missing_column_message_shows_a_bounded_list(tmp_path):
    header = ",".join(["member_id", "time", "lon", *[f"c{i}" for i in range(500)]])
    with pytest.raises(
        InputError,
        match=r"lacks required column\(s\) lat \(found: member_id, time, lon, c0, .*"
        r"c16 … \(503 in all\)\)",
    ):
        read_track_file(write(tmp_path / "t.csv", header + "\n"))


# --------------------------------------------------------------------------- GeoJSON


def test_geojson_features_with_a_property_name_each_give_no_columns_of_their_own():
    """5,000 features with a property of their own would be a 5,000 × 5,000 table of cells."""
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [116.41, 39.94]},
            "properties": {"member_id": "M001", "time": f"2026-11-02T08:00:{i % 60:02d}Z", f"p{i}": i},
        }
        for i in range(5000)
    ]
    table = geojson_points_table({"type": "FeatureCollection", "features": features}, "t.geojson", "track")
    assert sorted(table.frame.columns) == ["lat", "lon", "member_id", "time"]
    assert len(table.frame) == 5000
    assert table.other_columns[:3] == ["p0", "p1", "p2"] and len(table.other_columns) == 20


def test_geojson_missing_column_message_names_properties_not_read(tmp_path):
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"member_id": "M001", "Zeit": "2026-11-02T08:00:00Z"},
                "geometry": {"type": "Point", "coordinates": [1, 2]},
            }
        ],
    }
    with pytest.raises(InputError, match=r"lacks required column\(s\) time \(found: member_id, lon, lat, Zeit\)"):
        read_track_file(write(tmp_path / "t.geojson", json.dumps(doc)))


@pytest.mark.parametrize("kind", READERS)
def test_geojson_points_nested_50000_levels_are_refused_naming_the_limit(tmp_path, kind):
    path = write(
        tmp_path / "deep.geojson", b'{"type": "FeatureCollection", "features": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    )
    with pytest.raises(
        JsonTooDeep,
        match=rf"deep.geojson: the JSON nests arrays and objects more than "
        rf"{MAX_JSON_DEPTH} levels deep",
    ):
        READERS[kind](path)


def test_grid_geojson_nested_50000_levels_is_refused_naming_the_limit(tmp_path):
    path = write(
        tmp_path / "deep.geojson",
        b'{"type": "FeatureCollection", "features": [{"type": "Feature", '
        b'"properties": {"grid_id": "G1", "x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}}]}",
    )
    with pytest.raises(JsonTooDeep, match=rf"more than {MAX_JSON_DEPTH} levels deep"):
        read_grids(path)


@pytest.mark.parametrize(
    "text, depth",
    [
        ('{"a": [[1, "]]]]"]]}', 3),  # brackets in strings are text
        ('["\\"[[[[", ["\\\\"], [[]]]', 3),  # escaped quotes, an escaped backslash before a quote
        ('"[[[[[["', 0),
        ("[" * 64 + "]" * 64, 64),
        ('{"k": {"k": {"k": [{"k": []}]}}}', 6),
    ],
)
def test_json_depth_is_counted_outside_strings(text, depth):
    data = text.encode()
    assert depth_within([data], limit=depth)
    assert depth == 0 or not depth_within([data], limit=depth - 1)
    # The same in pieces of one byte (state carried between chunks, a backslash run across them).
    assert depth_within([data[i : i + 1] for i in range(len(data))], limit=depth)
    assert depth == 0 or not depth_within([data[i : i + 1] for i in range(len(data))], limit=depth - 1)


def test_json_depth_of_utf16_text():
    check_json_depth(json.dumps({"a": [[1]]}).encode("utf-16"))
    with pytest.raises(JsonTooDeep):
        check_json_depth(("[" * 65 + "]" * 65).encode("utf-16"))


# --------------------------------------------------------------------------- Parquet


def test_parquet_columns_the_readers_do_not_know_are_not_read(tmp_path):
    columns = {"member_id": ["M001"], "time": ["2026-11-02T08:00:00+08:00"], "lon": [116.41], "lat": [39.94]}
    columns.update({f"c{i}": [None] for i in range(3000)})
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table(columns), path)
    table = read_point_table(path, "track")
    assert sorted(table.frame.columns) == ["lat", "lon", "member_id", "time"]
    assert len(read_track_file(path)) == 1


# --------------------------------------------------------------------------- grid files


def test_csv_given_as_grids_names_the_grid_formats(tmp_path):
    path = write(tmp_path / "grids.csv", "grid_id,name\nG1,one\n")
    with pytest.raises(InputError, match=rf"grids.csv: a .csv file is not a grid format; {FORMATS_RE}"):
        read_grids(path)


@pytest.mark.parametrize("name", ["grids.kml", "grids.txt", "grids"])
def test_unsupported_grid_format_is_named(tmp_path, name):
    path = write(tmp_path / name, "<kml></kml>")
    with pytest.raises(InputError, match=rf"is not a grid format; {FORMATS_RE}") as info:
        read_grids(path)
    assert "DRIVER" not in str(info.value) and "recognized" not in str(info.value)


def _sqlite(path: Path, *statements: str) -> Path:
    conn = sqlite3.connect(path)
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()
    return path


@pytest.mark.parametrize("case", ["random", "sqlite-not-geopackage", "truncated-sqlite", "half-a-geopackage"])
def test_garbage_geopackage_is_named_in_plain_words(tmp_path, case):
    path = tmp_path / "grids.gpkg"
    if case == "random":
        write(path, bytes(range(256)) * 40)
    elif case == "sqlite-not-geopackage":
        _sqlite(path, "CREATE TABLE t (a)")
    elif case == "truncated-sqlite":
        write(path, b"SQLite format 3\x00" + b"\x00" * 200)
    else:
        good = tmp_path / "good.gpkg"
        gpd.GeoDataFrame({"grid_id": ["G1"]}, geometry=[to_lonlat(SQUARE_100)], crs=4326).to_file(good)
        write(path, good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(InputError, match=rf"grids.gpkg: is not a GeoPackage, or a damaged one .*{FORMATS_RE}") as info:
        read_grids(path)
    for internal in ("sqlite3_", "SELECT", "sqlite_master", "gpkg_"):
        assert internal not in str(info.value)


@pytest.mark.parametrize(
    "geometry, found", [(shapely.Point(116.4, 39.9), r"points \(Point\)"), (None, r"table \(no geometry\)")]
)
def test_geopackage_without_a_polygon_layer_names_its_layers(tmp_path, geometry, found):
    path = tmp_path / "grids.gpkg"
    if geometry is None:
        import pyogrio

        pyogrio.write_dataframe(pd.DataFrame({"grid_id": ["G1"]}), path, layer="table")
    else:
        gpd.GeoDataFrame({"grid_id": ["G1"]}, geometry=[geometry], crs=4326).to_file(path, layer="points")
    with pytest.raises(InputError, match=rf"grids.gpkg: the GeoPackage holds no polygon layer \(layers: {found}\)"):
        read_grids(path)


def test_geopackage_polygon_layer_is_found_after_other_layers(tmp_path):
    path = tmp_path / "grids.gpkg"
    gpd.GeoDataFrame({"name": ["p"]}, geometry=[shapely.Point(116.4, 39.9)], crs=4326).to_file(path, layer="a_points")
    gpd.GeoDataFrame({"grid_id": ["G1"]}, geometry=[to_lonlat(SQUARE_100)], crs=4326).to_file(path, layer="b_grids")
    (grid,) = read_grids(path)
    assert grid.grid_id == "G1"


# --------------------------------------------------------------------------- the command line: grids


def test_verify_with_csv_grids_exits_2_naming_the_formats(tmp_path):
    grids = write(tmp_path / "grids.csv", "grid_id,name\nG1,one\n")
    result = run(["verify", "--grids", str(grids), "--tracks", str(HONEST), "--now", NOW])
    assert result.exit_code == 2, result.output
    assert f"geoverify: error: {grids}: a .csv file is not a grid format; {GRID_FORMATS}" in result.output
    assert "Traceback" not in result.output


def test_load_grids_from_csv_exits_2_naming_the_formats(tmp_path):
    grids = write(tmp_path / "grids.csv", "grid_id,name\nG1,one\n")
    result = run(["load", "grids", str(grids)], env={"GEOVERIFY_DATABASE_URL": f"sqlite:///{tmp_path / 'g.db'}"})
    assert result.exit_code == 2, result.output
    assert f"a .csv file is not a grid format; {GRID_FORMATS}" in result.output


# --------------------------------------------------------------------------- the command line: tracks folders


@pytest.mark.parametrize("files", [[], ["notes.xlsx", "photo.jpg"]], ids=["empty", "only-unsupported"])
@pytest.mark.parametrize("command", ["verify", "load"])
def test_tracks_folder_without_track_files_exits_2_naming_folder_and_suffixes(tmp_path, files, command):
    folder = tmp_path / "tracks"
    folder.mkdir()
    for name in files:
        write(folder / name, "x")
    if command == "verify":
        result = run(["verify", "--grids", str(GRIDS), "--tracks", str(folder), "--now", NOW])
    else:
        result = run(["load", "tracks", str(folder)], env={"GEOVERIFY_DATABASE_URL": f"sqlite:///{tmp_path / 'g.db'}"})
    assert result.exit_code == 2, result.output
    assert f"geoverify: error: {folder}: the folder holds no track files" in result.output
    assert ", ".join(TRACK_SUFFIXES) in result.output
    if files:
        assert "only 2 file(s) of other types (notes.xlsx, photo.jpg)" in result.output


def test_track_files_of_a_folder_with_tracks_warns_about_the_others(tmp_path):
    write(tmp_path / "M001.csv", HONEST.read_bytes())
    write(tmp_path / "notes.xlsx", "x")
    with pytest.warns(UserWarning, match="skipped 1 file"):
        assert track_files(tmp_path) == [tmp_path / "M001.csv"]


# --------------------------------------------------------------------------- swapped lon/lat


def swapped(path: Path) -> Path:
    """The honest sample with lon and lat exchanged in every row (the header unchanged)."""
    lines = HONEST.read_text(encoding="utf-8").splitlines()
    rows = [line.split(",") for line in lines[1:]]
    return write(path, lines[0] + "\n" + "".join(",".join([r[0], r[1], r[3], r[2], *r[4:]]) + "\n" for r in rows))


def test_swapped_lon_and_lat_are_named_in_the_warnings(tmp_path):
    path = swapped(tmp_path / "M001.csv")
    n = len(HONEST.read_text(encoding="utf-8").splitlines()) - 1
    result = run(["verify", "--grids", str(GRIDS), "--tracks", str(path), "--now", NOW])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    (patrol,) = document["patrols"]
    assert patrol["fixes"]["rejected"]["invalid"] == n and patrol["fixes"]["kept"] == 0  # counted, not dropped
    (hint,) = [w for w in document["warnings"] if "swapped" in w]
    assert hint.startswith(f"{path}: columns lon and lat look swapped: {n} fix(es) have a latitude beyond ±90°")
    assert "line 2: lon=39.9" in hint


def test_a_few_bad_latitudes_are_no_swap(tmp_path):
    lines = HONEST.read_text(encoding="utf-8").splitlines()
    head, first, rest = lines[0], lines[1].split(","), lines[2:]
    first[3] = "999"  # one garbage latitude: invalid, but nothing looks swapped
    path = write(tmp_path / "M001.csv", "\n".join([head, ",".join(first), *rest]) + "\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fixes = read_track_file(path)
    assert not [w for w in caught if "swapped" in str(w.message)]
    assert len(fixes) == len(rest) + 1


# --------------------------------------------------------------------------- heat map cells


def test_heatmap_too_fine_names_the_smallest_cell_for_the_box():
    bounds = (0.0, 0.0, 6000.0, 4000.0)
    with pytest.raises(
        HeatmapTooFine,
        match=r"cell_m=5 m gives 1200 × 800 cells over the grid's box "
        r"\(6000 × 4000 m\); a heat map has at most 1000 cells per side: "
        r"use a cell of at least 6 m",
    ) as info:
        time_per_cell([0.0, 10.0], [0.0, 0.0], [0.0, 10.0], bounds=bounds, cell_m=5)
    assert info.value.smallest_cell_m == smallest_cell_m(bounds) == 6.0
    heat = time_per_cell([0.0, 10.0], [0.0, 0.0], [0.0, 10.0], bounds=bounds, cell_m=6.0)
    assert heat.seconds.shape == (667, 1000)


@pytest.mark.parametrize("extent", [999.95, 1234.5678, 6000.04, 123456.7])
def test_smallest_cell_fits_the_box(extent):
    cell = smallest_cell_m((0.0, 0.0, extent, 1.0))
    heat = time_per_cell([0.0], [0.0], [0.0], bounds=(0.0, 0.0, extent, 1.0), cell_m=cell)
    assert heat.seconds.shape[1] <= 1000
    with pytest.raises(HeatmapTooFine):
        time_per_cell([0.0], [0.0], [0.0], bounds=(0.0, 0.0, extent, 1.0), cell_m=round(cell - 0.1, 1))


# --------------------------------------------------------------------------- fixes per upload


def test_parquet_over_the_fix_limit_is_refused_from_its_metadata_before_reading(tmp_path):
    """A million constant fixes compress to a few kilobytes: refused before one row is read."""
    n = 1_000_000
    path = tmp_path / "bomb.parquet"
    pq.write_table(
        pa.table(
            {
                "member_id": pa.array(["M001"]).take(pa.array([0] * n)),
                "time": pa.array(["2026-11-02T08:00:00+08:00"]).take(pa.array([0] * n)),
                "lon": pa.array([116.41] * n),
                "lat": pa.array([39.94] * n),
            }
        ),
        path,
    )
    assert path.stat().st_size < 100_000
    blocks = []
    with pytest.raises(UploadTooLarge, match=rf"the upload holds {n} fixes; at most 5000 are accepted per request"):
        read_parquet_in_blocks(path, blocks.append, max_rows=5000)
    assert blocks == []
    with pytest.raises(UploadTooLarge):
        read_track_file(path, max_fixes=5000)
    assert len(read_track_file(path, max_fixes=n)) == n


def test_csv_over_the_fix_limit_stops_at_the_first_block_over_it(tmp_path):
    row = "M001,2026-11-02T08:00:00+08:00,116.41,39.94\n"
    path = write(tmp_path / "t.csv", "member_id,time,lon,lat\n" + row * 600_000)  # 27 MB: two blocks
    blocks = []
    with pytest.raises(UploadTooLarge, match=r"the upload holds more than 5000 fixes \(at least \d+\)"):
        read_csv_in_blocks(path, blocks.append, max_rows=5000)
    assert blocks == []
    assert len(read_csv_in_blocks(path, lambda block: len(block.frame), max_rows=600_000)) == 2


@pytest.mark.parametrize("suffix", [".geojson", ".gpx"])
def test_other_track_files_over_the_fix_limit_are_refused(tmp_path, suffix):
    if suffix == ".gpx":
        points = "".join(
            f'<trkpt lat="39.94" lon="116.41"><time>2026-11-02T00:00:{i:02d}Z</time></trkpt>' for i in range(11)
        )
        text = (
            f'<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>{points}</trkseg></trk></gpx>'
        )
    else:
        text = json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": {"type": "Point", "coordinates": [116.41, 39.94]},
                        "properties": {"member_id": "M001", "time": f"2026-11-02T00:00:{i:02d}Z"},
                    }
                    for i in range(11)
                ],
            }
        )
    path = write(tmp_path / f"M001{suffix}", text)
    with pytest.raises(UploadTooLarge, match="the upload holds 11 fixes; at most 10"):
        read_track_file(path, max_fixes=10)
    assert len(read_track_file(path, max_fixes=11)) == 11


def test_csv_header_leaving_several_columns_unnamed_is_read(tmp_path):
    """Empty names repeat (a header ending in ',,'); with a quoted value the reader used to fail on them."""
    path = write(tmp_path / "t.csv", 'member_id,time,lon,lat,,\nM001,2026-11-02T08:00:00+08:00,116.41,"39.94",,\n')
    fixes = read_track_file(path)
    assert len(fixes) == 1 and fixes["lat"].iloc[0] == 39.94


def _grids_with_a_property_each(path: Path, n: int) -> Path:
    features = [
        {
            "type": "Feature",
            "properties": {"grid_id": f"G{i}", f"p{i}": i},
            "geometry": mapping(shapely.affinity.translate(to_lonlat(SQUARE_100), xoff=i * 0.002)),
        }
        for i in range(n)
    ]
    return write(path, json.dumps({"type": "FeatureCollection", "features": features}))


def test_grid_geojson_with_a_property_name_per_feature_is_refused_naming_the_limit(tmp_path):
    """3000 grids, each with a property of its own: 640 KB that GDAL lays out as 9,000,000 values
    (26 s and 900 MB before); refused from GDAL's summary of the file."""
    path = _grids_with_a_property_each(tmp_path / "grids.geojson", 3000)
    with pytest.raises(
        InputError,
        match=rf"grids.geojson: the grid file's features have 3001 distinct properties "
        rf"between them; at most {MAX_TABLE_COLUMNS} are read",
    ):
        read_grids(path)
    assert len(read_grids(_grids_with_a_property_each(tmp_path / "few.geojson", 50))) == 50
