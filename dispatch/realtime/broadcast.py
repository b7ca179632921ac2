"""All realtime output goes through here; works from a web process and an RQ worker alike."""

from __future__ import annotations

import logging
from typing import Any

from ..extensions import socketio

log = logging.getLogger(__name__)


def send(namespace: str, event: str, payload: Any, rooms: list[str]) -> None:
    """Emit to the union of `rooms` (each client gets it once); never raises."""
    if not rooms:
        return
    # dict.fromkeys keeps order and drops repeats.
    targets = list(dict.fromkeys(rooms))
    try:
        socketio.emit(event, payload, namespace=namespace, to=targets)
    except Exception:  # a down Redis must not undo a committed change
        log.exception("could not emit %s to %s", event, targets)
