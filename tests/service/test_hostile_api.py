"""Hostile HTTP input: bodies over the limit (to a real server, with the length absent or lying),
odd Idempotency-Keys, odd ids in paths, wrong content types, GeoJSON of the wrong types, review
bodies that are not objects. Each answers a clear 4xx problem+json; never a 500, never a hang."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from pathlib import Path

import pytest

from geoverify.api.server import CHUNK_FRAMING_ALLOWANCE

from .conftest import SAMPLES
from .server import ServerProcess, create_token

LIMIT = 1024 * 1024  # bytes: the server's MAX_CONTENT_LENGTH in the real-server tests
CSV_LINE = b"M001,2026-11-02T08:00:00+08:00,116.41,39.94\n"
TELEPORT = SAMPLES / "teleport_M002.csv"


def _tcp_rmem_max() -> int:
    """The largest receive buffer the kernel may give a socket (bytes): data it can hold unread."""
    try:
        return int(Path("/proc/sys/net/ipv4/tcp_rmem").read_text().split()[2])
    except (OSError, IndexError, ValueError):
        return 32 * 1024 * 1024


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory):
    """`geoverify serve` on a fresh SQLite file with a 1 MiB body limit, shared by the tests of this
    module that speak raw HTTP to it (each starts its own connections); yields (server, admin token)."""
    folder = tmp_path_factory.mktemp("limited")
    url = f"sqlite:///{folder / 'geoverify.db'}"
    token = create_token(url, "admin", "hostile-admin")
    with ServerProcess(url, folder / "server.log", env={"GEOVERIFY_MAX_CONTENT_LENGTH": str(LIMIT)}) as server:
        yield server, token


def _read_response(sock: socket.socket) -> tuple[int, dict, dict]:
    response = http.client.HTTPResponse(sock)
    response.begin()
    body = response.read()
    headers = {k.lower(): v for k, v in response.getheaders()}
    return response.status, headers, json.loads(body)


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc status")


def test_chunked_body_many_times_the_limit_is_cut_off_at_the_limit(limited_server):
    """No Content-Length: the server counts the chunks as they come and answers 413 near the limit."""
    server, token = limited_server
    pid = server.process.pid
    rss_before = _peak_rss_kib(pid)
    slack = CHUNK_FRAMING_ALLOWANCE + _tcp_rmem_max() + 4 * 1024 * 1024  # kernel buffers on both sides
    total = max(64 * LIMIT, 2 * (LIMIT + slack))
    chunk = CSV_LINE * (64 * 1024 // len(CSV_LINE))
    sent = 0
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    try:
        sock.sendall(
            b"POST /api/v1/tracks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\n"
            b"Authorization: Bearer " + token.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
        )

        def send_chunks():
            nonlocal sent
            try:
                while sent < total:
                    sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    sent += len(chunk)
                sock.sendall(b"0\r\n\r\n")
            except OSError:  # the server answered and closed: stop sending
                pass

        sender = threading.Thread(target=send_chunks, daemon=True)
        sender.start()
        status, headers, problem = _read_response(sock)
        sender.join(timeout=30)
        assert not sender.is_alive(), "the client could still send: the server kept reading"
    finally:
        sock.close()
    assert (status, problem["status"]) == (413, 413)
    assert headers["content-type"] == "application/problem+json"
    assert str(LIMIT) in problem["detail"] and "split" in problem["detail"]
    assert sent < LIMIT + slack < total, (sent, total)
    assert _peak_rss_kib(pid) - rss_before < 64 * 1024, "the server's memory grew by more than 64 MiB"
    status, _ = server.json("GET", "/credits", token=token)  # still serving
    assert status == 200


def test_declared_length_over_the_limit_is_refused_before_the_body(limited_server):
    server, token = limited_server
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(
            b"POST /api/v1/tracks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\n"
            b"Authorization: Bearer " + token.encode() + b"\r\n"
            b"Content-Length: " + str(LIMIT * 100).encode() + b"\r\n\r\n"
        )
        # Not one byte of the body is sent: the answer comes from the headers alone.
        status, headers, problem = _read_response(sock)
    assert (status, headers["content-type"], problem["status"]) == (413, "application/problem+json", 413)


def test_length_that_lies_low_reads_only_what_it_declares(limited_server):
    """A Content-Length of 100 before 368 kB of data: the first 100 bytes are the body (a header, one
    fix and a line cut after its time: an invalid fix); the rest is read as the headers of a next
    request only up to the header limit (431), and the server closes the connection."""
    server, token = limited_server
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(
            b"POST /api/v1/tracks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\n"
            b"Authorization: Bearer " + token.encode() + b"\r\nContent-Length: 100\r\n\r\n"
            b"member_id,time,lon,lat\n" + CSV_LINE * 8000
        )
        status, headers, result = _read_response(sock)
        assert status == 201, result
        assert (result["fixes_read"], result["accepted"], result["rejected"]["invalid"]) == (2, 1, 1)
        status, headers, problem = _read_response(sock)
        assert (status, headers["content-type"]) == (431, "application/problem+json"), problem
        try:
            assert sock.recv(1) == b""  # closed by the server…
        except ConnectionResetError:
            pass  # …or reset, as it closed with our bytes unread
    assert server.json("GET", "/credits", token=token)[0] == 200


def test_raw_header_bytes_in_idempotency_key(limited_server):
    """Non-ASCII (UTF-8) and control bytes in the header, as a real client can send them: 400."""
    server, token = limited_server
    body = TELEPORT.read_bytes()
    # The app refuses what is not printable ASCII; waitress refuses control characters in any header.
    for key, detail in (
        ("巡查-2026-11-02".encode(), "Idempotency-Key"),
        (b"k" * 10_240, "Idempotency-Key"),
        (b"batch\x01one", "control characters"),
    ):
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(
                b"POST /api/v1/tracks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\n"
                b"Authorization: Bearer " + token.encode() + b"\r\nIdempotency-Key: " + key + b"\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body
            )
            status, headers, problem = _read_response(sock)
        assert (status, headers["content-type"]) == (400, "application/problem+json"), (key[:20], problem)
        assert detail in problem["detail"], problem


# In process, on both backends.


@pytest.mark.parametrize(
    "key,what",
    [
        ("k" * 10_240, "10240 characters"),
        ("", "empty"),
        ("  ", "empty"),
        ("batch\tone", "printable ASCII"),
        ("clé-1", "printable ASCII"),
    ],
)
def test_odd_idempotency_keys_are_400(with_grids, upload, key, what, assert_problem, client, auth):
    response = client.post(
        "/api/v1/tracks",
        data=TELEPORT.read_bytes(),
        headers={**auth["admin"], "Content-Type": "text/csv", "Idempotency-Key": key},
    )
    assert_problem(response, 400, detail_has=what)
    # Nothing was stored: the same upload with a good key is new.
    assert upload("tracks", TELEPORT, key="phone-7-2026-11-02").status_code == 201


ODD_PATHS = [  # (path, status, what the detail names)
    ("/api/v1/patrols/" + "M" * 10_000, 400, "10000 characters"),
    ("/api/v1/patrols/M001%00_20261102", 400, "control character"),
    ("/api/v1/patrols/M001%0A_20261102/geojson", 400, "control character"),
    ("/api/v1/patrols/..%2F..%2Fetc%2Fpasswd", 404, "openapi.json"),
    ("/api/v1/patrols/../../etc/passwd", 404, "openapi.json"),
    ("/api/v1/patrols/巡查员_20261102", 404, "巡查员_20261102"),
    ("/api/v1/flags/" + "F" * 600 + "/review", 400, "600 characters"),
    ("/api/v1/patrols?member_id=M001%00", 400, "member_id"),
    ("/api/v1/credits?after=99999999999999999999999", 400, "after"),
    ("/api/v1/credits?after=", 400, "after"),
    ("/map/report/patrol/" + "P" * 5_000, 400, "5000 characters"),
]


def test_odd_ids_and_values_in_paths_are_clear_4xx(loaded_day, client, auth, assert_problem):
    for path, status, detail in ODD_PATHS:
        role = "scorer" if "/credits" in path else "auditor"
        method = client.post if path.endswith("/review") else client.get
        kwargs = {"json": {"decision": "dismiss", "note": "x"}} if path.endswith("/review") else {}
        try:
            assert_problem(method(path, headers=auth[role], **kwargs), status, detail_has=detail)
        except AssertionError as exc:
            raise AssertionError(f"{path[:60]}: {exc}") from None


@pytest.fixture
def loaded_day(with_grids, upload):
    assert upload("tracks", TELEPORT).status_code == 201


@pytest.mark.parametrize(
    "content_type,body,status,detail",
    [
        ("image/png", b"\x89PNG\r\n\x1a\n", 415, "Content-Type"),
        ("application/x-www-form-urlencoded", b"a=b", 415, "Content-Type"),
        ("application/json", TELEPORT.read_bytes(), 422, "JSON"),
        ("application/gpx+xml", b"member_id,time,lon,lat\n", 422, "upload.gpx"),
        ("text/csv", b"\xff\xfe\x00\x00garbage\x00\x01", 422, "upload.csv"),
    ],
)
def test_wrong_content_types(with_grids, client, auth, content_type, body, status, detail, assert_problem):
    response = client.post(
        "/api/v1/tracks?member_id=M001", data=body, headers={**auth["admin"], "Content-Type": content_type}
    )
    assert_problem(response, status, detail_has=detail)


def test_multipart_without_a_file_is_422(with_grids, client, auth, assert_problem):
    response = client.post(
        "/api/v1/tracks", headers=auth["admin"], data={"other": "x"}, content_type="multipart/form-data"
    )
    assert_problem(response, 422, detail_has="'file'")


def _fc(*geometries) -> bytes:
    return json.dumps(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "properties": {"grid_id": f"G{i}", "member_id": "M001", "time": "2026-11-02T08:00:00+08:00"},
                    "geometry": g,
                }
                for i, g in enumerate(geometries)
            ],
        }
    ).encode()


POINT = {"type": "Point", "coordinates": [116.41, 39.94]}
LINE = {"type": "LineString", "coordinates": [[116.41, 39.94], [116.42, 39.95]]}
SQUARE = {"type": "Polygon", "coordinates": [[[116.41, 39.94], [116.42, 39.94], [116.42, 39.95], [116.41, 39.94]]]}
WRONG_GEOJSON = {
    "grids": [
        _fc(POINT),
        _fc(LINE),
        json.dumps(SQUARE).encode(),
        b"[]",
        b'"FeatureCollection"',
        b"null",
        b"{",
        json.dumps({"type": "FeatureCollection", "features": "none"}).encode(),
    ],
    "tracks": [
        _fc(LINE),
        _fc(SQUARE),
        json.dumps(POINT).encode(),
        b"[]",
        b"42",
        b"{",
        json.dumps({"type": "FeatureCollection", "features": [None]}).encode(),
    ],
}


def test_geojson_of_the_wrong_types_is_422(with_grids, client, auth, assert_problem):
    for kind, bodies in WRONG_GEOJSON.items():
        for body in bodies:
            response = client.post(
                f"/api/v1/{kind}", data=body, headers={**auth["admin"], "Content-Type": "application/geo+json"}
            )
            try:
                assert_problem(response, 422)
            except AssertionError as exc:
                raise AssertionError(f"{kind} {body[:60]!r}: {exc}") from None


NOT_A_DECISION = [
    b"[]",
    b'"dismiss"',
    b"1",
    b"null",
    b"{",
    b'{"decision": "dismiss"',
    b'{"decision": ["dismiss"], "note": "x"}',
    b'{"decision": "dismiss", "note": 5}',
    b'{"decision": "dismiss", "note": {"a": 1}}',
    b'{"decision": null, "note": "x"}',
    b'{"decision": "dismiss", "note": "   "}',
    b'{"decision": "dismiss", "note": "nul \\u0000 inside"}',
]


def test_review_bodies_that_are_not_a_decision_are_422(loaded_day, client, auth, assert_problem):
    flag_id = client.get("/api/v1/flags?code=TELEPORT", headers=auth["auditor"]).json["flags"][0]["flag_id"]
    for body in NOT_A_DECISION:
        response = client.post(
            f"/api/v1/flags/{flag_id}/review",
            data=body,
            headers={**auth["auditor"], "Content-Type": "application/json"},
        )
        try:
            assert_problem(response, 422)
        except AssertionError as exc:
            raise AssertionError(f"{body!r}: {exc}") from None
    flag = client.get("/api/v1/flags?code=TELEPORT", headers=auth["auditor"]).json["flags"][0]
    assert flag["status"] == "open"  # nothing was recorded
    response = client.post(
        f"/api/v1/flags/{flag_id}/review",
        headers=auth["auditor"],
        data=b"decision=dismiss",
        content_type="application/x-www-form-urlencoded",
    )
    assert_problem(response, 422, detail_has="JSON object")
