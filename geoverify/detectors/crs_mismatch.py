"""A track declared WGS-84 that really came from a Chinese map SDK in GCJ-02 (CRS_MISMATCH).

Such a track sits one GCJ-02 offset (about 500-600 m in Beijing) north-east of where the member
walked, so it misses the member's grid. Read as GCJ-02 and converted, it lands back in the grid.
An honest patrol in the neighbouring grid also misses the member's grid, and its conversion may
land in the grid too when the neighbour lies one offset away; what tells the two apart is that the
honest track lies inside that other grid as read. So the flag needs all three: few fixes in the
grid as read, most of them once converted, and no other grid holding most of them as read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import shapely

from geoverify.detectors.device import timestamp
from geoverify.flags import Flag
from geoverify.geo.chinacrs import gcj02_to_wgs84
from geoverify.geo.grid import Grid
from geoverify.preprocessing.days import DayTrack
from geoverify.rules import Rules


class ConvertedFigures(Protocol):
    """What the evidence reports of the track verified as if converted (a :class:`~geoverify.patrol.verify.Patrol`)."""

    in_grid_s: float
    verified_s: float
    coverage: dict
    credit: dict


def _share_in(geometry_wgs84, lon: np.ndarray, lat: np.ndarray) -> float:
    return float(shapely.intersects_xy(geometry_wgs84, lon, lat).mean()) if len(lon) else 0.0


def check_crs_mismatch(
    grid: Grid,
    track: DayTrack,
    other_grids: Sequence[Grid],
    rules: Rules,
    verify: Callable[[DayTrack], ConvertedFigures],
) -> Flag | None:
    """CRS_MISMATCH for one patrol, or None.

    Parameters
    ----------
    grid : Grid
        The member's grid.
    track : DayTrack
        The day's fixes as read (WGS-84 lon/lat degrees).
    other_grids : sequence of Grid
        Every other grid of the grid file (an honest patrol in one of them is no mismatch).
    rules : Rules
        ``crs_mismatch_share`` and ``crs_mismatch_other_grid_share``.
    verify : callable
        Verifies a day track against ``grid`` (no reviews); used to report in the evidence what
        the track would give if converted.

    Returns
    -------
    Flag or None
        Medium severity, spanning the day's track, located at its median position; evidence
        gives the shares, the median offset in metres and the converted patrol's figures.
    """
    real = ~track.synthetic
    if not real.any() or np.any(track.crs[real] != "wgs84"):
        return None
    lon, lat = track.lon[real], track.lat[real]
    share = rules.crs_mismatch_share
    as_read = _share_in(grid.geometry_wgs84, lon, lat)
    if as_read > 1.0 - share:
        return None
    clon, clat = gcj02_to_wgs84(lon, lat)
    converted = _share_in(grid.geometry_wgs84, clon, clat)
    if converted < share:
        return None
    for other in other_grids:
        if other is not grid and _share_in(other.geometry_wgs84, lon, lat) >= rules.crs_mismatch_other_grid_share:
            return None
    x, y = grid.projection.forward(lon, lat)
    cx, cy = grid.projection.forward(clon, clat)
    offset = np.hypot(x - cx, y - cy)
    full_lon, full_lat = gcj02_to_wgs84(track.lon, track.lat)
    fixed = verify(
        dataclasses.replace(
            track,
            lon=np.asarray(full_lon),
            lat=np.asarray(full_lat),
            crs=np.full(len(track.lon), "gcj02", dtype=object),
        )
    )
    evidence = {
        "declared_crs": "wgs84",
        "share_in_grid_as_read": round(as_read, 3),
        "share_in_grid_as_gcj02": round(converted, 3),
        "median_offset_m": round(float(np.median(offset)), 1),
        "mean_shift_east_m": round(float(np.mean(x - cx)), 1),
        "mean_shift_north_m": round(float(np.mean(y - cy)), 1),
        "crs_mismatch_share": share,
        "crs_mismatch_other_grid_share": rules.crs_mismatch_other_grid_share,
        "if_converted": {
            "in_grid_s": round(fixed.in_grid_s, 3),
            "verified_s": round(fixed.verified_s, 3),
            "coverage_area_ratio": fixed.coverage["area_ratio"],
            "credit": fixed.credit,
        },
        "advice": "re-upload the track declared as gcj02 (--crs gcj02 or ?crs=gcj02) if the phone "
        "used a Chinese map SDK",
    }
    return Flag(
        "CRS_MISMATCH",
        timestamp(track.time_ns[0]),
        timestamp(track.time_ns[-1]),
        float(np.median(lon)),
        float(np.median(lat)),
        evidence,
    )
