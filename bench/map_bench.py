"""The operator map in headless Chromium on the 100,000-cell demo (20,000 with --quick).

Figures:
  map_first_render_ms     navigation to /operator → the county layer drawn at city zoom
  map_township_cells_ms   setView onto a township at zoom 14 → its cells drawn
  map_pan_fps             animation frames per second during a scripted 3 s mouse-drag pan
                          at zoom 14 (cells shown); baseline: frames/s of the same page idle
The render times have no baseline (null): nothing else draws this grid to compare with.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
VIEWPORT = {"width": 1366, "height": 900}
CENTRE = (36.0611, 103.8343)  # Lanzhou's centre, in 城关区

# Resolves with ms from the call until the detail slot has drawn cells.
ZOOM_TO_CELLS = """([lat, lon]) => new Promise((done, fail) => {
  const t0 = performance.now();
  gwMap.map.setView(gwMap.ll(lat, lon), 14, {animate: false});
  const started = Date.now();
  (function poll() {
    const hit = window.__gwMapDraws.find((d) => d.level === "cell" && d.t >= t0);
    if (hit) return done({ms: hit.t - t0, cells: hit.count});
    if (Date.now() - started > 60000) return fail(new Error("cells not drawn in 60 s"));
    setTimeout(poll, 5);
  })();
})"""

FRAME_COUNTER = """() => {
  window.__gwFrames = 0;
  window.__gwCounting = true;
  (function tick() {
    if (!window.__gwCounting) return;
    window.__gwFrames++;
    requestAnimationFrame(tick);
  })();
}"""


def _figure(value: float | None, baseline: float | None, unit: str) -> dict[str, Any]:
    return {
        "value": None if value is None else round(value, 1),
        "unit": unit,
        "baseline": None if baseline is None else round(baseline, 1),
        "ratio": round(value / baseline, 3) if value is not None and baseline else None,
    }


def _count_frames(page: Any, seconds: float, drag: bool) -> float:
    """Frames/s over `seconds`, while dragging the map left and right (or idle)."""
    page.evaluate(FRAME_COUNTER)
    box = page.locator("#map").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    start = time.perf_counter()
    direction = 1
    while time.perf_counter() - start < seconds:
        if drag:
            # One stroke: 240 px over ~0.5 s, released (moveend: the map may fetch cells).
            page.mouse.move(cx - 120 * direction, cy)
            page.mouse.down()
            for step in range(1, 31):
                page.mouse.move(cx - 120 * direction + 8 * step * direction, cy + step % 3)
                page.wait_for_timeout(16)
            page.mouse.up()
            direction = -direction
        else:
            page.wait_for_timeout(100)
    elapsed = time.perf_counter() - start
    frames = page.evaluate("() => { window.__gwCounting = false; return window.__gwFrames; }")
    return float(frames) / elapsed


def bench_map(quick: bool, workdir: Path) -> dict[str, dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    from bench.run import DEMO_PASSWORD, console, gridwatch_server

    cells = 20_000 if quick else 100_000
    console.print(f"[bold]map[/]: operator map in headless Chromium, {cells:,} cells")
    with gridwatch_server(workdir, cells=cells) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=VIEWPORT, locale="zh-CN")
            page = context.new_page()
            page.set_default_timeout(60_000)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{server.url}/login")
            page.fill('[name="username"]', "operator")
            page.fill('[name="password"]', DEMO_PASSWORD)
            with page.expect_navigation():
                page.click('button[type="submit"]')

            # First full render at city zoom, from navigation start (a fresh load each time:
            # the first one warms the server's GeoJSON cache, the median of the rest counts).
            renders = []
            for _ in range(3 if quick else 5):
                page.goto(f"{server.url}/operator")
                page.wait_for_function(
                    "window.__gwMapDraws && window.__gwMapDraws.some((d) => d.level === 'county')"
                )
                renders.append(
                    page.evaluate("window.__gwMapDraws.find((d) => d.level === 'county').t")
                )
            first_render = sorted(renders)[len(renders) // 2]
            cold_render = renders[0]
            zoom = page.evaluate("gwMap.map.getZoom()")

            # Zoom onto the township at the centre: until its cells are drawn.
            page.wait_for_timeout(500)
            cells_drawn = page.evaluate(ZOOM_TO_CELLS, list(CENTRE))
            console.print(
                f"  city zoom {zoom}: county layer drawn {first_render:.0f} ms after navigation"
                f" (cold {cold_render:.0f} ms); zoom 14: {cells_drawn['cells']} cells drawn"
                f" in {cells_drawn['ms']:.0f} ms"
            )
            page.wait_for_timeout(1000)
            idle_fps = _count_frames(page, 2.0, drag=False)
            pan_fps = _count_frames(page, 3.0, drag=True)
            console.print(f"  frames/s: idle {idle_fps:.1f}, panning {pan_fps:.1f}")
            if errors:
                raise RuntimeError(f"JavaScript errors on the operator page: {errors}")
        finally:
            browser.close()
    return {
        "map_first_render_ms": _figure(first_render, None, "ms"),
        "map_township_cells_ms": _figure(float(cells_drawn["ms"]), None, "ms"),
        "map_pan_fps": _figure(pan_fps, idle_fps, "frames/s"),
    }
