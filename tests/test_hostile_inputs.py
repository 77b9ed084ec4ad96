"""Hostile inputs to the library and the command line (issue #7, item 3).

Each input gets a clear error (naming the file and the line, feature or value, and saying what to
do) or is read with every fix accounted for; never another exception, a hang or unbounded memory.
The corpus is generated here: small files inline, big ones (a 17 MiB CSV line, a million-vertex
polygon) in ``tmp_path``. The API-level cases (413, Idempotency-Key) are in ``tests/service``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import SQUARE_100, fix_frame, metric_grid, to_lonlat
from shapely.geometry import Polygon, mapping

from geoverify.engines.batch import verify_batch
from geoverify.errors import GridGeometryError, InputError
from geoverify.io import read_grids, read_track_file
from geoverify.io.grids import MAX_GRID_VERTICES
from geoverify.schema import MAX_ID_CHARS

NOW = pd.Timestamp("2026-11-03T12:00:00+08:00")
LON, LAT = 116.4, 39.9
HEADER = "member_id,time,lon,lat,accuracy\n"
SQUARE = mapping(to_lonlat(SQUARE_100))


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def fc(*features, **extra) -> str:
    return json.dumps({"type": "FeatureCollection", "features": list(features), **extra})


def feature(geometry, **props) -> dict:
    return {"type": "Feature", "geometry": geometry, "properties": props}


def csv_rows(n: int, start_s: int = 0) -> str:
    """``n`` fixes of M1 walking east inside conftest's square, 10 s apart."""
    t0 = pd.Timestamp("2026-11-02T08:00:00+08:00")
    lon, lat = to_lonlat(shapely.Point(10, 50)).coords[0]
    return "".join(
        f"M1,{(t0 + pd.Timedelta(seconds=start_s + 10 * i)).isoformat()},{lon + 2e-5 * i:.7f},{lat:.7f},5\n"
        for i in range(n)
    )


def verify(fixes: pd.DataFrame, members=("M1",)):
    return verify_batch([metric_grid(SQUARE_100, members=members)], fixes, now=NOW)


# --------------------------------------------------------------------------- GPX: entities

GPX_BODY = """<gpx version="1.1" creator="t" xmlns="http://www.topografix.com/GPX/1/1">
  <trk><trkseg>
    <trkpt lat="39.9" lon="116.4"><time>2026-11-02T00:00:00Z</time><name>{ref}</name></trkpt>
  </trkseg></trk>
</gpx>
"""
BILLION_LAUGHS = (
    '<!DOCTYPE gpx [\n <!ENTITY lol "lol">\n'
    + "".join(f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n' for i in range(1, 10))
    + "]>\n"
)


@pytest.mark.parametrize(
    "doctype, ref",
    [
        (BILLION_LAUGHS, "&lol9;"),  # 10^9 "lol"s
        ('<!DOCTYPE gpx [<!ENTITY a "{}">]>\n'.format("x" * 100_000), "&a;&a;&a;&a;&a;&a;"),  # quadratic blow-up
        ('<!DOCTYPE gpx [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n', "&xxe;"),
        ('<!DOCTYPE gpx [<!ENTITY xxe SYSTEM "{secret}">]>\n', "&xxe;"),
        ('<!DOCTYPE gpx [<!ENTITY % p SYSTEM "{secret}"> %p;]>\n', ""),  # parameter entity
        ('<!DOCTYPE gpx SYSTEM "{secret}">\n', ""),  # external DTD
        ('<!DOCTYPE gpx [<!ENTITY xxe SYSTEM "http://127.0.0.1:9/x">]>\n', "&xxe;"),  # network fetch
    ],
    ids=["billion-laughs", "quadratic", "xxe-passwd", "xxe-secret", "parameter-entity", "external-dtd", "xxe-http"],
)
def test_gpx_entities_and_external_references_are_refused_unread(tmp_path, doctype, ref):
    secret = write(tmp_path / "secret.txt", "TOP-SECRET-1234")
    text = '<?xml version="1.0"?>\n' + doctype.replace("{secret}", secret.as_uri()) + GPX_BODY.format(ref=ref)
    path = write(tmp_path / "M1.gpx", text)
    with pytest.raises(
        InputError,
        match=r"M1\.gpx: refused: the GPX declares a DTD, entities or external "
        r"references .*export it again without a DOCTYPE",
    ) as info:
        read_track_file(path)
    assert "TOP-SECRET" not in str(info.value) and "root:" not in str(info.value)


def test_gpx_undeclared_entity_is_not_well_formed_and_names_the_line(tmp_path):
    path = write(tmp_path / "M1.gpx", '<?xml version="1.0"?>\n' + GPX_BODY.format(ref="&xxe;"))
    with pytest.raises(InputError, match=r"M1\.gpx, line 4: not well-formed XML: undefined entity"):
        read_track_file(path)


@pytest.mark.parametrize(
    "name",
    ["M1\nM2.gpx", "M\x1b[31m1.gpx", "\u202eM1.gpx", "x" * 200 + ".gpx"],
    ids=["newline", "escape", "bidi-override", "200-chars"],
)
def test_gpx_file_name_that_is_no_usable_member_id(tmp_path, name):
    path = write(tmp_path / name, '<?xml version="1.0"?>\n' + GPX_BODY.format(ref=""))
    with pytest.raises(InputError, match=r"the file name's stem .* is not a usable member id .*--member-id"):
        read_track_file(path)
    # Given explicitly, the member id replaces the file name.
    assert read_track_file(path, member_id="M1")["member_id"].tolist() == ["M1"]


# --------------------------------------------------------------------------- CSV: long lines, bytes, quotes


def test_csv_line_of_megabytes_within_the_block_is_one_invalid_fix(tmp_path):
    # A 3 MiB junk line between two good ones: read, counted as one invalid fix, nothing else lost.
    text = HEADER + csv_rows(1) + "M1," + "9" * (3 << 20) + ",x,y,1\n" + csv_rows(1, start_s=10)
    fixes = read_track_file(write(tmp_path / "long.csv", text))
    assert fixes["line"].tolist() == [2, 3, 4]
    result = verify(fixes)
    assert result.summary["fixes_rejected"]["invalid"] == 1 and result.summary["fixes_kept"] == 2


def test_csv_line_longer_than_the_reader_block(tmp_path):
    # pyarrow reads 16 MiB blocks. A 17 MiB line is refused naming that limit, or read as one
    # invalid fix (its lon overflows to inf); either way nothing else is lost.
    text = HEADER + csv_rows(2) + "M1,2026-11-02T08:00:00+08:00," + "1" * (17 << 20) + ",39.9,5\n"
    path = write(tmp_path / "long.csv", text)
    try:
        fixes = read_track_file(path)
    except InputError as exc:
        assert str(exc) == f"{path}: cannot read CSV: a line is longer than 16 MiB; split the file or fix that line"
        return
    assert fixes["line"].tolist() == [2, 3, 4]
    result = verify(fixes)
    assert result.summary["fixes_rejected"]["invalid"] == 1 and result.summary["fixes_kept"] == 2


@pytest.mark.parametrize("header", [False, True], ids=["gbk-cells", "gbk-header"])
def test_csv_not_in_utf8_names_the_file_and_the_encoding(tmp_path, header):
    text = ("网格员,时间,经度,纬度,精度\n" if header else HEADER) + f"张三,2026-11-02T08:00:00+08:00,{LON},{LAT},5\n"
    path = write(tmp_path / "gbk.csv", text.encode("gbk"))
    with pytest.raises(InputError, match=r"gbk\.csv.*UTF-8"):
        read_track_file(path)


def test_csv_not_in_utf8_in_a_ragged_row_names_its_line(tmp_path):
    """A row with the wrong number of fields goes to pyarrow's invalid-row handler, which decodes it
    inside pyarrow's callback: a bad byte there used to raise where nobody could catch it ("Exception
    ignored", a warning under pytest) and end in a parse error. The file is checked first."""
    ok = f"M1,2026-11-02T08:00:00+08:00,{LON},{LAT},5\n"
    ragged = "张三,extra,2026-11-02T08:00:01+08:00,1,2,3\n"
    path = write(tmp_path / "ragged.csv", (HEADER + ok + ragged + ok).encode("gbk"))
    with pytest.raises(InputError, match=r"ragged\.csv, line 3: .*not UTF-8 text \(byte 0xd5"):
        read_track_file(path)


def test_csv_header_naming_a_column_twice(tmp_path):
    path = write(tmp_path / "twice.csv", f"member_id,time,lon,lat,lat\nM1,2026-11-02T08:00:00Z,{LON},{LAT},{LAT}\n")
    with pytest.raises(InputError, match=r"twice\.csv.*lat"):
        read_track_file(path)


@pytest.mark.parametrize(
    "bad",
    [f'M1,"2026-11-02T08:00:10Z,{LON},{LAT},5', f'M1,2026-11-02T08:00:10Z,"{LON}', '"'],
    ids=["open-time", "open-lon", "lone-quote"],
)
def test_csv_stray_quote_loses_no_line(tmp_path, bad):
    text = HEADER + csv_rows(1) + bad + "\n" + csv_rows(3, start_s=20)
    path = write(tmp_path / "quote.csv", text)
    # Refused, naming the line of the quote: no line after it is silently swallowed.
    with pytest.raises(InputError, match=r"quote\.csv, line 3: .*stray quote"):
        read_track_file(path)


# --------------------------------------------------------------------------- NaN and infinities


@pytest.mark.parametrize(
    "lon, lat, acc, time, reason",
    [
        ("nan", LAT, 5, "2026-11-02T08:05:00+08:00", "invalid"),
        (LON, "inf", 5, "2026-11-02T08:05:00+08:00", "invalid"),
        ("-Infinity", LAT, 5, "2026-11-02T08:05:00+08:00", "invalid"),
        ("1e400", LAT, 5, "2026-11-02T08:05:00+08:00", "invalid"),  # overflows to inf
        (LON, LAT, 5, "NaN", "invalid"),
        (LON, LAT, 5, "inf", "invalid"),
        (LON, LAT, "inf", "2026-11-02T08:05:00+08:00", "low_accuracy"),
        (LON, LAT, "nan", "2026-11-02T08:05:00+08:00", ""),  # unknown accuracy passes
    ],
    ids=["lon-nan", "lat-inf", "lon-neg-inf", "lon-overflow", "time-nan", "time-inf", "acc-inf", "acc-nan"],
)
def test_nan_and_infinities_in_csv(tmp_path, lon, lat, acc, time, reason):
    text = HEADER + csv_rows(3) + f"M1,{time},{lon},{lat},{acc}\n"
    result = verify(read_track_file(write(tmp_path / "nan.csv", text)))
    expected = {"invalid": 0, "duplicate": 0, "future": 0, "low_accuracy": 0}
    if reason:
        expected[reason] = 1
    assert result.summary["fixes_rejected"] == expected
    assert result.summary["fixes_kept"] == 3 + (not reason)


@pytest.mark.parametrize("acc", [-1.0, -np.inf])
def test_negative_accuracy_is_invalid(acc):
    fixes = fix_frame([(10 + 2 * i, 50, 10.0 * i, 5.0) for i in range(30)])
    fixes.loc[15, "accuracy"] = acc
    (patrol,) = verify(fixes).patrols
    assert patrol.rejected["invalid"] == 1 and patrol.flags == []


def test_nan_and_infinities_in_geojson_and_gpx(tmp_path):
    # Python's json writes NaN and Infinity literals; other tools do too.
    doc = fc(
        feature(
            {"type": "Point", "coordinates": [float("nan"), LAT]}, member_id="M1", time="2026-11-02T08:00:00+08:00"
        ),
        feature(
            {"type": "Point", "coordinates": [LON, LAT]},
            member_id="M1",
            time="2026-11-02T08:00:10+08:00",
            accuracy=float("inf"),
        ),
        feature(
            {"type": "Point", "coordinates": [LON, float("-inf")]}, member_id="M1", time="2026-11-02T08:00:20+08:00"
        ),
    )
    result = verify(read_track_file(write(tmp_path / "nan.geojson", doc)))
    assert result.summary["fixes_rejected"] == {"invalid": 2, "duplicate": 0, "future": 0, "low_accuracy": 1}
    gpx = (
        '<?xml version="1.0"?>\n<gpx version="1.1"><trk><trkseg>\n'
        '<trkpt lat="NaN" lon="116.4"><time>2026-11-02T00:00:00Z</time></trkpt>\n'
        '<trkpt lat="39.9" lon="Infinity"><time>2026-11-02T00:00:10Z</time></trkpt>\n'
        '<trkpt lat="39.9" lon="116.4"><time>NaN</time></trkpt>\n'
        '<trkpt lat="39.9" lon="116.4"><time>2026-11-02T00:00:30Z</time><extensions><accuracy>inf</accuracy>'
        "</extensions></trkpt>\n</trkseg></trk></gpx>\n"
    )
    result = verify(read_track_file(write(tmp_path / "M1.gpx", gpx)))
    assert result.summary["fixes_rejected"] == {"invalid": 3, "duplicate": 0, "future": 0, "low_accuracy": 1}


# --------------------------------------------------------------------------- grids: polygons and types

BOW_TIE = mapping(to_lonlat(Polygon([(0, 0), (100, 100), (100, 0), (0, 100)])))
NAN_RING = {"type": "Polygon", "coordinates": [[[LON, LAT], [float("nan"), LAT], [LON + 1e-3, LAT + 1e-3], [LON, LAT]]]}
POINT = {"type": "Point", "coordinates": [LON, LAT]}
LINE = {"type": "LineString", "coordinates": [[LON, LAT], [LON + 1e-3, LAT]]}


@pytest.mark.parametrize(
    "text, error, message",
    [
        (
            fc(feature(BOW_TIE, grid_id="BOW")),
            GridGeometryError,
            r"feature 1: grid 'BOW' is invalid \(Self-intersection.*\); repairing it would change its area from "
            r"0 m² to "
            r"5,000 m², more than tenfold \(over 1%\); fix the polygon in a GIS",
        ),
        (
            fc(feature({"type": "Polygon", "coordinates": []}, grid_id="E")),
            GridGeometryError,
            r"feature 1: grid 'E' has no geometry; give it a Polygon",
        ),
        (
            fc(feature({"type": "MultiPolygon", "coordinates": []}, grid_id="E")),
            GridGeometryError,
            r"feature 1: grid 'E' has no geometry",
        ),
        (fc(feature(None, grid_id="N")), GridGeometryError, r"feature 1: grid 'N' has no geometry"),
        (
            fc(feature(NAN_RING, grid_id="NAN")),
            GridGeometryError,
            r"feature 1: grid 'NAN' has NaN or infinite coordinates",
        ),
        (fc(feature(POINT, grid_id="P")), GridGeometryError, r"feature 1: grid 'P' is a Point; grids must be Polygon"),
        (
            fc(feature(SQUARE, grid_id="A"), feature(LINE, grid_id="L")),
            GridGeometryError,
            r"feature 2: grid 'L' is a LineString",
        ),
        (json.dumps(SQUARE), InputError, r"lacks a 'grid_id' property .*bare Polygon geometry; wrap it in a Feature"),
        (json.dumps(POINT), InputError, r"bare Point geometry"),
        (fc(), InputError, r"the grid file holds no features"),
        ("[1, 2]", InputError, r"the document is a JSON array; a grid file is a GeoJSON FeatureCollection"),
        ('"grids"', InputError, r"the document is a JSON string"),
        ("42", InputError, r"the document is not a JSON object"),
        ("", InputError, r"the document is empty"),
        (
            fc(feature(SQUARE, grid_id="A\nB")),
            InputError,
            r"feature 1: grid_id 'A\\nB' contains the control "
            r"character U\+000A; use a short printable id",
        ),
        (fc(feature(SQUARE, grid_id="\u202eA")), InputError, r"control character U\+202E"),
        (fc(feature(SQUARE, grid_id="G" * 5000)), InputError, rf"is 5,000 characters long \(at most {MAX_ID_CHARS}\)"),
        (fc(feature(SQUARE, grid_id=1.5)), InputError, r"grid_id 1.5 is a number that cannot be kept exactly"),
        (
            fc(feature(SQUARE, grid_id="A", members=["M1", "M\x1b2"])),
            InputError,
            r"feature 1: grid 'A': member id 'M\\x1b2' contains the control character U\+001B",
        ),
    ],
    ids=[
        "bow-tie",
        "empty-polygon",
        "empty-multipolygon",
        "null-geometry",
        "nan-vertex",
        "point",
        "linestring",
        "bare-polygon",
        "bare-point",
        "no-features",
        "json-array",
        "json-string",
        "json-number",
        "empty-file",
        "id-newline",
        "id-bidi",
        "id-huge",
        "id-fraction",
        "member-escape",
    ],
)
def test_hostile_grid_files(tmp_path, text, error, message):
    path = write(tmp_path / "grids.geojson", text)
    with pytest.raises(error, match=message) as info:
        read_grids(path)
    assert str(info.value).startswith(str(path))


def test_member_lists_split_on_any_white_space(tmp_path):
    path = write(tmp_path / "g.geojson", fc(feature(SQUARE, grid_id="A", members="M1\tM2\nM3;M4")))
    (grid,) = read_grids(path)
    assert grid.members == ("M1", "M2", "M3", "M4")


def polygon_file(path: Path, vertices: int) -> Path:
    """A star-shaped grid of radius 200±20 m with ``vertices`` vertices, written without shapely."""
    a = np.linspace(0, 2 * np.pi, vertices, endpoint=False)
    r = 200 + 20 * np.sin(50 * a)
    lonlat = np.asarray(to_lonlat(shapely.LinearRing(np.column_stack([r * np.cos(a), r * np.sin(a)]))).coords)
    ring = ",".join(f"[{x:.8f},{y:.8f}]" for x, y in lonlat)
    path.write_text(
        '{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"grid_id":"STAR",'
        '"members":["M1"]},"geometry":{"type":"Polygon","coordinates":[[' + ring + "]]}}]}"
    )
    return path


@pytest.mark.slow
def test_million_vertex_polygon_is_refused_naming_the_limit(tmp_path):
    path = polygon_file(tmp_path / "star.geojson", 1_000_000)
    with pytest.raises(
        GridGeometryError,
        match=rf"feature 1: grid 'STAR' has 1,000,001 vertices, over the limit "
        rf"of {MAX_GRID_VERTICES:,}; simplify it",
    ):
        read_grids(path)


def test_polygon_at_the_vertex_limit_is_read_and_verified(tmp_path):
    (grid,) = read_grids(polygon_file(tmp_path / "star.geojson", MAX_GRID_VERTICES - 1))
    # Area of r(a) = 200 + 20 sin(50 a): π (200² + 20²/2) m².
    assert grid.area_m2 == pytest.approx(np.pi * (200**2 + 200), rel=1e-4)
    rows = [(-150 + 2 * i, 5, 10.0 * i, 5.0) for i in range(150)]  # 1490 s, all inside (r ≥ 180 m)
    (patrol,) = verify_batch([grid], fix_frame(rows), now=NOW).patrols
    assert patrol.in_grid_s == pytest.approx(1490.0)


# --------------------------------------------------------------------------- GeoJSON tracks of the wrong type


@pytest.mark.parametrize(
    "text, message",
    [
        (
            fc(feature(LINE, member_id="M1", time="2026-11-02T08:00:00Z")),
            r"feature 1: geometry is LineString; a track file holds Point features only",
        ),
        (fc(feature(SQUARE, member_id="M1", time="2026-11-02T08:00:00Z")), r"feature 1: geometry is Polygon"),
        (json.dumps(POINT), r"a track GeoJSON file must be a FeatureCollection of Point features"),
        (json.dumps(feature(POINT, member_id="M1", time="2026-11-02T08:00:00Z")), r"must be a FeatureCollection"),
        ("[1, 2]", r"must be a FeatureCollection"),
        ("null", r"must be a FeatureCollection"),
        ('{"type": "FeatureCollection", "features": {"0": 1}}', r"'features' must be a list"),
        (
            fc(feature(POINT, member_id="M1", time="2026-11-02T08:00:00Z"), "oops"),
            r"feature 2: is not a GeoJSON Feature object",
        ),
        ("{", r"line 1: not valid JSON"),
    ],
    ids=[
        "linestrings",
        "polygon",
        "bare-geometry",
        "bare-feature",
        "json-array",
        "json-null",
        "features-object",
        "feature-string",
        "truncated",
    ],
)
def test_hostile_geojson_tracks(tmp_path, text, message):
    path = write(tmp_path / "t.geojson", text)
    with pytest.raises(InputError, match=message) as info:
        read_track_file(path)
    assert str(info.value).startswith(str(path))


# --------------------------------------------------------------------------- times far off


@pytest.mark.parametrize(
    "time, reason, date",
    [
        ("1900-01-01T08:00:00", "", "1900-01-01"),  # kept: an honest (if odd) date
        ("2100-01-01T08:00:00+08:00", "future", "2100-01-01"),  # a patrol counting the rejected fix
        ("1500-06-01T08:00:00+08:00", "invalid", None),  # outside numpy's ns range (1677-2262)
        ("2500-06-01T08:00:00Z", "invalid", None),
        ("1677-09-21T00:00:00Z", "invalid", None),  # just before the ns range starts
    ],
    ids=["1900", "2100", "1500", "2500", "1677"],
)
def test_times_far_in_the_past_or_future(tmp_path, time, reason, date):
    text = HEADER + csv_rows(2) + f"M1,{time},{LON},{LAT},5\n"
    result = verify(read_track_file(write(tmp_path / "t.csv", text)))
    rejected = {k: v for k, v in result.summary["fixes_rejected"].items() if v}
    assert rejected == ({reason: 1} if reason else {})
    dates = sorted(p.date.isoformat() for p in result.patrols)
    assert dates == sorted(["2026-11-02"] + ([date] if date else []))
    json.dumps([p.to_dict("Asia/Shanghai") for p in result.patrols])  # serialisable


# --------------------------------------------------------------------------- member ids


@pytest.mark.parametrize(
    "member", ["M1\nM2", "M\x001", "\u202eM1", "M" * 1_000_000], ids=["newline", "nul", "bidi-override", "1-MB"]
)
def test_unusable_member_ids_are_invalid_fixes(tmp_path, member):
    doc = fc(
        feature({"type": "Point", "coordinates": [LON, LAT]}, member_id=member, time="2026-11-02T08:00:00Z"),
        feature({"type": "Point", "coordinates": [LON, LAT]}, member_id="M1", time="2026-11-02T08:00:10Z"),
    )
    result = verify(read_track_file(write(tmp_path / "ids.geojson", doc)))
    assert result.summary["fixes_rejected"]["invalid"] == 1
    assert [p.member_id for p in result.patrols] == ["M1"]


# --------------------------------------------------------------------------- the command line


@pytest.mark.parametrize("case", ["xxe-gpx", "grid-json-array", "million-vertex-grid"])
def test_command_line_reports_hostile_input_and_exits_2(tmp_path, case):
    grids = write(tmp_path / "grids.geojson", fc(feature(SQUARE, grid_id="G1", members=["M1"])))
    tracks = write(tmp_path / "t.csv", HEADER + csv_rows(3))
    if case == "xxe-gpx":
        tracks = write(
            tmp_path / "M1.gpx",
            '<?xml version="1.0"?>\n<!DOCTYPE gpx [<!ENTITY x SYSTEM '
            '"file:///etc/passwd">]>\n' + GPX_BODY.format(ref="&x;"),
        )
        expected = f"geoverify: error: {tracks}: refused: the GPX declares a DTD"
    elif case == "grid-json-array":
        grids = write(grids, "[]")
        expected = f"geoverify: error: {grids}: the document is a JSON array"
    else:
        grids = polygon_file(grids, 400_000)
        expected = f"geoverify: error: {grids}, feature 1: grid 'STAR' has 400,001 vertices, over the limit"
    exe = Path(sys.executable).with_name("geoverify")
    done = subprocess.run(
        [str(exe), "verify", "--grids", str(grids), "--tracks", str(tracks), "--now", "2026-11-03T00:00:00+08:00"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(expected), done.stderr
    assert "Traceback" not in done.stderr and "root:" not in done.stderr and done.stdout == ""
