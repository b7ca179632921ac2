"""SIGTERM to `gridwatch serve` while every informant has a report in flight."""

from __future__ import annotations

import signal
import socket
import time
import uuid

from tests.faults import processes
from tests.faults.conftest import Deploy
from tests.faults.locks import exclusive_lock
from tests.faults.stream import Stream, tally
from tests.integration.clients import Recorder

EXIT_WITHIN_S = 20  # gunicorn's 10 s graceful timeout for open websockets, then the rest


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def test_sigterm_finishes_in_flight_events_then_exits(deploy: Deploy) -> None:
    gw = deploy()
    everything = [gw.pid, *processes.descendants(gw.pid)]
    # One more phone, connected before the signal, that sends only after it.
    late = Recorder(gw.url, "/informant", gw.tokens(len(gw.tokens()) + 1)[-1])
    with Stream(gw.url, gw.tokens(), pause=0.2, timeout=15) as stream:
        stream.wait_acknowledged(40, timeout=60)
        # Another program holds the database for a moment, so that every informant's
        # report is in the middle of being handled when the signal comes.
        with exclusive_lock(gw.database_path):
            processes.wait_until(
                lambda: (
                    sum(1 for s in stream.sent() if s.ack is None and s.attempts)
                    == len(stream.informants)
                ),
                timeout=10,
                what="every informant has a report in flight",
            )
            stream.stop.set()  # and none starts another
            in_flight = [s for s in stream.sent() if s.ack is None]
            term = time.monotonic()
            gw.server.process.send_signal(signal.SIGTERM)
            processes.wait_until(
                lambda: refuses_connections(gw.port),
                timeout=5,
                what="the server stops taking new connections",
            )
            refused_after = time.monotonic() - term
        # The database is free again, and the process still drains its open sockets: an
        # open socket is not a way in either, a new event is refused, retryably.
        late_id = str(uuid.uuid4())
        late_ack = late.call(
            "report:submit",
            {"client_id": late_id, "category": "fire", "lat": 36.06, "lon": 103.83},
            timeout=5,
        )
        code = gw.server.process.wait(EXIT_WITHIN_S + 5)
        exit_s = time.monotonic() - term
        stream.finish(timeout=0)
    late.close()
    assert late_ack["ok"] is False and late_ack["error"]["code"] == "unavailable", late_ack
    assert not gw.store.reports([late_id]), "a report sent after SIGTERM was stored"
    unfinished = [s.client_id for s in in_flight if s.ack is None]
    assert not unfinished, f"in flight at SIGTERM and never answered: {unfinished}"
    rows = gw.store.reports(s.client_id for s in stream.sent())
    figures = tally("SIGTERM to gridwatch serve", stream, rows)
    figures.check()
    assert code == 0, f"exit code {code}\n{gw.log_tail()}"
    assert exit_s < EXIT_WITHIN_S, f"took {exit_s:.1f}s to exit"
    left = [p for p in everything if processes.alive(p)]
    assert not left, f"still running after serve exited: {left}"
    assert "Traceback" not in gw.log_tail(200_000), gw.log_tail()
    print(
        f"in flight at SIGTERM: {len(in_flight)}, finished and acknowledged: "
        f"{len(in_flight) - len(unfinished)}; new connections refused after "
        f"{refused_after:.1f} s; exit code {code} after {exit_s:.1f} s"
    )
