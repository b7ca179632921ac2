"""The OpenAPI 3.1 document of the REST API, built from the pydantic schemas the views use.

`OPERATIONS` lists every route of the `api` blueprint once: method, path, the request
schema (body or query), what a success looks like, which errors it may answer. A test
compares it with the app's URL map, so a route cannot be added without its entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask import jsonify, render_template
from pydantic import BaseModel, ConfigDict, Field

from .. import schemas as s
from . import bp

JSON = dict[str, Any]
REF = "#/components/schemas/{model}"
OBJECT: JSON = {"type": "object"}
ARRAY: JSON = {"type": "array", "items": OBJECT}

ERROR_TEXT = {
    400: "The request cannot be read (e.g. a broken multipart body).",
    401: "No valid token: send `Authorization: Bearer <token>` (POST /api/auth/token).",
    403: "The caller's role or area may not do this.",
    404: "No such thing, or not one the caller may see.",
    409: "The thing is not in a state that allows this (`invalid_transition`, "
    "`team_unavailable`, `claimed`).",
    413: "The body is larger than the server accepts.",
    415: "The body is not of a media type the operation takes.",
    422: "The input does not match the schema (`validation_failed`, with `field`).",
    429: "Too many requests (`rate_limited`); retry after the time given.",
    503: "The database or another part is down; retry later.",
}
OK_TEXT = {
    200: "Done (for a submission: a retry of an earlier client_id, `duplicate: true`).",
    201: "Created.",
    503: "A part is down; the body says which.",
}
# Every authenticated call may meet these; operations add their own.
COMMON_ERRORS = (401, 403, 404, 422, 429, 503)


# What clients get back. Documentation only: the views build these answers as dicts, and
# the fuzz test checks every answer against them. Extra keys may be added later.
class Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorDetail(Answer):
    code: str = Field(description="stable, e.g. validation_failed, not_found, rate_limited")
    message: str
    field: str | None = Field(default=None, description="the input at fault, when one is")


class Error(BaseModel):
    """Every error: HTTP status from PROTOCOL.md, and this body."""

    model_config = ConfigDict(extra="forbid")
    error: ErrorDetail


class UserView(Answer):
    id: int
    username: str
    role: str
    area_code: str


class TokenAnswer(Answer):
    token: str
    user: UserView


class Health(Answer):
    status: str
    database: str
    redis: str


class ReportAck(Answer):
    id: int
    client_id: str
    cell_code: str | None
    status: str
    received_at: str
    flags: list[str] = Field(description="outside_grid, snapped_to_cell: for the operator")


class Report(Answer):
    """A report; a sensitive one read below the cleared level comes `redacted`, without
    the fields that have defaults here (docs/api.md)."""

    id: int
    category: str
    severity: int | None
    area_code: str
    status: str
    risk_level: str | None
    risk_score: int | None
    received_at: str
    flags: list[str]
    client_id: str | None = None
    text: str | None = None
    lat: float | None = None
    lon: float | None = None
    cell_code: str | None = None
    redacted: bool = False


class SubmitAnswer(Answer):
    ok: bool
    report: ReportAck
    duplicate: bool


class ReportAnswer(Answer):
    ok: bool
    report: Report


class Team(Answer):
    id: int
    name: str
    kind: str
    status: str
    capabilities: list[str]
    area_code: str


class TeamAnswer(Answer):
    ok: bool
    team: Team


class Incident(Answer):
    id: int
    title: str | None
    category: str | None
    status: str
    area_code: str


class Task(Answer):
    id: int
    incident_id: int
    team_id: int
    status: str


class TaskAnswer(Answer):
    ok: bool
    task: Task


ANSWERS: tuple[type[BaseModel], ...] = (
    Error,
    TokenAnswer,
    Health,
    SubmitAnswer,
    ReportAnswer,
    Report,
    TeamAnswer,
    Team,
    Incident,
    TaskAnswer,
)


def ref(model: type[BaseModel]) -> JSON:
    return {"$ref": REF.format(model=model.__name__)}


def array_of(model: type[BaseModel]) -> JSON:
    return {"type": "array", "items": ref(model)}


@dataclass(frozen=True)
class Operation:
    """One route: what it takes, what it answers."""

    method: str
    path: str  # OpenAPI form: /api/reports/{report_id}
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    # Fields of `body` the view takes from the path, so they are not sent in the body.
    from_path: tuple[str, ...] = ()
    query: type[BaseModel] | None = None
    ok: tuple[int, ...] = (200,)
    answer: JSON | None = None  # schema of a success; a plain JSON object when None
    errors: tuple[int, ...] = COMMON_ERRORS
    auth: bool = True
    upload: bool = False  # multipart/form-data with a photo
    raw_body: str | None = None  # a body that is no JSON: its media type (a CAP alert's XML)
    content_type: str = "application/json"


# The exports' answers (docs/exports.md).
FEATURES: JSON = {
    "type": "object",
    "required": ["type", "features"],
    "properties": {
        "type": {"const": "FeatureCollection"},
        "features": {"type": "array", "items": {"type": "object"}},
    },
}
CSV_TEXT: JSON = {"type": "string", "description": "UTF-8 with a byte-order mark; a header row"}

TRANSITION = (*COMMON_ERRORS, 409)
UPLOAD = (*COMMON_ERRORS, 400, 413)

# fmt: off
OPERATIONS: tuple[Operation, ...] = (
    Operation("get", "/api/health", "Are the database and Redis up (503 when not)", "meta",
              ok=(200, 503), answer=ref(Health), errors=(), auth=False),
    Operation("get", "/api/openapi.json", "This document", "meta", errors=(), auth=False),
    Operation("get", "/api/docs", "This document, browsable", "meta", errors=(), auth=False,
              content_type="text/html"),
    Operation("post", "/api/auth/token", "Trade a username and password for a token", "auth",
              body=s.TokenRequest, answer=ref(TokenAnswer), errors=(401, 422, 429, 503),
              auth=False),
    # areas
    Operation("get", "/api/areas", "Areas as a GeoJSON FeatureCollection", "areas",
              query=s.AreaQuery, content_type="application/geo+json"),
    Operation("get", "/api/areas/status", "Per-cell status for the map", "areas",
              query=s.AreaQuery),
    Operation("get", "/api/areas/locate", "The cell containing a point, and its ancestors",
              "areas", query=s.LocateQuery),
    # reports
    Operation("post", "/api/reports", "Submit a report (REST twin of report:submit)", "reports",
              body=s.ReportSubmit, ok=(201, 200), answer=ref(SubmitAnswer)),
    Operation("get", "/api/reports", "Reports in the caller's area, newest first", "reports",
              query=s.ReportQuery, answer=array_of(Report)),
    Operation("get", "/api/reports/{report_id}", "One report", "reports", answer=ref(Report)),
    Operation("post", "/api/reports/{report_id}/review", "Verify, dismiss or merge", "reports",
              body=s.ReportReview, from_path=("report_id",), answer=ref(ReportAnswer),
              errors=TRANSITION),
    Operation("post", "/api/reports/{report_id}/claim", "Claim a queue entry for a while",
              "reports", errors=TRANSITION),
    Operation("post", "/api/reports/{report_id}/release", "Release one's claim", "reports"),
    Operation("get", "/api/triage", "The operator's queue", "reports", answer=array_of(Report)),
    Operation("post", "/api/reports/{report_id}/photos", "Attach a photo (JPEG, PNG, WebP)",
              "reports", ok=(201, 200), errors=UPLOAD, upload=True),
    Operation("get", "/api/reports/{report_id}/photos", "A report's photos", "reports",
              answer=ARRAY),
    Operation("get", "/api/photos/{photo_id}", "A photo's bytes", "reports",
              content_type="image/*"),
    # incidents
    Operation("post", "/api/incidents", "Open an incident from reports", "incidents",
              body=s.IncidentCreate, ok=(201,), errors=TRANSITION),
    Operation("get", "/api/incidents", "Incidents in the caller's area", "incidents",
              answer=ARRAY),
    Operation("get", "/api/incidents/{incident_id}", "One incident with its timeline",
              "incidents"),
    Operation("get", "/api/incidents/{incident_id}/recommendations",
              "Available teams that fit, nearest in time first", "incidents",
              query=s.RecommendationQuery, answer=ARRAY),
    Operation("get", "/api/incidents/{incident_id}/plan", "The run card, filled", "incidents"),
    Operation("post", "/api/incidents/{incident_id}/dispatch", "Offer the incident to a team",
              "incidents", body=s.TeamDispatch, ok=(201,), answer=ref(TaskAnswer),
              errors=TRANSITION),
    Operation("post", "/api/incidents/{incident_id}/cancel", "Cancel an incident", "incidents",
              body=s.IncidentCancel, from_path=("incident_id",), errors=TRANSITION),
    Operation("post", "/api/incidents/{incident_id}/resolve", "Mark an incident resolved",
              "incidents", body=s.IncidentNote, from_path=("incident_id",), errors=TRANSITION),
    Operation("post", "/api/incidents/{incident_id}/close", "Close a resolved incident",
              "incidents", errors=TRANSITION),
    Operation("post", "/api/incidents/{incident_id}/stop-cascade",
              "Stop offering the incident to further teams", "incidents", errors=TRANSITION),
    # teams and tasks
    Operation("get", "/api/teams", "Teams", "teams", query=s.TeamQuery, answer=array_of(Team)),
    Operation("post", "/api/teams", "Create a team (admin)", "teams", body=s.TeamCreate,
              ok=(201,), answer=ref(TeamAnswer)),
    Operation("get", "/api/teams/{team_id}", "One team", "teams"),
    Operation("patch", "/api/teams/{team_id}", "Change a team (admin)", "teams",
              body=s.TeamUpdate, answer=ref(TeamAnswer)),
    Operation("post", "/api/teams/status", "Available or off duty", "teams",
              body=s.TeamStatusChange, answer=ref(TeamAnswer), errors=TRANSITION),
    Operation("post", "/api/teams/position", "The leader's team is here now", "teams",
              body=s.TeamPosition, answer=ref(TeamAnswer)),
    Operation("get", "/api/tasks/current", "The leader's current task and team", "teams"),
    Operation("post", "/api/tasks/{task_id}/ack", "Accept an offered task", "teams",
              answer=ref(TaskAnswer), errors=TRANSITION),
    Operation("post", "/api/tasks/{task_id}/decline", "Decline an offered task", "teams",
              body=s.TaskDecline, from_path=("task_id",), answer=ref(TaskAnswer),
              errors=TRANSITION),
    Operation("post", "/api/tasks/{task_id}/status", "En route, on scene, completed", "teams",
              body=s.TaskStatusChange, from_path=("task_id",), answer=ref(TaskAnswer),
              errors=TRANSITION),
    # informants and follow-ups
    Operation("post", "/api/checkins", "The informant's daily all-quiet", "informants",
              body=s.CheckInSubmit, ok=(201, 200)),
    Operation("get", "/api/coverage", "Informant coverage of an area", "informants",
              query=s.CoverageQuery),
    Operation("put", "/api/informants/{user}/assignment", "Give an informant a cell",
              "informants", body=s.AssignmentChange),
    Operation("delete", "/api/informants/{user}/assignment", "End an informant's assignment",
              "informants"),
    Operation("get", "/api/informants/{user}/assignments", "An informant's cells over time",
              "informants", answer=ARRAY),
    Operation("get", "/api/followups", "Follow-ups of the stations in the caller's area",
              "informants", query=s.FollowupQuery, answer=ARRAY),
    Operation("post", "/api/followups/{followup_id}/close", "Close a follow-up with a note",
              "informants", body=s.FollowupClose, errors=TRANSITION),
    # supervision
    Operation("get", "/api/supervision/bulletin", "The bulletin: figures, ranks and flags per "
              "unit (supervisors)", "supervision", query=s.BulletinQuery),
    Operation("get", "/api/supervision/bulletin.csv", "The bulletin as CSV", "supervision",
              query=s.BulletinQuery, content_type="text/csv"),
    Operation("get", "/api/supervision/cases", "The cases behind one figure of one unit",
              "supervision", query=s.CasesQuery),
    Operation("get", "/api/supervision/trends", "The scope's figures month by month",
              "supervision", query=s.TrendsQuery),
    # exports (services/exports.py, docs/exports.md)
    Operation("get", "/api/exports/reports.geojson", "Reports of a period and area as GeoJSON",
              "exports", query=s.ExportQuery, answer=FEATURES,
              content_type="application/geo+json"),
    Operation("get", "/api/exports/reports.csv", "Reports of a period and area as CSV",
              "exports", query=s.ExportQuery, answer=CSV_TEXT, content_type="text/csv"),
    Operation("get", "/api/exports/incidents.geojson",
              "Incidents of a period and area as GeoJSON", "exports", query=s.ExportQuery,
              answer=FEATURES, content_type="application/geo+json"),
    Operation("get", "/api/exports/incidents.csv", "Incidents of a period and area as CSV",
              "exports", query=s.ExportQuery, answer=CSV_TEXT, content_type="text/csv"),
    # CAP 1.2 (services/cap.py, docs/cap.md)
    Operation("get", "/api/incidents/{incident_id}/cap.xml", "The incident as a CAP 1.2 "
              "alert: Alert, then an Update when it changed, a Cancel when it ended",
              "cap", errors=TRANSITION, answer={"type": "string"},
              content_type="application/cap+xml"),
    Operation("post", "/api/warnings", "Send an operator's warning as CAP (an Update or "
              "Cancel `follows` an earlier one)", "cap", body=s.WarningCreate, ok=(201, 200),
              errors=TRANSITION),
    Operation("get", "/api/warnings/{warning_id}/cap.xml", "A warning's CAP message, as sent",
              "cap", answer={"type": "string"}, content_type="application/cap+xml"),
    Operation("post", "/api/cap/alerts", "Import a CAP 1.2 alert from the public alerting "
              "chain (city operators); 422 names the schema's reason", "cap",
              ok=(201, 200), errors=(*COMMON_ERRORS, 413, 415), raw_body="application/cap+xml"),
    Operation("get", "/api/cap/alerts", "CAP alerts received (or sent) as GeoJSON, newest "
              "first", "cap", query=s.CapAlertQuery, answer=FEATURES,
              content_type="application/geo+json"),
    # accounts
    Operation("post", "/api/users/{username}/disable", "Disable an account (admin); its "
              "sockets close", "users"),
    Operation("post", "/api/users/{username}/enable", "Enable an account again (admin)", "users"),
    Operation("post", "/api/users/{username}/revoke", "Revoke an account's tokens (admin)",
              "users"),
    # webhooks (docs/webhooks.md)
    Operation("post", "/api/webhooks", "Subscribe a receiver to events (admin); the answer "
              "holds the signing secret, shown once", "webhooks", body=s.WebhookCreate,
              ok=(201,)),
    Operation("get", "/api/webhooks", "The webhook subscriptions of the admin's area",
              "webhooks", answer=ARRAY),
    Operation("get", "/api/webhooks/{webhook_id}", "One webhook subscription", "webhooks"),
    Operation("patch", "/api/webhooks/{webhook_id}", "Change, disable or enable a "
              "subscription, or rotate its secret", "webhooks", body=s.WebhookUpdate),
    Operation("delete", "/api/webhooks/{webhook_id}", "Remove a subscription and its "
              "delivery log", "webhooks"),
    Operation("get", "/api/webhooks/{webhook_id}/deliveries", "The delivery log, newest "
              "first", "webhooks", query=s.WebhookDeliveryQuery, answer=ARRAY),
    Operation("post", "/api/webhooks/{webhook_id}/test", "Queue a ping to the receiver",
              "webhooks", ok=(201,)),
)
# fmt: on


def _model_schema(model: type[BaseModel], components: JSON) -> JSON:
    """The model's JSON schema with nested models moved to components."""
    schema = model.model_json_schema(ref_template=REF)
    for name, nested in schema.pop("$defs", {}).items():
        components.setdefault(name, nested)
    return schema


def _body_schema(op: Operation, components: JSON) -> JSON:
    assert op.body is not None
    if not op.from_path:
        components.setdefault(op.body.__name__, _model_schema(op.body, components))
        return ref(op.body)
    # The view adds the path's id: the body is the schema without it.
    schema = _model_schema(op.body, components)
    schema["properties"] = {k: v for k, v in schema["properties"].items() if k not in op.from_path}
    schema["required"] = [k for k in schema.get("required", []) if k not in op.from_path]
    if not schema["required"]:
        del schema["required"]
    name = f"{op.body.__name__}Body"
    schema["title"] = name
    components.setdefault(name, schema)
    return {"$ref": REF.format(model=name)}


def _path_parameters(path: str) -> list[JSON]:
    params = []
    for part in path.split("/"):
        if part.startswith("{") and part.endswith("}"):
            name = part[1:-1]
            schema: JSON = (
                {"type": "integer", "minimum": 1, "maximum": s.MAX_ID}
                if name.endswith("_id")
                else {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 64,
                    "description": "a user id or a username" if name == "user" else "a username",
                }
            )
            params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return params


def _not_null(prop: JSON) -> JSON:
    """A query parameter is absent, never null: keep an optional field's other type."""
    variants = prop.get("anyOf", [])
    if len(variants) == 2 and {"type": "null"} in variants:
        rest = {k: v for k, v in prop.items() if k not in ("anyOf", "default")}
        return {**next(v for v in variants if v != {"type": "null"}), **rest}
    return prop


def _query_parameters(model: type[BaseModel], components: JSON) -> list[JSON]:
    schema = _model_schema(model, components)
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": _not_null(prop)}
        for name, prop in schema["properties"].items()
    ]


def _responses(op: Operation) -> JSON:
    responses: JSON = {}
    for status in op.ok:
        if op.content_type == "image/*":
            content = {"image/*": {"schema": {"type": "string", "format": "binary"}}}
        else:
            content = {op.content_type: {"schema": op.answer or OBJECT}}
        responses[str(status)] = {"description": OK_TEXT[status], "content": content}
    errors = set(op.errors) | ({413} if op.body or op.upload else set())
    for status in sorted(errors):
        responses[str(status)] = {"$ref": f"#/components/responses/E{status}"}
    return responses


def _operation(op: Operation, components: JSON) -> JSON:
    doc: JSON = {
        "operationId": re.sub(r"\W+", "_", f"{op.method} {op.path.removeprefix('/api/')}"),
        "summary": op.summary,
        "tags": [op.tag],
        "responses": _responses(op),
    }
    params = _path_parameters(op.path)
    if op.query is not None:
        params += _query_parameters(op.query, components)
    if params:
        doc["parameters"] = params
    if op.body is not None:
        doc["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _body_schema(op, components)}},
        }
    if op.upload:
        doc["requestBody"] = {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["photo", "client_id"],
                        "properties": {
                            "photo": {
                                "type": "string",
                                "format": "binary",
                                "description": "JPEG, PNG or WebP, by content; "
                                "at most 2 MB, 5 per report",
                            },
                            "client_id": {"type": "string", "format": "uuid"},
                        },
                    }
                }
            },
        }
    if op.raw_body is not None:
        doc["requestBody"] = {
            "required": True,
            "content": {op.raw_body: {"schema": {"type": "string"}}},
        }
    if not op.auth:
        doc["security"] = []
    return doc


def document() -> JSON:
    """The whole document, a new dict each time (a few milliseconds)."""
    components: JSON = {}
    paths: JSON = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op, components)
    for model in ANSWERS:
        components.setdefault(model.__name__, _model_schema(model, components))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Gridwatch",
            "version": "1",
            "description": "Grid watch and dispatch. Every error answers "
            "`{error: {code, message, field?}}`. The Socket.IO events are in docs/asyncapi.yaml.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.items())),
            "responses": {
                f"E{status}": {
                    "description": text,
                    "content": {"application/json": {"schema": ref(Error)}},
                }
                for status, text in ERROR_TEXT.items()
            },
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from POST /api/auth/token or "
                    "`gridwatch users token` (signed, expires).",
                }
            },
        },
        "security": [{"bearerAuth": []}],
    }


@bp.get("/openapi.json")
def openapi() -> Any:
    return jsonify(document())


@bp.get("/docs")
def docs() -> Any:
    """The document above, browsable (Swagger UI)."""
    return render_template("api_docs.html")


__all__ = ["OPERATIONS", "Operation", "document"]
