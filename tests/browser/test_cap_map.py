"""Alerts received by CAP on the operator's map: one imported while the page is open arrives
live in the list and on the map; a real one from far away is shown where it is."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from tests.conftest import SHARED_DATA

from .conftest import PASSWORD, wait_until

pytestmark = pytest.mark.browser

THUNDERSTORM = SHARED_DATA / "cap" / "valid" / "oasis-appendix-A2-thunderstorm-polygon.xml"


def _import(url: str, token: str, data: bytes) -> dict[str, Any]:
    answer = requests.post(
        f"{url}/api/cap/alerts",
        data=data,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/cap+xml"},
        timeout=15,
    )
    assert answer.status_code in (200, 201), answer.text
    return dict(answer.json()["alert"])


def _lanzhou_alert(identifier: str) -> bytes:
    """A rainstorm warning over central Lanzhou (城关区), in force for years yet."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{identifier}</identifier><sender>lanzhou-qxt@cma.gov.cn</sender>
  <sent>2026-11-29T10:00:00+08:00</sent><status>Actual</status><msgType>Alert</msgType>
  <scope>Public</scope>
  <info><language>zh-CN</language><category>Met</category><event>暴雨</event>
    <urgency>Expected</urgency><severity>Severe</severity><certainty>Likely</certainty>
    <expires>2099-01-01T00:00:00+08:00</expires><headline>兰州市暴雨橙色预警</headline>
    <area><areaDesc>城关区</areaDesc>
      <polygon>36.03,103.80 36.03,103.87 36.09,103.87 36.09,103.80 36.03,103.80</polygon>
    </area></info>
</alert>""".encode()


def test_an_imported_alert_shows_on_the_operator_map(pages: Any) -> None:
    url = pages.server.url
    token = requests.post(
        f"{url}/api/auth/token", json={"username": "operator", "password": PASSWORD}, timeout=10
    ).json()["token"]
    operator = pages.open("operator", viewport=pages.DESKTOP)
    operator.wait_for_selector('#map[data-layers~="county"]')

    # Imported while the page is open: it arrives live, in the list and on the map.
    near = _import(url, token, _lanzhou_alert(f"lanzhou-{uuid.uuid4()}"))
    item = operator.locator(f'#cap-alerts [data-cap-alert-id="{near["id"]}"]')
    item.wait_for()
    assert "兰州市暴雨橙色预警" in item.inner_text()
    assert item.get_attribute("data-severity") == "Severe"
    assert item.get_attribute("data-active") == "1"
    assert "lanzhou-qxt@cma.gov.cn" in item.inner_text()
    operator.wait_for_selector(f'[data-map-cap-alert="{near["id"]}"]')
    operator.wait_for_selector(f"path.cap-area-{near['id']}", state="attached")
    # Drawn where it is: inside the view the operator has of the city.
    inside = operator.evaluate(
        "(id) => gwMap.map.getBounds().intersects(gwMap.capAlert(id).gwArea.getBounds())",
        near["id"],
    )
    assert inside
    operator.wait_for_timeout(300)
    pages.shot(operator, "operator-cap-alert")

    # A real alert from California, imported before the page loads: listed, and shown
    # there when picked from the list.
    far = _import(url, token, THUNDERSTORM.read_bytes())
    operator.reload()
    operator.wait_for_selector('#conn[data-state="online"]')
    far_item = operator.locator(f'#cap-alerts [data-cap-alert-id="{far["id"]}"]')
    far_item.wait_for()
    assert "SEVERE THUNDERSTORM WARNING" in far_item.inner_text()
    assert far_item.get_attribute("data-active") == "0"  # it expired in 2003
    far_item.click()
    wait_until(
        operator,
        "(id) => gwMap.map.getBounds().contains(gwMap.capAlert(id).gwArea.getBounds().getCenter())",
        far["id"],
    )
    centre = operator.evaluate("gwMap.map.getCenter()")
    assert 37 < centre["lat"] < 40 and -122 < centre["lng"] < -119, centre
    pages.shot(operator, "operator-cap-alert-far")
