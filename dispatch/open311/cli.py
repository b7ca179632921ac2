"""`gridwatch open311 …`: the client systems allowed to send reports (docs/open311.md)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from ..cli import _as_click_errors


@click.group("open311")
def open311_group() -> None:
    """Open311 GeoReport v2 client systems and their api_keys."""


@open311_group.command("add-client")
@click.argument("name")
@click.option("--area", required=True, help="The area (code) its reports may come from.")
@with_appcontext
def add_client_command(name: str, area: str) -> None:
    """Create a client system and its service account; print its api_key (last, once)."""
    from ..services import open311

    with _as_click_errors():
        client, key = open311.create_client(None, name, area)
    click.echo(
        f"created Open311 client {client['name']} (service account {client['username']}, "
        f"area {client['area_code']}); only a hash of the key is kept, so note it now"
    )
    click.echo(f"api_key: {key}")


@open311_group.command("rotate-key")
@click.argument("name")
@with_appcontext
def rotate_key_command(name: str) -> None:
    """Give a client a new api_key (the old one stops working); print it last."""
    from ..services import open311

    with _as_click_errors():
        client, key = open311.rotate_key(None, name)
    click.echo(f"new api_key for Open311 client {client['name']}; the old one no longer works")
    click.echo(f"api_key: {key}")


@open311_group.command("revoke")
@click.argument("name")
@with_appcontext
def revoke_command(name: str) -> None:
    """Stop a client: its key is refused and its service account disabled."""
    from ..services import open311

    with _as_click_errors():
        open311.revoke_client(None, name)
    click.echo(f"Open311 client {name} is revoked; its reports stay")


@open311_group.command("list")
@with_appcontext
def list_command() -> None:
    """The client systems, one a line: name, key prefix, area, state, service account."""
    from ..services import open311

    for c in open311.list_clients():
        state = "active" if c["active"] else "revoked"
        click.echo(
            f"{c['name']:<24} {c['key_prefix']}…  {c['area_code']:<15} {state:<8} "
            f"{c['username']}  {c['created_at']}"
        )
