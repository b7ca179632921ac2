from __future__ import annotations

from typing import Any

from flask import jsonify

from ..schemas import (
    IncidentCancel,
    IncidentCreate,
    IncidentNote,
    RecommendationQuery,
    TeamDispatch,
)
from ..services import incidents, tasks
from . import bp
from .common import body, caller, json_object, query, validate


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
    user = caller()
    limit = query(RecommendationQuery).limit
    return jsonify(incidents.recommendations(user, incident_id, limit))


@bp.post("/incidents/<int:incident_id>/cancel")
def cancel_incident(incident_id: int) -> Any:
    user = caller()
    data = validate(IncidentCancel, {**json_object(), "incident_id": incident_id})
    return jsonify(ok=True, **tasks.cancel_incident(user, incident_id, data.reason))


@bp.post("/incidents/<int:incident_id>/resolve")
def resolve_incident(incident_id: int) -> Any:
    user = caller()
    data = validate(IncidentNote, {**json_object(), "incident_id": incident_id})
    return jsonify(ok=True, **tasks.resolve_incident(user, incident_id, data.note))


@bp.post("/incidents/<int:incident_id>/close")
def close_incident(incident_id: int) -> Any:
    return jsonify(ok=True, **tasks.close_incident(caller(), incident_id))


@bp.post("/incidents/<int:incident_id>/stop-cascade")
def stop_incident_cascade(incident_id: int) -> Any:
    return jsonify(ok=True, **tasks.stop_cascade(caller(), incident_id))


@bp.get("/incidents/<int:incident_id>/plan")
def plan(incident_id: int) -> Any:
    return jsonify(incidents.dispatch_plan(caller(), incident_id))


@bp.post("/incidents/<int:incident_id>/dispatch")
def dispatch(incident_id: int) -> Any:
    user = caller()
    data = body(TeamDispatch)
    return jsonify(ok=True, **tasks.dispatch_team(user, incident_id, data.team_id)), 201
