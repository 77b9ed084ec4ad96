"""Spreading a batch over processes: ``--workers N`` gives the same JSON as one process.

Run on the sample day and on a simulated multi-grid city over two days with a two-phones pair in
different member buckets, a replayed day, a patrol across local midnight, events and sites.
"""

import json
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from shapely.geometry import box, mapping

from geoverify.cli.main import main
from geoverify.cli.report import to_json
from geoverify.engines.batch import batch_context, finish_batch, merge_parts, verify_batch, verify_members
from geoverify.engines.parallel import split_by_member, verify_local
from geoverify.geo.projection import LocalProjection
from geoverify.io import read_events, read_grids, read_sites, read_tracks
from geoverify.io.partitioned import member_bucket, open_partitioned, read_partitioned
from geoverify.simulation.city import simulate_city
from geoverify.simulation.simulate import duplicate_track, honest_patrol, simulate_sites
from geoverify.simulation.walks import CSV_COLUMNS, simulate_walk

ROOT = Path(__file__).resolve().parent.parent
NOW = "2026-11-03T12:00:00+08:00"
BUCKETS = 8
TWO_PHONES = ("P1", "P2")  # CRC-32 buckets 1 and 3 of 8: verified in different parts
REPLAYER, NIGHT, NO_GRID = "R1", "N1", "X9"


def sample_args():
    return [
        "--grids",
        str(ROOT / "grids" / "dongcheng_sample.geojson"),
        "--events",
        str(ROOT / "sample_tracks" / "events" / "events.csv"),
        "--sites",
        str(ROOT / "sample_tracks" / "sites" / "sites.csv"),
        "--now",
        "2026-11-03T00:00:00+08:00",
    ]


def write_city(folder: Path) -> dict:
    """A four-grid city over 2026-11-01/02 written as grids.geojson, tracks.csv, events.csv, sites.csv."""
    proj = LocalProjection(116.40, 39.91)
    polys = {}
    for g in range(4):
        x0, y0 = (g % 2) * 400.0, (g // 2) * 400.0
        ring = np.asarray(box(x0, y0, x0 + 400, y0 + 400).exterior.coords)
        lon, lat = proj.inverse(ring[:, 0], ring[:, 1])
        polys[f"G{g}"] = box(lon.min(), lat.min(), lon.max(), lat.max())
    members = {f"G{g}": [f"C{g:05d}", f"C{g + 4:05d}"] for g in range(4)}
    members["G0"] += list(TWO_PHONES)
    members["G1"].append(REPLAYER)
    members["G2"].append(NIGHT)
    frames = [simulate_city(polys, 8, date="2026-11-02", seed=5, hours=3.0)]
    frames += list(duplicate_track(polys["G0"], TWO_PHONES, "2026-11-02", np.random.default_rng(1)))
    first = honest_patrol(polys["G1"], REPLAYER, "2026-11-01", np.random.default_rng(2))
    again = first.assign(time=first["time"] + pd.Timedelta(days=1, seconds=420))
    frames += [first, again]
    night = simulate_walk(polys["G2"], "2026-11-01T23:20:00", 80 * 60, rng=3)
    frames.append(night.assign(member_id=NIGHT))
    frames.append(simulate_walk(polys["G3"], "2026-11-02T09:00:00", 1800, rng=4).assign(member_id=NO_GRID))
    fixes = pd.concat(
        [f.assign(time=pd.to_datetime(f["time"]).dt.tz_convert("Asia/Shanghai")) for f in frames], ignore_index=True
    )
    fixes = fixes.sample(frac=1.0, random_state=7).reset_index(drop=True)  # input order is not time order
    fixes["time"] = fixes["time"].dt.strftime("%Y-%m-%dT%H:%M:%S+08:00")
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "grids": folder / "grids.geojson",
        "tracks": folder / "tracks.csv",
        "events": folder / "events.csv",
        "sites": folder / "sites.csv",
    }
    paths["grids"].write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {"type": "Feature", "geometry": mapping(p), "properties": {"grid_id": g, "members": members[g]}}
                    for g, p in polys.items()
                ],
            }
        )
    )
    fixes.reindex(columns=list(CSV_COLUMNS)).to_csv(paths["tracks"], index=False)
    c0 = fixes[fixes["member_id"] == "C00000"].sort_values("time").iloc[100]
    p1 = fixes[fixes["member_id"] == "P1"].sort_values("time").iloc[[200, 206]]
    # E2 (P2, bucket 3) and E5 (P1, bucket 1) a minute apart at one spot: E5 is EVENT_DUPLICATE.
    pd.DataFrame(
        {
            "event_id": ["E1", "E2", "E3", "E4", "E5"],
            "member_id": ["C00000", "P2", NIGHT, "P1", "P1"],
            "time": [
                c0["time"],
                p1["time"].iloc[0],
                "2026-11-02T00:10:00+08:00",
                "2026-11-02T06:00:00+08:00",
                p1["time"].iloc[1],
            ],
            "lon": [c0["lon"], p1["lon"].iloc[0], 116.45, p1["lon"].iloc[0], p1["lon"].iloc[0] + 0.00002],
            "lat": [c0["lat"], p1["lat"].iloc[0], 39.95, p1["lat"].iloc[0], p1["lat"].iloc[0]],
            "category": ["garbage", "garbage", "road", "road", "garbage"],
        }
    ).to_csv(paths["events"], index=False)
    simulate_sites(polys, np.random.default_rng(9)).to_csv(paths["sites"], index=False)
    return paths


@pytest.fixture(scope="session")
def city(tmp_path_factory) -> dict:
    return write_city(tmp_path_factory.mktemp("city"))


def city_args(city: dict, tracks=None) -> list[str]:
    return [
        "--grids",
        str(city["grids"]),
        "--tracks",
        str(tracks or city["tracks"]),
        "--events",
        str(city["events"]),
        "--sites",
        str(city["sites"]),
        "--now",
        NOW,
    ]


def run(args: list[str]) -> str:
    result = CliRunner().invoke(main, ["verify", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="session")
def city_single(city) -> str:
    return run(city_args(city) + ["--workers", "1"])


def test_city_has_every_cross_patrol_case(city, city_single):
    doc = json.loads(city_single)
    patrols = {p["patrol_id"]: p for p in doc["patrols"]}
    kinds = {
        (p["member_id"], f["evidence"]["kind"])
        for p in doc["patrols"]
        for f in p["flags"]
        if f["code"] == "DUPLICATE_TRACK"
    }
    assert kinds == {("P1", "two_phones"), ("P2", "two_phones"), (REPLAYER, "replay")}
    assert len(set(member_bucket(pd.Series(list(TWO_PHONES)), BUCKETS))) == 2
    # The night walk is split at local midnight: 40 min on each day, nothing lost.
    night = [patrols[f"{NIGHT}_20261101"], patrols[f"{NIGHT}_20261102"]]
    assert sum(p["outside_s"] + p["in_grid_s"] for p in night) == pytest.approx(80 * 60 - 10, abs=1e-6)
    assert night[0]["end"] == night[1]["start"] == "2026-11-02T00:00:00+08:00"
    assert any(NO_GRID in w and "no grid" in w for w in doc["warnings"])
    codes = {e["event_id"]: sorted(f["code"] for f in e["flags"]) for e in doc["events"]}
    assert codes == {
        "E1": [],
        "E2": [],
        "E3": ["EVENT_FAR_FROM_TRACK", "EVENT_OUTSIDE_GRID"],
        "E4": ["EVENT_NO_TRACK"],
        "E5": ["EVENT_DUPLICATE"],
    }
    assert doc["summary"]["fixes_read"] == doc["summary"]["fixes_kept"] + sum(doc["summary"]["fixes_rejected"].values())


def test_two_workers_give_the_same_json_on_the_city(city, city_single):
    assert run(city_args(city) + ["--workers", "2"]) == city_single


def test_two_workers_give_the_same_json_on_the_sample_day():
    tracks = ["--tracks", str(ROOT / "sample_tracks")]
    assert run(sample_args() + tracks + ["--workers", "2"]) == run(sample_args() + tracks + ["--workers", "1"])


def test_partitioned_table_gives_the_same_json(city, city_single, tmp_path):
    out = tmp_path / "parts"
    done = CliRunner().invoke(
        main, ["partition", "--tracks", str(city["tracks"]), "--out", str(out), "--buckets", str(BUCKETS)]
    )
    assert done.exit_code == 0, done.output
    assert (
        sorted(p.name for p in out.glob("bucket=*")) == [f"bucket={b:03d}" for b in range(8)]
        and len(list(out.glob("bucket=*/date=2026-11-01/*.parquet"))) == 2
    )  # R1's first day, N1's evening
    text = dict.fromkeys(["member_id", "provider", "device_id", "crs", "source"], "string")
    pd.testing.assert_frame_equal(
        read_partitioned(open_partitioned(out)).astype(text), read_tracks(city["tracks"]).astype(text)
    )
    for workers in ("1", "2"):
        assert run(city_args(city, out) + ["--workers", workers]) == city_single


def test_parts_split_by_member_merge_to_the_whole(city):
    """The library path: verify_members on parts, merged, equals verify_batch (events included)."""
    grids, fixes = read_grids(city["grids"]), read_tracks(city["tracks"])
    events, sites = read_events(city["events"]), read_sites(city["sites"])
    now = pd.Timestamp(NOW)
    whole = verify_batch(grids, fixes, now=now, events=events, sites=sites)
    ctx = batch_context(grids, now=now, events=events, sites=sites)
    parts = split_by_member(fixes, 5)
    assert len(parts) == 5 and sum(len(p) for p in parts) == len(fixes)
    assert all(
        set(a["member_id"].dropna()).isdisjoint(b["member_id"].dropna())
        for i, a in enumerate(parts)
        for b in parts[i + 1 :]
    )
    merged = finish_batch(merge_parts([verify_members(p, ctx) for p in reversed(parts)]), ctx, events)
    assert to_json(merged, "Asia/Shanghai") == to_json(whole, "Asia/Shanghai")


def test_split_keeps_a_members_rows_in_input_order():
    fixes = pd.DataFrame(
        {"member_id": pd.Series(["a", "b", None, "a", "c", "b", "a"], dtype="string"), "row": range(7)}
    )
    parts = split_by_member(fixes, 3)
    assert [p["row"].tolist() for p in parts] == [[0, 2, 3, 6], [1, 5], [4]]


def test_zero_workers_is_a_bad_argument(city):
    result = CliRunner().invoke(main, ["verify", *city_args(city), "--workers", "0"])
    assert result.exit_code == 2 and "--workers" in result.output


def test_verify_local_rejects_zero_workers(city):
    ctx = batch_context(read_grids(city["grids"]))
    with pytest.raises(Exception, match="at least 1"):
        verify_local(read_tracks(city["tracks"]), ctx, workers=0)


def test_partition_refuses_a_folder_with_files(city, tmp_path):
    (tmp_path / "keep.txt").write_text("x")
    result = CliRunner().invoke(main, ["partition", "--tracks", str(city["tracks"]), "--out", str(tmp_path)])
    assert result.exit_code == 2 and f"{tmp_path}: output folder exists and is not empty" in result.stderr


def test_member_bucket_is_stable():
    labels = member_bucket(pd.Series(["P1", None, "P2"], dtype="string"), BUCKETS).tolist()
    assert labels == [f"{zlib.crc32(b'P1') % 8:03d}", "none", f"{zlib.crc32(b'P2') % 8:03d}"] == ["001", "none", "003"]


def test_unreadable_partition_names_the_file(city, tmp_path):
    out = tmp_path / "parts"
    assert CliRunner().invoke(main, ["partition", "--tracks", str(city["tracks"]), "--out", str(out)]).exit_code == 0
    broken = sorted(out.glob("bucket=*/date=2026-11-02/*.parquet"))[1]
    broken.write_bytes(b"not parquet")
    result = CliRunner().invoke(main, ["verify", *city_args(city, out), "--workers", "2"])
    assert result.exit_code == 2 and f"{broken}: cannot read partition" in result.stderr


def test_split_keeps_a_grids_members_together():
    fixes = pd.DataFrame(
        {"member_id": pd.Series(["a", "b", "c", "d", "a", "b", "c", "d"], dtype="string"), "row": range(8)}
    )
    parts = split_by_member(fixes, 2, {"a": "G1", "b": "G2", "c": "G1", "d": "G2"})
    assert [p["row"].tolist() for p in parts] == [[0, 2, 4, 6], [1, 3, 5, 7]]


def test_partition_by_grid_puts_a_grids_members_in_one_bucket(city, city_single, tmp_path):
    out = tmp_path / "by-grid"
    done = CliRunner().invoke(
        main,
        [
            "partition",
            "--tracks",
            str(city["tracks"]),
            "--grids",
            str(city["grids"]),
            "--out",
            str(out),
            "--buckets",
            "16",
        ],
    )
    assert done.exit_code == 0, done.output
    members_of = {}
    for path in out.glob("bucket=*/date=*/*.parquet"):
        bucket = path.parent.parent.name
        for member in pd.read_parquet(path, columns=["member_id"])["member_id"].dropna().unique():
            members_of.setdefault(str(member), set()).add(bucket)
    grids = {
        g["properties"]["grid_id"]: g["properties"]["members"]
        for g in json.loads(city["grids"].read_text())["features"]
    }
    for grid_id, members in grids.items():
        assert len(set().union(*(members_of[m] for m in members))) == 1, grid_id
    assert json.loads((out / "_geoverify_dataset.json").read_text())["bucket_key"] == "grid"
    assert run(city_args(city, out) + ["--workers", "2"]) == city_single


def test_partition_of_a_folder_keeps_input_order_and_reader_warnings(city, city_single, tmp_path):
    """Tracks in several files, a member's fixes in each: written file by file, read back in input order."""
    folder = tmp_path / "tracks"
    folder.mkdir()
    rows = pd.read_csv(city["tracks"], dtype=str)
    for k, chunk in enumerate(np.array_split(np.arange(len(rows)), 3)):
        rows.iloc[chunk].to_csv(folder / f"part{k}.csv", index=False)
    (folder / "photo.jpg").write_bytes(b"\xff\xd8")  # not a track: skipped with a warning
    out = tmp_path / "parts"
    done = CliRunner().invoke(main, ["partition", "--tracks", str(folder), "--out", str(out), "--buckets", "4"])
    assert done.exit_code == 0, done.output
    assert f"geoverify: warning: {folder}: skipped 1 file(s) that are not tracks: photo.jpg" in done.stderr
    assert len(list(out.glob("bucket=001/date=2026-11-02/part-*.parquet"))) == 3
    single = run(city_args(city, folder) + ["--workers", "1"])
    assert json.loads(single)["warnings"][0] == f"{folder}: skipped 1 file(s) that are not tracks: photo.jpg"
    assert run(city_args(city, out) + ["--workers", "2"]) == single
    # Same patrols as the one-file city, whose evidence names tracks.csv instead of part0-2.csv.
    assert [p["in_grid_s"] for p in json.loads(single)["patrols"]] == [
        p["in_grid_s"] for p in json.loads(city_single)["patrols"]
    ]


@pytest.mark.parametrize("workers", [1, 2])
def test_small_parts_give_the_same_result(city, monkeypatch, workers):
    """With parts capped at a few thousand fixes (as 250,000 caps a city day), one process going
    part by part and two processes taking parts from a bounded queue both give verify_batch's result."""
    import geoverify.engines.parallel as engine

    grids, fixes = read_grids(city["grids"]), read_tracks(city["tracks"])
    events, sites = read_events(city["events"]), read_sites(city["sites"])
    now = pd.Timestamp(NOW)
    whole = verify_batch(grids, fixes, now=now, events=events, sites=sites)
    monkeypatch.setattr(engine, "PART_MAX_FIXES", 2_000)
    assert engine.part_count(len(fixes), workers) >= 5
    ctx = batch_context(grids, now=now, events=events, sites=sites)
    result = verify_local(fixes, ctx, workers=workers, events=events)
    assert to_json(result, "Asia/Shanghai") == to_json(whole, "Asia/Shanghai")


def test_bounded_map_keeps_order_and_holds_at_most_its_window():
    from concurrent.futures import ThreadPoolExecutor

    from geoverify.engines.parallel import bounded_map

    made = []

    def items():
        for i in range(20):
            made.append(i)
            yield i

    with ThreadPoolExecutor(2) as pool:
        out = []
        for value in bounded_map(pool, lambda x: x * x, items(), window=3):
            assert len(made) - len(out) <= 3  # never more than the window made and not yet collected
            out.append(value)
    assert out == [i * i for i in range(20)]
