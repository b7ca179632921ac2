"""The 911 replay benchmark (`replay`, issue 8): real emergency calls, as they came in.

The data is `../shared/data/incidents/montgomery_pa_911_calls_2015-12_2016-01.csv`: 9,226
calls to the Montgomery County (Pennsylvania) 911 feed, 2015-12-10 to 2016-01-04. The
benchmark reads it from the shared data directory beside the repository; Gridwatch never does.

Mapping
    Places: affine, each axis on its own, from the calls' bounding box to the bounding box of
    the cells of the seeded Lanzhou demo (`seed-demo --cells 2000`). The calls' box leaves out
    the outermost 0.1 % of latitudes and of longitudes (a handful of calls geocoded 100 km and
    more outside the county would squeeze the county into a corner); those calls are clamped
    onto the box's edge. A mapped point inside a cell (the lowest code on a shared border) is
    sent by that cell's informant. A mapped point in no cell (the county's outline is not
    Lanzhou's: about 5 % of calls) is sent by the informant of the nearest cell, at that cell's
    representative point, so that every report lands in a cell.
    Categories, by the title's prefix: EMS → medical, Fire → fire, Traffic → traffic_accident.
    Text: the call's title and address with the call's number, e.g.
    "EMS: BACK PAINS/INJURY · REINDEER CT & DEAD END, NEW HANOVER (911 call #0)". No severity.
    Informants: one per cell that receives calls (846 of the 2,000), enrolled with
    `gridwatch users import --tokens-out` (bench/enrol.py), signing in with device tokens.

Speeds (open loop on the call's `timeStamp`, scaled; never waiting for acks)
    The feed posts calls in batches (several within a second, every few minutes), so even
    1× comes in bursts. The busiest minute of the file is its first: 16 calls in 2 s.
    1x       the busiest 5-minute window at 1×: those 16 calls (the replay ends with the last).
    10x      the busiest 10-minute window at 10×: 21 calls over 42 s (--quick: the busiest 5
             minutes, the same 16 calls).
    fastest  the whole file compressed by one factor to a mean rate R (9,226 calls in 9,226 / R
             seconds), cut after 95 s (10 s with --quick) when R is too slow to finish. R is
             found with a ladder of probes, each the first 5 s (3 s) of the compressed stream:
             100 reports/s, doubling while a probe holds, up to 1,600; halving down to 25 when
             100 does not hold. The whole replay then runs at the highest rate that held; when
             it does not hold, once more at half that rate. R is the rate whose whole replay
             held (none if neither did).
    A run holds when every report sent was acknowledged `ok` (ack time-out 20 s; 10 s with
    --quick), no client was dropped, every operator got `report:new` for every report in its
    area, the store check finds nothing lost or duplicated, and the server kept up: the median
    ack of the last tenth of the reports sent is under 1 s (a server slower than the offered
    rate builds a queue, and the last reports wait longest). After every phase the harness
    waits until the server's process tree is idle (under 0.25 cores over a second; at most
    60 s), so that one phase's backlog (the worker's triage above all) does not land in the
    next; the console shows how long that took.

Baseline
    The bare relay (bench/relay.py) under the same replay: the same schedules, the same number
    of informant clients in the same processes, the same 3 operator listeners (all of them
    get every report). Its fastest phase replays Gridwatch's schedule at R, or at the lowest
    rate tried when none held (the same bursts);
    then its own ladder, from max(400, R), and whole replay give the baseline of
    `replay_fastest_reports_per_s`.

Checks after every Gridwatch phase
    lost: acknowledged `ok` but not in the store. Read back through `GET /api/reports
    ?area=&since=<phase start>&limit=5000` as the city operator, starting at the city and
    splitting into counties, townships, villages and cells only where 5,000 come back.
    duplicated: stored rows beyond one per client_id, plus calls (each text names its call)
    stored under more than one client_id.

Figures (value: Gridwatch; baseline: the relay in the same run; <speed> is 1x, 10x, fastest)
    replay_<speed>_ack_p50_ms, _p95_ms, _p99_ms, _max_ms   send → ack
    replay_<speed>_operator_p50_ms, _p99_ms   send → `report:new` at an operator, over every
                                              (report, operator) pair
    replay_<speed>_lost, replay_<speed>_duplicated   no baseline; must be 0
    replay_fastest_reports_per_s   R (baseline: the relay's own R)
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
import urllib.error
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, cast

from rich.console import Console
from rich.table import Table

console = Console(width=max(110, Console().width))

CITY = "620100"
CSV_NAME = "incidents/montgomery_pa_911_calls_2015-12_2016-01.csv"
CATEGORY_OF = {"EMS": "medical", "Fire": "fire", "Traffic": "traffic_accident"}
OPERATORS = ("operator", "operator-620102", "supervisor")
INFORMANT_PROCESSES = 3
CHILD_LEVEL = {"city": "county", "county": "township", "township": "village", "village": "cell"}
LEVEL_OF_LENGTH = {6: "county", 9: "township", 12: "village", 15: "cell"}
KEEP_UP_MS = 1000.0  # the median ack of the last tenth sent: the queue has not grown
ID_SPACE = uuid.UUID("5d7c1f0e-9a11-4c3b-8f7e-911911911911")


def _harness() -> Any:
    # Imported late: bench.run imports the benchmark modules.
    from bench import run

    return run


# --------------------------------------------------------------------------- the calls


@dataclass(frozen=True)
class Call:
    index: int
    t: float  # the feed's timeStamp, as Unix seconds (the zone does not matter: only gaps do)
    lat: float
    lng: float
    category: str
    text: str


def data_file() -> Path:
    return _harness().ROOT.parent / "shared" / "data" / CSV_NAME


def load_calls(path: Path | None = None) -> list[Call]:
    path = path or data_file()
    if not path.exists():
        raise RuntimeError(f"{path} is missing (the replay reads ../shared/data beside the repo)")
    calls = []
    with path.open(encoding="utf-8", newline="") as handle:
        for i, row in enumerate(csv.DictReader(handle)):
            prefix = row["title"].split(":", 1)[0].strip()
            stamp = datetime.fromisoformat(row["timeStamp"]).replace(tzinfo=UTC).timestamp()
            place = ", ".join(p.strip() for p in (row["addr"], row["twp"]) if p.strip())
            calls.append(
                Call(
                    i,
                    stamp,
                    float(row["lat"]),
                    float(row["lng"]),
                    CATEGORY_OF.get(prefix, "other_emergency"),
                    f"{row['title'].strip()} · {place} (911 call #{i})",
                )
            )
    calls.sort(key=lambda c: (c.t, c.index))
    return calls


def busiest_window(calls: list[Call], seconds: float) -> list[Call]:
    """The calls of the `seconds`-long window, starting at a call, that holds the most calls
    (the earliest such window on a tie)."""
    best, best_start, end = 0, 0, 0
    for start in range(len(calls)):
        end = max(end, start)
        while end < len(calls) and calls[end].t < calls[start].t + seconds:
            end += 1
        if end - start > best:
            best, best_start = end - start, start
    return calls[best_start : best_start + best]


def _quantile(values: list[float], q: float) -> float:
    result: float = _harness().percentile(values, q)
    return result


@dataclass
class Placement:
    cell: int  # index into the cell list
    lat: float
    lon: float
    inside: bool  # the mapped point lies in that cell (otherwise the cell's point is used)


def place_calls(calls: list[Call], cells: list[dict[str, Any]]) -> dict[int, Placement]:
    """Map each call affinely onto the cells' bounding box and find its cell (see the module
    docstring): ``{call.index: Placement}``."""
    import numpy as np
    import shapely

    geometries = [c["geometry"] for c in cells]
    west, south, east, north = shapely.total_bounds(np.array(geometries))
    lats, lngs = [c.lat for c in calls], [c.lng for c in calls]
    lat_lo, lat_hi = _quantile(lats, 0.1), _quantile(lats, 99.9)
    lng_lo, lng_hi = _quantile(lngs, 0.1), _quantile(lngs, 99.9)
    xs = [
        west + (min(max(c.lng, lng_lo), lng_hi) - lng_lo) / (lng_hi - lng_lo) * (east - west)
        for c in calls
    ]
    ys = [
        south + (min(max(c.lat, lat_lo), lat_hi) - lat_lo) / (lat_hi - lat_lo) * (north - south)
        for c in calls
    ]
    tree = shapely.STRtree(geometries)
    points = shapely.points(xs, ys)
    found: dict[int, int] = {}
    for p, g in zip(*tree.query(points, predicate="intersects"), strict=True):
        p, g = int(p), int(g)
        if p not in found or cells[g]["code"] < cells[found[p]]["code"]:
            found[p] = g
    outside = [p for p in range(len(calls)) if p not in found]
    nearest = tree.nearest(points[outside]) if outside else []
    placed: dict[int, Placement] = {}
    for p, call in enumerate(calls):
        if p in found:
            placed[call.index] = Placement(found[p], round(ys[p], 6), round(xs[p], 6), True)
    for p, g in zip(outside, nearest, strict=True):
        cell = cells[int(g)]
        placed[calls[p].index] = Placement(
            int(g), round(cell["lat"], 6), round(cell["lon"], 6), False
        )
    return placed


# --------------------------------------------------------------------------- phases


@dataclass
class Phase:
    name: str  # "1x", "10x", "probe-200", "fastest-200"
    speed: str  # what the console calls it
    entries: list[tuple[float, Call]]  # (offset from t0 in s, call), by offset

    @property
    def span_s(self) -> float:
        return self.entries[-1][0] if self.entries else 0.0


def window_phase(name: str, calls: list[Call], speed: float) -> Phase:
    start = calls[0].t
    return Phase(name, f"{speed:g}×", [((c.t - start) / speed, c) for c in calls])


def compressed_phase(
    name: str, calls: list[Call], rate: float, *, first_s: float | None = None, count: int = 0
) -> Phase:
    """The whole file at a mean rate of `rate` calls/s (time scaled by one factor), cut to the
    first `first_s` seconds or the first `count` calls."""
    start, end = calls[0].t, calls[-1].t
    factor = (len(calls) / rate) / (end - start)
    entries = [((c.t - start) * factor, c) for c in calls]
    if first_s is not None:
        entries = [e for e in entries if e[0] < first_s]
    if count:
        entries = entries[:count]
    return Phase(name, f"{rate:g}/s (×{1 / factor:,.0f})", entries)


# --------------------------------------------------------------------------- load processes


@dataclass
class Proc:
    name: str
    process: subprocess.Popen[str]
    err: Path


@dataclass
class PhaseResult:
    phase: Phase
    t0: float
    records: list[list[Any]] = field(default_factory=list)
    received: list[list[list[Any]]] = field(default_factory=list)
    ids: dict[str, Call] = field(default_factory=dict)  # client_id → call
    disconnected: int = 0  # clients dropped during the phase
    reconnected: int = 0  # clients dropped in an earlier phase, reconnected before this one
    server_cores: float = 0.0
    load_cores: float = 0.0
    wall_s: float = 0.0
    settle_s: float | None = None
    check: dict[str, Any] | None = None  # the store check (Gridwatch only)
    summary: dict[str, Any] = field(default_factory=dict)


class Replayer:
    """The load processes against one server, connected once, replaying phase after phase."""

    def __init__(
        self,
        server: Any,
        workdir: Path,
        informant_tokens: list[str | None],
        operators: list[dict[str, Any]],
        *,
        ack_timeout_s: float,
        settle_max_s: float,
    ) -> None:
        self.server = server
        self.dir = workdir / f"replay-{server.name}"
        self.dir.mkdir()
        self.operators = operators  # {"token", "area"}
        self.ack_timeout_s = ack_timeout_s
        self.settle_max_s = settle_max_s
        self.procs: list[Proc] = []
        self.clients = len(informant_tokens)
        self.informant_procs: list[Proc] = []
        self.operator_proc: Proc | None = None
        self.operator_token = next((o["token"] for o in operators if o["area"] == CITY), None)
        try:
            self.operator_proc = self._spawn(
                "operators",
                {
                    "role": "operator",
                    "url": server.url,
                    "clients": [{"token": o["token"]} for o in operators],
                },
            )
            for i in range(INFORMANT_PROCESSES):
                mine = informant_tokens[i::INFORMANT_PROCESSES]
                if mine:
                    self.informant_procs.append(
                        self._spawn(
                            f"informants-{i}",
                            {
                                "role": "informant",
                                "url": server.url,
                                "clients": [{"token": t} for t in mine],
                                "ack_timeout": ack_timeout_s,
                                "connect_concurrency": 32,
                            },
                        )
                    )
            answers = self._expect(self.procs, "READY", timeout=180)
            console.print(
                f"  {self.clients} informant clients in {len(self.informant_procs)} processes "
                f"and {len(operators)} operators connected to {server.name} "
                f"({', '.join(f'{a.split()[-1]} s' for a in answers)})"
            )
        except BaseException:
            self.close()
            raise

    def _spawn(self, name: str, config: dict[str, Any]) -> Proc:
        run = _harness()
        config_path = self.dir / f"{name}.config.json"
        config_path.write_text(json.dumps(config))
        err_path = self.dir / f"{name}.stderr.log"
        with err_path.open("wb") as err:
            process = subprocess.Popen(
                [sys.executable, "-m", "bench.replay_load", str(config_path)],
                cwd=run.ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                start_new_session=True,
                preexec_fn=run.more_files,
            )
        proc = Proc(name, process, err_path)
        self.procs.append(proc)
        return proc

    def _send(self, procs: list[Proc], command: dict[str, Any]) -> None:
        line = json.dumps(command) + "\n"
        for p in procs:
            assert p.process.stdin is not None
            p.process.stdin.write(line)
            p.process.stdin.flush()

    def _expect(self, procs: list[Proc], word: str, timeout: float) -> list[str]:
        """One line from each process, which must start with `word`."""
        import selectors

        run = _harness()
        waiting = {cast(IO[str], p.process.stdout): p for p in procs}
        answers: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            for stream in waiting:
                selector.register(stream, selectors.EVENT_READ)
            while waiting:
                left = deadline - time.monotonic()
                if left <= 0:
                    names = ", ".join(p.name for p in waiting.values())
                    raise RuntimeError(f"no {word} from {names} within {timeout:.0f} s")
                for key, _ in selector.select(min(left, 1.0)):
                    stream = cast(IO[str], key.fileobj)
                    proc = waiting[stream]
                    line = stream.readline()
                    if line.startswith(word):
                        answers[proc.name] = line.strip()
                        selector.unregister(stream)
                        del waiting[stream]
                    elif not line or line.startswith("ERROR"):
                        proc.process.wait(5)
                        raise RuntimeError(
                            f"load process {proc.name} failed against {self.server.name}: "
                            f"{line.strip()}\n{run.tail(proc.err)}\n"
                            f"--- server log ---\n{run.tail(self.server.log)}"
                        )
        return [answers[p.name] for p in procs]

    def replay(self, phase: Phase, placed: dict[int, Placement]) -> PhaseResult:
        run = _harness()
        result = PhaseResult(phase, 0.0)
        schedules: list[list[list[Any]]] = [[] for _ in self.informant_procs]
        for offset, call in phase.entries:
            where = placed[call.index]
            client_id = str(uuid.uuid5(ID_SPACE, f"{self.server.name}/{phase.name}/{call.index}"))
            result.ids[client_id] = call
            part, local = where.cell % INFORMANT_PROCESSES, where.cell // INFORMANT_PROCESSES
            schedules[part].append(
                [
                    round(offset, 4),
                    local,
                    client_id,
                    call.category,
                    call.text,
                    where.lat,
                    where.lon,
                ]
            )
        paths = []
        for i, schedule in enumerate(schedules):
            path = self.dir / f"{phase.name}.informants-{i}.schedule.json"
            path.write_text(json.dumps(schedule))
            paths.append(path)
        assert self.operator_proc is not None
        operators_out = self.dir / f"{phase.name}.operators.json"
        self._send([self.operator_proc], {"phase": phase.name, "out": str(operators_out)})
        self._expect([self.operator_proc], "DONE", timeout=30)

        result.t0 = t0 = time.time() + 1.0
        outs = []
        for i, proc in enumerate(self.informant_procs):
            out = self.dir / f"{phase.name}.informants-{i}.json"
            outs.append(out)
            self._send(
                [proc],
                {"phase": phase.name, "schedule": str(paths[i]), "t0": t0, "out": str(out)},
            )
        server_before = run.tree_cpu_seconds(self.server.process.pid)
        load_before = sum(run.tree_cpu_seconds(p.process.pid) for p in self.procs)
        timeout = t0 - time.time() + phase.span_s + self.ack_timeout_s + 30
        self._expect(self.informant_procs, "DONE", timeout=timeout)
        result.wall_s = time.time() - t0
        result.server_cores = (
            run.tree_cpu_seconds(self.server.process.pid) - server_before
        ) / result.wall_s
        result.load_cores = (
            sum(run.tree_cpu_seconds(p.process.pid) for p in self.procs) - load_before
        ) / result.wall_s
        # The operators stop once no report:new has come for a second (at most 15 s).
        self._send([self.operator_proc], {"end": True, "quiet_s": 1.0, "max_s": 15.0})
        self._expect([self.operator_proc], "DONE", timeout=45)
        for out in outs:
            data = json.loads(out.read_text())
            result.records.extend(data["records"])
            result.disconnected += data["disconnected"]
            result.reconnected += data["reconnected"]
        data = json.loads(operators_out.read_text())
        result.received = data["received"]
        result.disconnected += data["disconnected"]
        result.reconnected += data["reconnected"]
        return result

    def settle(self) -> float:
        """Wait until the server's process tree is idle (the worker has triaged its backlog):
        under a quarter of a core over a second, for at most settle_max_s."""
        run = _harness()
        started = time.monotonic()
        while time.monotonic() - started < self.settle_max_s:
            before = run.tree_cpu_seconds(self.server.process.pid)
            time.sleep(1.0)
            if run.tree_cpu_seconds(self.server.process.pid) - before < 0.25:
                return time.monotonic() - started
        console.print(
            f"  [yellow]{self.server.name} still busy {self.settle_max_s:.0f} s after the "
            "phase; the next phase starts anyway[/]"
        )
        return time.monotonic() - started

    def close(self) -> None:
        run = _harness()
        for p in self.procs:
            if p.process.poll() is None and p.process.stdin is not None:
                try:
                    p.process.stdin.write(json.dumps({"quit": True}) + "\n")
                    p.process.stdin.flush()
                except OSError:
                    pass
        for p in self.procs:
            try:
                p.process.wait(10)
            except subprocess.TimeoutExpired:
                run.stop(p.process, timeout=5)


# --------------------------------------------------------------------------- the store check


def stored_reports(server: Any, token: str, since: float) -> tuple[list[dict[str, Any]], bool]:
    """Every report received since `since` (Unix s) in the city, splitting a query into the
    area's children only where it hits the 5,000 limit. Returns (reports, truncated)."""
    run = _harness()
    since_iso = datetime.fromtimestamp(since, UTC).isoformat()
    reports: list[dict[str, Any]] = []
    truncated = False
    stack = [(CITY, "city")]
    while stack:
        code, level = stack.pop()
        query = f"area={code}&since={since_iso.replace('+', '%2B')}&limit=5000"
        rows = run.http_json("GET", f"{server.url}/api/reports?{query}", token=token, timeout=120)
        if isinstance(rows, dict):
            rows = rows.get("reports") or rows.get("items") or []
        if len(rows) < 5000:
            reports.extend(rows)
            continue
        child = CHILD_LEVEL.get(level)
        if child is None:
            truncated = True
            reports.extend(rows)
            continue
        areas = run.http_json(
            "GET", f"{server.url}/api/areas?level={child}&parent={code}", token=token, timeout=120
        )
        stack.extend((f["properties"]["code"], child) for f in areas["features"])
    return reports, truncated


def store_check(result: PhaseResult, server: Any, token: str) -> dict[str, Any]:
    reports, truncated = stored_reports(server, token, result.t0 - 5)
    ids = result.ids
    mine = [r for r in reports if str(r.get("client_id")) in ids]
    per_id = Counter(str(r["client_id"]) for r in mine)
    acked = {r[0] for r in result.records if r[3]}
    unacked = {r[0] for r in result.records if not r[3]}
    # One call under two client ids: the text names the call.
    calls_seen: dict[str, set[str]] = {}
    for r in mine:
        text = str(r.get("text") or "")
        tag = text[text.rfind("(911 call #") :] if "(911 call #" in text else text
        calls_seen.setdefault(tag, set()).add(str(r["client_id"]))
    return {
        "acknowledged": len(acked),
        "stored": len(mine),
        "lost": len(acked - set(per_id)),
        "duplicated": sum(n - 1 for n in per_id.values())
        + sum(len(v) - 1 for v in calls_seen.values()),
        "stored_after_error": len(set(per_id) & unacked),
        "truncated_query": truncated,
    }


# --------------------------------------------------------------------------- summaries


def summarize(result: PhaseResult, operators: list[dict[str, Any]], relay: bool) -> dict[str, Any]:
    run = _harness()
    scheduled = {e[1].index: e[0] for e in result.phase.entries}
    ok = [r for r in result.records if r[3]]
    ack_ms = [(r[2] - r[1]) * 1000 for r in ok]
    by_send = sorted(result.records, key=lambda r: r[1])
    tail = by_send[len(by_send) - max(1, len(by_send) // 10) :] if by_send else []
    # A report of the last tenth that got no ack counts as infinitely late.
    tail_ms = sorted((r[2] - r[1]) * 1000 if r[3] else float("inf") for r in tail)
    lag_ms = [
        (r[1] - (result.t0 + scheduled[result.ids[r[0]].index])) * 1000
        for r in result.records
        if r[0] in result.ids
    ]
    errors = Counter(str(r[4]) for r in result.records if not r[3])
    sent_at = {r[0]: r[1] for r in result.records}
    cell_of = {r[0]: r[6] for r in ok}
    delivery_ms: list[float] = []
    expected = missing = 0
    for operator, sink in zip(operators, result.received, strict=True):
        first: dict[str, float] = {}
        for cid, t in sink:
            if cid is not None and cid not in first:
                first[cid] = t
        prefix = "" if relay or operator["area"] == CITY else operator["area"]
        for cid in (r[0] for r in ok):
            if relay or str(cell_of.get(cid) or "").startswith(prefix):
                expected += 1
                if cid in first:
                    delivery_ms.append((first[cid] - sent_at[cid]) * 1000)
                else:
                    missing += 1
    first_send = min((r[1] for r in result.records), default=result.t0)
    last_ack = max((r[2] for r in ok), default=first_send)
    check = result.check or {}
    summary = {
        "calls": len(result.phase.entries),
        "sent": len(result.records),
        "acked": len(ok),
        "duplicate_acks": sum(r[5] for r in ok),
        "errors": dict(errors),
        "disconnected": result.disconnected,
        "reconnected": result.reconnected,
        "ack_p50_ms": run.percentile(ack_ms, 50),
        "ack_p95_ms": run.percentile(ack_ms, 95),
        "ack_p99_ms": run.percentile(ack_ms, 99),
        "ack_max_ms": max(ack_ms) if ack_ms else None,
        "tail_ack_p50_ms": tail_ms[(len(tail_ms) - 1) // 2] if tail_ms else None,
        "send_lag_p99_ms": run.percentile(lag_ms, 99),
        "operator_p50_ms": run.percentile(delivery_ms, 50),
        "operator_p99_ms": run.percentile(delivery_ms, 99),
        "deliveries": len(delivery_ms),
        "deliveries_expected": expected,
        "deliveries_missing": missing,
        "reports_per_s": len(ok) / max(last_ack - first_send, 1e-3),
        "server_cores": result.server_cores,
        "load_cores": result.load_cores,
        "settle_s": result.settle_s,
        "lost": check.get("lost"),
        "duplicated": check.get("duplicated"),
        "stored_after_error": check.get("stored_after_error"),
        "truncated_query": check.get("truncated_query"),
        "outside_cells": 0 if relay else sum(1 for r in ok if r[6] is None),
    }
    summary["holds"] = holds(summary, relay)
    return summary


def holds(s: dict[str, Any], relay: bool) -> bool:
    """The fastest-speed rule: see the module docstring."""
    clean = (
        s["sent"] == s["calls"]
        and s["acked"] == s["sent"]
        and not s["errors"]
        and not s["disconnected"]
        and s["deliveries_missing"] == 0
        and s["tail_ack_p50_ms"] is not None
        and s["tail_ack_p50_ms"] <= KEEP_UP_MS
    )
    if relay:
        return clean
    return clean and s["lost"] == 0 and s["duplicated"] == 0 and not s["truncated_query"]


def _ms(x: float | None) -> str:
    return "-" if x is None else "no ack" if x == float("inf") else f"{x:,.1f}"


def print_phase(title: str, summaries: dict[str, dict[str, Any]]) -> None:
    table = Table(title=title, title_justify="left")
    table.add_column("")
    for name in summaries:
        table.add_column(name, justify="right")
    rows: list[tuple[str, Any]] = [
        ("calls in the window", lambda s: f"{s['calls']:,}"),
        ("sent / acked ok", lambda s: f"{s['sent']:,} / {s['acked']:,}"),
        ("errors by code", lambda s: json.dumps(s["errors"]) if s["errors"] else "-"),
        ("acks marked duplicate", lambda s: str(s["duplicate_acks"])),
        (
            "clients dropped / reconnected before",
            lambda s: f"{s['disconnected']} / {s['reconnected']}",
        ),
        ("ack p50 / p95 ms", lambda s: f"{_ms(s['ack_p50_ms'])} / {_ms(s['ack_p95_ms'])}"),
        ("ack p99 / max ms", lambda s: f"{_ms(s['ack_p99_ms'])} / {_ms(s['ack_max_ms'])}"),
        ("ack p50 of the last tenth sent", lambda s: _ms(s["tail_ack_p50_ms"])),
        (
            "report→operator p50 / p99 ms",
            lambda s: f"{_ms(s['operator_p50_ms'])} / {_ms(s['operator_p99_ms'])}",
        ),
        (
            "report:new received / expected",
            lambda s: f"{s['deliveries']:,} / {s['deliveries_expected']:,}",
        ),
        ("send lag p99 ms (load side)", lambda s: _ms(s["send_lag_p99_ms"])),
        ("acked per s (first send → last ack)", lambda s: f"{s['reports_per_s']:,.1f}"),
        ("server / load CPU (cores)", lambda s: f"{s['server_cores']:.2f} / {s['load_cores']:.2f}"),
        (
            "idle again after (s)",
            lambda s: "-" if s["settle_s"] is None else f"{s['settle_s']:.0f}",
        ),
        ("lost (acked, not stored)", lambda s: "-" if s["lost"] is None else str(s["lost"])),
        (
            "duplicated in the store",
            lambda s: "-" if s["duplicated"] is None else str(s["duplicated"]),
        ),
        (
            "stored after an error/timeout",
            lambda s: "-" if s["stored_after_error"] is None else str(s["stored_after_error"]),
        ),
        ("holds (the fastest-speed rule)", lambda s: "yes" if s["holds"] else "[red]no[/]"),
    ]
    for label, cell in rows:
        table.add_row(label, *(cell(s) for s in summaries.values()))
    console.print(table)


# --------------------------------------------------------------------------- the benchmark


def _login(server: Any, username: str) -> dict[str, Any]:
    run = _harness()
    try:
        answer = run.http_json(
            "POST",
            f"{server.url}/api/auth/token",
            {"username": username, "password": run.DEMO_PASSWORD},
        )
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"login {username}: HTTP {exc.code} {exc.read()[:300]!r}") from None
    return {"token": answer["token"], "area": answer.get("user", {}).get("area_code") or CITY}


@dataclass
class Plan:
    one: Phase
    ten: Phase
    quick: bool
    calls: list[Call]
    ladder_start: float = 100.0
    relay_start: float = 400.0
    ladder_top: float = 1600.0
    ladder_floor: float = 25.0
    probe_s: float = 5.0
    whole_s: float = 95.0  # the "whole" replay stops after this long (below 9,226 / 95 a s)

    def probe(self, rate: float) -> Phase:
        return compressed_phase(f"probe-{rate:g}", self.calls, rate, first_s=self.probe_s)

    def whole(self, rate: float) -> Phase:
        return compressed_phase(f"fastest-{rate:g}", self.calls, rate, first_s=self.whole_s)


def _run_phase(
    replayer: Replayer,
    phase: Phase,
    placed: dict[int, Placement],
    operators: list[dict[str, Any]],
    relay: bool,
) -> dict[str, Any]:
    result = replayer.replay(phase, placed)
    result.settle_s = replayer.settle()
    if not relay:
        assert replayer.operator_token is not None
        result.check = store_check(result, replayer.server, replayer.operator_token)
    summary = summarize(result, operators, relay)
    check = result.check
    console.print(
        f"  {replayer.server.name} {phase.name}: {summary['sent']:,} sent, "
        f"{summary['acked']:,} acked, errors {summary['errors'] or '-'}, ack p99 "
        f"{_ms(summary['ack_p99_ms'])} ms"
        + (f", lost {check['lost']}, duplicated {check['duplicated']}" if check else "")
        + f" → {'holds' if summary['holds'] else 'does not hold'}"
    )
    return summary


def _ladder(
    replayer: Replayer,
    plan: Plan,
    placed: dict[int, Placement],
    operators: list[dict[str, Any]],
    relay: bool,
    start: float,
) -> tuple[float | None, list[tuple[float, dict[str, Any]]]]:
    """Probe `start`; double while probes hold (up to the top) or, when the first one fails,
    halve until one holds (down to the floor). The highest rate that held, and every probe."""
    tried: list[tuple[float, dict[str, Any]]] = []

    def probe(rate: float) -> bool:
        summary = _run_phase(replayer, plan.probe(rate), placed, operators, relay)
        tried.append((rate, summary))
        return bool(summary["holds"])

    rate, best = start, None
    if probe(rate):
        best = rate
        while rate * 2 <= plan.ladder_top and probe(rate * 2):
            rate *= 2
            best = rate
    else:
        while rate / 2 >= plan.ladder_floor:
            rate /= 2
            if probe(rate):
                best = rate
                break
    return best, tried


def _fastest(
    replayer: Replayer,
    plan: Plan,
    placed: dict[int, Placement],
    operators: list[dict[str, Any]],
    relay: bool,
    start: float,
) -> tuple[float | None, list[tuple[str, float, dict[str, Any]]], dict[float, dict[str, Any]]]:
    """The ladder, then the whole replay at the rate found; once more at half that rate when
    the whole replay does not hold. (rate that held or None, probes, whole runs by rate)."""
    best, probes = _ladder(replayer, plan, placed, operators, relay, start)
    tried = [("probe", rate, summary) for rate, summary in probes]
    rate = best if best is not None else plan.ladder_floor
    wholes = {rate: _run_phase(replayer, plan.whole(rate), placed, operators, relay)}
    if not wholes[rate]["holds"] and rate / 2 >= plan.ladder_floor:
        rate /= 2
        wholes[rate] = _run_phase(replayer, plan.whole(rate), placed, operators, relay)
    tried.extend(("whole", r, summary) for r, summary in wholes.items())
    return (rate if wholes[rate]["holds"] else None), tried, wholes


def bench_replay(quick: bool, workdir: Path) -> dict[str, dict[str, Any]]:
    from bench.enrol import cells_of, enrol_informants

    run = _harness()
    started = time.monotonic()
    calls = load_calls()
    one = busiest_window(calls, 300)
    ten = busiest_window(calls, 300 if quick else 600)
    plan = Plan(
        one=window_phase("1x", one, 1.0),
        ten=window_phase("10x", ten, 10.0),
        quick=quick,
        calls=calls,
        probe_s=3.0 if quick else 5.0,
        whole_s=10.0 if quick else 95.0,
    )
    day = datetime.fromtimestamp(one[0].t, UTC).strftime("%Y-%m-%d %H:%M")
    day10 = datetime.fromtimestamp(ten[0].t, UTC).strftime("%Y-%m-%d %H:%M")
    console.print(
        f"[bold]replay[/]: {len(calls):,} Montgomery County 911 calls; 1× = {len(one)} calls "
        f"from {day} over {plan.one.span_s:.1f} s; 10× = {len(ten)} calls from {day10} over "
        f"{plan.ten.span_s:.1f} s; fastest = every call (at most {plan.whole_s:g} s of them) "
        f"at the highest mean rate that holds (ladder from {plan.ladder_start:g}/s, probes of "
        f"{plan.probe_s:g} s)"
    )
    ack_timeout = 10.0 if quick else 20.0
    settle_max = 60.0
    names = ("gridwatch", "relay")
    phases: dict[str, dict[str, dict[str, Any]]] = {"1x": {}, "10x": {}, "fastest": {}}
    ladders: dict[str, list[tuple[str, float, dict[str, Any]]]] = {}
    fastest: dict[str, float | None] = {}

    with run.gridwatch_server(workdir, cells=2000) as gridwatch:
        console.print(f"  gridwatch up at {gridwatch.url} ({time.monotonic() - started:.0f} s)")
        operators = [_login(gridwatch, name) for name in OPERATORS]
        cells = cells_of(gridwatch, operators[0]["token"], CITY)
        placed_all = place_calls(calls, cells)
        used = sorted({p.cell for p in placed_all.values()})
        outside = sum(1 for p in placed_all.values() if not p.inside)
        # Clients are numbered by the cells that receive calls, in code order.
        slot = {cell: i for i, cell in enumerate(used)}
        placed = {i: Placement(slot[p.cell], p.lat, p.lon, p.inside) for i, p in placed_all.items()}
        t = time.monotonic()
        enrolled = enrol_informants(
            gridwatch, workdir, [cells[c]["code"] for c in used], prefix="replay"
        )
        console.print(
            f"  {len(cells):,} cells; calls land in {len(used):,} of them ({outside:,} calls "
            f"in no cell go to the nearest one); {len(enrolled):,} informants enrolled in "
            f"{time.monotonic() - t:.0f} s"
        )
        replayer = Replayer(
            gridwatch,
            workdir,
            [e["token"] for e in enrolled],
            operators,
            ack_timeout_s=ack_timeout,
            settle_max_s=settle_max,
        )
        try:
            phases["1x"]["gridwatch"] = _run_phase(replayer, plan.one, placed, operators, False)
            phases["10x"]["gridwatch"] = _run_phase(replayer, plan.ten, placed, operators, False)
            fastest["gridwatch"], ladders["gridwatch"], wholes = _fastest(
                replayer, plan, placed, operators, False, plan.ladder_start
            )
            rate = fastest["gridwatch"] or min(wholes)
            phases["fastest"]["gridwatch"] = wholes[rate]
        finally:
            replayer.close()

    relay_operators = [{"token": None, "area": CITY} for _ in OPERATORS]
    with run.relay_server(workdir) as relay:
        console.print(f"  relay up at {relay.url}")
        replayer = Replayer(
            relay,
            workdir,
            [None] * len(used),
            relay_operators,
            ack_timeout_s=ack_timeout,
            settle_max_s=settle_max,
        )
        try:
            phases["1x"]["relay"] = _run_phase(replayer, plan.one, placed, relay_operators, True)
            phases["10x"]["relay"] = _run_phase(replayer, plan.ten, placed, relay_operators, True)
            # The same bursts as Gridwatch's fastest replay, then the relay's own ladder from there.
            phases["fastest"]["relay"] = _run_phase(
                replayer, plan.whole(rate), placed, relay_operators, True
            )
            fastest["relay"], ladders["relay"], _ = _fastest(
                replayer, plan, placed, relay_operators, True, max(plan.relay_start, rate)
            )
        finally:
            replayer.close()

    speed_titles = {
        "1x": f"replay 1×: {plan.one.speed} over {len(one)} calls",
        "10x": f"replay 10×: {plan.ten.speed} over {len(ten)} calls",
        "fastest": f"replay fastest: {len(plan.whole(rate).entries):,} calls at {rate:g}/s",
    }
    for key, title in speed_titles.items():
        print_phase(title, {n: phases[key][n] for n in names})
    ladder_table = Table(
        title="replay: the fastest-speed ladder (probes, then the whole replay)",
        title_justify="left",
    )
    columns = (
        "server",
        "run",
        "rate /s",
        "sent",
        "acked",
        "errors",
        "ack p99 ms",
        "last tenth p50 ms",
        "lost / dup",
        "stored after error",
        "idle after s",
        "holds",
    )
    for column in columns:
        ladder_table.add_column(column, justify="left" if column in ("server", "run") else "right")
    for name in names:
        for kind, r, s in ladders.get(name, []):
            ladder_table.add_row(
                name,
                kind,
                f"{r:g}",
                f"{s['sent']:,}",
                f"{s['acked']:,}",
                json.dumps(s["errors"]) if s["errors"] else "-",
                _ms(s["ack_p99_ms"]),
                _ms(s["tail_ack_p50_ms"]),
                "-" if s["lost"] is None else f"{s['lost']} / {s['duplicated']}",
                "-" if s["stored_after_error"] is None else str(s["stored_after_error"]),
                "-" if s["settle_s"] is None else f"{s['settle_s']:.0f}",
                "yes" if s["holds"] else "[red]no[/]",
            )
    console.print(ladder_table)
    console.print(
        f"  fastest sustained: gridwatch {fastest['gridwatch'] or '-'} reports/s, relay "
        f"{fastest['relay'] or '-'} reports/s (ladder top {plan.ladder_top:g}); "
        f"replay took {time.monotonic() - started:.0f} s"
    )
    for key in phases:
        s = phases[key]["gridwatch"]
        clean = s["lost"] == 0 and s["duplicated"] == 0
        console.print(
            f"  gridwatch store check {key}: "
            + ("[green]ok[/]" if clean else "[red]MISMATCH[/]")
            + f": lost {s['lost']}, duplicated {s['duplicated']}, stored after an error or "
            f"time-out {s['stored_after_error']}"
        )

    results: dict[str, dict[str, Any]] = {}

    def figure(name: str, value: float | None, baseline: float | None, unit: str) -> None:
        results[name] = {
            "value": run.rounded(value),
            "unit": unit,
            "baseline": run.rounded(baseline),
            "ratio": run.ratio(value, baseline),
        }

    for key in phases:
        gw, base = phases[key]["gridwatch"], phases[key]["relay"]
        for stat in ("ack_p50_ms", "ack_p95_ms", "ack_p99_ms", "ack_max_ms"):
            figure(f"replay_{key}_{stat}", gw[stat], base[stat], "ms")
        for stat in ("operator_p50_ms", "operator_p99_ms"):
            figure(f"replay_{key}_{stat}", gw[stat], base[stat], "ms")
        for stat in ("lost", "duplicated"):
            value = gw[stat]
            results[f"replay_{key}_{stat}"] = {
                "value": value if value is not None else -1,
                "unit": "reports",
                "baseline": None,
                "ratio": None,
            }
    figure("replay_fastest_reports_per_s", fastest["gridwatch"], fastest["relay"], "reports/s")
    return results
