"""Another program holds the SQLite database's write lock while informants stream reports."""

from __future__ import annotations

import time

from tests.faults import processes
from tests.faults.conftest import Deploy
from tests.faults.locks import exclusive_lock
from tests.faults.stream import Stream, tally

UNAVAILABLE = "error ack unavailable"


def test_locked_database_answers_retry_never_a_false_ack(deploy: Deploy) -> None:
    gw = deploy()
    # The phone waits 20 s for an ack; the server must say "unavailable" well before that.
    with Stream(gw.url, gw.tokens(), pause=0.2, timeout=15) as stream:
        stream.wait_acknowledged(40, timeout=60)
        with exclusive_lock(gw.database_path):
            locked = time.monotonic()
            # Every informant is answered: retry later. None is told its report is stored.
            processes.wait_until(
                lambda: stream.failures()[UNAVAILABLE] >= len(stream.informants),
                timeout=15,
                what="every informant gets a retryable 'unavailable' error ack",
            )
            first_error_s = time.monotonic() - locked
            started = time.monotonic()
            responsive = gw.healthy()  # reads go on; nothing waits in SQLite's busy handler
            health_s = time.monotonic() - started
            released = time.monotonic()
        stream.wait_acknowledged(stream.acknowledged() + 40, timeout=30)
        stream.finish(timeout=30)
    rows = gw.store.reports(s.client_id for s in stream.sent())
    figures = tally(f"SQLite locked by another process for {released - locked:.1f} s", stream, rows)
    figures.check()
    # The lock lets nothing commit: a new report acknowledged while it was held is a lie.
    while_locked = [
        s.client_id
        for s in stream.sent()
        if s.ack is not None and not s.duplicate and locked + 0.5 < s.acked_at < released
    ]
    assert not while_locked, f"acknowledged while the database was locked: {while_locked}"
    assert responsive and health_s < 2, f"the server stalled: /api/health took {health_s:.1f}s"
    print(
        f"'unavailable' answers during the lock: {stream.failures()[UNAVAILABLE]} (all "
        f"{len(stream.informants)} informants answered within {first_error_s:.1f} s), then "
        f"each retried and stored once; /api/health answered in {health_s:.2f} s meanwhile"
    )
