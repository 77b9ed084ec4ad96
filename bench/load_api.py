"""Load test of the HTTP API on the production server (not part of the test suite).

Usage::

    python bench/load_api.py [--clients 32] [--seconds 15] [--feed-entries 10000] [--threads 8]
                             [--processes 1] [--rate 64]
    python bench/load_api.py --url http://127.0.0.1:8000 --admin-token T --scorer-token T

By default it creates a fresh SQLite store in a temporary folder, loads the sample grids (with
extra members ``L0000``… assigned to DC-01) with ``geoverify load grids``, fills the ledger with
``--feed-entries`` entries through the store's own ledger code (grants, and a reversal and new
grant for every fourth patrol), makes a scorer token with ``geoverify token create`` and one
uploader token per client (scoped to the members it uploads), and starts ``geoverify serve``
(waitress) on a free loopback port. With ``--url`` it targets a server that is already running
instead (loopback only) with the tokens given.

Phases, each ``--clients`` threads for at most ``--seconds`` seconds, every client on its own
keep-alive HTTP/1.1 connection:

* ``uploads``: ``POST /api/v1/tracks`` of the honest sample patrol (1,800 fixes, CSV) for a
  distinct member and day each (member ``L<n>``, 2026-11-01 minus ``n`` days), with an
  ``Idempotency-Key`` and ``Prefer: wait=60``, back to back; each must answer 201 with the patrol
  verified (the latency includes the verification);
* ``feed, 1st``: one scorer following the cursor through the whole ledger (pages read for the
  first time since the server started);
* ``feed``: ``GET /api/v1/credits?after=<random>&limit=1000`` back to back (the server saturated);
  each must answer 200 with ``next = after + 1000`` (every 16th page is parsed whole, its seqs
  checked);
* ``paced``: the same at a fixed total ``--rate`` (requests per second), latency counted from
  each request's scheduled time;
* ``mixed``: half the clients upload (as in ``uploads``) while the other half read the feed back
  to back (as in ``feed``), at the same time; the server CPU column of its feed row covers both.

It prints one row per phase: requests, requests/s, p50/p95/p99 latency (ms), errors and the
server's CPU time per request (``CPU ms/req``, from /proc, when it started the server). Only loopback
addresses are accepted; clients, seconds and uploads are bounded. Exit status 1 if any request
failed.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.load_phases import (  # noqa: E402
    FEED_PAGE,
    HEADER,
    NOW,
    Phase,
    feed_work,
    measured,
    member,
    run_phase,
    upload_work,
    uploader_tokens,
    walk_ledger,
)
from tests.service.server import ServerProcess, create_token, grids_with_members, request, run_cli  # noqa: E402

MAX_CLIENTS, MAX_SECONDS, MAX_UPLOADS, MAX_FEED_ENTRIES = 64, 120, 3000, 200_000


def loopback_only(url: str) -> tuple[str, int]:
    """``(host, port)`` of an http URL whose host is a loopback address; SystemExit otherwise."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise SystemExit(f"--url {url!r}: give an http://HOST:PORT URL on this machine")
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, parts.port or 80)}
    except socket.gaierror as exc:
        raise SystemExit(f"--url {url!r}: cannot resolve {parts.hostname!r} ({exc})") from exc
    outside = sorted(a for a in addresses if not ipaddress.ip_address(a.split("%")[0]).is_loopback)
    if outside:
        raise SystemExit(
            f"--url {url!r}: {parts.hostname} resolves to {', '.join(outside)}, which is not "
            "loopback; this load test only runs against a server on this machine (127.0.0.1)"
        )
    return parts.hostname, parts.port or 80


def seed_ledger(database_url: str, entries: int) -> int:
    """Append about ``entries`` ledger entries through :func:`geoverify.store.ledger.sync_patrol`."""
    from geoverify.store import Store, ledger

    store = Store.open(database_url, tz="Asia/Shanghai", now=NOW)
    patrols = max(1, round(entries / 1.5))  # every fourth patrol gets a reversal and a new grant
    made = 0
    with store.write() as conn:
        for i in range(patrols):
            patrol = {
                "patrol_id": f"S{i:06d}_20240101",
                "member_id": f"S{i:06d}",
                "grid_id": "DC-01",
                "date": "2024-01-01",
                "verified_s": 7200.0 + i % 900,
                "rule_version": "load-seed",
                "credit": {"status": "verified", "points": 5},
            }
            made += len(ledger.sync_patrol(conn, patrol, "load-seed"))
            if i % 4 == 3:
                made += len(
                    ledger.sync_patrol(conn, {**patrol, "credit": {"status": "verified", "points": 4}}, "load-seed")
                )
            if made >= entries:
                break
    store.dispose()
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32, help=f"concurrent clients (1-{MAX_CLIENTS})")
    parser.add_argument("--seconds", type=float, default=15.0, help=f"length of each phase (≤ {MAX_SECONDS})")
    parser.add_argument("--uploads", type=int, default=1000, help=f"at most this many uploads (≤ {MAX_UPLOADS})")
    parser.add_argument(
        "--feed-entries",
        type=int,
        default=10_000,
        help=f"ledger entries to seed for the feed ({FEED_PAGE}-{MAX_FEED_ENTRIES})",
    )
    parser.add_argument("--threads", type=int, default=None, help="waitress threads (`serve --threads`)")
    parser.add_argument(
        "--processes",
        type=int,
        default=None,
        help="server processes (`serve --processes`; the upload rate limit counts per process)",
    )
    parser.add_argument(
        "--phases",
        default="uploads,feed,paced",
        help="comma separated: uploads, feed (back to back), paced (feed at --rate), mixed "
        "(half the clients upload while the other half read the feed; not with uploads)",
    )
    parser.add_argument(
        "--rate", type=float, default=64.0, help="paced phase: feed pages per second, all clients together"
    )
    parser.add_argument("--url", default=None, help="a running server on loopback (else one is started)")
    parser.add_argument(
        "--admin-token",
        default=None,
        help="with --url: a token that may upload tracks (all clients share it: mind its rate limit)",
    )
    parser.add_argument("--scorer-token", default=None, help="with --url: a token that may read the ledger")
    parser.add_argument("--keep", action="store_true", help="keep the temporary store and the server log")
    args = parser.parse_args(argv)
    if not (
        1 <= args.clients <= MAX_CLIENTS
        and 0 < args.seconds <= MAX_SECONDS
        and 1 <= args.uploads <= MAX_UPLOADS
        and FEED_PAGE <= args.feed_entries <= MAX_FEED_ENTRIES
    ):
        parser.error(
            f"bounds: 1 ≤ clients ≤ {MAX_CLIENTS}, 0 < seconds ≤ {MAX_SECONDS}, "
            f"uploads ≤ {MAX_UPLOADS}, "
            f"{FEED_PAGE} ≤ feed-entries ≤ {MAX_FEED_ENTRIES}"
        )
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    if set(phases) - {"uploads", "feed", "paced", "mixed"} or not phases:
        parser.error("--phases takes uploads, feed, paced and/or mixed")
    if {"uploads", "mixed"} <= set(phases):
        parser.error("--phases: uploads and mixed upload the same patrols; run them separately")
    n_up = args.clients // 2 if "mixed" in phases else args.clients
    if "paced" in phases and not 0 < args.rate <= 10_000:
        parser.error("--rate must be between 0 and 10000 requests per second")

    server = None
    folder = tempfile.mkdtemp(prefix="geoverify-load-")
    try:
        if args.url:
            if not (args.admin_token and args.scorer_token):
                parser.error("--url needs --admin-token and --scorer-token")
            host, port = loopback_only(args.url)
            try:
                request(f"http://{host}:{port}/api/v1/openapi.json", timeout=10)
            except OSError as exc:
                raise SystemExit(
                    f"--url {args.url!r}: no server answers there ({exc}); start one with `geoverify serve`"
                ) from exc
            uploaders, scorer = [args.admin_token], args.scorer_token
            print(f"target: {args.url} (uploads use members L0000…, which must be assigned to a grid)")
        else:
            tmp = Path(folder)
            url = f"sqlite:///{tmp / 'geoverify.db'}"
            grids = tmp / "grids.geojson"
            grids_with_members(grids, [member(n) for n in range(args.uploads)])
            began = time.perf_counter()
            run_cli(["load", "grids", str(grids)], url, NOW)
            seeding = time.perf_counter()
            seeded = seed_ledger(url, args.feed_entries) if {"feed", "paced", "mixed"} & set(phases) else 0
            seeding = time.perf_counter() - seeding
            scorer = create_token(url, "scorer", "load-scorer")
            uploaders = uploader_tokens(url, n_up, args.uploads) if {"uploads", "mixed"} & set(phases) else []
            server = ServerProcess(
                url, tmp / "server.log", now=NOW, threads=args.threads, processes=args.processes
            ).start()
            host, port = "127.0.0.1", server.port
            print(
                f"store: {tmp / 'geoverify.db'}; {seeded} ledger entries seeded in {seeding:.1f} s; "
                f"server {server.base} "
                f"(waitress, threads {args.threads or 'default'}); setup {time.perf_counter() - began:.1f} s"
            )
        pid = server.process.pid if server is not None else None
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)")
        results = []
        if "uploads" in phases:
            phase = Phase("uploads")
            work = upload_work(uploaders, args.clients, args.uploads)
            results.append(
                (
                    measured(phase, pid, lambda: run_phase(phase, host, port, args.clients, args.seconds, work)),
                    args.clients,
                )
            )
        if {"feed", "paced", "mixed"} & set(phases):
            cold, walked = Phase("feed, 1st"), []
            measured(cold, pid, lambda: walked.append(walk_ledger(host, port, scorer, cold)))
            total = walked[0]
            if total < FEED_PAGE:
                raise SystemExit(f"the ledger holds {total} entries; the feed phases need at least {FEED_PAGE}")
            results.append((cold, 1))
            print(f"feed: pages of {FEED_PAGE} entries at random cursors in a ledger of {total} entries")
            for name, rate in (("feed", 0.0), ("paced", args.rate)):
                if name in phases:
                    phase = Phase(name if not rate else f"{name} {rate:g}/s")
                    work = feed_work(scorer, total)
                    results.append(
                        (
                            measured(
                                phase,
                                pid,
                                lambda phase=phase, work=work, rate=rate: run_phase(
                                    phase, host, port, args.clients, args.seconds, work, rate
                                ),
                            ),
                            args.clients,
                        )
                    )
            if "mixed" in phases:
                # Uploaders and a scorer fleet at the same time: the feed while the writer is busy.
                ups, feeds = Phase("mixed: uploads"), Phase("mixed: feed")
                n_feed = args.clients - n_up
                runs = [
                    threading.Thread(
                        target=run_phase,
                        args=(ups, host, port, n_up, args.seconds, upload_work(uploaders, n_up, args.uploads)),
                    ),
                    threading.Thread(
                        target=run_phase, args=(feeds, host, port, n_feed, args.seconds, feed_work(scorer, total))
                    ),
                ]

                def both():
                    for run in runs:
                        run.start()
                    for run in runs:
                        run.join()

                measured(feeds, pid, both)
                results += [(ups, n_up), (feeds, n_feed)]
        print(HEADER)
        for phase, clients in results:
            print(phase.row(clients))
        failed = False
        for phase, _ in results:
            for error in phase.errors[:5]:
                print(f"{phase.name} error: {error}")
            failed |= bool(phase.errors)
        if args.keep:
            print(f"kept: {folder}")
        return 1 if failed else 0
    finally:
        if server is not None:
            server.stop()
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
