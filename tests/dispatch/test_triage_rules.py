from __future__ import annotations

import pytest

from dispatch.triage import TriageInput, level_for_score, score_report


@pytest.mark.parametrize(
    ("score", "level"),
    [
        (100, "red"),
        (75, "red"),
        (74, "orange"),
        (55, "orange"),
        (54, "yellow"),
        (35, "yellow"),
        (34, "blue"),
        (0, "blue"),
    ],
)
def test_levels(score: int, level: str) -> None:
    assert level_for_score(score) == level


def test_casualties_raise_risk_and_say_why() -> None:
    plain = score_report(TriageInput("fire", "仓库冒烟", 2))
    trapped = score_report(TriageInput("fire", "仓库冒烟，有人被困", 2))
    assert trapped.risk_score > plain.risk_score
    rules = {r["rule"] for r in trapped.reasons}
    assert {"category", "severity", "casualties", "signal:fire"} <= rules
    words = next(r["words"] for r in trapped.reasons if r["rule"] == "casualties")
    assert "被困" in words


def test_negated_casualties_do_not_raise_risk() -> None:
    a = score_report(TriageInput("traffic_accident", "两车相撞", 2))
    b = score_report(TriageInput("traffic_accident", "两车相撞，没有人受伤", 2))
    assert a.risk_score == b.risk_score


def test_category_hint_when_text_says_otherwise() -> None:
    result = score_report(TriageInput("other", "山体滑坡堵住了路", 3))
    assert result.category_hint == "landslide"
    assert score_report(TriageInput("landslide", "山体滑坡", 3)).category_hint is None


def test_severity_orders_scores() -> None:
    scores = [score_report(TriageInput("dispute", "邻里纠纷", s)).risk_score for s in (1, 2, 3, 4)]
    assert scores == sorted(scores) and len(set(scores)) == 4


def test_score_is_bounded() -> None:
    text = "起火 冒烟 被困 死亡 老人 儿童 滑坡 洪水 持刀"
    result = score_report(TriageInput("earthquake", text, 4))
    assert result.risk_score == 100 and result.risk_level == "red"
