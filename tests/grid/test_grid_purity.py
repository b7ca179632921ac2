"""grid/ is a pure library: the arrow goes dispatch → grid, never back."""

from __future__ import annotations

import ast
from pathlib import Path

import grid

ALLOWED_THIRD_PARTY = {"shapely", "numpy"}
BANNED = {
    "flask",
    "flask_socketio",
    "flask_sqlalchemy",
    "sqlalchemy",
    "redis",
    "rq",
    "rich",
    "dispatch",
}


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_grid_imports_only_stdlib_shapely_numpy() -> None:
    import sys

    package = Path(grid.__file__).parent
    modules = sorted(package.rglob("*.py"))
    assert len(modules) >= 7
    for module in modules:
        roots = _imported_roots(module)
        assert not roots & BANNED, (module.name, roots & BANNED)
        foreign = roots - ALLOWED_THIRD_PARTY - {"grid", "__future__"} - sys.stdlib_module_names
        assert not foreign, (module.name, foreign)


def test_public_api_is_curated() -> None:
    assert sorted(grid.__all__) == sorted(set(grid.__all__))
    for name in grid.__all__:
        assert getattr(grid, name) is not None
    assert {
        "load_geojson",
        "CellIndex",
        "gcj02_to_wgs84",
        "wgs84_to_gcj02",
        "GridError",
        "Area",
        "generate_lanzhou",
    } <= set(grid.__all__)
