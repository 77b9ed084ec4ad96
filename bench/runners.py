"""Run the installed ``geoverify verify`` as a child process and measure it.

* Wall seconds: ``time.perf_counter`` around the child.
* CPU seconds: ``os.wait4`` (the child and every descendant it waited for) or, when larger, the
  sum over every process of the tree of its last CPU time polled from ``/proc/PID/stat`` (worker
  processes of a forkserver are not waited for by the child).
* Peak memory: the largest single process' peak RSS from ``os.wait4``, or, when larger, the peak
  of the whole process tree's summed PSS polled every 0.25 s from ``/proc/PID/smaps_rollup`` (more
  often costs the measured run CPU)
  (shared pages split between the processes sharing them, so forked workers are not counted twice).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from workload import NOW, Workload

POLL_S = 0.25  # seconds between polls: reading smaps_rollup of a big process costs CPU


def geoverify_exe() -> Path:
    """The ``geoverify`` console script next to the running interpreter (the project's venv)."""
    exe = Path(sys.executable).parent / "geoverify"
    if not exe.exists():
        raise SystemExit(f"bench: {exe} not found; install the project first (make bench)")
    return exe


def verify_options(exe: Path) -> set[str]:
    """The long options ``geoverify verify --help`` offers (e.g. ``--workers``, ``--engine``)."""
    text = subprocess.run([str(exe), "verify", "--help"], capture_output=True, text=True, check=True).stdout
    return set(re.findall(r"(--[a-z][a-z0-9-]+)", text))


def verify_args(wl: Workload, fmt: str, output: Path, workers: int | None = None) -> list[str]:
    """Arguments of ``geoverify verify`` on workload ``wl``: every input, every figure, JSON out."""
    args = [
        "verify",
        "--grids",
        str(wl.grids_path),
        "--tracks",
        str(wl.tracks_path(fmt)),
        "--events",
        str(wl.events_path),
        "--sites",
        str(wl.sites_path),
        "--now",
        NOW,
        "--format",
        "json",
        "-o",
        str(output),
    ]
    if workers is not None:
        args += ["--workers", str(workers)]
    return args


def _children(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out += [int(c) for c in fh.read().split()]
    except OSError:
        pass
    return out


def _pss_bytes(pid: int) -> int:
    """Proportional set size of one process in bytes (its RSS when smaps_rollup is unreadable)."""
    for path, key in ((f"/proc/{pid}/smaps_rollup", "Pss:"), (f"/proc/{pid}/status", "VmRSS:")):
        try:
            with open(path) as fh:
                for line in fh:
                    if line.startswith(key):
                        return int(line.split()[1]) * 1024
        except OSError:
            continue
    return 0


def _tree(roots: list[int]) -> set[int]:
    """``roots`` and all their descendants."""
    seen, todo = set(), list(roots)
    while todo:
        p = todo.pop()
        if p not in seen:
            seen.add(p)
            todo += _children(p)
    return seen


def tree_memory(roots: list[int]) -> tuple[int, int]:
    """(summed PSS in bytes, number of processes) of ``roots`` and all their descendants."""
    pids = _tree(roots)
    return sum(_pss_bytes(p) for p in pids), len(pids)


def _cpu_ticks(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return 0


def cpu_seconds(pids) -> float:
    """User + system CPU seconds used so far by the live processes ``pids`` (from /proc/PID/stat)."""
    return sum(_cpu_ticks(p) for p in pids) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU seconds of ``root``, its live descendants and the children it has reaped
    (a PostgreSQL postmaster's backends come and go)."""
    try:
        with open(f"/proc/{root}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        reaped = int(fields[13]) + int(fields[14])
    except (OSError, IndexError, ValueError):
        reaped = 0
    return cpu_seconds(_tree([root])) + reaped / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, summed over its cores (/proc/stat)."""
    with open("/proc/stat") as fh:
        ticks = [int(v) for v in fh.readline().split()[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - idle) / hz, sum(ticks) / hz


@dataclass
class Measured:
    """One child process run."""

    wall_s: float
    cpu_s: float
    peak_tree_bytes: int  # polled peak of the summed PSS of the process tree
    maxrss_bytes: int  # largest single process' peak RSS (wait4)
    max_processes: int
    returncode: int
    stderr: str = ""

    @property
    def peak_bytes(self) -> int:
        return max(self.peak_tree_bytes, self.maxrss_bytes)


def run_measured(cmd: list[str], env: dict | None = None, extra: list[int] = ()) -> Measured:
    """Run ``cmd`` to completion and measure wall, CPU and peak memory (see the module docstring).

    ``extra``: live processes that work for the command (a Dask cluster's): their CPU seconds and
    memory are added to the command's.
    """
    extra_cpu = cpu_seconds(extra)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    peak, procs, done, ticks = [0], [1], threading.Event(), {}

    def poll() -> None:
        while not done.is_set():
            pids = _tree([proc.pid])
            for p in pids:
                ticks[p] = max(ticks.get(p, 0), _cpu_ticks(p))
            total = sum(_pss_bytes(p) for p in pids | set(extra))
            peak[0], procs[0] = max(peak[0], total), max(procs[0], len(pids))
            done.wait(POLL_S)

    stderr_chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: stderr_chunks.append(proc.stderr.read()), daemon=True)
    poller = threading.Thread(target=poll, daemon=True)
    t0 = time.perf_counter()
    reader.start()
    poller.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    done.set()
    poller.join()
    reader.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    extra_cpu = cpu_seconds(extra) - extra_cpu
    # wait4 misses workers nobody waited for (a forkserver's); the polled ticks miss the last 0.25 s.
    cpu = max(usage.ru_utime + usage.ru_stime, sum(ticks.values()) / os.sysconf("SC_CLK_TCK"))
    return Measured(
        wall_s=wall,
        cpu_s=cpu + extra_cpu,
        peak_tree_bytes=peak[0],
        maxrss_bytes=usage.ru_maxrss * 1024,
        max_processes=procs[0],
        returncode=proc.returncode,
        stderr=b"".join(stderr_chunks).decode("utf-8", "replace"),
    )


@dataclass
class VerifyRun:
    """The best of ``repeat`` runs of one configuration, with the JSON it wrote."""

    fmt: str
    workers: int | None
    fixes: int
    runs: list[Measured] = field(default_factory=list)
    output: Path | None = None
    engine: str = "local"

    @property
    def best(self) -> Measured:
        return min(self.runs, key=lambda m: m.wall_s)

    @property
    def cores(self) -> int:
        return min(self.workers or 1, os.cpu_count() or 1)

    @property
    def fixes_per_s(self) -> float:
        return self.fixes / self.best.wall_s

    @property
    def fixes_per_s_core(self) -> float:
        return self.fixes_per_s / self.cores

    @property
    def bytes_per_fix(self) -> float:
        return max(m.peak_bytes for m in self.runs) / self.fixes

    def document(self) -> dict:
        return json.loads(self.output.read_text(encoding="utf-8"))


def run_verify(wl: Workload, fmt: str, workers: int | None, repeat: int, log=print) -> VerifyRun:
    """Run ``geoverify verify`` ``repeat`` times on ``wl`` read as ``fmt``; raise on failure."""
    tag = f"{fmt}-w{workers}" if workers else fmt
    result = VerifyRun(fmt=fmt, workers=workers, fixes=wl.fixes, output=wl.folder / f"result-{tag}.json")
    return _repeat(result, lambda out: verify_args(wl, fmt, out, workers), tag, repeat, log)


def _repeat(result: VerifyRun, make_args, tag: str, repeat: int, log, extra: list[int] = ()) -> VerifyRun:
    exe, out = geoverify_exe(), result.output
    for i in range(repeat):
        out.unlink(missing_ok=True)
        m = run_measured([str(exe), *make_args(out)], extra=extra)
        if m.returncode != 0 or not out.exists():
            raise SystemExit(
                f"bench: geoverify verify ({tag}) failed with exit status {m.returncode}:\n{m.stderr[-3000:]}"
            )
        result.runs.append(m)
        log(
            f"  verify {tag:>16} run {i + 1}/{repeat}: {m.wall_s:7.2f} s wall, {m.cpu_s:7.2f} s CPU, "
            f"peak {m.peak_bytes / 2**20:,.0f} MiB"
        )
    return result


def ensure_partitioned(wl: Workload, log=print) -> float:
    """Write ``wl``'s GeoParquet as ``geoverify partition`` does, once; the seconds it took (0: cached)."""
    target = wl.partitioned_path
    if (target / ".complete").exists():
        return 0.0
    part = target.with_name(target.name + ".part")
    shutil.rmtree(part, ignore_errors=True)
    shutil.rmtree(target, ignore_errors=True)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(geoverify_exe()), "partition", "--tracks", str(wl.parquet_path), "--out", str(part)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"bench: geoverify partition failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    seconds = time.perf_counter() - t0
    part.replace(target)
    (target / ".complete").write_text(f"{seconds:.3f}\n")
    log(f"  geoverify partition: {seconds:.1f} s")
    return seconds


def run_dask(wl: Workload, n_workers: int, repeat: int, log=print) -> VerifyRun:
    """``geoverify verify --engine dask`` on a LocalCluster of ``n_workers`` one-thread worker processes.

    The cluster stands for an existing one: it is started before and stopped after the timed runs,
    and its processes' CPU time and memory are counted with the command's.
    """
    import logging

    from dask.distributed import LocalCluster

    tag = f"dask-{n_workers}"
    result = VerifyRun(
        fmt="partitioned", workers=n_workers, fixes=wl.fixes, engine="dask", output=wl.folder / f"result-{tag}.json"
    )
    with LocalCluster(
        n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.CRITICAL
    ) as cluster:
        extra = sorted(_tree([os.getpid()]) - {os.getpid()})

        def make_args(out):
            return verify_args(wl, "partitioned", out) + ["--engine", "dask", "--scheduler", cluster.scheduler_address]

        return _repeat(result, make_args, tag, repeat, log, extra=extra)


def check_document(doc: dict, wl: Workload) -> list[str]:
    """Problems with a verify document: fixes not all accounted for, patrols or events missing."""
    problems = []
    summary = doc.get("summary", {})
    if summary.get("fixes_read") != wl.fixes:
        problems.append(f"summary.fixes_read {summary.get('fixes_read')} != {wl.fixes} fixes written")
    if len(doc.get("patrols", [])) != wl.members:
        problems.append(f"{len(doc.get('patrols', []))} patrols for {wl.members} members")
    if len(doc.get("events", [])) != wl.events:
        problems.append(f"{len(doc.get('events', []))} events checked of {wl.events} written")
    return problems
