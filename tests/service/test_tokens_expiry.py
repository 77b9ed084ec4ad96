"""Token expiry (`token create --expires`) and rotation (`token rotate`)."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest

UTC = dt.UTC


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _create(runner, *args) -> str:
    result = runner(["token", "create", *args])
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def _expires_at(db_execute, name: str) -> dt.datetime:
    [(text,)] = db_execute("SELECT expires_at FROM tokens WHERE name = :n", n=name)
    return dt.datetime.fromisoformat(text)


def test_expires_takes_a_duration(runner, db_execute, client):
    before = dt.datetime.now(UTC)
    token = _create(runner, "--role", "scorer", "--name", "feed", "--expires", "90d")
    expires = _expires_at(db_execute, "feed")
    assert before + dt.timedelta(days=90) <= expires <= dt.datetime.now(UTC) + dt.timedelta(days=90)
    assert client.get("/api/v1/credits", headers=_bearer(token)).status_code == 200
    listing = runner(["token", "list"]).output
    assert f"feed\tscorer\t-\tlive, expires {expires.isoformat(timespec='seconds')}" in listing
    [(detail,)] = db_execute("SELECT detail FROM audit_log WHERE action = 'token.created' AND object_id = 'feed'")
    assert json.loads(detail)["expires_at"] == expires.isoformat(timespec="microseconds")


def test_expires_takes_a_date_meaning_through_that_local_day(runner, db_execute):
    _create(runner, "--role", "auditor", "--name", "a", "--expires", "2099-03-31")
    # Through 31 March in Asia/Shanghai: until 1 April 00:00 +08:00.
    assert _expires_at(db_execute, "a") == dt.datetime(2099, 3, 31, 16, 0, tzinfo=UTC)
    _create(runner, "--role", "auditor", "--name", "b", "--expires", "2099-03-31T12:00:00+02:00")
    assert _expires_at(db_execute, "b") == dt.datetime(2099, 3, 31, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "value,message",
    [
        ("90", "a duration like 90d, 12h or 2w"),
        ("3x", "a duration like 90d"),
        ("0d", "at least"),
        ("2020-01-01", "in the past"),
        ("2099-02-30", "a duration like 90d"),
    ],
)
def test_expires_refuses_what_it_cannot_read(runner, value, message):
    result = runner(["token", "create", "--role", "scorer", "--expires", value])
    assert result.exit_code == 2 and message in result.output, result.output


def test_an_expired_token_answers_401_saying_so(runner, client, assert_problem, db_execute):
    soon = (dt.datetime.now(UTC) + dt.timedelta(seconds=2)).isoformat()
    token = _create(runner, "--role", "scorer", "--name", "short", "--expires", soon)
    assert client.get("/api/v1/credits", headers=_bearer(token)).status_code == 200
    time.sleep(max(0.0, (_expires_at(db_execute, "short") - dt.datetime.now(UTC)).total_seconds()) + 0.2)
    response = client.get("/api/v1/credits", headers=_bearer(token))
    body = assert_problem(response, 401, detail_has="expired")
    assert "short" in body["detail"] and "geoverify token rotate short" in body["detail"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "short\tscorer\t-\texpired " in runner(["token", "list"]).output


def test_rotate_replaces_the_secret_and_keeps_name_role_scope_and_lifetime(runner, client, assert_problem, db_execute):
    old = _create(runner, "--role", "supervisor", "--scope", "DC-01", "--name", "wang", "--expires", "30d")
    first_expiry = _expires_at(db_execute, "wang")
    result = runner(["token", "rotate", "wang"])
    assert result.exit_code == 0, result.output
    new = result.output.strip().splitlines()[-1]
    assert new.startswith("gv_") and new != old
    assert client.get("/api/v1/patrols", headers=_bearer(new)).status_code == 200
    body = assert_problem(client.get("/api/v1/patrols", headers=_bearer(old)), 401, detail_has="rotated")
    assert "wang" in body["detail"]
    assert db_execute("SELECT role, scopes FROM tokens WHERE name = 'wang'") == [("supervisor", '["DC-01"]')]
    assert _expires_at(db_execute, "wang") >= first_expiry  # another 30 days from the rotation
    actions = db_execute("SELECT action, detail FROM audit_log WHERE object_id = 'wang' ORDER BY seq")
    assert [a for a, _ in actions] == ["token.created", "token.rotated"]
    assert json.loads(actions[1][1])["grace_s"] == 0


def test_rotate_with_a_grace_period_keeps_the_old_secret_working_for_a_while(runner, client, db_execute):
    old = _create(runner, "--role", "scorer", "--name", "feed")
    result = runner(["token", "rotate", "feed", "--grace", "1h"])
    assert result.exit_code == 0 and "old secret keeps working until" in result.output
    new = result.output.strip().splitlines()[-1]
    for token in (old, new):
        assert client.get("/api/v1/credits", headers=_bearer(token)).status_code == 200
    assert "previous secret until" in runner(["token", "list"]).output
    # Revoking the name ends both secrets.
    assert runner(["token", "revoke", "feed"]).exit_code == 0
    for token in (old, new):
        assert client.get("/api/v1/credits", headers=_bearer(token)).status_code == 401


def test_rotate_refuses_unknown_and_revoked_tokens(runner):
    missing = runner(["token", "rotate", "nobody"])
    assert missing.exit_code == 2 and "no token named 'nobody'" in missing.output
    _create(runner, "--role", "scorer", "--name", "gone")
    assert runner(["token", "revoke", "gone"]).exit_code == 0
    revoked = runner(["token", "rotate", "gone"])
    assert revoked.exit_code == 2 and "revoked" in revoked.output and "token create" in revoked.output
    bad = runner(["token", "rotate", "gone", "--grace", "9d"])
    assert bad.exit_code == 2 and "at most 7d" in bad.output
