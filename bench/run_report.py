"""The report of ``bench/run.py``: the end-to-end table, the stage profile, the comparison with
MovingPandas and trackintel, and the targets, as printed text."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare import IDLE_DIAMETER_M, IDLE_MIN_S, TOOLS
from table import (
    TARGET_BYTES_PER_FIX,
    TARGET_CITY_FIXES,
    TARGET_CITY_S,
    TARGET_FIXES_PER_S_CORE,
    TARGET_MP_RATIO,
    Target,
    render,
    targets_table,
)


def report(results: list[dict], workers: list, args) -> str:
    out = []
    rows = []
    for res in results:
        wl = res["workload"]
        rows.append(
            [
                wl.fixes,
                wl.members,
                wl.grids,
                wl.events,
                wl.sites,
                len(set(wl.scenarios)),
                res["flags"],
                res["event_flags"],
                wl.csv_path.stat().st_size / 2**20,
                wl.parquet_path.stat().st_size / 2**20,
            ]
        )
    out.append(
        render(
            "Workloads (simulated city day, 8 h at 10 s, 2 members per 400 m grid)",
            [
                "fixes",
                "members",
                "grids",
                "events",
                "sites",
                "anomalous",
                "flags",
                "event flags",
                "CSV MiB",
                "Parquet MiB",
            ],
            rows,
            [
                "anomalous: members following a simulator anomaly scenario (teleport, spikes, idle, loop, "
                "vehicle, mock, GCJ-02, gap, two phones)"
            ],
        )
    )
    rows = []
    for res in results:
        for r in res["runs"]:
            b = r.best
            rows.append(
                [
                    r.fixes,
                    r.fmt,
                    r.engine,
                    r.workers if r.workers else "-",
                    b.wall_s,
                    b.cpu_s,
                    r.fixes_per_s,
                    r.fixes_per_s_core,
                    r.fixes / b.cpu_s,
                    "PASS" if r.fixes_per_s_core >= TARGET_FIXES_PER_S_CORE else "FAIL",
                    max(m.peak_bytes for m in r.runs) / 2**20,
                    r.bytes_per_fix,
                    "PASS" if r.bytes_per_fix < TARGET_BYTES_PER_FIX else "FAIL",
                    b.max_processes,
                ]
            )
    notes = [
        f"best of {args.repeat} by wall time; fixes/s/core = fixes/s / min(workers, cores); "
        f"targets: >= {TARGET_FIXES_PER_S_CORE:,} fixes/s/core, < {TARGET_BYTES_PER_FIX:.0f} B/fix",
        "peak = max(polled summed PSS of the process tree, largest process' ru_maxrss)",
    ]
    if workers == [None]:
        notes.append("geoverify verify offers no --workers option: one process")
    if args.dask:
        notes.append(
            f"dask: --engine dask on a LocalCluster of {args.dask} one-thread worker processes started "
            "before the run (an existing cluster); their CPU and memory are counted, the scheduler's not"
        )
    if "partitioned" in args.formats or args.dask:
        took = ", ".join(
            f"{r['workload'].fixes:,} fixes in {r['partition_s']:.1f} s" for r in results if r.get("partition_s")
        )
        notes.append(
            "partitioned: the hive-partitioned GeoParquet written once by 'geoverify partition', "
            f"not included in the time ({took or 'cached from an earlier run'})"
        )
    if len(results) >= 2:
        a, b = results[0], results[-1]
        pa_, pb = (min(max(m.peak_bytes for m in r.runs) for r in x["runs"]) for x in (a, b))
        notes.append(
            f"marginal memory from {a['workload'].fixes:,} to {b['workload'].fixes:,} fixes: "
            f"{(pb - pa_) / (b['workload'].fixes - a['workload'].fixes):,.0f} B/fix (leanest run of each size; "
            "the rest is the interpreter and libraries)"
        )
    for res in results:
        for p in res["problems"]:
            notes.append(f"PROBLEM at {res['workload'].fixes:,} fixes: {p}")
        if len(res["runs"]) > 1 and res["same"]:
            notes.append(f"{res['workload'].fixes:,} fixes: every run gave the same patrol figures and flags")
    out.append(
        render(
            "geoverify verify end to end (files in, JSON out; events, sites, every detector)",
            [
                "fixes",
                "input",
                "engine",
                "workers",
                "wall s",
                "CPU s",
                "fixes/s",
                "fixes/s/core",
                "fixes/CPU s",
                "target",
                "peak MiB",
                "B/fix",
                "target",
                "procs",
            ],
            rows,
            notes,
        )
    )
    profiled = [r for r in results if "profile" in r]
    if profiled:
        stages = sorted(
            {s for r in profiled for s in r["profile"]["stages"]},
            key=lambda s: -max(r["profile"]["stages"].get(s, 0) / r["profile"]["total_s"] for r in profiled),
        )
        headers = ["stage"] + [h for r in profiled for h in (f"{r['workload'].fixes:,} s", "%")]
        rows = [
            [s]
            + [
                v
                for r in profiled
                for v in (
                    r["profile"]["stages"].get(s, 0.0),
                    f"{100 * r['profile']['stages'].get(s, 0.0) / r['profile']['total_s']:.1f}",
                )
            ]
            for s in stages
        ]
        rows.append(["total (profiled wall)"] + [v for r in profiled for v in (r["profile"]["total_s"], "100.0")])
        out.append(
            render(
                f"Stage shares (one run under pyinstrument at 1 ms, {profiled[0]['profile_fmt']} input, one process)",
                headers,
                rows,
                [
                    "time of numpy/pandas/shapely calls counts for the geoverify step that made them; "
                    "see bench/stages.py for the attribution rules"
                ],
            )
        )
    out += [_theirs_table(r) for r in results if "theirs" in r]
    out.append(targets_table(_targets(results, workers)))
    return "\n".join(out)


def _ours_one_core(res: dict):
    ones = [r for r in res["runs"] if (r.workers or 1) == 1 and r.engine == "local"]
    return max(ones, key=lambda r: r.fixes_per_s) if ones else None


def _theirs_table(res: dict) -> str:
    wl, theirs, agr = res["workload"], res["theirs"], res["agreement"]
    ours = _ours_one_core(res)
    rows = [
        [
            "geoverify in-grid step (same frame, clip's definition)",
            theirs.fixes,
            theirs.ours_step_s,
            theirs.fixes / theirs.ours_step_s,
            theirs.fixes / theirs.ours_step_cpu_s,
            None,
            None,
            None,
        ]
    ]
    for tool, label in TOOLS.items():
        rows.append(
            [
                label,
                theirs.fixes,
                theirs.seconds[tool],
                theirs.rate(tool),
                theirs.rate(tool, cpu=True),
                ours.fixes_per_s / theirs.rate(tool),
                (ours.fixes / ours.best.cpu_s) / theirs.rate(tool, cpu=True),
                theirs.counts[tool],
            ]
        )
    sub = (
        f"a subsample of {theirs.members} of {wl.members} members ({theirs.fixes:,} fixes; rates per fix "
        f"extrapolate to the whole day)"
        if theirs.subsample
        else f"all {theirs.members} members"
    )
    notes = [
        f"on {sub}, one core each; ours = geoverify verify end to end, {ours.fmt}, one process "
        f"({ours.fixes_per_s:,.0f} fixes/s wall, {ours.fixes / ours.best.cpu_s:,.0f} per CPU s) on all "
        f"{wl.fixes:,} fixes, reading and every figure included; theirs time one step from a frame in memory",
        f"in-grid agreement with MovingPandas' clip (|ours - theirs| <= 1 s + 0.1 %): "
        f"{agr.agreeing} of {agr.compared} members agree, largest difference {agr.max_abs_diff_s:.2f} s; "
        f"{agr.by_definition} member(s) with GAP/TELEPORT/GPS_OUTLIER flags set apart (largest difference "
        f"{agr.by_definition_diff_s:.0f} s): ours excludes gaps > 300 s and teleports and drops spikes, "
        "MovingPandas clips every segment",
    ]
    notes.append(
        f"found: stop segments / staypoints (>= {IDLE_MIN_S:.0f} s within {IDLE_DIAMETER_M:.0f} m); "
        f"our IDLE flags on the same members: {agr.idle_flags} (IDLE also demands no motion beyond GPS "
        "noise and no site nearby)"
    )
    step = theirs.ours_step_in_grid_s or {}
    same = [m for m in step if m in theirs.in_grid_s]
    worst = max((abs(step[m] - theirs.in_grid_s[m]) for m in same), default=0.0)
    notes.append(
        f"our in-grid step by the clip's definition (every segment): {len(same)} members, largest "
        f"difference from MovingPandas {worst:.3f} s"
    )
    notes += [f"disagrees: {m} ours {a:.1f} s, MovingPandas {b:.1f} s" for m, a, b in agr.disagreeing[:5]]
    return render(
        f"Other tools at {wl.fixes:,} fixes",
        ["tool", "fixes", "wall s", "fixes/s", "fixes/CPU s", "ours/theirs", "ours/theirs CPU", "found"],
        rows,
        notes,
    )


def _targets(results: list[dict], workers: list) -> list[Target]:
    last = results[-1]
    n = last["workload"].fixes
    targets = []
    best = max(last["runs"], key=lambda r: r.fixes_per_s_core)
    targets.append(
        Target(
            "end to end per core",
            f">= {TARGET_FIXES_PER_S_CORE:,} fixes/s",
            f"{best.fixes_per_s_core:,.0f} ({best.fixes / best.best.cpu_s:,.0f}/CPU s)",
            best.fixes_per_s_core >= TARGET_FIXES_PER_S_CORE,
            f"{n:,} fixes, {best.fmt}, workers {best.workers or 1}",
        )
    )
    two = [r for r in last["runs"] if (r.workers or 1) >= 2] or last["runs"]
    fast = max(two, key=lambda r: r.fixes_per_s)
    city_s = TARGET_CITY_FIXES / fast.fixes_per_s
    how = "measured" if n >= TARGET_CITY_FIXES else "extrapolated"
    targets.append(
        Target(
            "9 M-fix city day, both cores",
            f"< {TARGET_CITY_S:.0f} s",
            f"{city_s:.1f} s",
            city_s < TARGET_CITY_S if (fast.workers or 1) >= 2 else False,
            f"{how} from {n:,} fixes at {fast.fixes_per_s:,.0f} fixes/s, {fast.fmt}, workers {fast.workers or 1}",
        )
    )
    worst = max(last["runs"], key=lambda r: r.bytes_per_fix)
    targets.append(
        Target(
            "peak memory",
            f"< {TARGET_BYTES_PER_FIX:.0f} B/fix",
            f"{worst.bytes_per_fix:,.0f} B/fix",
            worst.bytes_per_fix < TARGET_BYTES_PER_FIX,
            f"worst run at {n:,} fixes ({worst.fmt}, workers {worst.workers or 1})",
        )
    )
    if "theirs" in last:
        ours, theirs = _ours_one_core(last), last["theirs"]
        step = theirs.seconds["clip"] / theirs.ours_step_s
        step_cpu = theirs.cpu_seconds["clip"] / theirs.ours_step_cpu_s
        targets.append(
            Target(
                "vs MovingPandas in-grid time",
                f">= {TARGET_MP_RATIO:.0f}x",
                f"{step:,.0f}x ({step_cpu:,.0f}x CPU)",
                step >= TARGET_MP_RATIO,
                "one core each, wall; the in-grid step alone on the same frame in memory",
            )
        )
        ratio = ours.fixes_per_s / theirs.rate("clip")
        cpu_ratio = (ours.fixes / ours.best.cpu_s) / theirs.rate("clip", cpu=True)
        targets.append(
            Target(
                "  (end to end vs their clip)",
                "(no target)",
                f"{ratio:,.0f}x ({cpu_ratio:,.0f}x CPU)",
                None,
                f"{ours.fmt}, reading, every figure and detector included on our side",
            )
        )
        agr = last["agreement"]
        targets.append(
            Target(
                "in-grid agrees with MovingPandas",
                "all compared members",
                f"{agr.agreeing}/{agr.compared}",
                agr.compared > 0 and agr.agreeing == agr.compared,
                "tolerance 1 s + 0.1 %, members without GAP/TELEPORT/GPS_OUTLIER",
            )
        )
    return targets
