"""Teams as the command room manages them: create, change, list."""

from __future__ import annotations

from typing import Any

from ..errors import Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..models import LIVE_TASK_STATUSES, Area, Role, Task, Team, User
from ..realtime import names
from ..recommend import CAPABILITIES as KNOWN_CAPABILITIES
from ..schemas import TeamCreate, TeamUpdate
from .access import within
from .uow import audit, outbox, use_case
from .views import team_view


def _require_admin(actor: User | None, area_code: str) -> None:
    """None is the command line; otherwise an admin whose area covers the team's."""
    if actor is not None and (actor.role != Role.ADMIN or not within(area_code, actor.area_code)):
        raise Forbidden("only an admin of this area manages teams")


def _check_capabilities(capabilities: list[str]) -> list[str]:
    unknown = sorted(set(capabilities) - KNOWN_CAPABILITIES)
    if unknown:
        raise ValidationFailed(
            f"unknown capabilities {', '.join(unknown)}; known: "
            f"{', '.join(sorted(KNOWN_CAPABILITIES))}",
            field="capabilities",
        )
    return sorted(set(capabilities))


def _check_area(code: str) -> None:
    if db.session.get(Area, code) is None:
        raise ValidationFailed(f"no area {code}", field="area_code")


def _leader(username: str | None, team_id: int | None) -> User | None:
    if username is None:
        return None
    user = db.session.scalar(db.select(User).where(User.username == username))
    if user is None or user.role != Role.TEAM_LEADER:
        raise ValidationFailed(f"no team leader {username!r}", field="leader")
    other = db.session.scalar(
        db.select(Team.id).where(Team.leader_id == user.id, Team.id != (team_id or 0))
    )
    if other is not None:
        raise ValidationFailed(f"{username} already leads team {other}", field="leader")
    return user


@use_case
def create_team(actor: User | None, data: TeamCreate) -> dict[str, Any]:
    _require_admin(actor, data.area_code)
    _check_area(data.area_code)
    leader = _leader(data.leader, None)
    team = Team(
        name=data.name,
        kind=data.kind,
        capabilities=_check_capabilities(data.capabilities),
        area_code=data.area_code,
        base_lat=data.base_lat,
        base_lon=data.base_lon,
        members=data.members,
        leader_id=leader.id if leader else None,
        status="available",
    )
    db.session.add(team)
    db.session.flush()
    audit(
        "team.created",
        "team",
        team.id,
        actor=actor,
        area_code=team.area_code,
        after=team_view(team),
    )
    _announce(team)
    return {"team": team_view(team)}


@use_case
def update_team(actor: User | None, team_id: int, data: TeamUpdate) -> dict[str, Any]:
    team = db.session.get(Team, team_id)
    if team is None:
        raise NotFound("no such team", field="team_id")
    _require_admin(actor, team.area_code)
    before = team_view(team)
    changes = data.model_dump(exclude_unset=True)
    if "area_code" in changes:
        _require_admin(actor, changes["area_code"])
        _check_area(changes["area_code"])
    if "capabilities" in changes:
        changes["capabilities"] = _check_capabilities(changes["capabilities"])
    if "leader" in changes:
        leader = _leader(changes.pop("leader"), team.id)
        team.leader_id = leader.id if leader else None
    if "kind" in changes or "capabilities" in changes:
        live = db.session.scalar(
            db.select(Task.id).where(Task.team_id == team.id, Task.status.in_(LIVE_TASK_STATUSES))
        )
        if live is not None and "kind" in changes:
            raise ValidationFailed(
                "the team is on a task; change its kind afterwards", field="kind"
            )
    for key, value in changes.items():
        setattr(team, key, value)
    audit(
        "team.updated",
        "team",
        team.id,
        actor=actor,
        area_code=team.area_code,
        before=before,
        after=team_view(team),
    )
    _announce(team)
    return {"team": team_view(team)}


def _announce(team: Team) -> None:
    outbox().emit(
        names.OPERATOR,
        names.TEAM_UPDATED,
        {"team": team_view(team)},
        names.area_rooms(team.area_code),
    )


def get_team(actor: User, team_id: int) -> dict[str, Any]:
    from .access import check_team_visible

    return team_view(check_team_visible(actor, db.session.get(Team, team_id)))
