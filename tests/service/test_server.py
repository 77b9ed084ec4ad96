"""The real service: `geoverify serve` (waitress) in its own process, spoken to over HTTP."""

from __future__ import annotations

import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from .conftest import GRIDS, NOW, SAMPLES
from .server import ServerProcess, create_token


def _children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return found


@pytest.fixture
def tokens_of(database_url):
    """role → token, issued with `geoverify token create` on the server's database."""
    return {
        role: create_token(database_url, role, role, scopes)
        for role, scopes in (("admin", ()), ("scorer", ()), ("supervisor", ("DC-01",)))
    }


def _json(
    server: ServerProcess,
    path: str,
    token: str | None = None,
    body: bytes | None = None,
    content_type: str | None = None,
):
    status, headers, data = server.request(
        "POST" if body is not None else "GET", path, token=token, body=body, content_type=content_type
    )
    return status, headers.get("content-type", "").split(";")[0], json.loads(data)


def test_real_server_round_trip(tmp_path, database_url, tokens_of):
    with ServerProcess(database_url, tmp_path / "server.log", now=NOW) as server:
        status, _, body = _json(server, "/grids", tokens_of["admin"], GRIDS.read_bytes(), "application/geo+json")
        assert (status, body["created"]) == (201, 6)
        status, _, body = _json(
            server, "/tracks", tokens_of["admin"], (SAMPLES / "honest_M001.csv").read_bytes(), "text/csv"
        )
        assert (status, body["accepted"], body["ledger_entries"]) == (201, 1800, 1)
        status, _, patrol = _json(server, "/patrols/M001_20261102", tokens_of["supervisor"])
        assert status == 200 and patrol["credit"] == {"status": "verified", "points": 5}
        assert patrol["verified_s"] >= 7200
        status, _, feed = _json(server, "/credits?after=0", tokens_of["scorer"])
        assert status == 200 and [(e["seq"], e["points"]) for e in feed["entries"]] == [(1, 5)]
        assert feed["next"] == 1
        status, mimetype, problem = _json(server, "/credits", tokens_of["supervisor"])
        assert (status, mimetype, problem["status"]) == (403, "application/problem+json", 403)
        status, mimetype, problem = _json(server, "/no-such-thing")
        assert (status, mimetype) == (404, "application/problem+json")
    assert "waitress" in (tmp_path / "server.log").read_text()


@pytest.mark.slow
def test_several_server_processes_share_the_port(tmp_path, database_url, tokens_of):
    """`serve --processes 2`: two children answer on one port, the store is migrated once, and
    stopping the parent stops both."""
    with ServerProcess(database_url, tmp_path / "server.log", now=NOW, processes=2) as server:
        children = _children(server.process.pid)
        assert len(children) == 2
        status, _, body = _json(server, "/grids", tokens_of["admin"], GRIDS.read_bytes(), "application/geo+json")
        assert (status, body["created"]) == (201, 6)

        def feed(_):
            return _json(server, "/credits?after=0&limit=10", tokens_of["scorer"])[0]

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(feed, range(64))) == {200}
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=30)
    deadline = time.monotonic() + 10
    while any(os.path.exists(f"/proc/{pid}") for pid in children):
        assert time.monotonic() < deadline, "the server processes outlived their parent"
        time.sleep(0.1)
    assert "2 processes of 8 threads" in (tmp_path / "server.log").read_text()
