"""The supervisor's page and the printable bulletin in a real browser, on activity seeded
through the API: the league table against the API, the cases behind a number, the charts,
the coverage map, the print page and who may see them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from shapely.geometry import shape

from .conftest import PASSWORD, LiveServer, wait_until

pytestmark = pytest.mark.browser

# Reports per county: 城关区 covers many cells and reviews everything; 七里河区 covers fewer
# and reviews half; 西固区 piles one informant's reports on one point (a gaming signal) and
# reviews none; 安宁区 has one report, too little to judge.
PLAN = {"620102": (7, 7, 7), "620103": (6, 3, 3), "620104": (5, 1, 0), "620105": (1, 1, 0)}
CHARTS = ("trends", "scores", "review_s", "ack_s", "on_scene_s")


@dataclass
class Activity:
    reports: dict[str, list[int]] = field(default_factory=dict)
    incident: int = 0


class Api:
    """The server's REST API as one user."""

    def __init__(self, url: str, username: str) -> None:
        self.url = url
        answer = requests.post(
            f"{url}/api/auth/token", json={"username": username, "password": PASSWORD}, timeout=10
        )
        answer.raise_for_status()
        self.headers = {"Authorization": f"Bearer {answer.json()['token']}"}

    def get(self, path: str, **params: Any) -> Any:
        answer = requests.get(f"{self.url}{path}", params=params, headers=self.headers, timeout=60)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        answer = requests.post(f"{self.url}{path}", json=body, headers=self.headers, timeout=30)
        assert answer.status_code in (200, 201), answer.text
        return answer.json()


def _cells(operator: Api, county: str, count: int) -> list[tuple[str, float, float]]:
    """The first cells of a county, each with a point inside it (lat, lon)."""
    features = operator.get("/api/areas", level="cell", parent=county)["features"]
    out = []
    for feature in features[:count]:
        point = shape(feature["geometry"]).representative_point()
        out.append((feature["properties"]["code"], point.y, point.x))
    assert len(out) == count, f"{county} has fewer than {count} cells"
    return out


@pytest.fixture(scope="module")
def activity(live_server: LiveServer) -> Activity:
    return seed_activity(live_server.url)


def seed_activity(url: str) -> Activity:
    """Reports from informants in four counties, some reviewed; one incident resolved."""
    operator = Api(url, "operator")
    seeded = Activity()
    for county, (n_reports, n_cells, n_reviewed) in PLAN.items():
        cells = _cells(operator, county, n_cells)
        phones = {code: Api(url, f"informant-{code}") for code, _, _ in cells}
        ids = []
        for i in range(n_reports):
            code, lat, lon = cells[i % n_cells]
            answer = phones[code].post(
                "/api/reports",
                {
                    "client_id": str(uuid.uuid4()),
                    "category": ("dispute", "safety_hazard", "veteran_hardship")[i % 3],
                    "text": f"督导测试 {county} {i}",
                    "lat": lat,
                    "lon": lon,
                    "severity": 2,
                },
            )
            ids.append(int(answer["report"]["id"]))
        for rid in ids[:n_reviewed]:
            operator.post(f"/api/reports/{rid}/review", {"action": "verify"})
        seeded.reports[county] = ids
    # An incident in 城关区 from one more report, resolved; and a check-in there.
    code, lat, lon = _cells(operator, "620102", 1)[0]
    phone = Api(url, f"informant-{code}")
    extra = phone.post(
        "/api/reports",
        {
            "client_id": str(uuid.uuid4()),
            "category": "safety_hazard",
            "text": "督导测试 隐患",
            "lat": lat,
            "lon": lon,
            "severity": 3,
        },
    )
    seeded.reports["620102"].append(int(extra["report"]["id"]))
    made = operator.post("/api/incidents", {"report_ids": [int(extra["report"]["id"])]})
    seeded.incident = int(made["incident"]["id"])
    operator.post(f"/api/incidents/{seeded.incident}/resolve", {"note": "已处置"})
    phone.post("/api/checkins", {"client_id": str(uuid.uuid4()), "lat": lat, "lon": lon})
    return seeded


def _charts_ready(page: Any) -> None:
    wait_until(
        page,
        "(keys) => !!window.Chart && keys.every("
        "k => !!Chart.getChart(document.getElementById('chart-' + k)))",
        arg=list(CHARTS),
    )


def test_league_table_cases_charts_map_and_print(pages: Any, activity: Activity) -> None:
    url = pages.server.url
    supervisor = Api(url, "supervisor")
    page = pages.open("supervisor", viewport=pages.DESKTOP)
    assert page.locator('.topbar .pages a[href="/supervision"]').count() == 1
    page.goto(f"{url}/supervision")
    page.wait_for_selector('#supervision[data-state="ready"]')
    period = page.get_attribute("#supervision", "data-period")
    assert period
    api = supervisor.get("/api/supervision/bulletin", period=period, level="county")

    # The league table: the API's units in its order, with its ranks and flags.
    rows = page.locator("#league tbody tr[data-unit-code]")
    shown = [
        (
            r.get_attribute("data-unit-code"),
            r.get_attribute("data-rank"),
            r.get_attribute("data-flag"),
        )
        for r in rows.all()
    ]
    expected = [(u["code"], str(u["rank"] or ""), u["flag"] or "") for u in api["units"]]
    assert shown == expected
    by_code = {u["code"]: u for u in api["units"]}
    for county in ("620102", "620103", "620104"):
        assert by_code[county]["status"] == "ranked" and by_code[county]["rank"], by_code[county]
    assert by_code["620105"]["status"] == "insufficient"
    assert (
        page.get_attribute('#league tr[data-unit-code="620105"]', "data-status") == "insufficient"
    )
    flags = {u["flag"] for u in api["units"]}
    assert {"red", "yellow"} <= flags, [(u["name"], u["score"], u["flag"]) for u in api["units"]]
    for unit in api["units"]:
        if unit["flag"]:
            row = f'#league tr[data-unit-code="{unit["code"]}"]'
            assert page.locator(f'{row} .flag[data-flag="{unit["flag"]}"]').count() == 1
        if unit["status"] == "ranked":
            score = page.inner_text(f'#league tr[data-unit-code="{unit["code"]}"] .score-value')
            assert score == f"{unit['score']:.1f}", (unit["name"], score)
    # The gaming signal sits beside the score and leaves it as the server computed it.
    assert [s["code"] for s in by_code["620104"]["signals"]] == ["point_cluster"]
    assert page.locator('#league tr[data-unit-code="620104"] [data-signal="point_cluster"]').count()

    # Every number lists its cases: the reports of 城关区, the covered cells of 七里河区.
    for unit, figure in (("620102", "reports"), ("620103", "coverage"), ("620104", "reports")):
        page.click(f'#league button[data-unit="{unit}"][data-figure="{figure}"]')
        page.wait_for_selector(
            f'#cases[data-state="ready"][data-unit="{unit}"][data-figure="{figure}"]'
        )
        listed = supervisor.get(
            "/api/supervision/cases", period=period, level="county", unit=unit, figure=figure
        )
        ids = [
            li.get_attribute("data-case-id") for li in page.locator("#cases [data-case-id]").all()
        ]
        assert ids == [str(i) for i in listed["ids"]], (unit, figure)
        if figure == "reports":
            assert {str(i) for i in activity.reports[unit]} <= set(ids)
    assert len(ids) == len(activity.reports["620104"])
    pages.shot(page, "supervision-desktop-cases")
    page.click("#cases-close")
    assert page.locator("#cases").is_hidden()

    # Charts: one Chart.js chart per canvas; the score bars coloured by flag.
    _charts_ready(page)
    bars = page.evaluate(
        """() => { const c = Chart.getChart(document.getElementById('chart-scores'));
          return {labels: c.data.labels, colours: c.data.datasets[0].backgroundColor}; }"""
    )
    ranked = [u for u in api["units"] if u["status"] == "ranked"]
    assert bars["labels"] == [u["name"] for u in ranked]
    colour = {"red": "#c62828", "yellow": "#f9c80e"}
    for unit, bar in zip(ranked, bars["colours"], strict=True):
        assert (bar in colour.values()) == bool(unit["flag"]), (unit["name"], bar)
        if unit["flag"]:
            assert bar == colour[unit["flag"]]
    months = page.evaluate("Chart.getChart(document.getElementById('chart-trends')).data.labels")
    assert len(months) == 6 and months[-1] == period

    # The coverage map: one polygon per county of the city.
    page.wait_for_selector("#sv-map[data-units]")
    assert int(page.get_attribute("#sv-map", "data-units") or 0) == len(api["units"])
    page.wait_for_timeout(300)
    pages.shot(page, "supervision-desktop")

    # Links: the CSV and the printable bulletin with the same period and level.
    assert page.get_attribute("#csv-link", "href") == (
        f"/api/supervision/bulletin.csv?period={period}&level=county"
    )
    print_href = page.get_attribute("#print-link", "href")
    assert print_href == f"/supervision/bulletin?period={period}&level=county"
    pdf_href = page.get_attribute("#pdf-link", "href")
    assert pdf_href == f"/supervision/bulletin.pdf?period={period}&level=county"
    pdf = page.request.get(f"{url}{pdf_href}")
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF-") and len(pdf.body()) > 10_000
    answer = page.goto(f"{url}{print_href}")
    assert answer is not None and answer.status == 200
    assert page.locator("script").count() == 0
    for flag in ("red", "yellow"):
        names = [u["name"] for u in api["units"] if u["flag"] == flag]
        text = page.inner_text(f"#{flag}-flags")
        assert names and all(name in text for name in names), (flag, text)
    assert by_code["620105"]["name"] in page.inner_text("#insufficient")
    for unit in api["units"]:
        assert page.locator(f'#ranking tr[data-unit-code="{unit["code"]}"]').count() == 1
    assert page.locator('#signals [data-signal="point_cluster"][data-unit-code="620104"]').count()
    page.emulate_media(media="print")
    assert page.locator(".toolbar").is_hidden()
    pages.shot(page, "supervision-bulletin-print")
    page.emulate_media(media="screen")


def test_period_and_level_controls_and_drilling_down(pages: Any, activity: Activity) -> None:
    url = pages.server.url
    page = pages.open("supervisor", viewport=pages.DESKTOP)
    page.goto(f"{url}/supervision")
    page.wait_for_selector('#supervision[data-state="ready"]')
    month = page.get_attribute("#supervision", "data-period") or ""
    quarter = f"{month[:4]}-Q{(int(month[5:7]) + 2) // 3}"

    page.select_option("#sv-span", "quarter")
    page.wait_for_selector(f'#supervision[data-state="ready"][data-period="{quarter}"]')
    assert f"period={quarter}" in page.url
    assert page.locator('#league tr[data-unit-code="620102"]').count() == 1

    # Down into 城关区: its townships, then back to the whole city.
    page.click('#league button[data-drill="620102"]')
    page.wait_for_selector('#supervision[data-state="ready"]')
    wait_until(page, "() => location.search.includes('area=620102')")
    codes = page.eval_on_selector_all(
        "#league tbody tr[data-unit-code]", "rows => rows.map(r => r.dataset.unitCode)"
    )
    assert codes and all(c.startswith("620102") and len(c) == 9 for c in codes), codes
    assert page.input_value("#sv-level") == "township"
    page.click("#sv-up")
    wait_until(page, "() => !location.search.includes('area=')")
    page.wait_for_selector('#supervision[data-state="ready"] #league tr[data-unit-code="620103"]')
    _charts_ready(page)


def test_operators_get_neither_the_page_nor_the_bulletin(pages: Any) -> None:
    url = pages.server.url
    page = pages.open("operator", viewport=pages.DESKTOP)
    assert page.locator('.topbar .pages a[href="/supervision"]').count() == 0
    for path in ("/supervision", "/supervision/bulletin?period=2026-11&level=county"):
        answer = page.goto(f"{url}{path}")
        assert answer is not None and answer.status == 403, path
