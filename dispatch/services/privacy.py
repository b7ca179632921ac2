"""Who may read sensitive reports and who sent a report.

Petitions and public-opinion reports concern people's grievances, and an informant's name
on any report can expose a neighbour. By default only county level and above (and only the
roles listed) see them in full; lower levels learn that such a report exists and where in
their area, never its words, its exact place or its sender. The rule is configuration:
`GRIDWATCH_SENSITIVE_CATEGORIES`, `GRIDWATCH_SENSITIVE_LEVEL`, `GRIDWATCH_SENSITIVE_ROLES`.

Operators join one of two rooms per area on connect (cleared or limited), so a broadcast
carries the full report to the one and the redacted one to the other.
"""

from __future__ import annotations

from typing import Any

from flask import current_app

from grid.codes import LEVELS, jurisdiction_prefix, level_of

from ..models import Report, User
from ..realtime import names
from .uow import outbox

# What a limited reader never sees of a sensitive report.
SENSITIVE_FIELDS = frozenset(
    {
        "text",
        "lat",
        "lon",
        "accuracy_m",
        "cell_code",
        "reasons",
        "category_hint",
        "client_id",
        "photo_count",
        "informant_id",
    }
)


def sensitive_categories() -> frozenset[str]:
    return frozenset(current_app.config["GRIDWATCH_SENSITIVE_CATEGORIES"])


def is_sensitive(report: Report) -> bool:
    return report.category in sensitive_categories()


def _level_cleared(area_code: str) -> bool:
    try:
        level = level_of(area_code)
    except ValueError:
        return False
    return LEVELS.index(level) <= LEVELS.index(current_app.config["GRIDWATCH_SENSITIVE_LEVEL"])


def cleared(user: User) -> bool:
    """May this user read sensitive reports in full and see who sent any report?"""
    return user.role in current_app.config["GRIDWATCH_SENSITIVE_ROLES"] and _level_cleared(
        user.area_code
    )


def redact(view: dict[str, Any]) -> dict[str, Any]:
    """A report view with the sensitive fields taken out, marked as such."""
    out = {k: v for k, v in view.items() if k not in SENSITIVE_FIELDS}
    out["redacted"] = True
    if isinstance(out.get("area_code"), str) and len(out["area_code"]) > 12:
        out["area_code"] = out["area_code"][:12]  # the village, not the cell
    return out


def report_for(user: User, report: Report, view: dict[str, Any]) -> dict[str, Any]:
    """`view` of `report` as `user` may read it: redacted if sensitive and not cleared,
    without the informant unless cleared."""
    if cleared(user):
        return view
    if is_sensitive(report):
        return redact(view)
    return {k: v for k, v in view.items() if k != "informant_id"}


def may_read_content(user: User, report: Report) -> bool:
    """Text and photos: the sender, a cleared reader, or anyone if not sensitive."""
    return report.informant_id == user.id or cleared(user) or not is_sensitive(report)


def emit_report(
    event: str, report: Report, payload: dict[str, Any], *, area_code: str | None = None
) -> None:
    """Broadcast a payload about `report` to its area's operators after the commit: in full
    to cleared rooms, redacted (if the report is sensitive) to limited ones."""
    code = area_code or report.area_code
    box = outbox()
    if not is_sensitive(report):
        box.emit(names.OPERATOR, event, payload, names.area_rooms(code))
        return
    box.emit(names.OPERATOR, event, payload, names.area_rooms(code, limited=False))
    limited = {k: redact(v) if k == "report" else v for k, v in payload.items()}
    if "report" not in payload:
        limited = redact(payload)
    box.emit(names.OPERATOR, event, limited, names.area_rooms(code, limited=True))


def operator_room(user: User) -> str:
    return names.area_room(jurisdiction_prefix(user.area_code), limited=not cleared(user))
