"""Write CAP 1.2 alerts: plain data in, the XML the OASIS schema accepts out.

The same inputs give the same bytes, so a stored message can be compared with what the
current state would say (services/cap.py sends an Update only when something changed).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from lxml import etree

NS = "urn:oasis:names:tc:emergency:cap:1.2"
LOCAL = ZoneInfo("Asia/Shanghai")
# What XML 1.0 cannot carry at all (lxml refuses it): control characters, lone surrogates.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def cap_time(moment: datetime) -> str:
    """A CAP date and time: whole seconds, Beijing time, offset written out.

    The schema's pattern (`\\d\\d\\d\\d-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d[-,+]\\d\\d:\\d\\d`)
    refuses `Z` and fractions of a second.

    >>> from datetime import UTC, datetime
    >>> cap_time(datetime(2026, 11, 29, 2, 0, 0, 123456, tzinfo=UTC))
    '2026-11-29T10:00:00+08:00'
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LOCAL)
    return moment.astimezone(LOCAL).replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class Reference:
    """An earlier message, as CAP names it: `sender,identifier,sent`."""

    sender: str
    identifier: str
    sent: str

    def __str__(self) -> str:
        return f"{self.sender},{self.identifier},{self.sent}"


def references_text(refs: Iterable[Reference]) -> str | None:
    """CAP's `references`: the extended identifiers, separated by spaces."""
    text = " ".join(str(r) for r in refs)
    return text or None


@dataclass(frozen=True)
class Area:
    desc: str
    # Rings of (lat, lon), each closed (first point = last), at least four points.
    polygons: tuple[tuple[tuple[float, float], ...], ...] = ()
    # (lat, lon, radius in km)
    circles: tuple[tuple[float, float, float], ...] = ()
    geocodes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Info:
    language: str
    categories: tuple[str, ...]
    event: str
    urgency: str
    severity: str
    certainty: str
    headline: str
    description: str = ""
    instruction: str = ""
    response_types: tuple[str, ...] = ()
    sender_name: str | None = None
    expires: datetime | None = None
    web: str | None = None
    parameters: tuple[tuple[str, str], ...] = ()
    areas: tuple[Area, ...] = ()


@dataclass(frozen=True)
class Alert:
    identifier: str
    sender: str
    sent: datetime
    msg_type: str
    scope: str
    status: str = "Actual"
    restriction: str | None = None
    note: str | None = None
    references: tuple[Reference, ...] = ()
    incidents: str | None = None
    infos: tuple[Info, ...] = field(default_factory=tuple)

    def reference(self) -> Reference:
        """How a later message names this one."""
        return Reference(self.sender, self.identifier, cap_time(self.sent))


def _text(value: str) -> str:
    return _NOT_XML.sub("", value)


def _add(parent: etree._Element, tag: str, value: str | None) -> None:
    if value is None or value == "":
        return
    etree.SubElement(parent, f"{{{NS}}}{tag}").text = _text(value)


def _point(lat: float, lon: float) -> str:
    return f"{lat:.6f},{lon:.6f}"


def polygon_text(ring: Sequence[tuple[float, float]]) -> str:
    """A CAP polygon: `lat,lon` pairs separated by spaces, the first repeated last."""
    points = list(ring)
    if points and points[0] != points[-1]:
        points.append(points[0])
    return " ".join(_point(lat, lon) for lat, lon in points)


def circle_text(lat: float, lon: float, radius_km: float) -> str:
    """A CAP circle: `lat,lon radius`, the radius in kilometres."""
    return f"{_point(lat, lon)} {radius_km:.3f}"


def _area(parent: etree._Element, area: Area) -> None:
    node = etree.SubElement(parent, f"{{{NS}}}area")
    _add(node, "areaDesc", area.desc or "-")
    for ring in area.polygons:
        _add(node, "polygon", polygon_text(ring))
    for lat, lon, radius in area.circles:
        _add(node, "circle", circle_text(lat, lon, radius))
    for name, value in area.geocodes:
        geocode = etree.SubElement(node, f"{{{NS}}}geocode")
        _add(geocode, "valueName", name)
        _add(geocode, "value", value)


def _info(parent: etree._Element, info: Info) -> None:
    node = etree.SubElement(parent, f"{{{NS}}}info")
    _add(node, "language", info.language)
    for category in info.categories:
        _add(node, "category", category)
    _add(node, "event", info.event)
    for response in info.response_types:
        _add(node, "responseType", response)
    _add(node, "urgency", info.urgency)
    _add(node, "severity", info.severity)
    _add(node, "certainty", info.certainty)
    _add(node, "expires", cap_time(info.expires) if info.expires is not None else None)
    _add(node, "senderName", info.sender_name)
    _add(node, "headline", info.headline)
    _add(node, "description", info.description)
    _add(node, "instruction", info.instruction)
    _add(node, "web", info.web)
    for name, value in info.parameters:
        parameter = etree.SubElement(node, f"{{{NS}}}parameter")
        _add(parameter, "valueName", name)
        _add(parameter, "value", value)
    for area in info.areas:
        _area(node, area)


def build_alert(alert: Alert) -> bytes:
    """The alert as CAP 1.2 XML (UTF-8, with the XML declaration), elements in the
    schema's order."""
    root = etree.Element(f"{{{NS}}}alert", nsmap={None: NS})
    _add(root, "identifier", alert.identifier)
    _add(root, "sender", alert.sender)
    _add(root, "sent", cap_time(alert.sent))
    _add(root, "status", alert.status)
    _add(root, "msgType", alert.msg_type)
    _add(root, "scope", alert.scope)
    _add(root, "restriction", alert.restriction)
    _add(root, "note", alert.note)
    _add(root, "references", references_text(alert.references))
    _add(root, "incidents", alert.incidents)
    for info in alert.infos:
        _info(root, info)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


__all__ = [
    "LOCAL",
    "NS",
    "Alert",
    "Area",
    "Info",
    "Reference",
    "build_alert",
    "cap_time",
    "circle_text",
    "polygon_text",
    "references_text",
]
