"""Vectorised conversions between WGS-84 and the Chinese GCJ-02 and BD-09 map coordinates."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .errors import InputError

__all__ = [
    "CRS_NAMES",
    "wgs84_to_gcj02",
    "gcj02_to_wgs84",
    "gcj02_to_bd09",
    "bd09_to_gcj02",
    "wgs84_to_bd09",
    "bd09_to_wgs84",
    "to_wgs84",
    "from_wgs84",
]

FloatArray = NDArray[np.float64]
_Transform = Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]]

#: Coordinate system names accepted by :func:`to_wgs84` and :func:`from_wgs84` (case-insensitive).
CRS_NAMES: tuple[str, ...] = ("wgs84", "gcj02", "bd09")

# GCJ-02 constants: the Krasovsky 1940 ellipsoid.
_A = 6378245.0
_EE = 0.00669342162296594323

# BD-09 constant.
_X_PI = np.pi * 3000.0 / 180.0

# Customary "out of China" bounding box used with the GCJ-02 transform.
_LON_MIN, _LON_MAX = 72.004, 137.8347
_LAT_MIN, _LAT_MAX = 0.8293, 55.8271

# Latitude 35 deg, the origin of the GCJ-02 series in y.
_SIN35 = float(np.sin(np.radians(35.0)))
_COS35 = float(np.cos(np.radians(35.0)))

# Fixed-point iteration settings for the inverse transforms.
_TOL_DEG = 1e-9
_MAX_ITER = 10

# Points are converted in blocks of this many so that temporaries stay in the CPU cache.
_BLOCK = 16384


# --------------------------------------------------------------------------- helpers


def _as_points(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Float64 copies of lon, lat broadcast to a common shape."""
    try:
        x = np.asarray(lon, dtype=np.float64)
        y = np.asarray(lat, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"longitude and latitude must be numeric: {exc}") from None
    try:
        x, y = np.broadcast_arrays(x, y)
    except ValueError:
        raise InputError(
            f"longitude and latitude have incompatible shapes {x.shape} and {y.shape}"
        ) from None
    return x.copy(), y.copy()


def _finite(x: FloatArray, y: FloatArray) -> NDArray[np.bool_]:
    return np.isfinite(x) & np.isfinite(y)


def _in_china(x: FloatArray, y: FloatArray) -> NDArray[np.bool_]:
    """True where the (finite) point lies inside the customary GCJ-02 bounding box."""
    return (x >= _LON_MIN) & (x <= _LON_MAX) & (y >= _LAT_MIN) & (y <= _LAT_MAX)


def _gcj_delta(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """GCJ-02 offset (dlon, dlat) in degrees at WGS-84 (lon, lat), without the China test.

    The published series, with x = lon - 105, y = lat - 35 and φ the latitude::

        T_lat = -100 + 2x + 3y + 0.2y² + 0.1xy + 0.2√|x|
                + 2/3 (20 sin 6πx + 20 sin 2πx) + 2/3 (20 sin πy + 40 sin πy/3)
                + 2/3 (160 sin πy/12 + 320 sin πy/30)
        T_lon = 300 + x + 2y + 0.1x² + 0.1xy + 0.1√|x|
                + 2/3 (20 sin 6πx + 20 sin 2πx) + 2/3 (20 sin πx + 40 sin πx/3)
                + 2/3 (150 sin πx/12 + 300 sin πx/30)

        dlat = 180 T_lat / (π a (1 - e²) / (1 - e² sin²φ)^1.5)
        dlon = 180 T_lon / (π a cos φ / (1 - e² sin²φ)^0.5)

    Trigonometric functions dominate the cost, so only four are evaluated: the sine and
    cosine of w = πx/60 and of v = πy/180. Every angle above is an integer multiple of one
    of them (πx/30 = 2w, πx/12 = 5w, πx/3 = 20w, πx = 60w, 2πx = 120w, 6πx = 360w;
    πy/30 = 6v, πy/12 = 15v, πy/3 = 60v, πy = 180v; φ = v + 35°) and is reached by exact
    double-, triple- and quintuple-angle identities. This changes the result only by
    floating-point rounding, below 1e-13 degrees.
    """
    x = lon - 105.0
    y = lat - 35.0

    # --- multiples of w = πx/60
    w = x * (np.pi / 60.0)
    s, c = np.sin(w), np.cos(w)
    sx30 = 2.0 * s * c                                  # sin πx/30 (2w)
    s2, c2 = s * s, c * c
    sx12 = s * ((16.0 * s2 - 20.0) * s2 + 5.0)          # sin πx/12 (5w)
    cx12 = c * ((16.0 * c2 - 20.0) * c2 + 5.0)
    s, c = 2.0 * sx12 * cx12, 1.0 - 2.0 * sx12 * sx12   # 10w
    sx3, cx3 = 2.0 * s * c, 1.0 - 2.0 * s * s           # sin πx/3 (20w)
    sx1 = sx3 * (3.0 - 4.0 * sx3 * sx3)                 # sin πx (60w)
    cx1 = cx3 * (4.0 * cx3 * cx3 - 3.0)
    sx2 = 2.0 * sx1 * cx1                               # sin 2πx (120w)
    sx6 = sx2 * (3.0 - 4.0 * sx2 * sx2)                 # sin 6πx (360w)

    # --- multiples of v = πy/180
    v = y * (np.pi / 180.0)
    sv, cv = np.sin(v), np.cos(v)
    sin_lat = sv * _COS35 + cv * _SIN35                 # φ = v + 35°
    cos_lat = cv * _COS35 - sv * _SIN35
    s = sv * (3.0 - 4.0 * sv * sv)                      # 3v
    c = cv * (4.0 * cv * cv - 3.0)
    sy30 = 2.0 * s * c                                  # sin πy/30 (6v)
    s2, c2 = s * s, c * c
    sy12 = s * ((16.0 * s2 - 20.0) * s2 + 5.0)          # sin πy/12 (15v)
    cy12 = c * ((16.0 * c2 - 20.0) * c2 + 5.0)
    s, c = 2.0 * sy12 * cy12, 1.0 - 2.0 * sy12 * sy12   # 30v
    sy3 = 2.0 * s * c                                   # sin πy/3 (60v)
    sy1 = sy3 * (3.0 - 4.0 * sy3 * sy3)                 # sin πy (180v)

    common = (40.0 / 3.0) * (sx6 + sx2)
    sqrt_abs_x = np.sqrt(np.abs(x))
    xy = x * y
    t_lat = (
        -100.0 + 2.0 * x + y * (3.0 + 0.2 * y) + 0.1 * xy + 0.2 * sqrt_abs_x + common
        + (40.0 / 3.0) * sy1 + (80.0 / 3.0) * sy3 + (320.0 / 3.0) * sy12 + (640.0 / 3.0) * sy30
    )
    t_lon = (
        300.0 + x * (1.0 + 0.1 * x) + 2.0 * y + 0.1 * xy + 0.1 * sqrt_abs_x + common
        + (40.0 / 3.0) * sx1 + (80.0 / 3.0) * sx3 + 100.0 * sx12 + 200.0 * sx30
    )

    magic = 1.0 - _EE * (sin_lat * sin_lat)
    sqrt_magic = np.sqrt(magic)
    dlat = t_lat * (180.0 / (np.pi * _A * (1.0 - _EE))) * (magic * sqrt_magic)
    dlon = t_lon * (180.0 / (np.pi * _A)) * sqrt_magic / cos_lat
    return dlon, dlat


def _bd_forward(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Published GCJ-02 -> BD-09 formula (applied everywhere).

    Published as ``z = r + 2e-5 sin(y x_pi)``, ``θ = atan2(y, x) + 3e-6 cos(x x_pi)``,
    ``(z cos θ + 0.0065, z sin θ + 0.006)``. Evaluated here without atan2 by the angle-sum
    identity, ``z cos θ = (z / r)(x cos ε - y sin ε)`` with ε = 3e-6 cos(x x_pi) (cos ε and
    sin ε by their Taylor series, exact in double precision for so small an ε).
    """
    r = np.hypot(lon, lat)
    k = 0.00002 * np.sin(lat * _X_PI)
    # z / r; at the origin k = 0 as well and the published result is (0.0065, 0.006).
    scale = 1.0 + k / np.where(r > 0.0, r, 1.0)
    eps = 0.000003 * np.cos(lon * _X_PI)
    eps2 = eps * eps
    cos_e = 1.0 - 0.5 * eps2
    sin_e = eps * (1.0 - eps2 / 6.0)
    return (
        scale * (lon * cos_e - lat * sin_e) + 0.0065,
        scale * (lat * cos_e + lon * sin_e) + 0.006,
    )


def _bd_inverse_approx(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Published closed-form BD-09 -> GCJ-02 approximation (off by up to a few decimetres).

    ``z = r - 2e-5 sin(y x_pi)``, ``θ = atan2(y, x) - 3e-6 cos(x x_pi)`` on the BD-09 point
    less the offsets, evaluated without atan2 as in :func:`_bd_forward`.
    """
    x = lon - 0.0065
    y = lat - 0.006
    r = np.hypot(x, y)
    k = 0.00002 * np.sin(y * _X_PI)
    scale = 1.0 - k / np.where(r > 0.0, r, 1.0)
    eps = 0.000003 * np.cos(x * _X_PI)
    eps2 = eps * eps
    cos_e = 1.0 - 0.5 * eps2
    sin_e = eps * (1.0 - eps2 / 6.0)
    return scale * (x * cos_e + y * sin_e), scale * (y * cos_e - x * sin_e)


def _fixed_point_inverse(
    forward: _Transform, tx: FloatArray, ty: FloatArray, x: FloatArray, y: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Solve forward(x, y) == (tx, ty) by x <- x - (forward(x) - t), starting from (x, y).

    Only points whose correction still exceeds ``_TOL_DEG`` are iterated again; at most
    ``_MAX_ITER`` iterations. Works on 1-d arrays and modifies ``x`` and ``y`` in place.
    """
    active = np.arange(x.size)
    for _ in range(_MAX_ITER):
        if active.size == 0:
            break
        ax, ay = x[active], y[active]
        fx, fy = forward(ax, ay)
        cx = fx - tx[active]
        cy = fy - ty[active]
        x[active] = ax - cx
        y[active] = ay - cy
        active = active[np.maximum(np.abs(cx), np.abs(cy)) > _TOL_DEG]
    return x, y


def _blocked(kernel: _Transform, x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Apply ``kernel`` to 1-d arrays block by block (vectorised within each block)."""
    if x.size <= _BLOCK:
        return kernel(x, y)
    ox = np.empty_like(x)
    oy = np.empty_like(y)
    for start in range(0, x.size, _BLOCK):
        sl = slice(start, start + _BLOCK)
        ox[sl], oy[sl] = kernel(x[sl], y[sl])
    return ox, oy


def _apply(lon: ArrayLike, lat: ArrayLike, kernel: _Transform, china_only: bool
           ) -> tuple[FloatArray, FloatArray]:
    """Run ``kernel`` on the points that need converting; pass the others through unchanged."""
    x, y = _as_points(lon, lat)
    mask = _finite(x, y)
    if china_only:
        mask &= _in_china(x, y)
    if mask.all():
        ox, oy = _blocked(kernel, x.ravel(), y.ravel())
        return ox.reshape(x.shape), oy.reshape(y.shape)
    if mask.any():
        x[mask], y[mask] = _blocked(kernel, x[mask], y[mask])
    return x, y


# --------------------------------------------------------------------------- kernels
# Kernels take and return 1-d float64 arrays of points that are known to need converting.


def _k_wgs_to_gcj(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    dlon, dlat = _gcj_delta(lon, lat)
    return lon + dlon, lat + dlat


def _k_gcj_to_wgs(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    return _fixed_point_inverse(_k_wgs_to_gcj, lon, lat, lon.copy(), lat.copy())


def _k_bd_to_gcj(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    x, y = _bd_inverse_approx(lon, lat)
    return _fixed_point_inverse(_bd_forward, lon, lat, x, y)


# --------------------------------------------------------------------------- public API


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert WGS-84 coordinates to GCJ-02 (the "Mars" coordinates of Chinese web maps).

    Uses the published GCJ-02 forward transform on the Krasovsky ellipsoid
    (a = 6378245.0 m, e² = 0.00669342162296594323).

    Points outside China are returned unchanged. "Outside China" is the customary crude
    bounding-box test used with this transform: longitude outside 72.004..137.8347 or
    latitude outside 0.8293..55.8271 degrees. (The box includes parts of neighbouring
    countries, which are shifted too, as every GCJ-02 implementation does.)

    Parameters
    ----------
    lon, lat : array_like
        WGS-84 longitude and latitude in degrees; scalars, lists or arrays that broadcast
        together.

    Returns
    -------
    lon, lat : numpy.ndarray of float64
        GCJ-02 longitude and latitude in degrees, with the broadcast shape of the inputs
        (a 0-d array for scalar inputs). Points with a NaN or infinite coordinate are
        returned unchanged, so NaN stays NaN.
    """
    return _apply(lon, lat, _k_wgs_to_gcj, china_only=True)


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert GCJ-02 coordinates back to WGS-84.

    Inverts :func:`wgs84_to_gcj02` by fixed-point iteration: starting at the GCJ-02 point,
    ``wgs = wgs - (wgs84_to_gcj02(wgs) - gcj)`` is repeated until the correction is below
    1e-9 degrees (at most 10 iterations; 4 are typical). The result is within about 1e-6 m
    (measured: 6e-7 m) of the exact inverse anywhere in mainland China, where the usual
    one-step approximation is off by up to a few metres.

    Points outside China (the customary bounding box, see :func:`wgs84_to_gcj02`, applied to
    the GCJ-02 input) are returned unchanged.

    Parameters
    ----------
    lon, lat : array_like
        GCJ-02 longitude and latitude in degrees; scalars, lists or arrays that broadcast
        together.

    Returns
    -------
    lon, lat : numpy.ndarray of float64
        WGS-84 longitude and latitude in degrees, with the broadcast shape of the inputs
        (a 0-d array for scalar inputs). Points with a NaN or infinite coordinate are
        returned unchanged, so NaN stays NaN.

    Examples
    --------
    >>> glon, glat = wgs84_to_gcj02(116.397, 39.909)
    >>> print(f"{float(glon):.6f} {float(glat):.6f}")
    116.403244 39.910403
    >>> lon, lat = gcj02_to_wgs84(glon, glat)
    >>> print(f"{float(lon):.9f} {float(lat):.9f}")
    116.397000000 39.909000000
    >>> gcj02_to_wgs84([-0.1276, float("nan")], [51.5072, 30.0])[0]
    array([-0.1276,     nan])
    """
    return _apply(lon, lat, _k_gcj_to_wgs, china_only=True)


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert GCJ-02 coordinates to Baidu BD-09.

    Uses the published Baidu formula (x_pi = pi * 3000 / 180, offsets 0.0065 degrees in
    longitude and 0.006 degrees in latitude). As published, it has no "out of China" test:
    every finite point is shifted.

    Parameters
    ----------
    lon, lat : array_like
        GCJ-02 longitude and latitude in degrees.

    Returns
    -------
    lon, lat : numpy.ndarray of float64
        BD-09 longitude and latitude in degrees, with the broadcast shape of the inputs
        (a 0-d array for scalar inputs). Points with a NaN or infinite coordinate are
        returned unchanged.
    """
    return _apply(lon, lat, _bd_forward, china_only=False)


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert Baidu BD-09 coordinates to GCJ-02.

    Starts from the published closed-form inverse (which is only approximate, off by up
    to a few decimetres) and refines it by fixed-point iteration of :func:`gcj02_to_bd09`
    until the correction is below 1e-9 degrees (at most 10 iterations).

    Parameters
    ----------
    lon, lat : array_like
        BD-09 longitude and latitude in degrees.

    Returns
    -------
    lon, lat : numpy.ndarray of float64
        GCJ-02 longitude and latitude in degrees, with the broadcast shape of the inputs
        (a 0-d array for scalar inputs). Points with a NaN or infinite coordinate are
        returned unchanged.
    """
    return _apply(lon, lat, _k_bd_to_gcj, china_only=False)


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert WGS-84 coordinates to Baidu BD-09: :func:`wgs84_to_gcj02`, :func:`gcj02_to_bd09`.

    Parameters
    ----------
    lon, lat : array_like
        WGS-84 longitude and latitude in degrees.

    Returns
    -------
    lon, lat : numpy.ndarray of float64
        BD-09 longitude and latitude in degrees, with the broadcast shape of the inputs
        (a 0-d array for scalar inputs). Points outside China (the box of
        :func:`wgs84_to_gcj02`) are returned unchanged, as for GCJ-02.
    """
    return _apply(lon, lat, lambda x, y: _bd_forward(*_k_wgs_to_gcj(x, y)), china_only=True)


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert Baidu BD-09 coordinates to WGS-84: :func:`bd09_to_gcj02`, :func:`gcj02_to_wgs84`.

    Parameters
    ----------
    lon, lat : array_like
        BD-09 longitude and latitude in degrees.

    Returns
    -------
    lon, lat : numpy.ndarray of float64
        WGS-84 longitude and latitude in degrees, with the broadcast shape of the inputs
        (a 0-d array for scalar inputs). Points outside China (the box of
        :func:`wgs84_to_gcj02`, applied to the BD-09 input) are returned unchanged.
    """
    return _apply(lon, lat, lambda x, y: _k_gcj_to_wgs(*_k_bd_to_gcj(x, y)), china_only=True)


def _identity(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    return lon, lat


_TO_WGS84: dict[str, _Transform] = {
    "wgs84": _identity,
    "gcj02": gcj02_to_wgs84,
    "bd09": bd09_to_wgs84,
}
_FROM_WGS84: dict[str, _Transform] = {
    "wgs84": _identity,
    "gcj02": wgs84_to_gcj02,
    "bd09": wgs84_to_bd09,
}


def _crs_key(name: Any) -> str:
    key = name.strip().lower() if isinstance(name, str) else None
    if key not in CRS_NAMES:
        allowed = ", ".join(repr(n) for n in CRS_NAMES)
        raise InputError(
            f"unknown coordinate system {name!r}; expected one of {allowed} (case-insensitive)"
        )
    return key


def _convert(
    lon: ArrayLike, lat: ArrayLike, crs: str | ArrayLike, table: dict[str, _Transform]
) -> tuple[FloatArray, FloatArray]:
    crs_arr = np.asarray(crs)
    if crs_arr.ndim == 0:
        key = _crs_key(crs_arr.item())
        x, y = _as_points(lon, lat)
        return table[key](x, y)

    x, y = _as_points(lon, lat)
    try:
        shape = np.broadcast_shapes(x.shape, crs_arr.shape)
    except ValueError:
        raise InputError(
            f"crs array of shape {crs_arr.shape} does not match points of shape {x.shape}"
        ) from None
    x = np.broadcast_to(x, shape).ravel().copy()
    y = np.broadcast_to(y, shape).ravel().copy()
    names = np.broadcast_to(crs_arr, shape).ravel()
    if names.size == 0:
        return x.reshape(shape), y.reshape(shape)

    # Group the points by name: only the few distinct names are validated and looked up.
    if names.dtype.kind != "U":
        # Object arrays (e.g. from pandas) sort slowly and may mix types. Bytes are decoded;
        # other non-strings become their str() and are then rejected as unknown names.
        names = names.astype(str)
    uniq, inverse = np.unique(names, return_inverse=True)
    inverse = inverse.ravel()
    keys = [_crs_key(name) for name in uniq.tolist()]
    for k, key in enumerate(keys):
        if key == "wgs84":
            continue
        sel = inverse == k
        x[sel], y[sel] = table[key](x[sel], y[sel])
    return x.reshape(shape), y.reshape(shape)


def to_wgs84(
    lon: ArrayLike, lat: ArrayLike, crs: str | ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Convert coordinates given in ``crs`` to WGS-84.

    Parameters
    ----------
    lon, lat : array_like
        Longitude and latitude in degrees in the source coordinate system.
    crs : str or array_like of str
        ``"wgs84"``, ``"gcj02"`` or ``"bd09"`` (case-insensitive, surrounding blanks
        ignored): one name for all points, or an array of names, one per point (it must
        broadcast with ``lon``/``lat``); each group of points is converted separately.

    Returns
    -------
    lon, lat : numpy.ndarray of float64
        WGS-84 longitude and latitude in degrees, with the broadcast shape of the inputs
        (a 0-d array for scalar inputs and a single ``crs`` name). Always new arrays.

    Raises
    ------
    InputError
        If a name is not one of the allowed names (the message lists them), or the
        inputs do not broadcast together.
    """
    return _convert(lon, lat, crs, _TO_WGS84)


def from_wgs84(
    lon: ArrayLike, lat: ArrayLike, crs: str | ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Convert WGS-84 coordinates to ``crs``; the reverse of :func:`to_wgs84`.

    Parameters
    ----------
    lon, lat : array_like
        WGS-84 longitude and latitude in degrees.
    crs : str or array_like of str
        Target ``"wgs84"``, ``"gcj02"`` or ``"bd09"`` (case-insensitive), one name for all
        points or one per point, as in :func:`to_wgs84`.

    Returns
    -------
    lon, lat : numpy.ndarray of float64
        Longitude and latitude in degrees in the target system(s), with the broadcast
        shape of the inputs. Always new arrays.

    Raises
    ------
    InputError
        If a name is not one of the allowed names (the message lists them).
    """
    return _convert(lon, lat, crs, _FROM_WGS84)
