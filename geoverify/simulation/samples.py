"""The sample day's files (``geoverify simulate``): one simulated patrol per scenario on the sample grids,
with their event reports and sites, and the motion scenarios, as CSV."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from geoverify.simulation.simulate import (
    SCENARIOS,
    duplicate_track,
    honest_patrol,
    idle,
    simulate_events,
    simulate_sites,
)

# ----------------------------------------------------------------------------- public: sample files

#: (scenario, member) of the sample day; each member patrols the grid that lists them.
PLAN: tuple[tuple[str, str | tuple[str, str]], ...] = (
    ("honest", "M001"),
    ("teleport", "M002"),
    ("gps_outlier", "M003"),
    ("idle", "M004"),
    ("loop", "M005"),
    ("vehicle", "M006"),
    ("mock_location", "M007"),
    ("duplicate_track", ("M008", "M009")),
    ("crs_mismatch", "M010"),
    ("gap", "M011"),
    ("unassigned", "M012"),
)
UNASSIGNED_WALKS_IN = 3  # index of the grid the unassigned member walks in (DC-04 in the sample)


def load_grids(path: str | Path) -> dict[str, tuple[BaseGeometry, tuple[str, ...]]]:
    """``grid_id → (polygon, members)`` of a GeoJSON FeatureCollection (WGS-84 lon/lat)."""
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    out = {}
    for feat in doc["features"]:
        props = feat.get("properties") or {}
        members = props.get("members") or []
        if isinstance(members, str):
            members = json.loads(members) if members.strip().startswith("[") else members.split(",")
        out[str(props["grid_id"])] = (shape(feat["geometry"]), tuple(str(m).strip() for m in members))
    return out


def _iso(times: pd.Series) -> pd.Series:
    s = times.dt.strftime("%Y-%m-%dT%H:%M:%S%z")
    return s.str[:-2] + ":" + s.str[-2:]


def _write_csv(frame: pd.DataFrame, path: Path, decimals: Mapping[str, int]) -> Path:
    out = frame.copy()
    if "time" in out:
        out["time"] = _iso(out["time"])
    for col, n in decimals.items():
        out[col] = out[col].round(n)
    if "mock" in out:
        out["mock"] = np.where(out["mock"].to_numpy(dtype=bool), "true", "false")
    path.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(path, index=False, lineterminator="\n", encoding="utf-8")
    return path


def write_samples(
    grids_path: str | Path, out_dir: str | Path, date: str = "2026-11-02", seed: int = 20261102
) -> list[Path]:
    """Write the sample day: one track CSV per scenario of :data:`PLAN`, events and sites.

    Tracks go to ``out_dir/<scenario>_<member>.csv`` (columns :data:`CSV_COLUMNS`, times ISO 8601
    with offset, lon/lat 6 decimals). Events go to ``out_dir/events/events.csv`` and sites to
    ``out_dir/sites/sites.csv``, in sub-folders so that ``out_dir`` itself reads as a folder of
    tracks; the motion model's scenarios (:mod:`geoverify.simulation.motion_scenarios`) go to ``out_dir/motion``.
    A member patrols the grid whose ``members`` lists them (else, and for the unassigned member, a grid
    chosen by position in the file).

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    grids, out_dir = load_grids(grids_path), Path(out_dir)
    ids = list(grids)
    polys = {g: p for g, (p, _) in grids.items()}
    home = {m: g for g, (_, ms) in grids.items() for m in ms}
    sites = simulate_sites(polys, np.random.default_rng([seed, 100]))
    tracks, paths, where = {}, [], {}
    for k, (name, who) in enumerate(PLAN):
        first = who if isinstance(who, str) else who[0]
        fallback = ids[(UNASSIGNED_WALKS_IN if name == "unassigned" else k) % len(ids)]
        grid_id = fallback if name == "unassigned" else home.get(first, fallback)
        poly, rng, mine = polys[grid_id], np.random.default_rng([seed, k]), sites[sites["grid_id"] == grid_id]
        if name == "honest":
            frames = [honest_patrol(poly, who, date, rng, stops=mine[["lon", "lat"]].to_numpy()[:3])]
        elif name == "idle":
            frames = [idle(poly, who, date, rng, avoid=mine[["lon", "lat"]].to_numpy())]
        elif name == "duplicate_track":
            frames = list(duplicate_track(poly, who, date, rng))  # type: ignore[arg-type]  # PLAN gives it two ids
        else:
            frames = [SCENARIOS[name](poly, who, date, rng)]
        for frame in frames:
            m = frame["member_id"].iloc[0]
            tracks[m], where[m] = frame, grid_id
            paths.append(
                _write_csv(frame, out_dir / f"{name}_{m}.csv", {"lon": 6, "lat": 6, "accuracy": 1, "speed": 2})
            )
    events = simulate_events(
        tracks,
        {m: polys[g] for m, g in where.items()},
        np.random.default_rng([seed, 101]),
        reporter="M001",
        others=("M003", "M005"),
    )
    paths.append(_write_csv(events, out_dir / "events" / "events.csv", {"lon": 6, "lat": 6}))
    paths.append(_write_csv(sites, out_dir / "sites" / "sites.csv", {"lon": 6, "lat": 6}))
    from geoverify.simulation.motion_scenarios import write_motion_samples

    paths += write_motion_samples(out_dir / "motion", date)
    return paths
