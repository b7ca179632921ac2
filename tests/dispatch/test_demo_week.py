"""scripts/demo_week.py on a small demo: a week whose bulletin ranks the counties, flags the
best and the worst, warns about the gaming one, and lost nothing on the way."""

from __future__ import annotations

import importlib.util
import sys
from datetime import date, datetime
from pathlib import Path
from types import ModuleType
from zoneinfo import ZoneInfo

import pytest
import time_machine
from flask import Flask

from dispatch.extensions import db
from dispatch.models import AuditEvent, Report, Task
from dispatch.services import supervision

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "demo_week.py"
BEIJING = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def demo_week() -> ModuleType:
    """The script, imported from its file (scripts/ is no package)."""
    spec = importlib.util.spec_from_file_location("demo_week", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("demo_week", module)
    spec.loader.exec_module(module)
    return module


def test_a_week_on_a_small_demo(app: Flask, demo_week: ModuleType) -> None:
    options = demo_week.Options(
        start=date(2026, 11, 1), days=7, seed=1, reports_per_day=20, seed_demo=True, cells=40
    )
    with app.app_context():
        played = demo_week.play(options)
        assert played.period == "2026-11-01..2026-11-07"
        assert not played.refused  # every action the script took, the services accepted
        assert demo_week.summary(played).row_count == 9  # eight counties and the total
        with time_machine.travel(datetime(2026, 11, 9, tzinfo=BEIJING), tick=False):
            bulletin = supervision.bulletin(None, played.period, "county")

        # Nothing lost: every report triaged, every offer past its deadline answered or
        # timed out, and the bulletin counts every report the week brought.
        reports = db.session.scalar(db.select(db.func.count(Report.id)))
        assert db.session.scalar(db.select(Report.id).where(Report.status == "new")) is None
        stale = db.select(Task.id).where(Task.status == "offered", Task.ack_deadline < played.end)
        assert db.session.scalar(stale) is None
        assert bulletin["totals"]["reports"] == reports > 100
        # The clock only went forward: the log's order is its time order.
        times = db.session.scalars(db.select(AuditEvent.at).order_by(AuditEvent.id)).all()
        assert times == sorted(times)

    units = {u["code"]: u for u in bulletin["units"]}
    ranked = [u for u in bulletin["units"] if u["status"] == "ranked"]
    assert len(ranked) == 7 and [u["rank"] for u in ranked] == list(range(1, 8))
    assert units["620102"]["flag"] == "red"  # 城关区, prompt in everything
    assert [u["flag"] for u in ranked].count("yellow") == 1 and ranked[-1]["flag"] == "yellow"
    assert units["620122"]["status"] == "insufficient"  # 皋兰县, three reports
    # 西固区: one informant's reports at one spot, another's check-ins that never move.
    gaming = {s["code"] for s in units["620104"]["signals"]}
    assert {"point_cluster", "static_checkins"} <= gaming
    assert all(not u["signals"] for code, u in units.items() if code != "620104")
