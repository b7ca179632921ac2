"""Answers in the format the URL asks for: `.json`, or `.xml` as the spec's examples write it
(the Spark convention: a JSON array is an XML container of singular elements)."""

from __future__ import annotations

import json
import re
from typing import Any
from xml.etree import ElementTree as ET

from flask import Response

# A container's item element, by the container's name.
ITEMS = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}
# What XML 1.0 cannot carry (input refuses it; this guards what was stored before).
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _fill(ET.SubElement(element, key), item)
    elif isinstance(value, list):
        name = ITEMS.get(element.tag, "item")
        for item in value:
            _fill(ET.SubElement(element, name), item)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = _NOT_XML.sub("", str(value))


def to_xml(root: str, data: Any) -> str:
    """
    >>> print(to_xml("errors", [{"code": 403, "description": "no key"}]))
    <?xml version="1.0" encoding="utf-8"?>
    <errors><error><code>403</code><description>no key</description></error></errors>
    """
    element = ET.Element(root)
    _fill(element, data)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(element, encoding="unicode")


def answer(fmt: str, root: str, data: Any, status: int = 200) -> Response:
    """`data` as JSON, or as XML under the element `root`."""
    if fmt == "xml":
        return Response(to_xml(root, data), status, content_type="text/xml; charset=utf-8")
    text = json.dumps(data, ensure_ascii=False)
    try:
        body = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate stored by another way in: escape it
        body = json.dumps(data).encode("ascii")
    return Response(body, status, content_type="application/json; charset=utf-8")
