"""Clustering: which open cluster a new report joins. Pure: plain items in, an id out."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from ..recommend import haversine_m
from .ruleset import RuleSet, load_rules
from .scoring import cluster_bonus

__all__ = ["ClusterItem", "cluster_bonus", "find_cluster"]


@dataclass(frozen=True)
class ClusterItem:
    """A report as clustering sees it.

    For candidates, `id` is what a new report would join: the cluster's (or incident's) id for
    its members, a lone report's own id otherwise. Several candidates may share one id.
    `at` is an aware datetime (received or occurred).
    """

    id: int | str
    category: str
    lat: float
    lon: float
    at: datetime


def compatible(a: str, b: str, rules: RuleSet) -> bool:
    """Either category lists the other (a rule set need only say it once)."""
    return b in rules.cluster_rule(a).compatible or a in rules.cluster_rule(b).compatible


def find_cluster(
    item: ClusterItem, candidates: Iterable[ClusterItem], rules: RuleSet | None = None
) -> int | str | None:
    """The id to join: a compatible candidate within R metres and T minutes; nearest wins.

    R and T are the larger of the two categories' (an earthquake is felt far from a
    collapsed house). Ties in distance go to the candidate closest in time.

    >>> from datetime import UTC, datetime, timedelta
    >>> now = datetime(2026, 8, 1, 12, tzinfo=UTC)
    >>> fire = ClusterItem(1, "fire", 36.0611, 103.8343, now)
    >>> find_cluster(ClusterItem(2, "fire", 36.0620, 103.8343, now + timedelta(minutes=5)), [fire])
    1
    """
    rules = rules or load_rules()
    own = rules.cluster_rule(item.category)
    best: tuple[float, float] | None = None
    chosen: int | str | None = None
    for candidate in candidates:
        if candidate.id == item.id or not compatible(item.category, candidate.category, rules):
            continue
        theirs = rules.cluster_rule(candidate.category)
        minutes = abs((item.at - candidate.at).total_seconds()) / 60
        if minutes > max(own.window_min, theirs.window_min):
            continue
        metres = haversine_m(item.lat, item.lon, candidate.lat, candidate.lon)
        if metres > max(own.radius_m, theirs.radius_m):
            continue
        if best is None or (metres, minutes) < best:
            best, chosen = (metres, minutes), candidate.id
    return chosen
