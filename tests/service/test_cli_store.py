"""`geoverify load …`, `geoverify credits export` and `geoverify demo --no-serve`."""

from __future__ import annotations

import json

import pytest

from .conftest import GRIDS, NOW, SAMPLES


def test_load_and_export(runner, tmp_path):
    assert runner(["load", "grids", str(GRIDS)]).exit_code == 0
    loaded = runner(["load", "tracks", str(SAMPLES / "honest_M001.csv"), "--now", NOW])
    assert loaded.exit_code == 0 and "accepted=1800" in loaded.output and "1 ledger entry" in loaded.output
    again = runner(["load", "tracks", str(SAMPLES / "honest_M001.csv"), "--now", NOW])
    assert "repeat: nothing changed" in again.output
    assert runner(["load", "tracks", str(SAMPLES / "idle_M004.csv"), "--now", NOW]).exit_code == 0
    out = tmp_path / "credits.jsonl"
    result = runner(["credits", "export", "-o", str(out)])
    assert result.exit_code == 0 and "exported 2 entries; next cursor: --after 2" in result.output
    entries = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(e["seq"], e["patrol_id"], e["kind"]) for e in entries] == [
        (1, "M001_20261102", "grant"),
        (2, "M004_20261102", "grant"),
    ]
    tail = runner(["credits", "export", "--after", "1"])
    assert [json.loads(line)["seq"] for line in tail.stdout.splitlines()] == [2]


def test_credit_enters_the_ledger_when_the_day_settles(runner, client, auth):
    # Spec "Ledger": the sample day (2026-11-02) settles at 02:00 on 2026-11-03, local time.
    assert runner(["load", "grids", str(GRIDS)]).exit_code == 0
    evening = runner(["load", "tracks", str(SAMPLES / "honest_M001.csv"), "--now", "2026-11-02T20:00:00+08:00"])
    assert "0 ledger entries" in evening.output
    assert runner(["credits", "settle", "--now", "2026-11-03T01:59:00+08:00"]).output == "0 ledger entries appended\n"
    assert runner(["credits", "settle", "--now", "2026-11-03T02:00:00+08:00"]).output == "1 ledger entries appended\n"
    assert runner(["credits", "settle", "--now", "2026-11-04T02:00:00+08:00"]).output == "0 ledger entries appended\n"
    [grant] = client.get("/api/v1/credits?after=0", headers=auth["scorer"]).json["entries"]
    assert (grant["kind"], grant["patrol_id"], grant["points"]) == ("grant", "M001_20261102", 5)
    audit = client.get("/api/v1/audit?limit=1000", headers=auth["auditor"]).json["entries"]
    assert [(e["object_id"], e["detail"]) for e in audit if e["action"] == "ledger.settled"] == [
        ("2026-11-02", {"patrols": 1, "entries": 1})
    ]


@pytest.mark.parametrize("big_file_bytes", [0, 16 << 20], ids=["by-size", "refused-then-parts"])
def test_a_track_file_larger_than_one_upload_loads_in_parts_with_the_same_result(
    runner, monkeypatch, database_url, tmp_path, big_file_bytes
):
    # 1,800 + 1,080 fixes with uploads capped at 500: six parts, then one verification per day; the
    # same patrols, credit and ledger as one upload into a second store. A file under the size
    # check (a compact format) is first refused as one upload, then loaded in parts.
    import pandas as pd

    from geoverify.cli import store as cli_store
    from geoverify.store import Store

    both = tmp_path / "two_members.csv"
    frames = [pd.read_csv(SAMPLES / name, dtype=str) for name in ("honest_M001.csv", "idle_M004.csv")]
    pd.concat(frames).to_csv(both, index=False)
    assert runner(["load", "grids", str(GRIDS)]).exit_code == 0
    monkeypatch.setattr(cli_store, "BIG_FILE_BYTES", big_file_bytes)
    monkeypatch.setenv("GEOVERIFY_MAX_FIXES_PER_UPLOAD", "500")
    loaded = runner(["load", "tracks", str(both), "--now", NOW])
    assert loaded.exit_code == 0 and "accepted=2880" in loaded.output, loaded.output
    assert "2 patrol(s) verified (2 changed), 2 ledger entries" in loaded.output

    single = Store.open(f"sqlite:///{tmp_path / 'single.db'}", now=NOW)
    from geoverify.store.ingest import upload

    upload(single, "grids", GRIDS.read_bytes(), suffix=".geojson", wait=60)
    upload(single, "tracks", both.read_bytes(), suffix=".csv", wait=60)
    parts = Store.open(database_url, now=NOW)

    def state(store):
        from sqlalchemy import select

        from geoverify.store.schema import ledger, patrols

        with store.read() as conn:
            docs = {r.patrol_id: json.loads(r.document) for r in conn.execute(select(patrols))}
            credits = sorted((r.patrol_id, r.kind, float(r.points)) for r in conn.execute(select(ledger)))
        for doc in docs.values():  # flags name the file each fix came from
            for flag in doc["flags"]:
                flag["evidence"] = {k: v for k, v in flag["evidence"].items() if not isinstance(v, dict)}
        return docs, credits

    assert state(parts) == state(single)
    parts.dispose()
    single.dispose()
    verdict = runner(["audit", "verify"])  # stdout and the warning on stderr, mixed by the runner
    assert verdict.exit_code == 0 and any(line.startswith("audit log OK") for line in verdict.output.splitlines())


def test_load_reports_bad_input_with_exit_2(runner, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("member_id,time,lon\nM1,2026-11-02T08:00:00+08:00,116.4\n")
    result = runner(["load", "tracks", str(bad)])
    assert result.exit_code == 2 and "bad.csv" in result.output and "lat" in result.output


def test_demo_loads_samples_and_prints_a_token_per_role(cli, tmp_path):
    from click.testing import CliRunner

    db = tmp_path / "demo" / "geoverify.db"
    result = CliRunner().invoke(cli, ["demo", "--db", str(db), "--no-serve"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    for role in ("admin", "uploader", "supervisor", "auditor", "scorer"):
        assert f"  {role:<10} gv_" in result.output
    assert "sites.csv: sites_read=12, created=12" in result.output
    assert "/flags/M007_20261102.MOCK_LOCATION.013000Z/review" in result.output
    import sqlite3

    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM patrols").fetchone()[0] == 12
        assert conn.execute("SELECT count(*) FROM grids").fetchone()[0] == 6
        # The demo signs checkpoints with its own key: the head of the log is checkpointed.
        head = conn.execute("SELECT seq FROM audit_head").fetchone()[0]
        assert conn.execute("SELECT max(seq) FROM audit_checkpoints").fetchone()[0] == head
    assert (db.parent / "audit.key").stat().st_mode & 0o777 == 0o600
    # A second demo keeps the key (never overwritten) and starts a fresh store.
    again = CliRunner().invoke(cli, ["demo", "--db", str(db), "--no-serve"], catch_exceptions=False)
    assert again.exit_code == 0, again.output


def test_rule_change_reverifies_and_is_audited(runner, tmp_path, monkeypatch, db_execute):
    assert runner(["load", "grids", str(GRIDS)]).exit_code == 0
    assert runner(["load", "tracks", str(SAMPLES / "honest_M001.csv"), "--now", NOW]).exit_code == 0
    same = runner(["reverify", "--now", NOW])
    assert same.exit_code == 0 and "1 patrol(s) re-verified, 0 changed, 0 ledger entries" in same.output
    rules = tmp_path / "rules.toml"
    rules.write_text('version = "city-2027"\n[defaults]\npoints_per_patrol = 8\n')
    monkeypatch.setenv("GEOVERIFY_RULES", str(rules))
    changed = runner(["reverify", "--now", NOW])
    assert "rules city-2027: 1 date(s), 1 patrol(s) re-verified, 1 changed, 2 ledger entries" in changed.output
    out = tmp_path / "credits.jsonl"
    runner(["credits", "export", "-o", str(out)])
    entries = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(e["kind"], e["points"], e["rule_version"]) for e in entries] == [
        ("grant", 5, "builtin-1"),
        ("reversal", -5, "builtin-1"),
        ("grant", 8, "city-2027"),
    ]
    actions = [r[0] for r in db_execute("SELECT detail FROM audit_log WHERE action = 'rules.changed' ORDER BY seq")]
    assert [json.loads(a)["to"] for a in actions] == ["builtin-1", "city-2027"]
    assert runner(["audit", "verify"]).exit_code == 0
