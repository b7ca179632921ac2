"""Triage over a real Redis and a real RQ worker (run in this process, so the clock can be
moved instead of slept through): negation, clusters, deadlines, claims and must-talks."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from flask import Flask

from dispatch.errors import Claimed, ValidationFailed
from dispatch.extensions import db
from dispatch.models import AuditEvent, FollowUp
from dispatch.schemas import IncidentCreate, ReportReview
from dispatch.services import followups, incidents, reports
from tests.dispatch.live import NOON, Emits, live, redis_url, report, submit, sweep, user, work

__all__ = ["live", "redis_url"]  # fixtures used by name


def test_negation_decides_casualties(live: Flask) -> None:
    with live.app_context(), time_machine.travel(NOON, tick=False):
        hurt = submit("inf1", "traffic_accident", "两车相撞，有人受伤")
        unhurt = submit("inf2", "traffic_accident", "两车相撞，没有人受伤", lat=0.5, lon=1.5)
        work(live)
        assert report(hurt).status == report(unhurt).status == "triaged"
        assert report(hurt).risk_score > report(unhurt).risk_score
        assert not [r for r in report(unhurt).reasons if r["rule"] == "casualties"]


def test_reports_of_one_event_form_one_queue_entry(live: Flask) -> None:
    with live.app_context(), time_machine.travel(NOON, tick=False) as clock:
        first = submit("inf1", "fire", "仓库冒烟", lat=0.5, lon=0.5)
        work(live)
        single = report(first).risk_score
        clock.shift(timedelta(minutes=2))
        second = submit("inf2", "fire", "仓库起火", lat=0.5003, lon=0.5002)
        clock.shift(timedelta(minutes=1))
        third = submit("inf3", "fire", "看到浓烟", lat=0.4998, lon=0.5001)
        far = submit("inf3", "fire", "另一处起火", lat=0.5, lon=2.5)
        work(live)
        assert report(second).cluster_id == first and report(third).cluster_id == first
        assert report(far).cluster_id is None
        head = report(first)
        assert head.cluster_size == 3 and head.risk_score > single
        assert any(r["rule"] == "cluster" and r["size"] == 3 for r in head.reasons)
        queue = reports.triage_queue(user("op"))
        assert sorted(e["id"] for e in queue) == sorted([first, far])
        # Hours later the same place is a new event, not the old cluster.
        clock.shift(timedelta(hours=6))
        later = submit("inf1", "fire", "又冒烟了", lat=0.5, lon=0.5)
        work(live)
        assert report(later).cluster_id is None
        # Promoting the entry takes the whole cluster into the incident.
        made = incidents.create_incident(user("op"), IncidentCreate(report_ids=[first]))
        assert set(made["incident"]["report_ids"]) == {first, second, third}
        # A report of the same event afterwards joins the open incident.
        clock.shift(timedelta(minutes=-355))
        joiner = submit("inf2", "fire", "火势变大", lat=0.5001, lon=0.5001)
        work(live)
        assert report(joiner).incident_id == made["incident"]["id"]


def test_overdue_report_is_escalated_once(live: Flask) -> None:
    emits = Emits(live.config["REDIS_URL"])
    try:
        with live.app_context(), time_machine.travel(NOON, tick=False) as clock:
            rid = submit("inf1", "dispute", "邻居吵架", severity=2)
            work(live)
            due = report(rid).review_due_at
            assert due is not None and report(rid).risk_level in ("yellow", "blue")
            emits.collect()
            sweep(live)
            assert report(rid).escalated_at is None
            clock.move_to(due + timedelta(seconds=1))
            sweep(live)
            assert report(rid).escalated_at is not None
            sweep(live)
            events = db.session.scalars(
                db.select(AuditEvent).where(
                    AuditEvent.action == "report.escalated", AuditEvent.entity_id == str(rid)
                )
            ).all()
            assert len(events) == 1
            assert events[0].after["supervisors"] == ["sup", "citysup"]
            sent = [e for e in emits.collect() if e["event"] == "report:escalated"]
            assert len(sent) == 1
            assert "area:620102" in sent[0]["room"] and sent[0]["namespace"] == "/operator"
    finally:
        emits.close()


def test_claims_keep_two_operators_apart(live: Flask) -> None:
    with live.app_context(), time_machine.travel(NOON, tick=False) as clock:
        rid = submit("inf1", "safety_hazard", "井盖缺失")
        work(live)
        reports.claim_report(user("op"), rid)
        with pytest.raises(Claimed):
            reports.claim_report(user("op2"), rid)
        with pytest.raises(Claimed):
            reports.review_report(user("op2"), ReportReview(report_id=rid, action="verify"))
        with pytest.raises(ValidationFailed):
            reports.review_report(user("op"), ReportReview(report_id=rid, action="dismiss"))
        clock.shift(timedelta(minutes=2))  # the claim has expired
        reports.claim_report(user("op2"), rid)
        done = reports.review_report(user("op2"), ReportReview(report_id=rid, action="verify"))
        assert done["report"]["status"] == "verified"


def test_two_operators_at_once_never_review_one_report_twice(live: Flask) -> None:
    with live.app_context():
        # Places 20 km apart: twelve separate queue entries, no cluster.
        ids = [
            submit(
                f"inf{1 + i % 3}", "other", f"情况{i}", lon=0.5 + i % 3, lat=0.1 + 0.2 * (i // 3)
            )
            for i in range(12)
        ]
        work(live)
    outcomes: list[tuple[str, int, str]] = []
    barrier = threading.Barrier(2)

    def operator(name: str) -> None:
        with live.app_context():
            barrier.wait()
            for rid in ids:
                try:
                    reports.review_report(user(name), ReportReview(report_id=rid, action="verify"))
                    outcomes.append((name, rid, "ok"))
                except Exception as exc:
                    outcomes.append((name, rid, type(exc).__name__))
                finally:
                    db.session.remove()

    threads = [threading.Thread(target=operator, args=(n,)) for n in ("op", "op2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    wins = [rid for _, rid, result in outcomes if result == "ok"]
    assert sorted(wins) == sorted(ids)  # each report reviewed exactly once
    assert all(r in ("ok", "Claimed", "InvalidTransition") for _, _, r in outcomes)
    with live.app_context():
        reviews = db.session.scalars(
            db.select(AuditEvent.entity_id).where(AuditEvent.action == "report.verify")
        ).all()
        assert sorted(int(r) for r in reviews) == sorted(ids)


def test_must_talk_follow_ups(live: Flask) -> None:
    with live.app_context(), time_machine.travel(NOON, tick=False):
        rid = submit("inf1", "petition", "老兵因安置问题准备上访")
        plain = submit("inf2", "safety_hazard", "路灯坏了", lon=1.5)
        work(live)
        rows = db.session.scalars(db.select(FollowUp)).all()
        assert [(r.report_id, r.station_code, r.reason) for r in rows] == [
            (rid, "620102001", "petition")
        ]
        assert rows[0].due_at > NOON
        listed = followups.list_followups(user("op"), "620102001")
        assert [f["report_id"] for f in listed] == [rid]
        with pytest.raises(ValidationFailed):
            followups.close_followup(user("op"), rows[0].id, "  ")
        closed = followups.close_followup(user("op"), rows[0].id, "已上门谈心，协调安置")
        assert closed["status"] == "done" and plain not in [f["report_id"] for f in listed]
        assert followups.list_followups(user("op"), "620102001") == []


def test_festival_follow_ups_for_veterans_in_difficulty(live: Flask) -> None:
    with live.app_context():
        rules = __import__("dispatch.services.triage", fromlist=["x"]).current_rules()
        name, day = rules.festivals_between(NOON.date(), NOON.date() + timedelta(days=400))[0]
        before = datetime.combine(day - timedelta(days=3), datetime.min.time(), UTC)
        with time_machine.travel(before - timedelta(days=30), tick=False):
            hardship = submit("inf1", "veteran_hardship", "老兵生病住院，家里困难")
            work(live)
        with time_machine.travel(before, tick=False):
            sweep(live)
            sweep(live)  # twice: still one follow-up per veteran and festival
        rows = db.session.scalars(db.select(FollowUp).where(FollowUp.reason == "festival")).all()
        assert [(r.report_id, r.festival) for r in rows] == [(hardship, name)]
