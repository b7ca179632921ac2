"""Photos: the informant's own report only, real images only, bounded, stored once."""

from __future__ import annotations

import io
import struct
import uuid
import zlib

import pytest
from flask import Flask
from flask.testing import FlaskClient

from dispatch.errors import ValidationFailed
from dispatch.extensions import db
from dispatch.models import Photo, User
from dispatch.services import areas, auth, photos
from tests.dispatch.test_informants import CELLS, small_grid


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def setup(app: Flask) -> tuple[FlaskClient, dict[str, dict[str, str]], int]:
    with app.app_context():
        areas.save_areas(small_grid())
        for name, role, extra in (
            ("inf1", "informant", {"cell_code": CELLS[0]}),
            ("inf2", "informant", {"cell_code": CELLS[1]}),
            ("op", "operator", {"area_code": "620102"}),
            ("far", "operator", {"area_code": "620100"}),
        ):
            auth.create_user(username=name, password="x", role=role, password_hash="x", **extra)
        far = db.session.scalar(db.select(User).where(User.username == "far"))
        far.area_code = "620104"  # an operator of another county
        db.session.commit()
        headers = {
            u.username: {"Authorization": f"Bearer {auth.issue_token(u)}"}
            for u in db.session.scalars(db.select(User))
        }
    client = app.test_client()
    sent = client.post(
        "/api/reports",
        headers=headers["inf1"],
        json={
            "client_id": str(uuid.uuid4()),
            "category": "fire",
            "text": "起火",
            "lat": 0.5,
            "lon": 0.5,
        },
    )
    return client, headers, sent.json["report"]["id"]


def upload(
    client: FlaskClient,
    headers: dict[str, str],
    report_id: int,
    data: bytes,
    client_id: str | None = None,
):  # type: ignore[no-untyped-def]
    return client.post(
        f"/api/reports/{report_id}/photos",
        headers=headers,
        data={"photo": (io.BytesIO(data), "p.png"), "client_id": client_id or str(uuid.uuid4())},
        content_type="multipart/form-data",
    )


def test_upload_once_and_read_back(setup, app: Flask) -> None:  # type: ignore[no-untyped-def]
    client, h, rid = setup
    cid = str(uuid.uuid4())
    first = upload(client, h["inf1"], rid, tiny_png(), cid)
    again = upload(client, h["inf1"], rid, tiny_png(), cid)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json["duplicate"] and again.json["photo"]["id"] == first.json["photo"]["id"]
    photo_id = first.json["photo"]["id"]
    got = client.get(f"/api/photos/{photo_id}", headers=h["op"])
    assert got.status_code == 200 and got.mimetype == "image/png" and got.data == tiny_png()
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get(f"/api/reports/{rid}", headers=h["op"]).json["photo_count"] == 1
    with app.app_context():
        assert len(db.session.scalars(db.select(Photo)).all()) == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<svg onload=alert(1)>", "JPEG, PNG or WebP"),
        (b"", "empty"),
        (b"RIFF0000WEBQ", "JPEG, PNG or WebP"),
    ],
    ids=["svg", "empty", "not webp"],
)
def test_bad_photos_change_nothing(setup, app: Flask, data: bytes, message: str) -> None:  # type: ignore[no-untyped-def]
    client, h, rid = setup
    response = upload(client, h["inf1"], rid, data)
    assert response.status_code == 422 and message in response.json["error"]["message"]
    with app.app_context():
        assert db.session.scalars(db.select(Photo)).all() == []


def test_only_the_informant_adds_and_only_readers_see(setup) -> None:  # type: ignore[no-untyped-def]
    client, h, rid = setup
    assert upload(client, h["inf2"], rid, tiny_png()).status_code == 404
    photo_id = upload(client, h["inf1"], rid, tiny_png()).json["photo"]["id"]
    assert client.get(f"/api/photos/{photo_id}", headers=h["far"]).status_code == 404
    assert client.get(f"/api/photos/{photo_id}", headers=h["inf2"]).status_code == 404
    assert client.get(f"/api/photos/{photo_id}", headers=h["inf1"]).status_code == 200


def test_at_most_five_per_report(setup) -> None:  # type: ignore[no-untyped-def]
    client, h, rid = setup
    for _ in range(5):
        assert upload(client, h["inf1"], rid, tiny_png()).status_code == 201
    sixth = upload(client, h["inf1"], rid, tiny_png())
    assert sixth.status_code == 422 and "at most 5" in sixth.json["error"]["message"]
    listed = client.get(f"/api/reports/{rid}/photos", headers=h["op"]).json
    assert len(listed) == 5


def test_cell_status_for_the_map(setup) -> None:  # type: ignore[no-untyped-def]
    client, h, rid = setup
    status = client.get("/api/areas/status?bbox=0.1,0.1,1.9,0.9", headers=h["op"]).json["cells"]
    assert set(status) == {CELLS[0], CELLS[1]}
    assert status[CELLS[0]]["open"] == 1 and status[CELLS[0]]["coverage"] == "covered"
    assert status[CELLS[1]] == {"risk": None, "open": 0, "coverage": "silent"}
    assert client.get("/api/areas/status", headers=h["inf1"]).status_code == 403
    assert client.get("/api/areas/status?bbox=1,2", headers=h["op"]).status_code == 422


def test_too_big_photo_changes_nothing(setup, app: Flask) -> None:  # type: ignore[no-untyped-def]
    # Called on the service: the test client would spool a 2 MB body to a file it leaks.
    _, _, rid = setup
    with app.app_context():
        informant = db.session.scalar(db.select(User).where(User.username == "inf1"))
        big = b"\xff\xd8\xff" + b"0" * (2 * 1024 * 1024)
        with pytest.raises(ValidationFailed, match="larger than 2 MB"):
            photos.add_photo(informant, rid, str(uuid.uuid4()), big)
        assert db.session.scalars(db.select(Photo)).all() == []
