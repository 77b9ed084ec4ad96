"""Simulated days of what real phones do, each with the flags the motion model must raise.

Each scenario is a seeded, deterministic track in metres on a local projection (x east, y north),
seconds after 08:00, with the reported accuracy (metres, NaN unknown) and provider of every fix.
They reproduce what was seen on real recordings (see ``docs/motion.md``): a cold start after a
gap, excursions of several fixes, network-position fallback, trains, buses with stops, cars in
traffic, walking a tight circle, and a phone sampling sparsely while it waits. ``expected`` names
the motion flags the day must raise (in time order) and ``held`` whether its credit is held.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from geoverify.geo.projection import LocalProjection
from geoverify.io.times import DEFAULT_TZ


@dataclass
class Scenario:
    """One simulated day. Positions in metres, times in seconds, accuracy in metres (NaN unknown)."""

    name: str
    x: np.ndarray
    y: np.ndarray
    t: np.ndarray
    accuracy: np.ndarray
    provider: np.ndarray
    expected: tuple[str, ...]
    held: bool = False
    ride: tuple[float, float] | None = None  # seconds of the vehicle ride, for coverage checks
    what: str = ""


class _Day:
    """Builds a track piece by piece along a true path, then adds correlated GPS error."""

    def __init__(self, seed: int, interval_s: float = 5.0):
        self.rng = np.random.default_rng(seed)
        self.interval = interval_s
        self.t: list[np.ndarray] = []
        self.x: list[np.ndarray] = []
        self.y: list[np.ndarray] = []
        self.pos = np.zeros(2)
        self.now = 0.0

    def _add(self, t, x, y):
        self.t.append(np.asarray(t, float))
        self.x.append(np.asarray(x, float))
        self.y.append(np.asarray(y, float))
        self.pos = np.array([x[-1], y[-1]], float)
        self.now = float(t[-1])

    def move(self, seconds: float, speed: float, heading_deg: float = 0.0, interval: float | None = None):
        """Straight at ``speed`` m/s for ``seconds``."""
        step = interval or self.interval
        t = self.now + step * np.arange(1, int(round(seconds / step)) + 1)
        d = speed * (t - self.now)
        h = np.radians(heading_deg)
        self._add(t, self.pos[0] + d * np.cos(h), self.pos[1] + d * np.sin(h))

    def wait(self, seconds: float, interval: float | None = None):
        step = interval or self.interval
        t = self.now + step * np.arange(1, int(round(seconds / step)) + 1)
        self._add(t, np.full(len(t), self.pos[0]), np.full(len(t), self.pos[1]))

    def circle(self, seconds: float, radius: float, speed: float):
        step = self.interval
        t = self.now + step * np.arange(1, int(round(seconds / step)) + 1)
        centre = self.pos - (radius, 0.0)
        ang = (t - self.now) * speed / radius
        self._add(t, centre[0] + radius * np.cos(ang), centre[1] + radius * np.sin(ang))

    def pause(self, seconds: float):
        """No fixes for ``seconds`` (app killed, phone asleep); the member stays put."""
        self.now += seconds

    def build(self, sigma: float = 4.0, tau: float = 30.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t, x, y = np.concatenate(self.t), np.concatenate(self.x), np.concatenate(self.y)
        phi = np.exp(-np.diff(t, prepend=t[0] - self.interval).mean() / tau)
        noise = lfilter([np.sqrt(1 - phi * phi)], [1.0, -phi], self.rng.standard_normal((2, len(t))), axis=-1)
        return t, x + sigma * noise[0], y + sigma * noise[1]


def _scenario(name, day: _Day, expected, *, sigma=4.0, held=False, ride=None, what="", edit=None) -> Scenario:
    t, x, y = day.build(sigma)
    accuracy = np.full(len(t), 8.0)
    provider = np.full(len(t), "gps", dtype=object)
    if edit is not None:
        edit(t, x, y, accuracy, provider, day.rng)
    return Scenario(name, x, y, t, accuracy, provider, tuple(expected), held, ride, what)


def cold_start(seed: int = 1) -> Scenario:
    """A gap of 20 minutes; the first fix after it lands 1.2 km off, the next are back on the path."""
    day = _Day(seed)
    day.move(1800, 1.2, 0)
    day.pause(1200)
    restart = sum(len(p) for p in day.t)
    day.move(1800, 1.2, 90)

    def edit(t, x, y, acc, prov, rng):
        x[restart] += 1200.0
        acc[restart] = 25.0

    return _scenario(
        "cold_start",
        day,
        ["GAP", "GPS_OUTLIER"],
        edit=edit,
        what="first fix after a gap 1.2 km off, contradicted by the fixes after it",
    )


def excursions(seed: int = 2) -> Scenario:
    """Three excursions of 2, 4 and 5 fixes, 0.7-3.5 km away, back within a minute."""
    day = _Day(seed)
    day.move(3600, 1.2, 30)
    starts, lengths, reach = (100, 300, 550), (2, 4, 5), (700.0, 2000.0, 3500.0)

    def edit(t, x, y, acc, prov, rng):
        for s, n, r in zip(starts, lengths, reach):
            ang = rng.uniform(0, 2 * np.pi)
            x[s : s + n] += r * np.cos(ang) + rng.normal(0, 30, n)
            y[s : s + n] += r * np.sin(ang) + rng.normal(0, 30, n)

    return _scenario(
        "excursions",
        day,
        ["GPS_OUTLIER"] * 3,
        edit=edit,
        what="runs of 2-5 fixes 0.7-3.5 km away that come back within a minute",
    )


def network_fallback(seed: int = 3) -> Scenario:
    """Indoors for 4 minutes: the phone reports cell positions (accuracy 0, provider network) 1.5 km off."""
    day = _Day(seed)
    day.move(1800, 1.2, 0)
    day.wait(240)
    day.move(1800, 1.2, 180)
    first = int(1800 / 5)

    def edit(t, x, y, acc, prov, rng):
        sl = slice(first, first + 48)
        x[sl] += 1500.0 + rng.normal(0, 50, 48).round(-1)
        acc[sl] = 0.0
        prov[sl] = "network"

    return _scenario(
        "network_fallback",
        day,
        ["GPS_OUTLIER"],
        edit=edit,
        what="4 minutes of network positions 1.5 km away, accuracy 0",
    )


def train(seed: int = 4) -> Scenario:
    """A 73-minute train ride at a sustained 150-160 km/h (181 km), between two walks."""
    day = _Day(seed)
    day.move(600, 1.3, 0)
    start = day.now
    for k in range(73):
        day.move(60, (150 + 10 * day.rng.random()) / 3.6, 20 + 3 * np.sin(k / 5))
    end = day.now
    day.move(600, 1.3, 90)
    return _scenario("train", day, ["VEHICLE"], ride=(start, end), what="181 km in 73 minutes at 150-160 km/h")


def city_bus(seed: int = 5) -> Scenario:
    """A 40-minute bus ride: 35-45 km/h between stops every 400-600 m (30 s each) and red lights, corners."""
    day = _Day(seed)
    day.move(600, 1.3, 0)
    start = day.now
    heading = 0.0
    while day.now - start < 2400:
        for kmh, seconds in ((15, 8), (day.rng.uniform(35, 45), 40), (15, 8)):
            day.move(seconds, kmh / 3.6, heading, interval=2.0)
        day.wait(30 if day.rng.random() < 0.7 else 60, interval=2.0)
        if day.rng.random() < 0.3:
            heading += 90.0
    end = day.now
    day.move(600, 1.3, heading + 90)
    return _scenario(
        "city_bus", day, ["VEHICLE"], ride=(start, end), what="stops every 400-600 m, 35-45 km/h between them, corners"
    )


def car_in_traffic(seed: int = 6) -> Scenario:
    """A car lapping a 300 m block at 45 km/h for 10 minutes, sampled every 5 s, with lights."""
    day = _Day(seed)
    day.move(600, 1.3, 0)
    start = day.now
    side = 0
    while day.now - start < 600:
        day.move(24, 12.5, 90.0 * (side % 4))
        side += 1
        if side % 3 == 0:
            day.wait(20)
    end = day.now
    day.move(600, 1.3, 45)
    return _scenario(
        "car_in_traffic",
        day,
        ["VEHICLE"],
        ride=(start, end),
        what="45 km/h round a 300 m block, a light every third corner",
    )


def tight_circle(seed: int = 7) -> Scenario:
    """Walking a 15 m circle at 1.1 m/s for 40 minutes with 3 m jitter: LOOP, not IDLE."""
    day = _Day(seed)
    day.move(600, 1.3, 0)
    day.circle(2400, 15.0, 1.1)
    day.move(600, 1.3, 90)
    return _scenario("tight_circle", day, ["LOOP"], sigma=3.0, what="15 m circle at 1.1 m/s, 40 minutes")


def sparse_wait(seed: int = 8) -> Scenario:
    """Waiting 20 minutes at a stop with a fix a minute, between walks sampled every 5 s: IDLE, no LOOP."""
    day = _Day(seed)
    day.move(900, 1.3, 0)
    day.wait(1200, interval=60.0)
    day.move(900, 1.3, 90)
    return _scenario("sparse_wait", day, ["IDLE"], sigma=5.0, what="one fix a minute while still, 5 s walking")


def subway(seed: int = 9) -> Scenario:
    """A 20-minute subway ride: one fix every 90-240 s underground, 35 km/h on average."""
    day = _Day(seed)
    day.move(600, 1.3, 0)
    start = day.now
    while day.now - start < 1200:
        gap = float(day.rng.uniform(90, 240))
        day.move(gap, 35 / 3.6, 60, interval=gap)
    end = day.now
    day.move(600, 1.3, 150)
    return _scenario("subway", day, ["VEHICLE"], ride=(start, end), what="sparse fixes underground at 35 km/h")


def _round_the_blocks(seed: int, legs: int, leg_s: float, kmh: tuple[float, float]) -> _Day:
    """``legs`` legs of ``leg_s`` at ``kmh`` (uniform range), a 20 s wait and a right or left turn after each."""
    day = _Day(seed)
    heading = 0.0
    for _ in range(legs):
        day.move(leg_s, day.rng.uniform(*kmh) / 3.6, heading)
        day.wait(20)
        heading += 90 if day.rng.random() < 0.5 else -90
    return day


def ebike(seed: int = 10) -> Scenario:
    """Forty minutes on an e-bike at its 25 km/h cap, with corners and lights: no flag."""
    return _scenario("ebike", _round_the_blocks(seed, 20, 100, (20, 25)), [], what="20-25 km/h, stops and corners")


def jog(seed: int = 11) -> Scenario:
    """Forty minutes of running at 9-12 km/h round the blocks, with waits at crossings: no flag."""
    return _scenario("jog", _round_the_blocks(seed, 16, 130, (9, 12)), [], what="9-12 km/h, waits and corners")


SCENARIOS = {
    f.__name__: f
    for f in (
        cold_start,
        excursions,
        network_fallback,
        train,
        city_bus,
        car_in_traffic,
        tight_circle,
        sparse_wait,
        subway,
        ebike,
        jog,
    )
}


#: Where the samples are placed: the Dongsi sample grids' neighbourhood (lon, lat, WGS-84).
SAMPLE_CENTRE = (116.4170, 39.9400)


def scenario_frame(
    scenario: Scenario,
    member_id: str,
    date: str = "2026-11-02",
    centre: tuple[float, float] = SAMPLE_CENTRE,
    tz: str = DEFAULT_TZ,
) -> pd.DataFrame:
    """The scenario as a track table: ``member_id, time`` (08:00 local + ``t``), ``lon, lat`` (WGS-84),
    ``accuracy`` (m), ``provider``."""
    lon, lat = LocalProjection(*centre).inverse(scenario.x, scenario.y)
    start = pd.Timestamp(f"{date} 08:00").tz_localize(tz)
    return pd.DataFrame(
        {
            "member_id": member_id,
            "time": start + pd.to_timedelta(np.round(scenario.t, 3), unit="s"),
            "lon": np.round(lon, 7),
            "lat": np.round(lat, 7),
            "accuracy": scenario.accuracy,
            "provider": scenario.provider,
        }
    )


def write_motion_samples(out_dir, date: str = "2026-11-02") -> list[Path]:
    """Write each scenario of :data:`SCENARIOS` as ``out_dir/<name>_M1NN.csv`` (members M101, M102 …)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, (name, build) in enumerate(SCENARIOS.items()):
        frame = scenario_frame(build(), f"M{101 + k}", date)
        frame["time"] = frame["time"].map(lambda t: t.isoformat(timespec="milliseconds"))
        path = out_dir / f"{name}_M{101 + k}.csv"
        frame.to_csv(path, index=False, lineterminator="\n")
        paths.append(path)
    return paths
