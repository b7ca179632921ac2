"""Jurisdiction and roles, tried everywhere: every REST route and every socket event, as a
user of the wrong area and as each wrong role (IDOR and role escalation).

Two counties: 城关区 (620102, east of nothing, x 0..6) holds every object; 西固区 (620104,
x 6..12) holds the intruders. A refusal is 401/403/404 (or an error ack), and neither a
refusal nor a list nor a broadcast may carry the objects' secrets.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from shapely.geometry import box

import grid
from dispatch.extensions import db, socketio
from dispatch.models import AuditEvent, FollowUp, Incident, Report, Task, Team, User, utcnow
from dispatch.realtime import names
from dispatch.schemas import (
    IncidentCreate,
    ReportSubmit,
    TeamCreate,
    WarningCreate,
    WebhookCreate,
)
from dispatch.services import (
    areas,
    auth,
    cap,
    incidents,
    photos,
    reports,
    tasks,
    teams,
    webhooks,
)
from tests.dispatch.test_photos import tiny_png

EAST, WEST = "620102", "620104"
E_CELLS = ("620102001001001", "620102001001002")
W_CELLS = ("620104001001001", "620104001001002")
SECRET = "SECRET-城关-煤气泄漏-7731"


def two_counties() -> list[grid.Area]:
    out = [grid.Area("620100", "兰州市", "city", None, box(0, 0, 12, 1))]
    for county, name, x in ((EAST, "城关区", 0), (WEST, "西固区", 6)):
        out += [
            grid.Area(county, name, "county", "620100", box(x, 0, x + 6, 1)),
            grid.Area(f"{county}001", "街道", "township", county, box(x, 0, x + 6, 1)),
            grid.Area(f"{county}001001", "村", "village", f"{county}001", box(x, 0, x + 6, 1)),
            grid.Area(
                f"{county}001001001", "网格1", "cell", f"{county}001001", box(x, 0, x + 1, 1)
            ),
            grid.Area(
                f"{county}001001002", "网格2", "cell", f"{county}001001", box(x + 1, 0, x + 6, 1)
            ),
        ]
    return out


@dataclass
class World:
    client: FlaskClient
    tokens: dict[str, str]
    ids: dict[str, int] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


USERS = [
    # name, role, area
    ("admin", "admin", "620100"),
    ("op", "operator", "620100"),
    ("op-e", "operator", EAST),
    ("admin-w", "admin", WEST),
    ("op-w", "operator", WEST),
    ("sup-w", "supervisor", WEST),
    ("sup-e", "supervisor", EAST),
    ("lead-e", "team_leader", EAST),
    ("lead-w", "team_leader", WEST),
]


@pytest.fixture
def world(app: Flask) -> World:
    with app.app_context():
        areas.save_areas(two_counties())
        for name, role, area in USERS:
            auth.create_user(
                username=name, password="x", role=role, area_code=area, password_hash="x"
            )
        for name, cell in (("inf-e", E_CELLS[0]), ("inf-w", W_CELLS[0])):
            auth.create_user(
                username=name, password="x", role="informant", cell_code=cell, password_hash="x"
            )
        by_name = {u.username: u for u in db.session.scalars(db.select(User))}
        team_ids = {}
        for side, county, x in (("e", EAST, 0.5), ("w", WEST, 6.5)):
            made = teams.create_team(
                None,
                TeamCreate(
                    name=f"{side}-志愿队",
                    kind="volunteer",
                    capabilities=["fire", "rescue"],
                    area_code=f"{county}001001",
                    base_lat=0.5,
                    base_lon=x,
                    leader=f"lead-{side}",
                ),
            )
            team_ids[side] = made["team"]["id"]
        client_id = uuid.uuid4()
        report_id = reports.submit_report(
            by_name["inf-e"],
            ReportSubmit(client_id=client_id, category="fire", text=SECRET, lat=0.5, lon=0.5),
        )["report"]["id"]
        photo = photos.add_photo(by_name["inf-e"], report_id, str(uuid.uuid4()), tiny_png())
        incident_id = incidents.create_incident(
            by_name["op-e"], IncidentCreate(report_ids=[report_id], title=SECRET)
        )["incident"]["id"]
        task = tasks.dispatch_team(by_name["op-e"], incident_id, team_ids["e"])["task"]
        followup = FollowUp(
            origin=f"test-{report_id}",
            station_code=f"{EAST}001001",
            reason="hardship",
            report_id=report_id,
            due_at=utcnow() + timedelta(days=3),
        )
        db.session.add(followup)
        db.session.commit()
        hook = webhooks.create_subscription(
            None, WebhookCreate(url=HOOK_URL, event_types=["*"], area_code=EAST)
        )
        warning = cap.create_warning(by_name["op-e"], cap_warning())
        tokens = {u.username: auth.issue_token(u) for u in db.session.scalars(db.select(User))}
        ids = {
            "report": report_id,
            "photo": photo["photo"]["id"],
            "incident": incident_id,
            "task": task["id"],
            "team": team_ids["e"],
            "team_w": team_ids["w"],
            "followup": followup.id,
            "warning": warning["warning"]["id"],
            "webhook": hook["webhook"]["id"],
        }
    return World(app.test_client(), tokens, ids, [SECRET, str(client_id), hook["secret"]])


# Every /api route: (method, rule, path, body). Paths name the east county's objects.
def routes(w: World) -> list[tuple[str, str, str, Any]]:
    i = w.ids
    return [
        ("GET", "/api/reports", "/api/reports", None),
        ("POST", "/api/reports", "/api/reports", None),  # filled per caller below
        ("GET", "/api/reports/<int:report_id>", f"/api/reports/{i['report']}", None),
        (
            "POST",
            "/api/reports/<int:report_id>/review",
            f"/api/reports/{i['report']}/review",
            {"action": "dismiss", "note": "x"},
        ),
        ("POST", "/api/reports/<int:report_id>/claim", f"/api/reports/{i['report']}/claim", {}),
        (
            "POST",
            "/api/reports/<int:report_id>/release",
            f"/api/reports/{i['report']}/release",
            {},
        ),
        ("GET", "/api/triage", "/api/triage", None),
        ("GET", "/api/reports/<int:report_id>/photos", f"/api/reports/{i['report']}/photos", None),
        (
            "POST",
            "/api/reports/<int:report_id>/photos",
            f"/api/reports/{i['report']}/photos",
            "photo",
        ),
        ("GET", "/api/photos/<int:photo_id>", f"/api/photos/{i['photo']}", None),
        ("POST", "/api/incidents", "/api/incidents", {"report_ids": [i["report"]]}),
        ("GET", "/api/incidents", "/api/incidents", None),
        ("GET", "/api/incidents/<int:incident_id>", f"/api/incidents/{i['incident']}", None),
        (
            "GET",
            "/api/incidents/<int:incident_id>/recommendations",
            f"/api/incidents/{i['incident']}/recommendations",
            None,
        ),
        (
            "GET",
            "/api/incidents/<int:incident_id>/plan",
            f"/api/incidents/{i['incident']}/plan",
            None,
        ),
        (
            "POST",
            "/api/incidents/<int:incident_id>/dispatch",
            f"/api/incidents/{i['incident']}/dispatch",
            {"team_id": i["team_w"]},
        ),
        (
            "POST",
            "/api/incidents/<int:incident_id>/cancel",
            f"/api/incidents/{i['incident']}/cancel",
            {"reason": "x"},
        ),
        (
            "POST",
            "/api/incidents/<int:incident_id>/resolve",
            f"/api/incidents/{i['incident']}/resolve",
            {"note": "x"},
        ),
        (
            "POST",
            "/api/incidents/<int:incident_id>/close",
            f"/api/incidents/{i['incident']}/close",
            {},
        ),
        (
            "POST",
            "/api/incidents/<int:incident_id>/stop-cascade",
            f"/api/incidents/{i['incident']}/stop-cascade",
            {},
        ),
        ("GET", "/api/teams", "/api/teams", None),
        (
            "POST",
            "/api/teams",
            "/api/teams",
            {
                "name": "x",
                "kind": "volunteer",
                "area_code": f"{EAST}001001",
                "base_lat": 0.5,
                "base_lon": 0.5,
            },
        ),
        ("GET", "/api/teams/<int:team_id>", f"/api/teams/{i['team']}", None),
        ("PATCH", "/api/teams/<int:team_id>", f"/api/teams/{i['team']}", {"members": 99}),
        (
            "POST",
            "/api/teams/status",
            "/api/teams/status",
            {"status": "off_duty", "team_id": i["team"]},
        ),
        ("POST", "/api/teams/position", "/api/teams/position", {"lat": 0.5, "lon": 0.5}),
        ("GET", "/api/tasks/current", "/api/tasks/current", None),
        ("POST", "/api/tasks/<int:task_id>/ack", f"/api/tasks/{i['task']}/ack", {}),
        (
            "POST",
            "/api/tasks/<int:task_id>/decline",
            f"/api/tasks/{i['task']}/decline",
            {"reason": "x"},
        ),
        (
            "POST",
            "/api/tasks/<int:task_id>/status",
            f"/api/tasks/{i['task']}/status",
            {"status": "en_route"},
        ),
        ("POST", "/api/checkins", "/api/checkins", None),  # filled per caller below
        ("GET", "/api/coverage", f"/api/coverage?area={EAST}", None),
        ("GET", "/api/followups", f"/api/followups?station={EAST}001001", None),
        (
            "POST",
            "/api/followups/<int:followup_id>/close",
            f"/api/followups/{i['followup']}/close",
            {"note": "x"},
        ),
        (
            "PUT",
            "/api/informants/<user>/assignment",
            "/api/informants/inf-e/assignment",
            {"cell_code": E_CELLS[1]},
        ),
        ("DELETE", "/api/informants/<user>/assignment", "/api/informants/inf-e/assignment", None),
        ("GET", "/api/informants/<user>/assignments", "/api/informants/inf-e/assignments", None),
        ("POST", "/api/users/<username>/disable", "/api/users/inf-e/disable", {}),
        ("POST", "/api/users/<username>/enable", "/api/users/inf-e/enable", {}),
        ("POST", "/api/users/<username>/revoke", "/api/users/inf-e/revoke", {}),
        ("GET", "/api/areas", "/api/areas?level=county", None),
        ("GET", "/api/areas/status", "/api/areas/status", None),
        ("GET", "/api/areas/locate", "/api/areas/locate?lat=0.5&lon=0.5", None),
        *(
            ("GET", f"/api/supervision/{name}", f"/api/supervision/{name}?{query}", None)
            for name, query in SUPERVISION
        ),
        *(("GET", f"/api/exports/{name}", f"/api/exports/{name}", None) for name in EXPORTS),
        *cap_routes(i),
        *webhook_routes(i["webhook"]),
    ]


HOOK_URL = "https://receiver.example.org/hook"
HOOK = "/api/webhooks/<int:webhook_id>"


def webhook_routes(hook: int) -> list[tuple[str, str, str, Any]]:
    body = {"url": HOOK_URL, "event_types": ["*"], "area_code": EAST}
    return [
        ("GET", "/api/webhooks", "/api/webhooks", None),
        ("POST", "/api/webhooks", "/api/webhooks", body),
        ("GET", HOOK, f"/api/webhooks/{hook}", None),
        ("PATCH", HOOK, f"/api/webhooks/{hook}", {"active": False}),
        ("DELETE", HOOK, f"/api/webhooks/{hook}", None),
        ("GET", f"{HOOK}/deliveries", f"/api/webhooks/{hook}/deliveries", None),
        ("POST", f"{HOOK}/test", f"/api/webhooks/{hook}/test", {}),
    ]


def cap_warning() -> WarningCreate:
    return WarningCreate(
        headline=SECRET, category="fire", risk_level="red", area_code=f"{EAST}001001"
    )


def cap_routes(i: dict[str, int]) -> list[tuple[str, str, str, Any]]:
    return [
        (
            "GET",
            "/api/incidents/<int:incident_id>/cap.xml",
            f"/api/incidents/{i['incident']}/cap.xml",
            None,
        ),
        ("POST", "/api/warnings", "/api/warnings", cap_warning().model_dump(mode="json")),
        (
            "GET",
            "/api/warnings/<int:warning_id>/cap.xml",
            f"/api/warnings/{i['warning']}/cap.xml",
            None,
        ),
        ("POST", "/api/cap/alerts", "/api/cap/alerts", {}),
        ("GET", "/api/cap/alerts", "/api/cap/alerts", None),
    ]


EXPORTS = ("reports.geojson", "reports.csv", "incidents.geojson", "incidents.csv")
BULLETIN = f"period=2026-11&level=county&area={EAST}"
SUPERVISION = (
    ("bulletin", BULLETIN),
    ("bulletin.csv", BULLETIN),
    ("cases", f"{BULLETIN}&unit={EAST}&figure=reports"),
    ("trends", f"area={EAST}"),
)


# Open to anyone (documents, health, sign-in), or to any signed-in user (the map's areas).
PUBLIC = {"/api/health", "/api/auth/token", "/api/openapi.json", "/api/docs"}
ANY_SIGNED_IN = {"/api/areas", "/api/areas/locate"}
# Lists answer 200 but must leave the other county's objects out.
LISTS = {
    "/api/reports",
    "/api/triage",
    "/api/incidents",
    "/api/teams",
    "/api/followups",
    "/api/areas/status",
    "/api/coverage",
    *(f"/api/exports/{name}" for name in EXPORTS),
    "/api/webhooks",
    "/api/cap/alerts",
}
# What each role may call at all; anything else must be refused for that role.
ALLOWED: dict[str, set[tuple[str, str]]] = {
    "informant": {
        ("GET", "/api/reports"),
        ("POST", "/api/reports"),
        ("GET", "/api/reports/<int:report_id>"),
        ("GET", "/api/reports/<int:report_id>/photos"),
        ("POST", "/api/reports/<int:report_id>/photos"),
        ("GET", "/api/photos/<int:photo_id>"),
        ("POST", "/api/checkins"),
    },
    "team_leader": {
        ("GET", "/api/tasks/current"),
        ("POST", "/api/tasks/<int:task_id>/ack"),
        ("POST", "/api/tasks/<int:task_id>/decline"),
        ("POST", "/api/tasks/<int:task_id>/status"),
        ("POST", "/api/teams/status"),
        ("POST", "/api/teams/position"),
        ("GET", "/api/teams/<int:team_id>"),
        ("GET", "/api/incidents/<int:incident_id>"),  # the incident their team is on
    },
}
REFUSED = {401, 403, 404}


def _call(w: World, who: str, method: str, path: str, body: Any) -> Any:
    if body == "photo":
        import io

        return w.client.post(
            path,
            data={"client_id": str(uuid.uuid4()), "photo": (io.BytesIO(tiny_png()), "p.png")},
            headers=w.headers(who),
            content_type="multipart/form-data",
        )
    if method == "POST" and path == "/api/reports":
        body = {"client_id": str(uuid.uuid4()), "category": "fire", "lat": 0.5, "lon": 0.5}
    if method == "POST" and path == "/api/checkins":
        body = {"client_id": str(uuid.uuid4()), "lat": 0.5, "lon": 0.5}
    return w.client.open(path, method=method, json=body, headers=w.headers(who))


def _counts(app: Flask) -> dict[str, int]:
    with app.app_context():
        out = {
            model.__tablename__: db.session.scalar(db.select(db.func.count()).select_from(model))
            for model in (Report, Incident, Task, Team, AuditEvent, FollowUp)
        }
        db.session.remove()
    return out


def test_every_api_route_is_in_the_matrix(app: Flask, world: World) -> None:
    """A new route must be added to the matrix: the tests below cannot miss it."""
    known = {(m, rule) for m, rule, _, _ in routes(world)}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api") or rule.rule in PUBLIC:
            continue
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            assert (method, rule.rule) in known, f"{method} {rule.rule} is not in the matrix"


@pytest.mark.parametrize("intruder", ["op-w", "sup-w", "admin-w"])
def test_the_other_county_sees_and_changes_nothing(app: Flask, world: World, intruder: str) -> None:
    before = _counts(app)
    tried = 0
    for method, rule, path, body in routes(world):
        if rule in ANY_SIGNED_IN:
            continue
        response = _call(world, intruder, method, path, body)
        text = response.get_data(as_text=True)
        for secret in world.secrets:
            assert secret not in text, f"{intruder} {method} {path} leaked {secret}"
        tried += 1
        if rule in LISTS and method == "GET":
            assert response.status_code in REFUSED | {200}, (method, path, response.status_code)
            if response.status_code == 200:
                assert f'"id":{world.ids["report"]},' not in text.replace(" ", "") or rule in {
                    "/api/teams",
                    "/api/followups",
                    "/api/areas/status",
                    "/api/coverage",
                }, (method, path, text[:300])
            continue
        # Checked-in and own reports belong to informants; an operator may not make them.
        assert response.status_code in REFUSED, (intruder, method, path, response.status_code)
    after = _counts(app)
    # The refusals themselves change nothing (reading audit events is not writing them).
    assert after == before, (before, after)
    assert tried >= 40


def test_lists_leave_the_other_county_out(world: World) -> None:
    i = world.ids
    for path in ("/api/reports", "/api/triage", "/api/incidents"):
        body = world.client.get(path, headers=world.headers("op-w")).get_json()
        assert all(row["area_code"].startswith(WEST) for row in body), (path, body)
    teams_w = world.client.get("/api/teams", headers=world.headers("op-w")).get_json()
    assert i["team"] not in {t["id"] for t in teams_w}
    assert i["team_w"] in {t["id"] for t in teams_w}
    followups = world.client.get("/api/followups", headers=world.headers("op-w")).get_json()
    assert all(f["station_code"].startswith(WEST) for f in followups)
    cells = world.client.get("/api/areas/status", headers=world.headers("op-w")).get_json()
    assert cells["cells"] and all(code.startswith(WEST) for code in cells["cells"]), cells
    # And the east county's own operator does see its objects.
    east = world.client.get("/api/reports", headers=world.headers("op-e")).get_json()
    assert i["report"] in {r["id"] for r in east}


@pytest.mark.parametrize("role_user", ["inf-e", "lead-e", "op-e", "sup-e"])
def test_each_role_only_does_its_own_job(app: Flask, world: World, role_user: str) -> None:
    """Even in the right county: an informant cannot dispatch, a leader cannot review, an
    operator cannot acknowledge a task or manage accounts, a supervisor cannot dispatch."""
    role = {
        "inf-e": "informant",
        "lead-e": "team_leader",
        "op-e": "operator",
        "sup-e": "supervisor",
    }[role_user]
    admin_only = {
        ("POST", "/api/teams"),
        ("PATCH", "/api/teams/<int:team_id>"),
        ("PUT", "/api/informants/<user>/assignment"),
        ("DELETE", "/api/informants/<user>/assignment"),
        ("GET", "/api/informants/<user>/assignments"),
        ("POST", "/api/users/<username>/disable"),
        ("POST", "/api/users/<username>/enable"),
        ("POST", "/api/users/<username>/revoke"),
        *((m, r) for m, r, _, _ in webhook_routes(world.ids["webhook"])),
    }
    leader_only = set(ALLOWED["team_leader"]) - {
        ("GET", "/api/teams/<int:team_id>"),
        ("GET", "/api/incidents/<int:incident_id>"),
        ("POST", "/api/teams/status"),  # an operator may also stand a team down
    }
    informant_only = {
        ("POST", "/api/reports"),
        ("POST", "/api/checkins"),
        ("POST", "/api/reports/<int:report_id>/photos"),
    }
    dispatch_only = {
        ("POST", "/api/incidents"),
        ("POST", "/api/incidents/<int:incident_id>/dispatch"),
        ("POST", "/api/incidents/<int:incident_id>/cancel"),
        ("POST", "/api/incidents/<int:incident_id>/resolve"),
        ("POST", "/api/incidents/<int:incident_id>/close"),
        ("POST", "/api/incidents/<int:incident_id>/stop-cascade"),
        ("POST", "/api/reports/<int:report_id>/review"),
        ("POST", "/api/reports/<int:report_id>/claim"),
        ("POST", "/api/reports/<int:report_id>/release"),
        ("POST", "/api/warnings"),
        ("POST", "/api/cap/alerts"),
    }
    supervision_only = {("GET", f"/api/supervision/{name}") for name, _ in SUPERVISION}
    if role in ALLOWED:
        forbidden = (
            {(m, r) for m, r, _, _ in routes(world)}
            - ALLOWED[role]
            - {(m, r) for m, r, _, _ in routes(world) if r in ANY_SIGNED_IN}
        )
    elif role == "operator":
        forbidden = admin_only | leader_only | informant_only | supervision_only
    else:
        forbidden = admin_only | leader_only | informant_only | dispatch_only
    before = _counts(app)
    for method, rule, path, body in routes(world):
        if (method, rule) not in forbidden:
            continue
        response = _call(world, role_user, method, path, body)
        assert response.status_code in REFUSED, (role_user, method, path, response.status_code)
        # The east objects' secrets are the informant's own (inf-e wrote them).
        if role != "informant":
            for secret in world.secrets:
                assert secret not in response.get_data(as_text=True), (role_user, method, path)
    assert _counts(app) == before


def test_another_informant_cannot_reach_a_report(world: World) -> None:
    i = world.ids
    for path in (
        f"/api/reports/{i['report']}",
        f"/api/reports/{i['report']}/photos",
        f"/api/photos/{i['photo']}",
    ):
        response = world.client.get(path, headers=world.headers("inf-w"))
        assert response.status_code == 404, path
    listed = world.client.get("/api/reports", headers=world.headers("inf-w")).get_json()
    assert listed == []


def test_the_other_leader_cannot_touch_the_task(app: Flask, world: World) -> None:
    before = _counts(app)
    i = world.ids
    for verb, body in (
        ("ack", {}),
        ("decline", {"reason": "x"}),
        ("status", {"status": "en_route"}),
    ):
        response = world.client.post(
            f"/api/tasks/{i['task']}/{verb}", json=body, headers=world.headers("lead-w")
        )
        assert response.status_code == 404, verb
    assert (
        world.client.get(f"/api/teams/{i['team']}", headers=world.headers("lead-w")).status_code
        == 404
    )
    assert _counts(app) == before


# ---- sockets ---------------------------------------------------------------------------

OPERATOR_EVENTS = [
    (names.REPORT_REVIEW, lambda i: {"report_id": i["report"], "action": "dismiss"}),
    (names.REPORT_CLAIM, lambda i: {"report_id": i["report"]}),
    (names.REPORT_RELEASE, lambda i: {"report_id": i["report"]}),
    (names.INCIDENT_CREATE, lambda i: {"report_ids": [i["report"]]}),
    (names.INCIDENT_DISPATCH, lambda i: {"incident_id": i["incident"], "team_id": i["team_w"]}),
    (names.INCIDENT_CANCEL, lambda i: {"incident_id": i["incident"], "reason": "x"}),
    (names.INCIDENT_RESOLVE, lambda i: {"incident_id": i["incident"], "note": "x"}),
    (names.INCIDENT_CLOSE, lambda i: {"incident_id": i["incident"]}),
    (names.INCIDENT_STOP_CASCADE, lambda i: {"incident_id": i["incident"]}),
]
TEAM_EVENTS = [
    (names.TASK_ACK, lambda i: {"task_id": i["task"]}),
    (names.TASK_DECLINE, lambda i: {"task_id": i["task"], "reason": "x"}),
    (names.TASK_STATUS, lambda i: {"task_id": i["task"], "status": "en_route"}),
]


def _socket(app: Flask, world: World, who: str, namespace: str) -> Any:
    return socketio.test_client(app, namespace=namespace, auth={"token": world.tokens[who]})


def test_socket_events_of_the_other_county_are_refused(app: Flask, world: World) -> None:
    before = _counts(app)
    tried = 0
    for who in ("op-w", "sup-w", "admin-w"):
        client = _socket(app, world, who, names.OPERATOR)
        assert client.is_connected(names.OPERATOR)
        for event, payload in OPERATOR_EVENTS:
            ack = client.emit(event, payload(world.ids), namespace=names.OPERATOR, callback=True)
            assert ack["ok"] is False and ack["error"]["code"] in {"not_found", "forbidden"}, (
                who,
                event,
                ack,
            )
            assert SECRET not in str(ack)
            tried += 1
        assert client.is_connected(names.OPERATOR)
        client.disconnect(namespace=names.OPERATOR)
    leader = _socket(app, world, "lead-w", names.TEAM)
    for event, payload in TEAM_EVENTS:
        ack = leader.emit(event, payload(world.ids), namespace=names.TEAM, callback=True)
        assert ack["ok"] is False and ack["error"]["code"] == "not_found", (event, ack)
        tried += 1
    leader.disconnect(namespace=names.TEAM)
    assert _counts(app) == before
    assert tried == 3 * len(OPERATOR_EVENTS) + len(TEAM_EVENTS)


@pytest.mark.parametrize(
    ("who", "namespace"),
    [
        ("inf-e", names.OPERATOR),
        ("inf-e", names.TEAM),
        ("lead-e", names.OPERATOR),
        ("lead-e", names.INFORMANT),
        ("op-e", names.TEAM),
        ("op-e", names.INFORMANT),
        ("admin", names.INFORMANT),
    ],
)
def test_a_role_cannot_open_another_roles_namespace(
    app: Flask, world: World, who: str, namespace: str
) -> None:
    client = _socket(app, world, who, namespace)
    assert not client.is_connected(namespace)


def test_broadcasts_reach_only_the_county_concerned(app: Flask, world: World) -> None:
    west = _socket(app, world, "op-w", names.OPERATOR)
    east = _socket(app, world, "op-e", names.OPERATOR)
    city = _socket(app, world, "op", names.OPERATOR)
    informant = _socket(app, world, "inf-e", names.INFORMANT)
    for client, ns in ((west, names.OPERATOR), (east, names.OPERATOR), (city, names.OPERATOR)):
        client.get_received(ns)
    ack = informant.emit(
        names.REPORT_SUBMIT,
        {
            "client_id": str(uuid.uuid4()),
            "category": "fire",
            "text": SECRET + "-2",
            "lat": 0.5,
            "lon": 1.5,
        },
        namespace=names.INFORMANT,
        callback=True,
    )
    assert ack["ok"], ack
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.username == "op-e"))
        assert user is not None
        tasks.set_team_status(None, "off_duty", world.ids["team_w"])
    got_west = west.get_received(names.OPERATOR)
    got_east = east.get_received(names.OPERATOR)
    got_city = city.get_received(names.OPERATOR)
    assert SECRET not in str(got_west)
    assert not [m for m in got_west if m["name"] == names.REPORT_NEW]
    assert [m for m in got_east if m["name"] == names.REPORT_NEW]
    assert [m for m in got_city if m["name"] == names.REPORT_NEW]
    # The west team's change reaches the west, and the city, but not the east.
    assert [m for m in got_west if m["name"] == names.TEAM_UPDATED]
    assert not [m for m in got_east if m["name"] == names.TEAM_UPDATED]
    for client in (west, east, city):
        client.disconnect(namespace=names.OPERATOR)
    informant.disconnect(namespace=names.INFORMANT)


def _signed_in(app: Flask, username: str) -> FlaskClient:
    """A browser session for `username` (Flask-Login's session key, as after the form)."""
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.username == username))
        assert user is not None
        session_id = user.get_id()
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = session_id
        session["_fresh"] = True
    return client


def test_pages_keep_to_the_jurisdiction_too(app: Flask, world: World) -> None:
    west_operator = _signed_in(app, "op-w")
    assert west_operator.get("/admin").status_code == 200
    assert west_operator.get(f"/admin?area={EAST}").status_code == 403
    # An admin of the other county cannot mint an enrolment link for an east informant.
    west_admin = _signed_in(app, "admin-w")
    app.config["WTF_CSRF_ENABLED"] = False  # the form's token is tested in test_security
    page = west_admin.post("/admin", data={"enrol": "inf-e"}).get_data(as_text=True)
    assert "enroll=" not in page
    east_admin = _signed_in(app, "admin")
    assert "enroll=" in east_admin.post("/admin", data={"enrol": "inf-e"}).get_data(as_text=True)
    # Minting a link is a change: never on a GET a link on another site could trigger.
    assert "enroll=" not in east_admin.get("/admin?enrol=inf-e").get_data(as_text=True)
    # Pages of other roles are refused.
    assert _signed_in(app, "inf-e").get("/operator").status_code == 403
    assert _signed_in(app, "lead-e").get("/admin").status_code == 403
    assert _signed_in(app, "op-e").get("/team").status_code == 403
