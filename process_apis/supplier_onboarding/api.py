"""Supplier onboarding process API (``/process/supplier-onboarding/v1``).

Starts the onboarding of a procurement supplier (the same thing the procurement platform's
``supplier.approved`` event does through ``/events/procurement``) and shows where each one
stands: running, completed with its ERP supplier number, or waiting in the finance exception
queue with a reason code (``invalid-tax-id``, ``invalid-bank-data``,
``suspected-duplicate``, ...). One onboarding exists per procurement supplier: starting it
again answers the existing one.
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
from process_apis.flow.model import InstanceStatus
from process_apis.flow.runtime import Runtime
from process_apis.flow.store import InstanceFilter
from process_apis.flow.views import InstanceView, TimelineView, instance_view, timeline_view
from process_apis.supplier_onboarding.flows import FLOW, FLOW_NAME, SUPPLIER_ID_PATTERN
from system_apis.canonical import Page
from system_apis.paging import Cursor, Limit, cursor_page, foreign_cursor, list_errors, read_cursor

__all__ = ["NAME", "PREFIX", "SCOPES", "SUMMARY", "OnboardingRequest", "routes"]

NAME = FLOW_NAME
PREFIX = f"/process/{NAME}/v1"
SUMMARY = (
    "Onboard approved procurement suppliers into the ERP: tax id and bank data validated, "
    "duplicates caught, created once, ERP number written back."
)
SCOPES = {
    f"process:{NAME}:read": "Read supplier onboardings and their timelines.",
    f"process:{NAME}:write": "Start the onboarding of a procurement supplier.",
}

AnyRequest = Request[Any, Any, Any]

InstanceId = Annotated[
    str, PathParameter(pattern=r"^[0-9a-f]{32}$", description="Onboarding (flow instance) id, as answered.")
]
NOT_FOUND = {404: problem_spec("No supplier onboarding has this id.")}


class OnboardingRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Which procurement supplier to onboard."""

    supplier_id: Annotated[str, msgspec.Meta(pattern=SUPPLIER_ID_PATTERN, description="Procurement supplier id.")]
    """The supplier's id in the procurement platform; its data is read from there, not given here."""


class _Position(msgspec.Struct, frozen=True, kw_only=True):
    """Where the onboarding list goes on: the last item of the previous page, and the filters."""

    created_at: dt.datetime
    id: str
    status: str | None
    reason: str | None
    supplier_id: str | None


async def _own(runtime: Runtime, instance_id: str) -> Any:
    instance = await runtime.engine.store.get(instance_id)
    if instance is None or instance.flow != FLOW_NAME:
        raise Problem(404, f"no supplier onboarding {instance_id}")
    return instance


def routes(runtime: Runtime) -> list[Router]:
    """The process API as one router bound to ``runtime``."""
    store = runtime.engine.store

    @post(
        "/onboardings",
        status_code=202,
        opt=governed(f"process:{NAME}:write", effect=True, operation="start_onboarding"),
        responses={
            200: ResponseSpec(InstanceView, description="This supplier's onboarding already existed; it is answered.",
                              generate_examples=False),
        },
    )
    async def start_onboarding(request: AnyRequest, data: JSONBody[OnboardingRequest]) -> Response[InstanceView]:
        """Start onboarding a procurement supplier (once per supplier; a repeat answers the existing one)."""
        correlation_id = current_call(request.scope).correlation_id
        instance, created = await store.start(
            FLOW_NAME, data.supplier_id, {"supplier_id": data.supplier_id, "source": "api"},
            correlation_id=correlation_id,
        )
        if created:
            runtime.engine.wake()
        return Response(
            instance_view(instance, FLOW),
            status_code=202 if created else 200,
            headers={"Location": f"{PREFIX}/onboardings/{instance.id}"},
        )

    @get(
        "/onboardings/{instance_id:str}",
        opt=governed(f"process:{NAME}:read", operation="get_onboarding"),
        responses=NOT_FOUND,
    )
    async def get_onboarding(instance_id: InstanceId) -> InstanceView:
        """One onboarding: status, current step, reason and detail while it waits, step outputs."""
        return instance_view(await _own(runtime, instance_id), FLOW)

    @get(
        "/onboardings/{instance_id:str}/timeline",
        opt=governed(f"process:{NAME}:read", operation="get_onboarding_timeline"),
        responses=NOT_FOUND,
    )
    async def get_onboarding_timeline(instance_id: InstanceId) -> list[TimelineView]:
        """What happened to one onboarding, oldest first (steps, retries, exceptions, people's actions)."""
        await _own(runtime, instance_id)
        return [timeline_view(entry) for entry in await store.timeline(instance_id=instance_id)]

    @get(
        "/onboardings",
        opt=governed(f"process:{NAME}:read", operation="list_onboardings"),
        responses=list_errors({}),
    )
    async def list_onboardings(
        status: Annotated[
            InstanceStatus | None,
            QueryParameter(description="Only onboardings in this status (`exception` = the finance exception queue)."),
        ] = None,
        reason: Annotated[
            str | None,
            QueryParameter(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$",
                           description="Only onboardings waiting with this reason code (`suspected-duplicate`, ...)."),
        ] = None,
        supplier_id: Annotated[
            str | None, QueryParameter(pattern=SUPPLIER_ID_PATTERN, description="Only this procurement supplier's.")
        ] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[InstanceView]:
        """Onboardings, newest first."""
        position = read_cursor(cursor, _Position)
        if position is not None and (position.status, position.reason, position.supplier_id) != (
            status, reason, supplier_id
        ):
            raise foreign_cursor("it was issued for other filters")
        where = InstanceFilter(flow=FLOW_NAME, status=status, reason=reason, key=supplier_id)
        before = (position.created_at, position.id) if position is not None else None
        found = await store.instances(where, limit=limit + 1, before=before)
        items = found[:limit]
        following = None
        if len(found) > limit:
            last = items[-1]
            following = _Position(created_at=last.created_at, id=last.id, status=status, reason=reason,
                                  supplier_id=supplier_id)
        return cursor_page([instance_view(instance, FLOW) for instance in items], following)

    return [
        Router(
            path=PREFIX,
            route_handlers=[start_onboarding, get_onboarding, get_onboarding_timeline, list_onboardings],
        )
    ]
