"""Reversal process API (``/process/reversals/v1``): reverse a posting, and reclassify it when asked.

``POST /reversals`` names the original posting by the correlation id of its transaction or by
its flow instance id (an ``expense-posting`` or a ``procure-to-pay`` instance) and starts its
reversal; with ``reclassify`` the same amounts are then posted again on the corrected cost
centers and GL accounts. One reversal exists per original: asking again answers the existing
one (200) and starts nothing, whatever the second body says.

The reversal runs under the original's correlation id, so the trace of that id
(``GET /process/flows/v1/traces/{correlation_id}``) shows the posting, its reversal and its
correction together.

Refusals before anything starts: an original that cannot be found is a 404 problem
(``original-not-found``; with no original there is nothing to key a reversal on, so nothing
waits in the exception queue), a correlation id shared by several postings (a posting window)
is a 409 (``ambiguous-correlation``: name the instance id), and a reclassification whose
amounts do not add up to the original's is a 422 (``unbalanced-reclassification``). Whatever
is found only while the flow runs (the original not completed yet, the ERP showing it
reversed already, a closed period) stops in the finance exception queue with its reason code.
"""

# No `from __future__ import annotations`: Litestar must see the real parameter types.

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody, PathParameter, QueryParameter

from policies.call import current_call, governed
from policies.problems import InvalidParam, Problem, problem_spec
from process_apis.flow.model import InstanceStatus
from process_apis.flow.runtime import Runtime
from process_apis.flow.store import Instance, InstanceFilter
from process_apis.flow.views import InstanceView, TimelineView, instance_view, timeline_view
from process_apis.reversal.flows import (
    FLOW,
    ORIGINAL_FLOWS,
    P2P_FLOW,
    REVERSAL,
    ReclassificationError,
    allocation_of,
    reallocate,
)
from system_apis.canonical import Page
from system_apis.paging import Cursor, Limit, cursor_page, foreign_cursor, list_errors, read_cursor

__all__ = [
    "NAME",
    "PREFIX",
    "SCOPES",
    "SUMMARY",
    "Reclassification",
    "ReclassificationLine",
    "ReversalRequest",
    "routes",
]

NAME = "reversals"
PREFIX = f"/process/{NAME}/v1"
SUMMARY = (
    "Reverse a posted expense report or supplier invoice found by its correlation id, and post the "
    "corrected allocation when it is reclassified."
)
SCOPES = {
    f"process:{NAME}:read": "See reversals, where they stand and why they stopped.",
    f"process:{NAME}:write": "Reverse a posting, or reverse and reclassify it.",
}

AnyRequest = Request[Any, Any, Any]
ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
InstanceId = Annotated[
    str, PathParameter(pattern=r"^[0-9a-f]{32}$", description="Reversal (flow instance) id, as answered.")
]
NOT_FOUND = {404: problem_spec("No reversal has this id.")}
Code = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9]{1,10}$")]


class ReclassificationLine(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One line of the corrected allocation: where a part of the original's amount goes."""

    cost_center: Code | None = None
    """ERP cost center; the original's when left out and the original used only one."""
    gl_account: Code | None = None
    """ERP GL account; the original's when left out and the original used only one."""
    share: Decimal | None = None
    """Fraction of the original's total, above 0 and at most 1 (``0.25``); the shares of all lines add up to 1."""
    amount: Decimal | None = None
    """Positive amount in the original's currency; the amounts of all lines add up to the original's total."""

    def __post_init__(self) -> None:
        # msgspec constrains numbers but not Decimals: the bounds are checked here (a 422).
        if (self.share is None) == (self.amount is None):
            raise ValueError("a reclassification line gives either share or amount, not both or neither")
        if self.share is not None and not (self.share.is_finite() and 0 < self.share <= 1):
            raise ValueError(f"share must be above 0 and at most 1, got {self.share}")
        if self.amount is not None and not (self.amount.is_finite() and self.amount > 0):
            raise ValueError(f"amount must be positive, got {self.amount}")


class Reclassification(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The corrected allocation of the original's amounts."""

    lines: Annotated[list[ReclassificationLine], msgspec.Meta(min_length=1, max_length=50)]
    """Every line with a share, or every line with an amount."""

    def __post_init__(self) -> None:
        if len({line.share is None for line in self.lines}) != 1:
            raise ValueError("give every reclassification line a share, or every line an amount, not a mix")
        if self.lines[0].share is not None and sum((line.share or Decimal(0) for line in self.lines),
                                                   Decimal(0)) != 1:
            raise ValueError("the shares of the reclassification lines must add up to 1")


class ReversalRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Which posting to reverse, why, and how to post it again."""

    correlation_id: Annotated[str, msgspec.Meta(pattern=ID_PATTERN)] | None = None
    """Correlation id of the original posting's transaction (give this or ``instance_id``)."""
    instance_id: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{32}$")] | None = None
    """Flow instance id of the original posting (give this or ``correlation_id``)."""
    reason_text: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    """Why it is reversed, for the record."""
    reclassify: Reclassification | None = None
    """The corrected allocation; left out, the posting is only reversed."""
    posting_date: dt.date | None = None
    """Date of the corrected posting; the original's posting date when left out."""

    def __post_init__(self) -> None:
        if (self.correlation_id is None) == (self.instance_id is None):
            raise ValueError("name the original by correlation_id or by instance_id (one of them)")
        if self.posting_date is not None and self.reclassify is None:
            raise ValueError("posting_date is the date of the corrected posting: give it with reclassify only")


class _Position(msgspec.Struct, frozen=True, kw_only=True):
    """Where the reversal list goes on: the last item of the previous page, and the filters."""

    created_at: dt.datetime
    id: str
    status: str | None
    reason: str | None
    original: str | None
    correlation_id: str | None


def _not_found(detail: str) -> Problem:
    return Problem(404, detail, kind="original-not-found", title="Original not found")


async def _original(runtime: Runtime, data: ReversalRequest) -> Instance:
    """The original posting the request names (404 when none, 409 when several)."""
    store = runtime.engine.store
    if data.instance_id is not None:
        instance = await store.get(data.instance_id)
        if instance is None or instance.flow not in ORIGINAL_FLOWS:
            raise _not_found(f"no posting ({' or '.join(ORIGINAL_FLOWS)} instance) {data.instance_id}")
        return instance
    found: list[Instance] = []
    for flow in ORIGINAL_FLOWS:
        found += await store.instances(InstanceFilter(flow=flow, correlation_id=data.correlation_id), limit=2)
    if not found:
        raise _not_found(f"no posting ({' or '.join(ORIGINAL_FLOWS)} instance) has correlation id "
                         f"{data.correlation_id}")
    if len(found) > 1:
        raise Problem(409, f"correlation id {data.correlation_id} belongs to several postings (a posting window "
                           "starts many): name the one to reverse by its instance_id",
                      kind="ambiguous-correlation", title="Ambiguous correlation id")
    return found[0]


def _check_reclassification(original: Instance, reclassify: Reclassification) -> None:
    """Refuse (422) a reclassification that cannot fit the original, as far as the original says now."""
    if original.flow == P2P_FLOW:
        raise Problem(422, "a procure-to-pay supplier invoice is reversed only: leave out reclassify",
                      kind="reclassification-unsupported", title="Reclassification unsupported",
                      invalid_params=[InvalidParam(name="body.reclassify", reason="not supported for this posting")])
    allocation = allocation_of(original.flow, original.state)
    if allocation is None:
        return  # not coded yet: the flow checks it once the original has posted
    try:
        reallocate(allocation, msgspec.to_builtins(reclassify)["lines"])
    except ReclassificationError as error:
        raise Problem(422, error.detail, kind=error.kind, title="Reclassification refused",
                      invalid_params=[InvalidParam(name="body.reclassify.lines", reason=error.detail)]) from None


def routes(runtime: Runtime) -> list[Router]:
    """The process API as one router bound to ``runtime``."""
    store = runtime.engine.store

    async def _own(instance_id: str) -> Instance:
        instance = await store.get(instance_id)
        if instance is None or instance.flow != FLOW:
            raise Problem(404, f"no reversal {instance_id}")
        return instance

    @post(
        "/reversals",
        status_code=202,
        opt=governed(f"process:{NAME}:write", effect=True, operation="start_reversal"),
        responses={
            200: ResponseSpec(InstanceView, description="The original's reversal already exists; here it is "
                                                        "(nothing new is started).", generate_examples=False),
            404: problem_spec("No expense posting or procure-to-pay instance has this correlation id or instance "
                              "id (`original-not-found`)."),
            409: problem_spec("The correlation id belongs to several postings (`ambiguous-correlation`), or a "
                              "request with this Idempotency-Key is still in flight."),
            422: problem_spec("The body breaks a rule its schema cannot express, or the reclassification does not "
                              "fit the original (`unbalanced-reclassification`, `incomplete-reclassification`, "
                              "`reclassification-unsupported`)."),
        },
    )
    async def start_reversal(request: AnyRequest, data: JSONBody[ReversalRequest]) -> Response[InstanceView]:
        """Reverse a posting, and reclassify it when asked (202); its existing reversal is answered (200)."""
        call = current_call(request.scope)
        original = await _original(runtime, data)
        call.resource_ids["original_instance_id"] = original.id
        existing = await store.find(FLOW, original.id)
        if existing is None and data.reclassify is not None:
            _check_reclassification(original, data.reclassify)
        body: dict[str, Any] = {
            "original_instance_id": original.id, "original_flow": original.flow, "reason_text": data.reason_text,
            "requested_correlation_id": call.correlation_id,
        }
        if data.reclassify is not None:
            body["reclassify"] = msgspec.to_builtins(data.reclassify)
        if data.posting_date is not None:
            body["posting_date"] = data.posting_date.isoformat()
        instance, created = await store.start(FLOW, original.id, body, correlation_id=original.correlation_id)
        if created:
            runtime.engine.wake()
        return Response(instance_view(instance, REVERSAL), status_code=202 if created else 200,
                        headers={"Location": f"{PREFIX}/reversals/{instance.id}"})

    @get(
        "/reversals/{instance_id:str}",
        opt=governed(f"process:{NAME}:read", operation="get_reversal"),
        responses=NOT_FOUND,
    )
    async def get_reversal(instance_id: InstanceId) -> InstanceView:
        """One reversal: status, current step, reason while it waits; ``record`` holds the documents."""
        return instance_view(await _own(instance_id), REVERSAL)

    @get(
        "/reversals/{instance_id:str}/timeline",
        opt=governed(f"process:{NAME}:read", operation="get_reversal_timeline"),
        responses=NOT_FOUND,
    )
    async def get_reversal_timeline(instance_id: InstanceId) -> list[TimelineView]:
        """What happened to one reversal, oldest first (steps, retries, exceptions, people's actions)."""
        await _own(instance_id)
        return [timeline_view(entry) for entry in await store.timeline(instance_id=instance_id)]

    @get(
        "/reversals",
        opt=governed(f"process:{NAME}:read", operation="list_reversals"),
        responses=list_errors({}),
    )
    async def list_reversals(
        status: Annotated[
            InstanceStatus | None,
            QueryParameter(description="Only reversals in this status (`exception` = the finance exception queue)."),
        ] = None,
        reason: Annotated[
            str | None,
            QueryParameter(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$",
                           description="Only reversals waiting with this reason code (`already-reversed`, ...)."),
        ] = None,
        original_instance_id: Annotated[
            str | None,
            QueryParameter(pattern=r"^[0-9a-f]{32}$", description="Only the reversal of this original posting."),
        ] = None,
        correlation_id: Annotated[
            str | None,
            QueryParameter(pattern=ID_PATTERN, description="Only reversals of this transaction (correlation id)."),
        ] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[InstanceView]:
        """Reversals, newest first, one page at a time."""
        position = read_cursor(cursor, _Position)
        filters = (status, reason, original_instance_id, correlation_id)
        if position is not None and (position.status, position.reason, position.original,
                                     position.correlation_id) != filters:
            raise foreign_cursor("it was issued for other filters")
        where = InstanceFilter(flow=FLOW, status=status, reason=reason, key=original_instance_id,
                               correlation_id=correlation_id)
        before = (position.created_at, position.id) if position is not None else None
        found = await store.instances(where, limit=limit + 1, before=before)
        items = found[:limit]
        following = None
        if len(found) > limit:
            last = items[-1]
            following = _Position(created_at=last.created_at, id=last.id, status=status, reason=reason,
                                  original=original_instance_id, correlation_id=correlation_id)
        return cursor_page([instance_view(instance, REVERSAL) for instance in items], following)

    return [
        Router(
            path=PREFIX,
            route_handlers=[start_reversal, get_reversal, get_reversal_timeline, list_reversals],
        )
    ]
