"""Five must-talks: due dates per category, and the festival calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from dispatch.triage import festivals_between, load_rules, must_talk_due

RECEIVED = datetime(2026, 3, 10, 2, 30, tzinfo=UTC)


def test_must_talk_categories_have_due_dates() -> None:
    assert must_talk_due("petition", RECEIVED) == RECEIVED + timedelta(days=3)
    assert must_talk_due("dispute", RECEIVED) == RECEIVED + timedelta(days=3)
    assert must_talk_due("family_misfortune", RECEIVED) == RECEIVED + timedelta(days=7)
    assert must_talk_due("veteran_hardship", RECEIVED) == RECEIVED + timedelta(days=7)
    assert must_talk_due("fire", RECEIVED) is None
    assert must_talk_due("other", RECEIVED) is None


def test_fixed_and_lunar_festivals() -> None:
    days = festivals_between(date(2026, 7, 1), date(2026, 10, 31))
    assert [(d.date, d.name) for d in days] == [
        (date(2026, 8, 1), "八一建军节"),
        (date(2026, 9, 25), "中秋节"),
        (date(2026, 9, 30), "烈士纪念日"),
        (date(2026, 10, 1), "国庆节"),
        (date(2026, 10, 18), "重阳节"),
    ]
    spring = [
        d.date for d in festivals_between(date(2026, 1, 1), date(2027, 12, 31)) if d.name == "春节"
    ]
    assert spring == [date(2026, 2, 17), date(2027, 2, 6)]


def test_fixed_festivals_repeat_every_year_and_bounds_are_inclusive() -> None:
    army = [
        day
        for name, day in festivals_between(date(2026, 8, 1), date(2028, 8, 1))
        if name == "八一建军节"
    ]
    assert army == [date(2026, 8, 1), date(2027, 8, 1), date(2028, 8, 1)]
    assert festivals_between(date(2026, 8, 2), date(2026, 8, 31)) == []


def test_festival_lead_days_and_english_names() -> None:
    rules = load_rules()
    assert rules.festival_lead_days == 7
    assert rules.festival("八一建军节").name_en == "Army Day"
