"""MovingPandas and trackintel on the benchmark's data, and the agreement of their in-grid time with ours.

Each tool runs in a child process pinned to one CPU (``sched_setaffinity``; BLAS/OpenMP threads
set to 1) on the first members of the workload's GeoParquet file, up to ``max_fixes`` fixes
(MovingPandas' clip runs at a few thousand fixes per second, so a 10 M-fix day would take hours;
its throughput per fix is what is compared). The subsample takes the workload's anomalous members
first (up to a third of it: idle and loop members give stops to find), then the others in order.
Timed, from a pandas frame in memory:

* **MovingPandas 0.23 clip**: build a ``TrajectoryCollection`` (lon/lat, EPSG:4326, nanosecond
  timestamps: with pandas 3's default microseconds its clip is slower and short by seconds), clip
  each member's trajectory to their grid polygon, sum the durations of the pieces per member;
* **MovingPandas stops**: ``TrajectoryStopDetector.get_stop_segments`` with our IDLE thresholds
  (diameter 2 × ``idle_radius_m`` = 100 m, 900 s), once on lon/lat and once in UTM 50N (EPSG:32650,
  the reprojection included in the time);
* **trackintel 1.4 staypoints**: ``generate_staypoints`` (sliding, haversine, 50 m, 15 min, gaps
  over 5 min split), ``n_jobs=1``.

Our in-grid time differs by definition: ``in_grid_s`` excludes gaps (segments over ``max_gap_s`` =
300 s) and teleports and drops GPS spikes from the geometry, where MovingPandas' clip keeps every
segment; both interpolate boundary crossings on straight segments. Members whose patrol has a
``GAP``, ``TELEPORT`` or ``GPS_OUTLIER`` flag are therefore reported apart.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")
IDLE_DIAMETER_M, IDLE_MIN_S = 100.0, 900.0
AGREE_ABS_S, AGREE_REL = 1.0, 1e-3  # |ours - theirs| <= 1 s + 0.1 % of theirs
DEFINITION_FLAGS = {"GAP", "TELEPORT", "GPS_OUTLIER"}


def _load(parquet: Path, members: list[str]):
    """The members' fixes: member_id, time (UTC, ns), lon, lat, from the GeoParquet file."""
    import pyarrow.parquet as pq
    import shapely

    table = pq.read_table(parquet, columns=["member_id", "time", "geometry"], filters=[("member_id", "in", members)])
    frame = table.to_pandas()
    geoms = shapely.from_wkb(frame.pop("geometry").to_numpy())
    frame["lon"], frame["lat"] = shapely.get_x(geoms), shapely.get_y(geoms)
    frame["member_id"] = frame["member_id"].astype(str)
    frame["time"] = frame["time"].dt.tz_convert("UTC").dt.as_unit("ns")
    return frame.sort_values(["member_id", "time"], kind="stable").reset_index(drop=True)


def _movingpandas(frame, polygons: dict, member_grid: dict) -> dict:
    import datetime as dt

    import geopandas as gpd
    import movingpandas as mpd

    out = {}
    t0, c0 = time.perf_counter(), time.process_time()
    naive = frame.assign(time=frame["time"].dt.tz_localize(None).dt.as_unit("ns"))
    gdf = gpd.GeoDataFrame(naive, geometry=gpd.points_from_xy(naive["lon"], naive["lat"]), crs="EPSG:4326")
    tc = mpd.TrajectoryCollection(gdf, traj_id_col="member_id", t="time")
    durations = {}
    for traj in tc.trajectories:
        grid = member_grid.get(str(traj.id))
        if grid is None:
            continue
        pieces = traj.clip(polygons[grid])
        durations[str(traj.id)] = sum(p.get_duration().total_seconds() for p in pieces.trajectories)
    out["clip_s"], out["clip_cpu_s"] = time.perf_counter() - t0, time.process_time() - c0
    out["in_grid_s"] = durations

    for label, crs in (("stops_lonlat", None), ("stops_metric", "EPSG:32650")):
        t0, c0 = time.perf_counter(), time.process_time()
        coll = tc if crs is None else mpd.TrajectoryCollection(gdf.to_crs(crs), traj_id_col="member_id", t="time")
        stops = mpd.TrajectoryStopDetector(coll).get_stop_segments(
            max_diameter=IDLE_DIAMETER_M, min_duration=dt.timedelta(seconds=IDLE_MIN_S)
        )
        out[f"{label}_s"], out[f"{label}_cpu_s"] = time.perf_counter() - t0, time.process_time() - c0
        out[f"{label}_n"] = len(stops.trajectories)
    return out


def _ours_in_grid(frame, grids_path: str, member_grid: dict) -> dict:
    """Our in-grid step on the same frame, as the clip measures it: every segment (gaps and
    teleports included), boundary crossings interpolated; projection onto each grid's local
    metric CRS included in the time, reading the grids not."""
    import numpy as np

    from geoverify.io import read_grids
    from geoverify.measures.ingrid import in_grid_fraction

    grids = {g.grid_id: g for g in read_grids(grids_path)}
    for grid in grids.values():  # built once per grid, as a batch does; not part of the step
        _ = (grid.geometry, grid.clearance)
    members = frame["member_id"].to_numpy()
    starts = np.flatnonzero(np.concatenate([[True], members[1:] != members[:-1]]))
    ends = np.append(starts[1:], len(members))
    t_ns = frame["time"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    lon, lat = frame["lon"].to_numpy(), frame["lat"].to_numpy()
    durations = {}
    t0, c0 = time.perf_counter(), time.process_time()
    for s, e in zip(starts.tolist(), ends.tolist()):
        grid = grids.get(member_grid.get(str(members[s])))
        if grid is None:
            continue
        x, y = grid.projection.forward(lon[s:e], lat[s:e])
        frac = in_grid_fraction(grid, np.asarray(x), np.asarray(y))
        durations[str(members[s])] = float((np.diff(t_ns[s:e]) / 1e9 * frac).sum())
    return {
        "ours_in_grid_s": time.perf_counter() - t0,
        "ours_in_grid_cpu_s": time.process_time() - c0,
        "ours_in_grid_durations": durations,
    }


def _trackintel(frame) -> dict:
    import geopandas as gpd
    import trackintel as ti

    t0, c0 = time.perf_counter(), time.process_time()
    pfs = ti.Positionfixes(
        gpd.GeoDataFrame(
            {"user_id": frame["member_id"].to_numpy(), "tracked_at": frame["time"].dt.tz_convert("Asia/Shanghai")},
            geometry=gpd.points_from_xy(frame["lon"], frame["lat"]),
            crs="EPSG:4326",
        )
    )
    _, staypoints = pfs.generate_staypoints(
        method="sliding",
        distance_metric="haversine",
        dist_threshold=IDLE_DIAMETER_M / 2,
        time_threshold=IDLE_MIN_S / 60,
        gap_threshold=5.0,
        n_jobs=1,
    )
    return {
        "staypoints_s": time.perf_counter() - t0,
        "staypoints_cpu_s": time.process_time() - c0,
        "staypoints_n": len(staypoints),
    }


def child(request: Path, out: Path) -> None:
    """Run both tools on one CPU as ``request`` (JSON) asks and write the timings to ``out``."""
    import warnings

    from shapely.geometry import shape

    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
    warnings.simplefilter("ignore")
    req = json.loads(request.read_text())
    doc = json.loads(Path(req["grids"]).read_text())
    polygons = {f["properties"]["grid_id"]: shape(f["geometry"]) for f in doc["features"]}
    member_grid = {m: f["properties"]["grid_id"] for f in doc["features"] for m in f["properties"]["members"]}
    frame = _load(Path(req["parquet"]), req["members"])
    result = {"fixes": len(frame), "members": int(frame["member_id"].nunique())}
    result.update(_movingpandas(frame, polygons, member_grid))
    result.update(_ours_in_grid(frame, req["grids"], member_grid))
    result.update(_trackintel(frame))
    out.write_text(json.dumps(result))


@dataclass
class Theirs:
    """Timings of the other tools on a subsample, and their per-member in-grid durations."""

    fixes: int
    members: int
    subsample: bool
    seconds: dict  # tool → wall seconds
    cpu_seconds: dict  # tool → CPU seconds of the (single-threaded) child
    counts: dict  # tool → stops / staypoints found
    in_grid_s: dict  # member → MovingPandas clip duration, s
    ours_step_s: float = 0.0  # our in-grid step alone on the same frame, wall s
    ours_step_cpu_s: float = 0.0  # … CPU s
    ours_step_in_grid_s: dict | None = None  # member → our in-grid seconds by the clip's definition

    def rate(self, tool: str, cpu: bool = False) -> float:
        """Fixes per wall second (per CPU second with ``cpu``) of ``tool``."""
        return self.fixes / (self.cpu_seconds if cpu else self.seconds)[tool]


TOOLS = {
    "clip": "MovingPandas clip + durations (lon/lat)",
    "stops_lonlat": "MovingPandas stops (lon/lat)",
    "stops_metric": "MovingPandas stops (UTM 50N)",
    "staypoints": "trackintel staypoints",
}


def run_theirs(wl, max_fixes: int, per_member: int, log=print) -> Theirs:
    """Run the child on the first members of ``wl`` (up to ``max_fixes`` fixes)."""
    from workload import member_name

    k = max(1, min(wl.members, max_fixes // per_member))
    odd = sorted(wl.scenarios)[: k // 3]  # anomalous members first (up to a third), so stops can be found
    members = odd + [m for m in map(member_name, range(wl.members)) if m not in odd][: k - len(odd)]
    request, out = wl.folder / "compare-request.json", wl.folder / "compare-result.json"
    request.write_text(json.dumps({"grids": str(wl.grids_path), "parquet": str(wl.parquet_path), "members": members}))
    env = dict(os.environ, **{v: "1" for v in THREAD_VARS})
    log(f"  MovingPandas and trackintel on {k} of {wl.members} members, one core ...")
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), str(request), str(out)], env=env, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise SystemExit(f"bench: MovingPandas/trackintel run failed:\n{proc.stderr[-3000:]}")
    r = json.loads(out.read_text())
    return Theirs(
        fixes=r["fixes"],
        members=r["members"],
        subsample=k < wl.members,
        seconds={t: r[f"{t}_s"] for t in TOOLS},
        cpu_seconds={t: r[f"{t}_cpu_s"] for t in TOOLS},
        counts={t: r.get(f"{t}_n") for t in TOOLS},
        in_grid_s=r["in_grid_s"],
        ours_step_s=r["ours_in_grid_s"],
        ours_step_cpu_s=r["ours_in_grid_cpu_s"],
        ours_step_in_grid_s=r["ours_in_grid_durations"],
    )


@dataclass
class Agreement:
    """Our in_grid_s against MovingPandas' clip durations, member by member."""

    compared: int
    agreeing: int
    max_abs_diff_s: float
    by_definition: int  # members with a GAP / TELEPORT / GPS_OUTLIER flag (set apart)
    by_definition_diff_s: float  # their largest |difference|
    disagreeing: list  # (member, ours, theirs) beyond the tolerance, without such a flag
    idle_flags: int  # our IDLE flags on the members compared (their stops / staypoints for scale)


def agreement(doc: dict, theirs: dict) -> Agreement:
    """Compare per member where both define an in-grid time (a grid, and fixes; see the module doc)."""
    compared = agreeing = by_def = idle = 0
    max_diff = def_diff = 0.0
    bad = []
    for patrol in doc["patrols"]:
        member = patrol["member_id"]
        if patrol.get("grid_id") is None or member not in theirs:
            continue
        idle += sum(f["code"] == "IDLE" for f in patrol["flags"])
        ours, other = float(patrol["in_grid_s"]), float(theirs[member])
        diff = abs(ours - other)
        if {f["code"] for f in patrol["flags"]} & DEFINITION_FLAGS:
            by_def += 1
            def_diff = max(def_diff, diff)
            continue
        compared += 1
        max_diff = max(max_diff, diff)
        if diff <= AGREE_ABS_S + AGREE_REL * other:
            agreeing += 1
        else:
            bad.append((member, ours, other))
    return Agreement(
        compared=compared,
        agreeing=agreeing,
        max_abs_diff_s=max_diff,
        by_definition=by_def,
        by_definition_diff_s=def_diff,
        disagreeing=bad,
        idle_flags=idle,
    )


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: compare.py REQUEST.json OUT.json (run by bench/run.py)")
    child(Path(sys.argv[1]), Path(sys.argv[2]))
