"""Flow benchmarks: what the worker adds between a commit and the operator's screen.

triage_latency (issue 4)
    Report committed → `report:triaged` at the operator, with 50 reports/s flowing (open loop).
    20 informants of 城关区 (620102) send `report:submit` at 50/s in total for 20 s (8 s with
    --quick) from one load process; `operator` (city) and `operator-620102` listen in another.
    Latency = arrival of `report:triaged {id}` − receipt of the informant's ack (the commit has
    happened by then), per (report, operator). Baseline: `report:new` for the same reports to
    the same operators in the same run, measured the same way: a broadcast without the worker.

      triage_committed_to_operator_p50_ms / _p99_ms
      triage_lost   acked reports some operator never saw triaged within 10 s after the stream

timeouts (issue 5)
    Time-out precision with 100 concurrent offers. GRIDWATCH_ACK_TIMEOUT_S=5; the city
    operator makes 100 incidents (one `fire` report each, spread over the city), stops each
    incident's cascade, then offers each to a distinct available team within about 2 s.
    Nobody acknowledges. Lateness = arrival of `task:updated {status: timed_out}` on
    /operator − the task's `ack_deadline`.

      timeout_lateness_p50_ms / _p99_ms   baseline: 100 no-op RQ jobs `enqueue_at` on the
                                          server's own Redis and worker, run − scheduled time
      timeout_missed                      offers not timed out within deadline + 30 s
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import time
import urllib.error
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

console = Console(width=max(110, Console().width))

# Categories whose clustering reach is at most 500 m (no earthquake, flood or landslide,
# whose kilometres-wide reach would fold a busy county into a handful of clusters).
TRIAGE_CATEGORIES = (
    "fire",
    "traffic_accident",
    "building_collapse",
    "missing_person",
    "medical",
    "dispute",
    "petition",
    "safety_hazard",
    "family_misfortune",
    "veteran_hardship",
    "public_opinion",
    "other",
)


# --------------------------------------------------------------------------- helpers


def _harness() -> Any:
    # Imported late: bench.run imports this module.
    from bench import run

    return run


def _spawn(workdir: Path, name: str, config: dict[str, Any]) -> tuple[str, Any, Path, Path]:
    run = _harness()
    config_path = workdir / f"{name}.config.json"
    result_path = workdir / f"{name}.result.json"
    err_path = workdir / f"{name}.stderr.log"
    config_path.write_text(json.dumps(config))
    with err_path.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.flow_load", str(config_path), str(result_path)],
            cwd=run.ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            start_new_session=True,
        )
    return name, process, result_path, err_path


def _go(procs: list[tuple[str, Any, Path, Path]], go: dict[str, Any]) -> None:
    line = json.dumps(go) + "\n"
    for _, process, _, _ in procs:
        process.stdin.write(line)
        process.stdin.flush()


def _collect(proc: tuple[str, Any, Path, Path], deadline: float) -> dict[str, Any]:
    run = _harness()
    name, process, result_path, err_path = proc
    try:
        process.wait(max(1.0, deadline - time.time()))
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"load process {name} overran its time") from None
    if process.returncode != 0 or not result_path.exists():
        raise RuntimeError(
            f"load process {name} exited with {process.returncode}:\n{run.tail(err_path)}"
        )
    result: dict[str, Any] = json.loads(result_path.read_text())
    return result


def _ts(value: str | None) -> float | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _random_point(geometry: Any, rng: random.Random) -> tuple[float, float]:
    """A uniformly random point inside a (multi)polygon, as (lat, lon)."""
    from shapely.geometry import Point

    minx, miny, maxx, maxy = geometry.bounds
    for _ in range(200):
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if geometry.contains(Point(x, y)):
            return y, x
    point = geometry.representative_point()
    return point.y, point.x


def _cell_shapes(server: Any, token: str, parent: str) -> list[tuple[str, Any]]:
    from shapely.geometry import shape

    run = _harness()
    collection = run.http_json(
        "GET", f"{server.url}/api/areas?level=cell&parent={parent}", token=token, timeout=60
    )
    features = sorted(collection["features"], key=lambda f: f["properties"]["code"])
    return [(f["properties"]["code"], shape(f["geometry"])) for f in features]


def _distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    from math import asin, cos, radians, sin, sqrt

    p1, p2 = radians(lat1), radians(lat2)
    a = sin((p2 - p1) / 2) ** 2 + cos(p1) * cos(p2) * sin(radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371000 * asin(sqrt(a))


def _stats(values: list[float]) -> dict[str, float | None]:
    run = _harness()
    return {
        "n": len(values),
        "p50": run.percentile(values, 50),
        "p99": run.percentile(values, 99),
        "max": max(values) if values else None,
    }


def _figure(value: float | None, baseline: float | None, unit: str) -> dict[str, Any]:
    run = _harness()
    return {
        "value": run.rounded(value),
        "unit": unit,
        "baseline": run.rounded(baseline),
        "ratio": run.ratio(value, baseline),
    }


def _fmt(stats: dict[str, float | None]) -> str:
    def ms(x: float | None) -> str:
        return "-" if x is None else f"{x:.1f}"

    return (
        f"n={stats['n']}, p50 {ms(stats['p50'])} ms, p99 {ms(stats['p99'])} ms, "
        f"max {ms(stats['max'])} ms"
    )


# --------------------------------------------------------------------------- triage_latency


def bench_triage_latency(quick: bool, workdir: Path) -> dict[str, dict[str, Any]]:
    run = _harness()
    informants, rate = 20, 50.0
    duration = 8.0 if quick else 20.0
    drain = 10.0
    operator_names = ["operator", f"operator-{run.COUNTY}"]
    console.print(
        f"[bold]triage_latency[/]: {informants} informants, open loop {rate:.0f} reports/s for "
        f"{duration:.0f} s, {len(operator_names)} operators, {drain:.0f} s drain"
    )
    rng = random.Random(4)
    with run.gridwatch_server(workdir) as server:
        console.print(f"  gridwatch up at {server.url}")
        operator_tokens = run._tokens(server, operator_names)
        cells = _cell_shapes(server, operator_tokens[0], run.COUNTY)
        if len(cells) < informants:
            raise RuntimeError(f"only {len(cells)} cells under {run.COUNTY}; need {informants}")
        step = len(cells) / informants
        mine = [cells[int(i * step)][0] for i in range(informants)]
        informant_tokens = run._tokens(server, [f"informant-{code}" for code in mine])
        # Every report at its own random point of a random cell of the county: spread out,
        # so that clusters stay small (a few reports), as on a busy day.
        total = int(rate * duration)
        schedule = []
        for i in range(total):
            _, geometry = cells[rng.randrange(len(cells))]
            lat, lon = _random_point(geometry, rng)
            schedule.append(
                [
                    i % informants,
                    round(lat, 6),
                    round(lon, 6),
                    rng.choice(TRIAGE_CATEGORIES),
                    rng.randint(1, 4),
                    rng.randrange(1000),
                ]
            )
        phase = workdir / "load"
        phase.mkdir()
        procs = []
        try:
            procs.append(
                _spawn(
                    phase,
                    "listener",
                    {
                        "role": "listener",
                        "url": server.url,
                        "clients": [{"token": t} for t in operator_tokens],
                    },
                )
            )
            procs.append(
                _spawn(
                    phase,
                    "submitter",
                    {
                        "role": "submitter",
                        "url": server.url,
                        "clients": [{"token": t} for t in informant_tokens],
                        "rate": rate,
                        "schedule": schedule,
                        "ack_timeout": 15.0,
                    },
                )
            )
            run._wait_ready(procs, server, timeout=60)
            t0 = time.time() + 0.5
            stream_end = t0 + duration
            _go(procs, {"t0": t0, "stop_at": stream_end + drain})
            console.print("  streaming")
            submitted = _collect(procs[1], stream_end + 40)
            listened = _collect(procs[0], stream_end + drain + 20)
        finally:
            for _, process, _, _ in procs:
                run.stop(process, timeout=5)

    records = submitted["records"]
    acked = {r[5]: r for r in records if r[3] and r[5] is not None}
    errors: dict[str, int] = {}
    for r in records:
        if not r[3]:
            errors[r[4]] = errors.get(r[4], 0) + 1
    send_lag = [
        (r[1] - (t0 + i / rate)) * 1000 for i, r in enumerate(sorted(records, key=lambda r: r[1]))
    ]
    ack_ms = [(r[2] - r[1]) * 1000 for r in acked.values()]

    series: dict[str, list[float]] = {
        "triaged_from_ack": [],
        "triaged_from_received": [],
        "new_from_ack": [],
        "new_from_received": [],
    }
    lost: set[int] = set()
    late_or_missing = 0
    for sink in listened["received"]:
        first: dict[tuple[str, int], float] = {}
        for kind, rid, t in sink:
            if rid is not None and (kind, rid) not in first:
                first[(kind, rid)] = t
        for rid, r in acked.items():
            t_ack, received = r[2], _ts(r[6])
            for kind in ("triaged", "new"):
                t = first.get((kind, rid))
                if t is None:
                    if kind == "triaged":
                        lost.add(rid)
                        late_or_missing += 1
                    continue
                series[f"{kind}_from_ack"].append((t - t_ack) * 1000)
                if received is not None:
                    series[f"{kind}_from_received"].append((t - received) * 1000)
    stats = {name: _stats(values) for name, values in series.items()}

    console.print(
        f"  sent {len(records)}, acked ok {len(acked)}, errors {errors or '-'}; "
        f"achieved {len(records) / duration:.1f} reports/s; send lag p99 "
        f"{run.percentile(send_lag, 99) or 0:.1f} ms; ack {_fmt(_stats(ack_ms))}"
    )
    for name, s in stats.items():
        console.print(f"  {name.replace('_', ' '):<24} {_fmt(s)}")
    console.print(
        f"  triage lost: {len(lost)} reports ({late_or_missing} report×operator pairs) "
        f"not triaged at an operator within {drain:.0f} s of the stream's end"
    )
    # From `received_at`, for both: `report:new` is published on the commit and usually
    # reaches the operators before the ack reaches the informant, so measured from the ack
    # the baseline is about 0 ms (or negative) and no ratio can be made of it.
    value, base = stats["triaged_from_received"], stats["new_from_received"]
    return {
        "triage_committed_to_operator_p50_ms": _figure(value["p50"], base["p50"], "ms"),
        "triage_committed_to_operator_p99_ms": _figure(value["p99"], base["p99"], "ms"),
        "triage_lost": {"value": len(lost), "unit": "reports", "baseline": None, "ratio": None},
    }


# --------------------------------------------------------------------------- timeouts


def _redis_url(log: Path, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(r"embedded Redis at (\S+?);", log.read_text(errors="replace"))
        if match:
            return match.group(1)
        time.sleep(0.2)
    raise RuntimeError(f"no 'embedded Redis at' line in {log}")


def _scheduler_baseline(redis_url: str, count: int, delay_s: float, spread_s: float) -> list[float]:
    """`count` no-op jobs enqueue_at now + delay over `spread_s`; ms each ran after its time."""
    from redis import Redis
    from rq import Queue

    from bench.flow_load import STAMPS_KEY
    from dispatch.queue import QUEUE_NAME

    connection = Redis.from_url(redis_url)
    try:
        connection.delete(STAMPS_KEY)
        queue = Queue(QUEUE_NAME, connection=connection)
        start = time.time() + delay_s
        due = {}
        for i in range(count):
            at = start + spread_s * i / count
            due[f"b{i}"] = at
            queue.enqueue_at(
                datetime.fromtimestamp(at, UTC), "bench.flow_load.stamp", f"b{i}", at, result_ttl=0
            )
        deadline = start + spread_s + 30
        ran: dict[Any, Any] = {}
        while time.time() < deadline and len(ran) < count:
            time.sleep(0.5)
            ran = connection.hgetall(STAMPS_KEY)
        return [(float(t) - due[k.decode()]) * 1000 for k, t in ran.items()]
    finally:
        connection.close()


def bench_timeouts(quick: bool, workdir: Path) -> dict[str, dict[str, Any]]:
    run = _harness()
    offers, ack_timeout, grace = 100, 5, 30.0
    console.print(
        f"[bold]timeouts[/]: {offers} concurrent offers, GRIDWATCH_ACK_TIMEOUT_S={ack_timeout}, "
        "nobody acknowledges, cascade stopped"
    )
    rng = random.Random(5)
    with run.gridwatch_server(
        workdir, cells=2000, extra_env={"GRIDWATCH_ACK_TIMEOUT_S": str(ack_timeout)}
    ) as server:
        console.print(f"  gridwatch up at {server.url}")
        url = server.url
        (operator,) = run._tokens(server, ["operator"])
        redis_url = _redis_url(server.log)

        # Baseline first, while the worker is idle: the scheduler's own lateness.
        baseline_ms = _scheduler_baseline(redis_url, offers, delay_s=ack_timeout, spread_s=2.0)
        console.print(f"  RQ scheduler, no-op jobs: {_fmt(_stats(baseline_ms))}")

        # Reports spread over the whole city: cells of every county.
        counties = run.http_json("GET", f"{url}/api/areas?level=county", token=operator)
        cells: list[tuple[str, Any]] = []
        for feature in counties["features"]:
            cells.extend(_cell_shapes(server, operator, feature["properties"]["code"]))
        if len(cells) < 1:
            raise RuntimeError("no cells")
        rng.shuffle(cells)
        informant_cells = [code for code, _ in cells[:4]]
        informants = run._tokens(server, [f"informant-{code}" for code in informant_cells])

        # Points at least 2 km apart, so that no two fire reports join one cluster (fire
        # reaches 500 m): each incident is made of its one report.
        points: list[tuple[float, float]] = []
        for _, geometry in cells:
            lat, lon = _random_point(geometry, rng)
            if all(_distance_m(lat, lon, a, b) > 2000 for a, b in points):
                points.append((lat, lon))
                if len(points) == offers:
                    break
        if len(points) < offers:
            raise RuntimeError(f"only {len(points)} points 2 km apart in {len(cells)} cells")
        incident_ids: list[int] = []
        for i, (lat, lon) in enumerate(points):
            answer = run.http_json(
                "POST",
                f"{url}/api/reports",
                {
                    "client_id": f"00000000-0000-4000-8000-{i:012d}",
                    "category": "fire",
                    "text": f"厂房起火，浓烟很大（第{i}处）",
                    "lat": lat,
                    "lon": lon,
                    "severity": 3,
                },
                token=informants[i % len(informants)],
            )
            report_id = answer["report"]["id"]
            try:
                created = run.http_json(
                    "POST", f"{url}/api/incidents", {"report_ids": [report_id]}, token=operator
                )
            except urllib.error.HTTPError as exc:
                raise RuntimeError(
                    f"incident from report {report_id}: HTTP {exc.code} {exc.read()[:300]!r}"
                ) from None
            incident_ids.append(created["incident"]["id"])
        console.print(f"  {len(incident_ids)} incidents created")

        used: set[int] = set()
        plan: list[tuple[int, int]] = []
        for incident_id in incident_ids:
            run.http_json(
                "POST", f"{url}/api/incidents/{incident_id}/stop-cascade", {}, token=operator
            )
            teams = run.http_json(
                "GET", f"{url}/api/incidents/{incident_id}/recommendations?limit=50", token=operator
            )
            pick = next((t["team_id"] for t in teams if t["team_id"] not in used), None)
            if pick is None:
                raise RuntimeError(f"no unused team among {len(teams)} for incident {incident_id}")
            used.add(pick)
            plan.append((incident_id, pick))

        phase = workdir / "load"
        phase.mkdir()
        procs = []
        try:
            procs.append(
                _spawn(
                    phase,
                    "listener",
                    {"role": "listener", "url": url, "clients": [{"token": operator}]},
                )
            )
            run._wait_ready(procs, server, timeout=60)
            stop_at = time.time() + 120 + ack_timeout + grace
            _go(procs, {"stop_at": stop_at, "expect_timed_out": offers})

            def offer(item: tuple[int, int]) -> tuple[int, dict[str, Any] | str]:
                incident_id, team_id = item
                try:
                    answer = run.http_json(
                        "POST",
                        f"{url}/api/incidents/{incident_id}/dispatch",
                        {"team_id": team_id},
                        token=operator,
                    )
                except urllib.error.HTTPError as exc:
                    return incident_id, f"HTTP {exc.code} {exc.read()[:200]!r}"
                return incident_id, answer["task"]

            started = time.time()
            with ThreadPoolExecutor(8) as pool:
                answers = list(pool.map(offer, plan))
            spread = time.time() - started
            tasks = {a["id"]: a for _, a in answers if isinstance(a, dict)}
            failures = [f"incident {i}: {a}" for i, a in answers if not isinstance(a, dict)]
            console.print(
                f"  {len(tasks)} offers made in {spread:.2f} s"
                + (f"; {len(failures)} refused: {failures[:3]}" if failures else "")
            )
            if not tasks:
                raise RuntimeError(f"no offer made: {failures[:5]}")
            last_deadline = max(_ts(t["ack_deadline"]) or 0 for t in tasks.values())
            listener = _collect(procs[0], min(stop_at, last_deadline + grace) + 20)
        finally:
            for _, process, _, _ in procs:
                run.stop(process, timeout=5)

    seen: dict[int, tuple[float, str | None]] = {}
    other_status: dict[str, int] = {}
    for entry in listener["received"][0]:
        if entry[0] != "task":
            continue
        _, task_id, status, _, ended_at, t = entry
        if task_id not in tasks:
            if task_id is not None and status:
                other_status[status] = other_status.get(status, 0) + 1
            continue
        if status == "timed_out" and task_id not in seen:
            seen[task_id] = (t, ended_at)
    lateness, server_lateness, missed = [], [], 0
    for task_id, task in tasks.items():
        deadline = _ts(task["ack_deadline"])
        got = seen.get(task_id)
        if deadline is None or got is None or got[0] > deadline + grace:
            missed += 1
            continue
        lateness.append((got[0] - deadline) * 1000)
        ended = _ts(got[1])
        if ended is not None:
            server_lateness.append((ended - deadline) * 1000)
    missed += len(failures)
    console.print(f"  time-out at the operator − deadline: {_fmt(_stats(lateness))}")
    console.print(f"  task ended_at − deadline (server):    {_fmt(_stats(server_lateness))}")
    if other_status:
        console.print(f"  task:updated for other tasks (cascade?): {other_status}")
    console.print(f"  missed: {missed} of {offers}")
    value, base = _stats(lateness), _stats(baseline_ms)
    return {
        "timeout_lateness_p50_ms": _figure(value["p50"], base["p50"], "ms"),
        "timeout_lateness_p99_ms": _figure(value["p99"], base["p99"], "ms"),
        "timeout_missed": {"value": missed, "unit": "offers", "baseline": None, "ratio": None},
    }
