"""Dispatch over a real Redis and worker: the acknowledgement cascade, the operator's stop,
cancelling, the lifecycle rules, and the refusals."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy
import time_machine
from flask import Flask

from dispatch.errors import Forbidden, InvalidTransition, NotFound, Unavailable, ValidationFailed
from dispatch.extensions import db
from dispatch.models import Task, Team
from dispatch.schemas import IncidentCreate, TeamPosition
from dispatch.services import auth, incidents, tasks
from tests.dispatch.live import NOON, live, redis_url, submit, sweep, user, work

__all__ = ["live", "redis_url"]  # fixtures used by name


def make_team(
    name: str,
    lon: float,
    *,
    area: str = "620102",
    status: str = "available",
    caps: tuple[str, ...] = ("fire", "rescue"),
) -> int:
    team = Team(
        name=name,
        kind="volunteer",
        capabilities=list(caps),
        area_code=area,
        base_lat=0.5,
        base_lon=lon,
        status=status,
        members=10,
    )
    db.session.add(team)
    db.session.flush()
    auth.create_user(
        username=f"lead-{name}",
        password="x",
        role="team_leader",
        area_code="620100",
        team_id=team.id,
        password_hash="x",
    )
    db.session.commit()
    return team.id


def new_incident(lon: float = 0.5) -> int:
    rid = submit("inf1", "fire", "仓库起火", lon=lon)
    return int(
        incidents.create_incident(user("op"), IncidentCreate(report_ids=[rid]))["incident"]["id"]
    )


def live_task(team_id: int) -> Task | None:
    db.session.expire_all()
    return db.session.scalar(
        db.select(Task).where(
            Task.team_id == team_id,
            Task.status.in_(("offered", "acknowledged", "en_route", "on_scene")),
        )
    )


def test_decline_and_silence_cascade_until_the_operator_stops_it(live: Flask) -> None:
    with live.app_context(), time_machine.travel(NOON, tick=False) as clock:
        a, b, c = (make_team(n, lon) for n, lon in (("a", 0.6), ("b", 1.5), ("c", 2.5)))
        iid = new_incident()
        work(live)
        first = tasks.dispatch_team(user("op"), iid, a)["task"]
        tasks.decline_task(user("lead-a"), first["id"], "车辆故障")
        offered_b = live_task(b)
        assert offered_b is not None and offered_b.attempt == 2 and offered_b.offered_by is None
        # Nobody answers b's phone: the deadline passes and the sweep hands it on.
        clock.move_to(offered_b.ack_deadline + timedelta(seconds=1))
        sweep(live)
        assert live_task(b) is None
        offered_c = live_task(c)
        assert offered_c is not None and offered_c.attempt == 3
        tasks.stop_cascade(user("op"), iid)
        tasks.decline_task(user("lead-c"), offered_c.id, "人手不足")
        assert live_task(a) is None and live_task(b) is None and live_task(c) is None
        detail = incidents.get_incident(user("op"), iid)
        assert detail["status"] == "open" and detail["cascade_stopped"] is True
        steps = [(e["action"], e["actor_id"]) for e in detail["timeline"]]
        actions = [s[0] for s in steps]
        assert actions.index("task.declined") < actions.index("task.timed_out")
        assert actions.count("task.offered") == 3 and "incident.cascade_stopped" in actions
        decline = next(s for s in steps if s[0] == "task.declined")
        assert decline[1] == user("lead-a").id
        assert next(s for s in steps if s[0] == "task.timed_out")[1] is None  # the system


def test_cancel_stands_every_team_down(live: Flask) -> None:
    with live.app_context():
        a, b = make_team("a", 0.6), make_team("b", 1.5)
        iid = new_incident()
        ta = tasks.dispatch_team(user("op"), iid, a)["task"]["id"]
        tasks.dispatch_team(user("op"), iid, b)
        tasks.acknowledge_task(user("lead-a"), ta)
        tasks.update_task_status(user("lead-a"), ta, "en_route")
        tasks.update_team_position(user("lead-a"), TeamPosition(lat=0.5, lon=0.55))
        with pytest.raises(ValidationFailed):
            tasks.cancel_incident(user("op"), iid, " ")
        tasks.cancel_incident(user("op"), iid, "误报")
        assert {db.session.get(Team, t).status for t in (a, b)} == {"returning", "available"}
        assert db.session.get(Team, a).status == "returning"
        assert live_task(a) is None and live_task(b) is None
        detail = incidents.get_incident(user("op"), iid)
        assert detail["status"] == "cancelled" and detail["resolution_note"] == "误报"
        assert "team.position" in [e["action"] for e in detail["timeline"]]
        # Back at base, the leader makes the team available again.
        assert tasks.set_team_status(user("lead-a"), "available")["team"]["status"] == "available"
        with pytest.raises(InvalidTransition):
            tasks.cancel_incident(user("op"), iid, "again")


def test_lifecycle_refusals(live: Flask) -> None:
    with live.app_context(), time_machine.travel(NOON, tick=False) as clock:
        a = make_team("a", 0.6)
        off = make_team("off", 1.5, status="off_duty")
        far = make_team("far", 0.6, area="620104001")  # a Xigu village team
        iid = new_incident()
        task = tasks.dispatch_team(user("op"), iid, a)["task"]
        with pytest.raises(Unavailable):
            tasks.dispatch_team(user("op"), iid, a)  # busy
        with pytest.raises(Unavailable):
            tasks.dispatch_team(user("op"), iid, off)
        with pytest.raises(Forbidden):
            tasks.dispatch_team(user("op"), iid, far)  # outside the operator's county
        with pytest.raises(NotFound):
            tasks.acknowledge_task(user("lead-off"), task["id"])  # another team's task
        with pytest.raises(InvalidTransition):
            tasks.update_task_status(user("lead-a"), task["id"], "on_scene")  # not acknowledged
        with pytest.raises(InvalidTransition):
            tasks.set_team_status(user("lead-a"), "off_duty")  # has a live task
        with pytest.raises(InvalidTransition):
            tasks.resolve_incident(user("op"), iid, "done")  # a team is still on it
        clock.shift(timedelta(minutes=30))
        with pytest.raises(InvalidTransition):
            tasks.acknowledge_task(user("lead-a"), task["id"])  # too late
        sweep(live)
        assert db.session.get(Task, task["id"]).status == "timed_out"


def test_resolve_needs_a_note_then_close(live: Flask) -> None:
    with live.app_context():
        a = make_team("a", 0.6)
        iid = new_incident()
        tid = tasks.dispatch_team(user("op"), iid, a)["task"]["id"]
        tasks.acknowledge_task(user("lead-a"), tid)
        tasks.update_task_status(user("lead-a"), tid, "on_scene")
        tasks.update_task_status(user("lead-a"), tid, "completed")
        assert db.session.get(Team, a).status == "returning"
        with pytest.raises(ValidationFailed):
            tasks.resolve_incident(user("op"), iid, "")
        done = tasks.resolve_incident(user("op"), iid, "明火已扑灭，无人员伤亡")["incident"]
        assert done["status"] == "resolved" and done["resolution_note"].startswith("明火")
        assert tasks.close_incident(user("op"), iid)["incident"]["status"] == "closed"
        with pytest.raises(InvalidTransition):
            tasks.dispatch_team(user("op"), iid, make_team("b", 1.5))


def test_one_team_never_holds_two_live_tasks_in_the_database(live: Flask) -> None:
    with live.app_context():
        a = make_team("a", 0.6)
        first, second = new_incident(), new_incident(lon=2.5)
        tasks.dispatch_team(user("op"), first, a)
        incident = db.session.get(Task, live_task(a).id).incident
        assert incident.id == first
        db.session.add(
            Task(
                incident_id=second,
                team_id=a,
                status="offered",
                ack_deadline=NOON + timedelta(minutes=5),
            )
        )
        with pytest.raises(sqlalchemy.exc.IntegrityError):
            db.session.commit()
        db.session.rollback()


def test_racing_operators_in_threads(live: Flask) -> None:
    with live.app_context():
        a = make_team("a", 0.6)
        iid = new_incident()
    results: list[str] = []
    barrier = threading.Barrier(2)

    def go(name: str) -> None:
        with live.app_context():
            barrier.wait()
            try:
                tasks.dispatch_team(user(name), iid, a)
                results.append("ok")
            except Unavailable as exc:
                results.append(exc.code)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=go, args=(n,)) for n in ("op", "op2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == ["ok", "team_unavailable"]
    with live.app_context():
        assert len(db.session.scalars(db.select(Task).where(Task.team_id == a)).all()) == 1
