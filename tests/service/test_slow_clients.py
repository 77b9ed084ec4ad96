"""Slow clients (slowloris) cannot take the service down: a real ``geoverify serve`` process keeps
answering others while 1,000 connections from this host send nothing, trickle header lines or
trickle a body, and it closes those connections once their request is past its deadline.

The deadlines are short here (``GEOVERIFY_HEADER_TIMEOUT``, ``GEOVERIFY_BODY_TIMEOUT``) to keep
the test quick; the defaults are 20 and 60 s.
"""

from __future__ import annotations

import resource
import selectors
import socket
import time

import pytest

from .server import ServerProcess

HEADER_TIMEOUT_S = 4.0
BODY_TIMEOUT_S = 3.0
SILENT, TRICKLING, SLOW_BODIES = 400, 500, 100  # 1,000 connections in all
NORMAL_ANSWER_WITHIN_S = 3.0
# A deadline is checked once a second; allow that, and a busy shared machine, on top.
CLOSED_WITHIN_S = 4.0


def _open_files_for(count: int) -> None:
    """Raise this process's open-files soft limit so that it can hold ``count`` more sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count + 256:
        if hard != resource.RLIM_INFINITY and hard < count + 256:
            pytest.fail(f"the open-files hard limit ({hard}) is too low for {count} sockets; raise it (ulimit -Hn)")
        resource.setrlimit(resource.RLIMIT_NOFILE, (count + 256, hard))


def _connect(port: int, first_bytes: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    if first_bytes:
        sock.sendall(first_bytes)
    sock.setblocking(False)
    return sock


def _closed_by_server(sock: socket.socket) -> bool:
    """Whether the server has closed ``sock`` (EOF or reset; anything it sent first is skipped)."""
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def _trickle(socks: list[socket.socket], line: bytes) -> None:
    """Send ``line`` on each socket still open (a closed one just refuses it)."""
    for sock in socks:
        try:
            sock.send(line)
        except OSError:
            pass


def _wait_until_closed(
    socks: list[socket.socket], deadline: float, trickling: list[socket.socket], line: bytes
) -> tuple[set[socket.socket], float]:
    """Keep trickling until the server has closed every socket or ``deadline`` passes;
    the sockets it closed and when the last of them was seen closed."""
    selector = selectors.DefaultSelector()
    for sock in socks:
        selector.register(sock, selectors.EVENT_READ)
    closed: set[socket.socket] = set()
    last = time.monotonic()
    next_line = time.monotonic() + 1.0
    while len(closed) < len(socks) and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.2):
            if _closed_by_server(key.fileobj):
                closed.add(key.fileobj)
                selector.unregister(key.fileobj)
                last = time.monotonic()
        if time.monotonic() >= next_line:
            _trickle([s for s in trickling if s not in closed], line)
            next_line += 1.0
    selector.close()
    return closed, last


def _timed_get(server: ServerProcess, path: str = "/openapi.json") -> tuple[int, float]:
    started = time.monotonic()
    status, _, _ = server.request("GET", path, timeout=30)
    return status, time.monotonic() - started


@pytest.mark.slow
def test_thousand_slow_connections_leave_the_service_available(tmp_path):
    _open_files_for(SILENT + TRICKLING + SLOW_BODIES)
    env = {"GEOVERIFY_HEADER_TIMEOUT": str(HEADER_TIMEOUT_S), "GEOVERIFY_BODY_TIMEOUT": str(BODY_TIMEOUT_S)}
    with ServerProcess(f"sqlite:///{tmp_path / 'geoverify.db'}", tmp_path / "server.log", env=env) as server:
        assert _timed_get(server)[0] == 200
        opened_at = time.monotonic()
        silent = [_connect(server.port, b"") for _ in range(SILENT)]
        trickling = [
            _connect(server.port, b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: slow\r\n") for _ in range(TRICKLING)
        ]
        slow_bodies = [
            _connect(
                server.port,
                b"POST /api/v1/tracks HTTP/1.1\r\nHost: slow\r\n"
                b"Content-Type: text/csv\r\nContent-Length: 1000000\r\n\r\nmember_id",
            )
            for _ in range(SLOW_BODIES)
        ]
        every = silent + trickling + slow_bodies
        opening_s = time.monotonic() - opened_at
        assert opening_s < HEADER_TIMEOUT_S / 2, f"opening {len(every)} connections took {opening_s:.1f} s"

        # While they are all open (one header line a second on the trickling ones, one byte a
        # second of body on the others), a normal request from another connection is answered.
        answers = []
        for _ in range(2):
            _trickle(trickling, b"X-Slow: 1\r\n")
            _trickle(slow_bodies, b",")
            answers.append(_timed_get(server))
            time.sleep(0.5)
        open_for = time.monotonic() - opened_at
        assert open_for < min(HEADER_TIMEOUT_S, BODY_TIMEOUT_S), "the checks ran after the deadline; too slow"
        assert not [s for s in every if _closed_by_server(s)], "a slow connection was closed before its deadline"
        assert [status for status, _ in answers] == [200, 200]
        slowest = max(seconds for _, seconds in answers)
        assert slowest < NORMAL_ANSWER_WITHIN_S, f"a normal request took {slowest:.2f} s beside {len(every)} slow ones"

        # Past the deadlines the server closes them all, though the trickling ones keep sending.
        deadline = opened_at + max(HEADER_TIMEOUT_S, BODY_TIMEOUT_S) + CLOSED_WITHIN_S
        closed, last_closed = _wait_until_closed(every, deadline, trickling + slow_bodies, b"X-Slow: 1\r\n")
        still_open = len(every) - len(closed)
        assert still_open == 0, (
            f"{still_open} of {len(every)} slow connections still open "
            f"{time.monotonic() - opened_at:.1f} s after opening"
        )
        assert last_closed - opened_at > min(HEADER_TIMEOUT_S, BODY_TIMEOUT_S) - 0.5
        status, seconds = _timed_get(server)
        assert status == 200 and seconds < NORMAL_ANSWER_WITHIN_S
        for sock in every:
            sock.close()
        print(
            f"\n{len(every)} slow connections ({SILENT} silent, {TRICKLING} trickling headers, {SLOW_BODIES} "
            f"trickling a body) opened in {opening_s:.2f} s; normal requests beside them answered 200 in "
            f"{', '.join(f'{s * 1000:.0f} ms' for _, s in answers)}; all closed by the server "
            f"{last_closed - opened_at:.1f} s after opening (header deadline {HEADER_TIMEOUT_S:g} s, "
            f"body {BODY_TIMEOUT_S:g} s); afterwards {seconds * 1000:.0f} ms"
        )
        assert "too slow to send their request" in server.log_path.read_text()


def test_bad_deadline_setting_is_refused(tmp_path):
    """A deadline that is not a number above 0 stops ``geoverify serve`` with exit 2 and the variable's name."""
    server = ServerProcess(
        f"sqlite:///{tmp_path / 'geoverify.db'}", tmp_path / "server.log", env={"GEOVERIFY_HEADER_TIMEOUT": "soon"}
    )
    with pytest.raises(RuntimeError, match="exited with 2") as failure:
        server.start()
    assert "GEOVERIFY_HEADER_TIMEOUT" in str(failure.value)
