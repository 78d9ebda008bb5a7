"""The Concur Expense handlers of the sandbox.

* v3.0 reports and entries, exactly in the shape of Concur's swagger documents:
  ``GET /api/v3.0/expense/reports[/{id}]``, ``GET /api/v3.0/expense/entries[/{id}]``, pages
  ``{"Items": [...], "NextPage": "<uri>"}`` with ``offset``/``limit`` (default 25, at most 100).
* employees (``GET /api/v3.0/common/users``) and corporate card transactions
  (``GET /api/v3.0/expense/companycardtransactions``) in the same style.
* creating reports and entries as a client does (``POST /api/v3.0/expense/reports`` with the
  owner in ``user``, then ``POST /api/v3.0/expense/entries``), bodies and answers as Concur's
  swagger describes them (``ReportPost``/``EntryPost`` in, ``{"ID", "URI"}`` out, see
  :mod:`platforms.expense.create`); a new report is ``A_NOTF``/``P_NOTP`` and its totals are
  the sum of its entries.
* the approval workflow (``POST /api/expense/expensereport/v1.1/report/{id}/WorkFlowAction``:
  Submit, Approve, Send Back, Recall; a report without entries cannot be submitted), and a
  v4-style ``PATCH /expensereports/v4/reports/{id}`` that moves an approved report to
  ``P_PROC`` (posted to the financial system) and ``P_PAID``.
* each status change sends the v4 ``statusChanged`` event (topic ``public.concur.expense.report``)
  as a signed webhook.

Dates in the ``...After``/``...Before`` filters are ``YYYY-MM-DD`` (midnight UTC) or full RFC 3339
times; "after" includes the instant itself, "before" excludes it. Request bodies are decoded
strictly by the kit (:class:`~platforms.kit.bodies.StrictBody`): nothing is coerced, and a body
of the wrong shape, malformed or nested too deeply is a 400 ``Message`` naming the field.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

import msgspec
from litestar import Request, Response, get, patch, post
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, NotFoundException
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import OpenAPIFormat, OpenAPIType, Schema
from litestar.params import JSONBody, PathParameter, QueryParameter

from platforms.expense.auth import require_bearer
from platforms.expense.codes import APPROVAL_NAMES, PAYMENT_NAMES
from platforms.expense.create import (
    CreateResponse,
    EntryPost,
    ExpenseBody,
    ReportPost,
    new_entry,
    new_report,
    with_totals,
)
from platforms.expense.seed import COMPANY_ID
from platforms.expense.wire import (
    ENCODER,
    CardTransaction,
    Collection,
    ConcurError,
    CustomField,
    EntryGet,
    ReportGet,
    ReportStatusPatch,
    StatusChangedEvent,
    StatusChangedFacts,
    User,
    WorkflowAction,
    WorkflowResult,
)
from platforms.kit.app import SandboxState
from platforms.kit.bodies import StrictBody

__all__ = ["ROUTES", "error_body", "error_spec"]

Sandbox = NamedDependency[SandboxState]
T = TypeVar("T", bound=msgspec.Struct)

MAX_LIMIT = 100
Offset = Annotated[
    str | None,
    QueryParameter(description="Starting page offset (from NextPage).", max_length=9, pattern=r"^[0-9]+$"),
]
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description="Number of records to return.")]

_DATE_OR_TIME = [
    Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.DATE),
    Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.DATE_TIME),
]
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"  # a date, optionally followed by a time with a zone
    r"(?:[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2}))?"
)


def _date(name: str) -> Any:
    """A date filter parameter called ``name`` (``YYYY-MM-DD`` or an RFC 3339 time with a zone)."""
    return QueryParameter(name=name, description="YYYY-MM-DD (midnight UTC) or an RFC 3339 time.", max_length=40,
                          schema_extra={"any_of": _DATE_OR_TIME})


def error_spec(description: str) -> ResponseSpec:
    """An error answer in Concur's v3 format (:func:`error_body`), for ``responses={...}``."""
    return ResponseSpec(ConcurError, description=description, media_type="application/json", generate_examples=False)


def _ok(container: Any, description: str) -> ResponseSpec:
    return ResponseSpec(container, description=description, media_type="application/json", generate_examples=False)


_INVALID = error_spec("A parameter or the body is invalid.")
_UNAUTHORIZED = error_spec("No valid bearer token (see ``WWW-Authenticate``).")
_NOT_FOUND = error_spec("No resource with this id.")
_CONFLICT = error_spec("The report is not in a status that allows this change.")
_UNPROCESSABLE = error_spec("The body is well formed but breaks a rule of the site (the message says which).")


def _list(container: Any, description: str) -> dict[int, ResponseSpec]:
    return {200: _ok(container, description), 400: _INVALID, 401: _UNAUTHORIZED}


def _one(container: Any, description: str) -> dict[int, ResponseSpec]:
    return {200: _ok(container, description), 400: _INVALID, 401: _UNAUTHORIZED, 404: _NOT_FOUND}

Id = Annotated[str, PathParameter(min_length=1, max_length=64, description="The unique identifier of the resource.")]


def error_body(status: int, message: str) -> tuple[str, bytes]:
    """Concur's v3 JSON error body: ``{"Message", "Server-Time", "Id"}``."""
    body = {"Message": message, "Server-Time": datetime.now(UTC).isoformat(), "Id": uuid.uuid4().hex.upper()}
    return "application/json", msgspec.json.encode(body)


def _json(value: Any, status: int = 200) -> Response[bytes]:
    return Response(ENCODER.encode(value), status_code=status, media_type="application/json")


def _instant(name: str, value: str | None) -> datetime | None:
    """``YYYY-MM-DD`` (midnight UTC) or an RFC 3339 time with a zone; anything else is a 400."""
    if value is None:
        return None
    try:
        if not _RFC3339.fullmatch(value):
            raise ValueError(value)
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)
        return datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        raise HTTPException(status_code=400, detail=f"{name}: expected YYYY-MM-DD or an RFC 3339 time") from None


def _between(value: Any, after: datetime | None, before: datetime | None) -> bool:
    if after is None and before is None:
        return True
    if value is None:
        return False
    moment = datetime.fromisoformat(value)
    return (after is None or moment >= after) and (before is None or moment < before)


def _base(request: Request[Any, Any, Any]) -> str:
    return str(request.base_url).rstrip("/")


def _page(
    request: Request[Any, Any, Any],
    docs: list[dict[str, Any]],
    type_: type[T],
    uri: Callable[[T], str],
    offset: str | None,
    limit: int,
) -> Response[bytes]:
    try:
        start = int(offset or 0)
    except ValueError:
        raise HTTPException(status_code=400, detail="offset: not a valid page offset") from None
    if start < 0:
        raise HTTPException(status_code=400, detail="offset: not a valid page offset")
    items = []
    for doc in docs[start : start + limit]:
        item = msgspec.convert(doc, type_)
        items.append(msgspec.structs.replace(item, uri=uri(item)))
    next_page = None
    if start + limit < len(docs):
        query = [(k, v) for k, v in request.query_params.multi_items() if k != "offset"]
        query.append(("offset", str(start + limit)))
        next_page = f"{_base(request)}{request.url.path}?{urlencode(query)}"
    return _json(Collection(Items=items, NextPage=next_page))


def _report_uri(request: Request[Any, Any, Any]) -> Callable[[ReportGet], str]:
    return lambda r: f"{_base(request)}/api/v3.0/expense/reports/{r.id}"


def _entry_uri(request: Request[Any, Any, Any]) -> Callable[[EntryGet], str]:
    return lambda e: f"{_base(request)}/api/v3.0/expense/entries/{e.id}"


def _report_view(request: Request[Any, Any, Any], doc: dict[str, Any]) -> ReportGet:
    report = msgspec.convert(doc, ReportGet)
    return msgspec.structs.replace(
        report,
        uri=_report_uri(request)(report),
        workflow_action_url=f"{_base(request)}/api/expense/expensereport/v1.1/report/{report.id}/WorkFlowAction",
    )


@get(
    "/api/v3.0/expense/reports",
    guards=[require_bearer],
    sync_to_thread=False,
    summary="Get reports",
    responses=_list(Collection[ReportGet], "One page of report headers."),
)
def list_reports(
    request: Request[Any, Any, Any],
    sandbox: Sandbox,
    offset: Offset = None,
    limit: Limit = 25,
    user: Annotated[str | None, QueryParameter(description="Owner login id, or ALL.", max_length=128)] = None,
    approval_status_code: Annotated[str | None, QueryParameter(name="approvalStatusCode", max_length=8)] = None,
    payment_status_code: Annotated[str | None, QueryParameter(name="paymentStatusCode", max_length=8)] = None,
    currency_code: Annotated[str | None, QueryParameter(name="currencyCode", max_length=3)] = None,
    country_code: Annotated[str | None, QueryParameter(name="countryCode", max_length=2)] = None,
    expense_type_code: Annotated[str | None, QueryParameter(name="expenseTypeCode", max_length=8)] = None,
    create_date_after: Annotated[str | None, _date("createDateAfter")] = None,
    create_date_before: Annotated[str | None, _date("createDateBefore")] = None,
    submit_date_after: Annotated[str | None, _date("submitDateAfter")] = None,
    submit_date_before: Annotated[str | None, _date("submitDateBefore")] = None,
    processing_payment_date_after: Annotated[str | None, _date("processingPaymentDateAfter")] = None,
    processing_payment_date_before: Annotated[str | None, _date("processingPaymentDateBefore")] = None,
    paid_date_after: Annotated[str | None, _date("paidDateAfter")] = None,
    paid_date_before: Annotated[str | None, _date("paidDateBefore")] = None,
    modified_date_after: Annotated[str | None, _date("modifiedDateAfter")] = None,
    modified_date_before: Annotated[str | None, _date("modifiedDateBefore")] = None,
) -> Response[bytes]:
    """Reports of all owners (``user=ALL``, the default) or of one owner, filtered, one page."""
    equals = {
        "OwnerLoginID": None if user in (None, "ALL") else user,
        "ApprovalStatusCode": approval_status_code,
        "PaymentStatusCode": payment_status_code,
        "CurrencyCode": currency_code,
        "Country": country_code,
    }
    windows = {
        "CreateDate": (
            _instant("createDateAfter", create_date_after),
            _instant("createDateBefore", create_date_before),
        ),
        "SubmitDate": (
            _instant("submitDateAfter", submit_date_after),
            _instant("submitDateBefore", submit_date_before),
        ),
        "ProcessingPaymentDate": (
            _instant("processingPaymentDateAfter", processing_payment_date_after),
            _instant("processingPaymentDateBefore", processing_payment_date_before),
        ),
        "PaidDate": (_instant("paidDateAfter", paid_date_after), _instant("paidDateBefore", paid_date_before)),
        "LastModifiedDate": (
            _instant("modifiedDateAfter", modified_date_after),
            _instant("modifiedDateBefore", modified_date_before),
        ),
    }
    with_type: set[str] | None = None
    if expense_type_code is not None:
        with_type = {e["ReportID"] for e in sandbox.store.find("entries", ExpenseTypeCode=expense_type_code)}
    docs = [
        doc
        for doc in sandbox.store.all("reports")
        if all(value is None or doc.get(key) == value for key, value in equals.items())
        and all(_between(doc.get(key), after, before) for key, (after, before) in windows.items())
        and (with_type is None or doc["ID"] in with_type)
    ]
    return _page(request, docs, ReportGet, _report_uri(request), offset, limit)


def _load(sandbox: SandboxState, collection: str, id: str, what: str) -> dict[str, Any]:
    doc = sandbox.store.get(collection, id)
    if doc is None:
        raise NotFoundException(f"{what} {id} was not found")
    return doc


@get(
    "/api/v3.0/expense/reports/{id:str}",
    guards=[require_bearer],
    sync_to_thread=False,
    summary="Get a report",
    responses=_one(ReportGet, "The report header."),
)
def get_report(request: Request[Any, Any, Any], sandbox: Sandbox, id: Id) -> Response[bytes]:
    """One report header."""
    return _json(_report_view(request, _load(sandbox, "reports", id, "report")))


@get(
    "/api/v3.0/expense/entries",
    guards=[require_bearer],
    sync_to_thread=False,
    summary="Get expense entries",
    responses=_list(Collection[EntryGet], "One page of expense entries."),
)
def list_entries(
    request: Request[Any, Any, Any],
    sandbox: Sandbox,
    offset: Offset = None,
    limit: Limit = 25,
    report_id: Annotated[str | None, QueryParameter(name="reportID", max_length=64)] = None,
    expense_type_code: Annotated[str | None, QueryParameter(name="expenseTypeCode", max_length=8)] = None,
    payment_type_id: Annotated[str | None, QueryParameter(name="paymentTypeID", max_length=16)] = None,
    user: Annotated[str | None, QueryParameter(max_length=128)] = None,
) -> Response[bytes]:
    """Entries of all reports, or of one report, filtered, one page."""
    equals = {
        "ReportID": report_id,
        "ExpenseTypeCode": expense_type_code,
        "PaymentTypeID": payment_type_id,
        "ReportOwnerID": None if user in (None, "ALL") else user,
    }
    docs = sandbox.store.find("entries", **{k: v for k, v in equals.items() if v is not None})
    return _page(request, docs, EntryGet, _entry_uri(request), offset, limit)


@get(
    "/api/v3.0/expense/entries/{id:str}",
    guards=[require_bearer],
    sync_to_thread=False,
    summary="Get an entry",
    responses=_one(EntryGet, "The expense entry."),
)
def get_entry(request: Request[Any, Any, Any], sandbox: Sandbox, id: Id) -> Response[bytes]:
    """One expense entry."""
    entry = msgspec.convert(_load(sandbox, "entries", id, "entry"), EntryGet)
    return _json(msgspec.structs.replace(entry, uri=_entry_uri(request)(entry)))


@get(
    "/api/v3.0/common/users",
    guards=[require_bearer],
    sync_to_thread=False,
    summary="Get users",
    responses=_list(Collection[User], "One page of employees."),
)
def list_users(
    request: Request[Any, Any, Any],
    sandbox: Sandbox,
    offset: Offset = None,
    limit: Limit = 25,
    login_id: Annotated[str | None, QueryParameter(name="loginID", max_length=128)] = None,
    employee_id: Annotated[str | None, QueryParameter(name="employeeID", max_length=64)] = None,
    last_name: Annotated[str | None, QueryParameter(name="lastName", max_length=64)] = None,
    is_active: Annotated[bool | None, QueryParameter(name="isActive")] = None,
    ledger_code: Annotated[str | None, QueryParameter(name="ledgerCode", max_length=48)] = None,
) -> Response[bytes]:
    """Employees, filtered, one page."""
    equals = {
        "LoginID": login_id,
        "EmployeeID": employee_id,
        "LastName": last_name,
        "Active": is_active,
        "LedgerCode": ledger_code,
    }
    docs = sandbox.store.find("users", **{k: v for k, v in equals.items() if v is not None})
    base = _base(request)
    return _page(request, docs, User, lambda u: f"{base}/api/v3.0/common/users?loginID={u.login_id}", offset, limit)


@get(
    "/api/v3.0/expense/companycardtransactions",
    guards=[require_bearer],
    sync_to_thread=False,
    summary="Get company card transactions",
    responses=_list(Collection[CardTransaction], "One page of card transactions."),
)
def list_card_transactions(
    request: Request[Any, Any, Any],
    sandbox: Sandbox,
    offset: Offset = None,
    limit: Limit = 25,
    user: Annotated[str | None, QueryParameter(description="Card holder login id, or ALL.", max_length=128)] = None,
    status: Annotated[str | None, QueryParameter(description="UN unassigned, AS assigned.", max_length=2)] = None,
    transaction_date_after: Annotated[str | None, _date("transactionDateAfter")] = None,
) -> Response[bytes]:
    """Corporate card transactions, filtered, one page."""
    equals = {"EmployeeLoginID": None if user in (None, "ALL") else user, "Status": status}
    after = _instant("transactionDateAfter", transaction_date_after)
    docs = [
        doc
        for doc in sandbox.store.find("cards", **{k: v for k, v in equals.items() if v is not None})
        if _between(doc.get("TransactionDate"), after, None)
    ]
    base = _base(request)
    return _page(
        request, docs, CardTransaction, lambda c: f"{base}/api/v3.0/expense/companycardtransactions/{c.id}",
        offset, limit,
    )


# --- creating reports and entries -------------------------------------------------------------


def _new_id(sandbox: SandboxState, collection: str) -> str:
    """A new report or entry id like the seeded ones (20 hex digits), drawn from the sandbox's rng."""
    while True:
        id = f"{sandbox.rng.getrandbits(80):020X}"
        if sandbox.store.get(collection, id) is None:
            return id


def _day(name: str, value: str) -> datetime:
    """The date of ``YYYY-MM-DD`` or of an RFC 3339 time (in its own offset), at midnight UTC."""
    instant = _instant(name, value)
    assert instant is not None  # value is not None
    return datetime.combine(instant.date(), datetime.min.time(), tzinfo=UTC)


def _created(uri: str, id: str) -> Response[bytes]:
    return _json(CreateResponse(id=id, uri=uri))


@post(
    "/api/v3.0/expense/reports",
    guards=[require_bearer],
    sync_to_thread=False,
    status_code=200,
    summary="Create a new report",
    responses={
        200: _ok(CreateResponse, "The report was created: its ID and URI."),
        400: _INVALID,
        401: _UNAUTHORIZED,
        404: error_spec("No user with this login ID."),
        422: _UNPROCESSABLE,
    },
    dto=ExpenseBody[ReportPost],
    return_dto=None,
)
def create_report(
    request: Request[Any, Any, Any],
    sandbox: Sandbox,
    data: JSONBody[ReportPost],
    user: Annotated[str, QueryParameter(
        min_length=1, max_length=128,
        description="The login ID of the report owner. Required: the sandbox's tokens are company-level"
                    " (client credentials), so they name no user.",
    )],
) -> Response[bytes]:
    """A new report of ``user``, not submitted, with the owner's company, cost center, currency and approver."""
    found = sandbox.store.find("users", LoginID=user)
    if not found:
        raise NotFoundException(f"user {user} was not found")
    owner = msgspec.convert(found[0], User)
    if not owner.active:
        raise HTTPException(status_code=422, detail=f"user {user} is inactive and cannot own new reports")
    approvers = sandbox.store.find("users", LoginID=owner.approver_login_id) if owner.approver_login_id else []
    approver = msgspec.convert(approvers[0], User) if approvers else None
    user_defined = _day("UserDefinedDate", data.user_defined_date) if data.user_defined_date else None
    report = new_report(data, _new_id(sandbox, "reports"), owner, approver, user_defined, datetime.now(UTC))
    sandbox.store.put("reports", report.id, msgspec.to_builtins(report))
    return _created(_report_uri(request)(report), report.id)


@post(
    "/api/v3.0/expense/entries",
    guards=[require_bearer],
    sync_to_thread=False,
    status_code=200,
    summary="Create expense entry",
    responses={
        200: _ok(CreateResponse, "The entry was created: its ID and URI."),
        400: _INVALID,
        401: _UNAUTHORIZED,
        404: error_spec("No report with this ReportID (of this user, when user is given)."),
        409: error_spec("The report is submitted or approved: entries are added while it is not submitted"
                        " or sent back."),
        422: _UNPROCESSABLE,
    },
    dto=ExpenseBody[EntryPost],
    return_dto=None,
)
def create_entry(
    request: Request[Any, Any, Any],
    sandbox: Sandbox,
    data: JSONBody[EntryPost],
    user: Annotated[str | None, QueryParameter(
        min_length=1, max_length=128,
        description="The login ID of the report owner, or ALL (optional: the report names its owner).",
    )] = None,
) -> Response[bytes]:
    """Add an entry to a report that is not submitted (or sent back); the report's totals follow."""
    doc = sandbox.store.get("reports", data.report_id)
    named = user not in (None, "ALL")  # as the list routes read it: ALL is any owner
    if doc is None or (named and doc["OwnerLoginID"] != user):
        owner = f" of user {user}" if named else ""
        raise NotFoundException(f"report {data.report_id}{owner} was not found")
    report = msgspec.convert(doc, ReportGet)
    if report.approval_status_code not in ("A_NOTF", "A_RESU"):
        status = report.approval_status_code
        raise _conflict(f"report {report.id} is {APPROVAL_NAMES.get(status, status)} ({status}):"
                        " entries can no longer be added")
    now = datetime.now(UTC)
    entry = new_entry(data, _new_id(sandbox, "entries"), report, _day("TransactionDate", data.transaction_date), now)
    entries = [msgspec.convert(e, EntryGet) for e in sandbox.store.find("entries", ReportID=report.id)]
    sandbox.store.put("entries", entry.id, msgspec.to_builtins(entry))
    updated = with_totals(report, [*entries, entry], now)
    sandbox.store.put("reports", report.id, msgspec.to_builtins(updated))
    return _created(_entry_uri(request)(entry), entry.id)


# --- status changes ---------------------------------------------------------------------------


def _change(
    request: Request[Any, Any, Any],
    sandbox: SandboxState,
    doc: dict[str, Any],
    *,
    approval: str | None = None,
    payment: str | None = None,
    step_code: str | None = None,
    **fields: Any,
) -> None:
    """Apply a status change to a stored report and send its ``statusChanged`` event."""
    report = msgspec.convert(doc, ReportGet)
    now = datetime.now(UTC)
    changed = msgspec.structs.replace(
        report,
        approval_status_code=approval or report.approval_status_code,
        approval_status_name=APPROVAL_NAMES[approval or report.approval_status_code],
        payment_status_code=payment or report.payment_status_code,
        payment_status_name=PAYMENT_NAMES[payment or report.payment_status_code],
        last_modified_date=now,
        **fields,
    )
    stored: dict[str, Any] = msgspec.to_builtins(changed)
    sandbox.store.put("reports", report.id, stored)
    owner = sandbox.store.find("users", LoginID=report.owner_login_id)
    owner_id = owner[0]["ID"] if owner else None
    event_id = str(uuid.UUID(int=sandbox.rng.getrandbits(128), version=4))
    event = StatusChangedEvent(
        id=event_id,
        correlation_id=request.headers.get("x-correlation-id") or event_id,
        event_type="statusChanged",
        topic="public.concur.expense.report",
        subtopic=COMPANY_ID,
        time_stamp=now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        facts=StatusChangedFacts(
            company_id=COMPANY_ID,
            user_id=owner_id,
            acting_user_id=None,
            report_id=report.id,
            previous_approval_status=report.approval_status_code,
            current_approval_status=changed.approval_status_code,
            previous_payment_status=report.payment_status_code,
            current_payment_status=changed.payment_status_code,
            step_code=step_code,
            href=f"{_base(request)}/expensereports/v4/users/{owner_id}/context/TRAVELER/reports/{report.id}",
        ),
    )
    sandbox.emit("statusChanged", msgspec.to_builtins(event))


def _conflict(message: str) -> HTTPException:
    return HTTPException(status_code=409, detail=message)


_IN_APPROVAL = ("A_PEND", "A_ACCO", "A_EXTV", "A_PBDG", "A_PECO", "A_FILE")


@post(
    "/api/expense/expensereport/v1.1/report/{id:str}/WorkFlowAction",
    guards=[require_bearer],
    sync_to_thread=False,
    status_code=200,
    summary="Post a report workflow action",
    responses={**_one(WorkflowResult, "The action was applied."), 409: _CONFLICT},
    dto=StrictBody[WorkflowAction],
    return_dto=None,
)
def workflow_action(
    request: Request[Any, Any, Any], sandbox: Sandbox, id: Id, data: JSONBody[WorkflowAction]
) -> Response[bytes]:
    """Submit, approve, send back or recall a report; each change sends ``statusChanged``."""
    doc = _load(sandbox, "reports", id, "report")
    current = doc["ApprovalStatusCode"]
    now = datetime.now(UTC)
    comment = {"last_comment": data.Comment} if data.Comment else {}
    if data.Action == "Submit":
        if current not in ("A_NOTF", "A_RESU"):
            raise _conflict(f"report {id} cannot be submitted in status {current}")
        if not sandbox.store.find("entries", ReportID=id):
            raise _conflict(f"report {id} has no expense entries: add one before submitting")
        _change(request, sandbox, doc, approval="A_PEND", submit_date=now, **comment)
    elif data.Action == "Approve":
        if current not in _IN_APPROVAL:
            raise _conflict(f"report {id} is not pending approval (status {current})")
        _change(
            request, sandbox, doc, approval="A_APPR", processing_payment_date=now, receipts_received=True, **comment
        )
    else:  # Send Back, Recall
        if current not in _IN_APPROVAL:
            raise _conflict(f"report {id} is not in approval (status {current})")
        _change(request, sandbox, doc, approval="A_RESU", step_code="SENDBACK", ever_sent_back=True, **comment)
    return _json(WorkflowResult(Message="SUCCESS", Status="SUCCESS"))


@patch(
    "/expensereports/v4/reports/{id:str}",
    guards=[require_bearer],
    sync_to_thread=False,
    status_code=204,
    summary="Update the payment status of an approved report",
    responses={400: _INVALID, 401: _UNAUTHORIZED, 404: _NOT_FOUND, 409: _CONFLICT},
    dto=StrictBody[ReportStatusPatch],
    return_dto=None,
)
def patch_report(
    request: Request[Any, Any, Any], sandbox: Sandbox, id: Id, data: JSONBody[ReportStatusPatch]
) -> None:
    """Move an approved report to ``P_PROC`` (posted) or ``P_PAID`` (paid).

    Repeating a change the report already went through changes nothing and sends no event,
    so a caller may safely retry; going backwards, paying an unposted report or posting
    under a second document number is refused with 409.
    """
    doc = _load(sandbox, "reports", id, "report")
    if doc["ApprovalStatusCode"] != "A_APPR":
        raise _conflict(f"report {id} is not approved (status {doc['ApprovalStatusCode']})")
    current = doc["PaymentStatusCode"]
    posted_as = (doc.get("Custom20") or {}).get("Value")
    comment = {"last_comment": data.comment} if data.comment else {}
    if data.payment_status == "P_PROC":
        if current in ("P_PROC", "P_PAID", "P_PAYC"):
            if data.external_document_id not in (None, posted_as):
                raise _conflict(f"report {id} is already posted as document {posted_as}")
            if current != "P_PROC":
                raise _conflict(f"report {id} is already paid")
            return
        document = CustomField(type="Text", value=data.external_document_id) if data.external_document_id else None
        _change(request, sandbox, doc, payment="P_PROC", step_code="POSTED", custom20=document, **comment)
        return
    if current in ("P_PAID", "P_PAYC"):
        return
    if current != "P_PROC":
        raise _conflict(f"report {id} must be posted (P_PROC) before it is paid; it is {current}")
    _change(request, sandbox, doc, payment="P_PAID", step_code="PAIDREPORT", paid_date=datetime.now(UTC), **comment)


ROUTES = [
    list_reports,
    get_report,
    create_report,
    list_entries,
    create_entry,
    get_entry,
    list_users,
    list_card_transactions,
    workflow_action,
    patch_report,
]
"""Every vendor handler of the sandbox (the token endpoint is added by ``create_app``)."""
