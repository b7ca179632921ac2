"""The bulletin, from a month of activity on a small city whose figures were worked out by
hand (the comments give the sums): every figure, the ranking and flags, the gaming signals,
the cases behind the numbers, recomputation later, jurisdiction, and one set of numbers
across the JSON, CSV, printable page and command line.

The city has four counties (A, B, C, D), each one township, one village and two cells:

- A does everything well: reviews in a minute, a team that acknowledges, a must-talk done.
- B reviews hours late, lets a task time out, leaves a report unreviewed; one cell silent.
- C games: one informant's reports all at one spot, check-ins that never move, everything
  closed on the last evening, an incident opened and resolved by one operator, no team.
- D has one report, too little to judge; one cell has no informant at all.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from flask import Flask
from shapely.geometry import box

import grid
from dispatch.errors import Forbidden, NotFound, ValidationFailed
from dispatch.extensions import db
from dispatch.models import AuditEvent, Bulletin, User
from dispatch.schemas import (
    CheckInSubmit,
    IncidentCreate,
    ReportReview,
    ReportSubmit,
    TeamCreate,
)
from dispatch.services import (
    areas,
    auth,
    followups,
    incidents,
    informants,
    reports,
    supervision,
    tasks,
    teams,
    triage,
)
from tests.dispatch.live import live, redis_url, sweep

__all__ = ["live", "redis_url"]  # fixtures used by name

BEIJING = ZoneInfo("Asia/Shanghai")
COUNTIES = {"A": "620102", "B": "620103", "C": "620104", "D": "620105"}
NAMES = {"A": "城关区", "B": "七里河区", "C": "西固区", "D": "安宁区"}

CONFIG = """
[weights]
coverage = 0.25
review_on_time = 0.25
ack_on_time = 0.20
resolution = 0.15
followups_on_time = 0.15
[flags]
red = 1
yellow = 1
min_units = 3
[activity]
min_reports = 2
[signals]
bulk_window_hours = 24
bulk_min = 3
bulk_share = 0.3
static_min_checkins = 3
static_radius_m = 10
point_min_reports = 5
point_radius_m = 10
"""


def at(day: int, hour: int, minute: int = 0, second: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=BEIJING)


def cell(county: str, n: int) -> str:
    return f"{COUNTIES[county]}00100100{n}"


def city() -> list[grid.Area]:
    out = [grid.Area("620100", "兰州市", "city", None, box(0, 0, 8, 1))]
    for i, (key, code) in enumerate(COUNTIES.items()):
        x = 2 * i
        out += [
            grid.Area(code, NAMES[key], "county", "620100", box(x, 0, x + 2, 1)),
            grid.Area(f"{code}001", f"{key}街道", "township", code, box(x, 0, x + 2, 1)),
            grid.Area(f"{code}001001", f"{key}村", "village", f"{code}001", box(x, 0, x + 2, 1)),
            grid.Area(cell(key, 1), f"{key}1", "cell", f"{code}001001", box(x, 0, x + 1, 1)),
            grid.Area(cell(key, 2), f"{key}2", "cell", f"{code}001001", box(x + 1, 0, x + 2, 1)),
        ]
    return out


class Month:
    """The seeded month, with the ids the tests look for."""

    def __init__(self) -> None:
        self.reports: dict[str, list[int]] = {k: [] for k in COUNTIES}
        self.incidents: dict[str, int] = {}
        self.tasks: dict[str, int] = {}
        self.followup = 0
        self.checkins: list[int] = []


def user(name: str) -> User:
    found = db.session.scalar(db.select(User).where(User.username == name))
    assert found is not None
    return found


def submit(clock: Any, who: str, category: str, when: datetime, lat: float, lon: float) -> int:
    """Submit at `when`, triaged five seconds later."""
    clock.move_to(when)
    data = ReportSubmit(
        client_id=uuid.uuid4(), category=category, text="情况说明", lat=lat, lon=lon, severity=2
    )
    rid = int(reports.submit_report(user(who), data)["report"]["id"])
    clock.move_to(when + timedelta(seconds=5))
    triage.triage_report(rid)
    return rid


def review(clock: Any, who: str, rid: int, action: str, when: datetime) -> None:
    clock.move_to(when)
    note = "重复上报" if action == "dismiss" else None
    reports.review_report(user(who), ReportReview(report_id=rid, action=action, note=note))


def promote(clock: Any, who: str, rid: int, when: datetime) -> int:
    clock.move_to(when)
    made = incidents.create_incident(user(who), IncidentCreate(report_ids=[rid]))
    return int(made["incident"]["id"])


def check_in(clock: Any, who: str, when: datetime, lat: float, lon: float) -> int:
    clock.move_to(when)
    done = informants.check_in(user(who), CheckInSubmit(client_id=uuid.uuid4(), lat=lat, lon=lon))
    return int(done["checkin"]["id"])


def seed_month(month: Month) -> None:
    with time_machine.travel(at(20, 0, month=10), tick=False) as clock:
        areas.save_areas(city())
        staff = [("citysup", "supervisor", "620100"), ("supA", "supervisor", COUNTIES["A"])]
        staff += [(f"op{k}", "operator", code) for k, code in COUNTIES.items()]
        for name, role, area in staff:
            auth.create_user(
                username=name, password="x", role=role, area_code=area, password_hash="x"
            )
        for key in COUNTIES:
            for n in (1, 2):
                if (key, n) != ("D", 2):
                    auth.create_user(
                        username=f"{key.lower()}{n}",
                        password="x",
                        role="informant",
                        cell_code=cell(key, n),
                        password_hash="x",
                    )
        for key, x in (("A", 0.5), ("B", 2.5)):
            auth.create_user(
                username=f"leader{key}", password="x", role="team_leader", password_hash="x"
            )
            teams.create_team(
                None,
                TeamCreate(
                    name=f"{key}村志愿队",
                    kind="volunteer",
                    capabilities=["fire", "search", "first_aid", "rescue", "mediation"],
                    area_code=COUNTIES[key],
                    base_lat=0.5,
                    base_lon=x,
                    leader=f"leader{key}",
                ),
            )

        # A: three reports verified in a minute; a fire promoted in a minute, acknowledged
        # 2 min after the incident, on scene at 30 min, resolved; a must-talk done on time.
        for i, lon in enumerate((0.1, 0.5, 0.9)):
            rid = submit(clock, "a1", "other", at(3, 10, 10 * i), 0.5, lon)
            review(clock, "opA", rid, "verify", at(3, 10, 10 * i, 5) + timedelta(seconds=55))
            month.reports["A"].append(rid)
        fire = submit(clock, "a1", "fire", at(3, 11), 0.2, 0.3)
        month.reports["A"].append(fire)
        month.incidents["A"] = promote(clock, "opA", fire, at(3, 11, 1))
        clock.move_to(at(3, 11, 2))
        team_a = int(user("leaderA").id)
        task = tasks.dispatch_team(user("opA"), month.incidents["A"], _team_of(team_a))["task"]
        month.tasks["A"] = int(task["id"])
        clock.move_to(at(3, 11, 3))
        tasks.acknowledge_task(user("leaderA"), month.tasks["A"])
        for when, status in ((at(3, 11, 5), "en_route"), (at(3, 11, 31), "on_scene")):
            clock.move_to(when)
            tasks.update_task_status(user("leaderA"), month.tasks["A"], status)
        clock.move_to(at(3, 12))
        tasks.update_task_status(user("leaderA"), month.tasks["A"], "completed")
        clock.move_to(at(3, 12, 1))
        tasks.resolve_incident(user("opA"), month.incidents["A"], "火已扑灭")
        hardship = submit(clock, "a2", "family_misfortune", at(5, 9), 0.7, 1.5)
        month.reports["A"].append(hardship)
        review(clock, "opA", hardship, "verify", at(5, 9, 1))
        check_in(clock, "a2", at(5, 10), 0.6, 1.5)
        clock.move_to(at(6, 9))
        month.followup = followups.list_followups(user("opA"))[0]["id"]
        followups.close_followup(user("opA"), month.followup, "已上门谈心")

        # B: four reports at 10:00-10:30, escalated at 14:45, three reviewed at 15:00 (one
        # promoted), one never; the task offered at 15:01 times out.
        for i, lon in enumerate((2.1, 2.4, 2.7, 2.95)):
            month.reports["B"].append(submit(clock, "b1", "other", at(10, 10, 10 * i), 0.5, lon))
        clock.move_to(at(10, 14, 45))
        triage.escalate_overdue()
        r6, r7, r8, _r9 = month.reports["B"]
        review(clock, "opB", r6, "verify", at(10, 15))
        review(clock, "opB", r7, "verify", at(10, 15))
        month.incidents["B"] = promote(clock, "opB", r8, at(10, 15))
        clock.move_to(at(10, 15, 1))
        team_b = _team_of(int(user("leaderB").id))
        task = tasks.dispatch_team(user("opB"), month.incidents["B"], team_b)["task"]
        month.tasks["B"] = int(task["id"])
        clock.move_to(at(10, 16))
        tasks.time_out_task(month.tasks["B"])

        # C: five reports from one spot on five days, three check-ins from one spot, all
        # closed on the last evening: four dismissed, one promoted and resolved at once.
        for day in range(11, 16):
            month.reports["C"].append(submit(clock, "c1", "other", at(day, 10), 0.5, 4.5))
        for day in (2, 9, 16):
            month.checkins.append(check_in(clock, "c2", at(day, 10), 0.5, 5.5))
        for rid in month.reports["C"][:4]:
            review(clock, "opC", rid, "dismiss", at(30, 20))
        month.incidents["C"] = promote(clock, "opC", month.reports["C"][4], at(30, 20))
        clock.move_to(at(30, 20, 1))
        tasks.resolve_incident(user("opC"), month.incidents["C"], "已处理")

        # D: one report, never reviewed.
        month.reports["D"].append(submit(clock, "d1", "other", at(20, 10), 0.5, 6.5))


def _team_of(leader_id: int) -> int:
    from dispatch.models import Team

    team = db.session.scalar(db.select(Team.id).where(Team.leader_id == leader_id))
    assert team is not None
    return int(team)


@pytest.fixture
def month(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Month]:
    rules = tmp_path / "supervision.toml"
    rules.write_text(CONFIG)
    monkeypatch.setenv("GRIDWATCH_SUPERVISION_FILE", str(rules))
    seeded = Month()
    with app.app_context():
        seed_month(seeded)
        yield seeded


def bulletin_now(level: str = "county", who: str = "citysup", **kw: Any) -> dict[str, Any]:
    with time_machine.travel(at(5, 9, month=12), tick=False):
        return supervision.bulletin(user(who), "2026-11", level, **kw)


def units_of(b: dict[str, Any]) -> dict[str, dict[str, Any]]:
    by_code = {u["code"]: u for u in b["units"]}
    return {key: by_code[code] for key, code in COUNTIES.items() if code in by_code}


def test_every_figure_of_a_month(month: Month) -> None:
    b = bulletin_now()
    assert b["start"] == "2026-11-01T00:00:00+08:00" and b["end"] == "2026-12-01T00:00:00+08:00"
    u = units_of(b)
    a, b_, c, d = u["A"]["figures"], u["B"]["figures"], u["C"]["figures"], u["D"]["figures"]
    assert a == {
        "cells": 2,
        "covered_cells": 2,
        "silent_cells": 0,
        "uncovered_cells": 0,
        "coverage": 1.0,
        "informants": 2,
        "active_informants": 2,
        "reports": 5,
        "checkins": 1,
        # a1 last reported 3 Nov 11:00 (27 d 13 h before the end), a2 checked in 5 Nov
        # 10:00 (25 d 14 h): the median is 26.56 days.
        "days_since_last_median": 26.6,
        "triage_s_median": 5.0,
        "triage_s_p90": 5.0,
        "reviewed": 5,
        "review_s_median": 60.0,
        "review_s_p90": 60.0,
        "review_late": 0,
        "review_within_deadline": 1.0,
        "escalations": 0,
        "incidents": 1,
        "ack_s_median": 120.0,  # incident at 11:01, acknowledged 11:03
        "ack_s_p90": 120.0,
        "on_scene_s_median": 1800.0,  # on scene 11:31
        "on_scene_s_p90": 1800.0,
        "offers": 1,
        "acknowledged": 1,
        "timeouts": 0,
        "declines": 0,
        "resolved": 1,
        "resolution_rate": 1.0,
        "overdue_reports": 0,
        "overdue_followups": 0,
        "overdue_backlog": 0,
        "followups_due": 1,  # the family misfortune's talk, due 12 Nov, done 6 Nov
        "followups_on_time": 1,
        "followups_on_time_share": 1.0,
    }
    # B: reviews after 5 h, 4 h 50 min and 4 h 40 min; the fourth never reviewed.
    assert (b_["cells"], b_["covered_cells"], b_["silent_cells"], b_["coverage"]) == (2, 1, 1, 0.5)
    assert (b_["informants"], b_["active_informants"], b_["reports"]) == (2, 1, 4)
    assert b_["days_since_last_median"] == 31.3  # 20.56 days (b1) and 42 (b2, never: since 20 Oct)
    assert (b_["reviewed"], b_["review_late"], b_["review_within_deadline"]) == (3, 4, 0.0)
    assert (b_["review_s_median"], b_["review_s_p90"]) == (17400.0, 17880.0)
    assert b_["escalations"] == 4
    assert (b_["incidents"], b_["offers"], b_["acknowledged"], b_["timeouts"]) == (1, 1, 0, 1)
    assert b_["ack_s_median"] is None and b_["on_scene_s_median"] is None
    assert (b_["resolved"], b_["resolution_rate"]) == (0, 0.0)
    assert (b_["overdue_reports"], b_["overdue_backlog"]) == (1, 1)
    assert b_["followups_due"] == 0 and b_["followups_on_time_share"] is None
    # C: every review 15 days or more late; the incident resolved by the one who opened it.
    assert (c["coverage"], c["reports"], c["checkins"]) == (1.0, 5, 3)
    assert (c["reviewed"], c["review_within_deadline"]) == (5, 0.0)
    assert (c["incidents"], c["resolved"], c["offers"]) == (1, 1, 0)
    # D: one cell without an informant.
    assert (d["cells"], d["covered_cells"], d["uncovered_cells"], d["reports"]) == (2, 1, 1, 1)
    assert d["overdue_reports"] == 1
    # The scope's totals add up the units.
    assert b["totals"]["reports"] == 15 and b["totals"]["cells"] == 8
    assert b["totals"]["overdue_reports"] == 2 and b["totals"]["escalations"] == 4
    assert u["A"]["breakdown"]["category"] == {"family_misfortune": 1, "fire": 1, "other": 3}
    assert sum(u["B"]["breakdown"]["level"].values()) == 4
    team_rows = {t["name"]: t for t in b["teams"]}
    assert (
        team_rows["A村志愿队"]["acknowledged"] == 1
        and team_rows["A村志愿队"]["ack_s_median"] == 60.0
    )
    assert team_rows["B村志愿队"]["timeouts"] == 1 and team_rows["B村志愿队"]["offers"] == 1


def test_score_rank_and_flags(month: Month) -> None:
    u = units_of(bulletin_now())
    # A: every share 1 → 100. C: coverage 1, reviews 0, resolution 1 (no tasks, no talks):
    # (0.25 + 0 + 0.15) / 0.65 = 61.5. B: coverage 0.5, the rest 0, follow-ups unknown:
    # 0.125 / 0.85 = 14.7. D has 1 report, fewer than 2: not ranked.
    assert u["A"]["score"] == 100.0 and u["C"]["score"] == 61.5 and u["B"]["score"] == 14.7
    assert u["C"]["components"]["ack_on_time"] is None
    assert [(u[k]["rank"], u[k]["flag"]) for k in "ACB"] == [(1, "red"), (2, None), (3, "yellow")]
    assert u["D"]["status"] == "insufficient" and u["D"]["rank"] is None
    assert u["D"]["flag"] is None and u["A"]["ranked_of"] == 3


def test_gaming_signals_beside_the_score(month: Month) -> None:
    u = units_of(bulletin_now())
    signals = {s["code"]: s["count"] for s in u["C"]["signals"]}
    assert signals == {"self_closed": 1, "bulk_close": 5, "static_checkins": 3, "point_cluster": 5}
    assert u["A"]["signals"] == [] and u["B"]["signals"] == []
    # The score is the same as without them (computed above from the shares alone).
    assert u["C"]["score"] == 61.5


def test_every_number_traces_to_its_cases(month: Month) -> None:
    def ids(unit: str, figure: str, level: str = "county") -> list[str]:
        with time_machine.travel(at(5, 9, month=12), tick=False):
            found = supervision.cases(user("citysup"), "2026-11", level, unit, figure)
        assert found["count"] == len(found["ids"])
        return list(found["ids"])

    A, B, C, D = (COUNTIES[k] for k in "ABCD")
    assert ids(A, "reports") == [str(r) for r in month.reports["A"]]
    assert ids(A, "incidents") == [str(month.incidents["A"])]
    assert ids(A, "ack_s_median") == [str(month.incidents["A"])]
    assert ids(A, "followups_on_time") == [str(month.followup)]
    assert ids(B, "overdue_reports") == [str(month.reports["B"][3])]
    assert ids(B, "review_late") == [str(r) for r in month.reports["B"]]
    assert ids(B, "timeouts") == [str(month.tasks["B"])]
    assert ids(B, "covered_cells") == [cell("B", 1)] and ids(B, "silent_cells") == [cell("B", 2)]
    assert ids(D, "uncovered_cells") == [cell("D", 2)]
    assert ids(C, "signal:point_cluster") == [str(r) for r in month.reports["C"]]
    assert ids(C, "signal:static_checkins") == [str(c) for c in month.checkins]
    assert ids(C, "signal:self_closed") == [f"incident:{month.incidents['C']}"]
    assert len(ids(C, "signal:bulk_close")) == 5
    assert ids(A, "category:fire") == [str(month.reports["A"][3])]
    # The whole scope, and a lower level.
    assert len(ids("620100", "reports")) == 15
    assert ids(f"{B}001", "reports", level="township") == [str(r) for r in month.reports["B"]]
    # Every traceable figure answers, and its count is the figure.
    b = bulletin_now()
    for unit in b["units"]:
        for figure in unit["traceable"]:
            value = unit["figures"].get(figure)
            listed = ids(unit["code"], figure)
            if isinstance(value, int) and figure in supervision.CASE_TYPES:
                assert len(listed) == value, (unit["code"], figure)
    with pytest.raises(NotFound):
        ids(A, "score")


def test_a_later_month_leaves_an_earlier_one_alone(month: Month) -> None:
    before = bulletin_now()
    with time_machine.travel(at(2, 9, month=12), tick=False) as clock:
        review(clock, "opB", month.reports["B"][3], "verify", at(2, 9, month=12))
        clock.move_to(at(2, 10, month=12))
        tasks.resolve_incident(user("opB"), month.incidents["B"], "已处理")
        submit(clock, "b2", "other", at(3, 10, month=12), 0.5, 3.5)
        check_in(clock, "d1", at(3, 11, month=12), 0.5, 6.5)
    after = bulletin_now()
    for key in ("units", "totals", "teams", "distributions"):
        assert after[key] == before[key], key
    december = supervision.bulletin(user("citysup"), "2026-12", "county")
    assert units_of(december)["B"]["figures"]["reports"] == 1


def test_a_county_supervisor_sees_only_their_county(month: Month) -> None:
    b = bulletin_now(who="supA")
    assert [u["code"] for u in b["units"]] == [COUNTIES["A"]]
    assert b["scope"]["code"] == COUNTIES["A"] and b["totals"]["reports"] == 5
    # One unit is not a league: no rank, no flag.
    assert b["units"][0]["rank"] == 1 and b["units"][0]["flag"] is None
    townships = bulletin_now("township", who="supA")
    assert [u["code"] for u in townships["units"]] == [f"{COUNTIES['A']}001"]
    with pytest.raises(Forbidden):
        bulletin_now(who="supA", area="620100")
    with pytest.raises(Forbidden):
        supervision.cases(user("supA"), "2026-11", "county", COUNTIES["B"], "reports", "620103")
    with pytest.raises(NotFound):
        supervision.cases(user("supA"), "2026-11", "county", COUNTIES["B"], "reports")
    with pytest.raises(Forbidden):
        bulletin_now(who="opA")


def test_bad_periods_and_levels_are_refused(month: Month) -> None:
    for bad in ("2026-13", "2026-Q5", "26-11", "2026-11-05..2026-11-01", "2020-01-01..2022-01-01"):
        with pytest.raises(ValidationFailed) as caught:
            supervision.bulletin(user("citysup"), bad, "county")
        assert caught.value.field == "period"
    with pytest.raises(ValidationFailed):
        supervision.bulletin(user("citysup"), "2026-11", "cell")
    with pytest.raises(ValidationFailed):
        supervision.bulletin(user("supA"), "2026-11", "county", f"{COUNTIES['A']}001")


def test_trends_month_by_month(month: Month) -> None:
    with time_machine.travel(at(5, 9, month=12), tick=False):
        t = supervision.trends(user("citysup"), "2026-11", 3)
    assert [m["period"] for m in t["months"]] == ["2026-09", "2026-10", "2026-11"]
    assert [m["figures"]["reports"] for m in t["months"]] == [0, 0, 15]
    assert t["months"][2]["figures"] == bulletin_now()["totals"]


def test_the_scheduled_job_stores_last_months_bulletin_once(month: Month) -> None:
    with time_machine.travel(at(1, 0, 30, month=12), tick=False):
        assert supervision.bulletin_due() == "2026-11"
        assert supervision.prepare_bulletins("2026-11") == 3
        assert supervision.prepare_bulletins("2026-11") == 0  # safe to run twice
        assert supervision.bulletin_due() is None
    stored = db.session.scalar(
        db.select(Bulletin).where(Bulletin.period == "2026-11", Bulletin.level == "county")
    )
    assert stored is not None
    assert stored.body["units"] == bulletin_now()["units"]


def test_json_csv_print_and_cli_give_the_same_numbers(
    month: Month, app: Flask, tmp_path: Path
) -> None:
    client = app.test_client()
    with time_machine.travel(at(5, 9, month=12), tick=False):
        headers = {"Authorization": f"Bearer {auth.issue_token(user('citysup'))}"}
        answer = client.get(
            "/api/supervision/bulletin?period=2026-11&level=county", headers=headers
        )
        assert answer.status_code == 200, answer.json
        api = answer.json
        sheet = client.get(
            "/api/supervision/bulletin.csv?period=2026-11&level=county", headers=headers
        )
        assert sheet.status_code == 200 and sheet.mimetype == "text/csv"
        listed = client.get(
            f"/api/supervision/cases?period=2026-11&level=county&unit={COUNTIES['B']}"
            "&figure=overdue_reports",
            headers=headers,
        ).json
        runner = app.test_cli_runner()
        outputs = {}
        for suffix in ("json", "csv", "html", "pdf"):
            out = tmp_path / f"bulletin.{suffix}"
            result = runner.invoke(
                args=["bulletin", "--period", "2026-11", "--level", "county", "--out", str(out)]
            )
            assert result.exit_code == 0, result.output
            if suffix != "pdf":
                outputs[suffix] = out.read_text(encoding="utf-8-sig")
        # The PDF is the printable page laid out by WeasyPrint (its text: the browser test).
        assert (tmp_path / "bulletin.pdf").read_bytes().startswith(b"%PDF-")
    assert api["units"] == bulletin_now()["units"]
    assert json.loads(outputs["json"])["units"] == api["units"]
    assert listed["ids"] == [str(month.reports["B"][3])]
    rows = list(csv.DictReader(io.StringIO(sheet.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows == list(csv.DictReader(io.StringIO(outputs["csv"])))
    by_code = {r["code"]: r for r in rows}
    for unit in api["units"]:
        row = by_code[unit["code"]]
        assert row["score"] == str(unit["score"]) and row["flag"] == (unit["flag"] or "")
        for name, value in unit["figures"].items():
            assert row[name] == ("" if value is None else str(value)), name
    assert by_code["620100"]["status"] == "total" and by_code["620100"]["reports"] == "15"
    html = outputs["html"]
    for unit in api["units"]:
        assert unit["name"] in html
        if unit["rank"] is not None:
            assert f"{unit['score']:.1f}" in html


def test_operators_and_informants_get_no_bulletin(month: Month, app: Flask) -> None:
    client = app.test_client()
    for name in ("opA", "a1"):
        token = auth.issue_token(user(name))
        answer = client.get(
            "/api/supervision/bulletin?period=2026-11",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 403
    bad = client.get(
        "/api/supervision/bulletin?period=2026-11&level=planet",
        headers={"Authorization": f"Bearer {auth.issue_token(user('citysup'))}"},
    )
    assert bad.status_code == 422 and bad.json["error"]["field"] == "level"


def test_config_is_checked() -> None:
    with pytest.raises(ValueError, match="weights"):
        supervision.parse_config({"weights": {"speed": 1}})
    with pytest.raises(ValueError, match="flags.red"):
        supervision.parse_config({"weights": {"coverage": 1}, "flags": {"red": "80%"}})
    share = supervision.parse_config({"weights": {"coverage": 1}, "flags": {"red": "10%"}})
    assert share.flag_count("red", 35) == 3 and share.flag_count("red", 5) == 1


def test_the_sweep_prepares_last_months_bulletins_on_the_first(live: Flask) -> None:
    def stored() -> list[tuple[str, str]]:
        return sorted(
            tuple(r) for r in db.session.execute(db.select(Bulletin.period, Bulletin.level))
        )

    levels = ("county", "township", "village")
    with live.app_context():
        with time_machine.travel(at(30, 23, 50), tick=False):
            sweep(live)  # the sweep enqueues the job, the worker runs it: October's
            sweep(live)
            assert stored() == [("2026-10", lv) for lv in levels]
        with time_machine.travel(at(1, 0, 5, month=12), tick=False):
            sweep(live)
            sweep(live)
        assert stored() == [(p, lv) for p in ("2026-10", "2026-11") for lv in levels]
        logged = db.session.scalars(
            db.select(AuditEvent.after).where(AuditEvent.action == "bulletin.prepared")
        ).all()
        assert len(logged) == 6


def test_equal_scores_rank_by_reports_and_full_ties_share() -> None:
    config = supervision.parse_config({"weights": {"coverage": 1}})

    def row(code: str, score: float, reports: int) -> dict[str, Any]:
        return {
            "code": code,
            "status": "ranked",
            "score": score,
            "figures": {"reports": reports},
            "rank": None,
            "flag": None,
        }

    rows = [
        row("a", 100, 5),
        row("b", 100, 40),
        row("c", 100, 40),
        row("d", 70, 9),
        row("e", 20, 9),
    ]
    rows.append(row("f", 20, 9))
    supervision.rank_units(rows, config)
    got = {r["code"]: (r["rank"], r["flag"]) for r in rows}
    assert got == {
        "b": (1, "red"),
        "c": (1, "red"),  # equal in score and reports: the same rank and flag
        "a": (3, None),  # the same score on fewer reports
        "d": (4, None),
        "e": (5, "yellow"),
        "f": (5, "yellow"),
    }
