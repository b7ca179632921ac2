"""Idle phones for the `idle` and `modes` benchmarks: many Socket.IO connections held open.

    python -m bench.idle_load CONFIG.json

CONFIG is ``{"url", "namespace", "tokens": [...], "concurrency", "connect_timeout"}``. A
python-socketio client costs 100 KB and more per connection, so this speaks the wire protocol
itself over aiohttp websockets, about what a phone's client does:

    GET /socket.io/?EIO=4&transport=websocket      → ``0{"sid", "pingInterval", ...}``
    ``40/informant,{"token": "..."}``              → ``40/informant,{"sid"}`` (or ``44``: refused)
    every engine.io ping ``2``                     → pong ``3``

The process opens one connection per token, at most `concurrency` handshakes at a time, and
retries a connection that fails at the network level (not a refusal) twice; once
2 × `concurrency` phones in a row have failed every attempt it gives up on the rest (the
server has stopped taking connections) and counts them as skipped. It then prints
``READY {status}`` on stdout and holds every connection, answering pings, until stdin says:

* ``status``: print ``STATUS {status}``;
* ``stop``: close every connection, print ``DONE {status}`` and exit.

status = ``{"connected", "refused", "failed", "skipped", "dropped", "pings", "unpinged",
"stale", "retries", "connect_s", "handshake_p50_ms", "handshake_p99_ms", "other_messages",
"ping_interval_s", "errors"}``: connected now; refused by the server; not connected after the
retries; not tried (given up); closed by the server (or the network) after they had
connected; pongs sent; connected ones never pinged yet; connected ones not pinged for longer
than pingInterval + pingTimeout (the server has stopped looking after them); network retries;
how long the connecting took; the handshake time (connect to namespace ack); messages other
than pings; the server's ping interval; a sample of the error texts.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp


class Phones:
    def __init__(self, config: dict[str, Any]) -> None:
        base = config["url"].replace("http://", "ws://").replace("https://", "wss://")
        self.url = f"{base}/socket.io/?EIO=4&transport=websocket"
        self.namespace = config.get("namespace", "/informant")
        self.tokens: list[str | None] = config["tokens"]
        self.concurrency = int(config.get("concurrency", 50))
        self.connect_timeout = float(config.get("connect_timeout", 20.0))
        n = len(self.tokens)
        self.sockets: list[aiohttp.ClientWebSocketResponse | None] = [None] * n
        self.last_ping = [0.0] * n
        self.pinged = bytearray(n)
        self.handshake_ms: list[float] = []
        self.refused = 0
        self.failed = 0
        self.dropped = 0
        self.pings = 0
        self.retries = 0
        self.skipped = 0
        self.failing = 0  # phones in a row that failed every attempt
        self.given_up = False
        self.other = 0
        self.errors: dict[str, int] = {}
        self.ping_interval = 25.0
        self.ping_timeout = 20.0
        self.connect_s = 0.0
        self.stopping = False
        self.holders: list[asyncio.Task[None]] = []

    def _error(self, text: str) -> None:
        key = text[:120]
        if key in self.errors or len(self.errors) < 20:
            self.errors[key] = self.errors.get(key, 0) + 1

    async def _handshake(
        self, session: aiohttp.ClientSession, i: int
    ) -> aiohttp.ClientWebSocketResponse | None:
        """One connection up to the namespace ack; None if refused. Raises on network errors."""
        started = time.monotonic()
        ws = await session.ws_connect(
            self.url,
            autoping=True,
            heartbeat=None,
            compress=0,
            max_msg_size=4 * 1024 * 1024,
            timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5.0),
        )
        try:
            opened = await asyncio.wait_for(ws.receive(), self.connect_timeout)
            if opened.type != aiohttp.WSMsgType.TEXT or not opened.data.startswith("0"):
                raise ConnectionError(f"no engine.io open packet: {opened.type} {opened.data!r}")
            info = json.loads(opened.data[1:])
            self.ping_interval = info.get("pingInterval", 25000) / 1000
            self.ping_timeout = info.get("pingTimeout", 20000) / 1000
            token = self.tokens[i]
            auth = json.dumps({"token": token} if token else {})
            await ws.send_str(f"40{self.namespace},{auth}")
            prefix_ok, prefix_refused = f"40{self.namespace},", f"44{self.namespace},"
            while True:
                answer = await asyncio.wait_for(ws.receive(), self.connect_timeout)
                if answer.type != aiohttp.WSMsgType.TEXT:
                    raise ConnectionError(f"closed during the handshake: {answer.type}")
                if answer.data == "2":  # a ping before the ack (a slow server)
                    await ws.send_str("3")
                    self.pings += 1
                    continue
                if answer.data.startswith(prefix_ok):
                    self.handshake_ms.append((time.monotonic() - started) * 1000)
                    self.last_ping[i] = time.monotonic()
                    return ws
                if answer.data.startswith(prefix_refused):
                    self.refused += 1
                    self._error(f"refused: {answer.data[len(prefix_refused) :][:100]}")
                    await ws.close()
                    return None
                raise ConnectionError(f"unexpected handshake answer {answer.data[:80]!r}")
        except BaseException:
            await ws.close()
            raise

    async def _phone(
        self, session: aiohttp.ClientSession, semaphore: asyncio.Semaphore, i: int
    ) -> None:
        ws = None
        async with semaphore:
            for attempt in range(3):
                if self.given_up:
                    self.skipped += 1
                    return
                try:
                    ws = await asyncio.wait_for(
                        self._handshake(session, i), self.connect_timeout + 5
                    )
                    self.failing = 0
                    break
                except (aiohttp.ClientError, OSError, ConnectionError, TimeoutError) as exc:
                    self._error(f"{type(exc).__name__}: {exc}")
                    if attempt == 2:
                        self.failed += 1
                        self.failing += 1
                        # The server has stopped taking connections: stop trying.
                        self.given_up |= self.failing >= 2 * self.concurrency
                        return
                    self.retries += 1
                    await asyncio.sleep(0.5 * (attempt + 1))
        if ws is None:
            return
        self.sockets[i] = ws
        self.holders.append(asyncio.create_task(self._hold(i, ws)))

    async def _hold(self, i: int, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            while True:
                message = await ws.receive()
                if message.type == aiohttp.WSMsgType.TEXT:
                    data = message.data
                    if data == "2":
                        self.last_ping[i] = time.monotonic()
                        self.pinged[i] = 1
                        await ws.send_str("3")
                        self.pings += 1
                    elif data.startswith("1") or data.startswith(f"41{self.namespace}"):
                        break  # engine.io close, or the namespace disconnected us
                    else:
                        self.other += 1
                elif message.type in (
                    aiohttp.WSMsgType.CLOSE,
                    aiohttp.WSMsgType.CLOSING,
                    aiohttp.WSMsgType.CLOSED,
                    aiohttp.WSMsgType.ERROR,
                ):
                    break
        except (aiohttp.ClientError, OSError, ConnectionError) as exc:
            self._error(f"while idle: {type(exc).__name__}: {exc}")
        except asyncio.CancelledError:
            return
        if not self.stopping:
            self.dropped += 1
            self.sockets[i] = None
            await ws.close()

    async def connect_all(self) -> None:
        connector = aiohttp.TCPConnector(limit=0, force_close=True)
        self.session = aiohttp.ClientSession(connector=connector)
        semaphore = asyncio.Semaphore(self.concurrency)
        started = time.monotonic()
        await asyncio.gather(
            *(self._phone(self.session, semaphore, i) for i in range(len(self.tokens)))
        )
        self.connect_s = time.monotonic() - started

    def status(self) -> dict[str, Any]:
        now = time.monotonic()
        limit = self.ping_interval + self.ping_timeout + 5
        live = [i for i, ws in enumerate(self.sockets) if ws is not None and not ws.closed]
        handshakes = sorted(self.handshake_ms)

        def pct(q: float) -> float | None:
            if not handshakes:
                return None
            return round(handshakes[min(len(handshakes) - 1, int(len(handshakes) * q))], 1)

        return {
            "connected": len(live),
            "refused": self.refused,
            "failed": self.failed,
            "dropped": self.dropped,
            "pings": self.pings,
            "unpinged": sum(1 for i in live if not self.pinged[i]),
            "stale": sum(1 for i in live if now - self.last_ping[i] > limit),
            "retries": self.retries,
            "skipped": self.skipped,
            "connect_s": round(self.connect_s, 2),
            "handshake_p50_ms": pct(0.5),
            "handshake_p99_ms": pct(0.99),
            "other_messages": self.other,
            "ping_interval_s": self.ping_interval,
            "errors": self.errors,
        }

    async def close_all(self) -> None:
        self.stopping = True
        live = [ws for ws in self.sockets if ws is not None and not ws.closed]
        for start in range(0, len(live), 500):
            await asyncio.gather(
                *(asyncio.wait_for(ws.close(), 5) for ws in live[start : start + 500]),
                return_exceptions=True,
            )
        for task in self.holders:
            task.cancel()
        await asyncio.gather(*self.holders, return_exceptions=True)
        await self.session.close()


async def run(config: dict[str, Any]) -> None:
    phones = Phones(config)
    await phones.connect_all()
    print("READY " + json.dumps(phones.status()), flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        command = line.strip()
        if command == "status":
            print("STATUS " + json.dumps(phones.status()), flush=True)
        elif command == "stop" or not line:
            final = phones.status()
            await phones.close_all()
            print("DONE " + json.dumps(final), flush=True)
            return


def main(argv: list[str]) -> int:
    config = json.loads(Path(argv[0]).read_text())
    try:
        asyncio.run(run(config))
    except Exception as exc:  # report, and let the orchestrator show it
        print(f"ERROR {type(exc).__name__}: {exc}", flush=True)
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
