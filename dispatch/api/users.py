"""Accounts: an admin disables, enables or signs out a user of their area."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from ..services import auth
from . import bp
from .common import caller


@bp.post("/users/<username>/disable")
def disable_user(username: str) -> Any:
    return jsonify(ok=True, **auth.set_active(caller(), username[:64], False))


@bp.post("/users/<username>/enable")
def enable_user(username: str) -> Any:
    return jsonify(ok=True, **auth.set_active(caller(), username[:64], True))


@bp.post("/users/<username>/revoke")
def revoke_user(username: str) -> Any:
    return jsonify(ok=True, **auth.revoke_tokens(caller(), username[:64]))
