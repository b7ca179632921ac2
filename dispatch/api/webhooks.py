"""Webhook subscriptions (admin): subscribe, change, remove, read the delivery log, ping."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from ..schemas import WebhookCreate, WebhookDeliveryQuery, WebhookUpdate
from ..services import webhooks
from . import bp
from .common import body, caller, query


@bp.post("/webhooks")
def create_webhook() -> Any:
    """The answer holds the signing secret: it is shown this once."""
    return jsonify(ok=True, **webhooks.create_subscription(caller(), body(WebhookCreate))), 201


@bp.get("/webhooks")
def list_webhooks() -> Any:
    return jsonify(webhooks.list_subscriptions(caller()))


@bp.get("/webhooks/<int:webhook_id>")
def get_webhook(webhook_id: int) -> Any:
    return jsonify(webhooks.get_subscription(caller(), webhook_id))


@bp.patch("/webhooks/<int:webhook_id>")
def update_webhook(webhook_id: int) -> Any:
    user = caller()
    return jsonify(ok=True, **webhooks.update_subscription(user, webhook_id, body(WebhookUpdate)))


@bp.delete("/webhooks/<int:webhook_id>")
def delete_webhook(webhook_id: int) -> Any:
    return jsonify(ok=True, **webhooks.delete_subscription(caller(), webhook_id))


@bp.get("/webhooks/<int:webhook_id>/deliveries")
def webhook_deliveries(webhook_id: int) -> Any:
    user = caller()
    return jsonify(webhooks.list_deliveries(user, webhook_id, query(WebhookDeliveryQuery)))


@bp.post("/webhooks/<int:webhook_id>/test")
def ping_webhook(webhook_id: int) -> Any:
    return jsonify(ok=True, **webhooks.ping(caller(), webhook_id)), 201
