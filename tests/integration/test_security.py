"""The defences on a real server with its own Redis: limits counted in Redis, a lockout
that holds across requests, and a disabled user's sockets closed by the server."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from tests.conftest import Server, start_server
from tests.integration.clients import Recorder


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with its rate limits on, as in production."""
    srv = start_server(
        tmp_path_factory.mktemp("gw-guarded"),
        cells=100,
        GRIDWATCH_RATE_LIMITS="on",
    )
    yield srv
    srv.stop()


def _redis_url(server: Server) -> str:
    log = Path(server.instance / "serve.log").read_text(errors="replace")
    found = re.search(r"embedded Redis at (\S+);", log)
    assert found, log
    return found.group(1)


def _sign_in(session: requests.Session, url: str, username: str, password: str) -> int:
    page = session.get(f"{url}/login", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    response = session.post(
        f"{url}/login",
        data={"username": username, "password": password, "csrf_token": token.group(1)},
        allow_redirects=False,
        timeout=10,
    )
    return response.status_code


def test_lockout_is_kept_in_redis(guarded: Server) -> None:
    session = requests.Session()
    codes = [_sign_in(session, guarded.url, "supervisor", "wrong") for _ in range(5)]
    assert codes == [401] * 5
    # The right password is refused now, on the page, with a time to wait.
    assert _sign_in(session, guarded.url, "supervisor", "gridwatch-demo") == 429
    token = requests.post(
        f"{guarded.url}/api/auth/token",
        json={"username": "supervisor", "password": "gridwatch-demo"},
        timeout=10,
    )
    assert token.status_code == 429 and token.json()["error"]["code"] == "rate_limited"
    keys = redis.Redis.from_url(_redis_url(guarded)).keys("*lockout*")
    assert any(b"lockout" in key and b"supervisor" in key for key in keys), keys


def test_report_limit_holds_over_real_sockets(guarded: Server) -> None:
    informant = Recorder(guarded.url, "/informant", guarded.token("informant"))
    try:
        acks = [
            informant.call(
                "report:submit",
                {
                    "client_id": str(uuid.uuid4()),
                    "category": "safety_hazard",
                    "text": f"限流测试 {n}",
                    "lat": 36.0611,
                    "lon": 103.8343,
                },
            )
            for n in range(31)
        ]
    finally:
        informant.close()
    assert [a["ok"] for a in acks] == [True] * 30 + [False]
    assert acks[-1]["error"]["code"] == "rate_limited" and acks[-1]["error"]["retry_after"] > 0
    stored = guarded.api("GET", "/api/reports?limit=200", "operator").json()
    assert sum(1 for r in stored if r["text"].startswith("限流测试")) == 30


def test_a_disabled_users_sockets_are_closed(guarded: Server) -> None:
    leader = Recorder(guarded.url, "/team", guarded.token("leader"))
    try:
        assert leader.sio.connected
        done = guarded.api("POST", "/api/users/leader/disable", "admin")
        assert done.status_code == 200, done.text
        leader.wait_for("session:revoked", timeout=5)
        deadline = time.monotonic() + 10
        while leader.sio.connected and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not leader.sio.connected, "the server kept a disabled user's socket open"
    finally:
        leader.close()
        guarded.api("POST", "/api/users/leader/enable", "admin")
