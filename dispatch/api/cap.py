"""CAP 1.2 over REST: an incident or a warning as CAP, warnings written, alerts received."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType

from ..cap import MAX_BYTES
from ..schemas import CapAlertQuery, WarningCreate
from ..services import cap
from . import bp
from .common import body, caller, query

XML_TYPES = frozenset({"application/cap+xml", "application/xml", "text/xml"})


def _cap_response(answer: dict[str, Any]) -> Response:
    response = Response(answer["xml"], mimetype=cap.CAP_MEDIA_TYPE)
    response.headers["X-CAP-Identifier"] = answer["identifier"]
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/incidents/<int:incident_id>/cap.xml")
def incident_cap(incident_id: int) -> Any:
    return _cap_response(cap.incident_alert(caller(), incident_id))


@bp.post("/warnings")
def create_warning() -> Any:
    user = caller()
    answer = cap.create_warning(user, body(WarningCreate))
    return jsonify(ok=True, **answer), 200 if answer["duplicate"] else 201


@bp.get("/warnings/<int:warning_id>/cap.xml")
def warning_cap(warning_id: int) -> Any:
    return _cap_response(cap.warning_xml(caller(), warning_id))


@bp.post("/cap/alerts")
def import_alert() -> Any:
    user = caller()
    cap.require_importer(user)
    if request.mimetype not in XML_TYPES:
        raise UnsupportedMediaType("send the alert as application/cap+xml or application/xml")
    data = request.get_data(cache=False)
    if len(data) > MAX_BYTES:
        raise RequestEntityTooLarge(f"an alert may have at most {MAX_BYTES} bytes")
    answer = cap.import_alert(user, data)
    return jsonify(ok=True, **answer), 200 if answer["duplicate"] else 201


@bp.get("/cap/alerts")
def list_alerts() -> Any:
    user = caller()
    answer = jsonify(cap.list_alerts(user, query(CapAlertQuery)))
    answer.mimetype = "application/geo+json"
    return answer
