"""Hostile input to the HTTP API (issue #13): each case answered 500 before; now a clear 4xx
problem+json naming the parameter or the limit, at a cost bounded by the request's size.

Limits are in :mod:`geoverify.settings` and docs/limits.md.
"""

from __future__ import annotations

import io
import json
import sqlite3

import pytest

from geoverify.settings import (
    MAX_CSV_HEADER_BYTES,
    MAX_FILE_NAME_CHARS,
    MAX_JSON_DEPTH,
    MAX_QUERY_INT,
    MAX_TABLE_COLUMNS,
)

from .conftest import SAMPLES

TELEPORT = SAMPLES / "teleport_M002.csv"
GRID_FORMATS = "GeoJSON (.geojson, .json), GeoPackage (.gpkg) or Shapefile"
CSV_TYPE = {"Content-Type": "text/csv"}
GEOJSON_TYPE = {"Content-Type": "application/geo+json"}


# --------------------------------------------------------------------------- integer query parameters


@pytest.mark.parametrize(
    "role, path, name",
    [
        ("scorer", "/api/v1/credits", "after"),
        ("admin", "/api/v1/audit", "after"),
        ("auditor", "/api/v1/flags", "offset"),
        ("supervisor", "/api/v1/patrols", "offset"),
    ],
)
@pytest.mark.parametrize("value", [2**63 - 1, 2**63, MAX_QUERY_INT + 1, 10**40, -1])
def test_integer_parameters_out_of_range_are_400_naming_the_range(
    client, auth, assert_problem, role, path, name, value
):
    response = client.get(f"{path}?{name}={value}", headers=auth[role])
    assert_problem(response, 400, detail_has=f"Query parameter '{name}' must be between 0 and {MAX_QUERY_INT}")


@pytest.mark.parametrize(
    "role, path, name",
    [
        ("scorer", "/api/v1/credits", "after"),
        ("admin", "/api/v1/audit", "after"),
        ("auditor", "/api/v1/flags", "offset"),
    ],
)
def test_largest_allowed_integer_parameter_answers_an_empty_page(client, auth, role, path, name):
    response = client.get(f"{path}?{name}={MAX_QUERY_INT}&limit=1000", headers=auth[role])
    assert response.status_code == 200, response.json
    assert not any(isinstance(v, list) and v for v in response.json.values())


# --------------------------------------------------------------------------- JSON nesting


def nested(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def test_review_body_nested_3000_levels_is_422_naming_the_limit(with_grids, upload, client, auth, assert_problem):
    assert upload("tracks", TELEPORT).status_code == 201
    flag_id = client.get("/api/v1/flags?code=TELEPORT", headers=auth["auditor"]).json["flags"][0]["flag_id"]
    body = b'{"decision": "dismiss", "note": ' + nested(3000) + b"}"
    response = client.post(
        f"/api/v1/flags/{flag_id}/review", data=body, headers={**auth["auditor"], "Content-Type": "application/json"}
    )
    assert_problem(response, 422, detail_has=f"more than {MAX_JSON_DEPTH} levels deep")
    # Brackets inside a string are text, not nesting: the same note as a string is a review.
    body = json.dumps({"decision": "dismiss", "note": nested(1500).decode()}).encode()
    response = client.post(
        f"/api/v1/flags/{flag_id}/review", data=body, headers={**auth["auditor"], "Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.json


@pytest.mark.parametrize("kind", ["tracks", "grids", "events", "sites"])
@pytest.mark.parametrize(
    "document",
    [nested(50_000), b'{"type": "FeatureCollection", "features": ' + nested(50_000) + b"}"],
    ids=["bare", "in-a-collection"],
)
def test_geojson_upload_nested_50000_levels_is_422(kind, document, client, auth, assert_problem):
    response = client.post(f"/api/v1/{kind}", data=document, headers={**auth["admin"], **GEOJSON_TYPE})
    body = assert_problem(response, 422)
    if document.startswith(b"{"):
        assert f"more than {MAX_JSON_DEPTH} levels deep" in body["detail"], body["detail"]


# --------------------------------------------------------------------------- file names


def test_multipart_file_name_of_300_characters_is_422_naming_the_limit(with_grids, client, auth, assert_problem):
    data = {"file": (io.BytesIO(TELEPORT.read_bytes()), "a" * 296 + ".csv")}
    response = client.post("/api/v1/tracks", data=data, headers=auth["admin"], content_type="multipart/form-data")
    assert_problem(response, 422, detail_has=f"300 characters long; at most {MAX_FILE_NAME_CHARS}")
    data = {"file": (io.BytesIO(TELEPORT.read_bytes()), "a" * (MAX_FILE_NAME_CHARS - 4) + ".csv")}
    response = client.post("/api/v1/tracks", data=data, headers=auth["admin"], content_type="multipart/form-data")
    assert response.status_code == 201, response.json


# --------------------------------------------------------------------------- heat map cells

BIG = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"grid_id": "BIG", "members": ["M002"]},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[116.37, 39.91], [116.44, 39.91], [116.44, 39.97], [116.37, 39.97], [116.37, 39.91]]],
            },
        }
    ],
}


def test_heatmap_too_fine_for_a_large_grid_is_422_naming_the_smallest_cell(upload, client, auth, assert_problem):
    assert upload("grids", json.dumps(BIG).encode(), suffix=".geojson").status_code == 201
    assert upload("tracks", TELEPORT).status_code == 201
    url = "/api/v1/map/heatmap?grid_id=BIG&date=2026-11-02&cell_m="
    body = assert_problem(
        client.get(url + "5", headers=auth["auditor"]),
        422,
        detail_has="a heat map has at most 1000 cells per side: use a cell of at least ",
    )
    smallest = float(body["detail"].split("use a cell of at least ")[1].split(" m")[0])
    assert 5.9 < smallest < 7.0  # the box is about 6.7 km by 6.0 km
    response = client.get(url + f"{smallest:g}", headers=auth["auditor"])
    assert response.status_code == 200, response.json


# --------------------------------------------------------------------------- grid files


def test_csv_posted_as_grids_is_422_naming_the_grid_formats(client, auth, assert_problem):
    response = client.post("/api/v1/grids", data=b"grid_id,name\nG1,one\n", headers={**auth["admin"], **CSV_TYPE})
    assert_problem(response, 422, detail_has=f"a .csv file is not a grid format; grids are read from {GRID_FORMATS}")


def _sqlite_bytes(tmp_path, statements: list[str]) -> bytes:
    path = tmp_path / "x.sqlite"
    with sqlite3.connect(path) as conn:
        for statement in statements:
            conn.execute(statement)
    conn.close()
    return path.read_bytes()


@pytest.mark.parametrize("case", ["random", "sqlite-not-geopackage", "truncated-sqlite"])
def test_garbage_geopackage_is_422_in_plain_words(case, tmp_path, client, auth, assert_problem):
    body = {
        "random": bytes(range(256)) * 40,
        "sqlite-not-geopackage": _sqlite_bytes(tmp_path, ["CREATE TABLE t (a)", "INSERT INTO t VALUES (1)"]),
        "truncated-sqlite": b"SQLite format 3\x00" + b"\x00" * 200,
    }[case]
    response = client.post(
        "/api/v1/grids", data=body, headers={**auth["admin"], "Content-Type": "application/geopackage+sqlite3"}
    )
    detail = assert_problem(response, 422, detail_has="is not a GeoPackage, or a damaged one")["detail"]
    assert GRID_FORMATS in detail
    for internal in ("sqlite3_", "SELECT", "gpkg_", "DRIVER", "sqlite_master"):
        assert internal not in detail, detail


# --------------------------------------------------------------------------- wide CSV headers


def wide_header(columns: int, named: bool) -> bytes:
    """A CSV of one fix under a header of ``columns`` columns (named c4, c5, … or left unnamed)."""
    extra = [f"c{i}" if named else "" for i in range(4, columns)]
    header = ",".join(["member_id", "time", "lon", "lat", *extra])
    return (header + "\nM001,2026-11-02T08:00:00+08:00,116.41,39.94" + "," * (columns - 4) + "\n").encode()


@pytest.mark.parametrize("kind", ["tracks", "events", "sites"])
def test_csv_header_of_50000_columns_is_422_naming_the_limit(kind, with_grids, client, auth, assert_problem):
    body = wide_header(50_000, named=False)  # 50,000 columns in 50 KiB
    response = client.post(f"/api/v1/{kind}", data=body, headers={**auth["admin"], **CSV_TYPE})
    assert_problem(response, 422, detail_has=f"line 1: the header has 50000 columns; at most {MAX_TABLE_COLUMNS}")
    body = wide_header(50_000, named=True)  # the same with names: 390 KiB of header
    response = client.post(f"/api/v1/{kind}", data=body, headers={**auth["admin"], **CSV_TYPE})
    assert_problem(response, 422, detail_has=f"longer than {MAX_CSV_HEADER_BYTES} bytes, the limit")


def test_csv_header_at_the_column_limit_is_read(with_grids, client, auth):
    response = client.post(
        "/api/v1/tracks", data=wide_header(MAX_TABLE_COLUMNS, named=True), headers={**auth["admin"], **CSV_TYPE}
    )
    assert response.status_code == 201, response.json
    assert response.json["accepted"] == 1
