"""The day overview (GET /api/v1/map/day) on both databases: grid states, flag counts, scope, dates."""

from __future__ import annotations

from .conftest import SAMPLES

DAY = "2026-11-02"


def test_the_day_overview_on_either_database(with_grids, upload, client, auth):
    for name in ("honest_M001.csv", "teleport_M002.csv", "idle_M004.csv"):
        assert upload("tracks", SAMPLES / name).status_code in (200, 201)
    assert upload("events", SAMPLES / "events" / "events.csv").status_code in (200, 201)
    day = client.get("/api/v1/map/day", headers=auth["auditor"]).json
    assert day["date"] == DAY and day["dates"] == [DAY]
    grids = {g["grid_id"]: g for g in day["grids"]}
    assert grids["DC-01"]["state"] == "held" and grids["DC-01"]["states"] == {"held": 1, "flagged": 1}
    assert grids["DC-02"]["state"] == "flagged"
    assert sum(g["state"] == "none" for g in day["grids"]) == len(day["grids"]) - 2
    patrols = {p["patrol_id"]: p for p in day["patrols"]}
    assert patrols["M001_20261102"]["flags"] == 4  # its GAP and the three flags of its event reports
    listed = client.get("/api/v1/patrols?member_id=M001", headers=auth["auditor"]).json["patrols"][0]
    assert listed["flags"] == 4
    assert {f["patrol_id"] for f in day["flags"]} == set(patrols)
    scoped = client.get(f"/api/v1/map/day?date={DAY}", headers=auth["supervisor"]).json
    assert [g["grid_id"] for g in scoped["grids"]] == ["DC-01"]
    assert sorted(p["member_id"] for p in scoped["patrols"]) == ["M001", "M002"]
    assert client.get("/api/v1/map/day?date=2026-11-03", headers=auth["auditor"]).json["patrols"] == []
