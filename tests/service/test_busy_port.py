"""`geoverify serve` and `geoverify demo` on a port that is already taken: exit 2 with a message
saying what to do, before anything is rebuilt (the demo's store is left as it was)."""

from __future__ import annotations

import socket
import subprocess

import pytest

from .server import ROOT, cli_env, geoverify_command


@pytest.fixture
def busy_port():
    """A port another program listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        yield taken.getsockname()[1]


def _run(args: list[str], database_url: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        geoverify_command() + args,
        env=cli_env(database_url),
        cwd=ROOT,
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_busy_port_exits_2_with_advice(tmp_path, busy_port, command):
    store = tmp_path / "demo" / "geoverify.db"
    store.parent.mkdir()
    store.write_bytes(b"an earlier demo's store")
    args = [command, "--host", "127.0.0.1", "--port", str(busy_port)]
    if command == "demo":
        args += ["--db", str(store)]
    result = _run(args, f"sqlite:///{tmp_path / 'serve.db'}")
    assert result.returncode == 2, result.stderr
    assert f"port {busy_port} is in use" in result.stderr and "pass --port" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert store.read_bytes() == b"an earlier demo's store"  # nothing rebuilt
    assert not (tmp_path / "serve.db").exists()  # serve did not create or migrate its store first
