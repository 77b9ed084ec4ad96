"""Serving the app on waitress, with the request body limit enforced by the server itself.

waitress reads a whole request body (into a temporary file past 512 kB) before the app sees it.
Its ``max_request_body_size`` is set from the app's ``MAX_CONTENT_LENGTH``, so a body over the limit
is refused with 413 as soon as its declared length, or the bytes received of a chunked body, pass
the limit: the service never reads more than about the limit, however much a client sends. The
refusals waitress makes itself (413, 400, 431, 501) are answered as problem+json like the app's.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
from typing import Callable

import waitress
from flask import Flask
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, MultiSocketServer
from waitress.task import ErrorTask

from .problems import HTTP_DETAILS, PROBLEM_TYPE, body_limit_detail, problem_document
from .security import LOCKED_DOWN_CSP, SECURITY_HEADERS

# Room for a chunked body's framing (sizes and CRLFs), so that the app's own 413 and the
# server's agree on bodies near the limit: the app checks the de-chunked length.
CHUNK_FRAMING_ALLOWANCE = 64 * 1024  # bytes


def max_request_body_size(app: Flask) -> int:
    """The body size (bytes) past which waitress refuses a request: the app's limit plus framing room."""
    return int(app.config["MAX_CONTENT_LENGTH"]) + CHUNK_FRAMING_ALLOWANCE


class ProblemErrorTask(ErrorTask):
    """waitress's own error responses (body too large, bad framing, huge headers) as problem+json."""

    def execute(self) -> None:
        error = self.request.error
        if error.code == 413:
            detail = body_limit_detail(self.channel.server.adj.max_request_body_size - CHUNK_FRAMING_ALLOWANCE)
        elif error.code == 400:
            # waitress's reason, without the part that may quote the request's own header line.
            reason = str(error.body).split('"')[0].strip().rstrip(":") or "malformed"
            detail = (f"The request is not valid HTTP ({reason}); header values must be printable text "
                      "without control characters, and the body must match its Content-Length or chunking.")
        else:
            detail = HTTP_DETAILS.get(error.code, HTTP_DETAILS[400])
        path = getattr(self.request, "path", None) or None  # none when the request line was unreadable
        document = problem_document(error.code, detail, title=error.reason, instance=path)
        body = json.dumps(document).encode("utf-8")
        self.status = f"{error.code} {error.reason}"
        self.response_headers.extend([("Content-Type", PROBLEM_TYPE), ("Cache-Control", "no-store"),
                                      ("Content-Security-Policy", LOCKED_DOWN_CSP), *SECURITY_HEADERS.items()])
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class ProblemChannel(HTTPChannel):
    """waitress's HTTP channel with :class:`ProblemErrorTask` for its own errors."""

    error_task_class = ProblemErrorTask


def serve(app: Flask, host: str = "127.0.0.1", port: int = 8000, threads: int = 8, **options) -> None:
    """Serve ``app`` on waitress until interrupted.

    Parameters
    ----------
    app : Flask
        The service (:func:`api.create_app`).
    host, port : str, int
        Where to listen.
    threads : int
        waitress worker threads.
    workers : int
        Verification worker threads in this process (:mod:`geoverify.store.worker`; default 1,
        0 for none: `geoverify worker` processes verify instead).
    options
        Further waitress adjustments (e.g. ``channel_timeout``, seconds; ``sockets``, already bound
        listening sockets, used instead of ``host`` and ``port``).
    """
    workers = options.pop("workers", 1)
    where = {"sockets": options.pop("sockets")} if "sockets" in options else {"host": host, "port": port}
    server = waitress.create_server(app, threads=threads, ident="geoverify",
                                    max_request_body_size=max_request_body_size(app), **where, **options)
    listeners = server.map.values() if isinstance(server, MultiSocketServer) else [server]
    for listener in listeners:
        if isinstance(listener, BaseWSGIServer):
            listener.channel_class = ProblemChannel
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


def serve_processes(make_app: Callable[[], Flask], host: str = "127.0.0.1", port: int = 8000, threads: int = 8,
                    processes: int = 2, workers: int = 1) -> None:
    """Serve on ``processes`` forked waitress processes sharing one listening socket (POSIX only).

    One Python process handles requests one at a time in CPU (the GIL); several processes spread
    them over the cores. The parent binds the socket, runs ``make_app`` once (which migrates the
    store) and forks; each child builds its own app (its own database connections) with
    migrations off and serves until the parent stops. The kernel hands each new connection to one
    child. Per-process state is not shared: the upload rate limit with the default ``memory://``
    storage counts per process (set ``RATELIMIT_STORAGE_URI`` to a shared store to count across
    them), and each child keeps its own feed cache.

    Parameters
    ----------
    make_app : callable
        ``make_app(migrate: bool) -> Flask``.
    processes : int
        Number of server processes (1 serves in this process).
    workers : int
        Verification worker threads in each server process.
    """
    first = make_app(True)
    if processes <= 1:
        serve(first, host=host, port=port, threads=threads, workers=workers)
        return
    first.extensions["geoverify.store"].dispose()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(1024)
    children = []
    for _ in range(processes):
        pid = os.fork()
        if pid == 0:  # child: its own app and connections, the shared socket
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            try:
                serve(make_app(False), host=host, port=port, threads=threads, sockets=[listener], workers=workers)
            finally:
                os._exit(0)
        children.append(pid)
    listener.close()

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
