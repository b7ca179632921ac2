"""Property tests: grid's parsers take any input and answer with a result or a GridError.

Malformed area codes and malformed GeoJSON (wrong types, broken nesting, NaN, Infinity,
huge numbers, bad UTF-8) are refused with the module's documented error, one line per
problem, never with an exception of another kind.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grid import CellIndex, GridError, gcj02_to_wgs84, generate_lanzhou, load_geojson
from grid.codes import (
    CELL_CODE_PATTERN,
    CODE_PATTERN,
    LEVELS,
    ancestor_prefixes,
    ancestors,
    is_within,
    jurisdiction_prefix,
    level_of,
    parent_of,
)
from grid.geojson import CRS_NAMES

EXAMPLES = int(os.environ.get("GRIDWATCH_FUZZ_EXAMPLES", "0") or 0) or 150
PROPERTY = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# Codes near the valid ones: the right lengths, with zeros where they are not allowed.
digits = st.text(alphabet="0123456789", min_size=0, max_size=17)
near_codes = st.builds(
    lambda parts: "".join(parts),
    st.lists(st.sampled_from(["62", "00", "01", "0000", "001", "000", "999", "6201"]), max_size=6),
)
codes = digits | near_codes | st.text(max_size=16) | st.sampled_from(["６２０１００", "٦٢٠١٠٠"])
anything = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=10,
)


@PROPERTY
@given(code=codes | anything)
def test_level_of_answers_or_raises_grid_error(code: Any) -> None:
    try:
        level = level_of(code)
    except GridError as exc:
        assert len(exc.problems) == 1 and exc.problems[0]
        assert not (isinstance(code, str) and re.fullmatch(CODE_PATTERN, code))
        return
    # The regular expression the API's schemas use accepts exactly what level_of accepts.
    assert re.fullmatch(CODE_PATTERN, code)
    assert level in LEVELS
    assert bool(re.fullmatch(CELL_CODE_PATTERN, code)) == (level == "cell")
    chain = ancestors(code)
    assert chain[-1] == code and level_of(chain[0]) == "city"
    assert [level_of(c) for c in chain] == list(LEVELS[: len(chain)])
    assert parent_of(code) == (chain[-2] if len(chain) > 1 else None)
    assert all(is_within(code, a) for a in chain)
    assert ancestor_prefixes(code) == [jurisdiction_prefix(a) for a in chain]


@PROPERTY
@given(code=st.from_regex(CODE_PATTERN, fullmatch=True))
def test_every_code_the_pattern_accepts_is_well_formed(code: str) -> None:
    assert level_of(code) in LEVELS


# ------------------------------------------------------------------------------ GeoJSON

numbers = st.floats() | st.integers(min_value=-(10**30), max_value=10**30) | st.booleans()
positions = st.lists(numbers | st.text(max_size=3) | st.none(), min_size=0, max_size=3)


def _square(x: float, y: float, size: float) -> list[list[float]]:
    return [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]


def _bowtie(x: float, y: float, size: float) -> list[list[float]]:
    return [[x, y], [x + size, y + size], [x + size, y], [x, y + size], [x, y]]


shapes = st.builds(
    lambda shape, x, y, size: shape(x, y, size),
    st.sampled_from([_square, _bowtie]),
    st.floats(-180, 179),
    st.floats(-90, 89),
    st.floats(0, 1),
)
good_geometries = st.builds(
    lambda ring: {"type": "Polygon", "coordinates": [ring]}, shapes
) | st.builds(
    lambda rings: {"type": "MultiPolygon", "coordinates": [[r] for r in rings]},
    st.lists(shapes, min_size=1, max_size=3),
)
bad_geometries = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["Polygon", "MultiPolygon", "Point", "LineString", 7]),
        "coordinates": st.lists(st.lists(positions, max_size=6) | anything, max_size=3) | anything,
    }
)
good_features = st.fixed_dictionaries(
    {
        "type": st.just("Feature"),
        "properties": st.fixed_dictionaries(
            {
                "code": st.from_regex(CODE_PATTERN, fullmatch=True)
                | st.sampled_from(["620102", "620103", 620104]),
                "name": st.text(min_size=1, max_size=5),
            }
        ),
        "geometry": good_geometries,
    }
)
# A good feature with one part broken, or anything at all.
features = (
    good_features
    | st.builds(
        lambda feature, key, value: {**feature, key: value},
        good_features,
        st.sampled_from(["type", "properties", "geometry"]),
        anything | bad_geometries,
    )
    | st.builds(
        lambda feature, key, value: {
            **feature,
            "properties": {**feature["properties"], key: value},
        },
        good_features,
        st.sampled_from(["code", "name", "parent"]),
        codes | anything,
    )
    | anything
)
collections = (
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["FeatureCollection", "FeatureCollection", "Feature"]),
            "features": st.lists(good_features, min_size=1, max_size=3)
            | st.lists(features, max_size=4)
            | anything,
        }
    )
    | anything
)


@PROPERTY
@given(
    source=collections,
    level=st.sampled_from([None, None, None, *LEVELS, "planet"]),
    crs=st.sampled_from([*CRS_NAMES, "bd09"]),
    parent_prop=st.none() | st.just("parent"),
)
def test_load_geojson_answers_or_raises_grid_error(
    source: Any, level: str | None, crs: str, parent_prop: str | None
) -> None:
    if not isinstance(source, dict):
        source = {"type": "FeatureCollection", "features": source}
    warnings: list[str] = []
    try:
        areas = load_geojson(
            source, level=level, crs=crs, parent_prop=parent_prop, warnings=warnings
        )
    except GridError as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
        return
    for area in areas:
        assert area.geometry.is_valid and not area.geometry.is_empty
        assert level is None or area.level == level
    assert all(isinstance(w, str) for w in warnings)


@settings(max_examples=max(EXAMPLES // 3, 20), deadline=None)
@given(content=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_load_geojson_file_of_any_bytes(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "grid.geojson"
        path.write_bytes(content)
        try:
            load_geojson(path, level="county")
        except GridError as exc:
            assert exc.problems
    # A file that is not there is the same kind of error.
    try:
        load_geojson(Path(folder) / "gone.geojson")
    except GridError as exc:
        assert "cannot read" in str(exc)
    else:  # pragma: no cover - the folder was removed above
        raise AssertionError("a missing file must raise GridError")


def test_json_special_values_are_refused() -> None:
    # Python's json module reads NaN and Infinity, which no GeoJSON may contain.
    text = json.dumps(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "properties": {"code": "620102", "name": "城关区"},
                    "geometry": {"type": "Polygon", "coordinates": [[[math.nan, 36.0]] * 4]},
                }
            ],
        }
    )
    assert "NaN" in text
    try:
        load_geojson(json.loads(text), level="county")
    except GridError as exc:
        assert "non-finite coordinate" in str(exc)
    else:
        raise AssertionError("NaN must be refused")


INDEX = CellIndex(generate_lanzhou(cells=60, seed=0))


@PROPERTY
@given(lon=st.floats(), lat=st.floats(), max_m=st.floats(min_value=0, max_value=1e7))
def test_locating_any_point_answers_a_cell_or_none(lon: float, lat: float, max_m: float) -> None:
    found = INDEX.locate(lon, lat)
    assert found is None or found in INDEX
    near = INDEX.nearest(lon, lat, max_m)
    assert near is None or near in INDEX


def test_found_by_the_properties() -> None:
    # A MultiPolygon with a part of no area made shapely's make_valid raise GEOSException.
    flat, unit = _square(0, 0, 0), _square(0, 1, 1)
    feature = {
        "type": "Feature",
        "properties": {"code": "620102", "name": "城关区"},
        "geometry": {"type": "MultiPolygon", "coordinates": [[flat], [unit]]},
    }
    try:
        load_geojson({"type": "FeatureCollection", "features": [feature]})
    except GridError as exc:
        assert "cannot be repaired" in str(exc)
    else:
        raise AssertionError("a part of no area cannot be repaired")
    # GCJ-02 input at a pole ran the China-only formula there, and it overflowed.
    assert gcj02_to_wgs84(-179.99, -90.0) == (-179.99, -90.0)
    # A county whose city would be a province: its ancestors cannot be named.
    try:
        level_of("620001")
    except GridError as exc:
        assert "no city" in str(exc)
    else:
        raise AssertionError("620001 lies in no city")
