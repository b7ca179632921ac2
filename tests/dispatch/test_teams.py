"""Managing teams: the admin API and CLI, their rules, and what a leader sees of a task."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from dispatch.extensions import db
from dispatch.models import AuditEvent, Team, User
from dispatch.schemas import IncidentCreate, TeamPosition
from dispatch.services import auth, incidents, tasks
from tests.dispatch.live import live, redis_url, submit, user
from tests.dispatch.test_informants import small_grid

__all__ = ["live", "redis_url"]  # fixtures used by name


@pytest.fixture
def admin_client(app: Flask):  # type: ignore[no-untyped-def]
    from dispatch.services import areas

    with app.app_context():
        areas.save_areas(small_grid())
        auth.create_user(username="admin", password="x", role="admin", password_hash="x")
        auth.create_user(
            username="op", password="x", role="operator", area_code="620102", password_hash="x"
        )
        auth.create_user(username="lead", password="x", role="team_leader", password_hash="x")
        tokens = {u.username: auth.issue_token(u) for u in db.session.scalars(db.select(User))}
    client = app.test_client()
    return client, {name: {"Authorization": f"Bearer {t}"} for name, t in tokens.items()}


TEAM = {
    "name": "一村志愿队",
    "kind": "volunteer",
    "capabilities": ["fire", "rescue"],
    "area_code": "620102001001",
    "base_lat": 0.5,
    "base_lon": 0.5,
    "members": 15,
}


def test_admin_creates_and_changes_a_team(admin_client) -> None:  # type: ignore[no-untyped-def]
    client, h = admin_client
    made = client.post("/api/teams", json={**TEAM, "leader": "lead"}, headers=h["admin"])
    assert made.status_code == 201, made.json
    team = made.json["team"]
    assert team["capabilities"] == ["fire", "rescue"] and team["status"] == "available"
    changed = client.patch(
        f"/api/teams/{team['id']}",
        json={"members": 20, "capabilities": ["water"]},
        headers=h["admin"],
    )
    assert changed.status_code == 200 and changed.json["team"]["members"] == 20
    assert changed.json["team"]["capabilities"] == ["water"]
    assert client.get(f"/api/teams/{team['id']}", headers=h["op"]).json["members"] == 20


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"capabilities": ["laser"]}, 422, "capabilities"),
        ({"kind": "navy"}, 422, "kind"),
        ({"area_code": "620102009"}, 422, "area_code"),
        ({"base_lat": 123}, 422, "base_lat"),
        ({"leader": "op"}, 422, "leader"),
        ({"name": ""}, 422, "name"),
    ],
)
def test_bad_team_changes_change_nothing(admin_client, change, status, field) -> None:  # type: ignore[no-untyped-def]
    client, h = admin_client
    team = client.post("/api/teams", json=TEAM, headers=h["admin"]).json["team"]
    response = client.patch(f"/api/teams/{team['id']}", json=change, headers=h["admin"])
    assert response.status_code == status and response.json["error"]["field"] == field
    assert client.get(f"/api/teams/{team['id']}", headers=h["op"]).json == team


def test_only_admins_manage_teams(admin_client) -> None:  # type: ignore[no-untyped-def]
    client, h = admin_client
    assert client.post("/api/teams", json=TEAM, headers=h["op"]).status_code == 403
    assert client.post("/api/teams", json=TEAM, headers=h["lead"]).status_code == 403


def test_teams_cli(app: Flask, runner: FlaskCliRunner) -> None:
    from dispatch.services import areas

    with app.app_context():
        areas.save_areas(small_grid())
    added = runner.invoke(
        args=[
            "teams",
            "add",
            "--name",
            "方舟",
            "--kind",
            "professional_rescue",
            "--area",
            "620102",
            "--caps",
            "fire,water",
            "--lat",
            "0.5",
            "--lon",
            "0.5",
            "--members",
            "24",
        ]
    )
    assert added.exit_code == 0, added.output
    listed = runner.invoke(args=["teams", "list", "--kind", "professional_rescue"])
    assert "方舟" in listed.output and "fire,water" in listed.output
    off = runner.invoke(args=["teams", "set", "1", "--status", "off_duty", "--members", "20"])
    assert off.exit_code == 0 and "off_duty" in off.output
    bad = runner.invoke(
        args=[
            "teams",
            "add",
            "--name",
            "x",
            "--kind",
            "volunteer",
            "--area",
            "620102",
            "--caps",
            "laser",
            "--lat",
            "0",
            "--lon",
            "0",
        ]
    )
    assert bad.exit_code != 0 and "unknown capabilities laser" in bad.output
    with app.app_context():
        team = db.session.get(Team, 1)
        assert team is not None and team.status == "off_duty" and team.members == 20
        actions = db.session.scalars(
            db.select(AuditEvent.action).where(AuditEvent.entity_type == "team")
        ).all()
        assert actions == ["team.created", "team.updated", "team.status"]


def test_leader_sees_who_else_is_going(live: Flask) -> None:
    from tests.dispatch.test_dispatch_flow import make_team

    with live.app_context():
        a, b = make_team("a", 0.6), make_team("b", 1.5)
        rid = submit("inf1", "fire", "仓库起火")
        iid = incidents.create_incident(user("op"), IncidentCreate(report_ids=[rid]))
        incident_id = iid["incident"]["id"]
        tasks.dispatch_team(user("op"), incident_id, a)
        tasks.dispatch_team(user("op"), incident_id, b)
        seen = tasks.current_task(user("lead-a"))
        assert seen is not None
        assert [o["team_name"] for o in seen["incident"]["other_teams"]] == ["b"]
        assert seen["incident"]["reports"][0]["text"] == "仓库起火"
        tasks.acknowledge_task(user("lead-a"), seen["id"])
        position = tasks.update_team_position(user("lead-a"), TeamPosition(lat=0.5, lon=0.55))
        assert position["team"]["position"]["lat"] == 0.5
