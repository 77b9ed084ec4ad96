"""Running a batch on all local cores or on a Dask cluster, with the same two phases as in-process.

Every engine runs :func:`geoverify.engines.batch.verify_members` on parts of the fix table that each hold
all fixes of their members, merges the parts (:func:`geoverify.engines.batch.merge_parts`) and runs the
cross-patrol phase (:func:`geoverify.engines.batch.finish_batch`) once, so the result is the same as
:func:`geoverify.engines.batch.verify_batch` gives in one process. The shared context (grids, rules,
sites, event times) is sent once to each worker; a part sends back patrols and 24 bytes a fix of
track summary (see :mod:`geoverify.engines.track_summary`), not the fix table.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import cast

import numpy as np
import pandas as pd

from geoverify.engines.batch import BatchContext, BatchResult, MemberPart, finish_batch, merge_parts, verify_members
from geoverify.errors import GeoverifyError
from geoverify.io.partitioned import PartitionedFixes, read_part

# Below this many fixes, --workers left unset runs in one process: starting a pool would cost
# more than it saves.
AUTO_MIN_FIXES = 200_000
# Parts per worker when a fix table is split in this process: small enough parts to even out
# members of different sizes, few enough that per-part overhead stays small.
PARTS_PER_WORKER = 4
# At most this many fixes in one part: a part's day tracks and rasters are what a process holds
# beyond the fix table, so memory per fix stays flat however big the batch.
PART_MAX_FIXES = 250_000

_CONTEXT: BatchContext | None = None  # the context, in each pool worker


def default_workers(n_fixes: int) -> int:
    """Workers for ``--workers`` left unset: every core (``os.cpu_count()``), or 1 for small inputs."""
    return (os.cpu_count() or 1) if n_fixes >= AUTO_MIN_FIXES else 1


def split_by_member(fixes: pd.DataFrame, n_parts: int, group_of: Mapping[str, str] | None = None) -> list[pd.DataFrame]:
    """Split a fix table into at most ``n_parts`` parts, each holding all fixes of its members.

    Members are cut into parts of about equal fix counts, in order of their group (``group_of``,
    e.g. member → grid id, so that a grid's members share a part and its rasters are built once)
    and then of first appearance; rows keep their input order within a part; rows without a
    member id go to the first part.
    """
    return [fixes.iloc[rows] for rows in member_row_sets(fixes, n_parts, group_of)]


def member_row_sets(fixes: pd.DataFrame, n_parts: int, group_of: Mapping[str, str] | None = None) -> list[np.ndarray]:
    """The row positions of each part of :func:`split_by_member` (nothing is copied)."""
    codes, uniques = pd.factorize(fixes["member_id"])
    n_parts = max(1, min(n_parts, len(uniques)))
    sizes = np.bincount(codes[codes >= 0], minlength=len(uniques))
    groups = pd.factorize(pd.Series([(group_of or {}).get(str(m), str(m)) for m in uniques], dtype=object))[0]
    order = np.lexsort((np.arange(len(uniques)), groups))
    before = np.cumsum(sizes[order]) - sizes[order]
    part_of_member = np.empty(len(uniques), dtype=np.int64)
    part_of_member[order] = np.minimum(before * n_parts // max(int(sizes.sum()), 1), n_parts - 1)
    part_of_row = np.where(codes >= 0, part_of_member[np.maximum(codes, 0)], 0)
    rows = np.argsort(part_of_row, kind="stable")
    cuts = np.searchsorted(part_of_row[rows], np.arange(1, n_parts))
    return [r for r in np.split(rows, cuts) if len(r)]


def part_count(n_fixes: int, workers: int) -> int:
    """Parts to cut a table of ``n_fixes`` into: a few per worker, none above :data:`PART_MAX_FIXES`."""
    return max(workers * PARTS_PER_WORKER if workers > 1 else 1, math.ceil(n_fixes / PART_MAX_FIXES))


def bounded_map(pool: Executor, func: Callable, items: Iterable, window: int) -> Iterator:
    """``pool.map(func, items)`` in order, with at most ``window`` items submitted and not yet
    collected, so that lazily made items (parts of a table) are not all held at once."""
    source = iter(items)
    pending: deque = deque()
    while True:
        for item in source:
            pending.append(pool.submit(func, item))
            if len(pending) >= window:
                break
        if not pending:
            return
        yield pending.popleft().result()


def member_groups(ctx: BatchContext) -> dict[str, str]:
    """Member id → the id of the member's first grid (members sharing a grid verify best together)."""
    return {member: grids[0].grid_id for member, grids in ctx.by_member.items()}


def _init_worker(ctx: BatchContext) -> None:
    global _CONTEXT
    _CONTEXT = ctx


def _timed_part(fixes: pd.DataFrame | tuple[str, ...], ctx: BatchContext) -> MemberPart:
    """The per-member phase of a fix table, or of the files of a bucket (read here), timed in CPU seconds."""
    started = time.process_time()
    table = read_part(fixes) if isinstance(fixes, tuple) else fixes
    if len(table) > PART_MAX_FIXES:  # a big bucket: its members a few at a time, as in one process
        rows = member_row_sets(table, part_count(len(table), 1), member_groups(ctx))
        part = merge_parts(verify_members(table.iloc[r], ctx) for r in rows)
    else:
        part = verify_members(table, ctx)
    # A part holds whole grids' members (see member_row_sets): their rasters are not needed again.
    for grid in ctx.grids:
        grid.release_rasters()
    part.cpu_s = time.process_time() - started
    return part


def _part_task(fixes: pd.DataFrame | tuple[str, ...]) -> MemberPart:
    """One part of the per-member phase in a pool worker."""
    assert _CONTEXT is not None, "set by the pool's initializer"
    return _timed_part(fixes, _CONTEXT)


def verify_local(
    fixes: pd.DataFrame | PartitionedFixes, ctx: BatchContext, *, workers: int, events: pd.DataFrame | None = None
) -> BatchResult:
    """Verify a batch on ``workers`` local processes (1: in this process).

    Parameters
    ----------
    fixes : pandas.DataFrame or PartitionedFixes
        A fix table, split here by member; or a partitioned table, one task per bucket, each
        read by the worker that verifies it.
    ctx : BatchContext
    workers : int
        Processes (at least 1).
    events : pandas.DataFrame, optional
        The event reports ``ctx`` was built with.

    Returns
    -------
    BatchResult
        The same as :func:`geoverify.engines.batch.verify_batch` in one process.
    """
    if workers < 1:
        raise GeoverifyError(f"--workers must be at least 1, not {workers}")
    if isinstance(fixes, PartitionedFixes) and (workers == 1 or len(fixes.parts) < 2):
        # Bucket by bucket: a bucket holds all fixes of its members, so it is a part as it is.
        result = finish_batch(merge_parts([_timed_part(tuple(files), ctx) for files in fixes.parts]), ctx, events)
        result.stats.update(engine="local", workers=1)
        return result
    if workers == 1:
        whole = cast(pd.DataFrame, fixes)  # a PartitionedFixes with one worker went above
        # Part by part, in this process: only one part's day tracks are held at a time.
        row_sets = member_row_sets(whole, part_count(len(whole), 1), member_groups(ctx))
        parts = [_timed_part(whole.iloc[rows] if len(row_sets) > 1 else whole, ctx) for rows in row_sets]
        result = finish_batch(merge_parts(parts or [_timed_part(whole, ctx)]), ctx, events)
        result.stats.update(engine="local", workers=1)
        return result
    if isinstance(fixes, PartitionedFixes):
        tasks: Iterable = fixes.parts
        n_tasks = len(fixes.parts)
    else:
        row_sets = member_row_sets(fixes, part_count(len(fixes), workers), member_groups(ctx))
        if len(row_sets) < 2:
            return verify_local(fixes, ctx, workers=1, events=events)
        tasks = (fixes.iloc[rows] for rows in row_sets)  # copied one at a time, as the pool takes them
        n_tasks = len(row_sets)
    # forkserver (spawn where there is none): workers start from a clean server process that has
    # imported geoverify once; no threads of this process are copied into them.
    if "forkserver" in multiprocessing.get_all_start_methods():
        mp: multiprocessing.context.BaseContext = multiprocessing.get_context("forkserver")
        mp.set_forkserver_preload(["geoverify.engines.parallel"])
    else:
        mp = multiprocessing.get_context("spawn")
    used = min(workers, n_tasks)
    with ProcessPoolExecutor(max_workers=used, mp_context=mp, initializer=_init_worker, initargs=(ctx,)) as pool:
        parts = list(bounded_map(pool, _part_task, tasks, window=2 * used))
    result = finish_batch(merge_parts(parts), ctx, events)
    result.stats.update(engine="local", workers=used)
    return result


def _dask_part(files: tuple[str, ...], ctx: BatchContext) -> MemberPart:
    """One bucket of a partitioned table through the per-member phase, on a Dask worker."""
    return _timed_part(tuple(files), ctx)


def connect(scheduler: str, timeout_s: float = 10.0):
    """A ``distributed.Client`` of the scheduler at ``scheduler`` (e.g. ``tcp://10.0.0.5:8786``).

    Raises
    ------
    GeoverifyError
        When dask.distributed is not installed (``pip install 'geoverify[dask]'``), or the
        scheduler does not answer within ``timeout_s`` seconds (the message names the address).
    """
    try:
        from distributed import Client
    except ImportError:
        raise GeoverifyError(
            "--engine dask needs dask.distributed, which is not installed: pip install 'geoverify[dask]'"
        ) from None
    try:
        return Client(scheduler, timeout=f"{timeout_s}s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise GeoverifyError(
            f"cannot reach the Dask scheduler at {scheduler} within {timeout_s:g} s ({exc}); "
            "check the address and that dask-scheduler runs there"
        ) from None


def verify_dask(
    dataset: PartitionedFixes,
    ctx: BatchContext,
    *,
    scheduler: str,
    timeout_s: float = 10.0,
    events: pd.DataFrame | None = None,
    client=None,
) -> BatchResult:
    """Verify a partitioned fix table on a Dask cluster: one task per member bucket.

    The context is scattered to every worker once (``broadcast=True``); each task reads its
    bucket's files itself (so they must be on storage every worker can read, at the same path),
    runs the per-member phase and returns its part; the cross-patrol phase runs here.

    Parameters
    ----------
    dataset : PartitionedFixes
        Written by ``geoverify partition`` (:func:`geoverify.io.partitioned.write_partitioned`).
    ctx : BatchContext
    scheduler : str
        The scheduler's address, e.g. ``tcp://10.0.0.5:8786``.
    timeout_s : float
        Seconds to wait for the scheduler.
    events : pandas.DataFrame, optional
        The event reports ``ctx`` was built with.
    client : distributed.Client, optional
        An existing client to use instead of connecting to ``scheduler``.

    Returns
    -------
    BatchResult
        The same as :func:`geoverify.engines.batch.verify_batch` on the whole table in one process.
    """
    own = client is None
    client = connect(scheduler, timeout_s) if own else client
    try:
        shared = client.scatter(ctx, broadcast=True, hash=False)
        run = uuid.uuid4().hex
        futures = [
            client.submit(_dask_part, files, shared, key=f"geoverify-part-{k}-{run}", pure=False)
            for k, files in enumerate(dataset.parts)
        ]
        parts = client.gather(futures)
        workers = len(client.scheduler_info().get("workers", {}))
    finally:
        if own:
            client.close()
    result = finish_batch(merge_parts(parts), ctx, events)
    result.stats.update(engine="dask", workers=workers)
    return result
