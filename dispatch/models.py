"""Typed SQLAlchemy 2 models. Invariants live here; side effects never do."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC; always hands back an aware datetime, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Role(enum.StrEnum):
    INFORMANT = "informant"
    TEAM_LEADER = "team_leader"
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class ReportStatus(enum.StrEnum):
    NEW = "new"
    TRIAGED = "triaged"
    VERIFIED = "verified"
    DISMISSED = "dismissed"
    MERGED = "merged"
    PROMOTED = "promoted"


class IncidentStatus(enum.StrEnum):
    OPEN = "open"
    DISPATCHED = "dispatched"
    ACKNOWLEDGED = "acknowledged"
    ON_SCENE = "on_scene"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class TaskStatus(enum.StrEnum):
    OFFERED = "offered"
    ACKNOWLEDGED = "acknowledged"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    COMPLETED = "completed"
    DECLINED = "declined"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"


LIVE_TASK_STATUSES = (
    TaskStatus.OFFERED,
    TaskStatus.ACKNOWLEDGED,
    TaskStatus.EN_ROUTE,
    TaskStatus.ON_SCENE,
)


class TeamKind(enum.StrEnum):
    PROFESSIONAL_RESCUE = "professional_rescue"
    VOLUNTEER = "volunteer"
    MEDIATION = "mediation"
    RELIEF = "relief"


class TeamStatus(enum.StrEnum):
    AVAILABLE = "available"
    DISPATCHED = "dispatched"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    RETURNING = "returning"
    OFF_DUTY = "off_duty"


RISK_LEVELS = ("red", "orange", "yellow", "blue")

INCIDENT_TRANSITIONS: dict[str, set[str]] = {
    "open": {"dispatched", "resolved", "cancelled"},
    "dispatched": {"acknowledged", "open", "on_scene", "resolved", "cancelled"},
    "acknowledged": {"on_scene", "dispatched", "open", "resolved", "cancelled"},
    "on_scene": {"resolved", "cancelled"},
    "resolved": {"closed", "open"},
    "closed": set(),
    "cancelled": set(),
}

# Who moves a team: the system (offers and tasks), its leader (back at base, off duty),
# an operator or admin (standing it down).
TEAM_TRANSITIONS: dict[str, set[str]] = {
    "available": {"dispatched", "off_duty"},
    "dispatched": {"en_route", "on_scene", "available", "returning"},
    "en_route": {"on_scene", "available", "returning"},
    "on_scene": {"returning", "available"},
    "returning": {"available", "off_duty"},
    "off_duty": {"available"},
}

TASK_TRANSITIONS: dict[str, set[str]] = {
    "offered": {"acknowledged", "declined", "timed_out", "cancelled"},
    "acknowledged": {"en_route", "on_scene", "cancelled"},
    "en_route": {"on_scene", "cancelled"},
    "on_scene": {"completed", "cancelled"},
    "completed": set(),
    "declined": set(),
    "timed_out": set(),
    "cancelled": set(),
}


class Area(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "areas"

    code: Mapped[str] = mapped_column(String(15), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    level: Mapped[str] = mapped_column(String(16), index=True)
    parent_code: Mapped[str | None] = mapped_column(
        ForeignKey("areas.code"), index=True, default=None
    )
    geometry_wkb: Mapped[bytes] = mapped_column(LargeBinary)
    centroid_lon: Mapped[float] = mapped_column(Float)
    centroid_lat: Mapped[float] = mapped_column(Float)
    min_lon: Mapped[float] = mapped_column(Float)
    min_lat: Mapped[float] = mapped_column(Float)
    max_lon: Mapped[float] = mapped_column(Float)
    max_lat: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class User(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), index=True)
    area_code: Mapped[str] = mapped_column(String(15), default="620100")
    display_name: Mapped[str | None] = mapped_column(String(120), default=None)
    active: Mapped[bool] = mapped_column(default=True)
    token_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    # Flask-Login protocol
    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.token_version}"


class InformantAssignment(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "informant_assignments"
    __table_args__ = (Index("ix_assignment_cell_active", "cell_code", "ended_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    cell_code: Mapped[str] = mapped_column(ForeignKey("areas.code"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class CheckIn(db.Model):  # type: ignore[name-defined,misc]
    """An informant's one-tap "all quiet" (平安): proof of life for coverage."""

    __tablename__ = "checkins"
    __table_args__ = (Index("ix_checkins_user_at", "user_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(36), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    cell_code: Mapped[str | None] = mapped_column(String(15), index=True, default=None)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lat: Mapped[float | None] = mapped_column(Float, default=None)
    lon: Mapped[float | None] = mapped_column(Float, default=None)


class Team(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(32), index=True)
    capabilities: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default=TeamStatus.AVAILABLE, index=True)
    area_code: Mapped[str] = mapped_column(String(15), index=True)
    members: Mapped[int] = mapped_column(Integer, default=0)
    leader_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None, index=True)
    base_lat: Mapped[float] = mapped_column(Float)
    base_lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float, default=None)
    lon: Mapped[float | None] = mapped_column(Float, default=None)
    position_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    leader: Mapped[User | None] = relationship(foreign_keys=[leader_id])

    def can_transition_to(self, status: str) -> bool:
        return status == self.status or status in TEAM_TRANSITIONS.get(self.status, set())


class Report(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "reports"
    __table_args__ = (
        Index("ix_reports_status_risk", "status", "risk_score"),
        # Clustering looks for recent reports in a small box around a new one.
        Index("ix_reports_lat_lon", "lat", "lon"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(36), unique=True)
    informant_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    category: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text, default="")
    severity: Mapped[int | None] = mapped_column(Integer, default=None)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float, default=None)
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    cell_code: Mapped[str | None] = mapped_column(String(15), index=True, default=None)
    area_code: Mapped[str] = mapped_column(String(15), index=True)
    status: Mapped[str] = mapped_column(String(16), default=ReportStatus.NEW, index=True)
    risk_level: Mapped[str | None] = mapped_column(String(8), default=None)
    risk_score: Mapped[int | None] = mapped_column(Integer, default=None)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    category_hint: Mapped[str | None] = mapped_column(String(32), default=None)
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    triaged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"), default=None)
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id"), default=None, index=True
    )
    # Reports of one event form a cluster, shown as one queue entry: its head.
    cluster_id: Mapped[int | None] = mapped_column(
        ForeignKey("reports.id"), default=None, index=True
    )
    cluster_size: Mapped[int] = mapped_column(Integer, default=1)
    # An operator's expiring claim, so two operators do not work the same report.
    claimed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    review_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None, index=True)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    photo_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Photo(db.Model):  # type: ignore[name-defined,misc]
    """A photo an informant took of what they report; small, so it lives in the database."""

    __tablename__ = "photos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(36), unique=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    uploaded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    content_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FollowUp(db.Model):  # type: ignore[name-defined,misc]
    """A talk the station owes a veteran (the "five must-talks", 五个必谈)."""

    __tablename__ = "followups"
    __table_args__ = (
        Index("ix_followups_station_status", "station_code", "status"),
        # One follow-up per report, and one per veteran and festival: jobs may run twice.
        Index("uq_followup_origin", "origin", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    origin: Mapped[str] = mapped_column(String(80))
    station_code: Mapped[str] = mapped_column(String(15))
    reason: Mapped[str] = mapped_column(String(32))
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"), default=None)
    veteran_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    festival: Mapped[str | None] = mapped_column(String(32), default=None)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(12), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)


class Incident(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=IncidentStatus.OPEN, index=True)
    risk_level: Mapped[str | None] = mapped_column(String(8), default=None)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    cell_code: Mapped[str | None] = mapped_column(String(15), default=None)
    area_code: Mapped[str] = mapped_column(String(15), index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    resolution_note: Mapped[str | None] = mapped_column(Text, default=None)
    # The operator stopped the automatic hand-over to the next team on decline or time-out.
    cascade_stopped: Mapped[bool] = mapped_column(default=False)

    reports: Mapped[list[Report]] = relationship(foreign_keys=[Report.incident_id])

    def can_transition_to(self, status: str) -> bool:
        return status in INCIDENT_TRANSITIONS.get(self.status, set())


class Task(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "tasks"
    __table_args__ = (
        # One team never holds two live tasks: enforced by the database itself.
        Index(
            "uq_task_team_live",
            "team_id",
            unique=True,
            sqlite_where=text("status IN ('offered','acknowledged','en_route','on_scene')"),
            postgresql_where=text("status IN ('offered','acknowledged','en_route','on_scene')"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=TaskStatus.OFFERED, index=True)
    offered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ack_deadline: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    offered_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    decline_reason: Mapped[str | None] = mapped_column(String(500), default=None)
    cascade: Mapped[bool] = mapped_column(default=True)

    incident: Mapped[Incident] = relationship()
    team: Mapped[Team] = relationship()

    def can_transition_to(self, status: str) -> bool:
        return status in TASK_TRANSITIONS.get(self.status, set())


class AuditEvent(db.Model):  # type: ignore[name-defined,misc]
    """The one event log: every state change appends a row; nothing updates one."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_entity", "entity_type", "entity_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    action: Mapped[str] = mapped_column(String(48), index=True)
    entity_type: Mapped[str] = mapped_column(String(24))
    entity_id: Mapped[str] = mapped_column(String(36))
    area_code: Mapped[str | None] = mapped_column(String(15), index=True, default=None)
    # The incident an event belongs to, so that a timeline is one indexed read.
    incident_id: Mapped[int | None] = mapped_column(Integer, index=True, default=None)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class Bulletin(db.Model):  # type: ignore[name-defined,misc]
    """A bulletin as prepared for publication (services/supervision.py): the record of what
    was sent out. The figures can always be computed again from the audit log."""

    __tablename__ = "bulletins"
    __table_args__ = (UniqueConstraint("period", "level", "scope_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period: Mapped[str] = mapped_column(String(32))
    level: Mapped[str] = mapped_column(String(16))
    scope_code: Mapped[str] = mapped_column(String(15))
    prepared_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)


class CapAlert(db.Model):  # type: ignore[name-defined,misc]
    """A CAP 1.2 alert (services/cap.py): one Gridwatch sent about an incident or a warning
    (`out`), or one received from the public alerting chain (`in`). Kept as sent, so that an
    update or a cancel can name the messages it follows."""

    __tablename__ = "cap_alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    direction: Mapped[str] = mapped_column(String(3), index=True)  # "out" | "in"
    identifier: Mapped[str] = mapped_column(String(255), unique=True)
    sender: Mapped[str] = mapped_column(String(255))
    sent: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    msg_type: Mapped[str] = mapped_column(String(16))
    scope: Mapped[str] = mapped_column(String(16))
    references: Mapped[str | None] = mapped_column(Text, default=None)
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id"), default=None, index=True
    )
    area_code: Mapped[str | None] = mapped_column(String(15), default=None, index=True)
    event: Mapped[str | None] = mapped_column(String(255), default=None)
    urgency: Mapped[str | None] = mapped_column(String(16), default=None)
    severity: Mapped[str | None] = mapped_column(String(16), default=None)
    certainty: Mapped[str | None] = mapped_column(String(16), default=None)
    headline: Mapped[str | None] = mapped_column(String(500), default=None)
    expires: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # The alert's areas as one GeoJSON geometry (WGS-84), for the map.
    geometry: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    xml: Mapped[str] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiClient(db.Model):  # type: ignore[name-defined,misc]
    """Another system that sends reports (Open311 GeoReport v2): its key, kept as a hash,
    and the service account its reports are filed under."""

    __tablename__ = "api_clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(12))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    area_code: Mapped[str] = mapped_column(String(15))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookSubscription(db.Model):  # type: ignore[name-defined,misc]
    """A receiver of incident and report events (services/webhooks.py). `last_event_id` is
    how far into the audit log its deliveries have been planned."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(128))
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    area_code: Mapped[str] = mapped_column(String(15))
    active: Mapped[bool] = mapped_column(default=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_event_id: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(db.Model):  # type: ignore[name-defined,misc]
    """One event for one subscriber, and how its delivery went."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("subscription_id", "event_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscriptions.id"), index=True)
    event_id: Mapped[int] = mapped_column(Integer)  # the audit event
    event_type: Mapped[str] = mapped_column(String(48))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None, index=True)
    last_status: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
