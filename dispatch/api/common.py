"""What every REST view needs: the caller, and a validated body or query."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import request
from flask_login import current_user
from pydantic import BaseModel, ValidationError

from ..errors import Unauthorized, ValidationFailed, from_pydantic
from ..models import User
from ..services.auth import user_from_token

M = TypeVar("M", bound=BaseModel)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CALLER_KEY = "gridwatch.caller"


def caller() -> User:
    """The user behind a Bearer token, or the signed-in browser session."""
    # Kept on the request, not on `g`: `g` belongs to the app context, which requests share
    # when one is already pushed (a test client inside `app.app_context()`).
    known = request.environ.get(CALLER_KEY)
    if known is not None:
        return known  # type: ignore[no-any-return]
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        user = user_from_token(header[7:].strip())
    elif current_user.is_authenticated and request.method in SAFE_METHODS:
        # A browser's cookie only reads: a change needs the Bearer token the page holds, which
        # another site cannot get (no CSRF through the API).
        user = current_user._get_current_object()
    else:
        raise Unauthorized("send Authorization: Bearer <token> (POST /api/auth/token)")
    request.environ[CALLER_KEY] = user
    return user


def _json_body() -> Any:
    """The parsed JSON body, or None when there is none or it is not JSON."""
    try:
        return request.get_json(silent=True)
    except RecursionError:  # json.loads gives up on `[[[[…` a few thousand deep
        raise ValidationFailed("the body is nested too deeply", field="body") from None


def body(schema: type[M]) -> M:
    data: Any = _json_body()
    if not isinstance(data, dict):
        raise ValidationFailed("the body must be a JSON object", field="body")
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise from_pydantic(exc) from None


def query(schema: type[M]) -> M:
    args = {k: v for k, v in request.args.items()}
    try:
        return schema.model_validate(args)
    except ValidationError as exc:
        raise from_pydantic(exc) from None


def validate(schema: type[M], data: dict[str, Any]) -> M:
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise from_pydantic(exc) from None


def json_object() -> dict[str, Any]:
    """The body when it is a JSON object, else empty (the schema then names what is missing)."""
    data: Any = _json_body()
    return data if isinstance(data, dict) else {}
