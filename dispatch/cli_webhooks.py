"""`gridwatch webhooks …`: subscribe receivers from the command line (docs/webhooks.md)."""

from __future__ import annotations

from typing import Any

import click
from flask.cli import with_appcontext

from .schemas import WEBHOOK_EVENT_TYPES


def _line(hook: dict[str, Any]) -> str:
    state = "active" if hook["active"] else "disabled"
    counts = hook["deliveries"]
    return (
        f"{hook['id']:>5}  {state:<8} {hook['area_code']:<15} failures {hook['failures']:<3} "
        f"pending {counts['pending']:<5} failed {counts['failed']:<5} {hook['url']}  "
        f"[{','.join(hook['event_types'])}]"
    )


@click.group("webhooks")
def webhooks_group() -> None:
    """Webhook subscribers: other systems that receive report and incident events."""


@webhooks_group.command("add")
@click.argument("url")
@click.option(
    "--events",
    required=True,
    help=f"Comma-separated: {', '.join(WEBHOOK_EVENT_TYPES)}; or report.*, incident.*, *.",
)
@click.option("--area", default=None, help="Only events in this area (default the city).")
@with_appcontext
def webhooks_add_command(url: str, events: str, area: str | None) -> None:
    """Subscribe URL; prints the signing secret (shown this once) as the last word."""
    from .cli import _as_click_errors
    from .schemas import WebhookCreate
    from .services import webhooks

    with _as_click_errors():
        data = WebhookCreate.model_validate(
            {
                "url": url,
                "event_types": [e.strip() for e in events.split(",") if e.strip()],
                "area_code": area,
            }
        )
        made = webhooks.create_subscription(None, data)
    click.echo(_line(made["webhook"]))
    click.echo(f"signing secret (shown once): {made['secret']}")


@webhooks_group.command("list")
@with_appcontext
def webhooks_list_command() -> None:
    """List the subscriptions, one a line."""
    from .services import webhooks

    for hook in webhooks.list_subscriptions(None):
        click.echo(_line(hook))


@webhooks_group.command("disable")
@click.argument("webhook_id", type=int)
@with_appcontext
def webhooks_disable_command(webhook_id: int) -> None:
    """Stop sending to a subscriber (what is pending waits)."""
    from .cli import _as_click_errors
    from .services import webhooks

    with _as_click_errors():
        click.echo(_line(webhooks.set_active(None, webhook_id, False)["webhook"]))


@webhooks_group.command("enable")
@click.argument("webhook_id", type=int)
@with_appcontext
def webhooks_enable_command(webhook_id: int) -> None:
    """Send again, from where it stopped."""
    from .cli import _as_click_errors
    from .services import webhooks

    with _as_click_errors():
        click.echo(_line(webhooks.set_active(None, webhook_id, True)["webhook"]))


@webhooks_group.command("delete")
@click.argument("webhook_id", type=int)
@with_appcontext
def webhooks_delete_command(webhook_id: int) -> None:
    """Remove a subscriber and its delivery log."""
    from .cli import _as_click_errors
    from .services import webhooks

    with _as_click_errors():
        webhooks.delete_subscription(None, webhook_id)
    click.echo(f"deleted webhook {webhook_id}")
