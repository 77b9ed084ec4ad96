"""Bulk ingestion into the store on SQLite and PostgreSQL (issue #6 item 4): fixes per second.

Usage::

    python bench/ingest.py [--fixes 1000000] [--backends sqlite postgresql] [--postgres-url URL]

Simulates a city day (``geoverify.simulation.city.simulate_city``: members walking 400 m grids at 10 s
sampling) as a fix table, then stores it with :func:`geoverify.store.ingest.store_fixes` into a
fresh database of each backend: the checks of a track upload (rejection reasons, duplicates
against stored fixes), then ``COPY`` on PostgreSQL or one ``executemany`` on SQLite, all in one
writer transaction. Prints, for the whole call and for the insert alone, wall seconds, CPU
seconds (this process plus, on PostgreSQL, the server process serving it: read from /proc, so the
server must run on this machine) and fixes per second of each; every stored row is counted back.
File parsing and verification are not included. On a shared machine, fixes per CPU second is the
steadier figure.

PostgreSQL: a database ``geoverify_bench_<pid>`` is created from the template of ``--postgres-url``
(default ``$GEOVERIFY_TEST_POSTGRES_URL`` or the tests' own cluster, tests/service/postgres.py,
started when it is down) and dropped afterwards. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from shapely.geometry import box
from sqlalchemy import make_url

from geoverify.schema import TRACK_COLUMNS
from geoverify.simulation.city import simulate_city
from geoverify.store import Store, bulk
from geoverify.store.ingest import store_fixes

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.service.postgres import connect_admin, ensure_started, template_url  # noqa: E402

DEFAULT_TEMPLATE = template_url().render_as_string(hide_password=False)
FIXES_PER_MEMBER = 8 * 3600 // 10


def fix_table(n_fixes: int) -> pd.DataFrame:
    """About ``n_fixes`` simulated fixes as a fix table (two members per 400 m grid)."""
    members = max(1, round(n_fixes / FIXES_PER_MEMBER))
    side = 0.0045  # about 400 m of latitude
    grids = [
        box(
            116.30 + (i % 20) * side,
            39.85 + (i // 20) * side,
            116.30 + (i % 20 + 1) * side,
            39.85 + (i // 20 + 1) * side,
        )
        for i in range((members + 1) // 2)
    ]
    frame = simulate_city(grids, members, seed=6)
    frame = frame.iloc[:n_fixes].reset_index(drop=True)
    for name in ("accuracy", "speed"):
        if name not in frame:
            frame[name] = float("nan")
    for name in ("provider", "device_id"):
        if name not in frame:
            frame[name] = pd.NA
    if "mock" not in frame:
        frame["mock"] = pd.array([pd.NA] * len(frame), dtype="boolean")
    frame["member_id"] = frame["member_id"].astype("string")
    frame["crs"] = pd.Categorical(["wgs84"] * len(frame))
    frame["source"] = pd.Categorical(["city.csv"] * len(frame))
    frame["line"] = range(2, len(frame) + 2)
    return frame[list(TRACK_COLUMNS)]


def _server_cpu_s(conn) -> float:
    """CPU seconds used so far by the PostgreSQL backend process serving ``conn`` (same machine)."""
    if conn.dialect.name != "postgresql":
        return 0.0
    pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _timed_insert():
    """Wrap :func:`geoverify.store.bulk.insert_columns` to time the insert alone (wall and CPU)."""
    spent = {"insert_s": 0.0, "insert_cpu_s": 0.0, "server_cpu_s": 0.0}
    original = bulk.insert_columns

    def timed(conn, *args, **kwargs):
        server = _server_cpu_s(conn)
        start, cpu = time.perf_counter(), time.process_time()
        try:
            return original(conn, *args, **kwargs)
        finally:
            spent["insert_s"] += time.perf_counter() - start
            server = _server_cpu_s(conn) - server
            spent["server_cpu_s"] += server
            spent["insert_cpu_s"] += time.process_time() - cpu + server

    return spent, original, timed


def run(url: str, frame: pd.DataFrame) -> dict:
    """Store ``frame`` into a fresh store at ``url``; seconds and counts."""
    import geoverify.store.track_upload as ingest_module  # where track uploads insert their parts

    store = Store.open(url, now="2026-11-03T00:00:00+08:00")
    spent, original, timed = _timed_insert()
    ingest_module.insert_columns = timed
    try:
        start, cpu = time.perf_counter(), time.process_time()
        result = store_fixes(store, frame, actor="bench")
        total, total_cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        ingest_module.insert_columns = original
    with store.read() as conn:
        counted = conn.exec_driver_sql("SELECT count(*) FROM fixes").scalar()
    store.dispose()
    return {
        "total_s": total,
        "insert_s": spent["insert_s"],
        "stored": result["fixes_stored"],
        "counted": counted,
        "cpu_s": total_cpu + spent["server_cpu_s"],
        "insert_cpu_s": spent["insert_cpu_s"],
    }


def postgres_database(template_url: str):
    """Create a fresh database from the template; returns (url, drop callable)."""
    url = make_url(template_url)
    if url == make_url(DEFAULT_TEMPLATE):
        ensure_started()  # the tests' own cluster
    admin = connect_admin(url)
    name = f"geoverify_bench_{os.getpid()}"
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{url.database}"')

    def drop():
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    return url.set(database=name).render_as_string(hide_password=False), drop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixes", type=int, default=1_000_000)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    parser.add_argument("--postgres-url", default=DEFAULT_TEMPLATE)
    args = parser.parse_args(argv)

    start = time.perf_counter()
    frame = fix_table(args.fixes)
    print(
        f"simulated {len(frame):,} fixes of {frame['member_id'].nunique():,} members "
        f"in {time.perf_counter() - start:.1f} s"
    )
    print(
        f"{'backend':<11} {'fixes':>10} | {'wall s':>7} {'CPU s':>6} {'fixes/s':>9} {'per CPU s':>10} | "
        f"{'insert wall s':>13} {'CPU s':>6} {'fixes/s':>9} {'per CPU s':>10}"
    )
    for backend in args.backends:
        with tempfile.TemporaryDirectory(prefix="geoverify-bench-") as folder:
            if backend == "sqlite":
                url, drop = f"sqlite:///{Path(folder) / 'bench.db'}", (lambda: None)
            else:
                try:
                    url, drop = postgres_database(args.postgres_url)
                except Exception as exc:  # noqa: BLE001 - reported, other backends still run
                    print(
                        f"postgresql: not reachable ({exc}); run `bash .ci/install-postgres.sh` as root, then "
                        "`bash .ci/test-postgres.sh start`",
                        file=sys.stderr,
                    )
                    continue
            try:
                r = run(url, frame)
            finally:
                drop()
        assert r["stored"] == r["counted"] == len(frame), r
        n = r["stored"]
        print(
            f"{backend:<11} {n:>10,} | {r['total_s']:>7.2f} {r['cpu_s']:>6.2f} {n / r['total_s']:>9,.0f} "
            f"{n / r['cpu_s']:>10,.0f} | {r['insert_s']:>13.2f} {r['insert_cpu_s']:>6.2f} "
            f"{n / r['insert_s']:>9,.0f} {n / r['insert_cpu_s']:>10,.0f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
