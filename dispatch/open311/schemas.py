"""Open311 GeoReport v2 payloads: a service request as a client system posts it, and the
query of GET requests. Form-encoded and JSON bodies both arrive here as one flat dict.

Unlike our own payloads (`dispatch.schemas.Payload`) unknown fields are ignored: the spec
lets a client send arguments a server does not use, and its own example does. Every field is
bounded, and an empty argument counts as a missing one (the spec's "Optional").
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from ..schemas import MAX_TEXT

MAX_ATTRIBUTES = 20
MAX_TOKEN = 128
TOKEN_PATTERN = r"^[\x21-\x7e]{1,128}$"
"""A client's token: printable ASCII without spaces, e.g. a hotline case number."""
# Control characters other than tab and line breaks, and lone surrogates: no text of ours
# holds them (PostgreSQL refuses NUL, XML refuses the rest).
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
MAX_IDS = 100
MAX_SPAN_DAYS = 90


def _number(value: object) -> object:
    """A coordinate: a number or a numeric string (form-encoded), never a bool."""
    if isinstance(value, bool):
        raise ValueError("must be a number")
    return value


Lat = Annotated[
    float | None, BeforeValidator(_number), Field(default=None, ge=-90, le=90, allow_inf_nan=False)
]
Long = Annotated[
    float | None,
    BeforeValidator(_number),
    Field(default=None, ge=-180, le=180, allow_inf_nan=False),
]


def _short(limit: int) -> Any:
    return Field(default=None, max_length=limit)


class Open311Model(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_is_missing(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None and v != ""}
        return data

    @field_validator("*", mode="before")
    @classmethod
    def _plain_text(cls, value: object) -> object:
        texts = value.values() if isinstance(value, dict) else [value]
        for text in texts:
            items = text if isinstance(text, list) else [text]
            if any(isinstance(t, str) and _FORBIDDEN.search(t) for t in items):
                raise ValueError("must not contain control characters")
        return value


AttributeValue = (
    Annotated[str, Field(max_length=500)]
    | Annotated[list[Annotated[str, Field(max_length=500)]], Field(max_length=MAX_ATTRIBUTES)]
)


class RequestSubmit(Open311Model):
    """POST requests.json. Personal fields (email, names, phone, device_id, account_id) are
    accepted, bounded and then dropped: the report needs none of them."""

    jurisdiction_id: str | None = _short(255)
    service_code: str = Field(min_length=1, max_length=64)
    lat: Lat = None
    long: Long = None
    address_string: str | None = _short(500)
    address_id: str | None = _short(100)
    email: str | None = _short(254)
    device_id: str | None = _short(128)
    account_id: str | None = _short(128)
    first_name: str | None = _short(100)
    last_name: str | None = _short(100)
    phone: str | None = _short(40)
    description: str = Field(default="", max_length=MAX_TEXT)
    media_url: str | None = Field(default=None, max_length=2000, pattern=r"^https?://\S+$")
    attribute: dict[Annotated[str, Field(max_length=64)], AttributeValue] = Field(
        default_factory=dict, max_length=MAX_ATTRIBUTES
    )
    # From the Idempotency-Key header (the view puts it here), an alternative to
    # attribute[client_token].
    idempotency_key: str | None = Field(default=None, pattern=TOKEN_PATTERN)

    def single(self, code: str) -> str | None:
        """One attribute's value; a list where one value is expected is refused."""
        value = self.attribute.get(code)
        if isinstance(value, list):
            raise ValueError(f"attribute[{code}] takes one value")
        return value or None


def _comma_list(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _w3_time(value: object) -> object:
    """A W3C date-time with its zone (the spec requires one), e.g. 2026-11-01T00:00:00+08:00."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("z", "Z"))
        except ValueError:
            raise ValueError("must be a date and time, e.g. 2026-11-01T00:00:00+08:00") from None
        if parsed.tzinfo is None:
            raise ValueError("must name its time zone, e.g. Z or +08:00")
        return parsed
    return value


CommaList = Annotated[
    list[Annotated[str, Field(max_length=64)]],
    BeforeValidator(_comma_list),
    Field(default_factory=list, max_length=MAX_IDS),
]
W3Time = Annotated[datetime | None, BeforeValidator(_w3_time), Field(default=None)]


class RequestQuery(Open311Model):
    """GET requests.json: the spec's filters, over the client's own requests."""

    jurisdiction_id: str | None = _short(255)
    service_request_id: CommaList
    service_code: CommaList
    status: CommaList
    start_date: W3Time = None
    end_date: W3Time = None

    @field_validator("status")
    @classmethod
    def _statuses(cls, value: list[str]) -> list[str]:
        unknown = [s for s in value if s not in ("open", "closed")]
        if unknown:
            raise ValueError(f"status is open or closed, not {unknown[0]!r}")
        return value
