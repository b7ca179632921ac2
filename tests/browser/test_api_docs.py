"""/api/docs: the OpenAPI document, browsable without signing in, under the site's policy."""

from __future__ import annotations

from typing import Any

import requests

from dispatch.api.openapi import OPERATIONS


def test_every_operation_is_browsable(pages: Any) -> None:
    page = pages.open(None, viewport=pages.DESKTOP)
    answer = page.goto(f"{pages.server.url}/api/docs")
    assert answer is not None and answer.status == 200
    page.wait_for_selector(".opblock", timeout=30_000)
    shown = page.locator(".opblock").count()
    served = requests.get(f"{pages.server.url}/api/openapi.json", timeout=10).json()
    operations = sum(len(methods) for methods in served["paths"].values())
    assert shown == operations == len(OPERATIONS)
    assert page.locator(".opblock-summary-path[data-path='/api/supervision/bulletin']").count()
    pages.shot(page, "api-docs")
    # The pages fixture fails the test on any script error or policy violation.
