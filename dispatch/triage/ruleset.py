"""Rule sets as data: a versioned TOML file, validated on load into frozen dataclasses.

The packaged `rules/default.toml` is the default; a deployment names its own file in
`GRIDWATCH_TRIAGE_RULES`. Loading is cached per path and modification time, so an edited
file is picked up without a restart and an unchanged one is parsed once.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from ..datafile import DataFileError, load_cached
from ..schemas import CATEGORIES

if TYPE_CHECKING:
    from .scoring import TriageInput, TriageResult

LEVELS: tuple[str, ...] = ("red", "orange", "yellow", "blue")
SEVERITIES: tuple[int, ...] = (1, 2, 3, 4)


class RuleSetError(DataFileError):
    """A rule file that cannot be used; the message names the file, each key and the fault."""


@dataclass(frozen=True)
class Signal:
    name: str
    points: int
    phrases: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    category: str | None = None


@dataclass(frozen=True)
class CasualtyCount:
    kind: str
    words: tuple[str, ...]
    points_per_person: int
    max_points: int


@dataclass(frozen=True)
class Casualties:
    points: int
    max_points: int
    phrases: tuple[str, ...]
    exclude: tuple[str, ...]
    counts: tuple[CasualtyCount, ...]


@dataclass(frozen=True)
class Negation:
    window_chars: int
    negators: tuple[str, ...]
    not_negators: tuple[str, ...]
    clause_breaks: tuple[str, ...]


@dataclass(frozen=True)
class Hints:
    min_points: int
    margin: int
    max_repeats: int


@dataclass(frozen=True)
class Night:
    hours: frozenset[int]
    points: int
    categories: frozenset[str]


@dataclass(frozen=True)
class CellHistory:
    window_hours: int
    threshold: int
    points: int
    points_per_extra: int
    max_points: int


@dataclass(frozen=True)
class ClusterRule:
    radius_m: float
    window_min: float
    compatible: frozenset[str]
    points_per_extra: int
    max_points: int


@dataclass(frozen=True)
class Festival:
    name: str
    name_en: str
    month_day: tuple[int, int] | None = None
    dates: tuple[date, ...] = ()

    def occurrences(self, start: date, end: date) -> list[date]:
        """The days of this festival from `start` to `end`, both included."""
        if self.month_day is None:
            return [d for d in self.dates if start <= d <= end]
        month, day = self.month_day
        found = []
        for year in range(start.year, end.year + 1):
            day_of_year = date(year, month, day)
            if start <= day_of_year <= end:
                found.append(day_of_year)
        return found


class FestivalDay(NamedTuple):
    """One day of a festival; unpacks as `name, day`. English name: `rules.festival(name)`."""

    name: str
    date: date


@dataclass(frozen=True, eq=False)
class RuleSet:
    """One validated rule file. Immutable; compare rule sets by `name` and `version`."""

    name: str
    version: str
    source: str
    levels: tuple[tuple[int, str], ...]
    review_deadlines: Mapping[str, timedelta]
    base_risk: Mapping[str, int]
    severity_weights: Mapping[int, int]
    hints: Hints
    negation: Negation
    casualties: Casualties
    signals: tuple[Signal, ...]
    night: Night
    cell_history: CellHistory
    clustering: Mapping[str, ClusterRule]
    must_talk_days: Mapping[str, int]
    festival_lead_days: int
    festivals: tuple[Festival, ...]
    # The compiled phrase matcher, built once per rule set (see scoring.py).
    _compiled: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def level_for_score(self, score: int) -> str:
        for threshold, level in self.levels:
            if score >= threshold:
                return level
        return "blue"

    def score(self, report: TriageInput) -> TriageResult:
        """`score_report(report, self)`: score one report by this rule set."""
        from .scoring import score_report

        return score_report(report, self)

    def review_deadline(self, level: str) -> timedelta:
        """How long a report of this level may wait for an operator's review."""
        try:
            return self.review_deadlines[level]
        except KeyError:
            raise ValueError(f"unknown risk level {level!r}") from None

    def cluster_rule(self, category: str) -> ClusterRule:
        rule = self.clustering.get(category) or self.clustering["default"]
        if category not in rule.compatible:
            rule = ClusterRule(
                rule.radius_m,
                rule.window_min,
                rule.compatible | {category},
                rule.points_per_extra,
                rule.max_points,
            )
        return rule

    def cluster_partners(self, category: str) -> list[str]:
        """The categories a report of `category` can share a cluster with (itself included
        when it clusters at all): either one lists the other."""
        own = self.cluster_rule(category)
        return [
            other
            for other in CATEGORIES
            if other in own.compatible or category in self.cluster_rule(other).compatible
        ]

    def cluster_reach(self, category: str) -> tuple[float, timedelta]:
        """The farthest (metres, time) a report of `category` can be from a cluster it joins.

        Two reports join within the larger of their categories' radius and window, so this is
        the maximum over every compatible category: the box a service queries candidates in.
        """
        own = self.cluster_rule(category)
        radius, window = own.radius_m, own.window_min
        for other in CATEGORIES:
            theirs = self.cluster_rule(other)
            if other in own.compatible or category in theirs.compatible:
                radius = max(radius, theirs.radius_m)
                window = max(window, theirs.window_min)
        return radius, timedelta(minutes=window)

    def cluster_bonus(self, size: int, category: str | None = None) -> int:
        """Points a cluster of `size` reports adds to its risk (0 for a lone report)."""
        rule = self.cluster_rule(category) if category else self.clustering["default"]
        return min(rule.max_points, max(0, size - 1) * rule.points_per_extra)

    def must_talk_due(self, category: str, received_at: datetime) -> datetime | None:
        """When the follow-up talk for a report of this category is due (None: no talk)."""
        days = self.must_talk_days.get(category)
        return None if days is None else received_at + timedelta(days=days)

    def festivals_between(self, start: date, end: date) -> list[FestivalDay]:
        """Festival days from `start` to `end`, both included, in date order."""
        days = [
            FestivalDay(f.name, day) for f in self.festivals for day in f.occurrences(start, end)
        ]
        return sorted(days, key=lambda d: (d.date, d.name))

    def festival(self, name: str) -> Festival:
        """A festival of the calendar by its (Chinese) name."""
        for festival in self.festivals:
            if festival.name == name:
                return festival
        raise KeyError(name)


def review_deadline(level: str, rules: RuleSet | None = None) -> timedelta:
    """How long a report of `level` may wait for review (red 2 min … blue 4 h by default)."""
    return (rules or load_rules()).review_deadline(level)


def must_talk_due(
    category: str, received_at: datetime, rules: RuleSet | None = None
) -> datetime | None:
    """When the must-talk follow-up of a report is due; None when the category needs none."""
    return (rules or load_rules()).must_talk_due(category, received_at)


def festivals_between(start: date, end: date, rules: RuleSet | None = None) -> list[FestivalDay]:
    """The must-talk festival days from `start` to `end`, both included."""
    return (rules or load_rules()).festivals_between(start, end)


# --------------------------------------------------------------------------- loading


def default_rules_path() -> Path:
    return Path(str(resources.files("dispatch.triage").joinpath("rules", "default.toml")))


def load_rules(path: str | Path | None = None) -> RuleSet:
    """The rule set in `path` (default: the packaged rule set), cached until the file changes.

    >>> rules = load_rules()
    >>> rules.name, rules.review_deadline("red").total_seconds()
    ('default', 120.0)
    """
    return load_cached(path or default_rules_path(), parse_rules, RuleSetError)


def parse_rules(text: str, source: str = "<rules>") -> RuleSet:
    """Validate TOML text into a RuleSet; every problem found is listed in one RuleSetError."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleSetError(source, [f"not valid TOML: {exc}"]) from None
    check = _Checker()
    rules = _build(data, check, source)
    if check.problems or rules is None:
        raise RuleSetError(source, check.problems or ["incomplete rule set"])
    return rules


class _Checker:
    """Reads typed values out of the parsed TOML, collecting a message per bad key."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, key: str, message: str) -> None:
        self.problems.append(f"{key}: {message}")

    def table(self, data: Mapping[str, Any], key: str, path: str) -> dict[str, Any]:
        value = data.get(key)
        if not isinstance(value, dict):
            self.fail(_join(path, key), "missing table" if value is None else "must be a table")
            return {}
        return value

    def integer(
        self,
        data: Mapping[str, Any],
        key: str,
        path: str,
        *,
        low: int | None = None,
        high: int | None = None,
        default: int | None = None,
    ) -> int:
        value = data.get(key, default)
        name = _join(path, key)
        if value is None:
            self.fail(name, "missing")
            return 0
        if not isinstance(value, int) or isinstance(value, bool):
            self.fail(name, f"must be an integer, got {value!r}")
            return 0
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"{'' if low is None else low}..{'' if high is None else high}"
            self.fail(name, f"must be in {bounds}, got {value}")
        return value

    def number(self, data: Mapping[str, Any], key: str, path: str, *, low: float = 0) -> float:
        value = data.get(key)
        name = _join(path, key)
        if not isinstance(value, int | float) or isinstance(value, bool):
            self.fail(name, "missing" if value is None else f"must be a number, got {value!r}")
            return 0.0
        if value <= low:
            self.fail(name, f"must be greater than {low:g}, got {value}")
        return float(value)

    def string(self, data: Mapping[str, Any], key: str, path: str) -> str:
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            self.fail(
                _join(path, key), "missing" if value is None else "must be a non-empty string"
            )
            return ""
        return value

    def strings(
        self, data: Mapping[str, Any], key: str, path: str, *, required: bool = True
    ) -> tuple[str, ...]:
        value = data.get(key)
        name = _join(path, key)
        if value is None:
            if required:
                self.fail(name, "missing")
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.fail(name, "must be a list of non-empty strings")
            return ()
        if required and not value:
            self.fail(name, "must not be empty")
        return tuple(value)

    def category(self, value: Any, name: str) -> str | None:
        if value not in CATEGORIES:
            self.fail(name, f"unknown category {value!r}")
            return None
        return str(value)

    def categories(self, data: Mapping[str, Any], key: str, path: str) -> frozenset[str]:
        names = self.strings(data, key, path, required=False)
        return frozenset(
            c for i, v in enumerate(names) if (c := self.category(v, f"{_join(path, key)}[{i}]"))
        )


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _phrases(check: _Checker, data: Mapping[str, Any], path: str) -> tuple[str, ...]:
    """Phrases as they will be matched: NFKC, lower case, no duplicates."""
    from .scoring import normalise

    seen: dict[str, None] = {}
    for phrase in check.strings(data, "phrases", path):
        seen.setdefault(normalise(phrase).strip(), None)
    return tuple(p for p in seen if p)


def _build(data: dict[str, Any], check: _Checker, source: str) -> RuleSet | None:
    from .scoring import normalise

    name = check.string(data, "name", "")
    version = check.string(data, "version", "")

    levels_table = check.table(data, "levels", "")
    thresholds = [
        (check.integer(levels_table, level, "levels", low=0, high=100), level)
        for level in ("red", "orange", "yellow")
    ]
    if levels_table and not thresholds[0][0] > thresholds[1][0] > thresholds[2][0]:
        check.fail("levels", "thresholds must fall strictly from red to orange to yellow")
    levels = (*thresholds, (0, "blue"))

    deadlines_table = check.table(data, "review_deadline_minutes", "")
    deadlines = {
        level: timedelta(
            minutes=check.integer(deadlines_table, level, "review_deadline_minutes", low=1)
        )
        for level in LEVELS
    }

    base_table = check.table(data, "base_risk", "")
    base_risk = {c: check.integer(base_table, c, "base_risk", low=0, high=100) for c in CATEGORIES}
    for extra in sorted(set(base_table) - set(CATEGORIES)):
        check.fail(f"base_risk.{extra}", "unknown category")

    severity_table = check.table(data, "severity_weights", "")
    severity = {
        s: check.integer(severity_table, str(s), "severity_weights", low=-100, high=100)
        for s in SEVERITIES
    }
    for extra in sorted(set(severity_table) - {str(s) for s in SEVERITIES}):
        check.fail(f"severity_weights.{extra}", "severity must be 1, 2, 3 or 4")

    hints_table = check.table(data, "hints", "")
    hints = Hints(
        check.integer(hints_table, "min_points", "hints", low=0),
        check.integer(hints_table, "margin", "hints", low=0),
        check.integer(hints_table, "max_repeats", "hints", low=0, default=4),
    )

    neg = check.table(data, "negation", "")
    negation = Negation(
        check.integer(neg, "window_chars", "negation", low=1, high=100),
        tuple(normalise(w) for w in check.strings(neg, "negators", "negation")),
        tuple(normalise(w) for w in check.strings(neg, "not_negators", "negation", required=False)),
        tuple(
            normalise(w) for w in check.strings(neg, "clause_breaks", "negation", required=False)
        ),
    )

    cas = check.table(data, "casualties", "")
    counts = []
    for kind, table in (cas.get("count") or {}).items():
        path = f"casualties.count.{kind}"
        if not isinstance(table, dict):
            check.fail(path, "must be a table")
            continue
        counts.append(
            CasualtyCount(
                kind,
                tuple(normalise(w) for w in check.strings(table, "words", path)),
                check.integer(table, "points_per_person", path, low=0),
                check.integer(table, "max_points", path, low=0),
            )
        )
    casualties = Casualties(
        check.integer(cas, "points", "casualties", low=0, high=100),
        check.integer(cas, "max_points", "casualties", low=0, high=100),
        _phrases(check, cas, "casualties") if cas else (),
        tuple(normalise(w) for w in check.strings(cas, "exclude", "casualties", required=False)),
        tuple(counts),
    )

    signals = []
    for signal_name, table in check.table(data, "signals", "").items():
        path = f"signals.{signal_name}"
        if not isinstance(table, dict):
            check.fail(path, "must be a table")
            continue
        hinted = table.get("category")
        signals.append(
            Signal(
                signal_name,
                check.integer(table, "points", path, low=-100, high=100),
                _phrases(check, table, path),
                tuple(normalise(w) for w in check.strings(table, "exclude", path, required=False)),
                None if hinted is None else check.category(hinted, f"{path}.category"),
            )
        )
        for extra in sorted(set(table) - {"points", "phrases", "exclude", "category"}):
            check.fail(f"{path}.{extra}", "unknown key")

    night_table = check.table(data, "night", "")
    hours = night_table.get("hours")
    if not isinstance(hours, list) or not all(isinstance(h, int) and 0 <= h <= 23 for h in hours):
        check.fail("night.hours", "must be a list of hours 0..23")
        hours = []
    night = Night(
        frozenset(hours),
        check.integer(night_table, "points", "night", low=0, high=100),
        check.categories(night_table, "categories", "night"),
    )

    history_table = check.table(data, "cell_history", "")
    history = CellHistory(
        check.integer(history_table, "window_hours", "cell_history", low=1),
        check.integer(history_table, "threshold", "cell_history", low=1),
        check.integer(history_table, "points", "cell_history", low=0, high=100),
        check.integer(history_table, "points_per_extra", "cell_history", low=0),
        check.integer(history_table, "max_points", "cell_history", low=0, high=100),
    )

    clustering: dict[str, ClusterRule] = {}
    cluster_tables = check.table(data, "clustering", "")
    if cluster_tables and "default" not in cluster_tables:
        check.fail("clustering.default", "missing table")
    for key, table in cluster_tables.items():
        path = f"clustering.{key}"
        if key != "default":
            check.category(key, path)
        if not isinstance(table, dict):
            check.fail(path, "must be a table")
            continue
        clustering[key] = ClusterRule(
            check.number(table, "radius_m", path),
            check.number(table, "window_min", path),
            check.categories(table, "compatible", path) | ({key} if key != "default" else set()),
            check.integer(table, "points_per_extra", path, low=0),
            check.integer(table, "max_points", path, low=0, high=100),
        )

    must_talk = check.table(data, "must_talk", "")
    due_table = check.table(must_talk, "due_days", "must_talk") if must_talk else {}
    due_days = {}
    for key in due_table:
        if check.category(key, f"must_talk.due_days.{key}"):
            due_days[key] = check.integer(due_table, key, "must_talk.due_days", low=0)
    festival_table = check.table(must_talk, "festivals", "must_talk") if must_talk else {}
    lead_days = check.integer(festival_table, "lead_days", "must_talk.festivals", low=0)
    festivals = []
    for i, item in enumerate(festival_table.get("list") or []):
        path = f"must_talk.festivals.list[{i}]"
        if not isinstance(item, dict):
            check.fail(path, "must be a table")
            continue
        festivals.append(_festival(check, item, path))

    if check.problems:
        return None
    return RuleSet(
        name=name,
        version=version,
        source=source,
        levels=levels,
        review_deadlines=MappingProxyType(deadlines),
        base_risk=MappingProxyType(base_risk),
        severity_weights=MappingProxyType(severity),
        hints=hints,
        negation=negation,
        casualties=casualties,
        signals=tuple(signals),
        night=night,
        cell_history=history,
        clustering=MappingProxyType(clustering),
        must_talk_days=MappingProxyType(due_days),
        festival_lead_days=lead_days,
        festivals=tuple(festivals),
    )


def _festival(check: _Checker, item: Mapping[str, Any], path: str) -> Festival:
    name = check.string(item, "name", path)
    name_en = str(item.get("name_en") or name)
    month_day = None
    dates: list[date] = []
    if "month_day" in item:
        try:
            month, day = (int(p) for p in str(item["month_day"]).split("-"))
            date(2024, month, day)  # a leap year: 02-29 is a valid month-day
            month_day = (month, day)
        except ValueError:
            check.fail(f"{path}.month_day", f"must be MM-DD, got {item['month_day']!r}")
    for j, raw in enumerate(item.get("dates") or []):
        try:
            dates.append(raw if isinstance(raw, date) else date.fromisoformat(str(raw)))
        except ValueError:
            check.fail(f"{path}.dates[{j}]", f"must be a date YYYY-MM-DD, got {raw!r}")
    if month_day is None and not dates and "month_day" not in item:
        check.fail(path, "needs month_day or dates")
    return Festival(name, name_en, month_day, tuple(dates))
