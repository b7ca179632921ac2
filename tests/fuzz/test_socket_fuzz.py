"""Socket fuzzer: hostile payloads on every event, from real clients of every role.

Each role connects to each namespace (only its own lets it in). On the namespaces it may
use, every client-to-server event gets wrong types, no or several arguments, strings past
their limits, deep nesting, NaN and Infinity, binary, unknown fields and events, and
random payloads that the event's schema refuses. Every one must be answered with an
error ack `{ok: false, error: {code, message}}`, the same socket must keep answering, and
not one row may be written.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import socketio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from dispatch import schemas
from dispatch.realtime import names
from tests.conftest import ROOT, Server
from tests.fuzz.conftest import FUZZ_EXAMPLES
from tests.fuzz.strategies import hostile_payloads, json_values
from tests.integration.clients import Recorder

# Who may use which namespace (dispatch/realtime/handlers.py NAMESPACE_ROLES).
ROLES = {
    "informant": names.INFORMANT,
    "operator": names.OPERATOR,
    "supervisor": names.OPERATOR,
    "admin": names.OPERATOR,
    "leader": names.TEAM,
}
# Every client-to-server event, with the schema it validates against; checked against the
# handlers the app registers, so a new event cannot go unfuzzed.
EVENTS: dict[tuple[str, str], type[BaseModel]] = {
    (names.INFORMANT, names.REPORT_SUBMIT): schemas.ReportSubmit,
    (names.INFORMANT, names.CHECKIN_SUBMIT): schemas.CheckInSubmit,
    (names.OPERATOR, names.REPORT_REVIEW): schemas.ReportReview,
    (names.OPERATOR, names.REPORT_CLAIM): schemas.ReportRef,
    (names.OPERATOR, names.REPORT_RELEASE): schemas.ReportRef,
    (names.OPERATOR, names.INCIDENT_CREATE): schemas.IncidentCreate,
    (names.OPERATOR, names.INCIDENT_DISPATCH): schemas.IncidentDispatch,
    (names.OPERATOR, names.INCIDENT_CANCEL): schemas.IncidentCancel,
    (names.OPERATOR, names.INCIDENT_RESOLVE): schemas.IncidentNote,
    (names.OPERATOR, names.INCIDENT_CLOSE): schemas.IncidentRef,
    (names.OPERATOR, names.INCIDENT_STOP_CASCADE): schemas.IncidentRef,
    (names.TEAM, names.TEAM_STATUS): schemas.TeamStatusChange,
    (names.TEAM, names.TASK_ACK): schemas.TaskRef,
    (names.TEAM, names.TASK_DECLINE): schemas.TaskDecline,
    (names.TEAM, names.TASK_STATUS): schemas.TaskStatusChange,
    (names.TEAM, names.TEAM_POSITION): schemas.TeamPosition,
}
NOWHERE = schemas.MAX_ID  # an id no row has
# A payload of the right shape, one per schema; the hostile ones are made from these.
SHAPES: dict[type[BaseModel], dict[str, Any]] = {
    schemas.ReportSubmit: {
        "client_id": "7d4f2a9e-0b7c-4f0e-9a55-4d7c1f0f6a01",
        "category": "fire",
        "text": "起火",
        "lat": 36.0611,
        "lon": 103.8343,
        "severity": 3,
    },
    schemas.CheckInSubmit: {"client_id": "7d4f2a9e-0b7c-4f0e-9a55-4d7c1f0f6a02", "lat": 36.06},
    schemas.ReportReview: {"report_id": NOWHERE, "action": "dismiss", "note": "误报"},
    schemas.ReportRef: {"report_id": NOWHERE},
    schemas.IncidentCreate: {"report_ids": [NOWHERE], "title": "火情"},
    schemas.IncidentDispatch: {"incident_id": NOWHERE, "team_id": NOWHERE},
    schemas.IncidentCancel: {"incident_id": NOWHERE, "reason": "重复"},
    schemas.IncidentNote: {"incident_id": NOWHERE, "note": "已处理"},
    schemas.IncidentRef: {"incident_id": NOWHERE},
    schemas.TeamStatusChange: {"status": "off_duty"},
    schemas.TaskRef: {"task_id": NOWHERE},
    schemas.TaskDecline: {"task_id": NOWHERE, "reason": "在途"},
    schemas.TaskStatusChange: {"task_id": NOWHERE, "status": "en_route"},
    schemas.TeamPosition: {"lat": 36.06, "lon": 103.83},
}
# Schema-valid payloads that name nothing: refused by the service, not the schema.
NAMES_NOTHING = {schemas.ReportReview, schemas.ReportRef, schemas.IncidentCreate,
                 schemas.IncidentDispatch, schemas.IncidentCancel, schemas.IncidentNote,
                 schemas.IncidentRef, schemas.TaskRef, schemas.TaskDecline,
                 schemas.TaskStatusChange}  # fmt: skip
TABLES = ("reports", "incidents", "tasks", "audit_events", "checkins", "photos", "teams")
NO_PAYLOAD = object()  # the event with no argument at all


def _nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for i in range(depth):
        value = {"a": value} if i % 2 else [value]
    return value


HOSTILE_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    2**31,
    10**40,
    1.5,
    math.nan,
    math.inf,
    -math.inf,
    "",
    " ",
    "x" * 2001,
    "x" * 200_000,  # under the 256 KB event limit (test_limits.py goes past it)
    "火" * 30_000,  # sent as \uXXXX escapes: 180 KB
    "\x00\ud800",
    [],
    [1, "2", None],
    {},
    {"$gt": ""},
    b"\x00\xff binary",
    _nested(150),
]


def hostile_cases(model: type[BaseModel], *, fields: bool = True) -> Iterator[tuple[str, Any]]:
    """(what, payload) pairs for one event, the whole payload hostile and then (`fields`)
    each field in turn."""
    yield "no argument", NO_PAYLOAD
    yield "two arguments", (SHAPES[model], SHAPES[model])
    yield "three arguments", ({}, [], "x")
    yield "a null argument", (None,)
    for value in HOSTILE_VALUES:
        if not isinstance(value, dict) or value == {}:
            yield f"the payload is {_label(value)}", value if value is not None else (None,)
    yield "an unknown field", {**SHAPES[model], "is_admin": True}
    yield "the payload nested 150 deep", _nested(150, SHAPES[model])
    if not fields:
        return
    for field in model.model_fields:
        yield f"{field} missing", {k: v for k, v in SHAPES[model].items() if k != field}
        for value in HOSTILE_VALUES:
            yield f"{field} = {_label(value)}", {**SHAPES[model], field: value}


def _label(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 30 else f"{type(value).__name__} of {len(text)} characters"


def _refused_by_schema(model: type[BaseModel], payload: Any) -> bool:
    if payload is NO_PAYLOAD or isinstance(payload, tuple):
        return True
    if not isinstance(payload, dict):
        return True
    try:
        model.model_validate(payload)
    except ValidationError:
        return True
    return False


class Fuzzer:
    """Connected clients of every role, the server's database, and a tally."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.database = server.instance / "gridwatch.db"
        self.clients = {
            role: Recorder(server.url, namespace, server.token(role))
            for role, namespace in ROLES.items()
        }
        self.sids = {role: c.sio.get_sid(c.namespace) for role, c in self.clients.items()}
        self.sent = 0
        self.baseline = self.settle()

    def send(self, role: str, event: str, payload: Any) -> Any:
        client = self.clients[role]
        self.sent += 1
        data = None if payload is NO_PAYLOAD else payload
        return client.sio.call(event, data, namespace=client.namespace, timeout=10)

    def assert_alive(self, role: str) -> None:
        """The same socket (same sid, no reconnect) still answers."""
        client = self.clients[role]
        ack = self.send(role, "fuzz:probe", {})
        assert ack["ok"] is False and ack["error"]["code"] == "unknown_event"
        assert client.sio.connected and client.sio.get_sid(client.namespace) == self.sids[role]

    def counts(self) -> dict[str, int]:
        with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=15) as db:
            counts = {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
            # The monthly bulletin's job may run at any sweep; it is nobody's payload.
            counts["audit_events"] -= db.execute(
                "SELECT count(*) FROM audit_events WHERE action = 'bulletin.prepared'"
            ).fetchone()[0]
            return counts

    def settle(self, timeout: float = 40) -> dict[str, int]:
        """Row counts once the worker has nothing left to do (the start-up sweep)."""
        deadline = time.monotonic() + timeout
        last, stable_since = self.counts(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = self.counts()
            if now != last:
                last, stable_since = now, time.monotonic()
            elif time.monotonic() - stable_since >= 3:
                return now
        raise AssertionError(f"the server kept writing: {last}")

    def close(self) -> None:
        for client in self.clients.values():
            client.close()


@pytest.fixture(scope="module")
def fuzzer(quiet_server: Server) -> Iterator[Fuzzer]:
    # Socket.IO keeps one JSON module per process for servers and clients alike, and an app
    # made in this process (another test's) installs Gridwatch's orjson, which writes NaN as
    # null. A hostile client sends what the standard library writes: NaN as NaN.
    packet = socketio.packet.Packet
    chosen = packet.json
    packet.json = json
    fuzzer = Fuzzer(quiet_server)
    try:
        yield fuzzer
    finally:
        packet.json = chosen
    fuzzer.close()
    record = ROOT / "test-artifacts" / "socket-fuzz.json"
    record.parent.mkdir(exist_ok=True)
    record.write_text(json.dumps({"payloads_sent": fuzzer.sent}) + "\n")


def _assert_error_ack(ack: Any, codes: set[str]) -> None:
    assert isinstance(ack, dict) and ack.get("ok") is False, ack
    error = ack["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str), ack
    assert error["message"], ack
    assert error["code"] in codes, ack


def test_every_event_is_fuzzed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDWATCH_INSTANCE", str(tmp_path))
    from dispatch import create_app
    from dispatch.extensions import socketio as app_socketio

    create_app()
    registered = {
        (namespace, event)
        for namespace, handlers in app_socketio.server.handlers.items()
        for event in handlers
        if event not in {"connect", "disconnect", "*"}
    }
    assert registered == set(EVENTS)
    assert set(SHAPES) == set(EVENTS.values())


def test_each_role_may_use_only_its_own_namespace(quiet_server: Server) -> None:
    for role, own in ROLES.items():
        for namespace in (names.INFORMANT, names.OPERATOR, names.TEAM):
            if namespace == own:
                Recorder(quiet_server.url, namespace, quiet_server.token(role)).close()
                continue
            with pytest.raises(socketio.exceptions.ConnectionError):
                Recorder(quiet_server.url, namespace, quiet_server.token(role))


@pytest.mark.parametrize(
    "auth", ["a string", {"token": 123}, {"token": "x" * 100_000}, {"token": None}, _nested(100)]
)
def test_hostile_credentials_are_refused(quiet_server: Server, auth: Any) -> None:
    client = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(
            quiet_server.url, namespaces=[names.INFORMANT], transports=["websocket"], auth=auth
        )
    client.disconnect()


def test_hostile_payloads_on_every_event(fuzzer: Fuzzer) -> None:
    first_of_namespace = {namespace: role for role, namespace in reversed(ROLES.items())}
    for role, namespace in ROLES.items():
        for (event_namespace, event), model in EVENTS.items():
            if event_namespace != namespace:
                # Another namespace's event is unknown here, whatever it carries.
                ack = fuzzer.send(role, event, SHAPES[model])
                _assert_error_ack(ack, {"unknown_event"})
                continue
            # Validation comes before any role check: each field once per namespace is enough.
            fields = first_of_namespace[namespace] == role
            for _what, payload in hostile_cases(model, fields=fields):
                if not _refused_by_schema(model, payload):
                    continue  # a hostile value that happens to be valid here
                ack = fuzzer.send(role, event, payload)
                _assert_error_ack(ack, {"validation_failed"})
            if model in NAMES_NOTHING:
                ack = fuzzer.send(role, event, SHAPES[model])
                _assert_error_ack(ack, {"not_found", "forbidden", "invalid_transition"})
            fuzzer.assert_alive(role)
        ack = fuzzer.send(role, "no:such:event", {"x": 1})
        _assert_error_ack(ack, {"unknown_event"})
        fuzzer.assert_alive(role)
    assert fuzzer.counts() == fuzzer.baseline


SOCKET_EVENTS = sorted(
    (role, event, model)
    for role, namespace in ROLES.items()
    for (event_namespace, event), model in EVENTS.items()
    if event_namespace == namespace
)


@settings(
    max_examples=FUZZ_EXAMPLES or 150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_random_payloads(fuzzer: Fuzzer, data: st.DataObject) -> None:
    role, event, model = data.draw(st.sampled_from(SOCKET_EVENTS))
    payload = data.draw(
        hostile_payloads(model).filter(lambda p: _refused_by_schema(model, p))
        | st.lists(json_values, min_size=2, max_size=3).map(tuple)
    )
    ack = fuzzer.send(role, event, payload)
    _assert_error_ack(ack, {"validation_failed"})


# Frames no Socket.IO client would send: the server cannot read an event (nor an ack id) in
# them, so there is nothing to answer; it must drop them and keep the connection.
RAW_FRAMES = [
    '42/informant,1["report:submit",' + "[" * 50_000 + "]" * 50_000 + "]",
    '42/informant,2["report:submit",' + '{"a":' * 30_000 + "1" + "}" * 30_000 + "]",
    '42/informant,3["report:submit",{]',
    "42/informant,4[]",
    '42/informant,6{"a":1}',
    '451-/informant,8["report:submit",{"_placeholder":true,"num":0}]',
    '42/nowhere,9["report:submit",{}]',
    '49/informant,10["x"]',
    '42/informant,12["report:submit",{"lat":' + "9" * 5000 + "}]",
]


def test_frames_that_are_not_socket_io_packets(fuzzer: Fuzzer) -> None:
    import websocket

    url = fuzzer.server.url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
    ws = websocket.create_connection(url, timeout=10)
    try:
        assert ws.recv().startswith("0{")
        ws.send("40/informant," + json.dumps({"token": fuzzer.server.token("informant")}))
        assert ws.recv().startswith("40/informant,")
        probe = 1000
        for frame in RAW_FRAMES:
            fuzzer.sent += 1
            ws.send(frame)
            answered = False
            while not answered:
                # A binary event waits for its attachment and takes the next frame as one,
                # probe included; it is answered under its own id, and we probe again.
                probe += 1
                ws.send(f'42/informant,{probe}["fuzz:probe",{{}}]')
                while True:
                    message = ws.recv()
                    if message == "2":
                        ws.send("3")  # engine.io ping
                    elif message.startswith(f"43/informant,{probe}["):
                        assert '"unknown_event"' in message
                        answered = True
                        break
                    elif message.startswith("43/informant,"):
                        assert '"ok":false' in message, message
                        break
    finally:
        ws.close()
    assert fuzzer.counts() == fuzzer.baseline


def test_nothing_written_and_every_socket_alive(fuzzer: Fuzzer) -> None:
    for role in ROLES:
        fuzzer.assert_alive(role)
    assert fuzzer.settle() == fuzzer.baseline
    log = (fuzzer.server.instance / "serve.log").read_text(errors="replace")
    assert "internal error" not in log and "error in /" not in log
