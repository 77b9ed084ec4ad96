"""Tamper evidence that survives a database administrator (issue #13).

Each test tampers with the real database by SQL, as someone with full access to it but without the
audit key would, then runs ``geoverify audit verify`` and ``GET /api/v1/audit/verify`` and checks
the first broken seq and the cause they name. The store signs a checkpoint of the chain head at the
end of every writer transaction that appended to the audit log (``GEOVERIFY_AUDIT_KEY``).

The ``ledgered`` store, seq by seq (checkpoints after each transaction: 1-7, 9, 10):

==== ================= ======================================
seq  action            transaction
==== ================= ======================================
1-5  token.created     one each (the ``tokens`` fixture)
6    credit.grant      ledger seq 1: P1 5 points
7    credit.grant      ledger seq 2: P2 5 points
8    credit.reversal   ledger seq 3: P1 -5  (one transaction
9    credit.grant      ledger seq 4: P1 4    for both)
10   token.created     "late"
==== ================= ======================================
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat

import pytest
from click.testing import CliRunner

from geoverify.store import ledger
from geoverify.store import tokens as token_store

GENESIS = "0" * 64


@pytest.fixture
def key_path(tmp_path, cli, monkeypatch):
    """A fresh Ed25519 audit key made by ``geoverify audit keygen``, configured for the CLI and the app."""
    path = tmp_path / "keys" / "audit.key"
    result = CliRunner().invoke(cli, ["audit", "keygen", "--out", str(path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    monkeypatch.setenv("GEOVERIFY_AUDIT_KEY", str(path))
    return path


@pytest.fixture
def app(key_path, app):
    """The service of conftest, created after the key is configured (it signs checkpoints)."""
    return app


def _patrol(name: str, points: float) -> dict:
    return {
        "patrol_id": f"{name}_20261102",
        "member_id": name,
        "grid_id": "DC-01",
        "date": "2026-11-02",
        "verified_s": 7300.125,
        "rule_version": "test",
        "credit": {"status": "verified", "points": points},
    }


@pytest.fixture
def ledgered(store, tokens, db_execute):
    for patrol in (_patrol("P1", 5), _patrol("P2", 5), _patrol("P1", 4)):
        with store.write() as conn:
            ledger.sync_patrol(conn, patrol)
    with store.write() as conn:
        token_store.create(conn, "scorer", [], "late")
    assert db_execute("SELECT seq, action FROM audit_log WHERE seq > 5 ORDER BY seq") == [
        (6, "credit.grant"),
        (7, "credit.grant"),
        (8, "credit.reversal"),
        (9, "credit.grant"),
        (10, "token.created"),
    ]
    assert [r[0] for r in db_execute("SELECT seq FROM audit_checkpoints ORDER BY seq")] == [5, 6, 7, 9, 10]
    return store


def _verdicts(client, auth, runner, *args):
    """The endpoint's answer and the command's result."""
    response = client.get("/api/v1/audit/verify", headers=auth["auditor"])
    assert response.status_code == 200
    return response.get_json(), runner(["audit", "verify", *args])


def _assert_broken(client, auth, runner, seq: int, cause: str, *args, says: str = "") -> dict:
    verdict, result = _verdicts(client, auth, runner, *args)
    assert (verdict["ok"], verdict["first_broken"], verdict["cause"]) == (False, seq, cause), verdict
    assert says in verdict["reason"], verdict["reason"]
    assert result.exit_code == 1, result.output
    assert f"audit log BROKEN at seq {seq} ({cause}): " in result.output, result.output
    assert says in result.output
    return verdict


def _rehash(db_execute, start: int) -> None:
    """What an administrator who knows the format does after an edit: recompute every hash from
    ``start`` on, the head, and the ledger's copies of the hashes (standard library only)."""
    prev = db_execute("SELECT hash FROM audit_log WHERE seq = :s", s=start - 1)[0][0] if start > 1 else GENESIS
    rows = db_execute(
        "SELECT seq, at, actor, action, object_type, object_id, detail FROM audit_log WHERE seq >= :s ORDER BY seq",
        s=start,
    )
    for seq, at, actor, action, object_type, object_id, detail in rows:
        body = {
            "seq": seq,
            "at": at,
            "actor": actor,
            "action": action,
            "object_type": object_type,
            "object_id": object_id,
            "detail": json.loads(detail),
            "prev_hash": prev,
        }
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        db_execute("UPDATE audit_log SET prev_hash = :p, hash = :h WHERE seq = :s", p=prev, h=digest, s=seq)
        prev = digest
    db_execute("UPDATE audit_head SET seq = :s, hash = :h", s=rows[-1][0], h=prev)
    db_execute("UPDATE ledger SET chain_hash = (SELECT hash FROM audit_log WHERE audit_log.seq = ledger.chain_seq)")


def _edit_points(db_execute, audit_seq: int, ledger_seq: int, points: int) -> None:
    """Change a grant's points in its audit entry and in the ledger alike."""
    [(detail,)] = db_execute("SELECT detail FROM audit_log WHERE seq = :s", s=audit_seq)
    changed = json.loads(detail)
    changed["points"] = points
    text = json.dumps(changed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    db_execute("UPDATE audit_log SET detail = :d WHERE seq = :s", d=text, s=audit_seq)
    db_execute("UPDATE ledger SET points = :p WHERE seq = :s", p=points, s=ledger_seq)


def test_untouched_store_verifies_with_a_signed_checkpoint(ledgered, client, auth, runner):
    verdict, result = _verdicts(client, auth, runner)
    assert (verdict["ok"], verdict["first_broken"], verdict["entries"], verdict["ledger_entries"]) == (
        True,
        None,
        10,
        4,
    ), verdict
    assert (verdict["checkpoint"]["seq"], verdict["checkpoint"]["signature"]) == (10, "valid")
    assert verdict["warnings"] == []
    assert result.exit_code == 0
    assert "audit log OK: 10 entries" in result.output
    assert "4 ledger entries match their audit entries" in result.output
    assert "checkpoint seq 10" in result.output and "signature valid" in result.output


def test_deleting_the_tail_and_moving_the_head_is_truncation(ledgered, client, auth, runner, db_execute):
    db_execute("DELETE FROM audit_log WHERE seq > 8")
    db_execute("UPDATE audit_head SET seq = 8, hash = (SELECT hash FROM audit_log WHERE seq = 8)")
    _assert_broken(client, auth, runner, 9, "truncated", says="checkpoint")


def test_an_edit_with_the_chain_and_head_recomputed_is_a_rewrite(ledgered, client, auth, runner, db_execute):
    _edit_points(db_execute, audit_seq=7, ledger_seq=2, points=50)
    _rehash(db_execute, 7)
    verdict = _assert_broken(client, auth, runner, 7, "rewritten", says="recomputed")
    assert "last checkpoint that matches is seq 6" in verdict["reason"]


def test_an_emptied_log_is_not_ok(ledgered, client, auth, runner, db_execute):
    db_execute("DELETE FROM audit_log")
    db_execute("DELETE FROM audit_head")
    verdict = _assert_broken(client, auth, runner, 1, "emptied", says="seq 10")
    assert verdict["entries"] == 0


def test_an_emptied_log_without_its_checkpoints_still_leaves_the_ledger(ledgered, client, auth, runner, db_execute):
    for table in ("audit_log", "audit_head", "audit_checkpoints"):
        db_execute(f"DELETE FROM {table}")
    _assert_broken(client, auth, runner, 1, "ledger_unaudited", says="ledger entry seq 1")


def test_a_duplicate_key_in_a_detail_is_refused(ledgered, client, auth, runner, db_execute):
    # The raw text now says 50 points first; json.loads keeps the last (5), so hash and ledger agree.
    db_execute(
        "UPDATE audit_log SET detail = replace(detail, :old, :new) WHERE seq = 7",
        old='{"created_at"',
        new='{"points":50,"created_at"',
    )
    assert json.loads(db_execute("SELECT detail FROM audit_log WHERE seq = 7")[0][0])["points"] == 5
    _assert_broken(client, auth, runner, 7, "not_canonical", says="duplicate key 'points'")


def test_a_detail_in_another_spelling_of_the_same_json_is_refused(ledgered, client, auth, runner, db_execute):
    db_execute("""UPDATE audit_log SET detail = replace(detail, '","', '", "') WHERE seq = 3""")
    _assert_broken(client, auth, runner, 3, "not_canonical", says="canonical JSON")


def test_editing_a_ledger_row_is_caught_by_the_cross_check(ledgered, client, auth, runner, db_execute):
    db_execute("UPDATE ledger SET points = 50 WHERE seq = 2")
    _assert_broken(client, auth, runner, 7, "ledger_mismatch", says="points is 50 in the ledger, 5 in the audit log")


def test_a_deleted_ledger_row_is_missing(ledgered, client, auth, runner, db_execute):
    db_execute("DELETE FROM ledger WHERE seq = 3")
    _assert_broken(client, auth, runner, 8, "ledger_missing", says="ledger entry seq 3")


def test_a_ledger_row_without_an_audit_entry_is_unaudited(ledgered, client, auth, runner, db_execute):
    db_execute(
        "INSERT INTO ledger (seq, credit_id, kind, reverses, patrol_id, member_id, grid_id, date, points, "
        "verified_s, rule_version, created_at, chain_seq, chain_hash) VALUES (5, 'cr_forged', 'grant', NULL, "
        "'P9_20261102', 'P9', 'DC-01', '2026-11-02', 5, 7300, 'test', '2026-11-03T00:00:00+00:00', 10, "
        "(SELECT hash FROM audit_log WHERE seq = 10))"
    )
    _assert_broken(client, auth, runner, 11, "ledger_unaudited", says="ledger entry seq 5")


def test_a_ledger_rows_chain_hash_must_be_its_audit_entrys(ledgered, client, auth, runner, db_execute):
    db_execute("UPDATE ledger SET chain_hash = (SELECT hash FROM audit_log WHERE seq = 5) WHERE seq = 1")
    _assert_broken(client, auth, runner, 6, "ledger_mismatch", says="chain_hash")


def test_a_checkpoint_with_another_signature_is_invalid(ledgered, client, auth, runner, db_execute):
    db_execute(
        "UPDATE audit_checkpoints SET signature = (SELECT signature FROM audit_checkpoints WHERE seq = 9) "
        "WHERE seq = 10"
    )
    _assert_broken(client, auth, runner, 10, "bad_signature", says="signature")


def test_checkpoints_re_signed_with_another_key_are_untrusted(ledgered, client, auth, runner, db_execute):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    _edit_points(db_execute, audit_seq=7, ledger_seq=2, points=50)
    _rehash(db_execute, 7)
    own = Ed25519PrivateKey.generate()  # the administrator's own key: the format is public
    key_id = hashlib.sha256(own.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()[:16]
    for seq, at in db_execute("SELECT seq, at FROM audit_checkpoints WHERE seq >= 7"):
        [(digest,)] = db_execute("SELECT hash FROM audit_log WHERE seq = :s", s=seq)
        message = json.dumps(
            {"seq": seq, "hash": digest, "at": at, "key_id": key_id}, sort_keys=True, separators=(",", ":")
        )
        signature = base64.b64encode(own.sign(b"geoverify audit checkpoint v1\n" + message.encode())).decode()
        db_execute(
            "UPDATE audit_checkpoints SET hash = :h, key_id = :k, signature = :g WHERE seq = :s",
            h=digest,
            k=key_id,
            g=signature,
            s=seq,
        )
    _assert_broken(client, auth, runner, 7, "bad_signature", says=f"key {key_id}")


def _export(runner, path, *extra):
    result = runner(["audit", "checkpoints", "--export", str(path), *extra])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_kept_checkpoint_file_catches_a_rewrite_whose_checkpoints_were_deleted(
    ledgered, client, auth, runner, db_execute, key_path, tmp_path, monkeypatch
):
    kept = tmp_path / "kept.jsonl"
    assert [c["seq"] for c in _export(runner, kept)] == [5, 6, 7, 9, 10]
    _edit_points(db_execute, audit_seq=7, ledger_seq=2, points=50)
    _rehash(db_execute, 7)
    db_execute("DELETE FROM audit_checkpoints WHERE seq >= 7")
    # The database alone now agrees with itself: only a checkpoint kept outside it can tell.
    verdict, _ = _verdicts(client, auth, runner)
    assert verdict["ok"] and verdict["checkpoint"]["seq"] == 6
    # An auditor verifies with the kept file and the public key only.
    monkeypatch.delenv("GEOVERIFY_AUDIT_KEY")
    result = runner(["audit", "verify", "--checkpoint", str(kept), "--public-key", f"{key_path}.pub"])
    assert result.exit_code == 1
    assert "audit log BROKEN at seq 7 (rewritten): " in result.output and str(kept) in result.output


def test_a_kept_checkpoint_file_catches_a_wiped_store(ledgered, client, auth, runner, db_execute, key_path, tmp_path):
    kept = tmp_path / "kept.jsonl"
    assert [c["seq"] for c in _export(runner, kept, "--latest")] == [10]
    for table in ("audit_log", "audit_head", "audit_checkpoints", "ledger"):
        db_execute(f"DELETE FROM {table}")
    result = runner(["audit", "verify", "--checkpoint", str(kept), "--public-key", f"{key_path}.pub"])
    assert result.exit_code == 1 and "audit log BROKEN at seq 1 (emptied): " in result.output


def test_export_appends_only_newer_checkpoints_and_never_rewrites_the_file(ledgered, store, runner, tmp_path):
    kept = tmp_path / "kept.jsonl"
    first = _export(runner, kept, "--latest")
    with store.write() as conn:
        token_store.create(conn, "scorer", [], "later")
    both = _export(runner, kept)
    assert [c["seq"] for c in both] == [10, 11] and both[0] == first[0]
    assert set(both[0]) == {"seq", "hash", "at", "key_id", "signature"}
    again = runner(["audit", "checkpoints", "--export", str(kept)])
    assert again.exit_code == 0 and "no checkpoint after seq 11" in again.output


def test_a_forged_line_in_a_kept_file_is_reported(ledgered, runner, key_path, tmp_path):
    kept = tmp_path / "kept.jsonl"
    [line] = _export(runner, kept, "--latest")
    kept.write_text(json.dumps({**line, "seq": 9}) + "\n", encoding="utf-8")
    result = runner(["audit", "verify", "--checkpoint", str(kept)])
    assert result.exit_code == 1 and "audit log BROKEN at seq 9 (bad_signature): " in result.output


def test_checkpoints_endpoint_for_auditors_and_scorers(ledgered, client, auth, assert_problem):
    for role in ("auditor", "scorer"):
        body = client.get("/api/v1/audit/checkpoints?after=5&limit=2", headers=auth[role]).get_json()
        assert [c["seq"] for c in body["checkpoints"]] == [6, 7] and body["next"] == 7
        assert body["latest"]["seq"] == 10
    assert_problem(client.get("/api/v1/audit/checkpoints", headers=auth["uploader"]), 403)


def test_credit_feed_carries_each_entrys_chain_hash(ledgered, app, client, auth, runner, db_execute):
    feed = client.get("/api/v1/credits?after=0&limit=10", headers=auth["scorer"]).get_json()["entries"]
    hashes = dict(db_execute("SELECT seq, hash FROM audit_log"))
    assert [(e["seq"], e["chain_seq"]) for e in feed] == [(1, 6), (2, 7), (3, 8), (4, 9)]
    assert all(e["chain_hash"] == hashes[e["chain_seq"]] for e in feed)
    # A rewrite that keeps the ledger consistent still changes the hashes a scorer already holds,
    # also in a process that served (and cached) the entries before.
    _edit_points(db_execute, audit_seq=7, ledger_seq=2, points=50)
    _rehash(db_execute, 7)
    again = client.get("/api/v1/credits?after=0&limit=10", headers=auth["scorer"]).get_json()["entries"]
    assert [a["chain_hash"] == b["chain_hash"] for a, b in zip(feed, again)] == [True, False, False, False]


def test_audit_checkpoint_command_checkpoints_the_head_once(ledgered, runner, db_execute):
    db_execute("DELETE FROM audit_checkpoints WHERE seq = 10")
    made = runner(["audit", "checkpoint"])
    assert made.exit_code == 0 and "checkpoint seq 10" in made.output
    again = runner(["audit", "checkpoint"])
    assert again.exit_code == 0 and "already checkpointed" in again.output
    assert db_execute("SELECT count(*) FROM audit_checkpoints WHERE seq = 10") == [(1,)]


def test_keygen_writes_a_private_key_only_its_owner_reads(key_path, cli):
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    public = key_path.with_name("audit.key.pub").read_text()
    assert public.startswith("-----BEGIN PUBLIC KEY-----")
    again = CliRunner().invoke(cli, ["audit", "keygen", "--out", str(key_path)])
    assert again.exit_code == 2 and "exists" in again.output


def test_a_key_others_can_read_is_refused(key_path, runner):
    key_path.chmod(0o644)
    result = runner(["audit", "checkpoint"])
    assert result.exit_code == 2 and f"chmod 600 {key_path}" in result.output


def test_a_missing_key_file_is_named(runner, monkeypatch, tmp_path):
    monkeypatch.setenv("GEOVERIFY_AUDIT_KEY", str(tmp_path / "nowhere.key"))
    result = runner(["audit", "verify"])
    assert result.exit_code == 2 and "nowhere.key" in result.output and "audit keygen" in result.output


def test_without_a_key_verify_warns_that_it_cannot_see_truncation(runner, database_url):
    from geoverify.store import Store

    store = Store.open(database_url, audit_key="")
    with store.write() as conn:
        token_store.create(conn, "scorer", [], "s")
    store.dispose()
    result = runner(["audit", "verify"])
    assert result.exit_code == 0 and "audit log OK: 1 entries" in result.output
    assert "no checkpoint" in result.output and "GEOVERIFY_AUDIT_KEY" in result.output
    refused = runner(["audit", "checkpoint"])
    assert refused.exit_code == 2 and "GEOVERIFY_AUDIT_KEY" in refused.output


def test_migration_fills_the_chain_hashes_of_an_older_ledger(database_url, runner):
    """A store at revision 0004 with ledger rows and their audit entries: 0005 copies each entry's
    audit seq and hash into the ledger, and the store verifies."""
    from sqlalchemy import text

    from geoverify.store import audit
    from geoverify.store.db import make_engine, upgrade

    engine = make_engine(database_url)
    upgrade(engine, "0004")
    with engine.begin() as conn:
        for seq, points in ((1, 5.0), (2, 2.5)):
            entry = {
                "credit_id": f"cr_{seq}",
                "seq": seq,
                "kind": "grant",
                "reverses": None,
                "patrol_id": f"P{seq}_20261102",
                "member_id": f"P{seq}",
                "grid_id": None,
                "date": "2026-11-02",
                "points": points,
                "verified_s": 7200.0,
                "rule_version": "test",
                "created_at": "2026-11-03T00:00:00+00:00",
            }
            conn.execute(
                text(
                    "INSERT INTO ledger (seq, credit_id, kind, reverses, patrol_id, member_id, grid_id, "
                    "date, points, verified_s, rule_version, created_at) VALUES (:seq, :credit_id, "
                    ":kind, :reverses, :patrol_id, :member_id, :grid_id, :date, :points, :verified_s, "
                    ":rule_version, :created_at)"
                ),
                entry,
            )
            audit.append(
                conn,
                "system",
                "credit.grant",
                "credit",
                entry["credit_id"],
                {**entry, "points": 5 if points == 5 else points},
            )
            audit.append(conn, "system", "ledger.settled", "day", "2026-11-02", {})
    upgrade(engine)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT l.seq, l.chain_seq, l.chain_hash = a.hash FROM ledger l "
                "JOIN audit_log a ON a.seq = l.chain_seq ORDER BY l.seq"
            )
        ).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [(1, 1, True), (2, 3, True)]
    result = runner(["audit", "verify"])
    assert result.exit_code == 0 and "2 ledger entries match" in result.output
