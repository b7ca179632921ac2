"""Exports of reports and incidents: GeoJSON and CSV, streamed (docs/exports.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from flask import Response, stream_with_context

from ..schemas import ExportQuery
from ..services import exports
from ..services.exports import Export, Kind
from . import bp
from .common import caller, query

FORMATS: dict[str, tuple[str, str, Callable[[Export], Iterator[str]]]] = {
    "geojson": ("application/geo+json", "geojson", exports.geojson_chunks),
    "csv": ("text/csv", "csv", exports.csv_chunks),
}


def _export(kind: Kind, fmt: str) -> Any:
    mimetype, suffix, chunks = FORMATS[fmt]
    export = exports.prepare_export(caller(), kind, query(ExportQuery))
    return Response(
        stream_with_context(chunks(export)),
        mimetype=mimetype,
        headers={
            "Content-Disposition": f'attachment; filename="{export.filename}.{suffix}"',
            "X-Gridwatch-Count": str(export.count),
        },
    )


@bp.get("/exports/reports.geojson")
def reports_geojson() -> Any:
    return _export("reports", "geojson")


@bp.get("/exports/reports.csv")
def reports_csv() -> Any:
    return _export("reports", "csv")


@bp.get("/exports/incidents.geojson")
def incidents_geojson() -> Any:
    return _export("incidents", "geojson")


@bp.get("/exports/incidents.csv")
def incidents_csv() -> Any:
    return _export("incidents", "csv")
