"""The supervision bulletin as a printable page: one renderer for the web and the CLI."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_skeleton
from flask import current_app, has_request_context, render_template
from flask_babel import get_locale
from flask_babel import gettext as _
from markupsafe import Markup

from ..errors import TemporarilyUnavailable
from ..models import utcnow

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
LEVELS = ("county", "township", "village")
# The figures a league table shows, in column order: (column, figure keys in the cell).
TABLE_FIGURES = (
    ("coverage", ("covered_cells", "cells", "coverage")),
    ("informants", ("active_informants", "informants")),
    ("reports", ("reports", "checkins")),
    ("review", ("review_within_deadline", "review_s_median")),
    ("response", ("ack_s_median", "on_scene_s_median")),
    ("resolution", ("resolved", "incidents", "resolution_rate")),
    ("backlog", ("overdue_backlog",)),
    ("followups", ("followups_on_time", "followups_due")),
)


def current_period() -> str:
    """This month in China time: the bulletin a supervisor opens the page for."""
    return utcnow().astimezone(LOCAL_TZ).strftime("%Y-%m")


def level_labels() -> dict[str, str]:
    return {
        "city": _("City"),
        "county": _("Counties and districts"),
        "township": _("Townships and streets"),
        "village": _("Villages and communities"),
    }


def component_labels() -> dict[str, str]:
    """The parts of a unit's score, as the footnote and the page name them."""
    return {
        "coverage": _("cells covered"),
        "activity": _("informants active"),
        "review_on_time": _("reports reviewed in time"),
        "ack_on_time": _("tasks acknowledged in time"),
        "resolution": _("incidents resolved"),
        "followups_on_time": _("follow-ups on time"),
    }


def figure_labels() -> dict[str, str]:
    return {
        "cells": _("cells"),
        "covered_cells": _("covered cells"),
        "coverage": _("coverage"),
        "silent_cells": _("silent cells"),
        "informants": _("informants"),
        "active_informants": _("active informants"),
        "reports": _("reports"),
        "checkins": _("check-ins"),
        "days_since_last_median": _("days since last report (median)"),
        "reviewed": _("reviewed reports"),
        "review_s_median": _("review time (median)"),
        "review_s_p90": _("review time (90th percentile)"),
        "review_within_deadline": _("reviewed within the deadline"),
        "escalations": _("escalations"),
        "incidents": _("incidents"),
        "ack_s_median": _("acknowledgement time (median)"),
        "ack_s_p90": _("acknowledgement time (90th percentile)"),
        "on_scene_s_median": _("time to the scene (median)"),
        "on_scene_s_p90": _("time to the scene (90th percentile)"),
        "offers": _("tasks offered"),
        "acknowledged": _("tasks acknowledged"),
        "timeouts": _("offers timed out"),
        "declines": _("offers declined"),
        "resolved": _("incidents resolved"),
        "resolution_rate": _("resolution rate"),
        "overdue_reports": _("overdue reports"),
        "overdue_followups": _("overdue follow-ups"),
        "overdue_backlog": _("overdue backlog"),
        "followups_due": _("follow-ups due"),
        "followups_on_time": _("follow-ups on time"),
        "followups_on_time_share": _("follow-ups on time (share)"),
    }


def column_labels() -> dict[str, str]:
    return {
        "coverage": _("Coverage"),
        "informants": _("Active informants"),
        "reports": _("Reports · check-ins"),
        "review": _("Reviewed in time"),
        "response": _("Acknowledge · on scene"),
        "resolution": _("Resolved"),
        "backlog": _("Overdue"),
        "followups": _("Follow-ups on time"),
    }


def signal_labels() -> dict[str, str]:
    return {
        "self_closed": _("Closed by whoever raised it"),
        "bulk_close": _("Closed in bulk"),
        "static_checkins": _("Check-ins from one spot"),
        "point_cluster": _("Reports from one point"),
    }


def _locale() -> str:
    return str(get_locale() or "zh")


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).astimezone(LOCAL_TZ)
    except ValueError:
        return None


def period_dates(bulletin: dict[str, Any]) -> tuple[date | None, date | None]:
    """First and last day covered (the bulletin's end is exclusive)."""
    start, end = _parse(bulletin.get("start")), _parse(bulletin.get("end"))
    last = None
    if end is not None:
        midnight = end.hour == end.minute == end.second == 0
        last = (end - timedelta(days=1)).date() if midnight else end.date()
    return (start.date() if start else None), last


def period_label(period: str, first: date | None = None, last: date | None = None) -> str:
    """2026-11 → 2026年11月, 2026-Q4 → 2026年第四季度, 2026 → 2026年; a range as its dates."""
    locale = _locale()
    try:
        if ".." in period:
            a, b = period.split("..", 1)
            return _("%(start)s to %(end)s", start=a, end=b)
        if "-Q" in period:
            year, quarter = period.split("-Q", 1)
            day = date(int(year), 3 * int(quarter) - 2, 1)
            return format_skeleton("yQQQQ", day, locale=locale)
        if len(period) == 7:
            return format_skeleton(
                "yMMMM", date(int(period[:4]), int(period[5:7]), 1), locale=locale
            )
        if len(period) == 4:
            return format_skeleton("y", date(int(period), 1, 1), locale=locale)
    except (ValueError, TypeError):
        pass
    if first and last:
        return _("%(start)s to %(end)s", start=first.isoformat(), end=last.isoformat())
    return period


def duration_text(seconds: float | None) -> str:
    """Seconds as the unit a reader thinks in: 45 s, 12 min, 1.5 h, 2.1 days."""
    if seconds is None:
        return "—"
    # Rounded half up, as the page's script does (Math.round), so both show the same.
    if seconds < 90:
        return _("%(n)s s", n=_half_up(seconds))
    if seconds < 5400:
        return _("%(n)s min", n=_half_up(seconds / 60))
    if seconds < 172800:
        return _("%(n)s h", n=f"{_half_up(seconds / 360) / 10:g}")
    return _("%(n)s days", n=f"{_half_up(seconds / 8640) / 10:g}")


def _half_up(value: float) -> int:
    """
    >>> _half_up(12.5), _half_up(0.4999), _half_up(7.0)
    (13, 0, 7)
    """
    return math.floor(value + 0.5)


def percent(share: float | None) -> str:
    return "—" if share is None else f"{_half_up(share * 100)}%"


def number(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def local_time(iso: str | None) -> str:
    moment = _parse(iso)
    return moment.strftime("%Y-%m-%d %H:%M") if moment else ""


def _team_of_note(team: dict[str, Any]) -> bool:
    return bool(
        team.get("kind") == "professional_rescue" or team.get("timeouts") or team.get("declines")
    )


def _context(bulletin: dict[str, Any]) -> dict[str, Any]:
    units = list(bulletin.get("units") or [])
    teams = list(bulletin.get("teams") or [])
    first, last = period_dates(bulletin)
    return {
        "b": bulletin,
        "units": units,
        "ranked": [u for u in units if u.get("status") == "ranked"],
        "insufficient": [u for u in units if u.get("status") == "insufficient"],
        "too_few": [u for u in units if u.get("status") == "too_few_units"],
        "red_units": [u["name"] for u in units if u.get("flag") == "red"],
        "yellow_units": [u["name"] for u in units if u.get("flag") == "yellow"],
        "signalled": [u for u in units if u.get("signals")],
        # A city has a thousand village teams: print the squads and every team that let an
        # offer time out or declined one; the rest in one line.
        "teams_shown": [t for t in teams if _team_of_note(t)],
        "teams_rest": [t for t in teams if not _team_of_note(t)],
        "period_text": period_label(str(bulletin.get("period", "")), first, last),
        "first_day": first,
        "last_day": last,
        "levels": level_labels(),
        "components": component_labels(),
        "signal_names": signal_labels(),
        "team_kinds": {
            "professional_rescue": _("Professional rescue"),
            "volunteer": _("Volunteer team"),
            "mediation": _("Mediation"),
            "relief": _("Relief"),
        },
        "duration": duration_text,
        "percent": percent,
        "number": number,
        "local_time": local_time,
    }


def render_bulletin_html(
    bulletin: dict[str, Any], *, lang: str = "zh", standalone: bool | None = None
) -> str:
    """The printable bulletin; outside a request (the CLI) a self-contained file in `lang`.

    Served pages link the stylesheet (the policy forbids inline styles); a file written by
    the CLI, or made into a PDF, carries it inline so that it prints the same anywhere.
    """
    if standalone is None:
        standalone = not has_request_context()
    if not standalone:
        return render_template(
            "bulletin_print.html", standalone=False, css=None, **_context(bulletin)
        )
    css_path = Path(str(current_app.static_folder)) / "css" / "bulletin.css"
    css = Markup(css_path.read_text(encoding="utf-8"))  # noqa: S704 - our own stylesheet
    if has_request_context():  # the page's own language
        return render_template(
            "bulletin_print.html", standalone=True, css=css, **_context(bulletin)
        )
    # A context of its own: Flask-Babel caches the locale on `g`.
    with current_app.app_context(), current_app.test_request_context(f"/?lang={lang}"):
        return render_template(
            "bulletin_print.html", standalone=True, css=css, **_context(bulletin)
        )


def render_bulletin_pdf(bulletin: dict[str, Any], *, lang: str = "zh") -> bytes:
    """The printable bulletin as an A4 PDF (WeasyPrint: the same HTML and print stylesheet).

    WeasyPrint draws text with Pango; where the system lacks it the PDF is refused with
    what to install, and the HTML bulletin still prints from any browser.
    """
    try:
        from weasyprint import HTML
    except OSError as exc:  # the Python package is there, the system's Pango is not
        raise TemporarilyUnavailable(
            "PDF needs the Pango library (Debian: apt install libpango-1.0-0 "
            "libpangoft2-1.0-0); print the HTML bulletin from the browser instead"
        ) from exc
    html = render_bulletin_html(bulletin, lang=lang, standalone=True)
    return HTML(string=html).write_pdf()  # type: ignore[no-any-return]
