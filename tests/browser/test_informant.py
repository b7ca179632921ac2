"""The informant's phone in a real browser: offline start, photos, check-in, weight, languages."""

from __future__ import annotations

import gzip
import re
import struct
import uuid
import zlib
from typing import Any

import pytest
import requests
from playwright.sync_api import Page

from .conftest import PASSWORD, wait_until

pytestmark = pytest.mark.browser


def small_png(width: int = 64, height: int = 48) -> bytes:
    """A small colourful PNG made with the standard library."""
    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 4 % 256, y * 5 % 256, 128)) for x in range(width))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def api_token(url: str, username: str) -> str:
    answer = requests.post(
        f"{url}/api/auth/token", json={"username": username, "password": PASSWORD}, timeout=10
    )
    answer.raise_for_status()
    return str(answer.json()["token"])


def wait_for_service_worker(page: Page) -> None:
    """The page is controlled by the informant service worker (the shell is cached)."""
    wait_until(page, "navigator.serviceWorker && navigator.serviceWorker.controller !== null")
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")


def test_offline_report_with_photo_survives_a_reload_and_is_sent_once(pages: Any) -> None:
    url = pages.server.url
    informant = pages.open("informant", viewport=pages.PHONE)
    wait_for_service_worker(informant)
    context = informant.context
    uploads: list[int] = []
    context.on(
        "response",
        lambda r: (
            uploads.append(r.status)
            if r.request.method == "POST" and re.search(r"/api/reports/\d+/photos$", r.url)
            else None
        ),
    )

    context.set_offline(True)
    informant.wait_for_selector('#conn:not([data-state="online"])')
    informant.click('.cat-btn[data-category="veteran_hardship"]')
    assert informant.input_value('[name="category"]') == "veteran_hardship"
    informant.fill('[name="text"]', "离线上报：老兵王大爷家中困难，需要上门看看")
    informant.set_input_files(
        "#photo-input", files=[{"name": "p.png", "mimeType": "image/png", "buffer": small_png()}]
    )
    informant.wait_for_selector("#photo-list .photo-thumb")
    assert informant.inner_text("#photo-count").startswith("1")
    informant.click('#report-form button[type="submit"]')
    item = informant.locator("[data-client-id]").first
    client_id = item.get_attribute("data-client-id")
    assert client_id and item.get_attribute("data-state") == "queued"
    assert item.get_attribute("data-photos") == "1"
    # Let IndexedDB settle, then the draft text: typed but not sent, kept across the reload.
    informant.fill('[name="text"]', "还没写完的草稿")
    informant.wait_for_timeout(300)
    pages.shot(informant, "informant-phone-offline-queued")

    informant.reload()  # offline: the service worker serves the page shell
    informant.wait_for_selector(f'[data-client-id="{client_id}"][data-state="queued"]')
    assert informant.input_value('[name="text"]') == "还没写完的草稿"
    assert informant.get_attribute(f'[data-client-id="{client_id}"]', "data-photos") == "1"
    assert informant.get_attribute("#conn", "data-state") != "online"
    pages.shot(informant, "informant-phone-offline-reloaded")

    context.set_offline(False)
    sent = f'[data-client-id="{client_id}"][data-state="sent"][data-photos-sent="1"]'
    informant.wait_for_selector(sent, timeout=30_000)
    server_id = int(informant.get_attribute(sent, "data-server-id") or 0)
    assert server_id > 0
    pages.shot(informant, "informant-phone-back-online")

    headers = {"Authorization": f"Bearer {api_token(url, 'informant')}"}
    reports = requests.get(
        f"{url}/api/reports", params={"limit": 5000}, headers=headers, timeout=10
    ).json()
    reports = reports.get("reports", reports) if isinstance(reports, dict) else reports
    mine = [r for r in reports if r["client_id"] == client_id]
    assert len(mine) == 1 and mine[0]["id"] == server_id
    photos = requests.get(f"{url}/api/reports/{server_id}/photos", headers=headers, timeout=10)
    assert photos.status_code == 200
    body = photos.json()
    listed = body.get("photos", body) if isinstance(body, dict) else body
    assert len(listed) == 1
    assert listed[0]["content_type"] == "image/jpeg"  # compressed on the phone
    assert uploads == [201]

    # Another reload online: still one report, nothing resent.
    informant.reload()
    informant.wait_for_selector(sent)
    informant.wait_for_selector('#conn[data-state="online"]')
    informant.wait_for_timeout(500)
    assert uploads == [201]
    again = requests.get(
        f"{url}/api/reports", params={"limit": 5000}, headers=headers, timeout=10
    ).json()
    again = again.get("reports", again) if isinstance(again, dict) else again
    assert len([r for r in again if r["client_id"] == client_id]) == 1


def test_a_queue_left_in_local_storage_by_an_older_version_is_sent_once(pages: Any) -> None:
    informant = pages.open("informant", viewport=pages.PHONE)
    client_id = str(uuid.uuid4())
    informant.evaluate(
        """(clientId) => {
            const cfg = JSON.parse(document.getElementById("gw-config").textContent);
            const payload = {client_id: clientId, category: "family_misfortune", text: "旧版上报",
                             severity: 2, lat: 36.0611, lon: 103.8343,
                             occurred_at: new Date().toISOString()};
            const item = {client_id: clientId, payload: payload, state: "queued",
                          created: payload.occurred_at};
            localStorage.setItem("gw.informant." + cfg.user_id + ".reports",
                                 JSON.stringify([item]));
        }""",
        client_id,
    )
    informant.reload()
    informant.wait_for_selector(f'[data-client-id="{client_id}"][data-state="sent"]')
    leftover = informant.evaluate(
        "Object.keys(localStorage).filter(k => k.endsWith('.reports')).length"
    )
    assert leftover == 0
    informant.reload()
    informant.wait_for_selector(f'[data-client-id="{client_id}"][data-state="sent"]')
    assert informant.locator(f'[data-client-id="{client_id}"]').count() == 1


def test_all_quiet_check_in_is_one_tap(pages: Any) -> None:
    url = pages.server.url
    informant = pages.open("informant", viewport=pages.PHONE)
    assert informant.get_attribute("#checkin", "data-state") == "none"
    pages.shot(informant, "informant-phone-zh")
    informant.click("#checkin-btn")
    informant.wait_for_selector('#checkin[data-state="done"]')
    status = informant.inner_text("#checkin-status")
    assert re.search(r"今天 \d\d:\d\d 已报平安", status), status
    client_id = informant.get_attribute("#checkin", "data-checkin-id")
    pages.shot(informant, "informant-phone-checked-in")

    # The server holds it: the same client_id again is a duplicate.
    headers = {"Authorization": f"Bearer {api_token(url, 'informant')}"}
    answer = requests.post(
        f"{url}/api/checkins", json={"client_id": client_id}, headers=headers, timeout=10
    )
    assert answer.status_code == 200 and answer.json()["duplicate"] is True

    # The page remembers it after a reload.
    informant.reload()
    informant.wait_for_selector('#checkin[data-state="done"]')
    assert informant.inner_text("#checkin-status") == status


def test_first_load_is_light(pages: Any) -> None:
    page = pages.open(None, viewport=pages.PHONE)
    url = pages.server.url
    # Sign in without loading any page, so that nothing is in the browser's cache.
    form = page.context.request.get(f"{url}/login").text()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert csrf is not None
    page.context.request.post(
        f"{url}/login",
        form={"username": "informant", "password": PASSWORD, "csrf_token": csrf.group(1)},
        max_redirects=0,
    )
    sizes: dict[str, tuple[int, int]] = {}

    def record(response: Any) -> None:
        try:
            body = response.body()
        except Exception:  # redirects and aborted requests have no body
            return
        sizes[response.url] = (len(body), len(gzip.compress(body, compresslevel=6)))

    page.on("response", record)
    page.goto(f"{url}/informant")
    page.wait_for_selector('#conn[data-state="online"]')
    page.wait_for_load_state("networkidle")
    raw = sum(s[0] for s in sizes.values())
    compressed = sum(s[1] for s in sizes.values())
    report = ", ".join(f"{u.replace(url, '')}={s[1]}" for u, s in sorted(sizes.items()))
    print(f"informant first load: {raw} B raw, {compressed} B gzip ({report})")
    assert compressed < 300 * 1024, report
    assert not any("leaflet" in u for u in sizes), report


def test_chinese_by_default_and_english_on_request(pages: Any) -> None:
    informant = pages.open("informant", viewport=pages.PHONE)
    assert informant.get_attribute("html", "lang") == "zh-CN"
    assert "平安" in informant.inner_text("#checkin-btn")
    assert "今天还没有报平安" in informant.inner_text("#checkin-status")
    assert informant.inner_text('#report-form button[type="submit"]').strip() != "Send report"
    assert informant.inner_text('.cat-btn[data-category="fire"]').strip() == "火灾"
    manifest = informant.get_attribute('link[rel="manifest"]', "href")
    assert manifest
    data = requests.get(pages.server.url + manifest, timeout=10).json()
    assert data["name"] == "网格守望·信息员" and data["start_url"] == "/informant"

    informant.goto(f"{pages.server.url}/informant?lang=en")
    informant.wait_for_selector('#conn[data-state="online"]')
    assert informant.get_attribute("html", "lang") == "en"
    assert "All quiet" in informant.inner_text("#checkin-btn")
    assert informant.inner_text('#report-form button[type="submit"]').strip() == "Send report"
    assert informant.inner_text('.cat-btn[data-category="fire"]').strip() == "Fire"
    pages.shot(informant, "informant-phone-en")
    desktop = pages.open("informant", viewport=pages.DESKTOP)
    pages.shot(desktop, "informant-desktop-zh")
