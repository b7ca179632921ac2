"""One area of the grid hierarchy: its code, name, level, parent and outline."""

from __future__ import annotations

from dataclasses import dataclass, field

import shapely
from shapely.geometry import MultiPolygon, Polygon

from grid.codes import level_of, parent_of
from grid.errors import GridError

__all__ = ["Area"]


@dataclass(frozen=True)
class Area:
    """An area of the hierarchy (city, county, township, village or cell).

    Coordinates are WGS-84 longitude/latitude degrees.

    Parameters
    ----------
    code : str
        Hierarchical area code (see :mod:`grid.codes`).
    name : str
        Display name, e.g. ``"城关区"``.
    level : str
        One of :data:`grid.codes.LEVELS`; must agree with the shape of ``code``.
    parent_code : str or None
        Code of the area directly above; ``None`` only for a city.
    geometry : shapely.Polygon or shapely.MultiPolygon
        The outline.

    Examples
    --------
    >>> from shapely import box
    >>> area = Area("620102", "城关区", "county", "620100", box(103.8, 36.0, 103.9, 36.1))
    >>> [round(v, 2) for v in area.centroid]
    [103.85, 36.05]
    >>> Area("620102", "城关区", "village", "620100", box(0, 0, 1, 1))
    Traceback (most recent call last):
    ...
    grid.errors.GridError: area 620102: code is a county code but level is 'village'
    """

    code: str
    name: str
    level: str
    parent_code: str | None
    geometry: Polygon | MultiPolygon = field(repr=False)

    def __post_init__(self) -> None:
        actual = level_of(self.code)
        if actual != self.level:
            raise GridError(
                f"area {self.code}: code is a {actual} code but level is {self.level!r}"
            )
        if (self.parent_code is None) != (parent_of(self.code) is None):
            raise GridError(f"area {self.code}: parent code {self.parent_code!r} does not fit")
        if not isinstance(self.geometry, Polygon | MultiPolygon):
            raise GridError(
                f"area {self.code}: geometry must be a Polygon or MultiPolygon, "
                f"got {self.geometry.geom_type}"
            )

    @property
    def centroid(self) -> tuple[float, float]:
        """The geometric centre as ``(lon, lat)``; may fall outside a concave outline."""
        point = self.geometry.centroid
        return (float(point.x), float(point.y))

    @property
    def label_point(self) -> tuple[float, float]:
        """A point guaranteed to lie inside the area, as ``(lon, lat)``: for labels and pins.

        Examples
        --------
        >>> from shapely import box
        >>> Area("620102", "城关区", "county", "620100", box(0, 0, 2, 2)).label_point
        (1.0, 1.0)
        """
        point = shapely.point_on_surface(self.geometry)
        return (float(point.x), float(point.y))

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(min_lon, min_lat, max_lon, max_lat)``."""
        min_x, min_y, max_x, max_y = self.geometry.bounds
        return (float(min_x), float(min_y), float(max_x), float(max_y))
