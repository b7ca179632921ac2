"""Follow-ups the stations owe veterans: the five must-talks (五个必谈)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from grid.codes import jurisdiction_prefix

from ..errors import Forbidden, InvalidTransition, NotFound, ValidationFailed
from ..extensions import db
from ..models import FollowUp, Report, Role, User, utcnow
from .access import within
from .triage import LOCAL_TZ, current_rules
from .uow import audit, use_case
from .views import iso

READERS = frozenset({Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN})
CLOSERS = frozenset({Role.OPERATOR, Role.ADMIN})
HARDSHIP_LOOKBACK_DAYS = 180
FESTIVAL_DUE_HOUR = 18  # the talk should happen by the festival's evening


def followup_view(row: FollowUp) -> dict[str, Any]:
    return {
        "id": row.id,
        "station_code": row.station_code,
        "reason": row.reason,
        "report_id": row.report_id,
        "festival": row.festival,
        "due_at": iso(row.due_at),
        "status": row.status,
        "overdue": row.status == "open" and row.due_at < utcnow(),
        "created_at": iso(row.created_at),
        "closed_at": iso(row.closed_at),
        "note": row.note,
    }


def list_followups(
    user: User, station: str | None = None, status: str | None = "open", limit: int = 500
) -> list[dict[str, Any]]:
    """Follow-ups of the stations in the user's area, soonest due first."""
    if user.role not in READERS:
        raise Forbidden("follow-ups are for operators, supervisors and admins")
    area = station or user.area_code
    if not within(area, user.area_code):
        raise Forbidden("this station is outside your jurisdiction", field="station")
    stmt = db.select(FollowUp).where(FollowUp.station_code.startswith(jurisdiction_prefix(area)))
    if status:
        stmt = stmt.where(FollowUp.status == status)
    rows = db.session.scalars(stmt.order_by(FollowUp.due_at, FollowUp.id).limit(limit))
    return [followup_view(r) for r in rows]


@use_case
def close_followup(user: User, followup_id: int, note: str) -> dict[str, Any]:
    if user.role not in CLOSERS:
        raise Forbidden("only operators and admins close follow-ups")
    row = db.session.get(FollowUp, followup_id)
    if row is None or not within(row.station_code, user.area_code):
        raise NotFound("no such follow-up")
    if row.status != "open":
        raise InvalidTransition(f"follow-up is already {row.status}")
    if not note.strip():
        raise ValidationFailed("write down what was talked about", field="note")
    row.status = "done"
    row.note = note.strip()
    row.closed_at = utcnow()
    row.closed_by = user.id
    audit(
        "followup.closed",
        "followup",
        row.id,
        actor=user,
        area_code=row.station_code,
        before={"status": "open"},
        after={"status": "done", "note": row.note, "on_time": row.closed_at <= row.due_at},
    )
    return followup_view(row)


@use_case
def open_festival_followups() -> int:
    """Before each major festival, a talk with every veteran in difficulty.

    "Veterans in difficulty" are those behind a veteran_hardship report of the last six
    months, per township station. Safe to run any number of times: one follow-up per
    veteran and festival.
    """
    rules = current_rules()
    today = utcnow().astimezone(LOCAL_TZ).date()
    festivals = rules.festivals_between(today, today + timedelta(days=rules.festival_lead_days))
    if not festivals:
        return 0
    since = utcnow() - timedelta(days=HARDSHIP_LOOKBACK_DAYS)
    hardship = list(
        db.session.scalars(
            db.select(Report).where(
                Report.category == "veteran_hardship",
                Report.received_at >= since,
                Report.status.not_in(("dismissed", "merged")),
            )
        )
    )
    created = 0
    for name, day in festivals:
        prefix = f"festival:{name}:{day.isoformat()}:"
        done = set(
            db.session.scalars(db.select(FollowUp.origin).where(FollowUp.origin.startswith(prefix)))
        )
        for report in hardship:
            origin = f"{prefix}report:{report.id}"
            if origin in done:
                continue
            station = report.area_code[:9] if len(report.area_code) >= 9 else report.area_code
            due_at = datetime.combine(day, time(FESTIVAL_DUE_HOUR), LOCAL_TZ)
            row = FollowUp(
                origin=origin,
                station_code=station,
                reason="festival",
                report_id=report.id,
                festival=name,
                due_at=due_at,
            )
            db.session.add(row)
            db.session.flush()
            audit(
                "followup.opened",
                "followup",
                row.id,
                area_code=station,
                after={
                    "reason": "festival",
                    "festival": name,
                    "report_id": report.id,
                    "due_at": due_at.isoformat(),
                },
            )
            created += 1
    return created
