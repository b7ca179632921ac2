"""The AsyncAPI 3.0 document of the Socket.IO events, built from the pydantic models.

A client→server event's payload schema is the model its handler validates with
(dispatch/schemas.py); its acknowledgement is the operation's reply. A server→client event's
payload is its model in realtime/payloads.py. The document is committed as
docs/asyncapi.yaml, and tests/dispatch/test_asyncapi.py holds it to this module, to the
handlers registered on the Socket.IO server and to real traffic. After changing a schema:

    python -m dispatch.realtime.asyncapi --out docs/asyncapi.yaml     (or: make asyncapi)
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from .. import schemas as s
from . import names
from . import payloads as p

JSON = dict[str, Any]
REF = "#/components/schemas/{model}"
VERSION = "3.0.0"
REGENERATE = "python -m dispatch.realtime.asyncapi --out docs/asyncapi.yaml  (or: make asyncapi)"
CHANNELS = {names.INFORMANT: "informant", names.OPERATOR: "operator", names.TEAM: "team"}


@dataclass(frozen=True)
class Receive:
    """A client→server event: the schema it is validated with, what a success answers."""

    namespace: str
    event: str
    payload: type[BaseModel]
    ack: type[BaseModel]
    summary: str


@dataclass(frozen=True)
class Send:
    """A server→client event and its payload's model."""

    namespace: str
    event: str
    payload: type[BaseModel]
    summary: str


INF, OPS, TEAM = names.INFORMANT, names.OPERATOR, names.TEAM

# fmt: off
RECEIVE: tuple[Receive, ...] = (
    Receive(INF, names.REPORT_SUBMIT, s.ReportSubmit, p.SubmitAck,
            "Send a report; a retry with the same client_id answers the first result"),
    Receive(INF, names.CHECKIN_SUBMIT, s.CheckInSubmit, p.CheckInAck,
            "The informant's daily all-quiet"),
    Receive(OPS, names.REPORT_REVIEW, s.ReportReview, p.ReviewAck,
            "Verify, dismiss (with a note) or merge a queue entry and its cluster"),
    Receive(OPS, names.REPORT_CLAIM, s.ReportRef, p.ClaimAck,
            "Claim a queue entry for 90 s, so that two operators do not work it"),
    Receive(OPS, names.REPORT_RELEASE, s.ReportRef, p.ClaimAck, "Release one's claim"),
    Receive(OPS, names.INCIDENT_CREATE, s.IncidentCreate, p.IncidentAck,
            "Open an incident from reports"),
    Receive(OPS, names.INCIDENT_DISPATCH, s.IncidentDispatch, p.TaskAck,
            "Offer the incident to a team (team_unavailable when another operator won)"),
    Receive(OPS, names.INCIDENT_CANCEL, s.IncidentCancel, p.IncidentAck,
            "Cancel an incident; every live task is cancelled"),
    Receive(OPS, names.INCIDENT_RESOLVE, s.IncidentNote, p.IncidentAck,
            "Mark an incident resolved (refused while a team is still on it)"),
    Receive(OPS, names.INCIDENT_CLOSE, s.IncidentRef, p.IncidentAck,
            "Close a resolved incident"),
    Receive(OPS, names.INCIDENT_STOP_CASCADE, s.IncidentRef, p.IncidentAck,
            "No more automatic hand-overs to the next team"),
    Receive(TEAM, names.TEAM_STATUS, s.TeamStatusChange, p.TeamAck,
            "Available or off duty (refused while the team has a live task)"),
    Receive(TEAM, names.TASK_ACK, s.TaskRef, p.TaskAck, "Accept an offered task"),
    Receive(TEAM, names.TASK_DECLINE, s.TaskDecline, p.TaskAck, "Decline an offered task"),
    Receive(TEAM, names.TASK_STATUS, s.TaskStatusChange, p.TaskAck,
            "En route, on scene, completed"),
    Receive(TEAM, names.TEAM_POSITION, s.TeamPosition, p.TeamAck, "The team is here now"),
)

SEND: tuple[Send, ...] = (
    Send(INF, names.REPORT_UPDATED, p.InformantReportUpdated,
         "The informant's report was triaged or reviewed"),
    Send(INF, names.SESSION_REVOKED, p.SessionRevoked,
         "The sign-in has ended; the socket closes within 3 s"),
    Send(OPS, names.REPORT_NEW, p.ReportNew, "A report arrived in the operator's area"),
    Send(OPS, names.REPORT_TRIAGED, p.ReportTriaged, "A report's risk as triage judged it"),
    Send(OPS, names.REPORT_UPDATED, p.ReportUpdated,
         "A report changed (reviewed, promoted, a photo added)"),
    Send(OPS, names.REPORT_CLAIMED, p.ReportClaimed, "A queue entry was claimed or released"),
    Send(OPS, names.REPORT_ESCALATED, p.ReportEscalated,
         "A report passed its review deadline unreviewed"),
    Send(OPS, names.INCIDENT_UPDATED, p.IncidentUpdated, "An incident was opened or changed"),
    Send(OPS, names.TASK_UPDATED, p.TaskUpdated, "A task changed"),
    Send(OPS, names.TEAM_UPDATED, p.TeamUpdated, "A team changed (status, position)"),
    Send(OPS, names.CAP_ALERT, p.CapAlertReceived,
         "An alert from the public alerting chain was imported (CAP 1.2)"),
    Send(OPS, names.SESSION_REVOKED, p.SessionRevoked,
         "The sign-in has ended; the socket closes within 3 s"),
    Send(TEAM, names.TASK_OFFERED, p.TaskOffered,
         "The team is offered a task: acknowledge it before ack_deadline"),
    Send(TEAM, names.TASK_UPDATED, p.TaskUpdated, "The team's task changed"),
    Send(TEAM, names.TEAM_UPDATED, p.TeamUpdated, "The leader's own team changed"),
    Send(TEAM, names.SESSION_REVOKED, p.SessionRevoked,
         "The sign-in has ended; the socket closes within 3 s"),
)
# fmt: on

NAMESPACE_TEXT = {
    names.INFORMANT: "Informants (role informant): report from the field.",
    names.OPERATOR: "Command-room staff (roles operator, supervisor, admin): events are "
    "limited to the user's area. Under load the server coalesces what it sends here: the "
    "payload of any server→client event may then be a list of the payloads it would have "
    "sent one by one, in order.",
    names.TEAM: "Team leaders (role team_leader): events for the leader's own team.",
}

INFO_TEXT = """\
Gridwatch's Socket.IO events (protocol v5 over Engine.IO v4; python-socketio 5 and
socket.io-client 4 both work). One channel per namespace.

- **Connecting:** send the token (POST /api/auth/token, or `gridwatch users token`) in the
  handshake: `io(url + "/operator", {auth: {token}})`. A connection without a valid token
  for the namespace's roles is refused; the `connect_error` data is `{code, message}`.
- **Client→server events** (`receive` operations) carry one JSON object each, and are
  always answered through the Socket.IO acknowledgement callback (the operation's `reply`):
  `{ok: true, …}` or `{ok: false, error: {code, message, field?}}`. A malformed event never
  disconnects the client. An event a namespace does not know is answered `unknown_event`.
- **Server→client events** (`send` operations) carry the payload described; objects may
  gain fields later, so ignore the ones you do not know.
- **/operator coalesces under load:** the payload of any event there may be a list of the
  payloads it would have sent one by one, in order.
- **Times** are ISO 8601 in UTC; coordinates WGS-84.

Error codes:
"""

# The document's own names for each event: `report:submit` → `report_submit`.


def _key(event: str) -> str:
    return event.replace(":", "_")


def _model_schema(model: type[BaseModel], components: JSON) -> JSON:
    """The model's JSON schema with its nested models moved to components."""
    schema = model.model_json_schema(ref_template=REF)
    for name, nested in schema.pop("$defs", {}).items():
        _add(components, name, nested)
    return schema


def _add(components: JSON, name: str, schema: JSON) -> None:
    if components.setdefault(name, schema) != schema:
        raise ValueError(f"two different schemas are called {name}")


def schema_ref(model: type[BaseModel], components: JSON) -> JSON:
    _add(components, model.__name__, _model_schema(model, components))
    return {"$ref": REF.format(model=model.__name__)}


def _coalescible(ref: JSON) -> JSON:
    return {
        "oneOf": [
            ref,
            {
                "type": "array",
                "items": ref,
                "minItems": 2,
                "description": "coalesced: the payloads that would have been sent one by one",
            },
        ]
    }


def _ack(answer: type[BaseModel], components: JSON) -> JSON:
    return {"oneOf": [schema_ref(answer, components), schema_ref(p.ErrorAck, components)]}


def document() -> JSON:
    """The whole document, a new dict each time."""
    schemas: JSON = {}
    messages: JSON = {}
    channels: JSON = {
        name: {
            "address": namespace,
            "title": namespace,
            "description": NAMESPACE_TEXT[namespace],
            "messages": {},
        }
        for namespace, name in CHANNELS.items()
    }
    operations: JSON = {}

    def message(namespace: str, key: str, body: JSON) -> JSON:
        channel = CHANNELS[namespace]
        if f"{channel}.{key}" in messages:
            raise ValueError(f"{namespace} {key} is listed twice")
        messages[f"{channel}.{key}"] = body
        channels[channel]["messages"][key] = {"$ref": f"#/components/messages/{channel}.{key}"}
        return {"$ref": f"#/channels/{channel}/messages/{key}"}

    for r in RECEIVE:
        channel, key = CHANNELS[r.namespace], _key(r.event)
        request = message(
            r.namespace,
            key,
            {
                "name": r.event,
                "title": r.event,
                "summary": r.summary,
                "contentType": "application/json",
                "payload": schema_ref(r.payload, schemas),
            },
        )
        ack = message(
            r.namespace,
            f"{key}.ack",
            {
                "title": f"{r.event} acknowledgement",
                "summary": f"The acknowledgement of {r.event}: ok, or an error",
                "contentType": "application/json",
                "payload": _ack(r.ack, schemas),
            },
        )
        operations[f"{channel}.{key}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{channel}"},
            "title": f"{r.namespace} → {r.event}",
            "summary": r.summary,
            "messages": [request],
            "reply": {"channel": {"$ref": f"#/channels/{channel}"}, "messages": [ack]},
        }
    for e in SEND:
        channel, key = CHANNELS[e.namespace], _key(e.event)
        payload = schema_ref(e.payload, schemas)
        if e.namespace == names.OPERATOR:
            payload = _coalescible(payload)
        sent = message(
            e.namespace,
            key,
            {
                "name": e.event,
                "title": e.event,
                "summary": e.summary,
                "contentType": "application/json",
                "payload": payload,
            },
        )
        operations[f"{channel}.{key}.send"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel}"},
            "title": f"{e.namespace} ← {e.event}",
            "summary": e.summary,
            "messages": [sent],
        }
    errors = "\n".join(f"- `{code}`: {text}." for code, text in p.ERROR_CODES.items())
    return {
        "asyncapi": VERSION,
        "info": {
            "title": "Gridwatch Socket.IO events",
            "version": "1",
            "description": INFO_TEXT + errors + "\n",
        },
        "defaultContentType": "application/json",
        "servers": {
            "gridwatch": {
                "host": "{host}",
                "protocol": "ws",
                "pathname": "/socket.io/",
                "title": "Gridwatch (Socket.IO v5 over Engine.IO v4)",
                "description": "The web server itself (wss behind TLS). Socket.IO clients "
                "connect to the namespace's URL, e.g. http://127.0.0.1:5000/operator, and "
                "the library uses this path.",
                "variables": {
                    "host": {"default": "127.0.0.1:5000", "description": "HOST:PORT served"}
                },
                "security": [{"$ref": "#/components/securitySchemes/token"}],
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "messages": messages,
            "securitySchemes": {
                "token": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The token of POST /api/auth/token (or a device token), "
                    'sent in the Socket.IO handshake\'s auth object: `{"token": "<token>"}`.',
                }
            },
        },
    }


def render() -> str:
    """The document as the YAML committed in docs/asyncapi.yaml."""
    import yaml

    class Dumper(yaml.SafeDumper):
        """Text of several lines as a literal block, so that the file reads like the source."""

    def text(dumper: yaml.SafeDumper, value: str) -> Any:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    head = (
        "# Generated by dispatch/realtime/asyncapi.py: do not edit. Regenerate:\n"
        f"#   {REGENERATE}\n"
    )
    body = yaml.dump(document(), Dumper=Dumper, sort_keys=False, allow_unicode=True, width=100)
    return head + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write here (default: standard output)")
    args = parser.parse_args(argv)
    text = render()
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["RECEIVE", "REGENERATE", "SEND", "document", "render"]
