"""The size and range limits, end to end through the real server (gunicorn, Socket.IO).

| limit | where | over it |
|---|---|---|
- request body 3 MB (MAX_CONTENT_LENGTH, dispatch/config.py): over it, 413 `too_large`.
- Socket.IO event 256 KB (max_http_buffer_size, dispatch/__init__.py): over it, engine.io
  closes that socket; nothing is read or written.
- report text 2,000 characters (dispatch/schemas.py): 422 or ack `validation_failed`.
- photo 2 MB, 5 a report, JPEG/PNG/WebP by content (dispatch/services/photos.py): 422.
- a point outside every cell (dispatch/services/areas.py): accepted with `cell_code: null`
  and the flag `outside_grid`, in the city's queue only.
"""

from __future__ import annotations

import http.client
import struct
import time
import uuid
import zlib
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import socketio

from grid import LANZHOU_CENTER_LAT, LANZHOU_CENTER_LON
from tests.conftest import Server
from tests.integration.clients import Recorder

MB = 1024 * 1024
BODY_LIMIT = 3 * MB
EVENT_LIMIT = 256 * 1024


def _report(**fields: Any) -> dict[str, Any]:
    return {
        "client_id": str(uuid.uuid4()),
        "category": "other",
        "text": "路灯坏了",
        "lat": LANZHOU_CENTER_LAT,
        "lon": LANZHOU_CENTER_LON,
        **fields,
    }


def _assert_error(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    return dict(error)


def _count(server: Server, path: str) -> int:
    return len(server.api("GET", path, "operator").json())


def test_a_body_over_3_mb_is_413_in_json(rest_server: Server) -> None:
    before = _count(rest_server, "/api/reports?limit=5000")
    body = _report(text="x" * (BODY_LIMIT + 1))
    r = rest_server.api("POST", "/api/reports", "informant", json=body)
    _assert_error(r, 413, "too_large")
    just_under = _report(text="x" * (BODY_LIMIT - 1000))
    r = rest_server.api("POST", "/api/reports", "informant", json=just_under)
    assert _assert_error(r, 422, "validation_failed")["field"] == "text"
    assert _count(rest_server, "/api/reports?limit=5000") == before


def test_a_claimed_length_over_3_mb_is_refused_before_the_body(rest_server: Server) -> None:
    url = urlsplit(rest_server.url)
    token = rest_server.token("informant")
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
    try:
        conn.putrequest("POST", "/api/reports")
        conn.putheader("Authorization", f"Bearer {token}")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(1024 * MB))
        conn.endheaders()
        conn.send(b'{"text": "')  # and nothing more: the server must not wait for a gigabyte
        started = time.monotonic()
        with conn.getresponse() as response:
            assert response.status == 413 and time.monotonic() - started < 5
            assert b'"too_large"' in response.read()
    finally:
        conn.close()


def test_unknown_api_urls_and_methods_answer_in_json(rest_server: Server) -> None:
    _assert_error(rest_server.api("GET", "/api/nothing/here", "operator"), 404, "not_found")
    r = rest_server.api("DELETE", "/api/reports", "operator")
    _assert_error(r, 405, "method_not_allowed")
    assert set(r.headers["Allow"].split(", ")) >= {"GET", "POST"}
    # An id no INTEGER column holds is simply not found (SQLite and PostgreSQL would fail).
    for path in ("/api/reports/2147483648", "/api/incidents/99999999999999999999999"):
        _assert_error(rest_server.api("GET", path, "operator"), 404, "not_found")


def test_text_length(rest_server: Server) -> None:
    r = rest_server.api("POST", "/api/reports", "informant", json=_report(text="火" * 2000))
    assert r.status_code == 201
    r = rest_server.api("POST", "/api/reports", "informant", json=_report(text="火" * 2001))
    assert _assert_error(r, 422, "validation_failed")["field"] == "text"
    client = Recorder(rest_server.url, "/informant", rest_server.token("informant"))
    try:
        ack = client.call("report:submit", _report(text="火" * 2001))
        assert ack["ok"] is False and ack["error"]["field"] == "text"
    finally:
        client.close()


def test_an_event_over_256_kb_closes_that_socket_only(rest_server: Server) -> None:
    before = _count(rest_server, "/api/reports?limit=5000")
    client = Recorder(rest_server.url, "/informant", rest_server.token("informant"))
    other = Recorder(rest_server.url, "/informant", rest_server.token("informant"))
    try:
        # Just under the limit: an answer, and the socket stays.
        ack = client.call("report:submit", _report(text="x" * (EVENT_LIMIT - 2000)))
        assert ack["error"]["code"] == "validation_failed" and ack["error"]["field"] == "text"
        # Over it: engine.io drops the connection without reading the event.
        transport = client.sio.eio.ws
        with pytest.raises(socketio.exceptions.TimeoutError):
            client.call("report:submit", _report(text="x" * (EVENT_LIMIT + 1)), timeout=5)
        assert not client.sio.connected
        transport.shutdown()  # the client library leaves a socket the server closed open
        # Everyone else is served, and the phone may connect again.
        assert other.call("report:submit", _report())["ok"] is True
        again = Recorder(rest_server.url, "/informant", rest_server.token("informant"))
        assert again.call("report:submit", _report())["ok"] is True
        again.close()
    finally:
        client.close()
        other.close()
    assert _count(rest_server, "/api/reports?limit=5000") == before + 2


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def _upload(
    server: Server, report_id: int, data: bytes, name: str = "p.jpg", kind: str = "image/jpeg"
) -> requests.Response:
    files = {"photo": (name, data, kind)}
    return server.api(
        "POST",
        f"/api/reports/{report_id}/photos",
        "informant",
        files=files,
        data={"client_id": str(uuid.uuid4())},
    )


def test_photos_are_sniffed_bounded_and_counted(rest_server: Server) -> None:
    report = rest_server.api("POST", "/api/reports", "informant", json=_report()).json()
    rid = report["report"]["id"]
    # The bytes decide, not the name or the claimed type.
    stored = _upload(rest_server, rid, _png(), "p.jpg", "image/jpeg")
    assert stored.status_code == 201 and stored.json()["photo"]["content_type"] == "image/png"
    for fake in (b"<html><script>alert(1)</script>", b"<svg onload=alert(1)>", b"GIF89a...."):
        r = _upload(rest_server, rid, fake)
        assert _assert_error(r, 422, "validation_failed")["field"] == "photo"
    # 2 MB exactly is taken; one byte more is refused, and past 3 MB the body is 413.
    jpeg = b"\xff\xd8\xff\xe0" + b"0" * (2 * MB - 4)
    assert _upload(rest_server, rid, jpeg).status_code == 201
    r = _upload(rest_server, rid, jpeg + b"0")
    assert "larger than 2 MB" in _assert_error(r, 422, "validation_failed")["message"]
    _assert_error(_upload(rest_server, rid, jpeg + b"0" * MB), 413, "too_large")
    # Five a report.
    for _ in range(3):
        assert _upload(rest_server, rid, _png()).status_code == 201
    r = _upload(rest_server, rid, _png())
    assert "at most 5" in _assert_error(r, 422, "validation_failed")["message"]
    listed = rest_server.api("GET", f"/api/reports/{rid}/photos", "operator").json()
    assert [p["size"] for p in listed].count(2 * MB) == 1 and len(listed) == 5
    served = rest_server.api("GET", f"/api/photos/{listed[0]['id']}", "operator")
    assert served.headers["Content-Type"] == "image/png"
    assert served.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("lat", "lon"),
    [(39.9042, 116.4074), (-33.86, 151.21), (90.0, 180.0), (0.0, 0.0)],
    ids=["beijing", "sydney", "the pole", "null island"],
)
def test_a_report_outside_the_city_is_accepted_and_flagged(
    rest_server: Server, lat: float, lon: float
) -> None:
    r = rest_server.api("POST", "/api/reports", "informant", json=_report(lat=lat, lon=lon))
    assert r.status_code == 201
    ack = r.json()["report"]
    assert ack["cell_code"] is None and ack["flags"] == ["outside_grid"]
    # The city's operators see it, flagged; a county's operators do not.
    seen = rest_server.api("GET", f"/api/reports/{ack['id']}", "operator").json()
    assert seen["flags"] == ["outside_grid"] and seen["area_code"] == "620100"
    county = rest_server.api("GET", f"/api/reports/{ack['id']}", "operator-620102")
    assert county.status_code == 404


def test_coordinates_off_the_globe_are_refused(rest_server: Server) -> None:
    for field, value in (("lat", 90.0001), ("lat", -91), ("lon", 180.5), ("lon", "103.8")):
        r = rest_server.api("POST", "/api/reports", "informant", json=_report(**{field: value}))
        assert _assert_error(r, 422, "validation_failed")["field"] == field
