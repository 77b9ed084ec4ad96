"""Rendering a batch result: the spec's JSON document, or a table for people."""

from __future__ import annotations

import json
import math

from geoverify.engines.batch import BatchResult


def result_document(result: BatchResult, tz: str) -> dict:
    """The command line's JSON document (spec "Command line")."""
    return {
        "patrols": [p.to_dict(tz) for p in result.patrols],
        "events": [e.to_dict(tz) for e in result.events],
        "warnings": list(result.warnings),
        "summary": result.summary,
    }


def to_json(result: BatchResult, tz: str) -> str:
    """The JSON document as text (UTF-8, Chinese kept readable)."""
    return json.dumps(result_document(result, tz), ensure_ascii=False, indent=2, allow_nan=False)


def _hours(seconds: float) -> str:
    minutes = int(round(seconds / 60))
    return f"{minutes // 60}:{minutes % 60:02d}"


def to_table(result: BatchResult, tz: str) -> str:
    """A fixed-width table, one patrol a line, then warnings and the fix summary."""
    header = (
        "member",
        "date",
        "grid",
        "kept",
        "rejected",
        "in-grid",
        "gap",
        "verified",
        "km",
        "cover",
        "flags",
        "credit",
    )
    rows = []
    for p in result.patrols:
        codes: dict[str, int] = {}
        for f in p.flags:
            codes[f.code] = codes.get(f.code, 0) + 1
        flags = " ".join(f"{c}×{n}" if n > 1 else c for c, n in sorted(codes.items())) or "-"
        credit = p.credit["status"] + (f" {p.credit['points']}" if p.credit["status"] == "verified" else "")
        rows.append(
            (
                p.member_id,
                p.date.isoformat(),
                p.grid_id or "-",
                str(p.kept),
                str(sum(p.rejected.values())),
                _hours(p.in_grid_s),
                _hours(p.gap_s),
                _hours(p.verified_s),
                f"{p.distance_m / 1000:.1f}",
                f"{math.floor(p.coverage['area_ratio'] * 100 + 0.5):d}%",
                flags,
                credit,
            )
        )
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731 -- a local one-liner
    out = [line(header), line(["-" * w for w in widths])] + [line(r) for r in rows]
    flagged = [e for e in result.events if e.flags]
    if result.events:
        out += ["", f"{len(result.events)} event report(s), {len(flagged)} flagged"]
        out += [f"  {e.event_id}  {e.member_id}  {' '.join(sorted(f.code for f in e.flags))}" for e in flagged]
    s = result.summary
    out.append("")
    out.append(
        f"{s['fixes_read']} fixes read, {s['fixes_kept']} kept, rejected: "
        + ", ".join(f"{k} {v}" for k, v in s["fixes_rejected"].items())
        + f"; times are in {tz}; in-grid/gap/verified as h:mm"
    )
    out += [f"warning: {w}" for w in result.warnings]
    return "\n".join(out) + "\n"
