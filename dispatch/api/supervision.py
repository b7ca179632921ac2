"""The bulletins: figures per unit, the cases behind each, trends, CSV."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from ..schemas import BulletinQuery, CasesQuery, TrendsQuery
from ..services import supervision
from . import bp
from .common import caller, query


@bp.get("/supervision/bulletin")
def bulletin() -> Any:
    user = caller()
    q = query(BulletinQuery)
    return jsonify(supervision.bulletin(user, q.period, q.level, q.area))


@bp.get("/supervision/bulletin.csv")
def bulletin_csv() -> Any:
    user = caller()
    q = query(BulletinQuery)
    text = supervision.to_csv(supervision.bulletin(user, q.period, q.level, q.area))
    name = f"gridwatch-bulletin-{q.period}-{q.level}.csv"
    return Response(
        "\ufeff" + text,  # a byte-order mark, so that spreadsheet programs read UTF-8
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.get("/supervision/cases")
def cases() -> Any:
    user = caller()
    q = query(CasesQuery)
    return jsonify(supervision.cases(user, q.period, q.level, q.unit, q.figure, q.area))


@bp.get("/supervision/trends")
def trends() -> Any:
    user = caller()
    q = query(TrendsQuery)
    return jsonify(supervision.trends(user, q.end, q.months, q.area))
