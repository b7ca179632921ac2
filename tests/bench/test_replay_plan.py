"""The 911 replay's plan, without a server: the data, the windows, the speeds, the mapping."""

from __future__ import annotations

from collections import Counter

import pytest
import shapely

from bench import run  # noqa: F401  (the harness first: it imports the benchmarks)
from bench.replay_bench import (
    CATEGORY_OF,
    Call,
    busiest_window,
    compressed_phase,
    data_file,
    load_calls,
    place_calls,
    window_phase,
)
from grid import generate_lanzhou

pytestmark = pytest.mark.skipif(not data_file().exists(), reason="../shared/data is not here")


@pytest.fixture(scope="module")
def calls() -> list[Call]:
    return load_calls()


def test_every_call_has_one_of_our_categories(calls: list[Call]) -> None:
    assert len(calls) == 9226
    assert set(Counter(c.category for c in calls)) == set(CATEGORY_OF.values())
    assert len({c.index for c in calls}) == len(calls)
    assert all(a.t <= b.t for a, b in zip(calls, calls[1:], strict=False))


def test_windows_and_speeds(calls: list[Call]) -> None:
    one = busiest_window(calls, 300)
    assert len(one) == 16 and one[-1].t - one[0].t <= 2
    ten = window_phase("10x", busiest_window(calls, 600), 10.0)
    assert len(ten.entries) == 21
    assert ten.span_s == pytest.approx((ten.entries[-1][1].t - ten.entries[0][1].t) / 10)
    whole = compressed_phase("fastest", calls, 200.0)
    assert len(whole.entries) == len(calls)
    assert whole.span_s == pytest.approx(len(calls) / 200.0)
    probe = compressed_phase("probe", calls, 200.0, first_s=5.0)
    assert probe.entries == whole.entries[: len(probe.entries)]
    assert all(offset < 5.0 for offset, _ in probe.entries)


def test_every_call_lands_in_a_cell(calls: list[Call]) -> None:
    areas = [a for a in generate_lanzhou(cells=2000, seed=0) if a.level == "cell"]
    cells = []
    for a in areas:
        point = a.geometry.representative_point()
        cells.append({"code": a.code, "lat": point.y, "lon": point.x, "geometry": a.geometry})
    placed = place_calls(calls, cells)
    assert set(placed) == {c.index for c in calls}
    inside = [p for p in placed.values() if p.inside]
    assert len(inside) > 0.9 * len(calls)
    for p in placed.values():
        assert shapely.intersects(cells[p.cell]["geometry"], shapely.Point(p.lon, p.lat))
