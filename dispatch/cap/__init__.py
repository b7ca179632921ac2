"""CAP 1.2 (OASIS Common Alerting Protocol): write alerts, and check and read others'.

The pure part of Gridwatch's CAP support: lxml and shapely over plain data, no Flask and no
database (services/cap.py stores, authorises and announces; cap/cli.py is the command).
The OASIS schema is bundled (CAP-v1.2.xsd), so nothing outside the package is needed at
run time. docs/cap.md has the mapping tables (mapping.py) and the choices made.
"""

from __future__ import annotations

from .build import (
    LOCAL,
    NS,
    Alert,
    Area,
    Info,
    Reference,
    build_alert,
    cap_time,
    circle_text,
    polygon_text,
    references_text,
)
from .read import MAX_BYTES, SCHEMA_PATH, CapError, IncomingAlert, read_alert, schema, validate

__all__ = [
    "LOCAL",
    "MAX_BYTES",
    "NS",
    "SCHEMA_PATH",
    "Alert",
    "Area",
    "CapError",
    "IncomingAlert",
    "Info",
    "Reference",
    "build_alert",
    "cap_time",
    "circle_text",
    "polygon_text",
    "read_alert",
    "references_text",
    "schema",
    "validate",
]
