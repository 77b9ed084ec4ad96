"""GET /api/v1/assessment and `geoverify assessment` over the store, on SQLite and PostgreSQL: the
sample day plus two constructed days of M001, with November settled (the clock is 1 December).

By hand: M001 patrolled 2 November (the sample, 4.99 h verified, 5 points), 5 November (a 2.5 h
walk: meets 2 h, 5 points) and 6 November (1.5 h: does not); M002's sample day is 1.25 h and held
by its TELEPORT. On 2 November M001 visited S001 (red), S002 (yellow) and S003 (green) of DC-01's four
sites; S004 (red) was never visited. On 30 November S001 is 21 days late (due 9 November), S002 14
(due 16 November), S003 is due 2 December, S004 is late.
"""

from __future__ import annotations

import csv
import io
import json
import re

import openpyxl
import pandas as pd
import pytest
from shapely.geometry import shape

from geoverify.api import create_app
from geoverify.simulation.walks import simulate_walk

from .conftest import GRIDS, SAMPLES

NOW = "2026-12-01T03:00:00+08:00"  # every November day has settled (the next day, 02:00)


@pytest.fixture
def app(database_url):
    """The service with its clock on 1 December (overrides conftest's 3 November)."""
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "NOW": NOW,
            "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
            "MAX_FIXES_PER_UPLOAD": 5000,
        }
    )
    yield app
    app.extensions["geoverify.store"].dispose()


def walk(member_id: str, start: str, hours: float, seed: int) -> bytes:
    """A track CSV of a walk in DC-01 (geoverify.simulation.simulate), ``hours`` long from ``start`` (local)."""
    features = json.loads(GRIDS.read_text(encoding="utf-8"))["features"]
    polygon = shape(next(f for f in features if f["properties"]["grid_id"] == "DC-01")["geometry"])
    fixes = simulate_walk(polygon, start, hours * 3600, rng=seed)
    frame = pd.DataFrame(
        {
            "member_id": member_id,
            "time": [t.isoformat() for t in fixes["time"]],
            "lon": fixes["lon"].round(7),
            "lat": fixes["lat"].round(7),
            "accuracy": fixes["accuracy"].round(1),
        }
    )
    return frame.to_csv(index=False).encode("utf-8")


@pytest.fixture
def november(with_grids, upload):
    assert upload("sites", SAMPLES / "sites" / "sites.csv").status_code == 201
    for name in ("honest_M001.csv", "teleport_M002.csv", "idle_M004.csv"):
        assert upload("tracks", SAMPLES / name).status_code == 201
    for start, hours, seed in (("2026-11-05T08:30", 2.5, 5), ("2026-11-06T08:30", 1.5, 6)):
        assert upload("tracks", walk("M001", start, hours, seed)).status_code == 201


def get(client, auth, role: str, query: str, **headers):
    return client.get(f"/api/v1/assessment?{query}", headers={**auth[role], **headers})


def by_member(document: dict) -> dict[str, dict]:
    return {r["member_id"]: r for r in document["rows"]}


def test_the_month_by_hand_and_points_from_the_ledger(november, client, auth):
    response = get(client, auth, "supervisor", "period=2026-11")
    assert response.status_code == 200, response.json
    document = response.json
    assert document["period"] == {
        "label": "2026-11",
        "kind": "month",
        "from": "2026-11-01",
        "to": "2026-11-30",
        "quarter_from": "2026-10-01",
        "as_of": "2026-11-30",
        "visits_from": "2026-09-01",
    }
    rows = by_member(document)
    assert sorted(rows) == ["M001", "M002"]  # the supervisor's grid DC-01 only
    m1, m2 = rows["M001"], rows["M002"]
    assert (m1["patrol_days"], m1["days_met"], m1["required_s"]) == (3, 2, 7200)
    assert (m2["patrol_days"], m2["days_met"], m2["points"]) == (1, 0, 0)
    assert (m1["points"], m1["points_provisional"]) == (10, 0)
    # the same points as the scorer's ledger
    entries = client.get("/api/v1/credits?after=0&limit=1000", headers=auth["scorer"]).json["entries"]
    assert m1["points"] == sum(e["points"] for e in entries if e["member_id"] == "M001" and e["date"] >= "2026-11-01")
    verified = [
        client.get(f"/api/v1/patrols/M001_2026110{d}", headers=auth["supervisor"]).json["verified_s"] for d in (2, 5, 6)
    ]
    assert verified[0] >= 7200 and verified[1] >= 7200 and verified[2] < 7200
    assert m1["verified_s"] == pytest.approx(sum(verified), abs=0.01)
    assert (m1["site_visits"], m1["sites_total"], m1["sites_visited"], m1["visited_share"]) == (3, 4, 3, 0.75)
    assert (m1["overdue_red"], m1["overdue_yellow"], m1["overdue_green"]) == (2, 1, 0)
    late = {s["site_id"]: s["days_overdue"] for s in document["overdue_sites"]}
    assert late["S001"] == 21 and late["S002"] == 14 and "S003" not in late and "S004" in late
    assert document["totals"]["members"] == 2 and document["totals"]["sites_total"] == 4


def test_a_supervisor_sees_only_its_grids(november, client, auth, assert_problem):
    assert_problem(get(client, auth, "supervisor", "period=2026-11&grid_id=DC-02"), 404, detail_has="DC-02")
    assert get(client, auth, "supervisor", "period=2026-11&member_id=M004").json["rows"] == []
    everyone = get(client, auth, "auditor", "period=2026-11").json
    assert by_member(everyone)["M004"]["days_met"] == 1 and len(everyone["grids"]) == 6
    one = get(client, auth, "admin", "period=2026-11&member_id=M004").json
    assert [(r["member_id"], r["grid_id"]) for r in one["rows"]] == [("M004", "DC-02")]
    for role in ("uploader", "scorer"):
        assert_problem(get(client, auth, role, "period=2026-11"), 403)


def test_csv_and_xlsx_read_back_to_the_same_figures(november, client, auth):
    document = get(client, auth, "supervisor", "period=2026-11").json
    expected = [
        [
            r["member_id"],
            r["grid_id"],
            r["patrol_days"],
            r["days_met"],
            round(r["verified_s"] / 3600, 2),
            r["points"],
            r["sites_visited"],
            round(r["visited_share"] * 100, 1),
            r["overdue_red"],
        ]
        for r in document["rows"]
    ]
    picked = [
        "网格员",
        "网格",
        "巡查天数",
        "达标天数",
        "核定时长（小时）",
        "积分（已结算）",
        "本季度已走访点位",
        "本季度走访率（%）",
        "逾期红色点位",
    ]

    response = get(client, auth, "supervisor", "period=2026-11&format=csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv" and response.mimetype_params["charset"] == "utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="assessment-2026-11.csv"'
    assert response.data.startswith(b"\xef\xbb\xbf")
    header, *rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    columns = [header.index(name) for name in picked]
    numbers = [[row[i] if i < 2 else float(row[i]) for i in columns] for row in rows[:-1]]
    assert numbers == expected
    assert rows[-1][0] == "合计" and float(rows[-1][header.index("巡查天数")]) == document["totals"]["patrol_days"]

    response = get(client, auth, "supervisor", "period=2026-11&format=xlsx")
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    book = openpyxl.load_workbook(io.BytesIO(response.data))
    header, *rows = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
    columns = [header.index(name) for name in picked]
    assert [[row[i] for i in columns] for row in rows[:-1]] == expected
    late = [r[0] for r in book.worksheets[1].iter_rows(min_row=2, values_only=True)]
    assert sorted(late) == sorted(s["site_id"] for s in document["overdue_sites"])


def test_accept_header_english_and_a_quarter(november, client, auth):
    response = get(client, auth, "auditor", "period=2026-Q4&lang=en&grid_id=DC-01", Accept="text/csv")
    assert response.mimetype == "text/csv"
    header, *rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert header[:3] == ["Member", "Grid", "Grid name"] and rows[-1][0] == "Total"
    assert get(client, auth, "auditor", "").json["period"]["label"] == "2026-12"  # this month by default
    quarter = get(client, auth, "auditor", "period=2026-Q4&grid_id=DC-01").json
    # the quarter runs: overdue sites are counted today, 1 December
    assert quarter["period"]["as_of"] == "2026-12-01"
    assert by_member(quarter)["M001"]["patrol_days"] == 3
    late = {s["site_id"]: s["days_overdue"] for s in quarter["overdue_sites"]}
    assert late["S001"] == 22 and late["S002"] == 15


@pytest.mark.parametrize(
    "query,detail",
    [
        ("period=", "2026-Q4"),
        ("period=2026-13", "2026-Q4"),
        ("period=2026-q4", "2026-Q4"),
        ("period=2026-11&format=pdf", "format"),
        ("period=2026-11&lang=fr", "lang"),
    ],
)
def test_bad_requests_name_what_to_send(with_grids, client, auth, assert_problem, query, detail):
    assert_problem(get(client, auth, "auditor", query), 400, detail_has=detail)


def test_command_line_writes_json_csv_and_xlsx(november, runner, tmp_path):
    result = runner(["assessment", "--period", "2026-11", "--grid-id", "DC-01", "--now", NOW])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert by_member(document)["M001"]["days_met"] == 2
    target = tmp_path / "a.xlsx"
    result = runner(
        ["assessment", "--period", "2026-11", "--format", "xlsx", "--lang", "en", "-o", str(target), "--now", NOW]
    )
    assert result.exit_code == 0, result.output
    sheet = openpyxl.load_workbook(target).worksheets[0]
    assert sheet["A1"].value == "Member" and sheet.max_row == 13  # header, 11 members of six grids, total
    result = runner(["assessment", "--period", "2026-11", "--format", "csv", "--now", NOW])
    assert result.stdout.startswith("\ufeff网格员,")
    assert runner(["assessment", "--period", "2026-11", "--format", "xlsx"]).exit_code == 2
    assert runner(["assessment", "--period", "November"]).exit_code == 2


def test_the_page_is_self_contained(client):
    response = client.get("/map/assessment")
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe" not in csp
    html = response.get_data(as_text=True)
    assert 'data-today="2026-12-01"' in html  # opens on the service's month
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == [] and " style=" not in html and "<style" not in html
    assert "http://" not in html and "https://" not in html
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert any(a.endswith("assessment.js") for a in assets)
    for asset in assets:
        response = client.get(asset)
        response.close()  # a static file's answer holds the file open
        assert response.status_code == 200, asset
    assert 'href="/map/assessment"' in client.get("/map").get_data(as_text=True)  # linked from the map's header
