"""Gridwatch: the application. `create_app` is the only entry point; nothing runs at import."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import socketio as socketio_lib
from flask import Flask, Response, has_request_context, request, session
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from .config import PROJECT_ROOT, Settings
from .extensions import babel, csrf, db, login_manager, migrate, socketio

LANGUAGES = ("zh", "en")


def create_app(config: dict[str, Any] | None = None, *, async_mode: str | None = None) -> Flask:
    """Build the app; `config` overrides settings read from the environment."""
    settings = Settings.from_env()
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    app = Flask(
        __name__,
        instance_path=str(settings.instance_path),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config.update(settings.flask_config())
    app.config.update(config or {})
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    db.init_app(app)
    with app.app_context():
        _configure_engine(db.engine)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "dispatch" / "migrations"))
    login_manager.init_app(app)
    login_manager.login_view = "web.login"
    babel.init_app(app, locale_selector=_select_locale, timezone_selector=lambda: "Asia/Shanghai")

    from .services.auth import user_from_session_id

    login_manager.user_loader(user_from_session_id)

    from . import fastjson

    mode = async_mode or app.config.get("GRIDWATCH_ASYNC_MODE") or "threading"
    url = app.config.get("REDIS_URL")
    # Chosen here, not by URL scheme, so that unix:// sockets reach Redis too.
    manager = socketio_lib.RedisManager(url, channel="gridwatch") if url else socketio_lib.Manager()
    socketio.init_app(
        app,
        client_manager=manager,
        async_mode=mode,
        # A phone on a bad network: tolerate long gaps before calling it gone.
        ping_interval=25,
        ping_timeout=20,
        max_http_buffer_size=256 * 1024,
        cors_allowed_origins=app.config.get("GRIDWATCH_CORS_ORIGINS", []),
        logger=False,
        engineio_logger=False,
        json=fastjson,
    )
    from .realtime.handlers import register

    register(socketio)

    from . import ratelimit

    ratelimit.init_app(app)
    from .api import bp as api_bp
    from .web import bp as web_bp

    csrf.init_app(app)
    csrf.exempt(api_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(web_bp)
    from .open311 import register as register_open311

    register_open311(app)
    from .cli import register_flask_commands

    register_flask_commands(app)
    app.after_request(_security_headers)
    proxies = int(app.config.get("GRIDWATCH_TRUSTED_PROXIES") or 0)
    if proxies:
        # Behind nginx: the client's address (for limits) and scheme come from its headers,
        # believed only as far as the proxies we run.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies
        )
    return app


def content_security_policy(tile_url: str | None) -> str:
    """Scripts, styles and connections from this site only; images also from the tile server.

    No inline script or style, no eval, no plugins, no framing. Leaflet sets styles through
    the CSSOM, which a policy does not restrict.
    """
    images = ["'self'", "data:", "blob:"]
    if tile_url:
        parts = urlsplit(tile_url.replace("{s}", "a"))
        if parts.scheme in {"http", "https"} and parts.netloc:
            host = parts.netloc.replace("a.", "*.", 1) if "{s}" in tile_url else parts.netloc
            images.append(f"{parts.scheme}://{host}")
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {' '.join(images)}",
            "connect-src 'self'",
            "worker-src 'self'",
            "manifest-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def _security_headers(response: Response) -> Response:
    """Every answer: a strict CSP, no type sniffing, no framing, no referrer leaving the site."""
    from flask import current_app

    headers = response.headers
    headers.setdefault(
        "Content-Security-Policy",
        content_security_policy(current_app.config.get("GRIDWATCH_TILE_URL")),
    )
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(self), geolocation=(self), microphone=()")
    if current_app.config.get("SESSION_COOKIE_SECURE"):
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def _select_locale() -> str:
    if not has_request_context():  # the command line and the jobs speak Chinese
        return "zh"
    lang = request.args.get("lang")
    if lang in LANGUAGES:
        session["lang"] = lang
        return lang
    if session.get("lang") in LANGUAGES:
        return str(session["lang"])
    return request.accept_languages.best_match(LANGUAGES, default="zh") or "zh"


def _configure_engine(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (savepoints work).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn: Any) -> None:
        from .services.uow import in_unit_of_work

        # A unit of work takes the write lock up front: a deferred transaction that reads
        # and then writes fails at once if another process committed in between.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if in_unit_of_work() else "BEGIN")


__all__ = ["create_app", "socketio"]
