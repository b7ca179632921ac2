"""Plain-dict views of models, as clients see them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..models import Incident, Report, Task, Team, User


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def user_view(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "role": user.role,
        "area_code": user.area_code,
    }


def report_view(report: Report, *, with_informant: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": report.id,
        "client_id": report.client_id,
        "category": report.category,
        "text": report.text,
        "severity": report.severity,
        "lat": report.lat,
        "lon": report.lon,
        "accuracy_m": report.accuracy_m,
        "occurred_at": iso(report.occurred_at),
        "cell_code": report.cell_code,
        "area_code": report.area_code,
        "status": report.status,
        "risk_level": report.risk_level,
        "risk_score": report.risk_score,
        "reasons": report.reasons or [],
        "category_hint": report.category_hint,
        "flags": report.flags or [],
        "received_at": iso(report.received_at),
        "incident_id": report.incident_id,
        "cluster_id": report.cluster_id,
        "cluster_size": report.cluster_size,
        "claimed_by": report.claimed_by,
        "claimed_until": iso(report.claimed_until),
        "review_due_at": iso(report.review_due_at),
        "escalated_at": iso(report.escalated_at),
        "photo_count": report.photo_count,
    }
    if with_informant:
        view["informant_id"] = report.informant_id
    return view


def report_ack_view(report: Report) -> dict[str, Any]:
    return {
        "id": report.id,
        "client_id": report.client_id,
        "cell_code": report.cell_code,
        "status": report.status,
        "received_at": iso(report.received_at),
        "flags": report.flags or [],
    }


def team_view(team: Team) -> dict[str, Any]:
    return {
        "id": team.id,
        "name": team.name,
        "kind": team.kind,
        "status": team.status,
        "capabilities": list(team.capabilities or []),
        "area_code": team.area_code,
        "members": team.members,
        "leader_id": team.leader_id,
        "base": {"lat": team.base_lat, "lon": team.base_lon},
        "position": (
            {"lat": team.lat, "lon": team.lon, "at": iso(team.position_at)}
            if team.lat is not None and team.lon is not None
            else None
        ),
    }


def incident_view(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.id,
        "title": incident.title,
        "category": incident.category,
        "status": incident.status,
        "risk_level": incident.risk_level,
        "lat": incident.lat,
        "lon": incident.lon,
        "cell_code": incident.cell_code,
        "area_code": incident.area_code,
        "created_at": iso(incident.created_at),
        "updated_at": iso(incident.updated_at),
        "resolved_at": iso(incident.resolved_at),
        "resolution_note": incident.resolution_note,
        "cascade_stopped": incident.cascade_stopped,
        "report_ids": sorted(r.id for r in incident.reports),
    }


def task_view(task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "incident_id": task.incident_id,
        "team_id": task.team_id,
        "team_name": task.team.name,
        "status": task.status,
        "offered_at": iso(task.offered_at),
        "ack_deadline": iso(task.ack_deadline),
        "acknowledged_at": iso(task.acknowledged_at),
        "ended_at": iso(task.ended_at),
        "attempt": task.attempt,
        "decline_reason": task.decline_reason,
    }


def offered_task_view(task: Task, alongside: list[Task] | None = None) -> dict[str, Any]:
    """What a team leader's phone needs to act on a task; `alongside` are the other live
    tasks of the same incident (who else is going)."""
    incident = task.incident
    view = task_view(task)
    others = [
        {"team_id": t.team_id, "team_name": t.team.name, "status": t.status}
        for t in alongside or []
        if t.id != task.id
    ]
    view["incident"] = {
        **incident_view(incident),
        "other_teams": others,
        "reports": [
            {"id": r.id, "category": r.category, "text": r.text, "severity": r.severity}
            for r in incident.reports
        ],
    }
    return view
