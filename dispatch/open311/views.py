"""The GeoReport v2 endpoints: thin views, one service call each, errors in the spec's form.

| endpoint                          | api_key  | what                                   |
|-----------------------------------|----------|----------------------------------------|
| GET  /open311/discovery.json      | no       | the spec's service discovery document  |
| GET  /open311/v2/services.json    | no       | one service per report category        |
| GET  /open311/v2/services/<c>.json| no       | its attributes (severity, client_token)|
| POST /open311/v2/requests.json    | yes      | a report, filed as the client's account|
| GET  /open311/v2/requests.json    | yes      | the client's own requests              |
| GET  /open311/v2/requests/<id>.json | yes    | one of them                            |

Every URL also answers in `.xml`.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Response, current_app, request
from flask_babel import force_locale
from flask_limiter.errors import RateLimitExceeded
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import HTTPException, InternalServerError, RequestEntityTooLarge

from .. import ratelimit
from ..errors import GridwatchError, NotFound, ValidationFailed, from_pydantic
from ..extensions import db
from ..schemas import CATEGORIES
from ..services import open311
from . import catalogue
from .render import answer
from .schemas import RequestQuery, RequestSubmit

log = logging.getLogger(__name__)

bp = Blueprint("open311", __name__, url_prefix="/open311")

FORMAT = "<any(json, xml):fmt>"
MAX_BODY = 64 * 1024
MAX_FIELDS = 100
# Per address: reading as much as our REST API allows; posting enough for a hotline's
# gateway, not for a flood of guessed keys. Each client's reports also count against its
# service account's limit, as every informant's do (ratelimit.REPORTS_PER_INFORMANT).
READ_PER_ADDRESS = ratelimit.REST_PER_CALLER
POST_PER_ADDRESS = "120 per minute"
ATTRIBUTE = re.compile(r"^attribute\[([^\[\]]{1,64})\](\[\])?$")
LANGUAGES = ("zh", "en")

F = TypeVar("F", bound=Callable[..., Any])


def _address() -> str:
    return f"open311:{request.remote_addr or '-'}"


def _config(name: str, default: str) -> str:
    return str(current_app.config.get(name) or default)


ratelimit.limiter.shared_limit(
    lambda: _config("GRIDWATCH_LIMIT_OPEN311_READ", READ_PER_ADDRESS),
    scope="open311",
    key_func=_address,
)(bp)
post_limit = ratelimit.limiter.limit(
    lambda: _config("GRIDWATCH_LIMIT_OPEN311_POST", POST_PER_ADDRESS),
    key_func=_address,
    methods=["POST"],
    override_defaults=False,
)


@bp.url_value_preprocessor
def _bound_the_body(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """Bound what a client may send before anything reads it. URL preprocessors run before
    every before_request function, the rate limiter's among them."""
    request.max_content_length = MAX_BODY
    request.max_form_memory_size = MAX_BODY
    request.max_form_parts = MAX_FIELDS
    if (request.content_length or 0) > MAX_BODY:
        raise RequestEntityTooLarge(f"the body is larger than {MAX_BODY // 1024} KiB")


def _language() -> str:
    """`?lang=` (ours) or `?locale=` (some Open311 clients), then Accept-Language; zh first."""
    for name in ("lang", "locale"):
        value = (request.args.get(name) or "")[:2].lower()
        if value in LANGUAGES:
            return value
    return request.accept_languages.best_match(LANGUAGES, default="zh") or "zh"


def localised(view: F) -> F:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with force_locale(_language()):
            return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _format() -> str:
    return "xml" if request.path.endswith(".xml") else "json"


def error(status: int, description: str) -> Response:
    """The spec's error answer: `[{code, description}]` with the same HTTP status."""
    return answer(_format(), "errors", [{"code": status, "description": description}], status)


@bp.errorhandler(GridwatchError)
def _gridwatch_error(exc: GridwatchError) -> Response:
    db.session.rollback()
    # The spec: 403 for a missing or wrong api_key, 404 for what does not exist, 400 for
    # the rest. Our own 413, 429 and 503 keep their meaning.
    status = {401: 403, 403: 403, 404: 404, 429: 429, 503: 503}.get(exc.status, 400)
    field = f"{exc.field}: " if exc.field and not exc.message.startswith(exc.field) else ""
    response = error(status, f"{field}{exc.message}")
    if "retry_after" in exc.extra:
        response.headers["Retry-After"] = str(exc.extra["retry_after"])
    return response


@bp.errorhandler(RateLimitExceeded)
def _rate_limited(exc: RateLimitExceeded) -> Response:
    return _gridwatch_error(ratelimit.exceeded(exc))


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 400
    if status >= 500:
        return _internal(exc)
    return error(status, exc.description or exc.name)


@bp.errorhandler(InternalServerError)
def _internal(exc: HTTPException) -> Response:
    db.session.rollback()
    log.error("open311: unexpected error on %s %s", request.method, request.path)
    return error(500, "the server failed to handle the request; it is safe to retry")


def _validate(schema: type[BaseModel], data: dict[str, Any]) -> Any:
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise from_pydantic(exc) from None


def _posted() -> dict[str, Any]:
    """The arguments of a POST as one dict: the query string (the spec's Swagger sends
    them there), then the form or JSON body; `attribute[code]` gathered into `attribute`."""
    flat: dict[str, Any] = {}
    attributes: dict[str, Any] = {}

    def take(key: str, values: list[Any], *, listed: bool = False) -> None:
        found = ATTRIBUTE.match(key)
        if found:
            values = [
                str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
                for v in values
            ]
            listed = listed or bool(found[2])
            attributes[found[1]] = values if listed or len(values) > 1 else values[0]
        elif key == "attribute" and len(values) == 1 and isinstance(values[0], dict):
            for code, value in values[0].items():
                take(
                    f"attribute[{code}]",
                    value if isinstance(value, list) else [value],
                    listed=isinstance(value, list),
                )
        else:
            flat[key] = values[0] if len(values) == 1 else values

    for key, values in request.args.lists():
        take(key, values)
    if request.is_json:
        try:
            body = request.get_json(silent=True)
        except RecursionError:
            raise ValidationFailed("the body is nested too deeply", field="body") from None
        if not isinstance(body, dict):
            raise ValidationFailed("the body must be a JSON object or a form", field="body")
        for key, value in list(body.items())[:MAX_FIELDS]:
            take(str(key), [value])
    else:
        for key, values in request.form.lists():
            take(key, values)
    flat["attribute"] = attributes
    # The token comes from the header, never from a body field of that name.
    flat.pop("idempotency_key", None)
    header = request.headers.get("Idempotency-Key")
    if header is not None:
        flat["idempotency_key"] = header.strip()
    return flat


def _query() -> dict[str, str]:
    """Repeated arguments join with commas: the spec allows both forms for lists."""
    return {key: ",".join(values) for key, values in request.args.lists()}


@bp.get(f"/discovery.{FORMAT}")
def discovery(fmt: str) -> Response:
    """The spec's service discovery document, pointing at the one endpoint."""
    changeset = "2026-11-29T00:00:00+08:00"
    return answer(
        fmt,
        "discovery",
        {
            "changeset": changeset,
            "contact": "",
            "key_service": "gridwatch open311 add-client NAME --area CODE",
            "endpoints": [
                {
                    "specification": "http://wiki.open311.org/GeoReport_v2",
                    "url": request.host_url.rstrip("/") + "/open311/v2",
                    "changeset": changeset,
                    "type": "production",
                    "formats": ["application/json", "text/xml"],
                }
            ],
        },
    )


@bp.get(f"/v2/services.{FORMAT}")
@localised
def services(fmt: str) -> Response:
    return answer(fmt, "services", catalogue.services())


@bp.get(f"/v2/services/<service_code>.{FORMAT}")
@localised
def service_definition(service_code: str, fmt: str) -> Response:
    if service_code not in CATEGORIES:
        raise NotFound(f"service_code {service_code[:64]!r} not found")
    return answer(fmt, "service_definition", catalogue.service_definition(service_code))


@bp.post(f"/v2/requests.{FORMAT}")
@post_limit
@localised
def post_request(fmt: str) -> Response:
    arguments = _posted()
    client, account = open311.client_for_key(arguments.get("api_key"))
    data: RequestSubmit = _validate(RequestSubmit, arguments)
    result = open311.submit_request(client, account, data)
    created = {
        "service_request_id": str(result["report"]["id"]),
        "service_notice": catalogue.service_notice(data.service_code),
        "account_id": None,
    }
    return answer(fmt, "service_requests", [created])


@bp.get(f"/v2/requests.{FORMAT}")
@localised
def get_requests(fmt: str) -> Response:
    arguments = _query()
    _client, account = open311.client_for_key(arguments.get("api_key"))
    query: RequestQuery = _validate(RequestQuery, arguments)
    records = open311.list_requests(account, query)
    return answer(fmt, "service_requests", [catalogue.request_view(r) for r in records])


@bp.get(f"/v2/requests/<service_request_id>.{FORMAT}")
@localised
def get_request(service_request_id: str, fmt: str) -> Response:
    _client, account = open311.client_for_key(request.args.get("api_key"))
    record = open311.get_request(account, service_request_id)
    return answer(fmt, "service_requests", [catalogue.request_view(record)])


@bp.route("/", defaults={"rest": ""}, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@bp.route("/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unknown(rest: str) -> Response:
    """Anything else under /open311: the spec's 404, not the site's HTML page."""
    raise NotFound(
        "no such resource: /open311/v2/services, /services/<code>, /requests and "
        "/requests/<id>, each .json or .xml"
    )


__all__ = ["bp"]
