"""In-grid share of each track segment, with boundary crossings interpolated exactly.

The member is taken to move in a straight line at constant speed between two fixes, so the
in-grid time of a segment is ``dt × (length inside the grid / length)``. Most segments are far
from the grid boundary; for those one point-in-polygon test decides (a clearance field, see
:mod:`geoverify.geo.raster`, proves they cannot touch the boundary). Only segments that may touch
the boundary are clipped with GEOS.
"""

from __future__ import annotations

import numpy as np
import shapely

from geoverify.geo.grid import Grid


def in_grid_fraction(grid: Grid, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Share of each segment ``(x[i], y[i]) → (x[i+1], y[i+1])`` that lies in the grid.

    Parameters
    ----------
    grid : Grid
        The grid; coordinates are on its local projection (:attr:`Grid.projection`).
    x, y : numpy.ndarray
        Fix positions in metres on the grid's projection, in time order.

    Returns
    -------
    numpy.ndarray
        ``len(x) - 1`` values in [0, 1]. The boundary counts as inside: a segment running
        along it is wholly in the grid. A zero-length segment is 1 when its point is
        covered by the grid (boundary included), else 0.
    """
    n = len(x) - 1
    if n <= 0:
        return np.zeros(0)
    polygon = grid.geometry
    x0, y0, x1, y1 = x[:-1], y[:-1], x[1:], y[1:]
    length = np.hypot(x1 - x0, y1 - y0)
    covered = shapely.intersects_xy(polygon, x, y)
    clearance = grid.clearance.at(x, y)
    # A segment shorter than the clearance at either end cannot reach the boundary: it is wholly
    # on the side of that end.
    clear = (length < clearance[:-1]) | (length < clearance[1:])
    frac = np.where(clear, np.where(length < clearance[:-1], covered[:-1], covered[1:]), 0.0).astype(float)
    zero = length == 0
    frac[zero] = covered[:-1][zero]
    near = np.flatnonzero(~clear & ~zero)
    if len(near):
        lines = shapely.linestrings(
            np.stack([np.column_stack([x0[near], y0[near]]), np.column_stack([x1[near], y1[near]])], axis=1)
        )
        inside_len = shapely.length(shapely.intersection(lines, polygon))
        frac[near] = np.clip(inside_len / length[near], 0.0, 1.0)
    return frac
