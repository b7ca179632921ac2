"""Open311 GeoReport v2 at /open311/v2: other systems send reports (docs/open311.md).

The views live in `views.py`; this module stays light, so that the services can import
`open311.schemas` without pulling the blueprint in.
"""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    """Mount the blueprint; it takes no browser session, so CSRF does not apply."""
    from ..extensions import csrf
    from .views import bp

    csrf.exempt(bp)
    app.register_blueprint(bp)


__all__ = ["register"]
