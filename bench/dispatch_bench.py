"""Dispatch benchmark: recommendation latency over a Lanzhou-sized team list.

1,200 teams as the city has them (10 professional squads, 1,160 village volunteer teams,
30 mediation and relief teams) at random places in Lanzhou (lat 35.8-36.8, lon 102.8-104.2),
a third with a live position, a third with a stale one, a third at their base; dispatch
history spread over the last week. Incidents at random places, categories and risk levels.

  dispatch_recommend_p50_us / _p99_us   `rank_teams` (limit 5) per incident
  dispatch_plan_p50_us / _p99_us        `plan_dispatch` (the run card) per incident

Baseline, timed on the same incident in the same run: a naive scan that sorts every team by
great-circle distance and takes five (no status or capability filter, no travel model, no
positions, no fairness): the least any recommendation has to do.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console

from bench.figures import figure
from dispatch.recommend import (
    TeamView,
    haversine_m,
    load_runcards,
    plan_dispatch,
    rank_teams,
)

console = Console(width=max(110, Console().width))

COUNTIES = ("620102", "620103", "620104", "620105", "620111", "620121", "620122", "620123")
SQUAD_CAPABILITIES = [
    ("rescue", "search", "water", "mountain", "collapse", "medical", "fire"),
    ("rescue", "search", "collapse", "medical"),
    ("rescue", "water", "search"),
    ("rescue", "mountain", "search"),
    ("rescue", "collapse", "fire", "medical"),
    ("rescue", "hazmat", "fire"),
    ("rescue", "search", "mountain", "water"),
    ("rescue", "mountain", "search", "medical"),
    ("rescue", "collapse", "mountain", "search"),
    ("rescue", "medical", "search"),
]
VOLUNTEER_CAPABILITIES = ("rescue", "search", "fire", "first_aid")
INCIDENTS = [
    ("fire", "red"),
    ("fire", None),
    ("landslide", "red"),
    ("landslide", "orange"),
    ("flood", "red"),
    ("earthquake", "red"),
    ("traffic_accident", "yellow"),
    ("medical", "red"),
    ("dispute", None),
    ("veteran_hardship", "blue"),
]


def lanzhou_teams(rng: random.Random, now: datetime) -> list[TeamView]:
    def place() -> tuple[float, float]:
        return rng.uniform(35.8, 36.8), rng.uniform(102.8, 104.2)

    specs: list[tuple[str, tuple[str, ...]]] = [
        ("professional_rescue", c) for c in SQUAD_CAPABILITIES
    ]
    specs += [("volunteer", VOLUNTEER_CAPABILITIES)] * 1_160
    specs += [("mediation", ("mediation",))] * 20 + [("relief", ("relief",))] * 10
    teams = []
    for i, (kind, caps) in enumerate(specs, start=1):
        base_lat, base_lon = place()
        roll = rng.random()
        if roll < 1 / 3:  # live
            lat, lon = base_lat + rng.uniform(-0.02, 0.02), base_lon + rng.uniform(-0.02, 0.02)
            position_at: datetime | None = now - timedelta(seconds=rng.uniform(0, 600))
        elif roll < 2 / 3:  # stale
            lat, lon = place()
            position_at = now - timedelta(hours=rng.uniform(1, 48))
        else:  # base only
            lat, lon, position_at = base_lat, base_lon, None
        last = now - timedelta(hours=rng.uniform(0, 168)) if rng.random() < 0.7 else None
        teams.append(
            TeamView(
                i,
                f"team {i}",
                kind,
                "available" if rng.random() < 0.9 else "on_scene",
                caps,
                lat,
                lon,
                last,
                position_at,
                base_lat,
                base_lon,
            )
        )
    return teams


def naive_scan(lat: float, lon: float, teams: list[TeamView]) -> list[TeamView]:
    return sorted(teams, key=lambda t: haversine_m(lat, lon, t.lat, t.lon))[:5]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def bench_dispatch(quick: bool, workdir: Path) -> dict[str, dict[str, Any]]:
    """p50/p99 of `rank_teams` and `plan_dispatch` over 1,200 teams, against a naive scan."""
    del workdir  # nothing to write
    rng = random.Random(5)
    now = datetime(2026, 11, 3, 22, 30, tzinfo=UTC)
    teams = lanzhou_teams(rng, now)
    cards = load_runcards()
    samples = 500 if quick else 3_000
    queries = [
        (rng.uniform(35.8, 36.8), rng.uniform(102.8, 104.2), *INCIDENTS[i % len(INCIDENTS)],
         rng.choice(COUNTIES))
        for i in range(samples)
    ]  # fmt: skip
    console.print(
        f"[bold]dispatch[/]: {len(teams)} teams, {samples} incidents, "
        f"{len(INCIDENTS)} category/level mixes"
    )
    rank_us: list[float] = []
    plan_us: list[float] = []
    naive_us: list[float] = []
    unfilled = 0
    clock = time.perf_counter_ns
    for n, (lat, lon, category, level, area) in enumerate([*queries[:50], *queries]):
        t0 = clock()
        naive_scan(lat, lon, teams)
        t1 = clock()
        rank_teams(lat, lon, category, teams, limit=5, area_code=area, now=now)
        t2 = clock()
        plan = plan_dispatch(
            lat, lon, category, level, teams, area_code=area, now=now, runcards=cards
        )
        t3 = clock()
        if n < 50:  # warm-up
            continue
        naive_us.append((t1 - t0) / 1_000)
        rank_us.append((t2 - t1) / 1_000)
        plan_us.append((t3 - t2) / 1_000)
        unfilled += len(plan.unfilled)
    console.print(
        f"  p50: rank_teams {_percentile(rank_us, 50):.0f} µs, "
        f"plan_dispatch {_percentile(plan_us, 50):.0f} µs, "
        f"naive scan {_percentile(naive_us, 50):.0f} µs "
        "(bimodal: a category most volunteer teams fit costs ~10x one only squads fit); "
        f"{unfilled} unfilled slots over {samples} plans"
    )
    results: dict[str, dict[str, Any]] = {}
    for q in (50, 99):
        base = _percentile(naive_us, q)
        results[f"dispatch_recommend_p{q}_us"] = figure(_percentile(rank_us, q), base, "µs")
        results[f"dispatch_plan_p{q}_us"] = figure(_percentile(plan_us, q), base, "µs")
    return results
