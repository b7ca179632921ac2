"""Open311 GeoReport v2 intake: other systems (the 12345 hotline, civic apps) file reports.

A client system holds an api_key; only its SHA-256 is stored. Its reports are filed under a
service account of its own: an informant with no cell and no usable password, whose area is
the client's. So a request enters triage like any informant's report (`submit_report`, its
rate limit included), and a client reads back only what it sent itself.

Idempotency: the client names a request with a token (`attribute[client_token]` or the
`Idempotency-Key` header); the report's client_id is uuid5 of (client, token), so a retry
returns the first request.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from grid.codes import ancestors

from ..errors import Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..models import ApiClient, Area, AuditEvent, Incident, Report, Role, User, utcnow
from ..schemas import CATEGORIES, Category, ReportSubmit
from . import areas, auth, reports
from .access import within
from .informants import NO_PASSWORD
from .uow import audit, use_case
from .views import iso

if TYPE_CHECKING:
    from ..open311.schemas import RequestQuery, RequestSubmit

KEY_PREFIX = "gw311_"
USERNAME_PREFIX = "open311-"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$")
# Fixed for ever: a report's client_id is uuid5(NAMESPACE, "<client id>:<token>").
NAMESPACE = uuid.UUID("6f0c3a52-4d0e-5b8e-9a51-0b3110c1e311")
RECEIVED = "open311.request_received"
MAX_REQUESTS = 1000
CLOSED_INCIDENT = ("resolved", "closed", "cancelled")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def client_view(client: ApiClient, username: str | None = None) -> dict[str, Any]:
    return {
        "name": client.name,
        "key_prefix": client.key_prefix,
        "area_code": client.area_code,
        "user_id": client.user_id,
        "username": username,
        "active": client.active,
        "created_at": iso(client.created_at),
    }


def _client_named(name: str) -> ApiClient:
    client = db.session.scalar(db.select(ApiClient).where(ApiClient.name == name))
    if client is None:
        raise NotFound(f"no Open311 client {name!r}", field="name")
    return client


@use_case
def create_client(actor: User | None, name: str, area_code: str) -> tuple[dict[str, Any], str]:
    """A client system and its service account; the api_key is returned once, never stored."""
    if not NAME_PATTERN.match(name):
        raise ValidationFailed(
            "a client name is 1-48 letters, digits, '.', '_' or '-', starting with a letter "
            "or digit",
            field="name",
        )
    if db.session.scalar(db.select(ApiClient.id).where(ApiClient.name == name)) is not None:
        raise ValidationFailed(f"an Open311 client {name!r} exists already", field="name")
    account = auth.create_user(
        username=f"{USERNAME_PREFIX}{name}",
        password="",
        password_hash=NO_PASSWORD,  # no sign-in: the account acts only through the api_key
        role=Role.INFORMANT,
        area_code=area_code,
        actor=actor,
    )
    account.display_name = f"Open311 · {name}"
    key = _new_key()
    client = ApiClient(
        name=name,
        key_hash=hash_key(key),
        key_prefix=key[:12],
        user_id=account.id,
        area_code=account.area_code,
        active=True,
        created_at=utcnow(),
    )
    db.session.add(client)
    db.session.flush()
    audit(
        "open311.client_created",
        "api_client",
        client.id,
        actor=actor,
        area_code=client.area_code,
        after={"name": name, "user_id": account.id, "key_prefix": client.key_prefix},
    )
    return client_view(client, account.username), key


@use_case
def rotate_key(actor: User | None, name: str) -> tuple[dict[str, Any], str]:
    """A new api_key for a client (the old one stops working at once); tokens still match."""
    client = _client_named(name)
    if not client.active:
        raise ValidationFailed(f"Open311 client {name!r} is revoked", field="name")
    before = client.key_prefix
    key = _new_key()
    client.key_hash = hash_key(key)
    client.key_prefix = key[:12]
    audit(
        "open311.key_rotated",
        "api_client",
        client.id,
        actor=actor,
        area_code=client.area_code,
        before={"key_prefix": before},
        after={"key_prefix": client.key_prefix},
    )
    return client_view(client), key


@use_case
def revoke_client(actor: User | None, name: str) -> dict[str, Any]:
    """The key stops working and the service account is disabled; its reports stay."""
    client = _client_named(name)
    account = db.session.get(User, client.user_id)
    if client.active:
        client.active = False
        audit(
            "open311.client_revoked",
            "api_client",
            client.id,
            actor=actor,
            area_code=client.area_code,
            before={"active": True},
            after={"active": False},
        )
    if account is not None and account.active:
        auth.set_active(actor, account.username, False)
    return client_view(client, account.username if account else None)


def list_clients() -> list[dict[str, Any]]:
    rows = db.session.execute(
        db.select(ApiClient, User.username)
        .join(User, User.id == ApiClient.user_id)
        .order_by(ApiClient.name)
    ).all()
    return [client_view(client, username) for client, username in rows]


def client_for_key(key: object) -> tuple[ApiClient, User]:
    """The active client holding this key, and its service account; else Forbidden.

    Looked up by the key's hash: a Bearer token or anything else that is not a key we
    issued names no client.
    """
    if not isinstance(key, str) or not key:
        raise Forbidden("api_key is missing", field="api_key")
    if len(key) > 200 or not key.startswith(KEY_PREFIX):
        raise Forbidden("api_key is not valid", field="api_key")
    client = db.session.scalar(db.select(ApiClient).where(ApiClient.key_hash == hash_key(key)))
    account = db.session.get(User, client.user_id) if client is not None else None
    if client is None or account is None or not client.active or not account.active:
        raise Forbidden("api_key is not valid or has been revoked", field="api_key")
    return client, account


def report_client_id(client: ApiClient, token: str) -> uuid.UUID:
    """The report's client_id for a client's token: the same token, the same report."""
    return uuid.uuid5(NAMESPACE, f"{client.id}:{token}")


def _token(data: RequestSubmit) -> str | None:
    from ..open311.schemas import TOKEN_PATTERN

    try:
        token = data.single("client_token")
    except ValueError as exc:
        raise ValidationFailed(str(exc), field="attribute[client_token]") from None
    if token is not None and not re.match(TOKEN_PATTERN, token):
        raise ValidationFailed(
            "attribute[client_token] is 1-128 printable ASCII characters without spaces",
            field="attribute[client_token]",
        )
    header = data.idempotency_key
    if token is not None and header is not None and token != header:
        raise ValidationFailed(
            "attribute[client_token] and the Idempotency-Key header differ",
            field="attribute[client_token]",
        )
    return token or header


def _severity(data: RequestSubmit) -> int | None:
    try:
        value = data.single("severity")
    except ValueError as exc:
        raise ValidationFailed(str(exc), field="attribute[severity]") from None
    if value is None:
        return None
    if value not in ("1", "2", "3", "4"):
        raise ValidationFailed(
            "attribute[severity] is one of 1, 2, 3, 4", field="attribute[severity]"
        )
    return int(value)


def submit_request(client: ApiClient, account: User, data: RequestSubmit) -> dict[str, Any]:
    """File a service request as a report of the client's service account.

    Refused: an unknown service (NotFound), no coordinates, a point outside the grid or
    outside the client's area (ValidationFailed). Returns `{report, duplicate}` as
    `submit_report` does.
    """
    if data.service_code not in CATEGORIES:
        raise NotFound(f"service_code {data.service_code!r} not found", field="service_code")
    if data.lat is None or data.long is None:
        if data.lat is not None or data.long is not None:
            raise ValidationFailed("lat and long must be sent together", field="lat")
        raise ValidationFailed(
            "lat and long (WGS-84) are required: addresses (address_string, address_id) "
            "are not geocoded here",
            field="lat",
        )
    severity = _severity(data)
    token = _token(data)
    code, flags = areas.locate_point(data.long, data.lat)
    if code is None:
        raise ValidationFailed("the point lies outside the city's grid", field="lat")
    if not within(code, client.area_code):
        raise ValidationFailed(
            f"the point lies outside this client's area ({client.area_code})", field="lat"
        )
    submit = ReportSubmit(
        client_id=report_client_id(client, token) if token else uuid.uuid4(),
        category=cast(Category, data.service_code),
        text=data.description,
        lat=data.lat,
        lon=data.long,
        severity=severity,
    )
    result = reports.submit_report(account, submit)
    if not result["duplicate"]:
        _record_request(client, account, int(result["report"]["id"]), code, token, data)
    return result


@use_case
def _record_request(
    client: ApiClient,
    account: User,
    report_id: int,
    area_code: str,
    token: str | None,
    data: RequestSubmit,
) -> None:
    """What the client said beyond the report: its token, address and media, for the record
    and for reading back. Personal data (names, phone, email, device) is not kept."""
    audit(
        RECEIVED,
        "report",
        report_id,
        actor=account,
        area_code=area_code,
        after={
            "api_client": client.name,
            "token": token,
            "address_string": data.address_string,
            "address_id": data.address_id,
            "media_url": data.media_url,
        },
    )


@dataclass
class RequestRecord:
    """A report with what its Open311 view needs: its open/closed state and the rest."""

    report: Report
    status: str
    note: str
    updated_at: datetime
    county_name: str | None
    address: str | None
    address_id: str | None
    media_url: str | None


def request_state(report: Report, incident: Incident | None) -> tuple[str, str, datetime]:
    """(open|closed, a note key, when it last changed): our statuses in the spec's two.

    dismissed and merged reports are closed; one in an incident follows the incident
    (resolved, closed or cancelled: closed); everything else is open.
    """
    changed = max(
        t for t in (report.received_at, report.triaged_at, report.reviewed_at) if t is not None
    )
    if report.status == "merged":
        return "closed", "merged", report.reviewed_at or changed
    if report.status == "dismissed":
        return "closed", "dismissed", report.reviewed_at or changed
    if incident is not None:
        updated = max(changed, incident.updated_at)
        if incident.status in ("resolved", "closed"):
            return "closed", "resolved", incident.resolved_at or updated
        if incident.status == "cancelled":
            return "closed", "cancelled", updated
        if incident.status in ("dispatched", "acknowledged"):
            return "open", "incident_dispatched", updated
        if incident.status == "on_scene":
            return "open", "incident_on_scene", updated
        return "open", "incident_open", updated
    note = report.status if report.status in ("new", "triaged", "verified") else "triaged"
    return "open", note, changed


def _closed_condition() -> Any:
    return db.or_(
        Report.status.in_(("dismissed", "merged")),
        db.func.coalesce(Incident.status, "").in_(CLOSED_INCIDENT),
    )


def list_requests(account: User, query: RequestQuery) -> list[RequestRecord]:
    """The client's own requests: by id (overriding the rest), else by service, status and
    time (the latest 90 days by default, no span over 90 days), newest first, at most 1000."""
    from ..open311.schemas import MAX_SPAN_DAYS

    stmt = (
        db.select(Report, Incident)
        .outerjoin(Incident, Incident.id == Report.incident_id)
        .where(Report.informant_id == account.id)
    )
    if query.service_request_id:
        ids = [int(i) for i in query.service_request_id if i.isdigit() and 0 < int(i) < 2**31]
        stmt = stmt.where(Report.id.in_(ids))
    else:
        unknown = [c for c in query.service_code if c not in CATEGORIES]
        if unknown:
            raise ValidationFailed(f"unknown service_code {unknown[0]!r}", field="service_code")
        if query.service_code:
            stmt = stmt.where(Report.category.in_(query.service_code))
        span = timedelta(days=MAX_SPAN_DAYS)
        start, end = query.start_date, query.end_date
        if start is None and end is None:
            end = utcnow()
        if start is None:
            assert end is not None
            start = end - span
        if end is None:
            end = start + span
        if end < start:
            raise ValidationFailed("end_date lies before start_date", field="end_date")
        if end - start > span:
            raise ValidationFailed(
                f"start_date to end_date may span at most {MAX_SPAN_DAYS} days", field="end_date"
            )
        stmt = stmt.where(Report.received_at >= start, Report.received_at <= end)
        statuses = set(query.status)
        if statuses == {"closed"}:
            stmt = stmt.where(_closed_condition())
        elif statuses == {"open"}:
            stmt = stmt.where(db.not_(_closed_condition()))
    stmt = stmt.order_by(Report.received_at.desc(), Report.id.desc()).limit(MAX_REQUESTS)
    return _records(db.session.execute(stmt).all())


def get_request(account: User, request_id: str) -> RequestRecord:
    """One of the client's own requests; anyone else's is not found, like a missing one."""
    if not request_id.isdigit() or not 0 < int(request_id) < 2**31:
        raise NotFound("service_request_id not found", field="service_request_id")
    row = db.session.execute(
        db.select(Report, Incident)
        .outerjoin(Incident, Incident.id == Report.incident_id)
        .where(Report.id == int(request_id), Report.informant_id == account.id)
    ).first()
    if row is None:
        raise NotFound("service_request_id not found", field="service_request_id")
    return _records([row])[0]


def _records(rows: Any) -> list[RequestRecord]:
    pairs: list[tuple[Report, Incident | None]] = [(r, i) for r, i in rows]
    if not pairs:
        return []
    received = {
        e.entity_id: e.after or {}
        for e in db.session.scalars(
            db.select(AuditEvent).where(
                AuditEvent.entity_type == "report",
                AuditEvent.entity_id.in_([str(r.id) for r, _ in pairs]),
                AuditEvent.action == RECEIVED,
            )
        )
    }
    codes = {a for r, _ in pairs for a in _ancestors(r.area_code)}
    names = dict(
        db.session.execute(db.select(Area.code, Area.name).where(Area.code.in_(codes))).all()
    )
    out = []
    for report, incident in pairs:
        status, note, updated = request_state(report, incident)
        sent = received.get(str(report.id), {})
        chain = [c for c in _ancestors(report.area_code) if c in names]
        county = next((c for c in chain if len(c) == 6 and not c.endswith("00")), None)
        address = sent.get("address_string") or ", ".join(names[c] for c in reversed(chain))
        out.append(
            RequestRecord(
                report=report,
                status=status,
                note=note,
                updated_at=updated,
                county_name=names.get(county) if county else None,
                address=address or None,
                address_id=sent.get("address_id"),
                media_url=sent.get("media_url"),
            )
        )
    return out


def _ancestors(code: str) -> list[str]:
    try:
        return ancestors(code)
    except ValueError:
        return [code]
