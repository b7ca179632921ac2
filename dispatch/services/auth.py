"""Passwords, tokens and users."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.security import check_password_hash, generate_password_hash

from grid.codes import level_of

from .. import ratelimit
from ..errors import NotFound, RateLimited, Unauthorized, ValidationFailed
from ..extensions import db
from ..models import Area, InformantAssignment, Role, Team, User
from ..realtime import names
from .access import require_role, within
from .uow import audit, outbox, use_case
from .views import user_view

log = logging.getLogger(__name__)

# A hash to compare against when the user does not exist, so timing does not tell.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


def hash_password(password: str) -> str:
    return generate_password_hash(password)


def _password_matches(password_hash: str, password: str) -> bool:
    """Check a password; under gevent in a native thread, so the hashing (about 0.2 s of
    scrypt) does not stall every other connection of the process."""
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a dependency
        return check_password_hash(password_hash, password)
    if monkey.is_module_patched("threading"):
        import gevent

        pool = gevent.get_hub().threadpool
        return bool(pool.apply(check_password_hash, (password_hash, password)))
    return check_password_hash(password_hash, password)


def issue_device_token(user: User, *, days: int = 90) -> str:
    """A long-lived token for one phone; revoked with the user's other tokens."""
    return issue_token(user, seconds=days * 86400, kind="device")


def hash_passwords(
    passwords: list[str], *, progress: Callable[[int], None] | None = None
) -> list[str]:
    """Hash many passwords on every core; an empty one gives an unusable hash."""
    from concurrent.futures import ProcessPoolExecutor

    from .informants import NO_PASSWORD

    hashes = [NO_PASSWORD] * len(passwords)
    todo = [(i, p) for i, p in enumerate(passwords) if p]
    if len(todo) < 8:
        for done, (i, p) in enumerate(todo, start=1):
            hashes[i] = generate_password_hash(p)
            if progress is not None:
                progress(done)
        return hashes
    with ProcessPoolExecutor() as pool:
        results = pool.map(generate_password_hash, [p for _, p in todo], chunksize=8)
        for done, ((i, _), hashed) in enumerate(zip(todo, results, strict=True), start=1):
            hashes[i] = hashed
            if progress is not None and (done % 8 == 0 or done == len(todo)):
                progress(done)
    return hashes


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="gridwatch-token")


def authenticate(username: str, password: str) -> User:
    """The user with this name and password; repeated failures lock the name for a while.

    Unknown names are counted and locked like real ones, so a lockout does not tell
    whether a name exists.
    """
    wait = ratelimit.locked_out(username)
    if wait:
        raise RateLimited(
            f"too many failed sign-ins: try again in {max(1, wait // 60)} min", retry_after=wait
        )
    user = db.session.scalar(db.select(User).where(User.username == username))
    if user is None:
        _password_matches(_DUMMY_HASH, password)
        ratelimit.record_failure(username)
        raise Unauthorized("wrong username or password")
    if not _password_matches(user.password_hash, password) or not user.active:
        if ratelimit.record_failure(username):
            _record_lockout(user.id)
        raise Unauthorized("wrong username or password")
    ratelimit.clear_failures(username)
    return user


@use_case
def _record_lockout(user_id: int) -> None:
    user = db.session.get(User, user_id)
    if user is not None:
        audit(
            "user.locked_out",
            "user",
            user.id,
            area_code=user.area_code,
            after={"failures": ratelimit.LOCKOUT_FAILURES, "window": ratelimit.LOCKOUT_WINDOW},
        )


def token_subject(token: str) -> int | None:
    """The user id a token names, if its signature holds; no database read, no expiry check
    (for counting requests, not for letting them in)."""
    if not token or len(token) > 1000:
        return None
    try:
        data = _serializer().loads(token)
    except BadSignature:
        return None
    uid = data.get("u") if isinstance(data, dict) else None
    return uid if isinstance(uid, int) else None


def issue_token(user: User, *, seconds: int | None = None, kind: str = "login") -> str:
    """A signed token naming the user; it expires and dies when the user is disabled."""
    ttl = seconds if seconds is not None else current_app.config["GRIDWATCH_TOKEN_HOURS"] * 3600
    payload = {"u": user.id, "v": user.token_version, "k": kind, "e": int(time.time()) + ttl}
    return str(_serializer().dumps(payload))


def user_from_token(token: object) -> User:
    if not isinstance(token, str) or not token or len(token) > 1000:
        raise Unauthorized("a valid token is required")
    try:
        data = _serializer().loads(token)
    except BadSignature as exc:
        raise Unauthorized("the token is not valid") from exc
    if not isinstance(data, dict) or data.get("e", 0) < time.time():
        raise Unauthorized("the token has expired; sign in again")
    user = db.session.get(User, data.get("u"))
    if user is None or not user.active or user.token_version != data.get("v"):
        raise Unauthorized("the token has been revoked; sign in again")
    return user


def user_from_session_id(session_id: str) -> User | None:
    """Flask-Login's loader: the id carries the token version, so revocation ends sessions."""
    try:
        uid, version = (int(part) for part in session_id.split(":", 1))
    except ValueError:
        return None
    user = db.session.get(User, uid)
    if user is None or not user.active or user.token_version != version:
        return None
    return user


@use_case
def create_user(
    *,
    username: str,
    password: str,
    role: str,
    area_code: str = "620100",
    cell_code: str | None = None,
    team_id: int | None = None,
    actor: User | None = None,
    password_hash: str | None = None,
) -> User:
    if role not in {r.value for r in Role}:
        raise ValidationFailed(f"unknown role {role!r}", field="role")
    if db.session.scalar(db.select(User.id).where(User.username == username)) is not None:
        raise ValidationFailed(f"username {username!r} is taken", field="username")
    try:
        level_of(area_code)
    except ValueError as exc:
        raise ValidationFailed(str(exc), field="area") from exc
    if db.session.get(Area, area_code) is None and area_code != "620100":
        raise ValidationFailed(f"no area {area_code}", field="area")
    user = User(
        username=username,
        password_hash=password_hash or hash_password(password),
        role=role,
        area_code=area_code,
    )
    db.session.add(user)
    db.session.flush()
    if cell_code is not None:
        if role != Role.INFORMANT:
            raise ValidationFailed("only informants are assigned to a cell", field="cell")
        cell = db.session.get(Area, cell_code)
        if cell is None or cell.level != "cell":
            raise ValidationFailed(f"no cell {cell_code}", field="cell")
        user.area_code = cell_code
        db.session.add(InformantAssignment(user_id=user.id, cell_code=cell_code))
        audit(  # coverage in the bulletins is read from the audit log
            "informant.assigned",
            "user",
            user.id,
            actor=actor,
            area_code=cell_code,
            after={"cell_code": cell_code},
        )
    if team_id is not None:
        if role != Role.TEAM_LEADER:
            raise ValidationFailed("only team leaders lead a team", field="team")
        team = db.session.get(Team, team_id)
        if team is None:
            raise ValidationFailed(f"no team {team_id}", field="team")
        team.leader_id = user.id
    audit(
        "user.created",
        "user",
        user.id,
        actor=actor,
        area_code=user.area_code,
        after={"username": username, "role": role, "area_code": user.area_code},
    )
    return user


def _managed_user(actor: User | None, username: str) -> User:
    """A user the actor may manage: admins within their area; the command line anyone."""
    if actor is not None:
        require_role(actor, {Role.ADMIN})
    user = db.session.scalar(db.select(User).where(User.username == username))
    if user is None or (actor is not None and not within(user.area_code, actor.area_code)):
        raise NotFound(f"no user {username!r}")
    return user


@use_case
def set_active(actor: User | None, username: str, active: bool) -> dict[str, Any]:
    """Disable or enable an account. Disabling ends its tokens, sessions and sockets."""
    user = _managed_user(actor, username)
    if actor is not None and user.id == actor.id and not active:
        raise ValidationFailed("you cannot disable your own account", field="username")
    before = {"active": user.active, "token_version": user.token_version}
    user.active = active
    if not active:
        user.token_version += 1
    audit(
        "user.enabled" if active else "user.disabled",
        "user",
        user.id,
        actor=actor,
        area_code=user.area_code,
        before=before,
        after={"active": user.active, "token_version": user.token_version},
    )
    if not active:
        _announce_revoked(user)
    return {"user": user_view(user), "active": user.active}


@use_case
def revoke_tokens(actor: User | None, username: str) -> dict[str, Any]:
    """End every token, session and socket of a user (a lost phone); they sign in again."""
    user = _managed_user(actor, username)
    before = {"token_version": user.token_version}
    user.token_version += 1
    audit(
        "user.tokens_revoked",
        "user",
        user.id,
        actor=actor,
        area_code=user.area_code,
        before=before,
        after={"token_version": user.token_version},
    )
    _announce_revoked(user)
    return {"user": user_view(user)}


REVOCATIONS_KEY = "gridwatch:revocations"


def count_revocation() -> None:
    """Bump the counter every web process watches: a change means "look for revoked
    sockets now" (realtime/handlers.py). Lost when Redis is down; the watchers also look
    once a minute regardless."""
    from ..queue import redis_client

    try:
        client = redis_client()
        if client is not None:
            client.incr(REVOCATIONS_KEY)
    except Exception:
        log.warning("could not count a revocation; sockets close within a minute", exc_info=True)


def revocation_count() -> int | None:
    """The counter, or None when there is no Redis to ask."""
    from ..queue import redis_client

    client = redis_client()
    if client is None:
        return None
    value = client.get(REVOCATIONS_KEY)
    return int(value) if value else 0


def _announce_revoked(user: User) -> None:
    """Tell the user's phones at once; each web process also drops such sockets itself
    (see `realtime.handlers.drop_revoked`), so a client that ignores this still loses them."""
    box = outbox()
    box.after_commit.append(count_revocation)
    for namespace in (names.INFORMANT, names.OPERATOR, names.TEAM):
        box.emit(
            namespace,
            names.SESSION_REVOKED,
            {"message": "this sign-in has ended; sign in again"},
            [names.user_room(user.id)],
        )


@use_case
def record_tokens_issued(actor: User | None, users: list[User], *, days: int, to: str) -> None:
    """A device token is a key to someone's account: who handed which out, and where to."""
    for user in users:
        audit(
            "user.token_issued",
            "user",
            user.id,
            actor=actor,
            area_code=user.area_code,
            after={"kind": "device", "days": days, "to": to},
        )
