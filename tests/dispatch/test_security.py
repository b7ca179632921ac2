"""Accounts and the web's defences: lockout, rate limits, CSRF, CSP, cookies, production
refusals, revocation, sensitive reports and the append-only audit log."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade

from dispatch import create_app
from dispatch.config import Settings
from dispatch.extensions import db, socketio
from dispatch.models import AuditEvent, Photo, Report, User
from dispatch.realtime import handlers, names
from dispatch.schemas import ReportSubmit
from dispatch.services import areas, auth, demo, photos, reports
from tests.dispatch.test_informants import CELLS, small_grid
from tests.dispatch.test_photos import tiny_png

PASSWORD = "correct horse battery"


@pytest.fixture
def people(app: Flask) -> dict[str, str]:
    """Tokens of: an informant in cell 1, operators of the city, the county, a township and
    a village, and an admin. Passwords are real hashes (the lockout tests sign in)."""
    with app.app_context():
        areas.save_areas(small_grid())
        hashed = auth.hash_password(PASSWORD)
        auth.create_user(
            username="inf", password="", role="informant", cell_code=CELLS[0], password_hash=hashed
        )
        for name, area in (
            ("op-city", "620100"),
            ("op-county", "620102"),
            ("op-town", "620102001"),
            ("op-village", CELLS[0][:12]),
        ):
            auth.create_user(
                username=name, password="", role="operator", area_code=area, password_hash=hashed
            )
        auth.create_user(username="admin", password="", role="admin", password_hash=hashed)
        return {u.username: auth.issue_token(u) for u in db.session.scalars(db.select(User))}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def report_body(**extra: Any) -> dict[str, Any]:
    return {"client_id": str(uuid.uuid4()), "category": "fire", "lat": 0.5, "lon": 0.5, **extra}


def count(app: Flask, model: Any, *where: Any) -> int:
    with app.app_context():
        n = db.session.scalar(db.select(db.func.count()).select_from(model).where(*where))
        db.session.remove()
    return int(n or 0)


# ---- lockout and rate limits ------------------------------------------------------------


def test_five_wrong_passwords_lock_the_account(app: Flask, people: dict[str, str]) -> None:
    client = app.test_client()
    for _ in range(5):
        wrong = client.post("/api/auth/token", json={"username": "inf", "password": "nope"})
        assert wrong.status_code == 401
    # Now even the right password is refused, with how long to wait.
    locked = client.post("/api/auth/token", json={"username": "inf", "password": PASSWORD})
    assert locked.status_code == 429
    error = locked.get_json()["error"]
    assert error["code"] == "rate_limited" and 0 < error["retry_after"] <= 15 * 60
    assert count(app, AuditEvent, AuditEvent.action == "user.locked_out") == 1
    # Another account is not affected.
    other = client.post("/api/auth/token", json={"username": "admin", "password": PASSWORD})
    assert other.status_code == 200


def test_unknown_names_lock_like_real_ones(app: Flask, people: dict[str, str]) -> None:
    """A lockout must not tell an attacker which names exist."""
    client = app.test_client()
    answers = []
    for name in ("inf", "no-such-person"):
        for _ in range(5):
            client.post("/api/auth/token", json={"username": name, "password": "nope"})
        answers.append(client.post("/api/auth/token", json={"username": name, "password": "x"}))
    assert [a.status_code for a in answers] == [429, 429]
    assert answers[0].get_json()["error"]["code"] == answers[1].get_json()["error"]["code"]


def test_a_good_sign_in_clears_earlier_failures(app: Flask, people: dict[str, str]) -> None:
    client = app.test_client()
    for _ in range(4):
        client.post("/api/auth/token", json={"username": "inf", "password": "nope"})
    good = {"username": "inf", "password": PASSWORD}
    assert client.post("/api/auth/token", json=good).status_code == 200
    for _ in range(4):
        client.post("/api/auth/token", json={"username": "inf", "password": "nope"})
    assert client.post("/api/auth/token", json=good).status_code == 200


def test_sign_ins_per_address_are_limited(app: Flask, people: dict[str, str]) -> None:
    app.config["GRIDWATCH_LIMIT_LOGIN"] = "3 per minute"
    client = app.test_client()
    codes = [
        client.post("/api/auth/token", json={"username": f"u{i}", "password": "x"}).status_code
        for i in range(4)
    ]
    assert codes == [401, 401, 401, 429]
    over = client.post("/api/auth/token", json={"username": "inf", "password": PASSWORD})
    assert over.status_code == 429 and int(over.headers["Retry-After"]) > 0
    assert over.get_json()["error"]["code"] == "rate_limited"


def test_reports_over_the_limit_are_refused_and_not_stored(
    app: Flask, people: dict[str, str]
) -> None:
    app.config["GRIDWATCH_LIMIT_REPORTS"] = "3 per minute"
    client = app.test_client()
    sent = [report_body() for _ in range(4)]
    codes = [
        client.post("/api/reports", json=body, headers=bearer(people["inf"])).status_code
        for body in sent
    ]
    assert codes == [201, 201, 201, 429]
    assert count(app, Report) == 3
    over = client.post("/api/reports", json=sent[3], headers=bearer(people["inf"]))
    assert over.get_json()["error"]["retry_after"] > 0
    # A phone retrying what it already sent is answered with the first result, limit or not.
    again = client.post("/api/reports", json=sent[0], headers=bearer(people["inf"]))
    assert again.status_code == 200 and again.get_json()["duplicate"] is True
    assert count(app, Report) == 3


def test_report_limit_over_the_socket(app: Flask, people: dict[str, str]) -> None:
    app.config["GRIDWATCH_LIMIT_REPORTS"] = "2 per minute"
    client = socketio.test_client(app, namespace=names.INFORMANT, auth={"token": people["inf"]})
    acks = [
        client.emit(names.REPORT_SUBMIT, report_body(), namespace=names.INFORMANT, callback=True)
        for _ in range(3)
    ]
    assert [a["ok"] for a in acks] == [True, True, False]
    assert acks[2]["error"]["code"] == "rate_limited" and acks[2]["error"]["retry_after"] > 0
    assert client.is_connected(names.INFORMANT)
    assert count(app, Report) == 2


def test_every_rest_call_counts_against_the_callers_allowance(
    app: Flask, people: dict[str, str]
) -> None:
    app.config["GRIDWATCH_LIMIT_REST"] = "5 per minute"
    client = app.test_client()
    codes = [
        client.get("/api/reports", headers=bearer(people["op-city"])).status_code for _ in range(6)
    ]
    assert codes == [200] * 5 + [429]
    # Per caller: another operator still has their own allowance.
    assert client.get("/api/reports", headers=bearer(people["op-county"])).status_code == 200


def test_behind_a_trusted_proxy_limits_count_the_real_address(
    app: Flask, people: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRIDWATCH_TRUSTED_PROXIES", "1")
    proxied = create_app({"TESTING": True, "GRIDWATCH_LIMIT_LOGIN": "2 per minute"})
    client = proxied.test_client()

    def attempt(address: str) -> int:
        return client.post(
            "/api/auth/token",
            json={"username": "nobody", "password": "x"},
            headers={"X-Forwarded-For": address},
        ).status_code

    assert [attempt("10.1.1.1") for _ in range(3)] == [401, 401, 429]
    assert attempt("10.2.2.2") == 401  # another phone behind the same proxy
    with proxied.app_context():
        db.engine.dispose()


def test_limits_can_be_switched_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDWATCH_INSTANCE", str(tmp_path))
    monkeypatch.setenv("GRIDWATCH_RATE_LIMITS", "off")
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    app = create_app({"TESTING": True, "GRIDWATCH_LIMIT_REPORTS": "1 per minute"})
    with app.app_context():
        upgrade()
        areas.save_areas(small_grid())
        user = auth.create_user(
            username="inf", password="", role="informant", cell_code=CELLS[0], password_hash="x"
        )
        token = auth.issue_token(user)
    client = app.test_client()
    codes = {
        client.post("/api/reports", json=report_body(), headers=bearer(token)).status_code
        for _ in range(5)
    }
    assert codes == {201}
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


# ---- CSRF, cookies, headers -------------------------------------------------------------


def csrf_token(client: FlaskClient) -> str:
    page = client.get("/login").get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the sign-in form carries a CSRF token"
    return found.group(1)


def test_forms_need_their_csrf_token(app: Flask, people: dict[str, str]) -> None:
    client = app.test_client()
    forged = client.post("/login", data={"username": "inf", "password": PASSWORD})
    assert forged.status_code == 400
    signed = client.post(
        "/login",
        data={"username": "op-city", "password": PASSWORD, "csrf_token": csrf_token(client)},
    )
    assert signed.status_code == 302
    # Signing out is a form too: another site cannot sign people out.
    assert client.post("/logout").status_code == 400
    assert client.get("/operator").status_code == 200


def test_a_browser_cookie_alone_cannot_change_data(app: Flask, people: dict[str, str]) -> None:
    """The API takes changes only with the Bearer token a page holds, never on a cookie
    another site's form could send along."""
    client = app.test_client()
    client.post(
        "/login", data={"username": "inf", "password": PASSWORD, "csrf_token": csrf_token(client)}
    )
    assert client.get("/api/reports").status_code == 200  # reading with the cookie is fine
    posted = client.post("/api/reports", json=report_body())
    assert posted.status_code == 401
    assert count(app, Report) == 0


def test_pages_carry_a_strict_content_security_policy(app: Flask, people: dict[str, str]) -> None:
    for path in ("/login", "/api/health"):
        response = app.test_client().get(path)
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_production_cookies_are_secure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDWATCH_INSTANCE", str(tmp_path))
    monkeypatch.setenv("GRIDWATCH_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    app = create_app()
    response = app.test_client().get("/login")
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    with app.app_context():
        db.engine.dispose()


def test_production_refuses_a_default_secret() -> None:
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        Settings.from_env({"GRIDWATCH_ENV": "production"})


def test_production_refuses_the_demo(app: Flask, runner: Any) -> None:
    app.config["GRIDWATCH_ENV"] = "production"
    for command in (["seed-demo", "--cells", "50"], ["seed-demo-if-empty"]):
        result = runner.invoke(args=command)
        assert result.exit_code != 0 and "production" in result.output
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(User)) == 0


def test_production_refuses_to_serve_with_a_demo_password(app: Flask) -> None:
    with app.app_context():
        auth.create_user(
            username="admin",
            password=demo.DEMO_PASSWORD,
            role="admin",
        )
        with pytest.raises(RuntimeError, match="demo password"):
            demo.refuse_demo_accounts()
        auth.set_active(None, "admin", False)
        demo.refuse_demo_accounts()  # disabled: no longer a way in


def test_passwords_are_hashed_with_scrypt(app: Flask, people: dict[str, str]) -> None:
    with app.app_context():
        hashed = db.session.scalar(db.select(User.password_hash).where(User.username == "inf"))
    assert hashed is not None and hashed.startswith("scrypt:") and PASSWORD not in hashed


def test_tokens_expire(app: Flask, people: dict[str, str]) -> None:
    import time_machine

    client = app.test_client()
    assert client.get("/api/reports", headers=bearer(people["inf"])).status_code == 200
    hours = app.config["GRIDWATCH_TOKEN_HOURS"]
    with time_machine.travel(time.time() + hours * 3600 + 60, tick=False):
        expired = client.get("/api/reports", headers=bearer(people["inf"]))
    assert expired.status_code == 401 and "expired" in expired.get_json()["error"]["message"]


def test_production_refuses_any_seeded_demo_account(app: Flask) -> None:
    """Disabling the six printed logins is not enough: the demo seeds every informant and
    leader with the same password."""
    with app.app_context():
        demo.seed(cells=30)
        for name, _, _ in demo.LOGINS:
            auth.set_active(None, name, False)
        with pytest.raises(RuntimeError, match="demo password"):
            demo.refuse_demo_accounts()


# ---- revocation -------------------------------------------------------------------------


def test_disabling_a_user_ends_tokens_sessions_and_sockets(
    app: Flask, people: dict[str, str]
) -> None:
    socket = socketio.test_client(app, namespace=names.INFORMANT, auth={"token": people["inf"]})
    assert socket.is_connected(names.INFORMANT)
    client = app.test_client()
    assert client.get("/api/reports", headers=bearer(people["inf"])).status_code == 200
    # Only an admin may disable, and an operator is refused.
    refused = client.post("/api/users/inf/disable", headers=bearer(people["op-city"]))
    assert refused.status_code == 403
    done = client.post("/api/users/inf/disable", headers=bearer(people["admin"]))
    assert done.status_code == 200 and done.get_json()["active"] is False
    assert client.get("/api/reports", headers=bearer(people["inf"])).status_code == 401
    # The socket heard why, and the process closes it on its next look.
    heard = [m["name"] for m in socket.get_received(names.INFORMANT)]
    assert names.SESSION_REVOKED in heard
    assert handlers.drop_revoked(app) >= 1
    assert not socket.is_connected(names.INFORMANT)
    # A new connection with the old token is refused; enabling again needs a fresh sign-in.
    again = socketio.test_client(app, namespace=names.INFORMANT, auth={"token": people["inf"]})
    assert not again.is_connected(names.INFORMANT)
    client.post("/api/users/inf/enable", headers=bearer(people["admin"]))
    assert client.get("/api/reports", headers=bearer(people["inf"])).status_code == 401
    fresh = client.post("/api/auth/token", json={"username": "inf", "password": PASSWORD})
    assert fresh.status_code == 200
    actions = [
        a
        for (a,) in _rows(app, sa.select(AuditEvent.action).where(AuditEvent.entity_type == "user"))
    ]
    assert "user.disabled" in actions and "user.enabled" in actions


def test_revoking_ends_a_lost_phones_sign_in(app: Flask, people: dict[str, str]) -> None:
    operator = socketio.test_client(
        app, namespace=names.OPERATOR, auth={"token": people["op-city"]}
    )
    informant = socketio.test_client(app, namespace=names.INFORMANT, auth={"token": people["inf"]})
    with app.app_context():
        auth.revoke_tokens(None, "inf")
    assert handlers.drop_revoked(app) >= 1
    assert not informant.is_connected(names.INFORMANT)
    assert operator.is_connected(names.OPERATOR)  # only that user's sockets
    operator.disconnect(namespace=names.OPERATOR)


def _rows(app: Flask, stmt: Any) -> list[Any]:
    with app.app_context():
        rows = list(db.session.execute(stmt).all())
        db.session.remove()
    return rows


# ---- sensitive reports ------------------------------------------------------------------


@pytest.fixture
def petition(app: Flask, people: dict[str, str]) -> dict[str, int]:
    with app.app_context():
        informant = db.session.scalar(db.select(User).where(User.username == "inf"))
        assert informant is not None
        ids = {}
        for category, text in (("petition", "上访材料: 张某某"), ("fire", "柴草垛着火")):
            report = reports.submit_report(
                informant,
                ReportSubmit(
                    client_id=uuid.uuid4(), category=category, text=text, lat=0.5, lon=0.5
                ),
            )["report"]
            ids[category] = report["id"]
        photos.add_photo(informant, ids["petition"], str(uuid.uuid4()), tiny_png())
        db.session.remove()
    return ids


def test_lower_levels_see_a_petition_exists_not_what_or_who(
    app: Flask, people: dict[str, str], petition: dict[str, int]
) -> None:
    client = app.test_client()
    pid = petition["petition"]
    full = client.get(f"/api/reports/{pid}", headers=bearer(people["op-county"])).get_json()
    assert full["text"] == "上访材料: 张某某" and full["informant_id"] and full["lat"] == 0.5
    for who in ("op-town", "op-village"):
        seen = client.get(f"/api/reports/{pid}", headers=bearer(people[who])).get_json()
        assert seen["redacted"] is True and seen["category"] == "petition"
        for key in ("text", "lat", "lon", "informant_id", "cell_code", "client_id", "reasons"):
            assert key not in seen, (who, key)
        listed = client.get("/api/reports", headers=bearer(people[who])).get_json()
        assert "张某某" not in str(listed)
        assert pid in {r["id"] for r in listed}  # it exists, and they know it
        assert (
            client.get(f"/api/reports/{pid}/photos", headers=bearer(people[who])).status_code == 404
        )
    with app.app_context():
        photo_id = db.session.scalar(db.select(Photo.id).where(Photo.report_id == pid))
    assert (
        client.get(f"/api/photos/{photo_id}", headers=bearer(people["op-town"])).status_code == 404
    )
    assert (
        client.get(f"/api/photos/{photo_id}", headers=bearer(people["op-county"])).status_code
        == 200
    )
    # The informant always sees their own report in full.
    own = client.get(f"/api/reports/{pid}", headers=bearer(people["inf"])).get_json()
    assert own["text"] == "上访材料: 张某某"


def test_lower_levels_never_see_who_sent_any_report(
    app: Flask, people: dict[str, str], petition: dict[str, int]
) -> None:
    client = app.test_client()
    fid = petition["fire"]
    town = client.get(f"/api/reports/{fid}", headers=bearer(people["op-town"])).get_json()
    assert town["text"] == "柴草垛着火" and "informant_id" not in town
    county = client.get(f"/api/reports/{fid}", headers=bearer(people["op-county"])).get_json()
    assert county["informant_id"] is not None


def test_broadcasts_of_a_petition_are_redacted_for_lower_levels(
    app: Flask, people: dict[str, str]
) -> None:
    town = socketio.test_client(app, namespace=names.OPERATOR, auth={"token": people["op-town"]})
    county = socketio.test_client(
        app, namespace=names.OPERATOR, auth={"token": people["op-county"]}
    )
    informant = socketio.test_client(app, namespace=names.INFORMANT, auth={"token": people["inf"]})
    ack = informant.emit(
        names.REPORT_SUBMIT,
        report_body(category="petition", text="反映拖欠工资"),
        namespace=names.INFORMANT,
        callback=True,
    )
    assert ack["ok"], ack
    to_town = [m for m in town.get_received(names.OPERATOR) if m["name"] == names.REPORT_NEW]
    to_county = [m for m in county.get_received(names.OPERATOR) if m["name"] == names.REPORT_NEW]
    assert len(to_town) == 1 and len(to_county) == 1
    assert to_town[0]["args"][0]["report"]["redacted"] is True
    assert "拖欠工资" not in str(to_town)
    assert to_county[0]["args"][0]["report"]["text"] == "反映拖欠工资"


def test_the_sensitive_level_is_configuration(
    app: Flask, people: dict[str, str], petition: dict[str, int]
) -> None:
    app.config["GRIDWATCH_SENSITIVE_LEVEL"] = "township"
    seen = app.test_client().get(
        f"/api/reports/{petition['petition']}", headers=bearer(people["op-town"])
    )
    assert seen.get_json()["text"] == "上访材料: 张某某"


# ---- the audit log ----------------------------------------------------------------------


def _try_to_rewrite_history(engine: sa.Engine) -> dict[str, str | None]:
    """Each way of rewriting the log, and the database's refusal (None: it was allowed)."""
    statements = ["UPDATE audit_events SET action = 'nothing.happened'", "DELETE FROM audit_events"]
    if engine.dialect.name == "postgresql":
        statements.append("TRUNCATE audit_events")
    refusals: dict[str, str | None] = {}
    for statement in statements:
        try:
            with engine.begin() as conn:
                conn.execute(sa.text(statement))
        except sa.exc.DBAPIError as exc:
            refusals[statement] = str(exc.orig)
        else:
            refusals[statement] = None
    return refusals


def test_audit_events_cannot_be_changed_or_deleted(app: Flask, people: dict[str, str]) -> None:
    """On both databases (TRUNCATE too on PostgreSQL): the triggers of the migration."""
    before = _rows(app, sa.select(AuditEvent.id, AuditEvent.action).order_by(AuditEvent.id))
    assert before
    with app.app_context():
        refusals = _try_to_rewrite_history(db.engine)
    assert all(r is not None and "cannot be changed" in r for r in refusals.values()), refusals
    assert _rows(app, sa.select(AuditEvent.id, AuditEvent.action).order_by(AuditEvent.id)) == before


def test_a_phone_signed_in_again_after_a_revocation_reports_at_once(
    app: Flask, people: dict[str, str]
) -> None:
    """The reporter's account is kept in memory (hot data); a newer sign-in is read anew,
    even before the revocation watcher has had its round."""
    phone = socketio.test_client(app, namespace=names.INFORMANT, auth={"token": people["inf"]})
    first = phone.emit(names.REPORT_SUBMIT, report_body(), namespace=names.INFORMANT, callback=True)
    assert first["ok"] is True
    with app.app_context():
        auth.revoke_tokens(None, "inf")
    fresh = app.test_client().post(
        "/api/auth/token", json={"username": "inf", "password": PASSWORD}
    )
    again = socketio.test_client(
        app, namespace=names.INFORMANT, auth={"token": fresh.get_json()["token"]}
    )
    ack = again.emit(names.REPORT_SUBMIT, report_body(), namespace=names.INFORMANT, callback=True)
    assert ack["ok"] is True, ack
