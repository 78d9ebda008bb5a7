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
from litestar import Router

from process_apis.expense_posting.flows import POSTING
from process_apis.expense_posting.mappings import PostingMode
from process_apis.flow.runtime import Runtime
from process_apis.kit.collection import FlowCollection, collection_routes

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

ReportId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class PostingRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Post one approved expense report."""

    report_id: ReportId
    """Id of the report in the expense platform; the posting's key (one posting per report)."""
    mode: PostingMode | None = None
    """``journal`` (a journal entry) or ``ap`` (a supplier invoice to the employee's vendor
    account); the entity's posting policy when left out (journal by default)."""
    posting_date: dt.date | None = None
    """Date to post on; the report's approval date when left out."""


def _input(request: PostingRequest) -> dict[str, Any]:
    body: dict[str, Any] = {"report_id": request.report_id}
    if request.mode is not None:
        body["mode"] = request.mode
    if request.posting_date is not None:
        body["posting_date"] = request.posting_date.isoformat()
    return body


POSTINGS = FlowCollection(
    api=NAME,
    prefix=PREFIX,
    path="/postings",
    flow=POSTING,
    noun="expense posting",
    operation="posting",
    request=PostingRequest,
    key=lambda request: request.report_id,
    input=_input,
    key_filter="report_id",
    key_pattern=r"^[A-Za-z0-9_-]{1,64}$",
    key_description="Only the posting of this report.",
)


def routes(runtime: Runtime) -> list[Router]:
    """The process API's handlers, bound to the shared flow ``runtime``."""
    return [Router(path=PREFIX, route_handlers=collection_routes(runtime, POSTINGS))]
