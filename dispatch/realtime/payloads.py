"""What the server sends on the sockets, and what each event's acknowledgement carries.

The services build these payloads as plain dicts (services/views.py); the models here
describe them for the AsyncAPI document (realtime/asyncapi.py). They refuse unknown fields
when validating, so the test that checks real traffic against them
(tests/dispatch/test_asyncapi.py) fails when a view gains a field its model lacks. The
document itself leaves objects open: a client ignores fields it does not know.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..models import IncidentStatus, ReportStatus, TaskStatus, TeamStatus
from ..schemas import Category, TeamKind

RiskLevel = Literal["red", "orange", "yellow", "blue"]

# Every `error.code` an acknowledgement may carry (dispatch/errors.py, and the handlers'
# own `internal` and `unknown_event`).
ErrorCode = Literal[
    "validation_failed",
    "unauthorized",
    "forbidden",
    "not_found",
    "invalid_transition",
    "team_unavailable",
    "claimed",
    "rate_limited",
    "unavailable",
    "internal",
    "unknown_event",
]
ERROR_CODES: dict[str, str] = {
    "validation_failed": "the payload does not match the event's schema; `field` names the "
    "first bad field",
    "unauthorized": "the sign-in has ended (token expired or revoked): connect again",
    "forbidden": "the user's role or area may not do this",
    "not_found": "no such object, or not one the user may see",
    "invalid_transition": "the object's state does not allow this now",
    "team_unavailable": "the team is not available (another operator won the race)",
    "claimed": "another operator holds the claim on this queue entry; the error also "
    "carries `claimed_by` and `claimed_until`",
    "rate_limited": "too many events; the error carries `retry_after` (seconds)",
    "unavailable": "the database was busy or down, or the server is restarting; nothing "
    "was saved: send again (same `client_id`)",
    "internal": "an unexpected error; nothing was saved and a retry is safe",
    "unknown_event": "the namespace has no such event",
}


def _open_object(schema: dict[str, Any]) -> None:
    schema.pop("additionalProperties", None)


class Sent(BaseModel):
    """Strict when a test validates a real payload; open in the document."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_open_object)


# ---- the objects, as services/views.py builds them ---------------------------------------


class ReportView(Sent):
    """A report. One of a sensitive category, sent to a reader below the cleared level
    (services/privacy.py), comes `redacted`: without the fields that have defaults here,
    its `area_code` cut to the village."""

    id: int
    category: Category
    severity: int | None
    occurred_at: datetime | None
    area_code: str
    status: ReportStatus
    risk_level: RiskLevel | None
    risk_score: int | None
    flags: list[str]
    received_at: datetime
    incident_id: int | None
    cluster_id: int | None
    cluster_size: int
    claimed_by: int | None
    claimed_until: datetime | None
    review_due_at: datetime | None
    escalated_at: datetime | None
    client_id: str | None = Field(default=None, description="absent when redacted")
    text: str | None = Field(default=None, description="absent when redacted")
    lat: float | None = Field(default=None, description="WGS-84; absent when redacted")
    lon: float | None = Field(default=None, description="WGS-84; absent when redacted")
    accuracy_m: float | None = Field(default=None, description="absent when redacted")
    cell_code: str | None = Field(default=None, description="absent when redacted")
    reasons: list[dict[str, Any]] | None = Field(
        default=None, description="the triage rules that fired; absent when redacted"
    )
    category_hint: str | None = Field(default=None, description="absent when redacted")
    photo_count: int | None = Field(default=None, description="absent when redacted")
    informant_id: int | None = Field(
        default=None, description="only for readers cleared to see who sent a report"
    )
    redacted: bool = Field(default=False, description="present (true) only when redacted")


class ReportReceipt(Sent):
    """What the informant's phone learns of its report at once."""

    id: int
    client_id: str
    cell_code: str | None = Field(description="null: outside every cell (flagged)")
    status: ReportStatus
    received_at: datetime
    flags: list[str] = Field(description="outside_grid, snapped_to_cell: for the operator")


class Point(Sent):
    lat: float
    lon: float


class Position(Point):
    at: datetime | None


class TeamView(Sent):
    id: int
    name: str
    kind: TeamKind
    status: TeamStatus
    capabilities: list[str]
    area_code: str
    members: int
    leader_id: int | None
    base: Point
    position: Position | None = Field(description="the last reported position, if any")


class IncidentView(Sent):
    id: int
    title: str
    category: Category
    status: IncidentStatus
    risk_level: RiskLevel | None
    lat: float
    lon: float
    cell_code: str | None
    area_code: str
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    resolution_note: str | None
    cascade_stopped: bool
    report_ids: list[int]


class TaskView(Sent):
    id: int
    incident_id: int
    team_id: int
    team_name: str
    status: TaskStatus
    offered_at: datetime
    ack_deadline: datetime
    acknowledged_at: datetime | None
    ended_at: datetime | None
    attempt: int
    decline_reason: str | None


class OtherTeam(Sent):
    team_id: int
    team_name: str
    status: TaskStatus


class OfferedReport(Sent):
    """A report of the offered incident; `text` only if the leader may read it."""

    id: int
    category: Category
    severity: int | None
    text: str | None = Field(default=None, description="absent when redacted")
    redacted: bool = Field(default=False, description="present (true) only when redacted")


class OfferedIncident(IncidentView):
    other_teams: list[OtherTeam] = Field(description="the other teams on it now")
    reports: list[OfferedReport]


class OfferedTask(TaskView):
    incident: OfferedIncident


class CheckIn(Sent):
    id: int
    client_id: str
    at: datetime
    cell_code: str | None


class CapAlertProperties(Sent):
    """A CAP 1.2 alert as the operator map lists it (services/cap.py, docs/cap.md)."""

    id: int
    direction: Literal["in", "out"]
    identifier: str
    sender: str
    sent: str = Field(description="CAP's own form, e.g. 2026-11-29T08:30:00+08:00")
    status: str
    msg_type: str
    scope: str
    event: str | None
    urgency: str | None
    severity: str | None
    certainty: str | None
    headline: str | None
    expires: str | None
    area_code: str | None
    incident_id: int | None
    references: list[str]
    superseded_by: int | None
    expired: bool
    active: bool
    signed: bool


class CapAlertFeature(Sent):
    """A GeoJSON Feature (WGS-84): the alert's areas, or null when it names none we draw."""

    type: Literal["Feature"]
    id: int
    geometry: dict[str, Any] | None
    properties: CapAlertProperties


# ---- server → client events ------------------------------------------------------------


class InformantReportUpdated(Sent):
    """/informant `report:updated`: the sender's report was triaged or reviewed."""

    id: int
    status: ReportStatus
    risk_level: RiskLevel | None


class SessionRevoked(Sent):
    """The account was disabled or its sign-ins ended; the server closes the socket."""

    message: str


class ReportNew(Sent):
    report: ReportView


class ReportTriaged(Sent):
    """A report's risk as triage judged it (redacted: without `reasons`, `category_hint`)."""

    id: int
    risk_level: RiskLevel | None
    risk_score: int | None
    cluster_id: int | None
    cluster_size: int
    incident_id: int | None
    review_due_at: datetime | None
    reasons: list[dict[str, Any]] | None = Field(default=None, description="absent when redacted")
    category_hint: str | None = Field(default=None, description="absent when redacted")
    redacted: bool = Field(default=False, description="present (true) only when redacted")


class ReportUpdated(Sent):
    """/operator `report:updated`: the full report after a review, a promotion, a photo."""

    report: ReportView


class ReportClaimed(Sent):
    """Who holds the claim on a queue entry now (nulls: released)."""

    id: int
    claimed_by: int | None
    claimed_until: datetime | None


class ReportEscalated(Sent):
    """A report passed its review deadline unreviewed; the supervisors over it are named."""

    report: ReportView
    overdue_s: int
    supervisors: list[str]


class IncidentUpdated(Sent):
    incident: IncidentView


class TaskUpdated(Sent):
    task: TaskView


class TeamUpdated(Sent):
    team: TeamView


class CapAlertReceived(Sent):
    """/operator `cap:alert`: an alert from the public alerting chain was imported."""

    alert: CapAlertFeature
    supersedes: list[int] = Field(description="ids of the earlier alerts it updates or cancels")


class TaskOffered(Sent):
    """/team: the leader's team is offered a task; acknowledge it by `ack_deadline`."""

    task: OfferedTask


# ---- acknowledgements --------------------------------------------------------------------


class AckError(Sent):
    code: ErrorCode
    message: str
    field: str | None = Field(default=None, description="the input at fault, when one is")
    claimed_by: int | None = Field(default=None, description="with `claimed`")
    claimed_until: datetime | None = Field(default=None, description="with `claimed`")
    retry_after: int | None = Field(default=None, description="seconds; with `rate_limited`")


class ErrorAck(Sent):
    """Every refusal: nothing was changed."""

    ok: Literal[False]
    error: AckError


class SubmitAck(Sent):
    ok: Literal[True]
    report: ReportReceipt
    duplicate: bool = Field(description="true: a retry of an earlier client_id; nothing new")


class CheckInAck(Sent):
    ok: Literal[True]
    checkin: CheckIn
    duplicate: bool


class ReviewAck(Sent):
    ok: Literal[True]
    report: ReportView


class ClaimAck(Sent):
    ok: Literal[True]
    report_id: int
    claimed_by: int | None
    claimed_until: datetime | None


class IncidentAck(Sent):
    ok: Literal[True]
    incident: IncidentView


class TaskAck(Sent):
    ok: Literal[True]
    task: TaskView


class TeamAck(Sent):
    ok: Literal[True]
    team: TeamView


__all__ = [
    "ERROR_CODES",
    "AckError",
    "CheckInAck",
    "ClaimAck",
    "ErrorAck",
    "IncidentAck",
    "IncidentUpdated",
    "IncidentView",
    "InformantReportUpdated",
    "OfferedTask",
    "ReportClaimed",
    "ReportEscalated",
    "ReportNew",
    "ReportTriaged",
    "ReportUpdated",
    "ReportView",
    "ReviewAck",
    "SessionRevoked",
    "SubmitAck",
    "TaskAck",
    "TaskOffered",
    "TaskUpdated",
    "TaskView",
    "TeamAck",
    "TeamUpdated",
    "TeamView",
]
