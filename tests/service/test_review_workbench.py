"""The auditor's workbench (issue #14): the queue ordered by what is at stake, what a decision
will do said before it is taken, every review on record, and overturning a decision only when
the review says so."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from geoverify.rules import RuleSet
from geoverify.store.workbench import stake

from .conftest import SAMPLES


@pytest.fixture
def day(with_grids, upload):
    for name in ("teleport_M002", "mock_location_M007", "idle_M004", "honest_M001"):
        assert upload("tracks", SAMPLES / f"{name}.csv").status_code == 201


def flag_of(client, auth, code: str) -> dict:
    [flag] = client.get(f"/api/v1/flags?code={code}", headers=auth["auditor"]).json["flags"]
    return flag


def audit_length(client, auth) -> int:
    return len(client.get("/api/v1/audit?limit=1000", headers=auth["auditor"]).json["entries"])


def test_preview_says_what_each_decision_does_and_writes_nothing(day, client, auth):
    flag = flag_of(client, auth, "TELEPORT")
    logged = audit_length(client, auth)
    response = client.get(f"/api/v1/flags/{flag['flag_id']}/preview", headers=auth["auditor"])
    assert response.status_code == 200, response.json
    preview = response.json
    assert (preview["status"], preview["overturn_required"], preview["previous_review"]) == ("open", False, None)
    assert preview["current"]["credit"] == {"status": "held", "points": 0}
    dismiss, confirm = preview["outcomes"]["dismiss"], preview["outcomes"]["confirm"]
    # Dismissed, M002's hold is lifted but 1.25 h of verified time earns nothing: the reasons say why.
    assert dismiss["credit"] == {"status": "verified", "points": 0} and dismiss["changes_credit"] is True
    reasons = {r["rule"]: r for r in dismiss["credit_reasons"]}
    assert reasons["verified_time"]["met"] is False and reasons["verified_time"]["required_s"] == 7200
    assert reasons["verified_time"]["value_s"] == pytest.approx(dismiss["verified_s"])
    assert dismiss["verified_s"] > preview["current"]["verified_s"]  # the jump's 10 s count again
    assert dismiss["ledger"] == []
    assert confirm["credit"] == {"status": "rejected", "points": 0} and confirm["flag_status"] == "confirmed"
    assert [r["rule"] for r in confirm["credit_reasons"]][0] == "rejected"
    # nothing was written: no review, no audit entry, the flag still open
    assert audit_length(client, auth) == logged
    assert flag_of(client, auth, "TELEPORT")["status"] == "open"
    # the review then does what the preview said
    done = client.post(
        f"/api/v1/flags/{flag['flag_id']}/review",
        headers=auth["auditor"],
        json={"decision": "dismiss", "note": "metro tunnel"},
    ).json
    assert done["credit"] == dismiss["credit"]
    patrol = client.get("/api/v1/patrols/M002_20261102", headers=auth["auditor"]).json
    assert patrol["verified_s"] == dismiss["verified_s"]
    assert patrol["credit_reasons"] == dismiss["credit_reasons"]


def test_one_preview_foretells_both_decisions(day, client, auth):
    """The preview reads the member-day once and measures it per decision: each outcome is what that
    decision then does (M004's IDLE: confirmed it keeps 40 min off, dismissed they count again)."""
    flag = flag_of(client, auth, "IDLE")
    url = f"/api/v1/flags/{flag['flag_id']}"
    preview = client.get(url + "/preview", headers=auth["auditor"]).json
    confirm, dismiss = preview["outcomes"]["confirm"], preview["outcomes"]["dismiss"]
    assert dismiss["verified_s"] > confirm["verified_s"] == preview["current"]["verified_s"]
    for decision, outcome, overturn in (("confirm", confirm, False), ("dismiss", dismiss, True)):
        done = client.post(
            url + "/review",
            headers=auth["auditor"],
            json={"decision": decision, "note": f"{decision} it", "overturn": overturn},
        )
        assert done.status_code == 200, done.json
        patrol = client.get("/api/v1/patrols/M004_20261102", headers=auth["auditor"]).json
        assert (patrol["verified_s"], patrol["in_grid_s"], patrol["credit"], patrol["credit_reasons"]) == (
            outcome["verified_s"],
            outcome["in_grid_s"],
            outcome["credit"],
            outcome["credit_reasons"],
        )


def test_preview_names_the_ledger_entry_a_dismissal_appends(day, client, auth):
    flag = flag_of(client, auth, "MOCK_LOCATION")
    preview = client.get(f"/api/v1/flags/{flag['flag_id']}/preview?decision=dismiss", headers=auth["auditor"]).json
    assert list(preview["outcomes"]) == ["dismiss"]
    assert preview["outcomes"]["dismiss"]["credit"] == {"status": "verified", "points": 5}
    assert preview["outcomes"]["dismiss"]["ledger"] == [{"kind": "grant", "points": 5}]
    done = client.post(
        f"/api/v1/flags/{flag['flag_id']}/review",
        headers=auth["auditor"],
        json={"decision": "dismiss", "note": "test device"},
    ).json
    assert [(e["kind"], e["points"]) for e in done["ledger"]] == [("grant", 5)]
    again = client.get(f"/api/v1/flags/{flag['flag_id']}/preview", headers=auth["auditor"]).json
    assert again["overturn_required"] is True and again["previous_review"]["reviewer"] == "test-auditor"
    assert again["outcomes"]["confirm"]["ledger"] == [{"kind": "reversal", "points": -5}]
    assert again["outcomes"]["dismiss"]["changes_credit"] is False


def test_overturning_a_decision_needs_overturn_and_a_note(day, client, auth, assert_problem):
    flag = flag_of(client, auth, "MOCK_LOCATION")
    url = f"/api/v1/flags/{flag['flag_id']}/review"
    first = client.post(url, headers=auth["auditor"], json={"decision": "dismiss", "note": "test device"})
    assert first.status_code == 200
    # dismissing again, or confirming, without saying it overturns the first review: 409
    for decision in ("confirm", "dismiss"):
        problem = assert_problem(
            client.post(url, headers=auth["auditor"], json={"decision": decision, "note": "x"}),
            409,
            detail_has='"overturn": true',
        )
        assert problem["title"] == "ReviewConflict"
        assert "already dismissed by test-auditor" in problem["detail"]
        assert problem["previous_review"]["note"] == "test device"
    assert_problem(
        client.post(url, headers=auth["auditor"], json={"decision": "confirm", "note": "x", "overturn": "yes"}),
        422,
        detail_has="overturn",
    )
    assert_problem(
        client.post(url, headers=auth["auditor"], json={"decision": "confirm", "note": " ", "overturn": True}),
        422,
        detail_has="note",
    )
    assert flag_of(client, auth, "MOCK_LOCATION")["status"] == "dismissed"  # nothing changed
    overturned = client.post(
        url,
        headers=auth["auditor"],
        json={"decision": "confirm", "note": "CCTV: at home all morning", "overturn": True},
    )
    assert overturned.status_code == 200, overturned.json
    assert overturned.json["credit"] == {"status": "rejected", "points": 0}
    assert [(e["kind"], e["points"]) for e in overturned.json["ledger"]] == [("reversal", -5)]
    # the history: both reviews, oldest first, in the flag list and the patrol
    listed = flag_of(client, auth, "MOCK_LOCATION")
    assert [(r["decision"], r["reviewer"], r["note"]) for r in listed["reviews"]] == [
        ("dismissed", "test-auditor", "test device"),
        ("confirmed", "test-auditor", "CCTV: at home all morning"),
    ]
    assert all(r["created_at"] and r["review_id"] for r in listed["reviews"])
    patrol = client.get("/api/v1/patrols/M007_20261102", headers=auth["auditor"]).json
    assert patrol["flags"][0]["reviews"] == listed["reviews"]
    [rejected] = [r for r in patrol["credit_reasons"] if r["rule"] == "rejected"]
    assert rejected["review"]["reviewer"] == "test-auditor" and rejected["review"]["decision"] == "confirmed"
    entries = client.get("/api/v1/audit?limit=1000", headers=auth["auditor"]).json["entries"]
    reviewed = [e["detail"] for e in entries if e["action"] == "flag.reviewed"]
    assert reviewed[0]["overturns"] is None and reviewed[1]["overturns"] == listed["reviews"][0]["review_id"]


def test_the_queue_puts_held_credit_first(day, client, auth):
    queue = client.get("/api/v1/flags/queue", headers=auth["auditor"]).json
    codes = [f["code"] for f in queue["flags"]]
    assert queue["total"] == len(codes) == 4  # MOCK_LOCATION, TELEPORT, IDLE, M001's GAP
    # M007's hold is worth 5 points once released, M002's nothing (1.25 h): held credit first, most points first
    assert codes[:2] == ["MOCK_LOCATION", "TELEPORT"]
    assert queue["flags"][0]["stake"] == {"kind": "held_credit", "points": 5, "seconds": pytest.approx(10790, abs=1)}
    assert queue["flags"][1]["stake"]["kind"] == "held_credit" and queue["flags"][1]["stake"]["points"] == 0
    assert queue["flags"][0]["patrol_credit"] == {"status": "held", "points": 0}
    # then the time a dismissal gives back: the 3 h gap of M001, then M004's 40 min of IDLE
    assert [(f["code"], f["stake"]["kind"]) for f in queue["flags"][2:]] == [("GAP", "time"), ("IDLE", "time")]
    page = client.get("/api/v1/flags/queue?offset=1&limit=2", headers=auth["auditor"]).json
    assert [f["code"] for f in page["flags"]] == codes[1:3] and page["next_offset"] == 3
    assert [
        f["code"] for f in client.get("/api/v1/flags/queue?member_id=M004", headers=auth["auditor"]).json["flags"]
    ] == ["IDLE"]
    # reviewed flags leave the queue
    client.post(
        f"/api/v1/flags/{queue['flags'][0]['flag_id']}/review",
        headers=auth["auditor"],
        json={"decision": "dismiss", "note": "ok"},
    )
    assert [f["code"] for f in client.get("/api/v1/flags/queue", headers=auth["auditor"]).json["flags"]] == codes[1:]


def test_a_dismissal_that_would_earn_points_comes_before_time_alone():
    rules = RuleSet()
    row = SimpleNamespace(
        event_id=None,
        credit_status="verified",
        patrol_points=0.0,
        patrol_verified_s=6000.0,
        severity="medium",
        code="IDLE",
    )
    doc = {"coverage": {"area_ratio": 0.8}}
    assert stake(row, {"excluded_in_grid_s": 1500.0}, doc, rules) == {
        "kind": "could_earn",
        "points": 5,
        "seconds": 1500.0,
    }
    assert stake(row, {"excluded_in_grid_s": 900.0}, doc, rules)["kind"] == "time"
    assert stake(row, {"excluded_in_grid_s": 1500.0}, {"coverage": {"area_ratio": 0.2}}, rules)["kind"] == "time"
    event = SimpleNamespace(**{**vars(row), "event_id": "E1"})
    assert stake(event, {}, doc, rules)["kind"] == "none"


def test_queue_and_preview_are_for_auditors(day, client, auth, assert_problem):
    flag = flag_of(client, auth, "TELEPORT")
    for path in ("/api/v1/flags/queue", f"/api/v1/flags/{flag['flag_id']}/preview"):
        assert_problem(client.get(path, headers=auth["supervisor"]), 403, detail_has="supervisor")
        assert client.get(path, headers=auth["admin"]).status_code == 200
    assert_problem(client.get("/api/v1/flags/NOPE/preview", headers=auth["auditor"]), 404, detail_has="NOPE")
    assert_problem(
        client.get(f"/api/v1/flags/{flag['flag_id']}/preview?decision=maybe", headers=auth["auditor"]),
        400,
        detail_has="decision",
    )


def test_patrol_list_carries_the_credit_reasons(day, client, auth):
    patrols = client.get("/api/v1/patrols?member_id=M002", headers=auth["auditor"]).json["patrols"]
    [m002] = patrols
    assert [r["rule"] for r in m002["credit_reasons"]] == ["held", "verified_time", "coverage", "points"]


def test_the_new_endpoints_are_in_the_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").json
    assert "get" in spec["paths"]["/api/v1/flags/queue"] and "get" in spec["paths"]["/api/v1/flags/{flag_id}/preview"]
    assert "overturn" in spec["components"]["schemas"]["Review"]["properties"]
