from __future__ import annotations

from typing import Any

from flask import jsonify, request

from ..errors import ValidationFailed
from ..schemas import IncidentCreate, TeamDispatch
from ..services import incidents, tasks
from . import bp
from .common import body, caller


@bp.post("/incidents")
def create() -> Any:
    return jsonify(ok=True, **incidents.create_incident(caller(), body(IncidentCreate))), 201


@bp.get("/incidents")
def list_incidents() -> Any:
    return jsonify(incidents.list_incidents(caller()))


@bp.get("/incidents/<int:incident_id>")
def get(incident_id: int) -> Any:
    return jsonify(incidents.get_incident(caller(), incident_id))


@bp.get("/incidents/<int:incident_id>/recommendations")
def recommendations(incident_id: int) -> Any:
    try:
        limit = int(request.args.get("limit", 5))
    except ValueError:
        raise ValidationFailed("limit must be a whole number", field="limit") from None
    return jsonify(incidents.recommendations(caller(), incident_id, limit))


@bp.post("/incidents/<int:incident_id>/dispatch")
def dispatch(incident_id: int) -> Any:
    data = body(TeamDispatch)
    return jsonify(ok=True, **tasks.dispatch_team(caller(), incident_id, data.team_id)), 201
