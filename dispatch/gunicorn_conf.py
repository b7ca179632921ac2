"""gunicorn settings for Gridwatch's web process (`gunicorn -c dispatch/gunicorn_conf.py`).

Loaded by path, not as `dispatch.…`: importing the package in gunicorn's master would import
ssl and friends before the gevent worker monkey-patches them.
"""

from __future__ import annotations

from typing import Any


def post_worker_init(worker: Any) -> None:
    """Build the locate index before the first report needs it (seconds on 100k cells)."""
    from dispatch.services import areas

    app = worker.wsgi
    with app.app_context():
        try:
            areas.cell_index()
        except Exception:  # an empty or not yet migrated database: build it on first use
            worker.log.warning("locate index not built at start", exc_info=True)
