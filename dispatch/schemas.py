"""Pydantic models for every payload: one schema per socket event and its REST twin."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Literal, get_args
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from grid.codes import CELL_CODE_PATTERN, CODE_PATTERN

Category = Literal[
    "fire",
    "flood",
    "landslide",
    "earthquake",
    "traffic_accident",
    "building_collapse",
    "missing_person",
    "medical",
    "hazmat",
    "other_emergency",
    "dispute",
    "petition",
    "public_opinion",
    "veteran_hardship",
    "safety_hazard",
    "family_misfortune",
    "other",
]
CATEGORIES: tuple[str, ...] = get_args(Category)
EMERGENCY_CATEGORIES = CATEGORIES[: CATEGORIES.index("other_emergency") + 1]
SOCIAL_CATEGORIES = CATEGORIES[len(EMERGENCY_CATEGORIES) :]

Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
MAX_ID = 2**31 - 1
"""Row ids are INTEGER columns: a larger id names no row (and PostgreSQL refuses to compare)."""
# Exactly the codes grid.codes accepts (a province or a township of a city is no area).
AreaCode = Annotated[str, Field(pattern=CODE_PATTERN)]
CellCode = Annotated[str, Field(pattern=CELL_CODE_PATTERN)]
MAX_TEXT = 2000
NOT_BLANK = r"\S"
"""Payloads are stripped first: a required string must hold more than whitespace."""
_DECIMAL = r"-?[0-9]{1,3}(\.[0-9]{1,12})?"
BBOX_PATTERN = rf"^{_DECIMAL}(,{_DECIMAL}){{3}}$"
"""west,south,east,north in degrees."""


def _real_number(value: object) -> object:
    """A coordinate must be a finite number: not a string, not a bool (`true` is not 1.0)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def _optional_real_number(value: object) -> object:
    return value if value is None else _real_number(value)


def _whole_number(value: object) -> object:
    """A count or an id is a JSON integer (`2.0` is one too): not a string, not a bool."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a whole number")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("must be a whole number")
        return int(value)
    return value


def _optional_whole_number(value: object) -> object:
    return value if value is None else _whole_number(value)


Id = Annotated[int, Field(ge=1, le=MAX_ID), BeforeValidator(_whole_number)]


def _iso_time(value: object) -> object:
    """A time is an ISO 8601 string: pydantic would also read a number as Unix seconds."""
    if isinstance(value, str) and not value.strip().lstrip("+-").replace(".", "", 1).isdigit():
        return value
    if isinstance(value, datetime):
        return value
    raise ValueError("must be an ISO 8601 date and time, e.g. 2026-11-29T08:30:00+08:00")


IsoTime = Annotated[datetime, BeforeValidator(_iso_time)]


def _has_binary(value: object) -> bool:
    if isinstance(value, bytes | bytearray | memoryview):
        return True
    if isinstance(value, list | tuple):
        return any(_has_binary(v) for v in value)
    return False


class Payload(BaseModel):
    """Strict by default: unknown fields are refused, strings are not numbers."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_binary(cls, value: object) -> object:
        """A Socket.IO event may carry bytes; pydantic would read them as text or numbers."""
        if _has_binary(value):
            raise ValueError("binary data is not accepted")
        return value


class ReportSubmit(Payload):
    client_id: UUID
    category: Category
    text: str = Field(default="", max_length=MAX_TEXT)
    lat: Latitude
    lon: Longitude
    severity: int | None = Field(default=None, ge=1, le=4)
    occurred_at: IsoTime | None = None
    accuracy_m: float | None = Field(default=None, ge=0, le=100_000, allow_inf_nan=False)

    _coordinates = field_validator("lat", "lon", mode="before")(_real_number)
    _accuracy = field_validator("accuracy_m", mode="before")(_optional_real_number)

    @field_validator("severity", mode="before")
    @classmethod
    def _int_severity(cls, value: object) -> object:
        if value is None:
            return value
        try:
            return _whole_number(value)
        except ValueError:
            raise ValueError("must be a whole number from 1 to 4") from None


class ReportReview(Payload):
    report_id: Id
    action: Literal["verify", "dismiss", "merge"]
    into_report_id: Id | None = None
    note: str | None = Field(default=None, max_length=MAX_TEXT)


class ReportRef(Payload):
    report_id: Id


class IncidentCreate(Payload):
    report_ids: list[Id] = Field(min_length=1, max_length=200)
    title: str | None = Field(default=None, max_length=200)
    category: Category | None = None


class IncidentDispatch(Payload):
    incident_id: Id
    team_id: Id


class IncidentRef(Payload):
    incident_id: Id


class IncidentNote(Payload):
    incident_id: Id
    note: str = Field(default="", max_length=MAX_TEXT)


class IncidentCancel(Payload):
    incident_id: Id
    reason: str = Field(default="", max_length=MAX_TEXT)


class TeamStatusChange(Payload):
    status: Literal["available", "off_duty"]
    team_id: Id | None = None


TeamKind = Literal["professional_rescue", "volunteer", "mediation", "relief"]
Capabilities = Annotated[list[Annotated[str, Field(max_length=32)]], Field(max_length=20)]


class TeamCreate(Payload):
    name: str = Field(min_length=1, max_length=120, pattern=NOT_BLANK)
    kind: TeamKind
    capabilities: Capabilities = Field(default_factory=list)
    area_code: AreaCode
    base_lat: Latitude
    base_lon: Longitude
    members: int = Field(default=0, ge=0, le=10_000)
    _members = field_validator("members", mode="before")(_whole_number)
    leader: str | None = Field(default=None, max_length=64)

    _coordinates = field_validator("base_lat", "base_lon", mode="before")(_real_number)


class TeamUpdate(Payload):
    name: str | None = Field(default=None, min_length=1, max_length=120, pattern=NOT_BLANK)
    kind: TeamKind | None = None
    capabilities: Capabilities | None = None
    area_code: AreaCode | None = None
    base_lat: Latitude | None = None
    base_lon: Longitude | None = None
    members: int | None = Field(default=None, ge=0, le=10_000)
    _members = field_validator("members", mode="before")(_optional_whole_number)
    leader: str | None = Field(default=None, max_length=64)

    _coordinates = field_validator("base_lat", "base_lon", mode="before")(_optional_real_number)


class TeamDispatch(Payload):
    team_id: Id


class TaskRef(Payload):
    task_id: Id


class TaskDecline(Payload):
    task_id: Id
    reason: str = Field(default="", max_length=500)


class TaskStatusChange(Payload):
    task_id: Id
    status: Literal["en_route", "on_scene", "completed"]


class TeamPosition(Payload):
    lat: Latitude
    lon: Longitude
    at: IsoTime | None = None

    _coordinates = field_validator("lat", "lon", mode="before")(_real_number)


class CheckInSubmit(Payload):
    client_id: UUID
    lat: Latitude | None = None
    lon: Longitude | None = None

    _coordinates = field_validator("lat", "lon", mode="before")(_optional_real_number)


class AssignmentChange(Payload):
    cell_code: CellCode


class TokenRequest(Payload):
    username: str = Field(min_length=1, max_length=64, pattern=NOT_BLANK)
    password: str = Field(min_length=1, max_length=256, pattern=NOT_BLANK)


class ReportQuery(Payload):
    status: str | None = Field(default=None, max_length=16)
    risk_level: Literal["red", "orange", "yellow", "blue"] | None = None
    area: AreaCode | None = None
    since: IsoTime | None = None
    limit: int = Field(default=100, ge=1, le=5000)


class AreaQuery(Payload):
    level: Literal["city", "county", "township", "village", "cell"] | None = None
    parent: AreaCode | None = None
    bbox: str | None = Field(default=None, max_length=100, pattern=BBOX_PATTERN)
    tolerance: float = Field(default=0.0, ge=0, le=1, allow_inf_nan=False)


class LocateQuery(Payload):
    lat: Latitude
    lon: Longitude


class RecommendationQuery(Payload):
    limit: int = Field(default=5, ge=1, le=50)


class TeamQuery(Payload):
    kind: TeamKind | None = None
    status: (
        Literal["available", "dispatched", "en_route", "on_scene", "returning", "off_duty"] | None
    ) = None


class CoverageQuery(Payload):
    area: AreaCode | None = None
    days: int | None = Field(default=None, ge=1, le=366)


class FollowupQuery(Payload):
    station: AreaCode | None = None
    status: Literal["open", "done", "all"] = "open"


class FollowupClose(Payload):
    note: str = Field(max_length=MAX_TEXT)


_YEAR = r"(20[0-9]{2}|2100)"
_MONTH = r"(0[1-9]|1[0-2])"
_DAY = rf"{_YEAR}-{_MONTH}-(0[1-9]|[12][0-9]|3[01])"
# A month, a quarter, a year, or days (services/supervision.py parse_period).
PERIOD_PATTERN = rf"^{_YEAR}(-{_MONTH}|-Q[1-4])?$|^{_DAY}\.\.{_DAY}$"


class BulletinQuery(Payload):
    period: str = Field(max_length=22, pattern=PERIOD_PATTERN, examples=["2026-11", "2026-Q4"])
    level: Literal["county", "township", "village"] = "county"
    area: AreaCode | None = None


class CasesQuery(BulletinQuery):
    unit: AreaCode
    figure: str = Field(max_length=64, pattern=r"^[a-z_]+(:[a-z_]+)?$")


class TrendsQuery(Payload):
    end: str | None = Field(default=None, pattern=rf"^{_YEAR}-{_MONTH}$")
    months: int = Field(default=6, ge=1, le=24)
    area: AreaCode | None = None


# ---- webhooks (services/webhooks.py, docs/webhooks.md) ----------------------------------

WebhookEventType = Literal[
    "report.submitted",
    "report.triaged",
    "report.reviewed",
    "report.updated",
    "report.escalated",
    "incident.created",
    "incident.updated",
    "incident.resolved",
    "incident.closed",
    "incident.cancelled",
    "report.*",
    "incident.*",
    "*",
]
WEBHOOK_EVENT_TYPES: tuple[str, ...] = tuple(t for t in get_args(WebhookEventType) if "*" not in t)
WebhookEvents = Annotated[list[WebhookEventType], Field(min_length=1, max_length=20)]
MAX_WEBHOOK_URL = 2000


class WebhookCreate(Payload):
    url: str = Field(min_length=10, max_length=MAX_WEBHOOK_URL, examples=["https://x.cn/hook"])
    event_types: WebhookEvents
    area_code: AreaCode | None = None


class WebhookUpdate(Payload):
    url: str | None = Field(default=None, min_length=10, max_length=MAX_WEBHOOK_URL)
    event_types: WebhookEvents | None = None
    area_code: AreaCode | None = None
    active: bool | None = None
    rotate_secret: bool = False


class WebhookDeliveryQuery(Payload):
    status: Literal["pending", "delivered", "failed"] | None = None
    limit: int = Field(default=50, ge=1, le=500)


# ---- exports (services/exports.py) ---------------------------------------------------------
_LOCAL_DAY = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
MOMENT_PATTERN = (
    rf"^{_LOCAL_DAY}([T ][0-9]{{2}}:[0-9]{{2}}(:[0-9]{{2}}(\.[0-9]{{1,6}})?)?"
    r"(Z|[+-][0-9]{2}:?[0-9]{2})?)?$"
)
Moment = Annotated[
    str,
    Field(
        max_length=40,
        pattern=MOMENT_PATTERN,
        description="a date (midnight, Beijing time) or an ISO 8601 date and time "
        "(Beijing time when it names no offset)",
        examples=["2026-11-01", "2026-11-01T08:30:00+08:00"],
    ),
]


class ExportQuery(Payload):
    """A period (`since` inclusive, `until` exclusive; a date as `until` includes that
    day), an area within the caller's jurisdiction, and optional filters."""

    since: Moment | None = None
    until: Moment | None = None
    area: AreaCode | None = None
    status: str | None = Field(default=None, max_length=16, pattern=r"^[a-z_]+$")
    category: Category | None = None


# ---- CAP 1.2 (services/cap.py, docs/cap.md) ----------------------------------------------


class LatLon(Payload):
    lat: Latitude
    lon: Longitude

    _coordinates = field_validator("lat", "lon", mode="before")(_real_number)


class CapCircle(Payload):
    lat: Latitude
    lon: Longitude
    radius_km: float = Field(ge=0.01, le=500, allow_inf_nan=False)

    _coordinates = field_validator("lat", "lon", "radius_km", mode="before")(_real_number)


class WarningCreate(Payload):
    """A warning an operator writes, sent as CAP. An Update or a Cancel names the warning
    it follows (its id); the area is one of the caller's, the polygon or circle (lat, lon)
    narrows it."""

    client_id: UUID | None = None
    headline: str = Field(min_length=1, max_length=160, pattern=NOT_BLANK)
    headline_en: str | None = Field(default=None, max_length=160)
    description: str = Field(default="", max_length=MAX_TEXT)
    description_en: str | None = Field(default=None, max_length=MAX_TEXT)
    instruction: str | None = Field(default=None, max_length=1000)
    instruction_en: str | None = Field(default=None, max_length=1000)
    category: Category
    risk_level: Literal["red", "orange", "yellow", "blue"]
    certainty: Literal["Observed", "Likely", "Possible"] = "Likely"
    area_code: AreaCode
    polygon: list[LatLon] | None = Field(default=None, min_length=3, max_length=500)
    circle: CapCircle | None = None
    expires: IsoTime | None = None
    status: Literal["Actual", "Exercise", "Test"] = "Actual"
    msg_type: Literal["Alert", "Update", "Cancel"] = "Alert"
    follows: Id | None = None


class CapAlertQuery(Payload):
    direction: Literal["in", "out"] = "in"
    active: Literal["0", "1"] = Field(default="0", description="1: only alerts in effect")
    limit: int = Field(default=200, ge=1, le=1000)
