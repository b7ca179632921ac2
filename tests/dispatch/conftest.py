"""An app in this process on a real SQLite file (no Redis: nothing here enqueues)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from flask_migrate import upgrade

from dispatch import create_app
from dispatch.extensions import db


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    monkeypatch.setenv("GRIDWATCH_INSTANCE", str(tmp_path))
    for name in ("REDIS_URL", "DATABASE_URL", "GRIDWATCH_ENV"):
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
