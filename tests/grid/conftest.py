"""Shared fixtures for the grid tests: the demo geography and the reference data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from grid import Area, CellIndex, generate_lanzhou

SHARED_GEO = Path(__file__).resolve().parents[3] / "shared" / "data" / "geo"


@pytest.fixture(scope="session")
def shared_geo() -> Path:
    """The project's reference data directory (outside the repo, next to it)."""
    if not SHARED_GEO.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"CI must provide ../shared beside the repository: {SHARED_GEO} is missing")
        pytest.skip(f"reference data not found at {SHARED_GEO}")
    return SHARED_GEO


@pytest.fixture(scope="session")
def demo() -> list[Area]:
    return generate_lanzhou(cells=2000, seed=0)


@pytest.fixture(scope="session")
def demo_index(demo: list[Area]) -> CellIndex:
    return CellIndex(demo)
