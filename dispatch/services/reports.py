"""Reports: submitted from the field, triaged by rules, reviewed by operators."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ..errors import InvalidTransition, NotFound, ValidationFailed
from ..extensions import db
from ..models import Report, ReportStatus, Role, User, utcnow
from ..realtime import names
from ..schemas import ReportQuery, ReportReview, ReportSubmit
from ..triage import TriageInput, score_report
from . import areas
from .access import OPERATOR_ROLES, check_read_report, require_role, within
from .uow import IntegrityError, audit, outbox, use_case
from .views import report_ack_view, report_view

CELL_CODE_LENGTH = 15
RISK_ORDER = {"red": 0, "orange": 1, "yellow": 2, "blue": 3}
TRIAGE_SWEEP_AFTER_S = 10


def _announce_new(report: Report) -> None:
    box = outbox()
    box.emit(
        names.OPERATOR,
        names.REPORT_NEW,
        {"report": report_view(report)},
        names.area_rooms(report.area_code),
    )
    box.enqueue("dispatch.jobs.triage_report", report.id, job_id=f"triage-{report.id}")


def submit_report(user: User, data: ReportSubmit) -> dict[str, Any]:
    """Store a report once per client_id, locate it, and announce it after the commit."""
    require_role(user, {Role.INFORMANT})
    client_id = str(data.client_id)
    first = db.session.scalar(db.select(Report).where(Report.client_id == client_id))
    if first is not None:
        return _duplicate(user, first)
    try:
        report = _store_report(user, data, client_id)
    except IntegrityError:
        # Two copies of one report raced; the other one was committed first.
        first = db.session.scalar(db.select(Report).where(Report.client_id == client_id))
        if first is None:
            raise
        return _duplicate(user, first)
    return {"report": report_ack_view(report), "duplicate": False}


@use_case
def _store_report(user: User, data: ReportSubmit, client_id: str) -> Report:
    code, flags = areas.locate_point(data.lon, data.lat)
    cell_code = code if code is not None and len(code) == CELL_CODE_LENGTH else None
    report = Report(
        client_id=client_id,
        informant_id=user.id,
        category=data.category,
        text=data.text,
        severity=data.severity,
        lat=data.lat,
        lon=data.lon,
        accuracy_m=data.accuracy_m,
        occurred_at=data.occurred_at,
        received_at=utcnow(),
        cell_code=cell_code,
        area_code=code or areas.city_code(),
        status=ReportStatus.NEW,
        flags=flags,
        reasons=[],
    )
    db.session.add(report)
    db.session.flush()
    audit(
        "report.submitted",
        "report",
        report.id,
        actor=user,
        area_code=report.area_code,
        after={"client_id": client_id, "category": data.category, "cell_code": cell_code},
    )
    _announce_new(report)
    return report


def _duplicate(user: User, report: Report) -> dict[str, Any]:
    if report.informant_id != user.id:
        # Someone else's id: refuse without saying whose.
        raise ValidationFailed("client_id already used", field="client_id")
    return {"report": report_ack_view(report), "duplicate": True}


@use_case
def triage_report(report_id: int) -> dict[str, Any] | None:
    """Score a report by the rules; running it twice changes nothing more."""
    report = db.session.get(Report, report_id, with_for_update=True)
    if report is None or report.status != ReportStatus.NEW:
        return None
    result = score_report(TriageInput(report.category, report.text, report.severity))
    report.risk_score = result.risk_score
    report.risk_level = result.risk_level
    report.reasons = result.reasons
    report.category_hint = result.category_hint
    report.status = ReportStatus.TRIAGED
    report.triaged_at = utcnow()
    audit(
        "report.triaged",
        "report",
        report.id,
        area_code=report.area_code,
        before={"status": "new"},
        after={"status": "triaged", **result.as_dict()},
    )
    box = outbox()
    box.emit(
        names.OPERATOR,
        names.REPORT_TRIAGED,
        {
            "id": report.id,
            "risk_level": report.risk_level,
            "risk_score": report.risk_score,
            "reasons": report.reasons,
            "category_hint": report.category_hint,
        },
        names.area_rooms(report.area_code),
    )
    _tell_informant(report)
    return result.as_dict()


def _tell_informant(report: Report) -> None:
    if report.informant_id is not None:
        outbox().emit(
            names.INFORMANT,
            names.REPORT_UPDATED,
            {"id": report.id, "status": report.status, "risk_level": report.risk_level},
            [names.user_room(report.informant_id)],
        )


@use_case
def review_report(user: User, data: ReportReview) -> dict[str, Any]:
    require_role(user, {Role.OPERATOR, Role.ADMIN})
    report = check_read_report(user, db.session.get(Report, data.report_id))
    if report.status not in (ReportStatus.NEW, ReportStatus.TRIAGED):
        raise InvalidTransition(f"report is already {report.status}", field="report_id")
    before = {"status": report.status}
    if data.action == "verify":
        report.status = ReportStatus.VERIFIED
    elif data.action == "dismiss":
        report.status = ReportStatus.DISMISSED
    else:
        if data.into_report_id is None or data.into_report_id == report.id:
            raise ValidationFailed("merge needs another report", field="into_report_id")
        check_read_report(user, db.session.get(Report, data.into_report_id))
        report.status = ReportStatus.MERGED
        report.merged_into_id = data.into_report_id
    report.reviewed_at = utcnow()
    report.reviewed_by = user.id
    audit(
        f"report.{data.action}",
        "report",
        report.id,
        actor=user,
        area_code=report.area_code,
        before=before,
        after={"status": report.status, "note": data.note, "into": data.into_report_id},
    )
    outbox().emit(
        names.OPERATOR,
        names.REPORT_UPDATED,
        {"report": report_view(report)},
        names.area_rooms(report.area_code),
    )
    _tell_informant(report)
    return {"report": report_view(report)}


def get_report(user: User, report_id: int) -> dict[str, Any]:
    report = check_read_report(user, db.session.get(Report, report_id))
    return report_view(report, with_informant=user.role in OPERATOR_ROLES)


def list_reports(user: User, query: ReportQuery) -> list[dict[str, Any]]:
    stmt = db.select(Report)
    if user.role == Role.INFORMANT:
        stmt = stmt.where(Report.informant_id == user.id)
    else:
        require_role(user, OPERATOR_ROLES)
        from grid.codes import jurisdiction_prefix

        area = query.area or user.area_code
        if not within(area, user.area_code):
            area = user.area_code
        stmt = stmt.where(Report.area_code.startswith(jurisdiction_prefix(area)))
    if query.status:
        stmt = stmt.where(Report.status == query.status)
    if query.risk_level:
        stmt = stmt.where(Report.risk_level == query.risk_level)
    if query.since:
        stmt = stmt.where(Report.received_at >= query.since)
    stmt = stmt.order_by(Report.received_at.desc(), Report.id.desc()).limit(query.limit)
    with_informant = user.role in OPERATOR_ROLES
    return [report_view(r, with_informant=with_informant) for r in db.session.scalars(stmt)]


def triage_queue(user: User, limit: int = 500) -> list[dict[str, Any]]:
    """Unreviewed reports in the user's area: most dangerous first, then oldest."""
    require_role(user, OPERATOR_ROLES)
    from grid.codes import jurisdiction_prefix

    stmt = (
        db.select(Report)
        .where(
            Report.status.in_([ReportStatus.NEW, ReportStatus.TRIAGED]),
            Report.area_code.startswith(jurisdiction_prefix(user.area_code)),
        )
        .order_by(Report.received_at)
        .limit(limit)
    )
    reports = list(db.session.scalars(stmt))
    reports.sort(
        key=lambda r: (
            RISK_ORDER.get(r.risk_level or "", -1 if r.status == ReportStatus.NEW else 4),
            -(r.risk_score or 0),
            r.received_at,
        )
    )
    return [report_view(r, with_informant=True) for r in reports]


def untriaged_report_ids(older_than_s: int = TRIAGE_SWEEP_AFTER_S) -> list[int]:
    cutoff = utcnow() - timedelta(seconds=older_than_s)
    stmt = (
        db.select(Report.id)
        .where(Report.status == ReportStatus.NEW, Report.received_at < cutoff)
        .limit(1000)
    )
    return list(db.session.scalars(stmt))


def require_report(report_id: int) -> Report:
    report = db.session.get(Report, report_id)
    if report is None:
        raise NotFound("no such report")
    return report
