"""Read CAP 1.2 alerts from elsewhere: check them against the OASIS schema, then take out
what the operator map needs (who, when, what, how bad, where).

The XML comes from outside: it is parsed without a DTD, entities or network access, and
refused past `MAX_BYTES`. Signatures (XML-DSig, which the schema allows after the last
`info`) are kept as received, not verified: the stored text is the message as it came.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import shapely
from lxml import etree
from shapely.geometry import MultiPoint, MultiPolygon, Point, Polygon, mapping

from .build import NS, Reference

SCHEMA_PATH = Path(__file__).with_name("CAP-v1.2.xsd")
MAX_BYTES = 1024 * 1024
"""An alert is a few kB; signed ones with many polygons some tens of kB."""
XMLDSIG = "http://www.w3.org/2000/09/xmldsig#"
CIRCLE_SEGMENTS = 48
MAX_ERRORS = 5
_PREFIX = f"{{{NS}}}"
_local = threading.local()


class CapError(ValueError):
    """Not a CAP 1.2 alert we can take: the message says why, with the line."""

    def __init__(self, message: str, *, problems: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or [{"line": None, "message": message}]


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
    )


def schema() -> etree.XMLSchema:
    """The OASIS schema bundled with the package, one per thread (lxml's validators keep
    their error log in the object)."""
    cached = getattr(_local, "schema", None)
    if cached is None:
        cached = etree.XMLSchema(etree.parse(str(SCHEMA_PATH), _parser()))
        _local.schema = cached
    return cached


def _short(message: str) -> str:
    """The schema's reason, with CAP's namespace written as `cap:`."""
    return message.replace(_PREFIX, "cap:")


def validate(data: bytes) -> etree._ElementTree:
    """Parse and check one alert against the CAP 1.2 schema; `CapError` names the schema's
    reason and line."""
    if len(data) > MAX_BYTES:
        raise CapError(f"the alert has {len(data)} bytes; at most {MAX_BYTES} are accepted")
    if not data.strip():
        raise CapError("the body is empty: send one CAP 1.2 <alert> as XML")
    try:
        tree = etree.ElementTree(etree.fromstring(data, _parser()))
    except etree.XMLSyntaxError as exc:
        line = exc.lineno
        message = f"line {line}: not well-formed XML: {exc.msg}"
        raise CapError(message, problems=[{"line": line, "message": exc.msg}]) from None
    if tree.docinfo.doctype:
        raise CapError("a DOCTYPE is not accepted in an alert")
    checker = schema()
    if not checker.validate(tree):
        problems = [
            {"line": e.line, "message": _short(e.message)}
            for e in list(checker.error_log)[:MAX_ERRORS]
        ]
        detail = "; ".join(f"line {p['line']}: {p['message']}" for p in problems)
        raise CapError(f"not a valid CAP 1.2 alert: {detail}", problems=problems)
    return tree


@dataclass(frozen=True)
class IncomingAlert:
    """What the map and the list show of an alert; the XML itself is kept whole."""

    identifier: str
    sender: str
    sent: datetime
    status: str
    msg_type: str
    scope: str
    references: tuple[Reference, ...]
    language: str | None
    event: str | None
    urgency: str | None
    severity: str | None
    certainty: str | None
    headline: str | None
    sender_name: str | None
    expires: datetime | None
    area_desc: str | None
    geometry: dict[str, Any] | None
    geocodes: tuple[tuple[str, str], ...]
    signed: bool
    text: str
    warnings: tuple[str, ...] = field(default=())


def _child(node: etree._Element, tag: str) -> str | None:
    found = node.find(f"{_PREFIX}{tag}")
    if found is None or found.text is None:
        return None
    return str(found.text).strip()


def _children(node: etree._Element, tag: str) -> list[etree._Element]:
    return list(node.iterfind(f"{_PREFIX}{tag}"))


def parse_time(text: str, what: str, line: int | None) -> datetime:
    """A CAP date and time (the schema checks its shape, not that it is a real moment)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise CapError(
            f"line {line}: {what} {text!r} is not a date and time like 2026-11-29T10:00:00+08:00",
            problems=[{"line": line, "message": f"{what} {text!r} is not a date and time"}],
        )
    return moment


def _check_name(value: str, what: str, line: int | None) -> str:
    # CAP 1.2 §3.2.1: no spaces or commas, or `references` could not name the message.
    if not value or any(c.isspace() or c == "," for c in value) or len(value) > 255:
        raise CapError(
            f"line {line}: {what} {value[:80]!r} must be 1 to 255 characters without spaces "
            "or commas (CAP 1.2, 3.2.1)",
            problems=[{"line": line, "message": f"{what} has spaces, commas or is too long"}],
        )
    return value


def parse_references(text: str | None) -> tuple[tuple[Reference, ...], list[str]]:
    """`sender,identifier,sent` triples, separated by whitespace."""
    refs: list[Reference] = []
    warnings: list[str] = []
    for part in (text or "").split():
        pieces = part.split(",")
        if len(pieces) < 3:
            warnings.append(f"references: {part!r} is not sender,identifier,sent")
            continue
        refs.append(Reference(pieces[0], ",".join(pieces[1:-1]), pieces[-1]))
    return tuple(refs), warnings


def _pick_info(infos: list[etree._Element]) -> etree._Element | None:
    """The block the operators read: Chinese first, then English, else the first."""
    if not infos:
        return None
    languages = [(_child(i, "language") or "en-US").lower() for i in infos]
    for prefix in ("zh", "en"):
        for info, language in zip(infos, languages, strict=True):
            if language.startswith(prefix):
                return info
    return infos[0]


def _coordinate(text: str) -> tuple[float, float]:
    lat_text, lon_text = text.split(",")
    lat, lon = float(lat_text), float(lon_text)
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError("outside WGS-84")
    return lat, lon


def parse_polygon(text: str) -> Polygon:
    """A CAP polygon (`lat,lon` pairs, first = last, at least four) as (lon, lat) shapely."""
    points = [_coordinate(pair) for pair in text.split()]
    if len(points) < 4 or points[0] != points[-1]:
        raise ValueError("a polygon needs at least four lat,lon pairs, the first repeated last")
    return Polygon([(lon, lat) for lat, lon in points])


def circle_polygon(lat: float, lon: float, radius_km: float) -> Polygon | Point:
    """A circle as a polygon in degrees, near enough for a map (a point when radius 0)."""
    if radius_km <= 0:
        return Point(lon, lat)
    dlat = radius_km / 111.32
    dlon = radius_km / (111.32 * max(math.cos(math.radians(lat)), 0.01))
    ring = [
        (
            lon + dlon * math.cos(2 * math.pi * k / CIRCLE_SEGMENTS),
            max(-90.0, min(90.0, lat + dlat * math.sin(2 * math.pi * k / CIRCLE_SEGMENTS))),
        )
        for k in range(CIRCLE_SEGMENTS)
    ]
    return Polygon(ring)


def parse_circle(text: str) -> Polygon | Point:
    centre, radius_text = text.split()
    lat, lon = _coordinate(centre)
    radius = float(radius_text)
    if not math.isfinite(radius) or radius < 0 or radius > 20_000:
        raise ValueError("the radius must be 0 to 20000 km")
    return circle_polygon(lat, lon, radius)


def geojson(geometry: Any) -> dict[str, Any]:
    """A shapely geometry as plain GeoJSON (lists, not tuples), to the micro-degree."""
    rounded = mapping(shapely.set_precision(geometry, 1e-6, mode="pointwise"))
    return dict(json.loads(json.dumps(rounded)))


def area_geometry(areas: list[etree._Element]) -> tuple[dict[str, Any] | None, list[str]]:
    """The areas' polygons and circles as one GeoJSON geometry (WGS-84)."""
    polygons: list[Polygon] = []
    points: list[Point] = []
    warnings: list[str] = []
    for area in areas:
        for node in _children(area, "polygon"):
            try:
                polygons.append(parse_polygon(node.text or ""))
            except ValueError as exc:
                warnings.append(f"line {node.sourceline}: polygon skipped: {exc}")
        for node in _children(area, "circle"):
            try:
                shape = parse_circle(node.text or "")
            except ValueError as exc:
                warnings.append(f"line {node.sourceline}: circle skipped: {exc}")
                continue
            (points if isinstance(shape, Point) else polygons).append(shape)  # type: ignore[arg-type]
    if not polygons and not points:
        return None, warnings
    if polygons and points:
        return geojson(shapely.GeometryCollection([*polygons, *points])), warnings
    if polygons:
        return geojson(polygons[0] if len(polygons) == 1 else MultiPolygon(polygons)), warnings
    return geojson(points[0] if len(points) == 1 else MultiPoint(points)), warnings


def read_alert(data: bytes) -> IncomingAlert:
    """Validate `data` and read it; `CapError` when the schema or the content refuses it."""
    tree = validate(data)
    root = tree.getroot()

    def line(tag: str) -> int | None:
        node = root.find(f"{_PREFIX}{tag}")
        return node.sourceline if node is not None else None

    identifier = _check_name(_child(root, "identifier") or "", "identifier", line("identifier"))
    sender = _check_name(_child(root, "sender") or "", "sender", line("sender"))
    sent = parse_time(_child(root, "sent") or "", "sent", line("sent"))
    references, warnings = parse_references(_child(root, "references"))
    infos = _children(root, "info")
    info = _pick_info(infos)
    expires = None
    areas: list[etree._Element] = []
    if info is not None:
        expires_text = _child(info, "expires")
        if expires_text:
            node = info.find(f"{_PREFIX}expires")
            expires = parse_time(
                expires_text, "expires", node.sourceline if node is not None else None
            )
        areas = _children(info, "area")
    geometry, shape_warnings = area_geometry(areas)
    if geometry is None:
        # The chosen block may name places only; another language's may draw them.
        for other in infos:
            if other is not info:
                geometry, _ = area_geometry(_children(other, "area"))
                if geometry is not None:
                    break
    geocodes = tuple(
        (_child(g, "valueName") or "", _child(g, "value") or "")
        for area in areas
        for g in _children(area, "geocode")
    )
    descs = [d for d in (_child(a, "areaDesc") for a in areas) if d]
    encoding = tree.docinfo.encoding or "UTF-8"
    try:
        text = data.decode(encoding)
    except (LookupError, UnicodeDecodeError):
        text = etree.tostring(tree, encoding="unicode")
    return IncomingAlert(
        identifier=identifier,
        sender=sender,
        sent=sent,
        status=_child(root, "status") or "",
        msg_type=_child(root, "msgType") or "",
        scope=_child(root, "scope") or "",
        references=references,
        language=(_child(info, "language") or "en-US") if info is not None else None,
        event=_child(info, "event") if info is not None else None,
        urgency=_child(info, "urgency") if info is not None else None,
        severity=_child(info, "severity") if info is not None else None,
        certainty=_child(info, "certainty") if info is not None else None,
        headline=_child(info, "headline") if info is not None else None,
        sender_name=_child(info, "senderName") if info is not None else None,
        expires=expires,
        area_desc="; ".join(descs) or None,
        geometry=geometry,
        geocodes=geocodes,
        signed=root.find(f"{{{XMLDSIG}}}Signature") is not None,
        text=text.lstrip("\ufeff"),
        warnings=tuple(warnings + shape_warnings),
    )


__all__ = [
    "MAX_BYTES",
    "SCHEMA_PATH",
    "CapError",
    "IncomingAlert",
    "area_geometry",
    "circle_polygon",
    "geojson",
    "parse_polygon",
    "parse_references",
    "read_alert",
    "schema",
    "validate",
]
