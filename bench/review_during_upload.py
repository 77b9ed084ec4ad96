"""Reviews and small uploads while a big upload is stored and verified (not part of the test suite).

Usage::

    python bench/review_during_upload.py [--backend sqlite|postgresql] [--days 20] [--members 7]

What it does:

1. loads the sample grids and the sample day (12 members, with flags to review) into a fresh
   store and starts ``geoverify serve`` (one verification thread in the server on SQLite; on
   PostgreSQL none in the server and ``geoverify worker --processes 1`` beside it);
2. sends one big track upload: ``--members`` members of grid DC-01 over ``--days`` days, 1,714
   fixes each (7 × 20 × 1,714 = 239,960 fixes, just under the default limit per upload), with
   ``Prefer: wait=0``;
3. while that upload is read and stored, and then while its member-days are verified, an
   auditor reviews a sample flag every 0.25 s (confirm and dismiss in turn; each review verifies
   its patrol at once) and an uploader sends a one-fix upload every 0.25 s;
4. prints, per phase (big upload being stored; its member-days being verified), how many reviews
   and small uploads were answered, their p50/p99/max answer time and how many took over 1 s or
   failed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.city_day import percentile  # noqa: E402
from bench.ingest import DEFAULT_TEMPLATE, postgres_database  # noqa: E402 -- sys.path set above
from bench.table import render  # noqa: E402
from tests.service.server import ServerProcess, cli_env, create_token, geoverify_command, grids_with_members, patrol_csv  # noqa: E402

NOW = "2026-11-03T02:00:00+08:00"
FIXES_PER_DAY = 1714
PERIOD_S = 0.25


class Probe:
    """Timed requests, each labelled with the phase the big upload was in when it was sent."""

    def __init__(self, server: ServerProcess):
        self.server = server
        self.phase = "before"
        self.times: dict[tuple[str, str], list[float]] = {}
        self.failures: dict[tuple[str, str], int] = {}
        self.lock = threading.Lock()

    def timed(
        self, kind: str, conn: http.client.HTTPConnection, method: str, path: str, body: bytes, headers: dict
    ) -> None:
        phase, began = self.phase, time.monotonic()
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            ok = response.status in (200, 201)
        except OSError:
            ok = False
        elapsed = time.monotonic() - began
        with self.lock:
            self.times.setdefault((phase, kind), []).append(elapsed)
            if not ok:
                self.failures[(phase, kind)] = self.failures.get((phase, kind), 0) + 1


def _pending(url: str) -> int:
    from sqlalchemy import func, select

    from geoverify.store.db import make_engine
    from geoverify.store.schema import work

    engine = make_engine(url)
    try:
        with engine.connect() as c:
            return int(c.execute(select(func.count()).select_from(work)).scalar_one())
    finally:
        engine.dispose()


def run(args) -> list[list]:
    folder = Path(tempfile.mkdtemp(prefix="geoverify-review-"))
    members = [f"B{k:03d}" for k in range(args.members)]
    drop = None
    if args.backend == "sqlite":
        url = f"sqlite:///{folder / 'geoverify.db'}"
    else:
        url, drop = postgres_database(DEFAULT_TEMPLATE)  # from the tests' own cluster's template
    env = {**cli_env(url, NOW), "GEOVERIFY_RATELIMIT_ENABLED": "false"}
    try:
        grids = grids_with_members(folder / "grids.geojson", members)
        for args_ in (["load", "grids", str(grids)], ["load", "tracks", str(ROOT / "sample_tracks")]):
            subprocess.run(geoverify_command() + args_, env=env, check=True, capture_output=True)
        auditor = create_token(url, "auditor", "bench-auditor")
        uploader = create_token(url, "uploader", "bench-device", ("M003",))
        big_token = create_token(url, "uploader", "bench-big", tuple(members))
        first = dt.date(2026, 11, 1) - dt.timedelta(days=args.days - 1)
        big = patrol_csv(
            [(m, first + dt.timedelta(days=d)) for d in range(args.days) for m in members], slice(0, FIXES_PER_DAY)
        )
        in_server = 1 if args.backend == "sqlite" else 0
        with ServerProcess(
            url,
            folder / "server.log",
            now=NOW,
            workers=in_server,
            threads=8,
            env={"GEOVERIFY_RATELIMIT_ENABLED": "false"},
        ) as server:
            worker = None
            if not in_server:
                worker = subprocess.Popen(
                    geoverify_command() + ["worker", "--processes", "1"],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            status, flags = server.json("GET", "/flags?status=open&code=TELEPORT", token=auditor)
            if status != 200 or not flags.get("flags"):
                raise RuntimeError(f"no open TELEPORT flag to review: {status} {flags}")
            flag_id = flags["flags"][0]["flag_id"]
            probe, stop = Probe(server), threading.Event()

            def reviews():
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
                k = 0
                while not stop.is_set():
                    decision = ("confirm", "dismiss")[k % 2]
                    probe.timed(
                        "review",
                        conn,
                        "POST",
                        f"/api/v1/flags/{flag_id}/review",
                        json.dumps(
                            {"decision": decision, "note": f"bench review {k}", "overturn": k > 0}
                        ).encode(),  # each review after the first overturns
                        {"Authorization": f"Bearer {auditor}", "Content-Type": "application/json"},
                    )
                    k += 1
                    stop.wait(PERIOD_S)

            def small_uploads():
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
                k = 0
                while not stop.is_set():
                    when = (dt.datetime(2026, 11, 2, 16, 0) + dt.timedelta(seconds=k)).isoformat()
                    probe.timed(
                        "1-fix upload",
                        conn,
                        "POST",
                        "/api/v1/tracks",
                        f"member_id,time,lon,lat\nM003,{when}+08:00,116.4134,39.9434\n".encode(),
                        {"Authorization": f"Bearer {uploader}", "Content-Type": "text/csv", "Prefer": "wait=0"},
                    )
                    k += 1
                    stop.wait(PERIOD_S)

            threads = [threading.Thread(target=reviews), threading.Thread(target=small_uploads)]
            for t in threads:
                t.start()
            time.sleep(2)
            probe.phase = "big upload stored"
            began = time.monotonic()
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
            conn.request(
                "POST",
                "/api/v1/tracks",
                body=big,
                headers={"Authorization": f"Bearer {big_token}", "Content-Type": "text/csv", "Prefer": "wait=0"},
            )
            response = conn.getresponse()
            answer = json.loads(response.read())
            stored_s = time.monotonic() - began
            probe.phase = "its days verified"
            while _pending(url):
                time.sleep(0.5)
            verified_s = time.monotonic() - began
            probe.phase = "after"
            time.sleep(2)
            stop.set()
            for t in threads:
                t.join()
            if worker is not None:
                worker.terminate()
                worker.wait(timeout=60)
        rows = []
        for phase in ("before", "big upload stored", "its days verified", "after"):
            for kind in ("review", "1-fix upload"):
                times = probe.times.get((phase, kind), [])
                if not times:
                    continue
                rows.append(
                    [
                        args.backend,
                        phase,
                        kind,
                        len(times),
                        round(1000 * percentile(times, 50)),
                        round(1000 * percentile(times, 99)),
                        round(1000 * max(times)),
                        sum(t > 1.0 for t in times),
                        probe.failures.get((phase, kind), 0),
                    ]
                )
        print(
            f"big upload: {answer.get('fixes_read', '?'):,} fixes, HTTP {response.status}, answered in "
            f"{stored_s:.1f} s, all its member-days verified {verified_s:.1f} s after it was sent"
        )
        return rows
    finally:
        if drop is not None:
            drop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--days", type=int, default=20)
    parser.add_argument("--members", type=int, default=7)
    args = parser.parse_args(argv)
    rows = run(args)
    print(
        render(
            "Reviews and one-fix uploads beside a big upload (a request every 0.25 s of each kind)",
            ["backend", "phase", "request", "answered", "p50 ms", "p99 ms", "max ms", "> 1 s", "failed"],
            rows,
            notes=["phase: what the big upload was doing when the request was sent"],
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
