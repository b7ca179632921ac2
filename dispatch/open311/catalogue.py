"""What Open311 clients read: the service list (one service per report category), the
service definitions, and our reports as the spec's service requests.

Names and notes are labelled in the request's language (zh by default, `?lang=en`);
codes and ids are strings, times ISO 8601 in Asia/Shanghai (`+08:00`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _

from ..schemas import CATEGORIES, EMERGENCY_CATEGORIES
from ..services.open311 import RequestRecord

LOCAL = ZoneInfo("Asia/Shanghai")

# Comma-separated tags in both languages, so a client can match either.
KEYWORDS: dict[str, str] = {
    "fire": "火灾,起火,冒烟,fire,smoke",
    "flood": "洪水,内涝,积水,flood,water",
    "landslide": "滑坡,泥石流,塌方,landslide,mudslide",
    "earthquake": "地震,earthquake",
    "traffic_accident": "交通事故,车祸,traffic accident,crash",
    "building_collapse": "房屋倒塌,坍塌,building collapse",
    "missing_person": "走失,失踪,missing person",
    "medical": "急病,受伤,medical,injury",
    "hazmat": "危化品,泄漏,hazardous materials,leak",
    "other_emergency": "其他突发,emergency",
    "dispute": "纠纷,矛盾,dispute,conflict",
    "petition": "信访,上访,petition",
    "public_opinion": "社情民意,舆情,public opinion",
    "veteran_hardship": "退役军人困难,帮扶,veteran hardship,relief",
    "safety_hazard": "安全隐患,井盖,塌陷,safety hazard,sinkhole",
    "family_misfortune": "家庭变故,family misfortune",
    "other": "其他,other",
}


def service_names() -> dict[str, str]:
    """The category labels the pages use (one catalogue for both)."""
    from ..web import category_labels

    return category_labels()


def _descriptions() -> dict[str, str]:
    return {
        "fire": _("A fire, or smoke where there should be none."),
        "flood": _("Flooding, waterlogging or a river over its banks."),
        "landslide": _("A landslide, mudslide or rockfall."),
        "earthquake": _("Damage or danger after an earthquake."),
        "traffic_accident": _("A road accident, with or without people hurt."),
        "building_collapse": _("A building or structure that has fallen or may fall."),
        "missing_person": _("Someone missing, e.g. an elderly person who wandered off."),
        "medical": _("Someone ill or injured who needs help."),
        "hazmat": _("A chemical, gas or fuel leak or spill."),
        "other_emergency": _("Any other emergency."),
        "dispute": _("A dispute between neighbours, families or with a company."),
        "petition": _("A grievance someone is taking to the authorities (handled confidentially)."),
        "public_opinion": _("What people are saying about a matter (handled confidentially)."),
        "veteran_hardship": _("A veteran or their family in hardship."),
        "safety_hazard": _("A hazard before anyone is hurt: a missing manhole cover, a sinkhole."),
        "family_misfortune": _("A bereavement, serious illness or other blow to a family."),
        "other": _("Anything else the veterans' service station should know."),
    }


def group_of(code: str) -> str:
    return _("Emergencies") if code in EMERGENCY_CATEGORIES else _("Social conditions")


def services() -> list[dict[str, Any]]:
    names = service_names()
    descriptions = _descriptions()
    return [
        {
            "service_code": code,
            "service_name": names[code],
            "description": descriptions[code],
            "metadata": True,
            "type": "realtime",
            "keywords": KEYWORDS[code],
            "group": group_of(code),
        }
        for code in CATEGORIES
    ]


def service_definition(code: str) -> dict[str, Any]:
    """Two optional attributes for every service: the severity, and the client's token."""
    return {
        "service_code": code,
        "attributes": [
            {
                "variable": True,
                "code": "severity",
                "datatype": "singlevaluelist",
                "required": False,
                "datatype_description": _("One of the keys 1 to 4."),
                "order": 1,
                "description": _("How serious it is, as the caller judges it."),
                "values": [
                    {"key": "1", "name": _("1 · low")},
                    {"key": "2", "name": _("2 · moderate")},
                    {"key": "3", "name": _("3 · serious")},
                    {"key": "4", "name": _("4 · critical")},
                ],
            },
            {
                "variable": True,
                "code": "client_token",
                "datatype": "string",
                "required": False,
                "datatype_description": _(
                    "Up to 128 printable ASCII characters without spaces, e.g. your case number."
                ),
                "order": 2,
                "description": _(
                    "Your system's own id for this request: sending it again with the same "
                    "token returns the first request instead of filing a second one."
                ),
            },
        ],
    }


def service_notice(code: str) -> str:
    if code in EMERGENCY_CATEGORIES:
        return _(
            "Received by the command room and queued for triage. "
            "If lives are in danger, also call 110, 119 or 120."
        )
    return _("Received by the veterans' service network and queued for triage.")


def local_time(value: datetime | None) -> str | None:
    return value.astimezone(LOCAL).isoformat(timespec="seconds") if value is not None else None


def _status_note(key: str) -> str:
    return {
        "new": _("Received; waiting for triage."),
        "triaged": _("Triaged; waiting for the command room to review it."),
        "verified": _("Verified by the command room."),
        "incident_open": _("Taken up in an incident."),
        "incident_dispatched": _("A team has been sent."),
        "incident_on_scene": _("A team is on scene."),
        "resolved": _("Resolved."),
        "cancelled": _("The incident was called off."),
        "dismissed": _("Not taken up after review."),
        "merged": _("Duplicate request."),
    }[key]


def agency(county_name: str | None) -> str:
    if county_name is None:
        return _("Veterans' service network")
    return _("%(area)s veterans' service centre", area=county_name)


def request_view(record: RequestRecord) -> dict[str, Any]:
    """One report as the spec's request (request.json)."""
    r = record.report
    names = service_names()
    return {
        "service_request_id": str(r.id),
        "status": record.status,
        "status_notes": _status_note(record.note),
        "service_name": names.get(r.category, r.category),
        "service_code": r.category,
        "description": r.text or None,
        "agency_responsible": agency(record.county_name),
        "service_notice": service_notice(r.category),
        "requested_datetime": local_time(r.received_at),
        "updated_datetime": local_time(record.updated_at),
        "expected_datetime": None,
        "address": record.address,
        "address_id": record.address_id,
        "zipcode": None,
        "lat": r.lat,
        "long": r.lon,
        "media_url": record.media_url,
    }
