"""Namespaces, event names and rooms: the one place that owns them."""

from __future__ import annotations

from grid.codes import ancestor_prefixes

INFORMANT = "/informant"
OPERATOR = "/operator"
TEAM = "/team"

REPORT_SUBMIT = "report:submit"
CHECKIN_SUBMIT = "checkin:submit"
REPORT_UPDATED = "report:updated"
REPORT_NEW = "report:new"
REPORT_TRIAGED = "report:triaged"
REPORT_REVIEW = "report:review"
REPORT_CLAIM = "report:claim"
REPORT_RELEASE = "report:release"
REPORT_CLAIMED = "report:claimed"
REPORT_ESCALATED = "report:escalated"
INCIDENT_CREATE = "incident:create"
INCIDENT_DISPATCH = "incident:dispatch"
INCIDENT_UPDATED = "incident:updated"
INCIDENT_CANCEL = "incident:cancel"
INCIDENT_RESOLVE = "incident:resolve"
INCIDENT_CLOSE = "incident:close"
INCIDENT_STOP_CASCADE = "incident:stop_cascade"
TEAM_STATUS = "team:status"
TASK_UPDATED = "task:updated"
TASK_OFFERED = "task:offered"
TASK_ACK = "task:ack"
TASK_DECLINE = "task:decline"
TASK_STATUS = "task:status"
TEAM_UPDATED = "team:updated"
TEAM_POSITION = "team:position"
SESSION_REVOKED = "session:revoked"
CAP_ALERT = "cap:alert"  # an alert from the public alerting chain was imported


def area_room(area_code_prefix: str, *, limited: bool = False) -> str:
    """An area's operators: cleared for sensitive reports, or limited (services/privacy.py)."""
    return f"area:{area_code_prefix}" + (":limited" if limited else "")


def area_rooms(code: str, *, limited: bool | None = None) -> list[str]:
    """Every jurisdiction room that sees an event in area `code`: the city down to it;
    cleared rooms, limited rooms, or (None) both."""
    kinds = (False, True) if limited is None else (limited,)
    return [area_room(p, limited=k) for p in ancestor_prefixes(code) for k in kinds]


def user_room(user_id: int) -> str:
    return f"user:{user_id}"


def team_room(team_id: int) -> str:
    return f"team:{team_id}"
