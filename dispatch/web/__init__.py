"""Server-rendered pages: login, the operator's map, the phones, supervision and its bulletin."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import segno
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_limiter.errors import RateLimitExceeded
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf.csrf import CSRFError
from markupsafe import Markup

from .. import ratelimit
from ..errors import GridwatchError, RateLimited
from ..extensions import login_manager
from ..models import Role
from ..services import auth, informants, supervision
from . import bulletin as bulletin_page
from .bulletin import render_bulletin_html

bp = Blueprint("web", __name__)

HOME_FOR_ROLE: dict[str, str] = {
    Role.INFORMANT: "web.informant",
    Role.TEAM_LEADER: "web.team",
    Role.OPERATOR: "web.operator",
    Role.SUPERVISOR: "web.operator",
    Role.ADMIN: "web.operator",
}
SUPERVISION_ROLES: set[str] = {Role.SUPERVISOR, Role.ADMIN}


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
            "negated": _("Negated (not counted)"),
            "night": _("At night"),
            "cell_history": _("Several reports from this cell"),
            "cluster": _("Reports of the same event"),
            "signal:fire": _("Fire signs"),
            "signal:explosion": _("Explosion"),
            "signal:flood": _("Flood signs"),
            "signal:landslide": _("Landslide signs"),
            "signal:earthquake": _("Earthquake signs"),
            "signal:collapse": _("Collapse"),
            "signal:traffic": _("Traffic accident"),
            "signal:vehicle": _("Vehicles"),
            "signal:poisoning": _("Poisoning"),
            "signal:medical": _("Medical emergency"),
            "signal:hazmat": _("Hazardous materials"),
            "signal:violence": _("Violence"),
            "signal:missing": _("Missing person"),
            "signal:vulnerable": _("Vulnerable people"),
            "signal:crowd": _("Crowd or violence"),
            "signal:threat": _("Threats"),
            "signal:petition": _("Petition"),
            "signal:dispute": _("Dispute"),
            "signal:hardship": _("Hardship"),
            "signal:misfortune": _("Family misfortune"),
            "signal:hazard": _("Safety hazard"),
            "signal:opinion": _("Public opinion"),
            "signal:resolved": _("Already resolved"),
        },
        "capability": {
            "fire": _("fire"),
            "water": _("water rescue"),
            "mountain": _("mountain rescue"),
            "collapse": _("collapse rescue"),
            "search": _("search"),
            "rescue": _("rescue"),
            "medical": _("medical"),
            "first_aid": _("first aid"),
            "hazmat": _("hazardous materials"),
            "mediation": _("mediation"),
            "relief": _("relief"),
        },
        "position": {
            "live": _("live position"),
            "stale": _("position is old: estimated from base"),
            "base": _("at base"),
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
@ratelimit.login_limit
def login() -> Any:
    error = None
    wait = 0
    if request.method == "POST":
        username = request.form.get("username", "")[:64]
        password = request.form.get("password", "")[:256]
        try:
            user = auth.authenticate(username, password)
        except RateLimited as exc:
            error, wait = "locked", int(exc.extra.get("retry_after", 60))
        except GridwatchError:
            error = "bad_credentials"
        else:
            login_user(user)
            target = request.args.get("next") or ""
            # Only same-site paths: never bounce a fresh login to another host.
            if not target.startswith("/") or target.startswith("//") or urlparse(target).netloc:
                target = url_for(HOME_FOR_ROLE.get(user.role, "web.index"))
            return redirect(target)
    if error == "locked":
        return _locked_page(wait)
    return render_template("login.html", error=error), 401 if error else 200


def _locked_page(wait: int) -> Any:
    minutes = max(1, (wait + 59) // 60)
    response = current_app.make_response(
        (render_template("login.html", error="locked", minutes=minutes), 429)
    )
    response.headers["Retry-After"] = str(wait)
    return response


@bp.app_errorhandler(CSRFError)
def _stale_form(exc: CSRFError) -> Any:
    """A form without a valid token: a stale page, or another site posting here."""
    return render_template("login.html", error="csrf"), 400


@bp.app_errorhandler(RateLimitExceeded)
def _too_many(exc: RateLimitExceeded) -> Any:
    """Over a limit outside the API: the sign-in page says to wait."""
    return _locked_page(ratelimit.retry_after())


@bp.post("/logout")
def logout() -> Any:
    logout_user()
    return redirect(url_for("web.login"))


@bp.get("/operator")
@login_required
def operator() -> Any:
    return _page("operator.html", {Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN})


@bp.get("/informant")
def informant() -> Any:
    token = request.args.get("enroll")
    if token:
        # A phone enrolled from a QR code: elderly informants never type a password.
        try:
            user = auth.user_from_token(token)
        except GridwatchError:
            return render_template("login.html", error="bad_enrolment"), 401
        if user.role != Role.INFORMANT:
            abort(403)
        login_user(user, remember=True)
        return redirect(url_for("web.informant"))
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    return _page("informant.html", {Role.INFORMANT}, cell=informants.current_cell(current_user))


@bp.get("/informant-sw.js")
def informant_service_worker() -> Any:
    """The informant page's service worker, served from the root so it may control /informant."""
    response = send_from_directory(
        str(current_app.static_folder), "js/informant-sw.js", mimetype="text/javascript", max_age=0
    )
    response.headers["Service-Worker-Allowed"] = "/informant"
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.route("/admin", methods=["GET", "POST"])
@login_required
def admin() -> Any:
    """Coverage per unit, and enrolment QR codes for informants' phones."""
    if current_user.role not in {Role.ADMIN, Role.SUPERVISOR, Role.OPERATOR}:
        abort(403)
    area = request.args.get("area") or None
    if area is not None and (not area.isdigit() or len(area) > 15):
        area = None
    try:
        figures = informants.coverage(current_user, area)
    except GridwatchError as exc:
        abort(exc.status)
    enrol = None
    username = (request.form.get("enrol") or "").strip()[:64]
    if request.method == "POST" and username and current_user.role == Role.ADMIN:
        try:
            token = informants.enrolment_token(current_user, username)
        except GridwatchError as exc:
            enrol = {"username": username, "error": exc.message}
        else:
            link = url_for("web.informant", enroll=token, _external=True)
            qr = segno.make(link, error="m").svg_inline(scale=5, dark="#0b3d91")
            enrol = {"username": username, "link": link, "qr": Markup(qr)}
    return render_template("admin.html", figures=figures, enrol=enrol, user=current_user)


@bp.get("/team")
@login_required
def team() -> Any:
    return _page("team.html", {Role.TEAM_LEADER})


def _bulletin_args() -> tuple[str, str, str | None]:
    """period, level and area from the query string; the API validates them."""
    period = (request.args.get("period") or "").strip()[:32] or bulletin_page.current_period()
    level = request.args.get("level") or "county"
    if level not in bulletin_page.LEVELS:
        level = "county"
    area = (request.args.get("area") or "").strip()[:15] or None
    return period, level, area


@bp.get("/supervision")
@login_required
def supervision_page() -> Any:
    """League table, charts and coverage map; the figures come from /api/supervision."""
    period, level, area = _bulletin_args()
    return _page(
        "supervision.html",
        SUPERVISION_ROLES,
        period=period,
        level=level,
        area=area,
        levels=bulletin_page.level_labels(),
        figures=bulletin_page.figure_labels(),
        columns=bulletin_page.column_labels(),
        components=bulletin_page.component_labels(),
        signals=bulletin_page.signal_labels(),
    )


@bp.get("/supervision/bulletin")
@login_required
def supervision_bulletin() -> Any:
    """The bulletin to print, rendered on the server (no script)."""
    if current_user.role not in SUPERVISION_ROLES:
        abort(403)
    period, level, area = _bulletin_args()
    try:
        figures = supervision.bulletin(current_user, period, level, area=area)
    except GridwatchError as exc:
        abort(exc.status, exc.message)
    return render_bulletin_html(figures)


@bp.get("/supervision/bulletin.pdf")
@login_required
def supervision_bulletin_pdf() -> Any:
    """The same bulletin as a PDF (WeasyPrint), for filing and sending on."""
    if current_user.role not in SUPERVISION_ROLES:
        abort(403)
    period, level, area = _bulletin_args()
    try:
        figures = supervision.bulletin(current_user, period, level, area=area)
        pdf = bulletin_page.render_bulletin_pdf(figures)
    except GridwatchError as exc:
        abort(exc.status, exc.message)
    name = f"gridwatch-bulletin-{period}-{level}.pdf"
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
