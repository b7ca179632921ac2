from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from dispatch.recommend import TeamView, eta_seconds, fits, haversine_m, rank_teams


def team(
    i: int,
    lat: float,
    lon: float,
    *,
    kind: str = "volunteer",
    caps: tuple[str, ...] = ("rescue", "fire"),
    status: str = "available",
    last: datetime | None = None,
) -> TeamView:
    return TeamView(i, f"t{i}", kind, status, caps, lat, lon, last)


def test_haversine_known_distance() -> None:
    # One degree of latitude is about 111 km.
    assert 110_000 < haversine_m(36.0, 103.8, 37.0, 103.8) < 112_000


def test_only_available_capable_teams_nearest_in_time_first() -> None:
    teams = [
        team(1, 36.10, 103.80),
        team(2, 36.06, 103.83),
        team(3, 36.06, 103.83, status="dispatched"),
        team(4, 36.06, 103.83, caps=("mediation",), kind="mediation"),
        team(5, 36.30, 103.90, kind="professional_rescue", caps=("fire", "rescue")),
    ]
    ranked = rank_teams(36.0611, 103.8343, "fire", teams, limit=10)
    ids = [c.team_id for c in ranked]
    assert 3 not in ids and 4 not in ids
    assert ids[0] == 2
    assert [c.eta_s for c in ranked] == sorted(c.eta_s for c in ranked)
    assert ranked[0].reasons == ["capability:fire"]


def test_matches_brute_force_on_random_data() -> None:
    rng = random.Random(7)
    kinds = ["professional_rescue", "volunteer", "mediation", "relief"]
    all_caps = ["fire", "water", "rescue", "search", "mediation", "relief", "collapse"]
    teams = [
        team(
            i,
            36 + rng.random(),
            103.5 + rng.random(),
            kind=rng.choice(kinds),
            caps=tuple(rng.sample(all_caps, 2)),
            status=rng.choice(["available", "available", "on_scene"]),
        )
        for i in range(1, 400)
    ]
    for category in ("fire", "flood", "dispute", "earthquake"):
        lat, lon = 36 + rng.random(), 103.5 + rng.random()
        ranked = rank_teams(lat, lon, category, teams, limit=7)
        expected = sorted(
            (t for t in teams if t.status == "available" and fits(category, t.capabilities)),
            key=lambda t: (eta_seconds(t.kind, haversine_m(lat, lon, t.lat, t.lon)), t.id),
        )[:7]
        assert [c.team_id for c in ranked] == [t.id for t in expected]


def test_fairness_prefers_least_recently_dispatched_on_equal_eta() -> None:
    now = datetime.now(UTC)
    teams = [team(1, 36.0, 103.8, last=now), team(2, 36.0, 103.8, last=now - timedelta(days=1))]
    assert [c.team_id for c in rank_teams(36.0, 103.8, "fire", teams)] == [2, 1]


def test_exclude_and_limit() -> None:
    teams = [team(i, 36.0 + i / 100, 103.8) for i in range(1, 6)]
    ranked = rank_teams(36.0, 103.8, "fire", teams, limit=2, exclude={1})
    assert [c.team_id for c in ranked] == [2, 3]
