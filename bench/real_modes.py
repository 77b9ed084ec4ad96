"""Flags on real recordings: how often honest days are held, and how much real vehicle travel is caught.

Usage::

    python bench/real_modes.py DIR_OR_FILE [...] [--label FILE=MODE] [--no-trackintel] [--json FILE]

Each argument is scanned for real GPS recordings:

* ``<user>/Trajectory/*.plt`` with ``<user>/labels.txt`` — Microsoft Geolife users with
  transport-mode labels (``Start Time``, ``End Time``, ``Transportation Mode``, UTC);
* loose ``*.plt`` files — Geolife trajectories without labels (one member per file);
* ``*.csv`` with trackintel's positionfix columns (``user_id;tracked_at;latitude;longitude[;accuracy]``,
  ``;`` or ``,`` separated), e.g. phone exports;
* ``*.gpx`` — one member per file; ``--label FILE=MODE`` labels a whole file (``bus``, ``walk`` …);
* ``go_track_trackspoints.csv`` beside ``go_track_tracks.csv`` — the UCI "GPS Trajectories" data set
  (Go!Track app, Aracaju, Brazil): each track is a member-day labelled ``car`` or ``bus``.

Every recording is written as a geoverify track CSV and verified with :func:`geoverify.engines.batch.verify_batch`
as members assigned to no grid (nobody in these datasets was patrolling, so in-grid time is beside
the point: the flags are), each member's local dates taken in the zone of its
longitude. Per dataset it prints

* member-days, the share held (an open high-severity flag) and held by ``TELEPORT``, and the flags raised;
* time-weighted over the recorded time (segments no longer than ``max_gap_s``, each judged at its
  midpoint): the share of labelled vehicle time that ``VEHICLE`` covers, overall and per mode, and the
  share of labelled walking and cycling time it covers (time labelled as a vehicle counts as vehicle
  time where labels overlap);
* beside it, trackintel's transport-mode prediction on the same fixes (staypoints, then triplegs,
  ``predict_transport_mode`` "simple-coarse": motorised is ``motorized_mobility`` or ``fast_mobility``).

Not a test: real data is not shipped with the project (Geolife's licence allows research use only).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from table import render

from geoverify.engines.batch import verify_batch
from geoverify.io.tracks import read_track_file
from geoverify.rules import RuleSet, parse_rules

VEHICLE_MODES = ("bus", "car", "taxi", "subway", "train", "railway", "motorcycle", "airplane", "boat")
CITY_MODES = ("bus", "car", "taxi", "subway")
SLOW_MODES = ("walk", "run", "bike")
GEOLIFE_EPOCH = pd.Timestamp("1899-12-30", tz="UTC")


@dataclass
class Recording:
    """One member's fixes (UTC times, WGS-84) and its labelled intervals."""

    dataset: str
    member: str
    frame: pd.DataFrame  # time (UTC), lon, lat[, accuracy]
    labels: list[tuple[pd.Timestamp, pd.Timestamp, str]] = field(default_factory=list)


def _read_plt(path: Path) -> pd.DataFrame:
    raw = pd.read_csv(path, skiprows=6, header=None, usecols=[0, 1, 4], names=["lat", "lon", "days"])
    times = GEOLIFE_EPOCH + pd.to_timedelta(raw["days"] * 86400.0, unit="s")
    return pd.DataFrame({"time": times.dt.round("s"), "lon": raw["lon"], "lat": raw["lat"]})


def _read_labels(path: Path) -> list[tuple[pd.Timestamp, pd.Timestamp, str]]:
    table = pd.read_csv(path, sep="\t")
    out = []
    for start, end, mode in table.itertuples(index=False):
        out.append(
            (
                pd.Timestamp(start.replace("/", "-"), tz="UTC"),
                pd.Timestamp(end.replace("/", "-"), tz="UTC"),
                str(mode).strip().lower(),
            )
        )
    return out


def _read_positionfixes(path: Path) -> pd.DataFrame:
    raw = pd.read_csv(path, sep=None, engine="python")
    out = pd.DataFrame(
        {
            "time": pd.to_datetime(raw["tracked_at"], utc=True, format="mixed"),
            "lon": raw["longitude"],
            "lat": raw["latitude"],
        }
    )
    if "accuracy" in raw:
        out["accuracy"] = raw["accuracy"]
    out["member"] = raw["user_id"].astype(str) if "user_id" in raw else "0"
    return out


def _read_gotrack(points: Path) -> list[Recording]:
    """One recording per Go!Track track, labelled with its ``car_or_bus`` (1 car, 2 bus)."""
    tracks = pd.read_csv(points.parent / "go_track_tracks.csv").set_index("id")
    fixes = pd.read_csv(points)
    out = []
    for track_id, part in fixes.groupby("track_id"):
        if track_id not in tracks.index or len(part) < 10:
            continue
        mode = {1: "car", 2: "bus"}.get(int(tracks.loc[track_id, "car_or_bus"]))
        frame = pd.DataFrame(
            {
                "time": pd.to_datetime(part["time"]).dt.tz_localize("UTC"),
                "lon": part["longitude"].to_numpy(),
                "lat": part["latitude"].to_numpy(),
            }
        )
        labels = [(frame["time"].min(), frame["time"].max(), mode)] if mode else []
        out.append(Recording("gotrack", f"gt{track_id}", frame, labels))
    return out


def _read_gpx(path: Path) -> pd.DataFrame:
    from geoverify.io.gpx import read_gpx_table

    table = read_gpx_table(path, member_id=path.stem).frame
    return pd.DataFrame(
        {
            "time": pd.to_datetime(table["time"], utc=True),
            "lon": table["lon"].astype(float),
            "lat": table["lat"].astype(float),
        }
    )


def find_recordings(paths: list[Path], file_labels: dict[str, str]) -> list[Recording]:
    """Every recording under ``paths`` (see the module docstring)."""
    out: list[Recording] = []
    for root in paths:
        root = root.resolve()
        for labels in sorted(root.glob("**/labels.txt")):
            user = labels.parent
            frames = [_read_plt(p) for p in sorted((user / "Trajectory").glob("*.plt"))]
            if frames:
                out.append(
                    Recording(
                        f"geolife-modes:{root.name}",
                        user.name,
                        pd.concat(frames, ignore_index=True),
                        _read_labels(labels),
                    )
                )
        for user in sorted({p.parent for p in root.glob("**/Trajectory/*.plt")}):
            if not (user.parent / "labels.txt").exists():
                frames = [_read_plt(p) for p in sorted(user.glob("*.plt"))]
                out.append(Recording(f"geolife:{root.name}", user.parent.name, pd.concat(frames, ignore_index=True)))
        loose = sorted(
            p
            for p in ([root] if root.is_file() else root.glob("**/*.plt"))
            if p.suffix == ".plt" and p.parent.name != "Trajectory"
        )
        for path in loose:  # loose files may be different people recording at the same time
            out.append(Recording(f"geolife:{path.parent.name}", path.stem, _read_plt(path)))
        for points in sorted(root.glob("**/go_track_trackspoints.csv")):
            out += _read_gotrack(points)
        for path in sorted(
            p
            for p in ([root] if root.is_file() else root.glob("**/*.csv"))
            if p.suffix == ".csv" and not p.name.startswith("go_track_")
        ):
            frame = _read_positionfixes(path)
            for member, part in frame.groupby("member"):
                out.append(Recording(f"phone:{path.stem}", f"{path.stem}-{member}", part.drop(columns="member")))
        for path in sorted(p for p in ([root] if root.is_file() else root.glob("**/*.gpx")) if p.suffix == ".gpx"):
            frame = _read_gpx(path)
            if len(frame) < 10:
                continue
            mode = file_labels.get(path.name)
            labels = [(frame["time"].min(), frame["time"].max(), mode)] if mode else []
            out.append(Recording(f"gpx:{path.stem}", path.stem, frame, labels))
    return out


def _zone(lon: float) -> str:
    offset = int(round(lon / 15.0))
    return "UTC" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def verify_recording(rec: Recording, workdir: Path, rules: RuleSet) -> tuple[list[dict], pd.DataFrame, float]:
    """Verify one member's recording; its patrols (dicts), its cleaned fixes and the seconds it took."""
    frame = rec.frame.dropna(subset=["time", "lon", "lat"]).sort_values("time")
    tz = _zone(float(frame["lon"].median()))
    csv = workdir / f"{rec.dataset.replace(':', '_')}_{rec.member}.csv"
    out = pd.DataFrame(
        {
            "member_id": rec.member,
            "time": frame["time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "lon": frame["lon"].round(7),
            "lat": frame["lat"].round(7),
        }
    )
    if "accuracy" in frame:
        out["accuracy"] = frame["accuracy"]
    out.to_csv(csv, index=False)
    fixes = read_track_file(csv, tz=tz)
    start = time.perf_counter()
    result = verify_batch([], fixes, rules=rules, tz=tz, now=pd.Timestamp("2100-01-01", tz="UTC"))
    elapsed = time.perf_counter() - start
    patrols = [p.to_dict(tz) for p in result.patrols]
    times = fixes["time"].drop_duplicates().sort_values().reset_index(drop=True)
    return patrols, pd.DataFrame({"time": times}), elapsed


def _segments(times: pd.Series, max_gap_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Midpoints (ns) and durations (s) of the recorded segments (no longer than ``max_gap_s``)."""
    ns = times.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    dt = np.diff(ns) / 1e9
    keep = (dt > 0) & (dt <= max_gap_s)
    mid = (ns[:-1] + ns[1:]) // 2
    return mid[keep], dt[keep]


def _label_at(mid: np.ndarray, labels) -> np.ndarray:
    """Each midpoint's mode: a vehicle mode where labels overlap, '' where unlabelled."""
    out = np.full(len(mid), "", dtype=object)
    for start, end, mode in sorted(labels, key=lambda label: label[2] in VEHICLE_MODES):
        inside = (mid >= start.value) & (mid <= end.value)
        out[inside] = mode
    return out


def _inside(mid: np.ndarray, intervals: list[tuple[int, int]]) -> np.ndarray:
    out = np.zeros(len(mid), dtype=bool)
    for a, b in intervals:
        out |= (mid >= a) & (mid <= b)
    return out


def _trackintel_motorised(times: pd.Series, lon: np.ndarray, lat: np.ndarray, mid: np.ndarray) -> np.ndarray | None:
    """Where trackintel's simple-coarse transport mode calls the recording motorised (per midpoint)."""
    try:
        import geopandas as gpd
        import trackintel as ti
        from trackintel.preprocessing import generate_staypoints, generate_triplegs
    except ImportError:
        return None
    pfs = gpd.GeoDataFrame(
        {"user_id": 0, "tracked_at": pd.DatetimeIndex(times).tz_convert("UTC")},
        geometry=gpd.points_from_xy(lon, lat),
        crs="EPSG:4326",
    )
    pfs = ti.Positionfixes(pfs)
    pfs, sp = generate_staypoints(
        pfs, method="sliding", dist_threshold=100, time_threshold=5.0, gap_threshold=15.0, n_jobs=1
    )
    pfs, tpls = generate_triplegs(pfs, sp if len(sp) else None, method="between_staypoints")
    if tpls is None or not len(tpls):
        return np.zeros(len(mid), dtype=bool)
    tpls = tpls.predict_transport_mode(method="simple-coarse")
    fast = tpls["mode"].isin(["motorized_mobility", "fast_mobility"])
    intervals = [
        (int(pd.Timestamp(a).value), int(pd.Timestamp(b).value))
        for a, b in zip(tpls.loc[fast, "started_at"], tpls.loc[fast, "finished_at"])
    ]
    return _inside(mid, intervals)


@dataclass
class Tally:
    days: int = 0
    held: int = 0
    held_teleport: int = 0
    flags: dict = field(default_factory=lambda: defaultdict(int))
    time_by_mode: dict = field(default_factory=lambda: defaultdict(float))
    vehicle_by_mode: dict = field(default_factory=lambda: defaultdict(float))
    ti_by_mode: dict = field(default_factory=lambda: defaultdict(float))
    fixes: int = 0
    seconds: float = 0.0
    trackintel: bool = False


def evaluate(
    recordings: list[Recording], use_trackintel: bool = True, rules: RuleSet | None = None
) -> dict[str, Tally]:
    """Verify every recording and tally its flags and labelled time (see the module docstring)."""
    rules = rules or RuleSet()
    tallies: dict[str, Tally] = defaultdict(Tally)
    with tempfile.TemporaryDirectory() as tmp:
        for rec in recordings:
            tally = tallies[rec.dataset]
            patrols, cleaned, elapsed = verify_recording(rec, Path(tmp), rules)
            tally.fixes += len(rec.frame)
            tally.seconds += elapsed
            vehicle: list[tuple[int, int]] = []
            for patrol in patrols:
                if not patrol["fixes"]["kept"]:
                    continue
                tally.days += 1
                open_high = [f for f in patrol["flags"] if f["severity"] == "high" and f["status"] == "open"]
                tally.held += bool(open_high)
                tally.held_teleport += any(f["code"] == "TELEPORT" for f in open_high)
                for f in patrol["flags"]:
                    tally.flags[f["code"]] += 1
                    if f["code"] == "VEHICLE":
                        vehicle.append((pd.Timestamp(f["start"]).value, pd.Timestamp(f["end"]).value))
            if not rec.labels:
                continue
            mid, dt = _segments(cleaned["time"], rules.defaults.max_gap_s)
            mode = _label_at(mid, rec.labels)
            flagged = _inside(mid, vehicle)
            motorised = None
            if use_trackintel:
                frame = rec.frame.dropna(subset=["time", "lon", "lat"]).sort_values("time").drop_duplicates("time")
                motorised = _trackintel_motorised(frame["time"], frame["lon"].to_numpy(), frame["lat"].to_numpy(), mid)
            for m in set(mode) - {""}:
                sel = mode == m
                tally.time_by_mode[m] += float(dt[sel].sum())
                tally.vehicle_by_mode[m] += float(dt[sel & flagged].sum())
                if motorised is not None:
                    tally.trackintel = True
                    tally.ti_by_mode[m] += float(dt[sel & motorised].sum())
    return dict(tallies)


def _share(part: float, whole: float) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _sum(d: dict, modes) -> float:
    return sum(v for k, v in d.items() if k in modes)


def report(tallies: dict[str, Tally]) -> str:
    rows, mode_rows = [], []
    total = Tally()
    for name, t in sorted(tallies.items()):
        rows.append(
            [
                name,
                t.days,
                _share(t.held, t.days),
                _share(t.held_teleport, t.days),
                t.flags.get("TELEPORT", 0),
                t.flags.get("GPS_OUTLIER", 0),
                t.flags.get("VEHICLE", 0),
                t.flags.get("IDLE", 0),
                t.flags.get("LOOP", 0),
                round(t.fixes / t.seconds) if t.seconds else None,
            ]
        )
        for attr in ("days", "held", "held_teleport", "fixes", "seconds"):
            setattr(total, attr, getattr(total, attr) + getattr(t, attr))
        for src, dst in (
            (t.time_by_mode, total.time_by_mode),
            (t.vehicle_by_mode, total.vehicle_by_mode),
            (t.ti_by_mode, total.ti_by_mode),
            (t.flags, total.flags),
        ):
            for k, v in src.items():
                dst[k] += v
        total.trackintel |= t.trackintel
    rows.append(
        [
            "all",
            total.days,
            _share(total.held, total.days),
            _share(total.held_teleport, total.days),
            total.flags.get("TELEPORT", 0),
            total.flags.get("GPS_OUTLIER", 0),
            total.flags.get("VEHICLE", 0),
            total.flags.get("IDLE", 0),
            total.flags.get("LOOP", 0),
            round(total.fixes / total.seconds) if total.seconds else None,
        ]
    )
    out = render(
        "Real recordings: member-days held and flags raised",
        [
            "dataset",
            "member-days",
            "held %",
            "held by TELEPORT %",
            "TELEPORT",
            "GPS_OUTLIER",
            "VEHICLE",
            "IDLE",
            "LOOP",
            "fixes/s",
        ],
        rows,
        [
            "held: an open high-severity flag; target: at most 2 % held by TELEPORT",
            "fixes/s: verify_batch per member (reading excluded), one core",
        ],
    )
    groups = [(m, (m,)) for m in sorted(total.time_by_mode)] + [
        ("vehicle, all", VEHICLE_MODES),
        ("city bus/car/taxi/subway", CITY_MODES),
        ("walk + bike", SLOW_MODES),
    ]
    for name, modes in groups:
        whole = _sum(total.time_by_mode, modes)
        if not whole:
            continue
        mode_rows.append(
            [
                name,
                round(whole / 60.0, 1),
                _share(_sum(total.vehicle_by_mode, modes), whole),
                _share(_sum(total.ti_by_mode, modes), whole) if total.trackintel else None,
            ]
        )
    out += "\n" + render(
        "Labelled time covered by VEHICLE (ours) and called motorised (trackintel)",
        ["label", "recorded min", "VEHICLE %", "trackintel motorised %"],
        mode_rows,
        ["targets: VEHICLE ≥ 75 % of vehicle time, ≥ 60 % of city bus/car/taxi/subway, ≤ 1 % of walk + bike"],
    )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", type=Path, help="folders or files of real recordings")
    parser.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="FILE=MODE",
        help="label a whole GPX file with a transport mode, e.g. bus-304.gpx=bus",
    )
    parser.add_argument("--no-trackintel", action="store_true", help="skip trackintel's prediction")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a rule (e.g. vehicle_join_s=120), to see what a threshold changes",
    )
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args(argv)
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = float(value)
    rules = parse_rules({"defaults": overrides}) if overrides else RuleSet()
    labels = dict(item.split("=", 1) for item in args.label)
    recordings = find_recordings(args.paths, labels)
    if not recordings:
        parser.error("no recordings found under the given paths")
    tallies = evaluate(recordings, use_trackintel=not args.no_trackintel, rules=rules)
    print(report(tallies))
    if args.json:
        args.json.write_text(
            json.dumps({k: {**vars(v), "flags": dict(v.flags)} for k, v in tallies.items()}, indent=2, default=dict)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
