"""Informants: who watches which cell, their check-ins, and the coverage that follows."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func

import grid
from grid.codes import jurisdiction_prefix

from ..errors import Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..models import Area, CheckIn, InformantAssignment, Report, Role, Team, User, utcnow
from ..schemas import CheckInSubmit
from . import areas
from .access import within
from .uow import IntegrityError, audit, use_case
from .views import iso

ADMIN_ROLES = frozenset({Role.ADMIN})
COVERAGE_READERS = frozenset({Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN})
USER_COLUMNS = ("username", "password", "role", "area", "cell", "team")
NO_PASSWORD = "!"  # an unusable hash: the account signs in with a device token only


def _require_admin_over(actor: User | None, code: str) -> None:
    """None is the command line (the machine's operator); otherwise an admin of the area."""
    if actor is None:
        return
    if actor.role not in ADMIN_ROLES or not within(code, actor.area_code):
        raise Forbidden("only an admin of this area may change informants")


def _informant(username_or_id: str | int) -> User:
    column = User.id if isinstance(username_or_id, int) else User.username
    user = db.session.scalar(db.select(User).where(column == username_or_id))
    if user is None or user.role != Role.INFORMANT:
        raise NotFound(f"no informant {username_or_id}", field="user")
    return user


def _active_assignment(user_id: int) -> InformantAssignment | None:
    return db.session.scalar(
        db.select(InformantAssignment).where(
            InformantAssignment.user_id == user_id, InformantAssignment.ended_at.is_(None)
        )
    )


@use_case
def assign_informant(actor: User | None, user: str | int, cell_code: str) -> dict[str, Any]:
    """Give an informant a cell; an earlier assignment ends (history is kept)."""
    informant = _informant(user)
    cell = db.session.get(Area, cell_code)
    if cell is None or cell.level != "cell":
        raise ValidationFailed(f"no cell {cell_code}", field="cell_code")
    _require_admin_over(actor, cell_code)
    current = _active_assignment(informant.id)
    if current is not None and current.cell_code == cell_code:
        return assignment_view(informant, current)
    now = utcnow()
    before = None
    if current is not None:
        _require_admin_over(actor, current.cell_code)
        current.ended_at = now
        before = {"cell_code": current.cell_code}
    assignment = InformantAssignment(user_id=informant.id, cell_code=cell_code, started_at=now)
    db.session.add(assignment)
    informant.area_code = cell_code
    audit(
        "informant.assigned",
        "user",
        informant.id,
        actor=actor,
        area_code=cell_code,
        before=before,
        after={"cell_code": cell_code},
    )
    return assignment_view(informant, assignment)


@use_case
def end_assignment(actor: User | None, user: str | int) -> dict[str, Any]:
    informant = _informant(user)
    current = _active_assignment(informant.id)
    if current is None:
        raise NotFound(f"{informant.username} has no active cell", field="user")
    _require_admin_over(actor, current.cell_code)
    current.ended_at = utcnow()
    audit(
        "informant.unassigned",
        "user",
        informant.id,
        actor=actor,
        area_code=current.cell_code,
        before={"cell_code": current.cell_code},
    )
    return assignment_view(informant, None)


def current_cell(user: User) -> dict[str, Any] | None:
    """The informant's cell and its centre: the fallback position when GPS is unavailable."""
    assignment = _active_assignment(user.id)
    area = db.session.get(Area, assignment.cell_code if assignment else user.area_code)
    if area is None:
        return None
    return {
        "code": area.code,
        "name": area.name,
        "lat": round(area.centroid_lat, 6),
        "lon": round(area.centroid_lon, 6),
    }


def assignment_view(user: User, assignment: InformantAssignment | None) -> dict[str, Any]:
    return {
        "user_id": user.id,
        "username": user.username,
        "cell_code": assignment.cell_code if assignment else None,
        "since": iso(assignment.started_at) if assignment else None,
    }


@use_case
def enrolment_token(actor: User, username: str, days: int = 90) -> str:
    """A device token for an informant's phone, for an admin of the informant's area."""
    from .auth import issue_device_token

    informant = _informant(username)
    _require_admin_over(actor, informant.area_code)
    audit(
        "informant.enrolment_issued",
        "user",
        informant.id,
        actor=actor,
        area_code=informant.area_code,
        after={"days": days},
    )
    return issue_device_token(informant, days=days)


def assignment_history(actor: User, user: str | int) -> list[dict[str, Any]]:
    informant = _informant(user)
    _require_admin_over(actor, informant.area_code)
    rows = db.session.scalars(
        db.select(InformantAssignment)
        .where(InformantAssignment.user_id == informant.id)
        .order_by(InformantAssignment.started_at)
    )
    return [
        {"cell_code": a.cell_code, "started_at": iso(a.started_at), "ended_at": iso(a.ended_at)}
        for a in rows
    ]


def check_in(user: User, data: CheckInSubmit) -> dict[str, Any]:
    """The daily one-tap "all quiet"; idempotent on client_id like a report."""
    if user.role != Role.INFORMANT:
        raise Forbidden("only informants check in")
    client_id = str(data.client_id)
    first = db.session.scalar(db.select(CheckIn).where(CheckIn.client_id == client_id))
    if first is None:
        try:
            first = _store_check_in(user, data, client_id)
        except IntegrityError:
            first = db.session.scalar(db.select(CheckIn).where(CheckIn.client_id == client_id))
            if first is None:
                raise
        else:
            return {"checkin": _check_in_view(first), "duplicate": False}
    if first.user_id != user.id:
        raise ValidationFailed("client_id already used", field="client_id")
    return {"checkin": _check_in_view(first), "duplicate": True}


@use_case
def _store_check_in(user: User, data: CheckInSubmit, client_id: str) -> CheckIn:
    assignment = _active_assignment(user.id)
    row = CheckIn(
        client_id=client_id,
        user_id=user.id,
        at=utcnow(),
        lat=data.lat,
        lon=data.lon,
        cell_code=assignment.cell_code if assignment else None,
    )
    db.session.add(row)
    db.session.flush()
    audit(
        "informant.checked_in",
        "checkin",
        row.id,
        actor=user,
        area_code=row.cell_code,
        after={"client_id": client_id, "lat": row.lat, "lon": row.lon},
    )
    return row


def _check_in_view(row: CheckIn) -> dict[str, Any]:
    return {"id": row.id, "client_id": row.client_id, "at": iso(row.at), "cell_code": row.cell_code}


@dataclass
class _Unit:
    code: str
    name: str
    cells: int = 0
    covered: int = 0
    silent: int = 0
    uncovered: int = 0

    def as_dict(self) -> dict[str, Any]:
        share = round(self.covered / self.cells, 4) if self.cells else None
        return {
            "code": self.code,
            "name": self.name,
            "cells": self.cells,
            "covered": self.covered,
            "silent": self.silent,
            "uncovered": self.uncovered,
            "coverage": share,
        }


@dataclass
class CoverageFacts:
    """Plain facts for one area; `compute_coverage` turns them into figures."""

    cells: list[tuple[str, str]]  # (code, name)
    informants: dict[str, list[tuple[int, str]]]  # cell -> [(user id, username)]
    last_active: dict[int, datetime]
    units: dict[str, str] = field(default_factory=dict)  # unit code -> name


def compute_coverage(
    facts: CoverageFacts, cutoff: datetime, unit_of: Callable[[str], str], limit: int = 500
) -> dict[str, Any]:
    """Covered: an active informant who reported or checked in since `cutoff`. Pure."""
    units: dict[str, _Unit] = {}
    uncovered: list[dict[str, Any]] = []
    silent: list[dict[str, Any]] = []
    for code, name in facts.cells:
        unit_code = unit_of(code)
        unit = units.setdefault(unit_code, _Unit(unit_code, facts.units.get(unit_code, "")))
        unit.cells += 1
        people = facts.informants.get(code, [])
        state = cell_state(people, facts.last_active, cutoff)
        if state == "covered":
            unit.covered += 1
        elif state == "uncovered":
            unit.uncovered += 1
            if len(uncovered) < limit:
                uncovered.append({"code": code, "name": name})
        else:
            unit.silent += 1
            if len(silent) < limit:
                silent.append(
                    {
                        "code": code,
                        "name": name,
                        "informants": [
                            {
                                "user_id": uid,
                                "username": uname,
                                "last_active": iso(facts.last_active.get(uid)),
                            }
                            for uid, uname in people
                        ],
                    }
                )
    totals = _Unit("", "")
    for unit in units.values():
        totals.cells += unit.cells
        totals.covered += unit.covered
        totals.silent += unit.silent
        totals.uncovered += unit.uncovered
    return {
        "totals": {k: v for k, v in totals.as_dict().items() if k not in ("code", "name")},
        "units": [u.as_dict() for u in sorted(units.values(), key=lambda u: u.code)],
        "uncovered_cells": uncovered,
        "silent_cells": silent,
    }


def coverage(actor: User, area: str | None = None, days: int | None = None) -> dict[str, Any]:
    """Coverage of an area, per child unit (per county for the city, and so on)."""
    if actor.role not in COVERAGE_READERS:
        raise Forbidden("coverage is for operators, supervisors and admins")
    area = area or actor.area_code
    if not within(area, actor.area_code):
        raise Forbidden("this area is outside your jurisdiction", field="area")
    area_row = db.session.get(Area, area)
    if area_row is None:
        raise NotFound(f"no area {area}", field="area")
    days = days or int(current_app.config.get("GRIDWATCH_COVERAGE_DAYS", 7))
    if not 1 <= days <= 366:
        raise ValidationFailed("days must be 1 to 366", field="days")
    prefix = jurisdiction_prefix(area)
    level_index = grid.LEVELS.index(area_row.level)
    child_level = grid.LEVELS[min(level_index + 1, len(grid.LEVELS) - 1)]
    cells = db.session.execute(
        db.select(Area.code, Area.name)
        .where(Area.level == "cell", Area.code.startswith(prefix))
        .order_by(Area.code)
    ).all()
    people = _active_informants(InformantAssignment.cell_code.startswith(prefix))
    last = _last_active({uid for group in people.values() for uid, _ in group})
    units = dict(
        db.session.execute(
            db.select(Area.code, Area.name).where(
                Area.level == child_level, Area.code.startswith(prefix)
            )
        ).all()
    )
    digits = {"county": 6, "township": 9, "village": 12, "cell": 15}[child_level]

    def unit_of(code: str) -> str:
        return code[:digits]

    facts = CoverageFacts(list(cells), people, last, units)
    result = compute_coverage(facts, utcnow() - timedelta(days=days), unit_of)
    result.update(
        area={"code": area_row.code, "name": area_row.name, "level": area_row.level},
        days=days,
        unit_level=child_level,
    )
    return result


def cell_coverage(codes: list[str], days: int | None = None) -> dict[str, str]:
    """covered / silent / uncovered for each of these cells (see `coverage`)."""
    days = days or int(current_app.config.get("GRIDWATCH_COVERAGE_DAYS", 7))
    people: dict[str, list[tuple[int, str]]] = {}
    for start in range(0, len(codes), 900):  # stay under SQLite's bound-parameter limit
        people |= _active_informants(InformantAssignment.cell_code.in_(codes[start : start + 900]))
    last = _last_active({uid for group in people.values() for uid, _ in group})
    cutoff = utcnow() - timedelta(days=days)
    return {code: cell_state(people.get(code, []), last, cutoff) for code in codes}


def cell_state(
    people: list[tuple[int, str]], last_active: dict[int, datetime], cutoff: datetime
) -> str:
    """A cell is covered when one of its informants was active since `cutoff`. Pure."""
    if not people:
        return "uncovered"
    if any((t := last_active.get(uid)) is not None and t >= cutoff for uid, _ in people):
        return "covered"
    return "silent"


def _active_informants(*where: Any) -> dict[str, list[tuple[int, str]]]:
    """Active informants of active accounts, by cell."""
    people: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for cell, uid, username in db.session.execute(
        db.select(InformantAssignment.cell_code, User.id, User.username)
        .join(User, User.id == InformantAssignment.user_id)
        .where(InformantAssignment.ended_at.is_(None), User.active.is_(True), *where)
    ):
        people[cell].append((uid, username))
    return dict(people)


def _last_active(ids: Iterable[int]) -> dict[int, datetime]:
    """Each informant's latest report or check-in."""
    last: dict[int, datetime] = {}
    for uid, at in _latest(Report.informant_id, Report.received_at, ids) + _latest(
        CheckIn.user_id, CheckIn.at, ids
    ):
        if uid not in last or at > last[uid]:
            last[uid] = at
    return last


def _latest(who: Any, when: Any, ids: Iterable[int]) -> list[tuple[int, datetime]]:
    ids = list(ids)
    found: list[tuple[int, datetime]] = []
    for start in range(0, len(ids), 900):  # stay under SQLite's bound-parameter limit
        chunk = ids[start : start + 900]
        found += db.session.execute(
            db.select(who, func.max(when)).where(who.in_(chunk)).group_by(who)
        ).all()
    return found


@dataclass
class ImportedUsers:
    created: list[User] = field(default_factory=list)


def parse_users_csv(text: str) -> tuple[list[dict[str, str]], list[str]]:
    """Rows of a users CSV and one problem line per bad row (row numbers as in the file)."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ("username", "role") if c not in (reader.fieldnames or [])]
    if missing:
        return [], [
            f"header: missing column(s) {', '.join(missing)}; expected {','.join(USER_COLUMNS)}"
        ]
    rows, problems = [], []
    seen: dict[str, int] = {}
    roles = {r.value for r in Role}
    for line, raw in enumerate(reader, start=2):
        row = {k: (raw.get(k) or "").strip() for k in USER_COLUMNS}
        where = f"line {line} ({row['username'] or 'no username'})"
        if not row["username"] or len(row["username"]) > 64:
            problems.append(f"{where}: username is required (at most 64 characters)")
        elif row["username"] in seen:
            problems.append(f"{where}: username repeats line {seen[row['username']]}")
        else:
            seen[row["username"]] = line
        if row["role"] not in roles:
            problems.append(f"{where}: role must be one of {', '.join(sorted(roles))}")
        if row["cell"] and row["role"] != Role.INFORMANT:
            problems.append(f"{where}: only informants have a cell")
        if row["team"] and row["role"] != Role.TEAM_LEADER:
            problems.append(f"{where}: only team leaders have a team")
        if row["team"] and not row["team"].isdigit():
            problems.append(f"{where}: team must be a team id")
        if row["password"] and len(row["password"]) < 8:
            problems.append(
                f"{where}: password must have at least 8 characters (or be empty "
                "for device-token sign-in)"
            )
        if row["area"]:
            try:
                grid.level_of(row["area"])
            except grid.GridError:
                problems.append(f"{where}: area {row['area']} is not an area code")
        rows.append(row)
    return rows, problems


def check_users_against_database(rows: list[dict[str, str]]) -> list[str]:
    problems = []
    names = [r["username"] for r in rows]
    taken: set[str] = set()
    for start in range(0, len(names), 900):
        taken |= set(
            db.session.scalars(
                db.select(User.username).where(User.username.in_(names[start : start + 900]))
            )
        )
    cells = {r["cell"] for r in rows if r["cell"]}
    known_cells: set[str] = set()
    cell_list = sorted(cells)
    for start in range(0, len(cell_list), 900):
        known_cells |= set(
            db.session.scalars(
                db.select(Area.code).where(
                    Area.code.in_(cell_list[start : start + 900]), Area.level == "cell"
                )
            )
        )
    areas_needed = sorted({r["area"] for r in rows if r["area"]})
    known_areas = set(db.session.scalars(db.select(Area.code).where(Area.code.in_(areas_needed))))
    teams = {int(r["team"]) for r in rows if r["team"].isdigit()}
    known_teams = set(db.session.scalars(db.select(Team.id).where(Team.id.in_(teams))))
    for line, row in enumerate(rows, start=2):
        where = f"line {line} ({row['username']})"
        if row["username"] in taken:
            problems.append(f"{where}: username is taken")
        if row["cell"] and row["cell"] not in known_cells:
            problems.append(f"{where}: no cell {row['cell']}")
        if row["area"] and row["area"] not in known_areas:
            problems.append(f"{where}: no area {row['area']}")
        if row["team"].isdigit() and int(row["team"]) not in known_teams:
            problems.append(f"{where}: no team {row['team']}")
    return problems


@use_case
def create_users(
    rows: list[dict[str, str]], hashes: list[str], *, actor: User | None = None
) -> list[User]:
    """Insert checked rows (passwords already hashed), all in one transaction."""
    city = areas.city_code()
    users = []
    for row, password_hash in zip(rows, hashes, strict=True):
        user = User(
            username=row["username"],
            password_hash=password_hash,
            role=row["role"],
            area_code=row["cell"] or row["area"] or city,
        )
        db.session.add(user)
        users.append(user)
    db.session.flush()
    for row, user in zip(rows, users, strict=True):
        if row["cell"]:
            db.session.add(InformantAssignment(user_id=user.id, cell_code=row["cell"]))
            # Coverage in the bulletins is read from the audit log (services/supervision.py).
            audit(
                "informant.assigned",
                "user",
                user.id,
                actor=actor,
                area_code=row["cell"],
                after={"cell_code": row["cell"]},
            )
        if row["team"]:
            db.session.execute(
                db.update(Team).where(Team.id == int(row["team"])).values(leader_id=user.id)
            )
    audit(
        "users.imported",
        "user",
        "-",
        actor=actor,
        after={"count": len(users), "roles": sorted({r["role"] for r in rows})},
    )
    return users
