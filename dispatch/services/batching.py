"""Group commit: in a web process, writes that arrive together share one transaction.

A handler hands its entry to the process's committer and waits. One writer (a greenlet
under gevent, a thread otherwise) takes everything that is waiting, runs it as one batch in
one transaction, and only after the commit answers each handler. Nothing waits on purpose:
at low load a batch holds one entry and goes at once; under load the entries that arrive
while one batch commits make up the next. One commit then serves many acknowledgements.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from flask import Flask, current_app, has_app_context

from ..errors import GridwatchError, TemporarilyUnavailable
from ..extensions import db

log = logging.getLogger(__name__)

E = TypeVar("E")

EXTENSION = "gridwatch_committers"


class _Slot:
    """One waiting handler: its answer, or the error to raise."""

    __slots__ = ("done", "result")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: Any = None


class GroupCommit(Generic[E]):
    """Run `work(entries) -> answers` (one per entry, an Exception for a refused one) on
    batches of up to `max_batch` waiting entries, in a writer of its own."""

    def __init__(
        self,
        app: Flask,
        name: str,
        work: Callable[[list[E]], list[Any]],
        *,
        max_batch: int = 256,
        wait_s: float = 30.0,
    ) -> None:
        self.app = app
        self.name = name
        self.work = work
        self.max_batch = max_batch
        self.wait_s = wait_s
        self._pending: deque[tuple[E, _Slot]] = deque()
        self._wake = threading.Event()
        self.batches = 0
        self.entries = 0

    def submit(self, entry: E) -> Any:
        """Hand one entry to the writer; return its answer once its batch has committed."""
        slot = _Slot()
        self._pending.append((entry, slot))
        self._wake.set()
        if not slot.done.wait(self.wait_s):
            # It may still commit; a retry with the same client id then finds it.
            raise TemporarilyUnavailable("the server is busy; nothing was confirmed, please retry")
        if isinstance(slot.result, BaseException):
            raise slot.result
        return slot.result

    def run(self) -> None:
        """The writer's loop; never returns, never dies of one bad batch."""
        while True:
            self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = [
                    self._pending.popleft() for _ in range(min(self.max_batch, len(self._pending)))
                ]
                self._run_batch(batch)

    def _run_batch(self, batch: list[tuple[E, _Slot]]) -> None:
        answers: list[Any]
        with self.app.app_context():
            try:
                answers = self.work([entry for entry, _ in batch])
                if len(answers) != len(batch):
                    raise RuntimeError(f"{self.name}: {len(answers)} answers for {len(batch)}")
            except GridwatchError as exc:
                answers = [exc] * len(batch)
            except Exception:
                log.exception("group commit %s failed for %d entries", self.name, len(batch))
                failure = TemporarilyUnavailable("nothing was saved; please retry")
                answers = [failure] * len(batch)
            finally:
                db.session.remove()
        self.batches += 1
        self.entries += len(batch)
        for (_, slot), answer in zip(batch, answers, strict=True):
            slot.result = answer
            slot.done.set()


def start(app: Flask, name: str, work: Callable[[list[Any]], list[Any]]) -> GroupCommit[Any]:
    """Start a committer for this process (a web process: gunicorn's post_worker_init)."""
    from ..extensions import socketio

    committers: dict[str, GroupCommit[Any]] = app.extensions.setdefault(EXTENSION, {})
    if name in committers:
        return committers[name]
    committer: GroupCommit[Any] = GroupCommit(app, name, work)
    committers[name] = committer
    socketio.start_background_task(committer.run)
    log.info("group commit %s started", name)
    return committer


def committer(name: str) -> GroupCommit[Any] | None:
    """This process's committer for `name`, if one runs (only in a web process)."""
    if not has_app_context():
        return None
    committers = current_app.extensions.get(EXTENSION)
    return committers.get(name) if committers else None


__all__ = ["GroupCommit", "committer", "start"]
