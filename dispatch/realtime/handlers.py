"""Socket.IO namespaces: authenticate, validate, call one service, acknowledge. No SQL here."""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, request, session
from flask_socketio import SocketIO, join_room
from pydantic import BaseModel, ValidationError

from ..errors import (
    GridwatchError,
    TemporarilyUnavailable,
    Unauthorized,
    ValidationFailed,
    from_pydantic,
)
from ..extensions import db, socketio
from ..models import Role, User
from ..schemas import (
    CheckInSubmit,
    IncidentCancel,
    IncidentCreate,
    IncidentDispatch,
    IncidentNote,
    IncidentRef,
    ReportRef,
    ReportReview,
    ReportSubmit,
    TaskDecline,
    TaskRef,
    TaskStatusChange,
    TeamPosition,
    TeamStatusChange,
)
from ..services import auth, incidents, informants, privacy, reports, tasks
from . import broadcast, names

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

NAMESPACE_ROLES: dict[str, frozenset[str]] = {
    names.INFORMANT: frozenset({Role.INFORMANT}),
    names.OPERATOR: frozenset({Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN}),
    names.TEAM: frozenset({Role.TEAM_LEADER}),
}


def start_web_process(app: Flask) -> None:
    """What a serving web process runs beside its sockets: the coalescing publisher and the
    group commit of reports (see realtime/broadcast.py and services/batching.py)."""
    from ..services import batching, uow

    uow.urgent_writer()
    broadcast.start_publisher(app)
    if app.config.get("GRIDWATCH_GROUP_COMMIT", True):
        batching.start(app, "reports", reports.store_reports)


def error_ack(exc: GridwatchError) -> dict[str, Any]:
    return {"ok": False, "error": exc.as_dict()}


def _current_user(namespace: str) -> User:
    uid = session.get("gw_uid")
    version = session.get("gw_tv")
    user = db.session.get(User, uid) if isinstance(uid, int) else None
    if user is None or not user.active or user.token_version != version:
        raise Unauthorized("sign in again")
    if user.role not in NAMESPACE_ROLES[namespace]:
        raise Unauthorized("this connection is not for your role")
    return user


# Hot data in memory: a phone sending reports is looked up in the database at most once in
# this long per process. The revocation watcher forgets a disabled or revoked user within
# REVOCATION_CHECK_S, when it also closes their sockets, so the cache never outlives that.
USER_CACHE_S = 60.0
_user_cache: dict[int, tuple[float, User]] = {}


def _cached_user(namespace: str) -> User:
    """The signed-in user as a detached copy (id, role, area, token version), from memory if
    it was checked less than USER_CACHE_S ago: only for events that need no more than that."""
    uid = session.get("gw_uid")
    version = session.get("gw_tv")
    now = time.monotonic()
    hit = _user_cache.get(uid) if isinstance(uid, int) else None
    # A copy older than the socket's sign-in (a new token after a revocation) is read again.
    if hit is None or now - hit[0] > USER_CACHE_S or hit[1].token_version != version:
        found = _current_user(namespace)
        copy = User(
            id=found.id,
            username=found.username,
            role=found.role,
            area_code=found.area_code,
            active=found.active,
            token_version=found.token_version,
        )
        db.session.close()
        if len(_user_cache) > 100_000:
            _user_cache.clear()
        hit = _user_cache[found.id] = (now, copy)
    user = hit[1]
    if user.token_version != version:
        raise Unauthorized("sign in again")
    if user.role not in NAMESPACE_ROLES[namespace]:
        raise Unauthorized("this connection is not for your role")
    return user


def _connect(namespace: str, auth_data: Any) -> None:
    token = auth_data.get("token") if isinstance(auth_data, dict) else None
    try:
        user = auth.user_from_token(token)
    except GridwatchError as exc:
        raise ConnectionRefusedError(exc.as_dict()) from None
    if user.role not in NAMESPACE_ROLES[namespace]:
        raise ConnectionRefusedError(
            {"code": "forbidden", "message": f"role {user.role} may not use {namespace}"}
        )
    session["gw_uid"] = user.id
    session["gw_tv"] = user.token_version
    _connections[(namespace, request.sid)] = (user.id, user.token_version)  # type: ignore[attr-defined]
    _start_revocation_watch()
    join_room(names.user_room(user.id))
    if namespace == names.OPERATOR:
        room = privacy.operator_room(user)
        join_room(room)
        broadcast.note_listener(room)
    elif namespace == names.TEAM:
        # A leader without a team still connects; nothing will be offered to them.
        with contextlib.suppress(GridwatchError):
            join_room(names.team_room(tasks.leader_team(user).id))


def _disconnect(namespace: str, *args: Any) -> None:
    _connections.pop((namespace, request.sid), None)  # type: ignore[attr-defined]


_draining = threading.Event()


def start_draining() -> None:
    """The process is shutting down: events already running finish, new ones are refused
    with `unavailable` so that the phone retries against the next process."""
    _draining.set()


# This process's sockets: (namespace, sid) -> (user id, token version at connect).
_connections: dict[tuple[str, str], tuple[int, int]] = {}
_watch_started = threading.Lock()
_watching = False
REVOCATION_CHECK_S = 3.0


# The app whose database the watcher reads: the one a socket last connected to. A process
# serves one app; a test process makes one after another, and a watcher still reading the
# first one's database would find none of a later test's users and close their sockets.
_watch_app: Flask | None = None


def _start_revocation_watch() -> None:
    global _watching, _watch_app
    _watch_app = current_app._get_current_object()  # type: ignore[attr-defined]
    with _watch_started:
        if _watching:
            return
        _watching = True
    socketio.start_background_task(_watch_revocations)


# Looking every socket's user up takes about 70 ms with 20,000 sockets, which stalls every
# one of them; so each round first asks Redis whether anyone was revoked since the last look,
# and looks anyway once in this long.
FULL_CHECK_S = 60.0


def _watch_revocations() -> None:
    seen: int | None = None
    last_full = 0.0
    while True:
        socketio.sleep(REVOCATION_CHECK_S)
        app = _watch_app
        if app is None:
            continue
        try:
            with app.app_context():
                count = auth.revocation_count()
            quiet = count is not None and count == seen
            if quiet and time.monotonic() - last_full < FULL_CHECK_S:
                continue
            drop_revoked(app)
            seen, last_full = count, time.monotonic()
        except Exception:  # the database may be down for a moment; look again next round
            log.warning("revocation check failed", exc_info=True)


def drop_revoked(app: Flask) -> int:
    """Close every socket of this process whose user was disabled or whose tokens were
    revoked since it connected; returns how many were closed."""
    entries = list(_connections.items())
    if not entries:
        return 0
    current: dict[int, int] = {}
    with app.app_context():
        try:
            ids = sorted({uid for uid, _ in _connections.values()})
            for start in range(0, len(ids), 500):
                rows = db.session.execute(
                    db.select(User.id, User.token_version).where(
                        User.id.in_(ids[start : start + 500]), User.active.is_(True)
                    )
                )
                current.update({uid: version for uid, version in rows})
        finally:
            db.session.remove()
    dropped = 0
    for uid in [
        uid
        for uid, (_, user) in list(_user_cache.items())
        if current.get(uid) != user.token_version
    ]:
        _user_cache.pop(uid, None)
    for (namespace, sid), (uid, version) in entries:
        if current.get(uid) != version:
            _connections.pop((namespace, sid), None)
            socketio.server.disconnect(sid, namespace=namespace)
            dropped += 1
    if dropped:
        log.info("closed %d socket(s) of revoked or disabled users", dropped)
    return dropped


def event_handler(
    namespace: str, schema: type[M] | None, *, cached_user: bool = False
) -> Callable[[Callable[[User, Any], dict[str, Any]]], Callable[..., dict[str, Any]]]:
    """Wrap a handler: one payload, validated, an authorised user, an ack either way.

    `cached_user`: the handler gets a detached copy of the user (see _cached_user).
    """

    def decorate(func: Callable[[User, Any], dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        @functools.wraps(func)
        def wrapper(*args: Any) -> dict[str, Any]:
            if _draining.is_set():
                return error_ack(
                    TemporarilyUnavailable("the server is restarting; send again in a moment")
                )
            try:
                user = _cached_user(namespace) if cached_user else _current_user(namespace)
                if len(args) != 1:
                    raise ValidationFailed("send exactly one JSON object", field="payload")
                payload = args[0]
                data: Any = payload
                if schema is not None:
                    if not isinstance(payload, dict):
                        raise ValidationFailed("the payload must be a JSON object", field="payload")
                    try:
                        data = schema.model_validate(payload)
                    except ValidationError as exc:
                        raise from_pydantic(exc) from None
                return {"ok": True, **func(user, data)}
            except GridwatchError as exc:
                db.session.rollback()
                return error_ack(exc)
            except Exception:
                db.session.rollback()
                log.exception("error in %s %s", namespace, func.__name__)
                return {
                    "ok": False,
                    "error": {"code": "internal", "message": "internal error; please retry"},
                }

        return wrapper

    return decorate


def register(sio: SocketIO) -> None:
    """Attach every namespace's handlers to the Socket.IO server."""
    for namespace in NAMESPACE_ROLES:
        sio.on_event("connect", functools.partial(_connect, namespace), namespace=namespace)
        sio.on_event("disconnect", functools.partial(_disconnect, namespace), namespace=namespace)
        sio.on_event("*", functools.partial(_unknown, namespace), namespace=namespace)

    # /informant
    @event_handler(names.INFORMANT, ReportSubmit, cached_user=True)
    def report_submit(user: User, data: ReportSubmit) -> dict[str, Any]:
        return reports.submit_report(user, data)

    @event_handler(names.INFORMANT, CheckInSubmit)
    def checkin_submit(user: User, data: CheckInSubmit) -> dict[str, Any]:
        return informants.check_in(user, data)

    # /operator
    @event_handler(names.OPERATOR, ReportReview)
    def report_review(user: User, data: ReportReview) -> dict[str, Any]:
        return reports.review_report(user, data)

    @event_handler(names.OPERATOR, ReportRef)
    def report_claim(user: User, data: ReportRef) -> dict[str, Any]:
        return reports.claim_report(user, data.report_id)

    @event_handler(names.OPERATOR, ReportRef)
    def report_release(user: User, data: ReportRef) -> dict[str, Any]:
        return reports.release_report(user, data.report_id)

    @event_handler(names.OPERATOR, IncidentCreate)
    def incident_create(user: User, data: IncidentCreate) -> dict[str, Any]:
        return incidents.create_incident(user, data)

    @event_handler(names.OPERATOR, IncidentDispatch)
    def incident_dispatch(user: User, data: IncidentDispatch) -> dict[str, Any]:
        return tasks.dispatch_team(user, data.incident_id, data.team_id)

    @event_handler(names.OPERATOR, IncidentCancel)
    def incident_cancel(user: User, data: IncidentCancel) -> dict[str, Any]:
        return tasks.cancel_incident(user, data.incident_id, data.reason)

    @event_handler(names.OPERATOR, IncidentNote)
    def incident_resolve(user: User, data: IncidentNote) -> dict[str, Any]:
        return tasks.resolve_incident(user, data.incident_id, data.note)

    @event_handler(names.OPERATOR, IncidentRef)
    def incident_close(user: User, data: IncidentRef) -> dict[str, Any]:
        return tasks.close_incident(user, data.incident_id)

    @event_handler(names.OPERATOR, IncidentRef)
    def incident_stop_cascade(user: User, data: IncidentRef) -> dict[str, Any]:
        return tasks.stop_cascade(user, data.incident_id)

    # /team
    @event_handler(names.TEAM, TeamStatusChange)
    def team_status(user: User, data: TeamStatusChange) -> dict[str, Any]:
        return tasks.set_team_status(user, data.status)

    @event_handler(names.TEAM, TaskRef)
    def task_ack(user: User, data: TaskRef) -> dict[str, Any]:
        return tasks.acknowledge_task(user, data.task_id)

    @event_handler(names.TEAM, TaskDecline)
    def task_decline(user: User, data: TaskDecline) -> dict[str, Any]:
        return tasks.decline_task(user, data.task_id, data.reason)

    @event_handler(names.TEAM, TaskStatusChange)
    def task_status(user: User, data: TaskStatusChange) -> dict[str, Any]:
        return tasks.update_task_status(user, data.task_id, data.status)

    @event_handler(names.TEAM, TeamPosition)
    def team_position(user: User, data: TeamPosition) -> dict[str, Any]:
        return tasks.update_team_position(user, data)

    for namespace, event, handler in (
        (names.INFORMANT, names.REPORT_SUBMIT, report_submit),
        (names.INFORMANT, names.CHECKIN_SUBMIT, checkin_submit),
        (names.OPERATOR, names.REPORT_REVIEW, report_review),
        (names.OPERATOR, names.REPORT_CLAIM, report_claim),
        (names.OPERATOR, names.REPORT_RELEASE, report_release),
        (names.OPERATOR, names.INCIDENT_CREATE, incident_create),
        (names.OPERATOR, names.INCIDENT_DISPATCH, incident_dispatch),
        (names.OPERATOR, names.INCIDENT_CANCEL, incident_cancel),
        (names.OPERATOR, names.INCIDENT_RESOLVE, incident_resolve),
        (names.OPERATOR, names.INCIDENT_CLOSE, incident_close),
        (names.OPERATOR, names.INCIDENT_STOP_CASCADE, incident_stop_cascade),
        (names.TEAM, names.TEAM_STATUS, team_status),
        (names.TEAM, names.TASK_ACK, task_ack),
        (names.TEAM, names.TASK_DECLINE, task_decline),
        (names.TEAM, names.TASK_STATUS, task_status),
        (names.TEAM, names.TEAM_POSITION, team_position),
    ):
        sio.on_event(event, handler, namespace=namespace)


def _unknown(namespace: str, event: Any, *args: Any) -> dict[str, Any]:
    """A catch-all: an event nobody handles is answered, not ignored."""
    return {
        "ok": False,
        "error": {"code": "unknown_event", "message": f"{namespace} has no event {event!r}"},
    }
