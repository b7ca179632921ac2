"""`gridwatch serve` owns its processes: stopping it leaves none behind."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import start_server


def descendants(pid: int) -> set[int]:
    """Every process below `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize(
    ("signum", "whole_group"),
    [(signal.SIGINT, False), (signal.SIGTERM, False), (signal.SIGINT, True)],
    ids=["SIGINT", "SIGTERM", "Ctrl-C at a terminal"],
)
def test_stopping_serve_leaves_no_process(tmp_path: Path, signum: int, whole_group: bool) -> None:
    server = start_server(tmp_path / "gw", cells=60)
    try:
        pids = descendants(server.process.pid)
        # redis-server, the RQ worker (and its scheduler), gunicorn master and its worker
        assert len(pids) >= 4, pids
        names = {Path(f"/proc/{p}/cmdline").read_bytes() for p in pids}
        assert any(b"redis-server" in n for n in names)
        assert any(b"gunicorn" in n for n in names)
        assert any(b"worker" in n for n in names)
        if whole_group:  # what a terminal does: the signal goes to the foreground group
            os.killpg(server.process.pid, signum)
        else:
            server.process.send_signal(signum)
        assert server.process.wait(30) == 0
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(alive(p) for p in pids):
            time.sleep(0.1)
        assert not [p for p in pids if alive(p)]
        server.stop()
        # An orderly stop: web, then worker, then Redis; nobody loses Redis mid-work.
        assert "Traceback" not in (server.instance / "serve.log").read_text()
    finally:
        server.stop()


def test_children_die_with_a_killed_serve(tmp_path: Path) -> None:
    server = start_server(tmp_path / "gw", cells=60)
    try:
        pids = descendants(server.process.pid)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(10)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(alive(p) for p in pids):
            time.sleep(0.1)
        assert not [p for p in pids if alive(p)]
    finally:
        server.stop()
