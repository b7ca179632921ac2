"""CAP 1.2 out and in: every alert Gridwatch sends passes the OASIS schema (the copy in
../shared/data, not the bundled one), updates and cancels name the messages before them,
and the real alerts in ../shared/data/cap import once each while the invalid ones are
refused with the schema's reason. On SQLite and PostgreSQL, like every test here.

The geography is test_jurisdiction's: 城关区 (620102) at lon 0..6, 西固区 (620104) at
lon 6..12, latitudes 0..1.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree

from dispatch.cap import mapping
from dispatch.extensions import db, socketio
from dispatch.models import AuditEvent, CapAlert, Incident, User
from dispatch.realtime import names
from dispatch.schemas import CATEGORIES, IncidentCreate, ReportSubmit, TeamCreate
from dispatch.services import areas, auth, incidents, reports, tasks, teams
from tests.conftest import ROOT, SHARED_DATA
from tests.dispatch.test_jurisdiction import E_CELLS, EAST, WEST, two_counties

CAP_DATA = SHARED_DATA / "cap"
NS = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
CAP_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$")
VALID = sorted((CAP_DATA / "valid").glob("*.xml"))
EDGE = sorted((CAP_DATA / "edge").glob("*.xml"))
INVALID = sorted((CAP_DATA / "invalid").glob("*.xml"))
XML = "application/cap+xml"

USERS = [
    ("op", "operator", "620100"),
    ("admin", "admin", "620100"),
    ("sup", "supervisor", "620100"),
    ("op-e", "operator", EAST),
    ("op-w", "operator", WEST),
    ("admin-e", "admin", EAST),
    ("sup-e", "supervisor", EAST),
    ("lead-e", "team_leader", EAST),
]


@pytest.fixture(scope="module")
def xsd() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(CAP_DATA / "CAP-v1.2.xsd")))


def check_cap(xsd: etree.XMLSchema, text: str | bytes) -> etree._Element:
    """Valid against the shared schema, `sent` and every time in Beijing time."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    root = etree.fromstring(data)
    assert xsd.validate(root), [e.message for e in xsd.error_log]
    for tag in ("sent", "info/cap:expires"):
        for node in root.iterfind(f"cap:{tag}", NS):
            assert CAP_TIME.match(node.text), node.text
    return root


def one(root: etree._Element, path: str) -> str:
    found = root.findall(path, NS)
    assert len(found) == 1, (path, found)
    return str(found[0].text)


def extended_id(root: etree._Element) -> str:
    return ",".join(one(root, f"cap:{tag}") for tag in ("sender", "identifier", "sent"))


@dataclass
class World:
    app: Flask
    client: FlaskClient
    tokens: dict[str, str]
    team_id: int

    def headers(self, who: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}", **extra}

    def get(self, who: str, path: str) -> Any:
        return self.client.get(path, headers=self.headers(who))

    def post(self, who: str, path: str, body: Any) -> Any:
        return self.client.post(path, json=body, headers=self.headers(who))

    def send(self, who: str, data: bytes, content_type: str = XML) -> Any:
        return self.client.post(
            "/api/cap/alerts",
            data=data,
            headers=self.headers(who, **{"Content-Type": content_type}),
        )

    def count(self, model: Any) -> int:
        with self.app.app_context():
            n = db.session.scalar(db.select(db.func.count()).select_from(model))
            db.session.remove()
        return int(n or 0)

    def incident(self, category: str = "fire", text: str = "仓库起火，浓烟很大") -> int:
        with self.app.app_context():
            informant = auth.user_from_token(self.tokens["inf-e"])
            report = reports.submit_report(
                informant,
                ReportSubmit(
                    client_id=uuid.uuid4(), category=category, text=text, lat=0.5, lon=0.5
                ),
            )
            op = auth.user_from_token(self.tokens["op-e"])
            made = incidents.create_incident(
                op, IncidentCreate(report_ids=[report["report"]["id"]], title=text)
            )
            incident = db.session.get(Incident, made["incident"]["id"])
            assert incident is not None
            incident.risk_level = "red"
            db.session.commit()
            return incident.id


@pytest.fixture
def world(app: Flask) -> World:
    with app.app_context():
        areas.save_areas(two_counties())
        for name, role, area in USERS:
            auth.create_user(
                username=name, password="x", role=role, area_code=area, password_hash="x"
            )
        auth.create_user(
            username="inf-e",
            password="x",
            role="informant",
            cell_code=E_CELLS[0],
            password_hash="x",
        )
        team = teams.create_team(
            None,
            TeamCreate(
                name="东岗志愿队",
                kind="volunteer",
                capabilities=["fire", "rescue"],
                area_code=f"{EAST}001001",
                base_lat=0.5,
                base_lon=0.6,
                leader="lead-e",
            ),
        )
        tokens = {u.username: auth.issue_token(u) for u in db.session.scalars(db.select(User))}
        db.session.commit()
    return World(app, app.test_client(), tokens, team["team"]["id"])


# ---- out: incidents ----------------------------------------------------------------------


def test_an_incident_goes_out_as_alert_then_update_then_cancel(
    world: World, xsd: etree.XMLSchema
) -> None:
    incident_id = world.incident()
    path = f"/api/incidents/{incident_id}/cap.xml"
    first = world.get("op-e", path)
    assert first.status_code == 200, first.get_data(as_text=True)
    assert first.mimetype == XML
    alert = check_cap(xsd, first.data)
    assert one(alert, "cap:msgType") == "Alert"
    assert one(alert, "cap:status") == "Actual"
    assert one(alert, "cap:scope") == "Public"
    assert alert.find("cap:references", NS) is None
    assert re.fullmatch(
        rf"gridwatch\.620100\.incident\.\d{{8}}\.{incident_id}\.1", one(alert, "cap:identifier")
    )
    assert first.headers["X-CAP-Identifier"] == one(alert, "cap:identifier")
    infos = alert.findall("cap:info", NS)
    assert [one(i, "cap:language") for i in infos] == ["zh-CN", "en-US"]
    for info in infos:
        assert one(info, "cap:category") == "Fire"
        assert one(info, "cap:severity") == "Extreme"
        assert one(info, "cap:urgency") == "Immediate"
        assert one(info, "cap:certainty") == "Likely"
        area = info.find("cap:area", NS)
        assert area is not None
        # The cell (lon 0..1, lat 0..1) as lat,lon pairs, closed; a circle round the point.
        polygon = one(area, "cap:polygon").split()
        assert polygon[0] == polygon[-1] and len(polygon) >= 4
        assert {p for p in polygon} == {
            "0.000000,0.000000",
            "0.000000,1.000000",
            "1.000000,1.000000",
            "1.000000,0.000000",
        }
        assert one(area, "cap:circle") == "0.500000,0.500000 0.500"
        geocodes = {
            one(g, "cap:valueName"): one(g, "cap:value") for g in area.findall("cap:geocode", NS)
        }
        assert geocodes == {"GB/T 2260": EAST, "gridwatch:area": E_CELLS[0]}
        assert "城关区" in one(area, "cap:areaDesc")
    assert "仓库起火" in one(infos[0], "cap:description")
    assert "城关区火灾红色预警" in one(infos[0], "cap:headline")
    assert one(infos[1], "cap:headline").startswith("Red warning (level I): fire in 城关区")

    # Nothing changed: the same stored message, no second row, no audit event.
    before = (world.count(CapAlert), world.count(AuditEvent))
    again = world.get("op-e", path)
    assert again.data == first.data
    assert (world.count(CapAlert), world.count(AuditEvent)) == before
    # A supervisor of the county and the city's operator read the same message.
    assert world.get("sup-e", path).data == first.data
    assert world.get("op", path).data == first.data

    # The incident changed (a team was sent): an Update naming the Alert.
    with world.app.app_context():
        tasks.dispatch_team(auth.user_from_token(world.tokens["op-e"]), incident_id, world.team_id)
    update = check_cap(xsd, world.get("op-e", path).data)
    assert one(update, "cap:msgType") == "Update"
    assert one(update, "cap:identifier").endswith(f".{incident_id}.2")
    assert one(update, "cap:references") == extended_id(alert)
    assert "已派出救援力量" in one(update, "cap:info[1]/cap:description")

    # Cancelled: a Cancel naming both, in order; from then on always the Cancel.
    cancel_answer = world.post("op-e", f"/api/incidents/{incident_id}/cancel", {"reason": "误报"})
    assert cancel_answer.status_code == 200, cancel_answer.get_json()
    cancel_response = world.get("op-e", path)
    cancel = check_cap(xsd, cancel_response.data)
    assert one(cancel, "cap:msgType") == "Cancel"
    assert one(cancel, "cap:references") == f"{extended_id(alert)} {extended_id(update)}"
    for info in cancel.findall("cap:info", NS):
        assert one(info, "cap:responseType") == "AllClear"
        assert one(info, "cap:urgency") == "Past"
        assert one(info, "cap:certainty") == "Unlikely"
    assert world.get("op-e", path).data == cancel_response.data

    # Each message sent is one audit event on the incident's timeline.
    timeline = world.get("op-e", f"/api/incidents/{incident_id}").get_json()["timeline"]
    sent = [e for e in timeline if e["action"] == "cap.sent"]
    assert [e["after"]["msg_type"] for e in sent] == ["Alert", "Update", "Cancel"]
    assert sent[2]["after"]["references"] == [extended_id(alert), extended_id(update)]


def test_a_resolved_incident_is_lifted_with_a_cancel(world: World, xsd: etree.XMLSchema) -> None:
    incident_id = world.incident(category="flood", text="河道涨水")
    path = f"/api/incidents/{incident_id}/cap.xml"
    alert = check_cap(xsd, world.get("op-e", path).data)
    assert [c.text for c in alert.findall("cap:info/cap:category", NS)] == ["Met", "Geo"] * 2
    assert (
        world.post("op-e", f"/api/incidents/{incident_id}/resolve", {"note": "已排险"}).status_code
        == 200
    )
    lifted = check_cap(xsd, world.get("op-e", path).data)
    assert one(lifted, "cap:msgType") == "Cancel"
    assert one(lifted, "cap:references") == extended_id(alert)
    assert one(lifted, "cap:info[1]/cap:certainty") == "Observed"
    assert "（解除）" in one(lifted, "cap:info[1]/cap:headline")
    # Closing it afterwards sends nothing more: the Cancel was the last word.
    assert world.post("op-e", f"/api/incidents/{incident_id}/close", {}).status_code == 200
    assert check_cap(xsd, world.get("op-e", path).data).findtext(
        "cap:identifier", namespaces=NS
    ) == one(lifted, "cap:identifier")


def test_an_incident_that_ended_unannounced_has_nothing_to_cancel(world: World) -> None:
    incident_id = world.incident()
    world.post("op-e", f"/api/incidents/{incident_id}/cancel", {"reason": "重复"})
    answer = world.get("op-e", f"/api/incidents/{incident_id}/cap.xml")
    assert answer.status_code == 409
    assert answer.get_json()["error"]["code"] == "invalid_transition"
    assert world.count(CapAlert) == 0


def test_a_sensitive_incident_goes_out_restricted_without_its_words(
    world: World, xsd: etree.XMLSchema
) -> None:
    words = "张某某因拆迁补偿问题准备集体上访"
    incident_id = world.incident(category="petition", text=words)
    answer = world.get("op-e", f"/api/incidents/{incident_id}/cap.xml")
    root = check_cap(xsd, answer.data)
    assert one(root, "cap:scope") == "Restricted"
    assert "not for public release" in one(root, "cap:restriction")
    text = answer.get_data(as_text=True)
    assert words not in text and "张某某" not in text
    for area in root.iterfind("cap:info/cap:area", NS):
        # The village, never the cell or the point.
        assert area.find("cap:circle", NS) is None
        codes = {
            one(g, "cap:valueName"): one(g, "cap:value") for g in area.findall("cap:geocode", NS)
        }
        assert codes["gridwatch:area"] == E_CELLS[0][:12]
    assert one(root, "cap:info[1]/cap:event") == "信访事项"


def test_social_categories_are_restricted_emergencies_public() -> None:
    assert set(mapping.EVENTS) == set(CATEGORIES)
    assert "safety_hazard" in mapping.PUBLIC_CATEGORIES
    assert (
        not {"dispute", "petition", "public_opinion", "veteran_hardship"}
        & mapping.PUBLIC_CATEGORIES
    )


def test_who_may_pull_an_incidents_cap(world: World) -> None:
    incident_id = world.incident()
    path = f"/api/incidents/{incident_id}/cap.xml"
    assert world.get("op-w", path).status_code == 404  # another county: no such incident
    for who in ("inf-e", "lead-e"):
        assert world.get(who, path).status_code == 403, who
    assert world.client.get(path).status_code == 401
    assert world.count(CapAlert) == 0


# ---- out: an operator's warning ------------------------------------------------------------


def warning(**extra: Any) -> dict[str, Any]:
    return {
        "headline": "东岗街道强降雨内涝黄色预警",
        "headline_en": "Yellow warning: waterlogging in Donggang",
        "description": "预计未来6小时东岗街道低洼处积水，请居民避开地下通道。",
        "description_en": "Low-lying streets of Donggang are expected to flood.",
        "category": "flood",
        "risk_level": "yellow",
        "area_code": f"{EAST}001",
        **extra,
    }


def test_a_warning_with_a_polygon_then_its_update_and_cancel(
    world: World, xsd: etree.XMLSchema
) -> None:
    ring = [{"lat": 0.2, "lon": 1.0}, {"lat": 0.2, "lon": 2.0}, {"lat": 0.8, "lon": 1.5}]
    client_id = str(uuid.uuid4())
    made = world.post("op-e", "/api/warnings", warning(polygon=ring, client_id=client_id))
    assert made.status_code == 201, made.get_json()
    first_id = made.get_json()["warning"]["id"]
    assert made.get_json()["warning"]["properties"]["msg_type"] == "Alert"
    # A retry is answered with the first.
    retry = world.post("op-e", "/api/warnings", warning(polygon=ring, client_id=client_id))
    assert retry.status_code == 200 and retry.get_json()["duplicate"] is True
    assert retry.get_json()["warning"]["id"] == first_id

    first_xml = world.get("op-e", f"/api/warnings/{first_id}/cap.xml")
    assert first_xml.mimetype == XML
    first = check_cap(xsd, first_xml.data)
    assert one(first, "cap:identifier") == f"gridwatch.620100.warning.{client_id}"
    assert one(first, "cap:msgType") == "Alert"
    infos = first.findall("cap:info", NS)
    assert [one(i, "cap:language") for i in infos] == ["zh-CN", "en-US"]
    assert one(infos[0], "cap:headline") == "东岗街道强降雨内涝黄色预警"
    assert one(infos[1], "cap:headline") == "Yellow warning: waterlogging in Donggang"
    assert one(infos[0], "cap:severity") == "Moderate"
    assert one(infos[0], "cap:urgency") == "Expected"
    assert one(infos[0], "cap:area/cap:polygon") == (
        "0.200000,1.000000 0.200000,2.000000 0.800000,1.500000 0.200000,1.000000"
    )
    assert {
        one(g, "cap:valueName"): one(g, "cap:value")
        for g in infos[0].findall("cap:area/cap:geocode", NS)
    } == {"GB/T 2260": EAST, "gridwatch:area": f"{EAST}001"}
    assert infos[0].find("cap:expires", NS) is not None  # 24 hours unless given

    # An Update names the Alert; a Cancel names both.
    update = world.post(
        "op-e",
        "/api/warnings",
        warning(
            msg_type="Update",
            follows=first_id,
            risk_level="orange",
            circle={"lat": 0.5, "lon": 1.5, "radius_km": 3},
        ),
    )
    assert update.status_code == 201, update.get_json()
    update_id = update.get_json()["warning"]["id"]
    update_root = check_cap(xsd, world.get("op-e", f"/api/warnings/{update_id}/cap.xml").data)
    assert one(update_root, "cap:msgType") == "Update"
    assert one(update_root, "cap:references") == extended_id(first)
    assert one(update_root, "cap:info[1]/cap:area/cap:circle") == "0.500000,1.500000 3.000"
    assert one(update_root, "cap:info[1]/cap:severity") == "Severe"

    # The Alert was followed: an Update must follow the latest.
    stale = world.post("op-e", "/api/warnings", warning(msg_type="Cancel", follows=first_id))
    assert stale.status_code == 409 and stale.get_json()["error"]["field"] == "follows"

    cancel = world.post("op-e", "/api/warnings", warning(msg_type="Cancel", follows=update_id))
    assert cancel.status_code == 201, cancel.get_json()
    cancel_root = check_cap(
        xsd, world.get("op-e", f"/api/warnings/{cancel.get_json()['warning']['id']}/cap.xml").data
    )
    assert one(cancel_root, "cap:references") == f"{extended_id(first)} {extended_id(update_root)}"
    assert one(cancel_root, "cap:info[1]/cap:responseType") == "AllClear"
    after = world.post(
        "op-e",
        "/api/warnings",
        warning(msg_type="Update", follows=cancel.get_json()["warning"]["id"]),
    )
    assert after.status_code == 409

    # Sent alerts are listed for the county; the first two are superseded.
    listed = world.get("op-e", "/api/cap/alerts?direction=out").get_json()["features"]
    by_id = {f["id"]: f["properties"] for f in listed}
    assert by_id[first_id]["superseded_by"] == update_id
    assert by_id[update_id]["superseded_by"] == cancel.get_json()["warning"]["id"]
    assert world.get("op-w", "/api/cap/alerts?direction=out").get_json()["features"] == []


def test_a_warning_for_the_whole_area_as_an_exercise(world: World, xsd: etree.XMLSchema) -> None:
    made = world.post("op", "/api/warnings", warning(status="Exercise", category="petition"))
    assert made.status_code == 201, made.get_json()
    root = check_cap(
        xsd, world.get("op", f"/api/warnings/{made.get_json()['warning']['id']}/cap.xml").data
    )
    assert one(root, "cap:status") == "Exercise"
    assert one(root, "cap:scope") == "Restricted"  # a petition never goes out Public
    # No polygon or circle drawn: the township's outline.
    polygon = one(root, "cap:info[1]/cap:area/cap:polygon").split()
    assert polygon[0] == polygon[-1]
    assert {float(p.split(",")[1]) for p in polygon} == {0.0, 6.0}


@pytest.mark.parametrize(
    ("who", "body", "status", "field"),
    [
        ("op-w", warning(), 403, "area_code"),  # another county's area
        ("sup-e", warning(), 403, None),  # supervisors do not send warnings
        ("inf-e", warning(), 403, None),
        ("lead-e", warning(), 403, None),
        ("op-e", warning(area_code="620105"), 404, "area_code"),
        (
            "op-e",
            warning(
                polygon=[{"lat": 0.2, "lon": 8}, {"lat": 0.3, "lon": 9}, {"lat": 0.8, "lon": 8}]
            ),
            422,
            "polygon",
        ),
        ("op-e", warning(circle={"lat": 0.5, "lon": 9, "radius_km": 5}), 422, "circle"),
        ("op-e", warning(expires="2020-01-01T00:00:00+08:00"), 422, "expires"),
        ("op-e", warning(msg_type="Update"), 422, "follows"),
        ("op-e", warning(follows=1), 422, "follows"),
        ("op-e", warning(msg_type="Cancel", follows=999), 404, "follows"),
        ("op-e", warning(headline=" "), 422, "headline"),
        ("op-e", warning(risk_level="purple"), 422, "risk_level"),
        ("op-e", warning(circle={"lat": 0.5, "lon": 1, "radius_km": 0}), 422, "circle.radius_km"),
    ],
)
def test_warnings_refused(
    world: World, who: str, body: dict[str, Any], status: int, field: str | None
) -> None:
    answer = world.post(who, "/api/warnings", body)
    assert answer.status_code == status, answer.get_json()
    if field is not None:
        assert answer.get_json()["error"]["field"] == field
    assert world.count(CapAlert) == 0


def test_a_warning_is_read_only_within_its_area(world: World) -> None:
    made = world.post("op-e", "/api/warnings", warning()).get_json()["warning"]["id"]
    path = f"/api/warnings/{made}/cap.xml"
    assert world.get("op-w", path).status_code == 404
    assert world.get("sup-e", path).status_code == 200
    for who in ("inf-e", "lead-e"):
        assert world.get(who, path).status_code == 403
    # An incident's message is no warning.
    incident_id = world.incident()
    world.get("op-e", f"/api/incidents/{incident_id}/cap.xml")
    with world.app.app_context():
        row = db.session.scalar(db.select(CapAlert).where(CapAlert.incident_id == incident_id))
        assert row is not None
        row_id = row.id
    assert world.get("op-e", f"/api/warnings/{row_id}/cap.xml").status_code == 404


# ---- in: real alerts -----------------------------------------------------------------------


def test_the_bundled_schema_is_the_shared_one() -> None:
    bundled = ROOT / "dispatch" / "cap" / "CAP-v1.2.xsd"
    assert bundled.read_bytes() == (CAP_DATA / "CAP-v1.2.xsd").read_bytes()


def test_every_real_alert_imports_once(world: World) -> None:
    assert len(VALID) == 9 and len(EDGE) == 1
    ids = {}
    for path in VALID + EDGE:
        answer = world.send("op", path.read_bytes())
        assert answer.status_code == 201, (path.name, answer.get_json())
        body = answer.get_json()
        assert body["duplicate"] is False
        ids[path.name] = body["alert"]["id"]
    stored = (world.count(CapAlert), world.count(AuditEvent))
    for path in VALID + EDGE:
        again = world.send("admin", path.read_bytes(), "application/xml")
        assert again.status_code == 200, path.name
        assert again.get_json()["duplicate"] is True
        assert again.get_json()["alert"]["id"] == ids[path.name]
    assert (world.count(CapAlert), world.count(AuditEvent)) == stored

    with world.app.app_context():
        rows = {r.id: r for r in db.session.scalars(db.select(CapAlert))}
        for path in VALID + EDGE:
            row = rows[ids[path.name]]
            assert row.direction == "in"
            # Kept as received, signatures and all.
            assert row.xml == path.read_text(encoding="utf-8").lstrip("\ufeff")
        db.session.remove()
    fc = world.get("op", "/api/cap/alerts?direction=in").get_json()
    features = {f["id"]: f for f in fc["features"]}
    assert len(features) == 10
    a2 = features[ids["oasis-appendix-A2-thunderstorm-polygon.xml"]]
    assert a2["geometry"]["type"] == "Polygon"
    assert a2["geometry"]["coordinates"][0][0] == [-120.14, 38.47]  # lon, lat
    assert a2["properties"]["severity"] == "Severe"
    assert a2["properties"]["sent"] == "2003-06-18T05:57:00+08:00"
    a3 = features[ids["oasis-appendix-A3-earthquake-update-circle.xml"]]
    assert a3["geometry"] == {"type": "Point", "coordinates": [-115.5527, 32.9525]}
    baoding = features[ids["cn-cma-baoding-thunder-update-zh.xml"]]["properties"]
    assert baoding["headline"] == "保定市气象台更新雷电黄色预警[Ⅲ级/较重]"  # zh-CN first
    signed = features[ids["ca-naads-signed-xmldsig.xml"]]
    assert signed["properties"]["signed"] is True
    assert signed["geometry"]["type"] == "MultiPolygon"
    # All of these have expired long ago: none is active.
    assert world.get("op", "/api/cap/alerts?direction=in&active=1").get_json()["features"] == []


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_alerts_are_refused_with_the_schemas_reason(world: World, path: Path) -> None:
    answer = world.send("op", path.read_bytes())
    assert answer.status_code == 422
    error = answer.get_json()["error"]
    assert error["code"] == "validation_failed" and error["field"] == "body"
    expected = {
        "missing-scope.xml": (9, "cap:scope"),
        "tg-element-order-wrong.xml": (16, "cap:audience"),
    }[path.name]
    assert f"line {expected[0]}:" in error["message"] and expected[1] in error["message"]
    assert error["problems"][0]["line"] == expected[0]
    assert world.count(CapAlert) == 0


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE alert [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&b;&xxe;</identifier></alert>"""


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        (b"not xml at all", XML, 422),
        (b"", XML, 422),
        (BOMB, XML, 422),
        (VALID[0].read_bytes(), "application/json", 415),
        (b"<alert>" + b"x" * (1024 * 1024 + 10) + b"</alert>", XML, 413),
    ],
    ids=["not-xml", "empty", "dtd", "json", "too-large"],
)
def test_bad_bodies_are_refused(world: World, data: bytes, content_type: str, status: int) -> None:
    answer = world.send("op", data, content_type)
    assert answer.status_code == status, answer.get_json()
    assert "root:" not in answer.get_data(as_text=True)
    assert world.count(CapAlert) == 0


@pytest.mark.parametrize("who", ["op-e", "admin-e", "sup", "sup-e", "inf-e", "lead-e"])
def test_only_the_city_imports(world: World, who: str) -> None:
    answer = world.send(who, VALID[0].read_bytes())
    assert answer.status_code == 403
    assert world.count(CapAlert) == 0


def alert_xml(
    identifier: str,
    *,
    msg_type: str = "Alert",
    references: str | None = None,
    polygon: str | None = None,
    geocode: tuple[str, str] | None = None,
    expires: str = "2099-01-01T00:00:00+08:00",
) -> bytes:
    area = "<areaDesc>测试区域</areaDesc>"
    if polygon:
        area += f"<polygon>{polygon}</polygon>"
    if geocode:
        area += f"<geocode><valueName>{geocode[0]}</valueName><value>{geocode[1]}</value></geocode>"
    refs = f"<references>{references}</references>" if references else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{identifier}</identifier><sender>cma@weather.gov.cn</sender>
  <sent>2026-11-29T10:00:00+08:00</sent><status>Actual</status><msgType>{msg_type}</msgType>
  <scope>Public</scope>{refs}
  <info><language>zh-CN</language><category>Met</category><event>暴雨</event>
    <urgency>Expected</urgency><severity>Severe</severity><certainty>Likely</certainty>
    <expires>{expires}</expires><headline>{identifier} 暴雨橙色预警</headline>
    <area>{area}</area></info>
</alert>""".encode()


def test_who_sees_which_alert_received(world: World) -> None:
    east = world.send("op", alert_xml("east-1", polygon="0.2,1 0.2,2 0.8,2 0.2,1"))
    west = world.send("op", alert_xml("west-1", geocode=("CPEAS Geographic Code", f"{WEST}000000")))
    nowhere = world.send("op", alert_xml("nowhere-1"))
    us = world.send(
        "op", (CAP_DATA / "valid" / "oasis-appendix-A2-thunderstorm-polygon.xml").read_bytes()
    )
    ids = {
        n: r.get_json()["alert"]["id"]
        for n, r in (("east", east), ("west", west), ("nowhere", nowhere), ("us", us))
    }
    # A CMA code of ours is drawn with our county's outline.
    west_feature = west.get_json()["alert"]
    assert west_feature["properties"]["area_code"] == WEST
    assert west_feature["geometry"]["type"] == "Polygon"

    def seen(who: str) -> set[int]:
        fc = world.get(who, "/api/cap/alerts?direction=in").get_json()
        return {f["id"] for f in fc["features"]}

    assert seen("op") == seen("sup") == set(ids.values())
    assert seen("op-e") == seen("sup-e") == {ids["east"], ids["nowhere"]}
    assert seen("op-w") == {ids["west"], ids["nowhere"]}
    for who in ("inf-e", "lead-e"):
        assert world.get(who, "/api/cap/alerts").status_code == 403


def test_an_update_and_a_cancel_end_the_alerts_they_name(world: World) -> None:
    first = world.send("op", alert_xml("storm-1", polygon="0.2,1 0.2,2 0.8,2 0.2,1")).get_json()
    update = world.send(
        "op",
        alert_xml(
            "storm-2",
            msg_type="Update",
            references="cma@weather.gov.cn,storm-1,2026-11-29T10:00:00+08:00",
            polygon="0.2,1 0.2,3 0.8,3 0.2,1",
        ),
    ).get_json()
    assert update["supersedes"] == [first["alert"]["id"]]
    cancel = world.send(
        "op",
        alert_xml(
            "storm-3",
            msg_type="Cancel",
            references="cma@weather.gov.cn,storm-1,2026-11-29T10:00:00+08:00 "
            "cma@weather.gov.cn,storm-2,2026-11-29T10:00:00+08:00",
        ),
    ).get_json()
    assert sorted(cancel["supersedes"]) == sorted([first["alert"]["id"], update["alert"]["id"]])
    listed = {
        f["id"]: f["properties"] for f in world.get("op", "/api/cap/alerts").get_json()["features"]
    }
    assert listed[first["alert"]["id"]]["superseded_by"] is not None
    assert listed[update["alert"]["id"]]["superseded_by"] == cancel["alert"]["id"]
    assert not any(p["active"] for p in listed.values())
    assert world.get("op", "/api/cap/alerts?active=1").get_json()["features"] == []
    with world.app.app_context():
        events = list(
            db.session.scalars(
                db.select(AuditEvent)
                .where(AuditEvent.action == "cap.received")
                .order_by(AuditEvent.id)
            )
        )
        assert [e.after["msg_type"] for e in events] == ["Alert", "Update", "Cancel"]
        db.session.remove()


def test_an_identifier_of_another_sender_is_refused(world: World) -> None:
    assert world.send("op", alert_xml("same-id")).status_code == 201
    other = alert_xml("same-id").replace(b"cma@weather.gov.cn", b"someone@else.org")
    answer = world.send("op", other)
    assert answer.status_code == 422 and answer.get_json()["error"]["field"] == "identifier"


def test_an_import_reaches_the_operators_whose_area_it_touches(world: World) -> None:
    clients = {
        who: socketio.test_client(
            world.app, namespace=names.OPERATOR, auth={"token": world.tokens[who]}
        )
        for who in ("op", "op-e", "op-w")
    }
    for client in clients.values():
        assert client.is_connected(names.OPERATOR)
        client.get_received(names.OPERATOR)
    made = world.send("op", alert_xml("east-live", polygon="0.2,1 0.2,2 0.8,2 0.2,1")).get_json()

    def got(who: str) -> list[Any]:
        out = []
        for message in clients[who].get_received(names.OPERATOR):
            if message["name"] == names.CAP_ALERT:
                for payload in message["args"]:
                    out += payload if isinstance(payload, list) else [payload]
        return out

    east, west, city = got("op-e"), got("op-w"), got("op")
    assert [p["alert"]["id"] for p in east] == [made["alert"]["id"]]
    assert [p["alert"]["id"] for p in city] == [made["alert"]["id"]]
    assert west == []
    assert east[0]["alert"]["properties"]["headline"] == "east-live 暴雨橙色预警"
    for client in clients.values():
        client.disconnect(namespace=names.OPERATOR)


def test_the_command_imports_files_and_names_each_refused_one(world: World) -> None:
    runner = world.app.test_cli_runner()
    done = runner.invoke(args=["cap", "import", *map(str, VALID)])
    assert done.exit_code == 0, done.output
    assert f"imported {len(VALID)} alert(s), 0 already there, 0 refused" in done.output
    mixed = runner.invoke(args=["cap", "import", str(VALID[0]), *map(str, INVALID)])
    assert mixed.exit_code == 1
    errors = [line for line in mixed.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == len(INVALID)
    assert any("missing-scope.xml: not a valid CAP 1.2 alert: line 9:" in e for e in errors)
    assert "imported 0 alert(s), 1 already there, 2 refused" in mixed.output
    assert world.count(CapAlert) == len(VALID)


def test_the_mapping_table_is_documented() -> None:
    doc = (ROOT / "docs" / "cap.md").read_text(encoding="utf-8")
    for category, event in mapping.EVENTS.items():
        row = next((line for line in doc.splitlines() if line.startswith(f"| `{category}` ")), None)
        assert row is not None, f"docs/cap.md has no row for {category}"
        assert ", ".join(event.cap_categories) in row and event.zh in row and event.en in row, row
    for level, severity in mapping.SEVERITY.items():
        assert re.search(rf"\| {level} .*\| {severity} \| {mapping.URGENCY[level]} \|", doc), level
