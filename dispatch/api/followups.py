from __future__ import annotations

from typing import Any

from flask import jsonify

from ..schemas import FollowupClose, FollowupQuery
from ..services import followups
from . import bp
from .common import caller, json_object, query, validate


@bp.get("/followups")
def list_followups() -> Any:
    user = caller()
    q = query(FollowupQuery)
    status = None if q.status == "all" else q.status
    return jsonify(followups.list_followups(user, q.station, status))


@bp.post("/followups/<int:followup_id>/close")
def close_followup(followup_id: int) -> Any:
    user = caller()
    data = validate(FollowupClose, json_object())
    return jsonify(ok=True, followup=followups.close_followup(user, followup_id, data.note))
