"""CAP 1.2 alerts: what an incident or an operator's warning tells the public alerting
chain, and the warnings the chain sends us (dispatch/cap/ writes and reads the XML).

Every message sent is stored (`cap_alerts`, direction `out`) as sent, so that the next one
about the same incident or warning can name all the earlier ones in `references`. Alerts
received are stored as received (direction `in`); one imported twice is stored once.
docs/cap.md explains the choices; its tables are dispatch/cap/mapping.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import shapely
from flask import current_app
from shapely.geometry import Polygon, shape
from shapely.geometry.base import BaseGeometry

from grid.codes import ancestors, jurisdiction_prefix, level_of

from .. import cap
from ..cap import mapping as m
from ..errors import Forbidden, InvalidTransition, NotFound, ValidationFailed
from ..extensions import db
from ..models import Area, CapAlert, Incident, User, utcnow
from ..realtime import names
from ..schemas import CapAlertQuery, WarningCreate
from . import privacy
from .access import DISPATCH_ROLES, OPERATOR_ROLES, check_incident, require_role, within
from .uow import IntegrityError, audit, outbox, use_case

OUT, IN = "out", "in"
INCIDENT_RADIUS_KM = 0.5
"""The circle around an incident's point: 'within 500 m of here'."""
WARNING_HOURS = 24
"""A warning without `expires` ends this long after it is sent."""
MAX_WARNING_DAYS = 366
MAX_POLYGON_POINTS = 100
"""Cell outlines are simplified to this many points (IPAWS's limit for a CAP polygon)."""
MAX_LIST = 1000
NOT_ACTIVE_TYPES = frozenset({"Cancel", "Ack", "Error"})
UNDATED_HOURS = 48
"""An alert that names no `expires` counts as in effect this long after it was sent (CAP
leaves that to each recipient's policy)."""
CAP_MEDIA_TYPE = "application/cap+xml"


# ---- settings and names ----------------------------------------------------------------


def city_of(code: str) -> str:
    """The city an area code lies in (the first six digits, ending in 00)."""
    return ancestors(code)[0]


def sender_for(city: str) -> str:
    """`GRIDWATCH_CAP_SENDER`, or a placeholder naming the city until one is configured."""
    configured = current_app.config.get("GRIDWATCH_CAP_SENDER")
    return str(configured) if configured else f"gridwatch@{city}.gridwatch.invalid"


def _web() -> str | None:
    value = current_app.config.get("GRIDWATCH_CAP_WEB")
    return str(value) if value else None


def _area(code: str | None) -> Area | None:
    return db.session.get(Area, code) if code else None


def _shape(area: Area) -> BaseGeometry:
    return shapely.make_valid(shapely.from_wkb(area.geometry_wkb))


def area_names(code: str) -> str:
    """`兰州市 城关区 …`: the area and its ancestors, from the city down."""
    chain = [_area(c) for c in ancestors(code)]
    return " ".join(a.name for a in chain if a is not None) or code


def _rings(geometry: BaseGeometry) -> tuple[tuple[tuple[float, float], ...], ...]:
    """The outer rings of an area as CAP polygons ((lat, lon), closed, ≤ 100 points each);
    CAP polygons have no holes."""
    parts: list[Polygon] = []
    if isinstance(geometry, Polygon):
        parts = [geometry]
    elif hasattr(geometry, "geoms"):
        parts = [g for g in geometry.geoms if isinstance(g, Polygon)]
    rings = []
    for part in parts:
        if part.is_empty:
            continue
        ring = part.exterior
        tolerance = 0.00001
        while len(ring.coords) > MAX_POLYGON_POINTS:
            ring = part.exterior.simplify(tolerance, preserve_topology=False)
            tolerance *= 2
        coords = list(ring.coords)
        if len(coords) >= 4:
            rings.append(tuple((lat, lon) for lon, lat in coords))
    return tuple(rings)


def _meets(shape_a: BaseGeometry, shape_b: BaseGeometry) -> bool:
    """Do the two share more than a border? (Neighbouring counties touch.)"""
    return bool(shape_a.intersects(shape_b) and not shape_a.touches(shape_b))


def _geocodes(code: str) -> tuple[tuple[str, str], ...]:
    return ((m.GEOCODE_GBT2260, code[:6]), (m.GEOCODE_AREA, code))


def _scope(category: str) -> tuple[str, str | None]:
    sensitive = category in privacy.sensitive_categories()
    if category in m.PUBLIC_CATEGORIES and not sensitive:
        return "Public", None
    return "Restricted", f"{m.RESTRICTION_ZH} / {m.RESTRICTION_EN}"


def _earlier(**where: Any) -> list[CapAlert]:
    stmt = db.select(CapAlert).filter_by(direction=OUT, **where).order_by(CapAlert.id)
    return list(db.session.scalars(stmt))


def _reference(alert: CapAlert) -> cap.Reference:
    return cap.Reference(alert.sender, alert.identifier, cap.cap_time(alert.sent))


def _stored_references(alert: CapAlert) -> list[cap.Reference]:
    refs, _ = cap.read.parse_references(alert.references)
    return list(refs)


def _row(
    message: cap.Alert, xml: bytes, *, direction: str, user: User | None, **fields: Any
) -> CapAlert:
    info = message.infos[0] if message.infos else None
    row = CapAlert(
        direction=direction,
        identifier=message.identifier,
        sender=message.sender,
        sent=message.sent,
        status=message.status,
        msg_type=message.msg_type,
        scope=message.scope,
        references=cap.references_text(message.references),
        event=info.event[:255] if info else None,
        urgency=info.urgency if info else None,
        severity=info.severity if info else None,
        certainty=info.certainty if info else None,
        headline=info.headline[:500] if info else None,
        expires=info.expires if info else None,
        xml=xml.decode("utf-8"),
        created_by=user.id if user is not None else None,
        **fields,
    )
    db.session.add(row)
    db.session.flush()
    return row


def _sent_audit(row: CapAlert, user: User | None, kind: str) -> None:
    audit(
        "cap.sent",
        "cap_alert",
        row.id,
        actor=user,
        area_code=row.area_code,
        after={
            "kind": kind,
            "identifier": row.identifier,
            "msg_type": row.msg_type,
            "scope": row.scope,
            "references": [str(r) for r in _stored_references(row)],
            **({"incident_id": row.incident_id} if row.incident_id is not None else {}),
        },
    )


# ---- an incident as CAP ----------------------------------------------------------------


def _incident_area(incident: Incident, coarse: bool) -> cap.Area:
    """The incident's cell as polygon and a circle round its point; for a sensitive
    category the village only, as privacy.redact does for the report."""
    code = incident.cell_code or incident.area_code
    if coarse and len(code) > 12:
        code = code[:12]
    area = _area(code) if incident.cell_code or coarse else None
    return cap.Area(
        desc=area_names(code),
        polygons=_rings(_shape(area)) if area is not None else (),
        circles=() if coarse else ((incident.lat, incident.lon, INCIDENT_RADIUS_KM),),
        geocodes=_geocodes(code),
    )


def _risk_score(incident: Incident) -> int | None:
    scores = [r.risk_score for r in incident.reports if r.risk_score is not None]
    return max(scores) if scores else None


def _incident_infos(incident: Incident, msg_type: str) -> tuple[cap.Info, ...]:
    level = incident.risk_level if incident.risk_level in m.SEVERITY else None
    event = m.EVENTS.get(incident.category, m.EVENTS["other"])
    coarse = incident.category in privacy.sensitive_categories()
    area = _incident_area(incident, coarse)
    county = _area(incident.area_code[:6])
    place = county.name if county is not None else area.desc
    when = incident.created_at.astimezone(cap.LOCAL)
    ended = msg_type == "Cancel"
    key = m.instruction_key(incident.category, msg_type, incident.status)
    # Who reported, and their words, stay inside for a sensitive category.
    title = "" if coarse else incident.title.strip()
    level_zh = f"{m.LEVEL_ZH[level]}预警（{m.LEVEL_GRADE[level]}级）" if level else "预警"
    level_en = f"{m.LEVEL_EN[level]} warning (level {m.LEVEL_GRADE[level]})" if level else "Warning"
    parameters = [
        ("gridwatch:incident", str(incident.id)),
        ("gridwatch:category", incident.category),
        ("gridwatch:status", incident.status),
        ("gridwatch:riskLevel", level or "none"),
    ]
    if level:
        parameters.append(("gridwatch:warningLevel", m.LEVEL_GRADE[level]))
    score = _risk_score(incident)
    if score is not None:
        parameters.append(("gridwatch:riskScore", str(score)))
    common = cap.Info(
        language="",
        categories=event.cap_categories,
        event="",
        urgency="Past" if ended else (m.URGENCY[level] if level else "Unknown"),
        severity=m.SEVERITY[level] if level else "Unknown",
        certainty=m.CERTAINTY.get(incident.status, "Unknown"),
        headline="",
        response_types=(m.response_type(incident.category, msg_type),),
        web=_web(),
        parameters=tuple(parameters),
        areas=(area,),
    )
    city = _area(city_of(incident.area_code))
    city_name = city.name if city is not None else city_of(incident.area_code)
    zh = replace(
        common,
        language="zh-CN",
        event=event.zh,
        sender_name=f"{city_name}退役军人服务网络指挥中心",
        headline=f"{place}{event.zh}{level_zh}" + ("（解除）" if ended else ""),
        description=(
            f"{when:%Y年%m月%d日%H时%M分}，{area.desc}发生{event.zh}（事件编号 {incident.id}）"
            + (f"：{title}" if title else "")
            + f"。当前状态：{m.STATUS_ZH.get(incident.status, incident.status)}。"
        ),
        instruction=m.INSTRUCTION_ZH[key],
    )
    en = replace(
        common,
        language="en-US",
        event=event.en,
        sender_name=f"Veterans' service network command room, {city_name}",
        headline=f"{level_en}: {event.en.lower()} in {place}" + (" (lifted)" if ended else ""),
        description=(
            f"{event.en} in {area.desc} (incident {incident.id}) since "
            f"{when:%Y-%m-%d %H:%M} Beijing time" + (f": {title}" if title else "") + ". "
            f"Status: {m.STATUS_EN.get(incident.status, incident.status)}."
        ),
        instruction=m.INSTRUCTION_EN[key],
    )
    return zh, en


def _incident_message(
    incident: Incident,
    *,
    identifier: str,
    sender: str,
    sent: datetime,
    msg_type: str,
    references: Iterable[cap.Reference],
) -> cap.Alert:
    scope, restriction = _scope(incident.category)
    return cap.Alert(
        identifier=identifier,
        sender=sender,
        sent=sent,
        msg_type=msg_type,
        scope=scope,
        restriction=restriction,
        references=tuple(references),
        incidents=f"gridwatch.{city_of(incident.area_code)}.incident.{incident.id}",
        infos=_incident_infos(incident, msg_type),
    )


def incident_alert(user: User, incident_id: int) -> dict[str, Any]:
    """The incident's current CAP message: the stored one while nothing it says has
    changed, else a new Alert, Update or Cancel naming every earlier one."""
    try:
        return _incident_alert(user, incident_id)
    except IntegrityError:
        # Another request stored the same message a moment ago: answer that one.
        return _incident_alert(user, incident_id)


@use_case
def _incident_alert(user: User, incident_id: int) -> dict[str, Any]:
    require_role(user, OPERATOR_ROLES)
    incident = check_incident(user, db.session.get(Incident, incident_id, with_for_update=True))
    earlier = _earlier(incident_id=incident.id)
    last = earlier[-1] if earlier else None
    ended = incident.status in m.ENDED
    if last is None and ended:
        raise InvalidTransition(
            f"incident {incident.id} is {incident.status} and no alert about it went out: "
            "there is nothing to cancel",
            field="incident_id",
        )
    if last is not None and last.msg_type == "Cancel" and ended:
        return _answer(last, created=False)
    if last is not None:
        # What the last message would say about the incident as it is now.
        again = cap.build_alert(
            _incident_message(
                incident,
                identifier=last.identifier,
                sender=last.sender,
                sent=last.sent,
                msg_type=last.msg_type,
                references=_stored_references(last),
            )
        )
        if again.decode("utf-8") == last.xml:
            return _answer(last, created=False)
    msg_type = "Cancel" if ended else ("Update" if last and last.msg_type != "Cancel" else "Alert")
    city = city_of(incident.area_code)
    made = incident.created_at.astimezone(cap.LOCAL)
    message = _incident_message(
        incident,
        identifier=f"gridwatch.{city}.incident.{made:%Y%m%d}.{incident.id}.{len(earlier) + 1}",
        sender=sender_for(city),
        sent=utcnow().replace(microsecond=0),
        msg_type=msg_type,
        references=[_reference(a) for a in earlier],
    )
    row = _row(
        message,
        cap.build_alert(message),
        direction=OUT,
        user=user,
        incident_id=incident.id,
        area_code=incident.area_code,
        geometry=_geometry(message.infos[0].areas),
    )
    _sent_audit(row, user, "incident")
    return _answer(row, created=True)


def _geometry(areas: Iterable[cap.Area]) -> dict[str, Any] | None:
    """The areas as one GeoJSON geometry (WGS-84) for the map."""
    parts: list[BaseGeometry] = []
    for area in areas:
        parts += [Polygon([(lon, lat) for lat, lon in ring]) for ring in area.polygons]
        parts += [cap.read.circle_polygon(lat, lon, r) for lat, lon, r in area.circles]
    if not parts:
        return None
    return cap.read.geojson(parts[0] if len(parts) == 1 else shapely.GeometryCollection(parts))


def _answer(row: CapAlert, *, created: bool) -> dict[str, Any]:
    return {
        "id": row.id,
        "identifier": row.identifier,
        "msg_type": row.msg_type,
        "xml": row.xml,
        "created": created,
    }


# ---- an operator's warning ---------------------------------------------------------------


def _expiry(value: datetime | None, now: datetime) -> datetime:
    if value is None:
        return now + timedelta(hours=WARNING_HOURS)
    if value.tzinfo is None:
        value = value.replace(tzinfo=cap.LOCAL)
    try:
        in_range = now < value <= now + timedelta(days=MAX_WARNING_DAYS)
    except OverflowError:  # a moment past year 9999 in UTC
        in_range = False
    if not in_range:
        raise ValidationFailed(
            f"expires must lie in the future, at most {MAX_WARNING_DAYS} days ahead",
            field="expires",
        )
    return value.replace(microsecond=0)


def _drawn_area(data: WarningCreate, area: Area) -> cap.Area:
    """The warning's area: the polygon or circle drawn (which must touch the area named),
    else the named area's outline."""
    outline = _shape(area)
    polygons: tuple[tuple[tuple[float, float], ...], ...] = ()
    circles: tuple[tuple[float, float, float], ...] = ()
    if data.polygon is not None:
        ring = [(p.lat, p.lon) for p in data.polygon]
        if ring[0] != ring[-1]:
            ring.append(ring[0])
        if len(ring) < 4:
            raise ValidationFailed("a polygon needs three distinct points", field="polygon")
        drawn = shapely.make_valid(Polygon([(lon, lat) for lat, lon in ring]))
        if not _meets(drawn, outline):
            raise ValidationFailed(f"the polygon lies outside area {area.code}", field="polygon")
        polygons = (tuple(ring),)
    if data.circle is not None:
        c = data.circle
        disc = cap.read.circle_polygon(c.lat, c.lon, c.radius_km)
        if not _meets(disc, outline):
            raise ValidationFailed(f"the circle lies outside area {area.code}", field="circle")
        circles = ((c.lat, c.lon, c.radius_km),)
    if not polygons and not circles:
        polygons = _rings(outline)
    return cap.Area(
        desc=area_names(area.code),
        polygons=polygons,
        circles=circles,
        geocodes=_geocodes(area.code),
    )


def _follows(user: User, data: WarningCreate) -> list[cap.Reference]:
    """The messages an Update or Cancel names: the warning it follows and all before it."""
    if data.msg_type == "Alert":
        if data.follows is not None:
            raise ValidationFailed(
                "an Alert starts a warning: `follows` is for an Update or a Cancel",
                field="follows",
            )
        return []
    if data.follows is None:
        raise ValidationFailed(
            f"an {data.msg_type} names the warning it follows (`follows`: its id)",
            field="follows",
        )
    before = db.session.get(CapAlert, data.follows)
    if (
        before is None
        or before.direction != OUT
        or before.incident_id is not None
        or not within(before.area_code, user.area_code)
    ):
        raise NotFound("no such warning", field="follows")
    if before.msg_type == "Cancel":
        raise InvalidTransition(f"warning {before.id} was cancelled", field="follows")
    later = _superseded_by([before]).get(before.id)
    if later is not None:
        raise InvalidTransition(
            f"warning {before.id} was followed by {later}: follow the latest", field="follows"
        )
    return [*_stored_references(before), _reference(before)]


def create_warning(user: User, data: WarningCreate) -> dict[str, Any]:
    """An operator's own warning as a CAP message; a retry with the same client_id answers
    the first one."""
    try:
        return _create_warning(user, data)
    except IntegrityError:
        answer = _warning_by_client_id(user, data)
        if answer is None:
            raise
        return answer


def _warning_identifier(city: str, client_id: uuid.UUID) -> str:
    return f"gridwatch.{city}.warning.{client_id}"


def _warning_by_client_id(user: User, data: WarningCreate) -> dict[str, Any] | None:
    if data.client_id is None:
        return None
    identifier = _warning_identifier(city_of(data.area_code), data.client_id)
    first = db.session.scalar(db.select(CapAlert).where(CapAlert.identifier == identifier))
    if first is None:
        return None
    if first.direction != OUT or not within(first.area_code, user.area_code):
        raise ValidationFailed("client_id already used", field="client_id")
    return {"warning": alert_feature(first), "duplicate": True}


@use_case
def _create_warning(user: User, data: WarningCreate) -> dict[str, Any]:
    require_role(user, DISPATCH_ROLES)
    area = _area(data.area_code)
    if area is None:
        raise NotFound(f"no such area {data.area_code}", field="area_code")
    if not within(area.code, user.area_code):
        raise Forbidden(f"area {area.code} is outside your jurisdiction", field="area_code")
    duplicate = _warning_by_client_id(user, data)
    if duplicate is not None:
        return duplicate
    references = _follows(user, data)
    now = utcnow().replace(microsecond=0)
    expires = _expiry(data.expires, now)
    drawn = _drawn_area(data, area)
    level = data.risk_level
    event = m.EVENTS[data.category]
    scope, restriction = _scope(data.category)
    city = city_of(area.code)
    city_area = _area(city)
    city_name = city_area.name if city_area is not None else city
    ended = data.msg_type == "Cancel"
    key = "cancelled" if ended else m.instruction_key(data.category, "Alert", "open")
    common = cap.Info(
        language="",
        categories=event.cap_categories,
        event="",
        urgency="Past" if ended else m.URGENCY[level],
        severity=m.SEVERITY[level],
        certainty=data.certainty,
        headline="",
        response_types=(m.response_type(data.category, data.msg_type),),
        expires=expires,
        web=_web(),
        parameters=(
            ("gridwatch:category", data.category),
            ("gridwatch:riskLevel", level),
            ("gridwatch:warningLevel", m.LEVEL_GRADE[level]),
        ),
        areas=(drawn,),
    )
    message = cap.Alert(
        identifier=_warning_identifier(city, data.client_id or uuid.uuid4()),
        sender=sender_for(city),
        sent=now,
        status=data.status,
        msg_type=data.msg_type,
        scope=scope,
        restriction=restriction,
        references=tuple(references),
        infos=(
            replace(
                common,
                language="zh-CN",
                event=event.zh,
                sender_name=f"{city_name}退役军人服务网络指挥中心",
                headline=data.headline,
                description=data.description,
                instruction=data.instruction or m.INSTRUCTION_ZH[key],
            ),
            replace(
                common,
                language="en-US",
                event=event.en,
                sender_name=f"Veterans' service network command room, {city_name}",
                headline=data.headline_en
                or f"{m.LEVEL_EN[level]} warning (level {m.LEVEL_GRADE[level]}): "
                f"{event.en.lower()} in {area.name}",
                description=data.description_en or "",
                instruction=data.instruction_en or m.INSTRUCTION_EN[key],
            ),
        ),
    )
    row = _row(
        message,
        cap.build_alert(message),
        direction=OUT,
        user=user,
        area_code=area.code,
        geometry=_geometry(message.infos[0].areas),
    )
    _sent_audit(row, user, "warning")
    return {"warning": alert_feature(row), "duplicate": False}


def warning_xml(user: User, warning_id: int) -> dict[str, Any]:
    """A warning's CAP message, as it was sent."""
    require_role(user, OPERATOR_ROLES)
    row = db.session.get(CapAlert, warning_id)
    if (
        row is None
        or row.direction != OUT
        or row.incident_id is not None
        or not within(row.area_code, user.area_code)
    ):
        raise NotFound("no such warning")
    return _answer(row, created=False)


# ---- alerts received ---------------------------------------------------------------------


def require_importer(user: User) -> None:
    """The public alerting chain feeds the city's command room: an imported alert is seen
    by every county it touches, so only city-wide operators and admins import."""
    require_role(user, DISPATCH_ROLES)
    if level_of(user.area_code) != "city":
        raise Forbidden("alerts from the public alerting chain are imported by the city")


def import_alert(user: User | None, data: bytes) -> dict[str, Any]:
    """Check one incoming CAP alert against the schema and store it; the same alert again
    (same sender and identifier) changes nothing. `user` None: the command line."""
    if user is not None:
        require_importer(user)
    try:
        incoming = cap.read_alert(data)
    except cap.CapError as exc:
        raise ValidationFailed(exc.message, field="body", problems=exc.problems) from None
    try:
        return _store_incoming(user, incoming)
    except IntegrityError:
        first = _existing(incoming)
        if first is None:
            raise
        return {"alert": alert_feature(first), "duplicate": True, "supersedes": []}


def _existing(incoming: cap.IncomingAlert) -> CapAlert | None:
    first = db.session.scalar(db.select(CapAlert).where(CapAlert.identifier == incoming.identifier))
    if first is not None and first.sender != incoming.sender:
        raise ValidationFailed(
            f"identifier {incoming.identifier!r} is already used by {first.sender!r}'s alert "
            f"#{first.id}; identifiers are kept unique across senders here",
            field="identifier",
        )
    return first


def _resolve_area(geocodes: Iterable[tuple[str, str]]) -> Area | None:
    """One of our areas named by a geocode: our own code, a GB/T 2260 code, or CMA's
    12-digit CPEAS code (whose first six digits are the county's GB/T 2260 code)."""
    for name, value in geocodes:
        kind, value = name.strip().lower(), value.strip()
        if kind == m.GEOCODE_AREA.lower():
            code = value
        elif kind in {"gb/t 2260", "gbt2260", "gb2260"} or kind == m.GEOCODE_CPEAS.lower():
            code = value[:6]
        else:
            continue
        if code.isdigit() and (area := _area(code)) is not None:
            return area
    return None


@use_case
def _store_incoming(user: User | None, incoming: cap.IncomingAlert) -> dict[str, Any]:
    first = _existing(incoming)
    if first is not None:
        return {"alert": alert_feature(first), "duplicate": True, "supersedes": []}
    area = _resolve_area(incoming.geocodes)
    geometry = incoming.geometry
    if geometry is None and area is not None:
        geometry = cap.read.geojson(_shape(area).simplify(0.0005, preserve_topology=True))
    row = CapAlert(
        direction=IN,
        identifier=incoming.identifier,
        sender=incoming.sender,
        sent=incoming.sent,
        status=incoming.status,
        msg_type=incoming.msg_type,
        scope=incoming.scope,
        references=cap.references_text(incoming.references),
        area_code=area.code if area is not None else None,
        event=(incoming.event or "")[:255] or None,
        urgency=incoming.urgency,
        severity=incoming.severity,
        certainty=incoming.certainty,
        headline=(incoming.headline or "")[:500] or None,
        expires=incoming.expires,
        geometry=geometry,
        xml=incoming.text,
        created_by=user.id if user is not None else None,
    )
    db.session.add(row)
    db.session.flush()
    # An Update or a Cancel ends the alerts it names (alert_feature: superseded_by).
    named = {(r.sender, r.identifier) for r in incoming.references}
    ended = [
        a.id
        for a in db.session.scalars(
            db.select(CapAlert).where(
                CapAlert.direction == IN,
                CapAlert.identifier.in_([i for _, i in named]),
                CapAlert.id != row.id,
            )
        )
        if (a.sender, a.identifier) in named
    ]
    audit(
        "cap.received",
        "cap_alert",
        row.id,
        actor=user,
        area_code=row.area_code,
        after={
            "identifier": row.identifier,
            "sender": row.sender,
            "msg_type": row.msg_type,
            "supersedes": ended,
            "warnings": list(incoming.warnings),
        },
    )
    feature = alert_feature(row)
    rooms = [
        names.area_room(jurisdiction_prefix(code), limited=limited)
        for code in _staff_areas()
        if _visible_to(row, code)
        for limited in (False, True)
    ]
    outbox().emit(names.OPERATOR, names.CAP_ALERT, {"alert": feature, "supersedes": ended}, rooms)
    return {
        "alert": feature,
        "duplicate": False,
        "supersedes": ended,
        "warnings": incoming.warnings,
    }


def _staff_areas() -> list[str]:
    stmt = (
        db.select(User.area_code)
        .where(User.role.in_(OPERATOR_ROLES), User.active.is_(True))
        .distinct()
    )
    return list(db.session.scalars(stmt))


def _visible_to(alert: CapAlert, area_code: str, outlines: dict[str, Any] | None = None) -> bool:
    """May staff of `area_code` see an alert received? The city sees every one; a county
    (or below) those whose area touches it, and those that say nowhere we can draw."""
    if level_of(area_code) == "city":
        return True
    if alert.area_code is not None and (
        within(alert.area_code, area_code) or within(area_code, alert.area_code)
    ):
        return True
    if alert.geometry is None:
        return alert.area_code is None
    cache = outlines if outlines is not None else {}
    if area_code not in cache:
        area = _area(area_code)
        cache[area_code] = _shape(area) if area is not None else None
    outline = cache[area_code]
    if outline is None:
        return False
    try:
        return _meets(shapely.make_valid(shape(alert.geometry)), outline)
    except (ValueError, TypeError, shapely.errors.GEOSException):
        return False


# ---- lists --------------------------------------------------------------------------------


def _superseded_by(alerts: list[CapAlert]) -> dict[int, int]:
    """Which later message (an Update or a Cancel) names each of these alerts."""
    if not alerts:
        return {}
    wanted = {(a.sender, a.identifier): a.id for a in alerts}
    since = min(a.sent for a in alerts)
    later = db.session.execute(
        db.select(CapAlert.id, CapAlert.references)
        .where(
            CapAlert.references.is_not(None),
            CapAlert.direction.in_(sorted({a.direction for a in alerts})),
            CapAlert.sent >= since,
        )
        .order_by(CapAlert.id)
    )
    out: dict[int, int] = {}
    for later_id, text in later:
        refs, _ = cap.read.parse_references(text)
        for ref in refs:
            alert_id = wanted.get((ref.sender, ref.identifier))
            if alert_id is not None and alert_id != later_id:
                out.setdefault(alert_id, later_id)  # the message that came next
    return out


def ends_at(alert: CapAlert) -> datetime:
    return alert.expires or alert.sent + timedelta(hours=UNDATED_HOURS)


def alert_feature(
    alert: CapAlert, *, superseded_by: int | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """An alert as a GeoJSON Feature: its areas, and what the list and the map show."""
    now = now or utcnow()
    expired = ends_at(alert) <= now
    return {
        "type": "Feature",
        "id": alert.id,
        "geometry": alert.geometry,
        "properties": {
            "id": alert.id,
            "direction": alert.direction,
            "identifier": alert.identifier,
            "sender": alert.sender,
            "sent": cap.cap_time(alert.sent),
            "status": alert.status,
            "msg_type": alert.msg_type,
            "scope": alert.scope,
            "event": alert.event,
            "urgency": alert.urgency,
            "severity": alert.severity,
            "certainty": alert.certainty,
            "headline": alert.headline,
            "expires": cap.cap_time(alert.expires) if alert.expires is not None else None,
            "area_code": alert.area_code,
            "incident_id": alert.incident_id,
            "references": [str(r) for r in _stored_references(alert)],
            "superseded_by": superseded_by,
            "expired": expired,
            "active": not expired
            and superseded_by is None
            and alert.msg_type not in NOT_ACTIVE_TYPES,
            "signed": cap.read.XMLDSIG in alert.xml,
        },
    }


def list_alerts(user: User, query: CapAlertQuery) -> dict[str, Any]:
    """Alerts received (`in`: the city sees all, a county those touching it) or sent
    (`out`: those of the caller's area), newest first, as a FeatureCollection."""
    require_role(user, OPERATOR_ROLES)
    now = utcnow()
    stmt = db.select(CapAlert).where(CapAlert.direction == query.direction)
    if query.direction == OUT:
        stmt = stmt.where(CapAlert.area_code.startswith(jurisdiction_prefix(user.area_code)))
    if query.active == "1":
        stmt = stmt.where(
            CapAlert.msg_type.not_in(NOT_ACTIVE_TYPES),
            db.or_(
                CapAlert.expires > now,
                db.and_(
                    CapAlert.expires.is_(None),
                    CapAlert.sent > now - timedelta(hours=UNDATED_HOURS),
                ),
            ),
        )
    stmt = stmt.order_by(CapAlert.sent.desc(), CapAlert.id.desc()).limit(MAX_LIST * 5)
    rows = list(db.session.scalars(stmt))
    if query.direction == IN and level_of(user.area_code) != "city":
        outlines: dict[str, Any] = {}
        rows = [r for r in rows if _visible_to(r, user.area_code, outlines)]
    later = _superseded_by(rows)
    features = [alert_feature(r, superseded_by=later.get(r.id), now=now) for r in rows]
    if query.active == "1":
        features = [f for f in features if f["properties"]["active"]]
    return {"type": "FeatureCollection", "features": features[: query.limit]}


__all__ = [
    "CAP_MEDIA_TYPE",
    "alert_feature",
    "create_warning",
    "import_alert",
    "incident_alert",
    "list_alerts",
    "require_importer",
    "warning_xml",
]
