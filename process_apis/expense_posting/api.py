"""Expense posting process API (``/process/expense-posting/v1``): post approved expense reports.

``POST /postings`` starts the posting of one report (key = report id: asking twice answers
the same posting, never a second one); ``GET /postings`` and ``GET /postings/{id}`` show
where each stands — running, completed, or waiting in the finance exception queue with its
reason code. The work itself runs in the flow engine (:mod:`process_apis.expense_posting.flows`);
an approved report is also picked up from the expense platform's ``statusChanged`` event and
by the entities' scheduled posting windows.
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
from process_apis.expense_posting.flows import FLOW
from process_apis.expense_posting.mappings import PostingMode
from process_apis.flow.model import InstanceStatus
from process_apis.flow.runtime import Runtime
from process_apis.flow.store import InstanceFilter
from process_apis.flow.views import InstanceView, TimelineView, instance_view, timeline_view
from system_apis.canonical import Page
from system_apis.paging import Cursor, Limit, cursor_page, list_errors, read_cursor

__all__ = ["NAME", "PREFIX", "SCOPES", "SUMMARY", "PostingRequest", "routes"]

NAME = "expense-posting"
PREFIX = f"/process/{NAME}/v1"
SUMMARY = (
    "Post approved expense reports to the ERP (journal entry or AP document), owe the employee in "
    "treasury and mark the report posted; exceptions by reason code."
)
SCOPES = {
    "process:expense-posting:read": "See expense postings, where they stand and why they stopped.",
    "process:expense-posting:write": "Start the posting of an approved expense report.",
}

AnyRequest = Request[Any, Any, Any]
ReportId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
InstanceId = Annotated[
    str, PathParameter(pattern=r"^[0-9a-f]{32}$", description="Id of the posting (the flow instance).")
]

NOT_FOUND = {404: problem_spec("No expense posting with this id.")}


class PostingRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Post one approved expense report."""

    report_id: ReportId
    """Id of the report in the expense platform; the posting's key (one posting per report)."""
    mode: PostingMode | None = None
    """``journal`` (a journal entry) or ``ap`` (a supplier invoice to the employee's vendor
    account); the entity's posting policy when left out (journal by default)."""
    posting_date: dt.date | None = None
    """Date to post on; the report's approval date when left out."""


class _Position(msgspec.Struct, frozen=True):
    """Where a list page ends: the last item's creation time and id."""

    created_at: dt.datetime
    id: str


def _location(instance_id: str) -> str:
    return f"{PREFIX}/postings/{instance_id}"


def routes(runtime: Runtime) -> list[Router]:
    """The process API's handlers, bound to the shared flow ``runtime``."""
    store = runtime.engine.store
    flow = runtime.engine.flows.get(FLOW)

    async def _posting(instance_id: str) -> Any:
        instance = await store.get(instance_id)
        if instance is None or instance.flow != FLOW:
            raise Problem(404, f"no expense posting {instance_id}")
        return instance

    @post(
        "/postings",
        status_code=202,
        opt=governed("process:expense-posting:write", effect=True, operation="start_expense_posting"),
        responses={
            200: ResponseSpec(InstanceView, description="The report's posting already exists; here it is.",
                              generate_examples=False),
        },
    )
    async def start_posting(request: AnyRequest, data: JSONBody[PostingRequest]) -> Response[InstanceView]:
        """Start posting an approved expense report (202), or answer its existing posting (200)."""
        call = current_call(request.scope)
        call.resource_ids["report_id"] = data.report_id
        body: dict[str, Any] = {"report_id": data.report_id}
        if data.mode is not None:
            body["mode"] = data.mode
        if data.posting_date is not None:
            body["posting_date"] = data.posting_date.isoformat()
        instance, created = await store.start(FLOW, data.report_id, body, correlation_id=call.correlation_id)
        if created:
            runtime.engine.wake()
        return Response(instance_view(instance, flow), status_code=202 if created else 200,
                        headers={"Location": _location(instance.id)})

    @get(
        "/postings/{instance_id:str}",
        opt=governed("process:expense-posting:read", operation="get_expense_posting"),
        responses=NOT_FOUND,
    )
    async def get_posting(instance_id: InstanceId) -> InstanceView:
        """One posting: its status, the step it is at, each step's output and why it stopped."""
        return instance_view(await _posting(instance_id), flow)

    @get(
        "/postings/{instance_id:str}/timeline",
        opt=governed("process:expense-posting:read", operation="get_expense_posting_timeline"),
        responses=NOT_FOUND,
    )
    async def get_timeline(instance_id: InstanceId) -> list[TimelineView]:
        """What happened to one posting, oldest first (steps, retries, exceptions, people's actions)."""
        await _posting(instance_id)
        return [timeline_view(entry) for entry in await store.timeline(instance_id=instance_id)]

    @get(
        "/postings",
        opt=governed("process:expense-posting:read", operation="list_expense_postings"),
        responses=list_errors({}),
    )
    async def list_postings(
        status: Annotated[InstanceStatus | None, QueryParameter(description="Only postings in this status.")] = None,
        reason: Annotated[
            str | None,
            QueryParameter(pattern=r"^[a-z0-9-]{1,64}$", description="Only postings stopped for this reason code."),
        ] = None,
        report_id: Annotated[
            str | None,
            QueryParameter(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Only the posting of this report."),
        ] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[InstanceView]:
        """Postings, newest first, one page at a time."""
        position = read_cursor(cursor, _Position)
        found = await store.instances(
            InstanceFilter(flow=FLOW, status=status, reason=reason, key=report_id),
            limit=limit + 1,
            before=(position.created_at, position.id) if position else None,
        )
        page, more = found[:limit], len(found) > limit
        last = page[-1] if page else None
        return cursor_page([instance_view(i, flow) for i in page],
                           _Position(last.created_at, last.id) if more and last else None)

    return [Router(path=PREFIX, route_handlers=[start_posting, get_posting, get_timeline, list_postings])]
