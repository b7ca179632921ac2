"""Bad input gets a clear error, writes nothing, and leaves the connection usable."""

from __future__ import annotations

import uuid

import pytest
import requests
import socketio

from tests.conftest import Server
from tests.integration.clients import Recorder


def count_reports(server: Server) -> int:
    return len(server.api("GET", "/api/reports?limit=5000", "operator").json())


GOOD = {"category": "fire", "text": "起火", "lat": 36.0611, "lon": 103.8343}

BAD_PAYLOADS = [
    ("not an object", "hello", "payload"),
    ("a list", [1, 2, 3], "payload"),
    ("no client_id", dict(GOOD), "client_id"),
    ("unknown category", {**GOOD, "category": "alien_invasion"}, "category"),
    ("lat is a string", {**GOOD, "lat": "north"}, "lat"),
    ("lat out of range", {**GOOD, "lat": 91.0}, "lat"),
    ("lon out of range", {**GOOD, "lon": -181}, "lon"),
    ("lat is a bool", {**GOOD, "lat": True}, "lat"),
    ("severity 9", {**GOOD, "severity": 9}, "severity"),
    ("text too long", {**GOOD, "text": "火" * 2001}, "text"),
    ("oversized text", {**GOOD, "text": "x" * 200_000}, "text"),
    ("unknown field", {**GOOD, "admin": True}, "admin"),
    ("client_id not a uuid", {**GOOD, "client_id": "abc"}, "client_id"),
]


@pytest.mark.parametrize(
    ("name", "payload", "field"), BAD_PAYLOADS, ids=[b[0] for b in BAD_PAYLOADS]
)
def test_bad_report_is_refused(
    server: Server, informant: Recorder, name: str, payload: object, field: str
) -> None:
    before = count_reports(server)
    if isinstance(payload, dict) and "client_id" not in payload and field != "client_id":
        payload = {**payload, "client_id": str(uuid.uuid4())}
    ack = informant.call("report:submit", payload)
    assert ack["ok"] is False
    assert ack["error"]["code"] == "validation_failed"
    assert ack["error"]["field"].startswith(field)
    assert ack["error"]["message"]
    assert count_reports(server) == before
    # The connection is still usable.
    good = informant.call("report:submit", {**GOOD, "client_id": str(uuid.uuid4())})
    assert good["ok"] is True


def test_unknown_event_is_answered(server: Server, informant: Recorder) -> None:
    ack = informant.call("report:explode", {"x": 1})
    assert ack["ok"] is False and ack["error"]["code"] == "unknown_event"
    assert informant.call("report:submit", {**GOOD, "client_id": str(uuid.uuid4())})["ok"]


def test_connect_without_token_is_refused(server: Server) -> None:
    with pytest.raises(socketio.exceptions.ConnectionError):
        Recorder(server.url, "/informant", None)
    with pytest.raises(socketio.exceptions.ConnectionError):
        Recorder(server.url, "/operator", "forged.token")


def test_token_for_wrong_role_is_refused(server: Server) -> None:
    with pytest.raises(socketio.exceptions.ConnectionError):
        Recorder(server.url, "/operator", server.token("informant"))
    with pytest.raises(socketio.exceptions.ConnectionError):
        Recorder(server.url, "/team", server.token("operator"))


def test_informant_cannot_dispatch_over_rest(server: Server) -> None:
    r = server.api("POST", "/api/incidents/1/dispatch", "informant", json={"team_id": 1})
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "forbidden"


def test_wrong_password_is_401(server: Server) -> None:
    r = requests.post(
        f"{server.url}/api/auth/token",
        json={"username": "operator", "password": "nope"},
        timeout=10,
    )
    assert r.status_code == 401
    assert r.json() == {"error": {"code": "unauthorized", "message": "wrong username or password"}}
    r = requests.post(
        f"{server.url}/api/auth/token", json={"username": "nobody", "password": "nope"}, timeout=10
    )
    assert r.status_code == 401


def test_rest_bad_body(server: Server) -> None:
    r = server.api(
        "POST",
        "/api/reports",
        "informant",
        data="{not json",
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_failed"
    r = requests.get(f"{server.url}/api/reports", timeout=10)
    assert r.status_code == 401


def test_health(server: Server) -> None:
    r = requests.get(f"{server.url}/api/health", timeout=10)
    assert r.json() == {"status": "ok", "database": "ok", "redis": "ok"}
