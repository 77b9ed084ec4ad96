"""The service's commands: ``serve`` (the HTTP API and map page), ``worker`` (verification workers) and
``demo`` (a fresh store with the sample data, one token per role, then serve)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from geoverify.cli.options import database_option, open_store, shown_url
from geoverify.cli.store import load_file, summary_line

DEMO_NOW = "2026-11-03T02:00:00+08:00"  # the sample day is verified as past and its credit settled


def load_samples(store, echo=click.echo) -> None:
    """Load the shipped sample grids, tracks, events and sites (:mod:`geoverify.samples`, package
    data: found wherever geoverify is installed) into ``store``."""
    from geoverify import samples
    from geoverify.io.tracks import track_files

    for kind, paths in (
        ("grids", [samples.GRIDS]),
        ("tracks", track_files(samples.TRACKS)),
        ("events", [samples.EVENTS]),
        ("sites", [samples.SITES]),
    ):
        for path in paths:
            echo(summary_line(path.relative_to(samples.ROOT), load_file(store, kind, path)))


def _announce(host: str, port: int, threads: int, processes: int = 1) -> None:
    workers = f"{processes} processes of {threads} threads" if processes > 1 else f"{threads} threads"
    click.echo(
        f"geoverify: serving on http://{host}:{port}/api/v1 and the map page on http://{host}:{port}/map "
        f"(waitress, {workers}); Ctrl-C stops",
        err=True,
    )


class ListenFailed(click.ClickException):
    """The service cannot listen where asked (e.g. the port is in use): a message and exit status 2."""

    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"geoverify: error: {self.format_message()}", err=True)


def _listen(host: str, port: int) -> list:
    """Listening sockets on ``host:port`` (:func:`api.server.listen`), bound before anything slow;
    :class:`ListenFailed` (exit 2) when the port is in use or cannot be used."""
    from geoverify.api.server import listen
    from geoverify.errors import ListenError

    try:
        return listen(host, port)
    except ListenError as exc:
        raise ListenFailed(str(exc)) from None


def _serve(app, sockets: list, host: str, port: int, threads: int, workers: int = 1) -> None:
    from geoverify.api.server import serve

    _announce(host, port, threads)
    serve(app, sockets, threads=threads, workers=workers)


def _write_tokens_env(path: Path, base: str, issued: dict[str, str]) -> None:
    """Write a shell file that sets ``API`` (the API's base URL) and ``<ROLE>_TOKEN`` for each
    demo token, readable by its owner only."""
    lines = [f"# geoverify demo: the API and one token per role (load with: . {path})", f"export API={base}"]
    lines += [f"export {role.upper()}_TOKEN={secret}" for role, secret in issued.items()]
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--threads",
    default=8,
    show_default=True,
    type=click.IntRange(1, 256),
    help="Waitress worker threads: requests handled at once (more wait in its queue).",
)
@click.option(
    "--processes",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Server processes sharing the port (POSIX): use up to one per core. The upload rate "
    "limit counts per process unless GEOVERIFY_RATELIMIT_STORAGE_URI names a shared store.",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(0, 64),
    help="Verification worker threads in each server process; 0 leaves verification to `geoverify worker` processes.",
)
def serve(host, port, threads, processes, workers):
    """Run the HTTP API on waitress (configuration from GEOVERIFY_* variables)."""
    from geoverify.api import create_app
    from geoverify.api.server import serve_processes
    from geoverify.settings import configured_connection_limits

    limits = configured_connection_limits()
    sockets = _listen(host, port)  # before the store is opened or migrated
    _announce(host, port, threads, processes)
    serve_processes(
        lambda migrate: create_app({"MIGRATE": migrate}), sockets, threads, processes, workers=workers, limits=limits
    )


@click.command()
@click.option(
    "--processes",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes to run (up to one per core).",
)
@click.option(
    "--batch",
    default=64,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="Member-days claimed and verified together.",
)
@click.option(
    "--lease",
    "lease_s",
    default=120.0,
    show_default=True,
    type=click.FloatRange(5, 86_400),
    help="Seconds a claim lasts: a worker that dies leaves its work to others after this.",
)
@click.option("--drain", is_flag=True, help="Stop when no work is left instead of waiting for more.")
@click.option(
    "--now",
    "now",
    default=None,
    envvar="GEOVERIFY_NOW",
    help="Verification time (ISO 8601), as the server's GEOVERIFY_NOW; default the clock.",
)
@database_option
def worker(processes, batch, lease_s, drain, now, database_url):
    """Verify queued member-days (beside `geoverify serve`, on this machine or others sharing the database)."""
    from geoverify.store.worker import run_processes

    click.echo(f"geoverify: {processes} verification worker(s) on {shown_url(database_url)}; Ctrl-C stops", err=True)
    totals = run_processes(
        lambda: open_store(database_url, now), processes=processes, batch=batch, lease_s=lease_s, until_empty=drain
    )
    click.echo(
        f"verified {totals['verified']} member-day(s), {totals['discarded']} superseded by newer input, "
        f"{totals['failed']} failed (left queued); {totals['compared_again']} compared again under the "
        "writer lock (a track near theirs changed meanwhile)",
        err=True,
    )


@click.command()
@click.option(
    "--db",
    "db_path",
    default="demo/geoverify.db",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="SQLite file (replaced: a fresh demo).",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--now",
    "now",
    default=DEMO_NOW,
    show_default=True,
    help="Verification time, so that the sample day (2026-11-02) is verified as past and settled.",
)
@click.option("--no-serve", is_flag=True, help="Load and print the tokens, then stop.")
def demo(db_path, host, port, now, no_serve):
    """A fresh store with the sample data loaded, one token per role, then serve."""
    from geoverify.api import create_app
    from geoverify.store import queries, tokens

    sockets = [] if no_serve else _listen(host, port)  # a busy port stops here, before the store is replaced
    db_path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)
    url = f"sqlite:///{db_path.resolve()}"
    # The demo signs audit checkpoints with its own key, kept beside the store (made once).
    key_path = db_path.parent / "audit.key"
    if not key_path.exists():
        from geoverify.store.checkpoints import generate

        generate(key_path)
    store = open_store(url, now, audit_key=str(key_path))
    load_samples(store)
    issued = {}
    with store.write() as conn:
        for role, scopes in (
            ("admin", []),
            ("uploader", ["M001", "M002"]),
            ("supervisor", ["DC-01"]),
            ("auditor", []),
            ("scorer", []),
        ):
            issued[role] = tokens.create(conn, role, scopes, f"demo-{role}")[1]
    with store.read() as conn:
        held = queries.list_flags(conn, code="MOCK_LOCATION", limit=1)["flags"]
    flag_id = held[0]["flag_id"] if held else "FLAG_ID"
    base = f"http://{host}:{port}/api/v1"
    env_file = db_path.parent / "tokens.env"
    _write_tokens_env(env_file, base, issued)
    click.echo(f"\nstore: {db_path.resolve()}  (GEOVERIFY_DATABASE_URL={url})")
    click.echo(f"audit checkpoints signed with {key_path} (public key {key_path}.pub; GEOVERIFY_AUDIT_KEY)")
    click.echo("tokens (uploader: members M001 M002; supervisor: grid DC-01):")
    for role, secret in issued.items():
        click.echo(f"  {role:<10} {secret}")
    click.echo(
        f"(also in {env_file}: `. {env_file}` sets $API and $ADMIN_TOKEN, $UPLOADER_TOKEN, "
        "$SUPERVISOR_TOKEN, $AUDITOR_TOKEN, $SCORER_TOKEN)"
    )
    click.echo(f"\nmap page: http://{host}:{port}/map  (paste the supervisor or auditor token)")
    click.echo("\ntry:")
    click.echo(f"  curl -H 'Authorization: Bearer {issued['supervisor']}' '{base}/patrols'")
    click.echo(f"  curl -H 'Authorization: Bearer {issued['supervisor']}' '{base}/patrols/M002_20261102/geojson'")
    click.echo(f"  curl -H 'Authorization: Bearer {issued['auditor']}' '{base}/flags?status=open&code=MOCK_LOCATION'")
    click.echo(
        f"  curl -X POST -H 'Authorization: Bearer {issued['auditor']}' -H 'Content-Type: application/json' "
        f'-d \'{{"decision": "dismiss", "note": "GPS test app left on; positions match her '
        f"check-ins\"}}' "
        f"'{base}/flags/{flag_id}/review'"
    )
    click.echo(f"  curl -H 'Authorization: Bearer {issued['scorer']}' '{base}/credits?after=0&limit=100'")
    click.echo(f"  curl -H 'Authorization: Bearer {issued['auditor']}' '{base}/audit/verify'")
    click.echo(f"  curl '{base}/openapi.json'")
    store.dispose()
    if not no_serve:
        _serve(
            create_app({"DATABASE_URL": url, "NOW": now, "AUDIT_KEY": str(key_path)}), sockets, host, port, threads=8
        )
