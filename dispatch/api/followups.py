from __future__ import annotations

from typing import Any

from flask import jsonify, request

from ..errors import ValidationFailed
from ..services import followups
from . import bp
from .common import caller


@bp.get("/followups")
def list_followups() -> Any:
    station = request.args.get("station") or None
    if station is not None and (not station.isdigit() or len(station) > 15):
        raise ValidationFailed("station must be an area code", field="station")
    status = request.args.get("status", "open")
    if status not in ("open", "done", "all"):
        raise ValidationFailed("status is open, done or all", field="status")
    return jsonify(followups.list_followups(caller(), station, None if status == "all" else status))


@bp.post("/followups/<int:followup_id>/close")
def close_followup(followup_id: int) -> Any:
    raw = request.get_json(silent=True)
    note = raw.get("note") if isinstance(raw, dict) else None
    if not isinstance(note, str) or len(note) > 2000:
        raise ValidationFailed("note is required (at most 2,000 characters)", field="note")
    return jsonify(ok=True, followup=followups.close_followup(caller(), followup_id, note))
