"""Redis and the RQ queue the app enqueues on."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import redis
from flask import current_app
from rq import Queue

log = logging.getLogger(__name__)

QUEUE_NAME = "gridwatch"


def redis_client() -> redis.Redis | None:
    """The app's Redis connection, or None when no REDIS_URL is configured."""
    url = current_app.config.get("REDIS_URL")
    if not url:
        return None
    client: redis.Redis | None = current_app.extensions.get("gridwatch_redis")
    if client is None:
        client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
        current_app.extensions["gridwatch_redis"] = client
    return client


def get_queue() -> Queue | None:
    client = redis_client()
    return Queue(QUEUE_NAME, connection=client) if client is not None else None


def enqueue(func: str, *args: Any, at: datetime | None = None, job_id: str | None = None) -> None:
    """Enqueue a job by dotted path; a failure is logged, the sweep will catch up."""
    queue = get_queue()
    if queue is None:
        log.info("no Redis configured; %s%r left to the sweep", func, args)
        return
    try:
        if at is not None:
            queue.enqueue_at(at, func, *args, job_id=job_id, result_ttl=60, failure_ttl=86400)
        else:
            queue.enqueue(func, *args, job_id=job_id, result_ttl=60, failure_ttl=86400)
    except redis.RedisError:
        log.exception("could not enqueue %s%r; the sweep will catch up", func, args)
