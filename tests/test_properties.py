"""Property tests (hypothesis) of the readers and the batch verifier (issue #7, item 1).

Readers: any bytes or text in a CSV, GPX or GeoJSON track file give a fix table or a
:class:`~geoverify.errors.GeoverifyError` naming the file, never another exception.

Verifier: for any sequence of fixes (metric tracks around the square, holed and L-shaped grids of
``conftest``, with invalid, future, low-accuracy and midnight-crossing fixes mixed in) nothing crashes, every fix is
kept or rejected for one reason, each patrol's time adds up to its span, and the figures do not
change when rows are shuffled, rows are repeated, or track and grid are moved together.

Budgets are bounded (``max_examples`` below, no deadline) and examples derandomized, so a run is
repeatable; ``GEOVERIFY_PROPERTY_EXAMPLES=N`` raises every budget to N and draws fresh random
examples, for a deeper search by hand. ``GEOVERIFY_PROPERTY_QUICK=1`` (set by ``make check``, the
fast tier) runs a fifth of each budget, the same derandomized examples first; ``make test`` runs
them all.
"""

from __future__ import annotations

import json
import os
import warnings
from xml.sax.saxutils import escape, quoteattr

import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import L_SHAPE, SQUARE_100, SQUARE_WITH_HOLE, fix_frame, metric_grid
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from geoverify.engines.batch import verify_batch
from geoverify.errors import GeoverifyError
from geoverify.io import read_track_file
from geoverify.schema import TRACK_COLUMNS

NOW = pd.Timestamp("2026-11-03T06:00:00+08:00")  # 22 h after conftest.T0: later fixes are `future`
TZ = "Asia/Shanghai"
REASONS = ("invalid", "duplicate", "future", "low_accuracy")

DEEP = int(os.environ.get("GEOVERIFY_PROPERTY_EXAMPLES", "0"))
SHARE = 5 if os.environ.get("GEOVERIFY_PROPERTY_QUICK") == "1" and not DEEP else 1
# Reader budgets: each example writes one small file and reads it (about 2 ms).
READER_SETTINGS = settings(
    max_examples=max(300 // SHARE, DEEP),
    deadline=None,
    derandomize=not DEEP,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Verifier budgets: each example verifies one or two days of up to 80 fixes (10-60 ms). No
# shrinking: shrinking these examples can take minutes; a failure reports the example as drawn.
VERIFY_SETTINGS = settings(
    max_examples=max(100 // SHARE, DEEP),
    deadline=None,
    derandomize=not DEEP,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --------------------------------------------------------------------------- readers


def read_or_error(path):
    """Read a track file; a GeoverifyError must name the file, anything else fails the test."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fixes = read_track_file(path)
    except GeoverifyError as exc:
        assert str(path) in str(exc), f"error does not name the file: {exc}"
        return None
    assert list(fixes.columns) == list(TRACK_COLUMNS)
    return fixes


# Cell values a hostile or broken exporter writes: ISO times in and out of range, numbers, words.
CELLS = st.one_of(
    st.text(max_size=12, alphabet=st.characters(exclude_characters='"')),
    st.floats().map(repr),
    st.integers().map(str),
    st.sampled_from(
        [
            "2026-11-02T08:00:00+08:00",
            "2026-11-02 08:00:00",
            "1500-01-01T00:00:00Z",
            "2500-01-01",
            "1900-01-01T00:00:00Z",
            "2100-12-31T23:59:59+08:00",
            "nan",
            "NaN",
            "inf",
            "-Infinity",
            "1e400",
            "true",
            "0",
            "gcj02",
            "bd09",
            "wgs84",
            "",
            "\x00",
        ]
    ),
)
# No '"' in the cells: a stray quote makes the reader refuse the file, naming the line
# (test_hostile_inputs.py::test_csv_stray_quote_loses_no_line).
CSV_CELLS = CELLS.map(lambda c: c.replace("\r", " ").replace("\n", " "))
TRACK_HEADER = [
    "member_id",
    "time",
    "lon",
    "lat",
    "accuracy",
    "speed",
    "mock",
    "crs",
    "provider",
    "device_id",
    "user_id",
    "latitude",
    "x",
    "",
]


CSV_PREFIXES = st.sampled_from([b"", b"member_id,time,lon,lat\n", b"member_id;time;lon;lat;accuracy\n"])


@READER_SETTINGS
@given(text=st.text(max_size=300), prefix=CSV_PREFIXES)
def test_csv_reader_any_text(tmp_path, text, prefix):
    path = tmp_path / "any.csv"
    path.write_bytes(prefix + text.encode("utf-8", "surrogatepass"))
    read_or_error(path)


@READER_SETTINGS
@given(data=st.binary(max_size=300), prefix=CSV_PREFIXES)
@example(data=b"M1,\xff\xfe,1,2\n", prefix=b"member_id,time,lon,lat\n")
@example(data=b"\xbc\x17M8\n", prefix=b"")
def test_csv_reader_any_bytes(tmp_path, data, prefix):
    path = tmp_path / "any.csv"
    path.write_bytes(prefix + data)
    read_or_error(path)


@READER_SETTINGS
@given(
    header=st.lists(st.sampled_from(TRACK_HEADER), min_size=1, max_size=8, unique=True),
    rows=st.lists(st.lists(CSV_CELLS, max_size=9), max_size=6),
    sep=st.sampled_from([",", ";", "\t"]),
)
def test_csv_reader_any_table(tmp_path, header, rows, sep):
    path = tmp_path / "table.csv"
    text = sep.join(header) + "\n" + "\n".join(sep.join(r) for r in rows)
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    fixes = read_or_error(path)
    if fixes is not None:
        # Nothing dropped: every data line with content is one fix (a ragged line an invalid one);
        # only empty or blank lines may give none.
        lines = [sep.join(r) for r in rows]
        assert sum(1 for line in lines if line.strip()) <= len(fixes) <= sum(1 for line in lines if line)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.floats(allow_nan=False, allow_infinity=False),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
    max_leaves=20,
)
GEOMETRY = (
    st.none()
    | JSON
    | st.fixed_dictionaries(
        {"type": st.sampled_from(["Point", "LineString", "Polygon", "MultiPoint"]), "coordinates": JSON}
    )
)
PROPERTIES = JSON | st.fixed_dictionaries(
    {"member_id": JSON | CELLS, "time": JSON | CELLS},
    optional={k: JSON | CELLS for k in ("lon", "lat", "accuracy", "speed", "mock", "crs", "device_id")},
)
FEATURE = JSON | st.fixed_dictionaries({"type": st.just("Feature"), "geometry": GEOMETRY, "properties": PROPERTIES})
GEOJSON = JSON | st.fixed_dictionaries(
    {"type": st.just("FeatureCollection"), "features": st.lists(FEATURE, max_size=5) | JSON},
    optional={"crs": JSON, "coordinate_system": JSON | CELLS},
)


@READER_SETTINGS
@given(document=GEOJSON)
def test_geojson_reader_any_document(tmp_path, document):
    path = tmp_path / "any.geojson"
    path.write_text(json.dumps(document))
    fixes = read_or_error(path)
    if fixes is not None:
        assert len(fixes) == len(document["features"])  # one fix per feature, none dropped


@READER_SETTINGS
@given(data=st.binary(max_size=300) | st.text(max_size=300).map(lambda s: s.encode("utf-8", "surrogatepass")))
def test_geojson_and_gpx_readers_any_bytes(tmp_path, data):
    for suffix in (".geojson", ".gpx"):
        path = tmp_path / f"M1{suffix}"
        path.write_bytes(data)
        read_or_error(path)


@READER_SETTINGS
@given(
    points=st.lists(
        st.tuples(
            CELLS,
            CELLS,
            st.dictionaries(
                st.sampled_from(["time", "accuracy", "hacc", "speed", "mock", "device_id", "provider"]),
                CELLS,
                max_size=4,
            ),
        ),
        max_size=5,
    ),
    crs=st.none() | CELLS,
)
def test_gpx_reader_any_track_points(tmp_path, points, crs):
    body = "".join(
        f"<trkpt lat={quoteattr(lat)} lon={quoteattr(lon)}>"
        + "".join(f"<{k}>{escape(v)}</{k}>" for k, v in extra.items())
        + "</trkpt>"
        for lat, lon, extra in points
    )
    meta = f"<metadata><crs>{escape(crs)}</crs></metadata>" if crs is not None else ""
    text = f'<?xml version="1.0"?>\n<gpx version="1.1">{meta}<trk><trkseg>{body}</trkseg></trk></gpx>\n'
    path = tmp_path / "M1.gpx"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    fixes = read_or_error(path)
    if fixes is not None:
        assert len(fixes) == len(points)
        assert (fixes["member_id"] == "M1").all()


# --------------------------------------------------------------------------- verifier

GRIDS = {"square": SQUARE_100, "holed": SQUARE_WITH_HOLE, "L": L_SHAPE}

# A fix: where it is (a jump to anywhere around the grid, or a step from the previous fix, in
# metres on conftest.PROJ), its accuracy, and what is wrong with it, if anything.
MOVE = st.one_of(
    st.tuples(st.just("jump"), st.floats(-250.0, 350.0), st.floats(-250.0, 350.0)),
    st.tuples(st.just("step"), st.floats(-15.0, 15.0), st.floats(-15.0, 15.0)),
)
FIX = st.tuples(
    MOVE,
    st.one_of(st.just(float("nan")), st.floats(1.0, 120.0)),
    st.sampled_from(["ok"] * 20 + ["nan_lon", "inf_lat", "no_time", "no_member", "zero"]),
)
# Seconds from one fix to the next: walking cadence, pauses, gaps (> 300 s), and jumps that cross
# local midnight (16 h after conftest.T0) or pass NOW (22 h after T0, so fixes become `future`).
# Weights: 30 in 40 walking (0.5-30 s), 8 in 40 pauses and gaps, 2 in 40 long jumps.
STEP = st.tuples(st.integers(0, 39), st.floats(0.0, 1.0)).map(
    lambda ku: 0.5 + 29.5 * ku[1] if ku[0] < 30 else 30.0 + 370.0 * ku[1] if ku[0] < 38 else 3_000.0 + 27_000.0 * ku[1]
)


@st.composite
def members_fixes(draw, members=("M1", "M2"), off_edges=False):
    """Rows (x_m, y_m, seconds, accuracy, fault, member) with distinct times per member.

    With ``off_edges``, positions are on a centimetre lattice shifted by 5 mm, so that no fix lies
    within 4 mm of the grids' edges (which are on whole metres), nor runs along one.
    """
    rows = []
    for member in draw(st.lists(st.sampled_from(members), min_size=1, max_size=len(members), unique=True)):
        n = draw(st.integers(0, 80))
        fixes = draw(st.lists(FIX, min_size=n, max_size=n))
        steps = draw(st.lists(STEP, min_size=len(fixes), max_size=len(fixes)))
        # Start in the morning, in the afternoon (the day may run past local midnight), or just
        # before NOW (later fixes are `future`).
        t = draw(st.sampled_from([-3_600.0, 0.0, 56_000.0, 78_500.0])) + draw(st.floats(0.0, 1_800.0))
        x = y = 50.0
        for ((mode, a, b), acc, fault), step in zip(fixes, steps):
            t += step
            if off_edges:
                shift = 0.005 if mode == "jump" else 0.0
                a, b = round(a, 2) + shift, round(b, 2) + shift
            x, y = (a, b) if mode == "jump" else (x + a, y + b)
            rows.append((x, y, round(t, 3), acc, fault, member))
    return rows


def build(rows, dx=0.0, dy=0.0) -> pd.DataFrame:
    """A fix table from :func:`members_fixes` rows, moved by (dx, dy) metres, faults applied."""
    frames = []
    for member in dict.fromkeys(r[5] for r in rows):
        mine = [r for r in rows if r[5] == member]
        frame = fix_frame([(x + dx, y + dy, t, acc) for x, y, t, acc, _, _ in mine], member=member)
        faults = np.array([r[4] for r in mine])
        frame.loc[faults == "nan_lon", "lon"] = np.nan
        frame.loc[faults == "inf_lat", "lat"] = np.inf
        frame.loc[faults == "no_time", "time"] = pd.NaT
        frame.loc[faults == "no_member", "member_id"] = pd.NA
        frame.loc[faults == "zero", ["lon", "lat"]] = 0.0
        frame["line"] = [1000 * (1 + ("M1", "M2").index(member)) + i for i in range(len(mine))]
        frames.append(frame)
    if not frames:
        return fix_frame([])
    return pd.concat(frames, ignore_index=True)


def grids_for(name, dx=0.0, dy=0.0):
    """M1's grid (M2 is in no grid, so the no-grid path is exercised too)."""
    return [metric_grid(shapely.affinity.translate(GRIDS[name], dx, dy), members=("M1",))]


def verify(grids, fixes):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return verify_batch(grids, fixes, now=NOW, tz=TZ)


def figures(result) -> list[dict]:
    """Every patrol's output (as the command line prints it) without its rejection counts."""
    out = []
    for patrol in result.patrols:
        d = patrol.to_dict(TZ)
        d["fixes"] = d["fixes"]["kept"]
        out.append(d)
    return out


@VERIFY_SETTINGS
@given(rows=members_fixes(), grid=st.sampled_from(sorted(GRIDS)))
def test_every_fix_is_kept_or_rejected_and_time_adds_up(rows, grid):
    fixes = build(rows)
    result = verify(grids_for(grid), fixes)
    s = result.summary
    # The summary accounts for every row read.
    assert s["fixes_read"] == len(fixes) == s["fixes_kept"] + sum(s["fixes_rejected"].values())
    faults = [r[4] for r in rows]
    assert s["fixes_rejected"]["invalid"] == sum(f != "ok" for f in faults)
    # Each rejected fix with a member and time belongs to exactly one patrol; the rest are counted apart.
    per_patrol_rejected = {r: sum(p.rejected[r] for p in result.patrols) for r in REASONS}
    for reason in REASONS:
        assert per_patrol_rejected[reason] + s["rejected_without_member_or_time"][reason] == s["fixes_rejected"][reason]
    # Kept fixes: a patrol counts input fixes only (the points interpolated at local midnight are not).
    assert sum(p.kept for p in result.patrols) == s["fixes_kept"]
    assert len({p.patrol_id for p in result.patrols}) == len(result.patrols)
    for p in result.patrols:
        assert p.kept + sum(p.rejected.values()) > 0
        if p.start is None:
            assert p.kept == 0 and p.in_grid_s == p.outside_s == p.gap_s == p.teleport_s == 0
            continue
        span = (p.end - p.start).total_seconds()
        # A glitch at either end of the day leaves its seconds out of the figures, and says so.
        span -= sum(f.evidence["uncounted_s"] for f in p.flags if f.code == "GPS_OUTLIER")
        # Every other second between the first and last kept fix is in exactly one bucket.
        assert p.in_grid_s + p.outside_s + p.gap_s + p.teleport_s == pytest.approx(span, rel=1e-9, abs=1e-6)
        assert min(p.in_grid_s, p.outside_s, p.gap_s, p.teleport_s) >= 0
        assert 0 <= p.verified_s <= p.in_grid_s + 1e-9
        assert 0 <= p.coverage["area_ratio"] <= 1
        if p.grid_id is None:
            assert p.in_grid_s == 0 and p.coverage["area_ratio"] == 0


@VERIFY_SETTINGS
@given(
    rows=members_fixes(),
    grid=st.sampled_from(sorted(GRIDS)),
    seed=st.integers(0, 2**32 - 1),
    repeat=st.lists(st.integers(0, 10**6), max_size=30),
)
def test_row_order_and_repeated_rows_change_nothing(rows, grid, seed, repeat):
    fixes = build(rows)
    grids = grids_for(grid)
    base = verify(grids, fixes)
    shuffled = fixes.sample(frac=1.0, random_state=seed % 2**32).reset_index(drop=True)
    picked = [i % len(fixes) for i in repeat] if len(fixes) else []
    copies = fixes.iloc[picked]  # fixes' rows are in the order of ``rows``
    # Repeats land anywhere, before or after their original.
    doubled = pd.concat([shuffled, copies], ignore_index=True).sample(frac=1.0, random_state=seed % 97)
    again = verify(grids, doubled.reset_index(drop=True))
    assert figures(again) == figures(base)
    # Warnings are the same, but for the count of repeated rows without member or time.
    unassigned = "rejected fix(es) have no usable member id or time"
    assert [w for w in again.warnings if unassigned not in w] == [w for w in base.warnings if unassigned not in w]
    # Every repeated row that is not invalid is a `duplicate`; nothing else moves.
    valid_copies = sum(rows[i][4] == "ok" for i in picked)
    before, after = base.summary["fixes_rejected"], again.summary["fixes_rejected"]
    assert after["duplicate"] - before["duplicate"] == valid_copies
    assert after["invalid"] - before["invalid"] == len(copies) - valid_copies
    assert {k: after[k] for k in ("future", "low_accuracy")} == {k: before[k] for k in ("future", "low_accuracy")}
    assert again.summary["fixes_kept"] == base.summary["fixes_kept"]
    assert again.summary["fixes_read"] == base.summary["fixes_read"] + len(copies)


# Moving the track and the grid together by (dx, dy) metres on conftest.PROJ (the grid's own
# projection) changes no figure. The only difference is rounding: a fix goes metres → lon/lat →
# metres, which moves it by at most 3e-9 m (measured over ±5 km: the resolution of float64
# degrees). That moves a boundary crossing by as much, i.e. a segment's in-grid share by
# 2 × 3e-9 m / its length: under 1e-6 s of any segment longer than 1 cm and shorter than 300 s
# (longer segments are gaps, whose time does not depend on position). A point interpolated at
# local midnight (batch.split_days) is linear in degrees, not metres: it sits off the metric chord
# by a hair that differs at the moved place (1.7e-6 m seen in 700 examples). Durations are
# compared to 1e-4 s, distances to 1e-4 m. Fixes are kept 4 mm off the grids' edges: a fix within 3e-9 m of
# an edge, or a segment running along one that closely, is inside or outside by rounding alone
# (GEOS clips a segment 7e-10 m off an edge and parallel to it at the wrong length), which no GPS
# can resolve and no translation can preserve. M2, in no grid, is measured on a projection centred
# near its own track, not on PROJ, so its distances see PROJ's scale error at the moved place:
# (d / R)² / 2 ≤ 6.2e-7 for d ≤ 5 km·√2 (R = 6371 km); they are compared to a relative 1e-6.
TRANSLATION = st.floats(-5_000.0, 5_000.0).map(lambda v: round(v, 3))


def motion_only(patrol) -> dict:
    """A patrol's figures that depend on relative positions only (not the lon/lat of evidence)."""
    d = patrol.to_dict(TZ)
    return {
        "flags": [(f["code"], f["severity"], f["status"], f["start"], f["end"]) for f in d["flags"]],
        "credit": d["credit"],
        "fixes": d["fixes"],
        "start": d["start"],
        "end": d["end"],
        "grid_id": d["grid_id"],
        "sites": d["coverage"]["sites_visited"],
    }


def verify_moved(rows, grid, dx, dy):
    return verify(grids_for(grid), build(rows)), verify(grids_for(grid, dx, dy), build(rows, dx, dy))


@VERIFY_SETTINGS
@given(rows=members_fixes(off_edges=True), grid=st.sampled_from(sorted(GRIDS)), dx=TRANSLATION, dy=TRANSLATION)
def test_moving_track_and_grid_together_changes_no_figure(rows, grid, dx, dy):
    base, moved = verify_moved(rows, grid, dx, dy)
    assert [motion_only(p) for p in moved.patrols] == [motion_only(p) for p in base.patrols]
    for a, b in zip(moved.patrols, base.patrols):
        for name in ("in_grid_s", "outside_s", "gap_s", "teleport_s", "verified_s"):
            assert getattr(a, name) == pytest.approx(getattr(b, name), abs=1e-4), name
        assert a.distance_m == pytest.approx(b.distance_m, abs=1e-4, rel=1e-6 if a.grid_id is None else 0)
        # Coverage samples the grid at centres laid out from its box, which moves with it; 0.001
        # allows their float32 rounding (measured: no difference over 300 examples).
        assert a.coverage["area_ratio"] == pytest.approx(b.coverage["area_ratio"], abs=1e-3)


# Coverage is sampled at row/column centres laid out from the grid's box; moving the box must not
# move a centre relative to the grid. These two moves once put a row of centres exactly on
# SQUARE_WITH_HOLE's edge (100 m / 1.6 m = 62.5 rows), which moved coverage by 0.012.
@pytest.mark.parametrize("dx, dy", [(3806.115, 4486.707), (3349.002, 40.0)])
def test_moving_track_and_grid_together_keeps_coverage(dx, dy):
    # A walk along the grid's top edge at 1 m/s, 10 s cadence (the buffer reaches the edge row).
    rows = [(5.0 + i * 10.0, 90.0, i * 10.0, 5.0, "ok", "M1") for i in range(10)]
    base, moved = verify_moved(rows, "holed", dx, dy)
    assert moved.patrols[0].coverage["area_ratio"] == pytest.approx(base.patrols[0].coverage["area_ratio"], abs=1e-3)
