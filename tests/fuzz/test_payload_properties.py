"""Every pydantic payload, fed anything a JSON or Socket.IO client can send.

Whatever arrives either validates or fails with a pydantic ValidationError, which
`from_pydantic` turns into one `validation_failed` error naming a field: never another
exception. And whatever the payload's own JSON schema (the one in the OpenAPI document)
calls valid does validate, and survives a round trip through JSON.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from dispatch import schemas
from dispatch.errors import ValidationFailed, from_pydantic
from tests.fuzz.conftest import FUZZ_EXAMPLES
from tests.fuzz.strategies import PAYLOADS, hostile_payloads, valid_payloads

EXAMPLES = FUZZ_EXAMPLES or 60
PROPERTY_SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _check_failure(model: type[schemas.Payload], payload: Any) -> None:
    try:
        model.model_validate(payload)
    except ValidationError as exc:
        error = from_pydantic(exc)
        assert isinstance(error, ValidationFailed)
        body = error.as_dict()
        assert body["code"] == "validation_failed"
        assert isinstance(body["message"], str) and body["message"]
        assert body.get("field") is None or isinstance(body["field"], str)
        assert error.status == 422
        json.dumps(body, allow_nan=False)  # what a client gets must be valid JSON


@pytest.mark.parametrize("model", PAYLOADS, ids=lambda m: m.__name__)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_anything_validates_or_fails_cleanly(model: type[schemas.Payload], data: Any) -> None:
    _check_failure(model, data.draw(hostile_payloads(model)))


@pytest.mark.parametrize("model", PAYLOADS, ids=lambda m: m.__name__)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_valid_payloads_validate_and_round_trip(model: type[schemas.Payload], data: Any) -> None:
    first = model.model_validate(data.draw(valid_payloads(model)))
    wire = json.loads(json.dumps(first.model_dump(mode="json")))
    assert model.model_validate(wire) == first


def test_every_payload_is_covered() -> None:
    # A new schema is picked up by the parametrisation above without being listed.
    assert {m.__name__ for m in PAYLOADS} >= {"ReportSubmit", "TeamCreate", "TokenRequest"}
    assert len(PAYLOADS) >= 20


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"lat": float("nan"), "lon": 103.8}, "lat"),
        ({"lat": 36.0, "lon": float("inf")}, "lon"),
        ({"lat": True, "lon": 103.8}, "lat"),
        ({"lat": "36.0", "lon": 103.8}, "lat"),
        ({"lat": 36.0, "lon": 103.8, "at": 1700000000}, "at"),
        ({"lat": 36.0, "lon": 103.8, "at": b"2026-01-01T00:00:00Z"}, "at"),
    ],
)
def test_hostile_values_name_their_field(payload: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        schemas.TeamPosition.model_validate(payload)
    assert from_pydantic(caught.value).field == field


@pytest.mark.parametrize("value", [True, "7", 7.5, b"7", float("nan"), 2**31, 0])
def test_ids_are_whole_numbers_in_range(value: Any) -> None:
    with pytest.raises(ValidationError):
        schemas.TaskRef.model_validate({"task_id": value})
    assert schemas.TaskRef.model_validate({"task_id": 7.0}).task_id == 7
