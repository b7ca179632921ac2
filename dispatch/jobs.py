"""RQ entry points. Each takes ids, calls a service, and is safe to run twice."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from flask import current_app

from .extensions import db
from .queue import enqueue
from .services import followups, reports, supervision, tasks, triage, webhooks
from .services.uow import unit_of_work

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


def job(func: Callable[P, R]) -> Callable[P, R]:
    """Run inside the worker's app context and leave no session behind."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        finally:
            db.session.remove()

    return wrapper


@job
def triage_report(report_id: int) -> dict[str, Any] | None:
    return triage.triage_report(report_id)


TRIAGE_CHUNK = 4


@job
def triage_reports(report_ids: list[int]) -> int:
    """Triage one group commit's reports, a chunk per transaction (so that the chunk's
    broadcasts go out coalesced and the web process never waits long for the database);
    a chunk that fails is done again report by report. Returns how many were triaged."""
    done = 0
    for start in range(0, len(report_ids), TRIAGE_CHUNK):
        chunk = report_ids[start : start + TRIAGE_CHUNK]
        try:
            with unit_of_work():
                done += triage.triage_many(chunk)
        except Exception:
            log.warning("triage of reports %s failed together; one by one", chunk, exc_info=True)
            for rid in chunk:
                try:
                    done += triage.triage_report(rid) is not None
                except Exception:  # the sweep tries again
                    log.exception("triage of report %s failed", rid)
    return done


@job
def expire_task(task_id: int) -> dict[str, Any] | None:
    return tasks.time_out_task(task_id)


@job
def prepare_bulletins(period: str) -> int:
    """Store the city's bulletins of a month (services/supervision.py); safe to run twice."""
    return supervision.prepare_bulletins(period)


@job
def plan_webhook_deliveries() -> int:
    """Turn new report and incident events into webhook deliveries; safe to run twice."""
    return webhooks.plan_job()


@job
def deliver_webhook(delivery_id: int) -> int:
    """Send this delivery's subscriber what is due, in order; safe to run twice."""
    return webhooks.deliver(delivery_id)


@job
def sweep() -> dict[str, int]:
    """Pick up work whose job was lost: untriaged reports, offers past their deadline; and
    from the 1st of each month, last month's bulletins until they are stored."""
    # A triage job takes milliseconds: a report still untriaged a few sweeps on has lost its
    # job (Redis died, or the worker). At the default 15 s interval this is the usual 10 s.
    interval = current_app.config["GRIDWATCH_SWEEP_INTERVAL_S"]
    untriaged = reports.untriaged_report_ids(min(reports.TRIAGE_SWEEP_AFTER_S, 3 * interval))
    for report_id in untriaged:
        triage.triage_report(report_id)
    overdue = tasks.overdue_task_ids()
    for task_id in overdue:
        tasks.time_out_task(task_id)
    escalated = triage.escalate_overdue()
    festival = followups.open_festival_followups()
    due = supervision.bulletin_due()
    if due is not None:  # one job a month: the id keeps a second sweep from adding another
        enqueue("dispatch.jobs.prepare_bulletins", due, job_id=f"bulletins-{due}")
    webhook_jobs = webhooks.sweep()  # deliveries whose job was lost, retries now due
    if untriaged or overdue or escalated or festival:
        log.info(
            "sweep: triaged %d, timed out %d, escalated %d, festival follow-ups %d",
            len(untriaged),
            len(overdue),
            escalated,
            festival,
        )
    return {
        "triaged": len(untriaged),
        "timed_out": len(overdue),
        "escalated": escalated,
        "festival_followups": festival,
        "bulletins_due": 1 if due else 0,
        "webhook_jobs": webhook_jobs,
    }
