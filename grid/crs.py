"""WGS-84 ↔ GCJ-02 (and BD-09 → WGS-84) coordinate conversion.

Chinese web maps (Amap, Tencent, DataV) publish GCJ-02, an obfuscated datum that is
shifted by up to a few hundred metres from WGS-84; Baidu adds its own BD-09 on top.
Gridwatch stores WGS-84 only, so data and taps from GCJ-02 maps are converted on the way
in. The forward formula is public; the inverse is found by fixed-point iteration and is
exact to well under a centimetre. Outside China the datums coincide and coordinates are
returned unchanged.

Every function accepts scalars or NumPy arrays (broadcast together); scalars in give
Python floats out.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "gcj02_to_wgs84",
    "in_china",
    "wgs84_to_gcj02",
]

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by the GCJ-02 formula
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = math.pi  # eviltransform (the test vectors) uses pi here, not pi * 3000 / 180

FloatArray = NDArray[np.float64]


def in_china(lon: ArrayLike, lat: ArrayLike) -> Any:
    """Return whether the point lies in the rectangle where GCJ-02 differs from WGS-84.

    Examples
    --------
    >>> bool(in_china(103.8343, 36.0611)), bool(in_china(-0.1276, 51.5072))
    (True, False)
    """
    x = np.asarray(lon, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    return (x >= 72.004) & (x <= 137.8347) & (y >= 0.8293) & (y <= 55.8271)


def _offset(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """GCJ-02 minus WGS-84 at a WGS-84 position, in degrees (the public formula).

    Callers keep it only inside China: near a pole it overflows, and that is not an error.
    """
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        return _formula(lon, lat)


def _formula(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    x = lon - 105.0
    y = lat - 35.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    d_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x
    d_lat = d_lat + common
    d_lat = d_lat + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    d_lat = d_lat + (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    d_lon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x
    d_lon = d_lon + common
    d_lon = d_lon + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    d_lon = (
        d_lon + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    )
    rad_lat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    d_lon = (d_lon * 180.0) / (_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    return d_lon, d_lat


def _arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    x, y = np.broadcast_arrays(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    return x, y


def _out(x: FloatArray, y: FloatArray, scalar: bool) -> tuple[Any, Any]:
    """Give floats back for scalar input, arrays otherwise."""
    if scalar:
        return float(x), float(y)
    return x, y


def _is_scalar(lon: ArrayLike, lat: ArrayLike) -> bool:
    return bool(np.ndim(lon) == 0 and np.ndim(lat) == 0)


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """Convert WGS-84 longitude/latitude to GCJ-02.

    Parameters
    ----------
    lon, lat : float or array_like
        WGS-84 degrees.

    Returns
    -------
    tuple
        ``(lon, lat)`` in GCJ-02: floats for scalar input, arrays otherwise.

    Examples
    --------
    >>> lon, lat = wgs84_to_gcj02(121.5272106, 31.1774276)
    >>> round(lon, 6), round(lat, 6)
    (121.531542, 31.175304)
    >>> wgs84_to_gcj02(2.35, 48.85)  # outside China: unchanged
    (2.35, 48.85)
    """
    x, y = _arrays(lon, lat)
    d_lon, d_lat = _offset(x, y)
    inside = in_china(x, y)
    return _out(
        np.where(inside, x + d_lon, x), np.where(inside, y + d_lat, y), _is_scalar(lon, lat)
    )


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """Convert GCJ-02 longitude/latitude to WGS-84 (iterative, error < 1 mm).

    Parameters
    ----------
    lon, lat : float or array_like
        GCJ-02 degrees.

    Returns
    -------
    tuple
        ``(lon, lat)`` in WGS-84: floats for scalar input, arrays otherwise.

    Examples
    --------
    >>> lon, lat = gcj02_to_wgs84(121.531541859215, 31.17530398364597)
    >>> round(lon, 7), round(lat, 7)
    (121.5272106, 31.1774276)
    >>> import numpy as np
    >>> lons, lats = gcj02_to_wgs84(np.array([103.841032, 2.35]), np.array([36.049115, 48.85]))
    >>> lons.round(4).tolist(), lats.round(4).tolist()
    ([103.8386, 2.35], [36.0495, 48.85])
    """
    gx, gy = _arrays(lon, lat)
    x = gx.copy()
    y = gy.copy()
    # Outside China the two agree; solving there would only run the formula where it is
    # not meant to (it overflows near the poles).
    near = in_china(gx, gy)
    if np.any(near):
        tx, ty = gx[near], gy[near]
        sx, sy = tx.copy(), ty.copy()
        for _ in range(30):
            d_lon, d_lat = _offset(sx, sy)
            err_x = sx + d_lon - tx
            err_y = sy + d_lat - ty
            sx = sx - err_x
            sy = sy - err_y
            if not (
                np.nanmax(np.abs(err_x), initial=0.0) > 1e-11
                or np.nanmax(np.abs(err_y), initial=0.0) > 1e-11
            ):
                break
        x[near] = sx
        y[near] = sy
    # the China test uses the WGS-84 position, which is what the forward formula saw
    inside = in_china(x, y) & near
    return _out(np.where(inside, x, gx), np.where(inside, y, gy), _is_scalar(lon, lat))


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """Convert Baidu BD-09 longitude/latitude to GCJ-02.

    Uses the eviltransform variant of the formula (``sin(y * pi)``), which is what the
    project's reference vectors were produced with.

    Examples
    --------
    >>> lon, lat = bd09_to_gcj02(120.019809, 29.199786)
    >>> round(lon, 4), round(lat, 4)
    (120.0134, 29.1934)
    """
    bx, by = _arrays(lon, lat)
    x = bx - 0.0065
    y = by - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return _out(z * np.cos(theta), z * np.sin(theta), _is_scalar(lon, lat))


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """Convert Baidu BD-09 longitude/latitude to WGS-84.

    Examples
    --------
    >>> lon, lat = bd09_to_wgs84(120.019809, 29.199786)
    >>> round(lon, 4), round(lat, 4)
    (120.0088, 29.1961)
    """
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))
