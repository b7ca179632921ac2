"""Webhooks against a real HTTP receiver on loopback, a real Redis and an in-process worker,
on SQLite and PostgreSQL: what arrives, signed how; a receiver outage; retries, failure and
automatic disabling; lost jobs; two workers; the admin API; and holes in the audit ids."""

from __future__ import annotations

import doctest
import hashlib
import hmac
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import redis
import time_machine
from flask import Flask
from rq import Queue
from sqlalchemy import insert

from dispatch.errors import ValidationFailed
from dispatch.extensions import db
from dispatch.models import AuditEvent, WebhookDelivery, WebhookSubscription
from dispatch.queue import QUEUE_NAME
from dispatch.schemas import IncidentCreate, WebhookCreate
from dispatch.services import auth, incidents, webhooks
from tests.conftest import free_port
from tests.dispatch.live import NOON, live, redis_url, submit, sweep, user, work
from tests.dispatch.test_informants import VILLAGE_A, VILLAGE_B

__all__ = ["live", "redis_url"]  # fixtures used by name

COUNTY = "620102"
FIRE_TEXT = "仓库起火 FIRE-7731"
PETITION_TEXT = "上访材料 PETITION-SECRET-5519"
LON_A, LON_B = 0.5, 4.5  # a cell of village A, a cell of village B


def verify(secret: str, headers: dict[str, str], body: bytes, tolerance_s: int = 300) -> bool:
    """What a receiver does (docs/webhooks.md): HMAC-SHA256 over "<timestamp>.<body>"."""
    timestamp = headers["x-gridwatch-timestamp"]
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    fresh = abs(time.time() - int(timestamp)) <= tolerance_s
    return fresh and hmac.compare_digest(
        f"sha256={mac.hexdigest()}", headers["x-gridwatch-signature"]
    )


class Receiver:
    """A webhook receiver on 127.0.0.1 that records what it gets and answers `status`."""

    def __init__(self) -> None:
        self.port = free_port()
        self.status = 200
        self.got: list[dict[str, Any]] = []
        self.server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    receiver.got.append(
                        {
                            "path": self.path,
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "body": body,
                            "json": json.loads(body),
                        }
                    )
                self.send_response(receiver.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def bodies(self, path: str | None = None) -> list[dict[str, Any]]:
        return [g["json"] for g in self.got if path is None or g["path"] == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def hooks(live: Flask) -> Flask:
    """The live app with an admin, and receivers allowed on loopback."""
    live.config["GRIDWATCH_WEBHOOK_NETWORKS"] = ("127.0.0.0/8",)
    with live.app_context():
        for name, area in (("admin", "620100"), ("admin-a", VILLAGE_A), ("admin-b", VILLAGE_B)):
            auth.create_user(
                username=name, password="x", role="admin", area_code=area, password_hash="x"
            )
    return live


def subscribe(url: str, events: list[str], area: str = COUNTY) -> tuple[int, str]:
    made = webhooks.create_subscription(
        user("admin"), WebhookCreate(url=url, event_types=events, area_code=area)
    )
    return int(made["webhook"]["id"]), str(made["secret"])


def deliveries(sub_id: int) -> list[WebhookDelivery]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            db.select(WebhookDelivery)
            .where(WebhookDelivery.subscription_id == sub_id)
            .order_by(WebhookDelivery.event_id)
        )
    )


def subscription(sub_id: int) -> WebhookSubscription:
    db.session.expire_all()
    sub = db.session.get(WebhookSubscription, sub_id)
    assert sub is not None
    return sub


def deliverable_events(after_id: int) -> list[AuditEvent]:
    return [
        e
        for e in db.session.scalars(
            db.select(AuditEvent).where(AuditEvent.id > after_id).order_by(AuditEvent.id)
        )
        if webhooks.event_type(e.action, e.after) is not None
    ]


def test_doctests() -> None:
    result = doctest.testmod(webhooks)
    assert result.attempted >= 8 and result.failed == 0


def test_subscribed_events_arrive_once_signed_and_nothing_else(
    hooks: Flask, receiver: Receiver
) -> None:
    receiver.start()
    with hooks.app_context():
        county, secret = subscribe(
            receiver.url("/county"), ["report.submitted", "report.triaged", "incident.*"]
        )
        village_b, secret_b = subscribe(receiver.url("/b"), ["report.submitted"], VILLAGE_B)
        start = db.session.scalar(db.select(db.func.max(AuditEvent.id))) or 0
        fire = submit("inf1", "fire", FIRE_TEXT, lon=LON_A)
        petition = submit("inf2", "petition", PETITION_TEXT, lon=LON_A + 1)
        far = submit("inf3", "flood", "河水上涨", lon=LON_B)
        work(hooks)
        incident = incidents.create_incident(user("op"), IncidentCreate(report_ids=[fire]))
        work(hooks)
        events = deliverable_events(start)

    got_county = [g for g in receiver.got if g["path"] == "/county"]
    got_b = [g for g in receiver.got if g["path"] == "/b"]
    # Every request is signed with its subscription's secret and says what it carries.
    for g, key in [(g, secret) for g in got_county] + [(g, secret_b) for g in got_b]:
        assert verify(key, g["headers"], g["body"]), g["headers"]
        h, body = g["headers"], g["json"]
        assert h["content-type"] == "application/json"
        assert h["x-gridwatch-event"] == body["event"]
        assert h["x-gridwatch-delivery"] == str(body["id"])
        assert body["occurred_at"].endswith("+08:00")
        assert set(body) >= {"id", "event", "event_id", "occurred_at", "data"}
    assert not verify(secret_b, got_county[0]["headers"], got_county[0]["body"])

    # The county's subscriber: each report submitted and triaged, and the incident, once.
    expected = Counter(
        (webhooks.event_type(e.action, e.after), e.entity_id)
        for e in events
        if e.action in ("report.submitted", "report.triaged", "incident.created")
    )
    received = Counter(
        (b["event"], str((b["data"].get("report") or b["data"].get("incident"))["id"]))
        for b in receiver.bodies("/county")
    )
    assert received == expected
    assert received[("report.submitted", str(far))] == 1
    assert received[("incident.created", str(incident["incident"]["id"]))] == 1
    assert sum(received.values()) == 7  # 3 submitted, 3 triaged, 1 incident
    # Not subscribed: the review that promoted the report (report.reviewed).
    assert "report.reviewed" not in {b["event"] for b in receiver.bodies()}
    assert any(e.action == "report.promoted" for e in events)
    # In order of the audit log, and each delivery once.
    ids = [b["event_id"] for b in receiver.bodies("/county")]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    # Village B's subscriber hears of village B only.
    assert [(b["event"], b["data"]["report"]["id"]) for b in receiver.bodies("/b")] == [
        ("report.submitted", far)
    ]

    text = b"".join(g["body"] for g in receiver.got).decode()
    assert FIRE_TEXT in text  # an ordinary report in full
    assert "PETITION-SECRET" not in text and "informant_id" not in text
    for body in receiver.bodies():
        report = body["data"].get("report")
        if report is not None and report["id"] == petition:
            assert report["redacted"] is True and "text" not in report and "lat" not in report
            assert set(body["data"]["after"] or {}) <= webhooks.SAFE_CHANGES
    with hooks.app_context():
        assert {d.status for d in deliveries(county) + deliveries(village_b)} == {"delivered"}
        assert len(deliveries(county)) == 7 and len(deliveries(village_b)) == 1


def test_every_event_arrives_exactly_once_after_a_receiver_outage(
    hooks: Flask, receiver: Receiver
) -> None:
    """The receiver is down (connection refused) while events happen; jobs fail and are
    rescheduled; the receiver comes back; the sweep sends everything, once, in order."""
    with hooks.app_context(), time_machine.travel(NOON, tick=False) as clock:
        sub_id, secret = subscribe(receiver.url(), ["*"])
        start = subscription(sub_id).last_event_id
        reports = [submit(f"inf{i}", "fire", f"火情 {i}", lon=LON_A + i) for i in (1, 2, 3)]
        work(hooks)
        incidents.create_incident(user("op"), IncidentCreate(report_ids=reports[:2]))
        work(hooks)
        planned = deliveries(sub_id)
        assert len(planned) >= 8
        head, rest = planned[0], planned[1:]
        assert head.status == "pending" and head.attempts == 1 and head.last_status is None
        assert "Connection" in (head.last_error or ""), head.last_error
        # In order: nothing after the head is tried while it waits for its retry.
        assert all(d.attempts == 0 for d in rest)
        assert head.next_attempt_at is not None
        assert timedelta(seconds=10) <= head.next_attempt_at - NOON <= timedelta(seconds=12.5)

        clock.shift(timedelta(seconds=15))
        sweep(hooks)  # the retry is due: it fails again, later retry
        head = deliveries(sub_id)[0]
        assert head.attempts == 2 and head.status == "pending"
        assert subscription(sub_id).failures == 2
        assert receiver.got == []

        receiver.start()
        clock.shift(timedelta(seconds=40))
        sweep(hooks)
        sweep(hooks)  # and again: nothing is sent twice
        work(hooks)
        events = deliverable_events(start)
        got = receiver.bodies()
        assert [b["event_id"] for b in got] == [e.id for e in events]
        assert len({g["headers"]["x-gridwatch-delivery"] for g in receiver.got}) == len(got)
        assert all(verify(secret, g["headers"], g["body"]) for g in receiver.got)
        assert {d.status for d in deliveries(sub_id)} == {"delivered"}
        assert deliveries(sub_id)[0].attempts == 3
        assert subscription(sub_id).failures == 0


def test_a_failing_receiver_exhausts_retries_and_is_disabled(
    hooks: Flask, receiver: Receiver
) -> None:
    hooks.config["GRIDWATCH_WEBHOOK_MAX_ATTEMPTS"] = 3
    hooks.config["GRIDWATCH_WEBHOOK_DISABLE_AFTER"] = 5
    receiver.status = 500
    receiver.start()
    with hooks.app_context(), time_machine.travel(NOON, tick=False) as clock:
        sub_id, _ = subscribe(receiver.url(), ["report.*"])
        for i in (1, 2):
            submit(f"inf{i}", "fire", "起火", lon=LON_A + i)
        work(hooks)
        for _ in range(6):  # past every back-off
            clock.shift(timedelta(minutes=5))
            sweep(hooks)
        planned = deliveries(sub_id)
        first = planned[0]
        assert first.status == "failed" and first.attempts == 3
        assert first.last_status == 500 and (first.last_error or "").startswith("HTTP 500")
        sub = subscription(sub_id)
        assert sub.active is False and sub.disabled_at is not None and sub.failures == 5
        assert planned[1].status == "pending" and planned[1].attempts == 2
        assert all(d.status == "pending" and d.attempts == 0 for d in planned[2:])
        assert len(receiver.got) == 5
        disabled = db.session.scalars(
            db.select(AuditEvent).where(AuditEvent.action == "webhook.disabled")
        ).all()
        assert len(disabled) == 1 and disabled[0].after["failures"] == 5
        # Disabled: nothing more is tried, and the API says so.
        clock.shift(timedelta(hours=3))
        sweep(hooks)
        assert len(receiver.got) == 5
        assert webhooks.get_subscription(user("admin"), sub_id)["active"] is False
        # Enabled again, the receiver mended: what waited goes out; the failed one stays.
        receiver.status = 204
        webhooks.set_active(user("admin"), sub_id, True)
        work(hooks)
        statuses = Counter(d.status for d in deliveries(sub_id))
        assert statuses == {"failed": 1, "delivered": len(planned) - 1}
        assert subscription(sub_id).failures == 0


def test_lost_jobs_are_recovered_and_a_delivery_is_sent_once(
    hooks: Flask, receiver: Receiver
) -> None:
    receiver.start()
    connection = redis.Redis.from_url(hooks.config["REDIS_URL"])
    with hooks.app_context(), time_machine.travel(NOON, tick=False) as clock:
        sub_id, _ = subscribe(receiver.url(), ["report.submitted"])
        submit("inf1", "fire", "起火", lon=LON_A)
        connection.flushdb()  # Redis lost the planner's job (and its wake-up flag)
        work(hooks)
        assert deliveries(sub_id) == [] and receiver.got == []
        clock.shift(timedelta(seconds=20))
        sweep(hooks)
        assert len(receiver.got) == 1
        (delivered,) = deliveries(sub_id)
        assert delivered.status == "delivered"
        # The job once more, and by hand: nothing is sent again.
        Queue(QUEUE_NAME, connection=connection).enqueue(
            "dispatch.jobs.deliver_webhook", delivered.id
        )
        work(hooks)
        assert webhooks.deliver(delivered.id) == 0
        assert len(receiver.got) == 1

        # Planned but its delivery job lost: the sweep sends it.
        submit("inf2", "fire", "又起火", lon=LON_A + 1)
        work(hooks)  # plans and sends
        submit("inf3", "fire", "还起火", lon=LON_A + 2)
        webhooks.plan_deliveries()
        connection.flushdb()  # and the delivery job with it
        assert deliveries(sub_id)[-1].status == "pending"
        sweep(hooks)
        assert len(receiver.got) == 3
        pending = [d.id for d in deliveries(sub_id) if d.status != "delivered"]
        assert pending == []
    connection.close()


def test_two_workers_at_once_send_a_delivery_once(hooks: Flask, receiver: Receiver) -> None:
    receiver.start()
    with hooks.app_context():
        sub_id, _ = subscribe(receiver.url(), ["report.submitted"])
        for i in (1, 2, 3):
            submit(f"inf{i}", "fire", "起火", lon=LON_A + i)
        webhooks.plan_deliveries()
        head = deliveries(sub_id)[0].id
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def worker() -> None:
        with hooks.app_context():
            barrier.wait()
            try:
                webhooks.deliver(head)
            except BaseException as exc:  # reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    ids = [b["event_id"] for b in receiver.bodies()]
    assert len(ids) == 3 and len(set(ids)) == 3
    with hooks.app_context():
        assert {d.status for d in deliveries(sub_id)} == {"delivered"}
        assert all(d.attempts == 1 for d in deliveries(sub_id))


def _work(app: Flask) -> None:
    with app.app_context():
        work(app)


def _headers(app: Flask, name: str) -> dict[str, str]:
    with app.app_context():
        return {"Authorization": f"Bearer {auth.issue_token(user(name))}"}


def test_the_admin_api(hooks: Flask, receiver: Receiver) -> None:
    receiver.start()
    client = hooks.test_client()
    admin = _headers(hooks, "admin")
    body = {"url": receiver.url(), "event_types": ["incident.*", "report.reviewed"]}
    made = client.post("/api/webhooks", json={**body, "area_code": VILLAGE_A}, headers=admin)
    assert made.status_code == 201, made.get_json()
    secret = made.get_json()["secret"]
    hook = made.get_json()["webhook"]
    assert secret.startswith("whsec_") and len(secret) > 40
    assert hook["area_code"] == VILLAGE_A and hook["active"] is True
    assert hook["event_types"] == ["incident.*", "report.reviewed"]
    path = f"/api/webhooks/{hook['id']}"
    # The secret is shown once: never again, nor in the audit log.
    for url in ("/api/webhooks", path, f"{path}/deliveries"):
        answer = client.get(url, headers=admin)
        assert answer.status_code == 200 and secret not in answer.get_data(as_text=True)
    assert [h["id"] for h in client.get("/api/webhooks", headers=admin).get_json()] == [hook["id"]]

    # The admin of the village sees it; the other village's admin and other roles do not.
    assert client.get(path, headers=_headers(hooks, "admin-a")).status_code == 200
    other = _headers(hooks, "admin-b")
    assert client.get("/api/webhooks", headers=other).get_json() == []
    for method, url, payload in (
        ("GET", path, None),
        ("PATCH", path, {"active": False}),
        ("DELETE", path, None),
        ("GET", f"{path}/deliveries", None),
        ("POST", f"{path}/test", {}),
    ):
        assert client.open(url, method=method, json=payload, headers=other).status_code == 404
    refused = client.post("/api/webhooks", json={**body, "area_code": VILLAGE_A}, headers=other)
    assert refused.status_code == 403
    for name in ("op", "sup", "inf1"):
        headers = _headers(hooks, name)
        assert client.get("/api/webhooks", headers=headers).status_code == 403
        assert client.get(path, headers=headers).status_code == 403
        assert client.post("/api/webhooks", json=body, headers=headers).status_code == 403

    # Bad subscriptions are refused with the field at fault.
    hooks.config["GRIDWATCH_WEBHOOK_NETWORKS"] = ()
    for bad, field in (
        ({**body, "url": "ftp://example.org/x"}, "url"),
        ({**body, "url": "https://user:pw@example.org/x"}, "url"),
        ({**body, "url": receiver.url()}, "url"),  # loopback, not allowed now
        ({**body, "url": "http://169.254.169.254/latest"}, "url"),
        ({**body, "event_types": ["team.status"]}, "event_types.0"),
        ({**body, "event_types": []}, "event_types"),
        ({**body, "url": "https://example.org/" + "x" * 2000}, "url"),
    ):
        answer = client.post("/api/webhooks", json=bad, headers=admin)
        assert answer.status_code == 422, (bad, answer.get_json())
        assert answer.get_json()["error"]["field"] == field, answer.get_json()
    hooks.config["GRIDWATCH_WEBHOOK_NETWORKS"] = ("127.0.0.0/8",)

    # A ping, then the log; a new secret signs what follows.
    ping = client.post(f"{path}/test", headers=admin)
    assert ping.status_code == 201 and ping.get_json()["delivery"]["status"] == "pending"
    _work(hooks)
    assert receiver.got[-1]["headers"]["x-gridwatch-event"] == "ping"
    assert verify(secret, receiver.got[-1]["headers"], receiver.got[-1]["body"])
    log = client.get(f"{path}/deliveries", headers=admin).get_json()
    assert [(d["event"], d["status"], d["attempts"]) for d in log] == [("ping", "delivered", 1)]
    assert log[0]["payload"]["id"] == log[0]["id"]
    assert client.get(f"{path}/deliveries?status=failed", headers=admin).get_json() == []
    rotated = client.patch(path, json={"rotate_secret": True}, headers=admin).get_json()
    assert rotated["secret"] != secret
    client.post(f"{path}/test", headers=admin)
    _work(hooks)
    assert verify(rotated["secret"], receiver.got[-1]["headers"], receiver.got[-1]["body"])
    assert not verify(secret, receiver.got[-1]["headers"], receiver.got[-1]["body"])

    # Disable, change, delete.
    off = client.patch(path, json={"active": False, "event_types": ["*"]}, headers=admin)
    assert off.status_code == 200
    assert off.get_json()["webhook"]["active"] is False
    assert off.get_json()["webhook"]["disabled_at"] is not None
    assert off.get_json()["webhook"]["event_types"] == ["*"]
    assert client.delete(path, headers=admin).get_json() == {"ok": True, "deleted": hook["id"]}
    assert client.get(path, headers=admin).status_code == 404
    with hooks.app_context():
        kept = db.session.scalars(
            db.select(AuditEvent).where(AuditEvent.entity_type == "webhook")
        ).all()
        actions = [e.action for e in kept]
        assert actions.count("webhook.created") == 1 and "webhook.deleted" in actions
        assert actions.count("webhook.updated") == 2 and actions.count("webhook.ping") == 2
        for event in kept:
            assert secret not in json.dumps([event.before, event.after])
            assert rotated["secret"] not in json.dumps([event.before, event.after])
    # The webhooks' own bookkeeping is never delivered as an event.
    assert all(not b["data"].get("action", "").startswith("webhook.") for b in receiver.bodies())


def test_the_command_line(hooks: Flask, receiver: Receiver) -> None:
    runner = hooks.test_cli_runner()
    added = runner.invoke(
        args=["webhooks", "add", receiver.url(), "--events", "incident.*", "--area", COUNTY]
    )
    assert added.exit_code == 0, added.output
    secret = added.output.split()[-1]
    assert secret.startswith("whsec_")
    listed = runner.invoke(args=["webhooks", "list"])
    assert receiver.url() in listed.output and "active" in listed.output
    assert secret not in listed.output
    hook_id = listed.output.split()[0]
    assert "disabled" in runner.invoke(args=["webhooks", "disable", hook_id]).output
    bad = runner.invoke(args=["webhooks", "add", "ftp://x.org/a", "--events", "*"])
    assert bad.exit_code != 0 and "url" in bad.output


# PostgreSQL only: SQLite has one writer at a time, so its ids become visible in order.
@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_an_event_committed_late_is_not_skipped(hooks: Flask, receiver: Receiver) -> None:
    """PostgreSQL hands out audit ids before the commit: id 100 may become visible after
    101. The planner waits at the hole; a hole that stays (a rollback) is passed later."""
    receiver.start()
    with hooks.app_context(), time_machine.travel(NOON, tick=False) as clock:
        sub_id, _ = subscribe(receiver.url(), ["report.*", "incident.*"])
        first = submit("inf1", "fire", "起火", lon=LON_A)
        webhooks.plan_deliveries()
        slow = db.engine.connect()
        tx = slow.begin()
        late_id = slow.execute(
            insert(AuditEvent)
            .values(
                at=NOON,
                action="report.escalated",
                entity_type="report",
                entity_id=str(first),
                area_code=f"{VILLAGE_A}001",
                after={"risk_level": "red"},
            )
            .returning(AuditEvent.id)
        ).scalar_one()
        second = submit("inf2", "fire", "又起火", lon=LON_A + 1)  # committed after the hole
        webhooks.plan_deliveries()
        planned = {d.event_id for d in deliveries(sub_id)}
        assert late_id not in planned and max(planned) < late_id
        tx.commit()
        slow.close()
        webhooks.plan_deliveries()
        work(hooks)
        got = receiver.bodies()
        assert [b["event_id"] for b in got] == sorted(b["event_id"] for b in got)
        assert late_id in [b["event_id"] for b in got]
        assert [b["data"]["report"]["id"] for b in got if b["event"] == "report.submitted"] == [
            first,
            second,
        ]

        # A hole that never fills (the transaction rolled back) holds the line only a while.
        slow = db.engine.connect()
        tx = slow.begin()
        slow.execute(
            insert(AuditEvent).values(
                at=NOON, action="report.escalated", entity_type="report", entity_id=str(first)
            )
        )
        third = submit("inf3", "fire", "还起火", lon=LON_A + 2)
        tx.rollback()
        slow.close()
        webhooks.plan_deliveries()
        assert third not in _submitted(sub_id)
        clock.shift(timedelta(seconds=webhooks.GAP_SETTLE_S + 1))
        webhooks.plan_deliveries()
        assert third in _submitted(sub_id)


def _submitted(sub_id: int) -> set[int]:
    return {
        d.payload["data"]["report"]["id"]
        for d in deliveries(sub_id)
        if d.event_type == "report.submitted"
    }


def test_a_receiver_at_a_refused_address_gets_nothing(hooks: Flask, receiver: Receiver) -> None:
    """The address is checked on the connected socket: a receiver subscribed while its
    network was allowed gets nothing once it is not."""
    receiver.start()
    with hooks.app_context():
        sub_id, _ = subscribe(receiver.url(), ["report.submitted"])
        hooks.config["GRIDWATCH_WEBHOOK_NETWORKS"] = ()
        submit("inf1", "fire", "起火", lon=LON_A)
        work(hooks)
        (refused,) = deliveries(sub_id)
        assert refused.status == "pending" and refused.attempts == 1
        assert "not a public address" in (refused.last_error or ""), refused.last_error
        assert receiver.got == []
        # A name for this machine is refused when subscribing already.
        with pytest.raises(ValidationFailed):
            subscribe(f"http://localhost:{receiver.port}/hook", ["*"])
