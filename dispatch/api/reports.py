from __future__ import annotations

from typing import Any

from flask import jsonify

from ..schemas import ReportQuery, ReportReview, ReportSubmit
from ..services import reports
from . import bp
from .common import body, caller, json_object, query, validate


@bp.post("/reports")
def submit() -> Any:
    result = reports.submit_report(caller(), body(ReportSubmit))
    return jsonify(ok=True, **result), 200 if result["duplicate"] else 201


@bp.get("/reports")
def list_reports() -> Any:
    return jsonify(reports.list_reports(caller(), query(ReportQuery)))


@bp.get("/reports/<int:report_id>")
def get_report(report_id: int) -> Any:
    return jsonify(reports.get_report(caller(), report_id))


@bp.post("/reports/<int:report_id>/review")
def review(report_id: int) -> Any:
    user = caller()
    data = validate(ReportReview, {**json_object(), "report_id": report_id})
    return jsonify(ok=True, **reports.review_report(user, data))


@bp.post("/reports/<int:report_id>/claim")
def claim(report_id: int) -> Any:
    return jsonify(ok=True, **reports.claim_report(caller(), report_id))


@bp.post("/reports/<int:report_id>/release")
def release(report_id: int) -> Any:
    return jsonify(ok=True, **reports.release_report(caller(), report_id))


@bp.get("/triage")
def triage() -> Any:
    return jsonify(reports.triage_queue(caller()))
