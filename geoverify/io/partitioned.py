"""A fix table written as hive-partitioned GeoParquet, for batches spread over processes or a cluster.

Layout (``geoverify partition`` writes it)::

    DIR/_geoverify_dataset.json              format, bucket count, fix count, reader warnings
    DIR/bucket=017/date=2026-11-02/part-00000.parquet   one file per input chunk (track file)
    DIR/bucket=none/date=none/part-00000.parquet        fixes without a member id

A member's fixes all go to one bucket (CRC-32 of the member's grid id, or of the member id when no
grids are given, modulo the bucket count), so one
task that reads one bucket holds every day of its members, as the per-member phase of a batch
needs (:func:`geoverify.engines.batch.verify_members`). Within a bucket, ``date`` (the local date of the
fix, ``none`` when it has no time) only splits the files.

Each file is GeoParquet 1.0: a WKB point ``geometry`` column (OGC:CRS84, i.e. WGS-84 lon/lat)
beside the fix table's columns (:data:`geoverify.schema.TRACK_COLUMNS`), already converted to
WGS-84 (``crs`` keeps what the input declared), plus ``seq``, the row's position in the input,
so that a bucket read back is in input order and the original ``source`` file and ``line``
stay in every flag's evidence. Reading it back gives the same fix table as reading the input.
"""

from __future__ import annotations

import json
import shutil
import warnings
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import shapely

from geoverify.errors import GeoverifyError, GeoverifyWarning, InputError
from geoverify.io.times import DEFAULT_TZ, check_tz
from geoverify.schema import TRACK_COLUMNS

MARKER = "_geoverify_dataset.json"
FORMAT = "geoverify-fixes"
VERSION = 1
NO_MEMBER = "none"
# Text columns, kept as dictionaries (categoricals) as the readers return them.
_TEXT = ["member_id", "provider", "device_id", "crs", "source"]
_GEO = {
    "version": "1.0.0",
    "primary_column": "geometry",
    "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Point"]}},
}


@dataclass(frozen=True)
class PartitionedFixes:
    """An opened partitioned fix table: its folder, bucket folders and size.

    Attributes
    ----------
    path : pathlib.Path
    parts : tuple of tuple of str
        The Parquet files of each bucket (one task's input), in bucket order.
    fixes : int
        Number of fix rows (input rows, rejected ones included).
    warnings : tuple of str
        The reader's warnings when the input was read (re-issued on opening).
    """

    path: Path
    parts: tuple[tuple[str, ...], ...]
    fixes: int
    warnings: tuple[str, ...] = ()


def member_bucket(member_ids: pd.Series, buckets: int, group_of: Mapping[str, str] | None = None) -> np.ndarray:
    """Bucket label of each fix: CRC-32 (UTF-8) of the member's group (``group_of``, e.g. its grid
    id) or else of the member id, modulo ``buckets``; ``none`` without a member id."""
    codes, uniques = pd.factorize(member_ids)
    keys = [(group_of or {}).get(str(m), str(m)) for m in uniques]
    labels = np.array([f"{zlib.crc32(k.encode('utf-8')) % buckets:03d}" for k in keys] + [NO_MEMBER], dtype=object)
    return labels[np.where(codes < 0, len(uniques), codes)]


def is_partitioned(path: str | Path) -> bool:
    """Whether ``path`` is a folder written by :func:`write_partitioned`."""
    return (Path(path) / MARKER).is_file()


def track_chunks(
    path: str | Path, *, tz: str = DEFAULT_TZ, crs: str = "wgs84", member_id: str | None = None
) -> Iterator[pd.DataFrame]:
    """The fix tables of a track file or of a folder's track files, one file at a time (lazily),
    as :func:`geoverify.io.read_tracks` would concatenate them."""
    from geoverify.io.tracks import read_track_file, track_files

    for name in track_files(path):
        yield read_track_file(name, tz=tz, crs=crs, member_id=member_id)


def write_partitioned(
    fixes: pd.DataFrame | Iterable[pd.DataFrame],
    out_dir: str | Path,
    *,
    buckets: int = 64,
    tz: str = DEFAULT_TZ,
    group_of: Mapping[str, str] | None = None,
) -> PartitionedFixes:
    """Write a fix table as hive-partitioned GeoParquet (``bucket=NNN/date=YYYY-MM-DD``).

    Parameters
    ----------
    fixes : pandas.DataFrame or iterable of them
        A fix table as the readers return it (WGS-84, UTC), in input order; or consecutive chunks
        of one (e.g. :func:`track_chunks`), written as they come, so that only one chunk is in
        memory. Each chunk adds a ``part-NNNNN.parquet`` file to the buckets it touches.
        GeoverifyWarnings raised while the chunks are read are kept with the table and issued
        again (now and on every :func:`open_partitioned`).
    out_dir : path
        A folder that does not exist yet or is empty.
    buckets : int
        Number of member buckets (at least 1): the number of tasks a batch can spread over.
    tz : str
        IANA zone of the ``date`` level.
    group_of : mapping of member id to str, optional
        A group per member (e.g. its grid id, :func:`geoverify.engines.parallel.member_groups`): a group's
        members share a bucket, so a task builds each grid's rasters once. Default: by member.

    Returns
    -------
    PartitionedFixes
    """
    check_tz(tz)
    if buckets < 1:
        raise InputError(f"--buckets must be at least 1, not {buckets}")
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(
            "output folder exists and is not empty; give a new folder (the partitioned "
            "table is written whole, never appended to)",
            source=str(out),
        )
    chunks = [fixes] if isinstance(fixes, pd.DataFrame) else fixes
    out.mkdir(parents=True, exist_ok=True)
    total = 0
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", GeoverifyWarning)
            for k, chunk in enumerate(chunks):
                _write_chunk(chunk, out, k, total, buckets, tz, group_of)
                total += len(chunk)
        texts = [str(w.message) for w in caught if issubclass(w.category, GeoverifyWarning)]
        (out / MARKER).write_text(
            json.dumps(
                {
                    "format": FORMAT,
                    "version": VERSION,
                    "buckets": buckets,
                    "bucket_key": "grid" if group_of else "member",
                    "fixes": total,
                    "tz": tz,
                    "warnings": texts,
                },
                ensure_ascii=False,
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
    except (OSError, GeoverifyError) as exc:
        shutil.rmtree(out, ignore_errors=True)
        if isinstance(exc, GeoverifyError):
            raise
        raise InputError(f"cannot write the partitioned table: {exc}", source=str(out)) from None
    for text in texts:
        warnings.warn(text, GeoverifyWarning, stacklevel=2)
    return open_partitioned(out, warn=False)


def _write_chunk(
    fixes: pd.DataFrame, out: Path, k: int, first_seq: int, buckets: int, tz: str, group_of: Mapping[str, str] | None
) -> None:
    key = pd.DataFrame(
        {"b": member_bucket(fixes["member_id"], buckets, group_of), "d": _local_dates(fixes["time"], tz)}
    )
    table = _arrow_table(fixes, first_seq)
    b: int
    d: object
    for (b, d), rows in key.groupby(["b", "d"], sort=True).indices.items():  # type: ignore[misc]  # pandas-stubs: keys are tuples
        folder = out / f"bucket={b}" / f"date={d}"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(table.take(pa.array(np.sort(rows))), folder / f"part-{k:05d}.parquet", compression="zstd")


def _local_dates(time: pd.Series, tz: str) -> np.ndarray:
    """``YYYY-MM-DD`` local date of each time, ``none`` for NaT (one strftime per distinct day)."""
    valid = time.notna().to_numpy()
    wall = time.dt.tz_convert(tz).dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    days = wall.astype("datetime64[D]")
    out = np.full(len(time), "none", dtype=object)
    if valid.any():
        uniq, inverse = np.unique(days[valid], return_inverse=True)
        out[valid] = np.array([str(d) for d in uniq], dtype=object)[inverse]
    return out


def _arrow_table(fixes: pd.DataFrame, first_seq: int) -> pa.Table:
    lon = fixes["lon"].to_numpy(dtype=float)
    lat = fixes["lat"].to_numpy(dtype=float)
    ok = np.isfinite(lon) & np.isfinite(lat)
    wkb = np.full(len(fixes), None, dtype=object)
    if ok.any():
        wkb[ok] = shapely.to_wkb(shapely.points(lon[ok], lat[ok]))
    frame = pd.DataFrame({name: fixes[name] for name in TRACK_COLUMNS}).reset_index(drop=True)
    frame["seq"] = np.arange(first_seq, first_seq + len(frame), dtype=np.int64)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.append_column("geometry", pa.array(wkb, type=pa.binary()))
    meta = dict(table.schema.metadata or {})
    meta[b"geo"] = json.dumps(_GEO).encode()
    return table.replace_schema_metadata(meta)


def open_partitioned(path: str | Path, *, warn: bool = True) -> PartitionedFixes:
    """Open a folder written by :func:`write_partitioned`; re-issue the reader's warnings.

    Raises
    ------
    InputError
        When the folder has no marker file, or a marker of another format or version.
    """
    path = Path(path).absolute()  # tasks on other machines read the same absolute paths
    marker = path / MARKER
    try:
        meta = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(
            f"not a partitioned fix table ({MARKER} missing or unreadable: {exc}); write one with "
            "'geoverify partition --tracks FILE --out DIR'",
            source=str(path),
        ) from None
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise InputError(
            f"{MARKER} names format {meta.get('format')!r} version {meta.get('version')!r}; this "
            f"geoverify reads {FORMAT!r} version {VERSION}: partition the input again",
            source=str(path),
        )
    parts = tuple(
        tuple(str(f) for f in sorted(b.glob("date=*/*.parquet"))) for b in sorted(path.glob("bucket=*")) if b.is_dir()
    )
    for text in meta.get("warnings", []) if warn else ():
        warnings.warn(text, GeoverifyWarning, stacklevel=2)
    return PartitionedFixes(
        path=path,
        parts=tuple(p for p in parts if p),
        fixes=int(meta.get("fixes", 0)),
        warnings=tuple(meta.get("warnings", [])),
    )


def read_part(files: tuple[str, ...] | list[str]) -> pd.DataFrame:
    """Read the files of one or more buckets back into one fix table, in input order.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`geoverify.schema.TRACK_COLUMNS` with the readers' dtypes.
    """
    tables = []
    for name in files:
        try:
            tables.append(pq.read_table(name, columns=list(TRACK_COLUMNS) + ["seq"], read_dictionary=_TEXT))
        except (OSError, pa.ArrowException) as exc:
            raise InputError(f"cannot read partition: {exc}", source=str(name)) from None
    if not tables:
        from geoverify.io.tracks import empty_fixes

        return empty_fixes()
    table = pa.concat_tables(tables).unify_dictionaries()
    table = table.take(pc.sort_indices(table["seq"]))
    frame = table.to_pandas()
    frame["time"] = frame["time"].astype("datetime64[ns, UTC]")
    frame["mock"] = frame["mock"].astype("boolean")
    for name in _TEXT:
        frame[name] = frame[name].astype("category")
    return frame[list(TRACK_COLUMNS)]


def read_partitioned(dataset: PartitionedFixes) -> pd.DataFrame:
    """The whole partitioned table as one fix table, in input order."""
    return read_part([f for part in dataset.parts for f in part])
