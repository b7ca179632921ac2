"""Deployments to break: `gridwatch serve` (web, RQ worker, embedded Redis) on a seeded
database, one per test, and the informants' tokens."""

from __future__ import annotations

import re
import shutil
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
import requests
import sqlalchemy as sa

from tests.conftest import Server, base_env, postgres_url, run_cli, spawn_serve
from tests.faults import processes
from tests.faults.database import Store

CELLS = 60
INFORMANTS = 20
# A sweep every second, so that what a lost job left undone is picked up soon.
FAULT_ENV = {"GRIDWATCH_SWEEP_INTERVAL_S": "1", "GRIDWATCH_RATE_LIMITS": "off"}
PG_SCHEMA = "gw_faults"  # our own schema: other suites use `public` of the same database


@dataclass
class Deployment:
    """A running `gridwatch serve` and a reader of its database."""

    server: Server
    store: Store
    port: int
    # Tokens stay valid on every copy of one seeded database (same users, same secret).
    known_tokens: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def pid(self) -> int:
        return self.server.process.pid

    def child(self, role: str) -> int:
        pid = processes.child_of(self.pid, role)
        assert pid is not None, f"no {role} under gridwatch serve\n{self.log_tail()}"
        return pid

    def redis_connection(self) -> redis.Redis:
        """A connection to the embedded Redis, at the address serve printed."""
        found = re.search(r"embedded Redis at (\S+);", self.log_tail(200_000))
        assert found, f"serve did not say where its Redis is\n{self.log_tail()}"
        return redis.Redis.from_url(found.group(1))

    @property
    def database_path(self) -> Path:
        return self.server.instance / "gridwatch.db"

    def swept(self) -> int:
        """Reports the sweep has triaged, by the worker's log: work whose job was lost."""
        return sum(int(n) for n in re.findall(r"sweep: triaged (\d+)", self.log_tail(10**7)))

    def log_tail(self, chars: int = 4000) -> str:
        return (self.server.instance / "serve.log").read_text(errors="replace")[-chars:]

    def healthy(self) -> bool:
        try:
            return requests.get(f"{self.url}/api/health", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def wait_healthy(self, timeout: float = 60) -> None:
        def check() -> bool:
            if self.server.process.poll() is not None:
                raise AssertionError(f"gridwatch serve exited:\n{self.log_tail()}")
            return self.healthy()

        processes.wait_until(check, timeout, "the server answers /api/health with 200")

    def tokens(self, count: int = INFORMANTS) -> list[str]:
        """Tokens of `count` informants (logging in hashes a password: 0.1 s each)."""
        if len(self.known_tokens) < count:
            names = self.store.informants(count)
            assert len(names) == count, names
            with ThreadPoolExecutor(4) as pool:
                self.known_tokens[:] = pool.map(self.server.token, names)
        return self.known_tokens[:count]

    def stop(self) -> None:
        self.server.stop()
        self.store.close()

    def stop_later(self, reaper: list[Deployment]) -> None:
        """SIGTERM now; the `reaper` waits for the exit at the end of the session, so that
        one test's orderly shutdown overlaps the next test's start."""
        if self.server.process.poll() is None:
            self.server.process.send_signal(signal.SIGTERM)
        self.store.close()
        reaper.append(self)


def launch(
    instance: Path, env: dict[str, str], store_url: str, tokens: list[str] | None = None
) -> Deployment:
    server = spawn_serve(instance, env)
    port = int(server.url.rsplit(":", 1)[1])
    deployment = Deployment(server, Store(store_url), port, tokens if tokens is not None else [])
    try:
        deployment.wait_healthy()
    except BaseException:
        deployment.stop()
        raise
    return deployment


@dataclass
class Seed:
    """The seeded database to copy, and its informants' tokens once someone logged in."""

    database: Path
    tokens: list[str]


@pytest.fixture(scope="session")
def seeded_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Seed:
    """A migrated and seeded SQLite database, copied by every SQLite deployment."""
    instance = tmp_path_factory.mktemp("faults-seed")
    env = base_env(instance)
    run_cli(env, "db", "upgrade")
    run_cli(env, "seed-demo", "--cells", str(CELLS))
    return Seed(instance / "gridwatch.db", [])


def _postgres_store_url() -> str:
    url = sa.make_url(postgres_url()).update_query_dict({"options": f"-csearch_path={PG_SCHEMA}"})
    return url.render_as_string(hide_password=False)


Deploy = Callable[..., Deployment]


@pytest.fixture(scope="session")
def reaper() -> Iterator[list[Deployment]]:
    """Deployments told to stop; each is waited for (or killed) before the session ends."""
    stopping: list[Deployment] = []
    yield stopping
    for deployment in stopping:
        deployment.server.stop()


@pytest.fixture
def deploy(tmp_path: Path, seeded_sqlite: Seed, reaper: list[Deployment]) -> Iterator[Deploy]:
    """Start a deployment on `database` ("sqlite" or "postgresql"); stopped after the test."""
    started: list[Deployment] = []

    def start(database: str = "sqlite", **extra_env: str) -> Deployment:
        instance = tmp_path / f"gw-{len(started)}"
        instance.mkdir()
        env = base_env(instance, **{**FAULT_ENV, **extra_env})
        tokens = None
        if database == "postgresql":
            url = _postgres_store_url()
            engine = sa.create_engine(url, poolclass=sa.NullPool)
            with engine.begin() as conn:
                conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
                conn.execute(sa.text(f"CREATE SCHEMA {PG_SCHEMA}"))
            engine.dispose()
            env["DATABASE_URL"] = url
            run_cli(env, "db", "upgrade")
            run_cli(env, "seed-demo", "--cells", str(CELLS))
        else:
            shutil.copy(seeded_sqlite.database, instance / "gridwatch.db")
            url = f"sqlite:///{instance / 'gridwatch.db'}"
            tokens = seeded_sqlite.tokens
        deployment = launch(instance, env, url, tokens)
        started.append(deployment)
        return deployment

    yield start
    for deployment in started:
        deployment.stop_later(reaper)
