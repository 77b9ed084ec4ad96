"""GPS_OUTLIER and TELEPORT flags: the glitches and jumps of :mod:`geoverify.detectors.glitches`."""

from __future__ import annotations

import numpy as np

from geoverify.detectors.glitches import GlitchRun
from geoverify.detectors.intervals import runs
from geoverify.flags import Flag
from geoverify.rules import Rules


def outlier_flags(
    fixes, x: np.ndarray, y: np.ndarray, t: np.ndarray, glitches: list[GlitchRun], rules: Rules
) -> list[Flag]:
    """GPS_OUTLIER (low): one per glitch run, its fixes dropped from the geometry and kept in the evidence.

    Parameters
    ----------
    fixes : geoverify.detectors.device.FixSource
        Where each fix of the day came from.
    x, y, t : numpy.ndarray
        Every fix of the day: metres on the local projection, seconds.
    glitches : list of GlitchRun
    """
    track = fixes.track
    flags = []
    for run in glitches:
        sl = slice(run.first, run.last + 1)
        evidence: dict = {
            "reason": run.reason,
            "fixes": int(run.last - run.first + 1),
            "duration_s": round(float(t[run.last] - t[run.first]), 3),
            "glitch_max_s": rules.glitch_max_s,
            "teleport_kmh": rules.teleport_kmh,
            "teleport_min_m": rules.teleport_min_m,
            "first_fix": fixes.where(run.first),
            "last_fix": fixes.where(run.last),
            "dropped_from_geometry": True,
        }
        if run.anchor >= 0:
            away = np.hypot(x[sl] - x[run.anchor], y[sl] - y[run.anchor])
            worst = run.first + int(np.argmax(away))
            dt = t[worst] - t[run.anchor]
            evidence.update(
                {
                    "last_good_fix": fixes.point(run.anchor),
                    "max_distance_m": round(float(away.max()), 1),
                    "speed_kmh": round(float(away.max()) / dt * 3.6, 1) if dt > 0 else None,
                }
            )
        else:
            worst = run.first
            evidence["first_good_fix"] = fixes.point(run.last + 1) if run.last + 1 < len(t) else None
        accuracy = track.accuracy[sl]
        evidence["accuracy_m"] = None if np.all(np.isnan(accuracy)) else round(float(np.nanmax(accuracy)), 1)
        flags.append(
            Flag(
                "GPS_OUTLIER",
                fixes.time(run.first),
                fixes.time(run.last),
                float(track.lon[worst]),
                float(track.lat[worst]),
                evidence,
            )
        )
    return flags


def teleport_flags(
    fixes,
    kept_index: np.ndarray,
    tk: np.ndarray,
    seg_len: np.ndarray,
    adjusted: np.ndarray,
    teleport: np.ndarray,
    stops: np.ndarray,
    rules: Rules,
) -> tuple[list[Flag], list[tuple[int, int]]]:
    """TELEPORT (high): one per run of teleport segments; also the runs (segment indices).

    The evidence shows both sides: ``from`` (the last fix before the jump), ``to`` (where the track
    continued), the jump's distance, adjusted distance (less both accuracies), duration and speed,
    and ``continued_s``, how long the track went on from ``to`` before its next break (a gap, another
    teleport or the end of the day; see ``stops``).

    Parameters
    ----------
    kept_index : numpy.ndarray of int
        For each kept fix, its index among the day's fixes.
    tk : numpy.ndarray
        Seconds of the kept fixes.
    seg_len, adjusted : numpy.ndarray
        Per kept segment: length and adjusted length (metres).
    teleport : numpy.ndarray of bool
        Per kept segment: a teleport.
    stops : numpy.ndarray of bool
        Per kept segment: a gap or a teleport (where a stretch of the track ends).
    """
    flags, spans = [], runs(teleport)
    for first, last in spans:
        a, b = kept_index[first], kept_index[last + 1]
        duration = round(float(tk[last + 1] - tk[first]), 3)
        after = np.flatnonzero(stops[last + 1 :])
        end = last + 1 + (int(after[0]) if len(after) else len(tk) - 1 - (last + 1))
        speed = float(adjusted[first : last + 1].sum()) / duration * 3.6 if duration > 0 else float("inf")
        flags.append(
            Flag(
                "TELEPORT",
                fixes.time(a),
                fixes.time(b),
                float(fixes.track.lon[b]),
                float(fixes.track.lat[b]),
                {
                    "from": fixes.point(a),
                    "to": fixes.point(b),
                    "segments": last - first + 1,
                    "distance_m": round(float(seg_len[first : last + 1].sum()), 1),
                    "adjusted_distance_m": round(float(adjusted[first : last + 1].sum()), 1),
                    "duration_s": duration,
                    "max_speed_kmh": round(speed, 1),
                    "continued_s": round(float(tk[end] - tk[last + 1]), 3),
                    "teleport_kmh": rules.teleport_kmh,
                    "teleport_min_m": rules.teleport_min_m,
                    "glitch_max_s": rules.glitch_max_s,
                    "excluded_s": duration,
                },
            )
        )
    return flags, spans
