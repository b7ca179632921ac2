"""The web process is killed (SIGKILL) while informants stream reports with retries."""

from __future__ import annotations

import signal

import pytest

from tests.faults import processes
from tests.faults.conftest import Deploy
from tests.faults.stream import Stream, tally

REPORTS_BETWEEN_KILLS = 30


@pytest.mark.parametrize(
    ("database", "kills"),
    [("sqlite", 2), pytest.param("postgresql", 1, marks=pytest.mark.postgres)],
)
def test_killed_web_loses_and_doubles_nothing(deploy: Deploy, database: str, kills: int) -> None:
    gw = deploy(database)  # PostgreSQL: skipped without TEST_DATABASE_URL, failed in CI
    # Back to back: at each kill every informant has a report in flight.
    with Stream(gw.url, gw.tokens(), pause=0.02) as stream:
        for kill in range(kills):
            # Kill in the thick of it: the stream has been acknowledged again since the last.
            stream.wait_acknowledged(stream.acknowledged() + REPORTS_BETWEEN_KILLS, timeout=60)
            web = processes.web_pids(gw.pid)
            assert len(web) == 2, f"gunicorn master and worker expected, got {web}"
            processes.kill(web, signal.SIGKILL)
            processes.wait_until(
                lambda web=web: (
                    processes.web_pids(gw.pid) and not set(web) & set(processes.web_pids(gw.pid))
                ),
                timeout=10,
                what=f"serve starts a new web process after kill {kill + 1}",
            )
        # Reports are acknowledged again by the restarted web process.
        stream.wait_acknowledged(stream.acknowledged() + REPORTS_BETWEEN_KILLS, timeout=60)
        stream.finish(timeout=30)
    figures = tally(
        f"{kills} x SIGKILL of the web process ({database})",
        stream,
        gw.store.reports(s.client_id for s in stream.sent()),
    )
    figures.check()
    assert figures.retried >= kills, f"kills caught no report in flight\n{figures}"
    assert gw.server.process.poll() is None, "gridwatch serve gave up"
