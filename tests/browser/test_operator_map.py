"""The operator's map in a real browser: areas by zoom, live reports and teams on the canvas."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import requests

from grid import gcj02_to_wgs84, wgs84_to_gcj02

from .conftest import PASSWORD, wait_until

pytestmark = pytest.mark.browser

RISK_RGB = {
    "red": (0xC6, 0x28, 0x28),
    "orange": (0xE6, 0x51, 0x00),
    "yellow": (0xF9, 0xC8, 0x0E),
    "blue": (0x15, 0x65, 0xC0),
}
CENTRE = (36.0611, 103.8343)  # Lanzhou's centre, in 城关区

# The colour the map's canvas shows at a marker's centre, as [r, g, b].
PIXEL_AT_MARKER = """(marker) => {
  const map = gwMap.map, canvas = gwMap.renderer._container;
  const p = map.latLngToContainerPoint(marker.getLatLng());
  const mr = map.getContainer().getBoundingClientRect(), cr = canvas.getBoundingClientRect();
  const scale = canvas.width / cr.width;
  const x = Math.round((mr.left + p.x - cr.left) * scale);
  const y = Math.round((mr.top + p.y - cr.top) * scale);
  const d = canvas.getContext("2d").getImageData(x, y, 1, 1).data;
  return [d[0], d[1], d[2]];
}"""


def _token(url: str, username: str) -> str:
    answer = requests.post(
        f"{url}/api/auth/token", json={"username": username, "password": PASSWORD}, timeout=10
    )
    answer.raise_for_status()
    return str(answer.json()["token"])


def _set_view(page: Any, lat: float, lon: float, zoom: float) -> None:
    page.evaluate(
        "([lat, lon, zoom]) => { gwMap.map.setView(gwMap.ll(lat, lon), zoom, {animate: false}); }",
        [lat, lon, zoom],
    )


def _layers(page: Any) -> dict[str, str | None]:
    return dict(page.evaluate("gwMap.slots()"))


def _wait_level(page: Any, slot: str, level: str | None) -> None:
    wait_until(
        page, "([slot, level]) => gwMap.slots()[slot] === level", arg=[slot, level], timeout=10_000
    )


def test_county_outlines_at_city_zoom_then_cells_in_a_township(pages: Any) -> None:
    operator = pages.open("operator", viewport=pages.DESKTOP)
    operator.wait_for_selector('#map[data-layers~="county"]')
    assert operator.evaluate("gwMap.map.getZoom()") <= 10
    layers = _layers(operator)
    assert layers == {"county": "county", "township": None, "detail": None}, layers
    # The eight county names are on the map as the base.
    labels = operator.locator("#map .county-label")
    assert labels.count() == 8
    assert "城关区" in labels.all_inner_texts()
    operator.wait_for_timeout(300)
    pages.shot(operator, "operator-map-city")

    # Township outlines and names at 11–12, villages at 13, still no cells.
    _set_view(operator, *CENTRE, 12)
    _wait_level(operator, "township", "township")
    assert _layers(operator)["detail"] is None
    assert operator.locator("#map .township-label").count() > 0
    _set_view(operator, *CENTRE, 13)
    _wait_level(operator, "detail", "village")

    # Into the township: its cells are drawn, tinted from /api/areas/status when it answers.
    _set_view(operator, *CENTRE, 14)
    _wait_level(operator, "detail", "cell")
    wait_until(operator, "Number(document.getElementById('map').dataset.cells) > 0")
    # The base stays (a replaced label fades out over 200 ms).
    wait_until(operator, "document.querySelectorAll('#map .county-label').length === 8")
    operator.wait_for_selector("#map[data-cell-status]", timeout=5_000)
    operator.wait_for_timeout(300)
    pages.shot(operator, "operator-map-cells")

    # Back out to the city: the cells go away again.
    _set_view(operator, *CENTRE, 9)
    _wait_level(operator, "detail", None)
    _wait_level(operator, "township", None)


def test_a_new_report_is_on_the_map_coloured_by_risk_within_2_s(pages: Any) -> None:
    operator = pages.open("operator", viewport=pages.DESKTOP)
    operator.wait_for_selector('#map[data-layers~="county"]')
    # Away from the other tests' reports, so that it is not clustered into one of them.
    lat, lon = 36.045, 103.805
    _set_view(operator, lat, lon, 12)
    _wait_level(operator, "township", "township")
    token = _token(pages.server.url, "informant")
    started = time.monotonic()
    answer = requests.post(
        f"{pages.server.url}/api/reports",
        json={
            "client_id": str(uuid.uuid4()),
            "category": "landslide",
            "text": f"山体滑坡，道路被埋，有人被困 {uuid.uuid4().hex[:6]}",
            "severity": 4,
            "lat": lat,
            "lon": lon,
        },
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    report_id = answer.json()["report"]["id"]
    wait_until(
        operator,
        "(id) => { const m = gwMap.reportMarker(id); return !!(m && m.gwRisk); }",
        arg=report_id,
        timeout=2_000,
    )
    elapsed = time.monotonic() - started
    assert elapsed < 2.0, elapsed
    marker = operator.evaluate_handle("(id) => gwMap.reportMarker(id)", report_id)
    risk = operator.evaluate("(m) => m.gwRisk", marker)
    assert risk in RISK_RGB
    # The marker is on the canvas in its risk colour (fill opacity .95 over the cells).
    operator.evaluate("() => new Promise((done) => requestAnimationFrame(() => done()))")
    rgb = operator.evaluate(PIXEL_AT_MARKER, marker)
    want = RISK_RGB[risk]
    assert all(abs(a - b) <= 30 for a, b in zip(rgb, want, strict=True)), (rgb, risk)
    # ... and in the queue with its page hooks.
    operator.wait_for_selector(f'#queue [data-report-id="{report_id}"][data-risk-level="{risk}"]')
    pages.shot(operator, "operator-map-report")


def test_a_team_position_update_moves_its_marker(pages: Any) -> None:
    operator = pages.open("operator", viewport=pages.DESKTOP)
    operator.wait_for_selector('#map[data-layers~="county"]')
    token = _token(pages.server.url, "leader")
    first = requests.post(
        f"{pages.server.url}/api/teams/position",
        json={"lat": 36.07, "lon": 103.85},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert first.status_code == 200, first.text
    team_id = first.json()["team"]["id"]
    wait_until(
        operator,
        "(id) => { const m = gwMap.teamMarker(id);"
        " return !!(m && m.gwLive && Math.abs(m.getLatLng().lat - 36.07) < 1e-6); }",
        arg=team_id,
        timeout=5_000,
    )
    started = time.monotonic()
    moved = requests.post(
        f"{pages.server.url}/api/teams/position",
        json={"lat": 36.09, "lon": 103.88},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert moved.status_code == 200, moved.text
    wait_until(
        operator,
        "(id) => { const p = gwMap.teamMarker(id).getLatLng();"
        " return Math.abs(p.lat - 36.09) < 1e-6 && Math.abs(p.lng - 103.88) < 1e-6; }",
        arg=team_id,
        timeout=2_000,
    )
    assert time.monotonic() - started < 2.0
    tooltip = operator.evaluate(
        "(id) => gwMap.teamMarker(id).getTooltip().getContent().textContent", team_id
    )
    assert "方舟救援队" in tooltip
    assert "刚刚" in tooltip or "分钟前" in tooltip, tooltip
    _set_view(operator, 36.09, 103.88, 13)
    operator.wait_for_timeout(400)
    pages.shot(operator, "operator-map-team")


def test_gcj02_shift_matches_the_python_formula(pages: Any) -> None:
    operator = pages.open("operator", viewport=pages.DESKTOP)
    points = [(36.0611, 103.8343), (36.5, 103.2), (35.9, 104.1), (31.1774276, 121.5272106)]
    for lat, lon in points:
        js_lat, js_lon = operator.evaluate("([a, b]) => GW.wgs84ToGcj02(a, b)", [lat, lon])
        py_lon, py_lat = wgs84_to_gcj02(lon, lat)
        assert abs(js_lat - py_lat) < 1e-9 and abs(js_lon - py_lon) < 1e-9
        back_lat, back_lon = operator.evaluate(
            "([a, b]) => gwMap.gcj02ToWgs84(a, b)", [js_lat, js_lon]
        )
        want_lon, want_lat = gcj02_to_wgs84(js_lon, js_lat)
        assert abs(back_lat - want_lat) < 1e-8 and abs(back_lon - want_lon) < 1e-8
        assert abs(back_lat - lat) < 1e-8 and abs(back_lon - lon) < 1e-8
