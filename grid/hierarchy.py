"""Checks that a set of areas forms a proper hierarchy: parents exist, children lie
inside their parent, siblings do not overlap, and gaps between siblings are found.

Tolerances are in metres: a sliver thinner than the tolerance (a digitising difference
along a shared border) is not a problem.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely

from grid.area import Area
from grid.codes import level_of

__all__ = ["HierarchyReport", "check_hierarchy"]

_M_PER_DEG = 111_320.0


@dataclass
class HierarchyReport:
    """What :func:`check_hierarchy` found: problems block an import, warnings do not."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _deg(metres: float, lat: float) -> float:
    """Metres as degrees, conservatively (the longitude degree is the shorter one)."""
    return metres / (_M_PER_DEG * max(0.2, math.cos(math.radians(lat))))


def _km2(geom: shapely.Geometry, lat: float) -> float:
    return float(shapely.area(geom)) * _M_PER_DEG**2 * math.cos(math.radians(lat)) / 1e6


def _thicker_than(geom: shapely.Geometry, tolerance_deg: float) -> bool:
    """Does any part of `geom` survive shrinking by half the tolerance?"""
    if shapely.is_empty(geom):
        return False
    return not shapely.is_empty(shapely.buffer(geom, -tolerance_deg / 2))


def check_hierarchy(
    areas: Sequence[Area],
    existing: Mapping[str, Area] | None = None,
    *,
    tolerance_m: float = 50.0,
    allow_missing_city: bool = True,
) -> HierarchyReport:
    """Check `areas` (a file being imported) against themselves and `existing` ones.

    Parameters
    ----------
    areas : sequence of Area
        The new areas, in file order (feature numbers in messages are their indexes).
    existing : mapping of code to Area, optional
        Areas already stored: possible parents, and siblings to check overlaps against.
    tolerance_m : float
        Slivers thinner than this, in metres, are ignored.
    allow_missing_city : bool
        A county whose city is in neither set is accepted (the caller derives the city).

    Examples
    --------
    >>> from shapely import box
    >>> county = Area("620102", "城关区", "county", "620100", box(0, 0, 1, 1))
    >>> a = Area("620102001", "甲", "township", "620102", box(0, 0, 0.5, 1))
    >>> b = Area("620102002", "乙", "township", "620102", box(0.4, 0, 1, 1))
    >>> check_hierarchy([county, a, b]).problems
    ['feature 2 (code 620102002): overlaps sibling 620102001 by 1239.17 km²']
    >>> c = Area("620102003", "丙", "township", "620103", box(0, 0, 1, 1))
    >>> check_hierarchy([c]).problems
    ['feature 0 (code 620102003): parent 620103 is neither in the file nor stored']
    """
    stored = dict(existing or {})
    new_codes = {a.code: i for i, a in enumerate(areas)}
    everything = {**stored, **{a.code: a for a in areas}}
    report = HierarchyReport()

    # Parents exist, and children lie within them (vectorised: imports can be 100,000 cells).
    children: dict[str, list[int]] = defaultdict(list)
    pairs: list[tuple[int, Area]] = []
    for i, area in enumerate(areas):
        parent_code = area.parent_code
        if parent_code is None:
            continue
        children[parent_code].append(i)
        parent = everything.get(parent_code)
        if parent is not None:
            pairs.append((i, parent))
        elif not (allow_missing_city and level_of(parent_code) == "city"):
            report.problems.append(
                f"feature {i} (code {area.code}): parent {parent_code} is neither in the "
                "file nor stored"
            )
    if pairs:
        kids = np.array([areas[i].geometry for i, _ in pairs], dtype=object)
        parents = np.array([p.geometry for _, p in pairs], dtype=object)
        lats = shapely.get_y(shapely.centroid(kids))
        tols = np.array([_deg(tolerance_m, lat) for lat in lats])
        outside = shapely.difference(kids, parents)
        survives = ~shapely.is_empty(shapely.buffer(outside, -tols / 2))
        for k in np.flatnonzero(survives).tolist():
            i, parent = pairs[k]
            report.problems.append(
                f"feature {i} (code {areas[i].code}): extends "
                f"{_km2(outside[k], lats[k]):.2f} km² outside its parent {parent.code}"
            )

    # Siblings (new ones, and stored ones not being replaced) do not overlap.
    stored_children: dict[str, list[Area]] = defaultdict(list)
    for area in stored.values():
        if area.parent_code in children and area.code not in new_codes:
            stored_children[area.parent_code].append(area)
    for parent_code, members in children.items():
        group = [areas[i] for i in members] + stored_children.get(parent_code, [])
        geoms = np.array([a.geometry for a in group], dtype=object)
        union = shapely.union_all(geoms)
        lat = group[0].centroid[1]
        tol = _deg(tolerance_m, lat)
        # Children that tile without overlap have areas adding up to their union's: then no
        # pair needs looking at, which is the common case and the slow one to prove pairwise.
        excess = float(np.sum(shapely.area(geoms))) - float(shapely.area(union))
        if excess > tol * tol:
            _overlapping_siblings(report, group, geoms, len(members), new_codes, lat, tol)

        # Gaps: parts of the parent that no child covers (a warning: maybe not imported yet).
        parent = everything.get(parent_code)
        if parent is None:
            continue
        gap = shapely.difference(parent.geometry, union)
        if _thicker_than(gap, tol):
            report.warnings.append(
                f"area {parent_code}: {_km2(gap, lat):.2f} km² not covered by any of its "
                f"{len(group)} children"
            )
    return report


def _overlapping_siblings(
    report: HierarchyReport,
    group: list[Area],
    geoms: np.ndarray,
    new_count: int,
    new_codes: dict[str, int],
    lat: float,
    tol: float,
) -> None:
    """Report each pair of siblings whose overlap is thicker than the tolerance.

    The first `new_count` members of `group` come from the file, the rest are stored.
    """
    tree = shapely.STRtree(geoms)
    # Neighbours that merely touch are fine: only overlapping or nested pairs count.
    found = {
        (int(x), int(y))
        for predicate in ("overlaps", "contains")
        for x, y in zip(*tree.query(geoms, predicate=predicate), strict=True)
        if x != y
    }
    candidates = sorted({(min(x, y), max(x, y)) for x, y in found if min(x, y) < new_count})
    if not candidates:
        return
    firsts = np.array([geoms[x] for x, _ in candidates], dtype=object)
    seconds = np.array([geoms[y] for _, y in candidates], dtype=object)
    overlaps = shapely.intersection(firsts, seconds)
    thick = ~shapely.is_empty(shapely.buffer(overlaps, -tol / 2))
    for k in np.flatnonzero(thick).tolist():
        x, y = candidates[k]
        later, earlier = (group[y], group[x]) if y < new_count else (group[x], group[y])
        report.problems.append(
            f"feature {new_codes[later.code]} (code {later.code}): overlaps sibling "
            f"{earlier.code} by {_km2(overlaps[k], lat):.2f} km²"
        )
