"""Incidents: operators turn reports into incidents and look for the team to send."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidTransition, ValidationFailed
from ..extensions import db
from ..models import (
    LIVE_TASK_STATUSES as LIVE,
)
from ..models import (
    AuditEvent,
    Incident,
    IncidentStatus,
    Report,
    ReportStatus,
    Role,
    Task,
    Team,
    User,
    utcnow,
)
from ..realtime import names
from ..recommend import TeamView, plan_dispatch, rank_teams
from ..schemas import IncidentCreate
from . import privacy
from .access import (
    DISPATCH_ROLES,
    OPERATOR_ROLES,
    can_dispatch,
    check_incident,
    check_read_report,
    require_role,
)
from .uow import audit, outbox, use_case
from .views import incident_view, iso, report_view

RISK_ORDER = ("red", "orange", "yellow", "blue")


@use_case
def create_incident(user: User, data: IncidentCreate) -> dict[str, Any]:
    require_role(user, DISPATCH_ROLES)
    chosen = [check_read_report(user, db.session.get(Report, rid)) for rid in data.report_ids]
    # A queue entry stands for its whole cluster: the incident takes every member.
    members = list(
        db.session.scalars(
            db.select(Report).where(
                Report.cluster_id.in_([r.id for r in chosen]),
                Report.incident_id.is_(None),
                Report.status.in_(("new", "triaged")),
            )
        )
    )
    reports = chosen + [m for m in members if m.id not in {r.id for r in chosen}]
    for report in reports:
        if report.incident_id is not None:
            raise InvalidTransition(
                f"report {report.id} already belongs to incident {report.incident_id}",
                field="report_ids",
            )
        if report.status in (ReportStatus.DISMISSED, ReportStatus.MERGED):
            raise InvalidTransition(f"report {report.id} is {report.status}", field="report_ids")
    first = reports[0]
    levels = [r.risk_level for r in reports if r.risk_level in RISK_ORDER]
    incident = Incident(
        # The pages label categories in the reader's language; the title is the report's words.
        title=data.title or first.text[:60] or first.category,
        category=data.category or first.category,
        status=IncidentStatus.OPEN,
        risk_level=min(levels, key=RISK_ORDER.index) if levels else None,
        lat=sum(r.lat for r in reports) / len(reports),
        lon=sum(r.lon for r in reports) / len(reports),
        cell_code=first.cell_code,
        area_code=first.area_code,
        created_by=user.id,
    )
    db.session.add(incident)
    db.session.flush()
    for report in reports:
        before = report.status
        report.incident_id = incident.id
        report.status = ReportStatus.PROMOTED
        audit(
            "report.promoted",
            "report",
            report.id,
            actor=user,
            area_code=report.area_code,
            before={"status": before},
            after={"status": "promoted", "incident_id": incident.id},
        )
        privacy.emit_report(names.REPORT_UPDATED, report, {"report": report_view(report)})
    audit(
        "incident.created",
        "incident",
        incident.id,
        actor=user,
        area_code=incident.area_code,
        after={
            "status": "open",
            "report_ids": [r.id for r in reports],
            "category": incident.category,
        },
    )
    db.session.refresh(incident)
    announce_incident(incident)
    return {"incident": incident_view(incident)}


def announce_incident(incident: Incident) -> None:
    outbox().emit(
        names.OPERATOR,
        names.INCIDENT_UPDATED,
        {"incident": incident_view(incident)},
        names.area_rooms(incident.area_code),
    )


def set_incident_status(incident: Incident, status: str, *, actor: User | None = None) -> None:
    """Move an incident along its lifecycle, or refuse."""
    if incident.status == status:
        return
    if not incident.can_transition_to(status):
        raise InvalidTransition(f"incident cannot go from {incident.status} to {status}")
    before = incident.status
    incident.status = status
    if status == IncidentStatus.RESOLVED:
        from ..models import utcnow

        incident.resolved_at = utcnow()
    audit(
        "incident.status",
        "incident",
        incident.id,
        actor=actor,
        area_code=incident.area_code,
        before={"status": before},
        after={"status": status},
    )
    announce_incident(incident)


def get_incident(user: User, incident_id: int) -> dict[str, Any]:
    incident = check_incident(user, db.session.get(Incident, incident_id))
    view = incident_view(incident)
    events = list(
        db.session.scalars(
            db.select(AuditEvent)
            .where(
                # The incident's own events, and every event that names it: its reports,
                # offers, tasks, and team positions while on it.
                AuditEvent.incident_id == incident.id
            )
            .order_by(AuditEvent.at, AuditEvent.id)
        )
    )
    hidden: set[int] = set()
    if not privacy.cleared(user):
        # Who reported is not for every reader (services/privacy.py).
        actor_ids = {e.actor_id for e in events if e.actor_id is not None}
        hidden = set(
            db.session.scalars(
                db.select(User.id).where(User.id.in_(actor_ids), User.role == Role.INFORMANT)
            )
        )
    view["timeline"] = [
        {
            "at": iso(e.at),
            "action": e.action,
            "actor_id": None if e.actor_id in hidden else e.actor_id,
            "entity": f"{e.entity_type}:{e.entity_id}",
            "before": e.before,
            "after": e.after,
        }
        for e in events
    ]
    from .tasks import tasks_of

    view["tasks"] = tasks_of(incident.id)
    view["reports"] = [privacy.report_for(user, r, report_view(r)) for r in incident.reports]
    return view


def team_views(teams: list[Team]) -> list[TeamView]:
    """What ranking needs of each team: its last position (and how old) and its base."""
    return [
        TeamView(
            t.id,
            t.name,
            t.kind,
            t.status,
            tuple(t.capabilities or ()),
            t.lat if t.lat is not None else t.base_lat,
            t.lon if t.lon is not None else t.base_lon,
            t.last_dispatched_at,
            position_at=t.position_at if t.lat is not None else None,
            base_lat=t.base_lat,
            base_lon=t.base_lon,
        )
        for t in teams
    ]


def _dispatchable(incident: Incident, user: User | None) -> list[Team]:
    """Available teams this incident may receive: the operator's, or (for the automatic
    cascade, with no operator) those whose home area covers the incident."""
    from .access import team_serves

    teams = db.session.scalars(db.select(Team).where(Team.status == "available"))
    if user is None:
        return [t for t in teams if team_serves(t, incident)]
    return [t for t in teams if can_dispatch(user, t, incident)]


def candidate_teams(
    incident: Incident, *, user: User | None, exclude: set[int], limit: int
) -> list[dict[str, Any]]:
    """Available, capable teams, soonest estimated arrival first."""
    ranked = rank_teams(
        incident.lat,
        incident.lon,
        incident.category,
        team_views(_dispatchable(incident, user)),
        limit=limit,
        exclude=exclude,
        area_code=incident.area_code,
        now=utcnow(),
    )
    return [c.as_dict() for c in ranked]


def recommendations(user: User, incident_id: int, limit: int = 5) -> list[dict[str, Any]]:
    require_role(user, OPERATOR_ROLES)
    incident = check_incident(user, db.session.get(Incident, incident_id))
    if not 1 <= limit <= 50:
        raise ValidationFailed("limit must be 1 to 50", field="limit")
    return candidate_teams(incident, user=user, exclude=set(), limit=limit)


def dispatch_plan(user: User, incident_id: int) -> dict[str, Any]:
    """The run card for this incident, filled with the soonest fitting teams."""
    require_role(user, OPERATOR_ROLES)
    incident = check_incident(user, db.session.get(Incident, incident_id))
    busy = {
        t.team_id
        for t in db.session.scalars(
            db.select(Task).where(Task.incident_id == incident.id, Task.status.in_(LIVE))
        )
    }
    plan = plan_dispatch(
        incident.lat,
        incident.lon,
        incident.category,
        incident.risk_level,
        team_views(_dispatchable(incident, user)),
        area_code=incident.area_code,
        now=utcnow(),
        exclude=busy,
    )
    return plan.as_dict()


def list_incidents(
    user: User, *, active_only: bool = True, limit: int = 500
) -> list[dict[str, Any]]:
    require_role(user, OPERATOR_ROLES | {Role.ADMIN})
    from grid.codes import jurisdiction_prefix

    stmt = db.select(Incident).where(
        Incident.area_code.startswith(jurisdiction_prefix(user.area_code))
    )
    if active_only:
        stmt = stmt.where(Incident.status.not_in(["closed", "cancelled"]))
    stmt = stmt.order_by(Incident.created_at.desc()).limit(limit)
    return [incident_view(i) for i in db.session.scalars(stmt)]
