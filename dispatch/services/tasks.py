"""Tasks: offer a team, wait for its acknowledgement, cascade when it does not answer."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import update

from ..errors import Forbidden, InvalidTransition, NotFound, Unavailable, ValidationFailed
from ..extensions import db
from ..models import (
    LIVE_TASK_STATUSES,
    Incident,
    IncidentStatus,
    Role,
    Task,
    TaskStatus,
    Team,
    TeamStatus,
    User,
    utcnow,
)
from ..realtime import names
from ..schemas import TeamPosition
from . import privacy
from .access import (
    DISPATCH_ROLES,
    can_dispatch,
    check_incident,
    check_team_leader,
    require_role,
    within,
)
from .incidents import announce_incident, candidate_teams, set_incident_status
from .uow import IntegrityError, audit, outbox, use_case
from .views import incident_view, offered_task_view, task_view, team_view

ACK_TIMEOUT_S = {"professional_rescue": 60, "volunteer": 120, "mediation": 300, "relief": 600}
MAX_CASCADE = 5

# A task's status on the phone moves the team and the incident along with it.
TEAM_FOR_TASK = {
    TaskStatus.ACKNOWLEDGED: TeamStatus.DISPATCHED,
    TaskStatus.EN_ROUTE: TeamStatus.EN_ROUTE,
    TaskStatus.ON_SCENE: TeamStatus.ON_SCENE,
    TaskStatus.COMPLETED: TeamStatus.RETURNING,
}
INCIDENT_FOR_TASK = {
    TaskStatus.ACKNOWLEDGED: IncidentStatus.ACKNOWLEDGED,
    TaskStatus.ON_SCENE: IncidentStatus.ON_SCENE,
}


def ack_timeout_s(kind: str) -> int:
    override = current_app.config.get("GRIDWATCH_ACK_TIMEOUT_S")
    return int(override) if override else ACK_TIMEOUT_S.get(kind, 120)


def _alongside(task: Task) -> list[Task]:
    """The other live tasks of the task's incident."""
    return list(
        db.session.scalars(
            db.select(Task).where(
                Task.incident_id == task.incident_id,
                Task.id != task.id,
                Task.status.in_(LIVE_TASK_STATUSES),
            )
        )
    )


def _announce_task(task: Task) -> None:
    box = outbox()
    box.emit(
        names.OPERATOR,
        names.TASK_UPDATED,
        {"task": task_view(task)},
        names.area_rooms(task.incident.area_code),
    )
    box.emit(
        names.OPERATOR,
        names.TEAM_UPDATED,
        {"team": team_view(task.team)},
        names.area_rooms(task.team.area_code) + names.area_rooms(task.incident.area_code),
    )
    box.emit(
        names.TEAM, names.TASK_UPDATED, {"task": task_view(task)}, [names.team_room(task.team_id)]
    )
    box.emit(
        names.TEAM,
        names.TEAM_UPDATED,
        {"team": team_view(task.team)},
        [names.team_room(task.team_id)],
    )


def _task_audit(
    action: str, task: Task, actor: User | None, before: str | None, **extra: Any
) -> None:
    audit(
        action,
        "task",
        task.id,
        actor=actor,
        area_code=task.incident.area_code,
        before={"status": before} if before else None,
        after={
            "status": task.status,
            "incident_id": task.incident_id,
            "team_id": task.team_id,
            **extra,
        },
    )


def _offer(incident: Incident, team_id: int, *, actor: User | None, attempt: int) -> Task:
    """Claim the team if it is still available, and offer it the task."""
    now = utcnow()
    claimed = db.session.execute(
        update(Team)
        .where(Team.id == team_id, Team.status == TeamStatus.AVAILABLE)
        .values(status=TeamStatus.DISPATCHED, last_dispatched_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise Unavailable("the team is not available", field="team_id")
    team = db.session.get(Team, team_id, populate_existing=True)
    assert team is not None
    task = Task(
        incident_id=incident.id,
        team_id=team.id,
        status=TaskStatus.OFFERED,
        offered_at=now,
        ack_deadline=now + timedelta(seconds=ack_timeout_s(team.kind)),
        offered_by=actor.id if actor else None,
        attempt=attempt,
    )
    db.session.add(task)
    try:
        db.session.flush()
    except IntegrityError as exc:
        raise Unavailable("the team already holds a live task", field="team_id") from exc
    db.session.refresh(task)
    if incident.status in (IncidentStatus.OPEN,):
        set_incident_status(incident, IncidentStatus.DISPATCHED, actor=actor)
    _task_audit("task.offered", task, actor, None, deadline=task.ack_deadline.isoformat())
    box = outbox()
    box.emit(
        names.TEAM,
        names.TASK_OFFERED,
        {"task": _offer_for(team.leader_id, task)},
        [names.team_room(team.id)],
    )
    _announce_task(task)
    box.enqueue(
        "dispatch.jobs.expire_task",
        task.id,
        at=task.ack_deadline,
        job_id=f"expire-{task.id}",
    )
    return task


@use_case
def dispatch_team(user: User, incident_id: int, team_id: int) -> dict[str, Any]:
    require_role(user, DISPATCH_ROLES)
    incident = check_incident(user, db.session.get(Incident, incident_id))
    team = db.session.get(Team, team_id)
    if team is None:
        raise NotFound("no such team", field="team_id")
    if not can_dispatch(user, team, incident):
        raise Forbidden("this team is outside your jurisdiction", field="team_id")
    if incident.status in (
        IncidentStatus.RESOLVED,
        IncidentStatus.CLOSED,
        IncidentStatus.CANCELLED,
    ):
        raise InvalidTransition(f"incident is {incident.status}", field="incident_id")
    task = _offer(incident, team_id, actor=user, attempt=1)
    return {"task": task_view(task)}


def _cascade(task: Task, *, actor: User | None) -> Task | None:
    """Offer the incident to the next recommended team that has not been tried."""
    incident = task.incident
    if not task.cascade or incident.cascade_stopped or task.attempt >= MAX_CASCADE:
        _back_to_open(incident, actor)
        return None
    tried = {
        t.team_id
        for t in db.session.scalars(db.select(Task).where(Task.incident_id == incident.id))
    }
    for candidate in candidate_teams(incident, user=None, exclude=tried, limit=5):
        try:
            with db.session.begin_nested():
                return _offer(incident, candidate["team_id"], actor=None, attempt=task.attempt + 1)
        except Unavailable:
            continue
    _back_to_open(incident, actor)
    return None


def _back_to_open(incident: Incident, actor: User | None) -> None:
    live = db.session.scalar(
        db.select(Task.id)
        .where(Task.incident_id == incident.id, Task.status.in_(LIVE_TASK_STATUSES))
        .limit(1)
    )
    if live is None and incident.status in (IncidentStatus.DISPATCHED, IncidentStatus.ACKNOWLEDGED):
        set_incident_status(incident, IncidentStatus.OPEN, actor=actor)


def _end_offer(task: Task, status: str, *, actor: User | None, **extra: Any) -> None:
    before = task.status
    task.status = status
    task.ended_at = utcnow()
    team = task.team
    team.status = TeamStatus.AVAILABLE
    _task_audit(f"task.{status}", task, actor, before, **extra)
    _announce_task(task)


@use_case
def acknowledge_task(user: User, task_id: int) -> dict[str, Any]:
    task = check_team_leader(user, db.session.get(Task, task_id))
    if task.status != TaskStatus.OFFERED:
        raise InvalidTransition(f"task is {task.status}", field="task_id")
    if utcnow() > task.ack_deadline:
        raise InvalidTransition("the acknowledgement deadline has passed", field="task_id")
    _move(task, TaskStatus.ACKNOWLEDGED, actor=user)
    task.acknowledged_at = utcnow()
    return {"task": task_view(task)}


@use_case
def decline_task(user: User, task_id: int, reason: str) -> dict[str, Any]:
    task = check_team_leader(user, db.session.get(Task, task_id))
    if task.status != TaskStatus.OFFERED:
        raise InvalidTransition(f"task is {task.status}", field="task_id")
    task.decline_reason = reason
    _end_offer(task, TaskStatus.DECLINED, actor=user, reason=reason)
    _cascade(task, actor=user)
    return {"task": task_view(task)}


@use_case
def update_task_status(user: User, task_id: int, status: str) -> dict[str, Any]:
    task = check_team_leader(user, db.session.get(Task, task_id))
    if not task.can_transition_to(status) or status in (TaskStatus.DECLINED, TaskStatus.TIMED_OUT):
        raise InvalidTransition(f"task cannot go from {task.status} to {status}", field="status")
    _move(task, status, actor=user)
    if status == TaskStatus.COMPLETED:
        task.ended_at = utcnow()
        live = db.session.scalar(
            db.select(Task.id)
            .where(
                Task.incident_id == task.incident_id,
                Task.id != task.id,
                Task.status.in_(LIVE_TASK_STATUSES),
            )
            .limit(1)
        )
        if live is None:
            set_incident_status(task.incident, IncidentStatus.RESOLVED, actor=user)
    return {"task": task_view(task)}


def _move(task: Task, status: str, *, actor: User) -> None:
    before = task.status
    task.status = status
    team_status = TEAM_FOR_TASK.get(TaskStatus(status))
    if team_status is not None:
        task.team.status = team_status
    incident_status = INCIDENT_FOR_TASK.get(TaskStatus(status))
    if incident_status is not None and task.incident.can_transition_to(incident_status):
        set_incident_status(task.incident, incident_status, actor=actor)
    _task_audit(f"task.{status}", task, actor, before)
    _announce_task(task)
    announce_incident(task.incident)


@use_case
def time_out_task(task_id: int) -> dict[str, Any] | None:
    """Called by the scheduler at the deadline (or a sweep); safe to run twice."""
    task = db.session.get(Task, task_id, with_for_update=True)
    if task is None or task.status != TaskStatus.OFFERED:
        return None
    if utcnow() < task.ack_deadline:
        outbox().enqueue(
            "dispatch.jobs.expire_task",
            task.id,
            at=task.ack_deadline,
            job_id=f"expire-{task.id}",
        )
        return None
    _end_offer(task, TaskStatus.TIMED_OUT, actor=None)
    nxt = _cascade(task, actor=None)
    return {"task": task_view(task), "next": task_view(nxt) if nxt else None}


def overdue_task_ids() -> list[int]:
    stmt = (
        db.select(Task.id)
        .where(Task.status == TaskStatus.OFFERED, Task.ack_deadline < utcnow())
        .limit(1000)
    )
    return list(db.session.scalars(stmt))


@use_case
def update_team_position(user: User, data: TeamPosition) -> dict[str, Any]:
    require_role(user, {Role.TEAM_LEADER})
    team = db.session.scalar(db.select(Team).where(Team.leader_id == user.id))
    if team is None:
        raise NotFound("you do not lead a team")
    team.lat, team.lon = data.lat, data.lon
    team.position_at = data.at or utcnow()
    live = db.session.scalar(
        db.select(Task).where(Task.team_id == team.id, Task.status.in_(LIVE_TASK_STATUSES))
    )
    audit(
        "team.position",
        "team",
        team.id,
        actor=user,
        area_code=team.area_code,
        # Positions during a task belong on that incident's timeline.
        after={
            "lat": data.lat,
            "lon": data.lon,
            "incident_id": live.incident_id if live else None,
            "task_id": live.id if live else None,
        },
    )
    outbox().emit(
        names.OPERATOR,
        names.TEAM_UPDATED,
        {"team": team_view(team)},
        names.area_rooms(team.area_code),
    )
    return {"team": team_view(team)}


def tasks_of(incident_id: int) -> list[dict[str, Any]]:
    stmt = db.select(Task).where(Task.incident_id == incident_id).order_by(Task.id)
    return [task_view(t) for t in db.session.scalars(stmt)]


def leader_team(user: User) -> Team:
    require_role(user, {Role.TEAM_LEADER})
    team = db.session.scalar(db.select(Team).where(Team.leader_id == user.id))
    if team is None:
        raise NotFound("you do not lead a team")
    return team


def current_task(user: User) -> dict[str, Any] | None:
    """The leader's live task, if any, with what the phone needs to act on it."""
    team = leader_team(user)
    task = db.session.scalar(
        db.select(Task)
        .where(Task.team_id == team.id, Task.status.in_(LIVE_TASK_STATUSES))
        .order_by(Task.id.desc())
    )
    return _offer_for(user.id, task) if task else None


def _offer_for(leader_id: int | None, task: Task) -> dict[str, Any]:
    """The offer as the team's leader may read it: sensitive reports' words only if cleared."""
    view = offered_task_view(task, _alongside(task))
    leader = db.session.get(User, leader_id) if leader_id is not None else None
    by_id = {r.id: r for r in task.incident.reports}
    view["incident"]["reports"] = [
        item
        if leader is not None and privacy.may_read_content(leader, by_id[item["id"]])
        else privacy.redact(item)
        for item in view["incident"]["reports"]
    ]
    return view


def list_teams(
    user: User, *, kind: str | None = None, status: str | None = None, limit: int = 5000
) -> list[dict[str, Any]]:
    from .access import OPERATOR_ROLES, teams_in_view

    require_role(user, OPERATOR_ROLES)
    stmt = db.select(Team).where(teams_in_view(user))
    if kind:
        stmt = stmt.where(Team.kind == kind)
    if status:
        stmt = stmt.where(Team.status == status)
    return [team_view(t) for t in db.session.scalars(stmt.order_by(Team.id).limit(limit))]


LEADER_TEAM_STATUSES = frozenset({TeamStatus.AVAILABLE, TeamStatus.OFF_DUTY})


@use_case
def set_team_status(user: User | None, status: str, team_id: int | None = None) -> dict[str, Any]:
    """Back at base (available) or off duty: the leader says so, or an operator for them
    (None: the command line)."""
    found: Team | None
    if user is None:
        found = db.session.get(Team, team_id) if team_id is not None else None
        if found is None:
            raise NotFound("no such team", field="team_id")
    elif user.role == Role.TEAM_LEADER:
        found = leader_team(user)
    else:
        require_role(user, DISPATCH_ROLES)
        found = db.session.get(Team, team_id) if team_id is not None else None
        if found is None or not within(found.area_code, user.area_code):
            raise NotFound("no such team", field="team_id")
    team = found
    if status not in LEADER_TEAM_STATUSES:
        raise ValidationFailed("a team is set available or off duty", field="status")
    live = db.session.scalar(
        db.select(Task.id).where(Task.team_id == team.id, Task.status.in_(LIVE_TASK_STATUSES))
    )
    if live is not None:
        raise InvalidTransition(
            "the team has a live task; finish or decline it first", field="status"
        )
    if not team.can_transition_to(status):
        raise InvalidTransition(f"a team cannot go from {team.status} to {status}", field="status")
    before = team.status
    team.status = status
    audit(
        "team.status",
        "team",
        team.id,
        actor=user,
        area_code=team.area_code,
        before={"status": before},
        after={"status": status},
    )
    outbox().emit(
        names.OPERATOR,
        names.TEAM_UPDATED,
        {"team": team_view(team)},
        names.area_rooms(team.area_code),
    )
    outbox().emit(
        names.TEAM, names.TEAM_UPDATED, {"team": team_view(team)}, [names.team_room(team.id)]
    )
    return {"team": team_view(team)}


def _incident_for_action(user: User, incident_id: int) -> Incident:
    require_role(user, DISPATCH_ROLES)
    return check_incident(user, db.session.get(Incident, incident_id))


@use_case
def cancel_incident(user: User, incident_id: int, reason: str) -> dict[str, Any]:
    """Cancel an incident and stand down every team still on it."""
    incident = _incident_for_action(user, incident_id)
    if not reason.strip():
        raise ValidationFailed("say why the incident is cancelled", field="reason")
    if not incident.can_transition_to(IncidentStatus.CANCELLED):
        raise InvalidTransition(f"incident is {incident.status}", field="incident_id")
    for task in db.session.scalars(
        db.select(Task).where(Task.incident_id == incident.id, Task.status.in_(LIVE_TASK_STATUSES))
    ):
        before = task.status
        moving = before in (TaskStatus.EN_ROUTE, TaskStatus.ON_SCENE)
        task.status = TaskStatus.CANCELLED
        task.ended_at = utcnow()
        # A team already out drives back; one that had not left is free at once.
        task.team.status = TeamStatus.RETURNING if moving else TeamStatus.AVAILABLE
        _task_audit("task.cancelled", task, user, before, reason=reason)
        _announce_task(task)
    incident.resolution_note = reason.strip()
    set_incident_status(incident, IncidentStatus.CANCELLED, actor=user)
    return {"incident": incident_view(incident)}


@use_case
def resolve_incident(user: User, incident_id: int, note: str) -> dict[str, Any]:
    incident = _incident_for_action(user, incident_id)
    if not note.strip():
        raise ValidationFailed("write how the incident was resolved", field="note")
    live = db.session.scalar(
        db.select(Task.id).where(
            Task.incident_id == incident.id, Task.status.in_(LIVE_TASK_STATUSES)
        )
    )
    if live is not None:
        raise InvalidTransition(
            "teams are still on this incident; cancel or complete their tasks first",
            field="incident_id",
        )
    incident.resolution_note = note.strip()
    if incident.status != IncidentStatus.RESOLVED:
        set_incident_status(incident, IncidentStatus.RESOLVED, actor=user)
    audit(
        "incident.resolution_note",
        "incident",
        incident.id,
        actor=user,
        area_code=incident.area_code,
        after={"note": incident.resolution_note},
    )
    return {"incident": incident_view(incident)}


@use_case
def close_incident(user: User, incident_id: int) -> dict[str, Any]:
    incident = _incident_for_action(user, incident_id)
    set_incident_status(incident, IncidentStatus.CLOSED, actor=user)
    return {"incident": incident_view(incident)}


@use_case
def stop_cascade(user: User, incident_id: int) -> dict[str, Any]:
    """No more automatic hand-overs for this incident: the operator takes it from here."""
    incident = _incident_for_action(user, incident_id)
    if not incident.cascade_stopped:
        incident.cascade_stopped = True
        audit(
            "incident.cascade_stopped",
            "incident",
            incident.id,
            actor=user,
            area_code=incident.area_code,
            after={"cascade_stopped": True},
        )
        announce_incident(incident)
    return {"incident": incident_view(incident)}
