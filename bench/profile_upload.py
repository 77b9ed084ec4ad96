"""Where the CPU of one small upload goes (not part of the test suite).

Usage::

    python bench/profile_upload.py [--members 800] [--preload-hours 2] [--uploads 40] [--top 25]

Builds the city of :mod:`bench.city_day` (four members per 400 m grid, a fix every 10 s) in a
fresh SQLite store, loads and verifies the first ``--preload-hours`` of every member's day, then
sends ``--uploads`` 30-fix batches in this process, each as the service takes it
(:func:`geoverify.store.ingest.upload`, ``wait=0``) followed by one worker batch that verifies
its member-day (:meth:`geoverify.store.worker.Worker.run_once`), under cProfile. Prints the CPU
per upload (store and verify apart) and the functions with the most cumulative and own time.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.city_day import BATCH, NOW, batch_csv, city, preload, walks  # noqa: E402 -- sys.path set above
from geoverify.io import read_track_file  # noqa: E402
from geoverify.store.db import Store  # noqa: E402
from geoverify.store.ingest import load_large_tracks, upload  # noqa: E402
from geoverify.store.worker import Worker  # noqa: E402


def run(args) -> None:
    folder = Path(tempfile.mkdtemp(prefix="geoverify-profile-"))
    store = Store.open(f"sqlite:///{folder / 'geoverify.db'}", now=NOW, audit_key="")
    grids, names = city(args.members, folder)
    fixes = int(args.preload_hours * 360)
    lon, lat = walks(args.members, fixes + BATCH * (args.uploads + 1))
    upload(store, "grids", grids.read_bytes(), suffix=".geojson")
    path = preload(names, lon, lat, fixes, folder)
    load_large_tracks(store, read_track_file(path, tz=store.tz), actor="bench")
    worker = Worker(store, actor="bench")
    bodies = [
        batch_csv(names, lon, lat, k % args.members, fixes + BATCH * (k // args.members), BATCH)
        for k in range(args.uploads)
    ]
    upload(store, "tracks", bodies[0], suffix=".csv")  # warm up: caches, imports
    worker.run_once()
    stored = verified = 0.0
    profiler = cProfile.Profile()
    for body in bodies[1:]:
        began = time.process_time()
        profiler.enable()
        upload(store, "tracks", body, suffix=".csv")
        middle = time.process_time()
        worker.run_once()
        profiler.disable()
        stored += middle - began
        verified += time.process_time() - middle
    n = len(bodies) - 1
    print(
        f"{args.members} members, {fixes} fixes each preloaded; {n} uploads of {BATCH} fixes: CPU per upload "
        f"{1000 * (stored + verified) / n:.1f} ms (store {1000 * stored / n:.1f} ms, "
        f"verify {1000 * verified / n:.1f} ms)"
    )
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(args.top)
    stats.sort_stats("tottime").print_stats(args.top)
    store.dispose()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=800)
    parser.add_argument("--preload-hours", type=float, default=2.0)
    parser.add_argument("--uploads", type=int, default=40)
    parser.add_argument("--top", type=int, default=25)
    run(parser.parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
