"""Load-generating processes for the ingest benchmark (started by `bench/run.py`).

    python -m bench.load CONFIG.json RESULT.json

CONFIG is ``{"role": "informant"|"operator", "url": ..., "clients": [...], ...}``. The process
connects every client (websocket transport only), prints ``READY`` on stdout, then waits for a
line ``{"t0": <unix time>, "stop_at": <unix time>}`` on stdin:

* informants send ``report:submit`` closed-loop (the next one after the previous ack) from t0
  until stop_at, wait for the acks still outstanding, and record, for every report,
  ``[client_id, t_send, t_ack | null, ok, error_code | null, duplicate]``;
* operators record every ``report:new`` as ``[client_id, t_received]`` until stop_at plus the
  drain time. A payload may be one ``{report}`` or a list of them (the server may coalesce).

Times are wall-clock (`time.time()`) so that the orchestrator can join a send in one process to
its delivery in another; every process runs on the same machine.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import socketio

CATEGORIES = (
    "fire",
    "flood",
    "landslide",
    "earthquake",
    "traffic_accident",
    "building_collapse",
    "missing_person",
    "medical",
    "hazmat",
    "dispute",
    "safety_hazard",
    "family_misfortune",
)
TEXTS = (
    "小区3号楼二单元冒出浓烟，楼道里有人喊救命，请尽快派人来。",
    "河堤边的低洼路段积水已经没过膝盖，两辆车熄火困在水里。",
    "山坡上的土石往下滑，靠近村道的两户人家墙面出现裂缝。",
    "十字路口一辆电动车和出租车相撞，骑车的老人倒地不起。",
    "退役军人王师傅独居，已经两天没有开门，邻居很担心。",
    "菜市场门口两家摊主为摊位争吵，围观的人越来越多。",
    "工地围挡被风吹倒，压住了人行道，有行人差点被砸到。",
    "一名七岁男孩放学后没有回家，穿蓝色校服，背红色书包。",
    "化工厂附近闻到刺鼻气味，几位居民说头晕恶心。",
    "老旧平房屋顶塌了一角，里面住着一位行动不便的老人。",
)


def _payload(client_id: str, lat: float, lon: float, seq: int) -> dict[str, Any]:
    return {
        "client_id": client_id,
        "category": random.choice(CATEGORIES),
        "text": f"{random.choice(TEXTS)}（第{seq}条）",
        "lat": lat,
        "lon": lon,
        "severity": random.randint(1, 4),
    }


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


async def _read_go() -> dict[str, float]:
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    if not line.strip():
        raise SystemExit("no go line on stdin")
    go: dict[str, float] = json.loads(line)
    return go


async def _informant_loop(
    sio: socketio.AsyncClient,
    points: list[list[float]],
    t0: float,
    stop_at: float,
    ack_timeout: float,
    out: list[list[Any]],
) -> None:
    await asyncio.sleep(max(0.0, t0 - time.time()))
    seq = 0
    while time.time() < stop_at and sio.connected:
        seq += 1
        client_id = str(uuid.uuid4())
        lat, lon = points[seq % len(points)]
        payload = _payload(client_id, lat, lon, seq)
        t_send = time.time()
        try:
            ack = await sio.call(
                "report:submit", payload, namespace="/informant", timeout=ack_timeout
            )
        except socketio.exceptions.TimeoutError:
            out.append([client_id, t_send, None, False, "timeout", False])
            continue
        except socketio.exceptions.BadNamespaceError:
            out.append([client_id, t_send, None, False, "disconnected", False])
            break
        t_ack = time.time()
        ok = isinstance(ack, dict) and ack.get("ok") is True
        error = None
        if not ok:
            error = (ack.get("error") or {}).get("code") if isinstance(ack, dict) else "bad_ack"
            error = str(error or "bad_ack")
        duplicate = bool(isinstance(ack, dict) and ack.get("duplicate"))
        out.append([client_id, t_send, t_ack, ok, error, duplicate])


async def run_informants(config: dict[str, Any]) -> dict[str, Any]:
    clients = config["clients"]
    sockets = await asyncio.gather(
        *(_connect(config["url"], "/informant", c.get("token")) for c in clients)
    )
    print("READY", flush=True)
    go = await _read_go()
    records: list[list[Any]] = []
    try:
        await asyncio.gather(
            *(
                _informant_loop(
                    sio,
                    c.get("points") or [[c["lat"], c["lon"]]],
                    go["t0"],
                    go["stop_at"],
                    config.get("ack_timeout", 15.0),
                    records,
                )
                for sio, c in zip(sockets, clients, strict=True)
            )
        )
    finally:
        await asyncio.gather(*(s.disconnect() for s in sockets), return_exceptions=True)
    return {"role": "informant", "records": records}


async def run_operators(config: dict[str, Any]) -> dict[str, Any]:
    received: list[list[list[Any]]] = []
    events = 0

    def make_handler(sink: list[list[Any]]) -> Any:
        def on_new(data: Any) -> None:
            nonlocal events
            now = time.time()
            for item in data if isinstance(data, list) else [data]:
                events += 1
                report = item.get("report") if isinstance(item, dict) else None
                if isinstance(report, dict) and report.get("client_id"):
                    sink.append([report["client_id"], now])

        return on_new

    sockets = []
    for c in config["clients"]:
        sink: list[list[Any]] = []
        received.append(sink)
        sockets.append(
            _connect(config["url"], "/operator", c.get("token"), {"report:new": make_handler(sink)})
        )
    connected = await asyncio.gather(*sockets)
    print("READY", flush=True)
    go = await _read_go()
    try:
        await asyncio.sleep(max(0.0, go["stop_at"] + config.get("drain_s", 3.0) - time.time()))
    finally:
        await asyncio.gather(*(s.disconnect() for s in connected), return_exceptions=True)
    return {"role": "operator", "received": received, "events": events}


def main(argv: list[str]) -> int:
    config = json.loads(Path(argv[0]).read_text())
    runner = run_informants if config["role"] == "informant" else run_operators
    try:
        result = asyncio.run(runner(config))
    except Exception as exc:  # report, and let the orchestrator show it
        print(f"ERROR {type(exc).__name__}: {exc}", flush=True)
        raise
    Path(argv[1]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
