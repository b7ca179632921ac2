"""A scripted week on the Lanzhou demo, played through the real services, so that a
supervisor's bulletin for that week has something to show.

    .venv/bin/python scripts/demo_week.py [--start 2026-11-22] [--days 7] [--seed 1]
    .venv/bin/python scripts/demo_week.py --seed-demo     # an empty database: seed, then play

Informants report and check in, triage scores each report seconds later, operators review,
promote and dispatch, team leaders answer (or do not), stations hold their must-talks, and
the sweep escalates what nobody reviewed: every change is a real use case under a moved
clock (Beijing time), which only ever goes forward, so the audit log only grows forward.

The counties differ on purpose, so that the league table and its flags mean something:
城关区 does everything promptly; 安宁区 and 永登县 review hours late and their teams let
offers time out; 红古区 has many silent cells; 西固区 games (one informant's reports all at
one spot, check-ins that never move, the operator closing a pile on the last evening, and
incidents resolved by whoever opened them); 皋兰县 has too little activity to judge.
Everything is decided by `random.Random(--seed)`: the same database and options give the
same week.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import logging
import math
import os
import random
import sys
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import Any, Literal
from zoneinfo import ZoneInfo

import shapely
import time_machine
from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn
from rich.table import Table
from sqlalchemy import func

from dispatch import create_app
from dispatch.errors import GridwatchError, Unavailable
from dispatch.extensions import db
from dispatch.models import (
    Area,
    AuditEvent,
    CheckIn,
    FollowUp,
    Incident,
    InformantAssignment,
    Report,
    Task,
    Team,
    User,
)
from dispatch.recommend import GreatCircleRouter, mobilisation_seconds
from dispatch.schemas import (
    EMERGENCY_CATEGORIES,
    Category,
    CheckInSubmit,
    IncidentCreate,
    ReportReview,
    ReportSubmit,
)
from dispatch.services import demo, followups, incidents, informants, reports, tasks, triage

BEIJING = ZoneInfo("Asia/Shanghai")
DAY = timedelta(days=1)
SWEEP_EVERY = timedelta(minutes=15)
UNREVIEWED = ("new", "triaged")
EMERGENCIES = frozenset(EMERGENCY_CATEGORIES)


# --- who does what ---------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """How one county's people behave this week.

    `review` and `followups` are a pace: "prompt", "steady" and "fair" (see PACE), "slow"
    (hours late, some never) or "pile" (fair, but a good part left for the last evening).
    """

    about: str
    share: float  # of each day's reports
    dormant: float  # informants never heard from all week
    checkin: float  # chance an active informant checks in on a given day
    review: str
    followups: str
    answer: float  # chance the leader of one of the county's teams acknowledges an offer
    decline: float  # chance they decline it instead (otherwise the offer times out)
    gaming: bool = False
    fixed_reports: int = 0  # reports in the whole week, instead of a share of each day's


PROFILES: dict[str, Profile] = {
    "620102": Profile("prompt", 0.25, 0.03, 0.5, "prompt", "prompt", 0.95, 0.03),
    "620103": Profile("steady", 0.14, 0.05, 0.45, "steady", "steady", 0.85, 0.05),
    "620104": Profile("gaming", 0.16, 0.04, 0.45, "pile", "pile", 0.85, 0.05, gaming=True),
    "620105": Profile("slow, no answer", 0.13, 0.10, 0.4, "slow", "slow", 0.1, 0.05),
    "620111": Profile("silent cells", 0.06, 0.65, 0.4, "prompt", "fair", 0.85, 0.05),
    "620121": Profile("slow, time-outs", 0.12, 0.12, 0.35, "slow", "slow", 0.35, 0.10),
    "620122": Profile("too little", 0.0, 0.85, 0.2, "fair", "fair", 0.85, 0.05, fixed_reports=3),
    "620123": Profile("average", 0.14, 0.08, 0.4, "fair", "fair", 0.8, 0.05),
}  # fmt: skip
AVERAGE = PROFILES["620123"]
# The city's professional squads answer whichever county calls them.
CITY_SQUADS = Profile("city squads", 0.0, 0.0, 0.0, "prompt", "prompt", 0.95, 0.02)
# How soon a review or a talk is done: a range in multiples of the time given (the report's
# review deadline, the talk's due time), the share never done, and for reviews at most so
# many minutes (a prompt operator does not leave a blue report for hours because it may).
PACE: dict[str, tuple[float, float, float, float]] = {
    "prompt": (0.2, 0.8, 0.0, 12),
    "steady": (0.25, 1.2, 0.01, 60),
    "fair": (0.3, 1.6, 0.03, math.inf),
    "slow": (0.6, 2.0, 0.35, math.inf),  # talks; a slow review takes hours (SLOW_REVIEW_H)
}
SLOW_REVIEW_H = (3.0, 12.0, 0.25)
PILE_SHARE = 0.45  # of a gaming county's reports and talks, left for the last evening

# A realistic mix: mostly social reports, about one in eight an emergency (PROTOCOL codes).
CATEGORY_MIX: dict[Category, float] = {
    "dispute": 17, "safety_hazard": 16, "veteran_hardship": 12, "family_misfortune": 7,
    "public_opinion": 7, "petition": 5, "other": 24,
    "fire": 3, "traffic_accident": 4, "medical": 3, "flood": 0.6, "landslide": 0.4,
    "missing_person": 0.6, "building_collapse": 0.2, "hazmat": 0.3, "other_emergency": 0.3,
}  # fmt: skip
PLACES = (
    "小区3号楼", "农贸市场门口", "村委会旁", "学校附近", "幼儿园对面", "加油站旁", "黄河边步道",
    "城中村巷子里", "菜市场", "公交站台", "老旧小区", "建筑工地", "村口", "桥下", "家属院",
)  # fmt: skip
TEXTS: dict[str, tuple[str, ...]] = {
    "fire": ("{place}有一处民房起火，浓烟很大，已打119", "{place}电动车充电时着火，有1人受伤",
             "{place}垃圾堆冒烟起火，火势不大", "{place}饭馆厨房失火，人员已疏散"),
    "traffic_accident": ("{place}两辆车相撞，有人受伤", "{place}一辆货车侧翻，司机被困",
                         "{place}电动车和轿车追尾，没有人受伤"),
    "medical": ("{place}一位老人晕倒，呼吸困难，需要急救", "{place}有人突发心脏病，已打120",
                "{place}几个工人吃了盒饭后呕吐腹痛"),
    "flood": ("{place}暴雨后积水很深，车辆被淹", "{place}水管爆裂，路面积水严重"),
    "landslide": ("{place}山体有落石，路边出现裂缝",),
    "missing_person": ("{place}一名老人走失，家属找不到人", "{place}孩子放学后下落不明"),
    "building_collapse": ("{place}一堵危墙倒塌，下面可能有人",),
    "hazmat": ("{place}闻到刺鼻气味，疑似燃气泄漏",),
    "other_emergency": ("{place}有人持刀闹事，情况紧急",),
    "dispute": ("{place}邻里因为宅基地发生纠纷，双方争吵", "{place}两户人家因噪音问题产生矛盾",
                "{place}十几个人聚集围堵，因工程款纠纷", "{place}退役军人与物业发生口角"),
    "safety_hazard": ("{place}井盖松动，存在安全隐患", "{place}私拉乱接电线，有漏电危险",
                      "{place}楼道堆放杂物，消防通道堵塞", "{place}路灯损坏，夜间出行危险"),
    "veteran_hardship": ("{place}一位退役军人失业，生活困难", "{place}老兵看病难，家里没钱买药",
                         "{place}退役军人家庭住房困难，希望帮助"),
    "family_misfortune": ("{place}一位退役军人的父亲去世，家里办丧事",
                          "{place}退役军人妻子重病住院，家庭变故"),
    "public_opinion": ("{place}网传拆迁补偿不公，群众议论较多",
                       "{place}有人在群里传谣言，居民不满"),
    "petition": ("{place}几名退役军人准备集体上访讨说法",
                 "{place}有老兵反映安置问题，准备去信访"),
    "other": ("{place}路边有流浪人员，需要救助", "{place}居民反映垃圾长期无人清运",
              "{place}有人咨询退役军人优待证办理"),
}  # fmt: skip
# Reports by local hour: a little at night, most in the day.
HOURLY = (2, 1, 1, 1, 1, 2, 4, 8, 10, 10, 10, 10, 9, 9, 10, 10, 10, 10, 9, 8, 7, 6, 4, 3)
DISMISS_NOTES = ("重复上报", "经核实不属实", "已由社区处理", "信息不全，无法核实")
FOLLOWUP_NOTES = ("已上门谈心，了解诉求", "已电话沟通，情况稳定", "已协调帮扶，家属表示感谢")
DECLINE_REASONS = ("队员不足", "正在执行其他任务", "车辆故障")
RESOLVE_NOTES = ("现场已处置完毕", "已妥善处理", "已协调解决")
HANDED_OVER = "无可用队伍，已移交专业部门处置"


@dataclass(frozen=True)
class Informant:
    id: int
    cell: str

    @property
    def county(self) -> str:
        return self.cell[:6]


@dataclass(frozen=True)
class TeamInfo:
    kind: str
    area_code: str
    leader_id: int
    base: tuple[float, float]


@dataclass
class Options:
    start: date | None = None  # None: the day after the log's latest event
    days: int = 7
    seed: int = 1
    reports_per_day: int = 300
    seed_demo: bool = False
    cells: int = 2000


@dataclass
class Played:
    """What the week came to: its bounds and what the services refused (nothing, we hope)."""

    start: datetime
    end: datetime
    actions: int = 0
    left_after_end: int = 0
    refused: Counter[str] = field(default_factory=Counter)

    @property
    def period(self) -> str:
        return f"{self.start:%Y-%m-%d}..{(self.end - DAY):%Y-%m-%d}"


# --- the week --------------------------------------------------------------------------


class Week:
    """Plays the week: a queue of timed actions, run in order under a moved clock."""

    def __init__(self, start: datetime, options: Options) -> None:
        self.options = options
        self.rng = random.Random(options.seed)
        self.start = start
        self.end = start + options.days * DAY
        self.now = start
        self.clock: Any = None
        self._queue: list[tuple[datetime, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self.played = Played(start, self.end)
        self.seen_tasks: set[int] = set()
        self.rounds: Counter[int] = Counter()
        self._load()

    # The demo as it stands: cells, informants, operators, teams.
    def _load(self) -> None:
        self.cells: dict[str, Any] = {
            code: shapely.from_wkb(wkb)
            for code, wkb in db.session.execute(
                db.select(Area.code, Area.geometry_wkb).where(Area.level == "cell")
            )
        }
        rows = db.session.execute(
            db.select(User.id, InformantAssignment.cell_code)
            .join(InformantAssignment, InformantAssignment.user_id == User.id)
            .where(
                User.role == "informant",
                User.active.is_(True),
                User.username.startswith("informant-"),
                InformantAssignment.ended_at.is_(None),
            )
            .order_by(InformantAssignment.cell_code, User.id)
        )
        everyone = [Informant(uid, cell) for uid, cell in rows if cell in self.cells]
        if not everyone:
            raise SystemExit("no demo informants here: seed the demo first (or use --seed-demo)")
        self.by_county: dict[str, list[Informant]] = {}
        for person in everyone:
            self.by_county.setdefault(person.county, []).append(person)
        self.active: dict[str, list[Informant]] = {
            county: [p for p in people if self.rng.random() >= self.profile(county).dormant]
            for county, people in self.by_county.items()
        }
        self.operators: dict[str, int] = {
            name.removeprefix("operator-") if name != "operator" else "city": uid
            for name, uid in db.session.execute(
                db.select(User.username, User.id).where(
                    User.role == "operator", User.username.startswith("operator")
                )
            )
        }
        self.teams: dict[int, TeamInfo] = {
            tid: TeamInfo(kind, area, leader, (lat, lon))
            for tid, kind, area, leader, lat, lon in db.session.execute(
                db.select(
                    Team.id, Team.kind, Team.area_code, Team.leader_id, Team.base_lat, Team.base_lon
                ).where(Team.leader_id.is_not(None))
            )
        }
        # 西固区's gaming: one informant reports from one spot, another checks in from one.
        self.point_reporter: Informant | None = None
        self.still_checker: Informant | None = None
        for county, people in self.by_county.items():
            if self.profile(county).gaming and len(people) >= 2:
                self.point_reporter, self.still_checker = people[0], people[1]
                for person in people[:2]:
                    if person not in self.active[county]:
                        self.active[county].append(person)
        self.spot = self.inside(self.point_reporter.cell) if self.point_reporter else None
        self.still_spot = self.inside(self.still_checker.cell) if self.still_checker else None

    def profile(self, county: str) -> Profile:
        return PROFILES.get(county, AVERAGE)

    def team_profile(self, team: TeamInfo) -> Profile:
        county = team.area_code[:6]
        return CITY_SQUADS if county not in self.by_county else self.profile(county)

    def user(self, user_id: int) -> User:
        found = db.session.get(User, user_id)
        assert found is not None
        return found

    def operator_for(self, area_code: str) -> int:
        return self.operators.get(area_code[:6]) or self.operators["city"]

    def point_in(self, cell: str) -> tuple[float, float]:
        """A random (lat, lon) inside the cell."""
        shape = self.cells[cell]
        west, south, east, north = shape.bounds
        for _ in range(50):
            lon, lat = self.rng.uniform(west, east), self.rng.uniform(south, north)
            if shapely.contains_xy(shape, lon, lat):
                return lat, lon
        return self.inside(cell)

    def inside(self, cell: str) -> tuple[float, float]:
        """A fixed point well inside the cell."""
        point = self.cells[cell].representative_point()
        return point.y, point.x

    def client_id(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    # The queue.
    def at(self, when: datetime, action: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (max(when, self.now), next(self._order), action))

    def later(self, seconds: float, action: Callable[[], None]) -> None:
        self.at(self.now + timedelta(seconds=seconds), action)

    def run_until(self, until: datetime, step: Callable[[datetime], None]) -> None:
        while self._queue and self._queue[0][0] < until:
            when, _, action = heapq.heappop(self._queue)
            if when > self.now:
                self.clock.move_to(when)
                self.now = when
            try:
                action()
            except GridwatchError as exc:
                name = getattr(action, "func", action).__name__.strip("_")
                self.played.refused[f"{name}: {type(exc).__name__}: {exc}"] += 1
            self.played.actions += 1
            step(when)

    def play(self, console: Console) -> Played:
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[done]} actions"),
        )
        with (
            time_machine.travel(self.start, tick=False) as clock,
            Progress(*columns, console=console) as bar,
        ):
            self.clock = clock
            self.plan_week()
            for n in range(self.options.days):
                day = self.start + n * DAY
                self.plan_day(day)
                label = f"day {n + 1} · {day:%a %d %b}"
                line = bar.add_task(label, total=DAY.total_seconds(), done=0)
                step = partial(self._show, bar, line, day, self.played.actions)
                self.run_until(day + DAY, step)
                bar.update(line, completed=DAY.total_seconds())
            self.played.left_after_end = len(self._queue)
        return self.played

    def _show(self, bar: Progress, line: Any, day: datetime, first: int, when: datetime) -> None:
        done = self.played.actions - first
        bar.update(line, completed=(when - day).total_seconds(), done=done)

    # --- planning ---------------------------------------------------------------------

    def plan_week(self) -> None:
        for county, profile in PROFILES.items():
            people = self.active.get(county) or self.by_county.get(county, [])
            for _ in range(profile.fixed_reports if people else 0):
                day = self.start + self.rng.randrange(self.options.days) * DAY
                who = self.rng.choice(people)
                self.at(self.arrival(day), partial(self.submit, who, self.category()))
        if self.point_reporter is not None:
            county = self.point_reporter.county
            evening = self.end - DAY + timedelta(hours=19, minutes=30)
            self.at(evening, partial(self.last_evening, county))

    def plan_day(self, day: datetime) -> None:
        counties = [c for c in self.by_county if self.profile(c).share > 0]
        weights = [self.profile(c).share for c in counties]
        count = round(self.options.reports_per_day * self.rng.uniform(0.85, 1.15))
        for county in self.rng.choices(counties, weights, k=count) if counties else []:
            people = self.active[county] or self.by_county[county]
            who = self.rng.choice(people)
            self.at(self.arrival(day), partial(self.submit, who, self.category()))
        for county, people in self.active.items():
            chance = self.profile(county).checkin
            for who in people:
                if who != self.still_checker and self.rng.random() < chance:
                    self.at(self.daytime(day), partial(self.check_in, who, None))
        if self.point_reporter is not None and self.spot is not None:
            lat, lon = self.spot
            text = "家属院井盖松动，存在安全隐患"
            who = self.point_reporter
            spot = (lat + self.rng.uniform(-2e-5, 2e-5), lon + self.rng.uniform(-2e-5, 2e-5))
            self.at(self.daytime(day), partial(self.submit, who, "safety_hazard", spot, text))
        if self.still_checker is not None:
            self.at(self.daytime(day), partial(self.check_in, self.still_checker, self.still_spot))
        for k in range(int(DAY / SWEEP_EVERY)):
            self.at(day + k * SWEEP_EVERY + SWEEP_EVERY / 2, self.sweep)

    def arrival(self, day: datetime) -> datetime:
        hour = self.rng.choices(range(24), HOURLY)[0]
        # Never in the last minute of a day: each report is triaged within its day.
        return day + timedelta(hours=hour, seconds=self.rng.uniform(0, 3540))

    def daytime(self, day: datetime) -> datetime:
        return day + timedelta(hours=self.rng.uniform(7, 21.5))

    def category(self) -> Category:
        return self.rng.choices(list(CATEGORY_MIX), list(CATEGORY_MIX.values()))[0]

    # --- informants -------------------------------------------------------------------

    def submit(
        self,
        who: Informant,
        category: Category,
        spot: tuple[float, float] | None = None,
        text: str | None = None,
    ) -> None:
        lat, lon = spot or self.point_in(who.cell)
        emergency = category in EMERGENCIES
        data = ReportSubmit(
            client_id=self.client_id(),
            category=category,
            text=text or self.rng.choice(TEXTS[category]).format(place=self.rng.choice(PLACES)),
            lat=lat,
            lon=lon,
            severity=self.rng.choice((2, 3, 3, 4) if emergency else (None, 1, 2, 2, 3)),
        )
        report_id = int(reports.submit_report(self.user(who.id), data)["report"]["id"])
        self.later(self.rng.uniform(2, 8), partial(self.triage, report_id))

    def check_in(self, who: Informant, spot: tuple[float, float] | None) -> None:
        lat, lon = spot or self.point_in(who.cell)
        informants.check_in(
            self.user(who.id), CheckInSubmit(client_id=self.client_id(), lat=lat, lon=lon)
        )

    # --- triage and review ------------------------------------------------------------

    def triage(self, report_id: int) -> None:
        triage.triage_report(report_id)
        report = db.session.get(Report, report_id)
        assert report is not None and report.review_due_at is not None
        profile = self.profile(report.area_code[:6])
        operator = self.operator_for(report.area_code)
        talk = db.session.scalar(
            db.select(FollowUp).where(FollowUp.origin == f"report:{report_id}")
        )
        if talk is not None:
            self.plan_followup(talk.id, talk.due_at, operator, profile)
        if report.status not in UNREVIEWED or report.cluster_id is not None:
            return  # it joined an incident, or a cluster whose head is reviewed for it
        deadline = (report.review_due_at - report.received_at).total_seconds()
        serious = report.risk_level in ("red", "orange")
        delay = self.review_delay(profile, deadline, serious and report.category in EMERGENCIES)
        if delay is not None:
            self.later(delay, partial(self.review, report_id, operator))

    def review_delay(self, profile: Profile, deadline_s: float, urgent: bool) -> float | None:
        """Seconds after triage until the operator reviews; None: not in the normal course."""
        rng, pace = self.rng, profile.review
        if pace == "pile":
            # Emergencies are not left lying about: only the rest may wait for the evening.
            if not urgent and rng.random() < PILE_SHARE:
                return None
            pace = "fair"
        if pace == "slow":
            low, high, never = SLOW_REVIEW_H
            return None if rng.random() < never else rng.uniform(low, high) * 3600
        low, high, never, most_min = PACE[pace]
        if rng.random() < never:
            return None
        return min(deadline_s * rng.uniform(low, high), most_min * 60 * rng.uniform(0.3, 1))

    def review(self, report_id: int, operator_id: int) -> None:
        report = db.session.get(Report, report_id)
        assert report is not None
        if report.status not in UNREVIEWED or report.cluster_id is not None:
            return  # promoted meanwhile (a cluster, the city's operator)
        operator = self.user(operator_id)
        profile = self.profile(report.area_code[:6])
        serious = report.risk_level in ("red", "orange")
        emergency = report.category in EMERGENCIES
        roll = self.rng.random()
        if (emergency and (serious or roll < 0.6)) or (serious and roll < 0.7):
            made = incidents.create_incident(operator, IncidentCreate(report_ids=[report_id]))
            incident_id = int(made["incident"]["id"])
            if profile.gaming:
                # Resolved by the one who opened it, no team ever asked.
                self.later(self.rng.uniform(20, 60) * 60, partial(self.resolve, incident_id))
            else:
                self.later(self.dispatch_delay(profile), partial(self.dispatch, incident_id))
            return
        action: Literal["verify", "dismiss"] = "dismiss" if roll > 0.88 else "verify"
        note = self.rng.choice(DISMISS_NOTES) if action == "dismiss" else None
        reports.review_report(operator, ReportReview(report_id=report_id, action=action, note=note))

    def sweep(self) -> None:
        """The sweep (every few seconds in production, every quarter of an hour here)
        escalates what is past its review deadline; the city's operator takes up the red
        ones nobody in the county looked at."""
        if not triage.escalate_overdue():
            return
        red = db.session.scalars(
            db.select(Report.id).where(
                Report.escalated_at >= self.now,
                Report.risk_level == "red",
                Report.status.in_(UNREVIEWED),
                Report.cluster_id.is_(None),
            )
        ).all()
        for report_id in red:
            delay = self.rng.uniform(10, 30) * 60
            self.later(delay, partial(self.review, report_id, self.operators["city"]))

    # --- incidents and tasks ----------------------------------------------------------

    def dispatch_delay(self, profile: Profile) -> float:
        if profile.review == "slow":
            return self.rng.uniform(20, 90) * 60
        if profile.review == "prompt":
            return self.rng.uniform(20, 90)
        return self.rng.uniform(60, 300)

    def dispatch(self, incident_id: int) -> None:
        incident = db.session.get(Incident, incident_id)
        assert incident is not None and incident.created_by is not None
        if incident.status != "open":
            return
        self.rounds[incident_id] += 1
        operator = self.user(incident.created_by)
        for candidate in incidents.recommendations(operator, incident_id, limit=5):
            try:
                offer = tasks.dispatch_team(operator, incident_id, int(candidate["team_id"]))
            except Unavailable:
                continue
            self.offered(int(offer["task"]["id"]))
            return
        self.no_team(incident_id)

    def no_team(self, incident_id: int) -> None:
        """Nobody to send (or nobody answered twice): a careful operator hands it over to
        the professionals; a slow one leaves it open."""
        incident = db.session.get(Incident, incident_id)
        assert incident is not None
        profile = self.profile(incident.area_code[:6])
        if profile.review == "slow":
            return
        if self.rounds[incident_id] < 2:
            self.later(self.rng.uniform(2, 10) * 60, partial(self.dispatch, incident_id))
        else:
            self.later(self.rng.uniform(2, 10) * 60, partial(self.hand_over, incident_id))

    def hand_over(self, incident_id: int) -> None:
        incident = db.session.get(Incident, incident_id)
        assert incident is not None and incident.created_by is not None
        if incident.status == "open":
            tasks.cancel_incident(self.user(incident.created_by), incident_id, HANDED_OVER)

    def offered(self, task_id: int) -> None:
        """The team's leader hears the offer: acknowledges, declines, or never answers."""
        self.seen_tasks.add(task_id)
        task = db.session.get(Task, task_id)
        assert task is not None
        behaviour = self.team_profile(self.teams[task.team_id])
        window = (task.ack_deadline - self.now).total_seconds()
        roll = self.rng.random()
        if roll < behaviour.answer:
            self.later(window * self.rng.uniform(0.15, 0.75), partial(self.acknowledge, task_id))
        elif roll < behaviour.answer + behaviour.decline:
            self.later(window * self.rng.uniform(0.1, 0.6), partial(self.decline, task_id))
        else:  # the sweep notices the deadline within its interval
            when = task.ack_deadline + timedelta(seconds=self.rng.uniform(1, 15))
            self.at(when, partial(self.time_out, task_id))

    def leader(self, task_id: int) -> tuple[Task, User]:
        task = db.session.get(Task, task_id)
        assert task is not None
        return task, self.user(self.teams[task.team_id].leader_id)

    def acknowledge(self, task_id: int) -> None:
        _, leader = self.leader(task_id)
        tasks.acknowledge_task(leader, task_id)
        self.later(self.rng.uniform(60, 240), partial(self.move, task_id, "en_route"))

    def decline(self, task_id: int) -> None:
        task, leader = self.leader(task_id)
        incident_id = task.incident_id
        tasks.decline_task(leader, task_id, self.rng.choice(DECLINE_REASONS))
        self.after_offer(incident_id)

    def time_out(self, task_id: int) -> None:
        task = db.session.get(Task, task_id)
        assert task is not None
        incident_id = task.incident_id
        tasks.time_out_task(task_id)
        self.after_offer(incident_id)

    def after_offer(self, incident_id: int) -> None:
        """The cascade may have offered the next team; if not, the incident is open again."""
        offered = db.session.scalars(
            db.select(Task.id)
            .where(Task.incident_id == incident_id, Task.status == "offered")
            .order_by(Task.id)
        ).all()
        fresh = [t for t in offered if t not in self.seen_tasks]
        for task_id in fresh:
            self.offered(task_id)
        if not offered:
            incident = db.session.get(Incident, incident_id)
            if incident is not None and incident.status == "open":
                self.no_team(incident_id)

    def move(self, task_id: int, status: str) -> None:
        task, leader = self.leader(task_id)
        team = self.teams[task.team_id]
        incident = task.incident
        tasks.update_task_status(leader, task_id, status)
        if status == "en_route":
            router = GreatCircleRouter().for_area(incident.area_code)
            travel = router.travel_seconds(*team.base, incident.lat, incident.lon, team.kind)
            arrive = max(120, travel) * self.rng.uniform(0.8, 1.3)
            self.later(arrive, partial(self.move, task_id, "on_scene"))
        elif status == "on_scene":
            work = (40, 150) if team.kind in ("mediation", "relief") else (20, 90)
            self.later(self.rng.uniform(*work) * 60, partial(self.move, task_id, "completed"))
        elif status == "completed":
            after = self.resolve_delay(self.profile(incident.area_code[:6]))
            if after is not None:  # the operator writes how it was resolved
                self.later(after, partial(self.resolve, incident.id))
            back = mobilisation_seconds(team.kind) + self.rng.uniform(15, 60) * 60
            self.later(back, partial(self.back_at_base, task_id))

    def resolve_delay(self, profile: Profile) -> float | None:
        if profile.review == "slow":
            return self.rng.uniform(2, 8) * 3600 if self.rng.random() < 0.7 else None
        return self.rng.uniform(3, 15 if profile.review == "prompt" else 60) * 60

    def resolve(self, incident_id: int) -> None:
        incident = db.session.get(Incident, incident_id)
        assert incident is not None and incident.created_by is not None
        if incident.status in ("closed", "cancelled"):
            return
        note = self.rng.choice(RESOLVE_NOTES)
        tasks.resolve_incident(self.user(incident.created_by), incident_id, note)

    def back_at_base(self, task_id: int) -> None:
        _, leader = self.leader(task_id)
        tasks.set_team_status(leader, "available")

    # --- follow-ups and the gaming evening --------------------------------------------

    def plan_followup(
        self, followup_id: int, due: datetime, operator: int, profile: Profile
    ) -> None:
        rng, pace = self.rng, profile.followups
        if pace == "pile":
            if rng.random() < PILE_SHARE:
                return  # the last evening
            pace = "fair"
        low, high, never, _ = PACE[pace]
        if rng.random() >= never:
            delay = (due - self.now).total_seconds() * rng.uniform(low, high)
            self.later(delay, partial(self.close_followup, followup_id, operator))

    def close_followup(self, followup_id: int, operator_id: int) -> None:
        row = db.session.get(FollowUp, followup_id)
        if row is not None and row.status == "open":
            note = self.rng.choice(FOLLOWUP_NOTES)
            followups.close_followup(self.user(operator_id), followup_id, note)

    def last_evening(self, county: str) -> None:
        """The gaming operator clears the week's queue and open talks in one evening."""
        operator_id = self.operators.get(county)
        if operator_id is None:
            return
        operator = self.user(operator_id)
        pile = [int(r["id"]) for r in reports.triage_queue(operator, limit=5000)]
        talks = [int(f["id"]) for f in followups.list_followups(operator, limit=5000)]
        elapsed = 0.0
        for report_id in pile:
            elapsed += self.rng.uniform(8, 25)
            self.later(elapsed, partial(self.close_in_bulk, report_id, operator_id))
        for followup_id in talks:
            elapsed += self.rng.uniform(8, 25)
            self.later(elapsed, partial(self.close_followup, followup_id, operator_id))

    def close_in_bulk(self, report_id: int, operator_id: int) -> None:
        report = db.session.get(Report, report_id)
        assert report is not None
        if report.status not in UNREVIEWED or report.cluster_id is not None:
            return
        operator = self.user(operator_id)
        if report.category in EMERGENCIES:
            made = incidents.create_incident(operator, IncidentCreate(report_ids=[report_id]))
            self.later(self.rng.uniform(30, 90), partial(self.resolve, int(made["incident"]["id"])))
            return
        dismiss = self.rng.random() < 0.75
        reports.review_report(
            operator,
            ReportReview(
                report_id=report_id,
                action="dismiss" if dismiss else "verify",
                note=self.rng.choice(DISMISS_NOTES[:2]) if dismiss else None,
            ),
        )


# --- the start, the summary, the command line ------------------------------------------


def latest_event() -> datetime | None:
    return db.session.scalar(db.select(func.max(AuditEvent.at)))


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), BEIJING)


def choose_start(options: Options, console: Console) -> datetime:
    """The week's first midnight: never before an event already in the log."""
    if options.seed_demo:
        if not demo.database_is_empty():
            raise SystemExit("--seed-demo needs an empty database; this one has data")
        today = datetime.now(BEIJING).date()
        start = local_midnight(options.start or today - timedelta(days=options.days))
        seeded_at = start - DAY + timedelta(hours=9)
        with time_machine.travel(seeded_at, tick=False):
            demo.seed(cells=options.cells, progress=console)
        console.print(f"Seeded the demo ({options.cells} cells) at {seeded_at:%Y-%m-%d %H:%M}.")
        return start
    last = latest_event()
    if options.start is None:
        if last is None:
            raise SystemExit("the database is empty: seed the demo first (or use --seed-demo)")
        return local_midnight(last.astimezone(BEIJING).date() + DAY)
    start = local_midnight(options.start)
    if last is not None and start < last:
        raise SystemExit(
            f"the log already holds events up to {last.astimezone(BEIJING):%Y-%m-%d %H:%M}; "
            "the clock never goes back: start on a later day"
        )
    return start


def play(options: Options, console: Console | None = None) -> Played:
    """Seed if asked, then play the week; needs an app context."""
    console = console or Console(quiet=True)
    start = choose_start(options, console)
    return Week(start, options).play(console)


def summary(played: Played) -> Table:
    """Reports, incidents, tasks and check-ins of the week, by county, from the database."""
    window_start, window_end = played.start, played.end

    def by_county(column: Any, when: Any, *extra: Any, of_tasks: bool = False) -> Counter[str]:
        county = func.substr(column, 1, 6).label("county")
        stmt = db.select(county, func.count()).where(
            when >= window_start, when < window_end, *extra
        )
        if of_tasks:
            stmt = stmt.select_from(Task).join(Incident, Incident.id == Task.incident_id)
        return Counter(dict(db.session.execute(stmt.group_by(county)).all()))

    columns: dict[str, Counter[str]] = {
        "reports": by_county(Report.area_code, Report.received_at),
        "reviewed": by_county(
            Report.area_code, Report.received_at, Report.status.not_in(UNREVIEWED)
        ),
        "escalated": by_county(Report.area_code, Report.escalated_at),
        "incidents": by_county(Incident.area_code, Incident.created_at),
        "tasks": by_county(Incident.area_code, Task.offered_at, of_tasks=True),
        "acked": by_county(
            Incident.area_code, Task.offered_at, Task.acknowledged_at.is_not(None), of_tasks=True
        ),
        "timed out": by_county(
            Incident.area_code, Task.offered_at, Task.status == "timed_out", of_tasks=True
        ),
        "check-ins": by_county(CheckIn.cell_code, CheckIn.at),
        "talks done": by_county(FollowUp.station_code, FollowUp.closed_at),
    }
    counties = db.select(Area.code, Area.name).where(Area.level == "county")
    names = dict(db.session.execute(counties).all())
    table = Table(
        title=f"The week {played.period} (Beijing time)", box=box.SIMPLE_HEAD, pad_edge=False
    )
    table.add_column("county", no_wrap=True)
    for name in columns:
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("as played", no_wrap=True)
    for code in sorted(names):
        cells = [str(columns[name][code]) for name in columns]
        table.add_row(names[code], *cells, PROFILES.get(code, AVERAGE).about)
    totals = [str(sum(c.values())) for c in columns.values()]
    table.add_row("total", *totals, "", style="bold")
    return table


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--start",
        type=date.fromisoformat,
        help="first day (Beijing); default the day after the latest event in the log, or "
        "with --seed-demo the week that ended last midnight",
    )
    parser.add_argument("--days", type=int, default=7, help="how many days (default 7)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--reports-per-day", type=int, default=300, help="the volume (default 300)")
    parser.add_argument(
        "--seed-demo",
        action="store_true",
        help="on an empty database: create the tables and seed the demo the day before",
    )
    parser.add_argument(
        "--cells", type=int, default=2000, help="the demo's cells with --seed-demo (2000)"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.days <= 92 or args.reports_per_day < 0 or args.cells < 1:
        parser.error("--days is 1 to 92, --reports-per-day and --cells positive")
    return Options(
        start=args.start,
        days=args.days,
        seed=args.seed,
        reports_per_day=args.reports_per_day,
        seed_demo=args.seed_demo,
        cells=args.cells,
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 130)
    # No Redis: a worker on the real clock would time out the offers of this moved one.
    app = create_app({"REDIS_URL": None, "GRIDWATCH_RATE_LIMITS": False})
    logging.getLogger("dispatch").setLevel(logging.WARNING)
    with app.app_context():
        if options.seed_demo:
            from flask_migrate import upgrade

            upgrade()
        played = play(options, console)
        console.print(summary(played))
    console.print(
        f"{played.actions} actions played; {played.left_after_end} fell after the week's end."
    )
    for what, count in played.refused.most_common():
        console.print(f"[yellow]refused {count}×[/] {what}")
    env = os.environ.get("GRIDWATCH_INSTANCE")
    prefix = f"GRIDWATCH_INSTANCE={env} " if env else ""
    console.print("The week's bulletin:")
    console.print(
        f"  {prefix}.venv/bin/gridwatch bulletin --period {played.period} --level county "
        "--out demo-week.html",
        highlight=False,
        soft_wrap=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
