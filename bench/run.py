"""Benchmark ``geoverify verify`` end to end on a simulated city day (not part of the test suite).

Usage::

    python bench/run.py [--fixes 100000 1000000] [--keep]

For each size it simulates a city day with the project's simulator (8 h patrols at 10 s
sampling, two members per 400 m grid), writes the grids as GeoJSON and the fixes as one CSV,
then runs the installed ``geoverify verify --format json`` as a child process, CSV in and JSON
out, and prints a table: wall seconds, fixes per second, peak resident memory of the child and
bytes per fix. Generated data goes to ``bench/data/`` (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from shapely.geometry import box, shape

from geoverify.projection import LocalProjection
from geoverify.simulate import CSV_COLUMNS, simulate_city

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
FIXES_PER_MEMBER = 8 * 3600 // 10      # 8 h at 10 s
MEMBERS_PER_GRID = 2
GRID_SIDE_M = 400.0
CENTRE = (116.40, 39.91)               # Beijing


def city_grids(n_grids: int) -> dict:
    """A square lattice of ``n_grids`` 400 m grids around Beijing, as a GeoJSON document."""
    proj = LocalProjection(*CENTRE)
    side = math.ceil(math.sqrt(n_grids))
    features = []
    for g in range(n_grids):
        row, col = divmod(g, side)
        x0, y0 = (col - side / 2) * GRID_SIDE_M, (row - side / 2) * GRID_SIDE_M
        ring = np.asarray(box(x0, y0, x0 + GRID_SIDE_M, y0 + GRID_SIDE_M).exterior.coords)
        lon, lat = proj.inverse(ring[:, 0], ring[:, 1])
        members = [f"C{m:05d}" for m in range(g, g + MEMBERS_PER_GRID * n_grids, n_grids)]
        features.append({"type": "Feature",
                         "properties": {"grid_id": f"B{g:05d}", "grid_type": "urban", "members": members},
                         "geometry": {"type": "Polygon",
                                      "coordinates": [np.column_stack([lon, lat]).round(7).tolist()]}})
    return {"type": "FeatureCollection", "features": features}


def make_workload(n_fixes: int) -> tuple[Path, Path, int]:
    """Write (grids.geojson, tracks.csv) for about ``n_fixes`` fixes; reuse them when present."""
    n_members = max(MEMBERS_PER_GRID, round(n_fixes / FIXES_PER_MEMBER))
    n_grids = math.ceil(n_members / MEMBERS_PER_GRID)
    folder = DATA / f"city_{n_members}"
    grids_path, tracks_path = folder / "grids.geojson", folder / "tracks.csv"
    if tracks_path.exists() and grids_path.exists():
        return grids_path, tracks_path, n_members * FIXES_PER_MEMBER
    folder.mkdir(parents=True, exist_ok=True)
    document = city_grids(n_grids)
    grids_path.write_text(json.dumps(document))
    polygons = {f["properties"]["grid_id"]: shape(f["geometry"])
                for f in document["features"]}
    frame = simulate_city(polygons, n_members, seed=1)
    frame["time"] = frame["time"].dt.strftime("%Y-%m-%dT%H:%M:%S+08:00")
    frame.to_csv(tracks_path, columns=list(CSV_COLUMNS), index=False, float_format="%.6f")
    return grids_path, tracks_path, len(frame)


def run_verify(grids: Path, tracks: Path) -> tuple[float, float, dict]:
    """Run the installed command once; (wall seconds, peak RSS bytes, parsed JSON)."""
    exe = Path(sys.executable).parent / "geoverify"
    out = tracks.with_suffix(".result.json")
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    subprocess.run([str(exe), "verify", "--grids", str(grids), "--tracks", str(tracks),
                    "--now", "2026-11-03T00:00:00+08:00", "--format", "json", "-o", str(out)], check=True,
                   stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss is the largest child so far (kB on Linux); run sizes in increasing order.
    return wall, max(peak, before) * 1024.0, json.loads(out.read_text())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3, help="runs per size; the best is reported")
    args = parser.parse_args(argv)
    rows = []
    for n in sorted(args.fixes):
        grids, tracks, n_fixes = make_workload(n)
        runs = [run_verify(grids, tracks) for _ in range(args.repeat)]
        wall = min(r[0] for r in runs)
        peak = runs[-1][1]
        doc = runs[-1][2]
        kept = sum(p["fixes"]["kept"] for p in doc["patrols"])
        rows.append((n_fixes, len(doc["patrols"]), kept, wall, n_fixes / wall, peak / 2**20, peak / n_fixes))
    print(f"geoverify verify end to end (CSV in, JSON out), cpu count {os.cpu_count()}, best of {args.repeat}")
    print(f"{'fixes':>10} {'patrols':>8} {'kept':>10} {'wall s':>8} {'fixes/s':>10} {'peak MiB':>9} {'B/fix':>7}")
    for n_fixes, patrols, kept, wall, rate, mib, per in rows:
        print(f"{n_fixes:>10,} {patrols:>8,} {kept:>10,} {wall:>8.2f} {rate:>10,.0f} {mib:>9.0f} {per:>7.0f}")


if __name__ == "__main__":
    main()
