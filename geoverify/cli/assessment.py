"""``geoverify assessment``: the monthly or quarterly assessment over the store (see
docs/assessment.md), as JSON, CSV or XLSX. Added to the ``geoverify`` group in
:mod:`geoverify.cli.main`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from geoverify.cli.options import database_option, open_store


@click.command()
@click.option("--period", required=True, metavar="YYYY-MM|YYYY-Qn", help="A month (2026-11) or a quarter (2026-Q4).")
@click.option("--grid-id", default=None, help="Only this grid.")
@click.option("--member-id", default=None, help="Only this member.")
@click.option("--format", "fmt", type=click.Choice(["json", "csv", "xlsx"]), default="json", show_default=True)
@click.option(
    "--lang",
    type=click.Choice(["zh-CN", "en"]),
    default="zh-CN",
    show_default=True,
    help="Language of the CSV and XLSX headers.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write to this file (required for xlsx); default standard output.",
)
@click.option("--now", default=None, help="The store's clock (ISO 8601), for settling and 'today'; default now.")
@database_option
def assessment(period, grid_id, member_id, fmt, lang, output, now, database_url):
    """Per member and grid: days meeting the daily time, points, sites visited in the quarter, overdue sites."""
    from geoverify.assessment.export import to_csv, to_xlsx
    from geoverify.assessment.figures import parse_period
    from geoverify.store.assessment import assessment as assess_store
    from geoverify.store.verification import settle

    try:
        chosen = parse_period(period)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--period") from None
    if fmt == "xlsx" and output is None:
        raise click.BadParameter("an XLSX workbook is binary: name a file with -o", param_hint="--format")
    store = open_store(database_url, now)
    try:
        settle(store, actor="cli")  # days that have settled enter the ledger first
        report = assess_store(store, chosen, grid_id=grid_id, member_id=member_id)
    finally:
        store.dispose()
    if fmt == "json":
        data = (json.dumps(report, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    else:
        data = to_csv(report, lang) if fmt == "csv" else to_xlsx(report, lang)
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        output.write_bytes(data)
        totals = report["totals"]
        click.echo(
            f"{output}: {len(report['rows'])} rows, {totals['members']} members, {totals['grids']} grids, "
            f"{totals['days_met']} days meeting the daily time, {totals['points']} points",
            err=True,
        )
