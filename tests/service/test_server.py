"""The real service: `geoverify serve` (waitress) in its own process, spoken to over HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from .conftest import GRIDS, NOW, SAMPLES

BOOT = ("from geoverify.cli import main\n"
        "from geoverify.service_cli import register\n"
        "'serve' in main.commands or register(main)\n"
        "main()")


def _command() -> list[str]:
    """The venv's console script when it has `serve`, else the same group booted by the interpreter."""
    script = Path(sys.executable).with_name("geoverify")
    if script.exists():
        help_text = subprocess.run([str(script), "--help"], capture_output=True, text=True).stdout
        if "serve" in help_text.split():
            return [str(script)]
    return [sys.executable, "-c", BOOT]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _request(url: str, token: str | None = None, data: bytes | None = None, content_type: str | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if content_type:
        headers["Content-Type"] = content_type
    req = urllib.request.Request(url, data=data, headers=headers, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, response.headers.get_content_type(), json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get_content_type(), json.loads(err.read())


@pytest.fixture
def server(tmp_path, runner, db_path):
    """A running `geoverify serve` on a free loopback port; yields (base URL, tokens)."""
    issued = {}
    for role, scopes in (("admin", []), ("scorer", []), ("supervisor", ["DC-01"])):
        result = runner(["token", "create", "--role", role, "--name", role,
                         *[arg for s in scopes for arg in ("--scope", s)]])
        issued[role] = result.output.strip().splitlines()[-1]
    port = _free_port()
    env = {**os.environ, "GEOVERIFY_DATABASE_URL": f"sqlite:///{db_path}", "GEOVERIFY_NOW": NOW}
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(_command() + ["serve", "--host", "127.0.0.1", "--port", str(port)],
                               env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/openapi.json", timeout=2).close()
                break
            except OSError:
                if process.poll() is not None:
                    raise AssertionError((tmp_path / "server.log").read_text())
                time.sleep(0.1)
        yield base, issued, tmp_path / "server.log"
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def test_real_server_round_trip(server):
    base, tokens, log = server
    status, _, body = _request(base + "/grids", tokens["admin"], GRIDS.read_bytes(), "application/geo+json")
    assert (status, body["created"]) == (201, 6)
    status, _, body = _request(base + "/tracks", tokens["admin"], (SAMPLES / "honest_M001.csv").read_bytes(),
                               "text/csv")
    assert (status, body["accepted"], body["ledger_entries"]) == (201, 1800, 1)
    status, _, patrol = _request(base + "/patrols/M001_20261102", tokens["supervisor"])
    assert status == 200 and patrol["credit"] == {"status": "verified", "points": 5}
    assert patrol["verified_s"] >= 7200
    status, _, feed = _request(base + "/credits?after=0", tokens["scorer"])
    assert status == 200 and [(e["seq"], e["points"]) for e in feed["entries"]] == [(1, 5)] and feed["next"] == 1
    status, mimetype, problem = _request(base + "/credits", tokens["supervisor"])
    assert (status, mimetype, problem["status"]) == (403, "application/problem+json", 403)
    status, mimetype, problem = _request(base + "/no-such-thing")
    assert (status, mimetype) == (404, "application/problem+json")
    assert "waitress" in log.read_text()
