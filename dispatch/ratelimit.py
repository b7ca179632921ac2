"""Rate limits and login lockout: Flask-Limiter, counting in Redis.

REST routes are limited by Flask-Limiter's decorators. Socket.IO events have no request of
their own, so `check_report` asks the same limiter and storage directly. Counting lives in
Redis so that every web process shares it; when Redis is down the limiter falls back to
counting in memory, because reports must still be taken in (the database is the truth).

`GRIDWATCH_RATE_LIMITS=off` turns every limit and the lockout off, for load tests.
"""

from __future__ import annotations

import logging
import math
import time

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.errors import RateLimitExceeded
from limits import RateLimitItem, parse

from .errors import RateLimited

log = logging.getLogger(__name__)

# What a person or a phone may do. A flood in one village gives an informant a few reports a
# minute; a script gives thousands.
LOGIN_PER_ADDRESS = "20 per minute"
REPORTS_PER_INFORMANT = "30 per minute;300 per hour"
REST_PER_CALLER = "600 per minute"
# Lockout: this many wrong passwords for one user name within the window locks it.
LOCKOUT_FAILURES = 5
LOCKOUT_WINDOW = f"{LOCKOUT_FAILURES} per 15 minutes"


def _caller_key() -> str:
    """A caller by the user id in their signed token or session, else by address.

    Decided before the view runs; a Bearer token is read without the database, and a forged
    one has no valid signature and counts against its address.
    """
    from flask_login import current_user

    from .services.auth import token_subject

    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        uid = token_subject(header[7:].strip())
        if uid is not None:
            return f"user:{uid}"
    elif current_user.is_authenticated:
        return f"user:{current_user.id}"
    return _address_key()


def _address_key() -> str:
    return f"addr:{request.remote_addr or '-'}"


limiter = Limiter(
    key_func=_caller_key,
    strategy="moving-window",
    headers_enabled=True,
    swallow_errors=True,
    in_memory_fallback_enabled=True,
    key_prefix="gw-limit",
)


def init_app(app: Flask) -> None:
    enabled = bool(app.config.get("GRIDWATCH_RATE_LIMITS", True))
    app.config.setdefault("RATELIMIT_ENABLED", enabled)
    app.config.setdefault("RATELIMIT_STORAGE_URI", _storage_uri(app.config.get("REDIS_URL")))
    limiter.init_app(app)


def _storage_uri(redis_url: str | None) -> str:
    if not redis_url:
        return "memory://"
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url[len("unix://") :]
    return redis_url


def enabled() -> bool:
    return bool(current_app.config.get("RATELIMIT_ENABLED"))


def _hit(limit: str, key: str) -> None:
    """Count one event against every part of `limit`; raise RateLimited when over."""
    if not enabled():
        return
    for item in _parse_many(limit):
        try:
            allowed = limiter.limiter.hit(item, "event", key)
            if allowed:
                continue
            reset_at, _ = limiter.limiter.get_window_stats(item, "event", key)
        except Exception:  # the store is unreachable: take the event rather than lose it
            log.warning("rate limit store unreachable; %s not counted", key, exc_info=True)
            return
        raise RateLimited(
            f"too many requests ({item}); try again later",
            retry_after=max(1, math.ceil(reset_at - time.time())),
        )


def _parse_many(limit: str) -> list[RateLimitItem]:
    return [parse(part) for part in limit.split(";") if part.strip()]


def _limit(name: str, default: str) -> str:
    """A limit from the app's config (tests and deployments tune them), else the default."""
    return str(current_app.config.get(name) or default)


def check_report(user_id: int) -> None:
    """A report from one informant, by socket or REST."""
    _hit(_limit("GRIDWATCH_LIMIT_REPORTS", REPORTS_PER_INFORMANT), f"report:{user_id}")


def _lock_item() -> RateLimitItem:
    return parse(LOCKOUT_WINDOW)


def locked_out(username: str) -> int:
    """Seconds until `username` may try again, or 0 when it is not locked."""
    if not enabled():
        return 0
    item = _lock_item()
    try:
        if limiter.limiter.test(item, "lockout", username):
            return 0
        reset_at, _ = limiter.limiter.get_window_stats(item, "lockout", username)
    except Exception:
        log.warning("rate limit store unreachable; lockout not checked", exc_info=True)
        return 0
    return max(1, math.ceil(reset_at - time.time()))


def record_failure(username: str) -> bool:
    """Count a wrong password; True when this failure locks the account."""
    if not enabled():
        return False
    item = _lock_item()
    try:
        limiter.limiter.hit(item, "lockout", username)
        return not limiter.limiter.test(item, "lockout", username)
    except Exception:
        log.warning("rate limit store unreachable; failure not counted", exc_info=True)
        return False


def clear_failures(username: str) -> None:
    if not enabled():
        return
    try:
        limiter.limiter.clear(_lock_item(), "lockout", username)
    except Exception:
        log.warning("rate limit store unreachable; failures not cleared", exc_info=True)


def retry_after() -> int:
    """Seconds a client over a REST limit should wait, from the limit it broke."""
    try:
        current = limiter.current_limit
        if current is not None:
            return max(1, math.ceil(current.reset_at - time.time()))
    except Exception:
        log.warning("rate limit store unreachable", exc_info=True)
    return 60


def exceeded(exc: RateLimitExceeded) -> RateLimited:
    return RateLimited(
        f"too many requests ({exc.description}); try again later", retry_after=retry_after()
    )


login_limit = limiter.limit(
    lambda: _limit("GRIDWATCH_LIMIT_LOGIN", LOGIN_PER_ADDRESS),
    key_func=_address_key,
    methods=["POST"],
)
rest_limit = limiter.shared_limit(
    lambda: _limit("GRIDWATCH_LIMIT_REST", REST_PER_CALLER), scope="rest"
)
