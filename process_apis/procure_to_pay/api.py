"""Procure-to-pay process API (``/process/procure-to-pay/v1``).

Two resources, one per flow (see :mod:`process_apis.procure_to_pay.flows`):

* ``/matches`` — the three-way match and ERP posting of one procurement supplier invoice (the
  same thing the procurement platform's ``invoice.submitted`` event starts through
  ``/events/procurement``): running, completed with its ERP document id, or waiting in the
  finance exception queue with a reason code (``price-variance``, ``quantity-variance``,
  ``not-received``, ``unknown-supplier-in-erp``, ...). The start may give tolerances other
  than the defaults of :mod:`process_apis.procure_to_pay.matching`.
* ``/commitments`` — the commitment of one issued purchase order on its planning budget
  lines (started by ``purchase_order.issued``, or here).

One match exists per invoice and one commitment per purchase order: starting again answers
the existing one (200), whatever tolerances the repeat gives.
"""

# No `from __future__ import annotations`: Litestar must see the real parameter types.

import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody, PathParameter, QueryParameter

from policies.call import current_call, governed
from policies.problems import Problem, problem_spec
from process_apis.flow.model import Flow, InstanceStatus
from process_apis.flow.runtime import Runtime
from process_apis.flow.store import FlowStore, Instance, InstanceFilter
from process_apis.flow.views import InstanceView, TimelineView, instance_view, timeline_view
from process_apis.procure_to_pay.flows import (
    COMMITMENT_FLOW,
    ID_PATTERN,
    MATCH_FLOW,
    MATCH_FLOW_NAME,
)
from process_apis.procure_to_pay.matching import Tolerances
from system_apis.canonical import Page
from system_apis.paging import Cursor, Limit, cursor_page, foreign_cursor, list_errors, read_cursor

__all__ = ["NAME", "PREFIX", "SCOPES", "SUMMARY", "CommitmentRequest", "MatchRequest", "routes"]

NAME = MATCH_FLOW_NAME
PREFIX = f"/process/{NAME}/v1"
SUMMARY = (
    "Procure to pay: issued POs committed on planning budget lines; supplier invoices three-way matched "
    "with the PO and receipts within tolerances, then posted once in the ERP, or stopped as a variance."
)
SCOPES = {
    f"process:{NAME}:read": "Read invoice matches, PO commitments and their timelines.",
    f"process:{NAME}:write": "Start the match of a supplier invoice or the commitment of a purchase order.",
}

AnyRequest = Request[Any, Any, Any]

InstanceId = Annotated[
    str, PathParameter(pattern=r"^[0-9a-f]{32}$", description="Match or commitment (flow instance) id, as answered.")
]
MATCH_NOT_FOUND = {404: problem_spec("No invoice match has this id.")}
COMMITMENT_NOT_FOUND = {404: problem_spec("No purchase order commitment has this id.")}

StatusQuery = Annotated[
    InstanceStatus | None,
    QueryParameter(description="Only those in this status (`exception` = the finance exception queue)."),
]
ReasonQuery = Annotated[
    str | None,
    QueryParameter(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$",
                   description="Only those waiting with this reason code (`price-variance`, ...)."),
]


class MatchRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Which procurement invoice to match and post."""

    invoice_id: Annotated[str, msgspec.Meta(pattern=ID_PATTERN, description="Procurement invoice id.")]
    """The invoice's id in the procurement platform; the invoice, its order and receipts are read from there."""
    tolerances: Tolerances | None = None
    """Tolerances for this match; the defaults where left out (only used when the match starts here)."""


class CommitmentRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Which procurement purchase order to commit on its budget lines."""

    purchase_order_id: Annotated[str, msgspec.Meta(pattern=ID_PATTERN, description="Procurement purchase order id.")]
    """The order's id in the procurement platform; it is read from there."""


class _Position(msgspec.Struct, frozen=True, kw_only=True):
    """Where a list goes on: the last item of the previous page, the flow and the filters."""

    flow: str
    created_at: dt.datetime
    id: str
    status: str | None
    reason: str | None
    key: str | None


async def _own(store: FlowStore, flow: Flow, instance_id: str, what: str) -> Instance:
    instance = await store.get(instance_id)
    if instance is None or instance.flow != flow.name:
        raise Problem(404, f"no {what} {instance_id}")
    return instance


async def _start(runtime: Runtime, request: AnyRequest, flow: Flow, key: str, input: dict[str, Any],
                 path: str) -> Response[InstanceView]:
    correlation_id = current_call(request.scope).correlation_id
    instance, created = await runtime.engine.store.start(flow.name, key, input, correlation_id=correlation_id)
    if created:
        runtime.engine.wake()
    return Response(instance_view(instance, flow), status_code=202 if created else 200,
                    headers={"Location": f"{PREFIX}/{path}/{instance.id}"})


async def _list(store: FlowStore, flow: Flow, status: str | None, reason: str | None, key: str | None,
                limit: int, cursor: str | None) -> Page[InstanceView]:
    position = read_cursor(cursor, _Position)
    if position is not None and (position.flow, position.status, position.reason, position.key) != (
        flow.name, status, reason, key
    ):
        raise foreign_cursor("it was issued for another list or other filters")
    where = InstanceFilter(flow=flow.name, status=status, reason=reason, key=key)
    before = (position.created_at, position.id) if position is not None else None
    found = await store.instances(where, limit=limit + 1, before=before)
    items = found[:limit]
    following = None
    if len(found) > limit:
        last = items[-1]
        following = _Position(flow=flow.name, created_at=last.created_at, id=last.id, status=status, reason=reason,
                              key=key)
    return cursor_page([instance_view(instance, flow) for instance in items], following)


def routes(runtime: Runtime) -> list[Router]:
    """The process API as one router bound to ``runtime``."""
    store = runtime.engine.store

    # --- invoice matches ------------------------------------------------------------------

    @post(
        "/matches",
        status_code=202,
        opt=governed(f"process:{NAME}:write", effect=True, operation="start_match"),
        responses={
            200: ResponseSpec(InstanceView, description="This invoice's match already existed; it is answered.",
                              generate_examples=False),
        },
    )
    async def start_match(request: AnyRequest, data: JSONBody[MatchRequest]) -> Response[InstanceView]:
        """Match a procurement invoice with its PO and receipts and post it (once per invoice)."""
        input: dict[str, Any] = {"invoice_id": data.invoice_id, "source": "api"}
        if data.tolerances is not None:
            input["tolerances"] = msgspec.to_builtins(data.tolerances)
        return await _start(runtime, request, MATCH_FLOW, data.invoice_id, input, "matches")

    @get(
        "/matches/{instance_id:str}",
        opt=governed(f"process:{NAME}:read", operation="get_match"),
        responses=MATCH_NOT_FOUND,
    )
    async def get_match(instance_id: InstanceId) -> InstanceView:
        """One match: status, current step, reason and detail while it waits, step outputs (ERP document id)."""
        return instance_view(await _own(store, MATCH_FLOW, instance_id, "invoice match"), MATCH_FLOW)

    @get(
        "/matches/{instance_id:str}/timeline",
        opt=governed(f"process:{NAME}:read", operation="get_match_timeline"),
        responses=MATCH_NOT_FOUND,
    )
    async def get_match_timeline(instance_id: InstanceId) -> list[TimelineView]:
        """What happened to one match, oldest first (steps, retries, exceptions, people's actions)."""
        await _own(store, MATCH_FLOW, instance_id, "invoice match")
        return [timeline_view(entry) for entry in await store.timeline(instance_id=instance_id)]

    @get(
        "/matches",
        opt=governed(f"process:{NAME}:read", operation="list_matches"),
        responses=list_errors({}),
    )
    async def list_matches(
        status: StatusQuery = None,
        reason: ReasonQuery = None,
        invoice_id: Annotated[
            str | None, QueryParameter(pattern=ID_PATTERN, description="Only this procurement invoice's.")
        ] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[InstanceView]:
        """Invoice matches, newest first."""
        return await _list(store, MATCH_FLOW, status, reason, invoice_id, limit, cursor)

    # --- purchase order commitments -------------------------------------------------------

    @post(
        "/commitments",
        status_code=202,
        opt=governed(f"process:{NAME}:write", effect=True, operation="start_commitment"),
        responses={
            200: ResponseSpec(InstanceView, description="This order's commitment already existed; it is answered.",
                              generate_examples=False),
        },
    )
    async def start_commitment(request: AnyRequest, data: JSONBody[CommitmentRequest]) -> Response[InstanceView]:
        """Record an issued purchase order's commitment on its planning budget lines (once per order)."""
        input = {"purchase_order_id": data.purchase_order_id, "source": "api"}
        return await _start(runtime, request, COMMITMENT_FLOW, data.purchase_order_id, input, "commitments")

    @get(
        "/commitments/{instance_id:str}",
        opt=governed(f"process:{NAME}:read", operation="get_commitment"),
        responses=COMMITMENT_NOT_FOUND,
    )
    async def get_commitment(instance_id: InstanceId) -> InstanceView:
        """One commitment: status, step outputs (budget lines and consumption records, or why it was skipped)."""
        return instance_view(await _own(store, COMMITMENT_FLOW, instance_id, "purchase order commitment"),
                             COMMITMENT_FLOW)

    @get(
        "/commitments/{instance_id:str}/timeline",
        opt=governed(f"process:{NAME}:read", operation="get_commitment_timeline"),
        responses=COMMITMENT_NOT_FOUND,
    )
    async def get_commitment_timeline(instance_id: InstanceId) -> list[TimelineView]:
        """What happened to one commitment, oldest first."""
        await _own(store, COMMITMENT_FLOW, instance_id, "purchase order commitment")
        return [timeline_view(entry) for entry in await store.timeline(instance_id=instance_id)]

    @get(
        "/commitments",
        opt=governed(f"process:{NAME}:read", operation="list_commitments"),
        responses=list_errors({}),
    )
    async def list_commitments(
        status: StatusQuery = None,
        reason: ReasonQuery = None,
        purchase_order_id: Annotated[
            str | None, QueryParameter(pattern=ID_PATTERN, description="Only this procurement purchase order's.")
        ] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[InstanceView]:
        """Purchase order commitments, newest first."""
        return await _list(store, COMMITMENT_FLOW, status, reason, purchase_order_id, limit, cursor)

    return [
        Router(
            path=PREFIX,
            route_handlers=[
                start_match, get_match, get_match_timeline, list_matches,
                start_commitment, get_commitment, get_commitment_timeline, list_commitments,
            ],
        )
    ]
