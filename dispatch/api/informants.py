from __future__ import annotations

from typing import Any

from flask import jsonify, request

from ..errors import ValidationFailed
from ..schemas import AssignmentChange, CheckInSubmit
from ..services import informants
from . import bp
from .common import body, caller


def _user_ref(user: str) -> str | int:
    return int(user) if user.isdigit() else user


@bp.post("/checkins")
def check_in() -> Any:
    result = informants.check_in(caller(), body(CheckInSubmit))
    return jsonify(ok=True, **result), 200 if result["duplicate"] else 201


@bp.get("/coverage")
def coverage() -> Any:
    try:
        days = int(request.args["days"]) if "days" in request.args else None
    except ValueError:
        raise ValidationFailed("days must be a whole number", field="days") from None
    area = request.args.get("area") or None
    if area is not None and (not area.isdigit() or len(area) > 15):
        raise ValidationFailed("area must be an area code", field="area")
    return jsonify(informants.coverage(caller(), area, days))


@bp.put("/informants/<user>/assignment")
def assign(user: str) -> Any:
    data = body(AssignmentChange)
    return jsonify(
        ok=True, **informants.assign_informant(caller(), _user_ref(user), data.cell_code)
    )


@bp.delete("/informants/<user>/assignment")
def unassign(user: str) -> Any:
    return jsonify(ok=True, **informants.end_assignment(caller(), _user_ref(user)))


@bp.get("/informants/<user>/assignments")
def history(user: str) -> Any:
    return jsonify(informants.assignment_history(caller(), _user_ref(user)))
