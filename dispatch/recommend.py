"""Team recommendation: which available, capable team gets there first. Pure.

Plain data in, plain data out: no Flask, no SQLAlchemy. The services build `TeamView`s from
the database and turn the answers into JSON with `Candidate.as_dict()` / `RunCardPlan.as_dict()`.

The estimate
    ETA = mobilisation time of the team's kind (`MOBILISATION_S`)
        + travel time from the team's position to the incident (a `Router`).
    The default router, `GreatCircleRouter`, takes the great-circle distance × a road-detour
    factor (1.4) ÷ a speed per team kind and terrain. The terrain is that of the destination,
    read from its area code (`terrain_for_area`): the four city districts are ``urban``, the
    outer district and the three counties (rural, often mountain roads) are ``rural`` and slower.
    A road-network router replaces it by implementing the two methods of `Router`.

The position
    A team's live position is used while it is younger than `stale_after` (default 15 min);
    an older one falls back to the team's base, and the candidate says which one was used
    (``position``: ``"live"`` | ``"stale"`` | ``"base"``, ``position_age_s``).

Fairness
    Among near-equal ETAs the team dispatched least recently goes first. Precisely: take the
    soonest remaining team; every remaining team whose ETA is at most `fair_margin_s` (default
    60 s) later is in the window; pick the one in the window dispatched least recently (never
    dispatched counts as longest ago; then the sooner ETA, then the lower id); repeat. So a team
    is never recommended ahead of one that would arrive more than `fair_margin_s` sooner.

Run cards
    `runcards.toml` beside this module says, per category and risk level, which teams an
    incident needs (slots: a kind, required capabilities, how many). `plan_dispatch` fills
    each slot, in file order, with the soonest fitting teams not already chosen and reports
    the slots it could not fill.

Reasons
    Each candidate's ``reasons`` are plain strings ``"key:value"`` that the operator page
    shows: ``capability:<cap>`` for each matching capability, ``slot:<label>`` (run cards
    only), ``mobilise_s:<int>``, ``travel_s:<int>``, ``terrain:<terrain>``,
    ``position:<live|stale|base>`` and, when fairness put it ahead of a sooner team,
    ``fairness:least_recently_dispatched``.
"""

from __future__ import annotations

import heapq
import math
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Protocol

from .datafile import DataFileError, load_cached

__all__ = [
    "CATEGORY_CAPABILITIES",
    "Candidate",
    "GreatCircleRouter",
    "RunCard",
    "RunCardError",
    "RunCardPlan",
    "RunCards",
    "Router",
    "Slot",
    "TeamView",
    "UnfilledSlot",
    "eta_seconds",
    "fits",
    "haversine_m",
    "load_runcards",
    "parse_runcards",
    "plan_dispatch",
    "rank_teams",
    "terrain_for_area",
]

# Which capabilities can answer which category: a team fits when it has any of them.
CATEGORY_CAPABILITIES: dict[str, frozenset[str]] = {
    "fire": frozenset({"fire"}),
    "flood": frozenset({"water"}),
    "landslide": frozenset({"mountain", "collapse"}),
    "earthquake": frozenset({"collapse", "search"}),
    "traffic_accident": frozenset({"rescue", "medical"}),
    "building_collapse": frozenset({"collapse"}),
    "missing_person": frozenset({"search"}),
    "medical": frozenset({"medical", "first_aid"}),
    "hazmat": frozenset({"hazmat"}),
    "other_emergency": frozenset({"rescue"}),
    "dispute": frozenset({"mediation"}),
    "petition": frozenset({"mediation"}),
    "public_opinion": frozenset({"mediation"}),
    "veteran_hardship": frozenset({"relief"}),
    "safety_hazard": frozenset({"rescue"}),
    "family_misfortune": frozenset({"relief", "mediation"}),
    "other": frozenset({"rescue", "mediation", "relief"}),
}
CAPABILITIES: frozenset[str] = frozenset().union(*CATEGORY_CAPABILITIES.values())
TEAM_KINDS: tuple[str, ...] = ("professional_rescue", "volunteer", "mediation", "relief")
RISK_LEVELS: tuple[str, ...] = ("red", "orange", "yellow", "blue")

# Seconds from the call to wheels rolling, per team kind (unknown kinds: DEFAULT_MOBILISATION_S).
MOBILISATION_S: dict[str, float] = {
    "professional_rescue": 180,
    "volunteer": 300,
    "mediation": 900,
    "relief": 1800,
}
DEFAULT_MOBILISATION_S = 600.0

# Road speed in m/s per terrain and team kind (unknown kinds: DEFAULT_SPEED_MPS[terrain]).
# Urban: 40 km/h for squads with lights, 30 km/h for everyone else in city traffic.
# Rural: the outer district and the counties, where the way in is a winding county or
# mountain road: 30 and 25 km/h.
SPEED_MPS: Mapping[str, Mapping[str, float]] = MappingProxyType(
    {
        "urban": MappingProxyType(
            {"professional_rescue": 11.1, "volunteer": 8.3, "mediation": 8.3, "relief": 8.3}
        ),
        "rural": MappingProxyType(
            {"professional_rescue": 8.3, "volunteer": 6.9, "mediation": 6.9, "relief": 6.9}
        ),
    }
)
DEFAULT_SPEED_MPS: Mapping[str, float] = MappingProxyType({"urban": 8.3, "rural": 6.9})
ROAD_DETOUR = 1.4
EARTH_RADIUS_M = 6_371_008.8

# GB/T 2260 county-level codes → terrain. Unknown codes (and the city, 620100) are urban:
# the speeds the estimate used before terrain existed.
URBAN_COUNTIES = frozenset({"620102", "620103", "620104", "620105"})
RURAL_COUNTIES = frozenset({"620111", "620121", "620122", "620123"})
DEFAULT_TERRAIN = "urban"

STALE_AFTER = timedelta(minutes=15)
FAIR_MARGIN_S = 60.0


# --------------------------------------------------------------------------- the travel model


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres.

    >>> round(haversine_m(36.0611, 103.8343, 36.0611, 103.8343))
    0
    """
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def terrain_for_area(area_code: str | None) -> str:
    """The terrain of a destination from its area code (any level: the county prefix counts).

    >>> terrain_for_area("620102003001"), terrain_for_area("620123"), terrain_for_area(None)
    ('urban', 'rural', 'urban')
    """
    county = (area_code or "")[:6]
    return "rural" if county in RURAL_COUNTIES else DEFAULT_TERRAIN


class Router(Protocol):
    """How far and how long from a team's position to an incident; swap in a road router."""

    def distance_m(self, from_lat: float, from_lon: float, to_lat: float, to_lon: float) -> float:
        """The length of the way travelled, metres."""
        ...

    def travel_seconds(
        self, from_lat: float, from_lon: float, to_lat: float, to_lon: float, kind: str
    ) -> float:
        """Seconds on the way for a team of this kind (mobilisation not included)."""
        ...


@dataclass(frozen=True)
class GreatCircleRouter:
    """Great-circle distance × `detour` ÷ the speed of the kind on the destination's terrain.

    >>> router = GreatCircleRouter()
    >>> round(router.travel_seconds(36.0, 103.8, 36.01, 103.8, "volunteer"))
    188
    >>> round(router.for_area("620123").travel_seconds(36.0, 103.8, 36.01, 103.8, "volunteer"))
    226
    """

    detour: float = ROAD_DETOUR
    terrain: str = DEFAULT_TERRAIN
    speeds: Mapping[str, Mapping[str, float]] = field(default_factory=lambda: SPEED_MPS)
    default_speeds: Mapping[str, float] = field(default_factory=lambda: DEFAULT_SPEED_MPS)

    def __post_init__(self) -> None:
        if self.terrain not in self.speeds:
            raise ValueError(f"unknown terrain {self.terrain!r}: one of {sorted(self.speeds)}")
        if self.detour < 1:
            raise ValueError("detour must be at least 1 (a road is never shorter than the arc)")

    def for_area(self, area_code: str | None) -> GreatCircleRouter:
        """The same router for a destination in this area (its terrain)."""
        return replace(self, terrain=terrain_for_area(area_code))

    def speed_mps(self, kind: str) -> float:
        return self.speeds[self.terrain].get(kind, self.default_speeds.get(self.terrain, 8.3))

    def distance_m(self, from_lat: float, from_lon: float, to_lat: float, to_lon: float) -> float:
        return haversine_m(from_lat, from_lon, to_lat, to_lon) * self.detour

    def travel_seconds(
        self, from_lat: float, from_lon: float, to_lat: float, to_lon: float, kind: str
    ) -> float:
        return haversine_m(from_lat, from_lon, to_lat, to_lon) * self.detour / self.speed_mps(kind)

    def travel_seconds_to(
        self, to_lat: float, to_lon: float
    ) -> Callable[[float, float, str], float]:
        """`travel_seconds` to one destination, as a function of (from_lat, from_lon, kind).

        The same arithmetic as `travel_seconds` (to the last bit), with the destination's
        trigonometry and the speed lookups done once: ranking calls it for every team.
        Optional for other routers; the ranking falls back to `travel_seconds`.
        """
        p2 = math.radians(to_lat)
        cos_p2 = math.cos(p2)
        detour, sin, cos, asin, sqrt, radians = (
            self.detour, math.sin, math.cos, math.asin, math.sqrt, math.radians
        )  # fmt: skip
        diameter = 2 * EARTH_RADIUS_M
        speeds = dict(self.speeds[self.terrain])
        default = self.default_speeds.get(self.terrain, 8.3)

        def travel(from_lat: float, from_lon: float, kind: str) -> float:
            p1 = radians(from_lat)
            dp, dl = p2 - p1, radians(to_lon - from_lon)
            a = sin(dp / 2) ** 2 + cos(p1) * cos_p2 * sin(dl / 2) ** 2
            speed = speeds.get(kind, default)
            return diameter * asin(min(1.0, sqrt(a))) * detour / speed

        return travel


def mobilisation_seconds(kind: str) -> float:
    return float(MOBILISATION_S.get(kind, DEFAULT_MOBILISATION_S))


def eta_seconds(kind: str, distance_m: float, terrain: str = DEFAULT_TERRAIN) -> float:
    """Mobilisation + great-circle `distance_m` on the road at the kind's speed on `terrain`."""
    speed = SPEED_MPS[terrain].get(kind, DEFAULT_SPEED_MPS[terrain])
    return mobilisation_seconds(kind) + distance_m * ROAD_DETOUR / speed


def fits(category: str, capabilities: Iterable[str]) -> frozenset[str]:
    """The capabilities of a team that answer a category (empty: it does not fit)."""
    return CATEGORY_CAPABILITIES.get(category, frozenset()) & frozenset(capabilities)


# --------------------------------------------------------------------------- teams and answers


@dataclass(frozen=True)
class TeamView:
    """A team as the ranking sees it.

    `lat`/`lon` is the last known position (the base when none is known); `position_at` is
    when it was reported (None: no live position, `lat`/`lon` is the base). `base_lat` and
    `base_lon` are where a stale position falls back to (None: keep `lat`/`lon`).
    """

    id: int
    name: str
    kind: str
    status: str
    capabilities: tuple[str, ...]
    lat: float
    lon: float
    last_dispatched_at: datetime | None = None
    position_at: datetime | None = None
    base_lat: float | None = None
    base_lon: float | None = None


@dataclass(frozen=True)
class Candidate:
    team_id: int
    name: str
    kind: str
    status: str
    capabilities: list[str]
    distance_m: int
    eta_s: int
    reasons: list[str] = field(default_factory=list)
    mobilise_s: int = 0
    travel_s: int = 0
    position: str = "base"
    position_age_s: int | None = None
    slot: str | None = None
    last_dispatched_at: datetime | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "team_id": self.team_id,
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "capabilities": self.capabilities,
            "distance_m": self.distance_m,
            "eta_s": self.eta_s,
            "reasons": self.reasons,
            "mobilise_s": self.mobilise_s,
            "travel_s": self.travel_s,
            "position": self.position,
            "position_age_s": self.position_age_s,
            "slot": self.slot,
            "last_dispatched_at": (
                self.last_dispatched_at.isoformat() if self.last_dispatched_at else None
            ),
        }


def _aware(moment: datetime) -> datetime:
    """Naive datetimes are UTC (how the database stores them)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# One team's estimate, before it becomes a Candidate: a plain tuple (the ranking makes one
# per team, and a NamedTuple costs five times as much), ordered by (eta, team id, input order):
# (eta, team id, seq, travel, lat, lon, position, team), lat/lon being where the estimate
# starts (the live position or the base) and position "live" | "stale" | "base".
_Estimate = tuple[float, int, int, float, float, float, str, TeamView]
ETA: Final = 0
TEAM: Final = 7


def _last_dispatch(team: TeamView) -> float:
    """The fairness key: the last dispatch as a timestamp; never dispatched is longest ago."""
    last = team.last_dispatched_at
    return _aware(last).timestamp() if last is not None else -math.inf


class _Estimator:
    """Estimates for one incident: where each team starts from and when it gets there."""

    def __init__(
        self,
        lat: float,
        lon: float,
        router: Router,
        now: datetime,
        stale_after: timedelta,
    ) -> None:
        self.lat, self.lon, self.router = lat, lon, router
        self.now = _aware(now)
        self.cutoff = self.now - stale_after  # a position older than this is stale
        fast = getattr(router, "travel_seconds_to", None)
        self.travel: Callable[[float, float, str], float] = (
            fast(lat, lon)
            if callable(fast)
            else lambda from_lat, from_lon, kind: router.travel_seconds(
                from_lat, from_lon, lat, lon, kind
            )
        )

    def estimates(self, teams: Iterable[tuple[int, TeamView]]) -> list[_Estimate]:
        """An estimate for each (seq, team): one loop with everything bound locally."""
        travel, cutoff, mobilisation = self.travel, self.cutoff, MOBILISATION_S
        out: list[_Estimate] = []
        for seq, team in teams:
            lat, lon, at = team.lat, team.lon, team.position_at
            if at is None:
                position = "base"
            else:
                if at.tzinfo is None:
                    at = at.replace(tzinfo=UTC)
                if at >= cutoff:
                    position = "live"
                else:
                    position = "stale"
                    if team.base_lat is not None and team.base_lon is not None:
                        lat, lon = team.base_lat, team.base_lon
            kind = team.kind
            seconds = travel(lat, lon, kind)
            eta = mobilisation.get(kind, DEFAULT_MOBILISATION_S) + seconds
            out.append((eta, team.id, seq, seconds, lat, lon, position, team))
        return out

    def candidate(
        self,
        estimate: _Estimate,
        matched: Iterable[str],
        *,
        slot: str | None = None,
        fairness: bool = False,
    ) -> Candidate:
        eta, _, _, travel, lat, lon, position, team = estimate
        mobilise = mobilisation_seconds(team.kind)
        distance = self.router.distance_m(lat, lon, self.lat, self.lon)
        age = None
        if team.position_at is not None:
            age = max(0.0, (self.now - _aware(team.position_at)).total_seconds())
        reasons = [f"capability:{c}" for c in sorted(matched)]
        if slot is not None:
            reasons.append(f"slot:{slot}")
        reasons += [f"mobilise_s:{round(mobilise)}", f"travel_s:{round(travel)}"]
        terrain = getattr(self.router, "terrain", None)
        if isinstance(terrain, str):
            reasons.append(f"terrain:{terrain}")
        reasons.append(f"position:{position}")
        if fairness:
            reasons.append("fairness:least_recently_dispatched")
        return Candidate(
            team_id=team.id,
            name=team.name,
            kind=team.kind,
            status=team.status,
            capabilities=list(team.capabilities),
            distance_m=round(distance),
            eta_s=round(eta),
            reasons=reasons,
            mobilise_s=round(mobilise),
            travel_s=round(travel),
            position=position,
            position_age_s=round(age) if age is not None else None,
            slot=slot,
            last_dispatched_at=team.last_dispatched_at,
        )


def _fair_order(
    estimates: list[_Estimate], limit: int, margin_s: float
) -> list[tuple[_Estimate, bool]]:
    """Up to `limit` estimates in the fairness order of the module docstring.

    Each comes with whether fairness moved it ahead of a sooner team.
    """
    heap = list(estimates)
    heapq.heapify(heap)
    window: list[tuple[float, _Estimate]] = []  # (last dispatch, estimate), in heap order
    chosen: list[tuple[_Estimate, bool]] = []
    while len(chosen) < limit and (heap or window):
        if not window:
            e = heapq.heappop(heap)
            window.append((_last_dispatch(e[TEAM]), e))
        bound = window[0][1][ETA] + margin_s
        while heap and heap[0][ETA] <= bound:
            e = heapq.heappop(heap)
            window.append((_last_dispatch(e[TEAM]), e))
        best = min(range(len(window)), key=lambda i: (window[i][0], i))
        picked = window.pop(best)[1]
        chosen.append((picked, best > 0 and picked[ETA] > window[0][1][ETA]))
    return chosen


def _default_router(router: Router | None, area_code: str | None) -> Router:
    return router if router is not None else GreatCircleRouter().for_area(area_code)


def rank_teams(
    lat: float,
    lon: float,
    category: str,
    teams: Sequence[TeamView],
    *,
    limit: int = 5,
    exclude: Iterable[int] = (),
    router: Router | None = None,
    area_code: str | None = None,
    now: datetime | None = None,
    stale_after: timedelta = STALE_AFTER,
    fair_margin_s: float = FAIR_MARGIN_S,
) -> list[Candidate]:
    """Available teams that fit the category, soonest estimated arrival first (with fairness).

    `area_code` is the incident's area: it picks the terrain of the default router (a given
    `router` is used as it is). `now` (default: the current time) dates the positions.
    """
    estimator = _Estimator(
        lat, lon, _default_router(router, area_code), now or datetime.now(UTC), stale_after
    )
    skip = set(exclude)
    wanted = CATEGORY_CAPABILITIES.get(category, frozenset())
    estimates = estimator.estimates(
        (seq, team)
        for seq, team in enumerate(teams)
        if team.status == "available"
        and team.id not in skip
        and not wanted.isdisjoint(team.capabilities)
    )
    return [
        estimator.candidate(e, wanted.intersection(e[TEAM].capabilities), fairness=moved)
        for e, moved in _fair_order(estimates, max(0, limit), fair_margin_s)
    ]


# --------------------------------------------------------------------------- run cards


class RunCardError(DataFileError):
    """A run card file that cannot be used; the message names the file, each key and the fault."""


@dataclass(frozen=True)
class Slot:
    """`count` teams of `kind` (None: any kind) having all `capabilities` and one of `any_of`."""

    kind: str | None = None
    capabilities: frozenset[str] = frozenset()
    any_of: frozenset[str] = frozenset()
    count: int = 1

    @property
    def label(self) -> str:
        """``kind/cap+cap/alt|alt``, e.g. ``professional_rescue/mountain``."""
        parts = [self.kind or "any"]
        if self.capabilities:
            parts.append("+".join(sorted(self.capabilities)))
        if self.any_of:
            parts.append("|".join(sorted(self.any_of)))
        return "/".join(parts)

    def accepts(self, team: TeamView, capabilities: frozenset[str] | None = None) -> bool:
        """Whether the team may fill this slot (`capabilities`: the team's, if already a set)."""
        if self.kind is not None and team.kind != self.kind:
            return False
        caps = frozenset(team.capabilities) if capabilities is None else capabilities
        return self.capabilities <= caps and (not self.any_of or not self.any_of.isdisjoint(caps))


@dataclass(frozen=True)
class RunCard:
    category: str
    level: str  # a risk level, or "default"
    slots: tuple[Slot, ...]

    @property
    def name(self) -> str:
        return f"{self.category}/{self.level}"


@dataclass(frozen=True)
class RunCards:
    name: str
    version: str
    cards: Mapping[str, Mapping[str, RunCard]]  # category → level ("default" too) → card

    def card_for(self, category: str, risk_level: str | None) -> RunCard:
        """The card for this category and level; the category's default when it has none."""
        if risk_level is not None and risk_level not in RISK_LEVELS:
            raise ValueError(f"unknown risk level {risk_level!r}: one of {list(RISK_LEVELS)}")
        levels = self.cards.get(category)
        if levels is None:
            raise ValueError(f"no run card for category {category!r}")
        return levels.get(risk_level or "default") or levels["default"]


@dataclass(frozen=True)
class UnfilledSlot:
    slot: str
    wanted: int
    filled: int

    def as_dict(self) -> dict[str, object]:
        return {"slot": self.slot, "wanted": self.wanted, "filled": self.filled}


@dataclass(frozen=True)
class RunCardPlan:
    """The teams chosen for a run card, slot by slot, and the slots left (partly) empty."""

    card: str
    chosen: list[Candidate]
    unfilled: list[UnfilledSlot]

    @property
    def complete(self) -> bool:
        return not self.unfilled

    def as_dict(self) -> dict[str, object]:
        return {
            "card": self.card,
            "complete": self.complete,
            "chosen": [c.as_dict() for c in self.chosen],
            "unfilled": [u.as_dict() for u in self.unfilled],
        }


def plan_dispatch(
    lat: float,
    lon: float,
    category: str,
    risk_level: str | None,
    teams: Sequence[TeamView],
    *,
    router: Router | None = None,
    area_code: str | None = None,
    now: datetime | None = None,
    exclude: Iterable[int] = (),
    stale_after: timedelta = STALE_AFTER,
    fair_margin_s: float = FAIR_MARGIN_S,
    runcards: RunCards | None = None,
) -> RunCardPlan:
    """Fill the run card of this category and risk level (None: the category's default).

    Slots are filled in the card's order, each with its soonest fitting available teams not
    already chosen (the fairness rule applies within a slot); a slot short of teams is listed
    in `unfilled`, never dropped. `runcards` defaults to the packaged `runcards.toml`.
    """
    card = (runcards or load_runcards()).card_for(category, risk_level)
    estimator = _Estimator(
        lat, lon, _default_router(router, area_code), now or datetime.now(UTC), stale_after
    )
    skip = set(exclude)
    slots = card.slots
    kinds = None if any(s.kind is None for s in slots) else {s.kind for s in slots}
    pool = []  # (seq, team, capabilities) of every available team some slot accepts
    for seq, t in enumerate(teams):
        if t.status != "available" or t.id in skip or (kinds is not None and t.kind not in kinds):
            continue
        caps = frozenset(t.capabilities)
        for slot in slots:
            if slot.accepts(t, caps):
                pool.append((seq, t, caps))
                break
    known = estimator.estimates((seq, t) for seq, t, _ in pool)  # in the order of `pool`
    wanted = CATEGORY_CAPABILITIES.get(category, frozenset())
    taken: set[int] = set()
    chosen: list[Candidate] = []
    unfilled: list[UnfilledSlot] = []
    for slot in slots:
        estimates = [
            estimate
            for (_, t, caps), estimate in zip(pool, known, strict=True)
            if t.id not in taken and slot.accepts(t, caps)
        ]
        picked = _fair_order(estimates, slot.count, fair_margin_s)
        matched_caps = wanted | slot.capabilities | slot.any_of
        for picked_estimate, moved in picked:
            taken.add(picked_estimate[TEAM].id)
            matched = matched_caps.intersection(picked_estimate[TEAM].capabilities)
            chosen.append(
                estimator.candidate(picked_estimate, matched, slot=slot.label, fairness=moved)
            )
        if len(picked) < slot.count:
            unfilled.append(UnfilledSlot(slot.label, slot.count, len(picked)))
    return RunCardPlan(card.name, chosen, unfilled)


# --------------------------------------------------------------------------- run card files


def default_runcards_path() -> Path:
    return Path(str(resources.files("dispatch").joinpath("runcards.toml")))


def load_runcards(path: str | Path | None = None) -> RunCards:
    """The run cards in `path` (default: the packaged file), cached until the file changes.

    >>> load_runcards().card_for("landslide", "red").slots[0].label
    'professional_rescue/mountain'
    """
    return load_cached(path or default_runcards_path(), parse_runcards, RunCardError)


_SLOT_KEYS = frozenset({"kind", "capabilities", "any_of", "count"})
_MAX_COUNT = 20


def parse_runcards(text: str, source: str = "<runcards>") -> RunCards:
    """Validate TOML text into RunCards; every problem found is listed in one RunCardError."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RunCardError(source, [f"not valid TOML: {exc}"]) from None
    problems: list[str] = []
    fail = problems.append

    for key in sorted(set(data) - {"name", "version", "cards"}):
        fail(f"{key}: unknown key (expected name, version, cards)")
    name, version = data.get("name"), data.get("version")
    if not isinstance(name, str) or not name:
        fail("name: must be a non-empty string")
    if not isinstance(version, str) or not version:
        fail("version: must be a non-empty string")
    raw_cards = data.get("cards")
    if not isinstance(raw_cards, dict):
        fail("cards: missing table" if raw_cards is None else "cards: must be a table")
        raw_cards = {}

    cards: dict[str, Mapping[str, RunCard]] = {}
    for category in CATEGORY_CAPABILITIES:
        if category not in raw_cards:
            fail(f"cards.{category}: missing (every category needs at least a default card)")
    for category, levels in raw_cards.items():
        where = f"cards.{category}"
        if category not in CATEGORY_CAPABILITIES:
            fail(f"{where}: unknown category (one of {', '.join(CATEGORY_CAPABILITIES)})")
            continue
        if not isinstance(levels, dict):
            fail(f"{where}: must be a table of levels")
            continue
        if "default" not in levels:
            fail(f"{where}.default: missing (used when the risk level has no card)")
        parsed: dict[str, RunCard] = {}
        for level, raw_slots in levels.items():
            at = f"{where}.{level}"
            if level not in (*RISK_LEVELS, "default"):
                fail(f"{at}: unknown level (one of {', '.join(RISK_LEVELS)}, default)")
                continue
            if not isinstance(raw_slots, list) or not raw_slots:
                fail(f"{at}: must be a non-empty array of slots ([[{at}]] tables)")
                continue
            slots = [_parse_slot(raw, f"{at}[{i}]", fail) for i, raw in enumerate(raw_slots)]
            parsed[level] = RunCard(category, level, tuple(s for s in slots if s is not None))
        cards[category] = MappingProxyType(parsed)

    if problems:
        raise RunCardError(source, problems)
    assert isinstance(name, str) and isinstance(version, str)
    return RunCards(name, version, MappingProxyType(cards))


def _parse_slot(raw: Any, at: str, fail: Any) -> Slot | None:
    if not isinstance(raw, dict):
        fail(f"{at}: must be a table")
        return None
    ok = True
    for key in sorted(set(raw) - _SLOT_KEYS):
        fail(f"{at}.{key}: unknown key (expected {', '.join(sorted(_SLOT_KEYS))})")
        ok = False
    kind = raw.get("kind")
    if kind is not None and kind not in TEAM_KINDS:
        fail(f"{at}.kind: unknown team kind {kind!r} (one of {', '.join(TEAM_KINDS)})")
        ok = False
    sets: dict[str, frozenset[str]] = {}
    for key in ("capabilities", "any_of"):
        value = raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            fail(f"{at}.{key}: must be an array of strings")
            ok = False
            continue
        unknown = sorted(set(value) - CAPABILITIES)
        if unknown:
            fail(f"{at}.{key}: unknown capabilities {unknown} (one of {sorted(CAPABILITIES)})")
            ok = False
        sets[key] = frozenset(value)
    count = raw.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= _MAX_COUNT:
        fail(f"{at}.count: must be a whole number from 1 to {_MAX_COUNT}")
        ok = False
    if ok and kind is None and not sets["capabilities"] and not sets["any_of"]:
        fail(f"{at}: a slot needs a kind, capabilities or any_of (or it would take any team)")
        ok = False
    if not ok:
        return None
    return Slot(kind, sets["capabilities"], sets["any_of"], count)
