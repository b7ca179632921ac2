"""`rate`: 500 reports a second from 1,000 connected informants to 20 operators, open loop.

Gridwatch (`gridwatch serve`, SQLite, embedded Redis, one RQ worker, one gevent web process)
against the bare relay (bench/relay.py) under the same schedule, in the same run. The
informants are enrolled in bulk with `gridwatch users import --tokens-out` (bench/enrol.py),
one per cell across the city; each report lies at a random point of its sender's cell.
Reports go out on a fixed schedule (report i at t0 + i/rate) from two processes, whether or
not earlier ones were acknowledged; 20 operator sockets (the city's operator, supervisor and
admin accounts) listen in a third.

Every latency is measured from the moment the report was sent (all processes share the
machine's clock): ack; `report:new` at an operator; `report:triaged` at an operator. The
relay has no triage, so `report:triaged` is compared with the relay's `report:new`: the ratio
is what the whole path through the commit, the worker and back costs over a bare broadcast.
"""

from __future__ import annotations

import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.enrol import cells_of, enrol_informants
from bench.flow_bench import (
    TRIAGE_CATEGORIES,
    _collect,
    _figure,
    _go,
    _random_point,
    _spawn,
    _stats,
)

console = Console(width=110)

CITY = "620100"
# City-wide accounts of the demo: every report of the city is in their jurisdiction.
LISTENERS = ("operator", "supervisor", "admin")


def _harness() -> Any:
    from bench import run

    return run


def _schedule(cells: list[dict[str, Any]], total: int, seed: int) -> list[list[Any]]:
    rng = random.Random(seed)
    schedule = []
    for _ in range(total):
        sender = rng.randrange(len(cells))
        lat, lon = _random_point(cells[sender]["geometry"], rng)
        schedule.append(
            [
                sender,
                round(lat, 6),
                round(lon, 6),
                rng.choice(TRIAGE_CATEGORIES),
                rng.randint(1, 4),
                rng.randrange(1000),
            ]
        )
    return schedule


def _stream(
    server: Any,
    workdir: Path,
    informant_tokens: list[str | None],
    operator_tokens: list[str | None],
    schedule: list[list[Any]],
    rate: float,
    duration: float,
    drain: float,
    processes: int = 2,
) -> dict[str, Any]:
    """Run one open-loop stream against `server`; the raw records of every process."""
    run = _harness()
    workdir.mkdir()
    procs = [
        _spawn(
            workdir,
            "listener",
            {
                "role": "listener",
                "url": server.url,
                "clients": [{"token": t} for t in operator_tokens],
            },
        )
    ]
    # Process k holds every k-th informant and sends the reports of its own informants.
    for k in range(processes):
        mine = list(range(k, len(informant_tokens), processes))
        index = {sender: n for n, sender in enumerate(mine)}
        share = [row for n, row in enumerate(schedule) if n % processes == k]
        procs.append(
            _spawn(
                workdir,
                f"submitter-{k}",
                {
                    "role": "submitter",
                    "url": server.url,
                    "clients": [{"token": informant_tokens[i]} for i in mine],
                    "rate": rate / processes,
                    "offset": k / rate,
                    "schedule": [
                        [index.get(row[0], row[0] % len(mine)), *row[1:]] for row in share
                    ],
                    "ack_timeout": 15.0,
                },
            )
        )
    try:
        run._wait_ready(procs, server, timeout=180)
        t0 = time.time() + 1.0
        stream_end = t0 + duration
        cpu_before = run.tree_cpu_seconds(server.process.pid)
        parts_before = run.tree_cpu_by_process(server.process.pid)
        _go(procs, {"t0": t0, "stop_at": stream_end + drain})
        submitted = [_collect(p, stream_end + 60) for p in procs[1:]]
        listened = _collect(procs[0], stream_end + drain + 30)
        server_cpu = run.tree_cpu_seconds(server.process.pid) - cpu_before
        parts = {
            name: seconds - parts_before.get(name, 0.0)
            for name, seconds in run.tree_cpu_by_process(server.process.pid).items()
        }
    finally:
        for _, process, _, _ in procs:
            run.stop(process, timeout=5)
    records = [r for part in submitted for r in part["records"]]
    return {
        "records": records,
        "received": listened["received"],
        "t0": t0,
        "server_cpu_s": server_cpu,
        "server_cpu_parts": parts,
        "load_cpu_s": sum(p["cpu_s"] for p in [*submitted, listened]),
    }


def _measure(result: dict[str, Any], rate: float, duration: float) -> dict[str, Any]:
    run = _harness()
    records = result["records"]
    ok = [r for r in records if r[3]]
    sent_at = {r[5]: r[1] for r in ok if r[5] is not None}
    errors: dict[str, int] = {}
    for r in records:
        if not r[3]:
            errors[r[4]] = errors.get(r[4], 0) + 1
    latency: dict[str, list[float]] = {"new": [], "triaged": []}
    missing = {"new": 0, "triaged": 0}
    for sink in result["received"]:
        first: dict[tuple[str, int], float] = {}
        for kind, rid, t in sink:
            if rid is not None and (kind, rid) not in first:
                first[(kind, rid)] = t
        for rid, t_send in sent_at.items():
            for kind in ("new", "triaged"):
                t = first.get((kind, rid))
                if t is None:
                    missing[kind] += 1
                else:
                    latency[kind].append((t - t_send) * 1000)
    lag = sorted(r[1] for r in records)
    ack_ms = [(r[2] - r[1]) * 1000 for r in ok]
    return {
        "sent": len(records),
        "acked": len(ok),
        "errors": errors,
        "achieved_per_s": len(records) / duration,
        "send_span_s": (lag[-1] - lag[0]) if lag else 0.0,
        "ack": _stats(ack_ms),
        "ack_p95": run.percentile(ack_ms, 95),
        "new": _stats(latency["new"]),
        "triaged": _stats(latency["triaged"]),
        "missing_new": missing["new"],
        "missing_triaged": missing["triaged"],
        "server_cpu_per_report_us": result["server_cpu_s"] / max(1, len(ok)) * 1e6,
        "server_cpu_s": result["server_cpu_s"],
        "server_cpu_parts": result["server_cpu_parts"],
        "load_cpu_s": result["load_cpu_s"],
        "client_ids": {r[0] for r in ok},
        "unacked_ids": {r[0] for r in records if not r[3]},
    }


def _stored(server: Any, token: str, cells: list[str]) -> list[str]:
    """Every stored report's client_id in `cells`, eight queries at a time."""
    run = _harness()

    def one(code: str) -> list[str]:
        reports = run.http_json(
            "GET", f"{server.url}/api/reports?area={code}&limit=5000", token=token, timeout=60
        )
        return [str(r.get("client_id")) for r in reports]

    with ThreadPoolExecutor(8) as pool:
        return [cid for part in pool.map(one, cells) for cid in part]


def bench_rate(quick: bool, workdir: Path) -> dict[str, dict[str, Any]]:
    run = _harness()
    informants, operators = 1000, 20
    rate = float(os.environ.get("GWBENCH_RATE", "500"))
    duration = 8.0 if quick else 20.0
    drain = 10.0
    console.print(
        f"[bold]rate[/]: {informants} informants (2 processes), {operators} operators, open "
        f"loop {rate:.0f} reports/s for {duration:.0f} s, {drain:.0f} s drain, each server"
    )
    total = int(rate * duration)
    with run.gridwatch_server(workdir, cells=2000) as server:
        console.print(f"  gridwatch up at {server.url}")
        listener_tokens = run._tokens(server, list(LISTENERS))
        every = cells_of(server, listener_tokens[0], CITY)
        step = len(every) / informants
        cells = [every[int(i * step)] for i in range(informants)]
        started = time.monotonic()
        enrolled = enrol_informants(server, workdir, [c["code"] for c in cells])
        console.print(
            f"  enrolled {len(enrolled)} informants with users import --tokens-out "
            f"in {time.monotonic() - started:.1f} s"
        )
        schedule = _schedule(cells, total, seed=8)
        operator_tokens: list[str | None] = [
            listener_tokens[i % len(listener_tokens)] for i in range(operators)
        ]

        with run.relay_server(workdir) as relay:
            console.print(f"  relay up at {relay.url}; streaming")
            relay_raw = _stream(
                relay,
                workdir / "relay-load",
                [None] * informants,
                [None] * operators,
                schedule,
                rate,
                duration,
                drain,
            )
        console.print("  streaming to gridwatch")
        gw_raw = _stream(
            server,
            workdir / "gridwatch-load",
            [e["token"] for e in enrolled],
            operator_tokens,
            schedule,
            rate,
            duration,
            drain,
        )
        gw = _measure(gw_raw, rate, duration)
        relay_m = _measure(relay_raw, rate, duration)
        stored = _stored(server, listener_tokens[0], [c["code"] for c in cells])

    stored_set = set(stored)
    lost = len(gw["client_ids"] - stored_set)
    duplicated = len(stored) - len(stored_set)
    _print(relay_m, gw)
    console.print(
        f"  gridwatch store check: acknowledged {len(gw['client_ids'])}, stored {len(stored)}, "
        f"lost {lost}, duplicated {duplicated}, stored after an error or time-out "
        f"{len(stored_set & gw['unacked_ids'])}"
    )

    return {
        "rate500_acked_per_s": _figure(
            gw["acked"] / duration, relay_m["acked"] / duration, "reports/s"
        ),
        "rate500_ack_p50_ms": _figure(gw["ack"]["p50"], relay_m["ack"]["p50"], "ms"),
        "rate500_ack_p99_ms": _figure(gw["ack"]["p99"], relay_m["ack"]["p99"], "ms"),
        "rate500_operator_p50_ms": _figure(gw["new"]["p50"], relay_m["new"]["p50"], "ms"),
        "rate500_operator_p99_ms": _figure(gw["new"]["p99"], relay_m["new"]["p99"], "ms"),
        "rate500_triaged_p50_ms": _figure(gw["triaged"]["p50"], relay_m["new"]["p50"], "ms"),
        "rate500_triaged_p99_ms": _figure(gw["triaged"]["p99"], relay_m["new"]["p99"], "ms"),
        "rate500_server_cpu_per_report_us": _figure(
            gw["server_cpu_per_report_us"], relay_m["server_cpu_per_report_us"], "µs"
        ),
        "rate500_lost": {
            "value": lost + duplicated,
            "unit": "reports",
            "baseline": None,
            "ratio": None,
        },
        "rate500_not_seen_triaged": {
            "value": gw["missing_triaged"],
            "unit": "report×operator",
            "baseline": None,
            "ratio": None,
        },
    }


def _print(relay: dict[str, Any], gw: dict[str, Any]) -> None:
    table = Table(title="rate: raw counts and latencies (ms from send)", title_justify="left")
    table.add_column("")
    table.add_column("relay", justify="right")
    table.add_column("gridwatch", justify="right")

    def fmt(stats: dict[str, float | None]) -> str:
        return " / ".join("-" if v is None else f"{v:.0f}" for v in stats.values())

    rows = [
        ("reports sent", lambda m: str(m["sent"])),
        ("acknowledged ok", lambda m: str(m["acked"])),
        ("errors", lambda m: str(m["errors"] or "-")),
        ("sent per second", lambda m: f"{m['achieved_per_s']:.0f}"),
        ("ack n / p50 / p99 / max", lambda m: fmt(m["ack"])),
        ("report:new n / p50 / p99 / max", lambda m: fmt(m["new"])),
        ("report:triaged n / p50 / p99 / max", lambda m: fmt(m["triaged"])),
        ("report×operator pairs never seen new", lambda m: str(m["missing_new"])),
        ("... never seen triaged", lambda m: str(m["missing_triaged"])),
        ("server CPU, whole stream and drain (s)", lambda m: f"{m['server_cpu_s']:.1f}"),
        ("server CPU per report (µs)", lambda m: f"{m['server_cpu_per_report_us']:.0f}"),
        (
            "... by process (µs per report)",
            lambda m: ", ".join(
                f"{name} {seconds / max(1, m['acked']) * 1e6:.0f}"
                for name, seconds in sorted(m["server_cpu_parts"].items())
                if seconds > 0
            ),
        ),
        ("load processes' CPU (s)", lambda m: f"{m['load_cpu_s']:.1f}"),
    ]
    for label, get in rows:
        table.add_row(label, get(relay), get(gw))
    console.print(table)
