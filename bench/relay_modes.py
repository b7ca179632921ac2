"""The bare relay of bench/relay.py under a chosen async mode, for the `modes` benchmark.

The same app (no database, no Redis, no validation, no authentication; `report:submit` on
/informant acks ``{"ok": true, "report": {"id": n}}`` and emits `report:new` to every /operator
client), with the async mode taken from ``GWBENCH_ASYNC_MODE``:

    gevent     gunicorn, GeventWebSocketWorker        (as bench/relay.py and `gridwatch serve`)
    threading  gunicorn -k gthread --threads N        (simple-websocket; a thread per socket)
    eventlet   python -m bench.relay_modes HOST PORT  (eventlet's own WSGI server: gunicorn
                                                       dropped its eventlet worker in 26.0)

Run by bench/modes_bench.py; never imported by Gridwatch.
"""

from __future__ import annotations

import os
import sys

MODE = os.environ.get("GWBENCH_ASYNC_MODE", "gevent")
if MODE == "eventlet":  # before anything else imports socket, threading or ssl
    import eventlet

    eventlet.monkey_patch()

import gc  # noqa: E402
import itertools  # noqa: E402
from typing import Any  # noqa: E402

from flask import Flask, jsonify  # noqa: E402
from flask_socketio import SocketIO  # noqa: E402

app = Flask(__name__)
socketio = SocketIO(
    app,
    async_mode=MODE,
    ping_interval=25,
    ping_timeout=20,
    max_http_buffer_size=256 * 1024,
    logger=False,
    engineio_logger=False,
)
_ids = itertools.count(1)
if os.environ.get("GWBENCH_GC") == "off":  # for experiments: no cyclic garbage collector
    gc.disable()


@app.get("/api/health")
def health() -> Any:
    return jsonify(status="ok", async_mode=socketio.async_mode)


@socketio.on("connect", namespace="/informant")
def informant_connect(auth: Any = None) -> bool:
    return True


@socketio.on("connect", namespace="/operator")
def operator_connect(auth: Any = None) -> bool:
    return True


@socketio.on("report:submit", namespace="/informant")
def submit(payload: Any = None) -> dict[str, Any]:
    report = dict(payload) if isinstance(payload, dict) else {}
    report["id"] = next(_ids)
    socketio.emit("report:new", {"report": report}, namespace="/operator")
    return {"ok": True, "report": {"id": report["id"]}}


def serve_eventlet(host: str, port: int, max_size: int) -> None:
    """What Flask-SocketIO's `socketio.run` does under eventlet, with room for `max_size`
    concurrent connections (eventlet.wsgi's default is 1,024)."""
    import eventlet.wsgi

    listener = eventlet.listen((host, port), backlog=2048)
    eventlet.wsgi.server(listener, app, log_output=False, max_size=max_size)


if __name__ == "__main__":
    if MODE != "eventlet":
        sys.exit("python -m bench.relay_modes runs the eventlet server only")
    serve_eventlet(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 5000)
