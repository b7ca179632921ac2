"""The processes of a running `gridwatch serve`, found in /proc, and waiting without sleeping
blind."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def wait_until(check: Callable[[], T], timeout: float, what: str, interval: float = 0.1) -> T:
    """Poll `check` until it returns something truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f}s: {what}")
        time.sleep(interval)


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def children(pid: int) -> list[int]:
    """Live direct children of `pid`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = _stat(int(stat.parent.name))
        if fields is not None and int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return sorted(found)


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children(todo.pop()):
            found.append(child)
            todo.append(child)
    return found


def child_of(serve_pid: int, role: str) -> int | None:
    """The pid of one child of `gridwatch serve`: `redis`, `worker` or `web` (gunicorn's
    master; its worker is `child_of(web)`), or None while there is none."""
    marker = {"redis": "redis-server", "worker": "dispatch.cli worker", "web": "gunicorn"}[role]
    for pid in children(serve_pid):
        if marker in cmdline(pid):
            return pid
    return None


def web_pids(serve_pid: int) -> list[int]:
    """gunicorn's master and the worker process that holds the connections."""
    master = child_of(serve_pid, "web")
    return [] if master is None else [master, *children(master)]


def kill(pids: list[int], signum: int = signal.SIGKILL) -> None:
    for pid in pids:
        os.kill(pid, signum)
