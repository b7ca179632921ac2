"""`gridwatch cap …`: alerts from the public alerting chain, from files.

The only module of dispatch/cap that touches Flask or the database (through services/cap.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import with_appcontext
from rich.console import Console

console = Console(stderr=True)


@click.group("cap")
def cap_group() -> None:
    """CAP 1.2 alerts (OASIS Common Alerting Protocol)."""


@cap_group.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def import_command(files: tuple[Path, ...]) -> None:
    """Import CAP alerts from FILES, each on its own: a valid one is stored (once, however
    often imported), an invalid one is named with the schema's reason. Exits 1 when any
    file was refused."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from ..errors import GridwatchError
    from ..services import cap

    imported = duplicates = 0
    refused: list[str] = []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
        disable=len(files) < 2,
    ) as bar:
        step = bar.add_task("importing alerts", total=len(files))
        for path in files:
            bar.update(step, description=f"importing {path.name}")
            try:
                answer = cap.import_alert(None, path.read_bytes())
            except OSError as exc:
                refused.append(f"{path}: cannot read: {exc.strerror or exc}")
            except GridwatchError as exc:
                refused.append(f"{path}: {exc.message}")
            else:
                if answer["duplicate"]:
                    duplicates += 1
                else:
                    imported += 1
                for warning in answer.get("warnings", ()):
                    click.echo(f"warning: {path}: {warning}", err=True)
            bar.advance(step)
    for line in refused:
        click.echo(f"error: {line}", err=True)
    click.echo(f"imported {imported} alert(s), {duplicates} already there, {len(refused)} refused")
    if refused:
        sys.exit(1)


__all__ = ["cap_group"]
