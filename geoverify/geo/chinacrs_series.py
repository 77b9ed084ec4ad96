"""The GCJ-02 and BD-09 series and their fixed-point inverses, applied in cache-sized blocks.

Kernels take and return 1-d float64 arrays of lon/lat degrees; :func:`_apply` shapes the input,
keeps points outside China (for GCJ-02) and non-finite ones as they are, and calls a kernel on the
rest. The public conversions are :mod:`geoverify.geo.chinacrs`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from geoverify.errors import InputError

FloatArray = NDArray[np.float64]
_Transform = Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]]

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
        raise InputError(f"longitude and latitude have incompatible shapes {x.shape} and {y.shape}") from None
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
    sx30 = 2.0 * s * c  # sin πx/30 (2w)
    s2, c2 = s * s, c * c
    sx12 = s * ((16.0 * s2 - 20.0) * s2 + 5.0)  # sin πx/12 (5w)
    cx12 = c * ((16.0 * c2 - 20.0) * c2 + 5.0)
    s, c = 2.0 * sx12 * cx12, 1.0 - 2.0 * sx12 * sx12  # 10w
    sx3, cx3 = 2.0 * s * c, 1.0 - 2.0 * s * s  # sin πx/3 (20w)
    sx1 = sx3 * (3.0 - 4.0 * sx3 * sx3)  # sin πx (60w)
    cx1 = cx3 * (4.0 * cx3 * cx3 - 3.0)
    sx2 = 2.0 * sx1 * cx1  # sin 2πx (120w)
    sx6 = sx2 * (3.0 - 4.0 * sx2 * sx2)  # sin 6πx (360w)

    # --- multiples of v = πy/180
    v = y * (np.pi / 180.0)
    sv, cv = np.sin(v), np.cos(v)
    sin_lat = sv * _COS35 + cv * _SIN35  # φ = v + 35°
    cos_lat = cv * _COS35 - sv * _SIN35
    s = sv * (3.0 - 4.0 * sv * sv)  # 3v
    c = cv * (4.0 * cv * cv - 3.0)
    sy30 = 2.0 * s * c  # sin πy/30 (6v)
    s2, c2 = s * s, c * c
    sy12 = s * ((16.0 * s2 - 20.0) * s2 + 5.0)  # sin πy/12 (15v)
    cy12 = c * ((16.0 * c2 - 20.0) * c2 + 5.0)
    s, c = 2.0 * sy12 * cy12, 1.0 - 2.0 * sy12 * sy12  # 30v
    sy3 = 2.0 * s * c  # sin πy/3 (60v)
    sy1 = sy3 * (3.0 - 4.0 * sy3 * sy3)  # sin πy (180v)

    common = (40.0 / 3.0) * (sx6 + sx2)
    sqrt_abs_x = np.sqrt(np.abs(x))
    xy = x * y
    t_lat = (
        -100.0
        + 2.0 * x
        + y * (3.0 + 0.2 * y)
        + 0.1 * xy
        + 0.2 * sqrt_abs_x
        + common
        + (40.0 / 3.0) * sy1
        + (80.0 / 3.0) * sy3
        + (320.0 / 3.0) * sy12
        + (640.0 / 3.0) * sy30
    )
    t_lon = (
        300.0
        + x * (1.0 + 0.1 * x)
        + 2.0 * y
        + 0.1 * xy
        + 0.1 * sqrt_abs_x
        + common
        + (40.0 / 3.0) * sx1
        + (80.0 / 3.0) * sx3
        + 100.0 * sx12
        + 200.0 * sx30
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


def _apply(lon: ArrayLike, lat: ArrayLike, kernel: _Transform, china_only: bool) -> tuple[FloatArray, FloatArray]:
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
