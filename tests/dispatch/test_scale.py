"""The hot path under load: group commit of reports, coalesced operator events, batched
triage, and the audit events a batch writes. Run on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from dispatch.errors import ValidationFailed
from dispatch.extensions import db
from dispatch.models import AuditEvent, Report, ReportStatus
from dispatch.realtime import broadcast, names
from dispatch.schemas import ReportSubmit
from dispatch.services import batching, reports, triage
from dispatch.services.uow import Emit
from tests.dispatch.live import Emits, live, redis_url, user, work
from tests.dispatch.test_informants import CELLS

__all__ = ["live", "redis_url"]  # fixtures used by name

COUNTY = "620102"


def _data(client_id: uuid.UUID | None = None, **extra: Any) -> ReportSubmit:
    return ReportSubmit(
        client_id=client_id or uuid.uuid4(),
        category=extra.pop("category", "fire"),
        text=extra.pop("text", "楼道冒烟"),
        lat=extra.pop("lat", 0.5),
        lon=extra.pop("lon", 0.5),
        severity=2,
    )


# --------------------------------------------------------------------------- coalescing


def _new(report_id: int, code: str) -> Emit:
    return Emit(
        names.OPERATOR, names.REPORT_NEW, {"report": {"id": report_id}}, names.area_rooms(code)
    )


def test_operator_events_coalesce_per_area_room() -> None:
    cell_a, cell_b = "620102001001001", "620102002001001"
    emits = [_new(1, cell_a), _new(2, cell_b), _new(3, cell_a)]
    messages = broadcast.coalesce(emits)
    by_room = {room: payload for _, _, payload, rooms in messages for room in rooms}
    # Each room hears its own reports, in order, as one list.
    assert [p["report"]["id"] for p in by_room[names.area_room("6201")]] == [1, 2, 3]
    assert [p["report"]["id"] for p in by_room[names.area_room(COUNTY)]] == [1, 2, 3]
    assert [p["report"]["id"] for p in by_room[names.area_room(cell_a)]] == [1, 3]
    # A room with one payload gets the payload itself, not a list of one.
    assert by_room[names.area_room(cell_b)] == {"report": {"id": 2}}
    # Rooms with the same list share one message: the city's and the county's.
    city_message = next(m for m in messages if names.area_room("6201") in m[3])
    assert names.area_room(COUNTY) in city_message[3]
    # Every room of every emit is reached, and no room twice.
    rooms = [room for _, _, _, rs in messages for room in rs]
    assert len(rooms) == len(set(rooms))
    assert set(rooms) == {r for e in emits for r in e.rooms}


def test_rooms_nobody_listens_in_get_nothing() -> None:
    listening = frozenset({names.area_room(COUNTY), names.area_room(COUNTY, limited=True)})
    messages = broadcast.coalesce([_new(1, CELLS[0]), _new(2, CELLS[1])], listening)
    assert [(m[2], sorted(m[3])) for m in messages] == [
        ([{"report": {"id": 1}}, {"report": {"id": 2}}], sorted(listening))
    ]


def test_user_rooms_keep_their_sets_and_phones_get_one_payload_a_message() -> None:
    emits = [
        Emit(names.OPERATOR, names.SESSION_REVOKED, {"n": 1}, [names.user_room(3)]),
        Emit(names.OPERATOR, names.SESSION_REVOKED, {"n": 2}, [names.user_room(3)]),
        Emit(names.TEAM, names.TASK_OFFERED, {"task": {"id": 1}}, [names.team_room(4)]),
        Emit(names.TEAM, names.TASK_OFFERED, {"task": {"id": 2}}, [names.team_room(4)]),
        Emit(names.INFORMANT, names.REPORT_UPDATED, {"id": 9}, [names.user_room(7)]),
    ]
    messages = broadcast.coalesce(emits, frozenset())
    assert messages == [
        (names.OPERATOR, names.SESSION_REVOKED, [{"n": 1}, {"n": 2}], [names.user_room(3)]),
        (names.TEAM, names.TASK_OFFERED, {"task": {"id": 1}}, [names.team_room(4)]),
        (names.TEAM, names.TASK_OFFERED, {"task": {"id": 2}}, [names.team_room(4)]),
        (names.INFORMANT, names.REPORT_UPDATED, {"id": 9}, [names.user_room(7)]),
    ]


# --------------------------------------------------------------------------- group commit


def test_group_commit_answers_every_report_once_after_one_commit_per_batch(live: Flask) -> None:
    with live.app_context():
        informants = [user(f"inf{i}").id for i in (1, 2, 3)]
    committer: batching.GroupCommit[Any] = batching.GroupCommit(
        live, "reports", reports.store_reports
    )
    shared = uuid.uuid4()  # one phone sends the same report twice at once
    entries = [(informants[i % 3], _data()) for i in range(60)]
    entries += [(informants[0], _data(shared)), (informants[0], _data(shared))]
    answers: list[Any] = [None] * len(entries)
    start = threading.Barrier(len(entries) + 1)

    def send(i: int) -> None:
        start.wait()
        try:
            answers[i] = committer.submit(entries[i])
        except Exception as exc:  # an answer too: the handler turns it into an error ack
            answers[i] = exc

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(entries))]
    for thread in threads:
        thread.start()
    writer = threading.Thread(target=committer.run, daemon=True)
    start.wait()
    writer.start()
    for thread in threads:
        thread.join(30)

    # Reports that arrived together were stored together.
    assert committer.entries == len(entries)
    assert committer.batches < len(entries)
    own = answers[:60]
    assert all(a["duplicate"] is False and a["report"]["status"] == "new" for a in own)
    twice = answers[60:62]
    assert {a["report"]["id"] for a in twice} == {twice[0]["report"]["id"]}
    assert sorted(a["duplicate"] for a in twice) == [False, True]
    with live.app_context():
        # Another phone reusing that id is refused, without learning whose it is.
        (refused,) = reports.store_reports([(informants[1], _data(shared))])
        assert isinstance(refused, ValidationFailed)
        stored = db.session.scalars(db.select(Report)).all()
        assert len(stored) == 61
        assert len({r.client_id for r in stored}) == 61
        assert {a["report"]["id"] for a in answers[:62]} == {r.id for r in stored}
        # Every stored report has its one audit event, by its informant.
        events = db.session.scalars(
            db.select(AuditEvent).where(AuditEvent.action == "report.submitted")
        ).all()
        assert sorted(int(e.entity_id) for e in events) == sorted(r.id for r in stored)
        by_id = {r.id: r for r in stored}
        assert all(e.actor_id == by_id[int(e.entity_id)].informant_id for e in events)


def test_a_batch_is_announced_once_and_triaged_by_one_job(live: Flask) -> None:
    emits = Emits(live.config["REDIS_URL"])
    emits.collect()  # the subscription's confirmation
    with live.app_context():
        informant = user("inf1").id
        answers = reports.store_reports([(informant, _data()) for _ in range(5)])
        ids = [a["report"]["id"] for a in answers]
        sent = emits.collect()
        new = [m for m in sent if m["event"] == names.REPORT_NEW]
        # One message per room (the socket.io arguments: [payload]), the five reports in it,
        # in order.
        assert new and all([p["report"]["id"] for p in m["data"][0]] == ids for m in new), new
        work(live)
        assert all(
            db.session.get(Report, rid).status == ReportStatus.TRIAGED  # type: ignore[union-attr]
            for rid in ids
        )
        triaged = [m for m in emits.collect() if m["event"] == names.REPORT_TRIAGED]
        assert {p["id"] for m in triaged for p in broadcast_items(m["data"][0])} >= set(ids)


def broadcast_items(data: Any) -> list[Any]:
    return data if isinstance(data, list) else [data]


def test_triaging_a_batch_twice_changes_nothing_more(live: Flask) -> None:
    with live.app_context():
        informant = user("inf1").id
        ids = [
            a["report"]["id"]
            for a in reports.store_reports([(informant, _data()) for _ in range(4)])
        ]
        from dispatch import jobs

        assert jobs.triage_reports(ids) == 4
        before = db.session.scalar(db.select(db.func.count(AuditEvent.id)))
        assert jobs.triage_reports(ids) == 0
        assert db.session.scalar(db.select(db.func.count(AuditEvent.id))) == before
        # The four fire reports at one spot are one event: one head, three members.
        db.session.expire_all()
        stored = [db.session.get(Report, rid) for rid in ids]
        heads = [r for r in stored if r is not None and r.cluster_id is None]
        assert len(heads) == 1 and heads[0].cluster_size == 4
        assert triage.triage_many(ids) == 0


def test_a_revocation_tells_every_web_process_to_look(live: Flask) -> None:
    """The watchers skip their database round while this counter stands still."""
    from dispatch.services import auth

    with live.app_context():
        before = auth.revocation_count()
        assert before is not None
        auth.revoke_tokens(None, "inf1")
        assert auth.revocation_count() == before + 1
        auth.set_active(None, "inf2", False)
        assert auth.revocation_count() == before + 2


def test_the_worker_steps_back_while_a_web_process_waits_for_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A phone waits on the web process's commit; triage can wait a moment longer."""
    import fcntl
    import os
    import time

    from dispatch.services import uow

    database = str(tmp_path / "gridwatch.db")
    monkeypatch.setattr(uow, "_URGENT", False)
    monkeypatch.setattr(uow, "_LOCK_FILES", {})
    monkeypatch.setattr(uow, "_WAIT_FILES", {})

    def background_takes_the_lock() -> float:
        started = time.monotonic()
        fd = uow._flock(database)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return time.monotonic() - started

    assert background_takes_the_lock() < uow.BACKGROUND_YIELD_S / 2
    # An urgent writer (another process: another open file) is waiting.
    waiting = os.open(f"{database}.writer-wait", os.O_RDWR | os.O_CREAT)
    fcntl.flock(waiting, fcntl.LOCK_SH)
    try:
        waited = background_takes_the_lock()
    finally:
        os.close(waiting)
    # It stepped back, but only for so long: triage is slowed, never starved.
    assert uow.BACKGROUND_YIELD_S <= waited < uow.BACKGROUND_YIELD_S + 0.5
    assert background_takes_the_lock() < uow.BACKGROUND_YIELD_S / 2
