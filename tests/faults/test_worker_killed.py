"""An RQ worker is killed (SIGKILL) in the middle of a job."""

from __future__ import annotations

import signal
import uuid

from redis import Redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import StartedJobRegistry

from dispatch.queue import QUEUE_NAME
from tests.faults import processes
from tests.faults.conftest import Deploy
from tests.faults.locks import exclusive_lock
from tests.faults.stream import LAT, LON
from tests.integration.clients import Recorder

REPORTS = 5


def job_kind(connection: Redis, job_id: str) -> str:
    """The job's function; "gone" when it has finished and left nothing behind (a sweep:
    it keeps no result)."""
    try:
        return Job.fetch(job_id, connection=connection).func_name.rsplit(".", 1)[-1]
    except NoSuchJobError:
        return "gone"


def test_job_of_a_killed_worker_takes_effect_once(deploy: Deploy) -> None:
    gw = deploy()
    informant = Recorder(gw.url, "/informant", gw.tokens(1)[0])
    queue = gw.redis_connection()
    try:
        worker = gw.child("worker")
        # Keep the jobs waiting in the queue while the reports go in.
        processes.kill([worker], signal.SIGSTOP)
        ids = []
        for n in range(REPORTS):
            # A veteran in hardship: triage also opens the must-talk follow-up.
            ack = informant.call(
                "report:submit",
                {
                    "client_id": str(uuid.uuid4()),
                    "category": "veteran_hardship",
                    "text": f"fault test: worker killed, report {n}",
                    "lat": LAT,
                    "lon": LON + 0.01 * n,
                },
            )
            assert ack["ok"], ack
            ids.append(ack["report"]["id"])
        # A sweep queued before the pause would run first: the job to kill is a triage.
        # (The paused worker's blocking pop has already taken the first job off the queue.)
        waiting = Queue(QUEUE_NAME, connection=queue)
        for job_id in waiting.job_ids:
            if not job_id.startswith("triage-"):
                waiting.remove(job_id)
        started = StartedJobRegistry(QUEUE_NAME, connection=queue)
        # Another process holds the database: the worker's first job stops half-way.
        with exclusive_lock(gw.database_path):
            processes.kill([worker], signal.SIGCONT)
            job = processes.wait_until(
                lambda: started.get_job_ids(),
                timeout=10,
                what="the worker starts a triage job",
            )[0]
            scheduler = processes.children(worker)  # RQ's scheduler, forked by the worker
            processes.kill([worker], signal.SIGKILL)
        # Almost always triage-<first id>-<count>; a sweep only if one was taken just before
        # the pause.
        first = job.split("-")[1] if job.startswith("triage-") else ""
        assert first in {str(i) for i in ids} or job_kind(queue, job) in ("sweep", "gone"), job
        rows = gw.store.by_id(ids)
        assert all(r.triaged_at is None for r in rows.values()), "triaged before the kill"
        processes.wait_until(
            lambda: not any(processes.alive(p) for p in scheduler),
            timeout=10,
            what=f"the killed worker's scheduler {scheduler} exits too (no orphan)",
        )
        processes.wait_until(
            lambda: processes.child_of(gw.pid, "worker") not in (None, worker),
            timeout=10,
            what="serve starts a new worker",
        )

        def untriaged() -> list[int]:
            return [r.id for r in gw.store.by_id(ids).values() if r.triaged_at is None]

        # The others' jobs are still queued; the killed one's report is left to the sweep.
        processes.wait_until(lambda: not untriaged(), timeout=30, what="every report triaged")
        triaged = gw.store.audit_count("report.triaged", ids)
        followups = gw.store.followups(ids)
        assert triaged == {i: 1 for i in ids}, f"triage audit events per report: {triaged}"
        assert followups == {i: 1 for i in ids}, f"follow-ups per report: {followups}"
        for i in ids:  # told once that it was triaged: one triage, one message
            informant.wait_for("report:updated", lambda e, i=i: e["id"] == i, timeout=10)
        updates = [e["id"] for e in informant.received("report:updated")]
        assert sorted(updates) == sorted(ids), updates
        swept = gw.swept()
        # A killed triage leaves its report to the sweep; a sweep that was killed (or had
        # finished) left nothing behind.
        assert swept >= 1 or not first, "the killed job's report was not picked up by the sweep"
        print(
            f"\nfaults: SIGKILL of the RQ worker in job {job}; reports {REPORTS}, triaged by "
            f"the sweep {swept}, the rest by their queued jobs; triaged once each "
            f"{len(triaged)}, follow-ups opened once each {len(followups)}, informant told "
            f"once of each {len(updates)}"
        )
    finally:
        informant.close()
        queue.close()
