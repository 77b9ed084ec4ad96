"""The scorer's cursor: every ledger entry exactly once, also while entries are appended."""

from __future__ import annotations

import threading

from geoverify.store import ledger


def _patrol(i: int, points: int) -> dict:
    return {
        "patrol_id": f"P{i:03d}_20261102",
        "member_id": f"P{i:03d}",
        "grid_id": "DC-01",
        "date": "2026-11-02",
        "verified_s": 7200.0 + points,
        "rule_version": "test",
        "credit": {"status": "verified", "points": points},
    }


def test_settled_ledger_writes_changes_of_status_or_points_only(store):
    # Spec "Ledger": no 0-point grants; a change of verified_s alone appends nothing; nothing before
    # the day has settled.
    with store.write() as conn:
        assert ledger.sync_patrol(conn, _patrol(7, 0)) == []
        assert ledger.sync_patrol(conn, _patrol(7, 5), settled=False) == []
        [grant] = ledger.sync_patrol(conn, _patrol(7, 5))
        assert (grant["kind"], grant["points"]) == ("grant", 5)
        assert ledger.sync_patrol(conn, {**_patrol(7, 5), "verified_s": 9999.0}) == []
        reversal, regrant = ledger.sync_patrol(conn, _patrol(7, 4))
        assert (reversal["points"], reversal["reverses"], regrant["points"]) == (-5, grant["credit_id"], 4)
        [gone] = ledger.sync_patrol(conn, _patrol(7, 0))
        assert (gone["kind"], gone["points"]) == ("reversal", -4)


def test_cursor_sees_every_entry_once_under_concurrent_appends(app, store, client, auth):
    writers, patrols_each, rounds = 4, 10, 3
    done = threading.Event()
    seen: list[int] = []
    errors: list[BaseException] = []

    def write(w: int) -> None:
        try:
            for r in range(rounds):
                for i in range(patrols_each):
                    with store.write() as conn:
                        ledger.sync_patrol(conn, _patrol(w * 100 + i, r + 1))
        except BaseException as exc:  # noqa: BLE001 -- a thread's failure is reported below
            errors.append(exc)

    def read() -> None:
        cursor, reader = 0, app.test_client()
        while True:
            finished = done.is_set()
            page = reader.get(f"/api/v1/credits?after={cursor}&limit=7", headers=auth["scorer"]).json
            seen.extend(e["seq"] for e in page["entries"])
            cursor = page["next"]
            if finished and not page["entries"]:
                return

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    scorer = threading.Thread(target=read)
    scorer.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    scorer.join(timeout=60)
    assert not errors
    # Round 0 grants 1 point; rounds 1 and 2 change the points, each a reversal and a new grant:
    # 1 + 2 + 2 entries per patrol.
    total = writers * patrols_each * (1 + 2 * (rounds - 1))
    assert seen == list(range(1, total + 1))
    entries = client.get("/api/v1/credits?after=0&limit=1000", headers=auth["scorer"]).json["entries"]
    assert sum(e["points"] for e in entries) == writers * patrols_each * rounds
    assert sum(1 for e in entries if e["kind"] == "reversal") == writers * patrols_each * (rounds - 1)


def test_paging_and_bad_cursor(store, client, auth, assert_problem):
    with store.write() as conn:
        for i in range(5):
            ledger.sync_patrol(conn, _patrol(i, 5))
    first = client.get("/api/v1/credits?after=0&limit=2", headers=auth["scorer"]).json
    assert [e["seq"] for e in first["entries"]] == [1, 2] and first["next"] == 2
    rest = client.get("/api/v1/credits?after=2&limit=100", headers=auth["scorer"]).json
    assert [e["seq"] for e in rest["entries"]] == [3, 4, 5] and rest["next"] == 5
    assert client.get("/api/v1/credits?after=5", headers=auth["scorer"]).json == {"entries": [], "next": 5}
    assert_problem(client.get("/api/v1/credits?after=abc", headers=auth["scorer"]), 400, detail_has="after")
    assert_problem(client.get("/api/v1/credits?limit=0", headers=auth["scorer"]), 400, detail_has="limit")


def test_unchanged_credit_appends_nothing(store):
    with store.write() as conn:
        assert len(ledger.sync_patrol(conn, _patrol(1, 5))) == 1
        assert ledger.sync_patrol(conn, _patrol(1, 5)) == []
        held = {**_patrol(1, 0), "credit": {"status": "held", "points": 0}}
        [reversal] = ledger.sync_patrol(conn, held)
        assert (reversal["kind"], reversal["points"]) == ("reversal", -5)
        assert ledger.sync_patrol(conn, held) == []
        assert ledger.balance(conn, "P001_20261102") == 0
