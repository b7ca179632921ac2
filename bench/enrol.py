"""Enrol benchmark informants in bulk, the way a county does: `gridwatch users import FILE
--tokens-out TOKENS`, one informant per cell, signing in with the device token printed for them.

`cells_of(server, token, parent)` lists the cells (with a point inside each) under an area.
"""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.run import Server


def enrol_informants(
    server: Server, workdir: Path, cells: list[str], prefix: str = "bench"
) -> list[dict[str, str]]:
    """Import one informant per cell (no password: device token only) into the running
    server's instance and return ``[{"username", "cell", "token"}]`` in the order of `cells`."""
    from bench.run import ROOT, gridwatch_cmd, tail

    if server.env is None:
        raise RuntimeError(f"{server.name} has no Gridwatch environment to import users into")
    users = workdir / f"{prefix}-informants.csv"
    tokens = workdir / f"{prefix}-tokens.csv"
    with users.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["username", "password", "role", "area", "cell", "team"])
        for cell in cells:
            writer.writerow([f"{prefix}-{cell}", "", "informant", cell, cell, ""])
    log = workdir / f"{prefix}-import.log"
    with log.open("wb") as err:
        done = subprocess.run(
            gridwatch_cmd() + ["users", "import", str(users), "--tokens-out", str(tokens)],
            cwd=ROOT,
            env=server.env,
            stdout=err,
            stderr=subprocess.STDOUT,
            timeout=600,
        )
    if done.returncode != 0:
        raise RuntimeError(f"gridwatch users import exited with {done.returncode}:\n{tail(log)}")
    with tokens.open(encoding="utf-8") as handle:
        issued = {row["username"]: row["token"] for row in csv.DictReader(handle)}
    return [
        {"username": f"{prefix}-{cell}", "cell": cell, "token": issued[f"{prefix}-{cell}"]}
        for cell in cells
    ]


def cells_of(server: Server, token: str, parent: str) -> list[dict[str, Any]]:
    """Every cell under `parent` (sorted by code): ``{"code", "lat", "lon", "geometry"}``,
    with a point inside the cell (shapely's representative point)."""
    from shapely.geometry import shape

    from bench.run import http_json

    collection = http_json(
        "GET", f"{server.url}/api/areas?level=cell&parent={parent}", token=token, timeout=120
    )
    cells = []
    for feature in sorted(collection["features"], key=lambda f: f["properties"]["code"]):
        geometry = shape(feature["geometry"])
        point = geometry.representative_point()
        cells.append(
            {
                "code": feature["properties"]["code"],
                "lat": point.y,
                "lon": point.x,
                "geometry": geometry,
            }
        )
    return cells
