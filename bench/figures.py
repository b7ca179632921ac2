"""The shape of one benchmark figure in bench/results.json."""

from __future__ import annotations

from typing import Any


def figure(value: float, baseline: float | None, unit: str, digits: int = 1) -> dict[str, Any]:
    """`{value, unit, baseline, ratio}`; the ratio is value / baseline, both from one run."""
    return {
        "value": round(value, digits),
        "unit": unit,
        "baseline": round(baseline, digits) if baseline is not None else None,
        "ratio": round(value / baseline, 3) if baseline else None,
    }
