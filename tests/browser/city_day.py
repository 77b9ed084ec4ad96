"""A city-scale day for the browser tests of the day overview: 250 grids, 500 patrols.

The grids are a 16-wide lattice of 400 m squares around Beijing (ids ``G001``…``G250``); every
25th grid (``G025``, ``G050``…) has no patrol that day. The other 240 grids have two members
each, the first 20 of them three: 500 members, one patrol each, built with the project's
simulator (:func:`geoverify.simulation.city.simulate_city` for the honest walks, its anomaly scenarios
for the rest) and loaded with the store's own load functions (grids and events as uploads, the
tracks with :func:`geoverify.store.ingest.load_large_tracks`). Fixes every 15 s.

What the day holds, by member number ``m`` (``C0000`` + m):

- ``m % 25 == 1``: a teleport (held), ``m % 50 == 2``: mock locations (held);
- ``m % 25 == 5``: a one-hour walk (verified, 0 points: below the required time);
- ``m % 25 == 7``: an idle stretch, ``m % 25 == 9``: a loop (credited, an open medium flag);
- every other member walks three hours (credited, normally no flag);
- three members file event reports with one case of every event flag.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
from shapely.geometry import box, mapping

from geoverify.geo.projection import LocalProjection
from geoverify.simulation.city import simulate_city
from geoverify.simulation.simulate import SCENARIOS, simulate_events

DATE = "2026-11-02"
CENTRE = (116.40, 39.91)
SIDE_M = 400.0
N_GRIDS = 250
N_MEMBERS = 500
N_PATROLS = N_MEMBERS  # one patrol each
COLUMNS = 16
INTERVAL_S = 15.0
UNPATROLLED_EVERY = 25
EXTRA_MEMBERS = N_MEMBERS - 2 * (N_GRIDS - N_GRIDS // UNPATROLLED_EVERY)  # grids with a third member


def grid_id(g: int) -> str:
    """The id of the g-th grid (0-based): G001…G250."""
    return f"G{g + 1:03d}"


def member_id(m: int) -> str:
    """The id of the m-th member: C0000…C0499."""
    return f"C{m:04d}"


def scenario(m: int) -> str:
    """What member ``m`` does that day (see the module docstring)."""
    if m % 25 == 1:
        return "teleport"
    if m % 50 == 2:
        return "mock_location"
    if m % 25 == 5:
        return "short"
    if m % 25 == 7:
        return "idle"
    if m % 25 == 9:
        return "loop"
    return "honest"


def plan() -> tuple[list, dict[str, int]]:
    """(polygons of the grids in lon/lat, member id → grid index)."""
    projection = LocalProjection(*CENTRE)
    polygons = []
    for g in range(N_GRIDS):
        row, col = divmod(g, COLUMNS)
        x0, y0 = (col - COLUMNS / 2) * SIDE_M, (row - COLUMNS / 2) * SIDE_M
        ring = np.asarray(box(x0, y0, x0 + SIDE_M, y0 + SIDE_M).exterior.coords)
        lon, lat = projection.inverse(ring[:, 0], ring[:, 1])
        polygons.append(box(lon.min(), lat.min(), lon.max(), lat.max()))
    patrolled = [g for g in range(N_GRIDS) if (g + 1) % UNPATROLLED_EVERY != 0]
    slots = patrolled * 2 + patrolled[:EXTRA_MEMBERS]
    return polygons, {member_id(m): g for m, g in enumerate(slots)}


def grids_document(polygons: list, home: dict[str, int]) -> dict:
    """The grids as a GeoJSON FeatureCollection with names and members."""
    members: dict[int, list[str]] = {}
    for member, g in home.items():
        members.setdefault(g, []).append(member)
    features = [
        {
            "type": "Feature",
            "geometry": mapping(poly),
            "properties": {
                "grid_id": grid_id(g),
                "name": f"第{g + 1}网格",
                "grid_type": "urban",
                "members": sorted(members.get(g, [])),
            },
        }
        for g, poly in enumerate(polygons)
    ]
    return {"type": "FeatureCollection", "features": features}


def tracks(polygons: list, home: dict[str, int]) -> pd.DataFrame:
    """Every member's fixes of the day (the simulator's CSV columns)."""
    kinds = {m: scenario(int(m[1:])) for m in home}
    frames = []
    for name, hours, seed in (("honest", 3.0, 1), ("short", 1.0, 2)):
        who = [m for m, kind in kinds.items() if kind == name]
        city = simulate_city(
            [polygons[home[m]] for m in who],
            len(who),
            date=DATE,
            interval_s=INTERVAL_S,
            seed=seed,
            start="08:30",
            hours=hours,
        )
        city["member_id"] = city["member_id"].cat.rename_categories(who)
        frames.append(city.astype({"member_id": str, "provider": str, "device_id": str}))
    rng = np.random.default_rng(2026)
    for m, kind in kinds.items():
        if kind not in ("honest", "short"):
            frames.append(SCENARIOS[kind](polygons[home[m]], m, DATE, rng, interval_s=INTERVAL_S))
    return pd.concat(frames, ignore_index=True).sort_values(["member_id", "time"], kind="stable")


def events(frame: pd.DataFrame, polygons: list, home: dict[str, int]) -> pd.DataFrame:
    """One case of every event flag, filed by three honest members."""
    reporter, *others = [member_id(m) for m in (3, 4, 6)]
    chosen = {m: frame[frame["member_id"] == m].reset_index(drop=True) for m in (reporter, *others)}
    return simulate_events(
        chosen, {m: polygons[home[m]] for m in chosen}, np.random.default_rng(7), reporter=reporter, others=others
    )


def _csv(frame: pd.DataFrame) -> bytes:
    out = frame.copy()
    out["time"] = out["time"].map(lambda t: t.isoformat())
    if "mock" in out:
        out["mock"] = np.where(out["mock"].to_numpy(dtype=bool), "true", "false")
    return out.round({"lon": 6, "lat": 6}).to_csv(index=False, lineterminator="\n").encode()


def build(store, folder: Path) -> dict:
    """Load the day into ``store``; the track CSV is written to ``folder``.

    Returns
    -------
    dict
        ``grids``, ``patrols``, ``fixes`` and ``home`` (member id → grid id).
    """
    from geoverify.io.tracks import read_track_file
    from geoverify.store.ingest import load_large_tracks, upload

    polygons, home = plan()
    upload(
        store,
        "grids",
        json.dumps(grids_document(polygons, home)).encode(),
        suffix=".geojson",
        actor="tests",
        wait=math.inf,
    )
    frame = tracks(polygons, home)
    path = folder / "city_tracks.csv"
    path.write_bytes(_csv(frame))
    loaded = load_large_tracks(store, read_track_file(path, tz=store.tz), actor="tests", source=path.name)
    upload(store, "events", _csv(events(frame, polygons, home)), suffix=".csv", actor="tests", wait=math.inf)
    return {
        "grids": N_GRIDS,
        "patrols": len(loaded["patrols"]),
        "fixes": len(frame),
        "home": {m: grid_id(g) for m, g in home.items()},
    }
