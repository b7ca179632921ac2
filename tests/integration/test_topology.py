"""Many machines, on loopback: two web processes, one Redis (Socket.IO message queue and RQ
broker, over TCP), two RQ workers and PostgreSQL. A phone on web 1 and an operator on web 2
see each other's events, and whichever worker triages broadcasts to both."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis
import sqlalchemy as sa
from rq import Worker

from dispatch.runtime import redis_executable
from tests.conftest import (
    GRIDWATCH,
    ROOT,
    Server,
    base_env,
    free_port,
    postgres_url,
    run_cli,
    spawn_serve,
)
from tests.integration.clients import Recorder

CENTRE = {"lat": 36.0611, "lon": 103.8343}


@dataclass
class Topology:
    webs: list[Server]
    workers: list[subprocess.Popen[bytes]]
    redis_url: str


SCHEMA = "gw_topology"  # our own: the session's PostgreSQL server lives in `public`


def _own_schema(url: str) -> str:
    """An emptied schema of our own in the test database, and a URL that uses it."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        conn.execute(sa.text(f"CREATE SCHEMA {SCHEMA}"))
    engine.dispose()
    own = sa.make_url(url).update_query_dict({"options": f"-csearch_path={SCHEMA}"})
    return own.render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    database_url = _own_schema(postgres_url())  # first: a skip must leave nothing behind
    instance = tmp_path_factory.mktemp("gw-topology")
    redis_port = free_port()
    redis_server = subprocess.Popen(
        [redis_executable(), "--port", str(redis_port), "--bind", "127.0.0.1", "--save", ""],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    env = base_env(
        instance,
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        GRIDWATCH_ACK_TIMEOUT_S="30",
        GRIDWATCH_SWEEP_INTERVAL_S="2",
    )
    webs: list[Server] = []
    workers: list[subprocess.Popen[bytes]] = []
    try:
        run_cli(env, "db", "upgrade")
        run_cli(env, "seed-demo", "--cells", "100")
        for n in (1, 2):
            with open(instance / f"worker-{n}.log", "wb") as log:
                workers.append(
                    subprocess.Popen(
                        [*GRIDWATCH, "worker"],
                        env=env,
                        cwd=ROOT,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        for n in (1, 2):
            # With REDIS_URL set, `serve` runs the web process only (gunicorn -w 1).
            webs.append(spawn_serve(instance, env, log_name=f"web-{n}.log"))
        for web in webs:
            web.wait_healthy()
        yield Topology(webs, workers, redis_url)
    finally:
        for web in webs:
            web.stop()
        for worker in workers:
            worker.terminate()
            try:
                worker.wait(15)
            except subprocess.TimeoutExpired:
                worker.kill()
        redis_server.terminate()
        redis_server.wait(10)


def test_two_webs_two_workers_one_redis_one_database(topology: Topology) -> None:
    web1, web2 = topology.webs
    connection = redis.Redis.from_url(topology.redis_url)
    deadline = time.monotonic() + 30
    while len(Worker.all(connection=connection)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(Worker.all(connection=connection)) == 2, "both RQ workers registered"

    informant = Recorder(web1.url, "/informant", web1.token("informant"))
    leader = Recorder(web1.url, "/team", web1.token("leader"))
    operator = Recorder(web2.url, "/operator", web2.token("operator"))
    try:
        # Phone on web 1 → operator on web 2, and the worker's triage reaches web 2 too.
        ack = informant.call(
            "report:submit",
            {
                "client_id": str(uuid.uuid4()),
                "category": "fire",
                "text": "多机部署测试：仓库起火",
                "severity": 4,
                **CENTRE,
            },
        )
        assert ack["ok"], ack
        rid = ack["report"]["id"]
        operator.wait_for("report:new", lambda d: d["report"]["id"] == rid)
        operator.wait_for("report:triaged", lambda d: d["id"] == rid)
        # Operator on web 2 → leader on web 1, and the leader's answer back to web 2.
        created = operator.call("incident:create", {"report_ids": [rid]})
        assert created["ok"], created
        incident = created["incident"]
        teams = web2.api("GET", "/api/teams?kind=professional_rescue", "operator").json()
        ark = next(t["id"] for t in teams if t["name"] == "方舟救援队")
        dispatched = operator.call(
            "incident:dispatch", {"incident_id": incident["id"], "team_id": ark}
        )
        assert dispatched["ok"], dispatched
        task = dispatched["task"]
        leader.wait_for("task:offered", lambda d: d["task"]["id"] == task["id"])
        acked = leader.call("task:ack", {"task_id": task["id"]})
        assert acked["ok"], acked
        operator.wait_for(
            "task:updated",
            lambda d: d["task"]["id"] == task["id"] and d["task"]["status"] == "acknowledged",
        )
        # Both web processes read the same database.
        seen = web1.api("GET", f"/api/incidents/{incident['id']}", "operator").json()
        assert seen["status"] == "acknowledged", seen
    finally:
        for client in (informant, leader, operator):
            client.close()
