"""Day-level heat map: seconds spent in each square cell of a grid's box, from a day's fixes.

Each counted segment (consecutive fixes of one track that are neither a gap nor a teleport, the
same segments that count for in-grid time) is walked at constant speed, as in
:mod:`geoverify.measures.ingrid`, and its duration is split over the cells it crosses in proportion to the
length inside each cell; cell-edge crossings are computed exactly. A segment of zero length gives
its whole duration to the cell of its point. All coordinates are metres on a local metric
projection (the grid's own, :attr:`geoverify.geo.grid.Grid.projection`); times are seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from geoverify.errors import HeatmapTooFine
from geoverify.settings import MAX_HEATMAP_CELLS_PER_SIDE

DEFAULT_CELL_M = 25.0
# Cells per side above which the caller asked for too fine a raster for a map (and its memory).
MAX_CELLS_PER_SIDE = MAX_HEATMAP_CELLS_PER_SIDE


def smallest_cell_m(bounds: tuple[float, float, float, float]) -> float:
    """The smallest cell side (metres, rounded up to 0.1 m) that covers ``bounds`` (metres) with at
    most :data:`MAX_CELLS_PER_SIDE` cells per side."""
    minx, miny, maxx, maxy = (float(v) for v in bounds)
    extent = max(maxx - minx, maxy - miny)
    cell = math.ceil(extent / MAX_CELLS_PER_SIDE * 10) / 10
    while math.ceil(extent / cell) > MAX_CELLS_PER_SIDE:  # float rounding at the boundary
        cell = round(cell + 0.1, 1)
    return max(cell, 0.1)


@dataclass(frozen=True)
class HeatMap:
    """Seconds per cell on a regular raster.

    Attributes
    ----------
    origin_x, origin_y : float
        Metric coordinates of the lower-left corner of cell (row 0, column 0).
    cell_m : float
        Side of a cell, metres.
    seconds : numpy.ndarray
        Shape (rows, columns); ``seconds[r, c]`` is the time spent in the cell whose lower-left
        corner is ``(origin_x + c * cell_m, origin_y + r * cell_m)``.
    outside_s : float
        Counted time spent outside the raster's box.
    """

    origin_x: float
    origin_y: float
    cell_m: float
    seconds: np.ndarray
    outside_s: float = 0.0

    @property
    def total_s(self) -> float:
        """Counted time inside the raster, seconds."""
        return float(self.seconds.sum())

    def cells(self):
        """``(row, col, seconds, (minx, miny, maxx, maxy))`` for every cell with time, in row order."""
        rows, cols = np.nonzero(self.seconds)
        for r, c in zip(rows.tolist(), cols.tolist()):
            x0 = self.origin_x + c * self.cell_m
            y0 = self.origin_y + r * self.cell_m
            yield r, c, float(self.seconds[r, c]), (x0, y0, x0 + self.cell_m, y0 + self.cell_m)


def _check(x, y, t_s, track_ids, cell_m, bounds):
    x, y, t = (np.asarray(a, dtype=float) for a in (x, y, t_s))
    if not (x.shape == y.shape == t.shape and x.ndim == 1):
        raise ValueError(f"x, y and t_s must be 1-d arrays of one length, got shapes {x.shape}, {y.shape}, {t.shape}")
    labels = np.zeros(len(x), dtype=np.int64) if track_ids is None else np.asarray(track_ids)
    if labels.shape != x.shape:
        raise ValueError(f"track_ids must have one label per fix ({len(x)}), got shape {labels.shape}")
    # Integer codes sort fast and the same way whatever the labels' type (str, object, int).
    ids = np.unique(labels, return_inverse=True)[1].reshape(-1) if len(labels) else labels.astype(np.int64)
    if not (np.isfinite(cell_m) and cell_m > 0):
        raise ValueError(f"cell_m must be a positive number of metres, got {cell_m!r}")
    minx, miny, maxx, maxy = (float(v) for v in bounds)
    if not (maxx >= minx and maxy >= miny and np.all(np.isfinite([minx, miny, maxx, maxy]))):
        raise ValueError(f"bounds must be (minx, miny, maxx, maxy) in metres, got {bounds!r}")
    shape = (max(1, int(np.ceil((maxy - miny) / cell_m))), max(1, int(np.ceil((maxx - minx) / cell_m))))
    if max(shape) > MAX_CELLS_PER_SIDE:
        smallest = smallest_cell_m(bounds)
        raise HeatmapTooFine(
            f"cell_m={cell_m:g} m gives {shape[1]} × {shape[0]} cells over the grid's box "
            f"({maxx - minx:.0f} × {maxy - miny:.0f} m); a heat map has at most "
            f"{MAX_CELLS_PER_SIDE} cells per side: use a cell of at least {smallest:g} m "
            f"for this grid "
            f"(cell_m={smallest:g})",
            smallest_cell_m=smallest,
        )
    return x, y, t, ids, (minx, miny), shape


def _counted_segments(x, y, t, ids, max_gap_s, max_speed_mps):
    """Indices i of segments (i → i+1) that count: same track, finite, not a gap, not a teleport."""
    order = np.lexsort((t, ids))
    x, y, t, ids = x[order], y[order], t[order], ids[order]
    if len(t) < 2:
        return x, y, t, np.array([], dtype=np.int64)
    dt = np.diff(t)
    length = np.hypot(np.diff(x), np.diff(y))
    with np.errstate(divide="ignore", invalid="ignore"):
        speed = np.where(dt > 0, length / dt, np.inf)
    ok = (ids[1:] == ids[:-1]) & np.isfinite(length) & (dt > 0) & (dt <= max_gap_s) & (speed <= max_speed_mps)
    return x, y, t, np.flatnonzero(ok)


def time_per_cell(
    x,
    y,
    t_s,
    *,
    bounds,
    cell_m: float = DEFAULT_CELL_M,
    max_gap_s: float = 300.0,
    max_speed_mps: float = 150 / 3.6,
    track_ids=None,
) -> HeatMap:
    """Split the counted time of tracks over square cells covering ``bounds``.

    Parameters
    ----------
    x, y : array_like
        Fix positions, metres on a local metric projection.
    t_s : array_like
        Fix times, seconds (any epoch). Fixes need not be sorted.
    bounds : (minx, miny, maxx, maxy)
        Box to cover, metres; the raster starts at (minx, miny).
    cell_m : float
        Cell side, metres (25 by default).
    max_gap_s : float
        Segments longer than this are gaps and count nowhere (the rules' ``max_gap_s``).
    max_speed_mps : float
        Segments faster than this are teleports and count nowhere (the rules' ``teleport_kmh`` / 3.6).
    track_ids : array_like, optional
        One label per fix (e.g. the member id); segments join only fixes of the same label.

    Returns
    -------
    HeatMap

    Examples
    --------
    A walk of 50 m along y = 5 over 100 s crosses two 25 m cells, 50 s in each:

    >>> heat = time_per_cell([0, 50], [5, 5], [0, 100], bounds=(0, 0, 50, 25), cell_m=25)
    >>> heat.seconds.tolist()
    [[50.0, 50.0]]
    """
    x, y, t, ids, (ox, oy), shape = _check(x, y, t_s, track_ids, cell_m, bounds)
    x, y, t, seg = _counted_segments(x, y, t, ids, max_gap_s, max_speed_mps)
    seconds = np.zeros(shape)
    if len(seg) == 0:
        return HeatMap(ox, oy, float(cell_m), seconds, 0.0)
    # Segment ends in cell units, relative to the raster's origin.
    gx0, gy0 = (x[seg] - ox) / cell_m, (y[seg] - oy) / cell_m
    gx1, gy1 = (x[seg + 1] - ox) / cell_m, (y[seg + 1] - oy) / cell_m
    duration = t[seg + 1] - t[seg]
    pieces = [np.arange(len(seg)), np.arange(len(seg))]
    params = [np.zeros(len(seg)), np.ones(len(seg))]
    # Parameters along each segment where it crosses a vertical (x) or horizontal (y) cell edge.
    for a0, a1 in ((gx0, gx1), (gy0, gy1)):
        c0, c1 = np.floor(a0), np.floor(a1)
        count = np.abs(c1 - c0).astype(np.int64)
        which = np.repeat(np.arange(len(seg)), count)
        if len(which):
            starts = np.cumsum(count) - count
            step = np.arange(len(which)) - np.repeat(starts, count)
            edge = np.repeat(np.minimum(c0, c1) + 1, count) + step
            params.append((edge - a0[which]) / (a1[which] - a0[which]))
            pieces.append(which)
    which = np.concatenate(pieces)
    param = np.clip(np.concatenate(params), 0.0, 1.0)
    order = np.lexsort((param, which))
    which, param = which[order], param[order]
    same = which[1:] == which[:-1]
    lo, hi, owner = param[:-1][same], param[1:][same], which[:-1][same]
    middle = (lo + hi) / 2
    col = np.floor(gx0[owner] + middle * (gx1[owner] - gx0[owner])).astype(np.int64)
    row = np.floor(gy0[owner] + middle * (gy1[owner] - gy0[owner])).astype(np.int64)
    weight = duration[owner] * (hi - lo)
    inside = (row >= 0) & (row < shape[0]) & (col >= 0) & (col < shape[1])
    np.add.at(seconds, (row[inside], col[inside]), weight[inside])
    return HeatMap(ox, oy, float(cell_m), seconds, float(weight[~inside].sum()))


def heatmap_geojson(heat: HeatMap, inverse) -> dict:
    """The cells with time as a GeoJSON FeatureCollection of lon/lat squares.

    Parameters
    ----------
    heat : HeatMap
    inverse : callable
        ``inverse(x, y) -> (lon, lat)`` from the heat map's metric projection to WGS-84
        (e.g. :meth:`geoverify.geo.projection.LocalProjection.inverse`).

    Returns
    -------
    dict
        Features with ``properties.seconds``, ``row`` and ``col``; the collection's
        ``properties`` hold ``cell_m``, ``total_s``, ``max_s`` and ``outside_s``.
    """
    cells = list(heat.cells())
    features = []
    if cells:
        corners = np.array(
            [[(b[0], b[1]), (b[2], b[1]), (b[2], b[3]), (b[0], b[3]), (b[0], b[1])] for _, _, _, b in cells],
            dtype=float,
        ).reshape(-1, 2)
        lon, lat = inverse(corners[:, 0], corners[:, 1])
        ring = np.round(np.column_stack([lon, lat]), 7).reshape(len(cells), 5, 2)
        for (r, c, s, _), coords in zip(cells, ring):
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Polygon", "coordinates": [coords.tolist()]},
                    "properties": {"seconds": round(s, 1), "row": r, "col": c},
                }
            )
    return {
        "type": "FeatureCollection",
        "features": features,
        "properties": {
            "cell_m": heat.cell_m,
            "total_s": round(heat.total_s, 1),
            "max_s": round(float(heat.seconds.max()) if heat.seconds.size else 0.0, 1),
            "outside_s": round(heat.outside_s, 1),
        },
    }
