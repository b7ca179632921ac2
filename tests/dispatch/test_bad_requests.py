"""Requests the REST fuzzer found answered with a server error: now a clear 4xx."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from dispatch.extensions import db
from dispatch.models import User
from dispatch.services import areas, auth
from tests.dispatch.test_informants import small_grid


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    with app.app_context():
        areas.save_areas(small_grid())
        auth.create_user(username="op", password="x", role="operator", password_hash="x")
        user = db.session.scalar(db.select(User).where(User.username == "op"))
        token = auth.issue_token(user)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/tasks/1/decline", [1]),
        ("/api/tasks/1/status", "en_route"),
        ("/api/reports/1/review", "ab"),
        ("/api/reports/1/review", [["action", "verify"]]),
        ("/api/followups/1/close", 7),
    ],
)
def test_a_body_that_is_not_an_object(client: FlaskClient, path: str, body: object) -> None:
    r = client.post(path, json=body)  # these were 500s
    assert r.status_code in (404, 422) and r.json["error"]["code"] in (
        "not_found",
        "validation_failed",
    )


@pytest.mark.parametrize(
    "path",
    [
        "/api/reports/99999999999999999999999",  # past SQLite's 64 bits
        "/api/incidents/2147483648",  # past PostgreSQL's INTEGER
        "/api/teams/0",
        "/api/informants/99999999999999999999/assignments",
        "/api/informants/%C2%B2/assignments",  # "²" is a digit to str.isdigit, not to int()
        "/api/no/such/route",
    ],
)
def test_ids_that_no_row_can_have(client: FlaskClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404 and r.json["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("/api/areas?parent=000000", "parent"),  # a province: grid.codes raised GridError
        ("/api/areas?parent=620001", "parent"),  # a county of no city
        ("/api/areas?bbox=1e5,0,0,0", "bbox"),
        ("/api/reports?since=0.5", "since"),  # pydantic read it as Unix seconds
        ("/api/reports?area=%D9%A6%D9%A2%D9%A0%D9%A1%D9%A0%D9%A0", "area"),  # Arabic digits
        ("/api/teams?kind=spaceship", "kind"),
        ("/api/coverage?days=0", "days"),
        ("/api/followups?station=12", "station"),
        ("/api/incidents/1/recommendations?limit=51", "limit"),
    ],
)
def test_queries_the_schema_refuses(client: FlaskClient, query: str, field: str) -> None:
    r = client.get(query)
    assert r.status_code == 422 and r.json["error"]["field"] == field


def test_a_wrong_method_is_405_in_json(client: FlaskClient) -> None:
    r = client.delete("/api/reports")
    assert r.status_code == 405 and r.json["error"]["code"] == "method_not_allowed"
    assert set(r.headers["Allow"].split(", ")) >= {"GET", "POST"}


def test_pages_keep_their_html_errors(client: FlaskClient) -> None:
    r = client.get("/no-such-page")
    assert r.status_code == 404 and r.mimetype == "text/html"


def test_who_you_are_comes_before_what_you_sent(app: Flask) -> None:
    r = app.test_client().post("/api/incidents/1/dispatch", json={"team_id": 0})
    assert r.status_code == 401


@pytest.mark.parametrize("body", ["[" * 100_000, '{"a":' * 50_000, "[1e999999]", "[NaN]"])
def test_json_that_python_cannot_take(client: FlaskClient, body: str) -> None:
    # Nested deeper than json.loads recurses was a RecursionError, a 500.
    r = client.post("/api/incidents", data=body, content_type="application/json")
    assert r.status_code == 422 and r.json["error"]["field"] == "body"
    r = client.post("/api/reports/1/review", data=body, content_type="application/json")
    assert r.status_code == 422 and r.json["error"]["code"] == "validation_failed"
