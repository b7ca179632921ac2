"""Gridwatch benchmarks: `python -m bench.run [--quick] [--only NAME]` (what `make bench` runs).

Every figure is measured side by side with its baseline in the same run and written to
`bench/results.json` as ``{"<name>": {"value", "unit", "baseline", "ratio", "machine"}}``.
The machine is shared and noisy: the ratio to the same-run baseline is the figure to compare
across runs, not the absolute value. See docs/benchmarks.md.

Benchmarks:
  ingest  50 informants submit reports over Socket.IO (closed loop) while 5 operators listen;
          Gridwatch (`gridwatch serve`: SQLite, embedded Redis, RQ worker, gunicorn + gevent)
          against the bare relay in bench/relay.py served the same way.
  rate    500 reports/s open loop from 1,000 enrolled informants to 20 operators
          (bench/rate_bench.py).
  triage_latency, timeouts
          commit → `report:triaged` at the operator at 50 reports/s; how late 100 concurrent
          unacknowledged offers time out (bench/flow_bench.py).
  grid, dispatch, triage, map
          locating points and importing grids; ranking teams; the triage rules on real
          reports; the operator's map in Chromium.
  modes   the bare relay under gevent, threading and eventlet; Gridwatch under gevent and
          threading (bench/modes_bench.py).
  replay  9,226 real 911 calls replayed at 1×, 10× and the fastest speed that holds
          (bench/replay_bench.py).
  idle    20,000 idle phones held while 100 reports/s flow (bench/idle_bench.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

from rich.console import Console
from rich.table import Table

from bench.dispatch_bench import bench_dispatch
from bench.flow_bench import bench_timeouts, bench_triage_latency
from bench.grid_bench import bench_grid
from bench.idle_bench import bench_idle
from bench.map_bench import bench_map
from bench.modes_bench import bench_modes
from bench.rate_bench import bench_rate
from bench.replay_bench import bench_replay
from bench.triage_bench import bench_triage
from dispatch.runtime import gunicorn_args

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results.json"
HOST = "127.0.0.1"
DEMO_PASSWORD = "gridwatch-demo"
COUNTY = "620102"  # 城关区: the informants' cells and the operators' common jurisdiction

# Wide enough for the tables when the output is a pipe (make, CI logs).
console = Console(width=max(110, Console().width))


# --------------------------------------------------------------------------- the machine


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f", {int(line.split()[1]) / 1024 / 1024:.1f} GiB RAM"
                break
    return f"{cpu}, {os.cpu_count()} cores{ram}, Python {platform.python_version()}"


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def gridwatch_cmd() -> list[str]:
    script = Path(sys.executable).parent / "gridwatch"
    return [str(script)] if script.exists() else [sys.executable, "-m", "dispatch.cli"]


def stop(process: subprocess.Popen[Any] | None, timeout: float = 20.0) -> None:
    """SIGTERM, wait, then SIGKILL: for processes this harness started, by their pid."""
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        process.wait(5)


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its live descendants (Linux /proc)."""
    return sum(tree_cpu_by_process(pid).values())


def tree_cpu_by_process(pid: int) -> dict[str, float]:
    """CPU seconds of each live process in the tree, by a short name (its command line's
    telling word: gunicorn, worker, redis-server, ...), summed over processes of one name."""
    out: dict[str, float] = {}
    stack, seen = [pid], set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            args = Path(f"/proc/{current}/cmdline").read_bytes().split(b"\0")
            words = [a.decode(errors="replace") for a in args if a]
            line = " ".join(words)
            if "gunicorn" in line:
                # gunicorn's master forks the web process: tell them apart by parentage.
                parent = Path(f"/proc/{int(fields[1])}/cmdline").read_bytes()
                name = "web" if b"gunicorn" in parent else "gunicorn master"
            elif " worker" in line:
                name = "rq worker"
            elif "redis-server" in line:
                name = "redis"
            elif " serve" in line:
                name = "serve"
            else:
                name = Path(words[0]).name if words else str(current)
            out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / os.sysconf(
                "SC_CLK_TCK"
            )
            for task in Path(f"/proc/{current}/task").iterdir():
                stack.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError, IndexError):
            continue
    return out


def http_json(
    method: str, url: str, body: Any = None, token: str | None = None, timeout: float = 30.0
) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def wait_healthy(
    url: str, process: subprocess.Popen[Any], log: Path, timeout: float = 60.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{tail(log)}")
        try:
            with urllib.request.urlopen(f"{url}/api/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url}/api/health not 200 after {timeout:.0f} s:\n{tail(log)}")


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[Any]
    log: Path
    env: dict[str, str] | None = None  # Gridwatch's environment, for CLI steps beside it


NOFILE = 65536


def more_files() -> None:
    """In a child before exec: room for tens of thousands of sockets (needs root or a high
    hard limit; otherwise the soft limit goes as high as the hard one allows)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for wanted in (max(NOFILE, hard), hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
            return
        except (ValueError, OSError):
            continue


@contextlib.contextmanager
def relay_server(workdir: Path) -> Iterator[Server]:
    """bench/relay.py under gunicorn with the same worker settings as `gridwatch serve`."""
    port = free_port()
    log = workdir / "relay.log"
    args = gunicorn_args(HOST, port, app="bench.relay:app")
    process = None
    with log.open("wb") as out:
        try:
            process = subprocess.Popen(
                args,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=more_files,
            )
            server = Server("relay", f"http://{HOST}:{port}", process, log)
            wait_healthy(server.url, process, log)
            yield server
        finally:
            stop(process)


@contextlib.contextmanager
def gridwatch_server(
    workdir: Path, cells: int = 2000, extra_env: dict[str, str] | None = None
) -> Iterator[Server]:
    """A fresh instance: migrate, seed the Lanzhou demo, `gridwatch serve` on a free port.

    `extra_env` adds to (or overrides) the server's environment, e.g. GRIDWATCH_ACK_TIMEOUT_S.
    """
    instance = workdir / "instance"
    instance.mkdir()
    env = dict(os.environ, GRIDWATCH_INSTANCE=str(instance), GRIDWATCH_RATE_LIMITS="off")
    for name in ("REDIS_URL", "DATABASE_URL", "GRIDWATCH_ENV"):
        env.pop(name, None)
    env.update(extra_env or {})
    log = workdir / "gridwatch.log"
    with log.open("wb") as out:
        for step in (["db", "upgrade"], ["seed-demo", "--cells", str(cells)]):
            done = subprocess.run(
                gridwatch_cmd() + step,
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=180,
            )
            if done.returncode != 0:
                raise RuntimeError(
                    f"gridwatch {' '.join(step)} exited with {done.returncode}:\n{tail(log)}"
                )
        port = free_port()
        process = None
        try:
            process = subprocess.Popen(
                gridwatch_cmd() + ["serve", "--host", HOST, "--port", str(port)],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=more_files,
            )
            server = Server("gridwatch", f"http://{HOST}:{port}", process, log, env)
            wait_healthy(server.url, process, log, timeout=90)
            yield server
        finally:
            stop(process, timeout=30)


# --------------------------------------------------------------------------- statistics


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def ratio(value: float | None, baseline: float | None) -> float | None:
    if value is None or not baseline:
        return None
    return round(value / baseline, 3)


def rounded(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


# --------------------------------------------------------------------------- load phase


@dataclass
class Load:
    informants: list[dict[str, Any]]  # {token, lat, lon}
    operators: list[dict[str, Any]]  # {token}
    warmup_s: float
    duration_s: float
    processes: int = 2
    drain_s: float = 3.0
    ack_timeout_s: float = 15.0


@dataclass
class PhaseResult:
    records: list[list[Any]] = field(default_factory=list)  # [cid, t_send, t_ack, ok, err, dup]
    received: list[list[list[Any]]] = field(default_factory=list)  # per operator [cid, t]
    events: int = 0
    window: tuple[float, float] = (0.0, 0.0)
    server_cpu_s: float = 0.0  # CPU seconds used in the window by the server's process tree
    load_cpu_s: float = 0.0  # ... and by the load processes

    def summary(self, operators: int) -> dict[str, Any]:
        start, end = self.window
        ok = [r for r in self.records if r[3]]
        acked_in_window = [r for r in ok if start <= r[2] <= end]
        sent_in_window = {r[0]: r for r in ok if start <= r[1] <= end}
        ack_ms = [(r[2] - r[1]) * 1000 for r in sent_in_window.values()]
        delivery_ms: list[float] = []
        for sink in self.received:
            seen: set[str] = set()
            for cid, t in sink:
                sent = sent_in_window.get(cid)
                if sent is not None and cid not in seen:
                    seen.add(cid)
                    delivery_ms.append((t - sent[1]) * 1000)
        errors: dict[str, int] = {}
        for r in self.records:
            if not r[3]:
                errors[r[4]] = errors.get(r[4], 0) + 1
        return {
            "sent": len(self.records),
            "acked": len(ok),
            "duplicate_acks": sum(1 for r in ok if r[5]),
            "errors": errors,
            "reports_per_s": len(acked_in_window) / (end - start),
            "ack_p50_ms": percentile(ack_ms, 50),
            "ack_p99_ms": percentile(ack_ms, 99),
            "delivery_p50_ms": percentile(delivery_ms, 50),
            "delivery_p99_ms": percentile(delivery_ms, 99),
            "deliveries": len(delivery_ms),
            "deliveries_expected": len(sent_in_window) * operators,
            "operator_events": self.events,
            "server_cores": self.server_cpu_s / (end - start),
            "load_cores": self.load_cpu_s / (end - start),
        }


def _spawn_load(
    workdir: Path, name: str, config: dict[str, Any]
) -> tuple[subprocess.Popen[str], Path, Path]:
    config_path = workdir / f"{name}.config.json"
    result_path = workdir / f"{name}.result.json"
    err_path = workdir / f"{name}.stderr.log"
    config_path.write_text(json.dumps(config))
    with err_path.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.load", str(config_path), str(result_path)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            start_new_session=True,
        )
    return process, result_path, err_path


def run_load(server: Server, load: Load, workdir: Path) -> PhaseResult:
    """One operator process and `load.processes` informant processes against one server."""
    phase_dir = workdir / f"load-{server.name}"
    phase_dir.mkdir()
    share = -(-len(load.informants) // load.processes)
    specs = [
        (
            "operators",
            {
                "role": "operator",
                "url": server.url,
                "clients": load.operators,
                "drain_s": load.drain_s,
            },
        )
    ]
    for i in range(load.processes):
        chunk = load.informants[i * share : (i + 1) * share]
        if chunk:
            specs.append(
                (
                    f"informants-{i}",
                    {
                        "role": "informant",
                        "url": server.url,
                        "clients": chunk,
                        "ack_timeout": load.ack_timeout_s,
                    },
                )
            )
    procs: list[tuple[str, subprocess.Popen[str], Path, Path]] = []
    try:
        for name, config in specs:
            procs.append((name, *_spawn_load(phase_dir, name, config)))
        _wait_ready(procs, server, timeout=60)
        t0 = time.time() + 0.5
        stop_at = t0 + load.warmup_s + load.duration_s
        go = json.dumps({"t0": t0, "stop_at": stop_at}) + "\n"
        for _, process, _, _ in procs:
            assert process.stdin is not None
            process.stdin.write(go)
            process.stdin.flush()
        deadline = stop_at + load.drain_s + load.ack_timeout_s + 20
        result = PhaseResult(window=(t0 + load.warmup_s, stop_at))

        def cpu() -> tuple[float, float]:
            return (
                tree_cpu_seconds(server.process.pid),
                sum(tree_cpu_seconds(p.pid) for _, p, _, _ in procs),
            )

        time.sleep(max(0.0, result.window[0] - time.time()))
        server_before, load_before = cpu()
        time.sleep(max(0.0, result.window[1] - time.time()))
        server_after, load_after = cpu()
        result.server_cpu_s = server_after - server_before
        result.load_cpu_s = load_after - load_before
        for name, process, result_path, err_path in procs:
            try:
                process.wait(max(1.0, deadline - time.time()))
            except subprocess.TimeoutExpired:
                raise RuntimeError(f"load process {name} overran its time") from None
            if process.returncode != 0 or not result_path.exists():
                raise RuntimeError(
                    f"load process {name} exited with {process.returncode}:\n{tail(err_path)}"
                )
            data = json.loads(result_path.read_text())
            if data["role"] == "informant":
                result.records.extend(data["records"])
            else:
                result.received.extend(data["received"])
                result.events += data["events"]
        return result
    finally:
        for _, process, _, _ in procs:
            stop(process, timeout=5)


def _wait_ready(
    procs: list[tuple[str, subprocess.Popen[str], Path, Path]], server: Server, timeout: float
) -> None:
    waiting: dict[IO[str], tuple[str, subprocess.Popen[str], Path]] = {
        p.stdout: (name, p, err) for name, p, _, err in procs if p.stdout is not None
    }
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        for stream in waiting:
            selector.register(stream, selectors.EVENT_READ)
        while waiting:
            left = deadline - time.monotonic()
            if left <= 0:
                names = ", ".join(n for n, _, _ in waiting.values())
                raise RuntimeError(f"load processes not connected in {timeout:.0f} s: {names}")
            for key, _ in selector.select(min(left, 1.0)):
                stream = cast(IO[str], key.fileobj)
                name, process, err = waiting[stream]
                line = stream.readline()
                if line.strip() == "READY":
                    selector.unregister(stream)
                    del waiting[stream]
                elif not line or line.startswith("ERROR"):
                    process.wait(5)
                    raise RuntimeError(
                        f"load process {name} failed to connect to {server.name}: "
                        f"{line.strip()}\n{tail(err)}\n--- server log ---\n{tail(server.log)}"
                    )


# --------------------------------------------------------------------------- ingest


def _tokens(server: Server, usernames: list[str]) -> list[str]:
    tokens = []
    for username in usernames:
        try:
            answer = http_json(
                "POST",
                f"{server.url}/api/auth/token",
                {"username": username, "password": DEMO_PASSWORD},
            )
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"login {username}: HTTP {exc.code} {exc.read()[:300]!r}") from None
        tokens.append(answer["token"])
    return tokens


def _cells(server: Server, token: str, count: int) -> list[tuple[str, list[list[float]]]]:
    """`count` cells of the county spread over its list, each with 100 random points inside
    it: an informant reports from around their own cell, not from one spot."""
    import random

    from bench.enrol import cells_of
    from bench.flow_bench import _random_point

    every = cells_of(server, token, COUNTY)
    if len(every) < count:
        raise RuntimeError(f"only {len(every)} cells under {COUNTY}; need {count}")
    rng = random.Random(50)
    step = len(every) / count
    picked = []
    for i in range(count):
        cell = every[int(i * step)]
        points = [[round(v, 6) for v in _random_point(cell["geometry"], rng)] for _ in range(100)]
        picked.append((cell["code"], points))
    return picked


def _stored_client_ids(server: Server, token: str, cells: list[str]) -> tuple[list[str], bool]:
    """Every stored report's client_id in the given cells (one query per cell)."""
    ids: list[str] = []
    truncated = False
    for code in cells:
        reports = http_json(
            "GET", f"{server.url}/api/reports?area={code}&limit=5000", token=token, timeout=60
        )
        if isinstance(reports, dict):  # tolerate an envelope {"reports": [...]}
            reports = reports.get("reports") or reports.get("items") or []
        truncated |= len(reports) >= 5000
        ids.extend(str(r.get("client_id")) for r in reports)
    return ids, truncated


def bench_ingest(quick: bool, workdir: Path) -> dict[str, dict[str, Any]]:
    informants = 50
    operator_names = [
        "operator",
        f"operator-{COUNTY}",
        "supervisor",
        f"supervisor-{COUNTY}",
        "admin",
    ]
    warmup, duration = 3.0, (8.0 if quick else 20.0)
    summaries: dict[str, dict[str, Any]] = {}
    console.print(
        f"[bold]ingest[/]: {informants} informants in 2 processes, "
        f"{len(operator_names)} operators, closed loop, "
        f"{warmup:.0f} s warm-up + {duration:.0f} s measured, each server"
    )

    with gridwatch_server(workdir) as gridwatch:
        console.print(f"  gridwatch up at {gridwatch.url} (instance {workdir / 'instance'})")
        operator_tokens = _tokens(gridwatch, operator_names)
        cells = _cells(gridwatch, operator_tokens[0], informants)
        informant_tokens = _tokens(gridwatch, [f"informant-{code}" for code, _ in cells])
        console.print(
            f"  {len(informant_tokens)} informant and {len(operator_tokens)} operator tokens"
        )

        # The baseline first, with the same points and no tokens (the relay accepts anyone).
        with relay_server(workdir) as relay:
            load = Load(
                [{"token": None, "points": points} for _, points in cells],
                [{"token": None} for _ in operator_names],
                warmup,
                duration,
            )
            console.print(f"  relay up at {relay.url}; loading")
            summaries["relay"] = run_load(relay, load, workdir).summary(len(operator_names))

        load = Load(
            [
                {"token": token, "points": points}
                for token, (_, points) in zip(informant_tokens, cells, strict=True)
            ],
            [{"token": token} for token in operator_tokens],
            warmup,
            duration,
        )
        console.print("  loading gridwatch")
        phase = run_load(gridwatch, load, workdir)
        summaries["gridwatch"] = phase.summary(len(operator_names))

        acked = {r[0] for r in phase.records if r[3]}
        unacked = {r[0] for r in phase.records if not r[3]}
        stored, truncated = _stored_client_ids(
            gridwatch, operator_tokens[0], [code for code, _ in cells]
        )
    stored_set = set(stored)
    check = {
        "acknowledged": len(acked),
        "stored": len(stored),
        "missing": len(acked - stored_set),
        "duplicated": len(stored) - len(stored_set),
        "stored_unacknowledged": len(stored_set - acked),
        "stored_after_error_or_timeout": len(stored_set & unacked),
        "truncated_query": truncated,
    }
    _print_phases(summaries, check)

    gw, base = summaries["gridwatch"], summaries["relay"]
    results: dict[str, dict[str, Any]] = {}

    def put(name: str, key: str, unit: str, digits: int = 1) -> None:
        value, baseline = rounded(gw[key], digits), rounded(base[key], digits)
        results[name] = {
            "value": value,
            "unit": unit,
            "baseline": baseline,
            "ratio": ratio(gw[key], base[key]),
        }

    put("ingest_reports_per_s", "reports_per_s", "reports/s")
    put("ingest_ack_p50_ms", "ack_p50_ms", "ms")
    put("ingest_ack_p99_ms", "ack_p99_ms", "ms")
    put("ingest_operator_delivery_p50_ms", "delivery_p50_ms", "ms")
    put("ingest_operator_delivery_p99_ms", "delivery_p99_ms", "ms")
    results["ingest_lost"] = {
        "value": check["missing"] + check["duplicated"],
        "unit": "reports",
        "baseline": None,
        "ratio": None,
    }
    return results


def _print_phases(summaries: dict[str, dict[str, Any]], check: dict[str, Any]) -> None:
    table = Table(title="ingest: raw counts", title_justify="left")
    table.add_column("")
    for name in summaries:
        table.add_column(name, justify="right")
    rows = [
        ("reports sent", "sent"),
        ("acknowledged ok", "acked"),
        ("acks marked duplicate", "duplicate_acks"),
        ("operator report:new items", "operator_events"),
        ("deliveries measured / expected", None),
    ]
    for label, key in rows:
        if key is None:
            cells = [f"{s['deliveries']} / {s['deliveries_expected']}" for s in summaries.values()]
        else:
            cells = [str(s[key]) for s in summaries.values()]
        table.add_row(label, *cells)
    table.add_row(
        "server CPU in window (cores)", *(f"{s['server_cores']:.2f}" for s in summaries.values())
    )
    table.add_row(
        "load processes CPU (cores)", *(f"{s['load_cores']:.2f}" for s in summaries.values())
    )
    table.add_row(
        "errors", *(json.dumps(s["errors"]) if s["errors"] else "-" for s in summaries.values())
    )
    console.print(table)
    clean = check["missing"] == 0 and check["duplicated"] == 0
    status = "[green]ok[/]" if clean else "[red]MISMATCH[/]"
    console.print(
        f"gridwatch store check {status}: "
        + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in check.items())
    )


# --------------------------------------------------------------------------- main

BENCHMARKS: dict[str, Callable[[bool, Path], dict[str, dict[str, Any]]]] = {
    "ingest": bench_ingest,
    "rate": bench_rate,
    "grid": bench_grid,
    "dispatch": bench_dispatch,
    "triage": bench_triage,
    "triage_latency": bench_triage_latency,
    "timeouts": bench_timeouts,
    "map": bench_map,
    "modes": bench_modes,
    "replay": bench_replay,
    "idle": bench_idle,
}


def print_results(results: dict[str, dict[str, Any]], host: str) -> None:
    table = Table(title=f"Gridwatch benchmarks  ({host})", title_justify="left")
    for column, justify in (
        ("figure", "left"),
        ("gridwatch", "right"),
        ("baseline (same run)", "right"),
        ("ratio", "right"),
        ("unit", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]

    def fmt(x: Any) -> str:
        return "-" if x is None else f"{x:g}" if isinstance(x, float) else str(x)

    for name, r in results.items():
        table.add_row(name, fmt(r["value"]), fmt(r["baseline"]), fmt(r["ratio"]), r["unit"])
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="shorter measuring windows")
    parser.add_argument(
        "--only",
        choices=sorted(BENCHMARKS),
        action="append",
        help="run only this benchmark (repeatable)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the temporary directory (logs, instance) for inspection",
    )
    args = parser.parse_args(argv)
    # A SIGTERM (say, from make) unwinds like Ctrl-C, so every child is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))

    host = machine()
    workroot = Path(tempfile.mkdtemp(prefix="gwbench-"))
    results: dict[str, dict[str, Any]] = {}
    failed = False
    started = time.monotonic()
    try:
        for name in args.only or list(BENCHMARKS):
            workdir = workroot / name
            workdir.mkdir()
            try:
                for key, figure in BENCHMARKS[name](args.quick, workdir).items():
                    results[key] = {**figure, "machine": host}
            except Exception as exc:
                failed = True
                console.print(f"[red]benchmark {name} failed:[/] {exc}")
                console.print(f"  logs kept in {workdir}")
                args.keep = True
    except KeyboardInterrupt:
        console.print("[yellow]interrupted; every process started here has been stopped[/]")
        return 130
    finally:
        if args.keep:
            console.print(f"work directory: {workroot}")
        else:
            shutil.rmtree(workroot, ignore_errors=True)

    if results:
        merged: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            merged = json.loads(RESULTS.read_text())
        merged.update(results)
        RESULTS.write_text(json.dumps(merged, indent=2, ensure_ascii=False) + "\n")
        print_results(results, host)
        console.print(f"wrote {RESULTS.relative_to(ROOT)} in {time.monotonic() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
