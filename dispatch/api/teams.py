from __future__ import annotations

from typing import Any

from flask import jsonify, request

from ..schemas import (
    TaskDecline,
    TaskStatusChange,
    TeamCreate,
    TeamPosition,
    TeamStatusChange,
    TeamUpdate,
)
from ..services import tasks, teams
from ..services.views import team_view
from . import bp
from .common import body, caller, validate


@bp.get("/teams")
def list_teams() -> Any:
    return jsonify(
        tasks.list_teams(caller(), kind=request.args.get("kind"), status=request.args.get("status"))
    )


@bp.post("/teams")
def create_team() -> Any:
    return jsonify(ok=True, **teams.create_team(caller(), body(TeamCreate))), 201


@bp.get("/teams/<int:team_id>")
def get_team(team_id: int) -> Any:
    return jsonify(teams.get_team(caller(), team_id))


@bp.patch("/teams/<int:team_id>")
def update_team(team_id: int) -> Any:
    return jsonify(ok=True, **teams.update_team(caller(), team_id, body(TeamUpdate)))


@bp.get("/tasks/current")
def current_task() -> Any:
    user = caller()
    return jsonify(task=tasks.current_task(user), team=team_view(tasks.leader_team(user)))


@bp.post("/tasks/<int:task_id>/ack")
def ack(task_id: int) -> Any:
    return jsonify(ok=True, **tasks.acknowledge_task(caller(), task_id))


@bp.post("/tasks/<int:task_id>/decline")
def decline(task_id: int) -> Any:
    raw = request.get_json(silent=True) or {}
    data = validate(TaskDecline, {"task_id": task_id, "reason": raw.get("reason", "")})
    return jsonify(ok=True, **tasks.decline_task(caller(), data.task_id, data.reason))


@bp.post("/tasks/<int:task_id>/status")
def status(task_id: int) -> Any:
    raw = request.get_json(silent=True) or {}
    data = validate(TaskStatusChange, {"task_id": task_id, "status": raw.get("status")})
    return jsonify(ok=True, **tasks.update_task_status(caller(), data.task_id, data.status))


@bp.post("/teams/status")
def team_status() -> Any:
    data = body(TeamStatusChange)
    return jsonify(ok=True, **tasks.set_team_status(caller(), data.status, data.team_id))


@bp.post("/teams/position")
def position() -> Any:
    return jsonify(ok=True, **tasks.update_team_position(caller(), body(TeamPosition)))
