"""Re-verification: run the pure batch verifier over stored input for some local dates, store
the latest patrols and flags, and bring the ledger in line.

All patrols of an affected date are re-verified together, because checks such as
DUPLICATE_TRACK compare the members of a day. Fixes from the day before and after are read
too (segments that cross midnight), but only patrols of the asked dates are kept.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Iterable

import numpy as np
import pandas as pd
from sqlalchemy import Connection, delete, insert, select, update

from ..batch import verify_batch
from ..patrol import patrol_id as make_patrol_id
from . import audit, ledger
from .db import Store, utc_now_text
from .frames import event_frame, fix_frame, load_grids, site_frame
from .schema import flags, patrols, reviews

REVIEW_STATUS = {"confirm": "confirmed", "dismiss": "dismissed"}


def local_dates(time_ns: Iterable[int], tz: str, margin_s: float = 0.0) -> set[dt.date]:
    """Local dates of UTC nanosecond times, widened by ``margin_s`` either side (midnight segments)."""
    values = np.asarray(time_ns if isinstance(time_ns, np.ndarray) else list(time_ns), dtype=np.int64)
    if not len(values):
        return set()
    # UTC offsets are whole minutes, so every time in one UTC minute has the same local date:
    # convert each distinct minute once (a day of fixes has at most 1,440).
    out: set[dt.date] = set()
    for shift in {0, int(margin_s * 1e9), -int(margin_s * 1e9)}:
        minutes = np.unique((values + shift) // 60_000_000_000) * 60_000_000_000
        stamps = pd.to_datetime(minutes, unit="ns", utc=True).tz_convert(tz)
        out.update(pd.unique(stamps.date))
    return out


def _windows(dates: Iterable[dt.date], tz: str, before_days: int = 1) -> list[tuple[int, int]]:
    """``[start_ns, end_ns)`` windows covering each run of consecutive dates, a day either side."""
    runs: list[list[dt.date]] = []
    for day in sorted(set(dates)):
        if runs and (day - runs[-1][1]).days <= 1:
            runs[-1][1] = day
        else:
            runs.append([day, day])
    out = []
    for first, last in runs:
        start = pd.Timestamp(first - dt.timedelta(days=before_days)).tz_localize(tz)
        end = pd.Timestamp(last + dt.timedelta(days=2)).tz_localize(tz)
        out.append((start.value, end.value))
    return out


def reviews_map(conn: Connection) -> dict[str, str]:
    """flag_id → ``confirmed`` | ``dismissed``: each flag's latest review."""
    rows = conn.execute(select(reviews.c.flag_id, reviews.c.decision).order_by(reviews.c.review_id)).all()
    return {r.flag_id: r.decision for r in rows}


def run_batch(store: Store, conn: Connection, dates: set[dt.date]):
    """verify_batch over the stored input around ``dates``, with every stored review."""
    windows = _windows(dates, store.tz)
    return verify_batch(load_grids(conn), fix_frame(conn, windows), rules=store.rules, tz=store.tz,
                        now=store.now(), events=event_frame(conn, _windows(dates, store.tz, before_days=4)),
                        sites=site_frame(conn), reviews=reviews_map(conn))


def _flag_rows(patrol_doc: dict, patrol) -> list[dict]:
    rows = []
    for flag, doc in zip(patrol.flags, patrol_doc["flags"]):
        rows.append({"flag_id": doc["flag_id"], "patrol_id": patrol.patrol_id, "event_id": None,
                     "member_id": patrol.member_id, "grid_id": patrol.grid_id, "date": patrol_doc["date"],
                     "code": doc["code"], "severity": doc["severity"],
                     "status": doc.get("status") or getattr(flag, "status", None) or "open",
                     "start": doc["start"], "end": doc["end"], "lon": doc["lon"], "lat": doc["lat"],
                     "evidence": json.dumps(doc["evidence"], ensure_ascii=False, default=str)})
    return rows


def _event_flag_rows(result, store: Store, dates: set[dt.date], patrol_grid: dict) -> list[dict]:
    rows = []
    for event in result.events:
        doc = event if isinstance(event, dict) else event.to_dict(store.tz)
        for flag in doc.get("flags", []):
            date = dt.date.fromisoformat(str(flag["start"])[:10]) if flag.get("start") else None
            if date not in dates or not flag.get("flag_id"):
                continue
            pid = make_patrol_id(doc["member_id"], date)
            rows.append({"flag_id": flag["flag_id"], "patrol_id": pid, "event_id": doc["event_id"],
                         "member_id": doc["member_id"], "grid_id": patrol_grid.get(pid), "date": date.isoformat(),
                         "code": flag["code"], "severity": flag["severity"], "status": flag.get("status", "open"),
                         "start": flag["start"], "end": flag.get("end"), "lon": flag.get("lon"),
                         "lat": flag.get("lat"),
                         "evidence": json.dumps(flag.get("evidence", {}), ensure_ascii=False, default=str)})
    return rows


def reverify(store: Store, conn: Connection, dates: Iterable[dt.date], actor: str = "system") -> list[dict]:
    """Re-verify every patrol of ``dates`` inside a writer transaction.

    Returns
    -------
    list of dict
        Per re-verified patrol: ``patrol_id``, ``credit``, ``changed`` (whether the stored
        result changed) and ``ledger`` (entries appended).
    """
    dates = set(dates)
    if not dates:
        return []
    settle(store, conn, actor)
    result = run_batch(store, conn, dates)
    kept = [p for p in result.patrols if p.date in dates]
    stamp = utc_now_text()
    summary, flag_rows = [], []
    patrol_grid = {p.patrol_id: p.grid_id for p in kept}
    for patrol in kept:
        doc = patrol.to_dict(store.tz)
        for flag_doc, flag in zip(doc["flags"], patrol.flags):
            flag_doc.setdefault("status", getattr(flag, "status", "open"))
        text = json.dumps(doc, ensure_ascii=False, sort_keys=True, default=str)
        values = {"member_id": patrol.member_id, "grid_id": patrol.grid_id, "date": doc["date"],
                  "verified_s": float(doc["verified_s"]), "credit_status": doc["credit"]["status"],
                  "points": float(doc["credit"]["points"]), "rule_version": patrol.rule_version,
                  "document": text, "verified_at": stamp}
        old = conn.execute(select(patrols.c.document).where(patrols.c.patrol_id == patrol.patrol_id)).first()
        changed = old is None or old.document != text
        if old is None:
            conn.execute(insert(patrols).values(patrol_id=patrol.patrol_id, **values))
        elif changed:
            conn.execute(update(patrols).where(patrols.c.patrol_id == patrol.patrol_id).values(**values))
        if changed:
            audit.append(conn, actor, "patrol.verified", "patrol", patrol.patrol_id,
                         {"credit": doc["credit"], "verified_s": doc["verified_s"], "flags": len(doc["flags"]),
                          "rule_version": patrol.rule_version})
        flag_rows.extend(_flag_rows(doc, patrol))
        entries = ledger.sync_patrol(conn, {**doc, "rule_version": patrol.rule_version}, actor,
                                     settled=store.settled(patrol.date))
        summary.append({"patrol_id": patrol.patrol_id, "credit": doc["credit"], "changed": changed,
                        "ledger": entries})
    flag_rows.extend(_event_flag_rows(result, store, dates, patrol_grid))
    day_texts = [d.isoformat() for d in dates]
    conn.execute(delete(flags).where(flags.c.date.in_(day_texts)))
    unique = {row["flag_id"]: row for row in flag_rows}
    if unique:
        conn.execute(insert(flags), list(unique.values()))
    return summary


def settle(store: Store, conn: Connection | None = None, actor: str = "system") -> list[dict]:
    """Write the credit of every stored day that has settled since the last settlement.

    Cheap when nothing is due: one indexed look-up of the next stored date after the last settled
    one (remembered by the store). With ``conn`` (a writer transaction) it writes there; else it
    opens one only when a day is due.

    Returns
    -------
    list of dict
        The ledger entries appended.
    """
    if conn is None:
        with store.read() as reader:
            if not _due(store, reader):
                return []
        with store.write() as writer:
            return settle(store, writer, actor)
    if not _due(store, conn):
        return []
    # Under the writer lock: another process may have settled some of these days meanwhile.
    days = ledger.due_dates(conn, store.settled, ledger.last_settled(conn) or "")
    entries = ledger.settle_days(conn, days, actor)
    if days:
        store.settled_through = days[-1]
    return entries


def _due(store: Store, conn: Connection) -> bool:
    """Whether a stored day has settled since the last settlement this process knows of."""
    if store.settled_through is None:
        store.settled_through = ledger.last_settled(conn) or ""
    return bool(ledger.due_dates(conn, store.settled, store.settled_through))


def reverify_stored(store: Store, *, date_from: str | None = None, date_to: str | None = None,
                    actor: str = "cli") -> dict:
    """Re-verify every stored patrol date in a range with the store's current rules.

    Run after changing the rules (``GEOVERIFY_RULES``): a new rule version is recorded in the
    audit log as ``rules.changed``, and credit changes go to the ledger. One transaction per date.

    Returns
    -------
    dict
        ``dates``, ``patrols``, ``changed`` and ``ledger_entries`` counts, ``rule_version``.
    """
    from sqlalchemy import desc

    from .schema import audit_log

    with store.write() as conn:
        last = conn.execute(select(audit_log.c.detail).where(audit_log.c.action == "rules.changed")
                            .order_by(desc(audit_log.c.seq)).limit(1)).first()
        previous = json.loads(last.detail)["to"] if last else None
        if previous != store.rules.version:
            audit.append(conn, actor, "rules.changed", "rules", store.rules.version,
                         {"from": previous, "to": store.rules.version})
        query = select(patrols.c.date).distinct().order_by(patrols.c.date)
        if date_from:
            query = query.where(patrols.c.date >= date_from)
        if date_to:
            query = query.where(patrols.c.date <= date_to)
        days = [dt.date.fromisoformat(r.date) for r in conn.execute(query)]
    totals = {"dates": len(days), "patrols": 0, "changed": 0, "ledger_entries": 0,
              "rule_version": store.rules.version}
    for day in days:
        with store.write() as conn:
            for item in reverify(store, conn, {day}, actor):
                totals["patrols"] += 1
                totals["changed"] += int(item["changed"])
                totals["ledger_entries"] += len(item["ledger"])
    return totals
