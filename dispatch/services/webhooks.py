"""Webhooks: other systems receive report and incident events as signed JSON (docs/webhooks.md).

Planning is a transactional outbox over the audit log. Every state change already appends
an audit event in its own transaction; `plan_deliveries` reads the events past each
subscription's cursor (`last_event_id`), inserts one `WebhookDelivery` per event the
subscriber wants, and moves the cursor, in one transaction. Nothing on the hot path writes
for webhooks: a commit that wrote report or incident events only wakes the planner (a Redis
flag, and a job), and the sweep plans whatever a lost job left behind.

Delivery is at least once, and in order per subscription: `deliver` sends a subscription's
pending deliveries oldest event first, and never a later one while an earlier one waits for
its retry. A delivery is claimed with a conditional UPDATE before it is sent, so two workers
never send it at once, and a delivered one is never sent again.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import random
import secrets
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import redis
import requests
from flask import current_app
from requests.adapters import HTTPAdapter
from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import selectinload
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from grid.codes import jurisdiction_prefix

from ..errors import Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..models import (
    Area,
    AuditEvent,
    Incident,
    Report,
    Role,
    User,
    WebhookDelivery,
    WebhookSubscription,
    utcnow,
)
from ..queue import enqueue, redis_client
from ..schemas import WEBHOOK_EVENT_TYPES, WebhookCreate, WebhookDeliveryQuery, WebhookUpdate
from . import privacy
from .access import within
from .uow import audit, outbox, use_case
from .views import incident_view, iso, report_view

log = logging.getLogger(__name__)

LOCAL_TZ = ZoneInfo("Asia/Shanghai")

# ---- event types --------------------------------------------------------------------------

# Audit actions → the event types subscribers choose from. Only these are ever delivered:
# accounts, teams, tasks and the webhooks' own bookkeeping (`webhook.*`) never leave.
ACTION_TYPES: dict[str, str] = {
    "report.submitted": "report.submitted",
    "report.triaged": "report.triaged",
    "report.verify": "report.reviewed",
    "report.dismiss": "report.reviewed",
    "report.merge": "report.reviewed",
    "report.promoted": "report.reviewed",
    "report.clustered": "report.updated",
    "report.joined_incident": "report.updated",
    "report.escalated": "report.escalated",
    "incident.created": "incident.created",
    "incident.status": "incident.updated",  # or resolved / closed / cancelled, below
    "incident.resolution_note": "incident.updated",
    "incident.cascade_stopped": "incident.updated",
}
INCIDENT_ENDINGS = {
    "resolved": "incident.resolved",
    "closed": "incident.closed",
    "cancelled": "incident.cancelled",
}
assert set(ACTION_TYPES.values()) | set(INCIDENT_ENDINGS.values()) == set(WEBHOOK_EVENT_TYPES)


def event_type(action: str, after: dict[str, Any] | None) -> str | None:
    """The webhook event type of an audit event, or None when it is never delivered.

    >>> event_type("report.dismiss", None), event_type("team.status", None)
    ('report.reviewed', None)
    >>> event_type("incident.status", {"status": "resolved"})
    'incident.resolved'
    """
    if action == "incident.status":
        status = (after or {}).get("status")
        return INCIDENT_ENDINGS.get(str(status), "incident.updated")
    return ACTION_TYPES.get(action)


def wants(event_types: Iterable[str], kind: str) -> bool:
    """Does a subscription to `event_types` want an event of type `kind`?

    >>> wants(["incident.*"], "incident.resolved"), wants(["report.triaged"], "report.submitted")
    (True, False)
    """
    chosen = set(event_types)
    return kind in chosen or "*" in chosen or f"{kind.split('.')[0]}.*" in chosen


# ---- who may manage subscriptions --------------------------------------------------------


def _require_admin(actor: User | None, area_code: str) -> None:
    """None is the command line; otherwise an admin whose area covers the subscription's."""
    if actor is None:
        return
    if actor.role != Role.ADMIN:
        raise Forbidden("only an admin manages webhooks")
    if not within(area_code, actor.area_code):
        raise Forbidden("the area is outside your jurisdiction", field="area_code")


def _subscription_for(actor: User | None, webhook_id: int) -> WebhookSubscription:
    if actor is not None and actor.role != Role.ADMIN:
        raise Forbidden("only an admin manages webhooks")
    sub = db.session.get(WebhookSubscription, webhook_id)
    # Another county's subscription is "not found", so ids cannot be probed.
    if sub is None or (actor is not None and not within(sub.area_code, actor.area_code)):
        raise NotFound("no such webhook", field="webhook_id")
    return sub


def _city() -> str:
    code = db.session.scalar(select(Area.code).where(Area.level == "city").limit(1))
    return code or "620100"


def _check_area(code: str) -> None:
    if db.session.get(Area, code) is None:
        raise ValidationFailed(f"no area {code}", field="area_code")


# ---- where receivers may be (SSRF) --------------------------------------------------------


def _networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    try:
        return [
            ipaddress.ip_network(cidr, strict=False)
            for cidr in current_app.config.get("GRIDWATCH_WEBHOOK_NETWORKS", ())
        ]
    except ValueError as exc:
        raise RuntimeError(f"GRIDWATCH_WEBHOOK_NETWORKS: {exc}") from exc


def address_allowed(
    address: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]
) -> bool:
    """May a receiver be at `address`? Public internet addresses, and the networks the
    deployment allows (`GRIDWATCH_WEBHOOK_NETWORKS`); never this machine or the private
    networks behind it (Redis, PostgreSQL, a cloud's metadata service) unless allowed.

    >>> address_allowed("93.184.216.34", []), address_allowed("127.0.0.1", [])
    (True, False)
    >>> address_allowed("169.254.169.254", []), address_allowed("10.1.2.3", [])
    (False, False)
    >>> address_allowed("127.0.0.1", [ipaddress.ip_network("127.0.0.0/8")])
    True
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in net for net in networks):
        return True
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


def check_url(url: str) -> str:
    """An http(s) URL with a host, no credentials, not aimed at a refused address."""
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise ValidationFailed("the URL may not contain spaces or control characters", field="url")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http"):
        raise ValidationFailed("the URL must start with https:// (or http://)", field="url")
    if not parts.hostname:
        raise ValidationFailed("the URL has no host", field="url")
    if parts.username is not None or parts.password is not None:
        raise ValidationFailed(
            "put no user name or password in the URL: the signature says who sends", field="url"
        )
    if parts.fragment:
        raise ValidationFailed("the URL may not have a #fragment", field="url")
    try:
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        raise ValidationFailed(
            "the URL's port is not a number from 0 to 65535", field="url"
        ) from None
    host = parts.hostname
    literal = "127.0.0.1" if host == "localhost" or host.endswith(".localhost") else host
    try:
        ipaddress.ip_address(literal)
    except ValueError:
        return url  # a name: its addresses are checked on every connection
    if not address_allowed(literal, _networks()):
        raise ValidationFailed(
            f"{host} is not a public address; to allow receivers in a private network, "
            "list it in GRIDWATCH_WEBHOOK_NETWORKS",
            field="url",
        )
    return url


class RefusedAddress(OSError):
    """The receiver's host resolved to an address receivers may not be at."""


def _checked(conn_cls: type[HTTPConnection], networks: list[Any]) -> type[HTTPConnection]:
    class Checked(conn_cls):  # type: ignore[valid-type,misc]
        # The address is checked on the connected socket, not on an earlier lookup: a name
        # that resolves elsewhere the second time (DNS rebinding) gains nothing.
        def _new_conn(self) -> socket.socket:
            sock = super()._new_conn()
            peer = str(sock.getpeername()[0])
            if not address_allowed(peer, networks):
                sock.close()
                raise RefusedAddress(
                    f"{self.host} is at {peer}, not a public address (GRIDWATCH_WEBHOOK_NETWORKS)"
                )
            return sock

    return Checked


class _CheckedAdapter(HTTPAdapter):
    def __init__(self, networks: list[Any]) -> None:
        self.networks = networks
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        http = _checked(HTTPConnection, self.networks)
        https = _checked(HTTPSConnection, self.networks)
        self.poolmanager.pool_classes_by_scheme = {
            "http": type("CheckedPool", (HTTPConnectionPool,), {"ConnectionCls": http}),
            "https": type("CheckedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https}),
        }


@contextmanager
def http_session() -> Iterator[requests.Session]:
    """A session that connects only to allowed addresses, directly (no proxy from the
    environment), and follows no redirect."""
    session = requests.Session()
    session.trust_env = False
    session.max_redirects = 0
    adapter = _CheckedAdapter(_networks())
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    try:
        yield session
    finally:
        session.close()


# ---- managing subscriptions ----------------------------------------------------------------


def _new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


def _shown_url(url: str) -> str:
    """The URL for the audit log: a query string may hold the receiver's own token."""
    return url.split("?", 1)[0] + ("?…" if "?" in url else "")


def _audit_view(sub: WebhookSubscription) -> dict[str, Any]:
    """What the audit log keeps of a subscription: never its secret."""
    return {
        "url": _shown_url(sub.url),
        "event_types": list(sub.event_types),
        "area_code": sub.area_code,
        "active": sub.active,
    }


def subscription_view(
    sub: WebhookSubscription, counts: dict[str, int] | None = None
) -> dict[str, Any]:
    return {
        "id": sub.id,
        "url": sub.url,
        "event_types": list(sub.event_types),
        "area_code": sub.area_code,
        "active": sub.active,
        "failures": sub.failures,
        "disabled_at": iso(sub.disabled_at),
        "last_event_id": sub.last_event_id,
        "created_by": sub.created_by,
        "created_at": iso(sub.created_at),
        "deliveries": {"pending": 0, "delivered": 0, "failed": 0, **(counts or {})},
    }


def delivery_view(delivery: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "webhook_id": delivery.subscription_id,
        "event_id": delivery.event_id,
        "event": delivery.event_type,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": iso(delivery.next_attempt_at),
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
        "delivered_at": iso(delivery.delivered_at),
        "created_at": iso(delivery.created_at),
        "payload": {"id": delivery.id, **delivery.payload},
    }


def _counts(ids: list[int]) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {}
    if not ids:
        return out
    rows = db.session.execute(
        select(WebhookDelivery.subscription_id, WebhookDelivery.status, func.count())
        .where(WebhookDelivery.subscription_id.in_(ids))
        .group_by(WebhookDelivery.subscription_id, WebhookDelivery.status)
    )
    for sub_id, status, count in rows:
        out.setdefault(sub_id, {})[status] = count
    return out


def _normalise(event_types: list[str]) -> list[str]:
    return sorted(set(event_types))


def _forget_active() -> None:
    """After a commit that may have changed which subscriptions are active."""
    current_app.extensions.pop(ACTIVE_CACHE, None)


@use_case
def create_subscription(actor: User | None, data: WebhookCreate) -> dict[str, Any]:
    """A new subscriber; the answer holds its secret, shown this once."""
    area = data.area_code or (actor.area_code if actor is not None else _city())
    _require_admin(actor, area)
    _check_area(area)
    # From now on: events already in the log are not sent to a new subscriber.
    cursor = db.session.scalar(select(func.max(AuditEvent.id))) or 0
    secret = _new_secret()
    sub = WebhookSubscription(
        url=check_url(data.url),
        secret=secret,
        event_types=_normalise(list(data.event_types)),
        area_code=area,
        active=True,
        failures=0,
        last_event_id=cursor,
        created_by=actor.id if actor is not None else None,
        created_at=utcnow(),
    )
    db.session.add(sub)
    db.session.flush()
    audit("webhook.created", "webhook", sub.id, actor=actor, area_code=area, after=_audit_view(sub))
    outbox().after_commit.append(_forget_active)
    return {"webhook": subscription_view(sub), "secret": secret}


def list_subscriptions(actor: User | None) -> list[dict[str, Any]]:
    query = select(WebhookSubscription).order_by(WebhookSubscription.id)
    if actor is not None:
        if actor.role != Role.ADMIN:
            raise Forbidden("only an admin manages webhooks")
        prefix = jurisdiction_prefix(actor.area_code)
        query = query.where(WebhookSubscription.area_code.startswith(prefix))
    subs = list(db.session.scalars(query))
    counts = _counts([s.id for s in subs])
    return [subscription_view(s, counts.get(s.id)) for s in subs]


def get_subscription(actor: User | None, webhook_id: int) -> dict[str, Any]:
    sub = _subscription_for(actor, webhook_id)
    return subscription_view(sub, _counts([sub.id]).get(sub.id))


@use_case
def update_subscription(actor: User | None, webhook_id: int, data: WebhookUpdate) -> dict[str, Any]:
    """Change the URL, events or area; disable or enable; or rotate the secret (the answer
    then holds the new one). Enabling resumes where the subscription stopped: what was
    pending is sent, and the events since are planned."""
    sub = _subscription_for(actor, webhook_id)
    before = _audit_view(sub)
    if data.area_code is not None and data.area_code != sub.area_code:
        _require_admin(actor, data.area_code)
        _check_area(data.area_code)
        sub.area_code = data.area_code
    if data.url is not None:
        sub.url = check_url(data.url)
    if data.event_types is not None:
        sub.event_types = _normalise(list(data.event_types))
    answer: dict[str, Any] = {}
    if data.rotate_secret:
        sub.secret = answer["secret"] = _new_secret()
    if data.active is False and sub.active:
        sub.active = False
        sub.disabled_at = utcnow()
    elif data.active is True and not sub.active:
        sub.active = True
        sub.disabled_at = None
        sub.failures = 0
        db.session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.subscription_id == sub.id, WebhookDelivery.status == "pending")
            .values(next_attempt_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        _wake(sub.id)
    after = _audit_view(sub)
    if after != before or data.rotate_secret:
        audit(
            "webhook.updated",
            "webhook",
            sub.id,
            actor=actor,
            area_code=sub.area_code,
            before=before,
            after={**after, "secret_rotated": data.rotate_secret},
        )
    outbox().after_commit.append(_forget_active)
    return {"webhook": subscription_view(sub, _counts([sub.id]).get(sub.id)), **answer}


@use_case
def delete_subscription(actor: User | None, webhook_id: int) -> dict[str, Any]:
    """Remove a subscriber and its delivery log (the audit log keeps that it existed)."""
    sub = _subscription_for(actor, webhook_id)
    before = _audit_view(sub)
    db.session.execute(delete(WebhookDelivery).where(WebhookDelivery.subscription_id == sub.id))
    db.session.delete(sub)
    audit(
        "webhook.deleted",
        "webhook",
        webhook_id,
        actor=actor,
        area_code=before["area_code"],
        before=before,
    )
    outbox().after_commit.append(_forget_active)
    return {"deleted": webhook_id}


def set_active(actor: User | None, webhook_id: int, active: bool) -> dict[str, Any]:
    return update_subscription(actor, webhook_id, WebhookUpdate(active=active))


def list_deliveries(
    actor: User | None, webhook_id: int, query: WebhookDeliveryQuery
) -> list[dict[str, Any]]:
    """The delivery log, newest first."""
    sub = _subscription_for(actor, webhook_id)
    select_ = (
        select(WebhookDelivery)
        .where(WebhookDelivery.subscription_id == sub.id)
        .order_by(WebhookDelivery.id.desc())
        .limit(query.limit)
    )
    if query.status is not None:
        select_ = select_.where(WebhookDelivery.status == query.status)
    return [delivery_view(d) for d in db.session.scalars(select_)]


@use_case
def ping(actor: User | None, webhook_id: int) -> dict[str, Any]:
    """Queue a `ping` to the subscriber: it goes out after whatever is waiting already."""
    sub = _subscription_for(actor, webhook_id)
    # The delivery needs its event's id now: the event is written here, not at the commit.
    event = AuditEvent(
        at=utcnow(),
        actor_id=actor.id if actor is not None else None,
        action="webhook.ping",
        entity_type="webhook",
        entity_id=str(sub.id),
        area_code=sub.area_code,
    )
    db.session.add(event)
    db.session.flush()
    delivery = WebhookDelivery(
        subscription_id=sub.id,
        event_id=event.id,
        event_type="ping",
        payload={
            "event": "ping",
            "event_id": event.id,
            "occurred_at": _local(event.at),
            "data": {
                "webhook": {
                    "id": sub.id,
                    "event_types": list(sub.event_types),
                    "area_code": sub.area_code,
                },
                "message": "Gridwatch webhook test",
            },
        },
        status="pending",
        attempts=0,
        next_attempt_at=utcnow(),
        created_at=utcnow(),
    )
    db.session.add(delivery)
    db.session.flush()
    outbox().enqueue(DELIVER_JOB, delivery.id)
    return {"delivery": delivery_view(delivery)}


# ---- planning deliveries from the audit log -----------------------------------------------

PLAN_JOB = "dispatch.jobs.plan_webhook_deliveries"
DELIVER_JOB = "dispatch.jobs.deliver_webhook"
PLAN_BATCH = 500
# How long a hole in the audit ids must have been seen before the cursor moves past it.
GAP_SETTLE_S = 15.0
GAP_KEY = "gridwatch:webhooks:gap:"
GAPS = "gridwatch_webhook_gaps"
# Is any subscription active? Asked again after this long (per process), so that a commit
# in a city without subscribers costs nothing here.
ACTIVE_CACHE = "gridwatch_webhooks_active"
ACTIVE_CACHE_S = 5.0
# Set while a planner job is waiting: commits meanwhile need not enqueue another.
PLAN_FLAG = "gridwatch:webhooks:plan"
PLAN_FLAG_TTL_S = 15
DELIVERABLE = frozenset(ACTION_TYPES)
# What a sensitive report's or incident's event may say of the change (privacy.py): the
# state, never words, places or people.
SAFE_CHANGES = frozenset(
    {
        "status",
        "risk_level",
        "risk_score",
        "severity",
        "category",
        "incident_id",
        "cluster_id",
        "cluster_size",
        "cluster_head",
        "into",
        "report_ids",
        "cascade_stopped",
        "review_due_at",
        "overdue_s",
        "rules",
    }
)
# Staff names (an escalation's supervisors) are nobody else's business.
NEVER_SENT = frozenset({"supervisors", "informant_id"})
INCIDENT_SENSITIVE_FIELDS = frozenset({"title", "lat", "lon", "cell_code", "resolution_note"})


def events_committed() -> None:
    """After a commit that wrote report or incident events (uow.audit): wake the planner,
    with at most one planner job waiting at a time. Never raises: the sweep catches up."""
    try:
        client = redis_client()
        if client is None or not _any_active():
            return
        if client.set(PLAN_FLAG, "1", nx=True, ex=PLAN_FLAG_TTL_S):
            enqueue(PLAN_JOB)
    except Exception:
        log.warning("could not wake the webhook planner; the sweep will", exc_info=True)


def _any_active() -> bool:
    cached = current_app.extensions.get(ACTIVE_CACHE)
    now = time.monotonic()
    if cached is not None and 0 <= now - cached[0] < ACTIVE_CACHE_S:
        return bool(cached[1])
    # A connection of its own: the caller's session has just committed and stays idle.
    with db.engine.connect() as connection:
        found = (
            connection.execute(
                select(WebhookSubscription.id).where(WebhookSubscription.active.is_(True)).limit(1)
            ).first()
            is not None
        )
    current_app.extensions[ACTIVE_CACHE] = (now, found)
    return found


def plan_job() -> int:
    """The planner job: clear the wake-up flag first, so that a commit from now on wakes
    another job, then plan."""
    client = redis_client()
    if client is not None:
        try:
            client.delete(PLAN_FLAG)
        except redis.RedisError:
            log.warning("could not clear the webhook planner's flag", exc_info=True)
    return plan_deliveries()


@dataclass
class _Step:
    made: int
    more: bool


def plan_deliveries(max_batches: int = 10) -> int:
    """Plan deliveries for the audit events past the cursors, a batch per transaction;
    returns how many were made. What remains after `max_batches` goes to another job."""
    made = 0
    for _ in range(max_batches):
        step = _plan_batch()
        made += step.made
        if not step.more:
            return made
    enqueue(PLAN_JOB)
    return made


@use_case
def _plan_batch() -> _Step:
    # Locked: a second planner waits, then reads the cursors this one moved.
    subs = list(
        db.session.scalars(
            select(WebhookSubscription)
            .where(WebhookSubscription.active.is_(True))
            .order_by(WebhookSubscription.id)
            .with_for_update()
        )
    )
    if not subs:
        return _Step(0, False)
    start = min(s.last_event_id for s in subs)
    ids = list(
        db.session.scalars(
            select(AuditEvent.id)
            .where(AuditEvent.id > start)
            .order_by(AuditEvent.id)
            .limit(PLAN_BATCH)
        )
    )
    horizon = safe_horizon(start, ids, _gap_settled)
    if horizon == start:
        return _Step(0, False)
    events = list(
        db.session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.id > start,
                AuditEvent.id <= horizon,
                AuditEvent.action.in_(DELIVERABLE),
            )
            .order_by(AuditEvent.id)
        )
    )
    rows = _delivery_rows(subs, events)
    if rows:
        _insert_new(rows)
    for sub in subs:
        sub.last_event_id = max(sub.last_event_id, horizon)
    for sub_id in sorted({row["subscription_id"] for row in rows}):
        _wake(sub_id)
    return _Step(len(rows), len(ids) == PLAN_BATCH and horizon == ids[-1])


def safe_horizon(start: int, ids: list[int], gap_settled: Callable[[int], bool]) -> int:
    """How far past `start` the cursor may move, given the visible audit ids after it.

    Ids come from a sequence as each transaction inserts its audit events, but
    transactions commit in their own order: on PostgreSQL, id 101 may be visible while
    100 is still being committed. A cursor moved to 101 would skip 100 for ever. So the
    cursor moves only through consecutive ids, and stops before a hole, until the hole has
    been seen for GAP_SETTLE_S: a transaction commits within milliseconds of inserting its
    audit events (uow writes them just before the commit), so a hole that old is an id
    rolled back, never to appear. (On SQLite one writer at a time: no holes.)

    >>> safe_horizon(10, [11, 12, 14], lambda first: False)
    12
    >>> safe_horizon(10, [11, 12, 14], lambda first: True)
    14
    >>> safe_horizon(10, [], lambda first: True)
    10
    """
    horizon = start
    for event_id in ids:
        if event_id != horizon + 1 and not gap_settled(horizon + 1):
            break
        horizon = event_id
    return horizon


def _gap_settled(first_missing: int) -> bool:
    """Has the hole starting at this id been seen for GAP_SETTLE_S? The first sighting is
    kept in Redis (shared by the workers), else in this process."""
    now = time.time()
    client = redis_client()
    if client is not None:
        try:
            key = f"{GAP_KEY}{first_missing}"
            client.set(key, repr(now), nx=True, ex=3600)
            seen = float(client.get(key) or now)
            return now - seen >= GAP_SETTLE_S
        except redis.RedisError:
            log.warning("gap bookkeeping without Redis", exc_info=True)
    gaps: dict[int, float] = current_app.extensions.setdefault(GAPS, {})
    if len(gaps) > 10_000:
        gaps.clear()
    return now - gaps.setdefault(first_missing, now) >= GAP_SETTLE_S


def _local(at: datetime) -> str:
    return at.astimezone(LOCAL_TZ).isoformat(timespec="milliseconds")


def _delivery_rows(
    subs: list[WebhookSubscription], events: list[AuditEvent]
) -> list[dict[str, Any]]:
    wanted: list[tuple[WebhookSubscription, AuditEvent, str]] = []
    for event in events:
        kind = event_type(event.action, event.after)
        if kind is None:
            continue
        for sub in subs:
            if (
                event.id > sub.last_event_id
                and wants(sub.event_types, kind)
                and within(event.area_code, sub.area_code)
            ):
                wanted.append((sub, event, kind))
    if not wanted:
        return []
    payloads = _payloads([e for _, e, _ in wanted])
    now = utcnow()
    return [
        {
            "subscription_id": sub.id,
            "event_id": event.id,
            "event_type": kind,
            "payload": {"event": kind, **payloads[event.id]},
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for sub, event, kind in wanted
    ]


def _ids_of(events: list[AuditEvent], entity_type: str) -> set[int]:
    out = set()
    for e in events:
        if e.entity_type == entity_type and e.entity_id.isdigit():
            out.add(int(e.entity_id))
    return out


def _payloads(events: list[AuditEvent]) -> dict[int, dict[str, Any]]:
    """Each event's payload but for its type: the object as it is now (privacy rules for
    a reader outside the city's staff), and what the event changed."""
    report_ids = _ids_of(events, "report")
    incident_ids = _ids_of(events, "incident")
    reports = {r.id: r for r in db.session.scalars(select(Report).where(Report.id.in_(report_ids)))}
    incidents = {
        i.id: i
        for i in db.session.scalars(
            select(Incident)
            .where(Incident.id.in_(incident_ids))
            .options(selectinload(Incident.reports))
        )
    }
    out: dict[int, dict[str, Any]] = {}
    for event in events:
        if event.id in out:
            continue
        data: dict[str, Any] = {"action": event.action}
        entity = int(event.entity_id) if event.entity_id.isdigit() else None
        if event.entity_type == "report":
            report = reports.get(entity or 0)
            sensitive = report is None or privacy.is_sensitive(report)
            if report is not None:
                view = report_view(report)  # never the informant
                data["report"] = privacy.redact(view) if sensitive else view
        else:
            incident = incidents.get(entity or 0)
            sensitive = incident is None or _incident_sensitive(incident)
            if incident is not None:
                view = incident_view(incident)
                data["incident"] = _redact_incident(view) if sensitive else view
        data["before"] = _changes(event.before, sensitive)
        data["after"] = _changes(event.after, sensitive)
        out[event.id] = {"event_id": event.id, "occurred_at": _local(event.at), "data": data}
    return out


def _incident_sensitive(incident: Incident) -> bool:
    """An incident about a petition or public opinion (its category or any of its reports)
    is told like one of those reports: its title and notes may repeat their words."""
    categories = privacy.sensitive_categories()
    return incident.category in categories or any(
        r.category in categories for r in incident.reports
    )


def _redact_incident(view: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in view.items() if k not in INCIDENT_SENSITIVE_FIELDS}
    out["redacted"] = True
    if isinstance(out.get("area_code"), str) and len(out["area_code"]) > 12:
        out["area_code"] = out["area_code"][:12]  # the village, not the cell
    return out


def _changes(values: dict[str, Any] | None, sensitive: bool) -> dict[str, Any] | None:
    if values is None:
        return None
    if sensitive:
        return {k: v for k, v in values.items() if k in SAFE_CHANGES}
    return {k: v for k, v in values.items() if k not in NEVER_SENT}


def _insert_new(rows: list[dict[str, Any]]) -> None:
    """Insert deliveries, skipping any already planned (the unique subscription + event)."""
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        pg = pg_insert(WebhookDelivery).on_conflict_do_nothing(
            index_elements=["subscription_id", "event_id"]
        )
        db.session.execute(pg, rows)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        lite = sqlite_insert(WebhookDelivery).on_conflict_do_nothing(
            index_elements=["subscription_id", "event_id"]
        )
        db.session.execute(lite, rows)


def _wake(subscription_id: int) -> None:
    """After the commit, a job to send the subscription's next delivery."""
    db.session.flush()
    head = db.session.scalar(
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.subscription_id == subscription_id,
            WebhookDelivery.status == "pending",
        )
        .order_by(WebhookDelivery.event_id)
        .limit(1)
    )
    if head is not None:
        outbox().enqueue(DELIVER_JOB, head)


# ---- delivering ----------------------------------------------------------------------------

CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 10.0
# A claim holds a delivery this long: longer than one attempt can take. A worker that dies
# while sending leaves it to the sweep once the claim has run out.
CLAIM_S = 60
# Seconds to wait after the nth failed attempt (the last repeats), plus up to a quarter of
# it at random, so that subscribers failing together do not retry together.
BACKOFF_S = (10, 30, 120, 600, 1800, 3600, 7200)
# One job sends for this long at most, then hands on to a new job.
DELIVER_BUDGET_S = 60.0
USER_AGENT = "Gridwatch-Webhooks/1"


def backoff_s(attempts: int, rand: Callable[[], float] = random.random) -> float:
    """Seconds before the attempt after `attempts` failed ones.

    >>> [round(backoff_s(n, lambda: 0.0)) for n in (1, 2, 3, 4, 7, 20)]
    [10, 30, 120, 600, 7200, 7200]
    """
    base = BACKOFF_S[min(max(attempts, 1), len(BACKOFF_S)) - 1]
    return base * (1 + rand() / 4)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Gridwatch-Signature header: HMAC-SHA256 over `<timestamp>.<body>`.

    >>> sign("whsec_test", "1700000000", b'{"id":1}')[:15]
    'sha256=2f441ba4'
    """
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


@dataclass(frozen=True)
class _Claim:
    delivery_id: int
    subscription_id: int
    attempts: int
    url: str
    secret: str
    event_type: str
    body: bytes


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    status: int | None
    error: str | None


def deliver(delivery_id: int) -> int:
    """Send the pending deliveries of this delivery's subscriber, oldest event first, until
    none is due, one fails, or the time budget is spent; returns how many were accepted.
    Safe to run twice, and side by side: each delivery is claimed before it is sent."""
    subscription_id = db.session.scalar(
        select(WebhookDelivery.subscription_id).where(WebhookDelivery.id == delivery_id)
    )
    db.session.commit()  # no read transaction held while sending
    if subscription_id is None:
        return 0
    accepted = 0
    started = time.monotonic()
    with http_session() as http:
        while True:
            claim = _claim_next(subscription_id)
            if claim is None:
                return accepted
            outcome = _send(http, claim)
            accepted += outcome.ok
            if not _record(claim, outcome):
                return accepted
            if time.monotonic() - started > DELIVER_BUDGET_S:
                enqueue(DELIVER_JOB, claim.delivery_id)
                return accepted


@use_case
def _claim_next(subscription_id: int) -> _Claim | None:
    """Take the subscriber's oldest pending delivery if it is due, for CLAIM_S."""
    sub = db.session.get(WebhookSubscription, subscription_id)
    if sub is None or not sub.active:
        return None
    head = db.session.scalar(
        select(WebhookDelivery)
        .where(
            WebhookDelivery.subscription_id == subscription_id,
            WebhookDelivery.status == "pending",
        )
        .order_by(WebhookDelivery.event_id)
        .limit(1)
    )
    now = utcnow()
    if head is None or (head.next_attempt_at is not None and head.next_attempt_at > now):
        return None  # nothing waits, or the oldest waits for its retry (or is being sent)
    attempts = head.attempts
    claimed = db.session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == head.id,
            WebhookDelivery.status == "pending",
            WebhookDelivery.attempts == attempts,
        )
        .values(attempts=attempts + 1, next_attempt_at=now + timedelta(seconds=CLAIM_S))
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        return None  # another worker took it first
    body = json.dumps(
        {"id": head.id, **head.payload}, ensure_ascii=False, separators=(",", ":")
    ).encode("utf-8")
    return _Claim(head.id, sub.id, attempts + 1, sub.url, sub.secret, head.event_type, body)


def _send(http: requests.Session, claim: _Claim) -> _Outcome:
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Gridwatch-Event": claim.event_type,
        "X-Gridwatch-Delivery": str(claim.delivery_id),
        "X-Gridwatch-Timestamp": timestamp,
        "X-Gridwatch-Signature": sign(claim.secret, timestamp, claim.body),
    }
    try:
        with http.post(
            claim.url,
            data=claim.body,
            headers=headers,
            timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S),
            allow_redirects=False,
            stream=True,
        ) as response:
            status = response.status_code
            if 200 <= status < 300:
                return _Outcome(True, status, None)
            if 300 <= status < 400:
                where = response.headers.get("Location", "")[:200]
                return _Outcome(False, status, f"redirect to {where!r} not followed")
            text = response.raw.read(300, decode_content=True).decode("utf-8", "replace")
            return _Outcome(False, status, f"HTTP {status}: {text}".strip()[:500])
    except (requests.RequestException, OSError) as exc:
        return _Outcome(False, None, f"{type(exc).__name__}: {exc}"[:500])


@use_case
def _record(claim: _Claim, outcome: _Outcome) -> bool:
    """Write down an attempt; True when the next delivery may go now."""
    sub = db.session.get(WebhookSubscription, claim.subscription_id, with_for_update=True)
    delivery = db.session.get(WebhookDelivery, claim.delivery_id, with_for_update=True)
    if (
        sub is None
        or delivery is None
        or delivery.status != "pending"
        or delivery.attempts != claim.attempts
    ):
        return False  # deleted meanwhile, or our claim ran out and another worker took over
    now = utcnow()
    delivery.last_status = outcome.status
    delivery.last_error = outcome.error
    if outcome.ok:
        delivery.status = "delivered"
        delivery.delivered_at = now
        delivery.next_attempt_at = None
        sub.failures = 0
        return True
    sub.failures += 1
    if delivery.attempts >= current_app.config["GRIDWATCH_WEBHOOK_MAX_ATTEMPTS"]:
        delivery.status = "failed"
        delivery.next_attempt_at = None
    else:
        delivery.next_attempt_at = now + timedelta(seconds=backoff_s(delivery.attempts))
        outbox().enqueue(
            DELIVER_JOB,
            delivery.id,
            at=delivery.next_attempt_at,
            job_id=f"webhook-{delivery.id}-{delivery.attempts}",
        )
    if sub.active and sub.failures >= current_app.config["GRIDWATCH_WEBHOOK_DISABLE_AFTER"]:
        sub.active = False
        sub.disabled_at = now
        audit(
            "webhook.disabled",
            "webhook",
            sub.id,
            area_code=sub.area_code,
            before={"active": True},
            after={
                "active": False,
                "failures": sub.failures,
                "last_status": outcome.status,
                "last_error": outcome.error,
            },
        )
        outbox().after_commit.append(_forget_active)
        log.warning("webhook %s disabled after %d failed attempts", sub.id, sub.failures)
    return delivery.status == "failed" and sub.active


def due_heads() -> list[int]:
    """Each active subscriber's oldest pending delivery, where it is due: its job was lost
    (Redis flushed, a worker killed), or its retry time has come."""
    first = (
        select(
            WebhookDelivery.subscription_id.label("sub_id"),
            func.min(WebhookDelivery.event_id).label("event_id"),
        )
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .where(WebhookDelivery.status == "pending", WebhookSubscription.active.is_(True))
        .group_by(WebhookDelivery.subscription_id)
        .subquery()
    )
    heads = db.session.scalars(
        select(WebhookDelivery.id)
        .join(
            first,
            and_(
                WebhookDelivery.subscription_id == first.c.sub_id,
                WebhookDelivery.event_id == first.c.event_id,
            ),
        )
        .where(
            or_(
                WebhookDelivery.next_attempt_at.is_(None),
                WebhookDelivery.next_attempt_at <= utcnow(),
            )
        )
        .order_by(WebhookDelivery.id)
    )
    return list(heads)


def sweep() -> int:
    """For the periodic sweep: plan what no job planned, and send what no job is sending.
    Returns how many delivery jobs it enqueued."""
    if db.session.scalar(select(func.count()).select_from(WebhookSubscription)) == 0:
        return 0
    plan_deliveries(max_batches=2)
    heads = due_heads()
    for head in heads:
        enqueue(DELIVER_JOB, head)
    return len(heads)


__all__ = [
    "ACTION_TYPES",
    "address_allowed",
    "backoff_s",
    "check_url",
    "create_subscription",
    "delete_subscription",
    "deliver",
    "event_type",
    "events_committed",
    "get_subscription",
    "list_deliveries",
    "list_subscriptions",
    "ping",
    "plan_deliveries",
    "plan_job",
    "safe_horizon",
    "set_active",
    "sign",
    "sweep",
    "update_subscription",
]
