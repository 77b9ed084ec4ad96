"""Uploads: idempotency, late fixes, size limits, malformed input, formats."""

from __future__ import annotations

import sqlite3

from .conftest import SAMPLES

TELEPORT = SAMPLES / "teleport_M002.csv"
HONEST = SAMPLES / "honest_M001.csv"


def _count(db_path, table: str) -> int:
    with sqlite3.connect(db_path) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_grids_upload_creates_six_grids(with_grids, client, auth):
    assert (with_grids["created"], with_grids["updated"], with_grids["grids_read"]) == (6, 0, 6)
    listing = client.get("/api/v1/grids", headers=auth["auditor"]).json
    assert [f["properties"]["grid_id"] for f in listing["features"]] == [f"DC-0{i}" for i in range(1, 7)]
    scoped = client.get("/api/v1/grids", headers=auth["supervisor"]).json
    assert [f["properties"]["grid_id"] for f in scoped["features"]] == ["DC-01"]


def test_same_content_twice_stores_once(with_grids, upload, db_path):
    first = upload("tracks", TELEPORT)
    assert first.status_code == 201
    assert (first.json["fixes_read"], first.json["fixes_stored"], first.json["accepted"]) == (1080, 1080, 1080)
    assert first.json["patrols"] == [
        {"patrol_id": "M002_20261102", "state": "current", "credit": {"status": "held", "points": 0}, "changed": True}
    ]
    uploads_before, audit_before = _count(db_path, "uploads"), _count(db_path, "audit_log")
    again = upload("tracks", TELEPORT)
    assert again.status_code == 200
    assert again.json["replayed"] is True
    assert again.json["upload_id"] == first.json["upload_id"]
    assert _count(db_path, "fixes") == 1080
    assert (_count(db_path, "uploads"), _count(db_path, "audit_log")) == (uploads_before, audit_before)


def test_same_fixes_in_a_new_file_are_duplicates(with_grids, upload, csv_rows, db_path):
    header, rows = csv_rows(HONEST)
    upload("tracks", "\n".join([header] + rows[:100]).encode())
    # A different file (so no replay) that repeats 100 stored fixes and adds 50 new ones.
    response = upload("tracks", "\n".join([header] + rows[:150]).encode() + b"\n")
    assert response.status_code == 201
    assert response.json["rejected"]["duplicate"] == 100
    assert (response.json["already_stored"], response.json["fixes_stored"], response.json["accepted"]) == (100, 50, 50)
    assert _count(db_path, "fixes") == 150


def test_idempotency_key(with_grids, upload, csv_rows, db_path, assert_problem):
    header, rows = csv_rows(HONEST)
    body = "\n".join([header] + rows[:200]).encode()
    first = upload("tracks", body, key="phone-7-batch-1")
    assert first.status_code == 201
    replay = upload("tracks", body, key="phone-7-batch-1")
    assert replay.status_code == 200 and replay.json["replayed"] is True
    assert replay.json["upload_id"] == first.json["upload_id"]
    other = upload("tracks", "\n".join([header] + rows[200:300]).encode(), key="phone-7-batch-1")
    assert_problem(other, 422, detail_has="phone-7-batch-1")
    assert _count(db_path, "fixes") == 200
    assert _count(db_path, "uploads") == 2  # grids + the first track upload


def test_late_fixes_reverify_and_append_reversal_and_grant(with_grids, upload, csv_rows, client, auth):
    header, rows = csv_rows(HONEST)
    assert len(rows) == 1800  # 10 s apart from 08:30: five hours
    early = upload("tracks", "\n".join([header] + rows[:600]).encode())  # 100 minutes: under 2 h
    assert early.json["patrols"][0]["credit"] == {"status": "verified", "points": 0}
    # A 0-point credit is not written to the ledger.
    assert client.get("/api/v1/credits?after=0", headers=auth["scorer"]).json == {"entries": [], "next": 0}
    late = upload("tracks", "\n".join([header] + rows[600:]).encode())
    assert late.json["accepted"] == 1200
    assert late.json["patrols"][0] == {
        "patrol_id": "M001_20261102",
        "state": "current",
        "credit": {"status": "verified", "points": 5},
        "changed": True,
    }
    assert late.json["ledger_entries"] == 1
    [grant] = client.get("/api/v1/credits?after=0", headers=auth["scorer"]).json["entries"]
    assert (grant["seq"], grant["kind"], grant["points"], grant["patrol_id"]) == (1, "grant", 5, "M001_20261102")
    assert grant["verified_s"] > 7200
    # Re-verifying identical input appends nothing.
    again = upload("tracks", "\n".join([header] + rows[1000:1100]).encode() + b"\n")
    assert again.json["ledger_entries"] == 0 and again.json["fixes_stored"] == 0
    assert client.get("/api/v1/credits?after=1", headers=auth["scorer"]).json == {"entries": [], "next": 1}


def test_body_over_the_limit_is_413(with_grids, upload, assert_problem):
    big = b"member_id,time,lon,lat\n" + b"M001,2026-11-02T08:00:00+08:00,116.41,39.94\n" * 60_000  # > 2 MB
    assert_problem(upload("tracks", big), 413, detail_has="split")


def test_too_many_fixes_is_413(with_grids, upload, csv_rows, assert_problem, db_path):
    header, rows = csv_rows(HONEST)
    many = "\n".join([header] + rows * 3).encode()  # 5400 fixes, the test limit is 5000
    assert_problem(upload("tracks", many), 413, detail_has="5000")
    assert _count(db_path, "fixes") == 0


def test_malformed_csv_names_the_line(with_grids, upload, assert_problem):
    body = b"member_id,time,lon\nM001,2026-11-02T08:00:00+08:00,116.41\n"
    body_problem = assert_problem(upload("tracks", body), 422)
    assert "lat" in body_problem["detail"] and "upload.csv" in body_problem["detail"]
    events = b"event_id,member_id,time,lon,lat,category\nE1,M001,not-a-time,116.41,39.94,garbage\n"
    assert_problem(upload("events", events), 422, detail_has="line 2")


def test_gpx_needs_member_id_and_then_stores(with_grids, upload, assert_problem, db_path):
    gpx = (
        b'<?xml version="1.0"?><gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>'
        b'<trkpt lat="39.9418" lon="116.4101"><time>2026-11-02T00:30:00Z</time></trkpt>'
        b'<trkpt lat="39.9419" lon="116.4103"><time>2026-11-02T00:30:10Z</time></trkpt>'
        b"</trkseg></trk></gpx>"
    )
    assert_problem(upload("tracks", gpx, suffix=".gpx"), 422, detail_has="member_id")
    response = upload("tracks", gpx, suffix=".gpx", query="?member_id=M001")
    assert response.status_code == 201 and response.json["fixes_stored"] == 2
    assert response.json["patrols"][0]["patrol_id"] == "M001_20261102"


def test_unsupported_content_type_and_empty_body(with_grids, client, auth, assert_problem):
    response = client.post("/api/v1/tracks", data=b"x", headers={**auth["admin"], "Content-Type": "image/png"})
    assert_problem(response, 415, detail_has="Content-Type")
    response = client.post("/api/v1/tracks", data=b"", headers={**auth["admin"], "Content-Type": "text/csv"})
    assert_problem(response, 400, detail_has="empty")


def test_multipart_geojson_events_and_sites(with_grids, upload, client, auth):
    upload("tracks", HONEST)
    events = (SAMPLES / "events" / "events.csv").read_bytes()
    response = client.post(
        "/api/v1/events",
        headers=auth["admin"],
        data={"file": (__import__("io").BytesIO(events), "events.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 201
    assert (response.json["events_read"], response.json["created"]) == (7, 7)
    sites = upload("sites", SAMPLES / "sites" / "sites.csv")
    assert (sites.status_code, sites.json["created"]) == (201, 12)
    assert sites.json["patrols"][0]["patrol_id"] == "M001_20261102"


def test_uploader_only_for_its_members(with_grids, upload, assert_problem, db_path):
    assert upload("tracks", HONEST, role="uploader").status_code == 201
    assert_problem(upload("tracks", SAMPLES / "idle_M004.csv", role="uploader"), 403, detail_has="M004")
    assert _count(db_path, "fixes") == 1800


def test_evidence_names_the_uploaded_file_not_a_server_path(client, auth):
    body = (SAMPLES / "teleport_M002.csv").read_bytes()
    response = client.post(
        "/api/v1/tracks", data=body, headers={**auth["admin"], "Content-Type": "text/csv", "Prefer": "wait=30"}
    )
    assert response.status_code == 201
    patrol = client.get("/api/v1/patrols/M002_20261102", headers=auth["admin"]).json
    (teleport,) = [f for f in patrol["flags"] if f["code"] == "TELEPORT"]
    assert teleport["evidence"]["from"]["source"] == "upload.csv"
    assert "/tmp" not in str(patrol)
