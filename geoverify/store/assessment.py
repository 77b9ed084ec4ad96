"""The assessment's inputs read from the store, in one snapshot; the figures are computed by
:func:`geoverify.assessment.figures.assess` (no SQL there, none in the views).

``grid_scope`` is the set of grid ids a supervisor may see (None: every grid, and the patrols of
members assigned to no grid too).
"""

from __future__ import annotations

import json

import pandas as pd
from sqlalchemy import Connection, func, select

from geoverify.assessment.figures import GridInfo, Period, assess
from geoverify.errors import NotFound
from geoverify.store.db import Store
from geoverify.store.schema import grids, ledger, patrols, sites

# Patrol documents are stored as json.dumps(…, sort_keys=True) (verification._store_patrol): this is how
# a patrol without site visits spells them. Only an optimisation: another spelling is read and parsed.
NO_VISITS = '"site_visits": []'


def _grids(conn: Connection, grid_scope: frozenset | None, grid_id: str | None) -> list[GridInfo]:
    query = select(grids.c.grid_id, grids.c.name, grids.c.grid_type, grids.c.members).order_by(grids.c.grid_id)
    if grid_scope is not None:
        query = query.where(grids.c.grid_id.in_(sorted(grid_scope)))
    if grid_id is not None:
        query = query.where(grids.c.grid_id == grid_id)
    found = [
        GridInfo(r.grid_id, r.name, r.grid_type, tuple(str(m) for m in json.loads(r.members)))
        for r in conn.execute(query)
    ]
    if grid_id is not None and not found:
        raise NotFound(f"no grid {grid_id!r}; GET /api/v1/grids lists the grids you can see")
    return found


def _where_grid(query, column, grid_ids: list[str] | None, with_no_grid: bool):
    """Rows of the grids assessed: all (None) and those with no grid when ``with_no_grid``."""
    if grid_ids is None:
        return query if with_no_grid else query.where(column.is_not(None))
    return query.where(column.in_(grid_ids) | column.is_(None)) if with_no_grid else query.where(column.in_(grid_ids))


def read_inputs(
    conn: Connection,
    period: Period,
    as_of_today: str,
    *,
    grid_scope: frozenset | None = None,
    grid_id: str | None = None,
    member_id: str | None = None,
) -> dict:
    """Grids, patrols, ledger sums, sites and site visits the assessment of ``period`` needs.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        A read transaction (one snapshot).
    period : Period
    as_of_today : str
        Local date today (ISO): visits after it are not read.
    grid_scope, grid_id, member_id
        The caller's grids (None: all), one grid, one member.

    Returns
    -------
    dict
        ``grids`` (list of GridInfo), ``patrols``, ``ledger``, ``sites``, ``visits`` (DataFrames as
        :func:`geoverify.assessment.figures.assess` takes them; ``patrols`` without ``settled``).

    Raises
    ------
    geoverify.errors.NotFound
        When ``grid_id`` is no grid the caller may see.
    """
    first, last = period.start.isoformat(), period.end.isoformat()
    known = _grids(conn, grid_scope, grid_id)
    unscoped = grid_scope is None and grid_id is None
    if member_id is not None:
        mine = {
            g
            for (g,) in conn.execute(
                select(patrols.c.grid_id)
                .distinct()
                .where(patrols.c.member_id == member_id, patrols.c.date >= first, patrols.c.date <= last)
            )
        }
        mine |= {
            g
            for (g,) in conn.execute(
                select(ledger.c.grid_id)
                .distinct()
                .where(ledger.c.member_id == member_id, ledger.c.date >= first, ledger.c.date <= last)
            )
        }
        known = [g for g in known if member_id in g.members or g.grid_id in mine]
    grid_ids = None if unscoped and member_id is None else [g.grid_id for g in known]

    query = select(
        patrols.c.member_id, patrols.c.grid_id, patrols.c.date, patrols.c.verified_s, patrols.c.points
    ).where(patrols.c.date >= first, patrols.c.date <= last)
    query = _where_grid(query, patrols.c.grid_id, grid_ids, unscoped)
    if member_id is not None:
        query = query.where(patrols.c.member_id == member_id)
    patrol_rows = pd.DataFrame(
        conn.execute(query).all(), columns=["member_id", "grid_id", "date", "verified_s", "points"]
    )

    sums = (
        select(ledger.c.member_id, ledger.c.grid_id, ledger.c.date, func.sum(ledger.c.points))
        .where(ledger.c.date >= first, ledger.c.date <= last)
        .group_by(ledger.c.member_id, ledger.c.grid_id, ledger.c.date)
    )
    sums = _where_grid(sums, ledger.c.grid_id, grid_ids, unscoped)
    if member_id is not None:
        sums = sums.where(ledger.c.member_id == member_id)
    ledger_rows = pd.DataFrame(conn.execute(sums).all(), columns=["member_id", "grid_id", "date", "points"])

    of_sites = select(sites.c.site_id, sites.c.grid_id, sites.c.tier).order_by(sites.c.site_id)
    if grid_ids is not None:
        of_sites = of_sites.where(sites.c.grid_id.in_(grid_ids))
    site_rows = pd.DataFrame(conn.execute(of_sites).all(), columns=["site_id", "grid_id", "tier"])

    visits = []
    if len(site_rows):
        documents = select(patrols.c.member_id, patrols.c.date, patrols.c.document).where(
            patrols.c.date >= period.visits_from.isoformat(),
            patrols.c.date <= min(last, as_of_today),
            patrols.c.grid_id.is_not(None),
            ~patrols.c.document.contains(NO_VISITS, autoescape=True),
        )
        if grid_ids is not None:
            documents = documents.where(patrols.c.grid_id.in_(grid_ids))
        for row in conn.execute(documents):
            visits += [
                (v["site_id"], row.member_id, row.date, v.get("end"))
                for v in json.loads(row.document).get("site_visits", ())
            ]
    return {
        "grids": known,
        "patrols": patrol_rows,
        "ledger": ledger_rows,
        "sites": site_rows,
        "visits": pd.DataFrame(visits, columns=["site_id", "member_id", "date", "end"]),
    }


def assessment(
    store: Store,
    period: Period,
    *,
    grid_scope: frozenset | None = None,
    grid_id: str | None = None,
    member_id: str | None = None,
) -> dict:
    """The assessment of ``period`` over the store (see :func:`geoverify.assessment.figures.assess`).

    Points are the ledger's as written: call :func:`geoverify.store.verification.settle` first so
    that every day that has settled is in it; ``points_provisional`` holds the current credit of
    the days that have not settled (:meth:`Store.settled`). Overdue sites are counted on the
    period's last day, or today (the store's clock, local) while the period runs.
    """
    today = store.now().tz_convert(store.tz).date()
    with store.read() as conn:
        inputs = read_inputs(
            conn, period, today.isoformat(), grid_scope=grid_scope, grid_id=grid_id, member_id=member_id
        )
    frame = inputs["patrols"]
    settled = {d: store.settled(d) for d in set(frame["date"])}
    frame["settled"] = [settled[d] for d in frame["date"]]
    return assess(
        period,
        inputs["grids"],
        frame,
        inputs["ledger"],
        inputs["sites"],
        inputs["visits"],
        store.rules,
        today=today,
        member_id=member_id,
    )
