"""Tokens from the command line: printed once, stored hashed, scoped roles need scopes."""

from __future__ import annotations

import hashlib
import sqlite3


def test_token_create_prints_the_token_last_and_stores_only_its_hash(runner, db_path, client, assert_problem):
    result = runner(
        ["token", "create", "--role", "supervisor", "--scope", "DC-01", "--scope", "DC-02", "--name", "wang"]
    )
    assert result.exit_code == 0
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("gv_") and len(token) > 40
    with sqlite3.connect(db_path) as conn:
        row = conn.execute("SELECT role, scopes, token_sha256 FROM tokens WHERE name = 'wang'").fetchone()
    assert row == ("supervisor", '["DC-01", "DC-02"]', hashlib.sha256(token.encode()).hexdigest())
    assert token.encode() not in db_path.read_bytes()
    assert client.get("/api/v1/patrols", headers={"Authorization": f"Bearer {token}"}).json["total"] == 0
    listing = runner(["token", "list"]).output
    assert "wang\tsupervisor\tDC-01,DC-02\tlive" in listing and token not in listing
    assert runner(["token", "revoke", "wang"]).exit_code == 0
    assert "revoked" in runner(["token", "list"]).output
    assert_problem(client.get("/api/v1/patrols", headers={"Authorization": f"Bearer {token}"}), 401)


def test_token_create_refuses_bad_requests(runner):
    for args, message in (
        (["--role", "uploader"], "needs at least one --scope"),
        (["--role", "scorer", "--scope", "M1"], "takes no scope"),
    ):
        result = runner(["token", "create", *args])
        assert result.exit_code == 2 and message in result.output
    assert runner(["token", "create", "--role", "scorer", "--name", "s"]).exit_code == 0
    again = runner(["token", "create", "--role", "scorer", "--name", "s"])
    assert again.exit_code == 2 and "exists" in again.output
    missing = runner(["token", "revoke", "nobody"])
    assert missing.exit_code == 2 and "no token named 'nobody'" in missing.output
