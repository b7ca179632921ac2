"""The `gridwatch` command (also `flask --app dispatch …`)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from rich.console import Console

console = Console(stderr=True)


@contextmanager
def _as_click_errors() -> Iterator[None]:
    """Bad input ends a command with one clear line naming the field, not a traceback."""
    from pydantic import ValidationError

    from .errors import GridwatchError, from_pydantic

    try:
        yield
    except ValidationError as exc:
        raise click.ClickException(from_pydantic(exc).message) from None
    except GridwatchError as exc:
        field = f"{exc.field}: " if exc.field else ""
        raise click.ClickException(f"{field}{exc.message}") from None


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


def _refuse_in_production() -> None:
    if current_app.config["GRIDWATCH_ENV"] == "production":
        raise click.ClickException(
            "the demo is refused when GRIDWATCH_ENV=production: it has public passwords"
        )


@click.command("seed-demo")
@click.option("--cells", default=2000, show_default=True, type=click.IntRange(50, 100_000))
@click.option("--force", is_flag=True, help="Seed even though the database is not empty.")
@with_appcontext
def seed_demo_command(cells: int, force: bool) -> None:
    """The Lanzhou demo: real codes, generated grid, teams and users."""
    from .services import demo

    _refuse_in_production()
    if not force and not demo.database_is_empty():
        raise click.ClickException("the database is not empty; use --force to seed anyway")
    summary = demo.seed(cells=cells, progress=console)
    console.print(demo.logins_text(summary))


@click.command("seed-demo-if-empty", hidden=True)
@with_appcontext
def seed_if_empty_command() -> None:
    from .services import demo

    _refuse_in_production()
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
    from .services import areas

    with _as_click_errors():
        result = areas.locate(lat, lon)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
        return
    for area in result["areas"]:
        click.echo(f"{area['level']:<9} {area['code']:<16} {area['name']}")
    if result["flags"]:
        click.echo(f"flags: {', '.join(result['flags'])}")


@click.command("import-grid")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--level",
    type=click.Choice(["city", "county", "township", "village", "cell"]),
    default=None,
    help="Level of every feature (default: read from each code).",
)
@click.option("--code-prop", default="code", show_default=True)
@click.option("--name-prop", default="name", show_default=True)
@click.option("--parent-prop", default=None, help="Property naming the parent (cross-checked).")
@click.option("--crs", type=click.Choice(["wgs84", "gcj02"]), default="wgs84", show_default=True)
@click.option(
    "--tolerance-m",
    default=50.0,
    show_default=True,
    help="Slivers thinner than this (metres) are not overlaps or gaps.",
)
@with_appcontext
def import_grid_command(
    file: Path,
    level: str | None,
    code_prop: str,
    name_prop: str,
    parent_prop: str | None,
    crs: str,
    tolerance_m: float,
) -> None:
    """Import a GeoJSON FeatureCollection of areas: all of it, or nothing."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    import grid

    from .services import gridio

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
    ) as bar:
        step = bar.add_task(f"checking {file.name}", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(step, description="writing areas", completed=done, total=total)

        try:
            result = gridio.import_grid(
                file,
                level=level,
                code_prop=code_prop,
                name_prop=name_prop,
                parent_prop=parent_prop,
                crs=crs,
                tolerance_m=tolerance_m,
                progress=advance,
            )
        except grid.GridError as exc:
            bar.stop()
            for warning in exc.warnings:
                click.echo(f"warning: {warning}", err=True)
            for problem in exc.problems:
                click.echo(f"error: {problem}", err=True)
            raise click.ClickException(
                f"{file}: {len(exc.problems)} problem(s); nothing was imported"
            ) from None
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    derived = f"; derived {', '.join(result.derived)} from its counties" if result.derived else ""
    click.echo(
        f"imported {result.areas} areas from {file}: {result.inserted} new, "
        f"{result.updated} updated{derived}"
    )


@click.command("export-grid")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--level", type=click.Choice(["city", "county", "township", "village", "cell"]), default=None
)
@click.option("--area", default=None, help="Only this area's part of the grid.")
@with_appcontext
def export_grid_command(file: Path, level: str | None, area: str | None) -> None:
    """Write the grid (or a level or area of it) as a GeoJSON FeatureCollection."""
    from .services import gridio

    collection = gridio.export_grid(level=level, area=area)
    file.write_text(json.dumps(collection, ensure_ascii=False), encoding="utf-8")
    click.echo(f"wrote {len(collection['features'])} areas to {file}")


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
    from .services import auth

    with _as_click_errors():
        user = auth.create_user(
            username=username,
            password=password,
            role=role,
            area_code=area,
            cell_code=cell,
            team_id=team_id,
        )
    click.echo(f"created user {user.username} (id {user.id}, {user.role}, area {user.area_code})")


@users_group.command("assign")
@click.argument("username")
@click.argument("cell")
@with_appcontext
def users_assign_command(username: str, cell: str) -> None:
    """Give an informant a cell (an earlier assignment ends; history is kept)."""
    from .services import informants

    with _as_click_errors():
        result = informants.assign_informant(None, username, cell)
    click.echo(f"{result['username']} now watches cell {result['cell_code']}")


@users_group.command("unassign")
@click.argument("username")
@with_appcontext
def users_unassign_command(username: str) -> None:
    """End an informant's assignment; their cell is uncovered until someone takes it."""
    from .services import informants

    with _as_click_errors():
        informants.end_assignment(None, username)
    click.echo(f"{username} no longer watches a cell")


@users_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--tokens-out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write username,token for device enrolment (/informant?enroll=TOKEN).",
)
@click.option("--token-days", default=90, show_default=True, type=click.IntRange(1, 3650))
@with_appcontext
def users_import_command(file: Path, tokens_out: Path | None, token_days: int) -> None:
    """Create many users from a CSV (username,password,role,area,cell,team): all or none.

    An empty password makes an account that signs in only with its device token.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from .services import auth, informants

    rows, problems = informants.parse_users_csv(file.read_text(encoding="utf-8-sig"))
    problems += informants.check_users_against_database(rows)
    if problems:
        for problem in problems:
            click.echo(f"error: {problem}", err=True)
        raise click.ClickException(f"{file}: {len(problems)} problem(s); nobody was created")
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
    ) as bar:
        step = bar.add_task("hashing passwords", total=len(rows))
        hashes = auth.hash_passwords(
            [r["password"] for r in rows], progress=lambda n: bar.update(step, completed=n)
        )
        bar.update(step, description="writing users")
        users = informants.create_users(rows, hashes)
    click.echo(f"created {len(users)} users from {file}")
    if tokens_out is not None:
        auth.record_tokens_issued(None, users, days=token_days, to=str(tokens_out))
        with tokens_out.open("w", encoding="utf-8", newline="") as out:
            out.write("username,token\n")
            for user in users:
                out.write(f"{user.username},{auth.issue_device_token(user, days=token_days)}\n")
        click.echo(f"wrote {len(users)} device tokens to {tokens_out}")


@users_group.command("token")
@click.argument("username")
@click.option("--days", default=90, show_default=True, type=click.IntRange(1, 3650))
@with_appcontext
def users_token_command(username: str, days: int) -> None:
    """Print a device token: valid wherever a login token is, and for /informant?enroll=."""
    from .extensions import db
    from .models import User
    from .services import auth

    user = db.session.scalar(db.select(User).where(User.username == username))
    if user is None or not user.active:
        raise click.ClickException(f"no active user {username!r}")
    auth.record_tokens_issued(None, [user], days=days, to="command line")
    click.echo(auth.issue_device_token(user, days=days))


@users_group.command("disable")
@click.argument("username")
@with_appcontext
def users_disable_command(username: str) -> None:
    """Disable an account: its tokens and sessions stop working, its sockets are closed."""
    from .services import auth

    with _as_click_errors():
        auth.set_active(None, username, False)
    click.echo(f"{username} is disabled; their connections are being closed")


@users_group.command("enable")
@click.argument("username")
@with_appcontext
def users_enable_command(username: str) -> None:
    """Enable a disabled account again (old tokens stay dead: sign in afresh)."""
    from .services import auth

    with _as_click_errors():
        auth.set_active(None, username, True)
    click.echo(f"{username} is enabled")


@users_group.command("revoke")
@click.argument("username")
@with_appcontext
def users_revoke_command(username: str) -> None:
    """End every token, session and socket of a user, e.g. for a lost phone."""
    from .services import auth

    with _as_click_errors():
        auth.revoke_tokens(None, username)
    click.echo(f"every sign-in of {username} has ended")


@click.group("teams")
def teams_group() -> None:
    """Manage teams: professional squads, village volunteers, mediation and relief."""


def _caps(value: str | None) -> list[str] | None:
    return None if value is None else [c.strip() for c in value.split(",") if c.strip()]


def _team_line(team: dict[str, object]) -> str:
    caps = ",".join(team["capabilities"])  # type: ignore[arg-type]
    return (
        f"{team['id']:>5}  {team['status']:<10} {team['kind']:<20} {team['area_code']:<15} "
        f"{caps:<40} {team['name']}"
    )


@teams_group.command("add")
@click.option("--name", required=True)
@click.option(
    "--kind",
    required=True,
    type=click.Choice(["professional_rescue", "volunteer", "mediation", "relief"]),
)
@click.option("--area", required=True, help="Home area code: the team serves this area.")
@click.option("--caps", default="", help="Capabilities, comma-separated (fire,water,…).")
@click.option("--lat", "base_lat", required=True, type=float, help="Base latitude (WGS-84).")
@click.option("--lon", "base_lon", required=True, type=float, help="Base longitude (WGS-84).")
@click.option("--members", default=0, type=click.IntRange(0, 10_000))
@click.option("--leader", default=None, help="Username of its team leader.")
@with_appcontext
def teams_add_command(
    name: str,
    kind: str,
    area: str,
    caps: str,
    base_lat: float,
    base_lon: float,
    members: int,
    leader: str | None,
) -> None:
    """Create a team."""

    from .schemas import TeamCreate
    from .services import teams

    with _as_click_errors():
        data = TeamCreate.model_validate(
            dict(
                name=name,
                kind=kind,
                capabilities=_caps(caps) or [],
                area_code=area,
                base_lat=base_lat,
                base_lon=base_lon,
                members=members,
                leader=leader,
            )
        )
        team = teams.create_team(None, data)["team"]
    click.echo(f"created team {team['id']}: {team['name']}")


@teams_group.command("list")
@click.option("--kind", default=None)
@click.option("--status", default=None)
@click.option("--area", default=None, help="Only teams whose home area lies in this area.")
@with_appcontext
def teams_list_command(kind: str | None, status: str | None, area: str | None) -> None:
    """List teams, one a line."""
    from grid.codes import jurisdiction_prefix

    from .extensions import db
    from .models import Team
    from .services.views import team_view

    query = db.select(Team).order_by(Team.id)
    if kind:
        query = query.where(Team.kind == kind)
    if status:
        query = query.where(Team.status == status)
    if area:
        query = query.where(Team.area_code.startswith(jurisdiction_prefix(area)))
    for team in db.session.scalars(query):
        click.echo(_team_line(team_view(team)))


@teams_group.command("set")
@click.argument("team_id", type=int)
@click.option("--name", default=None)
@click.option("--caps", default=None, help="Replace the capabilities (comma-separated).")
@click.option("--members", default=None, type=click.IntRange(0, 10_000))
@click.option("--leader", default=None)
@click.option("--lat", "base_lat", default=None, type=float)
@click.option("--lon", "base_lon", default=None, type=float)
@click.option("--status", default=None, type=click.Choice(["available", "off_duty"]))
@with_appcontext
def teams_set_command(
    team_id: int,
    name: str | None,
    caps: str | None,
    members: int | None,
    leader: str | None,
    base_lat: float | None,
    base_lon: float | None,
    status: str | None,
) -> None:
    """Change a team; --status takes it off duty or back on."""

    from .schemas import TeamUpdate
    from .services import tasks, teams

    fields = {
        "name": name,
        "capabilities": _caps(caps),
        "members": members,
        "leader": leader,
        "base_lat": base_lat,
        "base_lon": base_lon,
    }
    with _as_click_errors():
        data = TeamUpdate.model_validate({k: v for k, v in fields.items() if v is not None})
        team = teams.update_team(None, team_id, data)["team"]
        if status is not None:
            team = tasks.set_team_status(None, status, team_id)["team"]
    click.echo(_team_line(team))


@click.command("bulletin")
@click.option("--period", required=True, help="2026-11, 2026-Q4, 2026 or 2026-11-01..2026-11-07")
@click.option("--level", type=click.Choice(["county", "township", "village"]), default="county")
@click.option("--area", default=None, help="The scope (an area code); default the whole city")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    required=True,
    help="FILE.json, FILE.csv, FILE.html (printable) or FILE.pdf; the suffix picks the form",
)
@click.option("--format", "form", type=click.Choice(["json", "csv", "html", "pdf"]), default=None)
@with_appcontext
def bulletin_command(
    period: str, level: str, area: str | None, out: Path, form: str | None
) -> None:
    """Compute a period's bulletin from the audit log and write it to FILE."""
    from .services import supervision

    form = form or out.suffix.lstrip(".").lower()
    if form not in ("json", "csv", "html", "pdf"):
        raise click.UsageError("--out must end in .json, .csv, .html or .pdf (or give --format)")
    with _as_click_errors(), console.status(f"Computing the {period} bulletin by {level}…"):
        bulletin = supervision.bulletin(None, period, level, area)
    if form == "json":
        out.write_text(json.dumps(bulletin, ensure_ascii=False, indent=2), encoding="utf-8")
    elif form == "csv":
        out.write_text("\ufeff" + supervision.to_csv(bulletin), encoding="utf-8", newline="")
    elif form == "html":
        from .web.bulletin import render_bulletin_html

        out.write_text(render_bulletin_html(bulletin), encoding="utf-8")
    else:
        from .web.bulletin import render_bulletin_pdf

        with _as_click_errors(), console.status("Laying out the PDF…"):
            out.write_bytes(render_bulletin_pdf(bulletin))
    flags = {
        flag: [u["name"] for u in bulletin["units"] if u["flag"] == flag]
        for flag in ("red", "yellow")
    }
    console.print(
        f"{bulletin['scope']['name']} {period}: {len(bulletin['units'])} units, "
        f"red flag: {'、'.join(flags['red']) or '-'}, yellow flag: "
        f"{'、'.join(flags['yellow']) or '-'} → {out}"
    )


def register_flask_commands(app: Flask) -> None:
    from .cap.cli import cap_group
    from .cli_webhooks import webhooks_group
    from .open311.cli import open311_group
    from .triage.cli import triage_group

    for command in (
        triage_group,
        serve_command,
        worker_command,
        seed_demo_command,
        seed_if_empty_command,
        locate_command,
        import_grid_command,
        export_grid_command,
        users_group,
        teams_group,
        bulletin_command,
        cap_group,
        webhooks_group,
        open311_group,
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
