"""The phases of ``bench/load_api.py``: clients that upload, read the credit feed or walk the
ledger against a running server for a while, and the figures each phase records (latencies,
statuses, server CPU)."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.service.server import patrol_csv  # noqa: E402

NOW = "2026-11-03T00:00:00+08:00"
FEED_PAGE = 1000


def member(n: int) -> str:
    """Member id of the ``n``-th upload (assigned to DC-01 by :func:`grids_with_members`)."""
    return f"L{n:04d}"


def upload_body(n: int) -> bytes:
    """The honest sample patrol as member ``L<n>`` on 2026-11-01 minus ``n`` days (CSV bytes)."""
    return patrol_csv([(member(n), dt.date(2026, 11, 1) - dt.timedelta(days=n))])


@dataclass
class Phase:
    """Latencies (s) and errors of one phase."""

    name: str
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    server_cpu_s: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, seconds: float, error: str | None) -> None:
        with self.lock:
            self.latencies.append(seconds)
            if error:
                self.errors.append(error)

    def row(self, clients: int) -> str:
        lat = sorted(self.latencies)
        n = len(lat)

        def pct(p: float) -> float:
            return lat[min(n - 1, int(p / 100 * n))] * 1000 if n else float("nan")

        rate = n / self.wall_s if self.wall_s else 0.0
        cpu = f"{self.server_cpu_s / n * 1000:.1f}" if self.server_cpu_s is not None and n else "-"
        return (
            f"| {self.name:<12} | {clients:>7} | {n:>8} | {self.wall_s:>5.1f} | {rate:>7.1f} | {pct(50):>6.1f} | "
            f"{pct(95):>6.1f} | {pct(99):>6.1f} | {len(self.errors):>6} | {cpu:>10} |"
        )


HEADER = (
    "| phase        | clients | requests |   s   |  req/s  | p50 ms | p95 ms | p99 ms | errors | CPU ms/req |\n"
    "| ------------ | ------: | -------: | ----: | ------: | -----: | -----: | -----: | -----: | ---------: |"
)


def process_cpu_s(pid: int | None) -> float | None:
    """User + system CPU seconds used so far by process ``pid`` and its child processes (the server
    processes of ``serve --processes``), from Linux /proc; None when unreadable."""

    def stat(p) -> list[str]:
        return Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()

    try:
        fields = stat(pid)
        total = int(fields[11]) + int(fields[12])
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    child = stat(entry)
                except OSError:
                    continue
                if int(child[1]) == pid:
                    total += int(child[11]) + int(child[12])
        return total / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, TypeError):
        return None


def measured(phase: Phase, pid: int | None, run) -> Phase:
    """Run ``run()`` and note the server's CPU time spent meanwhile."""
    before = process_cpu_s(pid)
    run()
    after = process_cpu_s(pid)
    phase.server_cpu_s = after - before if before is not None and after is not None else None
    return phase


def run_phase(phase: Phase, host: str, port: int, clients: int, seconds: float, work, rate: float = 0.0) -> None:
    """``clients`` threads calling ``work(conn, client_index)`` until ``seconds`` have passed.

    ``work`` returns ``(latency_s, error or None)``, or None when it has nothing left to do.
    With ``rate`` 0 each client sends its next request as soon as the last one is answered (the
    server is saturated). With ``rate`` > 0 (requests per second, all clients together) each client
    keeps a fixed schedule, and a request's latency counts from its scheduled time, so time spent
    waiting for an earlier, slow answer is counted too (no coordinated omission).
    """
    start_gate = threading.Barrier(clients + 1)
    interval = clients / rate if rate > 0 else 0.0
    timing = {}

    def client(index: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=300)
        start_gate.wait()
        scheduled = timing["began"] + interval * index / clients
        try:
            while time.monotonic() < timing["deadline"]:
                if interval:
                    time.sleep(max(0.0, scheduled - time.monotonic()))
                started = time.monotonic()
                try:
                    outcome = work(conn, index)
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    conn = http.client.HTTPConnection(host, port, timeout=300)
                    outcome = (0.0, f"{type(exc).__name__}: {exc}")
                if outcome is None:
                    return
                latency, error = outcome
                if interval:
                    latency += max(0.0, started - scheduled)
                    scheduled += interval
                phase.record(latency, error)
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    timing["began"] = time.monotonic()
    timing["deadline"] = timing["began"] + seconds
    start_gate.wait()
    for thread in threads:
        thread.join()
    phase.wall_s = time.monotonic() - timing["began"]


def timed(
    conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None, headers: dict
) -> tuple[float, int, bytes]:
    began = time.perf_counter()
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    return time.perf_counter() - began, response.status, data


def upload_work(tokens: list[str], clients: int, limit: int):
    """Client ``c`` uploads patrols ``c, c + clients, …`` (below ``limit``) with its own token."""
    todo = [iter(range(c, limit, clients)) for c in range(clients)]

    def work(conn, index):
        n = next(todo[index], None)
        if n is None:
            return None
        headers = {
            "Authorization": f"Bearer {tokens[index % len(tokens)]}",
            "Content-Type": "text/csv",
            "Idempotency-Key": f"load-{member(n)}",
            "Prefer": "wait=60",
        }
        seconds, status, data = timed(conn, "POST", "/api/v1/tracks", upload_body(n), headers)
        if status != 201:
            return seconds, f"upload {n}: HTTP {status} {data[:200]!r}"
        answer = json.loads(data)
        credits = [p.get("credit", {}).get("status") for p in answer["patrols"] if p["patrol_id"].startswith(member(n))]
        if answer["accepted"] != 1800 or credits != ["verified"]:
            return seconds, f"upload {n}: accepted {answer['accepted']}, credit {credits}"
        return seconds, None

    return work


def uploader_tokens(database_url: str, clients: int, uploads: int) -> list[str]:
    """One uploader token per client, scoped to the members it uploads (as a phone app would have).

    Made with :func:`geoverify.store.tokens.create`, the function behind ``geoverify token create``,
    in one transaction (32 command runs would take a minute).
    """
    from geoverify.store import Store, tokens

    store = Store.open(database_url, now=NOW)
    try:
        with store.write() as conn:
            return [
                tokens.create(
                    conn, "uploader", [member(n) for n in range(c, uploads, clients)] or ["none"], f"load-uploader-{c}"
                )[1]
                for c in range(clients)
            ]
    finally:
        store.dispose()


def feed_work(token: str, total: int):
    headers = {"Authorization": f"Bearer {token}"}
    rng = random.Random(7)
    rng_lock = threading.Lock()
    count = [0]

    def work(conn, _index):
        with rng_lock:
            after = rng.randrange(0, total - FEED_PAGE + 1)
            count[0] += 1
            check_all = count[0] % 16 == 0
        seconds, status, data = timed(conn, "GET", f"/api/v1/credits?after={after}&limit={FEED_PAGE}", None, headers)
        if status != 200:
            return seconds, f"feed after={after}: HTTP {status} {data[:200]!r}"
        if not data.rstrip().endswith(f'"next":{after + FEED_PAGE}}}'.encode()):
            return seconds, f"feed after={after}: next is not {after + FEED_PAGE}: …{data[-60:]!r}"
        if check_all:
            seqs = [e["seq"] for e in json.loads(data)["entries"]]
            if seqs != list(range(after + 1, after + FEED_PAGE + 1)):
                return seconds, f"feed after={after}: seqs are not {after + 1}..{after + FEED_PAGE}"
        return seconds, None

    return work


def walk_ledger(host: str, port: int, token: str, phase: Phase) -> int:
    """Follow the cursor through the whole ledger, as one scorer catching up does (a cold server
    cache: each page is read for the first time); returns the highest seq."""
    conn = http.client.HTTPConnection(host, port, timeout=60)
    cursor = 0
    began = time.monotonic()
    try:
        while True:
            seconds, status, data = timed(
                conn,
                "GET",
                f"/api/v1/credits?after={cursor}&limit={FEED_PAGE}",
                None,
                {"Authorization": f"Bearer {token}"},
            )
            if status != 200:
                raise SystemExit(f"GET /api/v1/credits answered {status}: {data[:200]!r}")
            nxt = json.loads(data)["next"]
            if nxt == cursor:
                return cursor
            phase.record(seconds, None)
            cursor = nxt
    finally:
        phase.wall_s = time.monotonic() - began
        conn.close()
