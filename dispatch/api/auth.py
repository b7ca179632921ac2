from __future__ import annotations

from typing import Any

from flask import jsonify

from .. import ratelimit
from ..schemas import TokenRequest
from ..services import auth
from ..services.views import user_view
from . import bp
from .common import body


@bp.post("/auth/token")
@ratelimit.login_limit
def token() -> Any:
    data = body(TokenRequest)
    user = auth.authenticate(data.username, data.password)
    return jsonify(token=auth.issue_token(user), user=user_view(user))
