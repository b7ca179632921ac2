from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest
import shapely

from grid import (
    CITY_CODE,
    LANZHOU_CENTER_LAT,
    LANZHOU_CENTER_LON,
    Area,
    CellIndex,
    county_info,
    generate_lanzhou,
    level_of,
    parent_of,
    township_info,
)

PATTERNS = {
    "city": r"620100",
    "county": r"6201(02|03|04|05|11|21|22|23)",
    "township": r"6201\d{5}",
    "village": r"6201\d{5}(?!000)\d{3}",
    "cell": r"6201\d{8}(?!000)\d{3}",
}


def test_counts_and_code_formats(demo: list[Area]) -> None:
    levels = Counter(a.level for a in demo)
    assert levels["city"] == 1 and levels["county"] == 8 and levels["township"] == 112
    assert 300 <= levels["village"] <= 400
    assert levels["cell"] >= 2000
    assert len({a.code for a in demo}) == len(demo)
    for area in demo:
        assert re.fullmatch(PATTERNS[area.level], area.code), area.code
        assert level_of(area.code) == area.level
        assert area.parent_code == parent_of(area.code)
        assert area.geometry.is_valid and not area.geometry.is_empty
    assert demo[0].code == CITY_CODE and demo[0].name == "兰州市"


def test_real_names(demo: list[Area]) -> None:
    names = {a.code: a.name for a in demo}
    assert names["620102"] == "城关区" and names["620123"] == "榆中县"
    assert names["620102001"] == "酒泉路街道"
    assert {t.code: t.name for t in township_info()}.items() <= names.items()
    assert "620171" not in names and not any(code.startswith("620171") for code in names)
    assert names["620102001001"].startswith("酒泉路街道第1")
    assert names["620102001001001"].endswith("第1网格")


def test_hierarchy_tiles(demo: list[Area]) -> None:
    by_code = {a.code: a for a in demo}
    children: dict[str, list[Area]] = {}
    for area in demo:
        if area.parent_code is not None:
            assert area.parent_code in by_code, area.code
            children.setdefault(area.parent_code, []).append(area)
    for code, kids in children.items():
        parent = by_code[code].geometry
        kid_geoms = [k.geometry for k in kids]
        # every child lies within its parent (up to floating point noise) …
        outside = shapely.area(shapely.difference(kid_geoms, parent))
        assert outside.max() < 1e-9 * parent.area, code
        # … and together they cover it with no overlap
        assert sum(g.area for g in kid_geoms) == pytest.approx(parent.area, rel=1e-9)
    assert all(code in children for code, a in by_code.items() if a.level != "cell")


def test_every_village_has_cells(demo: list[Area]) -> None:
    villages = {a.code for a in demo if a.level == "village"}
    with_cells = {a.parent_code for a in demo if a.level == "cell"}
    assert villages == with_cells


def test_centre_in_chengguan(demo_index: CellIndex) -> None:
    code = demo_index.locate(LANZHOU_CENTER_LON, LANZHOU_CENTER_LAT)
    assert code is not None and code.startswith("620102")


def test_county_centres_in_their_counties(demo: list[Area]) -> None:
    index = CellIndex([a for a in demo if a.level in ("city", "county")])
    for county in county_info():
        assert index.locate(county.lon, county.lat) == county.code


def test_deterministic_per_seed() -> None:
    def fingerprint(areas: list[Area]) -> list[tuple[str, str, bytes]]:
        return [(a.code, a.name, shapely.to_wkb(a.geometry)) for a in areas]

    first = generate_lanzhou(cells=500, seed=7)
    assert fingerprint(first) == fingerprint(generate_lanzhou(cells=500, seed=7))
    other = generate_lanzhou(cells=500, seed=8)
    assert fingerprint(first) != fingerprint(other)
    assert [a.code for a in first if a.level == "county"] == [
        a.code for a in other if a.level == "county"
    ]


def test_cell_count_at_least_requested() -> None:
    for requested in (1, 113, 997):
        cells = [a for a in generate_lanzhou(cells=requested, seed=3) if a.level == "cell"]
        assert len(cells) >= requested
        villages = {a.parent_code for a in cells}
        assert len(villages) >= 112


def test_inside_plausible_envelope(demo: list[Area]) -> None:
    min_x, min_y, max_x, max_y = demo[0].geometry.bounds
    assert 102.0 < min_x < max_x < 105.2 and 35.2 < min_y < max_y < 37.4
    lons = np.array([a.centroid[0] for a in demo])
    assert np.isfinite(lons).all()
