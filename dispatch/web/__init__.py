"""Server-rendered pages: login, the operator's map, the informant's and team leader's phones."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from ..errors import GridwatchError
from ..models import Role
from ..services import auth

bp = Blueprint("web", __name__)

HOME_FOR_ROLE = {
    Role.INFORMANT: "web.informant",
    Role.TEAM_LEADER: "web.team",
    Role.OPERATOR: "web.operator",
    Role.SUPERVISOR: "web.operator",
    Role.ADMIN: "web.operator",
}


def _page(template: str, roles: set[str], **context: Any) -> Any:
    if current_user.role not in roles:
        abort(403)
    token = auth.issue_token(current_user)
    return render_template(
        template,
        token=token,
        user=current_user,
        tile_url=current_app.config.get("GRIDWATCH_TILE_URL"),
        tile_crs=current_app.config.get("GRIDWATCH_TILE_CRS"),
        **context,
    )


@bp.get("/")
def index() -> Any:
    if current_user.is_authenticated:
        return redirect(url_for(HOME_FOR_ROLE.get(current_user.role, "web.login")))
    return redirect(url_for("web.login"))


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    error = None
    if request.method == "POST":
        username = request.form.get("username", "")[:64]
        password = request.form.get("password", "")[:256]
        try:
            user = auth.authenticate(username, password)
        except GridwatchError:
            error = "bad_credentials"
        else:
            login_user(user)
            target = request.args.get("next") or ""
            # Only same-site paths: never bounce a fresh login to another host.
            if not target.startswith("/") or target.startswith("//") or urlparse(target).netloc:
                target = url_for(HOME_FOR_ROLE.get(user.role, "web.index"))
            return redirect(target)
    return render_template("login.html", error=error), 401 if error else 200


@bp.post("/logout")
def logout() -> Any:
    logout_user()
    return redirect(url_for("web.login"))


@bp.get("/operator")
@login_required
def operator() -> Any:
    return _page("operator.html", {Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN})


@bp.get("/informant")
@login_required
def informant() -> Any:
    return _page("informant.html", {Role.INFORMANT})


@bp.get("/team")
@login_required
def team() -> Any:
    return _page("team.html", {Role.TEAM_LEADER})
