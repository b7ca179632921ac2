"""One transaction per inbound event; emits and enqueues go out only after the commit."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from sqlalchemy.exc import IntegrityError, OperationalError

from ..errors import TemporarilyUnavailable
from ..extensions import db
from ..models import AuditEvent, User

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

    def emit(self, namespace: str, event: str, payload: Any, rooms: list[str]) -> None:
        self.emits.append(Emit(namespace, event, payload, rooms))

    def enqueue(
        self, func: str, *args: Any, at: datetime | None = None, job_id: str | None = None
    ) -> None:
        self.jobs.append(Enqueue(func, args, at, job_id))

    def publish(self) -> None:
        # Imported here: publishing needs the app's Socket.IO and Redis, the services don't.
        from ..queue import enqueue
        from ..realtime import broadcast

        for item in self.emits:
            broadcast.send(item.namespace, item.event, item.payload, item.rooms)
        for job in self.jobs:
            enqueue(job.func, *job.args, at=job.at, job_id=job.job_id)


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


@contextmanager
def _sqlite_write_lock(database: str | None) -> Iterator[None]:
    with _SQLITE_WRITER:
        if not database or database == ":memory:":
            yield
            return
        fd = _LOCK_FILES.get(database)
        if fd is None:
            fd = os.open(f"{database}.writer-lock", os.O_RDWR | os.O_CREAT, 0o600)
            _LOCK_FILES[database] = fd
        delay = 0.0002
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                time.sleep(delay)  # a gevent sleep in the web process
                delay = min(delay * 2, 0.005)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)


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
        _sqlite_write_lock(engine.url.database)
        if engine.dialect.name == "sqlite"
        else contextlib.nullcontext()
    )
    with lock:
        token = _current.set(box)
        try:
            try:
                yield box
            finally:
                _current.reset(token)
            db.session.commit()
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
    area_code: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Append one event to the audit log, in the current transaction."""
    incident_id = (after or {}).get("incident_id")
    if entity_type == "incident":
        incident_id = int(str(entity_id))
    db.session.add(
        AuditEvent(
            actor_id=actor.id if actor is not None else None,
            incident_id=incident_id if isinstance(incident_id, int) else None,
            action=action,
            entity_type=entity_type,
            entity_id=str(entity_id),
            area_code=area_code,
            before=before,
            after=after,
        )
    )


__all__ = [
    "IntegrityError",
    "Outbox",
    "audit",
    "outbox",
    "unit_of_work",
    "use_case",
]
