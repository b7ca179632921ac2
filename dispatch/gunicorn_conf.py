"""gunicorn settings for Gridwatch's web process (`gunicorn -c dispatch/gunicorn_conf.py`).

Loaded by path, not as `dispatch.…`: importing the package in gunicorn's master would import
ssl and friends before the gevent worker monkey-patches them.
"""

from __future__ import annotations

import gc
import resource
import signal
from typing import Any


def on_starting(server: Any) -> None:
    """Every connected phone holds a socket: allow as many open files as the system lets us
    (the soft limit is often 1,024 while the hard limit is far higher)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        wanted = 1_048_576 if hard == resource.RLIM_INFINITY else hard
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):
            server.log.warning("could not raise the open-file limit from %d", soft)


def post_worker_init(worker: Any) -> None:
    """Build the locate index before the first report needs it (seconds on 100k cells), and
    drain on SIGTERM: gunicorn stops accepting connections, we stop accepting events."""
    from dispatch.realtime import handlers
    from dispatch.realtime.handlers import start_web_process
    from dispatch.services import areas

    graceful_exit = signal.getsignal(signal.SIGTERM)

    def drain_then_exit(signum: int, frame: Any) -> None:
        handlers.start_draining()
        if callable(graceful_exit):
            graceful_exit(signum, frame)

    signal.signal(signal.SIGTERM, drain_then_exit)

    app = worker.wsgi
    start_web_process(app)
    with app.app_context():
        try:
            areas.cell_index()
        except Exception:  # an empty or not yet migrated database: build it on first use
            worker.log.warning("locate index not built at start", exc_info=True)
    calm_garbage_collector()


def calm_garbage_collector() -> None:
    """With 20,000 phones connected, every full collection walks every socket's objects and
    stalls all of them for a moment (seconds at p99 in the `idle` benchmark). What exists
    at start-up (the app, the locate index) is frozen out of collection, and collections
    run less often; reference counting still frees almost everything at once."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
