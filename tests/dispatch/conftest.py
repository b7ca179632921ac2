"""An app in this process on a real database (no Redis: nothing here enqueues).

Every test here runs twice: on a SQLite file and on PostgreSQL (`TEST_DATABASE_URL`; CI sets
it, and locally the PostgreSQL half skips without it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from flask_migrate import upgrade

from dispatch import create_app
from dispatch.extensions import db
from tests.conftest import postgres_url, reset_database


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """DATABASE_URL for the app under test: unset (a SQLite file in the instance folder), or
    an emptied PostgreSQL schema."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    if request.param == "postgresql":
        url = postgres_url()
        reset_database({"DATABASE_URL": url})
        monkeypatch.setenv("DATABASE_URL", url)
    return str(request.param)


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database: str) -> Iterator[Flask]:
    monkeypatch.setenv("GRIDWATCH_INSTANCE", str(tmp_path))
    for name in ("REDIS_URL", "GRIDWATCH_ENV"):
        monkeypatch.delenv(name, raising=False)
    application = create_app({"TESTING": True})
    with application.app_context():
        upgrade()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()
