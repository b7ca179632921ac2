"""The Lanzhou demo geography: real codes and names, generated outlines.

The city 兰州市 (620100), its 8 county-level divisions and their 112 real townships
(NBS 2022 statistical codes) are placed at their real locations; villages and grid cells
below them are generated. Every level is a Voronoi partition of random seed points clipped
to its parent (with one Lloyd relaxation step for even shapes), so children tile their
parent exactly and outlines look like real administrative areas without copying any
surveyed boundary. The result depends only on ``cells`` and ``seed``.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Final

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Polygon

from grid.area import Area
from grid.crs import gcj02_to_wgs84

__all__ = [
    "CITY_CODE",
    "CITY_NAME",
    "COUNTY_CODES",
    "LANZHOU_CENTER_LAT",
    "LANZHOU_CENTER_LON",
    "CountyInfo",
    "TownshipInfo",
    "county_info",
    "generate_lanzhou",
    "township_info",
]

CITY_CODE: Final = "620100"
CITY_NAME: Final = "兰州市"
COUNTY_CODES: Final = (
    "620102",
    "620103",
    "620104",
    "620105",
    "620111",
    "620121",
    "620122",
    "620123",
)
"""城关区, 七里河区, 西固区, 安宁区, 红古区, 永登县, 皋兰县, 榆中县."""
LANZHOU_CENTER_LAT: Final = 36.0611
LANZHOU_CENTER_LON: Final = 103.8343

CELLS_PER_VILLAGE: Final = 6
"""Average grid cells per village: ``cells=2000`` gives about 333 villages."""
ENVELOPE_KM: Final = 30.0
"""The city outline is the county centres' convex hull grown by this much."""

_KM_PER_DEG_LAT: Final = 110.574
_KM_PER_DEG_LON: Final = 111.320 * math.cos(math.radians(LANZHOU_CENTER_LAT))

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
GeomArray = NDArray[np.object_]


@dataclass(frozen=True)
class CountyInfo:
    """A county-level division: GB/T 2260 code, name, kind and WGS-84 centre."""

    code: str
    name: str
    kind: str
    lon: float
    lat: float


@dataclass(frozen=True)
class TownshipInfo:
    """A township-level division (街道, 镇 or 乡) from the NBS 2022 statistical codes."""

    code: str
    name: str
    county_code: str
    kind: str


def _rows(filename: str) -> list[dict[str, str]]:
    text = resources.files("grid").joinpath("data", filename).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


@cache
def _counties() -> tuple[CountyInfo, ...]:
    rows = {row["code"]: row for row in _rows("lanzhou_divisions_gbt2260.csv")}
    counties = []
    for code in COUNTY_CODES:
        row = rows[code]
        lon, lat = gcj02_to_wgs84(
            float(row["datav_center_lng_gcj02"]), float(row["datav_center_lat_gcj02"])
        )
        counties.append(CountyInfo(code, row["name_zh"], row["level"], lon, lat))
    return tuple(counties)


@cache
def _townships() -> tuple[TownshipInfo, ...]:
    return tuple(
        TownshipInfo(
            row["code_9"], row["name_zh"], row["county_code"], row["gbt10114_type_by_7th_digit"]
        )
        for row in _rows("lanzhou_townships_nbs2022.csv")
        if row["county_code"] in COUNTY_CODES
    )


def county_info() -> list[CountyInfo]:
    """Return the 8 county-level divisions of the demo, in code order.

    Centres are the DataV GCJ-02 centres converted to WGS-84.

    Examples
    --------
    >>> [(c.code, c.name) for c in county_info()][:2]
    [('620102', '城关区'), ('620103', '七里河区')]
    >>> round(county_info()[0].lon, 4), round(county_info()[0].lat, 4)
    (103.8386, 36.0495)
    """
    return list(_counties())


def township_info() -> list[TownshipInfo]:
    """Return the real townships of the 8 counties (NBS 2022), in code order.

    Examples
    --------
    >>> towns = township_info()
    >>> len(towns), towns[0].code, towns[0].name, towns[0].kind
    (112, '620102001', '酒泉路街道', '街道')
    """
    return list(_townships())


def _to_local(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Degrees → kilometres east/north of Lanzhou's centre (an equirectangular plane)."""
    return (lon - LANZHOU_CENTER_LON) * _KM_PER_DEG_LON, (
        lat - LANZHOU_CENTER_LAT
    ) * _KM_PER_DEG_LAT


def _to_degrees(coords: FloatArray) -> FloatArray:
    return np.column_stack(
        [
            coords[:, 0] / _KM_PER_DEG_LON + LANZHOU_CENTER_LON,
            coords[:, 1] / _KM_PER_DEG_LAT + LANZHOU_CENTER_LAT,
        ]
    )


def _sample_points(
    parents: GeomArray, counts: IntArray, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray, IntArray]:
    """Draw ``counts[i]`` uniform random points inside ``parents[i]``, grouped by parent."""
    bounds = shapely.bounds(parents)
    box_area = (bounds[:, 2] - bounds[:, 0]) * (bounds[:, 3] - bounds[:, 1])
    fill = np.clip(shapely.area(parents) / box_area, 0.05, 1.0)
    need = counts.astype(np.int64).copy()
    xs: list[FloatArray] = []
    ys: list[FloatArray] = []
    owners: list[IntArray] = []
    while need.any():
        todo = np.flatnonzero(need > 0)
        draws = np.ceil(need[todo] / fill[todo] * 1.3).astype(np.int64) + 2
        owner = np.repeat(todo, draws)
        x = rng.uniform(bounds[owner, 0], bounds[owner, 2])
        y = rng.uniform(bounds[owner, 1], bounds[owner, 3])
        inside = shapely.contains_xy(parents[owner], x, y)
        owner, x, y = owner[inside], x[inside], y[inside]
        rank = np.arange(owner.size) - np.searchsorted(owner, owner, side="left")
        keep = rank < need[owner]
        xs.append(x[keep])
        ys.append(y[keep])
        owners.append(owner[keep])
        need -= np.bincount(owner[keep], minlength=need.size)
    owner = np.concatenate(owners)
    order = np.argsort(owner, kind="stable")
    return np.concatenate(xs)[order], np.concatenate(ys)[order], owner[order]


def _polygonal(geom: shapely.Geometry) -> Polygon | MultiPolygon | None:
    parts = [
        p
        for p in shapely.get_parts(geom)
        if isinstance(p, Polygon | MultiPolygon) and not p.is_empty
    ]
    polygons = [q for p in parts for q in (p.geoms if isinstance(p, MultiPolygon) else [p])]
    if not polygons:
        return None
    return polygons[0] if len(polygons) == 1 else MultiPolygon(polygons)


def _clipped_voronoi(
    parents: GeomArray, x: FloatArray, y: FloatArray, owner: IntArray
) -> tuple[GeomArray, IntArray]:
    """Voronoi cells of each parent's points, clipped to that parent."""
    multi = shapely.multipoints(np.column_stack([x, y]), indices=owner)
    diagrams = shapely.voronoi_polygons(multi, extend_to=parents)
    parts, index = shapely.get_parts(diagrams, return_index=True)
    clipped = shapely.intersection(parts, parents[index])
    type_ids = shapely.get_type_id(clipped)
    odd = np.flatnonzero((type_ids != 3) & (type_ids != 6) | shapely.is_empty(clipped))
    for i in odd:
        clipped[i] = _polygonal(clipped[i])
    keep = ~shapely.is_missing(clipped)
    return clipped[keep], index[keep].astype(np.int64)


def _subdivide(
    parents: GeomArray, counts: IntArray, rng: np.random.Generator
) -> tuple[GeomArray, IntArray]:
    """Split ``parents[i]`` into ``counts[i]`` children that tile it exactly.

    Returns the children grouped by parent (in parent order) and, within a parent, from
    north to south, with the index of each child's parent.
    """
    shapely.prepare(parents)
    single = np.flatnonzero(counts == 1)
    multi = np.flatnonzero(counts > 1)
    children: list[GeomArray] = [parents[single]]
    owners: list[IntArray] = [single.astype(np.int64)]
    if multi.size:
        sub = parents[multi]
        x, y, owner = _sample_points(sub, counts[multi], rng)
        cells, index = _clipped_voronoi(sub, x, y, owner)
        # one Lloyd step: re-seed at each cell's centroid (or an inside point) for rounder cells
        centre = shapely.centroid(cells)
        cx, cy = shapely.get_x(centre), shapely.get_y(centre)
        outside = ~shapely.contains_xy(sub[index], cx, cy)
        if outside.any():
            inner = shapely.point_on_surface(cells[outside])
            cx[outside], cy[outside] = shapely.get_x(inner), shapely.get_y(inner)
        cells, index = _clipped_voronoi(sub, cx, cy, index)
        children.append(cells)
        owners.append(multi[index])
    geoms = np.concatenate(children)
    owner = np.concatenate(owners)
    got = np.bincount(owner, minlength=counts.size)
    if not np.array_equal(got, counts):
        raise RuntimeError("Voronoi subdivision lost a cell; try another seed")
    centre = shapely.centroid(geoms)
    order = np.lexsort((shapely.get_x(centre), -shapely.get_y(centre), owner))
    return geoms[order], owner[order]


def _spread(total: int, bins: int, rng: np.random.Generator) -> IntArray:
    """Split ``total`` into ``bins`` positive counts that vary by about ±40 %."""
    weights = rng.uniform(0.6, 1.4, bins)
    extra = rng.multinomial(total - bins, weights / weights.sum())
    return (extra + 1).astype(np.int64)


def _county_polygons() -> tuple[Polygon, GeomArray]:
    counties = _counties()
    x, y = _to_local(np.array([c.lon for c in counties]), np.array([c.lat for c in counties]))
    centres = shapely.multipoints(np.column_stack([x, y]))
    city = shapely.convex_hull(centres).buffer(ENVELOPE_KM, quad_segs=16)
    diagram = shapely.voronoi_polygons(centres, extend_to=city, ordered=True)
    polygons = shapely.intersection(shapely.get_parts(diagram), city)
    return city, polygons


def generate_lanzhou(cells: int = 2000, seed: int = 0) -> list[Area]:
    """Generate the Lanzhou demo hierarchy: city, counties, townships, villages, cells.

    Parameters
    ----------
    cells : int
        Number of grid cells wanted (at least one per village; the result has at least
        this many). Villages number about ``cells / 6``, at least one per township.
    seed : int
        Random seed; the same ``cells`` and ``seed`` always give the same areas.

    Returns
    -------
    list of Area
        Top down (city, counties, townships, villages, cells), each level in code order.

    Examples
    --------
    >>> areas = generate_lanzhou(cells=300, seed=1)
    >>> from collections import Counter
    >>> Counter(a.level for a in areas)
    Counter({'cell': 300, 'township': 112, 'village': 112, 'county': 8, 'city': 1})
    >>> from grid.index import CellIndex
    >>> CellIndex(areas).locate(LANZHOU_CENTER_LON, LANZHOU_CENTER_LAT)[:6]
    '620102'
    """
    if cells < 1:
        raise ValueError(f"cells must be positive, got {cells}")
    rng = np.random.default_rng(seed)
    counties = _counties()
    towns = _townships()
    city_geom, county_geoms = _county_polygons()

    # townships: urban sub-districts (街道) nearest the county centre, then towns, then 乡
    town_counts = np.array([sum(t.county_code == c.code for t in towns) for c in counties])
    town_geoms, town_owner = _subdivide(county_geoms.copy(), town_counts, rng)
    town_order: list[TownshipInfo] = []
    placed: list[int] = []
    for county_index, county in enumerate(counties):
        mine = np.flatnonzero(town_owner == county_index)
        cx, cy = _to_local(np.array(county.lon), np.array(county.lat))
        centres = shapely.centroid(town_geoms[mine])
        near_first = mine[
            np.argsort(
                np.hypot(shapely.get_x(centres) - cx, shapely.get_y(centres) - cy), kind="stable"
            )
        ]
        infos = sorted(
            (t for t in towns if t.county_code == county.code), key=lambda t: (t.code[6], t.code)
        )
        placed.extend(int(i) for i in near_first)
        town_order.extend(infos)
    by_code = sorted(range(len(town_order)), key=lambda i: town_order[i].code)
    town_infos = [town_order[i] for i in by_code]
    town_geoms = town_geoms[np.array([placed[i] for i in by_code])]

    n_villages = max(len(town_infos), round(cells / CELLS_PER_VILLAGE))
    n_cells = max(cells, n_villages)
    village_counts = _spread(n_villages, len(town_infos), rng)
    cell_counts = _spread(n_cells, n_villages, rng)
    if village_counts.max() > 999 or cell_counts.max() > 999:
        raise ValueError(f"cells={cells} needs more than 999 children in one area")
    village_geoms, village_owner = _subdivide(town_geoms, village_counts, rng)
    cell_geoms, cell_owner = _subdivide(village_geoms, cell_counts, rng)

    def degrees(geoms: GeomArray) -> GeomArray:
        result: GeomArray = shapely.transform(geoms, _to_degrees)
        return result

    areas = [Area(CITY_CODE, CITY_NAME, "city", None, degrees(np.array([city_geom]))[0])]
    areas.extend(
        Area(c.code, c.name, "county", CITY_CODE, g)
        for c, g in zip(counties, degrees(county_geoms), strict=True)
    )
    areas.extend(
        Area(t.code, t.name, "township", t.county_code, g)
        for t, g in zip(town_infos, degrees(town_geoms), strict=True)
    )
    village_codes = _child_codes([t.code for t in town_infos], village_owner)
    village_names = _child_names(
        [t.name for t in town_infos],
        village_owner,
        lambda i: "社区" if town_infos[i].kind == "街道" else "村",
    )
    areas.extend(
        Area(code, name, "village", code[:9], g)
        for code, name, g in zip(village_codes, village_names, degrees(village_geoms), strict=True)
    )
    cell_codes = _child_codes(village_codes, cell_owner)
    cell_names = _child_names(village_names, cell_owner, lambda i: "网格")
    areas.extend(
        Area(code, name, "cell", code[:12], g)
        for code, name, g in zip(cell_codes, cell_names, degrees(cell_geoms), strict=True)
    )
    return areas


def _sequence(owner: IntArray) -> IntArray:
    """1-based position of each child among its parent's children (owner is grouped)."""
    return np.arange(owner.size) - np.searchsorted(owner, owner, side="left") + 1


def _child_codes(parent_codes: list[str], owner: IntArray) -> list[str]:
    return [
        f"{parent_codes[p]}{n:03d}"
        for p, n in zip(owner.tolist(), _sequence(owner).tolist(), strict=True)
    ]


def _child_names(parent_names: list[str], owner: IntArray, unit: Callable[[int], str]) -> list[str]:
    return [
        f"{parent_names[p]}第{n}{unit(p)}"
        for p, n in zip(owner.tolist(), _sequence(owner).tolist(), strict=True)
    ]
