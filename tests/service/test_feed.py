"""The credit feed as the database serialises it (``ledger.page_json``) and its entry cache."""

from __future__ import annotations

import json

from geoverify.store import Store, ledger

from .conftest import NOW


def _fill(store: Store, patrols: int, prefix: str = "P") -> None:
    """Grants with whole and fractional points and a null grid, then a reversal and new grant for half."""
    with store.write() as conn:
        for i in range(patrols):
            patrol = {
                "patrol_id": f"{prefix}{i:03d}_20261102",
                "member_id": f"{prefix}{i:03d}",
                "grid_id": None if i % 4 == 0 else "DC-01",
                "date": "2026-11-02",
                "verified_s": 7200.0 + i / 3,
                "rule_version": "test",
                "credit": {"status": "verified", "points": 5 if i % 3 else 2.5},
            }
            ledger.sync_patrol(conn, patrol)
            if i % 2:
                ledger.sync_patrol(
                    conn, {**patrol, "verified_s": 9000.125, "credit": {"status": "verified", "points": 4}}
                )


PAGES = ((0, 1000), (0, 1), (3, 7), (10, 20), (39, 5), (40, 5), (10**9, 3))


def test_page_json_equals_page_with_and_without_cache(store):
    _fill(store, 20)  # 40 entries: 20 grants, 10 reversals, 10 new grants
    cache = ledger.EntryCache()
    for round_ in range(2):  # the second round is served from the cache
        for after, limit in PAGES:
            with store.read() as conn:
                expected = ledger.page(conn, after, limit)
                assert json.loads(ledger.page_json(conn, after, limit)) == expected, (after, limit)
                assert json.loads(ledger.page_json(conn, after, limit, cache)) == expected, (round_, after, limit)
    assert len(cache) == 40
    with store.read() as conn:
        whole = ledger.page(conn, 0, 1000)["entries"]
    assert [e["points"] for e in whole[:4]] == [2.5, 5, -5, 4]
    assert whole[0]["grid_id"] is None and whole[3]["verified_s"] == 9000.125


def test_cache_serves_a_replaced_database_correctly(store, tmp_path):
    """A cache filled from one ledger and then used on another (a restored backup) answers the other."""
    _fill(store, 6)
    cache = ledger.EntryCache()
    with store.read() as conn:
        first = json.loads(ledger.page_json(conn, 0, 100, cache))
    other = Store.open(f"sqlite:///{tmp_path / 'other.db'}", now=NOW)
    try:
        _fill(other, 6, prefix="Q")
        with other.read() as conn:
            for after, limit in ((0, 100), (2, 3), (8, 1)):
                assert json.loads(ledger.page_json(conn, after, limit, cache)) == ledger.page(conn, after, limit)
    finally:
        other.dispose()
    assert first["entries"][0]["patrol_id"].startswith("P")


def test_cache_is_bounded(store):
    _fill(store, 20)
    cache = ledger.EntryCache(max_entries=8)
    with store.read() as conn:
        for after in range(0, 40, 5):
            assert json.loads(ledger.page_json(conn, after, 5, cache)) == ledger.page(conn, after, 5)
            assert len(cache) <= 8


def test_feed_over_http_is_the_ledger(store, client, auth):
    _fill(store, 20)
    for _ in range(2):  # the second answer comes from the app's cache
        response = client.get("/api/v1/credits?after=0&limit=1000", headers=auth["scorer"])
        assert response.status_code == 200 and response.mimetype == "application/json"
        with store.read() as conn:
            assert response.get_json() == ledger.page(conn, 0, 1000)
