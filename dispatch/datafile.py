"""Data files the command room edits (rule sets, run cards): read, parsed, cached until the
file changes. Pure: no Flask, no SQLAlchemy."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class DataFileError(ValueError):
    """A data file that cannot be used; `problems` lists every fault, one line each."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


def load_cached(
    path: str | Path,
    parse: Callable[[str, str], T],
    error: Callable[[str, list[str]], Exception],
) -> T:
    """Parse the file at `path` with `parse(text, source)`; the answer is reused until the
    file's modification time changes."""
    resolved = Path(path).expanduser().resolve()
    try:
        mtime = resolved.stat().st_mtime_ns
    except OSError as exc:
        raise error(str(resolved), [f"cannot read the file: {exc.strerror}"]) from None
    result: T = _cached(str(resolved), mtime, parse, error)
    return result


@functools.lru_cache(maxsize=32)
def _cached(
    path: str,
    mtime_ns: int,
    parse: Callable[[str, str], Any],
    error: Callable[[str, list[str]], Exception],
) -> Any:
    del mtime_ns  # part of the cache key only
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(path, [f"cannot read the file: {exc}"]) from None
    return parse(text, path)
