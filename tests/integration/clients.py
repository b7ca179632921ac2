"""Real python-socketio clients over websocket, recording what they receive."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import socketio


class Recorder:
    """A connected client on one namespace that keeps every event it gets."""

    def __init__(self, url: str, namespace: str, token: str | None) -> None:
        self.namespace = namespace
        self.events: list[tuple[str, Any]] = []
        self.lock = threading.Condition()
        self.sio = socketio.Client(reconnection=False)
        self.sio.on("*", self._record, namespace=namespace)
        auth = {"token": token} if token is not None else None
        self.sio.connect(
            url, namespaces=[namespace], transports=["websocket"], auth=auth, wait_timeout=10
        )

    def _record(self, event: str, data: Any) -> None:
        with self.lock:
            # The server may coalesce: a list payload is several events in order.
            for item in data if isinstance(data, list) else [data]:
                self.events.append((event, item))
            self.lock.notify_all()

    def call(self, event: str, data: Any, timeout: float = 15) -> Any:
        return self.sio.call(event, data, namespace=self.namespace, timeout=timeout)

    def wait_for(
        self, event: str, match: Callable[[Any], bool] = lambda _: True, timeout: float = 15
    ) -> Any:
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                for name, data in self.events:
                    if name == event and match(data):
                        return data
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"no {event} within {timeout}s; got {[n for n, _ in self.events]}"
                    )
                self.lock.wait(remaining)

    def received(self, event: str) -> list[Any]:
        with self.lock:
            return [d for n, d in self.events if n == event]

    def close(self) -> None:
        self.sio.disconnect()
