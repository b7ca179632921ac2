"""Gridwatch's spatial core: area codes, GeoJSON in/out, point location, CRS, the demo.

A pure library (standard library, Shapely and NumPy only): ``dispatch`` imports ``grid``,
never the other way round.
"""

from grid.area import Area
from grid.codes import (
    LEVELS,
    ancestor_prefixes,
    ancestors,
    is_within,
    jurisdiction_prefix,
    level_of,
    parent_of,
)
from grid.crs import bd09_to_wgs84, gcj02_to_wgs84, wgs84_to_gcj02
from grid.demo import (
    CITY_CODE,
    LANZHOU_CENTER_LAT,
    LANZHOU_CENTER_LON,
    county_info,
    generate_lanzhou,
    township_info,
)
from grid.errors import GridError
from grid.geojson import dump_geojson, load_geojson
from grid.hierarchy import HierarchyReport, check_hierarchy
from grid.index import CellIndex

__all__ = [
    "CITY_CODE",
    "LANZHOU_CENTER_LAT",
    "LANZHOU_CENTER_LON",
    "LEVELS",
    "Area",
    "CellIndex",
    "GridError",
    "HierarchyReport",
    "ancestor_prefixes",
    "ancestors",
    "bd09_to_wgs84",
    "check_hierarchy",
    "county_info",
    "dump_geojson",
    "gcj02_to_wgs84",
    "generate_lanzhou",
    "is_within",
    "jurisdiction_prefix",
    "level_of",
    "load_geojson",
    "parent_of",
    "township_info",
    "wgs84_to_gcj02",
]
