"""The ``geoverify verify`` command: JSON shape, table, exit status and error messages."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import PROJ, SQUARE_100, to_lonlat
from shapely.geometry import mapping

from geoverify.cli.main import main


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def inputs(tmp_path):
    grids = tmp_path / "grids.geojson"
    grids.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": mapping(to_lonlat(SQUARE_100)),
                        "properties": {"grid_id": "G1", "name": "测试网格", "members": ["M1"]},
                    }
                ],
            }
        )
    )
    rows = ["member_id,time,lon,lat,accuracy"]
    # M1 walks y=50 from x=-50 to x=150 at 1 m/s, one fix every 10 s: 100 s inside, 100 s outside.
    for i in range(21):
        lon, lat = PROJ.inverse([-50 + 10 * i], [50])
        rows.append(f"M1,2026-11-02T08:{i * 10 // 60:02d}:{i * 10 % 60:02d}+08:00,{lon[0]:.9f},{lat[0]:.9f},5")
    rows.append("M1,not-a-time,116.4,39.9,5")
    tracks = tmp_path / "M1.csv"
    tracks.write_text("\n".join(rows) + "\n")
    return grids, tracks


def test_verify_json_document(runner, inputs):
    grids, tracks = inputs
    result = runner.invoke(
        main, ["verify", "--grids", str(grids), "--tracks", str(tracks), "--now", "2026-11-03T00:00:00+08:00"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc) >= {"patrols", "events", "warnings"}
    (patrol,) = doc["patrols"]
    assert patrol["patrol_id"] == "M1_20261102"
    assert (patrol["member_id"], patrol["date"], patrol["grid_id"]) == ("M1", "2026-11-02", "G1")
    assert patrol["fixes"] == {"kept": 21, "rejected": {"invalid": 0, "duplicate": 0, "future": 0, "low_accuracy": 0}}
    assert doc["summary"]["rejected_without_member_or_time"]["invalid"] == 1
    assert patrol["in_grid_s"] == pytest.approx(100.0, abs=1e-3)
    assert patrol["gap_s"] == 0.0
    assert patrol["verified_s"] == pytest.approx(100.0, abs=1e-3)
    assert patrol["distance_m"] == pytest.approx(200.0, abs=0.1)
    assert patrol["coverage"]["buffer_m"] == 30
    assert patrol["coverage"]["area_ratio"] == pytest.approx(0.6, abs=0.01)  # the band 20 <= y <= 80
    assert patrol["credit"] == {"status": "verified", "points": 0}
    assert patrol["start"] == "2026-11-02T08:00:00+08:00"


def test_verify_table(runner, inputs):
    grids, tracks = inputs
    result = runner.invoke(main, ["verify", "--grids", str(grids), "--tracks", str(tracks), "--format", "table"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "member",
        "date",
        "grid",
        "kept",
        "rejected",
        "in-grid",
        "gap",
        "verified",
        "km",
        "cover",
        "flags",
        "credit",
    ]
    assert lines[2].split()[:6] == ["M1", "2026-11-02", "G1", "21", "0", "0:02"]


def test_output_file(runner, inputs, tmp_path):
    grids, tracks = inputs
    out = tmp_path / "out.json"
    result = runner.invoke(main, ["verify", "--grids", str(grids), "--tracks", str(tracks), "-o", str(out)])
    assert result.exit_code == 0
    assert json.loads(out.read_text())["patrols"][0]["member_id"] == "M1"


def test_unreadable_input_exits_2_naming_the_file(runner, inputs, tmp_path):
    grids, _ = inputs
    bad = tmp_path / "bad.csv"
    bad.write_text("member,when\nM1,x\n")
    result = runner.invoke(main, ["verify", "--grids", str(grids), "--tracks", str(bad)])
    assert result.exit_code == 2
    assert "bad.csv: track file lacks required column(s)" in result.stderr


def test_bad_arguments_exit_2(runner, inputs):
    grids, tracks = inputs
    result = runner.invoke(main, ["verify", "--grids", str(grids), "--tracks", str(tracks), "--crs", "utm"])
    assert result.exit_code == 2
    result = runner.invoke(main, ["verify", "--grids", str(grids), "--tracks", str(tracks), "--tz", "Mars/Base"])
    assert result.exit_code == 2 and "unknown time zone 'Mars/Base'" in result.stderr


def test_installed_console_script(inputs):
    # The console script sits beside the interpreter running the tests (the venv's bin/), which
    # need not be on PATH when the suite runs as `.venv/bin/python -m pytest`.
    exe = shutil.which("geoverify", path=str(Path(sys.executable).parent))
    assert exe, f"the package is installed with its console script in {Path(sys.executable).parent}"
    grids, tracks = inputs
    done = subprocess.run(
        [exe, "verify", "--grids", str(grids), "--tracks", str(tracks) + ".missing"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "M1.csv.missing: no such file or folder" in done.stderr


ROOT = Path(__file__).resolve().parent.parent


def test_visits_report_on_the_sample_day(runner):
    result = runner.invoke(
        main,
        [
            "visits",
            "--grids",
            str(ROOT / "grids" / "dongcheng_sample.geojson"),
            "--tracks",
            str(ROOT / "sample_tracks"),
            "--sites",
            str(ROOT / "sample_tracks" / "sites" / "sites.csv"),
            "--from",
            "2026-11-02",
            "--to",
            "2026-11-12",
            "--now",
            "2026-11-13T00:00:00+08:00",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    visited = {v["site_id"] for v in report["visits"] if v["member_id"] == "M001"}
    assert visited == {"S001", "S002", "S003"}
    sites = {s["site_id"]: s for s in report["sites"]}
    # S001 (red, weekly) last visited 11-02: due 11-09, overdue by 3 days on 11-12.
    assert (sites["S001"]["next_due"], sites["S001"]["overdue"], sites["S001"]["days_overdue"]) == (
        "2026-11-09",
        True,
        3,
    )
    assert sites["S002"]["overdue"] is False  # yellow, fortnightly: due 11-16


def test_visits_rejects_a_reversed_period(runner):
    result = runner.invoke(
        main,
        [
            "visits",
            "--grids",
            str(ROOT / "grids" / "dongcheng_sample.geojson"),
            "--tracks",
            str(ROOT / "sample_tracks"),
            "--sites",
            str(ROOT / "sample_tracks" / "sites" / "sites.csv"),
            "--from",
            "2026-11-12",
            "--to",
            "2026-11-02",
        ],
    )
    assert result.exit_code == 2 and "--from 2026-11-12 is after --to 2026-11-02" in result.stderr


def test_rules_show_prints_the_spec_defaults(runner):
    text = runner.invoke(main, ["rules", "show"]).stdout
    assert "max_gap_s = 300\n" in text and "teleport_kmh = 150\n" in text and "points_per_patrol = 5\n" in text


def test_partition_then_verify_with_stats(runner, inputs, tmp_path):
    grids, tracks = inputs
    out = tmp_path / "parts"
    done = runner.invoke(main, ["partition", "--tracks", str(tracks), "--out", str(out), "--buckets", "4"])
    assert done.exit_code == 0, done.output
    # One member: one bucket; its fix without a time goes to date=none.
    assert f"wrote 22 fixes in 1 bucket(s), 2 file(s), to {out}" in done.stderr
    assert sorted(p.parent.name for p in out.glob("bucket=*/date=*/*.parquet")) == ["date=2026-11-02", "date=none"]
    single = runner.invoke(main, ["verify", "--grids", str(grids), "--tracks", str(tracks)])
    result = runner.invoke(main, ["verify", "--grids", str(grids), "--tracks", str(out), "--stats"])
    assert result.exit_code == 0, result.output
    assert result.stdout.split('"verified_at"')[0] == single.stdout.split('"verified_at"')[0]
    assert "stats: engine local, 1 worker(s), 1 part(s), 22 fixes; per-member phase" in result.stderr


def test_partitioned_folder_without_marker_is_read_as_a_folder_of_tracks(runner, inputs, tmp_path):
    grids, _ = inputs
    (tmp_path / "bucket=000").mkdir()
    result = runner.invoke(
        main,
        [
            "verify",
            "--grids",
            str(grids),
            "--tracks",
            str(tmp_path),
            "--engine",
            "dask",
            "--scheduler",
            "tcp://127.0.0.1:8786",
        ],
    )
    assert result.exit_code == 2 and "--engine dask reads a partitioned fix table" in result.output
