from __future__ import annotations

from typing import Any

from flask import jsonify
from sqlalchemy import text

from ..extensions import db
from ..queue import redis_client
from . import bp


@bp.get("/health")
def health() -> Any:
    status = {"status": "ok", "database": "ok", "redis": "ok"}
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:
        status["database"] = "down"
    try:
        client = redis_client()
        if client is None or not client.ping():
            status["redis"] = "down"
    except Exception:
        status["redis"] = "down"
    ok = status["database"] == "ok" and status["redis"] == "ok"
    if not ok:
        status["status"] = "degraded"
    return jsonify(status), 200 if ok else 503
