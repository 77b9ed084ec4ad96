"""The ``geoverify`` command line."""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import click
import pandas as pd

from geoverify import __version__, samples
from geoverify.errors import GeoverifyError, GeoverifyWarning
from geoverify.io.times import check_tz
from geoverify.schema import COORDINATE_SYSTEMS
from geoverify.settings import configured_rules_path, configured_tz

EXIT_BAD_INPUT = 2


class _Group(click.Group):
    """Turns geoverify's own errors into a one-line message and exit status 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except GeoverifyError as exc:
            click.echo(f"geoverify: error: {exc}", err=True)
            ctx.exit(EXIT_BAD_INPUT)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="geoverify")
def main() -> None:
    """Verify grid workers' GPS patrols against grid polygons (see README.md)."""


def _parse_now(value: str | None, tz: str) -> pd.Timestamp | None:
    if value is None:
        return None
    from geoverify.io.times import parse_times

    parsed = parse_times([value], tz).iloc[0]
    if pd.isna(parsed):
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time", param_hint="--now")
    return parsed


@main.command()
@click.option(
    "--grids",
    "grids_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Grid polygons: GeoJSON, GeoPackage or Shapefile.",
)
@click.option(
    "--tracks",
    "tracks_path",
    required=True,
    type=click.Path(path_type=Path),
    help="A track file (CSV, GPX, GeoJSON, Parquet) or a folder of them.",
)
@click.option(
    "--events",
    "events_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Event reports (CSV or GeoJSON) to check against the tracks.",
)
@click.option(
    "--sites",
    "sites_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Sites (CSV or GeoJSON): households and key points whose visits are counted.",
)
@click.option(
    "--rules",
    "rules_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=configured_rules_path,
    help="Rules TOML file (default: $GEOVERIFY_RULES or built in).",
)
@click.option(
    "--tz",
    default=configured_tz,
    show_default="$GEOVERIFY_TZ or Asia/Shanghai",
    help="IANA zone for naive times, local dates and output offsets.",
)
@click.option(
    "--crs",
    type=click.Choice(COORDINATE_SYSTEMS),
    default="wgs84",
    show_default=True,
    help="Coordinate system of tracks, events and sites that do not declare their own.",
)
@click.option(
    "--grids-crs",
    type=click.Choice(COORDINATE_SYSTEMS),
    default=None,
    help="Coordinate system of a lon/lat grid file drawn on a Chinese map.",
)
@click.option("--member-id", default=None, help="Member id for GPX tracks (default: the file name's stem).")
@click.option(
    "--now", "now_text", default=None, help="Verification time (ISO 8601) for the 'future' rejection; default: now."
)
@click.option("--format", "fmt", type=click.Choice(["json", "table"]), default="json", show_default=True)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the result here instead of standard output.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    show_default="all cores; 1 below 200,000 fixes",
    help="Local processes to spread the patrols over (1: in this process). Same result for any number.",
)
@click.option(
    "--engine",
    type=click.Choice(["local", "dask"]),
    default="local",
    show_default=True,
    help="'dask': spread the patrols over a Dask cluster (--scheduler); --tracks must then be a "
    "folder written by 'geoverify partition', on storage every worker reads at the same path.",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDRESS",
    help="Dask scheduler address for --engine dask, e.g. tcp://10.0.0.5:8786.",
)
@click.option(
    "--scheduler-timeout",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    help="Seconds to wait for the Dask scheduler.",
)
@click.option(
    "--stats",
    is_flag=True,
    help="Print how the batch ran to standard error: parts, workers, CPU seconds, fixes/s per worker.",
)
def verify(
    grids_path,
    tracks_path,
    events_path,
    sites_path,
    rules_path,
    tz,
    crs,
    grids_crs,
    member_id,
    now_text,
    fmt,
    output,
    workers,
    engine,
    scheduler,
    scheduler_timeout,
    stats,
) -> None:
    """Verify patrols in one batch: no server or database needed."""
    from geoverify.cli.report import to_json, to_table
    from geoverify.engines.batch import batch_context
    from geoverify.engines.parallel import default_workers, verify_dask, verify_local
    from geoverify.io import read_events, read_grids, read_sites, read_tracks
    from geoverify.io.partitioned import is_partitioned, open_partitioned
    from geoverify.rules import load_rules

    check_tz(tz)
    now = _parse_now(now_text, tz)
    partitioned = is_partitioned(tracks_path)
    if engine == "dask":
        if scheduler is None:
            raise click.BadParameter(
                "--engine dask needs --scheduler ADDRESS (e.g. tcp://10.0.0.5:8786)", param_hint="--scheduler"
            )
        if workers is not None:
            raise click.BadParameter(
                "--workers is for --engine local; a Dask cluster's size is its workers'", param_hint="--workers"
            )
        if not partitioned:
            raise click.BadParameter(
                f"{tracks_path}: --engine dask reads a partitioned fix table; write one with "
                f"'geoverify partition --tracks {tracks_path} --out DIR' and pass --tracks DIR",
                param_hint="--tracks",
            )
    elif scheduler is not None:
        raise click.BadParameter("--scheduler needs --engine dask", param_hint="--scheduler")
    if partitioned and member_id is not None:
        raise click.BadParameter(
            "--member-id applies when reading GPX, not to a partitioned table", param_hint="--member-id"
        )
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", GeoverifyWarning)
        rules = load_rules(rules_path)
        grids = read_grids(grids_path, crs=grids_crs)
        fixes = (
            open_partitioned(tracks_path)
            if partitioned
            else read_tracks(tracks_path, tz=tz, crs=crs, member_id=member_id)
        )
        events = read_events(events_path, tz=tz, crs=crs) if events_path is not None else None
        sites = read_sites(sites_path, crs=crs) if sites_path is not None else None
        ctx = batch_context(grids, rules=rules, tz=tz, now=now, events=events, sites=sites)
        if engine == "dask":
            result = verify_dask(
                fixes,  # type: ignore[arg-type]  # partitioned, above
                ctx,
                scheduler=scheduler,
                timeout_s=scheduler_timeout,
                events=events,
            )
        else:
            n = len(fixes) if isinstance(fixes, pd.DataFrame) else fixes.fixes
            result = verify_local(fixes, ctx, workers=workers or default_workers(n), events=events)
    result.warnings[:0] = [str(w.message) for w in caught if issubclass(w.category, GeoverifyWarning)]
    text = to_json(result, tz) + "\n" if fmt == "json" else to_table(result, tz)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {len(result.patrols)} patrol(s) to {output}", err=True)
    if stats:
        click.echo(_stats_line(result, time.perf_counter() - started), err=True)


def _stats_line(result, wall_s: float) -> str:
    s, n = result.stats, result.summary["fixes_read"]
    per_core = n / s["member_cpu_s"] if s.get("member_cpu_s") else float("nan")
    return (
        f"stats: engine {s.get('engine')}, {s.get('workers')} worker(s), {s.get('parts')} part(s), "
        f"{n} fixes; per-member phase {s.get('member_cpu_s', 0):.2f} CPU s in the workers "
        f"({per_core:,.0f} fixes/s per worker core), cross-patrol phase {s.get('cross_cpu_s', 0):.2f} CPU s; "
        f"wall {wall_s:.2f} s"
    )


@main.command()
@click.option(
    "--grids",
    "grids_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=samples.GRIDS,
    show_default="the sample grids (grids/dongcheng_sample.geojson)",
    help="Grids to patrol.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to write the sample tracks into.",
)
@click.option("--date", default="2026-11-02", show_default=True, help="Local date of the patrols.")
@click.option("--seed", default=20261102, show_default=True, type=int)
def simulate(grids_path, out_dir, date, seed) -> None:
    """Write simulated sample tracks: an honest patrol and one for each anomaly."""
    from geoverify.simulation.samples import write_samples

    out_dir.mkdir(parents=True, exist_ok=True)
    for path in write_samples(grids_path, out_dir, date=date, seed=seed):
        click.echo(str(path))


@main.command()
@click.option(
    "--grids",
    "grids_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Grid polygons: GeoJSON, GeoPackage or Shapefile.",
)
@click.option(
    "--tracks", "tracks_path", required=True, type=click.Path(path_type=Path), help="A track file or a folder of them."
)
@click.option(
    "--sites",
    "sites_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Sites (CSV or GeoJSON) with grid_id and tier.",
)
@click.option(
    "--from", "date_from", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First local date of the period."
)
@click.option(
    "--to",
    "date_to",
    required=True,
    type=click.DateTime(["%Y-%m-%d"]),
    help="Last local date of the period (included).",
)
@click.option("--rules", "rules_path", type=click.Path(dir_okay=False, path_type=Path), default=configured_rules_path)
@click.option("--tz", default=configured_tz, show_default="$GEOVERIFY_TZ or Asia/Shanghai")
@click.option("--crs", type=click.Choice(COORDINATE_SYSTEMS), default="wgs84", show_default=True)
@click.option("--grids-crs", type=click.Choice(COORDINATE_SYSTEMS), default=None)
@click.option("--member-id", default=None)
@click.option(
    "--now", "now_text", default=None, help="Verification time (ISO 8601) for the 'future' rejection; default: now."
)
@click.option("--format", "fmt", type=click.Choice(["json", "table"]), default="json", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True, path_type=Path))
def visits(
    grids_path,
    tracks_path,
    sites_path,
    date_from,
    date_to,
    rules_path,
    tz,
    crs,
    grids_crs,
    member_id,
    now_text,
    fmt,
    output,
) -> None:
    """Site visits and each site's visit schedule (red weekly, yellow fortnightly, green monthly)."""
    import json

    from geoverify.assessment.schedule import format_visits_table, visits_report
    from geoverify.engines.batch import verify_batch
    from geoverify.io import read_grids, read_sites, read_tracks
    from geoverify.measures.sites import patrol_visits
    from geoverify.rules import load_rules

    check_tz(tz)
    if date_from > date_to:
        raise click.BadParameter(f"--from {date_from:%Y-%m-%d} is after --to {date_to:%Y-%m-%d}", param_hint="--from")
    now = _parse_now(now_text, tz)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", GeoverifyWarning)
        grids = read_grids(grids_path, crs=grids_crs)
        fixes = read_tracks(tracks_path, tz=tz, crs=crs, member_id=member_id)
        sites = read_sites(sites_path, crs=crs)
        result = verify_batch(grids, fixes, rules=load_rules(rules_path), tz=tz, now=now, sites=sites)
    report = visits_report(grids, sites, patrol_visits(result.patrols), date_from.date(), date_to.date(), tz=tz)
    report["warnings"][:0] = [
        str(w.message) for w in caught if issubclass(w.category, GeoverifyWarning)
    ] + result.warnings
    text = json.dumps(report, ensure_ascii=False, indent=2) + "\n" if fmt == "json" else format_visits_table(report)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")


@main.command()
@click.option(
    "--tracks",
    "tracks_path",
    required=True,
    type=click.Path(path_type=Path),
    help="A track file (CSV, GPX, GeoJSON, Parquet) or a folder of them.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A new (or empty) folder to write the partitioned GeoParquet table into.",
)
@click.option(
    "--buckets",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="Member buckets: the most tasks a batch can be spread over.",
)
@click.option(
    "--grids",
    "grids_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Grids: bucket members by their grid, so that each grid's rasters are built by one task.",
)
@click.option(
    "--grids-crs",
    type=click.Choice(COORDINATE_SYSTEMS),
    default=None,
    help="Coordinate system of a lon/lat grid file drawn on a Chinese map.",
)
@click.option(
    "--tz",
    default=configured_tz,
    show_default="$GEOVERIFY_TZ or Asia/Shanghai",
    help="IANA zone for naive times and the date level of the layout.",
)
@click.option(
    "--crs",
    type=click.Choice(COORDINATE_SYSTEMS),
    default="wgs84",
    show_default=True,
    help="Coordinate system of tracks that do not declare their own.",
)
@click.option("--member-id", default=None, help="Member id for GPX tracks (default: the file name's stem).")
def partition(tracks_path, out_dir, buckets, grids_path, grids_crs, tz, crs, member_id) -> None:
    """Write tracks as hive-partitioned GeoParquet (bucket=NNN/date=YYYY-MM-DD) for --workers or --engine dask."""
    from geoverify.engines.batch import member_grids
    from geoverify.io import read_grids
    from geoverify.io.partitioned import track_chunks, write_partitioned

    check_tz(tz)
    group_of = None
    if grids_path is not None:
        with warnings.catch_warnings():  # the grids' warnings come again when verify reads them
            warnings.simplefilter("ignore", GeoverifyWarning)
            group_of = {m: g[0].grid_id for m, g in member_grids(read_grids(grids_path, crs=grids_crs)).items()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", GeoverifyWarning)
        dataset = write_partitioned(
            track_chunks(tracks_path, tz=tz, crs=crs, member_id=member_id),
            out_dir,
            buckets=buckets,
            tz=tz,
            group_of=group_of,
        )
    for w in caught:
        if issubclass(w.category, GeoverifyWarning):
            click.echo(f"geoverify: warning: {w.message}", err=True)
    files = sum(len(p) for p in dataset.parts)
    click.echo(
        f"wrote {dataset.fixes} fixes in {len(dataset.parts)} bucket(s), {files} file(s), to {out_dir}", err=True
    )


@main.group()
def rules() -> None:
    """Show or check verification rules."""


@rules.command("show")
@click.option(
    "--rules",
    "rules_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=configured_rules_path,
    help="A rules file (default: $GEOVERIFY_RULES or built in).",
)
def rules_show(rules_path) -> None:
    """Print the rules in force as a TOML rules file (the built-in defaults without --rules)."""
    from geoverify.rules import load_rules, rules_to_toml

    sys.stdout.write(rules_to_toml(load_rules(rules_path)))


# The service's commands (store, tokens, audit, serve, demo) live in their own module.
# The store's, the service's, the tokens' and audit's, and the assessment's commands (one module each).
from geoverify.cli import assessment, audit, service, store  # noqa: E402 -- beside the add_command calls they serve

for command in (
    store.db,
    store.load,
    store.reverify,
    store.credits,
    audit.token,
    audit.audit_group,
    assessment.assessment,
    service.serve,
    service.worker,
    service.demo,
):
    main.add_command(command)
