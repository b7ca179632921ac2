from __future__ import annotations

import math
from typing import Any

from flask import Response, jsonify, request

from ..errors import ValidationFailed
from ..schemas import AreaQuery, LocateQuery
from ..services import areas
from . import bp
from .common import caller, query


def _bbox(raw: str | None) -> list[float] | None:
    if not raw:
        return None
    try:
        bbox = [float(v) for v in raw.split(",")]
    except ValueError:
        bbox = []
    if len(bbox) != 4 or not all(math.isfinite(v) for v in bbox):
        raise ValidationFailed("bbox is west,south,east,north", field="bbox")
    return bbox


@bp.get("/areas")
def list_areas() -> Any:
    caller()
    q = query(AreaQuery)
    bbox = _bbox(q.bbox)
    body, etag = areas.areas_geojson(
        level=q.level, parent=q.parent, bbox=bbox, tolerance=q.tolerance
    )
    response = Response(body, mimetype="application/geo+json")
    response.set_etag(etag)
    response.cache_control.private = True
    response.cache_control.max_age = 60
    return response.make_conditional(request)


@bp.get("/areas/status")
def area_status() -> Any:
    user = caller()
    q = query(AreaQuery)
    bbox = _bbox(q.bbox)
    return jsonify(areas.cell_status(user, bbox=bbox, parent=q.parent))


@bp.get("/areas/locate")
def locate() -> Any:
    caller()
    q = query(LocateQuery)
    return jsonify(areas.locate(q.lat, q.lon))
