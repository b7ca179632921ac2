"""Load processes for the flow benchmarks (`triage_latency`, `timeouts`; see bench/flow_bench.py).

    python -m bench.flow_load CONFIG.json RESULT.json

CONFIG is ``{"role": "submitter"|"listener", "url": ..., ...}``. The process connects every
client (websocket transport only), prints ``READY`` on stdout, then waits for one line of JSON
on stdin (the go line) and runs:

* ``submitter``: ``clients`` = ``[{token}]`` on /informant; ``schedule`` = a list of
  ``[client_index, lat, lon, category, severity, text_index]``. Open loop: report i is sent at
  ``go.t0 + i / rate`` whether or not earlier ones were acknowledged. For every report it
  records ``[client_id, t_send, t_ack | null, ok, error | null, report_id, received_at]``.
* ``listener``: ``clients`` = ``[{token}]`` on /operator. Per client it records, with the
  arrival time, every ``report:new`` (``["new", report_id, t]``), ``report:triaged``
  (``["triaged", id, t]``) and ``task:updated`` (``["task", task_id, status, ack_deadline,
  ended_at, t]``). Payloads may be lists (coalescing). It stops at ``go.stop_at``, or earlier
  once every client has seen ``go.expect_timed_out`` distinct tasks time out.

Times are wall-clock (`time.time()`): every process runs on the same machine as the server.

``stamp`` is a no-op RQ job for the scheduler baseline (run by the server's own worker).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import socketio

from bench.load import TEXTS

STAMPS_KEY = "gwbench:stamps"


def stamp(key: str, at: float) -> None:
    """The scheduler baseline: a no-op RQ job that notes when it ran in the hash STAMPS_KEY.

    It honours its time the way Gridwatch's `expire_task` honours a deadline: RQ scores a
    scheduled job by whole seconds, so a job may start up to a second early; then it puts
    itself back for the same time and notes nothing yet.
    """
    from datetime import UTC, datetime

    from rq import Queue, get_current_job

    now = time.time()
    job = get_current_job()
    if now < at and job is not None:
        queue = Queue(job.origin, connection=job.connection)
        queue.enqueue_at(
            datetime.fromtimestamp(at, UTC), "bench.flow_load.stamp", key, at, result_ttl=0
        )
        return
    if job is not None:
        job.connection.hset(STAMPS_KEY, key, repr(now))


async def _connect(
    url: str, namespace: str, token: str | None, handlers: dict[str, Any] | None = None
) -> socketio.AsyncClient:
    sio = socketio.AsyncClient(reconnection=False)
    for event, handler in (handlers or {}).items():
        sio.on(event, handler, namespace=namespace)
    await sio.connect(
        url,
        namespaces=[namespace],
        auth={"token": token} if token else None,
        transports=["websocket"],
        wait_timeout=20,
    )
    return sio


async def _read_go() -> dict[str, Any]:
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    if not line.strip():
        raise SystemExit("no go line on stdin")
    go: dict[str, Any] = json.loads(line)
    return go


async def run_submitter(config: dict[str, Any]) -> dict[str, Any]:
    # At most 100 handshakes at a time: a thousand at once is a thundering herd, not a test.
    gate = asyncio.Semaphore(100)

    async def connect(token: str | None) -> socketio.AsyncClient:
        async with gate:
            return await _connect(config["url"], "/informant", token)

    sockets = await asyncio.gather(*(connect(c["token"]) for c in config["clients"]))
    print("READY", flush=True)
    go = await _read_go()
    rate = float(config["rate"])
    ack_timeout = float(config.get("ack_timeout", 15.0))
    records: list[list[Any]] = []

    async def submit(sio: socketio.AsyncClient, payload: dict[str, Any]) -> None:
        t_send = time.time()
        try:
            ack = await sio.call(
                "report:submit", payload, namespace="/informant", timeout=ack_timeout
            )
        except socketio.exceptions.TimeoutError:
            records.append([payload["client_id"], t_send, None, False, "timeout", None, None])
            return
        except socketio.exceptions.BadNamespaceError:
            records.append([payload["client_id"], t_send, None, False, "disconnected", None, None])
            return
        t_ack = time.time()
        ok = isinstance(ack, dict) and ack.get("ok") is True
        report = (ack.get("report") or {}) if ok else {}
        error = None
        if not ok:
            error = (ack.get("error") or {}).get("code") if isinstance(ack, dict) else "bad_ack"
            error = str(error or "bad_ack")
        records.append(
            [
                payload["client_id"],
                t_send,
                t_ack,
                ok,
                error,
                report.get("id"),
                report.get("received_at"),
            ]
        )

    pending: list[asyncio.Task[None]] = []
    t0 = float(go["t0"])
    # Several submitter processes share one stream: process k of n sends every n-th report,
    # at rate/n, shifted by k/rate.
    offset = float(config.get("offset", 0.0))
    try:
        for i, (client, lat, lon, category, severity, text) in enumerate(config["schedule"]):
            at = t0 + offset + i / rate
            await asyncio.sleep(max(0.0, at - time.time()))
            if time.time() > go["stop_at"]:
                break
            payload = {
                "client_id": str(uuid.uuid4()),
                "category": category,
                "text": f"{TEXTS[text % len(TEXTS)]}（第{i}条）",
                "lat": lat,
                "lon": lon,
                "severity": severity,
            }
            pending.append(asyncio.create_task(submit(sockets[client], payload)))
        if pending:
            await asyncio.wait(pending, timeout=ack_timeout + 5)
    finally:
        for task in pending:
            task.cancel()
        await asyncio.gather(*(s.disconnect() for s in sockets), return_exceptions=True)
    return {"role": "submitter", "records": records, "cpu_s": time.process_time()}


def _items(data: Any) -> list[Any]:
    return data if isinstance(data, list) else [data]


async def run_listener(config: dict[str, Any]) -> dict[str, Any]:
    received: list[list[list[Any]]] = []
    timed_out: list[set[int]] = []
    progress = asyncio.Event()

    def handlers(sink: list[list[Any]], done: set[int]) -> dict[str, Any]:
        def on_new(data: Any) -> None:
            now = time.time()
            for item in _items(data):
                report = item.get("report") if isinstance(item, dict) else None
                if isinstance(report, dict):
                    sink.append(["new", report.get("id"), now])

        def on_triaged(data: Any) -> None:
            now = time.time()
            for item in _items(data):
                if isinstance(item, dict):
                    sink.append(["triaged", item.get("id"), now])

        def on_task(data: Any) -> None:
            now = time.time()
            for item in _items(data):
                task = item.get("task") if isinstance(item, dict) else None
                if isinstance(task, dict):
                    sink.append(
                        [
                            "task",
                            task.get("id"),
                            task.get("status"),
                            task.get("ack_deadline"),
                            task.get("ended_at"),
                            now,
                        ]
                    )
                    if task.get("status") == "timed_out" and task.get("id") is not None:
                        done.add(int(task["id"]))
                        progress.set()

        return {"report:new": on_new, "report:triaged": on_triaged, "task:updated": on_task}

    pending = []
    for c in config["clients"]:
        sink: list[list[Any]] = []
        done: set[int] = set()
        received.append(sink)
        timed_out.append(done)
        pending.append(_connect(config["url"], "/operator", c["token"], handlers(sink, done)))
    connected = await asyncio.gather(*pending)
    print("READY", flush=True)
    go = await _read_go()
    expect = go.get("expect_timed_out")
    try:
        while time.time() < go["stop_at"]:
            if expect and all(len(done) >= expect for done in timed_out):
                break
            progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    progress.wait(), timeout=max(0.01, min(0.5, go["stop_at"] - time.time()))
                )
    finally:
        await asyncio.gather(*(s.disconnect() for s in connected), return_exceptions=True)
    return {"role": "listener", "received": received, "cpu_s": time.process_time()}


def main(argv: list[str]) -> int:
    config = json.loads(Path(argv[0]).read_text())
    runner = run_submitter if config["role"] == "submitter" else run_listener
    try:
        result = asyncio.run(runner(config))
    except Exception as exc:  # report, and let the orchestrator show it
        print(f"ERROR {type(exc).__name__}: {exc}", flush=True)
        raise
    Path(argv[1]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
