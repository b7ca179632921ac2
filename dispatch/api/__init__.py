"""REST under /api: thin views, one service call each."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask_limiter.errors import RateLimitExceeded
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from .. import ratelimit
from ..errors import GridwatchError, NotFound
from ..schemas import MAX_ID

bp = Blueprint("api", __name__, url_prefix="/api")
# Every REST call counts against one shared allowance per caller.
ratelimit.rest_limit(bp)


@bp.errorhandler(GridwatchError)
def _gridwatch_error(exc: GridwatchError) -> Any:
    from ..extensions import db

    db.session.rollback()
    return jsonify(error=exc.as_dict()), exc.status


@bp.errorhandler(RateLimitExceeded)
def _rate_limited(exc: RateLimitExceeded) -> Any:
    error = ratelimit.exceeded(exc)
    return jsonify(error=error.as_dict()), error.status


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Any:
    code = {
        400: "bad_request",
        404: "not_found",
        405: "method_not_allowed",
        413: "too_large",
        415: "unsupported_media_type",
    }.get(exc.code or 500, "error")
    response = jsonify(error={"code": code, "message": exc.description})
    response.status_code = exc.code or 500
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


@bp.app_errorhandler(404)
@bp.app_errorhandler(405)
def _unrouted(exc: HTTPException) -> Any:
    """A URL under /api that no route (or no route for this method) takes: JSON too."""
    if request.path == bp.url_prefix or request.path.startswith(f"{bp.url_prefix}/"):
        return _http_error(exc)
    return exc


@bp.url_value_preprocessor
def _ids_in_range(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """An id beyond the INTEGER columns names no row; asking the database would fail."""
    for name, value in (values or {}).items():
        if isinstance(value, int) and not 1 <= value <= MAX_ID:
            raise NotFound(f"no such {name.removesuffix('_id')}", field=name)


from . import (  # noqa: E402,F401
    areas,
    auth,
    cap,
    exports,
    followups,
    health,
    incidents,
    informants,
    openapi,
    photos,
    reports,
    supervision,
    teams,
    users,
    webhooks,
)
