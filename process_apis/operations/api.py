"""Flow operations API ``/process/flows/v1``: the queues, the instances, traces and KPIs of every flow.

Every process API starts and shows its own instances; this one sees all of them at once, as
finance operations works: the finance exception queue (business stops waiting for a
decision), the dead-letter queue (technical failures that outlasted their retries), each
instance with its timeline, the trace of one correlation id across the tiers, and the KPIs.
The actions on a waiting instance (resolve, retry, replay, cancel) are effects: each needs
an ``Idempotency-Key``, is written on the instance's timeline with the calling client and
is audited with the instance before and after.
"""

# No `from __future__ import annotations`: Litestar reads the aliases' metadata at runtime.

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import msgspec
from litestar import Request, Router, get, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody, PathParameter, QueryParameter

from policies.call import Call, current_call, governed
from policies.problems import Problem, problem_spec
from policies.services import PolicyServices
from process_apis.flow.model import InstanceStatus
from process_apis.flow.queues import Action, InstanceBusy, act
from process_apis.flow.runtime import Runtime
from process_apis.flow.store import Instance, InstanceFilter
from process_apis.flow.views import InstanceView, TimelineView, instance_view, timeline_view
from process_apis.operations.kpis import Kpis, compute_kpis
from process_apis.operations.trace import Trace, read_trace
from system_apis.canonical import Page
from system_apis.paging import Cursor, Limit, cursor_page, list_errors, read_cursor

__all__ = [
    "NAME",
    "PREFIX",
    "SCOPES",
    "SUMMARY",
    "ActionRequest",
    "InstanceDetail",
    "ResolveRequest",
    "actor_of",
    "routes",
]

NAME = "flows"
PREFIX = "/process/flows/v1"
SUMMARY = (
    "Operations on every flow: instances and their timelines, the finance exception and dead-letter queues "
    "with resolve, retry, replay and cancel, the trace of a correlation id, KPIs."
)
READ = "process:flows:read"
OPERATE = "process:flows:operate"
SCOPES = {
    READ: "List flow instances, the exception and dead-letter queues, timelines, traces and KPIs.",
    OPERATE: "Resolve, retry, replay or cancel a flow instance.",
}

Services = NamedDependency[PolicyServices]

InstanceId = Annotated[
    str, PathParameter(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$", description="Instance id.")
]
CorrelationId = Annotated[
    str, PathParameter(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$", description="Correlation id.")
]
FlowQuery = Annotated[str | None, QueryParameter(min_length=1, max_length=64, description="Only this flow.")]
StatusQuery = Annotated[InstanceStatus | None, QueryParameter(description="Only this status.")]
ReasonQuery = Annotated[
    str | None, QueryParameter(min_length=1, max_length=64, description="Only this reason code (`period-closed`, "
                                                                         "`technical`, ...).")
]
CorrelationQuery = Annotated[
    str | None, QueryParameter(min_length=1, max_length=128, description="Only this correlation id.")
]
KeyQuery = Annotated[
    str | None, QueryParameter(min_length=1, max_length=200, description="Only this business key.")
]
WindowDays = Annotated[
    int, QueryParameter(ge=1, le=366, description="Days the posting lag and exception rates look back.")
]

LIST_ERRORS: dict[int, ResponseSpec] = list_errors({})
NOT_FOUND = problem_spec("No flow instance has this id.")
BUSY = problem_spec(
    "The action does not apply to the instance as it stands (another status, a worker holds it right now, "
    "or its flow is not run by this deployment); `detail` says which."
)
ACTION_ERRORS: dict[int, ResponseSpec] = {404: NOT_FOUND, 409: BUSY}
NO_TRACE = problem_spec("Nothing was recorded under this correlation id.")


class ResolveRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A person's decision on an instance stopped by a business rule."""

    decision: Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
    """What the stopped step should do on its next run (``approve``, ``merge``, ...: the flow says which)."""
    note: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    """Why, for the timeline."""


class ActionRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Retry, replay or cancel an instance."""

    note: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    """Why, for the timeline (``ERP is back``, ``period reopened``, ...)."""


class InstanceDetail(msgspec.Struct, frozen=True, kw_only=True):
    """One instance and everything that happened to it."""

    instance: InstanceView
    """The instance as it stands."""
    timeline: list[TimelineView]
    """Its timeline, oldest first."""


class _Position(msgspec.Struct, frozen=True, array_like=True):
    created_at: datetime
    id: str


def _position(cursor: str | None) -> tuple[datetime, str] | None:
    position = read_cursor(cursor, _Position)
    return None if position is None else (position.created_at.astimezone(UTC), position.id)


def actor_of(call: Call) -> str:
    """Who acts, for the timeline: the calling client, and the person it acts for if it says so."""
    client = call.client_id or "unknown-client"
    return f"{client} for {call.subject}" if call.subject and call.subject != client else client


def routes(runtime: Runtime) -> list[Router]:
    """The API's handlers in one router, all reading and acting through ``runtime.engine``."""
    engine = runtime.engine
    store = engine.store

    def view(instance: Instance) -> InstanceView:
        return instance_view(instance, engine.flows.get(instance.flow))

    async def page(where: InstanceFilter, limit: int, cursor: str | None) -> Page[InstanceView]:
        found = await store.instances(where, limit=limit + 1, before=_position(cursor))
        shown = found[:limit]
        following = _Position(shown[-1].created_at, shown[-1].id) if len(found) > limit else None
        return cursor_page([view(instance) for instance in shown], following)

    async def existing(instance_id: str) -> Instance:
        instance = await store.get(instance_id)
        if instance is None:
            raise Problem(404, f"no flow instance {instance_id}", kind="not-found")
        return instance

    @get("/instances", responses=LIST_ERRORS, opt=governed(READ, operation="list_flow_instances"))
    async def list_instances(
        flow: FlowQuery = None,
        status: StatusQuery = None,
        reason: ReasonQuery = None,
        correlation_id: CorrelationQuery = None,
        key: KeyQuery = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[InstanceView]:
        """Instances of every flow, newest first, one page at a time."""
        where = InstanceFilter(flow=flow, status=status, reason=reason, correlation_id=correlation_id, key=key)
        return await page(where, limit, cursor)

    @get("/instances/{instance_id:str}", responses={404: NOT_FOUND},
         opt=governed(READ, operation="get_flow_instance"))
    async def get_instance(request: Request[Any, Any, Any], instance_id: InstanceId) -> InstanceDetail:
        """One instance with its whole timeline."""
        current_call(request.scope).resource_ids["instance_id"] = instance_id
        instance = await existing(instance_id)
        entries = await store.timeline(instance_id=instance_id)
        return InstanceDetail(instance=view(instance), timeline=[timeline_view(entry) for entry in entries])

    @get("/exceptions", responses=LIST_ERRORS, opt=governed(READ, operation="list_flow_exceptions"))
    async def list_exceptions(
        flow: FlowQuery = None, reason: ReasonQuery = None, limit: Limit = 50, cursor: Cursor = None,
    ) -> Page[InstanceView]:
        """The finance exception queue: instances a business rule stopped, newest first."""
        return await page(InstanceFilter(flow=flow, status="exception", reason=reason), limit, cursor)

    @get("/dead-letters", responses=LIST_ERRORS, opt=governed(READ, operation="list_flow_dead_letters"))
    async def list_dead_letters(
        flow: FlowQuery = None, limit: Limit = 50, cursor: Cursor = None,
    ) -> Page[InstanceView]:
        """The dead-letter queue: instances whose technical failures outlasted the retries, newest first."""
        return await page(InstanceFilter(flow=flow, status="dead"), limit, cursor)

    async def perform(request: Request[Any, Any, Any], services: PolicyServices, instance_id: str, action: Action,
                      note: str, decision: str | None = None) -> InstanceView:
        call = current_call(request.scope)
        call.resource_ids["instance_id"] = instance_id
        before = await existing(instance_id)
        if before.flow not in engine.flows:
            raise Problem(409, f"flow {before.flow} is not run by this deployment; its instances cannot be acted on",
                          kind="instance-busy", title="Conflict")
        try:
            after = await act(engine, instance_id, action, actor=actor_of(call), note=note, decision=decision)
        except InstanceBusy as exc:
            raise Problem(409, str(exc), kind="instance-busy", title="Conflict") from exc
        if after is None:  # deleted between the two reads; nothing deletes instances today
            raise Problem(404, f"no flow instance {instance_id}", kind="not-found")
        changed = view(after)
        await services.audit.record_remote_change(call, resource_ids={"instance_id": instance_id},
                                                  before=view(before), after=changed)
        return changed

    @post("/instances/{instance_id:str}/resolve", status_code=200, responses=ACTION_ERRORS,
          opt=governed(OPERATE, effect=True, operation="resolve_flow_instance"))
    async def resolve(request: Request[Any, Any, Any], services: Services, instance_id: InstanceId,
                      data: JSONBody[ResolveRequest]) -> InstanceView:
        """Record a decision for the step a business rule stopped, and run that step again with it."""
        return await perform(request, services, instance_id, "resolve", data.note, data.decision)

    @post("/instances/{instance_id:str}/retry", status_code=200, responses=ACTION_ERRORS,
          opt=governed(OPERATE, effect=True, operation="retry_flow_instance"))
    async def retry(request: Request[Any, Any, Any], services: Services, instance_id: InstanceId,
                    data: JSONBody[ActionRequest]) -> InstanceView:
        """Run the stopped step again unchanged (the platform is back, the period was reopened)."""
        return await perform(request, services, instance_id, "retry", data.note)

    @post("/instances/{instance_id:str}/replay", status_code=200, responses=ACTION_ERRORS,
          opt=governed(OPERATE, effect=True, operation="replay_flow_instance"))
    async def replay(request: Request[Any, Any, Any], services: Services, instance_id: InstanceId,
                     data: JSONBody[ActionRequest]) -> InstanceView:
        """Run the flow again from its first step; creates that already happened are replayed, not repeated."""
        return await perform(request, services, instance_id, "replay", data.note)

    @post("/instances/{instance_id:str}/cancel", status_code=200, responses=ACTION_ERRORS,
          opt=governed(OPERATE, effect=True, operation="cancel_flow_instance"))
    async def cancel(request: Request[Any, Any, Any], services: Services, instance_id: InstanceId,
                     data: JSONBody[ActionRequest]) -> InstanceView:
        """Undo the completed steps that have a compensation, newest first, then stop."""
        return await perform(request, services, instance_id, "cancel", data.note)

    @get("/traces/{correlation_id:str}", responses={404: NO_TRACE}, opt=governed(READ, operation="get_trace"))
    async def get_trace(request: Request[Any, Any, Any], services: Services, correlation_id: CorrelationId) -> Trace:
        """Everything recorded under one correlation id: flow timelines and audited calls of every tier, by time."""
        current_call(request.scope).resource_ids["correlation_id"] = correlation_id
        trace = await read_trace(engine, services.audit, correlation_id)
        if not trace.items:
            raise Problem(404, f"nothing was recorded under correlation id {correlation_id}", kind="not-found")
        return trace

    @get("/kpis", opt=governed(READ, operation="get_flow_kpis"))
    async def get_kpis(window_days: WindowDays = 30) -> Kpis:
        """Posting lag, exception rate by reason, queue sizes, master-data mismatches and instance counts."""
        now = datetime.now(UTC)
        return await compute_kpis(runtime.database, store, since=now - timedelta(days=window_days), now=now)

    return [Router(path=PREFIX, route_handlers=[list_instances, get_instance, list_exceptions, list_dead_letters,
                                                resolve, retry, replay, cancel, get_trace, get_kpis])]
