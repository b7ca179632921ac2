"""Risk rules: pure functions over plain data."""

from .rules import TriageInput, TriageResult, level_for_score, score_report

__all__ = ["TriageInput", "TriageResult", "level_for_score", "score_report"]
