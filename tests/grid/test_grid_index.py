from __future__ import annotations

import numpy as np
import shapely
from shapely import box

from grid import Area, CellIndex


def test_locate_agrees_with_brute_force(demo: list[Area], demo_index: CellIndex) -> None:
    cells = [a for a in demo if a.level == "cell"]
    assert demo_index.level == "cell" and len(demo_index) == len(cells)
    min_x, min_y, max_x, max_y = shapely.total_bounds([a.geometry for a in demo])
    rng = np.random.default_rng(42)
    lons = rng.uniform(min_x - 0.05, max_x + 0.05, 10_000)
    lats = rng.uniform(min_y - 0.05, max_y + 0.05, 10_000)
    geoms = np.array([a.geometry for a in cells], dtype=object)
    codes = np.array([a.code for a in cells], dtype=object)
    inside = shapely.contains_xy(geoms[:, None], lons[None, :], lats[None, :])
    assert (inside.sum(axis=0) <= 1).all()  # cells do not overlap
    expected = [codes[column.argmax()] if column.any() else None for column in inside.T]
    located = [demo_index.locate(x, y) for x, y in zip(lons, lats, strict=True)]
    assert located == expected
    assert sum(code is not None for code in located) > 5_000
    assert demo_index.locate_many(lons, lats).tolist() == located


def test_locate_many_shapes_and_bad_input(demo_index: CellIndex) -> None:
    result = demo_index.locate_many(
        [[103.8343, np.nan], [0.0, 103.8343]], [[36.0611, 36.0], [0.0, np.inf]]
    )
    assert result.shape == (2, 2) and result.dtype == object
    assert result[0, 0] is not None and result[0, 0].startswith("620102")
    assert result[0, 1] is None and result[1, 0] is None and result[1, 1] is None
    assert demo_index.locate(float("nan"), 36.0) is None
    assert demo_index.locate_many([], []).shape == (0,)


def test_shared_border_goes_to_lowest_code() -> None:
    index = CellIndex(
        [
            Area("620102001002", "乙", "village", "620102001", box(1, 0, 2, 1)),
            Area("620102001001", "甲", "village", "620102001", box(0, 0, 1, 1)),
        ]
    )
    assert index.locate(1.0, 0.5) == "620102001001"
    assert index.locate_many([1.0, 1.5], [0.5, 0.5]).tolist() == ["620102001001", "620102001002"]


def test_nearest_snaps_points_just_outside(demo: list[Area], demo_index: CellIndex) -> None:
    city = demo[0].geometry
    min_x, min_y, max_x, max_y = city.bounds
    west = shapely.Point(min_x - 0.1, (min_y + max_y) / 2)
    edge = shapely.shortest_line(west, city.exterior).coords[1]
    metres_per_deg = 111_320.0 * np.cos(np.radians(edge[1]))
    lon, lat = edge[0] - 5.0 / metres_per_deg, edge[1]  # 5 m outside the city
    assert demo_index.locate(lon, lat) is None
    snapped = demo_index.nearest(lon, lat, max_m=20)
    assert snapped is not None
    assert demo_index.get(snapped).geometry.distance(shapely.Point(lon, lat)) < 10 / metres_per_deg
    assert demo_index.nearest(lon, lat, max_m=2) is None
    inside = demo_index.locate(103.8343, 36.0611)
    assert demo_index.nearest(103.8343, 36.0611, max_m=10) == inside


def test_empty_index() -> None:
    index = CellIndex([])
    assert len(index) == 0
    assert index.locate(103.8, 36.0) is None
    assert index.locate_many([103.8], [36.0]).tolist() == [None]
    assert index.nearest(103.8, 36.0, 100) is None
