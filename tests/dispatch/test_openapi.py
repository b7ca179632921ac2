"""GET /api/openapi.json: a valid OpenAPI 3.1 document that lists every REST route."""

from __future__ import annotations

import re

from flask import Flask
from openapi_spec_validator import validate

from dispatch.api.openapi import OPERATIONS, document
from dispatch.schemas import ReportSubmit


def test_document_is_valid_openapi(app: Flask) -> None:
    served = app.test_client().get("/api/openapi.json")
    assert served.status_code == 200
    assert served.json == document()
    validate(served.json)


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def test_every_api_route_is_documented_and_nothing_else(app: Flask) -> None:
    routes = {
        (method.lower(), _openapi_path(rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/")
        for method in rule.methods or ()
        if method not in {"HEAD", "OPTIONS"}
    }
    documented = {(op.method, op.path) for op in OPERATIONS}
    assert routes - documented == set(), "routes missing from dispatch/api/openapi.py"
    assert documented - routes == set(), "documented operations that no route serves"
    assert len(documented) == len(OPERATIONS), "an operation is listed twice"


def test_request_schemas_are_the_pydantic_ones() -> None:
    doc = document()
    submit = doc["paths"]["/api/reports"]["post"]["requestBody"]["content"]["application/json"]
    assert submit["schema"] == {"$ref": "#/components/schemas/ReportSubmit"}
    assert doc["components"]["schemas"]["ReportSubmit"] == ReportSubmit.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    # A path id is not sent again in the body.
    review = doc["components"]["schemas"]["ReportReviewBody"]
    assert "report_id" not in review["properties"] and review["required"] == ["action"]


def test_errors_and_auth_are_described() -> None:
    doc = document()
    error = doc["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    detail = doc["components"]["schemas"]["ErrorDetail"]
    assert set(detail["properties"]) >= {"code", "message", "field"}
    assert detail["required"] == ["code", "message"]
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert doc["security"] == [{"bearerAuth": []}]
    public = {
        p for p, ops in doc["paths"].items() for op in ops.values() if op.get("security") == []
    }
    assert public == {"/api/health", "/api/openapi.json", "/api/docs", "/api/auth/token"}
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if path in public:
                continue
            for status in ("401", "403", "422", "429"):
                assert op["responses"][status] == {"$ref": f"#/components/responses/E{status}"}, (
                    method,
                    path,
                )
