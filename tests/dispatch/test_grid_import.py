"""`gridwatch import-grid` / `export-grid` on the real Lanzhou boundaries and broken files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

import grid
from dispatch.extensions import db
from dispatch.models import Area
from dispatch.services import areas
from tests.conftest import SHARED_DATA

GEO = SHARED_DATA / "geo"
GCJ02 = GEO / "lanzhou_620100_districts_datav_gcj02.geojson"
WGS84 = GEO / "lanzhou_620100_districts_wgs84_derived.geojson"
COUNTY = ["--level", "county", "--code-prop", "adcode"]


def area_count(app: Flask) -> int:
    with app.app_context():
        return len(db.session.scalars(db.select(Area.code)).all())


@pytest.mark.parametrize(("path", "crs"), [(GCJ02, "gcj02"), (WGS84, "wgs84")])
def test_real_lanzhou_districts(app: Flask, runner: FlaskCliRunner, path: Path, crs: str) -> None:
    result = runner.invoke(args=["import-grid", str(path), "--crs", crs, *COUNTY])
    assert result.exit_code == 0, result.output
    assert "620111" in result.output and "红古区" in result.output and "repaired" in result.output
    assert "imported 8 areas" in result.output and "derived 620100" in result.output
    with app.app_context():
        assert areas.locate(36.0611, 103.8343)["code"] == "620102"
        features = json.loads(GCJ02.read_text(encoding="utf-8"))["features"]
        for feature in features:
            lon, lat = grid.gcj02_to_wgs84(*feature["properties"]["center"])
            found = areas.locate(lat, lon)
            assert found["code"] == str(feature["properties"]["adcode"])
            assert [a["level"] for a in found["areas"]] == ["city", "county"]


def test_reimport_is_an_update(app: Flask, runner: FlaskCliRunner) -> None:
    first = runner.invoke(args=["import-grid", str(GCJ02), "--crs", "gcj02", *COUNTY])
    again = runner.invoke(args=["import-grid", str(WGS84), *COUNTY])
    assert first.exit_code == 0 and again.exit_code == 0, again.output
    assert "0 new, 8 updated" in again.output
    assert area_count(app) == 9


def test_export_then_import_round_trip(app: Flask, runner: FlaskCliRunner, tmp_path: Path) -> None:
    assert runner.invoke(args=["import-grid", str(WGS84), *COUNTY]).exit_code == 0
    out = tmp_path / "grid.geojson"
    result = runner.invoke(args=["export-grid", str(out)])
    assert result.exit_code == 0 and "wrote 9 areas" in result.output
    exported = json.loads(out.read_text(encoding="utf-8"))
    assert {f["properties"]["code"] for f in exported["features"]} >= {"620100", "620102"}
    result = runner.invoke(args=["import-grid", str(out)])
    assert result.exit_code == 0 and "0 new, 9 updated" in result.output


def feature(code: str, coords: list, name: str = "x") -> dict:
    geometry = {"type": "Polygon", "coordinates": [coords]} if coords is not None else None
    return {"type": "Feature", "properties": {"code": code, "name": name}, "geometry": geometry}


SQUARE = [[103.80, 36.00], [103.90, 36.00], [103.90, 36.10], [103.80, 36.10], [103.80, 36.00]]


def write(tmp_path: Path, features: list[dict] | str) -> Path:
    path = tmp_path / "bad.geojson"
    if isinstance(features, str):
        path.write_text(features, encoding="utf-8")
    else:
        path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


@pytest.mark.parametrize(
    ("features", "expected"),
    [
        ('{"type": "FeatureCollection", "features": [', "JSON"),
        ([feature("620102", None)], "no geometry"),
        ([feature("620102", [[103.8, float("nan")], *SQUARE[1:]])], "620102"),
        ([feature("620102", SQUARE), feature("620102", SQUARE)], "duplicate"),
        ([feature("620102999", SQUARE)], "parent 620102"),
    ],
    ids=["truncated JSON", "no geometry", "NaN coordinate", "duplicate code", "orphan parent"],
)
def test_broken_file_changes_nothing(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path, features: list[dict] | str, expected: str
) -> None:
    assert runner.invoke(args=["import-grid", str(WGS84), *COUNTY]).exit_code == 0
    before = area_count(app)
    result = runner.invoke(args=["import-grid", str(write(tmp_path, features))])
    assert result.exit_code != 0
    assert expected in result.output
    assert "nothing was imported" in result.output
    assert area_count(app) == before


def test_one_line_per_problem(app: Flask, runner: FlaskCliRunner, tmp_path: Path) -> None:
    bad = [
        feature("620102", None),
        feature("620103", SQUARE),
        feature("620103", SQUARE),
        feature("620104", [[103.8, 200.0], *SQUARE[1:]]),
    ]
    result = runner.invoke(args=["import-grid", str(write(tmp_path, bad))])
    assert result.exit_code != 0
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 3, result.output
    assert area_count(app) == 0


def test_child_outside_parent_and_overlapping_siblings(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    assert runner.invoke(args=["import-grid", str(WGS84), *COUNTY]).exit_code == 0
    with app.app_context():
        chengguan = db.session.get(Area, "620102")
        assert chengguan is not None
        x0, y0 = chengguan.centroid_lon, chengguan.centroid_lat
    a = [[x0, y0], [x0 + 0.01, y0], [x0 + 0.01, y0 + 0.01], [x0, y0 + 0.01], [x0, y0]]
    b = [
        [x0 + 0.005, y0],
        [x0 + 0.015, y0],
        [x0 + 0.015, y0 + 0.01],
        [x0 + 0.005, y0 + 0.01],
        [x0 + 0.005, y0],
    ]
    far = [[110.0, 30.0], [110.1, 30.0], [110.1, 30.1], [110.0, 30.1], [110.0, 30.0]]
    result = runner.invoke(
        args=[
            "import-grid",
            str(
                write(
                    tmp_path,
                    [feature("620102001", a), feature("620102002", b), feature("620102003", far)],
                )
            ),
        ]
    )
    assert result.exit_code != 0
    assert "overlaps sibling 620102001" in result.output
    assert "620102003" in result.output and "outside its parent 620102" in result.output
