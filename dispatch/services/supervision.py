"""Supervision: the monthly and quarterly bulletin, computed from the audit log alone.

Every figure of a period is computed from the audit events written before the period's end
(and, for the backlog, at most `lookback_days` before it). An event is never changed or
deleted (the database refuses), and no event is ever written with a time in the past, so a
period that is over computes to the same numbers whenever it is computed again.

The computation itself (`compute`) is pure: plain events in, figures out. The functions at
the bottom read the events, check the caller's role and jurisdiction, and shape the answers
of the API, the page, the CSV, the printable bulletin and the command line, which all call
`bulletin()` and so cannot disagree. docs/supervision.md defines every figure.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import statistics
import tomllib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import func

from grid.codes import jurisdiction_prefix

from ..errors import Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..models import Area, AuditEvent, Bulletin, CheckIn, FollowUp, Report, Role, Team, User, utcnow
from .access import within
from .uow import audit, use_case

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
READERS = frozenset({Role.SUPERVISOR, Role.ADMIN})
LEVELS = ("county", "township", "village")
LEVEL_DIGITS = {"city": 4, "county": 6, "township": 9, "village": 12, "cell": 15}
MAX_DAYS = 366
MAX_TREND_MONTHS = 24
CASES_LIMIT = 5000

REVIEWS = frozenset(
    {"report.verify", "report.dismiss", "report.merge", "report.promoted", "report.joined_incident"}
)
CLOSES = frozenset({"report.verify", "report.dismiss", "report.merge"})
TASK_ENDS = {"task.acknowledged", "task.declined", "task.timed_out"}
ACTIONS = (
    REVIEWS
    | TASK_ENDS
    | {
        "report.submitted",
        "report.triaged",
        "report.escalated",
        "incident.created",
        "incident.status",
        "task.offered",
        "followup.opened",
        "followup.closed",
        "informant.checked_in",
    }
)
# Who watches which cell: read over all time, not the lookback (an assignment can be old).
ASSIGNMENTS = ("informant.assigned", "informant.unassigned", "user.disabled", "user.enabled")

# Every figure of a unit, in the order of the CSV's columns.
FIGURES = (
    "cells",
    "covered_cells",
    "silent_cells",
    "uncovered_cells",
    "coverage",
    "informants",
    "active_informants",
    "reports",
    "checkins",
    "days_since_last_median",
    "triage_s_median",
    "triage_s_p90",
    "reviewed",
    "review_s_median",
    "review_s_p90",
    "review_late",
    "review_within_deadline",
    "escalations",
    "incidents",
    "ack_s_median",
    "ack_s_p90",
    "on_scene_s_median",
    "on_scene_s_p90",
    "offers",
    "acknowledged",
    "timeouts",
    "declines",
    "resolved",
    "resolution_rate",
    "overdue_reports",
    "overdue_followups",
    "overdue_backlog",
    "followups_due",
    "followups_on_time",
    "followups_on_time_share",
)
COMPONENTS = ("coverage", "review_on_time", "ack_on_time", "resolution", "followups_on_time")
SIGNALS = ("self_closed", "bulk_close", "static_checkins", "point_cluster")
RISK_LEVELS = ("red", "orange", "yellow", "blue", "unscored")
HISTOGRAM_EDGES = (60, 300, 900, 3600, 14400, 86400)


# --- periods ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A span of local (Beijing) time, as UTC instants: [start, end)."""

    label: str
    start: datetime
    end: datetime

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86400


_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")


def _local(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def parse_period(text: str) -> Period:
    """A month, a quarter, a year or a range of days, in Beijing time.

    >>> p = parse_period("2026-11")
    >>> p.start.isoformat(), p.end.isoformat()
    ('2026-10-31T16:00:00+00:00', '2026-11-30T16:00:00+00:00')
    >>> parse_period("2026-Q4").days
    92.0
    >>> parse_period("2026-11-23..2026-11-29").days
    7.0
    >>> parse_period("2026-13")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    dispatch.errors.ValidationFailed: period: give a month (2026-11), a quarter (2026-Q4), ...
    """
    text = (text or "").strip()
    first: date | None = None
    last: date | None = None  # exclusive
    try:
        if m := _MONTH.match(text):
            first = date(int(m[1]), int(m[2]), 1)
            last = _add_months(first, 1)
        elif m := _QUARTER.match(text):
            first = date(int(m[1]), 3 * int(m[2]) - 2, 1)
            last = _add_months(first, 3)
        elif m := _YEAR.match(text):
            first, last = date(int(m[1]), 1, 1), date(int(m[1]) + 1, 1, 1)
        elif m := _RANGE.match(text):
            first = date.fromisoformat(m[1])
            last = date.fromisoformat(m[2]) + timedelta(days=1)
    except ValueError:
        first = None
    if first is None or last is None or not 2000 <= first.year <= 2100:
        raise ValidationFailed(
            "period: give a month (2026-11), a quarter (2026-Q4), a year (2026) or days "
            "(2026-11-01..2026-11-07)",
            field="period",
        )
    if not 0 < (last - first).days <= MAX_DAYS:
        raise ValidationFailed(f"a period is 1 to {MAX_DAYS} days", field="period")
    return Period(text, _local(first).astimezone(UTC), _local(last).astimezone(UTC))


def month_of(at: datetime) -> str:
    """The month label (Beijing time) of an instant."""
    return at.astimezone(LOCAL_TZ).strftime("%Y-%m")


def previous_month(now: datetime) -> str:
    local = now.astimezone(LOCAL_TZ).date()
    return _add_months(date(local.year, local.month, 1), -1).strftime("%Y-%m")


# --- configuration ---------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    weights: dict[str, float]
    red: int | float  # a count, or a share of the ranked units when a float
    yellow: int | float
    min_units: int
    min_reports: int
    bulk_window_hours: float
    bulk_min: int
    bulk_share: float
    static_min_checkins: int
    static_radius_m: float
    point_min_reports: int
    point_radius_m: float
    lookback_days: int
    source: str

    def flag_count(self, which: str, ranked: int) -> int:
        value = self.red if which == "red" else self.yellow
        if isinstance(value, float):
            return max(1, math.floor(value * ranked)) if ranked else 0
        return value

    def public(self) -> dict[str, Any]:
        return {
            "weights": dict(self.weights),
            "red_flags": _share_text(self.red),
            "yellow_flags": _share_text(self.yellow),
            "min_units": self.min_units,
            "min_reports": self.min_reports,
        }


def _share_text(value: int | float) -> int | str:
    return f"{value * 100:g}%" if isinstance(value, float) else value


def _flag_value(raw: Any, name: str) -> int | float:
    if isinstance(raw, str) and raw.endswith("%"):
        share = float(raw[:-1]) / 100
        if not 0 < share < 0.5:
            raise ValueError(f"flags.{name}: a share between 0% and 50%")
        return share
    if isinstance(raw, int) and raw >= 0:
        return raw
    raise ValueError(f'flags.{name}: a whole number or a share such as "10%"')


def parse_config(data: dict[str, Any], source: str = "") -> Config:
    """Read the supervision settings; every problem is named."""
    weights = {k: float(v) for k, v in data.get("weights", {}).items()}
    unknown = set(weights) - set(COMPONENTS)
    if unknown or not weights or any(w < 0 for w in weights.values()):
        raise ValueError(f"weights: non-negative numbers for some of {', '.join(COMPONENTS)}")
    flags, activity = data.get("flags", {}), data.get("activity", {})
    signals, backlog = data.get("signals", {}), data.get("backlog", {})
    return Config(
        weights=weights,
        red=_flag_value(flags.get("red", 1), "red"),
        yellow=_flag_value(flags.get("yellow", 1), "yellow"),
        min_units=int(flags.get("min_units", 3)),
        min_reports=int(activity.get("min_reports", 5)),
        bulk_window_hours=float(signals.get("bulk_window_hours", 24)),
        bulk_min=int(signals.get("bulk_min", 10)),
        bulk_share=float(signals.get("bulk_share", 0.3)),
        static_min_checkins=int(signals.get("static_min_checkins", 3)),
        static_radius_m=float(signals.get("static_radius_m", 10)),
        point_min_reports=int(signals.get("point_min_reports", 5)),
        point_radius_m=float(signals.get("point_radius_m", 10)),
        lookback_days=int(backlog.get("lookback_days", 90)),
        source=source,
    )


def config_path() -> Path:
    configured = os.environ.get("GRIDWATCH_SUPERVISION_FILE")
    if configured:
        return Path(configured)
    return Path(str(resources.files("dispatch").joinpath("supervision.toml")))


def load_config(path: Path | None = None) -> Config:
    path = path or config_path()
    return _load_config(str(path), path.stat().st_mtime_ns)


@lru_cache(maxsize=4)
def _load_config(path: str, _mtime: int) -> Config:
    with open(path, "rb") as fh:
        return parse_config(tomllib.load(fh), source=path)


# --- events ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    at: datetime
    actor_id: int | None
    action: str
    entity_id: str
    area_code: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    def get(self, key: str, default: Any = None) -> Any:
        return (self.after or {}).get(key, default)


@dataclass
class Grid:
    """The units of one level in a scope, and the cells below them."""

    level: str
    units: dict[str, str]  # code -> name
    cells: dict[str, str]  # cell code -> unit code

    def unit_of(self, code: str | None) -> str | None:
        if not code:
            return None
        unit = code[: LEVEL_DIGITS[self.level]]
        return unit if unit in self.units else None


@dataclass
class Facts:
    """What `compute` needs besides the events: the clock, the rules' deadlines, points."""

    now: datetime
    deadlines: dict[str, timedelta]
    last_active: dict[int, datetime] = field(default_factory=dict)  # before the period
    report_points: dict[str, tuple[float, float]] = field(default_factory=dict)
    checkin_points: dict[str, tuple[float, float]] = field(default_factory=dict)
    followup_due: dict[str, datetime] = field(default_factory=dict)
    team_names: dict[int, tuple[str, str, str]] = field(default_factory=dict)


def _time(value: Any) -> datetime | None:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


# --- the computation -------------------------------------------------------------------


@dataclass
class _Report:
    id: str
    at: datetime
    informant: int | None
    area: str | None
    category: str
    level: str | None = None
    triaged: datetime | None = None
    due: datetime | None = None
    reviewed: datetime | None = None
    review_action: str | None = None
    reviewer: int | None = None


@dataclass
class _Incident:
    id: str
    at: datetime
    area: str | None
    category: str
    creator: int | None = None
    acked: datetime | None = None
    on_scene: datetime | None = None
    ended: str | None = None  # resolved / closed / cancelled, the first such
    closed: datetime | None = None  # resolved or closed
    closer: int | None = None


@dataclass
class _Task:
    id: str
    at: datetime
    area: str | None
    team: int | None
    incident: str
    end: str | None = None
    end_at: datetime | None = None


@dataclass
class _FollowUp:
    id: str
    area: str | None
    due: datetime | None
    closed: datetime | None = None


@dataclass
class Unit:
    """One unit's cases, by figure: every figure is computed from these lists."""

    code: str
    name: str
    cases: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    durations: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    days_since_last: list[float] = field(default_factory=list)
    signals: dict[str, list[str]] = field(default_factory=dict)

    def add(self, figure: str, case_id: object) -> None:
        self.cases[figure].append(str(case_id))

    def count(self, figure: str) -> int:
        return len(self.cases.get(figure, ()))


# What each figure's cases are, for the traceability lists.
CASE_TYPES = {
    "cells": "cell",
    "covered_cells": "cell",
    "silent_cells": "cell",
    "uncovered_cells": "cell",
    "informants": "informant",
    "active_informants": "informant",
    "reports": "report",
    "checkins": "checkin",
    "triaged": "report",
    "reviewed": "report",
    "review_on_time": "report",
    "review_late": "report",
    "escalations": "report",
    "incidents": "incident",
    "acknowledged_incidents": "incident",
    "on_scene_incidents": "incident",
    "offers": "task",
    "acknowledged": "task",
    "timeouts": "task",
    "declines": "task",
    "resolved": "incident",
    "judged_incidents": "incident",
    "overdue_reports": "report",
    "overdue_followups": "followup",
    "followups_due": "followup",
    "followups_on_time": "followup",
}
# A ratio or a time is traced to the cases it is computed from.
TRACE_OF = {
    "coverage": "covered_cells",
    "days_since_last_median": "informants",
    "triage_s_median": "triaged",
    "triage_s_p90": "triaged",
    "review_s_median": "reviewed",
    "review_s_p90": "reviewed",
    "review_within_deadline": "review_on_time",
    "ack_s_median": "acknowledged_incidents",
    "ack_s_p90": "acknowledged_incidents",
    "on_scene_s_median": "on_scene_incidents",
    "on_scene_s_p90": "on_scene_incidents",
    "resolution_rate": "resolved",
    "overdue_backlog": "overdue_reports",
    "followups_on_time_share": "followups_on_time",
}
SIGNAL_TYPES = {
    "self_closed": "close",
    "bulk_close": "close",
    "static_checkins": "checkin",
    "point_cluster": "report",
}


@dataclass
class Computed:
    period: Period
    grid: Grid
    units: dict[str, Unit]
    total: Unit
    teams: dict[int, dict[str, Any]]


def compute(
    events: Iterable[Event],
    assignments: Iterable[Event],
    period: Period,
    grid: Grid,
    facts: Facts,
    config: Config,
) -> Computed:
    """Every unit's cases for the period, from the events alone. Pure."""
    start, end = period.start, period.end
    units = {code: Unit(code, name) for code, name in grid.units.items()}
    total = Unit("", "")

    def each(area: str | None) -> list[Unit]:
        """The unit an area belongs to, and the scope's total."""
        unit = units.get(grid.unit_of(area) or "")
        return [total, unit] if unit is not None else [total]

    reports: dict[str, _Report] = {}
    incidents: dict[str, _Incident] = {}
    tasks: dict[str, _Task] = {}
    followups: dict[str, _FollowUp] = {}
    checkins: list[Event] = []
    closes: list[Event] = []
    escalations: list[Event] = []
    activity: dict[int, datetime] = dict(facts.last_active)
    in_period: set[int] = set()

    for ev in sorted(events, key=lambda e: e.at):
        if ev.at >= end:
            continue
        action, key = ev.action, ev.entity_id
        if action == "report.submitted":
            reports[key] = _Report(key, ev.at, ev.actor_id, ev.area_code, ev.get("category", ""))
            _note_activity(ev, activity, in_period, start)
        elif action == "informant.checked_in":
            _note_activity(ev, activity, in_period, start)
            if ev.at >= start:
                checkins.append(ev)
        elif action == "report.triaged" and key in reports:
            r = reports[key]
            if r.triaged is None:
                r.triaged, r.level = ev.at, ev.get("risk_level")
                r.due = _time(ev.get("review_due_at"))
                if r.due is None and r.level in facts.deadlines:
                    r.due = r.at + facts.deadlines[r.level]
        elif action in REVIEWS and key in reports:
            r = reports[key]
            if r.reviewed is None:
                r.reviewed, r.review_action, r.reviewer = ev.at, action, ev.actor_id
            if action in CLOSES and ev.at >= start:
                closes.append(ev)
        elif action == "report.escalated":
            if ev.at >= start:
                escalations.append(ev)
        elif action == "incident.created":
            incidents[key] = _Incident(
                key, ev.at, ev.area_code, ev.get("category", ""), creator=ev.actor_id
            )
        elif action == "incident.status" and key in incidents:
            inc, status = incidents[key], ev.get("status")
            if status == "on_scene" and inc.on_scene is None:
                inc.on_scene = ev.at
            if status in ("resolved", "closed", "cancelled") and inc.ended is None:
                inc.ended = status
            if status in ("resolved", "closed") and inc.closed is None:
                inc.closed, inc.closer = ev.at, ev.actor_id
                if ev.at >= start:
                    closes.append(ev)
        elif action == "task.offered":
            tasks[key] = _Task(
                key, ev.at, ev.area_code, ev.get("team_id"), str(ev.get("incident_id"))
            )
        elif action in TASK_ENDS and key in tasks:
            task = tasks[key]
            if task.end is None:
                task.end, task.end_at = action.removeprefix("task."), ev.at
            offered_for = incidents.get(task.incident)
            if action == "task.acknowledged" and offered_for and offered_for.acked is None:
                offered_for.acked = ev.at
        elif action == "followup.opened":
            due = _time(ev.get("due_at")) or facts.followup_due.get(key)
            followups[key] = _FollowUp(key, ev.area_code, due)
        elif action == "followup.closed" and key in followups:
            followups[key].closed = followups[key].closed or ev.at
            if ev.at >= start:
                closes.append(ev)

    _coverage(assignments, period, grid, units, total, activity, in_period)
    for r in reports.values():
        _report_cases(r, period, each(r.area))
    for ev in checkins:
        for u in each(ev.area_code):
            u.add("checkins", ev.entity_id)
    for ev in escalations:
        for u in each(ev.area_code):
            u.add("escalations", ev.entity_id)
    for inc in incidents.values():
        if start <= inc.at:
            _incident_cases(inc, each(inc.area))
    teams: dict[int, dict[str, Any]] = {}
    for task in tasks.values():
        if start <= task.at:
            _task_cases(task, each(task.area), teams, facts)
    for fu in followups.values():
        _followup_cases(fu, period, each(fu.area))
    _signals(reports, incidents, checkins, closes, period, facts, config, each)
    for u in [total, *units.values()]:
        u.signals = {k: sorted(set(v), key=_id_key) for k, v in u.signals.items()}
    return Computed(period, grid, units, total, teams)


def _note_activity(
    ev: Event, last: dict[int, datetime], in_period: set[int], start: datetime
) -> None:
    if ev.actor_id is None:
        return
    last[ev.actor_id] = max(last.get(ev.actor_id, ev.at), ev.at)
    if ev.at >= start:
        in_period.add(ev.actor_id)


def _coverage(
    assignments: Iterable[Event],
    period: Period,
    grid: Grid,
    units: dict[str, Unit],
    total: Unit,
    activity: dict[int, datetime],
    in_period: set[int],
) -> None:
    """Who watched which cell at the end of the period, and whether they were heard from."""
    cell_of: dict[int, str] = {}
    since: dict[int, datetime] = {}
    disabled: set[int] = set()
    for ev in sorted(assignments, key=lambda e: e.at):
        if ev.at >= period.end:
            continue
        uid = int(ev.entity_id)
        if ev.action == "informant.assigned":
            cell_of[uid] = ev.get("cell_code") or ev.area_code or ""
            since[uid] = ev.at
        elif ev.action == "informant.unassigned":
            cell_of.pop(uid, None)
        elif ev.action == "user.disabled":
            disabled.add(uid)
        elif ev.action == "user.enabled":
            disabled.discard(uid)
    watchers: dict[str, list[int]] = defaultdict(list)
    for uid, cell in cell_of.items():
        if uid not in disabled and cell in grid.cells:
            watchers[cell].append(uid)
    for cell, unit_code in grid.cells.items():
        group = [total, units[unit_code]]
        people = watchers.get(cell, [])
        heard = [uid for uid in people if uid in in_period]
        state = "covered_cells" if heard else "silent_cells" if people else "uncovered_cells"
        for u in group:
            u.add("cells", cell)
            u.add(state, cell)
            for uid in people:
                u.add("informants", uid)
                seen = activity.get(uid, since[uid])
                u.days_since_last.append((period.end - seen).total_seconds() / 86400)
            for uid in heard:
                u.add("active_informants", uid)


def _report_cases(r: _Report, period: Period, group: list[Unit]) -> None:
    end = period.end
    fresh = r.at >= period.start
    reviewed = r.reviewed is not None
    on_time = reviewed and r.due is not None and r.reviewed <= r.due  # type: ignore[operator]
    late = r.due is not None and r.due < end and not on_time and r.triaged is not None
    for u in group:
        if fresh:
            u.add("reports", r.id)
            u.add(f"category:{r.category}", r.id)
            u.add(f"level:{r.level or 'unscored'}", r.id)
            if r.triaged is not None:
                u.add("triaged", r.id)
                u.durations["triage_s"].append((r.triaged - r.at).total_seconds())
            if reviewed:
                u.add("reviewed", r.id)
                u.durations["review_s"].append((r.reviewed - r.at).total_seconds())  # type: ignore[operator]
            if on_time:
                u.add("review_on_time", r.id)
            elif late:
                u.add("review_late", r.id)
        if not reviewed and late:
            u.add("overdue_reports", r.id)


def _incident_cases(inc: _Incident, group: list[Unit]) -> None:
    for u in group:
        u.add("incidents", inc.id)
        if inc.acked is not None:
            u.add("acknowledged_incidents", inc.id)
            u.durations["ack_s"].append((inc.acked - inc.at).total_seconds())
        if inc.on_scene is not None:
            u.add("on_scene_incidents", inc.id)
            u.durations["on_scene_s"].append((inc.on_scene - inc.at).total_seconds())
        if inc.ended != "cancelled":
            u.add("judged_incidents", inc.id)
        if inc.ended in ("resolved", "closed"):
            u.add("resolved", inc.id)


def _task_cases(
    task: _Task, group: list[Unit], teams: dict[int, dict[str, Any]], facts: Facts
) -> None:
    figure = {"acknowledged": "acknowledged", "timed_out": "timeouts", "declined": "declines"}
    for u in group:
        u.add("offers", task.id)
        if task.end in figure:
            u.add(figure[task.end], task.id)
    if task.team is None:
        return
    name, kind, area = facts.team_names.get(task.team, (f"#{task.team}", "", ""))
    row = teams.setdefault(
        task.team,
        {
            "team_id": task.team,
            "name": name,
            "kind": kind,
            "area_code": area,
            "offers": 0,
            "acknowledged": 0,
            "timeouts": 0,
            "declines": 0,
            "_ack": [],
        },
    )
    row["offers"] += 1
    if task.end in figure:
        row[figure[task.end]] += 1
    if task.end == "acknowledged" and task.end_at is not None:
        row["_ack"].append((task.end_at - task.at).total_seconds())


def _followup_cases(fu: _FollowUp, period: Period, group: list[Unit]) -> None:
    if fu.due is None:
        return
    done_on_time = fu.closed is not None and fu.closed <= fu.due
    for u in group:
        if period.start <= fu.due < period.end:
            u.add("followups_due", fu.id)
            if done_on_time:
                u.add("followups_on_time", fu.id)
        if fu.due < period.end and fu.closed is None:
            u.add("overdue_followups", fu.id)


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Distance between two (lat, lon) points; an equirectangular approximation, good to
    well under a metre at the distances the signals look at."""
    lat = math.radians((a[0] + b[0]) / 2)
    dy = math.radians(b[0] - a[0])
    dx = math.radians(b[1] - a[1]) * math.cos(lat)
    return 6_371_000 * math.hypot(dx, dy)


def _signals(
    reports: dict[str, _Report],
    incidents: dict[str, _Incident],
    checkins: list[Event],
    closes: list[Event],
    period: Period,
    facts: Facts,
    config: Config,
    each: Any,
) -> None:
    start, end = period.start, period.end

    def mark(signal: str, area: str | None, ids: Iterable[object]) -> None:
        for u in each(area):
            u.signals.setdefault(signal, []).extend(str(i) for i in ids)

    # Closed by the person who raised it: a report reviewed by its own author, an incident
    # resolved or closed by the operator who opened it without any team acknowledging it.
    def by_author(closed: datetime | None, closer: int | None, author: int | None) -> bool:
        return (
            closed is not None and start <= closed < end and closer is not None and closer == author
        )

    for r in reports.values():
        if r.review_action in CLOSES and by_author(r.reviewed, r.reviewer, r.informant):
            mark("self_closed", r.area, [f"report:{r.id}"])
    for inc in incidents.values():
        if inc.acked is None and by_author(inc.closed, inc.closer, inc.creator):
            mark("self_closed", inc.area, [f"incident:{inc.id}"])

    # Many closes in the last hours of the period.
    window = end - timedelta(hours=config.bulk_window_hours)
    per_unit: dict[int, tuple[Unit, list[Event]]] = {}
    for ev in closes:
        for u in each(ev.area_code):
            per_unit.setdefault(id(u), (u, []))[1].append(ev)
    for u, evs in per_unit.values():
        late = [ev for ev in evs if ev.at >= window]
        if len(late) >= config.bulk_min and len(late) >= config.bulk_share * len(evs):
            u.signals["bulk_close"] = [f"{ev.action.split('.')[0]}:{ev.entity_id}" for ev in late]

    # An informant's check-ins all from one spot.
    by_informant: dict[int, list[Event]] = defaultdict(list)
    for ev in checkins:
        if ev.actor_id is not None:
            by_informant[ev.actor_id].append(ev)
    for evs in by_informant.values():
        points = [p for ev in evs if (p := _point(ev, facts.checkin_points)) is not None]
        if (
            len(points) >= config.static_min_checkins
            and len(points) == len(evs)
            and all(_metres(points[0], p) <= config.static_radius_m for p in points)
        ):
            mark("static_checkins", evs[0].area_code, [ev.entity_id for ev in evs])

    # One informant's reports piled on one point.
    mine: dict[int, list[_Report]] = defaultdict(list)
    for r in reports.values():
        if r.informant is not None and start <= r.at < end:
            mine[r.informant].append(r)
    for rs in mine.values():
        if len(rs) < config.point_min_reports:
            continue
        located = [(r, p) for r in rs if (p := facts.report_points.get(r.id)) is not None]
        best: list[_Report] = []
        for _report, centre in located:
            near = [r for r, p in located if _metres(centre, p) <= config.point_radius_m]
            if len(near) > len(best):
                best = near
        if len(best) >= config.point_min_reports:
            mark("point_cluster", best[0].area, [r.id for r in best])


def _point(ev: Event, known: dict[str, tuple[float, float]]) -> tuple[float, float] | None:
    lat, lon = ev.get("lat"), ev.get("lon")
    if isinstance(lat, int | float) and isinstance(lon, int | float):
        return (float(lat), float(lon))
    return known.get(ev.entity_id)


def _id_key(value: str) -> tuple[int, str]:
    tail = value.rsplit(":", 1)[-1]
    return (int(tail), value) if tail.isdigit() else (0, value)


# --- figures, score, ranking -----------------------------------------------------------


def _quantile(values: Sequence[float], q: float) -> float | None:
    """The q-quantile by linear interpolation (statistics' "inclusive" method).

    >>> _quantile([10, 20, 30, 40], 0.5), _quantile([10, 20, 30, 40], 0.9)
    (25.0, 37.0)
    >>> _quantile([], 0.5) is None
    True
    """
    if not values:
        return None
    if len(values) == 1:
        return float(values[0])
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return round(cuts[round(q * 100) - 1], 1)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def figures_of(u: Unit) -> dict[str, Any]:
    n = u.count
    d = u.durations
    judged_reviews = n("review_on_time") + n("review_late")
    answered = n("acknowledged") + n("timeouts")
    days = sorted(u.days_since_last)
    return {
        "cells": n("cells"),
        "covered_cells": n("covered_cells"),
        "silent_cells": n("silent_cells"),
        "uncovered_cells": n("uncovered_cells"),
        "coverage": _share(n("covered_cells"), n("cells")),
        "informants": n("informants"),
        "active_informants": n("active_informants"),
        "reports": n("reports"),
        "checkins": n("checkins"),
        "days_since_last_median": round(statistics.median(days), 1) if days else None,
        "triage_s_median": _quantile(d["triage_s"], 0.5),
        "triage_s_p90": _quantile(d["triage_s"], 0.9),
        "reviewed": n("reviewed"),
        "review_s_median": _quantile(d["review_s"], 0.5),
        "review_s_p90": _quantile(d["review_s"], 0.9),
        "review_late": n("review_late"),
        "review_within_deadline": _share(n("review_on_time"), judged_reviews),
        "escalations": n("escalations"),
        "incidents": n("incidents"),
        "ack_s_median": _quantile(d["ack_s"], 0.5),
        "ack_s_p90": _quantile(d["ack_s"], 0.9),
        "on_scene_s_median": _quantile(d["on_scene_s"], 0.5),
        "on_scene_s_p90": _quantile(d["on_scene_s"], 0.9),
        "offers": n("offers"),
        "acknowledged": n("acknowledged"),
        "timeouts": n("timeouts"),
        "declines": n("declines"),
        "resolved": n("resolved"),
        "resolution_rate": _share(n("resolved"), n("judged_incidents")),
        "overdue_reports": n("overdue_reports"),
        "overdue_followups": n("overdue_followups"),
        "overdue_backlog": n("overdue_reports") + n("overdue_followups"),
        "followups_due": n("followups_due"),
        "followups_on_time": n("followups_on_time"),
        "followups_on_time_share": _share(n("followups_on_time"), n("followups_due")),
        "_answered": answered,
    }


def components_of(f: dict[str, Any]) -> dict[str, float | None]:
    return {
        "coverage": f["coverage"],
        "review_on_time": f["review_within_deadline"],
        "ack_on_time": _share(f["acknowledged"], f["_answered"]),
        "resolution": f["resolution_rate"],
        "followups_on_time": f["followups_on_time_share"],
    }


def score_of(components: dict[str, float | None], weights: dict[str, float]) -> float | None:
    """100 × the weighted mean of the components a unit has data for.

    >>> score_of({"coverage": 0.5, "resolution": None, "ack_on_time": 1.0},
    ...          {"coverage": 0.25, "resolution": 0.5, "ack_on_time": 0.25})
    75.0
    """
    known = [(weights[k], v) for k, v in components.items() if v is not None and weights.get(k)]
    total = sum(w for w, _ in known)
    if not total:
        return None
    return round(100 * sum(w * v for w, v in known) / total, 1)


def standing(row: dict[str, Any]) -> tuple[float, int]:
    """What ranks a unit: its score, and between equal scores the more reports it was judged
    on (a perfect score over a hundred reports beats one over five)."""
    return (row["score"], row["figures"]["reports"])


def rank_units(rows: list[dict[str, Any]], config: Config) -> list[str]:
    """Rank, and flag, the units with enough activity; returns notes. Units equal in score
    and reports share a rank (1, 2, 2, 4) and a flag."""
    notes: list[str] = []
    ranked = [r for r in rows if r["status"] == "ranked"]
    ranked.sort(key=lambda r: (-r["score"], -r["figures"]["reports"], r["code"]))
    previous: tuple[float, int] | None = None
    for position, row in enumerate(ranked, 1):
        if standing(row) != previous:
            rank = position
        row["rank"], row["ranked_of"] = rank, len(ranked)
        previous = standing(row)
    if len(ranked) < config.min_units:
        if ranked:
            notes.append(
                _(
                    "Only %(n)d units could be ranked; flags need at least %(min)d.",
                    n=len(ranked),
                    min=config.min_units,
                )
            )
        return notes
    red_n = min(config.flag_count("red", len(ranked)), len(ranked))
    yellow_n = min(config.flag_count("yellow", len(ranked)), len(ranked) - red_n)
    if red_n:
        cut = standing(ranked[red_n - 1])
        for row in ranked:
            if standing(row) >= cut:
                row["flag"] = "red"
    if yellow_n:
        cut = standing(ranked[len(ranked) - yellow_n])
        for row in ranked:
            if standing(row) <= cut and row["flag"] is None:
                row["flag"] = "yellow"
    return notes


def signal_message(code: str, count: int) -> str:
    messages = {
        "self_closed": _("%(n)d cases closed by the person who raised them", n=count),
        "bulk_close": _("%(n)d closes in the last hours of the period", n=count),
        "static_checkins": _("%(n)d check-ins that never moved", n=count),
        "point_cluster": _("%(n)d reports from one informant at one point", n=count),
    }
    return messages[code]


def _histogram(values: list[float]) -> dict[str, Any]:
    counts = [0] * (len(HISTOGRAM_EDGES) + 1)
    for v in values:
        counts[sum(1 for edge in HISTOGRAM_EDGES if v >= edge)] += 1
    return {"edges": list(HISTOGRAM_EDGES), "counts": counts}


def shape(computed: Computed, config: Config, scope: Area, facts: Facts) -> dict[str, Any]:
    """The bulletin as the API, page, CSV, print and CLI all show it."""
    period = computed.period
    rows = []
    for unit in computed.units.values():
        figures = figures_of(unit)
        components = components_of(figures)
        figures.pop("_answered")
        enough = figures["reports"] >= config.min_reports
        row: dict[str, Any] = {
            "code": unit.code,
            "name": unit.name,
            "level": computed.grid.level,
            "status": "ranked" if enough else "insufficient",
            "rank": None,
            "ranked_of": None,
            "flag": None,
            "score": score_of(components, config.weights),
            "components": components,
            "figures": figures,
            "breakdown": _breakdown(unit),
            "signals": [
                {
                    "code": code,
                    "count": len(unit.signals[code]),
                    "message": signal_message(code, len(unit.signals[code])),
                }
                for code in SIGNALS
                if unit.signals.get(code)
            ],
            "traceable": traceable(unit),
        }
        if row["score"] is None:
            row["status"] = "insufficient"
        rows.append(row)
    notes = rank_units(rows, config)
    rows.sort(key=lambda r: (r["rank"] is None, r["rank"] or 0, r["code"]))
    thin = [r["name"] for r in rows if r["status"] == "insufficient"]
    if thin:
        notes.append(
            _(
                "Too little activity to judge (fewer than %(n)d reports): %(units)s.",
                n=config.min_reports,
                units="、".join(thin),
            )
        )
    if period.end > facts.now:
        notes.append(_("The period is not over: these figures are provisional."))
    total_figures = figures_of(computed.total)
    total_figures.pop("_answered")
    teams = [
        {**{k: v for k, v in t.items() if k != "_ack"}, "ack_s_median": _quantile(t["_ack"], 0.5)}
        for t in sorted(computed.teams.values(), key=lambda t: (-t["offers"], t["team_id"]))
    ]
    return {
        "period": period.label,
        "start": period.start.astimezone(LOCAL_TZ).isoformat(),
        "end": period.end.astimezone(LOCAL_TZ).isoformat(),
        "level": computed.grid.level,
        "scope": {"code": scope.code, "name": scope.name, "level": scope.level},
        "computed_at": facts.now.astimezone(LOCAL_TZ).isoformat(timespec="seconds"),
        "config": config.public(),
        "units": rows,
        "teams": teams,
        "totals": total_figures,
        "breakdown": _breakdown(computed.total),
        "distributions": {
            name: _histogram(computed.total.durations[name])
            for name in ("review_s", "ack_s", "on_scene_s")
        },
        "notes": notes,
    }


def _breakdown(unit: Unit) -> dict[str, dict[str, int]]:
    category = {
        k.split(":", 1)[1]: len(v)
        for k, v in sorted(unit.cases.items())
        if k.startswith("category:")
    }
    level = {lv: unit.count(f"level:{lv}") for lv in RISK_LEVELS}
    return {"category": category, "level": level}


def traceable(unit: Unit) -> list[str]:
    names = [f for f in FIGURES if trace_key(f) in CASE_TYPES]
    names += sorted(k for k in unit.cases if ":" in k)
    names += [f"signal:{code}" for code in SIGNALS if unit.signals.get(code)]
    return names


def trace_key(figure: str) -> str:
    return TRACE_OF.get(figure, figure)


def case_list(unit: Unit, figure: str) -> tuple[str, list[str]]:
    """The type and ids of the cases behind one figure of a unit."""
    if figure.startswith("signal:"):
        code = figure.removeprefix("signal:")
        if code not in SIGNAL_TYPES:
            raise NotFound(f"no signal {code!r}", field="figure")
        return SIGNAL_TYPES[code], list(unit.signals.get(code, []))
    if figure.startswith(("category:", "level:")):
        return "report", sorted(unit.cases.get(figure, []), key=_id_key)
    key = trace_key(figure)
    if key not in CASE_TYPES:
        raise NotFound(f"no figure {figure!r} has a list of cases", field="figure")
    ids = unit.cases.get(key, [])
    kind = CASE_TYPES[key]
    return kind, sorted(set(ids), key=_id_key) if kind != "cell" else sorted(set(ids))


# --- reading the log -------------------------------------------------------------------


def _grid(scope: Area, level: str) -> Grid:
    order = ("city", *LEVELS)
    if scope.level not in order or order.index(level) < order.index(scope.level):
        raise ValidationFailed(
            f"the area {scope.code} is a {scope.level}: ask for its level or a lower one",
            field="level",
        )
    prefix = jurisdiction_prefix(scope.code)
    if scope.level == level:
        units = {scope.code: scope.name}
    else:
        units = dict(
            db.session.execute(
                db.select(Area.code, Area.name).where(
                    Area.level == level, Area.code.startswith(prefix)
                )
            ).all()
        )
    digits = LEVEL_DIGITS[level]
    cells = {
        code: code[:digits]
        for code in db.session.scalars(
            db.select(Area.code).where(Area.level == "cell", Area.code.startswith(prefix))
        )
        if code[:digits] in units
    }
    return Grid(level, units, cells)


def _read_events(*where: Any) -> list[Event]:
    rows = db.session.execute(
        db.select(
            AuditEvent.at,
            AuditEvent.actor_id,
            AuditEvent.action,
            AuditEvent.entity_id,
            AuditEvent.area_code,
            AuditEvent.before,
            AuditEvent.after,
        )
        .where(*where)
        .order_by(AuditEvent.id)
    )
    return [Event(*row) for row in rows]


def _events(prefix: str, since: datetime, until: datetime) -> list[Event]:
    return _read_events(
        AuditEvent.at >= since,
        AuditEvent.at < until,
        AuditEvent.action.in_(sorted(ACTIONS)),
        AuditEvent.area_code.startswith(prefix),
    )


def _assignment_events(until: datetime) -> list[Event]:
    return _read_events(AuditEvent.at < until, AuditEvent.action.in_(ASSIGNMENTS))


def _facts(events: list[Event], period: Period, since: datetime) -> Facts:
    from ..triage import load_rules

    rules = load_rules()
    facts = Facts(
        now=utcnow(),
        deadlines={lv: rules.review_deadline(lv) for lv in ("red", "orange", "yellow", "blue")},
    )
    # The latest activity of each informant before the events read: for "days since last".
    last = db.session.execute(
        db.select(AuditEvent.actor_id, func.max(AuditEvent.at))
        .where(
            AuditEvent.at < since,
            AuditEvent.action.in_(("report.submitted", "informant.checked_in")),
            AuditEvent.actor_id.is_not(None),
        )
        .group_by(AuditEvent.actor_id)
    )
    facts.last_active = {uid: at for uid, at in last}
    # Events written before the points and due times were logged: read those facts (which
    # never change once written) from their rows.
    no_point = [
        int(e.entity_id) for e in events if e.action == "report.submitted" and e.get("lat") is None
    ]
    for rid, lat, lon in _chunked(Report.id, no_point, Report.lat, Report.lon):
        facts.report_points[str(rid)] = (lat, lon)
    for e in events:
        if e.action == "report.submitted" and e.get("lat") is not None:
            facts.report_points[e.entity_id] = (e.get("lat"), e.get("lon"))
    no_point = [
        int(e.entity_id)
        for e in events
        if e.action == "informant.checked_in" and e.get("lat") is None
    ]
    for cid, lat, lon in _chunked(CheckIn.id, no_point, CheckIn.lat, CheckIn.lon):
        if lat is not None and lon is not None:
            facts.checkin_points[str(cid)] = (lat, lon)
    no_due = [
        int(e.entity_id) for e in events if e.action == "followup.opened" and not e.get("due_at")
    ]
    for fid, due in _chunked(FollowUp.id, no_due, FollowUp.due_at):
        facts.followup_due[str(fid)] = due
    team_ids = {e.get("team_id") for e in events if e.action == "task.offered"}
    team_ids.discard(None)
    for tid, name, kind, area in _chunked(
        Team.id, list(team_ids), Team.name, Team.kind, Team.area_code
    ):
        facts.team_names[tid] = (name, kind, area)
    return facts


def _chunked(key: Any, ids: list[int], *columns: Any) -> list[Any]:
    found: list[Any] = []
    for start in range(0, len(ids), 900):  # SQLite's bound-parameter limit
        chunk = ids[start : start + 900]
        found += db.session.execute(db.select(key, *columns).where(key.in_(chunk))).all()
    return found


@dataclass
class Prepared:
    computed: Computed
    config: Config
    scope: Area
    facts: Facts


def prepare(period_text: str, level: str, scope_code: str) -> Prepared:
    """Read the log and compute; no role check (the callers below check)."""
    if level not in LEVELS:
        raise ValidationFailed(f"level is one of {', '.join(LEVELS)}", field="level")
    period = parse_period(period_text)
    scope = db.session.get(Area, scope_code)
    if scope is None:
        raise NotFound(f"no area {scope_code}", field="area")
    config = load_config()
    grid = _grid(scope, level)
    since = period.start - timedelta(days=config.lookback_days)
    events = _events(jurisdiction_prefix(scope.code), since, period.end)
    facts = _facts(events, period, since)
    computed = compute(events, _assignment_events(period.end), period, grid, facts, config)
    return Prepared(computed, config, scope, facts)


def _scope_for(user: User | None, area: str | None) -> str:
    """The scope a caller may see: their own jurisdiction unless they name an area inside it.
    `user` None is the command line and the scheduled job: the whole city."""
    if user is None:
        from .areas import city_code

        return area or city_code()
    if user.role not in READERS:
        raise Forbidden("bulletins are for supervisors and admins")
    area = area or user.area_code
    if not within(area, user.area_code):
        raise Forbidden("this area is outside your jurisdiction", field="area")
    return area


def bulletin(user: User | None, period: str, level: str, area: str | None = None) -> dict[str, Any]:
    p = prepare(period, level, _scope_for(user, area))
    return shape(p.computed, p.config, p.scope, p.facts)


def cases(
    user: User | None, period: str, level: str, unit: str, figure: str, area: str | None = None
) -> dict[str, Any]:
    """The cases behind one figure of one unit (or of the whole scope: `unit` = the scope)."""
    p = prepare(period, level, _scope_for(user, area))
    if unit == p.scope.code and unit not in p.computed.units:
        target = p.computed.total
    elif unit in p.computed.units:
        target = p.computed.units[unit]
    else:
        raise NotFound(f"no unit {unit} at level {level} in {p.scope.code}", field="unit")
    kind, ids = case_list(target, figure)
    return {
        "period": p.computed.period.label,
        "level": level,
        "unit": unit,
        "figure": figure,
        "type": kind,
        "count": len(ids),
        "ids": ids[:CASES_LIMIT],
        "items": _items(kind, ids[:CASES_LIMIT]),
    }


def _items(kind: str, ids: list[str]) -> list[dict[str, Any]]:
    """A line for each case: enough to find it, and no report text."""
    numeric = [int(i) for i in ids if i.isdigit()]
    if kind == "report":
        rows = _chunked(Report.id, numeric, Report.category, Report.received_at, Report.status)
        found = {str(r[0]): {"label": f"{r[1]} · {r[3]}", "at": r[2].isoformat()} for r in rows}
    elif kind == "cell":
        names = dict(
            db.session.execute(
                db.select(Area.code, Area.name).where(Area.code.in_(ids[:900]))
            ).all()
        )
        found = {c: {"label": names.get(c, c), "at": None} for c in ids}
    elif kind == "informant":
        rows = _chunked(User.id, numeric, User.username)
        found = {str(r[0]): {"label": r[1], "at": None} for r in rows}
    else:
        found = {}
    return [{"id": i, **found.get(i, {"label": f"{kind} {i}", "at": None})} for i in ids]


def trends(
    user: User | None, end_period: str | None, months: int = 6, area: str | None = None
) -> dict[str, Any]:
    """The scope's figures and score month by month, up to `end_period`."""
    if not 1 <= months <= MAX_TREND_MONTHS:
        raise ValidationFailed(f"months is 1 to {MAX_TREND_MONTHS}", field="months")
    end_label = end_period or month_of(utcnow())
    if not _MONTH.match(end_label):
        raise ValidationFailed("end is a month such as 2026-11", field="end")
    scope_code = _scope_for(user, area)
    scope = db.session.get(Area, scope_code)
    if scope is None:
        raise NotFound(f"no area {scope_code}", field="area")
    last = parse_period(end_label).start.astimezone(LOCAL_TZ).date()
    level = scope.level if scope.level in LEVELS else "county"
    out = []
    for back in range(months - 1, -1, -1):
        label = _add_months(last, -back).strftime("%Y-%m")
        p = prepare(label, level, scope_code)
        figures = figures_of(p.computed.total)
        components = components_of(figures)
        figures.pop("_answered")
        out.append(
            {
                "period": label,
                "figures": figures,
                "score": score_of(components, p.config.weights),
            }
        )
    return {"scope": {"code": scope.code, "name": scope.name, "level": scope.level}, "months": out}


# --- CSV, the scheduled bulletin -------------------------------------------------------

CSV_HEAD = ("code", "name", "level", "status", "rank", "flag", "score")


def to_csv(b: dict[str, Any]) -> str:
    """One row per unit, then the scope's totals; signals as `code=count` pairs."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*CSV_HEAD, *FIGURES, "signals"])
    for row in b["units"]:
        writer.writerow(
            [row.get(k) if row.get(k) is not None else "" for k in CSV_HEAD]
            + [_cell(row["figures"][f]) for f in FIGURES]
            + [" ".join(f"{s['code']}={s['count']}" for s in row["signals"])]
        )
    scope = b["scope"]
    writer.writerow(
        [scope["code"], scope["name"], scope["level"], "total", "", "", ""]
        + [_cell(b["totals"][f]) for f in FIGURES]
        + [""]
    )
    return out.getvalue()


def _cell(value: Any) -> Any:
    return "" if value is None else value


@use_case
def prepare_bulletins(period: str) -> int:
    """Store the city's bulletin of a period at every level (the scheduled job, safe to run
    twice: a stored bulletin is kept as it was published). Returns how many were stored."""
    from .areas import city_code

    city = city_code()
    stored = 0
    for level in LEVELS:
        exists = db.session.scalar(
            db.select(Bulletin.id).where(
                Bulletin.period == period, Bulletin.level == level, Bulletin.scope_code == city
            )
        )
        if exists is not None:
            continue
        body = bulletin(None, period, level, city)
        row = Bulletin(period=period, level=level, scope_code=city, body=body)
        db.session.add(row)
        db.session.flush()
        ranked = [u for u in body["units"] if u["flag"]]
        audit(
            "bulletin.prepared",
            "bulletin",
            row.id,
            area_code=city,
            after={
                "period": period,
                "level": level,
                "flags": {u["code"]: u["flag"] for u in ranked},
            },
        )
        stored += 1
    return stored


def bulletin_due(now: datetime | None = None) -> str | None:
    """The last month, when its bulletins are not all stored yet (the sweep asks: from the
    1st of each month, Beijing time, until they are)."""
    from .areas import city_code

    period = previous_month(now or utcnow())
    city = city_code()
    if db.session.get(Area, city) is None:  # no grid yet: nothing to report on
        return None
    count = db.session.scalar(
        db.select(func.count(Bulletin.id)).where(
            Bulletin.period == period, Bulletin.scope_code == city
        )
    )
    return period if (count or 0) < len(LEVELS) else None


__all__ = [
    "Config",
    "Event",
    "Facts",
    "Grid",
    "Period",
    "bulletin",
    "bulletin_due",
    "cases",
    "compute",
    "load_config",
    "parse_config",
    "parse_period",
    "prepare_bulletins",
    "to_csv",
    "trends",
]
