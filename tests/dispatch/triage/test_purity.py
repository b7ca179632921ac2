"""dispatch/triage is pure: only its CLI may import Flask or the database layer."""

from __future__ import annotations

import ast
from pathlib import Path

import dispatch.triage

PACKAGE = Path(dispatch.triage.__file__).parent
BANNED = ("flask", "sqlalchemy", "flask_sqlalchemy", "redis", "rq")


def test_only_the_cli_touches_flask_or_the_database() -> None:
    offenders = []
    for path in sorted(PACKAGE.glob("*.py")):
        if path.name == "cli.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
                if node.level and (node.module or "").split(".")[0] in {"extensions", "models"}:
                    names.append("sqlalchemy")
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in BANNED]
    assert offenders == []
