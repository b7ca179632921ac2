from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dispatch.recommend import (
    CATEGORY_CAPABILITIES,
    DEFAULT_MOBILISATION_S,
    DEFAULT_SPEED_MPS,
    MOBILISATION_S,
    ROAD_DETOUR,
    SPEED_MPS,
    GreatCircleRouter,
    Router,
    RunCardError,
    RunCards,
    TeamView,
    eta_seconds,
    fits,
    haversine_m,
    load_runcards,
    parse_runcards,
    plan_dispatch,
    rank_teams,
    terrain_for_area,
)

NOW = datetime(2026, 11, 3, 22, 30, tzinfo=UTC)
CENTRE = (36.0611, 103.8343)


def team(
    i: int,
    lat: float,
    lon: float,
    *,
    kind: str = "volunteer",
    caps: tuple[str, ...] = ("rescue", "fire"),
    status: str = "available",
    last: datetime | None = None,
    position_at: datetime | None = None,
    base: tuple[float, float] | None = None,
) -> TeamView:
    return TeamView(
        i,
        f"t{i}",
        kind,
        status,
        caps,
        lat,
        lon,
        last,
        position_at,
        base[0] if base else None,
        base[1] if base else None,
    )


# --------------------------------------------------------------------------- brute force
# Written from the rules in the module docstring, sharing only the published constants.


def brute_origin(t: TeamView, now: datetime, stale_after: timedelta) -> tuple[float, float]:
    stale = t.position_at is not None and now - t.position_at > stale_after
    if stale and t.base_lat is not None and t.base_lon is not None:
        return t.base_lat, t.base_lon
    return t.lat, t.lon


def brute_eta(
    t: TeamView, lat: float, lon: float, terrain: str, now: datetime, stale_after: timedelta
) -> float:
    from_lat, from_lon = brute_origin(t, now, stale_after)
    speed = SPEED_MPS[terrain].get(t.kind, DEFAULT_SPEED_MPS[terrain])
    travel = haversine_m(from_lat, from_lon, lat, lon) * ROAD_DETOUR / speed
    return MOBILISATION_S.get(t.kind, DEFAULT_MOBILISATION_S) + travel


def brute_fair(
    etas: dict[int, float], teams: dict[int, TeamView], limit: int, margin: float
) -> list[int]:
    """Repeatedly: the window is every team within `margin` of the soonest remaining;
    take its least recently dispatched (never = longest ago), then sooner, then lower id."""
    remaining = set(etas)
    out: list[int] = []
    while remaining and len(out) < limit:
        soonest = min(etas[i] for i in remaining)
        window = [i for i in remaining if etas[i] <= soonest + margin]

        def key(i: int) -> tuple[float, float, int]:
            last = teams[i].last_dispatched_at
            return (last.timestamp() if last else -math.inf, etas[i], i)

        pick = min(window, key=key)
        out.append(pick)
        remaining.remove(pick)
    return out


def brute_rank(
    lat: float,
    lon: float,
    category: str,
    teams: list[TeamView],
    *,
    limit: int,
    terrain: str,
    margin: float,
    exclude: set[int],
    stale_after: timedelta = timedelta(minutes=15),
) -> list[int]:
    wanted = CATEGORY_CAPABILITIES[category]
    fitting = {
        t.id: t
        for t in teams
        if t.status == "available" and t.id not in exclude and wanted & set(t.capabilities)
    }
    etas = {i: brute_eta(t, lat, lon, terrain, NOW, stale_after) for i, t in fitting.items()}
    return brute_fair(etas, fitting, limit, margin)


def brute_accepts(slot_kind: str | None, all_of: set[str], any_of: set[str], t: TeamView) -> bool:
    caps = set(t.capabilities)
    return (
        (slot_kind is None or t.kind == slot_kind)
        and all_of <= caps
        and (not any_of or bool(any_of & caps))
    )


def brute_plan(
    lat: float,
    lon: float,
    category: str,
    level: str | None,
    teams: list[TeamView],
    cards: RunCards,
    *,
    terrain: str,
    margin: float,
    exclude: set[int],
) -> tuple[list[tuple[int, str]], list[tuple[str, int, int]]]:
    levels = cards.cards[category]
    card = levels.get(level or "default", levels["default"])
    taken: set[int] = set()
    chosen: list[tuple[int, str]] = []
    unfilled: list[tuple[str, int, int]] = []
    for slot in card.slots:
        fitting = {
            t.id: t
            for t in teams
            if t.status == "available"
            and t.id not in exclude
            and t.id not in taken
            and brute_accepts(slot.kind, set(slot.capabilities), set(slot.any_of), t)
        }
        etas = {
            i: brute_eta(t, lat, lon, terrain, NOW, timedelta(minutes=15))
            for i, t in fitting.items()
        }
        picked = brute_fair(etas, fitting, slot.count, margin)
        taken.update(picked)
        chosen += [(i, slot.label) for i in picked]
        if len(picked) < slot.count:
            unfilled.append((slot.label, slot.count, len(picked)))
    return chosen, unfilled


def random_teams(rng: random.Random, n: int = 1_200) -> list[TeamView]:
    """Lanzhou-like: ~1 % professional, most volunteer; duplicates and shared last-dispatch
    times so that exact and near ETA ties occur; fresh, stale and missing positions."""
    all_caps = ["fire", "water", "mountain", "collapse", "search", "rescue", "medical",
                "first_aid", "hazmat", "mediation", "relief"]  # fmt: skip
    lasts = [
        None,
        None,
        NOW - timedelta(days=3),
        NOW - timedelta(hours=5),
        NOW - timedelta(hours=1),
    ]
    spots = [(35.8 + rng.random(), 102.8 + 1.4 * rng.random()) for _ in range(40)]
    teams: list[TeamView] = []
    for i in range(1, n + 1):
        roll = rng.random()
        kind = (
            "professional_rescue"
            if roll < 0.03
            else "volunteer"
            if roll < 0.9
            else rng.choice(["mediation", "relief"])
        )
        if rng.random() < 0.25:  # a shared spot: exact ties, or near ones with a small shift
            lat, lon = rng.choice(spots)
            if rng.random() < 0.5:
                lat += rng.uniform(-0.002, 0.002)
        else:
            lat, lon = 35.8 + rng.random(), 102.8 + 1.4 * rng.random()
        position = rng.random()
        position_at = None if position < 0.4 else NOW - timedelta(seconds=rng.randrange(0, 3600))
        base = (lat + rng.uniform(-0.05, 0.05), lon + rng.uniform(-0.05, 0.05))
        teams.append(
            team(
                i,
                lat,
                lon,
                kind=kind,
                caps=tuple(rng.sample(all_caps, rng.randint(1, 4))),
                status=rng.choice(["available"] * 4 + ["on_scene", "off_duty"]),
                last=rng.choice(lasts),
                position_at=position_at,
                base=base if position < 0.9 else None,
            )
        )
    return teams


# --------------------------------------------------------------------------- ranking


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
    ranked = rank_teams(36.0611, 103.8343, "fire", teams, limit=10, now=NOW)
    ids = [c.team_id for c in ranked]
    assert 3 not in ids and 4 not in ids
    assert ids[0] == 2
    assert [c.eta_s for c in ranked] == sorted(c.eta_s for c in ranked)
    assert ranked[0].reasons[0] == "capability:fire"


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_rank_matches_brute_force_on_random_data(seed: int) -> None:
    rng = random.Random(seed)
    teams = random_teams(rng)
    checked = 0
    for category in ("fire", "flood", "landslide", "dispute", "earthquake", "other"):
        for area, terrain in (("620102", "urban"), ("620123005", "rural"), (None, "urban")):
            margin = rng.choice([0.0, 60.0, 300.0])
            limit = rng.choice([1, 5, 12, 50, 400])
            exclude = set(rng.sample(range(1, len(teams) + 1), 40))
            lat, lon = 35.8 + rng.random(), 102.8 + 1.4 * rng.random()
            ranked = rank_teams(
                lat,
                lon,
                category,
                teams,
                limit=limit,
                exclude=exclude,
                area_code=area,
                now=NOW,
                fair_margin_s=margin,
            )
            expected = brute_rank(
                lat,
                lon,
                category,
                teams,
                limit=limit,
                terrain=terrain,
                margin=margin,
                exclude=exclude,
            )
            assert [c.team_id for c in ranked] == expected
            checked += len(expected)
    assert checked > 200  # the data really exercises the ranking


def test_brute_force_data_has_ties_stale_positions_and_fairness_moves() -> None:
    teams = random_teams(random.Random(7))
    assert sum(t.position_at is not None and NOW - t.position_at > timedelta(minutes=15)
               for t in teams) > 200  # fmt: skip
    ranked = rank_teams(*CENTRE, "fire", teams, limit=200, now=NOW, fair_margin_s=300)
    assert any("fairness:least_recently_dispatched" in c.reasons for c in ranked)
    assert {c.position for c in ranked} == {"live", "stale", "base"}


def test_fairness_prefers_least_recently_dispatched_on_equal_eta() -> None:
    teams = [team(1, 36.0, 103.8, last=NOW), team(2, 36.0, 103.8, last=NOW - timedelta(days=1))]
    ranked = rank_teams(36.0, 103.8, "fire", teams, now=NOW)
    assert [c.team_id for c in ranked] == [2, 1]
    # Equal ETAs: nobody was passed over, so no fairness reason.
    assert "fairness:least_recently_dispatched" not in ranked[0].reasons


def test_fairness_margin_near_equal_and_far() -> None:
    # Team 1 is ~30 s sooner than team 2 (same kind), but was dispatched an hour ago.
    lat, lon = 36.0, 103.8
    near = team(1, 36.0, 103.8, last=NOW - timedelta(hours=1))
    later = team(2, 36.0 + 30 * 8.3 / ROAD_DETOUR / 111_195, 103.8, last=None)
    gap = rank_teams(lat, lon, "fire", [near, later], now=NOW, fair_margin_s=0)
    assert 25 < gap[1].eta_s - gap[0].eta_s < 35
    assert [c.team_id for c in gap] == [1, 2]  # margin 0: strictly soonest first

    fair = rank_teams(lat, lon, "fire", [near, later], now=NOW)  # default margin 60 s
    assert [c.team_id for c in fair] == [2, 1]
    assert "fairness:least_recently_dispatched" in fair[0].reasons

    tight = rank_teams(lat, lon, "fire", [near, later], now=NOW, fair_margin_s=20)
    assert [c.team_id for c in tight] == [1, 2]


def test_fairness_never_jumps_more_than_the_margin_past_the_soonest() -> None:
    # 1 at 0 s, 2 at +50 s, 3 at +100 s; 3 is the least recently dispatched, but it is more
    # than 60 s behind the soonest remaining team (1) until team 1 is chosen.
    step = 50 * 8.3 / ROAD_DETOUR / 111_195
    teams = [
        team(1, 36.0, 103.8, last=NOW - timedelta(hours=1)),
        team(2, 36.0 + step, 103.8, last=NOW - timedelta(hours=2)),
        team(3, 36.0 + 2 * step, 103.8, last=None),
    ]
    ranked = rank_teams(36.0, 103.8, "fire", teams, now=NOW, fair_margin_s=60)
    assert [c.team_id for c in ranked] == [2, 1, 3]


def test_exclude_and_limit() -> None:
    teams = [team(i, 36.0 + i / 100, 103.8) for i in range(1, 6)]
    ranked = rank_teams(36.0, 103.8, "fire", teams, limit=2, exclude={1}, now=NOW)
    assert [c.team_id for c in ranked] == [2, 3]
    assert rank_teams(36.0, 103.8, "fire", teams, limit=0, now=NOW) == []
    assert rank_teams(36.0, 103.8, "no_such_category", teams, now=NOW) == []


def test_reasons_and_as_dict_explain_the_estimate() -> None:
    squad = team(
        1, 36.05, 103.80, kind="professional_rescue", caps=("rescue", "mountain", "collapse")
    )
    [c] = rank_teams(*CENTRE, "landslide", [squad], area_code="620102", now=NOW)
    assert c.mobilise_s == 180
    assert abs(c.mobilise_s + c.travel_s - c.eta_s) <= 1
    assert c.reasons == [
        "capability:collapse",
        "capability:mountain",
        "mobilise_s:180",
        f"travel_s:{c.travel_s}",
        "terrain:urban",
        "position:base",
    ]
    data = c.as_dict()
    old_keys = {"team_id", "name", "kind", "status", "capabilities", "distance_m", "eta_s",
                "reasons"}  # fmt: skip
    assert old_keys <= set(data)
    assert data["position"] == "base" and data["position_age_s"] is None
    assert data["slot"] is None and data["last_dispatched_at"] is None
    # distance_m is the length of the way (the arc × the detour), what the router reports.
    arc = haversine_m(36.05, 103.80, *CENTRE)
    assert c.distance_m == round(arc * ROAD_DETOUR)
    assert c.eta_s == round(eta_seconds("professional_rescue", arc))


# --------------------------------------------------------------------------- the router


def test_terrain_by_area_code_prefix() -> None:
    for code in ("620102", "620103", "620104", "620105", "620102003001002"):
        assert terrain_for_area(code) == "urban"
    for code in ("620111", "620121", "620122", "620123", "620123004"):
        assert terrain_for_area(code) == "rural"
    assert terrain_for_area(None) == terrain_for_area("620100") == "urban"


def test_rural_terrain_is_slower_for_every_kind() -> None:
    urban, rural = GreatCircleRouter(), GreatCircleRouter().for_area("620121")
    assert rural.terrain == "rural"
    for kind in ("professional_rescue", "volunteer", "mediation", "relief", "unknown_kind"):
        u = urban.travel_seconds(36.0, 103.8, 36.1, 103.9, kind)
        r = rural.travel_seconds(36.0, 103.8, 36.1, 103.9, kind)
        assert r > u > 0
    # The distance does not depend on the terrain; the time is distance ÷ speed.
    assert urban.distance_m(36.0, 103.8, 36.1, 103.9) == rural.distance_m(36.0, 103.8, 36.1, 103.9)
    assert urban.travel_seconds(36.0, 103.8, 36.1, 103.9, "volunteer") == pytest.approx(
        urban.distance_m(36.0, 103.8, 36.1, 103.9) / 8.3
    )


def test_area_code_slows_the_default_router_and_says_so() -> None:
    teams = [team(1, 36.0, 103.8)]
    [urban] = rank_teams(36.1, 103.8, "fire", teams, area_code="620102", now=NOW)
    [rural] = rank_teams(36.1, 103.8, "fire", teams, area_code="620123", now=NOW)
    assert rural.eta_s > urban.eta_s and rural.distance_m == urban.distance_m
    assert "terrain:rural" in rural.reasons and "terrain:urban" in urban.reasons


def test_the_fast_path_is_the_same_arithmetic_to_the_last_bit() -> None:
    rng = random.Random(3)
    for area in ("620102", "620122"):
        router = GreatCircleRouter().for_area(area)
        to_lat, to_lon = 35.8 + rng.random(), 102.8 + 1.4 * rng.random()
        travel = router.travel_seconds_to(to_lat, to_lon)
        for _ in range(500):
            lat, lon = 35.8 + rng.random(), 102.8 + 1.4 * rng.random()
            kind = rng.choice(["professional_rescue", "volunteer", "relief", "other"])
            assert travel(lat, lon, kind) == router.travel_seconds(lat, lon, to_lat, to_lon, kind)


def test_router_validation() -> None:
    with pytest.raises(ValueError, match="terrain"):
        GreatCircleRouter(terrain="swamp")
    with pytest.raises(ValueError, match="detour"):
        GreatCircleRouter(detour=0.5)


@dataclass(frozen=True)
class FixedRouter:
    """A stand-in road router: everything is 5 km and 10 minutes away, except team 2's spot."""

    def distance_m(self, from_lat: float, from_lon: float, to_lat: float, to_lon: float) -> float:
        return 5_000.0

    def travel_seconds(
        self, from_lat: float, from_lon: float, to_lat: float, to_lon: float, kind: str
    ) -> float:
        return 60.0 if from_lat == 40.0 else 600.0


def test_a_custom_router_replaces_the_travel_model() -> None:
    router: Router = FixedRouter()
    teams = [team(1, 36.0, 103.8), team(2, 40.0, 110.0)]  # team 2 is "far" but the road is fast
    ranked = rank_teams(*CENTRE, "fire", teams, router=router, now=NOW)
    assert [c.team_id for c in ranked] == [2, 1]
    assert [c.eta_s for c in ranked] == [300 + 60, 300 + 600]
    assert all(c.distance_m == 5_000 for c in ranked)
    assert not any(r.startswith("terrain:") for r in ranked[0].reasons)


# --------------------------------------------------------------------------- positions


def test_live_position_is_used_while_fresh() -> None:
    t = team(1, 36.06, 103.83, position_at=NOW - timedelta(minutes=3), base=(36.5, 104.0))
    [c] = rank_teams(*CENTRE, "fire", [t], now=NOW)
    assert c.position == "live" and c.position_age_s == 180
    assert c.distance_m == round(haversine_m(36.06, 103.83, *CENTRE) * ROAD_DETOUR)


def test_stale_position_falls_back_to_the_base() -> None:
    t = team(1, 36.06, 103.83, position_at=NOW - timedelta(minutes=16), base=(36.5, 104.0))
    [c] = rank_teams(*CENTRE, "fire", [t], now=NOW)
    assert c.position == "stale" and c.position_age_s == 960
    assert "position:stale" in c.reasons
    assert c.distance_m == round(haversine_m(36.5, 104.0, *CENTRE) * ROAD_DETOUR)
    # A stale team at its base loses to a fresh one further out, as it should.
    fresh = team(2, 36.2, 103.9, position_at=NOW - timedelta(minutes=1))
    assert [x.team_id for x in rank_teams(*CENTRE, "fire", [t, fresh], now=NOW)] == [2, 1]


def test_stale_after_is_a_parameter_and_inclusive() -> None:
    t = team(1, 36.06, 103.83, position_at=NOW - timedelta(minutes=15), base=(36.5, 104.0))
    assert rank_teams(*CENTRE, "fire", [t], now=NOW)[0].position == "live"
    [c] = rank_teams(*CENTRE, "fire", [t], now=NOW, stale_after=timedelta(minutes=5))
    assert c.position == "stale"


def test_no_position_means_base_and_stale_without_base_keeps_the_last_position() -> None:
    at_base = team(1, 36.06, 103.83)
    [c] = rank_teams(*CENTRE, "fire", [at_base], now=NOW)
    assert c.position == "base" and c.position_age_s is None
    old = team(2, 36.06, 103.83, position_at=NOW - timedelta(hours=2))
    [c] = rank_teams(*CENTRE, "fire", [old], now=NOW)
    assert c.position == "stale"
    assert c.distance_m == round(haversine_m(36.06, 103.83, *CENTRE) * ROAD_DETOUR)


def test_naive_times_are_utc_and_future_positions_are_age_zero() -> None:
    naive = team(1, 36.06, 103.83, position_at=(NOW - timedelta(minutes=2)).replace(tzinfo=None))
    [c] = rank_teams(*CENTRE, "fire", [naive], now=NOW)
    assert c.position == "live" and c.position_age_s == 120
    ahead = team(2, 36.06, 103.83, position_at=NOW + timedelta(seconds=30))
    [c] = rank_teams(*CENTRE, "fire", [ahead], now=NOW.replace(tzinfo=None))
    assert c.position == "live" and c.position_age_s == 0


# --------------------------------------------------------------------------- run cards


def lanzhou_teams() -> list[TeamView]:
    return [
        team(1, 36.06, 103.84, kind="professional_rescue", caps=("rescue", "collapse")),
        team(2, 36.30, 103.90, kind="professional_rescue", caps=("rescue", "mountain")),
        team(3, 36.50, 104.00, kind="professional_rescue", caps=("mountain", "fire")),
        team(10, 36.07, 103.83),
        team(11, 36.08, 103.83),
        team(12, 36.065, 103.835),
        team(13, 36.062, 103.834, status="on_scene"),
        team(20, 36.06, 103.83, kind="mediation", caps=("mediation",)),
        team(30, 36.06, 103.83, kind="relief", caps=("relief",)),
    ]


def test_red_landslide_takes_a_mountain_squad_and_the_two_nearest_volunteers() -> None:
    plan = plan_dispatch(*CENTRE, "landslide", "red", lanzhou_teams(), now=NOW)
    assert plan.card == "landslide/red" and plan.complete
    assert [(c.team_id, c.slot) for c in plan.chosen] == [
        (2, "professional_rescue/mountain"),
        (12, "volunteer"),
        (10, "volunteer"),
    ]
    assert "slot:professional_rescue/mountain" in plan.chosen[0].reasons
    assert "capability:mountain" in plan.chosen[0].reasons
    as_dict = plan.as_dict()
    assert as_dict["complete"] is True and as_dict["unfilled"] == []


def test_a_slot_nobody_fits_is_reported_unfilled() -> None:
    teams = [t for t in lanzhou_teams() if t.id not in (2, 3, 11, 12)]
    plan = plan_dispatch(*CENTRE, "landslide", "red", teams, now=NOW)
    assert not plan.complete
    assert [c.team_id for c in plan.chosen] == [10]
    assert [u.as_dict() for u in plan.unfilled] == [
        {"slot": "professional_rescue/mountain", "wanted": 1, "filled": 0},
        {"slot": "volunteer", "wanted": 2, "filled": 1},
    ]


def test_exclude_and_busy_teams_are_skipped() -> None:
    plan = plan_dispatch(*CENTRE, "landslide", "red", lanzhou_teams(), now=NOW, exclude={2, 12})
    assert [c.team_id for c in plan.chosen] == [3, 10, 11]


def test_other_cards_and_the_default_card() -> None:
    teams = lanzhou_teams()
    fire = plan_dispatch(*CENTRE, "fire", "red", teams, now=NOW)
    assert [(c.team_id, c.slot) for c in fire.chosen] == [
        (3, "professional_rescue/fire"),
        (12, "volunteer"),
    ]
    dispute = plan_dispatch(*CENTRE, "dispute", "yellow", teams, now=NOW)
    assert dispute.card == "dispute/default"
    assert [c.team_id for c in dispute.chosen] == [20]
    hardship = plan_dispatch(*CENTRE, "veteran_hardship", None, teams, now=NOW)
    assert hardship.card == "veteran_hardship/default"
    assert [(c.team_id, c.slot) for c in hardship.chosen] == [(30, "relief/relief")]
    landslide = plan_dispatch(*CENTRE, "landslide", "blue", teams, now=NOW)
    assert landslide.card == "landslide/default"
    assert [c.team_id for c in landslide.chosen] == [1]  # any mountain or collapse team
    with pytest.raises(ValueError, match="risk level"):
        plan_dispatch(*CENTRE, "fire", "purple", teams, now=NOW)
    with pytest.raises(ValueError, match="category"):
        plan_dispatch(*CENTRE, "no_such_category", None, teams, now=NOW)


def test_a_team_fills_one_slot_only() -> None:
    cards = parse_runcards(
        minimal_cards(
            """
            [[cards.fire.red]]
            kind = "professional_rescue"
            capabilities = ["fire"]
            [[cards.fire.red]]
            any_of = ["fire", "mountain"]
            count = 2
            """
        )
    )
    plan = plan_dispatch(*CENTRE, "fire", "red", lanzhou_teams(), now=NOW, runcards=cards)
    ids = [c.team_id for c in plan.chosen]
    assert ids[0] == 3 and len(set(ids)) == 3
    assert [c.slot for c in plan.chosen] == ["professional_rescue/fire", "any/fire|mountain",
                                              "any/fire|mountain"]  # fmt: skip


@pytest.mark.parametrize("seed", [11, 12])
def test_plan_matches_brute_force_on_random_data(seed: int) -> None:
    rng = random.Random(seed)
    # No hazmat squad: the hazmat cards' first slot can never be filled.
    teams = [
        t
        for t in random_teams(rng)
        if not (t.kind == "professional_rescue" and "hazmat" in t.capabilities)
    ]
    cards = load_runcards()
    unfilled_seen = 0
    for category in ("landslide", "fire", "flood", "earthquake", "dispute", "family_misfortune",
                     "missing_person", "hazmat"):  # fmt: skip
        for level in ("red", "orange", "yellow", None):
            area, terrain = rng.choice([("620102", "urban"), ("620122", "rural")])
            margin = rng.choice([0.0, 60.0, 600.0])
            exclude = set(rng.sample(range(1, len(teams) + 1), 100))
            lat, lon = 35.8 + rng.random(), 102.8 + 1.4 * rng.random()
            plan = plan_dispatch(
                lat,
                lon,
                category,
                level,
                teams,
                area_code=area,
                now=NOW,
                exclude=exclude,
                fair_margin_s=margin,
            )
            chosen, unfilled = brute_plan(
                lat, lon, category, level, teams, cards,
                terrain=terrain, margin=margin, exclude=exclude,
            )  # fmt: skip
            assert [(c.team_id, c.slot) for c in plan.chosen] == chosen
            assert [(u.slot, u.wanted, u.filled) for u in plan.unfilled] == unfilled
            unfilled_seen += len(unfilled)
    assert unfilled_seen >= 4  # the unfilled path is exercised too


# --------------------------------------------------------------------------- run card files


def minimal_cards(extra: str = "") -> str:
    """A valid file: every category has a one-slot default card, plus `extra`."""
    lines = ['name = "test"', 'version = "1"']
    for category, caps in CATEGORY_CAPABILITIES.items():
        lines += [f"[[cards.{category}.default]]", f"any_of = {sorted(caps)!r}".replace("'", '"')]
    return "\n".join(lines) + "\n" + "\n".join(line.strip() for line in extra.splitlines())


def test_packaged_run_cards_cover_every_category() -> None:
    cards = load_runcards()
    assert set(cards.cards) == set(CATEGORY_CAPABILITIES)
    assert all("default" in levels for levels in cards.cards.values())
    red = cards.card_for("landslide", "red")
    assert [(s.label, s.count) for s in red.slots] == [
        ("professional_rescue/mountain", 1),
        ("volunteer", 2),
    ]
    assert cards.card_for("fire", "red").slots[0].label == "professional_rescue/fire"
    assert cards.card_for("dispute", None).slots[0].kind == "mediation"
    assert cards.card_for("veteran_hardship", "red").slots[0].kind == "relief"
    assert load_runcards() is cards  # parsed once while the file is unchanged


def test_minimal_file_is_valid() -> None:
    cards = parse_runcards(minimal_cards())
    assert cards.name == "test" and len(cards.cards) == len(CATEGORY_CAPABILITIES)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("[[cards.fire.purple]]\nkind = 'volunteer'", "cards.fire.purple: unknown level"),
        ("[[cards.arson.default]]\nkind = 'volunteer'", "cards.arson: unknown category"),
        ("[[cards.fire.red]]\nkind = 'volunter'", "cards.fire.red[0].kind: unknown team kind"),
        ("[[cards.fire.red]]\ncapabilities = ['fire', 'laser']",
         "cards.fire.red[0].capabilities: unknown capabilities ['laser']"),
        ("[[cards.fire.red]]\nany_of = 'fire'", "cards.fire.red[0].any_of: must be an array"),
        ("[[cards.fire.red]]\nkind = 'volunteer'\ncount = 0", "cards.fire.red[0].count"),
        ("[[cards.fire.red]]\nkind = 'volunteer'\ncount = '2'", "cards.fire.red[0].count"),
        ("[[cards.fire.red]]\nkind = 'volunteer'\ncount = true", "cards.fire.red[0].count"),
        ("[[cards.fire.red]]\nkind = 'volunteer'\nteams = 2",
         "cards.fire.red[0].teams: unknown key"),
        ("[[cards.fire.red]]\ncount = 2", "cards.fire.red[0]: a slot needs a kind"),
        ("[cards.fire]\nred = []", "cards.fire.red: must be a non-empty array"),
        ("owner = 'me'", "owner: unknown key"),
    ],
)  # fmt: skip
def test_bad_run_card_files_name_the_key_and_the_fault(extra: str, message: str) -> None:
    text = minimal_cards()
    if extra.startswith("[cards.fire]"):  # redefine the fire table rather than extend it
        text = text.replace('[[cards.fire.default]]\nany_of = ["fire"]\n', "")
        extra = extra + "\n[[cards.fire.default]]\nkind = 'volunteer'"
    if extra.startswith("owner"):
        text = extra + "\n" + text
        extra = ""
    with pytest.raises(RunCardError) as caught:
        parse_runcards(text + "\n" + extra, source="cards.toml")
    assert str(caught.value).startswith("cards.toml: ")
    assert any(p.startswith(message) for p in caught.value.problems), caught.value.problems


def test_every_problem_is_listed_at_once() -> None:
    text = """
        version = 3
        [[cards.fire.red]]
        kind = "boat"
        count = 99
        [[cards.dispute.default]]
        kind = "mediation"
    """
    with pytest.raises(RunCardError) as caught:
        parse_runcards("\n".join(line.strip() for line in text.splitlines()))
    problems = caught.value.problems
    for expected in (
        "name: must be a non-empty string",
        "version: must be a non-empty string",
        "cards.flood: missing",
        "cards.fire.default: missing",
        "cards.fire.red[0].kind: unknown team kind 'boat'",
        "cards.fire.red[0].count: must be a whole number from 1 to 20",
    ):
        assert any(p.startswith(expected) for p in problems), (expected, problems)
    assert not any(p.startswith("cards.dispute") for p in problems)


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RunCardError, match="not valid TOML"):
        parse_runcards("cards = [", source="x.toml")
    with pytest.raises(RunCardError, match="cannot read the file"):
        load_runcards(tmp_path / "nope.toml")


def test_an_edited_file_is_picked_up(tmp_path: Path) -> None:
    path = tmp_path / "cards.toml"
    path.write_text(minimal_cards(), encoding="utf-8")
    assert load_runcards(path).card_for("fire", "red").level == "default"
    path.write_text(minimal_cards("[[cards.fire.red]]\nkind = 'volunteer'"), encoding="utf-8")
    stat = path.stat()
    import os

    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert load_runcards(path).card_for("fire", "red").level == "red"
    plan = plan_dispatch(*CENTRE, "fire", "red", lanzhou_teams(), now=NOW,
                         runcards=load_runcards(path))  # fmt: skip
    assert [c.slot for c in plan.chosen] == ["volunteer"]


def test_fits_still_answers_the_category_question() -> None:
    assert fits("landslide", ["rescue", "mountain"]) == {"mountain"}
    assert not fits("landslide", ["rescue", "fire"])


def test_docstring_examples_run() -> None:
    import doctest

    import dispatch.recommend

    result = doctest.testmod(dispatch.recommend)
    assert result.attempted >= 5 and result.failed == 0
