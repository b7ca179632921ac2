"""Rule files: the packaged one loads, bad ones are refused with the key and the fault."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from dispatch.triage import CATEGORIES, RuleSetError, default_rules_path, load_rules, parse_rules
from dispatch.triage.ruleset import review_deadline

DEFAULT = default_rules_path().read_text(encoding="utf-8")


def test_default_rules_load_and_cover_every_category() -> None:
    rules = load_rules()
    assert rules.name == "default" and rules.version
    assert set(rules.base_risk) == set(CATEGORIES)
    assert set(rules.severity_weights) == {1, 2, 3, 4}
    assert [level for _, level in rules.levels] == ["red", "orange", "yellow", "blue"]
    names = {s.name for s in rules.signals}
    assert {"fire", "flood", "landslide", "earthquake", "traffic", "vulnerable", "crowd"} <= names
    fire = next(s for s in rules.signals if s.name == "fire")
    assert {"起火", "着火", "冒烟", "烧", "火灾", "fire"} <= set(fire.phrases)


def test_loading_is_cached_until_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(DEFAULT, encoding="utf-8")
    first = load_rules(path)
    assert load_rules(str(path)) is first
    path.write_text(DEFAULT.replace('version = "', 'version = "x'), encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    second = load_rules(path)
    assert second is not first and second.version.startswith("x")


def test_review_deadlines_default() -> None:
    rules = load_rules()
    assert rules.review_deadline("red") == timedelta(minutes=2)
    assert rules.review_deadline("orange") == timedelta(minutes=5)
    assert rules.review_deadline("yellow") == timedelta(minutes=30)
    assert review_deadline("blue") == timedelta(hours=4)
    with pytest.raises(ValueError, match="purple"):
        rules.review_deadline("purple")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("red = 75", 'red = "high"', "levels.red: must be an integer, got 'high'"),
        ("red = 75", "red = 40", "levels: thresholds must fall strictly"),
        ("fire = 50\n", "fire = 500\n", "base_risk.fire: must be in 0..100, got 500"),
        ("other = 10\n", "", "base_risk.other: missing"),
        ("[signals.fire]\npoints = 10", "[signals.fire]\npoints = 10.5", "signals.fire.points"),
        ('category = "fire"', 'category = "arson"', "signals.fire.category: unknown category"),
        ("red = 2\n", "red = 0\n", "review_deadline_minutes.red: must be in 1.."),
        ("hours = [22,", "hours = [25,", "night.hours: must be a list of hours 0..23"),
        ('month_day = "08-01"', 'month_day = "08-41"', "month_day: must be MM-DD"),
        ("petition = 3", "parade = 3", "must_talk.due_days.parade: unknown category"),
        ("radius_m = 500\n", "radius_m = -1\n", "radius_m: must be greater than 0"),
    ],
)
def test_bad_rule_files_name_the_key(old: str, new: str, message: str) -> None:
    assert old in DEFAULT
    with pytest.raises(RuleSetError) as info:
        parse_rules(DEFAULT.replace(old, new, 1), source="bad.toml")
    assert message in str(info.value)
    assert str(info.value).startswith("bad.toml: ")


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RuleSetError, match="not valid TOML"):
        parse_rules("name = ", source="x.toml")
    with pytest.raises(RuleSetError, match="cannot read the file"):
        load_rules(tmp_path / "absent.toml")


def test_every_problem_is_listed_at_once() -> None:
    text = DEFAULT.replace("red = 75", 'red = "x"').replace("fire = 50\n", "fire = -1\n", 1)
    with pytest.raises(RuleSetError) as info:
        parse_rules(text)
    assert len(info.value.problems) >= 2
