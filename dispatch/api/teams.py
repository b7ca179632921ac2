from __future__ import annotations

from typing import Any

from flask import jsonify

from ..schemas import (
    TaskDecline,
    TaskStatusChange,
    TeamCreate,
    TeamPosition,
    TeamQuery,
    TeamStatusChange,
    TeamUpdate,
)
from ..services import tasks, teams
from ..services.views import team_view
from . import bp
from .common import body, caller, json_object, query, validate


@bp.get("/teams")
def list_teams() -> Any:
    user = caller()
    q = query(TeamQuery)
    return jsonify(tasks.list_teams(user, kind=q.kind, status=q.status))


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
    user = caller()
    data = validate(TaskDecline, {**json_object(), "task_id": task_id})
    return jsonify(ok=True, **tasks.decline_task(user, data.task_id, data.reason))


@bp.post("/tasks/<int:task_id>/status")
def status(task_id: int) -> Any:
    user = caller()
    data = validate(TaskStatusChange, {**json_object(), "task_id": task_id})
    return jsonify(ok=True, **tasks.update_task_status(user, data.task_id, data.status))


@bp.post("/teams/status")
def team_status() -> Any:
    user = caller()
    data = body(TeamStatusChange)
    return jsonify(ok=True, **tasks.set_team_status(user, data.status, data.team_id))


@bp.post("/teams/position")
def position() -> Any:
    return jsonify(ok=True, **tasks.update_team_position(caller(), body(TeamPosition)))
