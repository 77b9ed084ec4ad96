"""Command-line commands of the store and the HTTP service: ``db``, ``token``, ``audit`` (in
:mod:`geoverify.audit_cli`), ``load``, ``credits``, ``serve`` and ``demo``. Attached to the
``geoverify`` group by :func:`register`."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import click

from .errors import UploadTooLarge
from .settings import configured_max_fixes_per_upload, configured_rules_path, configured_tz

DEMO_NOW = "2026-11-03T02:00:00+08:00"  # the sample day is verified as past and its credit settled
UPLOAD_SUFFIXES = {".csv", ".gpx", ".geojson", ".json", ".gpkg", ".parquet"}


def _database_option(func):
    from .store import configured_database_url

    return click.option("--database-url", "database_url", default=configured_database_url,
                        show_default="$GEOVERIFY_DATABASE_URL or sqlite:///geoverify.db",
                        help="SQLAlchemy URL of the store.")(func)


def _shown_url(url: str) -> str:
    """A database URL fit to print (password hidden)."""
    from sqlalchemy import make_url

    return make_url(url).render_as_string(hide_password=True)


def _open(database_url: str, now: str | None = None, audit_key: str | None = None):
    from .store import Store

    store = Store.open(database_url, tz=configured_tz(), rules_path=configured_rules_path(), now=now,
                       audit_key=audit_key)
    limit = configured_max_fixes_per_upload()
    if limit is not None:
        store.max_fixes_per_upload = limit
    context = click.get_current_context(silent=True)
    if context is not None:  # closed when the command ends, however it ends (its pool's connections too)
        context.call_on_close(store.dispose)
    return store


def _load_file(store, kind: str, path: Path, **params) -> dict:
    from .store.ingest import upload

    suffix = path.suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise click.BadParameter(f"{path}: cannot tell the format; use .csv, .gpx, .geojson, .gpkg or .parquet")
    return upload(store, kind, path.read_bytes(), suffix=suffix, params=params, actor="cli", filename=path.name,
                  wait=math.inf)


def _summary(path: Path, result: dict) -> str:
    keys = [k for k in ("grids_read", "events_read", "sites_read", "fixes_read", "accepted", "created", "updated",
                        "unchanged", "rejected") if k in result]
    figures = ", ".join(f"{k}={result[k]}" for k in keys)
    changed = sum(1 for p in result["patrols"] if p.get("changed"))
    return (f"{path}: {figures}; {len(result['patrols'])} patrol(s) verified ({changed} changed), "
            f"{result['ledger_entries']} ledger entr{'y' if result['ledger_entries'] == 1 else 'ies'}"
            f"{' (repeat: nothing changed)' if result['replayed'] else ''}")


#: Track files smaller than this are loaded as one upload without looking inside first.
BIG_FILE_BYTES = 16 << 20


def _load_big_tracks(store, path: Path, crs: str | None, member_id: str | None,
                     check_size: bool = True) -> dict | None:
    """Load a local track file of more fixes than one upload takes, in parts, with a progress bar on a
    terminal (:func:`geoverify.store.ingest.load_large_tracks`); None for a file one upload takes."""
    if check_size and path.stat().st_size < BIG_FILE_BYTES:
        return None
    from .io.tracks import read_track_file
    from .store.ingest import load_large_tracks

    frame = read_track_file(path, tz=store.tz, crs=crs or "wgs84", member_id=member_id)
    if len(frame) <= store.max_fixes_per_upload:
        return None
    with click.progressbar(length=len(frame), label=f"{path.name}: storing {len(frame):,} fixes",
                           file=sys.stderr) as bar:
        return load_large_tracks(store, frame, actor="cli", source=path.name, progress=bar.update)


def load_samples(store, echo=click.echo) -> None:
    """Load the shipped sample grids, tracks, events and sites (:mod:`geoverify.samples`, package
    data: found wherever geoverify is installed) into ``store``."""
    from . import samples
    from .io.tracks import track_files

    for kind, paths in (("grids", [samples.GRIDS]), ("tracks", track_files(samples.TRACKS)),
                        ("events", [samples.EVENTS]), ("sites", [samples.SITES])):
        for path in paths:
            echo(_summary(path.relative_to(samples.ROOT), _load_file(store, kind, path)))


def _announce(host: str, port: int, threads: int, processes: int = 1) -> None:
    workers = f"{processes} processes of {threads} threads" if processes > 1 else f"{threads} threads"
    click.echo(f"geoverify: serving on http://{host}:{port}/api/v1 and the map page on http://{host}:{port}/map "
               f"(waitress, {workers}); Ctrl-C stops",
               err=True)


class ListenFailed(click.ClickException):
    """The service cannot listen where asked (e.g. the port is in use): a message and exit status 2."""

    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"geoverify: error: {self.format_message()}", err=True)


def _listen(host: str, port: int) -> list:
    """Listening sockets on ``host:port`` (:func:`api.server.listen`), bound before anything slow;
    :class:`ListenFailed` (exit 2) when the port is in use or cannot be used."""
    from api.server import ListenError, listen

    try:
        return listen(host, port)
    except ListenError as exc:
        raise ListenFailed(str(exc)) from None


def _serve(app, sockets: list, host: str, port: int, threads: int, workers: int = 1) -> None:
    from api.server import serve

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


def register(main: click.Group) -> None:
    """Add the store and service commands to the ``geoverify`` group."""

    @main.group()
    def db() -> None:
        """The store's database."""

    @db.command("upgrade")
    @_database_option
    def db_upgrade(database_url):
        """Create the store or apply new schema migrations (data is kept)."""
        from .store.db import current_revision, make_engine, upgrade

        engine = make_engine(database_url)
        try:
            before = current_revision(engine)
            upgrade(engine)
            click.echo(f"{database_url}: schema {before or '(empty)'} -> {current_revision(engine)}")
        finally:
            engine.dispose()

    from .audit_cli import register as register_tokens_and_audit

    register_tokens_and_audit(main)

    from .assessment_cli import register as register_assessment

    register_assessment(main)

    @main.group()
    def load() -> None:
        """Load grids, tracks, events or sites into the store (verifies what they affect)."""

    def _load_command(kind: str, many: bool):
        @load.command(kind)
        @click.argument("path", type=click.Path(exists=True, path_type=Path))
        @click.option("--crs", type=click.Choice(["wgs84", "gcj02", "bd09"]), default=None)
        @(click.option("--member-id", default=None, help="Member id of GPX tracks.") if kind == "tracks"
          else (lambda f: f))
        @click.option("--now", "now", default=None, help="Verification time (ISO 8601); default now.")
        @_database_option
        def command(path, crs, now, database_url, member_id=None):
            from .io.tracks import track_files

            store = _open(database_url, now)
            files = track_files(path) if many else [path]
            for file in files:
                params = {"crs": crs, "member_id": member_id} if kind == "tracks" else {"crs": crs}
                result = kind == "tracks" and _load_big_tracks(store, file, crs, member_id)
                if not result:
                    try:
                        result = _load_file(store, kind, file, **params)
                    except UploadTooLarge:   # a compact format (Parquet) under the size check
                        result = _load_big_tracks(store, file, crs, member_id, check_size=False)
                click.echo(_summary(file, result))

        command.__doc__ = f"Load {kind} from {'a file or a folder of files' if many else 'a file'}."
        return command

    for kind in ("grids", "tracks", "events", "sites"):
        _load_command(kind, many=kind == "tracks")

    @main.command()
    @click.option("--date-from", default=None, help="First local date (YYYY-MM-DD).")
    @click.option("--date-to", default=None, help="Last local date (YYYY-MM-DD).")
    @click.option("--now", "now", default=None, help="Verification time (ISO 8601); default now.")
    @_database_option
    def reverify(date_from, date_to, now, database_url):
        """Re-verify stored patrols with the current rules (after a rules change)."""
        from .store.verification import reverify_stored

        totals = reverify_stored(_open(database_url, now), date_from=date_from, date_to=date_to)
        click.echo(f"rules {totals['rule_version']}: {totals['dates']} date(s), {totals['patrols']} patrol(s) "
                   f"re-verified, {totals['changed']} changed, {totals['ledger_entries']} ledger entries")

    @main.group()
    def credits() -> None:
        """The credit ledger."""

    @credits.command("settle")
    @click.option("--now", default=None, help="Settle as of this time (ISO 8601); default the clock.")
    @_database_option
    def credits_settle(now, database_url):
        """Write the ledger entries of every day that has settled (the service also does this on its own)."""
        from .store.verification import settle

        entries = settle(_open(database_url, now=now), actor="cli")
        click.echo(f"{len(entries)} ledger entries appended")

    @credits.command("export")
    @click.option("--after", default=0, type=click.IntRange(min=0), help="Export entries with seq > N.")
    @click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
    @_database_option
    def credits_export(after, output, database_url):
        """Write ledger entries as JSON Lines (one entry per line, seq order); prints the next cursor."""
        from .store import ledger
        from .store.verification import settle

        store = _open(database_url)
        settle(store, actor="cli")
        out = output.open("w", encoding="utf-8") if output else sys.stdout
        count, cursor = 0, after
        try:
            while True:
                with store.read() as conn:
                    page = ledger.page(conn, cursor, 1000)
                for entry in page["entries"]:
                    out.write(json.dumps(entry, ensure_ascii=False) + "\n")
                count += len(page["entries"])
                if page["next"] == cursor:
                    break
                cursor = page["next"]
        finally:
            if output:
                out.close()
        click.echo(f"exported {count} entr{'y' if count == 1 else 'ies'}; next cursor: --after {cursor}", err=True)

    @main.command()
    @click.option("--host", default="127.0.0.1", show_default=True)
    @click.option("--port", default=8000, show_default=True, type=int)
    @click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256),
                  help="Waitress worker threads: requests handled at once (more wait in its queue).")
    @click.option("--processes", default=1, show_default=True, type=click.IntRange(1, 64),
                  help="Server processes sharing the port (POSIX): use up to one per core. The upload rate "
                       "limit counts per process unless GEOVERIFY_RATELIMIT_STORAGE_URI names a shared store.")
    @click.option("--workers", default=1, show_default=True, type=click.IntRange(0, 64),
                  help="Verification worker threads in each server process; 0 leaves verification to "
                       "`geoverify worker` processes.")
    def serve(host, port, threads, processes, workers):
        """Run the HTTP API on waitress (configuration from GEOVERIFY_* variables)."""
        from api import create_app
        from api.server import serve_processes

        from .settings import configured_connection_limits

        limits = configured_connection_limits()
        sockets = _listen(host, port)  # before the store is opened or migrated
        _announce(host, port, threads, processes)
        serve_processes(lambda migrate: create_app({"MIGRATE": migrate}), sockets, threads, processes,
                        workers=workers, limits=limits)

    @main.command()
    @click.option("--processes", default=1, show_default=True, type=click.IntRange(1, 64),
                  help="Worker processes to run (up to one per core).")
    @click.option("--batch", default=64, show_default=True, type=click.IntRange(1, 10_000),
                  help="Member-days claimed and verified together.")
    @click.option("--lease", "lease_s", default=120.0, show_default=True, type=click.FloatRange(5, 86_400),
                  help="Seconds a claim lasts: a worker that dies leaves its work to others after this.")
    @click.option("--drain", is_flag=True, help="Stop when no work is left instead of waiting for more.")
    @click.option("--now", "now", default=None, envvar="GEOVERIFY_NOW",
                  help="Verification time (ISO 8601), as the server's GEOVERIFY_NOW; default the clock.")
    @_database_option
    def worker(processes, batch, lease_s, drain, now, database_url):
        """Verify queued member-days (beside `geoverify serve`, on this machine or others sharing the database)."""
        from .store.worker import run_processes

        click.echo(f"geoverify: {processes} verification worker(s) on {_shown_url(database_url)}; Ctrl-C stops",
                   err=True)
        totals = run_processes(lambda: _open(database_url, now), processes=processes, batch=batch, lease_s=lease_s,
                               until_empty=drain)
        click.echo(f"verified {totals['verified']} member-day(s), {totals['discarded']} superseded by newer input, "
                   f"{totals['failed']} failed (left queued)", err=True)

    @main.command()
    @click.option("--db", "db_path", default="demo/geoverify.db", show_default=True,
                  type=click.Path(dir_okay=False, path_type=Path), help="SQLite file (replaced: a fresh demo).")
    @click.option("--host", default="127.0.0.1", show_default=True)
    @click.option("--port", default=8000, show_default=True, type=int)
    @click.option("--now", "now", default=DEMO_NOW, show_default=True,
                  help="Verification time, so that the sample day (2026-11-02) is verified as past and settled.")
    @click.option("--no-serve", is_flag=True, help="Load and print the tokens, then stop.")
    def demo(db_path, host, port, now, no_serve):
        """A fresh store with the sample data loaded, one token per role, then serve."""
        from api import create_app

        from .store import queries, tokens

        sockets = [] if no_serve else _listen(host, port)  # a busy port stops here, before the store is replaced
        db_path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(str(db_path) + suffix).unlink(missing_ok=True)
        url = f"sqlite:///{db_path.resolve()}"
        # The demo signs audit checkpoints with its own key, kept beside the store (made once).
        key_path = db_path.parent / "audit.key"
        if not key_path.exists():
            from .store.checkpoints import generate

            generate(key_path)
        store = _open(url, now, audit_key=str(key_path))
        load_samples(store)
        issued = {}
        with store.write() as conn:
            for role, scopes in (("admin", []), ("uploader", ["M001", "M002"]), ("supervisor", ["DC-01"]),
                                 ("auditor", []), ("scorer", [])):
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
        click.echo(f"(also in {env_file}: `. {env_file}` sets $API and $ADMIN_TOKEN, $UPLOADER_TOKEN, "
                   "$SUPERVISOR_TOKEN, $AUDITOR_TOKEN, $SCORER_TOKEN)")
        click.echo(f"\nmap page: http://{host}:{port}/map  (paste the supervisor or auditor token)")
        click.echo("\ntry:")
        click.echo(f"  curl -H 'Authorization: Bearer {issued['supervisor']}' '{base}/patrols'")
        click.echo(f"  curl -H 'Authorization: Bearer {issued['supervisor']}' '{base}/patrols/M002_20261102/geojson'")
        click.echo(f"  curl -H 'Authorization: Bearer {issued['auditor']}' "
                   f"'{base}/flags?status=open&code=MOCK_LOCATION'")
        click.echo(f"  curl -X POST -H 'Authorization: Bearer {issued['auditor']}' -H 'Content-Type: application/json' "
                   f"-d '{{\"decision\": \"dismiss\", \"note\": \"GPS test app left on; positions match her "
                   f"check-ins\"}}' "
                   f"'{base}/flags/{flag_id}/review'")
        click.echo(f"  curl -H 'Authorization: Bearer {issued['scorer']}' '{base}/credits?after=0&limit=100'")
        click.echo(f"  curl -H 'Authorization: Bearer {issued['auditor']}' '{base}/audit/verify'")
        click.echo(f"  curl '{base}/openapi.json'")
        store.dispose()
        if not no_serve:
            _serve(create_app({"DATABASE_URL": url, "NOW": now, "AUDIT_KEY": str(key_path)}), sockets, host, port,
                   threads=8)
