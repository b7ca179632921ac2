"""Reports and incidents of a period and an area, as GeoJSON or CSV (docs/exports.md).

The same rules as every list: operators, supervisors and admins, within their jurisdiction;
a sensitive report comes redacted to a reader not cleared for it (services/privacy.py), and
the informant only to a cleared one. Exports are bounded (MAX_DAYS, MAX_ROWS) and streamed:
rows are read from the database a batch at a time while the answer is written.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy.orm import load_only, selectinload

from grid.codes import jurisdiction_prefix

from ..errors import Forbidden, ValidationFailed
from ..extensions import db
from ..fastjson import dumps
from ..models import Incident, IncidentStatus, Report, ReportStatus, User, utcnow
from ..schemas import ExportQuery
from . import privacy
from .access import OPERATOR_ROLES, within
from .views import incident_view, report_view

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
MAX_DAYS = 366
MAX_ROWS = 50_000
"""The default bound; `GRIDWATCH_EXPORT_MAX_ROWS` in the app's config overrides it."""
DEFAULT_DAYS = 30
BATCH = 500

Kind = Literal["reports", "incidents"]

REPORT_COLUMNS = (
    "id",
    "received_at",
    "occurred_at",
    "category",
    "severity",
    "text",
    "lat",
    "lon",
    "accuracy_m",
    "area_code",
    "cell_code",
    "status",
    "risk_level",
    "risk_score",
    "reasons",
    "category_hint",
    "flags",
    "incident_id",
    "cluster_id",
    "cluster_size",
    "review_due_at",
    "escalated_at",
    "photo_count",
    "informant_id",
    "redacted",
)
INCIDENT_COLUMNS = (
    "id",
    "created_at",
    "updated_at",
    "resolved_at",
    "title",
    "category",
    "status",
    "risk_level",
    "lat",
    "lon",
    "area_code",
    "cell_code",
    "resolution_note",
    "cascade_stopped",
    "report_ids",
)
COLUMNS: dict[str, tuple[str, ...]] = {"reports": REPORT_COLUMNS, "incidents": INCIDENT_COLUMNS}
TIME_FIELDS = frozenset(
    {
        "received_at",
        "occurred_at",
        "claimed_until",
        "review_due_at",
        "escalated_at",
        "created_at",
        "updated_at",
        "resolved_at",
    }
)
STATUSES: dict[str, frozenset[str]] = {
    "reports": frozenset(s.value for s in ReportStatus),
    "incidents": frozenset(s.value for s in IncidentStatus),
}
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Export:
    """What one export holds: checked, counted, ready to stream."""

    kind: Kind
    user_id: int
    area: str
    since: datetime
    until: datetime
    count: int
    status: str | None
    category: str | None

    @property
    def filename(self) -> str:
        first = self.since.astimezone(LOCAL_TZ).strftime("%Y%m%d")
        last = (self.until - timedelta(microseconds=1)).astimezone(LOCAL_TZ).strftime("%Y%m%d")
        return f"gridwatch-{self.kind}-{self.area}-{first}-{last}"


def parse_moment(text: str, *, field: str, end: bool = False) -> datetime:
    """A date or an ISO date and time, read in Beijing time, as an aware UTC datetime. A date
    is its midnight, or (`end`) the next day's, so that `until=2026-11-30` includes the 30th.

    >>> parse_moment("2026-11-01", field="since").isoformat()
    '2026-10-31T16:00:00+00:00'
    >>> parse_moment("2026-11-30", field="until", end=True).isoformat()
    '2026-11-30T16:00:00+00:00'
    >>> parse_moment("2026-11-01T08:30", field="since").isoformat()
    '2026-11-01T00:30:00+00:00'
    >>> parse_moment("2026-11-01T08:30:00Z", field="since").isoformat()
    '2026-11-01T08:30:00+00:00'
    >>> parse_moment("2026-02-30", field="since")
    Traceback (most recent call last):
    ...
    dispatch.errors.ValidationFailed: since: not a real date or time: 2026-02-30
    """
    try:
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
            day = date.fromisoformat(text) + timedelta(days=1 if end else 0)
            moment = datetime.combine(day, time(), tzinfo=LOCAL_TZ)
        else:
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=LOCAL_TZ)
    except ValueError:
        raise ValidationFailed(f"{field}: not a real date or time: {text}", field=field) from None
    return moment.astimezone(UTC)


def max_rows() -> int:
    return int(current_app.config.get("GRIDWATCH_EXPORT_MAX_ROWS") or MAX_ROWS)


def prepare_export(user: User, kind: Kind, query: ExportQuery) -> Export:
    """Check who asks for what, and count it; refuse an export beyond the bounds."""
    if user.role not in OPERATOR_ROLES:
        raise Forbidden("exports are for operators, supervisors and admins")
    area = query.area or user.area_code
    if not within(area, user.area_code):
        raise Forbidden("this area is outside your jurisdiction", field="area")
    if query.status is not None and query.status not in STATUSES[kind]:
        raise ValidationFailed(
            f"status: one of {', '.join(sorted(STATUSES[kind]))}", field="status"
        )
    until = parse_moment(query.until, field="until", end=True) if query.until else utcnow()
    if query.since:
        since = parse_moment(query.since, field="since")
    else:
        since = until - timedelta(days=DEFAULT_DAYS)
    if since >= until:
        raise ValidationFailed("since must come before until", field="since")
    if until - since > timedelta(days=MAX_DAYS):
        raise ValidationFailed(
            f"an export covers at most {MAX_DAYS} days: narrow since/until", field="since"
        )
    export = Export(kind, user.id, area, since, until, 0, query.status, query.category)
    count = db.session.scalar(_select(export).with_only_columns(db.func.count()).order_by(None))
    if count is not None and count > max_rows():
        raise ValidationFailed(
            f"{count} {kind} match, more than the {max_rows()} an export holds: narrow the "
            "period, the area or the filters",
            field="since",
        )
    return Export(kind, user.id, area, since, until, count or 0, query.status, query.category)


def _select(export: Export) -> Any:
    model: Any = Report if export.kind == "reports" else Incident
    at = Report.received_at if export.kind == "reports" else Incident.created_at
    stmt = db.select(model).where(
        model.area_code.startswith(jurisdiction_prefix(export.area)),
        at >= export.since,
        at < export.until,
    )
    if export.status is not None:
        stmt = stmt.where(model.status == export.status)
    if export.category is not None:
        stmt = stmt.where(model.category == export.category)
    return stmt.order_by(at, model.id)


def _local(value: Any) -> Any:
    """A stored time (ISO 8601, UTC) as Beijing time: 2026-11-01T08:30:00+08:00."""
    if not isinstance(value, str):
        return value
    return datetime.fromisoformat(value).astimezone(LOCAL_TZ).isoformat()


def rows(export: Export) -> Iterator[dict[str, Any]]:
    """The export's objects, as the caller may read them, oldest first, a batch at a time."""
    user = db.session.get(User, export.user_id)
    assert user is not None
    stmt = _select(export)
    if export.kind == "incidents":
        stmt = stmt.options(selectinload(Incident.reports).options(load_only(Report.id)))
    for obj in db.session.scalars(stmt.execution_options(yield_per=BATCH)):
        view = (
            privacy.report_for(user, obj, report_view(obj, with_informant=True))
            if export.kind == "reports"
            else incident_view(obj)
        )
        yield {k: _local(v) if k in TIME_FIELDS else v for k, v in view.items()}


def geojson_chunks(export: Export) -> Iterator[str]:
    """A GeoJSON FeatureCollection (RFC 7946: WGS-84, [lon, lat]) of Points, one Feature per
    object, its view as properties. A redacted report has no place: its geometry is null."""
    about = {
        "kind": export.kind,
        "area": export.area,
        "since": export.since.astimezone(LOCAL_TZ).isoformat(),
        "until": export.until.astimezone(LOCAL_TZ).isoformat(),
        "count": export.count,
    }
    yield '{"type":"FeatureCollection","gridwatch":' + dumps(about) + ',"features":['
    for n, view in enumerate(rows(export)):
        lat, lon = view.pop("lat", None), view.pop("lon", None)
        geometry = (
            {"type": "Point", "coordinates": [lon, lat]}
            if lat is not None and lon is not None
            else None
        )
        feature = {"type": "Feature", "id": view["id"], "geometry": geometry, "properties": view}
        yield ("," if n else "") + dumps(feature)
    yield "]}\n"


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return " ".join(str(v.get("rule", "")) if isinstance(v, dict) else str(v) for v in value)
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_chunks(export: Export) -> Iterator[str]:
    """CSV with a byte-order mark (spreadsheets then read UTF-8), a header of the fixed
    columns, one row per object. Lists are joined by spaces (`reasons`: the rules' names);
    text a spreadsheet would run as a formula starts with an apostrophe."""
    columns = COLUMNS[export.kind]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")

    def take() -> str:
        text = out.getvalue()
        out.seek(0)
        out.truncate()
        return text

    writer.writerow(columns)
    yield "\ufeff" + take()
    for n, view in enumerate(rows(export), 1):
        writer.writerow([_cell(view.get(c)) for c in columns])
        if n % 100 == 0:
            yield take()
    rest = take()
    if rest:
        yield rest


__all__ = [
    "INCIDENT_COLUMNS",
    "MAX_DAYS",
    "MAX_ROWS",
    "REPORT_COLUMNS",
    "Export",
    "csv_chunks",
    "geojson_chunks",
    "parse_moment",
    "prepare_export",
    "rows",
]
