"""Verification rules: every threshold of the spec, with built-in defaults and per grid type overrides.

A rules file is TOML::

    version = "city-2026.1"

    [defaults]
    max_gap_s = 300

    [grid_type.rural]
    max_gap_s = 600
    points_per_patrol = 4

Keys under ``[defaults]`` replace the built-in defaults for every grid; keys under
``[grid_type.NAME]`` replace them again for grids of that type.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geoverify.errors import RulesError

BUILTIN_VERSION = "builtin-1"


@dataclass(frozen=True)
class Rules:
    """Thresholds for one grid type. Distances in metres, durations in seconds, speeds in km/h (keys
    ending ``_kmh``) or m/s (``_mps``), shares and ratios 0..1, ``*_days`` whole days."""

    # cleaning
    max_accuracy_m: float = 100.0
    future_tolerance_s: float = 300.0
    # segments
    max_gap_s: float = 300.0
    # anomalies
    teleport_kmh: float = 150.0
    teleport_min_m: float = 200.0
    # a run of fixes that jumps away and comes back within glitch_max_s is a position glitch
    glitch_max_s: float = 120.0
    # a step faster than teleport_kmh is no jump while under jump_speed_factor x the median speed of the
    # steps around it, where that is vehicle motion (a train at 160 km/h)
    jump_speed_factor: float = 3.0
    idle_radius_m: float = 50.0
    idle_min_s: float = 900.0
    loop_radius_m: float = 60.0
    loop_min_s: float = 600.0
    # The motion model (geoverify.detectors.motion; docs/motion.md gives the figures behind each).
    # Still: progress between motion_bin_s bins below still_mps, and no coherent motion (turn_bin_s
    # bins, steps of coherent_mps on average turning with a mean cosine of coherent_cos over
    # coherent_window_s). GPS jitter of 5-10 m reads as about 0.1-0.2 m/s progress.
    motion_bin_s: float = 60.0
    still_mps: float = 0.35
    turn_bin_s: float = 10.0
    coherent_mps: float = 0.6
    coherent_cos: float = 0.3
    coherent_window_s: float = 60.0
    # Vehicle: pace over pace_window_s; ride-like above ride_floor_kmh, joined across pauses of
    # vehicle_join_s; a ride when above vehicle_kmh (over fast_window_s) for vehicle_min_s in all
    pace_window_s: float = 30.0
    fast_window_s: float = 10.0
    ride_floor_kmh: float = 8.0
    vehicle_join_s: float = 180.0
    vehicle_kmh: float = 30.0
    vehicle_min_s: float = 120.0
    # CRS_MISMATCH: at most 1 - crs_mismatch_share of the fixes in the grid as read, at least
    # crs_mismatch_share once read as GCJ-02, and not mostly inside another grid as read
    crs_mismatch_share: float = 0.8
    # ... where "mostly inside another grid" is at least this share of the fixes as read: an honest
    # patrol next door
    crs_mismatch_other_grid_share: float = 0.5
    duplicate_track_distance_m: float = 30.0
    duplicate_track_share: float = 0.8
    duplicate_track_min_overlap_s: float = 1800.0
    # replay: the repeated stretch must reach this far from its centre, so a phone left on the same
    # desk (IDLE) or circled in the same spot (LOOP) on two days is not also called a replay
    duplicate_replay_min_span_m: float = 100.0
    # replay: a day is compared with the member's days at most this many days before it (the
    # store keeps each day's track summary, so a longer window costs one comparison a day more)
    duplicate_replay_window_days: int = 7
    event_max_distance_m: float = 200.0
    event_outside_grid_m: float = 20.0
    event_duplicate_distance_m: float = 30.0
    event_duplicate_window_s: float = 72 * 3600.0
    # coverage and sites
    coverage_buffer_m: float = 30.0
    site_visit_radius_m: float = 30.0
    site_visit_min_s: float = 120.0
    # credit
    points_per_patrol: float = 5.0
    min_verified_s: float = 7200.0
    min_coverage_ratio: float = 0.5
    # grids whose members patrol in pairs: exempt from the two-phones DUPLICATE_TRACK check
    pair_patrol: bool = False
    # the rule set this came from
    version: str = BUILTIN_VERSION

    @property
    def teleport_mps(self) -> float:
        """``teleport_kmh`` in metres per second."""
        return self.teleport_kmh / 3.6

    def as_dict(self) -> dict[str, Any]:
        """All thresholds as a plain dict (for evidence and printing)."""
        return dataclasses.asdict(self)


_BOOLEAN_KEYS = {f.name for f in dataclasses.fields(Rules) if f.type in (bool, "bool")}
_NUMERIC_KEYS = {f.name for f in dataclasses.fields(Rules) if f.name != "version"} - _BOOLEAN_KEYS
_INTEGER_KEYS = {f.name for f in dataclasses.fields(Rules) if f.type in (int, "int")}


@dataclass(frozen=True)
class RuleSet:
    """Built-in defaults, optionally overridden per grid type, with one version string."""

    defaults: Rules = field(default_factory=Rules)
    by_grid_type: Mapping[str, Rules] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return self.defaults.version

    @property
    def every(self) -> list[Rules]:
        """The defaults and every grid type's rules (for thresholds that must cover them all)."""
        return [self.defaults, *self.by_grid_type.values()]

    def for_grid_type(self, grid_type: str | None) -> Rules:
        """The rules that apply to a grid of ``grid_type`` (defaults when unknown or None)."""
        if grid_type is None:
            return self.defaults
        return self.by_grid_type.get(grid_type, self.defaults)


def _apply(base: Rules, overrides: Mapping[str, Any], where: str) -> Rules:
    values: dict[str, Any] = {}
    for key, value in overrides.items():
        if key in _BOOLEAN_KEYS:
            if not isinstance(value, bool):
                raise RulesError(f"{where}.{key}: expected true or false, got {value!r}")
            values[key] = value
            continue
        if key not in _NUMERIC_KEYS:
            allowed = ", ".join(sorted(_NUMERIC_KEYS | _BOOLEAN_KEYS))
            raise RulesError(f"{where}: unknown key {key!r}; allowed keys are: {allowed}")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RulesError(f"{where}.{key}: expected a number, got {value!r}")
        if value < 0 or value != value or value == float("inf"):
            raise RulesError(f"{where}.{key}: must be a finite number >= 0, got {value!r}")
        if key.endswith(("_share", "_ratio")) and value > 1:
            raise RulesError(f"{where}.{key}: a share between 0 and 1, got {value!r}")
        if key in _INTEGER_KEYS:
            if value != int(value):
                raise RulesError(f"{where}.{key}: a whole number, got {value!r}")
            values[key] = int(value)
            continue
        values[key] = float(value)
    return dataclasses.replace(base, **values)


def parse_rules(document: Mapping[str, Any], source: str = "rules") -> RuleSet:
    """Build a :class:`RuleSet` from a parsed TOML document.

    Raises
    ------
    RulesError
        On an unknown section or key, or a value that is not a number >= 0.
    """
    allowed_top = {"version", "defaults", "grid_type"}
    for key in document:
        if key not in allowed_top:
            raise RulesError(f"{source}: unknown top-level key {key!r}; allowed: {', '.join(sorted(allowed_top))}")
    version = document.get("version")
    if version is None:
        digest = hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode())
        version = f"file-{digest.hexdigest()[:12]}"
    elif not isinstance(version, str) or not version:
        raise RulesError(f"{source}: 'version' must be a non-empty string, got {version!r}")
    defaults_table = document.get("defaults", {})
    if not isinstance(defaults_table, dict):
        raise RulesError(f"{source}: [defaults] must be a table")
    defaults = _apply(Rules(version=version), defaults_table, f"{source}: defaults")
    types = document.get("grid_type", {})
    if not isinstance(types, dict):
        raise RulesError(f"{source}: [grid_type.NAME] sections must be tables")
    by_type = {}
    for name, table in types.items():
        if not isinstance(table, dict):
            raise RulesError(f"{source}: grid_type.{name} must be a table")
        by_type[name] = _apply(defaults, table, f"{source}: grid_type.{name}")
    return RuleSet(defaults=defaults, by_grid_type=by_type)


def load_rules(path: str | Path | None) -> RuleSet:
    """Read a TOML rules file, or return the built-in defaults when ``path`` is None."""
    if path is None:
        return RuleSet()
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RulesError(f"{path}: rules file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{path}: not valid TOML ({exc}); fix the file or omit --rules") from None
    return parse_rules(document, source=str(path))


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value)


def rules_to_toml(ruleset: RuleSet) -> str:
    """The rule set as a TOML rules file: every threshold under ``[defaults]``, and per grid type
    only what differs. :func:`parse_rules` reads it back to an equal rule set."""
    defaults = ruleset.defaults.as_dict()
    lines = [f"version = {json.dumps(ruleset.version)}", "", "[defaults]"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in defaults.items() if key != "version"]
    for name, rules in sorted(ruleset.by_grid_type.items()):
        changed = {k: v for k, v in rules.as_dict().items() if k != "version" and v != defaults[k]}
        lines += ["", f"[grid_type.{json.dumps(name) if not name.isidentifier() else name}]"]
        lines += [f"{key} = {_toml_value(value)}" for key, value in changed.items()]
    return "\n".join(lines) + "\n"
