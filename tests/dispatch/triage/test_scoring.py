"""Scoring: negation, casualty counts, night, cell history, hints, reasons."""

from __future__ import annotations

import pytest

from dispatch.triage import TriageInput, load_rules, score_report


def rules_of(text: str, category: str = "traffic_accident", **kw: int) -> dict[str, dict]:
    result = score_report(TriageInput(category, text, 2, **kw))
    return {r["rule"]: r for r in result.reasons}


def score(text: str, category: str = "traffic_accident", **kw: int) -> int:
    return score_report(TriageInput(category, text, 2, **kw)).risk_score


@pytest.mark.parametrize(
    "text",
    [
        "两车相撞，没有人受伤",
        "两车相撞，无人员伤亡",
        "两车相撞，未造成人员伤亡",
        "两车相撞，没有造成伤亡",
        "Two cars crashed, no one was injured.",
        "Two cars crashed; nobody hurt",
    ],
)
def test_negated_casualties_add_nothing(text: str) -> None:
    reasons = rules_of(text)
    assert "casualties" not in reasons
    assert reasons["negated"]["points"] == 0
    assert score(text) == score(text.split("，")[0].split(",")[0].split(";")[0])


def test_counted_casualties_add_points() -> None:
    reasons = rules_of("两车相撞，3人受伤")
    assert reasons["casualties"]["counts"] == {"injured": 3}
    assert "受伤" in reasons["casualties"]["words"]
    assert score("两车相撞，3人受伤") > score("两车相撞，1人受伤") > score("两车相撞")
    dead = rules_of("客车侧翻，造成5人死亡、12人受伤")["casualties"]
    assert dead["counts"] == {"dead": 5, "injured": 12}
    assert rules_of("事故致2死3伤")["casualties"]["counts"] == {"dead": 2, "injured": 3}
    assert rules_of("4 people were killed")["casualties"]["counts"] == {"dead": 4}
    assert rules_of("死亡十五人")["casualties"]["counts"] == {"dead": 15}


def test_negation_stays_in_its_clause() -> None:
    # The negator of the first clause does not reach the second.
    reasons = rules_of("房屋没有倒塌，但有2人受伤")
    assert reasons["casualties"]["counts"] == {"injured": 2}
    assert reasons["negated"]["words"] == ["倒塌"]
    assert "casualties" in rules_of("没有发现明火但是有人被困", "fire")


def test_words_that_contain_a_negator_do_not_negate() -> None:
    assert "casualties" in rules_of("大火中无法逃生，有人被困", "fire")
    assert "casualties" in rules_of("村子被洪水淹没，有人被困", "flood")
    assert "casualties" in rules_of("一名未成年人受伤")


def test_excluded_words_do_not_count() -> None:
    assert "signal:fire" not in rules_of("老人发烧三天了", "medical")
    assert "signal:fire" in rules_of("楼道里有东西在烧", "fire")
    assert "signal:fire" not in rules_of("a ceasefire was agreed", "other")


def test_night_raises_emergencies_only() -> None:
    assert score("货车侧翻", hour=2) - score("货车侧翻", hour=14) == load_rules().night.points
    assert rules_of("货车侧翻", hour=23)["night"]["hour"] == 23
    assert score("邻里纠纷", "dispute", hour=2) == score("邻里纠纷", "dispute", hour=14)
    assert "night" not in rules_of("货车侧翻")  # no hour given


def test_cell_history_raises_risk_from_the_threshold() -> None:
    history = load_rules().cell_history
    below = score("货车侧翻", recent_in_cell=history.threshold - 1)
    at = score("货车侧翻", recent_in_cell=history.threshold)
    many = score("货车侧翻", recent_in_cell=history.threshold + 50)
    assert below == score("货车侧翻")
    assert at - below == history.points
    assert many - below == history.max_points
    assert rules_of("货车侧翻", recent_in_cell=5)["cell_history"]["count"] == 5


def test_cluster_size_adds_the_cluster_bonus() -> None:
    assert "cluster" not in rules_of("仓库起火", "fire")
    reason = rules_of("仓库起火", "fire", cluster_size=3)["cluster"]
    assert reason == {"rule": "cluster", "size": 3, "points": 10}


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("山体滑坡堵住了路", "landslide"),
        ("仓库起火，浓烟很大", "fire"),
        ("两车相撞，司机被困", "traffic_accident"),
        ("河水上涨，决堤了", "flood"),
        ("昨晚地震，震感强烈", "earthquake"),
        ("A truck crashed into a bus", "traffic_accident"),
        ("今天天气很好", None),
    ],
)
def test_category_hint_when_filed_under_other(text: str, hint: str | None) -> None:
    assert score_report(TriageInput("other", text)).category_hint == hint


def test_no_hint_when_the_filed_category_is_as_strong() -> None:
    assert score_report(TriageInput("fire", "仓库起火，浓烟很大")).category_hint is None
    # A lorry on fire: traffic filed, fire mentioned — not clearly something else.
    assert score_report(TriageInput("traffic_accident", "货车侧翻后起火")).category_hint is None


def test_reasons_have_stable_keys() -> None:
    result = score_report(TriageInput("fire", "仓库起火，3人受伤，有老人", 3, hour=1))
    for reason in result.reasons:
        assert {"rule", "points"} <= set(reason)
        assert isinstance(reason["points"], int)
    rules = [r["rule"] for r in result.reasons]
    assert rules[:2] == ["category", "severity"]
    assert {"casualties", "signal:fire", "signal:vulnerable", "night"} <= set(rules)
    total = sum(r["points"] for r in result.reasons)
    assert result.risk_score == min(100, max(0, total))


def test_full_width_and_case_are_normalised() -> None:
    assert "signal:fire" in rules_of("ＦＩＲＥ in the warehouse", "other")
    assert rules_of("３人受伤")["casualties"]["counts"] == {"injured": 3}
