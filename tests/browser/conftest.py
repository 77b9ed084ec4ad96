"""Fixtures of the map page tests: a real ``geoverify serve`` process on a loopback port over a
temporary SQLite store holding the shipped samples, tokens made with ``geoverify token create``,
and a real headless Chromium driven by Playwright.

The browser is Debian's ``chromium`` (``.ci/install-browser.sh`` installs it; Playwright's own
browser download is not used). ``$GEOVERIFY_CHROMIUM`` names another executable. A missing
browser fails these tests: it is never a reason to skip them.

``$GEOVERIFY_CLI`` (a command, split like a shell would) replaces the installed ``geoverify``
command, e.g. to test another installation.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from service.server import free_port, geoverify_command

from . import city_day

ROOT = Path(__file__).resolve().parents[2]
NOW = "2026-11-03T00:00:00+08:00"  # the sample day (2026-11-02) is verified as past
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_S = 60
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"
TOKEN_ROLES = {"auditor": [], "supervisor": ["DC-01"]}


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives a real headless Chromium against a real server process")


def run_cli(args: list[str], database: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "GEOVERIFY_DATABASE_URL": f"sqlite:///{database}", "GEOVERIFY_NOW": NOW}
    result = subprocess.run(geoverify_command() + args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        pytest.fail(f"`geoverify {' '.join(args)}` failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def sample_store(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A SQLite store with the sample grids, tracks, events and sites, and role → token.

    Loaded once with the store's own load function; tokens are made with the command line.
    """
    from geoverify.cli.service import load_samples
    from geoverify.store import Store

    database = tmp_path_factory.mktemp("store") / "samples.db"
    store = Store.open(f"sqlite:///{database}", tz="Asia/Shanghai", now=NOW)
    load_samples(store, echo=lambda line: None)
    store.dispose()
    tokens = {}
    for role, scopes in TOKEN_ROLES.items():
        args = ["token", "create", "--role", role, "--name", f"browser-{role}"]
        for scope in scopes:
            args += ["--scope", scope]
        tokens[role] = run_cli(args, database).stdout.strip().splitlines()[-1]
    return database, tokens


@dataclass
class Server:
    """A running ``geoverify serve``: its base URL, tokens and database file."""

    base: str
    tokens: dict[str, str]
    database: Path
    process: subprocess.Popen
    log: Path

    def api(self, path: str, *, role: str = "auditor", method: str = "GET", body: dict | None = None):
        """(status, JSON) of an API call with a role's token."""
        request = urllib.request.Request(
            self.base + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.tokens[role]}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")


def start_server(database: Path, tokens: dict[str, str], log: Path) -> Server:
    port = free_port()
    env = {
        **os.environ,
        "GEOVERIFY_DATABASE_URL": f"sqlite:///{database}",
        "GEOVERIFY_NOW": NOW,
        "GEOVERIFY_TZ": "Asia/Shanghai",
    }
    env.pop("GEOVERIFY_TILE_URL", None)  # no base layer: nothing may be fetched from another host
    handle = log.open("w")
    process = subprocess.Popen(
        geoverify_command() + ["serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    handle.close()  # the server writes to its own copy (an open handle left to the collector warns)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_S
    while True:
        if process.poll() is not None:
            pytest.fail(f"`geoverify serve` exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(base + "/api/v1/openapi.json", timeout=2) as response:
                if response.status == 200:
                    break
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            process.terminate()
            pytest.fail(f"`geoverify serve` did not answer within {SERVER_START_S} s:\n{log.read_text()}")
        time.sleep(0.2)
    return Server(base=base, tokens=tokens, database=database, process=process, log=log)


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=10)


def copy_store(source: Path, target: Path) -> Path:
    """A consistent copy of a SQLite store (the backup API; safe with WAL)."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return target


@pytest.fixture(scope="module")
def server(sample_store, tmp_path_factory):
    """A server over a copy of the sample store, shared by a module's read-only tests."""
    database, tokens = sample_store
    folder = tmp_path_factory.mktemp("server")
    running = start_server(copy_store(database, folder / "geoverify.db"), tokens, folder / "server.log")
    yield running
    stop_server(running)


@pytest.fixture
def own_server(sample_store, tmp_path):
    """A server over a fresh copy of the sample store, for a test that changes it."""
    database, tokens = sample_store
    running = start_server(copy_store(database, tmp_path / "geoverify.db"), tokens, tmp_path / "server.log")
    yield running
    stop_server(running)


@pytest.fixture(scope="session")
def city_store(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A SQLite store holding the city day (tests/browser/city_day.py), built once per session, and
    role → token: ``supervisor`` (scoped to all 250 grids, named ``city-supervisor``) and ``auditor``
    (``city-auditor``)."""
    from geoverify.store import Store

    folder = tmp_path_factory.mktemp("city")
    database = folder / "city.db"
    store = Store.open(f"sqlite:///{database}", tz="Asia/Shanghai", now=NOW)
    built = city_day.build(store, folder)
    store.dispose()
    assert built["patrols"] == city_day.N_PATROLS
    scopes = [arg for g in range(city_day.N_GRIDS) for arg in ("--scope", city_day.grid_id(g))]
    tokens = {
        role: run_cli(["token", "create", "--role", role, "--name", f"city-{role}", *extra], database)
        .stdout.strip()
        .splitlines()[-1]
        for role, extra in (("supervisor", scopes), ("auditor", []))
    }
    return database, tokens


@pytest.fixture(scope="module")
def city(city_store, tmp_path_factory):
    """A server over a copy of the city day, shared by a module's tests that change nothing."""
    database, tokens = city_store
    folder = tmp_path_factory.mktemp("city-server")
    running = start_server(copy_store(database, folder / "city.db"), tokens, folder / "server.log")
    yield running
    stop_server(running)


@pytest.fixture
def own_city(city_store, tmp_path):
    """A server over a fresh copy of the city day, for a test that changes it (reviews)."""
    database, tokens = city_store
    running = start_server(copy_store(database, tmp_path / "city.db"), tokens, tmp_path / "server.log")
    yield running
    stop_server(running)


def chromium_path() -> str:
    path = os.environ.get("GEOVERIFY_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail(
            f"no Chromium at {path}: run .ci/install-browser.sh (Debian's chromium), or set "
            "$GEOVERIFY_CHROMIUM to a Chromium executable"
        )
    return path


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright for Python is missing: pip install -e '.[test]' installs it")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@dataclass
class PageRecord:
    """What a page did: every request URL, failed requests, console errors and page errors."""

    requests: list
    failed: list
    console_errors: list
    page_errors: list

    def assert_clean(self, base: str) -> None:
        foreign = [url for url in self.requests if not (url.startswith(base + "/") or url.startswith("data:"))]
        assert foreign == [], f"requests to other hosts: {foreign}"
        assert self.failed == [], f"failed requests: {self.failed}"
        assert self.page_errors == [], f"script errors: {self.page_errors}"
        assert self.console_errors == [], f"console errors (CSP violations show here): {self.console_errors}"


@pytest.fixture
def page(browser):
    """A fresh browser context (no storage) and page, 1400 × 900, recording its traffic."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN", timezone_id="Europe/London")
    page = context.new_page()
    page.set_default_timeout(15000)
    record = PageRecord([], [], [], [])
    page.on("request", lambda r: record.requests.append(r.url))
    page.on("requestfailed", lambda r: record.failed.append(f"{r.url}: {r.failure}"))
    page.on("console", lambda m: record.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: record.page_errors.append(str(e)))
    page.record = record
    yield page
    context.close()


def sign_in(page, server: Server, role: str, path: str = "/map") -> None:
    """Open ``path`` and enter the role's token in the page's token form."""
    page.goto(server.base + path)
    page.fill("#token-input", server.tokens[role])
    page.click("#token-form button[type=submit]")
    page.wait_for_selector("body:not(.needs-token)")


@pytest.fixture(name="sign_in")
def sign_in_fixture():
    return sign_in


def axe_violations(page, impacts=("serious", "critical")) -> list[dict]:
    """axe-core's violations of ``impacts`` on the page as it is now (axe is injected once per page)."""
    if not page.evaluate("() => Boolean(window.axe)"):
        page.evaluate(AXE.read_text())  # evaluated by the browser's debugger: no inline script under the CSP
    found = page.evaluate("""() => axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map(v =>
        ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))})))""")
    return [v for v in found if v["impact"] in impacts]
