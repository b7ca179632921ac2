"""The small exception family, mapped once to HTTP status, socket ack and job failure."""

from __future__ import annotations

from typing import Any


class GridwatchError(Exception):
    """Base of every error a client may see; carries a stable code."""

    code = "error"
    status = 400

    def __init__(self, message: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = extra

    def as_dict(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        error.update(self.extra)
        return error


class ValidationFailed(GridwatchError):
    code = "validation_failed"
    status = 422


class Unauthorized(GridwatchError):
    code = "unauthorized"
    status = 401


class Forbidden(GridwatchError):
    code = "forbidden"
    status = 403


class NotFound(GridwatchError):
    code = "not_found"
    status = 404


class InvalidTransition(GridwatchError):
    code = "invalid_transition"
    status = 409


class Unavailable(GridwatchError):
    code = "team_unavailable"
    status = 409


class Claimed(GridwatchError):
    """Another operator holds the claim on this queue entry."""

    code = "claimed"
    status = 409


class RateLimited(GridwatchError):
    code = "rate_limited"
    status = 429


class TemporarilyUnavailable(GridwatchError):
    """The database or another part is down: the client should retry later."""

    code = "unavailable"
    status = 503


def from_pydantic(exc: Any) -> ValidationFailed:
    """Turn a pydantic ValidationError into our error, naming the first bad field."""
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0] if errors else {"loc": (), "msg": "invalid payload"}
    field = ".".join(str(p) for p in first.get("loc", ())) or None
    message = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ())) or 'payload'}: {e.get('msg')}"
        for e in errors[:5]
    )
    return ValidationFailed(message, field=field)
