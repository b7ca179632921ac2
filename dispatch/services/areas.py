"""The grid as the application sees it: areas in the database, one locate index per process."""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
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


def grid_version() -> tuple[Any, ...]:
    """A stamp that changes when the stored grid changes (checked at most every 30 s)."""
    cell_index()
    stamp = _cache().stamp
    return stamp if stamp is not None else ()


GEOJSON_CACHE_SIZE = 256


def _bbox_key(bbox: Sequence[float] | None) -> tuple[float, ...] | None:
    """Round a map's view outward to 0.01°, so a small pan hits the same cached answer."""
    if bbox is None:
        return None
    west, south, east, north = bbox
    return (
        math.floor(west * 100) / 100,
        math.floor(south * 100) / 100,
        math.ceil(east * 100) / 100,
        math.ceil(north * 100) / 100,
    )


def areas_geojson(
    *,
    level: str | None = None,
    parent: str | None = None,
    bbox: Sequence[float] | None = None,
    tolerance: float = 0.0,
    limit: int = 20_000,
) -> tuple[bytes, str]:
    """Areas as GeoJSON bytes and an ETag; answers are cached until the grid changes."""
    key = (grid_version(), level, parent, _bbox_key(bbox), round(tolerance, 7), limit)
    etag = hashlib.sha1(repr(key).encode()).hexdigest()
    cache: OrderedDict[str, bytes] = current_app.extensions.setdefault(
        "gridwatch_geojson", OrderedDict()
    )
    body = cache.get(etag)
    if body is not None:
        cache.move_to_end(etag)
        return body, etag
    body = _render_geojson(level, parent, _bbox_key(bbox), tolerance, limit)
    cache[etag] = body
    while len(cache) > GEOJSON_CACHE_SIZE:
        cache.popitem(last=False)
    return body, etag


def _render_geojson(
    level: str | None,
    parent: str | None,
    bbox: Sequence[float] | None,
    tolerance: float,
    limit: int,
) -> bytes:
    query = db.select(Area.code, Area.name, Area.level, Area.parent_code, Area.geometry_wkb)
    if level is not None:
        query = query.where(Area.level == level)
    if parent is not None:
        query = query.where(Area.code.startswith(jurisdiction_prefix(parent)), Area.code != parent)
    if bbox is not None:
        west, south, east, north = bbox
        query = query.where(
            Area.max_lon >= west, Area.min_lon <= east, Area.max_lat >= south, Area.min_lat <= north
        )
    rows = db.session.execute(query.order_by(Area.code).limit(limit)).all()
    # Whole arrays through GEOS at once: parse, simplify, write GeoJSON.
    geometries = shapely.from_wkb([row[4] for row in rows])
    if tolerance > 0:
        geometries = shapely.simplify(geometries, tolerance, preserve_topology=True)
    shapes = shapely.to_geojson(geometries) if rows else []
    features = [
        b'{"type":"Feature","id":%s,"geometry":%s,"properties":%s}'
        % (
            orjson.dumps(code),
            shape.encode(),
            orjson.dumps({"code": code, "name": name, "level": lvl, "parent_code": parent_code}),
        )
        for (code, name, lvl, parent_code, _), shape in zip(rows, shapes, strict=True)
    ]
    return b'{"type":"FeatureCollection","features":[' + b",".join(features) + b"]}"


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


RISK_RANK = {"red": 0, "orange": 1, "yellow": 2, "blue": 3}


def cell_status(
    user: Any,
    *,
    bbox: Sequence[float] | None = None,
    parent: str | None = None,
    limit: int = 20_000,
) -> dict[str, Any]:
    """Per cell in view: the most dangerous open report, how many are open, and coverage.

    For tinting the operator's map; limited to the user's jurisdiction.
    """
    from .access import OPERATOR_ROLES, require_role, within
    from .informants import cell_coverage

    require_role(user, OPERATOR_ROLES)
    area = parent if parent is not None and within(parent, user.area_code) else user.area_code
    query = db.select(Area.code).where(
        Area.level == "cell", Area.code.startswith(jurisdiction_prefix(area))
    )
    if bbox is not None:
        west, south, east, north = bbox
        query = query.where(
            Area.max_lon >= west, Area.min_lon <= east, Area.max_lat >= south, Area.min_lat <= north
        )
    codes = list(db.session.scalars(query.order_by(Area.code).limit(limit)))
    cells: dict[str, dict[str, Any]] = {
        code: {"risk": None, "open": 0, "coverage": "uncovered"} for code in codes
    }
    from ..models import Report

    for start in range(0, len(codes), 900):  # SQLite's bound-parameter limit
        chunk = codes[start : start + 900]
        rows = db.session.execute(
            db.select(Report.cell_code, Report.risk_level, func.count(Report.id))
            .where(Report.cell_code.in_(chunk), Report.status.in_(("new", "triaged")))
            .group_by(Report.cell_code, Report.risk_level)
        ).all()
        for code, level, count in rows:
            cell = cells[code]
            cell["open"] += count
            if level in RISK_RANK and (
                cell["risk"] is None or RISK_RANK[level] < RISK_RANK[cell["risk"]]
            ):
                cell["risk"] = level
    for code, state in cell_coverage(codes).items():
        cells[code]["coverage"] = state
    return {"cells": cells}
