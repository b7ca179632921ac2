"""REST under /api: thin views, one service call each."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from werkzeug.exceptions import HTTPException

from ..errors import GridwatchError

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.errorhandler(GridwatchError)
def _gridwatch_error(exc: GridwatchError) -> Any:
    from ..extensions import db

    db.session.rollback()
    return jsonify(error=exc.as_dict()), exc.status


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Any:
    code = {
        400: "bad_request",
        404: "not_found",
        405: "method_not_allowed",
        413: "too_large",
        415: "unsupported_media_type",
    }.get(exc.code or 500, "error")
    return jsonify(error={"code": code, "message": exc.description}), exc.code


from . import (  # noqa: E402,F401
    areas,
    auth,
    followups,
    health,
    incidents,
    informants,
    photos,
    reports,
    teams,
)
