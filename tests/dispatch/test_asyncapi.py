"""docs/asyncapi.yaml: current, complete, valid AsyncAPI 3.0, and true to real traffic.

Valid means: it passes the official AsyncAPI 3.0.0 JSON Schema (from the AsyncAPI
Initiative's @asyncapi/specs, Apache-2.0, vendored under data/asyncapi/ for this test only)
with `jsonschema`, every `$ref` in it resolves, and every payload schema is a valid JSON
Schema. True to traffic means: a run through every event, with a cleared and a limited
operator, checks each payload and acknowledgement the server really sends against the
document, and against the models (which refuse unknown fields).
"""

from __future__ import annotations

import copy
import inspect
import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import time_machine
import yaml
from flask import Flask
from pydantic import BaseModel

from dispatch import create_app
from dispatch.errors import GridwatchError
from dispatch.extensions import db, socketio
from dispatch.models import User, utcnow
from dispatch.realtime import handlers, names
from dispatch.realtime import payloads as p
from dispatch.realtime.asyncapi import CHANNELS, RECEIVE, REF, REGENERATE, SEND, document
from dispatch.schemas import TeamCreate
from dispatch.services import areas, auth, privacy, teams, triage
from tests.conftest import SHARED_DATA
from tests.dispatch.test_jurisdiction import E_CELLS, EAST, two_counties

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "asyncapi.yaml"
SPEC_SCHEMA = Path(__file__).parent / "data" / "asyncapi" / "asyncapi-3.0.0.json"
SPECIAL = {"connect", "disconnect", "*"}
CAP_SAMPLES = SHARED_DATA / "cap" / "valid"


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return document()


def test_the_committed_document_is_current(doc: dict[str, Any]) -> None:
    committed = yaml.safe_load(COMMITTED.read_text(encoding="utf-8"))
    assert committed == doc, f"docs/asyncapi.yaml is out of date: regenerate it with {REGENERATE}"


def test_the_document_is_valid_asyncapi_3(doc: dict[str, Any]) -> None:
    spec = json.loads(SPEC_SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(spec)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]
    assert errors == []
    # The official schema does bite: a 2.x-style operation is refused.
    broken = copy.deepcopy(doc)
    next(iter(broken["operations"].values()))["action"] = "publish"
    assert not validator.is_valid(broken)


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        here = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return here + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


NEWER_KEYWORDS = {"$defs", "prefixItems", "dependentRequired", "unevaluatedProperties"}


def _keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node).union(*(_keys(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_keys(v) for v in node))
    return set()


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_every_reference_resolves_and_every_schema_is_valid(doc: dict[str, Any]) -> None:
    refs = _refs(doc)
    assert len(refs) > 100
    for ref in refs:
        _resolve(doc, ref)  # a KeyError names the dangling reference
    for name, schema in doc["components"]["schemas"].items():
        # pydantic writes JSON Schema 2020-12; AsyncAPI's default schema format is a superset
        # of draft 7. These schemas are valid in both, and use nothing draft 7 lacks.
        for validator in (jsonschema.Draft202012Validator, jsonschema.Draft7Validator):
            try:
                validator.check_schema(schema)
            except jsonschema.SchemaError as exc:
                raise AssertionError(f"components.schemas.{name}: {exc.message}") from exc
        assert not NEWER_KEYWORDS & _keys(schema), name
    # An operation's messages and reply are its channel's (AsyncAPI 3.0 requires it).
    for key, op in doc["operations"].items():
        for ref in op["messages"] + op.get("reply", {}).get("messages", []):
            assert ref["$ref"].startswith(op["channel"]["$ref"] + "/messages/"), key
            assert op.get("reply", op)["channel"] == op["channel"], key


def _schema_of(handler: Any) -> type[BaseModel] | None:
    """The pydantic model a registered Socket.IO handler validates with (see
    realtime.handlers.event_handler): unwrap Flask-SocketIO's wrapper, read the closure."""
    wrapper = handler.__wrapped__
    schema = inspect.getclosurevars(wrapper).nonlocals["schema"]
    return schema  # type: ignore[no-any-return]


def test_every_handler_is_documented_with_the_schema_it_validates_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, doc: dict[str, Any]
) -> None:
    monkeypatch.setenv("GRIDWATCH_INSTANCE", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    create_app({"TESTING": True})
    registered = {
        (namespace, event): _schema_of(handler)
        for namespace, handlers in socketio.server.handlers.items()
        for event, handler in handlers.items()
        if event not in SPECIAL
    }
    documented = {(r.namespace, r.event): r.payload for r in RECEIVE}
    assert set(registered) == set(documented), "realtime/asyncapi.py RECEIVE != the handlers"
    assert registered == documented, "a handler validates with another schema than documented"
    assert set(socketio.server.handlers) == set(CHANNELS)


def test_every_event_name_is_in_the_document(doc: dict[str, Any]) -> None:
    """names.py owns the event names: each is a documented client or server event."""
    events = {
        value
        for key, value in vars(names).items()
        if key.isupper() and isinstance(value, str) and ":" in value
    }
    in_doc = {m["name"] for m in doc["components"]["messages"].values() if "name" in m}
    assert events - in_doc == set(), "events of realtime/names.py missing from the document"
    assert in_doc - events == set()
    # A client→server event is never also sent by the server in the same namespace.
    assert not {(r.namespace, r.event) for r in RECEIVE} & {(e.namespace, e.event) for e in SEND}


def _model_schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=REF)
    schema.pop("$defs", None)
    return schema


def test_payload_schemas_are_the_models(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    messages = doc["components"]["messages"]
    for r in RECEIVE:
        key = f"{CHANNELS[r.namespace]}.{r.event.replace(':', '_')}"
        assert messages[key]["name"] == r.event
        assert messages[key]["payload"] == {"$ref": REF.format(model=r.payload.__name__)}
        assert schemas[r.payload.__name__] == _model_schema(r.payload), r.event
        ack = messages[f"{key}.ack"]["payload"]["oneOf"]
        assert ack == [
            {"$ref": REF.format(model=r.ack.__name__)},
            {"$ref": REF.format(model="ErrorAck")},
        ]
        assert schemas[r.ack.__name__] == _model_schema(r.ack)
        op = doc["operations"][key]
        assert op["action"] == "receive"
        assert op["reply"]["messages"] == [
            {"$ref": f"#/channels/{CHANNELS[r.namespace]}/messages/{key.split('.', 1)[1]}.ack"}
        ]
    for e in SEND:
        key = f"{CHANNELS[e.namespace]}.{e.event.replace(':', '_')}"
        payload = messages[key]["payload"]
        ref = {"$ref": REF.format(model=e.payload.__name__)}
        if e.namespace == names.OPERATOR:  # coalesced lists (PROTOCOL.md)
            assert payload["oneOf"][0] == ref and payload["oneOf"][1]["items"] == ref
        else:
            assert payload == ref
        assert schemas[e.payload.__name__] == _model_schema(e.payload), e.event
        assert doc["operations"][f"{key}.send"]["action"] == "send"


def test_error_codes_are_all_documented() -> None:
    def family(cls: type[GridwatchError]) -> set[str]:
        return {cls.code}.union(*(family(sub) for sub in cls.__subclasses__()))

    codes = family(GridwatchError) - {"error"} | {"internal", "unknown_event"}
    assert codes == set(p.ERROR_CODES)
    documented = set(p.AckError.model_json_schema()["properties"]["code"]["enum"])
    assert documented == codes


def test_redacted_fields_are_optional_in_the_report_model() -> None:
    required = set(p.ReportView.model_json_schema()["required"])
    assert not required & privacy.SENSITIVE_FIELDS
    assert set(p.ReportView.model_fields) >= privacy.SENSITIVE_FIELDS


# ---- real traffic ------------------------------------------------------------------------

OK_MODELS = {(r.namespace, r.event): r.ack for r in RECEIVE}
SEND_MODELS = {(e.namespace, e.event): e.payload for e in SEND}


class Checker:
    """Checks every payload and acknowledgement against the document and the models."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.seen: set[tuple[str, str]] = set()
        self.acks: set[tuple[str, str, bool]] = set()

    def _validate(self, schema: dict[str, Any], instance: Any, what: str) -> None:
        root = {**schema, "components": self.doc["components"]}
        errors = [e.message for e in jsonschema.Draft202012Validator(root).iter_errors(instance)]
        assert errors == [], (what, instance)

    def _message(self, namespace: str, key: str) -> dict[str, Any]:
        message = self.doc["components"]["messages"][f"{CHANNELS[namespace]}.{key}"]
        return message  # type: ignore[no-any-return]

    def received(self, client: Any, namespace: str) -> list[dict[str, Any]]:
        got = client.get_received(namespace)
        for item in got:
            event = item["name"]
            assert (namespace, event) in SEND_MODELS, f"{namespace} {event} is not documented"
            [payload] = item["args"]
            message = self._message(namespace, event.replace(":", "_"))
            self._validate(message["payload"], payload, f"{namespace} {event}")
            model = SEND_MODELS[(namespace, event)]
            for one in payload if isinstance(payload, list) else [payload]:
                model.model_validate(one)  # no field the model lacks
            self.seen.add((namespace, event))
        return got  # type: ignore[no-any-return]

    def emit(self, client: Any, namespace: str, event: str, payload: Any) -> dict[str, Any]:
        ack = client.emit(event, payload, namespace=namespace, callback=True)
        if (namespace, event) in OK_MODELS:
            message = self._message(namespace, event.replace(":", "_") + ".ack")
            self._validate(message["payload"], ack, f"{namespace} {event} ack")
        else:  # an unknown event is answered like any refusal
            self._validate({"$ref": REF.format(model="ErrorAck")}, ack, f"{event} ack")
        model = OK_MODELS.get((namespace, event), p.ErrorAck) if ack["ok"] else p.ErrorAck
        model.model_validate(ack)
        self.acks.add((namespace, event, bool(ack["ok"])))
        return ack  # type: ignore[no-any-return]


def _payloads(got: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in got:
        if item["name"] == event:
            [payload] = item["args"]
            out.extend(payload if isinstance(payload, list) else [payload])
    return out


def test_real_traffic_matches_the_document(
    app: Flask, doc: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Informants' sockets keep a copy of their user for a minute, by id: not another test's.
    monkeypatch.setattr(handlers, "_user_cache", {})
    with app.app_context():
        areas.save_areas(two_counties())
        for name, role, area in (
            ("op-e", "operator", EAST),  # county level: cleared for sensitive reports
            ("op-t", "operator", f"{EAST}001"),  # township level: limited
            ("admin", "admin", "620100"),
        ):
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
        auth.create_user(
            username="lead-e", password="x", role="team_leader", area_code=EAST, password_hash="x"
        )
        team_id = teams.create_team(
            None,
            TeamCreate(
                name="e-志愿队",
                kind="volunteer",
                capabilities=["fire", "rescue"],
                area_code=f"{EAST}001001",
                base_lat=0.5,
                base_lon=0.5,
                leader="lead-e",
            ),
        )["team"]["id"]
        db.session.commit()
        tokens = {u.username: auth.issue_token(u) for u in db.session.scalars(db.select(User))}

    def connect(who: str, namespace: str) -> Any:
        client = socketio.test_client(app, namespace=namespace, auth={"token": tokens[who]})
        assert client.is_connected(namespace), (who, namespace)
        return client

    INF, OPS, TEAM = names.INFORMANT, names.OPERATOR, names.TEAM
    informant, cleared, limited = connect("inf-e", INF), connect("op-e", OPS), connect("op-t", OPS)
    leader = connect("lead-e", TEAM)
    city = connect("admin", OPS)  # the city sees every alert received
    check = Checker(doc)

    def drain() -> None:
        check.received(informant, INF)
        check.received(leader, TEAM)

    def report(category: str, text: str, lon: float) -> int:
        body = {"client_id": str(uuid.uuid4()), "category": category, "text": text}
        ack = check.emit(informant, INF, names.REPORT_SUBMIT, {**body, "lat": 0.5, "lon": lon})
        assert ack["ok"], ack
        return int(ack["report"]["id"])

    fire = report("fire", "仓库起火", 0.5)
    petition = report("petition", "上访-秘密-4411", 1.5)
    queued = report("dispute", "邻里纠纷", 2.5)
    again = check.emit(informant, INF, names.CHECKIN_SUBMIT, {"client_id": str(uuid.uuid4())})
    assert again["ok"], again
    with app.app_context():
        for report_id in (fire, petition, queued):
            triage.triage_report(report_id)
    seen_limited = check.received(limited, OPS)
    seen_cleared = check.received(cleared, OPS)
    drain()
    # The limited operator's copy of the petition is redacted, the cleared one's is not.
    assert [r for r in _payloads(seen_limited, names.REPORT_NEW) if r["report"].get("redacted")]
    assert "上访-秘密-4411" not in json.dumps(seen_limited, ensure_ascii=False)
    assert "上访-秘密-4411" in json.dumps(seen_cleared, ensure_ascii=False)
    assert [t for t in _payloads(seen_limited, names.REPORT_TRIAGED) if t.get("redacted")]

    for event, payload in (
        (names.REPORT_CLAIM, {"report_id": petition}),
        (names.REPORT_RELEASE, {"report_id": petition}),
        (names.REPORT_REVIEW, {"report_id": petition, "action": "verify"}),
        (names.INCIDENT_CREATE, {"report_ids": [fire], "title": "仓库火灾"}),
    ):
        ack = check.emit(cleared, OPS, event, payload)
        assert ack["ok"], (event, ack)
    incident = int(ack["incident"]["id"])
    ack = check.emit(
        cleared, OPS, names.INCIDENT_DISPATCH, {"incident_id": incident, "team_id": team_id}
    )
    assert ack["ok"], ack
    task = int(ack["task"]["id"])
    drain()
    for event, payload in (
        (names.TASK_ACK, {"task_id": task}),
        (names.TASK_STATUS, {"task_id": task, "status": "en_route"}),
        (names.TEAM_POSITION, {"lat": 0.5, "lon": 0.6}),
        (names.TASK_STATUS, {"task_id": task, "status": "on_scene"}),
        (names.TASK_STATUS, {"task_id": task, "status": "completed"}),
        (names.TEAM_STATUS, {"status": "available"}),
    ):
        ack = check.emit(leader, TEAM, event, payload)
        assert ack["ok"], (event, ack)
    # The completed task resolved the incident; close it. A second one is resolved by
    # hand, a third stopped and cancelled.
    assert check.emit(cleared, OPS, names.INCIDENT_CLOSE, {"incident_id": incident})["ok"]
    second = report("fire", "又起火", 4.5)
    third = report("fire", "第三处", 3.5)
    with app.app_context():
        triage.triage_report(second)
        triage.triage_report(third)
    for report_id, event, extra in (
        (second, names.INCIDENT_RESOLVE, {"note": "已扑灭"}),
        (third, names.INCIDENT_STOP_CASCADE, {}),
        (third, names.INCIDENT_CANCEL, {"reason": "误报"}),
    ):
        made = check.emit(cleared, OPS, names.INCIDENT_CREATE, {"report_ids": [report_id]})
        made_id = made["incident"]["id"] if made["ok"] else incident_of(app, report_id)
        if event == names.INCIDENT_RESOLVE:  # offered first, and declined
            offer = {"incident_id": made_id, "team_id": team_id}
            offered = check.emit(cleared, OPS, names.INCIDENT_DISPATCH, offer)
            assert offered["ok"], offered
            no = {"task_id": offered["task"]["id"], "reason": "车辆故障"}
            assert check.emit(leader, TEAM, names.TASK_DECLINE, no)["ok"]
        ack = check.emit(cleared, OPS, event, {"incident_id": made_id, **extra})
        assert ack["ok"], (event, ack)
    # Refusals: a bad payload, a wrong state, an unknown event.
    bad = check.emit(cleared, OPS, names.REPORT_REVIEW, {"report_id": "x", "action": "verify"})
    assert bad["error"]["code"] == "validation_failed" and bad["error"]["field"] == "report_id"
    late = check.emit(leader, TEAM, names.TASK_ACK, {"task_id": task})
    assert late["error"]["code"] in {"invalid_transition", "not_found"}
    unknown = check.emit(informant, INF, "report:teleport", {})
    assert unknown["error"]["code"] == "unknown_event"
    # The dispute report is never reviewed: past its deadline it is escalated.
    with app.app_context(), time_machine.travel(utcnow() + timedelta(days=1), tick=False):
        assert triage.escalate_overdue() >= 1
    # An alert from the public alerting chain.
    with app.app_context():
        from dispatch.services import cap

        cap.import_alert(
            None, (CAP_SAMPLES / "oasis-appendix-A2-thunderstorm-polygon.xml").read_bytes()
        )
    assert _payloads(check.received(city, OPS), names.CAP_ALERT)
    # Sign-ins end: every namespace hears it. (The watcher that closes such sockets waits,
    # so that the message is read first.)
    monkeypatch.setattr(handlers, "drop_revoked", lambda app: 0)
    with app.app_context():
        for who in ("inf-e", "op-e", "op-t", "lead-e"):
            auth.revoke_tokens(None, who)
    check.received(cleared, OPS)
    check.received(limited, OPS)
    drain()

    documented = {(e.namespace, e.event) for e in SEND}
    assert check.seen == documented, f"never sent: {documented - check.seen}"
    assert {(ns, ev) for ns, ev, ok in check.acks if ok} == {
        (r.namespace, r.event) for r in RECEIVE
    }
    for client, namespace in (
        (informant, INF),
        (cleared, OPS),
        (limited, OPS),
        (leader, TEAM),
        (city, OPS),
    ):
        if client.is_connected(namespace):
            client.disconnect(namespace=namespace)


def incident_of(app: Flask, report_id: int) -> int:
    """A report that joined an open incident of the same event: that incident."""
    from dispatch.models import Report

    with app.app_context():
        found = db.session.get(Report, report_id)
        assert found is not None and found.incident_id is not None
        return int(found.incident_id)
