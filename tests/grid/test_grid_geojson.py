from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from grid import (
    LANZHOU_CENTER_LAT,
    LANZHOU_CENTER_LON,
    CellIndex,
    GridError,
    dump_geojson,
    gcj02_to_wgs84,
    load_geojson,
)

GCJ02_FILE = "lanzhou_620100_districts_datav_gcj02.geojson"
WGS84_FILE = "lanzhou_620100_districts_wgs84_derived.geojson"
COUNTIES = {"620102", "620103", "620104", "620105", "620111", "620121", "620122", "620123"}


def _square(x: float = 103.8, y: float = 36.0, size: float = 0.01) -> dict[str, Any]:
    ring = [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]
    return {"type": "Polygon", "coordinates": [ring]}


def _feature(code: Any, name: str = "某地", geometry: Any = None) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {"code": code, "name": name},
        "geometry": geometry if geometry is not None else _square(),
    }


def _collection(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


@pytest.mark.parametrize(("filename", "crs"), [(GCJ02_FILE, "gcj02"), (WGS84_FILE, "wgs84")])
def test_real_districts_load_and_locate(shared_geo: Path, filename: str, crs: str) -> None:
    warnings: list[str] = []
    areas = load_geojson(
        shared_geo / filename, level="county", code_prop="adcode", crs=crs, warnings=warnings
    )
    assert {a.code for a in areas} == COUNTIES
    assert all(a.parent_code == "620100" and a.geometry.is_valid for a in areas)
    assert len(warnings) == 1 and "620111" in warnings[0] and "红古区" in warnings[0]

    index = CellIndex(areas)
    assert index.locate(LANZHOU_CENTER_LON, LANZHOU_CENTER_LAT) == "620102"
    features = json.loads((shared_geo / filename).read_text(encoding="utf-8"))["features"]
    for feature in features:
        lon, lat = feature["properties"]["center"]
        if crs == "gcj02":
            lon, lat = gcj02_to_wgs84(lon, lat)
        assert index.locate(lon, lat) == str(feature["properties"]["adcode"])


def test_gcj02_file_converts_to_the_derived_wgs84_file(shared_geo: Path) -> None:
    converted = load_geojson(
        shared_geo / GCJ02_FILE, level="county", code_prop="adcode", crs="gcj02"
    )
    derived = load_geojson(shared_geo / WGS84_FILE, level="county", code_prop="adcode")
    for a, b in zip(converted, derived, strict=True):
        assert a.code == b.code
        assert a.geometry.symmetric_difference(b.geometry).area < 1e-5 * a.geometry.area


def test_dump_round_trip() -> None:
    fc = _collection(_feature("620102", "城关区"), _feature("620102001", "酒泉路街道"))
    areas = load_geojson(fc)
    again = load_geojson(json.loads(json.dumps(dump_geojson(areas))), parent_prop="parent_code")
    assert [(a.code, a.name, a.level, a.parent_code) for a in again] == [
        ("620102", "城关区", "county", "620100"),
        ("620102001", "酒泉路街道", "township", "620102"),
    ]
    assert again[0].geometry.equals(areas[0].geometry)


def test_truncated_json(tmp_path: Path) -> None:
    path = tmp_path / "broken.geojson"
    path.write_text(json.dumps(_collection(_feature("620102")))[:-20], encoding="utf-8")
    with pytest.raises(GridError) as info:
        load_geojson(path, level="county")
    assert len(info.value.problems) == 1
    assert "invalid JSON" in info.value.problems[0]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(GridError, match="cannot read"):
        load_geojson(tmp_path / "nope.geojson", level="county")


def test_not_a_feature_collection() -> None:
    with pytest.raises(GridError, match="not a GeoJSON FeatureCollection"):
        load_geojson({"type": "Feature"}, level="county")


def test_every_problem_is_listed_one_line_each() -> None:
    nan_square = _square()
    nan_square["coordinates"][0][2] = [float("nan"), 36.0]
    fc = _collection(
        _feature("620102"),  # fine
        {
            "type": "Feature",
            "properties": {"code": "620103", "name": "七里河区"},
            "geometry": None,
        },  # 1: no geometry
        _feature("620104", geometry=nan_square),  # 2: NaN coordinate
        _feature("620102"),  # 3: duplicate
        _feature("620105", geometry={"type": "Point", "coordinates": [103.8, 36.0]}),
        _feature("6201051", name="x"),  # 5: malformed code
        _feature("620111", geometry=_square(x=300.0)),  # 6: out of range
        _feature(None),  # 7: missing code
        _feature("620102001"),  # 8: wrong level
    )
    with pytest.raises(GridError) as info:
        load_geojson(fc, level="county")
    problems = info.value.problems
    assert len(problems) == 8, problems
    expected = [
        ("feature 1 (code 620103)", "no geometry"),
        ("feature 2 (code 620104)", "non-finite"),
        ("feature 3 (code 620102)", "duplicate code 620102"),
        ("feature 4 (code 620105)", "'Point'"),
        ("feature 5 (code 6201051)", "7 digits"),
        ("feature 6 (code 620111)", "out of range"),
        ("feature 7", "missing code"),
        ("feature 8 (code 620102001)", "township code, not a county"),
    ]
    for line, (where, what) in zip(problems, expected, strict=True):
        assert line.startswith(where + ":") and what in line, line
    assert str(info.value).count("\n") == 8


def test_self_intersection_is_repaired_with_warning() -> None:
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    warnings: list[str] = []
    [area] = load_geojson(
        _collection(_feature("620102", "城关区", bowtie)), level="county", warnings=warnings
    )
    assert area.geometry.is_valid and area.geometry.area == pytest.approx(0.5)
    assert len(warnings) == 1 and "feature 0 (code 620102 城关区)" in warnings[0]


def test_unrepairable_polygon_is_an_error() -> None:
    flat = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [2, 0], [0, 0]]]}
    with pytest.raises(GridError, match="cannot be repaired"):
        load_geojson(_collection(_feature("620102", geometry=flat)), level="county")


def test_parent_prop_must_match_code() -> None:
    feature = _feature("620102001")
    feature["properties"]["parent"] = "620103"
    ok = copy.deepcopy(feature)
    ok["properties"]["parent"] = 620102
    assert (
        load_geojson(_collection(ok), level="township", parent_prop="parent")[0].parent_code
        == "620102"
    )
    with pytest.raises(GridError, match="parent 620103 does not match"):
        load_geojson(_collection(feature), level="township", parent_prop="parent")


def test_bad_arguments() -> None:
    with pytest.raises(GridError) as info:
        load_geojson(_collection(_feature("620102")), level="district", crs="bd09")
    assert len(info.value.problems) == 2
