"""Grid import and export: GeoJSON in, all or nothing; GeoJSON out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shapely

import grid
from grid.codes import level_of

from ..extensions import db
from ..models import Area, User
from .areas import save_areas
from .uow import use_case

CITY_NAMES = {grid.CITY_CODE: grid.demo.CITY_NAME}


@dataclass
class ImportResult:
    areas: int = 0
    inserted: int = 0
    updated: int = 0
    derived: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def stored_area(row: Area) -> grid.Area:
    return grid.Area(
        row.code, row.name, row.level, row.parent_code, shapely.from_wkb(row.geometry_wkb)
    )


def import_grid(
    source: str | Path | dict[str, Any],
    *,
    level: str | None = None,
    code_prop: str = "code",
    name_prop: str = "name",
    parent_prop: str | None = None,
    crs: str = "wgs84",
    tolerance_m: float = 50.0,
    actor: User | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Validate a whole file, then write it in one transaction; raise GridError otherwise."""
    result = ImportResult()
    areas = grid.load_geojson(
        source,
        level=level,
        code_prop=code_prop,
        name_prop=name_prop,
        parent_prop=parent_prop,
        crs=crs,
        warnings=result.warnings,
    )
    in_file = {a.code for a in areas}
    parents = {a.parent_code for a in areas if a.parent_code} - in_file
    rows: list[Area] = []
    if parents:
        query = db.select(Area).where(db.or_(Area.code.in_(parents), Area.parent_code.in_(parents)))
        rows = list(db.session.scalars(query))
    existing = {row.code: stored_area(row) for row in rows}
    report = grid.check_hierarchy(areas, existing, tolerance_m=tolerance_m)
    result.warnings += report.warnings
    if report.problems:
        raise grid.GridError(report.problems, warnings=result.warnings)

    # A county file needs its city: derive it from the counties when it is not stored.
    derived = []
    for code in sorted(p for p in parents if p not in existing and level_of(p) == "city"):
        counties = [a.geometry for a in areas if a.parent_code == code]
        outline = shapely.union_all(counties)
        derived.append(grid.Area(code, CITY_NAMES.get(code, code), "city", None, outline))
        result.derived.append(code)
    result.inserted, result.updated = _write(derived + areas, actor, progress)
    result.areas = len(areas)
    return result


@use_case
def _write(
    areas: list[grid.Area], actor: User | None, progress: Callable[[int, int], None] | None
) -> tuple[int, int]:
    return save_areas(areas, actor=actor, progress=progress)


def export_grid(*, level: str | None = None, area: str | None = None) -> dict[str, Any]:
    stmt = db.select(Area).order_by(Area.code)
    if level is not None:
        stmt = stmt.where(Area.level == level)
    if area is not None:
        stmt = stmt.where(Area.code.startswith(grid.jurisdiction_prefix(area)))
    return grid.dump_geojson([stored_area(row) for row in db.session.scalars(stmt)])
