"""Settings from environment variables, in one place (12-factor)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value not in (None, "") else default
    except ValueError as exc:
        raise RuntimeError(f"expected a whole number, got {value!r}") from exc


def _list(value: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    if value is None:
        return default
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _choice(value: str | None, choices: tuple[str, ...], default: str) -> str:
    if value in (None, ""):
        return default
    if value not in choices:
        raise RuntimeError(f"expected one of {', '.join(choices)}, got {value!r}")
    return value


@dataclass
class Settings:
    """Everything the app reads from the environment, resolved once."""

    env: str = "development"
    secret_key: str = "dev-only-secret-change-me"
    instance_path: Path = PROJECT_ROOT / "instance"
    database_url: str = ""
    redis_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 5000
    tile_url: str | None = None
    tile_crs: str = "wgs84"
    ack_timeout_s: int | None = None
    rate_limits: bool = True
    token_hours: int = 12
    sweep_interval_s: int = 15
    coverage_days: int = 7
    trusted_proxies: int = 0
    coalesce_ms: int = 100
    group_commit: bool = True
    sensitive_categories: tuple[str, ...] = ("petition", "public_opinion")
    sensitive_level: str = "county"
    sensitive_roles: tuple[str, ...] = ("operator", "supervisor", "admin")
    # Webhooks (services/webhooks.py): attempts per delivery, consecutive failed attempts
    # after which a subscription is disabled, and the networks besides the public internet
    # that receivers may be in (CIDRs, e.g. a city intranet "10.0.0.0/8").
    webhook_max_attempts: int = 8
    webhook_disable_after: int = 24
    webhook_networks: tuple[str, ...] = ()
    # CAP 1.2 (services/cap.py): who the alerts say sent them (an address, no spaces or
    # commas), and an optional public page for their `web`.
    cap_sender: str | None = None
    cap_web: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: os._Environ[str] | dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        instance = Path(env.get("GRIDWATCH_INSTANCE", PROJECT_ROOT / "instance")).resolve()
        gw_env = env.get("GRIDWATCH_ENV", "development")
        secret = env.get("SECRET_KEY")
        if gw_env == "production" and not secret:
            raise RuntimeError("SECRET_KEY must be set when GRIDWATCH_ENV=production")
        ack = env.get("GRIDWATCH_ACK_TIMEOUT_S")
        return cls(
            env=gw_env,
            secret_key=secret or "dev-only-secret-change-me",
            instance_path=instance,
            database_url=env.get("DATABASE_URL") or f"sqlite:///{instance / 'gridwatch.db'}",
            redis_url=env.get("REDIS_URL") or None,
            host=env.get("HOST", "127.0.0.1"),
            port=_int(env.get("PORT"), 5000),
            tile_url=env.get("GRIDWATCH_TILE_URL") or None,
            tile_crs=env.get("GRIDWATCH_TILE_CRS", "wgs84"),
            ack_timeout_s=_int(ack, 0) or None,
            rate_limits=_bool(env.get("GRIDWATCH_RATE_LIMITS"), True),
            token_hours=_int(env.get("GRIDWATCH_TOKEN_HOURS"), 12),
            sweep_interval_s=_int(env.get("GRIDWATCH_SWEEP_INTERVAL_S"), 15),
            coverage_days=_int(env.get("GRIDWATCH_COVERAGE_DAYS"), 7),
            trusted_proxies=_int(env.get("GRIDWATCH_TRUSTED_PROXIES"), 0),
            coalesce_ms=_int(env.get("GRIDWATCH_COALESCE_MS"), 100),
            group_commit=_bool(env.get("GRIDWATCH_GROUP_COMMIT"), True),
            sensitive_categories=_list(
                env.get("GRIDWATCH_SENSITIVE_CATEGORIES"), cls.sensitive_categories
            ),
            sensitive_level=_choice(
                env.get("GRIDWATCH_SENSITIVE_LEVEL"),
                ("city", "county", "township", "village", "cell"),
                cls.sensitive_level,
            ),
            sensitive_roles=_list(env.get("GRIDWATCH_SENSITIVE_ROLES"), cls.sensitive_roles),
            cap_sender=_cap_sender(env.get("GRIDWATCH_CAP_SENDER")),
            cap_web=env.get("GRIDWATCH_CAP_WEB") or None,
            webhook_max_attempts=_int(env.get("GRIDWATCH_WEBHOOK_MAX_ATTEMPTS"), 8),
            webhook_disable_after=_int(env.get("GRIDWATCH_WEBHOOK_DISABLE_AFTER"), 24),
            webhook_networks=_list(env.get("GRIDWATCH_WEBHOOK_NETWORKS"), ()),
        )

    def flask_config(self) -> dict[str, Any]:
        """The Flask config mapping derived from these settings."""
        return {
            "SECRET_KEY": self.secret_key,
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            "SQLALCHEMY_ENGINE_OPTIONS": _engine_options(self.database_url),
            "REDIS_URL": self.redis_url,
            "GRIDWATCH_ENV": self.env,
            "GRIDWATCH_TILE_URL": self.tile_url,
            "GRIDWATCH_TILE_CRS": self.tile_crs,
            "GRIDWATCH_ACK_TIMEOUT_S": self.ack_timeout_s,
            "GRIDWATCH_RATE_LIMITS": self.rate_limits,
            "GRIDWATCH_TOKEN_HOURS": self.token_hours,
            "GRIDWATCH_SWEEP_INTERVAL_S": self.sweep_interval_s,
            "GRIDWATCH_COVERAGE_DAYS": self.coverage_days,
            "GRIDWATCH_TRUSTED_PROXIES": self.trusted_proxies,
            "GRIDWATCH_COALESCE_MS": self.coalesce_ms,
            "GRIDWATCH_GROUP_COMMIT": self.group_commit,
            "GRIDWATCH_SENSITIVE_CATEGORIES": self.sensitive_categories,
            "GRIDWATCH_SENSITIVE_LEVEL": self.sensitive_level,
            "GRIDWATCH_SENSITIVE_ROLES": self.sensitive_roles,
            "GRIDWATCH_CAP_SENDER": self.cap_sender,
            "GRIDWATCH_CAP_WEB": self.cap_web,
            "GRIDWATCH_WEBHOOK_MAX_ATTEMPTS": self.webhook_max_attempts,
            "GRIDWATCH_WEBHOOK_DISABLE_AFTER": self.webhook_disable_after,
            "GRIDWATCH_WEBHOOK_NETWORKS": self.webhook_networks,
            "BABEL_DEFAULT_LOCALE": "zh",
            "BABEL_TRANSLATION_DIRECTORIES": str(PROJECT_ROOT / "dispatch" / "translations"),
            "BABEL_DEFAULT_TIMEZONE": "Asia/Shanghai",
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            "SESSION_COOKIE_SECURE": self.env == "production",
            # An enrolled phone stays signed in by Flask-Login's remember cookie: same rules.
            "REMEMBER_COOKIE_HTTPONLY": True,
            "REMEMBER_COOKIE_SAMESITE": "Lax",
            "REMEMBER_COOKIE_SECURE": self.env == "production",
            "REMEMBER_COOKIE_DURATION": 90 * 86400,
            # Photos are the largest thing anyone sends (2 MB each, see services/photos.py).
            "MAX_CONTENT_LENGTH": 3 * 1024 * 1024,
            **self.extra,
        }


def _cap_sender(value: str | None) -> str | None:
    if not value:
        return None
    if any(c.isspace() or c == "," for c in value):
        raise RuntimeError(f"GRIDWATCH_CAP_SENDER must have no spaces or commas, got {value!r}")
    return value


def _engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        # Many readers with one writer; wait for the writer instead of failing at once.
        return {"connect_args": {"timeout": 15, "check_same_thread": False}}
    return {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 20}
