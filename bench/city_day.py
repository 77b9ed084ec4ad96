"""A city's live day against a real ``geoverify serve`` (not part of the test suite).

Usage::

    python bench/city_day.py [--members 3200] [--preload-hours 2] [--seconds 60] [--rate 11]
                             [--backend sqlite|postgresql] [--workers 1] [--clients 16]
                             [--server-processes 1] [--server-threads 16]

What it does:

1. builds a city of ``--members`` grid workers, four per 400 m square grid, each walking its grid
   at 1.3 m/s with a fix every 10 s from 08:00 (2026-11-02, Asia/Shanghai);
2. loads the first ``--preload-hours`` of every member's day with ``geoverify load tracks`` (a
   day in progress; its verification is timed too);
3. starts ``geoverify serve``: on SQLite with ``--workers`` verification threads in the server;
   on PostgreSQL with none in the server and ``geoverify worker --processes <workers>`` beside it;
4. sends 30-fix batches (the next 5 minutes of a member's walk, CSV, ``Prefer: wait=0``) at
   ``--rate`` uploads a second for ``--seconds`` (time compressed: every member's batches come in
   order, much faster than every 5 minutes), from ``--clients`` threads, and waits until the
   queue is empty; the time from upload until verified is read from the store afterwards (each
   upload's ``created_at`` to its patrol's next ``patrol.verified`` audit entry);
5. then, on the idle server, times the same 30-fix batch five times (upload until verified);
6. settles the day (``geoverify credits settle``) and counts ledger entries per member-day.

It prints: sustained uploads/s, upload answer p50/p99, upload-to-verified p50/p99, the idle
single batch, server (and worker) CPU per upload, PostgreSQL's and the load generator's CPU per
upload, how busy the machine's cores were, ledger entries per member-day. Run it twice
with ``--members 10`` and ``--members 3200`` to compare a small and a city day. PostgreSQL: the
test server of ``.ci/install-postgres.sh`` (a database is created from its template and dropped).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ingest import DEFAULT_TEMPLATE, postgres_database  # noqa: E402 -- sys.path set above
from bench.runners import _tree, cpu_seconds, machine_busy_seconds, tree_cpu_seconds  # noqa: E402
from bench.table import render  # noqa: E402
from tests.service.server import ServerProcess, cli_env, create_token, geoverify_command  # noqa: E402

DAY = dt.date(2026, 11, 2)
TZ_OFFSET = "+08:00"
START = pd.Timestamp("2026-11-02T08:00:00+08:00")
NOW = "2026-11-02T23:00:00+08:00"  # the day is not settled while it is sent
SETTLE_AT = "2026-11-03T03:00:00+08:00"
STEP_S, BATCH = 10, 30
GRID_M, PER_GRID = 400.0, 4


def city(members: int, folder: Path) -> tuple[Path, list[str]]:
    """Square grids in a lattice, PER_GRID members each; the GeoJSON file and the member ids."""
    names = [f"C{n:05d}" for n in range(members)]
    grids = (members + PER_GRID - 1) // PER_GRID
    side = int(np.ceil(np.sqrt(grids)))
    dlat = GRID_M / 111_000.0
    dlon = GRID_M / (111_000.0 * np.cos(np.radians(39.9)))
    features = []
    for g in range(grids):
        x0, y0 = 116.2 + (g % side) * dlon, 39.8 + (g // side) * dlat
        ring = [[x0, y0], [x0 + dlon, y0], [x0 + dlon, y0 + dlat], [x0, y0 + dlat], [x0, y0]]
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {"grid_id": f"G{g:04d}", "members": names[g * PER_GRID : (g + 1) * PER_GRID]},
            }
        )
    path = folder / "city.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path, names


def walks(members: int, fixes: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """lon, lat arrays (members × fixes): a walk at 1.3 m/s inside each member's grid."""
    rng = np.random.default_rng(seed)
    grids = (members + PER_GRID - 1) // PER_GRID
    side = int(np.ceil(np.sqrt(grids)))
    heading = np.cumsum(rng.normal(0, 0.3, (members, fixes)), axis=1) + rng.uniform(0, 6.3, (members, 1))
    step = 1.3 * STEP_S
    x = np.cumsum(step * np.cos(heading), axis=1) + rng.uniform(0, GRID_M, (members, 1))
    y = np.cumsum(step * np.sin(heading), axis=1) + rng.uniform(0, GRID_M, (members, 1))
    x, y = np.abs(np.mod(x, 2 * GRID_M) - GRID_M), np.abs(np.mod(y, 2 * GRID_M) - GRID_M)  # reflect inside
    g = np.arange(members) // PER_GRID
    dlat = 1 / 111_000.0
    dlon = 1 / (111_000.0 * np.cos(np.radians(39.9)))
    lon = 116.2 + ((g % side) * GRID_M)[:, None] * dlon + (GRID_M - x) * dlon
    lat = 39.8 + ((g // side) * GRID_M)[:, None] * dlat + (GRID_M - y) * dlat
    return lon, lat


def batch_csv(names: list[str], lon: np.ndarray, lat: np.ndarray, member: int, first: int, count: int) -> bytes:
    lines = ["member_id,time,lon,lat,accuracy"]
    for k in range(first, first + count):
        t = (START + pd.Timedelta(seconds=k * STEP_S)).isoformat()
        lines.append(f"{names[member]},{t},{lon[member, k]:.7f},{lat[member, k]:.7f},8")
    return ("\n".join(lines) + "\n").encode()


def preload(names, lon, lat, fixes: int, folder: Path) -> Path:
    frame = pd.DataFrame(
        {
            "member_id": np.repeat(names, fixes),
            "time": np.tile([(START + pd.Timedelta(seconds=k * STEP_S)).isoformat() for k in range(fixes)], len(names)),
            "lon": lon[:, :fixes].ravel(),
            "lat": lat[:, :fixes].ravel(),
            "accuracy": 8.0,
        }
    )
    path = folder / "preload.csv"
    frame.to_csv(path, index=False)
    return path


def percentile(values, q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


class Live:
    """The live phase: scheduled uploads; ``outstanding`` holds each upload's patrol until seen verified."""

    def __init__(self, server: ServerProcess, token: str, names, lon, lat, first_fix: int):
        self.server, self.token, self.names, self.lon, self.lat = server, token, names, lon, lat
        self.next_fix = {m: first_fix for m in range(len(names))}
        self.lock = threading.Lock()
        self.answers: list[float] = []
        self.verified: list[float] = []
        self.errors = 0
        self.outstanding: dict[str, float] = {}

    def upload(self, conn: http.client.HTTPConnection, member: int) -> str | None:
        with self.lock:
            first = self.next_fix[member]
            self.next_fix[member] = first + BATCH
        if first + BATCH > self.lon.shape[1]:
            return None
        body = batch_csv(self.names, self.lon, self.lat, member, first, BATCH)
        began = time.monotonic()
        conn.request(
            "POST",
            "/api/v1/tracks",
            body=body,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "text/csv",
                "Prefer": "wait=0",
                "Idempotency-Key": f"{self.names[member]}-{first}",
            },
        )
        response = conn.getresponse()
        data = response.read()
        if response.status != 201:
            with self.lock:
                self.errors += 1
            return None
        patrol = json.loads(data)["patrols"][0]["patrol_id"]
        with self.lock:
            self.answers.append(time.monotonic() - began)
            self.outstanding[patrol] = began
        return patrol


def _postmaster(url: str) -> int | None:
    """The process id of the PostgreSQL server of ``url`` when it runs on this machine (the parent of
    a backend), else None (SQLite)."""
    if not url.startswith("postgresql"):
        return None
    from geoverify.store.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:  # read while the backend runs: it ends with the connection
            backend = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
            status = Path(f"/proc/{backend}/status").read_text()
    except OSError:
        return None
    finally:
        engine.dispose()
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid:")), None)


def _wait_for_empty_queue(url: str) -> None:
    from sqlalchemy import func, select

    from geoverify.store.db import make_engine
    from geoverify.store.schema import work

    engine = make_engine(url)
    try:
        while True:
            with engine.connect() as c:
                if not c.execute(select(func.count()).select_from(work)).scalar_one():
                    return
            time.sleep(0.05)
    finally:
        engine.dispose()


def _upload_to_verified(url: str) -> list[float]:
    """Seconds from each live upload (``uploads.created_at``) until its patrol was next verified
    (the ``patrol.verified`` audit entry), read from the store afterwards (no polling load)."""
    from sqlalchemy import select

    from geoverify.store.db import make_engine
    from geoverify.store.schema import audit_log, uploads

    engine = make_engine(url)
    with engine.connect() as c:
        verified: dict[str, list[str]] = {}
        for r in c.execute(
            select(audit_log.c.object_id, audit_log.c.at)
            .where(audit_log.c.action == "patrol.verified")
            .order_by(audit_log.c.seq)
        ):
            verified.setdefault(r.object_id, []).append(r.at)
        out = []
        for r in c.execute(
            select(uploads.c.created_at, uploads.c.response, uploads.c.actor).where(uploads.c.actor == "city-admin")
        ):
            for patrol in json.loads(r.response).get("patrols", []):
                later = [t for t in verified.get(patrol["patrol_id"], []) if t >= r.created_at]
                if later:
                    out.append((pd.Timestamp(later[0]) - pd.Timestamp(r.created_at)).total_seconds())
    engine.dispose()
    return out


def run(args) -> list:
    folder = Path(tempfile.mkdtemp(prefix="geoverify-city-"))
    grids_path, names = city(args.members, folder)
    day_fixes = int((args.preload_hours * 3600) // STEP_S)
    live_batches = int(np.ceil(args.rate * args.seconds / args.members)) + 6
    lon, lat = walks(args.members, day_fixes + live_batches * BATCH)
    if args.backend == "sqlite":
        url, drop = f"sqlite:///{folder / 'geoverify.db'}", None
    else:
        url, drop = postgres_database(DEFAULT_TEMPLATE)  # from the tests' own cluster's template
    os.environ["GEOVERIFY_RATELIMIT_ENABLED"] = "false"  # one token sends every phone's batches
    env = cli_env(url, NOW)
    rows = []
    try:
        subprocess.run(
            geoverify_command() + ["load", "grids", str(grids_path), "--now", NOW],
            env=env,
            check=True,
            capture_output=True,
        )
        began = time.monotonic()
        subprocess.run(
            geoverify_command() + ["load", "tracks", str(preload(names, lon, lat, day_fixes, folder)), "--now", NOW],
            env={**env, "GEOVERIFY_MAX_FIXES_PER_UPLOAD": "200000"},
            check=True,
            capture_output=True,
        )
        load_s = time.monotonic() - began
        token = create_token(url, "admin", "city-admin")
        in_server = args.workers if args.backend == "sqlite" else 0
        with ServerProcess(
            url,
            folder / "server.log",
            now=NOW,
            workers=in_server,
            threads=args.server_threads,
            processes=args.server_processes,
        ) as server:
            workers = None
            if not in_server:
                workers = subprocess.Popen(
                    geoverify_command() + ["worker", "--processes", str(args.workers)],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            roots = {"server": [server.process.pid], "workers": [workers.pid] if workers else []}
            live = Live(server, token, names, lon, lat, day_fixes)
            # Per role, the CPU of the process tree: the trees are read again at the end, because
            # `geoverify worker --processes N` forks its children after it starts.
            started = {role: _tree(r) if r else set() for role, r in roots.items()}
            cpu_start = {role: {p: cpu_seconds([p]) for p in pids} for role, pids in started.items()}
            postmaster = _postmaster(url)
            pg0 = tree_cpu_seconds(postmaster) if postmaster else 0.0
            machine0, own0 = machine_busy_seconds(), os.times()
            t0 = time.monotonic()
            total = int(args.rate * args.seconds)
            counter = iter(range(total))
            counter_lock = threading.Lock()

            def client():
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
                while True:
                    with counter_lock:
                        i = next(counter, None)
                    if i is None:
                        return
                    due = t0 + i / args.rate
                    if due > time.monotonic():
                        time.sleep(due - time.monotonic())
                    live.upload(conn, i % args.members)

            clients = [threading.Thread(target=client) for _ in range(args.clients)]
            for c in clients:
                c.start()
            for c in clients:
                c.join()
            sent_s = time.monotonic() - t0
            _wait_for_empty_queue(url)
            busy_s = time.monotonic() - t0
            role_cpu = {
                role: sum(cpu_seconds([p]) - cpu_start[role].get(p, 0.0) for p in _tree(r)) if r else 0.0
                for role, r in roots.items()
            }
            cpu = sum(role_cpu.values())
            pg_cpu = (tree_cpu_seconds(postmaster) - pg0) if postmaster else None
            machine1, own1 = machine_busy_seconds(), os.times()
            busy_share = (machine1[0] - machine0[0]) / max(machine1[1] - machine0[1], 1e-9)
            generator_cpu = (own1.user + own1.system) - (own0.user + own0.system)
            uploads = len(live.answers)
            live.outstanding.clear()
            live.verified = _upload_to_verified(url)
            # The same 30-fix batch on the idle server, five times.
            single = []
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
            for k in range(5):
                member = (7 * k) % args.members
                patrol = live.upload(conn, member)
                while patrol is not None and patrol in live.outstanding:
                    conn.request("GET", f"/api/v1/patrols/{patrol}", headers={"Authorization": f"Bearer {token}"})
                    response = conn.getresponse()
                    doc = json.loads(response.read())
                    if doc.get("state") == "current":
                        single.append(time.monotonic() - live.outstanding.pop(patrol))
                    else:
                        time.sleep(0.005)
            if workers is not None:
                workers.terminate()
                workers.wait(timeout=60)
        settle = subprocess.run(
            geoverify_command() + ["credits", "settle", "--now", SETTLE_AT], env=env, capture_output=True, text=True
        )
        from sqlalchemy import func, select

        from geoverify.store.db import make_engine
        from geoverify.store.schema import ledger, patrols

        engine = make_engine(url)
        with engine.connect() as c:
            entries = c.execute(select(func.count()).select_from(ledger)).scalar_one()
            member_days = c.execute(select(func.count()).select_from(patrols)).scalar_one()
            credited = c.execute(select(func.count()).where(patrols.c.points > 0)).scalar_one()
        engine.dispose()
        if settle.returncode:
            print(settle.stderr, file=sys.stderr)
        rows.append(
            [
                args.backend,
                args.server_processes,
                args.server_threads,
                args.workers,
                args.members,
                f"{day_fixes * args.members:,}",
                round(load_s, 1),
                uploads,
                round(uploads / sent_s, 1),
                round(uploads / busy_s, 1),
                live.errors,
                round(1000 * percentile(live.answers, 50), 1),
                round(1000 * percentile(live.answers, 99), 1),
                round(1000 * percentile(live.verified, 50), 1),
                round(1000 * percentile(live.verified, 99), 1),
                round(1000 * statistics.median(single), 1) if single else None,
                round(1000 * cpu / max(uploads, 1), 1),
                round(1000 * role_cpu["server"] / max(uploads, 1), 1),
                round(1000 * role_cpu["workers"] / max(uploads, 1), 1) if roots["workers"] else "in server",
                "-" if pg_cpu is None else round(1000 * pg_cpu / max(uploads, 1), 1),
                round(1000 * generator_cpu / max(uploads, 1), 1),
                round(100 * busy_share),
                round(busy_s - sent_s, 1),
                f"{entries}/{member_days} ({credited} credited)",
            ]
        )
    finally:
        if drop is not None:
            drop()
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=3200)
    parser.add_argument("--preload-hours", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=11.0, help="uploads per second")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--server-processes", type=int, default=1, help="`geoverify serve --processes N`")
    parser.add_argument(
        "--server-threads", type=int, default=16, help="`geoverify serve --threads N` (in each process)"
    )
    args = parser.parse_args(argv)
    rows = run(args)
    print(
        render(
            f"A live city day, {args.rate:g} uploads/s for {args.seconds:g} s (30-fix batches)",
            [
                "backend",
                "server processes",
                "threads each",
                "workers",
                "members",
                "fixes preloaded",
                "preload+verify s",
                "uploads",
                "uploads/s",
                "verified/s",
                "errors",
                "answer p50 ms",
                "answer p99 ms",
                "to verified p50 ms",
                "to verified p99 ms",
                "idle batch ms",
                "CPU ms/upload",
                "of which server",
                "of which workers",
                "PostgreSQL CPU ms/upload",
                "load generator CPU ms/upload",
                "machine busy %",
                "drain after s",
                "ledger entries/member-days",
            ],
            rows,
            notes=[
                "to verified: from storing the upload until its patrol's next `patrol.verified` audit entry",
                "verified/s: uploads over the time from the first until the queue was empty",
                "CPU: server and worker processes, user+system, from the first upload until the queue is empty",
                "PostgreSQL CPU: the server's postmaster, its backends and those that ended, same span",
                "machine busy %: all cores, same span (/proc/stat); 100 % is every core busy",
                "ledger entries after `geoverify credits settle` at the next day 03:00",
            ],
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
