"""The three pages in a real browser against a real server, worker and Redis."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from playwright.sync_api import Page

pytestmark = pytest.mark.browser

XSS = "<img src=x onerror=window.__xss=1>"


def submit_report(informant: Page, category: str, text: str, severity: str = "4") -> int:
    """Fill the informant form, send it, and wait for the server's number."""
    informant.select_option('[name="category"]', category)
    informant.fill('[name="text"]', text)
    informant.select_option('[name="severity"]', severity)
    before = informant.locator("[data-client-id]").count()
    informant.click('#report-form button[type="submit"]')
    item = informant.locator("[data-client-id]").first
    assert informant.locator("[data-client-id]").count() == before + 1
    informant.wait_for_selector(
        f'[data-client-id="{item.get_attribute("data-client-id")}"][data-state="sent"]'
    )
    server_id = item.get_attribute("data-server-id")
    assert server_id is not None
    return int(server_id)


def test_login_page_speaks_chinese_by_default_and_english_on_request(pages: Any) -> None:
    page = pages.open(None, viewport=pages.PHONE)
    url = pages.server.url
    page.goto(f"{url}/login")
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert page.inner_text("h1") == "登录"
    pages.shot(page, "login-phone-zh")
    page.goto(f"{url}/login?lang=en")
    assert page.get_attribute("html", "lang") == "en"
    assert page.inner_text("h1") == "Sign in"
    page.fill('[name="username"]', "operator")
    page.fill('[name="password"]', "wrong password")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.click('button[type="submit"]')
    assert answer.value.status == 401
    assert "Wrong user name or password" in page.inner_text('[role="alert"]')
    pages.shot(page, "login-phone-en-error")


def test_report_reaches_the_operator_and_is_triaged(pages: Any) -> None:
    informant = pages.open("informant", viewport=pages.PHONE, geolocation=True)
    operator = pages.open("operator", viewport=pages.DESKTOP)
    assert informant.locator('select[name="category"] option').count() == 17
    report_id = submit_report(informant, "flood", f"河边积水漫过道路 {uuid.uuid4().hex[:6]}", "3")

    item = operator.wait_for_selector(f'[data-report-id="{report_id}"]', timeout=5_000)
    assert item.get_attribute("data-risk-level") is not None
    operator.wait_for_selector(f'#queue [data-report-id="{report_id}"]:not([data-risk-level=""])')
    level = operator.get_attribute(f'#queue [data-report-id="{report_id}"]', "data-risk-level")
    assert level in {"red", "orange", "yellow", "blue"}
    # The informant sees the risk level come back.
    informant.wait_for_selector(f'[data-server-id="{report_id}"][data-risk-level="{level}"]')
    pages.shot(informant, "informant-phone-sent")
    pages.shot(operator, "operator-desktop-queue")


def test_incident_dispatch_and_team_lifecycle(pages: Any) -> None:
    informant = pages.open("informant", viewport=pages.PHONE, geolocation=True)
    operator = pages.open("operator", viewport=pages.DESKTOP)
    leader = pages.open("leader", viewport=pages.PHONE)
    leader.wait_for_selector("#standby:not([hidden])")
    report_id = submit_report(informant, "fire", "居民楼起火，有人被困")
    card = f'#queue [data-report-id="{report_id}"]'
    operator.wait_for_selector(f'{card}:not([data-risk-level=""])')

    operator.click(f'{card} button[data-action="incident"]')
    incident = operator.wait_for_selector('#incidents [data-incident-id][aria-selected="true"]')
    incident_id = incident.get_attribute("data-incident-id")
    operator.wait_for_selector(f"{card}", state="detached")
    operator.wait_for_selector("#recs [data-dispatch]")
    ark = operator.locator("#recs li", has_text="方舟救援队")
    for _ in range(2):  # volunteer teams may be nearer: widen the list until it shows up
        if ark.count():
            break
        operator.click("#recs-more")
        operator.wait_for_timeout(700)
    assert ark.count() == 1, operator.inner_text("#recs")
    assert re.search(r"\d+ 分钟", ark.inner_text())
    ark.locator("[data-dispatch]").click()

    leader.wait_for_selector('[data-task-id][data-status="offered"]', timeout=10_000)
    assert "被困" in leader.inner_text("[data-task-id]")
    assert leader.locator("[data-task-id] button[data-action]").count() == 2
    pages.shot(leader, "team-phone-offered")
    operator.wait_for_selector('#tasks [data-task-id][data-status="offered"]')
    pages.shot(operator, "operator-desktop-dispatched")

    for action, status in (
        ("ack", "acknowledged"),
        ("en_route", "en_route"),
        ("on_scene", "on_scene"),
        ("completed", "completed"),
    ):
        leader.click(f'[data-task-id] button[data-action="{action}"]')
        leader.wait_for_selector(f'[data-task-id][data-status="{status}"]')
        operator.wait_for_selector(f'#tasks [data-task-id][data-status="{status}"]')
    pages.shot(leader, "team-phone-completed")

    operator.wait_for_selector(f'[data-incident-id="{incident_id}"][data-status="resolved"]')
    pages.shot(operator, "operator-desktop-resolved")


def test_report_text_is_never_markup(pages: Any) -> None:
    informant = pages.open("informant", viewport=pages.PHONE, geolocation=True)
    operator = pages.open("operator", viewport=pages.DESKTOP)
    report_id = submit_report(informant, "dispute", XSS, "2")
    item = operator.wait_for_selector(f'#queue [data-report-id="{report_id}"]')
    operator.wait_for_timeout(500)
    assert operator.evaluate("window.__xss") is None
    assert informant.evaluate("window.__xss") is None
    assert item.query_selector(".report-text").inner_text() == XSS
    assert item.query_selector("img") is None


def test_a_report_made_offline_waits_and_is_sent_on_reconnect(pages: Any) -> None:
    informant = pages.open("informant", viewport=pages.PHONE)  # no GPS: the cell centre
    informant.context.set_offline(True)
    informant.wait_for_selector('#conn:not([data-state="online"])')
    informant.select_option('[name="category"]', "medical")
    informant.fill('[name="text"]', "离线时上报：老人晕倒")
    informant.click('#report-form button[type="submit"]')
    item = informant.locator("[data-client-id]").first
    client_id = item.get_attribute("data-client-id")
    assert item.get_attribute("data-state") == "queued"
    stored = informant.evaluate("JSON.stringify(Object.assign({}, localStorage))")
    assert client_id in stored
    informant.context.set_offline(False)
    informant.wait_for_selector(
        f'[data-client-id="{client_id}"][data-state="sent"]', timeout=30_000
    )
    assert informant.locator("[data-client-id]").count() >= 1
