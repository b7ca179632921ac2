"""The `gridwatch` command (also `flask --app dispatch …`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from rich.console import Console

console = Console(stderr=True)


def _create_app() -> Flask:
    from . import create_app

    return create_app()


@click.command("serve")
@click.option("--host", envvar="HOST", default="127.0.0.1", show_default=True)
@click.option("--port", envvar="PORT", default=5000, type=int, show_default=True)
@with_appcontext
def serve_command(host: str, port: int) -> None:
    """Web + Socket.IO; without REDIS_URL also the embedded Redis and an RQ worker."""
    from flask_migrate import upgrade

    from .runtime import serve

    upgrade()
    instance = Path(current_app.instance_path)
    sys.exit(serve(host, port, instance_path=instance))


@click.command("worker")
@click.option("--burst", is_flag=True, help="Run the queued jobs, then exit.")
@with_appcontext
def worker_command(burst: bool) -> None:
    """RQ worker with scheduler (Procfile `worker:`)."""
    from .runtime import run_worker

    run_worker(current_app._get_current_object(), burst=burst)  # type: ignore[attr-defined]


@click.command("seed-demo")
@click.option("--cells", default=2000, show_default=True, type=click.IntRange(50, 100_000))
@click.option("--force", is_flag=True, help="Seed even though the database is not empty.")
@with_appcontext
def seed_demo_command(cells: int, force: bool) -> None:
    """The Lanzhou demo: real codes, generated grid, teams and users."""
    from .services import demo

    if current_app.config["GRIDWATCH_ENV"] == "production":
        raise click.ClickException("the demo is refused when GRIDWATCH_ENV=production")
    if not force and not demo.database_is_empty():
        raise click.ClickException("the database is not empty; use --force to seed anyway")
    summary = demo.seed(cells=cells, progress=console)
    console.print(demo.logins_text(summary))


@click.command("seed-demo-if-empty", hidden=True)
@with_appcontext
def seed_if_empty_command() -> None:
    from .services import demo

    if demo.database_is_empty():
        summary = demo.seed(cells=2000, progress=console)
        console.print(demo.logins_text(summary))
    else:
        console.print(demo.logins_text(None))


@click.command("locate")
@click.argument("lat", type=float)
@click.argument("lon", type=float)
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def locate_command(lat: float, lon: float, as_json: bool) -> None:
    """Print the cell that contains a point, and its ancestors."""
    from .errors import GridwatchError
    from .services import areas

    try:
        result = areas.locate(lat, lon)
    except GridwatchError as exc:
        raise click.ClickException(exc.message) from None
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
        return
    for area in result["areas"]:
        click.echo(f"{area['level']:<9} {area['code']:<16} {area['name']}")
    if result["flags"]:
        click.echo(f"flags: {', '.join(result['flags'])}")


@click.group("users")
def users_group() -> None:
    """Manage users."""


@users_group.command("add")
@click.option("--username", required=True)
@click.option("--password", required=True)
@click.option(
    "--role",
    required=True,
    type=click.Choice(["informant", "team_leader", "operator", "supervisor", "admin"]),
)
@click.option("--area", default="620100", show_default=True, help="Jurisdiction area code.")
@click.option("--cell", default=None, help="Assign an informant to this cell.")
@click.option("--team", "team_id", default=None, type=int, help="Make a leader lead this team.")
@with_appcontext
def users_add_command(
    username: str, password: str, role: str, area: str, cell: str | None, team_id: int | None
) -> None:
    from .errors import GridwatchError
    from .services import auth

    try:
        user = auth.create_user(
            username=username,
            password=password,
            role=role,
            area_code=area,
            cell_code=cell,
            team_id=team_id,
        )
    except GridwatchError as exc:
        raise click.ClickException(f"{exc.field or 'input'}: {exc.message}") from None
    click.echo(f"created user {user.username} (id {user.id}, {user.role}, area {user.area_code})")


def register_flask_commands(app: Flask) -> None:
    for command in (
        serve_command,
        worker_command,
        seed_demo_command,
        seed_if_empty_command,
        locate_command,
        users_group,
    ):
        app.cli.add_command(command)


def main() -> None:
    FlaskGroup(
        create_app=_create_app,
        add_default_commands=True,
        load_dotenv=False,
        help="Gridwatch: grid watch and dispatch.",
    )(prog_name="gridwatch")


if __name__ == "__main__":
    main()
