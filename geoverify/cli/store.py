"""The store's commands: ``db upgrade``, ``load``, ``reverify`` and ``credits`` (settle, export)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import click

from geoverify.cli.options import database_option, open_store
from geoverify.errors import UploadTooLarge
from geoverify.schema import COORDINATE_SYSTEMS

UPLOAD_SUFFIXES = {".csv", ".gpx", ".geojson", ".json", ".gpkg", ".parquet"}


def load_file(store, kind: str, path: Path, **params) -> dict:
    """Upload one local file of ``kind`` (grids, tracks, events, sites) as the command line's actor."""
    from geoverify.store.ingest import upload

    suffix = path.suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise click.BadParameter(f"{path}: cannot tell the format; use .csv, .gpx, .geojson, .gpkg or .parquet")
    return upload(
        store, kind, path.read_bytes(), suffix=suffix, params=params, actor="cli", filename=path.name, wait=math.inf
    )


def summary_line(path: Path, result: dict) -> str:
    """One line saying what loading ``path`` read, changed and verified."""
    keys = [
        k
        for k in (
            "grids_read",
            "events_read",
            "sites_read",
            "fixes_read",
            "accepted",
            "created",
            "updated",
            "unchanged",
            "rejected",
        )
        if k in result
    ]
    figures = ", ".join(f"{k}={result[k]}" for k in keys)
    changed = sum(1 for p in result["patrols"] if p.get("changed"))
    return (
        f"{path}: {figures}; {len(result['patrols'])} patrol(s) verified ({changed} changed), "
        f"{result['ledger_entries']} ledger entr{'y' if result['ledger_entries'] == 1 else 'ies'}"
        f"{' (repeat: nothing changed)' if result['replayed'] else ''}"
    )


#: Track files smaller than this are loaded as one upload without looking inside first.
BIG_FILE_BYTES = 16 << 20


def _load_big_tracks(store, path: Path, crs: str | None, member_id: str | None, check_size: bool = True) -> dict | None:
    """Load a local track file of more fixes than one upload takes, in parts, with a progress bar on a
    terminal (:func:`geoverify.store.ingest.load_large_tracks`); None for a file one upload takes."""
    if check_size and path.stat().st_size < BIG_FILE_BYTES:
        return None
    from geoverify.io.tracks import read_track_file
    from geoverify.store.ingest import load_large_tracks

    frame = read_track_file(path, tz=store.tz, crs=crs or "wgs84", member_id=member_id)
    if len(frame) <= store.max_fixes_per_upload:
        return None
    with click.progressbar(
        length=len(frame), label=f"{path.name}: storing {len(frame):,} fixes", file=sys.stderr
    ) as bar:
        return load_large_tracks(store, frame, actor="cli", source=path.name, progress=bar.update)


@click.group()
def db() -> None:
    """The store's database."""


@db.command("upgrade")
@database_option
def db_upgrade(database_url):
    """Create the store or apply new schema migrations (data is kept)."""
    from geoverify.store.db import current_revision, make_engine, upgrade

    engine = make_engine(database_url)
    try:
        before = current_revision(engine)
        upgrade(engine)
        click.echo(f"{database_url}: schema {before or '(empty)'} -> {current_revision(engine)}")
    finally:
        engine.dispose()


@click.group()
def load() -> None:
    """Load grids, tracks, events or sites into the store (verifies what they affect)."""


def _load_command(kind: str, many: bool):
    @load.command(kind, help=f"Load {kind} from {'a file or a folder of files' if many else 'a file'}.")
    @click.argument("path", type=click.Path(exists=True, path_type=Path))
    @click.option("--crs", type=click.Choice(COORDINATE_SYSTEMS), default=None)
    @(click.option("--member-id", default=None, help="Member id of GPX tracks.") if kind == "tracks" else (lambda f: f))
    @click.option("--now", "now", default=None, help="Verification time (ISO 8601); default now.")
    @database_option
    def command(path, crs, now, database_url, member_id=None):
        from geoverify.io.tracks import track_files

        store = open_store(database_url, now)
        files = track_files(path) if many else [path]
        for file in files:
            params = {"crs": crs, "member_id": member_id} if kind == "tracks" else {"crs": crs}
            result = kind == "tracks" and _load_big_tracks(store, file, crs, member_id)
            if not result:
                try:
                    result = load_file(store, kind, file, **params)
                except UploadTooLarge:  # a compact format (Parquet) under the size check
                    result = _load_big_tracks(store, file, crs, member_id, check_size=False)
            if not result:  # not reached: without the size check a track file is always loaded in parts
                raise click.ClickException(f"{file}: nothing was loaded")
            click.echo(summary_line(file, result))

    return command


for kind in ("grids", "tracks", "events", "sites"):
    _load_command(kind, many=kind == "tracks")


@click.command()
@click.option("--date-from", default=None, help="First local date (YYYY-MM-DD).")
@click.option("--date-to", default=None, help="Last local date (YYYY-MM-DD).")
@click.option("--now", "now", default=None, help="Verification time (ISO 8601); default now.")
@database_option
def reverify(date_from, date_to, now, database_url):
    """Re-verify stored patrols with the current rules (after a rules change)."""
    from geoverify.store.worker import reverify_stored

    totals = reverify_stored(open_store(database_url, now), date_from=date_from, date_to=date_to)
    click.echo(
        f"rules {totals['rule_version']}: {totals['dates']} date(s), {totals['patrols']} patrol(s) "
        f"re-verified, {totals['changed']} changed, {totals['ledger_entries']} ledger entries"
    )


@click.group()
def credits() -> None:
    """The credit ledger."""


@credits.command("settle")
@click.option("--now", default=None, help="Settle as of this time (ISO 8601); default the clock.")
@database_option
def credits_settle(now, database_url):
    """Write the ledger entries of every day that has settled (the service also does this on its own)."""
    from geoverify.store.verification import settle

    entries = settle(open_store(database_url, now=now), actor="cli")
    click.echo(f"{len(entries)} ledger entries appended")


@credits.command("export")
@click.option("--after", default=0, type=click.IntRange(min=0), help="Export entries with seq > N.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
@database_option
def credits_export(after, output, database_url):
    """Write ledger entries as JSON Lines (one entry per line, seq order); prints the next cursor."""
    from geoverify.store import ledger
    from geoverify.store.verification import settle

    store = open_store(database_url)
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
