"""Reports: submitted from the field, triaged by rules, reviewed by operators."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, insert

from .. import ratelimit
from ..errors import Claimed, GridwatchError, InvalidTransition, ValidationFailed
from ..extensions import db
from ..models import Report, ReportStatus, Role, User, utcnow
from ..realtime import names
from ..schemas import ReportQuery, ReportReview, ReportSubmit
from . import areas, batching, privacy
from .access import OPERATOR_ROLES, check_read_report, require_role, within
from .triage import UNREVIEWED, tell_informant
from .uow import IntegrityError, audit, outbox, use_case
from .views import iso, report_ack_view, report_view

CELL_CODE_LENGTH = 15
RISK_ORDER = {"red": 0, "orange": 1, "yellow": 2, "blue": 3}
TRIAGE_SWEEP_AFTER_S = 10


def submit_report(user: User, data: ReportSubmit) -> dict[str, Any]:
    """Store a report once per client_id, locate it, and acknowledge it after the commit.

    In a web process the report joins the next group commit (services/batching.py): one
    transaction for every report that arrived meanwhile. Elsewhere it is a batch of one.
    """
    require_role(user, {Role.INFORMANT})
    client_id = str(data.client_id)
    if ratelimit.enabled():
        # Counted only for new reports: a phone retrying what it sent is never refused.
        first = db.session.scalar(db.select(Report).where(Report.client_id == client_id))
        if first is not None:
            answer = _duplicate_ack(user.id, first)
            if isinstance(answer, Exception):
                raise answer
            return answer
        ratelimit.check_report(user.id)
    entry = (user.id, data)
    committer = batching.committer("reports")
    if committer is not None:
        # Hand the connection back while waiting: the writer needs one from the same pool.
        db.session.close()
        return committer.submit(entry)
    result = store_reports([entry])[0]
    if isinstance(result, Exception):
        raise result
    return result


def store_reports(entries: list[tuple[int, ReportSubmit]]) -> list[dict[str, Any] | Exception]:
    """Store a batch of reports in one transaction; one ack (or error) per entry, in order.

    A client_id seen before, in the database or earlier in the batch, is answered as the
    duplicate it is. If another process committed one of the batch's client_ids in the
    meantime, the batch is rolled back and every entry is stored on its own.
    """
    try:
        return _store_batch(entries)
    except IntegrityError:
        if len(entries) == 1:
            user_id, data = entries[0]
            first = db.session.scalar(
                db.select(Report).where(Report.client_id == str(data.client_id))
            )
            if first is None:
                raise
            return [_duplicate_ack(user_id, first)]
    return [_one(entry) for entry in entries]


def _one(entry: tuple[int, ReportSubmit]) -> dict[str, Any] | Exception:
    try:
        return store_reports([entry])[0]
    except GridwatchError as exc:
        return exc


@use_case
def _store_batch(entries: list[tuple[int, ReportSubmit]]) -> list[dict[str, Any] | Exception]:
    client_ids = list(dict.fromkeys(str(data.client_id) for _, data in entries))
    known: dict[str, Report] = {
        r.client_id: r
        for r in db.session.scalars(db.select(Report).where(Report.client_id.in_(client_ids)))
    }
    # (report, user_id, duplicate): answered after the insert, when every new one has an id.
    answers: list[tuple[Report, int, bool]] = []
    fresh: list[Report] = []
    city = areas.city_code()
    received_at = utcnow()
    for user_id, data in entries:
        client_id = str(data.client_id)
        first = known.get(client_id)
        if first is not None:
            answers.append((first, user_id, True))
            continue
        code, flags = areas.locate_point(data.lon, data.lat)
        report = Report(
            client_id=client_id,
            informant_id=user_id,
            category=data.category,
            text=data.text,
            severity=data.severity,
            lat=data.lat,
            lon=data.lon,
            accuracy_m=data.accuracy_m,
            occurred_at=data.occurred_at,
            received_at=received_at,
            cell_code=code if code is not None and len(code) == CELL_CODE_LENGTH else None,
            area_code=code or city,
            status=ReportStatus.NEW,
            flags=flags,
            reasons=[],
            cluster_size=1,
            photo_count=0,
        )
        known[client_id] = report
        fresh.append(report)
        answers.append((report, user_id, False))
    if fresh:
        _insert_reports(fresh)
        for report in fresh:
            privacy.emit_report(names.REPORT_NEW, report, {"report": report_view(report)})
        ids = [r.id for r in fresh]
        # One triage job for the batch; triaging a report twice changes nothing more.
        outbox().enqueue("dispatch.jobs.triage_reports", ids, job_id=f"triage-{ids[0]}-{len(ids)}")
    return [
        _duplicate_ack(user_id, report)
        if duplicate
        else {"report": report_ack_view(report), "duplicate": False}
        for report, user_id, duplicate in answers
    ]


INSERTED = (
    "client_id",
    "informant_id",
    "category",
    "text",
    "severity",
    "lat",
    "lon",
    "accuracy_m",
    "occurred_at",
    "received_at",
    "cell_code",
    "area_code",
    "status",
    "flags",
    "reasons",
    "cluster_size",
    "photo_count",
)


def _insert_reports(fresh: list[Report]) -> None:
    """One multi-row INSERT for the reports (the ORM's unit of work costs about a millisecond
    a report; their audit events go in one INSERT at the commit); the objects stay out of
    the session and serve the views and broadcasts."""
    rows = [{name: getattr(r, name) for name in INSERTED} for r in fresh]
    inserted = db.session.execute(
        insert(Report).returning(Report.id, Report.client_id, sort_by_parameter_order=True), rows
    ).all()
    for report, (report_id, client_id) in zip(fresh, inserted, strict=True):
        assert report.client_id == client_id
        report.id = report_id
    for r in fresh:  # gathered, and written in one INSERT at the commit (uow.audit)
        audit(
            "report.submitted",
            "report",
            r.id,
            actor_id=r.informant_id,
            area_code=r.area_code,
            after={
                "client_id": r.client_id,
                "category": r.category,
                "cell_code": r.cell_code,
                "severity": r.severity,
                "lat": r.lat,
                "lon": r.lon,
            },
        )


def _duplicate_ack(user_id: int, report: Report) -> dict[str, Any] | Exception:
    if report.informant_id != user_id:
        # Someone else's id: refuse without saying whose.
        return ValidationFailed("client_id already used", field="client_id")
    return {"report": report_ack_view(report), "duplicate": True}


CLAIM_SECONDS = 90


def _claim_free_or_mine(user: User, now: datetime) -> Any:
    return db.or_(
        Report.claimed_by.is_(None), Report.claimed_until < now, Report.claimed_by == user.id
    )


@use_case
def claim_report(user: User, report_id: int) -> dict[str, Any]:
    """An expiring lock on a queue entry, so two operators do not work the same report."""
    require_role(user, {Role.OPERATOR, Role.ADMIN})
    report = check_read_report(user, db.session.get(Report, report_id))
    if report.status not in UNREVIEWED:
        raise InvalidTransition(f"report is already {report.status}", field="report_id")
    now = utcnow()
    until = now + timedelta(seconds=CLAIM_SECONDS)
    # One conditional UPDATE: of two operators claiming at once, the database picks one.
    taken = db.session.execute(
        db.update(Report)
        .where(
            Report.id == report.id, Report.status.in_(UNREVIEWED), _claim_free_or_mine(user, now)
        )
        .values(claimed_by=user.id, claimed_until=until)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        db.session.refresh(report)
        raise Claimed(
            "another operator is working on this report",
            field="report_id",
            claimed_by=report.claimed_by,
            claimed_until=iso(report.claimed_until),
        )
    audit(
        "report.claimed",
        "report",
        report.id,
        actor=user,
        area_code=report.area_code,
        after={"until": until.isoformat()},
    )
    _announce_claim(report.id, report.area_code, user.id, until)
    return {"report_id": report.id, "claimed_by": user.id, "claimed_until": iso(until)}


@use_case
def release_report(user: User, report_id: int) -> dict[str, Any]:
    require_role(user, {Role.OPERATOR, Role.ADMIN})
    report = check_read_report(user, db.session.get(Report, report_id))
    if report.claimed_by == user.id:
        report.claimed_by = None
        report.claimed_until = None
        audit("report.released", "report", report.id, actor=user, area_code=report.area_code)
        _announce_claim(report.id, report.area_code, None, None)
    return {"report_id": report.id, "claimed_by": None, "claimed_until": None}


def _announce_claim(
    report_id: int, area_code: str, user_id: int | None, until: datetime | None
) -> None:
    outbox().emit(
        names.OPERATOR,
        names.REPORT_CLAIMED,
        {"id": report_id, "claimed_by": user_id, "claimed_until": iso(until)},
        names.area_rooms(area_code),
    )


@use_case
def review_report(user: User, data: ReportReview) -> dict[str, Any]:
    """Verify, dismiss (with a reason) or merge a queue entry and the rest of its cluster."""
    require_role(user, {Role.OPERATOR, Role.ADMIN})
    report = check_read_report(user, db.session.get(Report, data.report_id))
    if report.status not in UNREVIEWED:
        raise InvalidTransition(f"report is already {report.status}", field="report_id")
    if data.action == "dismiss" and not (data.note or "").strip():
        raise ValidationFailed("say why the report is dismissed", field="note")
    into = None
    if data.action == "merge":
        if data.into_report_id is None or data.into_report_id == report.id:
            raise ValidationFailed("merge needs another report", field="into_report_id")
        into = check_read_report(user, db.session.get(Report, data.into_report_id))
    status = {
        "verify": ReportStatus.VERIFIED,
        "dismiss": ReportStatus.DISMISSED,
        "merge": ReportStatus.MERGED,
    }[data.action]
    now = utcnow()
    # The status change is conditional on the claim: a rival's review fails here, not later.
    done = db.session.execute(
        db.update(Report)
        .where(
            Report.id == report.id, Report.status.in_(UNREVIEWED), _claim_free_or_mine(user, now)
        )
        .values(
            status=status,
            reviewed_at=now,
            reviewed_by=user.id,
            claimed_by=None,
            claimed_until=None,
            merged_into_id=into.id if into else None,
        )
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise Claimed("another operator is working on this report", field="report_id")
    db.session.refresh(report)
    members = list(
        db.session.scalars(
            db.select(Report).where(Report.cluster_id == report.id, Report.status.in_(UNREVIEWED))
        )
    )
    for member in members:
        member.status = status
        member.reviewed_at = now
        member.reviewed_by = user.id
    for changed in [report, *members]:
        audit(
            f"report.{data.action}",
            "report",
            changed.id,
            actor=user,
            area_code=changed.area_code,
            before={"status": "triaged"},
            after={
                "status": status,
                "note": data.note,
                "into": data.into_report_id,
                "cluster_head": report.id if changed is not report else None,
            },
        )
        privacy.emit_report(names.REPORT_UPDATED, changed, {"report": report_view(changed)})
        tell_informant(changed)
    return {"report": privacy.report_for(user, report, report_view(report))}


def get_report(user: User, report_id: int) -> dict[str, Any]:
    report = check_read_report(user, db.session.get(Report, report_id))
    return _view_for(user, report)


def _view_for(user: User, report: Report) -> dict[str, Any]:
    """An informant sees their own report in full; others as privacy allows."""
    if user.role == Role.INFORMANT:
        return report_view(report)
    return privacy.report_for(user, report, report_view(report, with_informant=True))


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
    return [_view_for(user, r) for r in db.session.scalars(stmt)]


def triage_queue(user: User, limit: int = 500) -> list[dict[str, Any]]:
    """Unreviewed entries in the user's area, one per cluster: untriaged first (their risk
    is not known yet), then most dangerous, then oldest."""
    require_role(user, OPERATOR_ROLES)
    from grid.codes import jurisdiction_prefix

    danger = case(
        (Report.status == ReportStatus.NEW, -1),
        *((Report.risk_level == level, rank) for level, rank in RISK_ORDER.items()),
        else_=4,
    )
    stmt = (
        db.select(Report)
        .where(
            Report.status.in_(UNREVIEWED),
            Report.cluster_id.is_(None),
            Report.area_code.startswith(jurisdiction_prefix(user.area_code)),
        )
        .order_by(danger, Report.risk_score.desc(), Report.received_at, Report.id)
        .limit(limit)
    )
    return [_view_for(user, r) for r in db.session.scalars(stmt)]


def untriaged_report_ids(older_than_s: int = TRIAGE_SWEEP_AFTER_S) -> list[int]:
    cutoff = utcnow() - timedelta(seconds=older_than_s)
    stmt = (
        db.select(Report.id)
        .where(Report.status == ReportStatus.NEW, Report.received_at < cutoff)
        .limit(1000)
    )
    return list(db.session.scalars(stmt))
