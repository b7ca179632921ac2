"""Clustering: compatible categories within R metres and T minutes join; nearest wins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dispatch.recommend import haversine_m
from dispatch.triage import ClusterItem, cluster_bonus, find_cluster, load_rules

T0 = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)
LAT, LON = 36.0611, 103.8343
METRE_LAT = 1 / 111_195  # degrees of latitude per metre


def item(id_: int | str, category: str, metres_north: float = 0, minutes: float = 0) -> ClusterItem:
    return ClusterItem(
        id_, category, LAT + metres_north * METRE_LAT, LON, T0 + timedelta(minutes=minutes)
    )


def test_joins_within_radius_and_window() -> None:
    rule = load_rules().cluster_rule("fire")
    assert rule.radius_m == 500 and rule.window_min == 60
    new = item(99, "fire", 0, 10)
    assert find_cluster(new, [item(1, "fire", 400, 0)]) == 1
    assert find_cluster(new, [item(1, "fire", 600, 0)]) is None  # beyond R
    assert find_cluster(item(99, "fire", 0, 75), [item(1, "fire", 100, 0)]) is None  # beyond T
    assert find_cluster(item(99, "fire", 0, -30), [item(1, "fire", 100, 0)]) == 1  # late arrival


def test_the_metre_helper_is_right() -> None:
    a, b = item(1, "fire"), item(2, "fire", 400)
    assert abs(haversine_m(a.lat, a.lon, b.lat, b.lon) - 400) < 1


def test_incompatible_categories_do_not_join() -> None:
    new = item(99, "fire", 0, 5)
    assert find_cluster(new, [item(1, "dispute", 10, 0)]) is None
    assert find_cluster(new, [item(1, "hazmat", 10, 0)]) == 1  # fire lists hazmat
    # Compatibility holds either way round: hazmat lists fire, fire joins hazmat.
    assert find_cluster(item(99, "hazmat", 0, 5), [item(1, "fire", 10, 0)]) == 1


def test_nearest_member_wins_and_members_share_an_id() -> None:
    candidates = [
        item("cluster-a", "fire", 300, 0),
        item("cluster-a", "fire", 350, 5),
        item("cluster-b", "fire", 120, 20),
        item("cluster-c", "fire", 50, -90),  # near, but too long ago
    ]
    assert find_cluster(item(99, "fire", 0, 10), candidates) == "cluster-b"
    # "Within R of any member": a cluster whose far member is out of range still qualifies.
    spread = [item(7, "flood", 5000, 0), item(7, "flood", 1500, 0)]
    assert find_cluster(item(99, "flood", 0, 10), spread) == 7


def test_a_report_does_not_join_itself() -> None:
    assert find_cluster(item(1, "fire"), [item(1, "fire")]) is None


def test_earthquake_reach_lets_a_collapse_join() -> None:
    quake = item(5, "earthquake", 10_000, 0)
    assert find_cluster(item(99, "building_collapse", 0, 20), [quake]) == 5


def test_cluster_bonus_grows_with_size_up_to_the_cap() -> None:
    rules = load_rules()
    assert cluster_bonus(1, rules) == 0
    assert cluster_bonus(2, rules, "fire") == 5
    assert cluster_bonus(4, rules, "fire") == 15
    assert cluster_bonus(100, rules, "fire") == rules.cluster_rule("fire").max_points
    assert (
        cluster_bonus(3, rules, "public_opinion")
        == 2 * rules.clustering["default"].points_per_extra
    )


def test_cluster_reach_covers_every_compatible_category() -> None:
    rules = load_rules()
    radius, window = rules.cluster_reach("building_collapse")
    assert radius == rules.cluster_rule("earthquake").radius_m  # an earthquake may take it in
    assert window == timedelta(minutes=180)  # flood and landslide wait longest
    assert rules.cluster_reach("public_opinion")[0] == rules.cluster_rule("petition").radius_m
    # The box is never smaller than what find_cluster accepts.
    far = item(5, "earthquake", radius - 10, 0)
    assert find_cluster(item(99, "building_collapse", 0, 1), [far], rules) == 5
