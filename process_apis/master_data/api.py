"""Master data process API (``/process/master-data/v1``).

Starts a publish of the ERP's dimensions to procurement and expense (the same thing the
hourly schedule does) or a reconciliation that only compares (the daily schedule), and shows
every run: its status, the counts it wrote or found in its step outputs, and, for a
reconciliation that found drift, the ``master-data-drift`` exception with the counts.
"""

# No `from __future__ import annotations`: Litestar must see the real parameter types.

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.params import JSONBody, PathParameter, QueryParameter

from policies.call import current_call, governed
from policies.problems import Problem, problem_spec
from process_apis.flow.model import Flow, InstanceStatus
from process_apis.flow.runtime import Runtime
from process_apis.flow.store import Instance, InstanceFilter
from process_apis.flow.views import InstanceView, TimelineView, instance_view, timeline_view
from process_apis.master_data.flows import NAME, PUBLISH, PUBLISH_FLOW, RECONCILE, RECONCILE_FLOW
from system_apis.canonical import Page
from system_apis.paging import Cursor, Limit, cursor_page, foreign_cursor, list_errors, read_cursor

__all__ = ["NAME", "PREFIX", "SCOPES", "SUMMARY", "RunKind", "RunRequest", "routes"]

PREFIX = f"/process/{NAME}/v1"
SUMMARY = (
    "Publish the ERP's legal entities, GL accounts and cost centers to procurement and expense as deltas, "
    "and reconcile the three for drift."
)
SCOPES = {
    f"process:{NAME}:read": "Read master data publish and reconciliation runs.",
    f"process:{NAME}:write": "Start a master data publish or reconciliation.",
}

AnyRequest = Request[Any, Any, Any]
RunKind = Literal["publication", "reconciliation"]
"""A publish (writes the delta) or a reconciliation (compares only)."""

FLOW_OF: dict[RunKind, Flow] = {"publication": PUBLISH, "reconciliation": RECONCILE}
FLOWS: dict[str, Flow] = {PUBLISH_FLOW: PUBLISH, RECONCILE_FLOW: RECONCILE}

InstanceId = Annotated[str, PathParameter(pattern=r"^[0-9a-f]{32}$", description="Run (flow instance) id.")]
NOT_FOUND = {404: problem_spec("No master data run has this id.")}


class RunRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Why a run is started (optional)."""

    note: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    """Recorded in the run's input, e.g. ``after the cost center clean-up``."""


class _Position(msgspec.Struct, frozen=True, kw_only=True):
    """Where the run list goes on: the last item of the previous page, and the filters."""

    created_at: dt.datetime
    id: str
    kind: str | None
    status: str | None
    reason: str | None


def _view(instance: Instance) -> InstanceView:
    return instance_view(instance, FLOWS.get(instance.flow))


def routes(runtime: Runtime) -> list[Router]:
    """The process API as one router bound to ``runtime``."""
    store = runtime.engine.store

    async def start(request: AnyRequest, kind: RunKind, data: RunRequest) -> Response[InstanceView]:
        correlation_id = current_call(request.scope).correlation_id
        now = dt.datetime.now(dt.UTC)
        key = f"api@{now.strftime('%Y%m%dT%H%M%S.%fZ')}-{uuid.uuid4().hex[:8]}"
        flow = FLOW_OF[kind]
        instance, _ = await store.start(flow.name, key, {"source": "api", "note": data.note},
                                        correlation_id=correlation_id)
        runtime.engine.wake()
        return Response(_view(instance), status_code=202, headers={"Location": f"{PREFIX}/runs/{instance.id}"})

    @post("/publications", status_code=202, opt=governed(f"process:{NAME}:write", effect=True,
                                                         operation="start_publication"))
    async def start_publication(request: AnyRequest, data: JSONBody[RunRequest]) -> Response[InstanceView]:
        """Publish now: read the ERP and both platforms, write only the delta (new, changed, deactivated)."""
        return await start(request, "publication", data)

    @post("/reconciliations", status_code=202, opt=governed(f"process:{NAME}:write", effect=True,
                                                            operation="start_reconciliation"))
    async def start_reconciliation(request: AnyRequest, data: JSONBody[RunRequest]) -> Response[InstanceView]:
        """Reconcile now: count the drift per platform and dimension without writing."""
        return await start(request, "reconciliation", data)

    async def own(instance_id: str) -> Instance:
        instance = await store.get(instance_id)
        if instance is None or instance.flow not in FLOWS:
            raise Problem(404, f"no master data run {instance_id}")
        return instance

    @get("/runs/{instance_id:str}", opt=governed(f"process:{NAME}:read", operation="get_run"), responses=NOT_FOUND)
    async def get_run(instance_id: InstanceId) -> InstanceView:
        """One run: status, step outputs (counts written or drift found), reason and detail while it waits."""
        return _view(await own(instance_id))

    @get("/runs/{instance_id:str}/timeline", opt=governed(f"process:{NAME}:read", operation="get_run_timeline"),
         responses=NOT_FOUND)
    async def get_run_timeline(instance_id: InstanceId) -> list[TimelineView]:
        """What happened to one run, oldest first."""
        await own(instance_id)
        return [timeline_view(entry) for entry in await store.timeline(instance_id=instance_id)]

    @get("/runs", opt=governed(f"process:{NAME}:read", operation="list_runs"), responses=list_errors({}))
    async def list_runs(
        kind: Annotated[
            RunKind | None, QueryParameter(description="Only publications, or only reconciliations.")
        ] = None,
        status: Annotated[
            InstanceStatus | None,
            QueryParameter(description="Only runs in this status (`exception` = waiting with drift)."),
        ] = None,
        reason: Annotated[
            str | None,
            QueryParameter(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$",
                           description="Only runs waiting with this reason code (`master-data-drift`, ...)."),
        ] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[InstanceView]:
        """Runs of both kinds, newest first."""
        position = read_cursor(cursor, _Position)
        if position is not None and (position.kind, position.status, position.reason) != (kind, status, reason):
            raise foreign_cursor("it was issued for other filters")
        before = (position.created_at, position.id) if position is not None else None
        flows = [FLOW_OF[kind].name] if kind is not None else [PUBLISH_FLOW, RECONCILE_FLOW]
        found: list[Instance] = []
        for flow in flows:
            where = InstanceFilter(flow=flow, status=status, reason=reason)
            found.extend(await store.instances(where, limit=limit + 1, before=before))
        found.sort(key=lambda instance: (instance.created_at, instance.id), reverse=True)
        items = found[:limit]
        following = None
        if len(found) > limit:
            last = items[-1]
            following = _Position(created_at=last.created_at, id=last.id, kind=kind, status=status, reason=reason)
        return cursor_page([_view(instance) for instance in items], following)

    return [
        Router(
            path=PREFIX,
            route_handlers=[start_publication, start_reconciliation, get_run, get_run_timeline, list_runs],
        )
    ]
