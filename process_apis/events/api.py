"""Event intake ``POST /events/{platform}``: signed platform webhooks in, flows started, nothing lost.

A platform event is accepted only with a valid Standard Webhooks signature made with that
platform's secret and a timestamp within five minutes (401 otherwise, so a replayed or
forged event starts nothing). The event is stored, and the flows it triggers are started,
in one transaction before the 202 is sent: once the platform hears 2xx, the work is durable.
A second delivery with the same ``webhook-id`` answers 200 and has no second effect;
deliveries out of order are harmless because flows read the current state of the object
from the system APIs and use the event only to know which object to look at.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, post
from litestar.openapi import ResponseSpec
from litestar.params import PathParameter
from sqlalchemy.dialects import postgresql, sqlite
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from policies.call import current_call, public
from policies.problems import Problem, problem_spec
from process_apis.flow.runtime import Runtime
from process_apis.flow.tables import inbound_events

__all__ = ["NAME", "POLICIES", "PREFIX", "SCOPES", "SUMMARY", "EventReceipt", "routes"]

NAME = "events"
PREFIX = "/events"
SUMMARY = "Signed platform webhooks (Standard Webhooks) in: stored durably, deduplicated, dispatched to flows."
SCOPES: dict[str, str] = {}
POLICIES = ("correlation", "threat", "throttling", "audit")
"""Platforms authenticate with the webhook signature, not a bearer token."""

MAX_EVENT_BYTES = 262_144

logger = logging.getLogger("finrail.events")

Platform = Annotated[
    str,
    PathParameter(
        min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9-]*$",
        description="Platform the event comes from (`erp`, `procurement`, `expense`, `treasury`, `planning`).",
    ),
]


class _Envelope(msgspec.Struct):
    type: str
    data: dict[str, Any]
    timestamp: str | None = None


class EventReceipt(msgspec.Struct, frozen=True, kw_only=True):
    """What happened to a delivered event."""

    status: Literal["accepted", "duplicate"]
    """``accepted`` the first time, ``duplicate`` for a repeated ``webhook-id`` (no effect)."""
    webhook_id: str
    """The event's ``webhook-id``."""
    type: str
    """The event type."""
    instances: list[str]
    """Flow instances the event started (empty when it started none or was a duplicate)."""


def _insert(runtime: Runtime) -> Any:
    dialect = postgresql if runtime.database.dialect.name == "postgresql" else sqlite
    return dialect.insert(inbound_events).on_conflict_do_nothing(index_elements=["platform", "webhook_id"])


def routes(runtime: Runtime) -> list[Any]:
    """The intake route, verifying with ``runtime.webhook_secrets`` and starting ``runtime.triggers``."""
    verifiers = {name: Webhook(secret) for name, secret in runtime.webhook_secrets.items()}

    @post(
        "/events/{platform:str}",
        opt=public("receive_event"),
        status_code=202,
        summary="Receive a signed platform event",
        description="Verifies the Standard Webhooks signature (`webhook-id`, `webhook-timestamp`, "
                    "`webhook-signature`), stores the event and starts the flows it triggers, all before "
                    "answering. A repeated `webhook-id` answers 200 with `status: duplicate` and no effect.",
        request_body_description="The Standard Webhooks envelope: `{\"type\", \"timestamp\", \"data\"}`.",
        responses={
            200: ResponseSpec(EventReceipt, description="A repeated `webhook-id`: nothing was done again.",
                              generate_examples=False),
            400: problem_spec("The body is not a JSON event envelope `{type, timestamp, data}`."),
            401: problem_spec("Signature missing or wrong, or the timestamp is more than 5 minutes away."),
            404: problem_spec("No platform of that name sends events to Finrail."),
            413: problem_spec("The event is larger than the limit."),
        },
    )
    async def receive_event(request: Request[Any, Any, Any], platform: Platform) -> Response[EventReceipt]:
        """Verify, store and dispatch one platform event."""
        verifier = verifiers.get(platform)
        if verifier is None:
            known = ", ".join(sorted(verifiers)) or "none"
            raise Problem(404, f"no platform {platform!r} sends events here (configured: {known})")
        body = await request.body()
        if len(body) > MAX_EVENT_BYTES:
            raise Problem(413, f"an event may be at most {MAX_EVENT_BYTES} bytes")
        headers = {name: request.headers.get(name, "") for name in ("webhook-id", "webhook-timestamp",
                                                                     "webhook-signature")}
        missing = [name for name, value in headers.items() if not value]
        if missing:
            raise Problem(401, f"missing Standard Webhooks header(s): {', '.join(missing)}", kind="bad-signature")
        try:
            verifier.verify(body, headers)
        except WebhookVerificationError as exc:
            raise Problem(401, f"event refused: {exc}", kind="bad-signature") from None
        try:
            envelope = msgspec.json.decode(body, type=_Envelope)
        except msgspec.DecodeError as exc:
            raise Problem(400, f"body: {exc}", kind="validation", title="Invalid request") from None
        webhook_id = headers["webhook-id"][:200]
        correlation_id = current_call(request.scope).correlation_id
        started: list[str] = []
        async with runtime.database.begin() as db:
            stored = await db.execute(_insert(runtime).values(
                platform=platform, webhook_id=webhook_id, type=envelope.type[:100], payload=envelope.data,
                received_at=datetime.now(UTC), correlation_id=correlation_id, instance_id=None))
            if stored.rowcount != 1:
                receipt = EventReceipt(status="duplicate", webhook_id=webhook_id, type=envelope.type, instances=[])
                return Response(receipt, status_code=200)
            for trigger in runtime.triggers:
                if trigger.platform != platform or trigger.event != envelope.type:
                    continue
                try:
                    key = trigger.key(envelope.data)
                    flow_input = trigger.input(envelope.data) if key is not None else {}
                except (KeyError, TypeError, ValueError, AttributeError):
                    # Stored all the same: an operator can see it, fix the trigger and replay it.
                    logger.warning("event %s of %s does not fit trigger %s", webhook_id, platform, trigger.flow,
                                   exc_info=True)
                    continue
                if key is None:
                    continue
                instance, _ = await runtime.engine.store.start(
                    trigger.flow, key, flow_input, correlation_id=correlation_id, conn=db)
                started.append(instance.id)
            if started:
                await db.execute(inbound_events.update().where(
                    inbound_events.c.platform == platform, inbound_events.c.webhook_id == webhook_id,
                ).values(instance_id=started[0]))
        runtime.engine.wake()
        return Response(EventReceipt(status="accepted", webhook_id=webhook_id, type=envelope.type,
                                     instances=started), status_code=202)

    return [receive_event]
