"""Flag reviews by an auditor: the credit change lands in the ledger at once."""

from __future__ import annotations

import pytest

from .conftest import SAMPLES


def _teleport_flag(client, auth) -> dict:
    page = client.get("/api/v1/flags?code=TELEPORT&status=open", headers=auth["auditor"]).json
    assert page["total"] == 1
    return page["flags"][0]


def test_dismissing_the_teleport_grants_the_held_patrol(with_grids, upload, client, auth):
    upload("tracks", SAMPLES / "teleport_M002.csv")
    patrol = client.get("/api/v1/patrols/M002_20261102", headers=auth["auditor"]).json
    assert patrol["credit"] == {"status": "held", "points": 0}
    assert client.get("/api/v1/credits", headers=auth["scorer"]).json["entries"] == []
    flag = _teleport_flag(client, auth)
    assert (flag["patrol_id"], flag["severity"], flag["grid_id"]) == ("M002_20261102", "high", "DC-01")
    assert flag["evidence"]["max_speed_kmh"] > 150

    response = client.post(
        f"/api/v1/flags/{flag['flag_id']}/review",
        headers=auth["auditor"],
        json={"decision": "dismiss", "note": "metro tunnel, phone lost fix"},
    )
    assert response.status_code == 200
    result = response.json
    assert result["flag"]["status"] == "dismissed"
    assert result["credit"]["status"] == "verified"
    assert result["review"]["reviewer"] == "test-auditor"
    # The hold is lifted, but 1.25 h of patrol earns 0 points: a 0-point credit is not written.
    assert result["credit"]["points"] == 0 and result["ledger"] == []
    feed = client.get("/api/v1/credits?after=0", headers=auth["scorer"]).json
    assert feed == {"entries": [], "next": 0}
    after = client.get("/api/v1/patrols/M002_20261102", headers=auth["supervisor"]).json
    assert after["credit"] == result["credit"]
    assert [f["status"] for f in after["flags"] if f["code"] == "TELEPORT"] == ["dismissed"]
    assert client.get("/api/v1/flags?status=dismissed", headers=auth["auditor"]).json["total"] == 1


def test_confirming_a_high_flag_rejects_and_reverses(with_grids, upload, client, auth):
    # M007's three hours are held by MOCK_LOCATION: dismissed, they earn 5 points at once.
    upload("tracks", SAMPLES / "mock_location_M007.csv")
    flag = client.get("/api/v1/flags?code=MOCK_LOCATION", headers=auth["auditor"]).json["flags"][0]
    url = f"/api/v1/flags/{flag['flag_id']}/review"
    granted = client.post(url, headers=auth["auditor"], json={"decision": "dismiss", "note": "first look"}).json
    [grant] = granted["ledger"]
    assert (grant["kind"], grant["patrol_id"], grant["points"]) == ("grant", "M007_20261102", 5)
    # A second review overturns the first: it must say so (without "overturn" it answers 409,
    # tests/service/test_review_workbench.py).
    confirmed = client.post(
        url, headers=auth["auditor"], json={"decision": "confirm", "note": "CCTV: member was at home", "overturn": True}
    ).json
    assert confirmed["credit"] == {"status": "rejected", "points": 0}
    assert confirmed["flag"]["status"] == "confirmed"
    [reversal] = confirmed["ledger"]
    assert (reversal["kind"], reversal["reverses"], reversal["seq"]) == ("reversal", grant["credit_id"], 2)
    assert reversal["points"] == -grant["points"]
    feed = client.get("/api/v1/credits?after=0", headers=auth["scorer"]).json["entries"]
    assert [e["kind"] for e in feed] == ["grant", "reversal"]
    assert sum(e["points"] for e in feed) == 0
    audit = client.get("/api/v1/audit?limit=1000", headers=auth["auditor"]).json["entries"]
    reviews = [e for e in audit if e["action"] == "flag.reviewed"]
    assert [(r["detail"]["decision"], r["actor"]) for r in reviews] == [
        ("dismissed", "test-auditor"),
        ("confirmed", "test-auditor"),
    ]


def test_confirming_a_medium_flag_changes_no_credit(with_grids, upload, client, auth):
    upload("tracks", SAMPLES / "idle_M004.csv")
    before = client.get("/api/v1/patrols/M004_20261102", headers=auth["auditor"]).json["credit"]
    flag = client.get("/api/v1/flags?code=IDLE", headers=auth["auditor"]).json["flags"][0]
    result = client.post(
        f"/api/v1/flags/{flag['flag_id']}/review",
        headers=auth["auditor"],
        json={"decision": "confirm", "note": "phone on the desk"},
    ).json
    assert result["credit"] == before and result["ledger"] == []


def test_review_needs_a_note_a_decision_and_an_existing_flag(with_grids, upload, client, auth, assert_problem):
    upload("tracks", SAMPLES / "teleport_M002.csv")
    flag = _teleport_flag(client, auth)
    url = f"/api/v1/flags/{flag['flag_id']}/review"
    assert_problem(
        client.post(url, headers=auth["auditor"], json={"decision": "dismiss", "note": "  "}), 422, detail_has="note"
    )
    assert_problem(
        client.post(url, headers=auth["auditor"], json={"decision": "maybe", "note": "x"}), 422, detail_has="confirm"
    )
    assert_problem(client.post(url, headers=auth["auditor"], data="no json"), 422, detail_has="JSON")
    assert_problem(
        client.post("/api/v1/flags/NOPE/review", headers=auth["auditor"], json={"decision": "dismiss", "note": "x"}),
        404,
        detail_has="NOPE",
    )
    assert client.get("/api/v1/flags?status=open", headers=auth["auditor"]).json["total"] >= 1


@pytest.mark.parametrize(
    "decision, note, message",
    [
        (["dismiss"], "checked", "decision must be 'confirm' or 'dismiss'"),
        (None, "checked", "decision must be 'confirm' or 'dismiss'"),
        ("dismiss", "bad\x00note", "NUL character"),
    ],
)
def test_the_library_refuses_odd_decisions_and_notes(store, decision, note, message):
    """Callers other than the API (CLI, scripts) get the same checks as the HTTP endpoint."""
    from geoverify.errors import InvalidRequest
    from geoverify.store.reviews import review_flag

    with pytest.raises(InvalidRequest, match=message):
        review_flag(store, "P.TELEPORT.000000Z", decision, note, "auditor")


def test_a_member_day_reads_only_the_reviews_of_its_own_flags(store):
    """Verifying a member-day reads the reviews of its patrol's and its events' flags (ids
    ``<patrol_id>.…`` and ``<event_id>@<member_id>.…``), each flag's latest, and not every review
    ever made: a city's reviews grow all year."""
    from geoverify.store.schema import reviews
    from geoverify.store.verification import reviews_map

    made = [
        ("M001_20261102.IDLE.013000Z", "confirmed"),
        ("M001_20261102.IDLE.013000Z", "dismissed"),  # the latest review of that flag
        ("M001_20261103.LOOP.010000Z", "confirmed"),  # the next day's
        ("E7@M001.EVENT_DUPLICATE.020000Z", "confirmed"),
        ("M0011_20261102.IDLE.013000Z", "confirmed"),  # another member, whose id extends M001
        ("M001_20261102X.IDLE.013000Z", "confirmed"),  # not "<patrol_id>."
    ]
    with store.write() as conn:
        conn.execute(
            reviews.insert(),
            [
                {"flag_id": f, "decision": d, "note": "n", "reviewer": "a", "created_at": "2026-11-03T00:00:00Z"}
                for f, d in made
            ],
        )
    with store.read() as conn:
        assert reviews_map(conn, ["M001_20261102", "E7@M001"]) == {
            "M001_20261102.IDLE.013000Z": "dismissed",
            "E7@M001.EVENT_DUPLICATE.020000Z": "confirmed",
        }
        assert reviews_map(conn, []) == {}
        assert len(reviews_map(conn)) == 5  # every flag reviewed
