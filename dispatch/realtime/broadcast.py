"""All realtime output goes through here; works from a web process and an RQ worker alike.

What a transaction announces is published after its commit. Operator events are coalesced:
the payloads bound for one area room go out as one message, a list in order (PROTOCOL.md:
"the payload of any server→operator event may then be a list"). In a web process a publisher
of its own sends, each round, what every commit since the last round handed it, then waits
before the next round: `GRIDWATCH_COALESCE_MS` (100 ms) when the round was busy (ten commits
or more), proportionally less when it was not. So 500 reports a second reach 20 operators
as a few messages a second, not 10,000, while a quiet moment's report goes out at once.
Elsewhere (the RQ worker, the CLI, tests in-process) each outbox is published as it commits,
coalesced within itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, has_app_context

from ..extensions import socketio
from . import names

if TYPE_CHECKING:
    from ..services.uow import Emit, Enqueue

log = logging.getLogger(__name__)

EXTENSION = "gridwatch_publisher"
# Commits in one round at which the publisher waits its whole interval before the next.
BUSY_ROUND = 10
AREA_ROOM = "area:"


def send(namespace: str, event: str, payload: Any, rooms: list[str]) -> None:
    """Emit to the union of `rooms` (each client gets it once); never raises."""
    if not rooms:
        return
    # dict.fromkeys keeps order and drops repeats.
    targets = list(dict.fromkeys(rooms))
    try:
        socketio.emit(event, payload, namespace=namespace, to=targets)
    except Exception:  # a down Redis must not undo a committed change
        log.exception("could not emit %s to %s", event, targets)


# Which area rooms can have anyone in them: the jurisdictions of the active staff accounts,
# looked up again after this long. An account made since then (in another process) hears
# the live events of an area that had no staff before at most this late; its page loads
# the current state when it connects and every minute.
LISTENING_TTL_S = 10.0
LISTENING = "gridwatch_listening_rooms"
_listening_lock = threading.Lock()


def listening_rooms() -> frozenset[str] | None:
    """The area rooms worth a message (both kinds, cleared and limited), or None when they
    cannot be told (no app or database at hand): then every room is. Kept per app."""
    if not has_app_context():
        return None
    cache: dict[str, Any] = current_app.extensions.setdefault(LISTENING, {})
    now = time.monotonic()
    at, rooms = cache.get("at"), cache.get("rooms")
    if rooms is not None and at is not None and 0 <= now - at < LISTENING_TTL_S:
        return frozenset(rooms)
    from ..services.access import staff_jurisdictions

    try:
        prefixes = staff_jurisdictions()
    except Exception:
        log.warning("could not read the staff's jurisdictions; sending to every room")
        return None
    fresh = frozenset(
        names.area_room(prefix, limited=limited) for prefix in prefixes for limited in (False, True)
    )
    with _listening_lock:
        cache["at"], cache["rooms"] = now, fresh
    return fresh


def note_listener(room: str) -> None:
    """An operator joined `room` in this process: send there from now on."""
    if not has_app_context():
        return
    cache: dict[str, Any] = current_app.extensions.setdefault(LISTENING, {})
    with _listening_lock:
        if cache.get("rooms") is not None and room not in cache["rooms"]:
            cache["rooms"] = cache["rooms"] | {room}


def coalesce(
    emits: Iterable[Emit], listening: frozenset[str] | None = None
) -> list[tuple[str, str, Any, list[str]]]:
    """Merge emits into as few messages as keep every client's view the same.

    Each operator socket is in exactly one area room (its jurisdiction; realtime/names.py),
    so payloads can be gathered per area room: a room gets one message whose payload is the
    list of its payloads in order (the payload itself when there is one). Rooms whose lists
    are the same share a message. Area rooms nobody can be in (not in `listening`, when
    given) get nothing. Operator emits to other rooms (a user's) keep their room sets. Only
    /operator's payloads become lists (PROTOCOL.md); the phones' namespaces get each
    payload as its own message, in order.
    """
    per_room: dict[tuple[str, str, str], list[Any]] = {}
    per_set: dict[tuple[str, str, tuple[str, ...]], list[Any]] = {}
    single: list[tuple[str, str, Any, list[str]]] = []
    for item in emits:
        rooms = list(dict.fromkeys(item.rooms))
        if not rooms:
            continue
        if item.namespace != names.OPERATOR:
            single.append((item.namespace, item.event, item.payload, rooms))
        elif all(room.startswith(AREA_ROOM) for room in rooms):
            for room in rooms:
                if listening is not None and room not in listening:
                    continue
                per_room.setdefault((item.namespace, item.event, room), []).append(item.payload)
        else:
            key = (item.namespace, item.event, tuple(rooms))
            per_set.setdefault(key, []).append(item.payload)
    shared: dict[tuple[str, str, tuple[int, ...]], tuple[list[Any], list[str]]] = {}
    for (namespace, event, room), payloads in per_room.items():
        same = (namespace, event, tuple(id(p) for p in payloads))
        shared.setdefault(same, (payloads, []))[1].append(room)
    messages = [
        (namespace, event, _one_or_list(payloads), rooms)
        for (namespace, event, _), (payloads, rooms) in shared.items()
    ]
    messages.extend(
        (namespace, event, _one_or_list(payloads), list(rooms))
        for (namespace, event, rooms), payloads in per_set.items()
    )
    return messages + single


def _one_or_list(payloads: list[Any]) -> Any:
    return payloads[0] if len(payloads) == 1 else payloads


def publish(emits: list[Emit], jobs: list[Enqueue]) -> None:
    """Announce a committed transaction: through this process's publisher if it runs,
    otherwise now."""
    publisher = current_publisher()
    if publisher is not None:
        publisher.put(emits, jobs)
        return
    _publish_now(emits, jobs)


# Jobs whose one argument is a list of ids: those of one round go as one job. RQ costs a few
# milliseconds a job in the worker, as much as triaging a report.
MERGEABLE_JOBS = frozenset({"dispatch.jobs.triage_reports"})


def merge_jobs(jobs: list[Enqueue]) -> list[Enqueue]:
    """One job per mergeable function (its id lists joined, in order); the rest as they are.

    >>> from dispatch.services.uow import Enqueue
    >>> merged = merge_jobs([Enqueue("dispatch.jobs.triage_reports", ([1, 2],), job_id="a"),
    ...                      Enqueue("dispatch.jobs.expire_task", (7,)),
    ...                      Enqueue("dispatch.jobs.triage_reports", ([3],), job_id="b")])
    >>> [(j.func.rsplit(".", 1)[1], j.args, j.job_id) for j in merged]
    [('triage_reports', ([1, 2, 3],), 'triage-1-3'), ('expire_task', (7,), None)]
    """
    from ..services.uow import Enqueue

    ids: dict[str, list[Any]] = {}
    out: list[Enqueue] = []
    for job in jobs:
        if job.func in MERGEABLE_JOBS and job.at is None and len(job.args) == 1:
            if job.func not in ids:
                ids[job.func] = []
                out.append(job)  # its place in the order; replaced below
            ids[job.func].extend(job.args[0])
        else:
            out.append(job)
    return [
        Enqueue(
            job.func, (ids[job.func],), job_id=f"triage-{ids[job.func][0]}-{len(ids[job.func])}"
        )
        if job.func in ids and job.at is None and len(job.args) == 1
        else job
        for job in out
    ]


def _publish_now(emits: list[Emit], jobs: list[Enqueue]) -> None:
    from ..queue import enqueue

    for namespace, event, payload, rooms in coalesce(emits, listening_rooms()):
        send(namespace, event, payload, rooms)
    for job in merge_jobs(jobs):
        enqueue(job.func, *job.args, at=job.at, job_id=job.job_id)


class Publisher:
    """A web process's publisher: every round sends what commits handed it since the last."""

    def __init__(self, app: Flask, interval_s: float) -> None:
        self.app = app
        self.interval_s = interval_s
        self._pending: deque[tuple[list[Emit], list[Enqueue]]] = deque()
        self._wake = threading.Event()
        self.rounds = 0

    def put(self, emits: list[Emit], jobs: list[Enqueue]) -> None:
        self._pending.append((emits, jobs))
        self._wake.set()

    def run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            sent = self.flush()
            # The events of the next interval wait, to go out together: the full interval
            # under load, hardly at all when one commit at a time comes by.
            time.sleep(self.interval_s * min(1.0, sent / BUSY_ROUND))

    def flush(self) -> int:
        """Publish everything handed over since the last round; returns how many commits."""
        rounds = 0
        emits: list[Emit] = []
        jobs: list[Enqueue] = []
        while self._pending:
            more_emits, more_jobs = self._pending.popleft()
            emits.extend(more_emits)
            jobs.extend(more_jobs)
            rounds += 1
        if not emits and not jobs:
            return 0
        try:
            with self.app.app_context():
                _publish_now(emits, jobs)
        except Exception:  # the sweep and the operators' resync make good what is lost
            log.exception("publishing %d emits and %d jobs failed", len(emits), len(jobs))
        self.rounds += 1
        return rounds


def start_publisher(app: Flask) -> Publisher:
    """Coalesce this process's announcements (a web process: gunicorn's post_worker_init)."""
    publisher: Publisher | None = app.extensions.get(EXTENSION)
    if publisher is None:
        interval = app.config.get("GRIDWATCH_COALESCE_MS", 100) / 1000
        publisher = Publisher(app, interval)
        app.extensions[EXTENSION] = publisher
        socketio.start_background_task(publisher.run)
    return publisher


def current_publisher() -> Publisher | None:
    if not has_app_context():
        return None
    publisher: Publisher | None = current_app.extensions.get(EXTENSION)
    return publisher
