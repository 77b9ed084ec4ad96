"""Figures behind the motion model's thresholds, on simulated phones (docs/motion.md).

Usage::

    python bench/motion_sweep.py [--seeds 20]

Prints, for GPS jitter of 3, 5 and 10 m (correlated over 30 s) and sampling every 1, 5, 10 and 30 s:

1. how often a phone lying still for 20 minutes is IDLE, and a member walking a 15 m circle at
   1.1 m/s for 20 minutes is LOOP (and not IDLE), and a slow 0.5 m/s walk raises nothing;
2. for e-bikes at their 25 km/h cap and buses with stops: the seconds above ``vehicle_kmh`` that
   the motion model counts (a ride needs ``vehicle_min_s`` = 120) and how often VEHICLE is raised;
3. each scenario of :mod:`geoverify.simulation.motion_scenarios` and whether it raises exactly its flags.

Not a test: a sweep over seeds, printed as tables.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from table import render

from geoverify.geo.projection import LocalProjection
from geoverify.patrol.verify import verify_patrol
from geoverify.preprocessing.days import DayTrack
from geoverify.preprocessing.providers import network_fixes
from geoverify.rules import Rules
from geoverify.simulation import motion_scenarios as ms

PROJ = LocalProjection(116.417, 39.94)
T0 = 1_793_000_000 * 10**9
RULES = Rules()


def flags(x, y, t, accuracy=None, provider=None):
    n = len(t)
    lon, lat = PROJ.inverse(np.asarray(x), np.asarray(y))
    acc = np.full(n, np.nan) if accuracy is None else accuracy
    track = DayTrack(
        member_id="M",
        date=__import__("datetime").date(2026, 11, 2),
        time_ns=T0 + np.round(np.asarray(t) * 1e9).astype(np.int64),
        lon=lon,
        lat=lat,
        accuracy=acc,
        synthetic=np.zeros(n, bool),
        source=np.full(n, "sim", object),
        line=np.arange(n),
        network=network_fixes(provider, acc),
    )
    return verify_patrol(None, track, RULES).flags


def _day(seed, interval, sigma, build):
    day = ms._Day(seed, interval)
    build(day)
    return day.build(sigma)


def stays_table(seeds: int) -> str:
    rows = []
    for sigma in (3.0, 5.0, 10.0):
        for interval in (1.0, 5.0, 10.0, 30.0):
            idle = loop = loop_idle = slow = 0
            for s in range(seeds):
                t, x, y = _day(s, interval, sigma, lambda d: (d.move(600, 1.3, 0), d.wait(1200), d.move(600, 1.3, 90)))
                idle += [f.code for f in flags(x, y, t)].count("IDLE") == 1
                t, x, y = _day(
                    s, interval, sigma, lambda d: (d.move(600, 1.3, 0), d.circle(1200, 15.0, 1.1), d.move(600, 1.3, 90))
                )
                codes = [f.code for f in flags(x, y, t)]
                loop += codes == ["LOOP"]
                loop_idle += "IDLE" in codes
                t, x, y = _day(s, interval, sigma, lambda d: (d.move(1800, 0.5, 0), d.move(1800, 0.5, 90)))
                slow += not flags(x, y, t)
            rows.append(
                [sigma, interval, f"{idle}/{seeds}", f"{loop}/{seeds}", f"{loop_idle}/{seeds}", f"{slow}/{seeds}"]
            )
    return render(
        "Still phone, 15 m circle, slow walk (20 min each)",
        ["jitter m", "every s", "still → IDLE", "circle → LOOP only", "circle → IDLE", "0.5 m/s walk → nothing"],
        rows,
        ["jitter: AR(1) correlated over 30 s per axis; circle at 1.1 m/s"],
    )


def rides_table(seeds: int) -> str:
    rows = []
    for name, build in (
        ("running 9-12 km/h", ms.jog),
        ("e-bike 20-25 km/h", ms.ebike),
        ("city bus", ms.city_bus),
        ("car in traffic", ms.car_in_traffic),
        ("subway, sparse", ms.subway),
        ("train", ms.train),
    ):
        fast, raised = [], 0
        for s in range(seeds):
            sc = build(seed=100 + s)
            found = [f for f in flags(sc.x, sc.y, sc.t, sc.accuracy, sc.provider) if f.code == "VEHICLE"]
            raised += bool(found)
            fast.append(max([f.evidence["fast_s"] for f in found], default=0.0))
        rows.append([name, f"{raised}/{seeds}", round(float(np.median(fast)), 1), round(float(np.max(fast)), 1)])
    return render(
        "Rides: VEHICLE raised, seconds above vehicle_kmh in the ride",
        ["ride", "VEHICLE", "median fast_s", "max fast_s"],
        rows,
        ["a ride needs fast_s >= vehicle_min_s = 120; e-bikes never raise VEHICLE"],
    )


def scenarios_table() -> str:
    rows = []
    for name, build in ms.SCENARIOS.items():
        sc = build()
        got = [f.code for f in flags(sc.x, sc.y, sc.t, sc.accuracy, sc.provider)]
        rows.append([name, " ".join(sc.expected) or "—", " ".join(got) or "—", list(sc.expected) == got])
    return render("Scenarios of geoverify.simulation.motion_scenarios", ["scenario", "expected", "raised", "ok"], rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    args = parser.parse_args(argv)
    print(scenarios_table())
    print(rides_table(args.seeds))
    print(stays_table(args.seeds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
