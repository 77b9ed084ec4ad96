"""Each stage's share of a ``geoverify verify`` run, from one run under pyinstrument in a child process.

The child (``python bench/stages.py --child OUT.json -- verify ARGS...``) starts a sampling
profiler (1 ms), imports and runs the command line exactly as the console script does, and
attributes every sample's time to one stage by its call stack:

* anything under an import (importlib's ``_find_and_load``) is *startup (imports)*;
* else the innermost frame in a geoverify module (or function) of :data:`MODULE_STAGES` /
  :data:`FUNCTION_STAGES` names the stage, so numpy, pandas, shapely and pyproj time counts for the
  geoverify step that called it; orchestration modules (``cli``, ``batch``, ``patrol``) count as
  *batch glue* when nothing more specific is below them;
* the steps of :data:`ENCLOSING` keep everything below them (the CRS-mismatch check runs
  ``verify_patrol`` again, the duplicate and event checks use shared helpers, readers convert
  coordinates): that time is theirs;
* what no geoverify frame encloses (click, the profiler's own start) is *other*.

A geoverify module missing from the tables (one added after this was written, such as the
process-pool engine) is its own stage, named after the module, for the time not spent in the
steps below it. No change to the library is needed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

MODULE_STAGES = {
    "io/tracks": "read tracks",
    "io/tables": "read tracks",
    "io/times": "read tracks",
    "io/gpx": "read tracks",
    "io/grids": "read grids",
    "io/reports": "read events/sites",
    "io/partitioned": "read tracks",
    "grid": "grid geometry (lazy)",
    "days": "split days",
    "track_summary": "track summaries",
    "engine": "engine (process pool)",
    "chinacrs": "CRS conversion",
    "rules": "rules",
    "cleaning": "clean",
    "outliers": "outliers/teleports",
    "ingrid": "in-grid",
    "intervals": "in-grid",
    "projection": "projection",
    "coverage": "coverage",
    "raster": "coverage",
    "stays": "stays/loops",
    "vehicle": "vehicle",
    "crs_mismatch": "CRS mismatch",
    "duplicates": "duplicates",
    "events": "events",
    "sites": "sites",
    "flags": "flags & credit",
    "patrol_flags": "flags & credit",
    "credit": "flags & credit",
    "report": "report (JSON)",
}
FUNCTION_STAGES = {
    ("batch", "split_days"): "split days",
    ("batch", "_rejected_by_patrol"): "clean",
    ("batch", "_sites_by_grid"): "sites",
    ("batch", "_add_crs_mismatch"): "CRS mismatch",
    ("batch", "_add_duplicate_tracks"): "duplicates",
    ("batch", "_check_events"): "events",
}
GLUE = {"cli", "batch", "patrol", "__init__", "io/__init__"}
ENCLOSING = {"read tracks", "read grids", "read events/sites", "CRS mismatch", "duplicates", "events", "report (JSON)"}
IMPORT_FUNCTIONS = {"_find_and_load", "_find_and_load_unlocked", "_load_unlocked"}  # importlib._bootstrap
GLUE_STAGE, OTHER_STAGE, IMPORT_STAGE = "batch glue", "other", "startup (imports)"


def _module(file_path: str | None) -> str | None:
    """``geoverify/io/tracks.py`` → ``io/tracks``; None outside the geoverify package."""
    if not file_path:
        return None
    parts = Path(file_path).parts
    if "geoverify" not in parts or "site-packages" in parts:
        return None
    rest = parts[len(parts) - 1 - parts[::-1].index("geoverify") + 1 :]
    return "/".join(rest)[:-3] if rest and rest[-1].endswith(".py") else None


def classify(module: str | None, function: str) -> str | None:
    """The stage a frame names; None outside geoverify."""
    if module is None:
        return None
    if (module, function) in FUNCTION_STAGES:
        return FUNCTION_STAGES[(module, function)]
    if module in GLUE:
        return GLUE_STAGE
    return MODULE_STAGES.get(module, module)


def attribute(root) -> dict[str, float]:
    """Seconds per stage from a pyinstrument frame tree (see the module docstring)."""
    shares: dict[str, float] = {}
    todo = [(root, OTHER_STAGE, False)]
    while todo:
        frame, stage, locked = todo.pop()
        function = frame.function or ""
        if not locked:
            if function in IMPORT_FUNCTIONS and "importlib" in (frame.file_path or ""):
                stage, locked = IMPORT_STAGE, True
            else:
                named = classify(_module(frame.file_path), function)
                if named is not None:
                    stage, locked = named, named in ENCLOSING
        own = frame.time - sum(c.time for c in frame.children)
        if own > 0:
            shares[stage] = shares.get(stage, 0.0) + own
        todo += [(c, stage, locked) for c in frame.children]
    return shares


def child(out: Path, args: list[str]) -> None:
    """Run ``geoverify ARGS`` under pyinstrument and write the stage seconds to ``out``."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.001)
    profiler.start()
    try:
        from geoverify.cli.main import main

        main(args, standalone_mode=False)
    finally:
        profiler.stop()
    root = profiler.last_session.root_frame(trim_stem=False)
    total = root.time if root is not None else 0.0
    out.write_text(json.dumps({"total_s": total, "stages": attribute(root) if root is not None else {}}))


def profile_stages(args: list[str], out: Path) -> dict:
    """Run the child on ``geoverify`` arguments ``args``; {"total_s": ..., "stages": {stage: seconds}}."""
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", str(out), "--", *args],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"bench: profiling run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(out.read_text())


if __name__ == "__main__":
    if len(sys.argv) < 4 or sys.argv[1] != "--child" or sys.argv[3] != "--":
        raise SystemExit("usage: stages.py --child OUT.json -- verify ARGS...")
    child(Path(sys.argv[2]), sys.argv[4:])
