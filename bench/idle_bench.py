"""Idle benchmark (issue 8, Scale): 20,000 idle phones connected while reports still flow.

idle
    Goal: 20,000 idle connected phones held (with Socket.IO heartbeats) within 4 GiB for the
    server, while 100 reports/s still meet the latency goals (ack p99 < 50 ms, report →
    operator p99 < 250 ms, report → triaged p99 < 500 ms).

    A fresh `gridwatch serve` with `seed-demo --cells 20000`; one informant per cell is
    enrolled with `gridwatch users import --tokens-out` (bench/enrol.py). Four processes of
    bench/idle_load.py hold 5,000 connections each on /informant (engine.io v4 over a
    websocket, answering every ping). 100 more informants submit `report:submit` open loop at
    100/s (bench/flow_load.py, 2 s warm-up + 20 s measured, 8 s with --quick) from the county
    620102 while `operator` and `operator-620102` listen. Latencies are measured from the
    informant's send time: ack, `report:new` at the operators, `report:triaged` at the
    operators. Memory is the RSS of the server's process tree from /proc (gunicorn master and
    worker, RQ worker, Redis, the `serve` supervisor): before connecting, with every phone
    connected, and the peak while the reports flow.

    Every phone stays connected for at least pingInterval + 5 s, so each one has answered at
    least one engine.io ping while all the others were connected.

    Baseline: bench/relay.py (the bare relay, gevent, no database) holding the same 20,000
    phones under the same 100 reports/s, in the same run. Gridwatch also runs the 100/s
    stream once before any phone connects: the triaged figure's baseline, and the console's
    answer to "what do 20,000 idle phones cost the latency".
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import selectors
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

from rich.console import Console
from rich.table import Table

from bench.flow_bench import TRIAGE_CATEGORIES

console = Console(width=max(110, Console().width))

CITY = "620100"
COUNTY = "620102"
# GWBENCH_IDLE_PHONES: fewer phones (and cells) for a trial run; the figures keep their names.
IDLE_PHONES = int(os.environ.get("GWBENCH_IDLE_PHONES", "20000"))
# gunicorn's gevent worker serves at most `worker_connections` sockets at once (default 1,000;
# `gridwatch serve` leaves it at that): past it the worker stops accepting, and even
# /api/health waits in the listen backlog. Both servers get room for every phone through
# GUNICORN_CMD_ARGS (a --worker-connections on gunicorn's command line would win over it).
# GWBENCH_WORKER_CONNECTIONS=0 keeps gunicorn's default, to see that limit.
WORKER_CONNECTIONS = int(os.environ.get("GWBENCH_WORKER_CONNECTIONS", "25000"))
# A server process holds at most RLIMIT_NOFILE sockets: bench.run.more_files raises it to
# 65,536 where the hard limit allows (root with CAP_SYS_RESOURCE). Where it does not, the
# phones are that limit less this reserve: the server's own files (listener, SQLite, Redis,
# logs) and the 102 load sockets.
FD_RESERVE = 200
IDLE_PROCESSES = 4
RATE = 100.0
LOAD_INFORMANTS = 100
WARMUP_S = 2.0
IDLE_CPU_S = 5.0  # how long the server's CPU is measured with every phone idle
DRAIN_S = 10.0  # the listeners go on this long after the last send


def _harness() -> Any:
    # Imported late, like bench/flow_bench.py: bench.run may import this module.
    from bench import run

    return run


# --------------------------------------------------------------------------- memory


def process_tree(pid: int) -> list[dict[str, Any]]:
    """The live process tree under `pid`: ``{pid, ppid, cmd, rss_kib}`` each (Linux /proc)."""
    out, stack, seen = [], [(pid, 0)], set()
    while stack:
        current, parent = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            cmd = Path(f"/proc/{current}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            rss = 0
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                    break
            for task in Path(f"/proc/{current}/task").iterdir():
                stack.extend((int(c), current) for c in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
        out.append({"pid": current, "ppid": parent, "cmd": cmd.strip(), "rss_kib": rss})
    return out


def pss_kib(pid: int) -> int:
    """Proportional set size: shared pages (a fork's copy-on-write ones) counted once."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def web_pids(tree: list[dict[str, Any]]) -> list[int]:
    """The processes that hold the sockets: gunicorn's workers (a gunicorn process whose
    parent is gunicorn), or the root when there is no gunicorn (eventlet's own server)."""
    by_pid = {p["pid"]: p for p in tree}
    workers = [
        p["pid"]
        for p in tree
        if "gunicorn" in p["cmd"] and "gunicorn" in by_pid.get(p["ppid"], {}).get("cmd", "")
    ]
    if workers or not tree:
        return workers
    return [tree[0]["pid"]]


@dataclass
class Memory:
    tree_mib: float
    web_mib: float
    tree_pss_mib: float
    parts: dict[str, float]
    web_fds: int = 0


def label(cmd: str) -> str:
    if "redis-server" in cmd:
        return "redis"
    if "dispatch.cli worker" in cmd or "rq" in cmd.split()[0:1]:
        return "rq worker"
    if "gunicorn" in cmd:
        return "gunicorn"
    if " serve" in cmd:
        return "serve"
    return cmd.split()[0].rsplit("/", 1)[-1] if cmd else "?"


def memory(pid: int, pss: bool = False) -> Memory:
    tree = process_tree(pid)
    web = set(web_pids(tree))
    parts: dict[str, float] = {}
    for p in tree:
        name = "web worker" if p["pid"] in web else label(p["cmd"])
        parts[name] = parts.get(name, 0.0) + p["rss_kib"] / 1024
    return Memory(
        tree_mib=sum(p["rss_kib"] for p in tree) / 1024,
        web_mib=sum(p["rss_kib"] for p in tree if p["pid"] in web) / 1024,
        tree_pss_mib=sum(pss_kib(p["pid"]) for p in tree) / 1024 if pss else 0.0,
        parts=parts,
        web_fds=sum(_fds(p) for p in web) if pss else 0,
    )


def _fds(pid: int) -> int:
    try:
        return len(list(Path(f"/proc/{pid}/fd").iterdir()))
    except OSError:
        return 0


class PeakSampler:
    """Samples the tree's RSS every `period` s in a thread; keeps the peak."""

    def __init__(self, pid: int, period: float = 0.25) -> None:
        self.pid, self.period = pid, period
        self.peak_tree = 0.0
        self.peak_web = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            m = memory(self.pid)
            self.peak_tree = max(self.peak_tree, m.tree_mib)
            self.peak_web = max(self.peak_web, m.web_mib)
            self._stop.wait(self.period)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


# --------------------------------------------------------------------------- child processes


def spawn(workdir: Path, module: str, name: str, config: dict[str, Any]) -> Any:
    """A load process `python -m <module> CONFIG [RESULT]` with room for many sockets."""
    run = _harness()
    config_path = workdir / f"{name}.config.json"
    result_path = workdir / f"{name}.result.json"
    err_path = workdir / f"{name}.stderr.log"
    config_path.write_text(json.dumps(config))
    args = [sys.executable, "-m", module, str(config_path)]
    if module != "bench.idle_load":
        args.append(str(result_path))
    with err_path.open("wb") as err:
        process = subprocess.Popen(
            args,
            cwd=run.ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            start_new_session=True,
            preexec_fn=run.more_files,
        )
    return name, process, result_path, err_path


def read_lines(
    procs: list[tuple[str, Any, Path, Path]], prefix: str, timeout: float, server: Any
) -> dict[str, dict[str, Any]]:
    """Wait for one line ``<prefix> {json}`` from each process; {name: json}."""
    run = _harness()
    waiting: dict[IO[str], tuple[str, Any, Path]] = {
        p.stdout: (name, p, err) for name, p, _, err in procs
    }
    found: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        for stream in waiting:
            selector.register(stream, selectors.EVENT_READ)
        while waiting:
            left = deadline - time.monotonic()
            if left <= 0:
                names = ", ".join(n for n, _, _ in waiting.values())
                raise RuntimeError(f"no {prefix} line in {timeout:.0f} s from {names}")
            for key, _ in selector.select(min(left, 1.0)):
                stream = cast(IO[str], key.fileobj)
                name, process, err = waiting[stream]
                line = stream.readline()
                if line.startswith(prefix):
                    found[name] = json.loads(line[len(prefix) :] or "{}")
                    selector.unregister(stream)
                    del waiting[stream]
                elif not line or line.startswith("ERROR"):
                    process.wait(5)
                    raise RuntimeError(
                        f"{name} failed against {server.name}: {line.strip()}\n{run.tail(err)}"
                        f"\n--- server log ---\n{run.tail(server.log)}"
                    )
    return found


class IdlePhones:
    """`len(tokens)` idle phones in `processes` bench/idle_load.py processes."""

    def __init__(
        self,
        server: Any,
        tokens: list[str | None],
        workdir: Path,
        processes: int = IDLE_PROCESSES,
        concurrency: int = 50,
        namespace: str = "/informant",
    ) -> None:
        self.server = server
        self.workdir = workdir
        share = -(-len(tokens) // processes)
        self.chunks = [tokens[i * share : (i + 1) * share] for i in range(processes)]
        self.concurrency = concurrency
        self.namespace = namespace
        self.procs: list[tuple[str, Any, Path, Path]] = []
        self.connected_at = 0.0
        self.connect_s = 0.0

    def connect(self, timeout: float = 900.0) -> dict[str, Any]:
        started = time.monotonic()
        for i, chunk in enumerate(self.chunks):
            if chunk:
                self.procs.append(
                    spawn(
                        self.workdir,
                        "bench.idle_load",
                        f"idle-{i}",
                        {
                            "url": self.server.url,
                            "namespace": self.namespace,
                            "tokens": chunk,
                            "concurrency": self.concurrency,
                        },
                    )
                )
        ready = read_lines(self.procs, "READY ", timeout, self.server)
        self.connect_s = time.monotonic() - started
        self.connected_at = time.monotonic()
        return self.merge(ready)

    def ask(self, command: str, prefix: str, timeout: float = 60.0) -> dict[str, Any]:
        for _, process, _, _ in self.procs:
            process.stdin.write(command + "\n")
            process.stdin.flush()
        return self.merge(read_lines(self.procs, prefix, timeout, self.server))

    def status(self) -> dict[str, Any]:
        return self.ask("status", "STATUS ")

    def stop(self) -> dict[str, Any] | None:
        run = _harness()
        try:
            if self.procs and all(p.poll() is None for _, p, _, _ in self.procs):
                return self.ask("stop", "DONE ", timeout=120)
            return None
        finally:
            for _, process, _, _ in self.procs:
                run.stop(process, timeout=10)

    def merge(self, parts: dict[str, dict[str, Any]]) -> dict[str, Any]:
        total: dict[str, Any] = {"errors": {}}
        for part in parts.values():
            for key, value in part.items():
                if key == "errors":
                    for text, n in value.items():
                        total["errors"][text] = total["errors"].get(text, 0) + n
                elif key in (
                    "handshake_p50_ms",
                    "handshake_p99_ms",
                    "connect_s",
                    "ping_interval_s",
                ):
                    total[key] = max(total.get(key) or 0, value or 0)
                else:
                    total[key] = total.get(key, 0) + value
        total["connect_wall_s"] = round(self.connect_s, 1)
        return total


@contextlib.contextmanager
def idle_phones(server: Any, tokens: list[str | None], workdir: Path, **kw: Any) -> Iterator[Any]:
    phones = IdlePhones(server, tokens, workdir, **kw)
    try:
        yield phones
    finally:
        phones.stop()


# --------------------------------------------------------------------------- the report stream


def random_point(geometry: Any, rng: random.Random) -> tuple[float, float]:
    from shapely.geometry import Point

    minx, miny, maxx, maxy = geometry.bounds
    for _ in range(200):
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if geometry.contains(Point(x, y)):
            return y, x
    point = geometry.representative_point()
    return point.y, point.x


def schedule(cells: list[dict[str, Any]], informants: int, total: int) -> list[list[Any]]:
    """bench/flow_load.py's schedule: [client, lat, lon, category, severity, text], seeded."""
    rng = random.Random(8)
    out = []
    for i in range(total):
        cell = cells[rng.randrange(len(cells))]
        lat, lon = random_point(cell["geometry"], rng)
        out.append(
            [
                i % informants,
                round(lat, 6),
                round(lon, 6),
                rng.choice(TRIAGE_CATEGORIES),
                rng.randint(1, 4),
                rng.randrange(1000),
            ]
        )
    return out


@dataclass
class Stream:
    """One open-loop stream of reports and what the operators saw of it."""

    records: list[list[Any]] = field(default_factory=list)
    received: list[list[list[Any]]] = field(default_factory=list)
    t0: float = 0.0
    duration: float = 0.0
    stop_at: float = 0.0  # when the listeners stopped

    @property
    def events(self) -> dict[str, bool]:
        """Which events the server sent at all (the relay sends no `report:triaged`)."""
        kinds = {entry[0] for sink in self.received for entry in sink}
        return {"new": "new" in kinds, "triaged": "triaged" in kinds}

    def stats(self, operators: int) -> dict[str, Any]:
        run = _harness()
        start = self.t0 + WARMUP_S
        errors: dict[str, int] = {}
        for r in self.records:
            if not r[3]:
                errors[r[4]] = errors.get(r[4], 0) + 1
        measured = [r for r in self.records if r[1] >= start]
        acked = {r[5]: r for r in measured if r[3] and r[5] is not None}
        ack_ms = [(r[2] - r[1]) * 1000 for r in acked.values()]
        series: dict[str, list[float]] = {"new": [], "triaged": [], "new_from_received": []}
        missing = {"new": 0, "triaged": 0}
        for sink in self.received:
            first: dict[tuple[str, Any], float] = {}
            for kind, rid, t in sink:
                if rid is not None and (kind, rid) not in first:
                    first[(kind, rid)] = t
            for rid, r in acked.items():
                for kind in ("new", "triaged"):
                    t = first.get((kind, rid))
                    if t is None:
                        # Not seen by the end: counted as arriving then (a lower bound), so
                        # that lost events raise the percentiles instead of vanishing.
                        missing[kind] += 1
                        if self.events[kind]:
                            series[kind].append((self.stop_at - r[1]) * 1000)
                        continue
                    series[kind].append((t - r[1]) * 1000)
                    received = _ts(r[6])
                    if kind == "new" and received is not None:
                        series["new_from_received"].append((t - received) * 1000)
        ordered = sorted(self.records, key=lambda r: r[1])
        lag = [(r[1] - (self.t0 + i / RATE)) * 1000 for i, r in enumerate(ordered)]
        out: dict[str, Any] = {
            "sent": len(self.records),
            "acked": sum(1 for r in self.records if r[3]),
            "errors": errors,
            "rate": len(measured) / self.duration if self.duration else 0.0,
            "send_lag_p99_ms": run.percentile(lag, 99),
            "ack_p50_ms": run.percentile(ack_ms, 50),
            "ack_p99_ms": run.percentile(ack_ms, 99),
            "ack_max_ms": max(ack_ms) if ack_ms else None,
            "pairs": len(acked) * operators,
            "missing_new": missing["new"] if self.events["new"] else None,
            "missing_triaged": missing["triaged"] if self.events["triaged"] else None,
        }
        for kind, values in series.items():
            out[f"{kind}_p50_ms"] = run.percentile(values, 50)
            out[f"{kind}_p99_ms"] = run.percentile(values, 99)
            out[f"{kind}_max_ms"] = max(values) if values else None
        return out


def _ts(value: str | None) -> float | None:
    from datetime import UTC, datetime

    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def stream(
    server: Any,
    informant_tokens: list[str | None],
    operator_tokens: list[str | None],
    plan: list[list[Any]],
    duration: float,
    workdir: Path,
    name: str,
) -> Stream:
    """`plan` sent open loop at RATE/s by one submitter process; one listener process."""
    run = _harness()
    phase = workdir / name
    phase.mkdir()
    procs = []
    try:
        procs.append(
            spawn(
                phase,
                "bench.flow_load",
                "listener",
                {
                    "role": "listener",
                    "url": server.url,
                    "clients": [{"token": t} for t in operator_tokens],
                },
            )
        )
        procs.append(
            spawn(
                phase,
                "bench.flow_load",
                "submitter",
                {
                    "role": "submitter",
                    "url": server.url,
                    "clients": [{"token": t} for t in informant_tokens],
                    "rate": RATE,
                    "schedule": plan,
                    "ack_timeout": 15.0,
                },
            )
        )
        run._wait_ready(procs, server, timeout=120)
        t0 = time.time() + 0.5
        end = t0 + WARMUP_S + duration
        line = json.dumps({"t0": t0, "stop_at": end + DRAIN_S}) + "\n"
        for _, process, _, _ in procs:
            process.stdin.write(line)
            process.stdin.flush()
        results = []
        for proc_name, process, result_path, err_path in reversed(procs):
            try:
                process.wait(max(1.0, end + DRAIN_S + 40 - time.time()))
            except subprocess.TimeoutExpired:
                raise RuntimeError(f"load process {proc_name} overran its time") from None
            if process.returncode != 0 or not result_path.exists():
                raise RuntimeError(
                    f"load process {proc_name} exited with {process.returncode}:\n"
                    f"{run.tail(err_path)}"
                )
            results.append(json.loads(result_path.read_text()))
    finally:
        for _, process, _, _ in procs:
            run.stop(process, timeout=5)
    submitted, listened = results
    return Stream(submitted["records"], listened["received"], t0, duration, end + DRAIN_S)


# --------------------------------------------------------------------------- one server


@dataclass
class Held:
    """What one server did: memory at each step, the phones' status, the streams."""

    name: str
    before: Memory | None = None
    connected: Memory | None = None
    after: Memory | None = None
    peak_tree_mib: float = 0.0
    peak_web_mib: float = 0.0
    ready: dict[str, Any] = field(default_factory=dict)
    final: dict[str, Any] = field(default_factory=dict)
    quiet: dict[str, Any] | None = None
    loaded: dict[str, Any] = field(default_factory=dict)
    held_s: float = 0.0
    idle_cores: float = 0.0  # server tree CPU with every phone connected and idle
    loaded_cores: float = 0.0  # ... over the stream phase (connecting its clients included)
    quiet_cores: float = 0.0  # ... over the stream phase with no phone


def hold_and_stream(
    server: Any,
    idle_tokens: list[str | None],
    informant_tokens: list[str | None],
    operator_tokens: list[str | None],
    plan: list[list[Any]],
    duration: float,
    workdir: Path,
    quiet_first: bool,
) -> Held:
    run = _harness()
    held = Held(server.name)
    pid = server.process.pid
    operators = len(operator_tokens)
    if quiet_first:
        console.print(f"  {server.name}: {RATE:.0f} reports/s with no idle phone")
        cpu, started = run.tree_cpu_seconds(pid), time.monotonic()
        held.quiet = stream(
            server,
            informant_tokens,
            operator_tokens,
            plan,
            duration,
            workdir,
            f"{server.name}-quiet",
        ).stats(operators)
        held.quiet_cores = (run.tree_cpu_seconds(pid) - cpu) / (time.monotonic() - started)
    held.before = memory(pid, pss=True)
    console.print(
        f"  {server.name}: connecting {len(idle_tokens)} idle phones "
        f"({IDLE_PROCESSES} processes); server tree {held.before.tree_mib:.0f} MiB"
    )
    with idle_phones(server, idle_tokens, workdir / f"idle-{server.name}") as phones:
        phones.workdir.mkdir()
        held.ready = phones.connect()
        time.sleep(2.0)
        # What holding them costs: the server's CPU while every phone is idle.
        cpu, started = run.tree_cpu_seconds(pid), time.monotonic()
        time.sleep(IDLE_CPU_S)
        held.idle_cores = (run.tree_cpu_seconds(pid) - cpu) / (time.monotonic() - started)
        held.connected = memory(pid, pss=True)
        console.print(
            f"  {server.name}: {held.ready['connected']} connected in "
            f"{held.ready['connect_wall_s']} s (refused {held.ready['refused']}, failed "
            f"{held.ready['failed']}, retries {held.ready['retries']}); server tree "
            f"{held.connected.tree_mib:.0f} MiB; {RATE:.0f} reports/s"
        )
        with PeakSampler(pid) as sampler:
            cpu, started = run.tree_cpu_seconds(pid), time.monotonic()
            held.loaded = stream(
                server,
                informant_tokens,
                operator_tokens,
                plan,
                duration,
                workdir,
                f"{server.name}-loaded",
            ).stats(operators)
            held.loaded_cores = (run.tree_cpu_seconds(pid) - cpu) / (time.monotonic() - started)
            # Every phone answers at least one ping while all are connected.
            ping_interval = float(held.ready.get("ping_interval_s") or 25.0)
            rest = ping_interval + 5.0 - (time.monotonic() - phones.connected_at)
            if rest > 0:
                console.print(f"  {server.name}: holding {rest:.0f} s more for a ping round")
                time.sleep(rest)
        held.peak_tree_mib = max(sampler.peak_tree, held.connected.tree_mib)
        held.peak_web_mib = max(sampler.peak_web, held.connected.web_mib)
        held.after = memory(pid, pss=True)
        held.final = phones.status()
        held.held_s = time.monotonic() - phones.connected_at
    return held


# --------------------------------------------------------------------------- the benchmark


def server_nofile() -> int:
    """The open-files limit a server started by bench.run gets (after more_files)."""
    run = _harness()
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import resource; print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])",
        ],
        preexec_fn=run.more_files,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return int(done.stdout.strip())


def phone_count() -> tuple[int, int]:
    """(phones to hold, the servers' file limit): IDLE_PHONES, or fewer if the limit says so."""
    limit = server_nofile()
    return min(IDLE_PHONES, limit - FD_RESERVE), limit


def gunicorn_env() -> dict[str, str]:
    if WORKER_CONNECTIONS <= 0:
        return {}
    return {"GUNICORN_CMD_ARGS": f"--worker-connections {WORKER_CONNECTIONS}"}


@contextlib.contextmanager
def environ(extra: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the children started inside (bench.run.relay_server
    passes the harness's own environment on)."""
    saved = {name: os.environ.get(name) for name in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


def bench_idle(quick: bool, workdir: Path) -> dict[str, dict[str, Any]]:
    from bench.enrol import cells_of, enrol_informants

    run = _harness()
    duration = 8.0 if quick else 20.0
    operator_names = ["operator", f"operator-{COUNTY}"]
    phones, nofile = phone_count()
    console.print(
        f"[bold]idle[/]: {phones} idle phones on /informant in {IDLE_PROCESSES} processes, "
        f"then {RATE:.0f} reports/s open loop for {duration:.0f} s (+{WARMUP_S:.0f} s warm-up) "
        f"from {LOAD_INFORMANTS} informants, {len(operator_names)} operators; gunicorn "
        f"worker_connections {WORKER_CONNECTIONS or 'default (1000)'} for both servers"
    )
    if phones < IDLE_PHONES:
        console.print(
            f"  [yellow]only {phones} phones, not {IDLE_PHONES}[/]: a server process here may "
            f"hold at most {nofile} open files (RLIMIT_NOFILE's hard limit, which this machine "
            f"does not let even root raise), less {FD_RESERVE} for its own files and the load"
        )
    started = time.monotonic()
    with run.gridwatch_server(
        workdir, cells=max(IDLE_PHONES, 2000), extra_env=gunicorn_env()
    ) as gridwatch:
        console.print(
            f"  gridwatch up at {gridwatch.url} ({max(IDLE_PHONES, 2000)} cells seeded, "
            f"{time.monotonic() - started:.0f} s)"
        )
        operator_tokens = run._tokens(gridwatch, operator_names)
        cells = cells_of(gridwatch, operator_tokens[0], CITY)
        if len(cells) < phones:
            raise RuntimeError(f"only {len(cells)} cells under {CITY}; need {phones}")
        county = [c for c in cells if c["code"].startswith(COUNTY)]
        step = len(county) / LOAD_INFORMANTS
        t = time.monotonic()
        idle = enrol_informants(gridwatch, workdir, [c["code"] for c in cells[:phones]])
        load = enrol_informants(
            gridwatch,
            workdir,
            [county[int(i * step)]["code"] for i in range(LOAD_INFORMANTS)],
            prefix="load",
        )
        console.print(
            f"  enrolled {len(idle)} idle and {len(load)} load informants "
            f"({time.monotonic() - t:.0f} s)"
        )
        idle_tokens: list[str | None] = [u["token"] for u in idle]
        load_tokens: list[str | None] = [u["token"] for u in load]
        total = int(RATE * (WARMUP_S + duration))
        plan = schedule(county, LOAD_INFORMANTS, total)

        with environ(gunicorn_env()), run.relay_server(workdir) as relay:
            console.print(f"  relay up at {relay.url}")
            base = hold_and_stream(
                relay,
                idle_tokens,
                [None] * LOAD_INFORMANTS,
                [None] * len(operator_names),
                plan,
                duration,
                workdir,
                quiet_first=False,
            )
        value = hold_and_stream(
            gridwatch,
            idle_tokens,
            load_tokens,
            operator_tokens,
            plan,
            duration,
            workdir,
            quiet_first=True,
        )
        gridwatch_log = run.tail(gridwatch.log, 8)

    _print(value, base, gridwatch_log, phones)
    return figures(value, base)


def per_thousand(held: Held) -> float | None:
    if held.before is None or held.connected is None or not held.ready.get("connected"):
        return None
    return (held.connected.tree_mib - held.before.tree_mib) / (held.ready["connected"] / 1000)


def figures(value: Held, base: Held) -> dict[str, dict[str, Any]]:
    run = _harness()

    def figure(v: float | None, b: float | None, unit: str, digits: int = 1) -> dict[str, Any]:
        return {
            "value": run.rounded(v, digits),
            "unit": unit,
            "baseline": run.rounded(b, digits),
            "ratio": run.ratio(v, b),
        }

    def count(v: int, b: int | None, unit: str) -> dict[str, Any]:
        return {"value": v, "unit": unit, "baseline": b, "ratio": run.ratio(v, b)}

    quiet = value.quiet or {}
    return {
        "idle_20k_connected": count(
            value.final.get("connected", 0), base.final.get("connected", 0), "connections"
        ),
        "idle_20k_server_rss_mib": figure(value.peak_tree_mib, base.peak_tree_mib, "MiB", 0),
        "idle_20k_web_rss_mib": figure(value.peak_web_mib, base.peak_web_mib, "MiB", 0),
        "idle_20k_rss_per_1k_mib": figure(per_thousand(value), per_thousand(base), "MiB", 2),
        "idle_20k_ack_p50_ms": figure(value.loaded["ack_p50_ms"], base.loaded["ack_p50_ms"], "ms"),
        "idle_20k_ack_p99_ms": figure(value.loaded["ack_p99_ms"], base.loaded["ack_p99_ms"], "ms"),
        "idle_20k_operator_p99_ms": figure(
            value.loaded["new_p99_ms"], base.loaded["new_p99_ms"], "ms"
        ),
        # No triage in the relay: the baseline is Gridwatch's own stream before any phone.
        "idle_20k_triaged_p99_ms": figure(
            value.loaded["triaged_p99_ms"], quiet.get("triaged_p99_ms"), "ms"
        ),
        "idle_20k_dropped": count(
            value.final.get("dropped", 0) + value.final.get("failed", 0),
            base.final.get("dropped", 0) + base.final.get("failed", 0),
            "connections",
        ),
    }


def _print(value: Held, base: Held, gridwatch_log: str, phones: int) -> None:
    def ms(x: Any) -> str:
        return "-" if x is None else f"{x:.1f}"

    def mib(m: Memory | None, attr: str) -> str:
        return "-" if m is None else f"{getattr(m, attr):.0f}"

    table = Table(title="idle: phones, memory (MiB) and the report stream", title_justify="left")
    table.add_column("")
    table.add_column("relay", justify="right")
    table.add_column("gridwatch", justify="right")
    table.add_column("gridwatch, no phones", justify="right")
    rows: list[tuple[str, str, str, str]] = []
    for label_, key in (
        ("phones connected at the start", "connected"),
        ("refused / failed / retries", None),
    ):
        if key:
            rows.append((label_, str(base.ready.get(key)), str(value.ready.get(key)), ""))
        else:
            rows.append(
                (
                    label_,
                    "{refused} / {failed} / {retries}".format(**base.ready),
                    "{refused} / {failed} / {retries}".format(**value.ready),
                    "",
                )
            )
    rows += [
        (
            "connecting took (s), handshake p99 (ms)",
            f"{base.ready.get('connect_wall_s')}, {ms(base.ready.get('handshake_p99_ms'))}",
            f"{value.ready.get('connect_wall_s')}, {ms(value.ready.get('handshake_p99_ms'))}",
            "",
        ),
        (
            "at the end: connected / dropped / stale",
            "{connected} / {dropped} / {stale}".format(**base.final),
            "{connected} / {dropped} / {stale}".format(**value.final),
            "",
        ),
        (
            "pings answered, held (s)",
            f"{base.final.get('pings')}, {base.held_s:.0f}",
            f"{value.final.get('pings')}, {value.held_s:.0f}",
            "",
        ),
        ("tree RSS before", mib(base.before, "tree_mib"), mib(value.before, "tree_mib"), ""),
        (
            "tree RSS connected (PSS)",
            f"{mib(base.connected, 'tree_mib')} ({mib(base.connected, 'tree_pss_mib')})",
            f"{mib(value.connected, 'tree_mib')} ({mib(value.connected, 'tree_pss_mib')})",
            "",
        ),
        ("tree RSS peak under load", f"{base.peak_tree_mib:.0f}", f"{value.peak_tree_mib:.0f}", ""),
        (
            "web worker RSS before / connected / peak",
            f"{mib(base.before, 'web_mib')} / {mib(base.connected, 'web_mib')} / "
            f"{base.peak_web_mib:.0f}",
            f"{mib(value.before, 'web_mib')} / {mib(value.connected, 'web_mib')} / "
            f"{value.peak_web_mib:.0f}",
            "",
        ),
        ("MiB per 1,000 phones (tree)", ms(per_thousand(base)), ms(per_thousand(value)), ""),
        (
            "server CPU (cores): phones idle / stream phase",
            f"{base.idle_cores:.2f} / {base.loaded_cores:.2f}",
            f"{value.idle_cores:.2f} / {value.loaded_cores:.2f}",
            f"- / {value.quiet_cores:.2f}",
        ),
        (
            "web worker open files before / connected",
            f"{mib(base.before, 'web_fds')} / {mib(base.connected, 'web_fds')}",
            f"{mib(value.before, 'web_fds')} / {mib(value.connected, 'web_fds')}",
            "",
        ),
    ]
    quiet = value.quiet or {}
    for label_, key in (
        ("reports sent / acked", None),
        ("achieved rate (reports/s)", "rate"),
        ("send lag p99 (ms)", "send_lag_p99_ms"),
        ("ack p50 / p99 / max (ms)", "ack"),
        ("report:new from send p50 / p99 / max", "new"),
        ("report:new from received_at p50 / p99", "new_from_received"),
        ("report:triaged from send p50 / p99 / max", "triaged"),
        ("not seen by the end: report:new / triaged", "missing"),
    ):
        cells = []
        for s in (base.loaded, value.loaded, quiet):
            if not s:
                cells.append("")
            elif key is None:
                cells.append(f"{s['sent']} / {s['acked']}")
            elif key == "missing":
                cells.append(
                    f"{s['missing_new'] if s['missing_new'] is not None else '-'} / "
                    f"{s['missing_triaged'] if s['missing_triaged'] is not None else '-'} "
                    f"of {s['pairs']}"
                )
            elif key in ("ack", "new", "triaged"):
                cells.append(
                    f"{ms(s[f'{key}_p50_ms'])} / {ms(s[f'{key}_p99_ms'])} / "
                    f"{ms(s[f'{key}_max_ms'])}"
                )
            elif key == "new_from_received":
                cells.append(f"{ms(s[f'{key}_p50_ms'])} / {ms(s[f'{key}_p99_ms'])}")
            else:
                cells.append(ms(s[key]))
        rows.append((label_, *cells))  # type: ignore[arg-type]
    for row in rows:
        table.add_row(*row)
    console.print(table)
    if value.connected is not None:
        parts = ", ".join(f"{k} {v:.0f}" for k, v in sorted(value.connected.parts.items()))
        console.print(f"  gridwatch tree with the phones connected (RSS MiB): {parts}")
    for held in (base, value):
        errors = {**held.ready.get("errors", {}), **held.final.get("errors", {})}
        if errors:
            console.print(f"  {held.name} connection errors: {json.dumps(errors)[:600]}")
        stream_errors = held.loaded.get("errors")
        if stream_errors:
            console.print(f"  {held.name} report errors: {stream_errors}")
    if value.final.get("connected", 0) < phones:
        console.print(f"  gridwatch log (end):\n{gridwatch_log}")
    goals = [
        (f"{IDLE_PHONES} connected", value.final.get("connected", 0) >= IDLE_PHONES),
        ("server RSS < 4096 MiB", value.peak_tree_mib < 4096),
        ("ack p99 < 50 ms", (value.loaded.get("ack_p99_ms") or math.inf) < 50),
        ("operator p99 < 250 ms", (value.loaded.get("new_p99_ms") or math.inf) < 250),
        ("triaged p99 < 500 ms", (value.loaded.get("triaged_p99_ms") or math.inf) < 500),
    ]
    console.print(
        "  goals: "
        + ", ".join(f"{name} [{'green]met' if ok else 'red]MISSED'}[/]" for name, ok in goals)
    )
