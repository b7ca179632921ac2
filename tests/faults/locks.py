"""Another process's hold on the SQLite database: what a backup or a sqlite3 shell does."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def exclusive_lock(database: Path) -> Iterator[None]:
    """Hold SQLite's write lock (BEGIN EXCLUSIVE) until the block ends; write nothing."""
    conn = sqlite3.connect(database, isolation_level=None, timeout=10)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
    finally:
        conn.close()
