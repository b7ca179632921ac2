"""Pydantic models for every payload: one schema per socket event and its REST twin."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Literal, get_args
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

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
Id = Annotated[int, Field(ge=1, le=2**53)]
MAX_TEXT = 2000


def _real_number(value: object) -> object:
    """A coordinate must be a finite number: not a string, not a bool (`true` is not 1.0)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def _optional_real_number(value: object) -> object:
    return value if value is None else _real_number(value)


class Payload(BaseModel):
    """Strict by default: unknown fields are refused, strings are not numbers."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=False)


class ReportSubmit(Payload):
    client_id: UUID
    category: Category
    text: str = Field(default="", max_length=MAX_TEXT)
    lat: Latitude
    lon: Longitude
    severity: int | None = Field(default=None, ge=1, le=4)
    occurred_at: datetime | None = None
    accuracy_m: float | None = Field(default=None, ge=0, le=100_000, allow_inf_nan=False)

    _coordinates = field_validator("lat", "lon", mode="before")(_real_number)

    @field_validator("severity", mode="before")
    @classmethod
    def _int_severity(cls, value: object) -> object:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError("must be a whole number from 1 to 4")
        return value


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
    name: str = Field(min_length=1, max_length=120)
    kind: TeamKind
    capabilities: Capabilities = Field(default_factory=list)
    area_code: str = Field(pattern=r"^\d{6,15}$")
    base_lat: Latitude
    base_lon: Longitude
    members: int = Field(default=0, ge=0, le=10_000)
    leader: str | None = Field(default=None, max_length=64)

    _coordinates = field_validator("base_lat", "base_lon", mode="before")(_real_number)


class TeamUpdate(Payload):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    kind: TeamKind | None = None
    capabilities: Capabilities | None = None
    area_code: str | None = Field(default=None, pattern=r"^\d{6,15}$")
    base_lat: Latitude | None = None
    base_lon: Longitude | None = None
    members: int | None = Field(default=None, ge=0, le=10_000)
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
    at: datetime | None = None

    _coordinates = field_validator("lat", "lon", mode="before")(_real_number)


class CheckInSubmit(Payload):
    client_id: UUID
    lat: Latitude | None = None
    lon: Longitude | None = None

    _coordinates = field_validator("lat", "lon", mode="before")(_optional_real_number)


class AssignmentChange(Payload):
    cell_code: str = Field(pattern=r"^\d{15}$")


class TokenRequest(Payload):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class ReportQuery(Payload):
    status: str | None = Field(default=None, max_length=16)
    risk_level: Literal["red", "orange", "yellow", "blue"] | None = None
    area: str | None = Field(default=None, pattern=r"^\d{6,15}$")
    since: datetime | None = None
    limit: int = Field(default=100, ge=1, le=5000)


class AreaQuery(Payload):
    level: Literal["city", "county", "township", "village", "cell"] | None = None
    parent: str | None = Field(default=None, pattern=r"^\d{6,15}$")
    bbox: str | None = Field(default=None, max_length=100)
    tolerance: float = Field(default=0.0, ge=0, le=1, allow_inf_nan=False)


class LocateQuery(Payload):
    lat: Latitude
    lon: Longitude
