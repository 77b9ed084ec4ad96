"""Plain-text tables and the issue's targets, for the benchmark's report."""

from __future__ import annotations

from dataclasses import dataclass

# Issue #6, "Targets on this 2-core machine".
TARGET_FIXES_PER_S_CORE = 500_000  # end to end, per core
TARGET_CITY_FIXES = 9_000_000  # a city day ...
TARGET_CITY_S = 20.0  # ... verified in under 20 s using both cores
TARGET_BYTES_PER_FIX = 200.0  # peak memory
TARGET_MP_RATIO = 200.0  # times MovingPandas' throughput on in-grid time


def render(title: str, headers: list[str], rows: list[list], notes: list[str] = ()) -> str:
    """A titled table: text columns left-aligned, numbers right-aligned; notes below it."""
    cells = [[_fmt(v) for v in row] for row in rows]
    numeric = [
        all(isinstance(r[i], (int, float)) or r[i] in (None, "") for r in rows) if rows else False
        for i in range(len(headers))
    ]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(headers)]

    def line(values):
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    out = [title, line(headers), line(["-" * w for w in widths])]
    out += [line(c) for c in cells]
    out += [f"  {n}" for n in notes]
    return "\n".join(out) + "\n"


def _fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    return str(value)


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


@dataclass
class Target:
    """One target of the issue, the figure measured against it and how it was obtained."""

    name: str
    goal: str
    measured: str
    ok: bool | None
    how: str


def targets_table(targets: list[Target]) -> str:
    return render(
        "Targets of issue #6 (2-core machine)",
        ["target", "goal", "measured", "", "from"],
        [[t.name, t.goal, t.measured, verdict(t.ok), t.how] for t in targets],
    )
