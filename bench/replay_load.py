"""Load processes for the 911 replay benchmark (`replay`; see bench/replay_bench.py).

    python -m bench.replay_load CONFIG.json

CONFIG is ``{"role": "informant"|"operator", "url": ..., "clients": [{"token"}], ...}``. The
process connects every client (websocket transport only, at most ``connect_concurrency`` at a
time), prints ``READY <seconds to connect>`` on stdout and then obeys one JSON line at a time
on stdin, answering each with ``DONE`` once its result file is written. One process serves
every phase of a run (1×, 10×, the fastest-speed ladder), so clients connect only once.

* informant, ``{"phase", "schedule": PATH, "t0", "out": PATH}``: SCHEDULE holds
  ``[[offset_s, client_index, client_id, category, text, lat, lon], ...]`` sorted by offset.
  Open loop: each report is sent at ``t0 + offset_s`` whether or not earlier ones were
  acknowledged. After the last send it waits for the acks still outstanding (``ack_timeout``)
  and writes ``{"records": [[client_id, t_send, t_ack | null, ok, error | null, duplicate,
  cell_code], ...], "disconnected": n, "reconnected": n}``. Clients dropped in an earlier
  phase are reconnected before the phase starts (as a phone would), and counted.
* operator, ``{"phase", "out": PATH}`` starts recording and ``{"end": true, "quiet_s",
  "max_s"}`` stops it once no ``report:new`` has come for quiet_s (at most max_s later):
  every ``report:new`` in between as ``[client_id, t_arrival]`` per client, written as
  ``{"received": [[...], ...]}``. A payload may be one ``{report}`` or a list (coalescing).
* ``{"quit": true}`` disconnects everyone and exits.

Times are wall-clock (`time.time()`): every process runs on the same machine as the server.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import socketio


async def _connect(
    url: str,
    namespace: str,
    token: str | None,
    handlers: dict[str, Any] | None = None,
    attempts: int = 3,
) -> socketio.AsyncClient:
    for attempt in range(attempts):
        sio = socketio.AsyncClient(reconnection=False)
        for event, handler in (handlers or {}).items():
            sio.on(event, handler, namespace=namespace)
        try:
            await sio.connect(
                url,
                namespaces=[namespace],
                auth={"token": token} if token else None,
                transports=["websocket"],
                wait_timeout=30,
            )
            return sio
        except socketio.exceptions.ConnectionError:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


async def _connect_all(
    config: dict[str, Any],
    namespace: str,
    handlers: list[dict[str, Any]] | None = None,
    sockets: list[socketio.AsyncClient] | None = None,
) -> tuple[list[socketio.AsyncClient], int]:
    """Connect every client, or with `sockets` reconnect those that were dropped (as a phone
    does). Returns the sockets and how many were (re)connected."""
    gate = asyncio.Semaphore(int(config.get("connect_concurrency", 32)))

    async def one(i: int, client: dict[str, Any]) -> socketio.AsyncClient:
        if sockets is not None and sockets[i].connected:
            return sockets[i]
        async with gate:
            return await _connect(
                config["url"], namespace, client["token"], handlers[i] if handlers else None
            )

    before = len(config["clients"]) if sockets is None else sum(not s.connected for s in sockets)
    connected = await asyncio.gather(*(one(i, c) for i, c in enumerate(config["clients"])))
    return list(connected), before


async def _commands() -> Any:
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line.strip():
            return
        yield json.loads(line)


async def submit(
    sio: socketio.AsyncClient,
    payload: dict[str, Any],
    records: list[list[Any]],
    ack_timeout: float,
) -> None:
    t_send = time.time()
    try:
        ack = await sio.call("report:submit", payload, namespace="/informant", timeout=ack_timeout)
    except socketio.exceptions.TimeoutError:
        records.append([payload["client_id"], t_send, None, False, "timeout", 0, None])
        return
    except socketio.exceptions.BadNamespaceError:
        records.append([payload["client_id"], t_send, None, False, "disconnected", 0, None])
        return
    t_ack = time.time()
    ok = isinstance(ack, dict) and ack.get("ok") is True
    error = None
    report: dict[str, Any] = {}
    if ok:
        report = ack.get("report") or {}
    else:
        code = (ack.get("error") or {}).get("code") if isinstance(ack, dict) else None
        error = str(code or "bad_ack")
    duplicate = 1 if ok and ack.get("duplicate") else 0
    records.append(
        [
            payload["client_id"],
            t_send,
            t_ack,
            ok,
            error,
            duplicate,
            report.get("cell_code"),
        ]
    )


async def run_informants(config: dict[str, Any]) -> None:
    started = time.monotonic()
    sockets, _ = await _connect_all(config, "/informant")
    print(f"READY {time.monotonic() - started:.1f}", flush=True)
    ack_timeout = float(config.get("ack_timeout", 20.0))
    try:
        async for command in _commands():
            if command.get("quit"):
                break
            sockets, reconnected = await _connect_all(config, "/informant", sockets=sockets)
            schedule = json.loads(Path(command["schedule"]).read_text())
            records: list[list[Any]] = []

            pending: list[asyncio.Task[None]] = []
            t0 = float(command["t0"])
            for offset, client, client_id, category, text, lat, lon in schedule:
                delay = t0 + offset - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                payload = {
                    "client_id": client_id,
                    "category": category,
                    "text": text,
                    "lat": lat,
                    "lon": lon,
                }
                pending.append(
                    asyncio.create_task(submit(sockets[client], payload, records, ack_timeout))
                )
            if pending:
                await asyncio.wait(pending, timeout=ack_timeout + 5)
            for task in pending:
                task.cancel()
            disconnected = sum(1 for s in sockets if not s.connected)
            Path(command["out"]).write_text(
                json.dumps(
                    {"records": records, "disconnected": disconnected, "reconnected": reconnected}
                )
            )
            print("DONE", flush=True)
    finally:
        await asyncio.gather(*(s.disconnect() for s in sockets), return_exceptions=True)


async def run_operators(config: dict[str, Any]) -> None:
    sinks: list[list[list[Any]]] = [[] for _ in config["clients"]]
    recording = False
    last_event = time.monotonic()

    def handlers(index: int) -> dict[str, Any]:
        def on_new(data: Any) -> None:
            nonlocal last_event
            last_event = time.monotonic()
            if not recording:
                return
            now = time.time()
            for item in data if isinstance(data, list) else [data]:
                report = item.get("report") if isinstance(item, dict) else None
                if isinstance(report, dict):
                    sinks[index].append([report.get("client_id"), now])

        return {"report:new": on_new}

    started = time.monotonic()
    every = [handlers(i) for i in range(len(sinks))]
    sockets, _ = await _connect_all(config, "/operator", every)
    print(f"READY {time.monotonic() - started:.1f}", flush=True)
    out: Path | None = None
    reconnected = 0
    try:
        async for command in _commands():
            if command.get("quit"):
                break
            if command.get("end"):
                # Drain: until no report:new has come for quiet_s (at most max_s).
                quiet, ended = float(command.get("quiet_s", 1.0)), time.monotonic()
                while time.monotonic() - last_event < quiet and (
                    time.monotonic() - ended < float(command.get("max_s", 15.0))
                ):
                    await asyncio.sleep(0.1)
                recording = False
                if out is not None:
                    disconnected = sum(1 for s in sockets if not s.connected)
                    out.write_text(
                        json.dumps(
                            {
                                "received": sinks,
                                "disconnected": disconnected,
                                "reconnected": reconnected,
                            }
                        )
                    )
                print("DONE", flush=True)
            else:
                sockets, reconnected = await _connect_all(
                    config, "/operator", every, sockets=sockets
                )
                sinks = [[] for _ in config["clients"]]
                out = Path(command["out"])
                recording = True
                print("DONE", flush=True)
    finally:
        await asyncio.gather(*(s.disconnect() for s in sockets), return_exceptions=True)


def main(argv: list[str]) -> int:
    config = json.loads(Path(argv[0]).read_text())
    runner = run_informants if config["role"] == "informant" else run_operators
    try:
        asyncio.run(runner(config))
    except Exception as exc:  # report, and let the orchestrator show it
        print(f"ERROR {type(exc).__name__}: {exc}", flush=True)
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
