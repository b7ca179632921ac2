"""A live app for service tests: a real SQLite file, a real Redis, and an RQ worker run in
this process, so that tests move the clock (time-machine) instead of sleeping through it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask_migrate import upgrade
from rq import Queue
from rq.worker import SimpleWorker

from dispatch import create_app
from dispatch.extensions import db
from dispatch.models import Report, User
from dispatch.queue import QUEUE_NAME
from dispatch.runtime import EmbeddedRedis
from dispatch.schemas import ReportSubmit
from dispatch.services import areas, auth, reports
from tests.dispatch.test_informants import CELLS, small_grid

# Noon in Lanzhou on an ordinary day: no night bonus unless a test moves the clock.
NOON = datetime(2026, 11, 10, 4, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    yield server.start()
    server.stop()


@contextmanager
def live_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str, grid: list[Any]
) -> Iterator[Flask]:
    """The app with a real Redis (jobs run in this process by `work`) on this grid."""
    monkeypatch.setenv("GRIDWATCH_INSTANCE", str(tmp_path))
    monkeypatch.setenv("REDIS_URL", redis_url)
    for name in ("GRIDWATCH_ENV", "GRIDWATCH_TRIAGE_RULES"):
        monkeypatch.delenv(name, raising=False)
    connection = redis.Redis.from_url(redis_url)
    connection.flushdb()
    app = create_app({"TESTING": True})
    with app.app_context():
        upgrade()
        areas.save_areas(grid)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    connection.close()


@pytest.fixture
def live(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str, database: str
) -> Iterator[Flask]:
    with live_app(tmp_path, monkeypatch, redis_url, small_grid()) as app:
        with app.app_context():  # not left pushed: each test pushes its own
            for name, role, area in (
                ("op", "operator", "620102"),
                ("op2", "operator", "620102"),
                ("sup", "supervisor", "620102"),
                ("citysup", "supervisor", "620100"),
            ):
                auth.create_user(
                    username=name, password="x", role=role, area_code=area, password_hash="x"
                )
            for i, cell in enumerate(CELLS[:3], start=1):
                auth.create_user(
                    username=f"inf{i}",
                    password="x",
                    role="informant",
                    cell_code=cell,
                    password_hash="x",
                )
        yield app


def user(name: str) -> User:
    found = db.session.scalar(db.select(User).where(User.username == name))
    assert found is not None
    return found


def work(app: Flask) -> None:
    """Run every queued job in this process, as the RQ worker would."""
    url = app.config["REDIS_URL"]
    connection = redis.Redis.from_url(url)
    worker = SimpleWorker([Queue(QUEUE_NAME, connection=connection)], connection=connection)
    worker.work(burst=True, logging_level="WARNING")
    connection.close()


def sweep(app: Flask) -> None:
    connection = redis.Redis.from_url(app.config["REDIS_URL"])
    Queue(QUEUE_NAME, connection=connection).enqueue("dispatch.jobs.sweep")
    connection.close()
    work(app)


def submit(
    who: str,
    category: str,
    text: str,
    *,
    lat: float = 0.5,
    lon: float = 0.5,
    severity: int | None = 2,
) -> int:
    data = ReportSubmit(
        client_id=uuid.uuid4(), category=category, text=text, lat=lat, lon=lon, severity=severity
    )
    return int(reports.submit_report(user(who), data)["report"]["id"])


def report(report_id: int) -> Report:
    db.session.expire_all()
    found = db.session.get(Report, report_id)
    assert found is not None
    return found


class Emits:
    """What the app broadcast, read from the Socket.IO channel in Redis."""

    def __init__(self, url: str) -> None:
        self.pubsub = redis.Redis.from_url(url).pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe("gridwatch")

    def collect(self) -> list[dict[str, Any]]:
        out = []
        while (message := self.pubsub.get_message(timeout=0.2)) is not None:
            data = json.loads(message["data"])
            if data.get("method") == "emit":
                out.append(data)
        return out

    def close(self) -> None:
        self.pubsub.close()
