"""gunicorn settings for Gridwatch's web process (`gunicorn -c dispatch/gunicorn_conf.py`).

Loaded by path, not as `dispatch.…`: importing the package in gunicorn's master would import
ssl and friends before the gevent worker monkey-patches them.
"""

from __future__ import annotations

import signal
from typing import Any


def post_worker_init(worker: Any) -> None:
    """Build the locate index before the first report needs it (seconds on 100k cells), and
    drain on SIGTERM: gunicorn stops accepting connections, we stop accepting events."""
    from dispatch.realtime import handlers
    from dispatch.services import areas

    graceful_exit = signal.getsignal(signal.SIGTERM)

    def drain_then_exit(signum: int, frame: Any) -> None:
        handlers.start_draining()
        if callable(graceful_exit):
            graceful_exit(signum, frame)

    signal.signal(signal.SIGTERM, drain_then_exit)

    app = worker.wsgi
    with app.app_context():
        try:
            areas.cell_index()
        except Exception:  # an empty or not yet migrated database: build it on first use
            worker.log.warning("locate index not built at start", exc_info=True)
