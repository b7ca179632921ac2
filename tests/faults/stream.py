"""Informants that stream reports the way the phone app does: each report has its own
client_id, and a report without an `ok` ack is sent again, with the same client_id, over a
new connection if need be, until it is acknowledged."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import socketio
from socketio import exceptions

# Error codes after which the phone app retries; any other error ack fails the test.
RETRYABLE = {"unavailable", "internal"}
# The centre of Lanzhou (in 城关区); each informant reports a little way off it.
LAT, LON = 36.0611, 103.8343


@dataclass
class Sent:
    """One report as its informant saw it."""

    client_id: str
    payload: dict[str, Any]
    attempts: int = 0
    ack: dict[str, Any] | None = None
    duplicate: bool = False
    acked_at: float = 0.0


@dataclass
class Informant:
    """One informant's phone: a thread that keeps sending until told to stop."""

    url: str
    token: str
    index: int
    stop: threading.Event
    pause: float = 0.3
    timeout: float = 4.0
    reports: list[Sent] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    refused: list[Any] = field(default_factory=list)
    give_up_at: float = float("inf")
    _sio: socketio.Client | None = None
    _sock: socket.socket | None = None
    _thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        parsed = urlsplit(self.url)
        return parsed.hostname or "127.0.0.1", parsed.port or 80

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"informant-{self.index}")
        self._thread.start()

    def join(self, timeout: float) -> None:
        assert self._thread is not None
        self._thread.join(timeout)

    def _new_report(self) -> Sent:
        client_id = str(uuid.uuid4())
        n = len(self.reports)
        payload = {
            "client_id": client_id,
            "category": "safety_hazard",
            "text": f"fault test: informant {self.index}, report {n}",
            "severity": 2,
            "lat": LAT + 0.002 * self.index,
            "lon": LON + 0.0001 * (n % 50),
        }
        sent = Sent(client_id, payload)
        self.reports.append(sent)
        return sent

    def _connect(self) -> bool:
        # Our own TCP socket, so that we close it when the handshake fails half-way (the
        # engine.io client would leave its socket to the garbage collector).
        try:
            sock = socket.create_connection(self.address, timeout=5)
        except OSError:
            self.failures["connection refused"] += 1
            return False
        sio = socketio.Client(reconnection=False, websocket_extra_options={"socket": sock})
        try:
            sio.connect(
                self.url,
                namespaces=["/informant"],
                transports=["websocket"],
                auth={"token": self.token},
                wait_timeout=5,
            )
        except exceptions.SocketIOError as exc:
            sock.close()
            self.failures[f"handshake failed: {str(exc)[:60]}"] += 1
            return False
        self._sio, self._sock = sio, sock
        return True

    def _drop(self) -> None:
        if self._sio is not None:
            self._sio.disconnect()
            self._sio = None
        if self._sock is not None:
            self._sock.close()  # the client may not, when the server died under it
            self._sock = None

    def _call(self, payload: dict[str, Any]) -> Any:
        """Emit and wait for the ack, as the phone does: give up when the connection drops
        (Client.call would wait out its timeout) or when no ack comes in time."""
        sio = self._sio
        assert sio is not None
        answered = threading.Event()
        acks: list[Any] = []

        def on_ack(*args: Any) -> None:
            acks.append(args[0] if args else None)
            answered.set()

        sio.emit("report:submit", payload, namespace="/informant", callback=on_ack)
        deadline = time.monotonic() + self.timeout
        while not answered.wait(0.02):
            if not sio.connected:
                raise exceptions.DisconnectedError()
            if time.monotonic() > deadline:
                raise exceptions.TimeoutError()
        return acks[0]

    def _send(self, sent: Sent) -> bool:
        """One attempt; True when the report is acknowledged (or refused for good)."""
        sent.attempts += 1
        try:
            ack = self._call(sent.payload)
        except exceptions.TimeoutError:
            self.failures["no ack in time"] += 1
            self._drop()  # the server may be gone without the socket knowing yet
            return False
        except exceptions.SocketIOError:
            self.failures["connection lost"] += 1
            self._drop()
            return False
        if isinstance(ack, dict) and ack.get("ok"):
            sent.ack = ack["report"]
            sent.duplicate = bool(ack.get("duplicate"))
            sent.acked_at = time.monotonic()
            return True
        code = ack.get("error", {}).get("code") if isinstance(ack, dict) else None
        if code in RETRYABLE:
            self.failures[f"error ack {code}"] += 1
            return False
        self.refused.append(ack)  # not retryable: the test fails on it
        return True

    def _run(self) -> None:
        pending: Sent | None = None
        try:
            while True:
                if pending is None:
                    if self.stop.is_set():
                        return
                    pending = self._new_report()
                if time.monotonic() > self.give_up_at:
                    return
                if self._sio is None or not self._sio.connected:
                    self._drop()
                    if not self._connect():
                        time.sleep(0.2)
                        continue
                if self._send(pending):
                    pending = None
                    self.stop.wait(self.pause)
                else:
                    time.sleep(0.1)
        finally:
            self._drop()


class Stream:
    """One informant per token, streaming at once; `finish()` lets each get its last report
    acknowledged."""

    def __init__(
        self, url: str, tokens: list[str], pause: float = 0.3, timeout: float = 4.0
    ) -> None:
        self.stop = threading.Event()
        self.informants = [
            Informant(url, token, i, self.stop, pause=pause, timeout=timeout)
            for i, token in enumerate(tokens)
        ]

    def __enter__(self) -> Stream:
        for informant in self.informants:
            informant.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish(timeout=0)

    def acknowledged(self) -> int:
        return sum(1 for s in self.sent() if s.ack is not None)

    def wait_acknowledged(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.acknowledged() < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"only {self.acknowledged()} of {count} reports acknowledged; "
                    f"failed attempts {dict(self.failures())}"
                )
            time.sleep(0.05)

    def finish(self, timeout: float) -> None:
        """Stop starting new reports; retry the unacknowledged ones for up to `timeout`."""
        self.stop.set()
        give_up = time.monotonic() + timeout
        for informant in self.informants:
            informant.give_up_at = give_up
        for informant in self.informants:
            informant.join(timeout + 15)

    def sent(self) -> list[Sent]:
        return [s for informant in self.informants for s in list(informant.reports)]

    def failures(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for informant in self.informants:
            total.update(informant.failures)
        return total

    def refused(self) -> list[Any]:
        return [r for informant in self.informants for r in informant.refused]


@dataclass
class Tally:
    """What the informants saw against what the database holds."""

    faults: str
    sent: int
    acknowledged: int
    retried: int
    answered_duplicate: int
    stored: int
    lost: list[str]
    duplicated: list[str]
    wrong_id: list[str]
    unacknowledged: list[str]
    failures: Counter[str]

    def __str__(self) -> str:
        return (
            f"faults: {self.faults}; reports sent {self.sent}, acknowledged "
            f"{self.acknowledged}, retried {self.retried} (of which {self.answered_duplicate} "
            f"answered 'duplicate': stored before the fault), stored {self.stored}, "
            f"lost {len(self.lost)}, duplicated {len(self.duplicated)}, acked with a wrong id "
            f"{len(self.wrong_id)}, never acknowledged {len(self.unacknowledged)}; "
            f"failed attempts {dict(self.failures)}"
        )

    def check(self) -> None:
        """Nothing acknowledged is lost, nothing retried is stored twice; print the figures."""
        print(f"\n{self}")
        assert not self.lost, f"acknowledged but not stored: {self.lost[:5]}\n{self}"
        assert not self.duplicated, f"stored more than once: {self.duplicated[:5]}\n{self}"
        assert not self.wrong_id, f"ack names another row: {self.wrong_id[:5]}\n{self}"
        assert not self.unacknowledged, (
            f"never acknowledged, even after retries: {self.unacknowledged[:5]}\n{self}"
        )
        assert self.stored == self.sent, str(self)


def tally(faults: str, stream: Stream, rows: dict[str, list[Any]]) -> Tally:
    """Compare every report sent with its rows (`Store.reports`) by client_id."""
    sent = stream.sent()
    acked = [s for s in sent if s.ack is not None]
    assert not stream.refused(), f"reports refused for good: {stream.refused()[:3]}"
    return Tally(
        faults=faults,
        sent=len(sent),
        acknowledged=len(acked),
        retried=sum(1 for s in sent if s.attempts > 1),
        answered_duplicate=sum(1 for s in acked if s.duplicate),
        stored=sum(1 for s in sent if len(rows.get(s.client_id, [])) == 1),
        lost=[s.client_id for s in acked if not rows.get(s.client_id)],
        duplicated=[s.client_id for s in sent if len(rows.get(s.client_id, [])) > 1],
        wrong_id=[
            s.client_id
            for s in acked
            if len(rows.get(s.client_id, [])) == 1
            and s.ack is not None
            and rows[s.client_id][0].id != s.ack["id"]
        ],
        unacknowledged=[s.client_id for s in sent if s.ack is None],
        failures=stream.failures(),
    )
