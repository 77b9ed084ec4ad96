"""Serving the app on waitress, with the request body limit enforced by the server itself.

waitress reads a whole request body (into a temporary file past 512 kB) before the app sees it.
Its ``max_request_body_size`` is set from the app's ``MAX_CONTENT_LENGTH``, so a body over the limit
is refused with 413 as soon as its declared length, or the bytes received of a chunked body, pass
the limit: the service never reads more than about the limit, however much a client sends. The
refusals waitress makes itself (413, 400, 431, 501) are answered as problem+json like the app's.

Slow clients. waitress only closes a connection after ``channel_timeout`` seconds without a byte,
so a client that opens many connections and sends a header line every few seconds (slowloris)
would hold them for ever, and by default it holds only 100. Here every request must arrive in
time (:class:`geoverify.settings.ConnectionLimits`): its headers within ``header_timeout_s`` in
total, its body at about ``body_min_rate`` bytes a second after a grace of ``body_timeout_s``.
:class:`GuardedServer` checks these deadlines once a second in waitress's maintenance pass and
closes the connections that missed them. The server holds thousands of connections
(``connection_limit``; waitress polls with ``poll()``, so past 1,024 descriptors too, and the
open-files limit is raised to what the system allows), so idle or trickling connections from one
host leave room for everyone else until they are closed.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import resource
import signal
import socket
import time
from collections import Counter
from collections.abc import Callable
from typing import cast

from flask import Flask
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import MultiSocketServer, TcpWSGIServer
from waitress.task import ErrorTask, ThreadedTaskDispatcher

from geoverify.errors import ListenError
from geoverify.settings import ConnectionLimits, configured_connection_limits

from .problems import HTTP_DETAILS, PROBLEM_TYPE, body_limit_detail, problem_document
from .security import LOCKED_DOWN_CSP, SECURITY_HEADERS

# Room for a chunked body's framing (sizes and CRLFs), so that the app's own 413 and the
# server's agree on bodies near the limit: the app checks the de-chunked length.
CHUNK_FRAMING_ALLOWANCE = 64 * 1024  # bytes
# Seconds between two passes that close connections past their deadline.
MAINTENANCE_INTERVAL_S = 1
# File descriptors kept for everything but client connections (database, logs, request buffers).
RESERVED_DESCRIPTORS = 256
LISTEN_BACKLOG = 1024

logger = logging.getLogger("geoverify.server")


def max_request_body_size(app: Flask) -> int:
    """The body size (bytes) past which waitress refuses a request: the app's limit plus framing room."""
    return int(app.config["MAX_CONTENT_LENGTH"]) + CHUNK_FRAMING_ALLOWANCE


class ProblemErrorTask(ErrorTask):
    """waitress's own error responses (body too large, bad framing, huge headers) as problem+json."""

    def execute(self) -> None:
        error = self.request.error  # type: ignore[attr-defined]  # types-waitress types the parser as its Error
        if error.code == 413:
            detail = body_limit_detail(self.channel.server.adj.max_request_body_size - CHUNK_FRAMING_ALLOWANCE)
        elif error.code == 400:
            # waitress's reason, without the part that may quote the request's own header line.
            reason = str(error.body).split('"')[0].strip().rstrip(":") or "malformed"
            detail = (
                f"The request is not valid HTTP ({reason}); header values must be printable text "
                "without control characters, and the body must match its Content-Length or chunking."
            )
        else:
            detail = HTTP_DETAILS.get(error.code, HTTP_DETAILS[400])
        path = getattr(self.request, "path", None) or None  # none when the request line was unreadable
        document = problem_document(error.code, detail, title=error.reason, instance=path)
        body = json.dumps(document).encode("utf-8")
        self.status = f"{error.code} {error.reason}"
        self.response_headers.extend(  # type: ignore[attr-defined]  # a list; types-waitress says Sequence
            [
                ("Content-Type", PROBLEM_TYPE),
                ("Cache-Control", "no-store"),
                ("Content-Security-Policy", LOCKED_DOWN_CSP),
                *SECURITY_HEADERS.items(),
            ]
        )
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class TimedRequestParser(HTTPRequestParser):
    """waitress's request parser, noting when the request began and when its headers ended."""

    started = 0.0  # time.time() at the request's start (see ProblemChannel.parser_class)
    headers_done: float | None = None  # time.time() when the headers were complete

    def received(self, data: bytes) -> int:
        """Parse ``data`` (waitress's parser), then note the end of the headers; bytes consumed."""
        consumed = super().received(data)
        if self.headers_finished and self.headers_done is None:
            self.headers_done = time.time()
        return consumed


class ProblemChannel(HTTPChannel):
    """waitress's HTTP channel with :class:`ProblemErrorTask` for its own errors, and the arrival
    deadlines of its requests (:meth:`overdue`)."""

    error_task_class = ProblemErrorTask
    requests_begun = 0

    def parser_class(self, adj: Adjustments) -> TimedRequestParser:  # type: ignore[override]  # waitress calls it
        """A parser for the next request (waitress calls ``self.parser_class(adj)`` when its first
        byte arrives). The first request's clock starts when the connection opened."""
        parser = TimedRequestParser(adj)
        parser.started = self.creation_time if self.requests_begun == 0 else time.time()
        self.requests_begun += 1
        return parser

    def overdue(self, now: float, limits: ConnectionLimits) -> str | None:
        """Whether the client has missed a deadline of the request it is sending.

        Parameters
        ----------
        now : float
            ``time.time()``.
        limits : ConnectionLimits
            The deadlines.

        Returns
        -------
        str or None
            ``"headers"`` when the request's headers (or a new connection's first request) did not
            arrive within ``header_timeout_s``, ``"body"`` when the body falls behind
            ``body_timeout_s`` plus one second per ``body_min_rate`` bytes, None otherwise (also
            while a request is being answered, and between requests: see ``keepalive_timeout_s``).
        """
        if self.requests or self.will_close:
            return None
        request = cast("TimedRequestParser | None", self.request)  # made by parser_class above
        if request is None:
            silent = self.requests_begun == 0 and now - self.creation_time > limits.header_timeout_s
            return "headers" if silent else None
        if request.completed:
            return None
        if not request.headers_finished or request.headers_done is None:
            return "headers" if now - request.started > limits.header_timeout_s else None
        allowed = limits.body_timeout_s + request.body_bytes_received / limits.body_min_rate
        return "body" if now - request.headers_done > allowed else None


class GuardedServer(TcpWSGIServer):
    """waitress's TCP server whose maintenance pass also closes connections past their request's
    deadlines (:meth:`ProblemChannel.overdue`).

    Parameters
    ----------
    args, kwargs
        As :class:`waitress.server.TcpWSGIServer`.
    limits : ConnectionLimits
        The deadlines.
    """

    channel_class = ProblemChannel

    def __init__(self, *args, limits: ConnectionLimits, **kwargs):
        self.limits = limits
        super().__init__(*args, **kwargs)

    def maintenance(self, now: float) -> None:
        """Close idle kept-alive connections (waitress) and those whose request is overdue."""
        super().maintenance(now)  # type: ignore[arg-type]  # time.time(); types-waitress says int
        late: Counter[str] = Counter()
        for channel in list(self.active_channels.values()):  # type: ignore[attr-defined]  # a dict (types-waitress)
            reason = channel.overdue(now, self.limits) if isinstance(channel, ProblemChannel) else None
            if reason is not None:
                channel.will_close = True  # closed by the event loop's next pass
                late[reason] += 1
        if late:
            logger.warning(
                "closing %d connection(s) too slow to send their request: %s (header deadline %g s, "
                "body %g s + 1 s per %d bytes)",
                sum(late.values()),
                ", ".join(f"{count} {reason}" for reason, count in sorted(late.items())),
                self.limits.header_timeout_s,
                self.limits.body_timeout_s,
                self.limits.body_min_rate,
            )


def listen(host: str, port: int) -> list[socket.socket]:
    """Listening sockets on every address of ``host`` at ``port``, bound now (before anything slow).

    Parameters
    ----------
    host : str
        A name or address (``localhost`` gives IPv4 and IPv6 sockets when both resolve).
    port : int
        The TCP port.

    Returns
    -------
    list of socket.socket
        Bound, listening sockets (``SO_REUSEADDR``, as waitress sets it).

    Raises
    ------
    ListenError
        With a message saying what to do: the port is in use, needs privileges, or the address is
        not this machine's.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ListenError(
            f"cannot listen on {host}: {exc.strerror}; pass --host with an address of this "
            "machine (e.g. 127.0.0.1 or 0.0.0.0)"
        ) from exc
    sockets: list[socket.socket] = []
    seen = set()
    try:
        for family, kind, proto, _, address in infos:
            if address in seen:
                continue
            seen.add(address)
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(LISTEN_BACKLOG)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        if exc.errno == errno.EADDRINUSE:
            message = (
                f"port {port} is in use on {host} (another server, or an earlier geoverify still running); "
                f"pass --port with a free port, e.g. --port {port + 1}"
            )
        elif exc.errno == errno.EACCES:
            message = f"no permission to listen on port {port}; pass --port 1024 or above"
        else:
            message = f"cannot listen on {host}:{port}: {exc.strerror}; pass another --host or --port"
        raise ListenError(message) from exc
    return sockets


def raise_open_files_limit() -> int:
    """Raise this process's soft limit of open files to its hard limit; the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def connection_limit(limits: ConnectionLimits, open_files: int) -> int:
    """The connections one process may hold: ``limits.connection_limit``, or fewer when the
    open-files limit leaves no room for them (a warning then says how to raise it)."""
    room = max(open_files - RESERVED_DESCRIPTORS, 64)
    if limits.connection_limit <= room:
        return limits.connection_limit
    logger.warning(
        "holding at most %d connections, not %d: the open-files limit is %d (raise it, e.g. "
        "`ulimit -n 65536` or LimitNOFILE= in a systemd unit)",
        room,
        limits.connection_limit,
        open_files,
    )
    return room


def create_server(
    app: Flask, sockets: list[socket.socket], threads: int = 8, limits: ConnectionLimits | None = None
) -> GuardedServer | MultiSocketServer:
    """waitress serving ``app`` on ``sockets`` with the body limit, the request deadlines and the
    connection limit (``limits``, default :func:`geoverify.settings.configured_connection_limits`).

    Parameters
    ----------
    app : Flask
        The service (:func:`api.create_app`).
    sockets : list of socket.socket
        Listening sockets (:func:`listen`).
    threads : int
        waitress worker threads.
    limits : ConnectionLimits, optional
        Request deadlines and the connection limit.

    Returns
    -------
    GuardedServer or MultiSocketServer
        Call ``run()``; one server per socket, all in one event loop.
    """
    limits = limits or configured_connection_limits()
    adj = Adjustments(
        threads=threads,
        ident="geoverify",
        sockets=sockets,
        max_request_body_size=max_request_body_size(app),
        asyncore_use_poll=True,
        connection_limit=connection_limit(limits, raise_open_files_limit()),
        channel_timeout=limits.keepalive_timeout_s,
        cleanup_interval=MAINTENANCE_INTERVAL_S,
    )
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adj.threads)
    socket_map: dict = {}
    servers = [
        GuardedServer(
            app,
            socket_map,
            True,
            sock,
            dispatcher=dispatcher,
            adj=adj,
            bind_socket=False,
            sockinfo=(sock.family, sock.type, sock.proto, sock.getsockname()),
            limits=limits,
        )
        for sock in sockets
    ]
    if len(servers) == 1:
        return servers[0]
    addresses = [(s.effective_host, s.effective_port) for s in servers]  # type: ignore[attr-defined]  # see below
    # effective_host/effective_port are set by waitress's BaseWSGIServer; types-waitress lacks them.
    return MultiSocketServer(socket_map, adj, addresses, dispatcher, servers[-1].log_info)


def serve(
    app: Flask, sockets: list[socket.socket], threads: int = 8, workers: int = 1, limits: ConnectionLimits | None = None
) -> None:
    """Serve ``app`` on waitress (:func:`create_server`) until interrupted.

    Parameters
    ----------
    app : Flask
        The service (:func:`api.create_app`).
    sockets : list of socket.socket
        Listening sockets (:func:`listen`).
    threads : int
        waitress worker threads.
    workers : int
        Verification worker threads in this process (:mod:`geoverify.store.worker`; default 1,
        0 for none: `geoverify worker` processes verify instead).
    limits : ConnectionLimits, optional
        Request deadlines and the connection limit (default: from the environment).
    """
    server = create_server(app, sockets, threads=threads, limits=limits)
    logging.basicConfig()
    stop = None
    if workers:
        from geoverify.store.worker import start_threads

        store = app.extensions["geoverify.store"]
        stop, store.wake, _ = start_threads(store, workers)
    server.print_listen("Serving on http://{}:{}")
    try:
        server.run()
    finally:
        if stop is not None:
            stop.set()


def serve_processes(
    make_app: Callable[[bool], Flask],
    sockets: list[socket.socket],
    threads: int = 8,
    processes: int = 2,
    workers: int = 1,
    limits: ConnectionLimits | None = None,
) -> None:
    """Serve on ``processes`` forked waitress processes sharing the listening sockets (POSIX only).

    One Python process handles requests one at a time in CPU (the GIL); several processes spread
    them over the cores. The parent (which bound ``sockets`` with :func:`listen`) runs
    ``make_app`` once (which migrates the store) and forks; each child builds its own app (its own
    database connections) with migrations off and serves until the parent stops. The kernel hands
    each new connection to one child. Per-process state is not shared: the upload rate limit with
    the default ``memory://`` storage counts per process (set ``RATELIMIT_STORAGE_URI`` to a shared
    store to count across them), each child keeps its own feed cache, and the connection limit is
    per process.

    Parameters
    ----------
    make_app : callable
        ``make_app(migrate: bool) -> Flask``.
    sockets : list of socket.socket
        Listening sockets (:func:`listen`).
    threads : int
        waitress worker threads in each process.
    processes : int
        Number of server processes (1 serves in this process).
    workers : int
        Verification worker threads in each server process.
    limits : ConnectionLimits, optional
        Request deadlines and the connection limit (default: from the environment).
    """
    limits = limits or configured_connection_limits()
    first = make_app(True)
    if processes <= 1:
        serve(first, sockets, threads=threads, workers=workers, limits=limits)
        return
    first.extensions["geoverify.store"].dispose()
    children = []
    for _ in range(processes):
        pid = os.fork()
        if pid == 0:  # child: its own app and connections, the shared sockets
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            try:
                serve(make_app(False), sockets, threads=threads, workers=workers, limits=limits)
            finally:
                os._exit(0)
        children.append(pid)
    for sock in sockets:
        sock.close()

    def stop(_signum=None, _frame=None):
        for child in children:
            try:
                os.kill(child, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    try:
        # When any child dies, stop the others: a half-running service is worse than a stopped one.
        os.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop()
        for child in children:
            try:
                os.waitpid(child, 0)
            except ChildProcessError:
                pass
