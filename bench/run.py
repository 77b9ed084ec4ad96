"""Benchmark suite of issue #6: ``geoverify verify`` on simulated city days, against MovingPandas and trackintel.

Usage::

    python bench/run.py [--fixes 100k 1M 10M] [--formats csv parquet partitioned] [--workers 1 2]
                        [--dask N | --no-dask] [--repeat N] [--their-max-fixes 100000]
                        [--no-profile] [--no-compare] [--json FILE]

For each size it generates (or reuses) a city day under ``bench/data/`` (see ``workload.py``:
tracks as CSV and GeoParquet, events, sites, 4 % anomalous members), then prints

1. ``geoverify verify`` end to end (files in, JSON out, every figure and detector on) for each input
   format (CSV, GeoParquet, and the hive-partitioned GeoParquet of ``geoverify partition`` when the
   command exists) and ``--workers`` count the command offers, and with ``--engine dask`` on a local
   cluster of ``--dask`` worker processes when offered: wall and CPU seconds, fixes per second, per
   core, peak memory of the process tree and bytes per fix (``runners.py``);
2. each stage's share of one run under pyinstrument (``stages.py``);
3. MovingPandas (clip and durations, stop detection) and trackintel (staypoints) on one core on the
   same data, the ratios of our throughput to theirs and the agreement of in-grid times
   (``compare.py``);
4. the issue's targets with PASS/FAIL (``table.py``).

Not part of the test suite; ``make bench`` installs the tools compared (``.[bench]``) and runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare import agreement, run_theirs
from run_report import report
from runners import check_document, ensure_partitioned, geoverify_exe, run_dask, run_verify, verify_args, verify_options
from stages import profile_stages
from workload import FIXES_PER_MEMBER, make_workload

SIZES = {"100k": 100_000, "1m": 1_000_000, "10m": 10_000_000}


def size(text: str) -> int:
    """``100k``, ``1M``, ``10M`` or a plain number of fixes."""
    t = text.strip().lower().replace("_", "").replace(",", "")
    if t in SIZES:
        return SIZES[t]
    mult = {"k": 1_000, "m": 1_000_000}.get(t[-1:], 1)
    try:
        return int(float(t[:-1] if mult > 1 else t) * mult)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size: use e.g. 100k, 1M, 10M or 250000") from None


def figures(doc: dict) -> list:
    """What must not depend on the input format or worker count: each patrol's figures and flags."""
    return sorted(
        (
            p["patrol_id"],
            p["in_grid_s"],
            p["verified_s"],
            p["gap_s"],
            p["distance_m"],
            p["coverage"]["area_ratio"],
            p["coverage"]["sites_visited"],
            p["credit"]["status"],
            tuple(sorted(f["code"] for f in p["flags"])),
        )
        for p in doc["patrols"]
    )


def has_command(name: str) -> bool:
    """Whether the installed ``geoverify`` has the sub-command ``name``."""
    import subprocess

    return subprocess.run([str(geoverify_exe()), name, "--help"], capture_output=True).returncode == 0


def version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def bench_size(n: int, args, workers: list, log) -> dict:
    """Everything measured at one workload size."""
    wl = make_workload(n, log=log)
    log(
        f"workload {wl.folder.name}: {wl.fixes:,} fixes, {wl.members:,} members, {wl.events:,} events"
        + (f" (generated in {wl.generated_s:.0f} s)" if wl.generated_s else " (cached)")
    )
    partition_s = ensure_partitioned(wl, log=log) if "partitioned" in args.formats or args.dask else None
    runs = [run_verify(wl, fmt, w, args.repeat, log=log) for fmt in args.formats for w in workers]
    if args.dask:
        runs.append(run_dask(wl, args.dask, args.repeat, log=log))
    doc = runs[0].document()  # the others are parsed one at a time: a 10 M-fix document is large
    problems = check_document(doc, wl)
    base = figures(doc)
    same = all(figures(r.document()) == base for r in runs[1:])
    if not same:
        problems.append("runs disagree: the patrol figures differ between input formats or worker counts")
    res = {
        "workload": wl,
        "runs": runs,
        "problems": problems,
        "same": same,
        "partition_s": partition_s,
        "flags": sum(len(p["flags"]) for p in doc["patrols"]),
        "event_flags": sum(len(e["flags"]) for e in doc["events"]),
    }
    if not args.no_profile:
        fmt = "parquet" if "parquet" in args.formats else args.formats[0]
        prof_out = wl.folder / "result-profile.json"
        log("  profiling one run under pyinstrument ...")
        res["profile"] = profile_stages(
            verify_args(wl, fmt, prof_out, 1 if workers != [None] else None), wl.folder / "stages.json"
        )
        res["profile_fmt"] = fmt
    if not args.no_compare:
        theirs = run_theirs(wl, args.their_max_fixes, FIXES_PER_MEMBER, log=log)
        res["theirs"], res["agreement"] = theirs, agreement(doc, theirs.in_grid_s)
    return res


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--fixes",
        type=size,
        nargs="+",
        default=[100_000, 1_000_000, 10_000_000],
        help="workload sizes (default: 100k 1M 10M)",
    )
    parser.add_argument(
        "--formats",
        nargs="+",
        choices=["csv", "parquet", "partitioned"],
        help="track inputs to time (default: csv parquet, and partitioned when geoverify offers the partition command)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        help="--workers values to time (default: 1 and 2 when geoverify verify offers --workers)",
    )
    parser.add_argument(
        "--dask",
        type=int,
        metavar="N",
        help="also time --engine dask on a local cluster of N workers (default 2 when offered)",
    )
    parser.add_argument("--no-dask", action="store_true", help="skip the Dask engine")
    parser.add_argument("--repeat", type=int, default=1, help="runs per configuration; the fastest is reported")
    parser.add_argument(
        "--their-max-fixes",
        type=int,
        default=100_000,
        help="largest subsample given to MovingPandas and trackintel (default 100000)",
    )
    parser.add_argument("--no-profile", action="store_true", help="skip the stage profile")
    parser.add_argument("--no-compare", action="store_true", help="skip MovingPandas and trackintel")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = parser.parse_args(argv)
    if not args.no_compare and any(version(p) == "not installed" for p in ("movingpandas", "trackintel")):
        raise SystemExit(
            "bench: MovingPandas and trackintel are needed for the comparison: "
            "pip install -e '.[bench]' (make bench does), or pass --no-compare"
        )

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    options = verify_options(geoverify_exe())
    offered = "--workers" in options
    if args.workers and not offered:
        raise SystemExit("bench: this geoverify verify has no --workers option; drop --workers")
    can_partition = has_command("partition")
    if args.formats is None:
        args.formats = ["csv", "parquet"] + (["partitioned"] if can_partition else [])
    if "partitioned" in args.formats and not can_partition:
        raise SystemExit("bench: this geoverify has no partition command; drop the partitioned format")
    if args.no_dask or "--engine" not in options or not can_partition:
        if args.dask:
            raise SystemExit("bench: this geoverify verify has no --engine dask (or no partition command)")
        args.dask = None
    elif args.dask is None:
        args.dask = 2
    workers = args.workers or ([1, 2] if offered else [None])
    results = []
    for n in sorted(args.fixes):
        log(f"== {n:,} fixes")
        results.append(bench_size(n, args, workers, log))
    load = os.getloadavg()
    header = (
        f"geoverify {version('geoverify')} | MovingPandas {version('movingpandas')} | trackintel "
        f"{version('trackintel')} | Python {platform.python_version()} | {os.cpu_count()} CPUs | "
        f"load average {load[0]:.1f} {load[1]:.1f} (noisy figures when above 0.5)\n"
    )
    text = report(results, workers, args)
    print(header + "\n" + text)
    if args.json:
        args.json.write_text(json.dumps(_as_json(results), indent=1, default=str))
    if any(r["problems"] for r in results):
        raise SystemExit(1)


def _as_json(results: list[dict]) -> list[dict]:
    out = []
    for res in results:
        wl = res["workload"]
        item = {
            "fixes": wl.fixes,
            "members": wl.members,
            "events": wl.events,
            "problems": res["problems"],
            "runs": [
                {
                    "input": r.fmt,
                    "engine": r.engine,
                    "workers": r.workers,
                    "wall_s": r.best.wall_s,
                    "cpu_s": r.best.cpu_s,
                    "fixes_per_s": r.fixes_per_s,
                    "fixes_per_s_core": r.fixes_per_s_core,
                    "peak_bytes": max(m.peak_bytes for m in r.runs),
                    "bytes_per_fix": r.bytes_per_fix,
                }
                for r in res["runs"]
            ],
        }
        if "profile" in res:
            item["stages"] = res["profile"]
        if "theirs" in res:
            t = res["theirs"]
            item["theirs"] = {
                "fixes": t.fixes,
                "members": t.members,
                "seconds": t.seconds,
                "cpu_seconds": t.cpu_seconds,
                "agreement": vars(res["agreement"]),
            }
        out.append(item)
    return out


if __name__ == "__main__":
    main()
