"""What the cross-patrol phase needs of a day track, and nothing more, so little crosses processes.

The per-member phase of a batch (:func:`geoverify.engines.batch.verify_members`) measures each patrol
where its fixes are; the cross-patrol phase (:func:`geoverify.engines.batch.finish_batch`) then compares
patrols with one another. It needs:

- for DUPLICATE_TRACK (:func:`geoverify.detectors.duplicates.find_duplicate_tracks`): each day's fix times
  and WGS-84 positions at full resolution (the measure is exact at every fix time of either
  track, so a down-sampled track would change ``within_s``), and the day's set of device ids;
  24 bytes a fix instead of the whole fix table;
- for the event checks (:func:`geoverify.detectors.events.check_events`): only the member's fixes either
  side of each event time, which are all the position at the event time depends on (the
  member's fixes of all days, midnight points left out, the first of equal times kept).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd

from geoverify.preprocessing.days import DayTrack


def duplicate_summary(track: DayTrack) -> DayTrack:
    """The day track as DUPLICATE_TRACK reads it: times, positions and its distinct device ids.

    Parameters
    ----------
    track : DayTrack
        A member's kept fixes of one local date (UTC nanoseconds, WGS-84 degrees).

    Returns
    -------
    DayTrack
        Same ``member_id``, ``date``, ``time_ns``, ``lon``, ``lat``; ``device_id`` holds each
        distinct device id once (sorted); the per-fix columns duplicates.py does not read
        (accuracy, synthetic, source, line, mock, speed, crs) are empty.
    """
    devices = sorted({str(d) for d in pd.unique(track.device_id) if d is not None and d == d})
    empty = np.zeros(0)
    return DayTrack(
        member_id=track.member_id,
        date=track.date,
        time_ns=track.time_ns,
        lon=track.lon,
        lat=track.lat,
        accuracy=empty,
        synthetic=np.zeros(0, bool),
        source=np.zeros(0, object),
        line=np.zeros(0, np.int64),
        rejected={},
        mock=np.zeros(0, bool),
        speed=empty,
        device_id=np.array(devices, dtype=object),
        crs=np.zeros(0, object),
        network=np.zeros(0, bool),
    )


def event_fixes(tracks: Sequence[DayTrack], event_ns: np.ndarray) -> list[DayTrack]:
    """The fixes of one member's day tracks that the member's event checks can look at.

    For each event time, the last input fix at or before it and the first after it, taken from
    the member's fixes of every day in time order (midnight points left out, the first of equal
    times kept, as :func:`geoverify.detectors.events.check_events` orders them). Checking the events
    against these fixes gives the same flags and evidence as against the whole tracks.

    Parameters
    ----------
    tracks : sequence of DayTrack
        One member's day tracks, earlier stored days first, in the order the events are checked
        against them.
    event_ns : numpy.ndarray
        The member's event times, UTC nanoseconds.

    Returns
    -------
    list of DayTrack
        The input tracks that hold such a fix, reduced to those fixes (all columns kept).
    """
    event_ns = np.asarray(event_ns, dtype=np.int64)
    parts = [(k, np.flatnonzero(~t.synthetic)) for k, t in enumerate(tracks) if len(t.time_ns)]
    if not parts or not len(event_ns):
        return []
    t_ns = np.concatenate([tracks[k].time_ns[idx] for k, idx in parts])
    owner = np.concatenate([np.full(len(idx), k) for k, idx in parts])
    index = np.concatenate([idx for _, idx in parts])
    order = np.argsort(t_ns, kind="stable")
    order = order[np.concatenate([[True], np.diff(t_ns[order]) > 0])]
    nxt = np.searchsorted(t_ns[order], event_ns, side="right")
    picked = np.unique(np.concatenate([nxt - 1, nxt]))
    picked = order[picked[(picked >= 0) & (picked < len(order))]]
    out = []
    for k in sorted(set(owner[picked].tolist())):
        rows = np.sort(index[picked][owner[picked] == k])
        out.append(_subset(tracks[k], rows))
    return out


def _subset(track: DayTrack, rows: np.ndarray) -> DayTrack:
    per_fix = (
        "time_ns",
        "lon",
        "lat",
        "accuracy",
        "synthetic",
        "source",
        "line",
        "mock",
        "speed",
        "device_id",
        "crs",
        "network",
    )
    return dataclasses.replace(track, **{name: np.asarray(getattr(track, name))[rows] for name in per_fix})
