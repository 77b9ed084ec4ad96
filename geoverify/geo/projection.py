"""Local metric projections: a transverse Mercator centred on each grid, so metres are metres.

A grid is a few hundred metres across; on a transverse Mercator whose central meridian and
origin latitude pass through the grid's centre (scale factor 1) the scale error is about
``(d / R)² / 2``: 1e-8 at 1 km, 1e-4 at 100 km. Distances and areas computed there are exact
for our purposes, unlike a UTM zone whose scale at a grid can be off by up to 4e-4.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from pyproj import CRS, Transformer
from pyproj.enums import TransformDirection


class LocalProjection:
    """Projects WGS-84 lon/lat (degrees) to local metres and back, centred at ``(lon0, lat0)``.

    Parameters
    ----------
    lon0, lat0 : float
        Centre in WGS-84 degrees; rounded to 1e-6 degrees (about 0.1 m) so that
        projections of the same grid compare and cache equal.

    Examples
    --------
    >>> p = LocalProjection(116.39, 39.91)
    >>> x, y = p.forward([116.39], [39.91])
    >>> float(abs(x[0])) < 1e-6 and float(abs(y[0])) < 1e-6
    True
    """

    __slots__ = ("lon0", "lat0", "_transformer")

    def __init__(self, lon0: float, lat0: float):
        if not (np.isfinite(lon0) and np.isfinite(lat0) and -180 <= lon0 <= 180 and -90 < lat0 < 90):
            raise ValueError(f"projection centre must be a valid lon/lat, got ({lon0}, {lat0})")
        self.lon0 = round(float(lon0), 6)
        self.lat0 = round(float(lat0), 6)
        self._transformer = _transformer(self.lon0, self.lat0)

    @property
    def crs(self) -> CRS:
        """The projected CRS (metres)."""
        return CRS.from_proj4(f"{_tmerc(self.lon0, self.lat0)} +units=m +no_defs")

    def forward(self, lon, lat) -> tuple[np.ndarray, np.ndarray]:
        """WGS-84 degrees to local x, y in metres (one vectorised pyproj call)."""
        return self._transformer.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))

    def inverse(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Local metres back to WGS-84 lon, lat in degrees."""
        return self._transformer.transform(
            np.asarray(x, dtype=float), np.asarray(y, dtype=float), direction=TransformDirection.INVERSE
        )

    def __reduce__(self):
        return (LocalProjection, (self.lon0, self.lat0))

    def __repr__(self) -> str:
        return f"LocalProjection({self.lon0}, {self.lat0})"


def _tmerc(lon0: float, lat0: float) -> str:
    return f"+proj=tmerc +lat_0={lat0} +lon_0={lon0} +k=1 +x_0=0 +y_0=0 +ellps=WGS84"


@lru_cache(maxsize=4096)
def _transformer(lon0: float, lat0: float) -> Transformer:
    # A PROJ pipeline string needs no database look-up: ~0.1 ms to build, against ~15 ms for
    # Transformer.from_crs, which matters with thousands of grids.
    return Transformer.from_pipeline(
        f"+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad +step {_tmerc(lon0, lat0)}"
    )
