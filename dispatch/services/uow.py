"""One transaction per inbound event; emits and enqueues go out only after the commit."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Engine, event, insert
from sqlalchemy.exc import IntegrityError, OperationalError

from ..errors import TemporarilyUnavailable
from ..extensions import db
from ..models import AuditEvent, User, utcnow

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class Emit:
    namespace: str
    event: str
    payload: Any
    rooms: list[str]


@dataclass
class Enqueue:
    func: str
    args: tuple[Any, ...]
    at: datetime | None = None
    job_id: str | None = None


@dataclass
class Outbox:
    """What a use case wants the world to hear once its transaction has committed."""

    emits: list[Emit] = field(default_factory=list)
    jobs: list[Enqueue] = field(default_factory=list)
    # Audit events of the transaction, written in one INSERT just before it commits.
    audits: list[dict[str, Any]] = field(default_factory=list)
    # Called once the transaction has committed, before the broadcasts (never raise).
    after_commit: list[Callable[[], None]] = field(default_factory=list)

    def emit(self, namespace: str, event: str, payload: Any, rooms: list[str]) -> None:
        self.emits.append(Emit(namespace, event, payload, rooms))

    def enqueue(
        self, func: str, *args: Any, at: datetime | None = None, job_id: str | None = None
    ) -> None:
        self.jobs.append(Enqueue(func, args, at, job_id))

    def publish(self) -> None:
        # Imported here: publishing needs the app's Socket.IO and Redis, the services don't.
        from ..realtime import broadcast

        for hook in self.after_commit:
            hook()
        if self.emits or self.jobs:
            broadcast.publish(self.emits, self.jobs)


_current: ContextVar[Outbox | None] = ContextVar("gridwatch_outbox", default=None)


def outbox() -> Outbox:
    """The outbox of the unit of work in progress (a use case must be running)."""
    current = _current.get()
    if current is None:
        raise RuntimeError("outbox() called outside a unit of work")
    return current


# SQLite allows one writer at a time. Writers wait for it here, cooperatively, instead of in
# SQLite's busy handler: that one sleeps in C with growing back-off (up to 100 ms a nap),
# which under gevent stalls every connection of the process, the lock holder included.
# A thread lock orders the writers of this process; a file lock those of all processes
# (the web server and the RQ worker) on the same database file.
_SQLITE_WRITER = threading.Lock()
_LOCK_FILES: dict[str, int] = {}
# A writer outside Gridwatch (a backup, a sqlite3 shell) takes SQLite's lock without ours.
# We ask SQLite for it without waiting, on a connection of our own, and wait here instead;
# past this long the database counts as unavailable, and the client is told to retry.
FOREIGN_LOCK_PATIENCE_S = 1.0
_PROBES: dict[str, sqlite3.Connection] = {}


# A phone waits on the web process's writes (its acknowledgement), nobody waits on the RQ
# worker's by the millisecond. So a web process is an urgent writer: while it waits for the
# lock it holds a shared lock on a second file, and a background writer that sees it (its
# exclusive try fails) steps back, for at most BACKGROUND_YIELD_S per transaction, so that
# triage is slowed, never starved. Without this the busy worker, taking the lock back the
# instant it let go, kept phones waiting for their acks.
BACKGROUND_YIELD_S = 0.05
_URGENT = False
_WAIT_FILES: dict[str, int] = {}


def urgent_writer() -> None:
    """Call in a process whose writes someone waits on (a web process)."""
    global _URGENT
    _URGENT = True


def _open_lock(files: dict[str, int], path: str) -> int:
    fd = files.get(path)
    if fd is None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        files[path] = fd
    return fd


def _flock(database: str) -> int:
    """Take the file lock shared by Gridwatch's processes, waiting for it cooperatively."""
    fd = _open_lock(_LOCK_FILES, f"{database}.writer-lock")
    waiting = _open_lock(_WAIT_FILES, f"{database}.writer-wait")
    if _URGENT:
        with contextlib.suppress(OSError):
            fcntl.flock(waiting, fcntl.LOCK_SH | fcntl.LOCK_NB)
        try:
            return _poll_lock(fd, max_delay=0.001)
        finally:
            fcntl.flock(waiting, fcntl.LOCK_UN)
    yield_until = time.monotonic() + BACKGROUND_YIELD_S
    while time.monotonic() < yield_until:
        try:
            fcntl.flock(waiting, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            time.sleep(0.001)  # an urgent writer waits: let it go first
            continue
        fcntl.flock(waiting, fcntl.LOCK_UN)
        break
    return _poll_lock(fd, max_delay=0.005)


def _poll_lock(fd: int, max_delay: float) -> int:
    delay = 0.0002
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            time.sleep(delay)  # a gevent sleep in the web process
            delay = min(delay * 2, max_delay)


def _sqlite_lock_free(database: str) -> bool:
    """Is SQLite's own write lock free? Asked without waiting; with ours held, only a
    writer outside Gridwatch can take it before we begin."""
    probe = _PROBES.get(database)
    if probe is None:
        probe = sqlite3.connect(database, timeout=0, isolation_level=None, check_same_thread=False)
        _PROBES[database] = probe
    try:
        probe.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:
        return False
    probe.execute("ROLLBACK")
    return True


def _busy_timeout_on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """A unit of work's BEGIN IMMEDIATE must fail at once when SQLite's lock is taken: we
    have waited for it already, and a writer outside Gridwatch that slipped in since would
    otherwise hold the whole gevent process in SQLite's busy handler. The connection is
    checked out before its transaction begins; other transactions keep their busy timeout."""
    if "gw_busy_timeout" not in record.info:
        busy = dbapi_connection.execute("PRAGMA busy_timeout").fetchone()[0]
        record.info["gw_busy_timeout"] = record.info["gw_busy_now"] = busy
    wanted = 0 if in_unit_of_work() else record.info["gw_busy_timeout"]
    if record.info["gw_busy_now"] != wanted:
        dbapi_connection.execute(f"PRAGMA busy_timeout = {int(wanted)}")
        record.info["gw_busy_now"] = wanted


@contextmanager
def _sqlite_write_lock(engine: Engine) -> Iterator[None]:
    if not event.contains(engine, "checkout", _busy_timeout_on_checkout):
        event.listen(engine, "checkout", _busy_timeout_on_checkout)
    database = engine.url.database
    if not database or database == ":memory:":
        with _SQLITE_WRITER:
            yield
        return
    deadline = time.monotonic() + FOREIGN_LOCK_PATIENCE_S
    delay = 0.001
    while True:
        with _SQLITE_WRITER:
            fd = _flock(database)
            try:
                if _sqlite_lock_free(database):
                    yield
                    return
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        # Held outside Gridwatch: wait without holding our locks, so that every writer
        # waiting with us is answered within the patience, not one after the other.
        if time.monotonic() > deadline:
            log.warning("database unavailable: locked by another program")
            raise TemporarilyUnavailable(
                "the database is busy or unavailable; nothing was saved, please retry"
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def in_unit_of_work() -> bool:
    """True while a unit of work runs: the engine then begins an IMMEDIATE transaction."""
    return _current.get() is not None


@contextmanager
def unit_of_work() -> Iterator[Outbox]:
    """Commit once at the outermost boundary, then publish; nested calls join it."""
    existing = _current.get()
    if existing is not None:
        yield existing
        return
    box = Outbox()
    if db.session().in_transaction():
        # End the read snapshot of earlier queries: the write starts from the newest state.
        db.session.commit()
    engine = db.engine
    lock = (
        _sqlite_write_lock(engine) if engine.dialect.name == "sqlite" else contextlib.nullcontext()
    )
    with lock:
        token = _current.set(box)
        try:
            try:
                yield box
                # Still inside: a transaction begun by this flush is a unit of work's too.
                _write_audits(box)
                db.session.commit()
            finally:
                _current.reset(token)
        except OperationalError as exc:
            db.session.rollback()
            log.warning("database unavailable: %s", exc)
            raise TemporarilyUnavailable(
                "the database is busy or unavailable; nothing was saved, please retry"
            ) from exc
        except BaseException:
            db.session.rollback()
            raise
    box.publish()


RETRIES = 4


def use_case(func: Callable[P, R]) -> Callable[P, R]:
    """Run a service function as one unit of work, again if the database was busy.

    A retry is safe: the failed attempt was rolled back and its outbox thrown away.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if _current.get() is not None:
            return func(*args, **kwargs)
        for attempt in range(RETRIES):
            try:
                with unit_of_work():
                    return func(*args, **kwargs)
            except TemporarilyUnavailable:
                if attempt == RETRIES - 1:
                    raise
                time.sleep(0.02 * (2**attempt) * (1 + random.random()))
        raise AssertionError("unreachable")

    return wrapper


def audit(
    action: str,
    entity_type: str,
    entity_id: object,
    *,
    actor: User | None = None,
    actor_id: int | None = None,
    area_code: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Append one event to the audit log, in the current transaction.

    Within a unit of work the events are gathered and written together at its commit
    (one multi-row INSERT, in order); outside one they are added to the session at once.
    """
    incident_id = (after or {}).get("incident_id")
    if entity_type == "incident":
        incident_id = int(str(entity_id))
    row = {
        "at": utcnow(),
        "actor_id": actor.id if actor is not None else actor_id,
        "incident_id": incident_id if isinstance(incident_id, int) else None,
        "action": action,
        "entity_type": entity_type,
        "entity_id": str(entity_id),
        "area_code": area_code,
        "before": before,
        "after": after,
    }
    box = _current.get()
    if box is not None:
        box.audits.append(row)
        if action.startswith(_WEBHOOK_EVENTS) and _wake_webhooks not in box.after_commit:
            box.after_commit.append(_wake_webhooks)
    else:
        db.session.add(AuditEvent(**row))


# Report and incident events may be for webhook subscribers: after the commit, the planner
# is woken (services/webhooks.py; it costs nothing while nobody subscribes).
_WEBHOOK_EVENTS = ("report.", "incident.")


def _wake_webhooks() -> None:
    from .webhooks import events_committed  # webhooks builds on this module

    events_committed()


def _write_audits(box: Outbox) -> None:
    if box.audits:
        db.session.execute(insert(AuditEvent), box.audits)
        box.audits = []


__all__ = [
    "IntegrityError",
    "Outbox",
    "audit",
    "outbox",
    "unit_of_work",
    "use_case",
]
