"""Team ranking: which available, capable team gets there first. Pure."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

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

# Seconds from the call to wheels rolling, and road speed in m/s, per team kind.
MOBILISATION_S = {"professional_rescue": 180, "volunteer": 300, "mediation": 900, "relief": 1800}
SPEED_MPS = {"professional_rescue": 11.1, "volunteer": 8.3, "mediation": 8.3, "relief": 8.3}
ROAD_DETOUR = 1.4
EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True)
class TeamView:
    id: int
    name: str
    kind: str
    status: str
    capabilities: tuple[str, ...]
    lat: float
    lon: float
    last_dispatched_at: datetime | None = None


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
        }


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres.

    >>> round(haversine_m(36.0611, 103.8343, 36.0611, 103.8343))
    0
    """
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def eta_seconds(kind: str, distance_m: float) -> float:
    return MOBILISATION_S.get(kind, 600) + distance_m * ROAD_DETOUR / SPEED_MPS.get(kind, 8.3)


def fits(category: str, capabilities: Iterable[str]) -> frozenset[str]:
    """The capabilities of a team that answer a category (empty: it does not fit)."""
    return CATEGORY_CAPABILITIES.get(category, frozenset()) & frozenset(capabilities)


def rank_teams(
    lat: float,
    lon: float,
    category: str,
    teams: Sequence[TeamView],
    *,
    limit: int = 5,
    exclude: Iterable[int] = (),
) -> list[Candidate]:
    """Available teams that fit the category, soonest estimated arrival first."""
    skip = set(exclude)
    ranked: list[tuple[float, float, Candidate]] = []
    for team in teams:
        if team.status != "available" or team.id in skip:
            continue
        matched = fits(category, team.capabilities)
        if not matched:
            continue
        distance = haversine_m(lat, lon, team.lat, team.lon)
        eta = eta_seconds(team.kind, distance)
        last = team.last_dispatched_at.timestamp() if team.last_dispatched_at else 0.0
        candidate = Candidate(
            team_id=team.id,
            name=team.name,
            kind=team.kind,
            status=team.status,
            capabilities=list(team.capabilities),
            distance_m=round(distance),
            eta_s=round(eta),
            reasons=[f"capability:{c}" for c in sorted(matched)],
        )
        ranked.append((eta, last, candidate))
    ranked.sort(key=lambda item: (item[0], item[1], item[2].team_id))
    return [c for _, _, c in ranked[: max(0, limit)]]
