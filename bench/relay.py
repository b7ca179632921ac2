"""The "bare relay": the baseline every ingest figure is compared with.

A minimal Flask-SocketIO app served exactly like Gridwatch's web process (gunicorn, the
gevent-websocket worker, one process, async_mode gevent, the same ping and buffer settings)
but with no database, no Redis, no validation and no authentication. `report:submit` on
`/informant` acknowledges `{"ok": true, "report": {"id": n}}` and emits `report:new` to every
`/operator` client. What Gridwatch costs on top of this is the cost of doing the real work.

Run by `bench/run.py` as ``gunicorn ... bench.relay:app``; never imported by Gridwatch.
"""

from __future__ import annotations

import itertools
from typing import Any

from flask import Flask, jsonify
from flask_socketio import SocketIO

app = Flask(__name__)
socketio = SocketIO(
    app,
    async_mode="gevent",
    ping_interval=25,
    ping_timeout=20,
    max_http_buffer_size=256 * 1024,
    logger=False,
    engineio_logger=False,
)
_ids = itertools.count(1)


@app.get("/api/health")
def health() -> Any:
    return jsonify(status="ok")


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
