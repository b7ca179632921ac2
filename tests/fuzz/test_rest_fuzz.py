"""Schemathesis fuzzes every REST operation from the OpenAPI document.

Each generated request, valid and deliberately invalid, goes to a real server as an operator
and as an informant (the bulletins' also as a supervisor); every answer must be no server
error, carry a documented status and match the documented schema (an error is always
`{error: {code, message, field?}}`).

`make test` runs a bounded fuzz (a few examples an operation, random phase only);
`make fuzz` sets GRIDWATCH_FUZZ_EXAMPLES and adds schemathesis's coverage phase (boundary
values and every kind of invalid input, for each parameter).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from dispatch.api.openapi import document
from tests.conftest import ROOT, Server
from tests.fuzz.conftest import FUZZ_EXAMPLES

CONFIG = {
    "phases": {"coverage": {"enabled": bool(FUZZ_EXAMPLES)}},
    "operations": [
        {
            # A photo is judged by its bytes (JPEG, PNG or WebP), which no schema states:
            # random bytes that fit the schema are rightly refused with 422.
            "include-path": "/api/reports/{report_id}/photos",
            "include-method": "POST",
            "checks": {
                "positive_data_acceptance": {
                    "expected-statuses": ["2xx", "401", "403", "404", "409", "422", "429"]
                }
            },
        },
        {
            # A period's pattern cannot say that 2026-02-30 is no day, nor that a range runs
            # forwards and spans at most 366 days: such periods are rightly refused with 422.
            "include-path-regex": "^/api/(supervision|exports)/",
            "checks": {
                "positive_data_acceptance": {
                    "expected-statuses": ["2xx", "401", "403", "404", "422", "429"]
                }
            },
        },
    ],
}
schema = schemathesis.openapi.from_dict(document(), config=SchemathesisConfig.from_dict(CONFIG))

FUZZ_SETTINGS = settings(
    max_examples=FUZZ_EXAMPLES or 8,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def tally() -> Iterator[Counter[str]]:
    """Cases sent per role, written to test-artifacts/rest-fuzz.json."""
    counts: Counter[str] = Counter()
    yield counts
    record = ROOT / "test-artifacts" / "rest-fuzz.json"
    record.parent.mkdir(exist_ok=True)
    record.write_text(json.dumps({"cases": dict(counts), "total": sum(counts.values())}) + "\n")


def test_served_document_is_the_one_fuzzed(rest_server: Server) -> None:
    assert requests.get(f"{rest_server.url}/api/openapi.json", timeout=10).json() == document()


@schema.parametrize()
@FUZZ_SETTINGS
def test_as_operator(case: schemathesis.Case, rest_server: Server, tally: Counter[str]) -> None:
    tally["operator"] += 1
    token = rest_server.token("operator")
    case.call_and_validate(base_url=rest_server.url, headers={"Authorization": f"Bearer {token}"})


@schema.parametrize()
@FUZZ_SETTINGS
def test_as_informant(case: schemathesis.Case, rest_server: Server, tally: Counter[str]) -> None:
    tally["informant"] += 1
    token = rest_server.token("informant")
    case.call_and_validate(base_url=rest_server.url, headers={"Authorization": f"Bearer {token}"})


# Only supervisors and admins get past the role check of the bulletins: fuzz those deeper.
supervision = schema.include(path_regex="^/api/supervision/")


@supervision.parametrize()
@FUZZ_SETTINGS
def test_as_supervisor(case: schemathesis.Case, rest_server: Server, tally: Counter[str]) -> None:
    tally["supervisor"] += 1
    token = rest_server.token("supervisor")
    case.call_and_validate(base_url=rest_server.url, headers={"Authorization": f"Bearer {token}"})
