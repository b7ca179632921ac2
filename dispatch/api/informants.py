from __future__ import annotations

from typing import Any

from flask import jsonify

from ..errors import NotFound
from ..schemas import MAX_ID, AssignmentChange, CheckInSubmit, CoverageQuery
from ..services import informants
from . import bp
from .common import body, caller, query


def _user_ref(user: str) -> str | int:
    """A user id (ASCII digits) or a username."""
    if not (user.isascii() and user.isdigit()):
        return user
    if int(user) > MAX_ID:
        raise NotFound(f"no informant {user}", field="user")
    return int(user)


@bp.post("/checkins")
def check_in() -> Any:
    result = informants.check_in(caller(), body(CheckInSubmit))
    return jsonify(ok=True, **result), 200 if result["duplicate"] else 201


@bp.get("/coverage")
def coverage() -> Any:
    user = caller()
    q = query(CoverageQuery)
    return jsonify(informants.coverage(user, q.area, q.days))


@bp.put("/informants/<user>/assignment")
def assign(user: str) -> Any:
    actor = caller()
    data = body(AssignmentChange)
    return jsonify(ok=True, **informants.assign_informant(actor, _user_ref(user), data.cell_code))


@bp.delete("/informants/<user>/assignment")
def unassign(user: str) -> Any:
    return jsonify(ok=True, **informants.end_assignment(caller(), _user_ref(user)))


@bp.get("/informants/<user>/assignments")
def history(user: str) -> Any:
    return jsonify(informants.assignment_history(caller(), _user_ref(user)))
