"""Informants: assignment history, check-ins, coverage, bulk enrolment and device tokens."""

from __future__ import annotations

import csv
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from shapely import box

import grid
from dispatch.extensions import db
from dispatch.models import AuditEvent, CheckIn, InformantAssignment, Report, User, utcnow
from dispatch.schemas import CheckInSubmit
from dispatch.services import areas, auth, informants

VILLAGE_A, VILLAGE_B = "620102001001", "620102001002"
CELLS = [f"{VILLAGE_A}00{i}" for i in range(1, 5)] + [f"{VILLAGE_B}00{i}" for i in range(1, 3)]


def small_grid() -> list[grid.Area]:
    """A county with one township, two villages of 4 and 2 square cells."""
    out = [
        grid.Area("620100", "兰州市", "city", None, box(0, 0, 6, 1)),
        grid.Area("620102", "城关区", "county", "620100", box(0, 0, 6, 1)),
        grid.Area("620102001", "甲街道", "township", "620102", box(0, 0, 6, 1)),
        grid.Area(VILLAGE_A, "一村", "village", "620102001", box(0, 0, 4, 1)),
        grid.Area(VILLAGE_B, "二村", "village", "620102001", box(4, 0, 6, 1)),
    ]
    for i, code in enumerate(CELLS):
        parent = code[:12]
        out.append(grid.Area(code, f"网格{i + 1}", "cell", parent, box(i, 0, i + 1, 1)))
    return out


@pytest.fixture
def seeded(app: Flask) -> Flask:
    """Cells 1-4 in village A, 5-6 in B. Informants: 1 active (report 2 days ago),
    2 active (check-in today), 3 silent (reported 10 days ago), 5 silent (never),
    4 and 6 have nobody."""
    with app.app_context():
        areas.save_areas(small_grid())
        now = utcnow()
        for n in (1, 2, 3, 5):
            auth.create_user(
                username=f"inf{n}",
                password="secret-pass",
                role="informant",
                cell_code=CELLS[n - 1],
                password_hash="x",
            )
        auth.create_user(username="admin", password="x", role="admin", password_hash="x")
        auth.create_user(
            username="op", password="x", role="operator", area_code="620102", password_hash="x"
        )
        ids = {u.username: u.id for u in db.session.scalars(db.select(User))}
        for name, days in (("inf1", 2), ("inf3", 10)):
            db.session.add(
                Report(
                    client_id=str(uuid.uuid4()),
                    informant_id=ids[name],
                    category="other",
                    text="",
                    lat=0.5,
                    lon=0.5,
                    cell_code=CELLS[0],
                    area_code=CELLS[0],
                    received_at=now - timedelta(days=days),
                )
            )
        db.session.commit()
        user = db.session.get(User, ids["inf2"])
        assert user is not None
        informants.check_in(user, CheckInSubmit(client_id=uuid.uuid4()))
    return app


def test_compute_coverage_is_pure_and_right() -> None:
    now = utcnow()
    facts = informants.CoverageFacts(
        cells=[("c1", "a"), ("c2", "b"), ("c3", "c")],
        informants={"c1": [(1, "u1")], "c2": [(2, "u2"), (3, "u3")]},
        last_active={1: now, 2: now - timedelta(days=30)},
    )
    result = informants.compute_coverage(facts, now - timedelta(days=7), lambda code: "all")
    assert result["totals"] == {
        "cells": 3,
        "covered": 1,
        "silent": 1,
        "uncovered": 1,
        "coverage": round(1 / 3, 4),
    }
    assert [c["code"] for c in result["uncovered_cells"]] == ["c3"]
    silent = result["silent_cells"][0]
    assert silent["code"] == "c2" and [p["username"] for p in silent["informants"]] == ["u2", "u3"]


def test_coverage_on_a_hand_built_grid(seeded: Flask) -> None:
    with seeded.app_context():
        op = db.session.scalar(db.select(User).where(User.username == "op"))
        assert op is not None
        result = informants.coverage(op, "620102001")
        assert result["unit_level"] == "village"
        units = {u["code"]: u for u in result["units"]}
        assert units[VILLAGE_A] | {} == {
            **units[VILLAGE_A],
            "cells": 4,
            "covered": 2,
            "silent": 1,
            "uncovered": 1,
        }
        assert units[VILLAGE_B]["cells"] == 2 and units[VILLAGE_B]["silent"] == 1
        assert units[VILLAGE_B]["uncovered"] == 1 and units[VILLAGE_B]["covered"] == 0
        assert result["totals"]["covered"] == 2 and result["totals"]["cells"] == 6
        assert {c["code"] for c in result["uncovered_cells"]} == {CELLS[3], CELLS[5]}
        # A longer window brings the informant who reported 10 days ago back in.
        assert informants.coverage(op, "620102001", days=14)["totals"]["covered"] == 3
        by_county = informants.coverage(op, None)
        assert [u["code"] for u in by_county["units"]] == ["620102001"]


def test_coverage_over_rest_respects_jurisdiction(seeded: Flask) -> None:
    client = seeded.test_client()
    with seeded.app_context():
        op = db.session.scalar(db.select(User).where(User.username == "op"))
        token = auth.issue_token(op)
        inf = db.session.scalar(db.select(User).where(User.username == "inf1"))
        inf_token = auth.issue_token(inf)
    ok = client.get("/api/coverage?area=620102", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200 and ok.json["totals"]["cells"] == 6
    other = client.get("/api/coverage?area=620104", headers={"Authorization": f"Bearer {token}"})
    assert other.status_code == 403
    informant = client.get("/api/coverage", headers={"Authorization": f"Bearer {inf_token}"})
    assert informant.status_code == 403


def test_check_in_is_idempotent(seeded: Flask) -> None:
    with seeded.app_context():
        user = db.session.scalar(db.select(User).where(User.username == "inf5"))
        data = CheckInSubmit(client_id=uuid.uuid4())
        first = informants.check_in(user, data)
        again = informants.check_in(user, data)
        assert not first["duplicate"] and again["duplicate"]
        assert first["checkin"]["id"] == again["checkin"]["id"]
        assert first["checkin"]["cell_code"] == CELLS[4]
        rows = db.session.scalars(db.select(CheckIn).where(CheckIn.user_id == user.id)).all()
        assert len(rows) == 1


def test_assign_reassign_end_keeps_history(seeded: Flask, runner: FlaskCliRunner) -> None:
    assert runner.invoke(args=["users", "assign", "inf5", CELLS[5]]).exit_code == 0
    result = runner.invoke(args=["users", "assign", "inf5", "620102001009001"])
    assert result.exit_code != 0 and "no cell" in result.output
    assert runner.invoke(args=["users", "unassign", "inf5"]).exit_code == 0
    with seeded.app_context():
        user = db.session.scalar(db.select(User).where(User.username == "inf5"))
        history = db.session.scalars(
            db.select(InformantAssignment)
            .where(InformantAssignment.user_id == user.id)
            .order_by(InformantAssignment.id)
        ).all()
        assert [(a.cell_code, a.ended_at is None) for a in history] == [
            (CELLS[4], False),
            (CELLS[5], False),
        ]
        actions = db.session.scalars(
            db.select(AuditEvent.action).where(
                AuditEvent.entity_type == "user", AuditEvent.entity_id == str(user.id)
            )
        ).all()
        # Created with a cell, then moved: two assignments, each in the log (the bulletins
        # read coverage from it), then the end.
        assert actions.count("informant.assigned") == 2 and "informant.unassigned" in actions


def test_admin_api_assignment_and_wrong_area(seeded: Flask) -> None:
    client = seeded.test_client()
    with seeded.app_context():
        admin = db.session.scalar(db.select(User).where(User.username == "admin"))
        op = db.session.scalar(db.select(User).where(User.username == "op"))
        admin_h = {"Authorization": f"Bearer {auth.issue_token(admin)}"}
        op_h = {"Authorization": f"Bearer {auth.issue_token(op)}"}
    moved = client.put(
        "/api/informants/inf1/assignment", json={"cell_code": CELLS[3]}, headers=admin_h
    )
    assert moved.status_code == 200 and moved.json["cell_code"] == CELLS[3]
    assert (
        client.put(
            "/api/informants/inf1/assignment", json={"cell_code": CELLS[2]}, headers=op_h
        ).status_code
        == 403
    )
    bad = client.put("/api/informants/inf1/assignment", json={"cell_code": "12"}, headers=admin_h)
    assert bad.status_code == 422 and bad.json["error"]["field"] == "cell_code"
    history = client.get("/api/informants/inf1/assignments", headers=admin_h).json
    assert [h["cell_code"] for h in history] == [CELLS[0], CELLS[3]]


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["username", "password", "role", "area", "cell", "team"], *rows])
    return path


def test_users_import_all_or_nothing(seeded: Flask, runner: FlaskCliRunner, tmp_path: Path) -> None:
    bad = write_csv(
        tmp_path / "bad.csv",
        [
            ["new1", "", "informant", "", CELLS[3], ""],
            ["new2", "short", "informant", "", CELLS[5], ""],
            ["new1", "", "wizard", "", "", ""],
            ["inf1", "", "informant", "", "620102001001009", ""],
        ],
    )
    result = runner.invoke(args=["users", "import", str(bad)])
    assert result.exit_code != 0 and "nobody was created" in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    # short password, repeated name, unknown role, name taken, unknown cell
    assert len(errors) == 5, result.output
    with seeded.app_context():
        assert db.session.scalar(db.select(User).where(User.username == "new1")) is None


def test_users_import_with_tokens_and_enrolment(
    seeded: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    good = write_csv(
        tmp_path / "good.csv",
        [
            ["new1", "", "informant", "", CELLS[3], ""],
            ["new2", "long-enough-1", "informant", "", CELLS[5], ""],
            ["op2", "long-enough-2", "operator", "620102", "", ""],
        ],
    )
    tokens = tmp_path / "tokens.csv"
    result = runner.invoke(args=["users", "import", str(good), "--tokens-out", str(tokens)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(tokens.read_text(encoding="utf-8").splitlines()))
    assert [r["username"] for r in rows] == ["new1", "new2", "op2"]
    client = seeded.test_client()
    # The device token works as a bearer token and enrols a phone without a password.
    token = rows[0]["token"]
    assert (
        client.post(
            "/api/checkins",
            json={"client_id": str(uuid.uuid4())},
            headers={"Authorization": f"Bearer {token}"},
        ).status_code
        == 201
    )
    enrolled = client.get(f"/informant?enroll={token}")
    assert enrolled.status_code == 302 and enrolled.headers["Location"].endswith("/informant")
    page = client.get("/informant")
    assert page.status_code == 200 and CELLS[3].encode() in page.data
    # Without a password the account cannot sign in by password.
    assert (
        client.post(
            "/api/auth/token", json={"username": "new1", "password": "anything"}
        ).status_code
        == 401
    )
    assert (
        client.post(
            "/api/auth/token", json={"username": "new2", "password": "long-enough-1"}
        ).status_code
        == 200
    )
    forged = seeded.test_client().get("/informant?enroll=forged")
    assert forged.status_code == 401


def test_users_token_command(seeded: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["users", "token", "inf1", "--days", "3"])
    assert result.exit_code == 0
    token = result.output.strip()
    with seeded.app_context():
        assert auth.user_from_token(token).username == "inf1"
    assert runner.invoke(args=["users", "token", "nobody"]).exit_code != 0
