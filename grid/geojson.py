"""GeoJSON in and out, validating everything before anything is accepted.

An import is all or nothing: every problem in the input is collected and reported at once
in a :class:`~grid.errors.GridError`, one line each naming the feature index, its code and
what is wrong.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.errors import ShapelyError
from shapely.geometry import MultiPolygon, Polygon, mapping, shape

from grid.area import Area
from grid.codes import LEVELS, level_of, parent_of
from grid.crs import gcj02_to_wgs84
from grid.errors import GridError

__all__ = ["CRS_NAMES", "dump_geojson", "load_geojson"]

CRS_NAMES: tuple[str, ...] = ("wgs84", "gcj02")
"""Coordinate systems :func:`load_geojson` accepts."""

_POLYGONAL = ("Polygon", "MultiPolygon")


def _read(source: str | Path | Mapping[str, Any]) -> Any:
    if isinstance(source, Mapping):
        return source
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise GridError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise GridError(f"{path}: not UTF-8 text: {exc.reason}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise GridError(
            f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc


def _code_value(value: Any) -> str | None:
    """Codes may arrive as ints (DataV ``adcode``); anything else but a str is refused."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value.strip()
    return None


def _position_problems(coords: Any, depth: int) -> list[str]:
    """Check nesting and every position of a Polygon (depth 2) or MultiPolygon (depth 3).

    Returns one line per kind of problem, with a count and the first offending value.
    """
    found: dict[str, list[Any]] = {}

    def note(kind: str, value: Any) -> None:
        found.setdefault(kind, []).append(value)

    def walk(node: Any, level: int) -> None:
        if level == 0:
            if not isinstance(node, list | tuple) or len(node) < 2:
                note("malformed position", node)
                return
            lon, lat = node[0], node[1]
            if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lon, lat)):
                note("non-numeric coordinate", list(node[:2]))
            elif not (math.isfinite(lon) and math.isfinite(lat)):
                note("non-finite coordinate", list(node[:2]))
            elif not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
                note("coordinate out of range (lon, lat)", list(node[:2]))
            return
        if not isinstance(node, list | tuple):
            note("malformed coordinates (expected an array)", node)
            return
        for child in node:
            walk(child, level - 1)

    walk(coords, depth)
    return [
        f"{kind}: {values[0]!r}" + (f" and {len(values) - 1} more" if len(values) > 1 else "")
        for kind, values in found.items()
    ]


def _polygonal_part(geom: Any) -> Polygon | MultiPolygon | None:
    """Keep the polygonal parts of a (repaired) geometry; ``None`` if nothing is left."""
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in _POLYGONAL and not p.is_empty]
    polygons: list[Polygon] = []
    for part in parts:
        polygons.extend(part.geoms if isinstance(part, MultiPolygon) else [part])
    if not polygons:
        return None
    if len(polygons) == 1:
        return polygons[0]
    return MultiPolygon(polygons)


def _to_wgs84(geom: Any) -> Any:
    def convert(coords: np.ndarray) -> np.ndarray:
        lon, lat = gcj02_to_wgs84(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    return shapely.transform(geom, convert)


def load_geojson(
    source: str | Path | Mapping[str, Any],
    *,
    level: str | None = None,
    code_prop: str = "code",
    name_prop: str = "name",
    parent_prop: str | None = None,
    crs: str = "wgs84",
    warnings: list[str] | None = None,
) -> list[Area]:
    """Read a GeoJSON FeatureCollection of (multi)polygons into :class:`Area` objects.

    Everything is validated before anything is returned; a polygon that is invalid but
    repairable (e.g. self-intersecting) is repaired with :func:`shapely.make_valid`, its
    polygonal parts kept, and a warning naming the feature is recorded.

    Parameters
    ----------
    source : str, Path or mapping
        A file path, or an already parsed FeatureCollection.
    level : str, optional
        Level of every feature (one of :data:`grid.codes.LEVELS`). ``None`` infers each
        feature's level from its code (for re-importing :func:`dump_geojson` output).
    code_prop, name_prop : str
        Feature properties holding the area code (str or int) and the name.
    parent_prop : str, optional
        Property holding the parent code; by default the parent is derived from the code.
    crs : {"wgs84", "gcj02"}
        Coordinate system of the input; GCJ-02 is converted to WGS-84.
    warnings : list of str, optional
        Non-fatal findings (repaired polygons) are appended here.

    Returns
    -------
    list of Area
        In the input's feature order.

    Raises
    ------
    GridError
        Listing every problem found, one line each.

    Examples
    --------
    >>> fc = {"type": "FeatureCollection", "features": [{
    ...     "type": "Feature", "properties": {"adcode": 620102, "name": "城关区"},
    ...     "geometry": {"type": "Polygon",
    ...                  "coordinates": [[[103.8, 36.0], [103.9, 36.0], [103.9, 36.1],
    ...                                   [103.8, 36.0]]]}}]}
    >>> [area] = load_geojson(fc, level="county", code_prop="adcode")
    >>> area.code, area.name, area.level, area.parent_code
    ('620102', '城关区', 'county', '620100')
    >>> fc["features"][0]["geometry"] = None
    >>> load_geojson(fc, level="county", code_prop="adcode")
    Traceback (most recent call last):
    ...
    grid.errors.GridError: feature 0 (code 620102): no geometry
    """
    setup: list[str] = []
    if level is not None and level not in LEVELS:
        setup.append(f"unknown level {level!r}; expected one of {', '.join(LEVELS)}")
    if crs not in CRS_NAMES:
        setup.append(f"unknown crs {crs!r}; expected one of {', '.join(CRS_NAMES)}")
    if setup:
        raise GridError(setup)

    data = _read(source)
    if not isinstance(data, Mapping) or data.get("type") != "FeatureCollection":
        kind = data.get("type") if isinstance(data, Mapping) else type(data).__name__
        raise GridError(f"not a GeoJSON FeatureCollection (type is {kind!r})")
    features = data.get("features")
    if not isinstance(features, list):
        raise GridError("FeatureCollection has no 'features' array")

    problems: list[str] = []
    found: list[str] = []
    seen: dict[str, int] = {}
    areas: list[Area] = []

    for index, feature in enumerate(features):
        if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
            problems.append(f"feature {index}: not a GeoJSON Feature")
            continue
        props = feature.get("properties")
        props = props if isinstance(props, Mapping) else {}
        raw_code = props.get(code_prop)
        code = _code_value(raw_code)
        where = f"feature {index} (code {code})" if code else f"feature {index}"
        mine: list[str] = []

        feature_level = level
        if code is None or code == "":
            mine.append(
                f"missing code property {code_prop!r}"
                if raw_code in (None, "")
                else f"code {raw_code!r} is not a string or integer"
            )
        else:
            try:
                actual = level_of(code)
            except GridError as exc:
                mine.extend(exc.problems)
            else:
                if level is not None and actual != level:
                    mine.append(f"code {code} is a {actual} code, not a {level} code")
                feature_level = actual
            if code in seen:
                mine.append(f"duplicate code {code} (first used by feature {seen[code]})")
            else:
                seen[code] = index

        name = props.get(name_prop)
        if not isinstance(name, str) or not name.strip():
            mine.append(f"missing name property {name_prop!r}")

        parent: str | None = None
        if not mine and code is not None:
            if parent_prop is None:
                parent = parent_of(code)
            else:
                parent = _code_value(props.get(parent_prop))
                if parent is None or parent == "":
                    parent = None
                    if parent_of(code) is not None:
                        mine.append(f"missing parent property {parent_prop!r}")
                else:
                    try:
                        level_of(parent)
                    except GridError as exc:
                        mine.extend(f"parent: {p}" for p in exc.problems)
                    else:
                        if parent != parent_of(code):
                            mine.append(
                                f"parent {parent} does not match code {code} "
                                f"(expected {parent_of(code)})"
                            )

        geometry = feature.get("geometry")
        geom: Any = None
        if not isinstance(geometry, Mapping):
            mine.append("no geometry")
        elif geometry.get("type") not in _POLYGONAL:
            mine.append(f"geometry is {geometry.get('type')!r}, not Polygon or MultiPolygon")
        else:
            coords = geometry.get("coordinates")
            bad = _position_problems(coords, 2 if geometry["type"] == "Polygon" else 3)
            if bad:
                mine.extend(bad)
            else:
                try:
                    geom = shape(geometry)
                except (ValueError, TypeError, ShapelyError) as exc:
                    mine.append(f"malformed {geometry['type']}: {exc}")
                else:
                    if geom.is_empty:
                        mine.append("empty geometry")
                        geom = None

        if geom is not None and crs == "gcj02":
            geom = _to_wgs84(geom)
        if geom is not None and not geom.is_valid:
            reason = shapely.is_valid_reason(geom)
            try:
                repaired = _polygonal_part(shapely.make_valid(geom))
            except ShapelyError:  # e.g. a MultiPolygon with a part of no area
                repaired = None
            if repaired is None or repaired.is_empty:
                mine.append(f"invalid polygon that cannot be repaired: {reason}")
            else:
                name_text = f" {name}" if isinstance(name, str) else ""
                found.append(
                    f"feature {index} (code {code}{name_text}): invalid polygon ({reason}) "
                    "repaired with make_valid, polygonal parts kept"
                )
                geom = repaired

        if mine:
            problems.extend(f"{where}: {p}" for p in mine)
            continue
        assert code is not None and feature_level is not None and isinstance(name, str)
        areas.append(Area(code, name.strip(), feature_level, parent, geom))

    if not features:
        problems.append("FeatureCollection has no features")
    if warnings is not None:
        warnings.extend(found)
    if problems:
        raise GridError(problems, found)
    return areas


def dump_geojson(areas: Sequence[Area]) -> dict[str, Any]:
    """Write areas as a GeoJSON FeatureCollection (WGS-84).

    Properties are ``code``, ``name``, ``level`` and ``parent_code``, so the output reads
    back with ``load_geojson(fc, parent_prop="parent_code")``.

    Examples
    --------
    >>> from shapely import box
    >>> fc = dump_geojson([Area("620102", "城关区", "county", "620100", box(0, 0, 1, 1))])
    >>> fc["features"][0]["properties"]
    {'code': '620102', 'name': '城关区', 'level': 'county', 'parent_code': '620100'}
    >>> [a.code for a in load_geojson(fc, parent_prop="parent_code")]
    ['620102']
    """
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {
                    "code": area.code,
                    "name": area.name,
                    "level": area.level,
                    "parent_code": area.parent_code,
                },
                "geometry": mapping(area.geometry),
            }
            for area in areas
        ],
    }
