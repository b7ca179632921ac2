"""Server-rendered pages: login, the operator's map, the informant's and team leader's phones."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from ..errors import GridwatchError
from ..extensions import db
from ..models import Area, InformantAssignment, Role, User
from ..services import auth

bp = Blueprint("web", __name__)

HOME_FOR_ROLE: dict[str, str] = {
    Role.INFORMANT: "web.informant",
    Role.TEAM_LEADER: "web.team",
    Role.OPERATOR: "web.operator",
    Role.SUPERVISOR: "web.operator",
    Role.ADMIN: "web.operator",
}


def category_labels() -> dict[str, str]:
    """Report categories in PROTOCOL.md order, labelled in the request's language."""
    return {
        "fire": _("Fire"),
        "flood": _("Flood"),
        "landslide": _("Landslide"),
        "earthquake": _("Earthquake"),
        "traffic_accident": _("Traffic accident"),
        "building_collapse": _("Building collapse"),
        "missing_person": _("Missing person"),
        "medical": _("Medical emergency"),
        "hazmat": _("Hazardous materials"),
        "other_emergency": _("Other emergency"),
        "dispute": _("Dispute"),
        "petition": _("Petition"),
        "public_opinion": _("Public opinion"),
        "veteran_hardship": _("Veteran hardship"),
        "safety_hazard": _("Safety hazard"),
        "family_misfortune": _("Family misfortune"),
        "other": _("Other"),
    }


def code_labels() -> dict[str, dict[str, str]]:
    """Every code a page shows, labelled; rendered once into the page for its script."""
    return {
        "category": category_labels(),
        "risk": {
            "red": _("Red (I)"),
            "orange": _("Orange (II)"),
            "yellow": _("Yellow (III)"),
            "blue": _("Blue (IV)"),
            "": _("Not triaged"),
        },
        "severity": {
            "1": _("1 · low"),
            "2": _("2 · moderate"),
            "3": _("3 · serious"),
            "4": _("4 · critical"),
        },
        "report_status": {
            "new": _("New"),
            "triaged": _("Triaged"),
            "verified": _("Verified"),
            "dismissed": _("Dismissed"),
            "merged": _("Merged"),
            "promoted": _("In an incident"),
        },
        "incident_status": {
            "open": _("Open"),
            "dispatched": _("Dispatched"),
            "acknowledged": _("Acknowledged"),
            "on_scene": _("On scene"),
            "resolved": _("Resolved"),
            "closed": _("Closed"),
            "cancelled": _("Cancelled"),
        },
        "task_status": {
            "offered": _("Offered"),
            "acknowledged": _("Acknowledged"),
            "en_route": _("En route"),
            "on_scene": _("On scene"),
            "completed": _("Completed"),
            "declined": _("Declined"),
            "timed_out": _("Timed out"),
            "cancelled": _("Cancelled"),
        },
        "team_kind": {
            "professional_rescue": _("Professional rescue"),
            "volunteer": _("Volunteer team"),
            "mediation": _("Mediation"),
            "relief": _("Relief"),
        },
        "reason": {
            "category": _("Category"),
            "severity": _("Severity"),
            "casualties": _("Casualties"),
            "vulnerable": _("Vulnerable people"),
            "fire": _("Fire signs"),
            "flood": _("Flood signs"),
            "landslide": _("Landslide signs"),
            "crowd": _("Crowd or violence"),
        },
        "team_status": {
            "available": _("Available"),
            "dispatched": _("Dispatched"),
            "en_route": _("En route"),
            "on_scene": _("On scene"),
            "returning": _("Returning"),
            "off_duty": _("Off duty"),
        },
    }


@bp.app_context_processor
def _page_globals() -> dict[str, Any]:
    locale = str(get_locale() or "zh")
    return {"lang": locale, "html_lang": "zh-CN" if locale.startswith("zh") else "en"}


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
        codes=code_labels(),
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
    return _page("informant.html", {Role.INFORMANT}, cell=_informant_cell(current_user))


def _informant_cell(user: User) -> dict[str, Any] | None:
    """The informant's cell and its centre: the fallback position when GPS is unavailable."""
    code = (
        db.session.scalar(
            db.select(InformantAssignment.cell_code)
            .where(InformantAssignment.user_id == user.id, InformantAssignment.ended_at.is_(None))
            .order_by(InformantAssignment.id.desc())
        )
        or user.area_code
    )
    area = db.session.get(Area, code) if code else None
    if area is None:
        return None
    return {
        "code": area.code,
        "name": area.name,
        "lat": round(area.centroid_lat, 6),
        "lon": round(area.centroid_lon, 6),
    }


@bp.get("/team")
@login_required
def team() -> Any:
    return _page("team.html", {Role.TEAM_LEADER})
