"""The migrations build exactly the schema the models describe, and go down and up again."""

from __future__ import annotations

from flask.testing import FlaskCliRunner


def test_models_and_migrations_agree(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["db", "check"])
    assert result.exit_code == 0, result.output


def test_downgrade_to_nothing_and_back(runner: FlaskCliRunner) -> None:
    assert runner.invoke(args=["db", "downgrade", "base"]).exit_code == 0
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    assert runner.invoke(args=["db", "check"]).exit_code == 0
