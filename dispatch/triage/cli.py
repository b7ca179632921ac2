"""`gridwatch triage …`: rule authors' tools (check a rule set on a file, backtest on the DB).

The only module of dispatch/triage that may touch Flask or the database; `check` needs
neither (it runs without an app), `backtest` reads stored reports and writes nothing.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import click
from flask.cli import with_appcontext
from rich.console import Console
from rich.table import Table

from .ruleset import CATEGORIES, LEVELS, RuleSet, RuleSetError, load_rules
from .scoring import TriageInput, score_report

LOCAL = ZoneInfo("Asia/Shanghai")
MAX_TEXT = 2000

rules_option = click.option(
    "--rules",
    "rules_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Rule file (TOML); default: GRIDWATCH_TRIAGE_RULES, else the packaged rules.",
)


def _rules(path: Path | None) -> RuleSet:
    """The rule file given, else the app's configured one (when there is an app), else ours."""
    if path is None:
        from flask import current_app, has_app_context

        if has_app_context():
            path = current_app.config.get("GRIDWATCH_TRIAGE_RULES") or None
    try:
        return load_rules(path)
    except RuleSetError as exc:
        raise click.ClickException(str(exc)) from None


@click.group("triage")
def triage_group() -> None:
    """Triage rules: check a rule set on reports in a file, or backtest it on stored ones."""


# --------------------------------------------------------------------------- check


class LineError(ValueError):
    pass


def parse_line(raw: str) -> TriageInput:
    """One JSONL line `{category, text, severity?, lat?, lon?, hour?, recent_in_cell?}`."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise LineError(f"not valid JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(data, dict):
        raise LineError("must be a JSON object")
    category = data.get("category")
    if category not in CATEGORIES:
        raise LineError(f"category: unknown category {category!r}")
    text = data.get("text", "")
    if not isinstance(text, str):
        raise LineError("text: must be a string")
    if len(text) > MAX_TEXT:
        raise LineError(f"text: longer than {MAX_TEXT} characters")
    severity = data.get("severity")
    if severity is not None and (
        not isinstance(severity, int) or isinstance(severity, bool) or not 1 <= severity <= 4
    ):
        raise LineError(f"severity: must be 1..4, got {severity!r}")
    for key, low, high in (("lat", -90, 90), ("lon", -180, 180)):
        value = data.get(key)
        if value is not None and (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not low <= value <= high
        ):
            raise LineError(f"{key}: must be a number in {low}..{high}, got {value!r}")
    hour = data.get("hour")
    if hour is not None and (not isinstance(hour, int) or not 0 <= hour <= 23):
        raise LineError(f"hour: must be 0..23, got {hour!r}")
    recent = data.get("recent_in_cell", 0)
    if not isinstance(recent, int) or isinstance(recent, bool) or recent < 0:
        raise LineError(f"recent_in_cell: must be a whole number >= 0, got {recent!r}")
    return TriageInput(category, text, severity, hour=hour, recent_in_cell=recent)


def check_lines(
    lines: Iterable[str], rules: RuleSet, out: IO[str], err: IO[str]
) -> tuple[int, int]:
    """Score every good line to `out`, name every bad one on `err`; (good, bad) counts."""
    good = bad = 0
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            report = parse_line(raw)
        except LineError as exc:
            bad += 1
            err.write(f"line {number}: {exc}\n")
            continue
        good += 1
        result = score_report(report, rules).as_dict()
        out.write(json.dumps({"line": number, **result}, ensure_ascii=False) + "\n")
    return good, bad


@triage_group.command("check")
@click.argument("input_file", metavar="INPUT.jsonl", type=click.File("r", encoding="utf-8"))
@rules_option
@click.option(
    "--out",
    "out_file",
    type=click.File("w", encoding="utf-8"),
    default="-",
    help="Where to write the results (default: standard output).",
)
def check_command(input_file: IO[str], rules_path: Path | None, out_file: IO[str]) -> None:
    """Score reports given one JSON object a line; one JSON line out for each.

    In: {category, text, severity?, lat?, lon?} (optionally hour 0..23 local time and
    recent_in_cell). Out: {line, risk_level, risk_score, reasons, category_hint}. A bad line
    is named on stderr and the exit code is 1; the good lines are still scored.
    """
    rules = _rules(rules_path)
    good, bad = check_lines(input_file, rules, out_file, sys.stderr)
    click.echo(f"rules {rules.name} {rules.version}: {good} scored, {bad} bad line(s)", err=True)
    if bad:
        sys.exit(1)


# --------------------------------------------------------------------------- backtest


def _local_date(value: datetime) -> datetime:
    """A --since date is midnight in Asia/Shanghai; stored times are UTC."""
    return value.replace(tzinfo=LOCAL) if value.tzinfo is None else value


def _recent_counts(
    history: list[tuple[int, str | None, datetime]], window: timedelta
) -> dict[int, int]:
    """For each report id: the other reports from its cell within `window` before it."""
    by_cell: dict[str, list[tuple[datetime, int]]] = {}
    for report_id, cell, at in history:
        if cell:
            by_cell.setdefault(cell, []).append((at, report_id))
    counts: dict[int, int] = {}
    for items in by_cell.values():
        items.sort()
        start = 0
        for i, (at, report_id) in enumerate(items):
            while items[start][0] < at - window:
                start += 1
            counts[report_id] = i - start
    return counts


@triage_group.command("backtest")
@click.option(
    "--rules",
    "rules_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The rule file (TOML) to try.",
)
@click.option(
    "--since",
    required=True,
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]),
    help="Replay reports received since this local (Asia/Shanghai) date.",
)
@click.option("--limit", default=10_000, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--examples", default=5, show_default=True, type=click.IntRange(0, 100))
@with_appcontext
def backtest_command(rules_path: Path, since: datetime, limit: int, examples: int) -> None:
    """Replay stored reports through a rule file; count how many would change level.

    Read-only: nothing is written. Each report is scored as it was received (local hour,
    reports from its cell before it); its stored level is what the rules of the day said.
    """
    from sqlalchemy import select

    from ..extensions import db
    from ..models import Report

    rules = _rules(rules_path)
    start = _local_date(since)
    window = timedelta(hours=rules.cell_history.window_hours)
    reports = db.session.scalars(
        select(Report).where(Report.received_at >= start).order_by(Report.received_at).limit(limit)
    ).all()
    history = db.session.execute(
        select(Report.id, Report.cell_code, Report.received_at).where(
            Report.received_at >= start - window,
            Report.received_at <= (reports[-1].received_at if reports else start),
        )
    ).all()
    recent = _recent_counts([(r[0], r[1], r[2]) for r in history], window)

    changes: Counter[tuple[str, str]] = Counter()
    changed: list[dict[str, Any]] = []
    for report in reports:
        hour = report.received_at.astimezone(LOCAL).hour
        result = score_report(
            TriageInput(
                report.category,
                report.text or "",
                report.severity,
                hour=hour,
                recent_in_cell=recent.get(report.id, 0),
            ),
            rules,
        )
        old = report.risk_level or "-"
        changes[(old, result.risk_level)] += 1
        if old != result.risk_level and len(changed) < examples:
            changed.append(
                {
                    "id": report.id,
                    "old": f"{old} {report.risk_score if report.risk_score is not None else ''}",
                    "new": f"{result.risk_level} {result.risk_score}",
                    "text": (report.text or "")[:60],
                    "why": ", ".join(
                        f"{r['rule']} {r['points']:+d}" for r in result.reasons if r["points"]
                    ),
                }
            )
    db.session.rollback()
    _print_backtest(rules, len(reports), changes, changed, since)


def _print_backtest(
    rules: RuleSet,
    total: int,
    changes: Counter[tuple[str, str]],
    changed: list[dict[str, Any]],
    since: datetime,
) -> None:
    console = Console()
    moved = sum(n for (old, new), n in changes.items() if old != new)
    console.print(
        f"rules {rules.name} {rules.version}: {total} report(s) since {since:%Y-%m-%d}, "
        f"[bold]{moved}[/] would change level"
    )
    if not total:
        return
    olds = [level for level in (*LEVELS, "-") if any(o == level for o, _ in changes)]
    table = Table(title="stored level → level under these rules", title_justify="left")
    table.add_column("stored \\ new")
    for level in LEVELS:
        table.add_column(level, justify="right")
    for old in olds:
        table.add_row(old, *(str(changes.get((old, new), 0) or "·") for new in LEVELS))
    console.print(table)
    if changed:
        examples = Table(title="examples", title_justify="left")
        for column in ("id", "stored", "new", "text", "why"):
            examples.add_column(column)
        for row in changed:
            examples.add_row(str(row["id"]), row["old"], row["new"], row["text"], row["why"])
        console.print(examples)
