"""The grid as the application sees it: areas in the database, one locate index per process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import shapely
from flask import current_app
from sqlalchemy import func

import grid
from grid.codes import jurisdiction_prefix

from ..errors import NotFound
from ..extensions import db
from ..models import Area, utcnow
from .uow import audit, use_case

SNAP_MAX_M = 200.0
_CHECK_EVERY_S = 30.0


@dataclass
class _IndexCache:
    index: grid.CellIndex | None = None
    stamp: tuple[Any, ...] | None = None
    checked_at: float = 0.0
    lock: threading.Lock = threading.Lock()


def _cache() -> _IndexCache:
    return current_app.extensions.setdefault("gridwatch_index", _IndexCache())  # type: ignore[no-any-return]


def _grid_stamp() -> tuple[Any, ...]:
    row = db.session.execute(db.select(func.count(Area.code), func.max(Area.updated_at))).one()
    return (row[0], str(row[1]))


def _lowest_level() -> str | None:
    present = set(db.session.scalars(db.select(Area.level).distinct()))
    for level in reversed(grid.LEVELS):
        if level in present:
            return level
    return None


def cell_index() -> grid.CellIndex:
    """The process's locate index over the lowest level stored (cells, once there are any),
    rebuilt when the grid in the database changes."""
    cache = _cache()
    now = time.monotonic()
    if cache.index is not None and now - cache.checked_at < _CHECK_EVERY_S:
        return cache.index
    with cache.lock:
        stamp = _grid_stamp()
        cache.checked_at = now
        if cache.index is None or stamp != cache.stamp:
            level = _lowest_level()
            rows = db.session.execute(
                db.select(Area.code, Area.name, Area.parent_code, Area.geometry_wkb).where(
                    Area.level == level
                )
            ).all()
            areas = [
                grid.Area(code, name, str(level), parent, shapely.from_wkb(wkb))
                for code, name, parent, wkb in rows
            ]
            cache.index = grid.CellIndex(areas)
            cache.stamp = stamp
    return cache.index


def invalidate_index() -> None:
    cache = _cache()
    cache.index = None
    cache.stamp = None


def locate_point(lon: float, lat: float) -> tuple[str | None, list[str]]:
    """The lowest area containing a point (or one a few metres away), and flags saying so."""
    index = cell_index()
    if len(index) == 0:
        return None, ["outside_grid"]
    code = index.locate(lon, lat)
    if code is not None:
        return code, []
    code = index.nearest(lon, lat, SNAP_MAX_M)
    if code is not None:
        return code, ["snapped_to_cell"]
    return None, ["outside_grid"]


def city_code() -> str:
    code = db.session.scalar(db.select(Area.code).where(Area.level == "city").limit(1))
    return code or "620100"


def area_chain(code: str) -> list[dict[str, Any]]:
    """The area and its ancestors, from the city down."""
    chain = []
    for ancestor in grid.codes.ancestors(code):
        area = db.session.get(Area, ancestor)
        if area is not None:
            chain.append({"code": area.code, "name": area.name, "level": area.level})
    return chain


def locate(lat: float, lon: float) -> dict[str, Any]:
    code, flags = locate_point(lon, lat)
    if code is None:
        raise NotFound("the point lies outside every area of the grid")
    chain = area_chain(code)
    cell = code if chain and chain[-1]["level"] == "cell" else None
    return {"cell_code": cell, "code": code, "flags": flags, "areas": chain}


def list_areas(
    *,
    level: str | None = None,
    parent: str | None = None,
    bbox: Sequence[float] | None = None,
    tolerance: float = 0.0,
    limit: int = 20_000,
) -> dict[str, Any]:
    """Areas as a GeoJSON FeatureCollection, simplified for the map's zoom."""
    query = db.select(Area)
    if level is not None:
        query = query.where(Area.level == level)
    if parent is not None:
        query = query.where(Area.code.startswith(jurisdiction_prefix(parent)), Area.code != parent)
    if bbox is not None:
        west, south, east, north = bbox
        query = query.where(
            Area.max_lon >= west, Area.min_lon <= east, Area.max_lat >= south, Area.min_lat <= north
        )
    features = []
    for area in db.session.scalars(query.order_by(Area.code).limit(limit)):
        geometry = shapely.from_wkb(area.geometry_wkb)
        if tolerance > 0:
            geometry = shapely.simplify(geometry, tolerance, preserve_topology=True)
        features.append(
            {
                "type": "Feature",
                "id": area.code,
                "geometry": shapely.geometry.mapping(geometry),
                "properties": {
                    "code": area.code,
                    "name": area.name,
                    "level": area.level,
                    "parent_code": area.parent_code,
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


CHUNK = 5000


@use_case
def save_areas(
    areas: Sequence[grid.Area],
    *,
    actor: Any = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, int]:
    """Insert or update areas (parents before children); one audit event for the batch.

    Returns (inserted, updated).
    """
    order = {lvl: i for i, lvl in enumerate(grid.codes.LEVELS)}
    existing = set(db.session.scalars(db.select(Area.code)))
    rows_new: list[dict[str, Any]] = []
    rows_old: list[dict[str, Any]] = []
    for area in sorted(areas, key=lambda a: (order[a.level], a.code)):
        lon_min, lat_min, lon_max, lat_max = area.geometry.bounds
        centre = area.geometry.representative_point()
        row = {
            "code": area.code,
            "name": area.name,
            "level": area.level,
            "parent_code": area.parent_code,
            "geometry_wkb": shapely.to_wkb(area.geometry),
            "centroid_lon": centre.x,
            "centroid_lat": centre.y,
            "min_lon": lon_min,
            "min_lat": lat_min,
            "max_lon": lon_max,
            "max_lat": lat_max,
            "updated_at": utcnow(),
        }
        (rows_old if area.code in existing else rows_new).append(row)
    total, done = len(rows_new) + len(rows_old), 0
    for rows, statement in ((rows_new, db.insert(Area)), (rows_old, db.update(Area))):
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            db.session.execute(statement, chunk)
            done += len(chunk)
            if progress is not None:
                progress(done, total)
    audit(
        "grid.imported",
        "grid",
        "-",
        actor=actor,
        after={"inserted": len(rows_new), "updated": len(rows_old)},
    )
    invalidate_index()
    return len(rows_new), len(rows_old)
