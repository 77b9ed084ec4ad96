"""City-day workloads for the benchmark: grids, tracks (CSV and GeoParquet), events and sites.

A workload of about N fixes is a lattice of 400 m square grids around Beijing, two members per
grid, each patrolling 8 h at 10 s sampling (``geoverify.simulation.city.simulate_city``). One member in
:data:`ANOMALY_EVERY` instead follows one of the simulator's anomaly scenarios (teleport, GPS
spikes, idle, loop, vehicle, mock location, GCJ-02 track, gap; one pair per chunk carries two
phones), so every detector has something to find. Each member files :data:`EVENTS_PER_MEMBER`
ordinary event reports near their track, and each chunk adds ``simulate_events``' set with one case
of every event flag; each grid has 1-4 sites (households).

Generation runs in chunks of :data:`CHUNK_GRIDS` grids, appended to the CSV and to the row groups
of one GeoParquet file, so a 10 M-fix day never sits in memory whole. Files go to
``bench/data/city_<members>/`` with a ``manifest.json`` written last: a folder with a manifest of
the current :data:`VERSION` is reused, anything else is regenerated.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import shapely
from shapely.geometry import box, shape

from geoverify.geo.projection import LocalProjection
from geoverify.simulation.city import simulate_city
from geoverify.simulation.simulate import SCENARIOS, duplicate_track, simulate_events, simulate_sites

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
VERSION = 2  # bump when the generated content changes
FIXES_PER_MEMBER = 8 * 3600 // 10  # 8 h at 10 s
MEMBERS_PER_GRID = 2
GRID_SIDE_M = 400.0
CENTRE = (116.40, 39.91)  # Beijing, lon/lat
CHUNK_GRIDS = 100  # 200 members, ~576 k fixes per chunk
ANOMALY_EVERY = 25  # one member in 25 follows an anomaly scenario
ANOMALIES = ("teleport", "gps_outlier", "idle", "loop", "vehicle", "mock_location", "crs_mismatch", "gap")
EVENTS_PER_MEMBER = 2
DATE = "2026-11-02"
NOW = "2026-11-03T00:00:00+08:00"  # --now of every run: nothing is in the future
TZ_OFFSET = "+08:00"
CATEGORIES = ("garbage", "illegal_parking", "blocked_fire_lane", "street_vending", "broken_facility")

_PARQUET_SCHEMA = pa.schema(
    [
        ("member_id", pa.dictionary(pa.int32(), pa.string())),
        ("time", pa.timestamp("ns", tz="Asia/Shanghai")),
        ("accuracy", pa.float64()),
        ("speed", pa.float64()),
        ("provider", pa.dictionary(pa.int32(), pa.string())),
        ("mock", pa.bool_()),
        ("device_id", pa.dictionary(pa.int32(), pa.string())),
        ("geometry", pa.binary()),
    ]
)
_GEO_METADATA = {
    "version": "1.1.0",
    "primary_column": "geometry",
    "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Point"]}},
}  # no crs: OGC:CRS84


@dataclass
class Workload:
    """The files of one generated city day and what is in them."""

    folder: Path
    fixes: int
    members: int
    grids: int
    events: int
    sites: int
    scenarios: dict  # member id → anomaly scenario name (members not listed are honest)
    generated_s: float  # seconds the generation took (0 when it was cached)

    @property
    def grids_path(self) -> Path:
        return self.folder / "grids.geojson"

    @property
    def csv_path(self) -> Path:
        return self.folder / "tracks.csv"

    @property
    def parquet_path(self) -> Path:
        return self.folder / "tracks.parquet"

    @property
    def events_path(self) -> Path:
        return self.folder / "events.csv"

    @property
    def sites_path(self) -> Path:
        return self.folder / "sites.csv"

    @property
    def partitioned_path(self) -> Path:
        """Hive-partitioned GeoParquet written by ``geoverify partition`` (see runners.ensure_partitioned)."""
        return self.folder / "partitioned"

    def tracks_path(self, fmt: str) -> Path:
        """The tracks of input format ``fmt``: "csv", "parquet" or "partitioned"."""
        return {"csv": self.csv_path, "parquet": self.parquet_path, "partitioned": self.partitioned_path}[fmt]


def member_name(m: int) -> str:
    return f"C{m:05d}"


def city_grids(n_grids: int) -> dict:
    """A square lattice of ``n_grids`` 400 m grids around :data:`CENTRE` as a GeoJSON document.

    Member ``m`` patrols grid ``m % n_grids``: grid ``g`` lists members ``g`` and ``g + n_grids``.
    """
    proj = LocalProjection(*CENTRE)
    side = math.ceil(math.sqrt(n_grids))
    features = []
    for g in range(n_grids):
        row, col = divmod(g, side)
        x0, y0 = (col - side / 2) * GRID_SIDE_M, (row - side / 2) * GRID_SIDE_M
        ring = np.asarray(box(x0, y0, x0 + GRID_SIDE_M, y0 + GRID_SIDE_M).exterior.coords)
        lon, lat = proj.inverse(ring[:, 0], ring[:, 1])
        members = [member_name(m) for m in range(g, MEMBERS_PER_GRID * n_grids, n_grids)]
        features.append(
            {
                "type": "Feature",
                "properties": {"grid_id": f"B{g:05d}", "grid_type": "urban", "members": members},
                "geometry": {"type": "Polygon", "coordinates": [np.column_stack([lon, lat]).round(7).tolist()]},
            }
        )
    return {"type": "FeatureCollection", "features": features}


def _iso_local(times: pd.Series) -> np.ndarray:
    """Tz-aware Asia/Shanghai times → ISO 8601 strings with the +08:00 offset (vectorised)."""
    wall = times.dt.tz_convert("Asia/Shanghai").dt.tz_localize(None).to_numpy(dtype="datetime64[s]")
    return np.char.add(np.datetime_as_string(wall, unit="s"), TZ_OFFSET)


def _chunk_frame(polys: list, g0: int, n_grids: int, chunk: int, scenarios: dict) -> pd.DataFrame:
    """All fixes of the members of grids ``g0 .. g0 + len(polys) - 1``, with global member ids."""
    k = len(polys)
    n_local = MEMBERS_PER_GRID * k
    city = simulate_city(polys, n_local, date=DATE, seed=1000 + chunk)
    local_to_global = [(g0 + i % k) + (i // k) * n_grids for i in range(n_local)]
    names = [member_name(m) for m in local_to_global]
    city["member_id"] = city["member_id"].cat.rename_categories(names)
    rng = np.random.default_rng([7, chunk])
    replaced: dict[str, pd.DataFrame] = {}
    for i, m in enumerate(local_to_global):
        if m % ANOMALY_EVERY == 3:
            name = ANOMALIES[(m // ANOMALY_EVERY) % len(ANOMALIES)]
            replaced[member_name(m)] = SCENARIOS[name](polys[i % k], member_name(m), DATE, rng)
            scenarios[member_name(m)] = name
    if k >= 2:  # one person carrying two phones: both members of the chunk's second grid
        pair = (member_name(local_to_global[1]), member_name(local_to_global[1 + k]))
        if not set(pair) & set(replaced):
            for frame in duplicate_track(polys[1], pair, DATE, rng):
                replaced[str(frame["member_id"].iloc[0])] = frame
            scenarios.update({m: "duplicate_track" for m in pair})
    if not replaced:
        return city
    kept = city[~city["member_id"].isin(list(replaced))]
    return pd.concat(
        [
            kept.astype({c: "string" for c in ("member_id", "provider", "device_id")}),
            *(f.astype({c: "string" for c in ("member_id", "provider", "device_id")}) for f in replaced.values()),
        ],
        ignore_index=True,
    )


def _events(frame: pd.DataFrame, polys: dict, member_grid: dict, scenarios: dict, chunk: int) -> pd.DataFrame:
    """Ordinary reports near each member's track, plus one case of every event flag."""
    rng = np.random.default_rng([11, chunk])
    members = frame["member_id"].astype(str).to_numpy()
    starts = np.flatnonzero(np.r_[True, members[1:] != members[:-1]])
    ends = np.r_[starts[1:], len(members)]
    pick = np.concatenate([rng.integers(s, e, EVENTS_PER_MEMBER) for s, e in zip(starts, ends)])
    angle, dist = rng.uniform(0, 2 * np.pi, len(pick)), rng.uniform(3, 12, len(pick))
    lat = frame["lat"].to_numpy()[pick]
    ordinary = pd.DataFrame(
        {
            "member_id": members[pick],
            "time": (
                frame["time"].iloc[pick].reset_index(drop=True)
                + pd.to_timedelta(rng.integers(0, 8, len(pick)), unit="s")
            ),
            "lon": frame["lon"].to_numpy()[pick] + dist * np.cos(angle) / (111_320.0 * np.cos(np.radians(lat))),
            "lat": lat + dist * np.sin(angle) / 110_950.0,
            "category": rng.choice(CATEGORIES, len(pick)),
            "photo_sha256": [f"{x:064x}" for x in rng.integers(0, 2**62, len(pick))],
            "description": "巡查发现问题，已拍照上报",
        }
    )
    honest = [m for m in dict.fromkeys(members) if m not in scenarios][:3]
    parts = [ordinary]
    if len(honest) == 3:
        tracks = {m: frame[frame["member_id"] == m].reset_index(drop=True) for m in honest}
        parts.append(
            simulate_events(
                tracks, {m: polys[member_grid[m]] for m in honest}, rng, reporter=honest[0], others=honest[1:]
            ).drop(columns="event_id")
        )
    out = pd.concat(parts, ignore_index=True)
    out.insert(0, "event_id", [f"E{chunk:03d}-{i:05d}" for i in range(len(out))])
    out["time"] = _iso_local(out["time"])
    return out.round({"lon": 6, "lat": 6})


def _write_csv_chunk(frame: pd.DataFrame, path: Path, first: bool) -> None:
    table = pa.table(
        {
            "member_id": frame["member_id"].astype(str).to_numpy(),
            "time": _iso_local(frame["time"]),
            "lon": frame["lon"].round(6).to_numpy(),
            "lat": frame["lat"].round(6).to_numpy(),
            "accuracy": frame["accuracy"].round(1).to_numpy(),
            "speed": frame["speed"].round(2).to_numpy(),
            "provider": frame["provider"].astype(str).to_numpy(),
            "mock": frame["mock"].to_numpy(dtype=bool),
            "device_id": frame["device_id"].astype(str).to_numpy(),
        }
    )
    options = pacsv.WriteOptions(include_header=first, quoting_style="needed")
    with open(path, "wb" if first else "ab") as sink:
        pacsv.write_csv(table, sink, write_options=options)


def _parquet_chunk(frame: pd.DataFrame) -> pa.Table:
    lon, lat = frame["lon"].round(6).to_numpy(), frame["lat"].round(6).to_numpy()
    arrays = [
        pa.array(frame["member_id"].astype(str).to_numpy()).dictionary_encode(),
        pa.array(frame["time"].dt.tz_convert("Asia/Shanghai").dt.as_unit("ns")),
        pa.array(frame["accuracy"].round(1).to_numpy()),
        pa.array(frame["speed"].round(2).to_numpy()),
        pa.array(frame["provider"].astype(str).to_numpy()).dictionary_encode(),
        pa.array(frame["mock"].to_numpy(dtype=bool)),
        pa.array(frame["device_id"].astype(str).to_numpy()).dictionary_encode(),
        pa.array(shapely.to_wkb(shapely.points(lon, lat)), type=pa.binary()),
    ]
    return pa.Table.from_arrays(arrays, schema=_PARQUET_SCHEMA)


def make_workload(n_fixes: int, log=print) -> Workload:
    """Generate (or reuse) the city day of about ``n_fixes`` fixes; see the module docstring."""
    n_members = max(MEMBERS_PER_GRID, round(n_fixes / FIXES_PER_MEMBER))
    n_grids = math.ceil(n_members / MEMBERS_PER_GRID)
    n_members = MEMBERS_PER_GRID * n_grids
    folder = DATA / f"city_{n_members}"
    manifest = folder / "manifest.json"
    if manifest.exists():
        meta = json.loads(manifest.read_text())
        if meta.get("version") == VERSION:
            return Workload(folder=folder, generated_s=0.0, **{k: v for k, v in meta.items() if k != "version"})
    folder.mkdir(parents=True, exist_ok=True)
    manifest.unlink(missing_ok=True)
    shutil.rmtree(folder / "partitioned", ignore_errors=True)
    t0 = time.perf_counter()
    document = city_grids(n_grids)
    (folder / "grids.geojson").write_text(json.dumps(document))
    polys = {f["properties"]["grid_id"]: shape(f["geometry"]) for f in document["features"]}
    ids = list(polys)
    member_grid = {m: f["properties"]["grid_id"] for f in document["features"] for m in f["properties"]["members"]}
    scenarios: dict[str, str] = {}
    n_written = n_events = 0
    sites = simulate_sites(polys, np.random.default_rng(5))
    sites.round({"lon": 6, "lat": 6}).to_csv(folder / "sites.csv", index=False)
    writer = pq.ParquetWriter(
        folder / "tracks.parquet.part",
        _PARQUET_SCHEMA.with_metadata({b"geo": json.dumps(_GEO_METADATA).encode()}),
        compression="zstd",
    )
    try:
        for chunk, g0 in enumerate(range(0, n_grids, CHUNK_GRIDS)):
            chunk_ids = ids[g0 : g0 + CHUNK_GRIDS]
            frame = _chunk_frame([polys[g] for g in chunk_ids], g0, n_grids, chunk, scenarios)
            frame = frame.sort_values(["member_id", "time"], kind="stable").reset_index(drop=True)
            _write_csv_chunk(frame, folder / "tracks.csv.part", first=chunk == 0)
            writer.write_table(_parquet_chunk(frame))
            events = _events(frame, polys, member_grid, scenarios, chunk)
            events.to_csv(folder / "events.csv", mode="w" if chunk == 0 else "a", header=chunk == 0, index=False)
            n_written += len(frame)
            n_events += len(events)
            log(f"  generated {n_written:,} fixes ({g0 + len(chunk_ids)}/{n_grids} grids)")
            del frame
    finally:
        writer.close()
    (folder / "tracks.csv.part").replace(folder / "tracks.csv")
    (folder / "tracks.parquet.part").replace(folder / "tracks.parquet")
    meta = {
        "fixes": n_written,
        "members": n_members,
        "grids": n_grids,
        "events": n_events,
        "sites": len(sites),
        "scenarios": scenarios,
    }
    manifest.write_text(json.dumps({"version": VERSION, **meta}, indent=1))
    return Workload(folder=folder, generated_s=time.perf_counter() - t0, **meta)
