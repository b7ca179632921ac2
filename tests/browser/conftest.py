"""Browser fixtures: one real Gridwatch server and one headless Chromium for the module."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
PASSWORD = "gridwatch-demo"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}
# Lanzhou's centre, in 城关区: where the demo informant `informant` lives.
LANZHOU = {"latitude": 36.0611, "longitude": 103.8343, "accuracy": 20}


def _gridwatch() -> list[str]:
    script = Path(sys.executable).with_name("gridwatch")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dispatch.cli"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    """Debian's chromium; without it the browser tests skip, unless REQUIRE_BROWSER=1."""
    if not CHROMIUM.exists():
        reason = f"browser tests need {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(reason + "; REQUIRE_BROWSER=1 is set")
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="session")
def live_server(
    chromium_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """`gridwatch serve` on a free port with a fresh 200-cell demo; SIGTERM at the end."""
    instance = tmp_path_factory.mktemp("gw-browser")
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    env.update(
        GRIDWATCH_INSTANCE=str(instance),
        GRIDWATCH_ACK_TIMEOUT_S="30",
        GRIDWATCH_RATE_LIMITS="off",
        PYTHONUNBUFFERED="1",
    )
    cli = _gridwatch()
    for args in (["db", "upgrade"], ["seed-demo", "--cells", "200"]):
        subprocess.run(
            [*cli, *args], env=env, cwd=ROOT, check=True, capture_output=True, timeout=180
        )
    port = _free_port()
    log_path = instance / "serve.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [*cli, "serve", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(f"http://127.0.0.1:{port}", process, log_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError("server exited:\n" + log_path.read_text(errors="replace"))
            try:
                if requests.get(f"{server.url}/api/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise RuntimeError("server not healthy:\n" + log_path.read_text(errors="replace"))
            time.sleep(0.2)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@pytest.fixture(scope="session")
def browser(chromium_path: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def wait_until(page: Any, expression: str, arg: Any = None, timeout: int = 15_000) -> None:
    """Poll `expression` (or a function of `arg`) in the page until it is true.

    Not `page.wait_for_function`: that compiles its predicate inside the page, which the
    pages' Content-Security-Policy (no eval) rightly forbids. `page.evaluate` goes through
    the DevTools protocol instead.
    """
    deadline = time.monotonic() + timeout / 1000
    while not page.evaluate(expression, arg):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} ms waiting for: {expression}")
        page.wait_for_timeout(50)


class Pages:
    """Signed-in pages; every page records its JavaScript errors."""

    PHONE = PHONE
    DESKTOP = DESKTOP

    def __init__(self, browser: Any, server: LiveServer) -> None:
        self.browser = browser
        self.server = server
        self.contexts: list[Any] = []
        self.errors: list[str] = []

    def open(
        self,
        username: str | None,
        *,
        viewport: dict[str, int],
        locale: str = "zh-CN",
        geolocation: bool = False,
    ) -> Any:
        context = self.browser.new_context(
            viewport=viewport,
            locale=locale,
            geolocation=LANZHOU if geolocation else None,
            permissions=["geolocation"] if geolocation else [],
        )
        self.contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on("pageerror", lambda exc: self.errors.append(f"{username}: {exc}"))
        # The policy is enforced (no bypass): anything it blocks is an error of the page.
        page.on(
            "console",
            lambda msg: (
                self.errors.append(f"{username}: {msg.text}")
                if "Content Security Policy" in msg.text or "Content-Security-Policy" in msg.text
                else None
            ),
        )
        if username is not None:
            page.goto(f"{self.server.url}/login")
            page.fill('[name="username"]', username)
            page.fill('[name="password"]', PASSWORD)
            with page.expect_navigation():
                page.click('button[type="submit"]')
            page.wait_for_selector('#conn[data-state="online"]')
        return page

    @staticmethod
    def shot(page: Any, name: str) -> None:
        """A screenshot for people to look at: test-artifacts/<name>.png."""
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def pages(browser: Any, live_server: LiveServer) -> Iterator[Pages]:
    opened = Pages(browser, live_server)
    yield opened
    opened.close()
    assert not opened.errors, f"JavaScript errors: {opened.errors}"
