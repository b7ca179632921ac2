"""What our codes mean in CAP 1.2: the tables docs/cap.md shows (a test holds it to these).

Risk levels are the national four-colour warning levels (red I > orange II > yellow III >
blue IV); CAP's severity scale has the same four steps, in the same order, and the China
Meteorological Administration's CAP feed maps them the same way (yellow = Moderate).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ..schemas import EMERGENCY_CATEGORIES


@dataclass(frozen=True)
class Event:
    """One of our report categories as a CAP event."""

    cap_categories: tuple[str, ...]
    zh: str
    en: str


EVENTS: Final[dict[str, Event]] = {
    "fire": Event(("Fire",), "火灾", "Fire"),
    "flood": Event(("Met", "Geo"), "洪涝", "Flood"),
    "landslide": Event(("Geo",), "山体滑坡", "Landslide"),
    "earthquake": Event(("Geo",), "地震", "Earthquake"),
    "traffic_accident": Event(("Transport",), "交通事故", "Traffic accident"),
    "building_collapse": Event(("Rescue", "Infra"), "建筑物倒塌", "Building collapse"),
    "missing_person": Event(("Rescue",), "人员走失", "Missing person"),
    "medical": Event(("Health",), "医疗急救", "Medical emergency"),
    "hazmat": Event(("CBRNE",), "危险化学品泄漏", "Hazardous materials"),
    "other_emergency": Event(("Safety",), "突发事件", "Emergency"),
    "dispute": Event(("Security",), "矛盾纠纷", "Dispute"),
    "petition": Event(("Security",), "信访事项", "Petition"),
    "public_opinion": Event(("Other",), "社情民意", "Public opinion"),
    "veteran_hardship": Event(("Other",), "退役军人困难帮扶", "Veteran in hardship"),
    "safety_hazard": Event(("Safety",), "安全隐患", "Safety hazard"),
    "family_misfortune": Event(("Other",), "家庭变故", "Family misfortune"),
    "other": Event(("Other",), "其他事项", "Other matter"),
}

# Only what asks the public to act goes out Public: emergencies and safety hazards. The
# social-condition categories concern named people and go Restricted to the network; the
# sensitive ones (GRIDWATCH_SENSITIVE_CATEGORIES) always do, and name no exact place.
PUBLIC_CATEGORIES: Final[frozenset[str]] = frozenset((*EMERGENCY_CATEGORIES, "safety_hazard"))
RESTRICTION_ZH = "仅限退役军人服务网络内部使用，不得向公众发布"
RESTRICTION_EN = "For the veterans' service network only; not for public release"

SEVERITY: Final[dict[str, str]] = {
    "red": "Extreme",
    "orange": "Severe",
    "yellow": "Moderate",
    "blue": "Minor",
}
URGENCY: Final[dict[str, str]] = {
    "red": "Immediate",
    "orange": "Immediate",
    "yellow": "Expected",
    "blue": "Future",
}
LEVEL_ZH: Final[dict[str, str]] = {
    "red": "红色",
    "orange": "橙色",
    "yellow": "黄色",
    "blue": "蓝色",
}
LEVEL_EN: Final[dict[str, str]] = {
    "red": "Red",
    "orange": "Orange",
    "yellow": "Yellow",
    "blue": "Blue",
}
LEVEL_GRADE: Final[dict[str, str]] = {"red": "I", "orange": "II", "yellow": "III", "blue": "IV"}

# How sure we are that the event is real, by the incident's status: an operator turned
# reports into it (Likely); a team saw it (Observed); it was called off (Unlikely).
CERTAINTY: Final[dict[str, str]] = {
    "open": "Likely",
    "dispatched": "Likely",
    "acknowledged": "Likely",
    "on_scene": "Observed",
    "resolved": "Observed",
    "closed": "Observed",
    "cancelled": "Unlikely",
}
# An incident that has ended is a Cancel (CMA practice: a lifted warning, 解除, is a Cancel).
ENDED: Final[frozenset[str]] = frozenset({"resolved", "closed", "cancelled"})

STATUS_ZH: Final[dict[str, str]] = {
    "open": "已接报，正在核实处置",
    "dispatched": "已派出救援力量",
    "acknowledged": "救援力量已接令出动",
    "on_scene": "救援力量已到达现场",
    "resolved": "已处置完毕",
    "closed": "已处置完毕并结案",
    "cancelled": "已撤销",
}
STATUS_EN: Final[dict[str, str]] = {
    "open": "reported, being verified and handled",
    "dispatched": "a team has been sent",
    "acknowledged": "the team has accepted and is setting out",
    "on_scene": "the team is on scene",
    "resolved": "handled; the danger is over",
    "closed": "handled and closed",
    "cancelled": "called off",
}

# responseType: keep away from an emergency, watch a social matter; all clear at the end.
AVOID, MONITOR, ALL_CLEAR = "Avoid", "Monitor", "AllClear"

INSTRUCTION_ZH: Final[dict[str, str]] = {
    "emergency": "请远离事发区域，听从现场救援人员指挥，不围观、不传谣。",
    "social": "请属地服务站按规定跟进处置。",
    "resolved": "事件已处置完毕，预警解除。",
    "cancelled": "此前发布的预警已撤销。",
}
INSTRUCTION_EN: Final[dict[str, str]] = {
    "emergency": "Keep away from the area and follow the rescuers' instructions; "
    "do not gather or spread rumours.",
    "social": "The local service station follows this up as its procedures require.",
    "resolved": "The incident has been handled; the warning is lifted.",
    "cancelled": "The earlier warning is withdrawn.",
}

# geocode valueNames: the 6-digit administrative division code, and our own area code.
GEOCODE_GBT2260 = "GB/T 2260"
GEOCODE_AREA = "gridwatch:area"
# Codes other senders use for Chinese divisions: CMA's 12-digit CPEAS code starts with
# the GB/T 2260 code of the county.
GEOCODE_CPEAS = "CPEAS Geographic Code"


def instruction_key(category: str, msg_type: str, status: str) -> str:
    if msg_type == "Cancel":
        return "cancelled" if status == "cancelled" else "resolved"
    return "emergency" if category in PUBLIC_CATEGORIES else "social"


def response_type(category: str, msg_type: str) -> str:
    if msg_type == "Cancel":
        return ALL_CLEAR
    return AVOID if category in PUBLIC_CATEGORIES else MONITOR


__all__ = [
    "CERTAINTY",
    "ENDED",
    "EVENTS",
    "Event",
    "LEVEL_EN",
    "LEVEL_GRADE",
    "LEVEL_ZH",
    "PUBLIC_CATEGORIES",
    "SEVERITY",
    "URGENCY",
    "instruction_key",
    "response_type",
]
