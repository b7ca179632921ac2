"""Grid benchmarks: locating points against raw Shapely, and importing a large grid file."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import shapely

import grid
from bench.figures import figure


def _median_of(runs: int, func: Any) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def bench_grid(quick: bool, workdir: Path) -> dict[str, dict[str, Any]]:
    """CellIndex vs raw STRtree on a 50,000-cell grid; import of a 100,000-cell file."""
    cells = grid.generate_lanzhou(cells=50_000, seed=1)
    leaves = [a for a in cells if a.level == "cell"]
    index = grid.CellIndex(leaves)
    polygons = np.array([a.geometry for a in leaves], dtype=object)
    raw = shapely.STRtree(polygons)
    west, south, east, north = shapely.total_bounds(polygons)
    rng = np.random.default_rng(7)
    n = 200_000 if quick else 1_000_000
    lons = rng.uniform(west, east, n)
    lats = rng.uniform(south, north, n)

    # Bulk: the index's answer (a code per point) against raw Shapely from the same
    # coordinates: make the points, query the tree (pairs only, no codes, no tie-break).
    ours = _median_of(3, lambda: index.locate_many(lons, lats))
    bare = _median_of(3, lambda: raw.query(shapely.points(lons, lats), predicate="intersects"))
    results = {"grid_locate_many_points_per_s": figure(n / ours, n / bare, "points/s", 0)}

    # One point at a time, as a report arrives.
    sample = 20_000 if quick else 50_000
    ours_us, bare_us = [], []
    for lon, lat in zip(lons[:sample].tolist(), lats[:sample].tolist(), strict=True):
        start = time.perf_counter()
        index.locate(lon, lat)
        ours_us.append((time.perf_counter() - start) * 1e6)
        start = time.perf_counter()
        raw.query(shapely.Point(lon, lat), predicate="intersects")
        bare_us.append((time.perf_counter() - start) * 1e6)
    for q in (50, 99):
        results[f"grid_locate_p{q}_us"] = figure(
            float(np.percentile(ours_us, q)), float(np.percentile(bare_us, q)), "µs", 2
        )

    # Import: `gridwatch import-grid` of a whole hierarchy into an empty database, against
    # only reading and parsing the same file (json + shapely) as the baseline.
    size = 20_000 if quick else 100_000
    path = workdir / f"grid-{size}.geojson"
    areas = grid.generate_lanzhou(cells=size, seed=2)
    path.write_text(json.dumps(grid.dump_geojson(areas)), encoding="utf-8")
    parse = _median_of(1, lambda: shapely.from_geojson(path.read_text(encoding="utf-8")))
    env = {**os.environ, "GRIDWATCH_INSTANCE": str(workdir / "instance")}
    env.pop("DATABASE_URL", None)
    cli = [sys.executable, "-m", "dispatch.cli"]
    subprocess.run([*cli, "db", "upgrade"], env=env, check=True, capture_output=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = subprocess.run([*cli, "import-grid", str(path)], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"import-grid failed: {done.stderr[-2000:]}")
    peak_mib = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    results[f"grid_import_{size // 1000}k_cells_s"] = figure(seconds, parse, "s", 2)
    results[f"grid_import_{size // 1000}k_cells_peak_mib"] = figure(peak_mib, None, "MiB", 0)
    return results
