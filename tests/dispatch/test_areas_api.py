"""The map's areas API: levels, parents, bbox, simplification, and cheap repeat answers."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from dispatch.extensions import db
from dispatch.models import User
from dispatch.services import areas, auth
from tests.dispatch.test_informants import CELLS, small_grid


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


def codes(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [f["properties"]["code"] for f in response.get_json(force=True)["features"]]


def test_levels_parents_and_bbox(client: FlaskClient) -> None:
    assert codes(client.get("/api/areas?level=cell")) == CELLS
    assert codes(client.get("/api/areas?level=cell&parent=620102001002")) == CELLS[4:]
    assert codes(client.get("/api/areas?level=cell&bbox=1.2,0.2,2.5,0.8")) == CELLS[1:3]
    county = client.get("/api/areas?level=county").get_json(force=True)["features"][0]
    assert county["geometry"]["type"] == "Polygon"
    assert county["properties"] == {
        "code": "620102",
        "name": "城关区",
        "level": "county",
        "parent_code": "620100",
    }


def test_repeat_answers_are_cached_and_conditional(client: FlaskClient) -> None:
    first = client.get("/api/areas?level=cell&tolerance=0.001")
    assert first.status_code == 200 and first.headers["ETag"]
    again = client.get(
        "/api/areas?level=cell&tolerance=0.001", headers={"If-None-Match": first.headers["ETag"]}
    )
    assert again.status_code == 304
    other = client.get("/api/areas?level=village&tolerance=0.001")
    assert other.headers["ETag"] != first.headers["ETag"]


@pytest.mark.parametrize(
    "query", ["level=planet", "bbox=1,2,3", "tolerance=-1", "parent=abc", "tolerance=nan"]
)
def test_bad_queries(client: FlaskClient, query: str) -> None:
    response = client.get(f"/api/areas?{query}")
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "validation_failed"


def test_locate(client: FlaskClient) -> None:
    found = client.get("/api/areas/locate?lat=0.5&lon=2.5").get_json()
    assert found["cell_code"] == CELLS[2]
    assert [a["level"] for a in found["areas"]] == ["city", "county", "township", "village", "cell"]
    assert client.get("/api/areas/locate?lat=50&lon=50").status_code == 404
    assert client.get("/api/areas/locate?lat=x&lon=1").status_code == 422


def test_security_headers(app: Flask) -> None:
    for path in ("/login", "/api/reports"):
        response = app.test_client().get(path)
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "same-origin"
