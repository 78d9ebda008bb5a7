"""One flow served as a REST collection: start, get one, its timeline, list with filters.

Every process API exposes its flows the same way — ``POST /<things>`` starts an instance for a
business key (once per key: a repeat answers the existing one with 200), ``GET
/<things>/{id}`` and ``/<things>/{id}/timeline`` show one, ``GET /<things>`` lists them newest
first with status, reason and key filters and an opaque cursor. :func:`collection_routes`
builds those four handlers from a :class:`FlowCollection`, so each process API declares only
what is its own: the request body, how it becomes the key and the input, and its words.
"""

# No `from __future__ import annotations`: Litestar must see the real parameter types.

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar

import msgspec
from litestar import Request, Response, get, post
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody, PathParameter, QueryParameter

from policies.call import current_call, governed
from policies.problems import Problem, problem_spec
from process_apis.flow.model import Flow, InstanceStatus
from process_apis.flow.runtime import Runtime
from process_apis.flow.store import Instance, InstanceFilter
from process_apis.flow.views import InstanceView, TimelineView, instance_view, timeline_view
from system_apis.canonical import Page
from system_apis.paging import Cursor, Limit, cursor_page, foreign_cursor, list_errors, read_cursor

__all__ = ["FlowCollection", "collection_routes"]

Body = TypeVar("Body", bound=msgspec.Struct)

INSTANCE_ID_PATTERN = r"^[0-9a-f]{32}$"
REASON_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"


@dataclass(frozen=True, slots=True)
class FlowCollection(Generic[Body]):
    """How one flow appears in its process API."""

    api: str
    """The API's catalog name: scopes are ``process:<api>:read`` and ``process:<api>:write``."""
    prefix: str
    """The API's base path (for ``Location``)."""
    path: str
    """The collection's path under the prefix, e.g. ``/onboardings``."""
    flow: Flow
    """The flow whose instances the collection holds."""
    noun: str
    """What one item is called, in words (``supplier onboarding``)."""
    operation: str
    """Singular name in operation ids: ``start_<operation>``, ``get_<operation>``, ..."""
    request: type[Body]
    """Body of the start request."""
    key: Callable[[Body], str]
    """The business key of a start request (one instance per key)."""
    input: Callable[[Body], Mapping[str, Any]]
    """The instance's input for a start request."""
    key_filter: str
    """Name of the list filter on the key, e.g. ``supplier_id``."""
    key_pattern: str
    """Pattern of a key value."""
    key_description: str
    """What the key filter selects, in words."""
    existing: Callable[[Instance, Body], None] | None = None
    """Checks a repeat start against the instance that exists (raise a 409 :class:`Problem`)."""
    start_responses: Mapping[int, ResponseSpec] = field(default_factory=dict)
    """Further answers of the start request (those ``existing`` raises)."""


class _Position(msgspec.Struct, frozen=True, kw_only=True):
    """Where a list goes on: the last item of the previous page, and the flow and filters it was for."""

    created_at: dt.datetime
    id: str
    filters: tuple[str | None, str | None, str | None, str | None]


def collection_routes(runtime: Runtime, collection: FlowCollection[Any]) -> list[Any]:
    """The start, get, timeline and list handlers of ``collection``, bound to ``runtime``."""
    store = runtime.engine.store
    flow = collection.flow
    name, path, noun, op = collection.flow.name, collection.path, collection.noun, collection.operation
    read_scope, write_scope = f"process:{collection.api}:read", f"process:{collection.api}:write"
    camel = "".join(part.title() for part in op.split("_"))
    Request_ = collection.request  # noqa: N806 - a type, used in the annotations below
    InstanceId = Annotated[  # noqa: N806
        str, PathParameter(pattern=INSTANCE_ID_PATTERN, description=f"Id of the {noun} (flow instance), as answered.")
    ]
    not_found = {404: problem_spec(f"No {noun} has this id.")}

    async def own(instance_id: str) -> Instance:
        instance = await store.get(instance_id)
        if instance is None or instance.flow != name:
            raise Problem(404, f"no {noun} {instance_id}")
        return instance

    @post(
        path,
        status_code=202,
        operation_id=f"Start{camel}",
        summary=f"Start a {noun}",
        opt=governed(write_scope, effect=True, operation=f"start_{op}"),
        responses={
            200: ResponseSpec(InstanceView, description=f"This {noun} already existed; it is answered.",
                              generate_examples=False),
            **collection.start_responses,
        },
        description=f"Start a {noun} (once per key: a repeat answers the existing one).",
    )
    async def start(request: Request[Any, Any, Any], data: JSONBody[Request_]) -> Response[InstanceView]:  # type: ignore[valid-type]
        key = collection.key(data)
        call = current_call(request.scope)
        call.resource_ids[collection.key_filter] = key
        instance, created = await store.start(name, key, collection.input(data), correlation_id=call.correlation_id)
        if not created and collection.existing is not None:
            collection.existing(instance, data)
        if created:
            runtime.engine.wake()
        return Response(instance_view(instance, flow), status_code=202 if created else 200,
                        headers={"Location": f"{collection.prefix}{path}/{instance.id}"})

    @get(f"{path}/{{instance_id:str}}", operation_id=f"Get{camel}", summary=f"Get a {noun}",
         opt=governed(read_scope, operation=f"get_{op}"), responses=not_found,
         description=f"One {noun}: status, current step, reason and detail while it waits, step outputs.")
    async def get_one(instance_id: InstanceId) -> InstanceView:
        return instance_view(await own(instance_id), flow)

    @get(f"{path}/{{instance_id:str}}/timeline", operation_id=f"Get{camel}Timeline",
         summary=f"Get the timeline of a {noun}",
         opt=governed(read_scope, operation=f"get_{op}_timeline"), responses=not_found,
         description=f"What happened to one {noun}, oldest first (steps, retries, exceptions, people's actions).")
    async def timeline(instance_id: InstanceId) -> list[TimelineView]:
        await own(instance_id)
        return [timeline_view(entry) for entry in await store.timeline(instance_id=instance_id)]

    @get(path, operation_id=f"List{camel}s", summary=f"List {noun}s",
         opt=governed(read_scope, operation=f"list_{op}s"),
         responses=list_errors({}), description=f"{noun[0].upper()}{noun[1:]}s, newest first.")
    async def list_all(
        status: Annotated[
            InstanceStatus | None,
            QueryParameter(description="Only those in this status (`exception` = the finance exception queue, "
                                       "`dead` = the dead-letter queue)."),
        ] = None,
        reason: Annotated[
            str | None,
            QueryParameter(pattern=REASON_PATTERN, description="Only those waiting with this reason code."),
        ] = None,
        key: Annotated[
            str | None,
            QueryParameter(name=collection.key_filter, pattern=collection.key_pattern,
                           description=collection.key_description),
        ] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[InstanceView]:
        filters = (name, status, reason, key)
        position = read_cursor(cursor, _Position)
        if position is not None and position.filters != filters:
            raise foreign_cursor("it was issued for another list or other filters")
        before = (position.created_at, position.id) if position is not None else None
        found = await store.instances(InstanceFilter(flow=name, status=status, reason=reason, key=key),
                                      limit=limit + 1, before=before)
        items = found[:limit]
        following = None
        if len(found) > limit:
            following = _Position(created_at=items[-1].created_at, id=items[-1].id, filters=filters)
        return cursor_page([instance_view(instance, flow) for instance in items], following)
    return [start, get_one, timeline, list_all]

