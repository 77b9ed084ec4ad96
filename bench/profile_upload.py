"""Where the CPU of one small upload goes (not part of the test suite).

Usage::

    python bench/profile_upload.py [--members 800] [--preload-hours 2] [--uploads 40] [--top 25] [--http]
                                   [--backend sqlite|postgresql] [--stages]

Builds the city of :mod:`bench.city_day` (four members per 400 m grid, a fix every 10 s) in a
fresh SQLite store (``--backend postgresql``: a database of the tests' own PostgreSQL cluster),
loads and verifies the first ``--preload-hours`` of every member's day, then sends ``--uploads``
30-fix batches in this process, each as the service takes it
(:func:`geoverify.store.ingest.upload`, ``wait=0``) followed by one worker batch that verifies
its member-day (:meth:`geoverify.store.worker.Worker.run_once`), under cProfile. With ``--http``
each batch is sent as a phone sends it, ``POST /api/v1/tracks`` through the service's Flask app in
this process (routing, the token check and the answer included). Prints the CPU
per upload (store and verify apart) and the functions with the most cumulative and own time.
With ``--stages`` it runs without the profiler (whose own cost inflates every figure) and prints
the CPU of each stage of :data:`STAGES` per upload instead (a stage's time includes those it calls).
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import functools
import importlib
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.city_day import BATCH, NOW, batch_csv, city, preload, walks  # noqa: E402 -- sys.path set above
from bench.ingest import DEFAULT_TEMPLATE, postgres_database  # noqa: E402
from geoverify.io import read_track_file  # noqa: E402
from geoverify.store.db import Store  # noqa: E402
from geoverify.store.ingest import load_large_tracks, upload  # noqa: E402
from geoverify.store.worker import Worker  # noqa: E402

#: (module, function) timed by ``--stages``, in the order an upload goes through them
STAGES = [
    ("geoverify.store.ingest", "_parse"),
    ("geoverify.store.track_upload", "prepare_fixes"),
    ("geoverify.store.track_upload", "store_tracks"),
    ("geoverify.store.queue", "claim"),
    ("geoverify.store.verification", "read_snapshot"),
    ("geoverify.store.frames", "fix_table_from_rows"),
    ("geoverify.store.verification", "measure"),
    ("geoverify.store.verification", "read_around"),
    ("geoverify.store.track_index", "candidates"),
    ("geoverify.store.track_index", "summaries"),
    ("geoverify.store.verification", "compare_prepared"),
    ("geoverify.store.verification", "write_prepared"),
    ("geoverify.store.track_index", "store_day_track"),
]


def _time_stages(spent: collections.Counter) -> None:
    """Wrap each of :data:`STAGES` (where it is defined and where it was imported) to add its CPU
    seconds to ``spent``."""
    modules = {name for name, _ in STAGES} | {"geoverify.store.worker"}
    for module_name, function in STAGES:
        original = getattr(importlib.import_module(module_name), function)
        timed = _timer(original, f"{module_name.rsplit('.', 1)[-1]}.{function}", spent)
        for other in modules:
            module = importlib.import_module(other)
            if getattr(module, function, None) is original:
                setattr(module, function, timed)


def _timer(original, name: str, spent: collections.Counter):
    @functools.wraps(original)
    def timed(*args, **kwargs):
        began = time.process_time()
        try:
            return original(*args, **kwargs)
        finally:
            spent[name] += time.process_time() - began

    return timed


def run(args) -> None:
    folder = Path(tempfile.mkdtemp(prefix="geoverify-profile-"))
    url, drop = f"sqlite:///{folder / 'geoverify.db'}", None
    if args.backend == "postgresql":
        url, drop = postgres_database(DEFAULT_TEMPLATE)  # from the tests' own cluster's template
    store = Store.open(url, now=NOW, audit_key="")
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
    send = _sender(store, folder) if args.http else (lambda body: upload(store, "tracks", body, suffix=".csv"))
    send(bodies[0])  # warm up: caches, imports
    worker.run_once()
    stored = verified = 0.0
    profiler = cProfile.Profile()
    spent: collections.Counter = collections.Counter()
    if args.stages:
        _time_stages(spent)
    for body in bodies[1:]:
        began = time.process_time()
        if not args.stages:
            profiler.enable()
        send(body)
        middle = time.process_time()
        worker.run_once()
        if not args.stages:
            profiler.disable()
        stored += middle - began
        verified += time.process_time() - middle
    n = len(bodies) - 1
    print(
        f"{args.members} members, {fixes} fixes each preloaded; {n} uploads of {BATCH} fixes: CPU per upload "
        f"{1000 * (stored + verified) / n:.1f} ms (store {1000 * stored / n:.1f} ms, "
        f"verify {1000 * verified / n:.1f} ms)"
    )
    if args.stages:
        print("stage (includes the stages it calls)   CPU ms per upload")
        for name, seconds in spent.items():
            print(f"{name:<40} {1000 * seconds / n:8.2f}")
    else:
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(args.top)
        stats.sort_stats("tottime").print_stats(args.top)
    store.dispose()
    if drop is not None:
        drop()


def _sender(store: Store, folder: Path):
    """Send a batch as a phone does: ``POST /api/v1/tracks`` (CSV, ``Prefer: wait=0``) through the
    service's Flask app in this process, with an admin token: routing, auth and the answer included."""
    from geoverify.api import create_app
    from geoverify.store import tokens

    app = create_app({"DATABASE_URL": store.engine.url.render_as_string(hide_password=False), "NOW": NOW})
    with app.extensions["geoverify.store"].write() as conn:
        _, token = tokens.create(conn, "admin", name="profile")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/csv", "Prefer": "wait=0"}

    def send(body: bytes) -> None:
        answer = client.post("/api/v1/tracks", data=body, headers=headers)
        assert answer.status_code == 201, answer.get_data(as_text=True)[:300]

    return send


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=800)
    parser.add_argument("--preload-hours", type=float, default=2.0)
    parser.add_argument("--uploads", type=int, default=40)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--http", action="store_true", help="send through the service's Flask app (routing, auth, answer)"
    )
    parser.add_argument("--stages", action="store_true", help="no profiler: the CPU of each stage per upload")
    run(parser.parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
