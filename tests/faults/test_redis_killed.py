"""Redis is killed (SIGKILL) mid-stream; `gridwatch serve` starts it again."""

from __future__ import annotations

import signal
from datetime import UTC, datetime

from tests.faults import processes
from tests.faults.conftest import Deploy
from tests.faults.stream import Stream, tally
from tests.integration.clients import Recorder

ACCEPTED_WHILE_DOWN = 30


def test_killed_redis_loses_and_doubles_nothing(deploy: Deploy) -> None:
    gw = deploy()
    operator = Recorder(gw.url, "/operator", gw.server.token("operator"))
    try:
        # 20 reports a second: the worker keeps up, so what lags behind is the fault's doing.
        with Stream(gw.url, gw.tokens(), pause=1.0) as stream:
            stream.wait_acknowledged(30, timeout=60)
            redis = gw.child("redis")
            # Hold serve still (SIGSTOP) so that Redis stays down for a while, not 0.2 s.
            processes.kill([gw.pid], signal.SIGSTOP)
            try:
                processes.kill([redis], signal.SIGKILL)
                before = stream.acknowledged()
                # The database is the source of truth: reports are accepted without Redis.
                stream.wait_acknowledged(before + ACCEPTED_WHILE_DOWN, timeout=30)
                while_down = stream.acknowledged() - before
                announced = len(operator.received("report:new"))
            finally:
                processes.kill([gw.pid], signal.SIGCONT)
            processes.wait_until(
                lambda: processes.child_of(gw.pid, "redis") not in (None, redis),
                timeout=15,
                what="serve starts Redis again",
            )
            # Broadcasts flow again once the web process has subscribed to Redis anew.
            operator.wait_for(
                "report:new", lambda _: len(operator.received("report:new")) > announced, 20
            )
            heard_again = datetime.now(UTC)
            stream.wait_acknowledged(stream.acknowledged() + 30, timeout=60)
            stream.finish(timeout=30)
        rows = gw.store.reports(s.client_id for s in stream.sent())
        figures = tally("SIGKILL of Redis, started again by serve", stream, rows)
        figures.check()
        assert not stream.failures(), f"a report failed while Redis was down\n{figures}"

        def untriaged() -> list[int]:
            fresh = gw.store.reports(s.client_id for s in stream.sent())
            return [r[0].id for r in fresh.values() if r[0].triaged_at is None]

        left = len(untriaged())
        # Their jobs were never enqueued, or died with Redis: the sweep triages them.
        processes.wait_until(
            lambda: not untriaged(), timeout=40, what="the sweep triages every report"
        )
        rows = gw.store.reports(s.client_id for s in stream.sent())
        ids = sorted(r[0].id for r in rows.values())
        triaged = gw.store.audit_count("report.triaged", ids)
        twice = {i: n for i, n in triaged.items() if n != 1}
        assert not twice and len(triaged) == len(ids), f"not triaged exactly once: {twice}"

        # Every triage done after Redis was back is heard; one committed as Redis died,
        # or published before the web process resubscribed, is not (at most once).
        late = {r[0].id for r in rows.values() if (r[0].triaged_at or heard_again) > heard_again}

        def unheard() -> set[int]:
            return set(ids) - {e.get("id") for e in operator.received("report:triaged")}

        processes.wait_until(
            lambda: not unheard() & late,
            timeout=15,
            what=f"the operator hears every triage done after Redis came back: {late}",
        )
        swept = gw.swept()
        assert swept > 0, "the outage left the sweep nothing to do: it proved nothing"
        print(
            f"accepted while Redis was down: {while_down}; untriaged when the stream ended: "
            f"{left}; triaged by the sweep: {swept}; every report triaged exactly once: "
            f"{len(ids)}; triages the operator heard: {len(ids) - len(unheard())} of "
            f"{len(ids)} (required: the {len(late)} done after broadcasts flowed again); "
            f"missed {len(unheard())} (committed as Redis died, or before the web resubscribed)"
        )
    finally:
        operator.close()
