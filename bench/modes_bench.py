"""Async-mode benchmark (issue 8, Scale): gevent, threading or eventlet for the web process.

modes
    The bare relay (bench/relay_modes.py: bench/relay.py's app, async mode chosen by
    GWBENCH_ASYNC_MODE) under each async mode, one after the other in the same run:

      gevent     gunicorn, 1 GeventWebSocketWorker (what `gridwatch serve` runs)
      threading  gunicorn, 1 gthread worker, --threads 1200 (simple-websocket)
      eventlet   eventlet.wsgi, 1 process (gunicorn 26 dropped its eventlet worker)

    Each gets the `ingest` load of bench/run.py (50 informants in 2 processes, closed loop,
    5 operators, 3 s warm-up + 20 s measured, 8 s with --quick), then 1,000 idle phones
    (bench/idle_load.py) for the memory one idle connection costs. Figures per mode:
    reports/s, ack p50 and p99, server CPU per report (each report is 1 message in, 1 ack and
    5 `report:new` out), operator deliveries/s, and RSS per 1,000 idle phones.
    Baseline: the gevent relay in the same run (ratio = mode / gevent).

    Then Gridwatch itself under gevent (`gridwatch serve`) and under threading: a second web
    process, gunicorn gthread with ``dispatch:create_app(async_mode="threading")`` beside the
    same embedded Redis, RQ worker and database (no change under dispatch/ needed), with the
    same load. Baseline: Gridwatch under gevent.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console(width=max(110, Console().width))

MODES = ("gevent", "threading", "eventlet")
THREADS = 1200  # gthread: every websocket holds a pool thread for its whole life
IDLE = 1000
MAX_CONNECTIONS = 5000
INFORMANTS = 50
COUNTY = "620102"  # 城关区: the informants' cells, every operator's jurisdiction
OPERATORS = ["operator", f"operator-{COUNTY}", "supervisor", f"supervisor-{COUNTY}", "admin"]
POINT = (36.06, 103.83)  # the relay does not look at it


def _harness() -> Any:
    from bench import run

    return run


def mode_args(
    mode: str, host: str, port: int, app: str, connections: int = MAX_CONNECTIONS
) -> list[str]:
    """The command serving `app` in `mode` (gevent: exactly `gridwatch serve`'s gunicorn)."""
    run = _harness()
    if mode == "eventlet":
        return [sys.executable, "-m", "bench.relay_modes", host, str(port), str(connections)]
    args = run.gunicorn_args(host, port, app=app)
    assert args[-1] == app
    args[-1:-1] = ["--worker-connections", str(connections)]
    if mode == "threading":
        at = args.index("--worker-class")
        args[at + 1] = "gthread"
        args[at + 2 : at + 2] = ["--threads", str(THREADS)]
    return args


@contextlib.contextmanager
def mode_relay(workdir: Path, mode: str, connections: int = MAX_CONNECTIONS) -> Iterator[Any]:
    run = _harness()
    port = run.free_port()
    log = workdir / f"relay-{mode}.log"
    env = dict(os.environ, GWBENCH_ASYNC_MODE=mode)
    process = None
    with log.open("wb") as out:
        try:
            process = subprocess.Popen(
                mode_args(mode, run.HOST, port, "bench.relay_modes:app", connections),
                cwd=run.ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=run.more_files,
            )
            server = run.Server(f"relay-{mode}", f"http://{run.HOST}:{port}", process, log)
            run.wait_healthy(server.url, process, log)
            answer = run.http_json("GET", f"{server.url}/api/health")
            if answer.get("async_mode") != mode:
                raise RuntimeError(f"relay runs {answer.get('async_mode')}, not {mode}")
            yield server
        finally:
            run.stop(process)


@contextlib.contextmanager
def threaded_gridwatch(workdir: Path, gridwatch: Any) -> Iterator[Any]:
    """A second Gridwatch web process, gunicorn gthread + async_mode threading, sharing the
    running `gridwatch serve`'s database, embedded Redis and RQ worker."""
    run = _harness()
    match = re.search(r"embedded Redis at (\S+?);", gridwatch.log.read_text(errors="replace"))
    if not match:
        raise RuntimeError(f"no 'embedded Redis at' line in {gridwatch.log}")
    env = dict(gridwatch.env or {}, REDIS_URL=match.group(1))
    port = run.free_port()
    log = workdir / "gridwatch-threading.log"
    args = mode_args("threading", run.HOST, port, "dispatch.wsgi:app")
    args[-1] = 'dispatch:create_app(async_mode="threading")'
    if "--config" not in args:  # the locate index at start, the drain on SIGTERM
        args[-1:-1] = ["--config", str(run.ROOT / "dispatch" / "gunicorn_conf.py")]
    process = None
    with log.open("wb") as out:
        try:
            process = subprocess.Popen(
                args,
                cwd=run.ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=run.more_files,
            )
            server = run.Server(
                "gridwatch-threading", f"http://{run.HOST}:{port}", process, log, env
            )
            run.wait_healthy(server.url, process, log, timeout=90)
            yield server
        finally:
            run.stop(process, timeout=30)


class CpuClock:
    """CPU seconds of some process trees, sampled every 0.2 s, read back for any window."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        run = _harness()
        while not self._stop.is_set():
            self.samples.append((time.time(), sum(run.tree_cpu_seconds(p) for p in self.pids)))
            self._stop.wait(0.2)

    def at(self, t: float) -> float:
        before = [s for s in self.samples if s[0] <= t]
        after = [s for s in self.samples if s[0] >= t]
        if not before or not after:
            return (before or after)[-1 if before else 0][1]
        (t0, c0), (t1, c1) = before[-1], after[0]
        return c0 if t1 == t0 else c0 + (c1 - c0) * (t - t0) / (t1 - t0)

    def __enter__(self) -> CpuClock:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def load_once(
    server: Any,
    informants: list[dict[str, Any]],
    operators: list[dict[str, Any]],
    duration: float,
    workdir: Path,
    also: list[int] | None = None,
) -> dict[str, Any]:
    """bench/run.py's ingest load; `also`: more process trees whose CPU is the server's."""
    run = _harness()
    load = run.Load(informants, operators, 3.0, duration)
    with CpuClock(also or []) as clock:
        phase = run.run_load(server, load, workdir)
    start, end = phase.window
    if also:
        phase.server_cpu_s += clock.at(end) - clock.at(start)
    summary: dict[str, Any] = phase.summary(len(operators))
    window = end - start
    summary["deliveries_per_s"] = summary["deliveries"] / window
    acked = summary["reports_per_s"] * window
    summary["cpu_per_report_us"] = phase.server_cpu_s / acked * 1e6 if acked else None
    return summary


def idle_cost(server: Any, workdir: Path) -> dict[str, Any]:
    """RSS of the web process before and with IDLE idle phones connected."""
    from bench.idle_bench import idle_phones, memory

    pid = server.process.pid
    before = memory(pid)
    phases = workdir / f"idle-{server.name}"
    phases.mkdir()
    with idle_phones(server, [None] * IDLE, phases, processes=2) as phones:
        ready = phones.connect(timeout=300)
        time.sleep(2.0)
        connected = memory(pid)
    n = ready.get("connected", 0)
    return {
        "connected": n,
        "failed": ready.get("failed", 0) + ready.get("skipped", 0),
        "connect_s": ready.get("connect_wall_s"),
        "web_before_mib": before.web_mib,
        "web_connected_mib": connected.web_mib,
        "mib_per_1k": (connected.web_mib - before.web_mib) / (n / 1000) if n else None,
        "threads": _threads(pid),
    }


def _threads(pid: int) -> int:
    from bench.idle_bench import process_tree

    total = 0
    for p in process_tree(pid):
        with contextlib.suppress(OSError):
            total += len(list(Path(f"/proc/{p['pid']}/task").iterdir()))
    return total


def bench_modes(quick: bool, workdir: Path) -> dict[str, dict[str, Any]]:
    from bench.enrol import cells_of

    run = _harness()
    duration = 8.0 if quick else 20.0
    console.print(
        f"[bold]modes[/]: the bare relay under {', '.join(MODES)}: ingest load "
        f"({INFORMANTS} informants closed loop, {len(OPERATORS)} operators, 3 s warm-up + "
        f"{duration:.0f} s), then {IDLE} idle phones; then Gridwatch under gevent and threading"
    )
    relays: dict[str, dict[str, Any]] = {}
    idle: dict[str, dict[str, Any]] = {}
    informants = [
        {"token": None, "lat": POINT[0], "lon": POINT[1], "points": [list(POINT)]}
        for _ in range(INFORMANTS)
    ]
    operators = [{"token": None} for _ in OPERATORS]
    for mode in MODES:
        if mode == "eventlet" and not _eventlet_works():
            console.print("  [yellow]eventlet is not installed or does not import; skipped[/]")
            continue
        with mode_relay(workdir, mode) as relay:
            console.print(f"  relay ({mode}) up at {relay.url}; loading")
            relays[mode] = load_once(relay, informants, operators, duration, workdir)
            idle[mode] = idle_cost(relay, workdir)

    gridwatch_runs: dict[str, dict[str, Any]] = {}
    with run.gridwatch_server(workdir) as gridwatch:
        console.print(f"  gridwatch up at {gridwatch.url}")
        operator_tokens = run._tokens(gridwatch, OPERATORS)
        every = cells_of(gridwatch, operator_tokens[0], COUNTY)
        if len(every) < INFORMANTS:
            raise RuntimeError(f"only {len(every)} cells under {COUNTY}; need {INFORMANTS}")
        cells = [every[int(i * len(every) / INFORMANTS)] for i in range(INFORMANTS)]
        informant_tokens = run._tokens(gridwatch, [f"informant-{c['code']}" for c in cells])
        gw_informants = [
            {"token": token, "lat": c["lat"], "lon": c["lon"], "points": [[c["lat"], c["lon"]]]}
            for token, c in zip(informant_tokens, cells, strict=True)
        ]
        gw_operators = [{"token": token} for token in operator_tokens]
        console.print("  loading gridwatch (gevent)")
        gridwatch_runs["gevent"] = load_once(
            gridwatch, gw_informants, gw_operators, duration, workdir
        )
        with threaded_gridwatch(workdir, gridwatch) as threaded:
            console.print(f"  gridwatch (threading) up at {threaded.url}; loading")
            gridwatch_runs["threading"] = load_once(
                threaded,
                gw_informants,
                gw_operators,
                duration,
                workdir,
                also=[gridwatch.process.pid],
            )

    _print(relays, idle, gridwatch_runs)
    return figures(relays, idle, gridwatch_runs)


def _eventlet_works() -> bool:
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", "import eventlet, eventlet.wsgi"],
        capture_output=True,
        timeout=60,
    )
    return done.returncode == 0


FIGURES = (
    ("reports_per_s", "reports/s", 1),
    ("ack_p50_ms", "ms", 1),
    ("ack_p99_ms", "ms", 1),
    ("cpu_per_report_us", "µs", 0),
    ("deliveries_per_s", "deliveries/s", 0),
)


def figures(
    relays: dict[str, dict[str, Any]],
    idle: dict[str, dict[str, Any]],
    gridwatch_runs: dict[str, dict[str, Any]],
) -> dict[str, dict[str, Any]]:
    run = _harness()

    def figure(v: float | None, b: float | None, unit: str, digits: int) -> dict[str, Any]:
        return {
            "value": run.rounded(v, digits),
            "unit": unit,
            "baseline": run.rounded(b, digits),
            "ratio": run.ratio(v, b),
        }

    out: dict[str, dict[str, Any]] = {}
    base = relays.get("gevent", {})
    for mode, summary in relays.items():
        if mode == "gevent":
            continue
        for key, unit, digits in FIGURES:
            out[f"modes_{mode}_{key}"] = figure(summary[key], base.get(key), unit, digits)
        out[f"modes_{mode}_idle_mib_per_1k"] = figure(
            idle[mode]["mib_per_1k"], idle.get("gevent", {}).get("mib_per_1k"), "MiB", 1
        )
    if "threading" in gridwatch_runs:
        g, b = gridwatch_runs["threading"], gridwatch_runs["gevent"]
        for key, unit, digits in FIGURES:
            out[f"modes_gridwatch_threading_{key}"] = figure(g[key], b[key], unit, digits)
    return out


def _print(
    relays: dict[str, dict[str, Any]],
    idle: dict[str, dict[str, Any]],
    gridwatch_runs: dict[str, dict[str, Any]],
) -> None:
    def fmt(x: Any, digits: int = 1) -> str:
        return "-" if x is None else f"{x:.{digits}f}" if isinstance(x, float) else str(x)

    columns = {f"relay {m}": s for m, s in relays.items()}
    columns.update({f"gridwatch {m}": s for m, s in gridwatch_runs.items()})
    table = Table(title="modes: the same ingest load per async mode", title_justify="left")
    table.add_column("")
    for name in columns:
        table.add_column(name, justify="right")
    rows = [
        ("reports/s", "reports_per_s", 1),
        ("ack p50 (ms)", "ack_p50_ms", 1),
        ("ack p99 (ms)", "ack_p99_ms", 1),
        ("delivery p50 (ms)", "delivery_p50_ms", 1),
        ("delivery p99 (ms)", "delivery_p99_ms", 1),
        ("operator deliveries/s", "deliveries_per_s", 0),
        ("server CPU (cores)", "server_cores", 2),
        ("server CPU per report (µs)", "cpu_per_report_us", 0),
        ("load processes CPU (cores)", "load_cores", 2),
    ]
    for label, key, digits in rows:
        table.add_row(label, *(fmt(s.get(key), digits) for s in columns.values()))
    table.add_row(
        "deliveries measured / expected",
        *(f"{s['deliveries']} / {s['deliveries_expected']}" for s in columns.values()),
    )
    table.add_row("errors", *(str(s["errors"]) if s["errors"] else "-" for s in columns.values()))
    for label, key, digits in (
        (f"{IDLE} idle phones connected", "connected", 0),
        ("connecting them took (s)", "connect_s", 1),
        ("web RSS before (MiB)", "web_before_mib", 0),
        ("web RSS connected (MiB)", "web_connected_mib", 0),
        ("MiB per 1,000 idle phones", "mib_per_1k", 1),
        ("threads in the server", "threads", 0),
    ):
        cells = [fmt(idle[m].get(key), digits) if m in idle else "" for m in relays]
        table.add_row(label, *cells, *([""] * len(gridwatch_runs)))
    console.print(table)
