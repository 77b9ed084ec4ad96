"""A patrol grid: its polygon in WGS-84 and on its own local metric projection."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from geoverify.geo.projection import LocalProjection
from geoverify.geo.raster import Clearance

# Cells across the larger side of a grid's box in its clearance field.
CLEARANCE_CELLS = 256


@dataclass(eq=False)
class Grid:
    """One patrol grid.

    Attributes
    ----------
    grid_id : str
    geometry_wgs84 : shapely Polygon or MultiPolygon
        Lon/lat degrees, WGS-84, valid.
    name, grid_type : str or None
    members : tuple of str
        Member ids assigned to the grid.
    centre : (lon, lat), optional
        Centre of the local projection; the centroid when omitted.
    """

    grid_id: str
    geometry_wgs84: BaseGeometry
    name: str | None = None
    grid_type: str | None = None
    members: tuple[str, ...] = ()
    properties: dict = field(default_factory=dict)
    centre: tuple[float, float] | None = None

    @cached_property
    def projection(self) -> LocalProjection:
        """Transverse Mercator centred on :attr:`centre`, by default the grid's centroid (metres)."""
        if self.centre is not None:
            return LocalProjection(*self.centre)
        c = self.geometry_wgs84.centroid
        return LocalProjection(c.x, c.y)

    @cached_property
    def geometry(self) -> BaseGeometry:
        """The polygon on :attr:`projection`, in metres, prepared for fast repeated predicates."""
        geom = shapely.transform(self.geometry_wgs84, _projector(self.projection))
        shapely.prepare(geom)
        return geom

    @cached_property
    def area_m2(self) -> float:
        """Area in square metres."""
        return float(self.geometry.area)

    @cached_property
    def boundary(self) -> BaseGeometry:
        """The polygon's rings (metres), prepared."""
        b = self.geometry.boundary
        shapely.prepare(b)
        return b

    @cached_property
    def clearance(self) -> Clearance:
        """Lower bounds of the distance to the boundary, for :func:`geoverify.measures.ingrid.in_grid_fraction`."""
        minx, miny, maxx, maxy = self.geometry.bounds
        cell = min(max(max(maxx - minx, maxy - miny) / CLEARANCE_CELLS, 0.5), 50.0)
        return Clearance.of(self.geometry, cell)

    def release_rasters(self) -> None:
        """Forget the rasters built for this grid (the clearance field, about 280 kB, and the
        coverage raster); they are rebuilt when next needed. A batch calls this once a part of its
        members is verified, so memory does not grow with the number of grids."""
        for name in ("clearance", "_coverage_raster"):
            self.__dict__.pop(name, None)

    def __getstate__(self):
        # Cached projected geometry and rasters are rebuilt on the other side of a pickle.
        return {
            k: v
            for k, v in self.__dict__.items()
            if k in ("grid_id", "geometry_wgs84", "name", "grid_type", "members", "properties", "centre")
        }

    def __repr__(self) -> str:
        return f"Grid({self.grid_id!r}, type={self.grid_type!r}, members={list(self.members)})"


def _projector(projection: LocalProjection):
    def project(coords: np.ndarray) -> np.ndarray:
        x, y = projection.forward(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return project
