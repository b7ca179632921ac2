"""Risk rules and clustering: pure functions over plain data.

The rules are data (`rules/default.toml`, or the file named by GRIDWATCH_TRIAGE_RULES),
loaded and validated by `load_rules`; `score_report` explains every point it gives.
"""

from .cluster import ClusterItem, cluster_bonus, find_cluster
from .ruleset import (
    CATEGORIES,
    FestivalDay,
    RuleSet,
    RuleSetError,
    default_rules_path,
    festivals_between,
    load_rules,
    must_talk_due,
    parse_rules,
    review_deadline,
)
from .scoring import TriageInput, TriageResult, level_for_score, score_report

__all__ = [
    "CATEGORIES",
    "ClusterItem",
    "FestivalDay",
    "RuleSet",
    "RuleSetError",
    "TriageInput",
    "TriageResult",
    "cluster_bonus",
    "default_rules_path",
    "find_cluster",
    "festivals_between",
    "level_for_score",
    "load_rules",
    "must_talk_due",
    "parse_rules",
    "review_deadline",
    "score_report",
]
