"""The three pages in a real browser against a real server, worker and Redis."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
import requests
from playwright.sync_api import Page

from .conftest import PASSWORD

pytestmark = pytest.mark.browser

XSS = "<img src=x onerror=window.__xss=1>"
XSS_SCRIPT = "<script>window.__xss2=1</script>"
# Places of their own (over 3 km from every other test's reports), so no cluster joins them.
XSS_PLACE = (36.10, 103.84)
MERGE_PLACES = ((36.02, 103.76), (36.12, 103.93))


def api_token(url: str, username: str) -> str:
    answer = requests.post(
        f"{url}/api/auth/token", json={"username": username, "password": PASSWORD}, timeout=10
    )
    answer.raise_for_status()
    return str(answer.json()["token"])


def submit_report(
    informant: Page,
    category: str,
    text: str,
    severity: str = "4",
    at: tuple[float, float] | None = None,
) -> int:
    """Fill the informant form (at a given place if asked), send it, wait for the server's id."""
    if at is not None:
        informant.evaluate(
            """([lat, lon]) => {
                const form = document.getElementById("report-form");
                for (const [name, value] of [["lat", lat], ["lon", lon]]) {
                    form.elements[name].value = String(value);
                    form.elements[name].dispatchEvent(new Event("input", {bubbles: true}));
                }
            }""",
            list(at),
        )
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


def walk_task_to_completion(leader: Any, operator: Any = None) -> None:
    """The leader taps through the task; the operator, if given, sees every step."""
    for action, status in (
        ("ack", "acknowledged"),
        ("en_route", "en_route"),
        ("on_scene", "on_scene"),
        ("completed", "completed"),
    ):
        leader.click(f'[data-task-id] button[data-action="{action}"]')
        leader.wait_for_selector(f'[data-task-id][data-status="{status}"]')
        if operator is not None:
            operator.wait_for_selector(f'#tasks [data-task-id][data-status="{status}"]')


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

    walk_task_to_completion(leader, operator)
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


def test_a_script_in_report_text_never_runs_for_the_operator_or_the_team(pages: Any) -> None:
    informant = pages.open("informant", viewport=pages.PHONE)  # place typed in, no GPS
    operator = pages.open("operator", viewport=pages.DESKTOP)
    leader = pages.open("leader", viewport=pages.PHONE)
    leader.wait_for_selector("#standby:not([hidden])")
    report_id = submit_report(informant, "other", XSS_SCRIPT, "3", at=XSS_PLACE)
    card = f'#queue [data-report-id="{report_id}"]'
    operator.wait_for_selector(f'{card}:not([data-risk-level=""])')
    assert operator.inner_text(f"{card} .report-text") == XSS_SCRIPT
    assert operator.locator(f"{card} script").count() == 0

    operator.click(f'{card} button[data-action="incident"]')
    incident = operator.wait_for_selector('#incidents [data-incident-id][aria-selected="true"]')
    incident_id = int(incident.get_attribute("data-incident-id") or 0)
    url = pages.server.url
    headers = {"Authorization": f"Bearer {api_token(url, 'operator')}"}
    teams = requests.get(f"{url}/api/teams", headers=headers, timeout=10).json()
    ark = next(team for team in teams if team["name"] == "方舟救援队")
    back = requests.post(  # an earlier test may have left it returning from a task
        f"{url}/api/teams/status",
        json={"status": "available"},
        headers={"Authorization": f"Bearer {api_token(url, 'leader')}"},
        timeout=10,
    )
    assert back.status_code == 200, back.text
    sent = requests.post(
        f"{url}/api/incidents/{incident_id}/dispatch",
        json={"team_id": ark["id"]},
        headers=headers,
        timeout=10,
    )
    assert sent.status_code == 201, sent.text

    task = leader.wait_for_selector('[data-task-id][data-status="offered"]', timeout=10_000)
    assert XSS_SCRIPT in task.inner_text()
    assert leader.locator("[data-task-id] script").count() == 0
    pages.shot(leader, "team-phone-script-text")

    # The timeline reads as words: the action, the team and who did it.
    operator.click(f'#incidents [data-incident-id="{incident_id}"]')
    offered = operator.wait_for_selector('#timeline li[data-action="task.offered"]')
    assert "已派发任务 方舟救援队 · #" in offered.inner_text(), offered.inner_text()
    assert "task." not in operator.inner_text("#timeline")
    offered.scroll_into_view_if_needed()
    pages.shot(operator, "operator-desktop-timeline")

    walk_task_to_completion(leader)
    operator.wait_for_timeout(300)
    for page in (informant, operator, leader):
        assert page.evaluate("window.__xss2") is None


def test_the_operator_merges_one_queue_entry_into_another(pages: Any) -> None:
    informant = pages.open("informant", viewport=pages.PHONE)
    operator = pages.open("operator", viewport=pages.DESKTOP)
    tag = uuid.uuid4().hex[:6]
    source = submit_report(informant, "other", f"路灯倒了 {tag}", "2", at=MERGE_PLACES[0])
    target = submit_report(informant, "other", f"路边围墙有裂缝 {tag}", "2", at=MERGE_PLACES[1])
    for report_id in (source, target):
        operator.wait_for_selector(
            f'#queue [data-report-id="{report_id}"]:not([data-risk-level=""])'
        )
    source_card = f'#queue [data-report-id="{source}"]'
    target_card = f'#queue [data-report-id="{target}"]'

    # Esc leaves the choosing mode without merging anything.
    operator.click(f'{source_card} button[data-action="merge"]')
    operator.wait_for_selector(f'#queue[data-merge-from="{source}"]')
    operator.keyboard.press("Escape")
    operator.wait_for_selector("#queue:not([data-merge-from])")

    operator.click(f'{source_card} button[data-action="merge"]')
    operator.wait_for_selector(f"{source_card}.is-merge-source")
    pages.shot(operator, "operator-desktop-merge-choose")
    operator.click(f"{target_card} .report-text")
    operator.wait_for_selector(source_card, state="detached")
    operator.wait_for_selector("#queue:not([data-merge-from])")
    assert operator.locator(target_card).count() == 1
    assert f"#{source}" in operator.inner_text("#queue-msg")

    url = pages.server.url
    headers = {"Authorization": f"Bearer {api_token(url, 'operator')}"}
    answer = requests.get(f"{url}/api/reports/{source}", headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    report = body.get("report", body)
    assert report["status"] == "merged"
    operator.wait_for_timeout(300)
    assert operator.locator(source_card).count() == 0


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_every_page_has_a_screenshot_at_phone_and_desktop_size(pages: Any, size: str) -> None:
    viewport = pages.PHONE if size == "phone" else pages.DESKTOP
    login = pages.open(None, viewport=viewport)
    login.goto(f"{pages.server.url}/login")
    login.wait_for_selector('[name="username"]')
    pages.shot(login, f"login-{size}")
    for username, name in (
        ("informant", "informant"),
        ("operator", "operator"),
        ("leader", "team"),
    ):
        page = pages.open(username, viewport=viewport)
        if name == "operator":
            page.wait_for_selector('#map[data-layers~="county"]')
        page.wait_for_timeout(400)
        pages.shot(page, f"{name}-{size}")
