"""Square-cell rasters over a grid's window (metres), and distance fields on them.

Used for the *clearance* field, a lower bound of every point's distance to the grid boundary,
which lets the in-grid computation skip exact clipping for segments that cannot touch the
boundary (see :mod:`geoverify.measures.ingrid`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely

# A point sampled every cell/2 along a line lies within cell/4 of any point of the line, and a
# marked cell's centre within cell*sqrt(2)/2 of the sample: together the most a distance taken
# between cell centres can differ from the true distance to the line, in cells.
EDT_ERROR_CELLS = 0.25 + math.sqrt(2) / 2


@dataclass(frozen=True)
class Raster:
    """A window ``[x0, x0 + nx*cell) × [y0, y0 + ny*cell)`` in metres; row index is y."""

    x0: float
    y0: float
    cell: float
    nx: int
    ny: int

    @classmethod
    def around(cls, bounds: tuple[float, float, float, float], cell: float, pad: float) -> Raster:
        """The raster covering ``bounds`` (minx, miny, maxx, maxy) plus ``pad`` metres each side."""
        minx, miny, maxx, maxy = bounds
        x0, y0 = minx - pad, miny - pad
        nx = max(1, int(math.ceil((maxx + pad - x0) / cell)))
        ny = max(1, int(math.ceil((maxy + pad - y0) / cell)))
        return cls(x0, y0, cell, nx, ny)

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Cell centre coordinates as two (ny, nx) arrays, metres."""
        xs = self.x0 + (np.arange(self.nx) + 0.5) * self.cell
        ys = self.y0 + (np.arange(self.ny) + 0.5) * self.cell
        return np.meshgrid(xs, ys)

    def cell_of(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Column, row and an in-window mask for points ``x, y`` (metres)."""
        col = np.floor((np.asarray(x) - self.x0) / self.cell)
        row = np.floor((np.asarray(y) - self.y0) / self.cell)
        inside = (col >= 0) & (col < self.nx) & (row >= 0) & (row < self.ny)
        return (np.where(inside, col, 0).astype(np.intp), np.where(inside, row, 0).astype(np.intp), inside)

    def mark(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """A boolean (ny, nx) array, True in every cell holding at least one of the points."""
        col, row, inside = self.cell_of(x, y)
        marked = np.zeros((self.ny, self.nx), dtype=bool)
        marked[row[inside], col[inside]] = True
        return marked

    def distance_to_marked(self, marked: np.ndarray) -> np.ndarray:
        """Distance in metres from each cell centre to the nearest marked cell centre."""
        if not marked.any():
            return np.full(marked.shape, np.inf)
        from scipy import ndimage  # imported here: scipy.ndimage costs about 0.3 s to import

        return ndimage.distance_transform_edt(~marked, sampling=self.cell)


@dataclass(frozen=True)
class Clearance:
    """A lower bound of the distance from any point to a polygon's boundary (metres)."""

    raster: Raster
    lower_bound: np.ndarray  # (ny, nx) metres, valid for every point of the cell
    bounds: tuple[float, float, float, float]

    @classmethod
    def of(cls, polygon, cell: float) -> Clearance:
        """Build the field for ``polygon`` (metres) with cells of ``cell`` metres."""
        bounds = tuple(polygon.bounds)
        raster = Raster.around(bounds, cell, pad=4 * cell)
        ring_points = shapely.get_coordinates(shapely.segmentize(polygon.boundary, cell / 2))
        marked = raster.mark(ring_points[:, 0], ring_points[:, 1])
        # From a point to a cell centre is at most cell*sqrt(2)/2 more than from the cell centre.
        slack = (EDT_ERROR_CELLS + math.sqrt(2) / 2) * cell + 0.01  # and float32 rounding
        lower = np.maximum(raster.distance_to_marked(marked) - slack, 0.0).astype(np.float32)
        return cls(raster, lower, bounds)

    def at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Lower bound of the distance from points ``x, y`` to the boundary, metres."""
        minx, miny, maxx, maxy = self.bounds
        # Outside the polygon's bounding box, the distance to the box bounds it too.
        to_box = np.hypot(np.maximum(np.maximum(minx - x, x - maxx), 0), np.maximum(np.maximum(miny - y, y - maxy), 0))
        col, row, inside = self.raster.cell_of(x, y)
        in_field = np.where(inside, self.lower_bound[row, col], 0.0)
        return np.maximum(in_field, to_box)
