"""Shared fixtures: a real Gridwatch server in its own processes, and real clients."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
GRIDWATCH = [sys.executable, "-m", "dispatch.cli"]
DEMO_PASSWORD = "gridwatch-demo"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_cli(
    env: dict[str, str], *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GRIDWATCH, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=check,
        timeout=300,
    )


@dataclass
class Server:
    """A running `gridwatch serve`: embedded Redis, RQ worker and gunicorn."""

    url: str
    env: dict[str, str]
    instance: Path
    process: subprocess.Popen[bytes]
    log: Any = None
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, username: str) -> str:
        if username not in self.tokens:
            r = requests.post(
                f"{self.url}/api/auth/token",
                json={"username": username, "password": DEMO_PASSWORD},
                timeout=10,
            )
            r.raise_for_status()
            self.tokens[username] = r.json()["token"]
        return self.tokens[username]

    def api(self, method: str, path: str, username: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token(username)}", **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.url}{path}", headers=headers, timeout=15, **kwargs)

    def wait_healthy(self, timeout: float = 60) -> None:
        """Until /api/health answers 200; the end of the log if serve exits or never does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.url}: serve exited\n{self.log_text()}")
            try:
                if requests.get(f"{self.url}/api/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass  # not listening yet, or busy loading
            time.sleep(0.2)
        raise RuntimeError(f"{self.url}: not healthy in {timeout:.0f} s\n{self.log_text()}")

    def log_text(self, chars: int = 8000) -> str:
        if self.log is None:
            return ""
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.log is not None:
            self.log.close()
            self.log = None


def base_env(instance: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    env.update(
        GRIDWATCH_INSTANCE=str(instance),
        GRIDWATCH_RATE_LIMITS="off",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def postgres_url() -> str:
    """TEST_DATABASE_URL, or a skip (a failure in CI, where it must be set)."""
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("CI must set TEST_DATABASE_URL (.ci/run starts PostgreSQL)")
        pytest.skip("PostgreSQL tests need TEST_DATABASE_URL (set by .ci/run)")
    return url


def reset_database(env: dict[str, str]) -> None:
    """On a shared PostgreSQL, start from an empty schema."""
    url = env.get("DATABASE_URL", "")
    if url.startswith("postgresql"):
        import sqlalchemy as sa

        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
        engine.dispose()


def start_server(instance: Path, *, cells: int = 200, **extra_env: str) -> Server:
    instance.mkdir(parents=True, exist_ok=True)
    env = base_env(instance, **extra_env)
    reset_database(env)
    run_cli(env, "db", "upgrade")
    run_cli(env, "seed-demo", "--cells", str(cells))
    server = spawn_serve(instance, env)
    try:
        server.wait_healthy()
    except BaseException:
        server.stop()
        raise
    return server


def spawn_serve(instance: Path, env: dict[str, str], *, log_name: str = "serve.log") -> Server:
    """`gridwatch serve` on a free port, in its own process group (as under a terminal)."""
    port = free_port()
    log = open(instance / log_name, "ab")
    process = subprocess.Popen(
        [*GRIDWATCH, "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return Server(f"http://127.0.0.1:{port}", env, instance, process, log)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """One server per database; the integration suite runs against each."""
    extra = {"GRIDWATCH_ACK_TIMEOUT_S": "3", "GRIDWATCH_SWEEP_INTERVAL_S": "2"}
    if request.param == "postgresql":
        extra["DATABASE_URL"] = postgres_url()
    srv = start_server(tmp_path_factory.mktemp(f"gw-{request.param}"), **extra)
    yield srv
    srv.stop()
