"""`gridwatch triage check` on a file; `backtest` over stored reports (read-only)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskCliRunner

from dispatch.extensions import db
from dispatch.models import Report
from dispatch.triage import default_rules_path
from dispatch.triage.cli import triage_group


def write_lines(path: Path, lines: list[object]) -> Path:
    path.write_text(
        "\n".join(x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in lines)
        + "\n",
        encoding="utf-8",
    )
    return path


def test_check_scores_every_line(tmp_path: Path) -> None:
    source = write_lines(
        tmp_path / "in.jsonl",
        [
            {"category": "fire", "text": "仓库起火，有人被困", "severity": 4},
            {
                "category": "traffic_accident",
                "text": "两车相撞，没有人受伤",
                "lat": 36.06,
                "lon": 103.83,
            },
            "",
            {"category": "other", "text": "山体滑坡堵住了路"},
        ],
    )
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(triage_group, ["check", str(source), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["line"] for r in rows] == [1, 2, 4]
    assert rows[0]["risk_level"] == "red"
    assert set(rows[0]) == {"line", "risk_level", "risk_score", "reasons", "category_hint"}
    assert "casualties" not in {r["rule"] for r in rows[1]["reasons"]}
    assert rows[2]["category_hint"] == "landslide"


def test_check_names_bad_lines_and_exits_1(tmp_path: Path) -> None:
    source = write_lines(
        tmp_path / "in.jsonl",
        [
            {"category": "fire", "text": "起火"},
            "{not json",
            {"category": "parade", "text": "x"},
            {"category": "fire", "text": "起火", "severity": 9},
            {"category": "flood", "text": "积水很深"},
        ],
    )
    result = CliRunner().invoke(triage_group, ["check", str(source)])
    assert result.exit_code == 1
    assert "line 2: not valid JSON" in result.stderr
    assert "line 3: category: unknown category 'parade'" in result.stderr
    assert "line 4: severity: must be 1..4, got 9" in result.stderr
    good = [json.loads(x) for x in result.stdout.splitlines()]
    assert [r["line"] for r in good] == [1, 5]


def test_check_with_another_rule_file(tmp_path: Path) -> None:
    strict = tmp_path / "strict.toml"
    strict.write_text(
        default_rules_path().read_text(encoding="utf-8").replace("flood = 50", "flood = 90", 1),
        encoding="utf-8",
    )
    source = write_lines(tmp_path / "in.jsonl", [{"category": "flood", "text": "积水"}])
    result = CliRunner().invoke(triage_group, ["check", str(source), "--rules", str(strict)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["risk_level"] == "red"


def test_check_refuses_a_bad_rule_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n', encoding="utf-8")
    source = write_lines(tmp_path / "in.jsonl", [{"category": "flood", "text": "积水"}])
    result = CliRunner().invoke(triage_group, ["check", str(source), "--rules", str(bad)])
    assert result.exit_code == 1
    assert "version: missing" in result.stderr


def test_backtest_counts_level_changes_and_writes_nothing(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    at = datetime(2026, 5, 1, 4, 0, tzinfo=UTC)  # 12:00 in Lanzhou
    with app.app_context():
        for i, (category, text, level, score) in enumerate(
            [
                ("fire", "仓库起火", "orange", 60),
                ("dispute", "邻里纠纷", "blue", 30),
                ("flood", "积水", "yellow", 50),
            ]
        ):
            db.session.add(
                Report(
                    client_id=f"00000000-0000-0000-0000-00000000000{i}",
                    category=category,
                    text=text,
                    lat=36.06,
                    lon=103.83,
                    area_code="620102",
                    cell_code=None,
                    received_at=at,
                    status="triaged",
                    risk_level=level,
                    risk_score=score,
                )
            )
        db.session.commit()
    rules = tmp_path / "floods.toml"
    rules.write_text(
        default_rules_path().read_text(encoding="utf-8").replace("flood = 50", "flood = 90", 1),
        encoding="utf-8",
    )
    result = runner.invoke(
        triage_group, ["backtest", "--rules", str(rules), "--since", "2026-05-01"]
    )
    assert result.exit_code == 0, result.output
    assert "3 report(s) since 2026-05-01" in result.output
    assert "1 would change level" in result.output
    assert "积水" in result.output
    with app.app_context():
        flood = db.session.scalars(db.select(Report).where(Report.category == "flood")).one()
        assert flood.risk_level == "yellow"
