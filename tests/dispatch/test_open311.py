"""Open311 GeoReport v2 intake: answers checked against the spec's JSON schemas
(../shared/data/open311/json-schema), the spec's POST example replayed, idempotency on the
client's token, the spec's errors, and the `gridwatch open311` commands."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode
from xml.etree import ElementTree as ET

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from shapely.geometry import box

import grid
from dispatch.extensions import db
from dispatch.models import ApiClient, AuditEvent, Incident, Report, User
from dispatch.schemas import CATEGORIES
from dispatch.services import areas, auth
from dispatch.services.open311 import hash_key, request_state
from tests.conftest import SHARED_DATA
from tests.dispatch.live import live_app, redis_url, work

__all__ = ["redis_url"]  # a fixture used by name

OPEN311 = SHARED_DATA / "open311"
CENTRE = (36.0611, 103.8343)  # Lanzhou's centre, in 城关区 (620102)
QILIHE = (36.0611, 103.7500)  # in 七里河区 (620103)
SAN_FRANCISCO = (37.76524078, -122.4212043)  # the spec example's point: outside the grid
CELL_EAST = "620102001001001"


def lanzhou_grid() -> list[grid.Area]:
    """Two counties side by side around Lanzhou's centre, a township, village and two cells
    in each."""
    out = [grid.Area("620100", "兰州市", "city", None, box(103.70, 36.00, 103.95, 36.12))]
    for county, name, west, east in (
        ("620102", "城关区", 103.80, 103.95),
        ("620103", "七里河区", 103.70, 103.80),
    ):
        shape = box(west, 36.00, east, 36.12)
        out += [
            grid.Area(county, name, "county", "620100", shape),
            grid.Area(f"{county}001", f"{name}一街道", "township", county, shape),
            grid.Area(f"{county}001001", f"{name}一社区", "village", f"{county}001", shape),
        ]
        middle = (west + east) / 2
        for seq, (w, e) in enumerate(((west, middle), (middle, east)), start=1):
            code = f"{county}00100100{seq}"
            out.append(
                grid.Area(code, f"{name}网格{seq}", "cell", code[:12], box(w, 36.00, e, 36.12))
            )
    return out


# ---------------------------------------------------------------------------- schemas


def _validator(name: str) -> Draft202012Validator:
    folder = OPEN311 / "json-schema"
    schemas = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in folder.glob("*.json")}
    registry: Registry = Registry().with_resources(
        (n, Resource.from_contents(s, default_specification=DRAFT202012))
        for n, s in schemas.items()
    )
    return Draft202012Validator(schemas[name], registry=registry, format_checker=FormatChecker())


def conforms(name: str, document: Any) -> None:
    errors = [
        f"{list(e.absolute_path)}: {e.message}" for e in _validator(name).iter_errors(document)
    ]
    assert not errors, errors


def spec_error(response: Any, status: int) -> str:
    """The spec's error answer, `[{code, description}]`, with `status`; its description."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.content_type.startswith("application/json")
    body = response.get_json()
    assert isinstance(body, list) and len(body) == 1, body
    assert body[0]["code"] == status and isinstance(body[0]["description"], str)
    return str(body[0]["description"])


# ---------------------------------------------------------------------------- fixtures


@dataclass
class World:
    app: Flask
    client: FlaskClient
    keys: dict[str, str]
    tokens: dict[str, str]

    def post(self, key: str | None = "hotline", **fields: Any) -> Any:
        data = {"service_code": "fire", "lat": CENTRE[0], "long": CENTRE[1], **fields}
        if key is not None:
            data.setdefault("api_key", self.keys.get(key, key))
        return self.client.post("/open311/v2/requests.json", data=data)

    def get(self, path: str, key: str = "hotline", **args: Any) -> Any:
        query = {"api_key": self.keys.get(key, key), **args}
        return self.client.get(f"/open311/v2/{path}", query_string=query)

    def reports(self) -> list[Report]:
        with self.app.app_context():
            found = list(db.session.scalars(db.select(Report).order_by(Report.id)))
            db.session.expunge_all()
            db.session.remove()
        return found


def add_client(app: Flask, name: str, area: str) -> str:
    """`gridwatch open311 add-client`; the api_key is the last word it prints."""
    result = app.test_cli_runner().invoke(args=["open311", "add-client", name, "--area", area])
    assert result.exit_code == 0, result.output
    return str(result.output.split()[-1])


@pytest.fixture
def world(app: Flask) -> World:
    with app.app_context():
        areas.save_areas(lanzhou_grid())
        auth.create_user(
            username="op", password="x", role="operator", area_code="620102", password_hash="x"
        )
        auth.create_user(
            username="inf", password="x", role="informant", cell_code=CELL_EAST, password_hash="x"
        )
        tokens = {u.username: auth.issue_token(u) for u in db.session.scalars(db.select(User))}
        db.session.remove()
    keys = {
        "hotline": add_client(app, "hotline", "620102"),
        "west": add_client(app, "west", "620103"),
    }
    return World(app, app.test_client(), keys, tokens)


# ---------------------------------------------------------------------------- services


def test_service_list_validates_and_names_every_category(world: World) -> None:
    r = world.client.get("/open311/v2/services.json")
    assert r.status_code == 200 and r.content_type == "application/json; charset=utf-8"
    conforms("services.json", r.get_json())
    services = {s["service_code"]: s for s in r.get_json()}
    assert list(services) == list(CATEGORIES)
    assert services["fire"]["service_name"] == "火灾"  # zh first
    assert services["fire"]["group"] == "突发事件" and services["dispute"]["group"] == "社情民意"
    assert all(s["type"] == "realtime" and s["metadata"] is True for s in services.values())
    english = world.client.get("/open311/v2/services.json?lang=en").get_json()
    conforms("services.json", english)
    assert english[0]["service_name"] == "Fire" and english[0]["group"] == "Emergencies"


def test_service_definitions_validate(world: World) -> None:
    for code in CATEGORIES:
        r = world.client.get(f"/open311/v2/services/{code}.json")
        assert r.status_code == 200
        conforms("service-definition.json", r.get_json())
        attributes = {a["code"]: a for a in r.get_json()["attributes"]}
        assert [v["key"] for v in attributes["severity"]["values"]] == ["1", "2", "3", "4"]
        assert attributes["client_token"]["datatype"] == "string"
    assert "not found" in spec_error(world.client.get("/open311/v2/services/pothole.json"), 404)


def test_xml_answers_as_the_spec_writes_them(world: World) -> None:
    r = world.client.get("/open311/v2/services.xml")
    assert r.status_code == 200 and r.content_type == "text/xml; charset=utf-8"
    assert r.get_data(as_text=True).startswith('<?xml version="1.0" encoding="utf-8"?>')
    root = ET.fromstring(r.data)
    assert root.tag == "services" and len(root.findall("service")) == len(CATEGORIES)
    assert root.find("service/metadata").text == "true"  # type: ignore[union-attr]
    definition = ET.fromstring(world.client.get("/open311/v2/services/fire.xml").data)
    assert definition.tag == "service_definition"
    assert len(definition.findall("attributes/attribute/values/value")) == 4
    refused = world.client.get("/open311/v2/requests.xml")  # no api_key
    assert refused.status_code == 403
    error = ET.fromstring(refused.data)
    assert error.tag == "errors" and error.find("error/code").text == "403"  # type: ignore[union-attr]


def test_anything_else_under_open311_is_a_spec_404(world: World) -> None:
    spec_error(world.client.get("/open311/v2/nothing.json"), 404)
    spec_error(world.client.get("/open311/v2/services.csv"), 404)
    spec_error(world.client.delete("/open311/v2/requests/1.json"), 404)


def test_discovery_points_at_the_endpoint(world: World) -> None:
    body = world.client.get("/open311/discovery.json").get_json()
    assert body["endpoints"][0]["url"].endswith("/open311/v2")
    assert "application/json" in body["endpoints"][0]["formats"]


# ---------------------------------------------------------------------------- requests


def test_a_request_becomes_a_report_of_the_clients_service_account(world: World) -> None:
    r = world.post(
        description="仓库起火，有浓烟",
        **{"attribute[severity]": "3"},
        media_url="https://example.org/p/1.jpg",
        address_string="城关区某路 1 号",
    )
    assert r.status_code == 200, r.get_data(as_text=True)
    answer = r.get_json()
    assert isinstance(answer, list) and len(answer) == 1
    assert set(answer[0]) == {"service_request_id", "service_notice", "account_id"}
    rid = answer[0]["service_request_id"]
    assert isinstance(rid, str) and rid.isdigit() and answer[0]["account_id"] is None
    [report] = world.reports()
    assert str(report.id) == rid and report.category == "fire" and report.severity == 3
    assert report.text == "仓库起火，有浓烟" and report.status == "new"
    assert report.cell_code == CELL_EAST and (report.lat, report.lon) == CENTRE
    with world.app.app_context():
        account = db.session.get(User, report.informant_id)
        assert account is not None
        assert account.username == "open311-hotline" and account.role == "informant"
        assert account.password_hash == "!"  # no password: the api_key is its only way in
        events = {e.action: e for e in db.session.scalars(db.select(AuditEvent))}
        assert events["report.submitted"].entity_id == rid
        kept = events["open311.request_received"].after
        assert kept["api_client"] == "hotline" and kept["media_url"].endswith("1.jpg")
        db.session.remove()

    listed = world.get("requests.json")
    assert listed.status_code == 200
    conforms("requests.json", listed.get_json())
    [one] = listed.get_json()
    assert one["service_request_id"] == rid and one["status"] == "open"
    assert one["service_code"] == "fire" and one["service_name"] == "火灾"
    assert one["description"] == "仓库起火，有浓烟" and one["address"] == "城关区某路 1 号"
    assert one["media_url"] == "https://example.org/p/1.jpg"
    assert (one["lat"], one["long"]) == CENTRE
    assert one["requested_datetime"].endswith("+08:00")
    assert "城关区" in one["agency_responsible"]
    single = world.get(f"requests/{rid}.json")
    assert single.status_code == 200
    conforms("requests.json", single.get_json())
    assert single.get_json() == [one]


def test_json_bodies_are_taken_too(world: World) -> None:
    r = world.client.post(
        "/open311/v2/requests.json",
        json={
            "api_key": world.keys["hotline"],
            "service_code": "dispute",
            "lat": CENTRE[0],
            "long": CENTRE[1],
            "description": "邻里纠纷",
            "attribute": {"severity": 2, "client_token": "case-1"},
        },
    )
    assert r.status_code == 200, r.get_data(as_text=True)
    [report] = world.reports()
    assert report.category == "dispute" and report.severity == 2
    listed = world.get("requests.json").get_json()
    # Without a street address, the address is the area chain, most specific first.
    assert listed[0]["address"] == "城关区网格1, 城关区一社区, 城关区一街道, 城关区, 兰州市"


def test_the_clients_token_makes_a_retry_return_the_first_request(world: World) -> None:
    first = world.post(**{"attribute[client_token]": "12345-2026-000123"})
    again = world.post(description="changed", **{"attribute[client_token]": "12345-2026-000123"})
    assert first.status_code == again.status_code == 200
    assert first.get_json() == again.get_json()
    header = world.client.post(
        "/open311/v2/requests.json",
        data={
            "api_key": world.keys["hotline"],
            "service_code": "fire",
            "lat": CENTRE[0],
            "long": CENTRE[1],
        },
        headers={"Idempotency-Key": "12345-2026-000123"},
    )
    assert header.get_json() == first.get_json()
    # The same token from another client is another request.
    other = world.post(
        "west", lat=QILIHE[0], long=QILIHE[1], **{"attribute[client_token]": "12345-2026-000123"}
    )
    assert other.status_code == 200
    assert other.get_json()[0]["service_request_id"] != first.get_json()[0]["service_request_id"]
    # Without a token every post is a new request.
    world.post()
    world.post()
    assert len(world.reports()) == 4
    assert len([r for r in world.reports() if r.text == "changed"]) == 0
    with world.app.app_context():
        received = db.session.scalars(
            db.select(AuditEvent.entity_id).where(AuditEvent.action == "open311.request_received")
        ).all()
        db.session.remove()
    assert sorted(received) == sorted(str(r.id) for r in world.reports())  # once a report
    mixed = world.client.post(
        "/open311/v2/requests.json",
        data={
            "api_key": world.keys["hotline"],
            "service_code": "fire",
            "lat": CENTRE[0],
            "long": CENTRE[1],
            "attribute[client_token]": "a",
        },
        headers={"Idempotency-Key": "b"},
    )
    spec_error(mixed, 400)
    spec_error(world.post(**{"attribute[client_token]": "has space"}), 400)


def test_an_api_key_is_needed_and_nothing_else_is_one(world: World) -> None:
    before = len(world.reports())
    assert "missing" in spec_error(world.post(key=None), 403)
    spec_error(world.post(key="gw311_not-a-key"), 403)
    spec_error(world.post(key=hash_key(world.keys["hotline"])), 403)  # the stored hash
    for who in ("op", "inf"):  # a user's Bearer token is no api_key
        spec_error(world.post(key=world.tokens[who]), 403)
        spec_error(world.get("requests.json", key=world.tokens[who]), 403)
    spec_error(world.get("requests.json", key=""), 403)
    # ... and an api_key is no Bearer token.
    r = world.client.get(
        "/api/reports", headers={"Authorization": f"Bearer {world.keys['hotline']}"}
    )
    assert r.status_code == 401
    assert len(world.reports()) == before


def test_a_revoked_client_is_refused(world: World) -> None:
    assert world.post().status_code == 200
    result = world.app.test_cli_runner().invoke(args=["open311", "revoke", "hotline"])
    assert result.exit_code == 0, result.output
    spec_error(world.post(), 403)
    spec_error(world.get("requests.json"), 403)
    assert world.post("west", lat=QILIHE[0], long=QILIHE[1]).status_code == 200
    with world.app.app_context():
        account = db.session.scalar(db.select(User).where(User.username == "open311-hotline"))
        assert account is not None and not account.active
        actions = set(db.session.scalars(db.select(AuditEvent.action)))
        assert {"open311.client_created", "open311.client_revoked", "user.disabled"} <= actions
        db.session.remove()


@pytest.mark.parametrize(
    ("fields", "status", "says"),
    [
        ({"service_code": "pothole"}, 404, "not found"),
        ({"service_code": ""}, 400, "service_code"),
        ({"lat": "", "long": "", "address_string": "1234 5th street"}, 400, "lat and long"),
        ({"lat": "", "long": "", "address_id": "545483"}, 400, "lat and long"),
        ({"long": ""}, 400, "together"),
        ({"lat": QILIHE[0], "long": QILIHE[1]}, 400, "outside this client's area"),
        ({"lat": SAN_FRANCISCO[0], "long": SAN_FRANCISCO[1]}, 400, "outside the city's grid"),
        ({"lat": "north"}, 400, "lat"),
        ({"lat": "nan"}, 400, "lat"),
        ({"lat": 91}, 400, "lat"),
        ({"description": "x" * 2001}, 400, "description"),
        ({"description": "bad\x00byte"}, 400, "control characters"),
        ({"attribute[severity]": "5"}, 400, "severity"),
        ({"attribute[severity][]": ["1", "2"]}, 400, "one value"),
        ({"media_url": "javascript:alert(1)"}, 400, "media_url"),
        ({"email": "x" * 300}, 400, "email"),
    ],
)
def test_bad_requests_are_refused_in_the_specs_form(
    world: World, fields: dict[str, Any], status: int, says: str
) -> None:
    description = spec_error(world.post(**fields), status)
    assert says in description
    assert world.reports() == []


def test_oversize_and_malformed_bodies_are_refused(world: World) -> None:
    big = world.client.post(
        "/open311/v2/requests.json",
        data={"api_key": world.keys["hotline"], "service_code": "fire", "x": "y" * 70_000},
    )
    spec_error(big, 413)
    too_many = {f"attribute[a{i}]": "1" for i in range(150)}
    assert "attribute" in spec_error(world.post(**too_many), 400)
    for body in ("[1, 2]", "not json", "{" * 5000):
        r = world.client.post(
            "/open311/v2/requests.json", data=body, content_type="application/json"
        )
        assert r.status_code in (400, 403), (body[:10], r.status_code)
        assert r.get_json()[0]["code"] == r.status_code
    assert world.reports() == []


def test_posts_are_rate_limited_in_the_specs_form(world: World) -> None:
    if not world.app.config.get("RATELIMIT_ENABLED"):
        pytest.skip("rate limits are off (GRIDWATCH_RATE_LIMITS=off)")
    world.app.config["GRIDWATCH_LIMIT_OPEN311_POST"] = "2 per minute"
    assert world.post().status_code == 200
    spec_error(world.post(key="wrong"), 403)  # a refused key counts too
    refused = world.post()
    assert "too many requests" in spec_error(refused, 429)
    assert int(refused.headers["Retry-After"]) > 0
    assert world.client.get("/open311/v2/services.json").status_code == 200  # reads go on


def test_the_spec_post_example_is_accepted(world: World) -> None:
    """spec-examples/post-request-example.http, with our host, key, a service of ours and a
    point in Lanzhou; every other field as the spec wrote it."""
    raw = (OPEN311 / "spec-examples" / "post-request-example.http").read_text(encoding="utf-8")
    head, body = raw.strip().split("\n\n", 1)
    request_line, *header_lines = head.splitlines()
    method, path = request_line.split()[:2]
    headers = dict(line.split(": ", 1) for line in header_lines)
    fields = parse_qsl(body.strip(), keep_blank_values=True)
    names = [name for name, _ in fields]
    assert {
        "jurisdiction_id",
        "address_string",
        "email",
        "device_id",
        "account_id",
        "first_name",
        "last_name",
        "phone",
        "description",
        "media_url",
        "attribute[WHISPAWN]",
    } <= set(names)
    ours = {
        "api_key": world.keys["hotline"],
        "service_code": "safety_hazard",  # a sinkhole
        "lat": str(CENTRE[0]),
        "long": str(CENTRE[1]),
    }
    replayed = urlencode([(name, ours.get(name, value)) for name, value in fields])
    assert method == "POST" and path == "/dev/v2/requests.xml"
    for suffix in ("xml", "json"):
        r = world.client.post(
            path.replace("/dev/v2/", "/open311/v2/").replace(".xml", f".{suffix}"),
            data=replayed,
            content_type=headers["Content-Type"],
        )
        assert r.status_code == 200, r.get_data(as_text=True)
    xml_answer = ET.fromstring(
        world.client.post(
            "/open311/v2/requests.xml", data=replayed, content_type=headers["Content-Type"]
        ).data
    )
    assert xml_answer.tag == "service_requests"
    assert xml_answer.find("request/service_request_id").text.isdigit()  # type: ignore[union-attr]
    assert xml_answer.find("request/account_id") is not None
    made = world.reports()
    assert len(made) == 3
    assert {(r.category, r.text, r.status) for r in made} == {
        ("safety_hazard", "A large sinkhole is destroying the street", "new")
    }
    with world.app.app_context():
        kept = db.session.scalars(
            db.select(AuditEvent.after).where(AuditEvent.action == "open311.request_received")
        ).first()
        db.session.remove()
    assert kept is not None and kept["address_string"] == "1234 5th street"
    assert "smit333@sfgov.edu" not in json.dumps(kept)  # personal data is not kept


def test_a_client_reads_its_own_requests_only(world: World) -> None:
    mine = world.post(**{"attribute[client_token]": "m1"}).get_json()[0]["service_request_id"]
    world.post(service_code="dispute", **{"attribute[client_token]": "m2"})
    theirs = world.post("west", lat=QILIHE[0], long=QILIHE[1]).get_json()[0]
    spec_error(world.get(f"requests/{theirs['service_request_id']}.json"), 404)
    spec_error(world.get("requests/abc.json"), 404)
    spec_error(world.get("requests/99999999999.json"), 404)
    listed = world.get("requests.json").get_json()
    assert {r["service_request_id"] for r in listed} == {mine, str(int(mine) + 1)}
    assert world.get("requests.json", service_code="dispute").get_json()[0]["service_code"] == (
        "dispute"
    )
    by_id = world.get("requests.json", service_request_id=f"{mine},{theirs['service_request_id']}")
    assert [r["service_request_id"] for r in by_id.get_json()] == [mine]
    assert len(world.get("requests.json", status="open").get_json()) == 2
    assert world.get("requests.json", status="closed").get_json() == []
    now = datetime.now(UTC)
    window = {"start_date": (now - timedelta(days=1)).isoformat(), "end_date": now.isoformat()}
    assert len(world.get("requests.json", **window).get_json()) == 2
    old = {"start_date": "2020-01-01T00:00:00Z", "end_date": "2020-02-01T00:00:00Z"}
    assert world.get("requests.json", **old).get_json() == []
    spec_error(
        world.get(
            "requests.json", start_date="2020-01-01T00:00:00Z", end_date="2020-06-01T00:00:00Z"
        ),
        400,
    )
    spec_error(world.get("requests.json", start_date="2020-01-01T00:00:00"), 400)
    spec_error(world.get("requests.json", status="pending"), 400)
    spec_error(world.get("requests.json", service_code="pothole"), 400)


def _report(status: str, **extra: Any) -> Report:
    at = datetime(2026, 11, 10, 4, 0, tzinfo=UTC)
    return Report(status=status, received_at=at, triaged_at=at + timedelta(seconds=2), **extra)


@pytest.mark.parametrize(
    ("status", "incident", "expected"),
    [
        ("new", None, ("open", "new")),
        ("triaged", None, ("open", "triaged")),
        ("verified", None, ("open", "verified")),
        ("dismissed", None, ("closed", "dismissed")),
        ("merged", None, ("closed", "merged")),
        ("promoted", "open", ("open", "incident_open")),
        ("promoted", "dispatched", ("open", "incident_dispatched")),
        ("promoted", "on_scene", ("open", "incident_on_scene")),
        ("promoted", "resolved", ("closed", "resolved")),
        ("promoted", "closed", ("closed", "resolved")),
        ("promoted", "cancelled", ("closed", "cancelled")),
    ],
)
def test_our_statuses_map_to_open_and_closed(
    status: str, incident: str | None, expected: tuple[str, str]
) -> None:
    reviewed = datetime(2026, 11, 10, 5, 0, tzinfo=UTC)
    report = _report(status, reviewed_at=reviewed if status != "new" else None)
    later = datetime(2026, 11, 10, 6, 0, tzinfo=UTC)
    found = Incident(status=incident, updated_at=later) if incident else None
    state, note, updated = request_state(report, found)
    assert (state, note) == expected
    assert updated == (later if incident else reviewed if status != "new" else report.triaged_at)


def test_a_merged_request_reads_as_a_closed_duplicate(world: World) -> None:
    rid = world.post().get_json()[0]["service_request_id"]
    with world.app.app_context():
        report = db.session.get(Report, int(rid))
        assert report is not None
        report.status, report.reviewed_at = "merged", datetime.now(UTC)
        db.session.commit()
        db.session.remove()
    [one] = world.get(f"requests/{rid}.json", lang="en").get_json()
    assert one["status"] == "closed" and one["status_notes"] == "Duplicate request."
    assert world.get("requests.json", status="closed", lang="en").get_json() == [one]
    assert world.get("requests.json", status="open").get_json() == []


# ---------------------------------------------------------------------------- commands


def test_the_commands_manage_clients_and_keys(world: World) -> None:
    runner = world.app.test_cli_runner()
    made = runner.invoke(args=["open311", "add-client", "civic-app", "--area", "620100"])
    assert made.exit_code == 0
    key = made.output.split()[-1]
    assert re.fullmatch(r"gw311_[A-Za-z0-9_-]{43}", key)
    with world.app.app_context():
        stored = db.session.scalar(db.select(ApiClient).where(ApiClient.name == "civic-app"))
        assert (
            stored is not None
            and stored.key_hash == hash_key(key)
            and key not in (stored.key_hash + stored.key_prefix)
        )
        db.session.remove()
    assert world.post(key).status_code == 200  # a city-wide client may post anywhere inside
    for args in (
        ["civic-app", "--area", "620100"],
        ["bad name", "--area", "620100"],
        ["other", "--area", "620199"],
        ["other", "--area", "12"],
    ):
        refused = runner.invoke(args=["open311", "add-client", *args])
        assert refused.exit_code != 0 and "Error" in refused.output, args
    listed = runner.invoke(args=["open311", "list"]).output
    assert "civic-app" in listed and key[:12] in listed and key not in listed
    rotated = runner.invoke(args=["open311", "rotate-key", "civic-app"])
    assert rotated.exit_code == 0
    new_key = rotated.output.split()[-1]
    spec_error(world.post(key), 403)
    assert world.post(new_key).status_code == 200
    assert runner.invoke(args=["open311", "revoke", "nobody"]).exit_code != 0


# ---------------------------------------------------------------------------- triage


@pytest.fixture
def live_lanzhou(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str, database: str
) -> Iterator[Flask]:
    """The app with a real Redis (jobs run in this process by `work`) on the Lanzhou grid."""
    with live_app(tmp_path, monkeypatch, redis_url, lanzhou_grid()) as app:
        yield app


def test_a_request_enters_triage_like_any_report(live_lanzhou: Flask) -> None:
    key = add_client(live_lanzhou, "hotline", "620102")
    client = live_lanzhou.test_client()
    sent = client.post(
        "/open311/v2/requests.json",
        data={
            "api_key": key,
            "service_code": "building_collapse",
            "lat": CENTRE[0],
            "long": CENTRE[1],
            "description": "居民楼倒塌，有人被困",
            "attribute[severity]": "4",
        },
    )
    assert sent.status_code == 200, sent.get_data(as_text=True)
    rid = int(sent.get_json()[0]["service_request_id"])
    with live_lanzhou.app_context():
        work(live_lanzhou)
        report = db.session.get(Report, rid)
        assert report is not None and report.status == "triaged"
        assert report.risk_level is not None and report.risk_score is not None
        db.session.remove()
    [one] = client.get(f"/open311/v2/requests/{rid}.json?api_key={key}&lang=en").get_json()
    conforms("request.json", one)
    assert one["status"] == "open"
    assert one["status_notes"] == "Triaged; waiting for the command room to review it."
