"""Triage: score each report by the rule set, join it to its cluster, set its review
deadline, open the must-talk follow-up, and escalate what nobody reviewed in time."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import bindparam, func

from ..extensions import db
from ..models import FollowUp, Incident, Report, ReportStatus, User, utcnow
from ..realtime import names
from ..triage import ClusterItem, RuleSet, TriageInput, find_cluster, level_for_score, load_rules
from . import privacy
from .uow import audit, outbox, use_case
from .views import iso, report_view

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
UNREVIEWED = (ReportStatus.NEW, ReportStatus.TRIAGED)
OPEN_INCIDENT = ("open", "dispatched", "acknowledged", "on_scene")


def current_rules() -> RuleSet:
    """The rule set in force: GRIDWATCH_TRIAGE_RULES, or the one shipped with Gridwatch."""
    return load_rules(current_app.config.get("GRIDWATCH_TRIAGE_RULES"))


# Built once: constructing a statement costs more than running it (about a millisecond a
# report for the three below); the values go in as bound parameters.
_CELL_HISTORY = db.select(func.count(Report.id)).where(
    Report.cell_code == bindparam("cell"),
    Report.id != bindparam("report_id"),
    Report.received_at >= bindparam("since"),
    Report.received_at <= bindparam("until"),
)
_CLUSTER_CANDIDATES = (
    db.select(
        Report.id, Report.category, Report.lat, Report.lon, Report.received_at, Report.cluster_id
    )
    .where(
        Report.id != bindparam("report_id"),
        Report.category.in_(bindparam("categories", expanding=True)),
        Report.received_at >= bindparam("since"),
        Report.lat.between(bindparam("lat_min"), bindparam("lat_max")),
        Report.lon.between(bindparam("lon_min"), bindparam("lon_max")),
        # Reports already triaged: one still new joins the cluster itself when its turn
        # comes (in a batch, later reports are new while earlier ones are triaged).
        db.or_(
            Report.status == ReportStatus.TRIAGED,
            db.and_(Report.status == ReportStatus.PROMOTED, Report.incident_id.is_not(None)),
        ),
    )
    .limit(500)
)
_FOLLOWUP_FOR = db.select(FollowUp.id).where(FollowUp.origin == bindparam("origin"))


@use_case
def triage_report(report_id: int) -> dict[str, Any] | None:
    """Score a report by the rules; running it twice changes nothing more."""
    report = db.session.get(Report, report_id, with_for_update=True)
    if report is None:
        return None
    return _triage(report, current_rules())


def triage_many(report_ids: list[int]) -> int:
    """Triage several reports in the unit of work in progress (one read for all of them);
    returns how many were still new."""
    rules = current_rules()
    found = db.session.scalars(
        db.select(Report).where(Report.id.in_(report_ids)).order_by(Report.id).with_for_update()
    ).all()
    return sum(_triage(report, rules) is not None for report in found)


def _triage(report: Report, rules: RuleSet) -> dict[str, Any] | None:
    if report.status != ReportStatus.NEW:
        return None
    recent = 0
    if report.cell_code is not None:
        since = report.received_at - timedelta(hours=rules.cell_history.window_hours)
        with db.session.no_autoflush:  # counts stored reports; nothing pending changes it
            recent = (
                db.session.scalar(
                    _CELL_HISTORY,
                    {
                        "cell": report.cell_code,
                        "report_id": report.id,
                        "since": since,
                        "until": report.received_at,
                    },
                )
                or 0
            )
    hour = report.received_at.astimezone(LOCAL_TZ).hour
    result = rules.score(
        TriageInput(report.category, report.text, report.severity, hour=hour, recent_in_cell=recent)
    )
    now = utcnow()
    report.risk_score = result.risk_score
    report.risk_level = result.risk_level
    report.reasons = result.reasons
    report.category_hint = result.category_hint
    report.status = ReportStatus.TRIAGED
    report.triaged_at = now
    report.review_due_at = report.received_at + rules.review_deadline(result.risk_level)
    audit(
        "report.triaged",
        "report",
        report.id,
        area_code=report.area_code,
        before={"status": "new"},
        after={
            "status": "triaged",
            "rules": rules.version,
            "review_due_at": report.review_due_at.isoformat(),
            **result.as_dict(),
        },
    )
    root = _join_cluster(report, rules)
    _open_must_talk(report, rules)
    privacy.emit_report(names.REPORT_TRIAGED, report, _triaged_payload(report))
    if root is not None:
        privacy.emit_report(names.REPORT_TRIAGED, root, _triaged_payload(root))
    if report.status == ReportStatus.PROMOTED:
        # It joined an open incident: it leaves the queue for the incident's report list.
        privacy.emit_report(names.REPORT_UPDATED, report, {"report": report_view(report)})
    tell_informant(report)
    return result.as_dict()


def _triaged_payload(report: Report) -> dict[str, Any]:
    return {
        "id": report.id,
        "risk_level": report.risk_level,
        "risk_score": report.risk_score,
        "reasons": report.reasons,
        "category_hint": report.category_hint,
        "cluster_id": report.cluster_id,
        "cluster_size": report.cluster_size,
        "incident_id": report.incident_id,
        "review_due_at": iso(report.review_due_at),
    }


def tell_informant(report: Report) -> None:
    if report.informant_id is not None:
        outbox().emit(
            names.INFORMANT,
            names.REPORT_UPDATED,
            {"id": report.id, "status": report.status, "risk_level": report.risk_level},
            [names.user_room(report.informant_id)],
        )


def _join_cluster(report: Report, rules: RuleSet) -> Report | None:
    """Attach the report to the open cluster (or incident) of the same event, if any.

    Returns the cluster's head, whose size and risk rose, or None when it stands alone.
    """
    radius_m, window = rules.cluster_reach(report.category)
    if radius_m <= 0:
        return None
    d_lat = radius_m / 111_000
    d_lon = radius_m / (111_000 * max(0.2, math.cos(math.radians(report.lat))))
    # Columns, not objects: during a large event hundreds of reports lie within reach.
    # The flush first: reports triaged earlier in this transaction may have joined clusters.
    db.session.flush()
    with db.session.no_autoflush:
        candidates = db.session.execute(
            _CLUSTER_CANDIDATES,
            {
                "report_id": report.id,
                "categories": rules.cluster_partners(report.category),
                "since": report.received_at - window,
                "lat_min": report.lat - d_lat,
                "lat_max": report.lat + d_lat,
                "lon_min": report.lon - d_lon,
                "lon_max": report.lon + d_lon,
            },
        ).all()
    items = [ClusterItem(c.id, c.category, c.lat, c.lon, c.received_at) for c in candidates]
    joined = find_cluster(
        ClusterItem(report.id, report.category, report.lat, report.lon, report.received_at),
        items,
        rules,
    )
    if joined is None:
        return None
    member = next(c for c in candidates if c.id == joined)
    root = db.session.get(Report, member.cluster_id or member.id)
    if root is None or root.id == report.id:
        return None
    if root.incident_id is not None:
        incident = db.session.get(Incident, root.incident_id)
        if incident is not None and incident.status in OPEN_INCIDENT:
            # A later report of an event already being handled joins its incident.
            report.incident_id = incident.id
            report.status = ReportStatus.PROMOTED
            report.cluster_id = root.id
            audit(
                "report.joined_incident",
                "report",
                report.id,
                area_code=report.area_code,
                after={"incident_id": incident.id},
            )
            from .incidents import announce_incident

            db.session.flush()
            db.session.refresh(incident)
            announce_incident(incident)
            return None
    report.cluster_id = root.id
    root.cluster_size = (root.cluster_size or 1) + 1
    bonus = rules.cluster_bonus(root.cluster_size)
    base = max(report.risk_score or 0, _score_without_cluster(root))
    root.risk_score = min(100, base + bonus)
    root.risk_level = level_for_score(root.risk_score, rules)
    root.reasons = [r for r in (root.reasons or []) if r.get("rule") != "cluster"] + [
        {"rule": "cluster", "size": root.cluster_size, "points": bonus}
    ]
    if root.status in UNREVIEWED and root.triaged_at is not None:
        # A bigger cluster may be more urgent: the deadline follows the new level.
        root.review_due_at = min(
            root.review_due_at or utcnow(),
            root.received_at + rules.review_deadline(root.risk_level),
        )
    audit(
        "report.clustered",
        "report",
        report.id,
        area_code=report.area_code,
        after={"cluster_id": root.id, "cluster_size": root.cluster_size},
    )
    return root


def _score_without_cluster(report: Report) -> int:
    bonus = sum(r.get("points", 0) for r in (report.reasons or []) if r.get("rule") == "cluster")
    return int(report.risk_score or 0) - int(bonus)


def _open_must_talk(report: Report, rules: RuleSet) -> None:
    """Five must-talks: these reports owe the veteran a talk with the township's station."""
    due = rules.must_talk_due(report.category, report.received_at)
    if due is None:
        return
    origin = f"report:{report.id}"
    with db.session.no_autoflush:  # only this report opens this follow-up
        if db.session.scalar(_FOLLOWUP_FOR, {"origin": origin}):
            return
    station = report.area_code[:9] if len(report.area_code) >= 9 else report.area_code
    followup = FollowUp(
        origin=origin, station_code=station, reason=report.category, report_id=report.id, due_at=due
    )
    db.session.add(followup)
    db.session.flush()
    audit(
        "followup.opened",
        "followup",
        followup.id,
        area_code=station,
        after={"reason": report.category, "report_id": report.id, "due_at": due.isoformat()},
    )


@use_case
def escalate_overdue(limit: int = 500) -> int:
    """Re-announce each report past its review deadline, once, to the area's supervisors."""
    now = utcnow()
    overdue = list(
        db.session.scalars(
            db.select(Report)
            .where(
                Report.status.in_(UNREVIEWED),
                Report.cluster_id.is_(None),
                Report.review_due_at < now,
                Report.escalated_at.is_(None),
            )
            .order_by(Report.review_due_at)
            .limit(limit)
        )
    )
    for report in overdue:
        report.escalated_at = now
        late = int((now - report.review_due_at).total_seconds()) if report.review_due_at else 0
        supervisors = supervisors_over(report.area_code)
        audit(
            "report.escalated",
            "report",
            report.id,
            area_code=report.area_code,
            after={
                "risk_level": report.risk_level,
                "overdue_s": late,
                "supervisors": [s.username for s in supervisors],
            },
        )
        privacy.emit_report(
            names.REPORT_ESCALATED,
            report,
            {
                "report": report_view(report),
                "overdue_s": late,
                "supervisors": [s.username for s in supervisors],
            },
        )
    return len(overdue)


def supervisors_over(area_code: str) -> list[User]:
    """Supervisors whose jurisdiction covers the area, nearest level first."""
    from grid.codes import ancestors

    chain = ancestors(area_code) if area_code else []
    found = list(
        db.session.scalars(
            db.select(User).where(
                User.role == "supervisor", User.active.is_(True), User.area_code.in_(chain)
            )
        )
    )
    return sorted(found, key=lambda u: -len(u.area_code))
