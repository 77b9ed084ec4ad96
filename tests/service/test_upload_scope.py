"""Uploads stay inside their uploader's scope (spec "HTTP API"): the scope is checked before any
replay, Idempotency-Keys and event ids belong to the uploader's scope, and answers and evidence
name only what the caller may see."""

from __future__ import annotations

import pytest

from geoverify.store import tokens as token_store

from .conftest import SAMPLES

EVENT_HEADER = "event_id,member_id,time,lon,lat,category\n"


@pytest.fixture
def m003(store) -> dict[str, str]:
    """Headers of an uploader bound to M003 only (a member of grid DC-02)."""
    with store.write() as conn:
        token = token_store.create(conn, "uploader", ["M003"], "device-m003")[1]
    return {"Authorization": f"Bearer {token}"}


def post(client, kind: str, body: bytes, headers: dict, key: str | None = None, content_type: str = "text/csv"):
    headers = {**headers, "Content-Type": content_type, "Prefer": "wait=60"}
    if key:
        headers["Idempotency-Key"] = key
    return client.post(f"/api/v1/{kind}", data=body, headers=headers)


def test_a_copy_of_another_members_upload_is_refused_before_any_replay(with_grids, client, auth, m003):
    body = (SAMPLES / "gps_outlier_M003.csv").read_bytes()
    first = post(client, "tracks", body, m003, key="m003-batch-1")
    assert first.status_code == 201, first.json
    # The M001/M002 uploader sends the very same bytes, with and without M003's key.
    for key in ("m003-batch-1", None):
        copy = post(client, "tracks", body, auth["uploader"], key=key)
        assert copy.status_code == 403, copy.json
        assert "M003" in copy.json["detail"] and "M001" in copy.json["detail"]
        assert "patrols" not in copy.json


def test_idempotency_keys_belong_to_their_uploader(with_grids, client, auth, m003):
    mine = post(client, "tracks", (SAMPLES / "honest_M001.csv").read_bytes(), auth["uploader"], key="batch-1")
    assert mine.status_code == 201, mine.json
    # Another uploader's same key is its own key: no 422, no replay of the first uploader's answer.
    theirs = post(client, "tracks", (SAMPLES / "gps_outlier_M003.csv").read_bytes(), m003, key="batch-1")
    assert theirs.status_code == 201, theirs.json
    assert [p["patrol_id"] for p in theirs.json["patrols"]] == ["M003_20261102"]
    assert theirs.json["upload_id"] != mine.json["upload_id"]
    # Each uploader's retry with the key replays its own answer.
    again = post(client, "tracks", (SAMPLES / "honest_M001.csv").read_bytes(), auth["uploader"], key="batch-1")
    assert again.status_code == 200 and again.json["upload_id"] == mine.json["upload_id"]
    again = post(client, "tracks", (SAMPLES / "gps_outlier_M003.csv").read_bytes(), m003, key="batch-1")
    assert again.status_code == 200 and again.json["upload_id"] == theirs.json["upload_id"]
    # And the same key with other content from the same uploader is still a conflict.
    other = post(client, "tracks", (SAMPLES / "honest_M001.csv").read_bytes()[:-60], auth["uploader"], key="batch-1")
    assert other.status_code == 422, other.json


def test_event_ids_belong_to_their_member(with_grids, client, auth, m003):
    theirs = post(
        client,
        "events",
        (EVENT_HEADER + "E1,M003,2026-11-02T09:17:20+08:00,116.413413,39.9434,blocked_fire_lane\n").encode(),
        m003,
    )
    assert theirs.status_code == 201 and theirs.json["created"] == 1, theirs.json
    mine = post(
        client,
        "events",
        (EVENT_HEADER + "E1,M001,2026-11-02T10:02:24+08:00,116.410276,39.942149,illegal_parking\n").encode(),
        auth["uploader"],
    )
    assert mine.status_code == 201, mine.json
    assert mine.json["created"] == 1 and mine.json["rejected"] == {"duplicate": 0, "conflict": 0}, mine.json
    # Both stored, each with its own flags: an event with no track is EVENT_NO_TRACK for its own member.
    flags = client.get("/api/v1/flags?code=EVENT_NO_TRACK", headers=auth["auditor"]).json["flags"]
    assert sorted((f["event_id"], f["member_id"], f["flag_id"].split(".")[0]) for f in flags) == [
        ("E1", "M001", "E1@M001"),
        ("E1", "M003", "E1@M003"),
    ]
    # The member's own id repeated with other content is still a conflict.
    changed = post(
        client,
        "events",
        (EVENT_HEADER + "E1,M001,2026-11-02T10:02:24+08:00,116.410276,39.942149,garbage\n").encode(),
        auth["uploader"],
    )
    assert changed.json["rejected"] == {"duplicate": 0, "conflict": 1}, changed.json


def test_an_upload_answer_names_only_the_uploaders_patrols(with_grids, client, auth, m003, upload):
    for name in ("honest_M001.csv", "gps_outlier_M003.csv"):
        assert upload("tracks", SAMPLES / name).status_code == 201
    # M003 reports at 09:30; M001 then reports the same thing 10 m away at 09:00, which makes
    # M003's report the later duplicate: M003's day is queued again, but it is not M001's to see.
    later = post(
        client,
        "events",
        (EVENT_HEADER + "X3,M003,2026-11-02T09:30:00+08:00,116.413413,39.9434,garbage\n").encode(),
        m003,
    )
    assert later.status_code == 201, later.json
    earlier = post(
        client,
        "events",
        (EVENT_HEADER + "X1,M001,2026-11-02T09:00:00+08:00,116.413500,39.9434,garbage\n").encode(),
        auth["uploader"],
    )
    assert earlier.status_code == 201, earlier.json
    assert [p["patrol_id"] for p in earlier.json["patrols"]] == ["M001_20261102"]
    # The replay of the same request answers the same, to the same uploader.
    replay = post(
        client,
        "events",
        (EVENT_HEADER + "X1,M001,2026-11-02T09:00:00+08:00,116.413500,39.9434,garbage\n").encode(),
        auth["uploader"],
    )
    assert replay.status_code == 200 and [p["patrol_id"] for p in replay.json["patrols"]] == ["M001_20261102"]
    # A one-fix upload for M003 answers M003's patrol only.
    one = post(client, "tracks", b"member_id,time,lon,lat\nM003,2026-11-02T17:00:00+08:00,116.4134,39.9434\n", m003)
    assert one.status_code == 201 and [p["patrol_id"] for p in one.json["patrols"]] == ["M003_20261102"]


def test_event_duplicate_evidence_names_only_members_the_supervisor_sees(with_grids, client, auth, m003, upload):
    for name in ("honest_M001.csv", "gps_outlier_M003.csv"):
        assert upload("tracks", SAMPLES / name).status_code == 201
    # M003 (grid DC-02) reports first; M001 (grid DC-01, the supervisor's) reports it again 10 m away.
    assert (
        post(
            client,
            "events",
            (EVENT_HEADER + "X3,M003,2026-11-02T09:00:00+08:00,116.413413,39.9434,garbage\n").encode(),
            m003,
        ).status_code
        == 201
    )
    assert (
        post(
            client,
            "events",
            (EVENT_HEADER + "X1,M001,2026-11-02T09:30:00+08:00,116.413500,39.9434,garbage\n").encode(),
            auth["uploader"],
        ).status_code
        == 201
    )

    def duplicate_evidence(role: str) -> list[dict]:
        listed = client.get("/api/v1/flags?code=EVENT_DUPLICATE", headers=auth[role]).json["flags"]
        patrol = client.get("/api/v1/patrols/M001_20261102", headers=auth[role]).json
        shown = [f["evidence"] for f in patrol["event_flags"] if f["code"] == "EVENT_DUPLICATE"]
        return [f["evidence"] for f in listed] + shown

    seen_by_auditor = duplicate_evidence("auditor")
    assert len(seen_by_auditor) == 2
    assert {(e["earlier_member_id"], e["earlier_event_id"]) for e in seen_by_auditor} == {("M003", "X3")}
    seen_by_supervisor = duplicate_evidence("supervisor")
    assert len(seen_by_supervisor) == 2
    for evidence in seen_by_supervisor:
        assert evidence["earlier_member_id"] is None and evidence["earlier_event_id"] is None
        assert evidence["earlier_in_scope"] is False
        assert evidence["distance_m"] == seen_by_auditor[0]["distance_m"] and evidence["category"] == "garbage"


def test_a_track_upload_answers_a_swapped_columns_hint(with_grids, client, auth):
    header, *rows = (SAMPLES / "honest_M001.csv").read_text(encoding="utf-8").splitlines()
    swapped = [",".join(c[:2] + [c[3], c[2]] + c[4:]) for c in (r.split(",") for r in rows[:20])]
    answer = post(client, "tracks", ("\n".join([header, *swapped]) + "\n").encode(), auth["uploader"])
    assert answer.status_code == 201, answer.json
    assert answer.json["rejected"]["invalid"] == 20 and answer.json["accepted"] == 0  # counted, not dropped
    (hint,) = answer.json["warnings"]
    assert hint.startswith("the upload: columns lon and lat look swapped: 20 fix(es)") and "line 2: lon=39.9" in hint
    plain = post(client, "tracks", (SAMPLES / "honest_M001.csv").read_bytes(), auth["uploader"])
    assert plain.status_code == 201 and plain.json["warnings"] == []
