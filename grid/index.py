"""Point location: which cell is this report in?"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

from grid.area import Area
from grid.codes import LEVELS, ancestors

__all__ = ["CellIndex"]

_M_PER_DEG_LAT = 110_574.0  # metres per degree of latitude (mid-latitudes)
_M_PER_DEG_LON_EQUATOR = 111_320.0  # metres per degree of longitude at the equator


class CellIndex:
    """Spatial index over the lowest-level areas given, for point location.

    Areas of higher levels are ignored: pass the whole hierarchy and the index keeps the
    deepest level present (normally the cells). A point on a border shared by several
    areas is given to the one with the lowest code, so answers are deterministic.

    Parameters
    ----------
    areas : sequence of Area
        Any mix of levels.

    Examples
    --------
    >>> from shapely import box
    >>> index = CellIndex([
    ...     Area("620102", "城关区", "county", "620100", box(0, 0, 2, 1)),
    ...     Area("620102001", "甲街道", "township", "620102", box(0, 0, 1, 1)),
    ...     Area("620102002", "乙街道", "township", "620102", box(1, 0, 2, 1)),
    ... ])
    >>> index.level, len(index)
    ('township', 2)
    >>> index.locate(0.5, 0.5), index.locate(1.0, 0.5), index.locate(5.0, 5.0)
    ('620102001', '620102001', None)
    >>> index.locate_many([0.5, 1.5, 9.0], [0.5, 0.5, 9.0]).tolist()
    ['620102001', '620102002', None]
    >>> index.nearest(2.0001, 0.5, max_m=50)
    '620102002'
    >>> index.nearest(2.01, 0.5, max_m=50) is None
    True
    """

    def __init__(self, areas: Sequence[Area]) -> None:
        depth = max((LEVELS.index(a.level) for a in areas), default=len(LEVELS) - 1)
        self.level: str = LEVELS[depth]
        """The level indexed (the lowest present)."""
        chosen = sorted((a for a in areas if a.level == self.level), key=lambda a: a.code)
        self._areas: tuple[Area, ...] = tuple(chosen)
        self._codes: NDArray[np.object_] = np.array([a.code for a in chosen], dtype=object)
        self._by_code: dict[str, Area] = {a.code: a for a in chosen}
        self._geoms: NDArray[np.object_] = np.array([a.geometry for a in chosen], dtype=object)
        shapely.prepare(self._geoms)
        self._tree = shapely.STRtree(self._geoms)

    def __len__(self) -> int:
        return len(self._areas)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    @property
    def areas(self) -> tuple[Area, ...]:
        """The indexed areas, sorted by code."""
        return self._areas

    def get(self, code: str) -> Area | None:
        """Return the indexed area with this code, or ``None``."""
        return self._by_code.get(code)

    def ancestors_of(self, code: str) -> list[str]:
        """Return the codes from the city down to ``code`` (see :func:`grid.codes.ancestors`)."""
        return ancestors(code)

    def locate(self, lon: float, lat: float) -> str | None:
        """Return the code of the area containing the point (border included), or ``None``.

        Parameters
        ----------
        lon, lat : float
            WGS-84 degrees.
        """
        if not (math.isfinite(lon) and math.isfinite(lat)):
            return None
        # One call into GEOS: the tree filters by box and tests the polygons it found.
        hits = self._tree.query(shapely.Point(lon, lat), predicate="intersects")
        if hits.size == 0:
            return None
        # Index order is code order: on a shared border the lowest code wins.
        return str(self._codes[hits.min() if hits.size > 1 else hits[0]])

    def locate_many(self, lons: ArrayLike, lats: ArrayLike) -> NDArray[np.object_]:
        """Vectorised :meth:`locate`.

        Parameters
        ----------
        lons, lats : array_like
            WGS-84 degrees, broadcast together.

        Returns
        -------
        numpy.ndarray
            Object array of codes (``str``) or ``None``, shaped like the broadcast input.
        """
        x, y = np.broadcast_arrays(
            np.asarray(lons, dtype=np.float64), np.asarray(lats, dtype=np.float64)
        )
        shape = x.shape
        x = x.ravel()
        y = y.ravel()
        result = np.full(x.size, None, dtype=object)
        if x.size == 0 or len(self) == 0:
            return result.reshape(shape)
        finite = np.isfinite(x) & np.isfinite(y)
        points = np.full(x.size, None, dtype=object)
        points[finite] = shapely.points(x[finite], y[finite])
        point_idx, area_idx = self._tree.query(points, predicate="intersects")
        best = np.full(x.size, len(self), dtype=np.int64)
        np.minimum.at(best, point_idx, area_idx)
        found = best < len(self)
        result[found] = self._codes[best[found]]
        return result.reshape(shape)

    def nearest(self, lon: float, lat: float, max_m: float) -> str | None:
        """Return the containing area, else the nearest one within ``max_m`` metres.

        For a tap just outside the grid (GPS error, a riverbank). Distances use a local
        metres-per-degree approximation at ``lat``, good to well under 1 % at city scale.

        Parameters
        ----------
        lon, lat : float
            WGS-84 degrees.
        max_m : float
            Search radius in metres.
        """
        found = self.locate(lon, lat)
        if found is not None or not (math.isfinite(lon) and math.isfinite(lat)) or max_m <= 0:
            return found
        m_per_lon = _M_PER_DEG_LON_EQUATOR * max(math.cos(math.radians(lat)), 1e-6)
        d_lon = max_m / m_per_lon
        d_lat = max_m / _M_PER_DEG_LAT
        window = shapely.box(lon - d_lon, lat - d_lat, lon + d_lon, lat + d_lat)
        candidates = np.sort(self._tree.query(window))
        if candidates.size == 0:
            return None

        def to_metres(coords: NDArray[np.float64]) -> NDArray[np.float64]:
            return np.column_stack(
                [(coords[:, 0] - lon) * m_per_lon, (coords[:, 1] - lat) * _M_PER_DEG_LAT]
            )

        local = shapely.transform(self._geoms[candidates], to_metres)
        distances = shapely.distance(local, shapely.Point(0.0, 0.0))
        best = int(np.argmin(distances))  # first minimum: the lowest code wins ties
        if distances[best] > max_m:
            return None
        return str(self._codes[candidates[best]])
