"""Who may see and do what: roles and jurisdiction, checked here and only here."""

from __future__ import annotations

from typing import Any

from grid.codes import ancestors, jurisdiction_prefix

from ..errors import Forbidden, NotFound
from ..models import Incident, Report, Role, Task, Team, User

OPERATOR_ROLES = frozenset({Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN})
DISPATCH_ROLES = frozenset({Role.OPERATOR, Role.ADMIN})


def within(code: str | None, area_code: str) -> bool:
    """Does the area `code` lie inside the jurisdiction `area_code`?"""
    return code is not None and code.startswith(jurisdiction_prefix(area_code))


def require_role(user: User, roles: frozenset[str] | set[str]) -> None:
    if user.role not in roles:
        raise Forbidden(f"role {user.role!r} may not do this")


def can_read_report(user: User, report: Report) -> bool:
    if user.role == Role.INFORMANT:
        return report.informant_id == user.id
    if user.role in OPERATOR_ROLES:
        return within(report.area_code, user.area_code)
    return False


def check_read_report(user: User, report: Report | None) -> Report:
    # Someone else's report is "not found", so ids cannot be probed.
    if report is None or not can_read_report(user, report):
        raise NotFound("no such report")
    return report


def check_incident(user: User, incident: Incident | None) -> Incident:
    if incident is None:
        raise NotFound("no such incident")
    if user.role in OPERATOR_ROLES and within(incident.area_code, user.area_code):
        return incident
    if user.role == Role.TEAM_LEADER and any(
        t.team.leader_id == user.id for t in _tasks_of(incident)
    ):
        return incident
    raise NotFound("no such incident")


def _tasks_of(incident: Incident) -> list[Task]:
    from ..extensions import db

    return list(db.session.scalars(db.select(Task).where(Task.incident_id == incident.id)))


def team_serves(team: Team, incident: Incident) -> bool:
    """A team may go where its home area covers the incident."""
    return within(incident.area_code, team.area_code)


def can_dispatch(user: User, team: Team, incident: Incident) -> bool:
    return team_serves(team, incident) or within(team.area_code, user.area_code)


def check_team_leader(user: User, task: Task | None) -> Task:
    if task is None or user.role != Role.TEAM_LEADER or task.team.leader_id != user.id:
        raise NotFound("no such task")
    return task


def team_in_view(user: User, team: Team) -> bool:
    """An operator sees the teams of their jurisdiction, and those above it that serve it
    (the city's professional squads for a county operator)."""
    return within(team.area_code, user.area_code) or within(user.area_code, team.area_code)


def teams_in_view(user: User) -> Any:
    """`team_in_view` as a SQL condition."""
    from ..extensions import db

    above = ancestors(user.area_code)
    return db.or_(
        Team.area_code.startswith(jurisdiction_prefix(user.area_code)),
        Team.area_code.in_(above),
    )


def check_team_visible(user: User, team: Team | None) -> Team:
    if team is None:
        raise NotFound("no such team")
    if user.role == Role.TEAM_LEADER and team.leader_id == user.id:
        return team
    if user.role in OPERATOR_ROLES and team_in_view(user, team):
        return team
    raise NotFound("no such team")


def staff_jurisdictions() -> set[str]:
    """The jurisdiction prefixes of every active operator, supervisor and admin: the only
    area rooms anyone listens in (realtime/broadcast.py)."""
    from ..extensions import db

    codes = db.session.scalars(
        db.select(User.area_code)
        .where(User.role.in_(OPERATOR_ROLES), User.active.is_(True))
        .distinct()
    )
    return {jurisdiction_prefix(code) for code in codes}
