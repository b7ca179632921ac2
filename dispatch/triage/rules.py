"""A first rule set: category base risk, the informant's severity, and signal phrases.

Pure: plain data in, plain data out. The triage issue turns the tables below into
versioned rule files; the shape of `TriageResult` stays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

BASE_RISK: dict[str, int] = {
    "fire": 60,
    "flood": 55,
    "landslide": 60,
    "earthquake": 70,
    "traffic_accident": 45,
    "building_collapse": 65,
    "missing_person": 45,
    "medical": 45,
    "hazmat": 60,
    "other_emergency": 40,
    "dispute": 25,
    "petition": 25,
    "public_opinion": 15,
    "veteran_hardship": 20,
    "safety_hazard": 30,
    "family_misfortune": 20,
    "other": 10,
}

# severity 1..4 as the informant judges it, added to the base
SEVERITY_WEIGHT = {1: -10, 2: 0, 3: 10, 4: 20}

SIGNALS: list[tuple[str, int, tuple[str, ...]]] = [
    (
        "casualties",
        20,
        ("受伤", "伤亡", "死亡", "昏迷", "被困", "失踪", "injured", "dead", "trapped"),
    ),
    ("vulnerable", 8, ("老人", "儿童", "孕妇", "残疾", "elderly", "child", "pregnant")),
    ("fire", 15, ("起火", "着火", "冒烟", "火灾", "fire", "smoke")),
    ("flood", 12, ("洪水", "积水", "决堤", "漫堤", "flood")),
    ("landslide", 15, ("滑坡", "塌方", "泥石流", "landslide", "mudslide")),
    ("crowd", 10, ("聚集", "围堵", "打架", "持刀", "扬言", "fight", "knife")),
]

NEGATIONS = ("没有", "无", "未", "no ", "not ", "without ")

HINTS: dict[str, str] = {"fire": "fire", "flood": "flood", "landslide": "landslide"}

LEVELS = ((75, "red"), (55, "orange"), (35, "yellow"), (0, "blue"))


@dataclass(frozen=True)
class TriageInput:
    category: str
    text: str = ""
    severity: int | None = None


@dataclass(frozen=True)
class TriageResult:
    risk_score: int
    risk_level: str
    reasons: list[dict[str, Any]] = field(default_factory=list)
    category_hint: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "risk_score": self.risk_score,
            "risk_level": self.risk_level,
            "reasons": self.reasons,
            "category_hint": self.category_hint,
        }


def level_for_score(score: int) -> str:
    """Map a 0-100 score to the national warning colours.

    >>> level_for_score(80), level_for_score(60), level_for_score(40), level_for_score(5)
    ('red', 'orange', 'yellow', 'blue')
    """
    for threshold, level in LEVELS:
        if score >= threshold:
            return level
    return "blue"


def _negated(text: str, start: int) -> bool:
    window = text[max(0, start - 6) : start]
    return any(n in window for n in NEGATIONS)


def score_report(report: TriageInput) -> TriageResult:
    """Score one report and say why.

    >>> score_report(TriageInput("fire", "仓库起火，有人被困", 4)).risk_level
    'red'
    >>> score_report(TriageInput("fire", "小火已扑灭，没有人受伤", 1)).risk_level
    'yellow'
    """
    base = BASE_RISK.get(report.category, 10)
    reasons: list[dict[str, Any]] = [
        {"rule": "category", "category": report.category, "points": base}
    ]
    score = base
    if report.severity is not None:
        weight = SEVERITY_WEIGHT.get(report.severity, 0)
        score += weight
        reasons.append({"rule": "severity", "severity": report.severity, "points": weight})
    text = report.text.lower()
    hint: str | None = None
    for signal, points, phrases in SIGNALS:
        found = [p for p in phrases if (i := text.find(p.lower())) >= 0 and not _negated(text, i)]
        if found:
            score += points
            reasons.append({"rule": signal, "words": found, "points": points})
            if signal in HINTS and HINTS[signal] != report.category and hint is None:
                hint = HINTS[signal]
    score = max(0, min(100, score))
    return TriageResult(score, level_for_score(score), reasons, hint)
