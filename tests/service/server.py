"""A real ``geoverify serve`` process (waitress) on a free loopback port, and HTTP calls to it.

Standard library only (no pytest), so that ``bench/load_api.py`` starts the server the same way
as the tests do. The command line is ``$GEOVERIFY_CLI`` or the ``geoverify`` script next to the
running Python.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0
GRIDS = ROOT / "grids" / "dongcheng_sample.geojson"
# An honest day in DC-01: 1,800 fixes every 10 s from 08:30 (+08:00) on 2026-11-02, member M001.
HONEST_TRACK = ROOT / "sample_tracks" / "honest_M001.csv"


def geoverify_command() -> list[str]:
    """The ``geoverify`` command line: ``$GEOVERIFY_CLI`` or the script next to this Python."""
    if os.environ.get("GEOVERIFY_CLI"):
        return shlex.split(os.environ["GEOVERIFY_CLI"])
    script = Path(sys.executable).parent / "geoverify"
    if script.exists():
        return [str(script)]
    found = shutil.which("geoverify")
    if found is None:
        raise RuntimeError("the `geoverify` command is not installed; run `pip install -e .` (make test does)")
    return [found]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cli_env(database_url: str, now: str | None = None, **extra: str) -> dict[str, str]:
    """The environment of a ``geoverify`` child process on ``database_url``."""
    env = {**os.environ, "GEOVERIFY_DATABASE_URL": database_url, **extra}
    if now is not None:
        env["GEOVERIFY_NOW"] = now
    env.pop("GEOVERIFY_TILE_URL", None)
    return env


def run_cli(args: list[str], database_url: str, now: str | None = None, timeout: float = 300) -> str:
    """Run ``geoverify ARGS`` on ``database_url``; its stdout. Raises RuntimeError naming the failure."""
    result = subprocess.run(
        geoverify_command() + args,
        env=cli_env(database_url, now),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"`geoverify {' '.join(args)}` exited with {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result.stdout


def create_token(database_url: str, role: str, name: str, scopes: tuple[str, ...] = ()) -> str:
    """A new bearer token made by ``geoverify token create`` (the last line it prints)."""
    args = ["token", "create", "--role", role, "--name", name]
    for scope in scopes:
        args += ["--scope", scope]
    return run_cli(args, database_url).strip().splitlines()[-1]


def patrol_csv(patrols: list[tuple[str, dt.date]], part: slice = slice(None)) -> bytes:
    """A track CSV holding the honest sample day once per ``(member_id, date)``.

    ``part`` picks a slice of the day's 1,800 fixes (e.g. ``slice(0, 900)``: the first 2.5 h).
    """
    header, *rows = HONEST_TRACK.read_text(encoding="utf-8").splitlines()
    lines = [header]
    for member_id, day in patrols:
        for row in rows[part]:
            lines.append(row.replace("M001,", f"{member_id},", 1).replace("2026-11-02T", f"{day.isoformat()}T", 1))
    return ("\n".join(lines) + "\n").encode()


def grids_with_members(path: Path, members: list[str], grid_id: str = "DC-01") -> Path:
    """Write the sample grids to ``path`` with ``members`` also assigned to ``grid_id``."""
    doc = json.loads(GRIDS.read_text(encoding="utf-8"))
    for feature in doc["features"]:
        if feature["properties"]["grid_id"] == grid_id:
            assigned = feature["properties"].get("members") or []
            if isinstance(assigned, str):
                assigned = assigned.replace(";", ",").replace(" ", ",").split(",")
            feature["properties"]["members"] = [m for m in assigned if m] + list(members)
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


class ServerProcess:
    """``geoverify serve`` on ``127.0.0.1:<free port>`` over ``database_url``.

    Parameters
    ----------
    database_url : str
        The store (an SQLAlchemy URL); created or upgraded by the server on start.
    log : Path
        File that receives the server's stdout and stderr.
    now : str, optional
        ``GEOVERIFY_NOW``: the verification time (ISO 8601).
    threads : int, optional
        Waitress worker threads (``serve --threads``); the command's default when omitted.
    processes : int, optional
        Server processes (``serve --processes``); the command's default when omitted.
    env : dict, optional
        Further environment variables of the server (e.g. ``GEOVERIFY_HEADER_TIMEOUT``).
    """

    def __init__(
        self,
        database_url: str,
        log: Path,
        *,
        now: str | None = None,
        threads: int | None = None,
        processes: int | None = None,
        workers: int | None = None,
        env: dict[str, str] | None = None,
    ):
        self.database_url, self.log_path, self.now, self.threads = database_url, Path(log), now, threads
        self.processes, self.workers, self.env = processes, workers, dict(env or {})
        self.port = 0
        self.process: subprocess.Popen | None = None
        self._log = None

    @property
    def base(self) -> str:
        """``http://127.0.0.1:<port>/api/v1``."""
        return f"http://127.0.0.1:{self.port}/api/v1"

    def start(self) -> ServerProcess:
        """Start the process (on a new free port) and wait until the API answers."""
        self.port = free_port()
        args = ["serve", "--host", "127.0.0.1", "--port", str(self.port)]
        if self.threads is not None:
            args += ["--threads", str(self.threads)]
        if self.processes is not None:
            args += ["--processes", str(self.processes)]
        if self.workers is not None:
            args += ["--workers", str(self.workers)]
        self._log = self.log_path.open("a")
        self.process = subprocess.Popen(
            geoverify_command() + args,
            env=cli_env(self.database_url, self.now, **self.env),
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                self._close_log()
                raise RuntimeError(
                    f"`geoverify serve` exited with {self.process.returncode}:\n{self.log_path.read_text()}"
                )
            try:
                if self.request("GET", "/openapi.json", timeout=2)[0] == 200:
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"`geoverify serve` did not answer within {START_TIMEOUT_S:g} s:\n{self.log_path.read_text()}"
                )
            time.sleep(0.1)

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
        headers: dict | None = None,
        timeout: float = 120,
    ) -> tuple[int, dict, bytes]:
        """One HTTP request on a new connection: ``(status, lower-cased headers, body bytes)``.

        An upload waits for its own verification (``Prefer: wait=60``) unless ``headers`` say
        otherwise, so that what a test reads next is verified.
        """
        if method == "POST" and path.split("?")[0] in UPLOAD_PATHS and "Prefer" not in (headers or {}):
            headers = {**(headers or {}), "Prefer": "wait=60"}
        return request(
            f"{self.base}{path}",
            method,
            token=token,
            body=body,
            content_type=content_type,
            headers=headers,
            timeout=timeout,
        )

    def json(self, method: str, path: str, **kwargs) -> tuple[int, object]:
        """``(status, parsed JSON body)`` of :meth:`request`."""
        status, _, data = self.request(method, path, **kwargs)
        return status, json.loads(data) if data else None

    def kill(self) -> None:
        """SIGKILL the server: no shutdown code runs (a crash, a power cut of the process)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)
        self._close_log()

    def stop(self) -> None:
        """Terminate the server politely (SIGTERM) and wait for it."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


UPLOAD_PATHS = ("/tracks", "/events", "/grids", "/sites")


def request(
    url: str,
    method: str = "GET",
    *,
    token: str | None = None,
    body: bytes | None = None,
    content_type: str | None = None,
    headers: dict | None = None,
    timeout: float = 120,
) -> tuple[int, dict, bytes]:
    """One HTTP/1.1 request to ``url`` (http only): ``(status, lower-cased headers, body bytes)``."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        if content_type:
            sent["Content-Type"] = content_type
        conn.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), body=body, headers=sent)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()
