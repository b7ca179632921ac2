from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from grid import bd09_to_wgs84, gcj02_to_wgs84, wgs84_to_gcj02


def _distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    d_lat = (lat2 - lat1) * 110_574.0
    d_lon = (lon2 - lon1) * 111_320.0 * math.cos(math.radians(lat1))
    return math.hypot(d_lat, d_lon)


def _vectors(shared_geo: Path, from_crs: str) -> list[dict[str, str]]:
    with (shared_geo / "gcj02_wgs84_bd09_test_vectors.csv").open(encoding="utf-8") as f:
        return [row for row in csv.DictReader(f) if row["from_crs"] == from_crs]


def test_wgs84_to_gcj02_matches_vectors(shared_geo: Path) -> None:
    rows = _vectors(shared_geo, "WGS84")
    assert len(rows) == 3
    for row in rows:
        lon, lat = wgs84_to_gcj02(float(row["from_lng"]), float(row["from_lat"]))
        assert lon == pytest.approx(float(row["to_lng"]), abs=1e-6), row["case"]
        assert lat == pytest.approx(float(row["to_lat"]), abs=1e-6), row["case"]


def test_gcj02_to_wgs84_is_exact_inverse(shared_geo: Path) -> None:
    for row in _vectors(shared_geo, "WGS84"):
        lon, lat = gcj02_to_wgs84(float(row["to_lng"]), float(row["to_lat"]))
        assert _distance_m(lon, lat, float(row["from_lng"]), float(row["from_lat"])) < 0.01


def test_bd09_to_wgs84_matches_vectors(shared_geo: Path) -> None:
    rows = _vectors(shared_geo, "BD09")
    assert len(rows) == 2
    for row in rows:
        lon, lat = bd09_to_wgs84(float(row["from_lng"]), float(row["from_lat"]))
        # the vectors come from the one-step approximate GCJ-02 inverse; ours is exact
        assert _distance_m(lon, lat, float(row["to_lng"]), float(row["to_lat"])) < 2.0


def test_round_trip_over_lanzhou_arrays() -> None:
    rng = np.random.default_rng(0)
    lons = rng.uniform(102.5, 104.6, 5000)
    lats = rng.uniform(35.5, 37.0, 5000)
    g_lons, g_lats = wgs84_to_gcj02(lons, lats)
    assert isinstance(g_lons, np.ndarray) and g_lons.shape == lons.shape
    shift = np.hypot(g_lons - lons, g_lats - lats)
    assert (shift > 1e-4).all()  # GCJ-02 really moves points in China
    back_lons, back_lats = gcj02_to_wgs84(g_lons, g_lats)
    assert np.abs(back_lons - lons).max() < 1e-9
    assert np.abs(back_lats - lats).max() < 1e-9


def test_scalar_matches_vectorised() -> None:
    lon, lat = gcj02_to_wgs84(103.841032, 36.049115)
    lons, lats = gcj02_to_wgs84(np.array([103.841032]), np.array([36.049115]))
    assert isinstance(lon, float) and isinstance(lat, float)
    assert (lon, lat) == (lons[0], lats[0])


@pytest.mark.parametrize(("lon", "lat"), [(2.3522, 48.8566), (-74.006, 40.7128), (151.2, -33.9)])
def test_outside_china_unchanged(lon: float, lat: float) -> None:
    assert wgs84_to_gcj02(lon, lat) == (lon, lat)
    assert gcj02_to_wgs84(lon, lat) == (lon, lat)
