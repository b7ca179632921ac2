"""Triage benchmark: the default rules on 332 real Chinese emergency news reports (CEC corpus).

The corpus (`../shared/data/zh-text/cec_chinese_emergency_corpus.csv`, beside the repository)
has five categories, mapped to ours:

  交通事故 traffic_accident → traffic_accident    火灾 fire → fire    地震 earthquake → earthquake
  食物中毒 food_poisoning   → medical  (the response is ambulances and hospitals; hazmat is
                                        for leaks and chemicals, and no report is one)
  恐怖袭击 terrorist_attack → other_emergency

The corpus is split deterministically by a hash of each title: one third is held out. The
rules were written as a station would write them and checked against the development part
only; the held-out part is the figure that counts. Measured, per split:

  recall       filed under the right category: how often orange or red (per category)
  hint         filed under "other": how often `category_hint` names the right category
  latency      `score_report` per report (µs), against a trivial scorer (the category's base
               risk only) timed in the same run
"""

from __future__ import annotations

import csv
import hashlib
import statistics
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.figures import figure
from dispatch.triage import RuleSet, TriageInput, load_rules, score_report

CORPUS = (
    Path(__file__).resolve().parents[2] / "shared/data/zh-text/cec_chinese_emergency_corpus.csv"
)
CATEGORY_MAP = {
    "traffic_accident": "traffic_accident",
    "fire": "fire",
    "earthquake": "earthquake",
    "food_poisoning": "medical",
    "terrorist_attack": "other_emergency",
}
SERIOUS = frozenset({"orange", "red"})

console = Console(width=max(110, Console().width))


def held_out(title: str) -> bool:
    """One third of the corpus, chosen by a hash of the title: never used to write rules."""
    return hashlib.sha256(title.encode("utf-8")).digest()[0] % 3 == 0


def load_corpus(path: Path = CORPUS) -> list[dict[str, str]]:
    """Rows {title, category (ours), text, split} from the CSV (header checked)."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"title", "category_en", "text"} - set(reader.fieldnames or ())
        if missing:
            raise RuntimeError(f"{path}: missing columns {sorted(missing)}")
        return [
            {
                "title": row["title"],
                "category": CATEGORY_MAP[row["category_en"]],
                "text": row["text"],
                "split": "held_out" if held_out(row["title"]) else "dev",
            }
            for row in reader
        ]


def evaluate(rows: list[dict[str, str]], rules: RuleSet) -> dict[str, dict[str, Any]]:
    """Per split: recall of orange-or-red per category, hint accuracy per category and overall."""
    out: dict[str, dict[str, Any]] = {}
    for split in ("dev", "held_out"):
        serious: dict[str, list[bool]] = defaultdict(list)
        hinted: dict[str, list[bool]] = defaultdict(list)
        misses: list[dict[str, Any]] = []
        for row in (r for r in rows if r["split"] == split):
            category = row["category"]
            filed = score_report(TriageInput(category, row["text"]), rules)
            serious[category].append(filed.risk_level in SERIOUS)
            other = score_report(TriageInput("other", row["text"]), rules)
            hinted[category].append(other.category_hint == category)
            if filed.risk_level not in SERIOUS or other.category_hint != category:
                misses.append(
                    {
                        "title": row["title"],
                        "category": category,
                        "level": filed.risk_level,
                        "hint": other.category_hint,
                    }
                )
        out[split] = {
            "n": {c: len(v) for c, v in serious.items()},
            "recall": {c: 100 * sum(v) / len(v) for c, v in serious.items()},
            "hint": {c: 100 * sum(v) / len(v) for c, v in hinted.items()},
            "hint_all": 100 * sum(sum(v) for v in hinted.values()) / sum(map(len, hinted.values())),
            "misses": misses,
        }
    return out


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def trivial_score(report: TriageInput, rules: RuleSet) -> tuple[int, str]:
    """The baseline: the category's base risk and its level, nothing read from the text."""
    score = rules.base_risk.get(report.category, 0)
    return score, rules.level_for_score(score)


def latency(rows: list[dict[str, str]], rules: RuleSet, passes: int) -> dict[str, float]:
    """p50/p99 µs per report, rules and trivial scorer timed interleaved.

    Each report is timed `passes` times and its median kept, then the percentiles are taken
    across reports: the spread is that of the reports (short ones, 1,400-character ones),
    not of the scheduler on a shared machine.
    """
    inputs = [TriageInput(r["category"], r["text"]) for r in rows]
    inputs += [TriageInput("other", r["text"]) for r in rows]
    for report in inputs:  # warm the compiled rule set
        score_report(report, rules)
    ours: list[list[float]] = [[] for _ in inputs]
    base: list[list[float]] = [[] for _ in inputs]
    clock = time.perf_counter_ns
    for _ in range(passes):
        for i, report in enumerate(inputs):
            start = clock()
            score_report(report, rules)
            ours[i].append((clock() - start) / 1000)
            start = clock()
            trivial_score(report, rules)
            base[i].append((clock() - start) / 1000)
    ours_median = [statistics.median(t) for t in ours]
    base_median = [statistics.median(t) for t in base]
    return {
        "p50": _percentile(ours_median, 50),
        "p99": _percentile(ours_median, 99),
        "max": max(ours_median),
        "base_p50": _percentile(base_median, 50),
        "base_p99": _percentile(base_median, 99),
        "chars_p50": _percentile([float(len(r.text)) for r in inputs], 50),
        "chars_max": max(float(len(r.text)) for r in inputs),
    }


def bench_triage(quick: bool, workdir: Path) -> dict[str, dict[str, Any]]:
    del workdir  # nothing written
    if not CORPUS.exists():
        raise RuntimeError(f"corpus not found: {CORPUS}")
    rules = load_rules()
    rows = load_corpus()
    figures = evaluate(rows, rules)
    timing = latency(rows, rules, passes=5 if quick else 21)
    _print(rules, figures, timing)

    results: dict[str, dict[str, Any]] = {}
    for split, suffix in (("held_out", ""), ("dev", "_dev")):
        for category, recall in sorted(figures[split]["recall"].items()):
            results[f"triage_recall_{category}{suffix}"] = figure(recall, None, "%")
        results[f"triage_hint_accuracy{suffix}"] = figure(figures[split]["hint_all"], None, "%")
    results["triage_rules_p50_us"] = figure(timing["p50"], timing["base_p50"], "µs", 2)
    results["triage_rules_p99_us"] = figure(timing["p99"], timing["base_p99"], "µs", 2)
    return results


def _print(rules: RuleSet, figures: dict[str, dict[str, Any]], timing: dict[str, float]) -> None:
    table = Table(
        title=f"triage: rules {rules.name} {rules.version} on the CEC corpus", title_justify="left"
    )
    table.add_column("category")
    for split in ("dev", "held_out"):
        table.add_column(f"{split} n", justify="right")
        table.add_column(f"{split} orange+ %", justify="right")
        table.add_column(f"{split} hint %", justify="right")
    for category in sorted(figures["dev"]["n"]):
        cells = []
        for split in ("dev", "held_out"):
            f = figures[split]
            cells += [
                str(f["n"][category]),
                f"{f['recall'][category]:.1f}",
                f"{f['hint'][category]:.1f}",
            ]
        table.add_row(category, *cells)
    table.add_row(
        "all",
        str(sum(figures["dev"]["n"].values())),
        "",
        f"{figures['dev']['hint_all']:.1f}",
        str(sum(figures["held_out"]["n"].values())),
        "",
        f"{figures['held_out']['hint_all']:.1f}",
    )
    console.print(table)
    console.print(
        f"score_report: p50 {timing['p50']:.1f} µs, p99 {timing['p99']:.1f} µs, max "
        f"{timing['max']:.1f} µs per report (median {timing['chars_p50']:.0f} characters, "
        f"longest {timing['chars_max']:.0f}); trivial scorer p50 "
        f"{timing['base_p50']:.2f} µs, p99 {timing['base_p99']:.2f} µs"
    )
