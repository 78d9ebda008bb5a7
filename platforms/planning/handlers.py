"""The planning sandbox's API, shaped like SAP Concur Budget v4 (``/budget/v4``).

Concur's own resources: fiscal years, budget item headers (one budget per entity and cost
center and fiscal year, with ``budgetItemDetails`` per fiscal period) and adjustments (spend
and pending amounts booked against a budget). Sandbox extensions, in the same style, where a
system API needs more than Concur publishes: ``budgetItemDetail`` as a filterable collection,
budget versions, and a readable, ``externalReference``-keyed adjustment log.

Consumption is an adjustment with ``amountType`` ``PENDING_AMOUNT`` (a commitment) or
``SPENT_AMOUNT`` (an actual). Balances follow Concur's ``BudgetAmount``: available = budget -
spent - pending; ``threshold`` is UNDER below 80 % consumed, ALERT from 80 %, OVER from 100 %.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from litestar import Request, Response, Router, get, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import Body, PathParameter, QueryParameter

from platforms.kit.app import SandboxState
from platforms.planning.auth import require_basic
from platforms.planning.bodies import MAX_ADJUSTMENTS, AdjustmentIn, StrictBody
from platforms.planning.errors import ConcurError, exception_handlers
from platforms.planning.schemas import (
    AdjustmentDoc,
    AdjustmentPage,
    BudgetItemDetailDoc,
    BudgetItemHeaderDoc,
    BudgetVersionDoc,
    DetailPage,
    FiscalYearDoc,
    HeaderPage,
    answer,
    error_specs,
)

__all__ = ["BASE", "AdjustmentIn", "api_router"]

BASE = "/budget/v4"
Sandbox = NamedDependency[SandboxState]
Id = Annotated[str, PathParameter(min_length=1, max_length=64, description="The id of the object.")]
Offset = Annotated[int, QueryParameter(ge=0, le=10**9, description="Rows to skip.")]
Limit = Annotated[int, QueryParameter(ge=1, le=1000, description="Page size.")]

ALERT_PERCENT = Decimal(80)
MINOR_UNITS = {"USD": 2, "EUR": 2, "GBP": 2, "JPY": 0, "CHF": 2}


def _ok(type_: Any, description: str) -> ResponseSpec:
    return ResponseSpec(type_, description=description, generate_examples=False)


def _amounts(budget: Decimal, spent: Decimal, pending: Decimal) -> dict[str, Any]:
    """Concur's BudgetAmount for a budget and what was spent and committed against it."""
    used = spent + pending
    percent = (used * 100 / budget).quantize(Decimal("0.01")) if budget else Decimal(0)
    threshold = "OVER" if percent >= 100 else "ALERT" if percent >= ALERT_PERCENT else "UNDER"
    return {"adjustedBudgetAmount": str(budget), "spendAmount": str(spent), "pendingAmount": str(pending),
            "availableAmount": str(budget - used), "consumedPercent": str(percent), "threshold": threshold,
            "unExpensedAmount": "0", "unExpensedSettings": False}


def _detail_view(doc: dict[str, Any]) -> dict[str, Any]:
    view = {k: v for k, v in doc.items() if k not in ("spendAmount", "pendingAmount")}
    view["budgetAmounts"] = _amounts(Decimal(doc["amount"]), Decimal(doc["spendAmount"]), Decimal(doc["pendingAmount"]))
    return view


def _header_view(sandbox: SandboxState, header: dict[str, Any]) -> dict[str, Any]:
    details = [_detail_view(d) for d in sandbox.store.find("budget_details", budgetItemHeaderId=header["id"])]
    spent = sum((Decimal(d["budgetAmounts"]["spendAmount"]) for d in details), Decimal(0))
    pending = sum((Decimal(d["budgetAmounts"]["pendingAmount"]) for d in details), Decimal(0))
    return {**header, "budgetAmounts": _amounts(Decimal(header["annualBudget"]), spent, pending),
            "budgetItemDetails": details}


def _page(request: Request[Any, Any, Any], key: str, items: list[Any], offset: int, limit: int) -> dict[str, Any]:
    """Concur's paged result: items under ``key`` plus href/next/previous/offset/limit/totalRows."""
    params = {k: v for k, v in request.query_params.items() if k not in ("offset", "limit")}

    def href(at: int) -> str:
        return f"{request.url.path}?{urlencode({**params, 'offset': at, 'limit': limit})}"

    return {
        key: items[offset:offset + limit], "href": href(offset), "limit": limit, "offset": offset,
        "next": {"href": href(offset + limit)} if offset + limit < len(items) else None,
        "previous": {"href": href(max(0, offset - limit))} if offset > 0 else None,
        "totalRows": len(items),
    }


def _cost_object(doc: dict[str, Any], list_name: str) -> str | None:
    return next((c["code"] for c in doc["costObjects"] if c["listName"] == list_name), None)


@get(f"{BASE}/fiscalYear", sync_to_thread=False,
     responses={200: _ok(list[FiscalYearDoc], "Every fiscal year (a bare array, as Concur answers)."),
                **error_specs()})
def list_fiscal_years(sandbox: Sandbox) -> Response[bytes]:
    """Fiscal years with their monthly periods (Concur answers a bare array here)."""
    return answer(list[FiscalYearDoc], sandbox.store.all("fiscal_years"))


@get(f"{BASE}/budgetItemHeader", sync_to_thread=False,
     responses={200: _ok(HeaderPage, "One page of budgets."), **error_specs()})
def list_headers(request: Request[Any, Any, Any], sandbox: Sandbox, offset: Offset = 0,
                 limit: Limit = 25) -> Response[bytes]:
    """Budgets, one page at a time, each with its lines and balances."""
    headers = sandbox.store.all("budget_headers")
    page = _page(request, "budgetItemHeaders", headers, offset, limit)
    page["budgetItemHeaders"] = [_header_view(sandbox, h) for h in page["budgetItemHeaders"]]
    return answer(HeaderPage, page)


def _header(sandbox: SandboxState, header_id: str) -> dict[str, Any]:
    header = sandbox.store.get("budget_headers", header_id)
    if header is None:
        raise ConcurError(404, f"no budget item header {header_id}")
    return header


@get(f"{BASE}/budgetItemHeader/{{id:str}}", sync_to_thread=False,
     responses={200: _ok(BudgetItemHeaderDoc, "The budget with its lines."), **error_specs(404)})
def get_header(sandbox: Sandbox, id: Id) -> Response[bytes]:
    """One budget with its lines and balances."""
    return answer(BudgetItemHeaderDoc, _header_view(sandbox, _header(sandbox, id)))


@get(f"{BASE}/budgetItemHeader/{{id:str}}/versions", sync_to_thread=False,
     responses={200: _ok(list[BudgetVersionDoc], "Every version, the active one last."), **error_specs(404)})
def list_versions(sandbox: Sandbox, id: Id) -> Response[bytes]:
    """Extension: every version of a budget (the active one last), with its amounts per period."""
    _header(sandbox, id)
    versions = sorted(sandbox.store.find("budget_versions", budgetItemHeaderId=id), key=lambda v: v["number"])
    return answer(list[BudgetVersionDoc], versions)


@get(f"{BASE}/budgetItemDetail", sync_to_thread=False,
     responses={200: _ok(DetailPage, "One page of budget lines."), **error_specs()})
def list_details(
    request: Request[Any, Any, Any],
    sandbox: Sandbox,
    entity: Annotated[str | None, QueryParameter(max_length=16, description="Legal entity code.")] = None,
    costCenter: Annotated[str | None, QueryParameter(  # noqa: N803 - vendor style
        max_length=16, description="Cost center code.")] = None,
    fiscalPeriodName: Annotated[str | None, QueryParameter(  # noqa: N803
        max_length=32, description="Fiscal period, e.g. `2026-02`.")] = None,
    fiscalYear: Annotated[int | None, QueryParameter(ge=1900, le=2999, description="Fiscal year.")] = None,  # noqa: N803
    offset: Offset = 0,
    limit: Limit = 100,
) -> Response[bytes]:
    """Extension: budget lines (details) filtered by entity, cost center, fiscal year and period."""
    details = [
        d for d in sandbox.store.all("budget_details")
        if (entity is None or _cost_object(d, "Legal Entity") == entity)
        and (costCenter is None or _cost_object(d, "Cost Center") == costCenter)
        and (fiscalPeriodName is None or d["fiscalPeriod"]["name"] == fiscalPeriodName)
        and (fiscalYear is None or d["fiscalPeriod"]["startDate"].startswith(f"{fiscalYear}-"))
    ]
    page = _page(request, "budgetItemDetails", details, offset, limit)
    page["budgetItemDetails"] = [_detail_view(d) for d in page["budgetItemDetails"]]
    return answer(DetailPage, page)


@get(f"{BASE}/budgetItemDetail/{{id:str}}", sync_to_thread=False,
     responses={200: _ok(BudgetItemDetailDoc, "The budget line with its balances."), **error_specs(404)})
def get_detail(sandbox: Sandbox, id: Id) -> Response[bytes]:
    """Extension: one budget line with its balances."""
    doc = sandbox.store.get("budget_details", id)
    if doc is None:
        raise ConcurError(404, f"no budget item detail {id}")
    return answer(BudgetItemDetailDoc, _detail_view(doc))


@get(f"{BASE}/adjustments", sync_to_thread=False,
     responses={200: _ok(AdjustmentPage, "One page of the adjustment log."), **error_specs()})
def list_adjustments(
    request: Request[Any, Any, Any],
    sandbox: Sandbox,
    budgetItemDetailId: Annotated[str | None, QueryParameter(  # noqa: N803 - vendor style
        max_length=64, description="Only adjustments of this budget line.")] = None,
    externalReference: Annotated[str | None, QueryParameter(  # noqa: N803
        max_length=64, description="Only the adjustment booked with this reference.")] = None,
    amountType: Annotated[Literal["PENDING_AMOUNT", "SPENT_AMOUNT"] | None, QueryParameter(  # noqa: N803
        description="Only commitments (PENDING_AMOUNT) or actuals (SPENT_AMOUNT).")] = None,
    offset: Offset = 0,
    limit: Limit = 100,
) -> Response[bytes]:
    """Extension: the adjustment log, filtered (newest last)."""
    equals = {k: v for k, v in {"budgetItemDetailId": budgetItemDetailId, "externalReference": externalReference,
                                "amountType": amountType}.items() if v is not None}
    return answer(AdjustmentPage,
                  _page(request, "adjustments", sandbox.store.find("adjustments", **equals), offset, limit))


def _unprocessable(message: str, error_id: str, field: str, problem: str) -> ConcurError:
    """A well-formed request that a business rule refuses (422)."""
    return ConcurError(422, message, error_id=error_id, fields={field: problem})


def _resolve_line(sandbox: SandboxState, item: AdjustmentIn, index: int) -> dict[str, Any]:
    field = f"[{index}]"
    if item.budgetItemDetailId:
        doc = sandbox.store.get("budget_details", item.budgetItemDetailId)
        if doc is None:
            raise ConcurError(404, f"no budget item detail {item.budgetItemDetailId}",
                              fields={f"{field}.budgetItemDetailId": "unknown"})
        return doc
    found = [d for d in sandbox.store.find("budget_details", budgetName=item.budgetItemName)
             if d["fiscalPeriod"]["name"] == item.fiscalPeriodName]
    if not found:
        raise ConcurError(404, f"no budget {item.budgetItemName!r} in period {item.fiscalPeriodName}",
                          fields={f"{field}.budgetItemName": "unknown"})
    return found[0]


def _checked_amount(item: AdjustmentIn, line: dict[str, Any], index: int) -> Decimal:
    """The amount, at the currency's scale; refuses a currency or scale the line's budget does not take."""
    currency = line["currencyCode"]
    if item.currencyCode and item.currencyCode != currency:
        raise _unprocessable(f"the budget is in {currency}, not {item.currencyCode}", "currency.mismatch",
                             f"[{index}].currencyCode", "currency mismatch")
    places = MINOR_UNITS.get(currency, 2)
    exponent = item.amount.as_tuple().exponent
    if not item.amount.is_finite() or not isinstance(exponent, int) or -exponent > places:
        raise _unprocessable(f"{currency} amounts allow {places} decimals", "amount.scale",
                             f"[{index}].amount", "too many decimals")
    if line["budgetItemDetailStatusType"] != "OPEN":
        raise _unprocessable(f"fiscal period {line['fiscalPeriod']['name']} is closed for this budget",
                             "period.closed", f"[{index}]", "period closed")
    return item.amount.quantize(Decimal(1).scaleb(-places))


@post(f"{BASE}/adjustments", sync_to_thread=False, dto=StrictBody[list[AdjustmentIn]], return_dto=None,
      responses={201: _ok(list[AdjustmentDoc], "The adjustments booked, in the order given."),
                 **error_specs(404, 409, 422)})
def save_adjustments(
    sandbox: Sandbox,
    data: Annotated[list[AdjustmentIn], Body(
        min_items=1, max_items=MAX_ADJUSTMENTS,
        description="The adjustments to book, all or nothing (Concur's BudgetAdjustmentsExternal).")],
    useMonthlyRollingUpdate: Annotated[bool, QueryParameter(  # noqa: N803 - vendor parameter
        description="Concur's rolling update; the sandbox keeps every adjustment either way.")] = False,
) -> Response[bytes]:
    """Book spend (actuals) or pending (commitments) amounts; all or nothing.

    An ``externalReference`` already booked answers 409, so a retried request never books twice.
    """
    lines: list[tuple[dict[str, Any], Decimal]] = []
    references: set[str] = set()
    for index, item in enumerate(data):
        line = _resolve_line(sandbox, item, index)
        amount = _checked_amount(item, line, index)
        reference = item.externalReference
        if reference and (reference in references or sandbox.store.find("adjustments", externalReference=reference)):
            raise ConcurError(409, f"an adjustment with externalReference {reference} exists",
                              error_id="duplicate.reference", fields={f"[{index}].externalReference": "duplicate"})
        if reference:
            references.add(reference)
        lines.append((line, amount))
    saved = []
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    for item, (line, amount) in zip(data, lines, strict=True):
        line = sandbox.store.get("budget_details", line["id"]) or line  # earlier items may have moved it
        key = "spendAmount" if item.amountType == "SPENT_AMOUNT" else "pendingAmount"
        line[key] = str(Decimal(line[key]) + amount)
        sandbox.store.put("budget_details", line["id"], line)
        adjustment_id = str(uuid.UUID(int=sandbox.rng.getrandbits(128), version=4))
        adjustment = {
            "id": adjustment_id, "externalReference": item.externalReference, "budgetItemDetailId": line["id"],
            "budgetItemName": line["budgetName"], "fiscalPeriodName": line["fiscalPeriod"]["name"],
            "amountType": item.amountType, "adjustmentType": item.adjustmentType, "amount": str(amount),
            "currencyCode": line["currencyCode"], "description": item.description,
            "transactionDate": (item.transactionDate or dt.date.fromisoformat(stamp[:10])).isoformat(),
            "createdDate": stamp,
        }
        sandbox.store.put("adjustments", adjustment_id, adjustment)
        saved.append(adjustment)
    return answer(list[AdjustmentDoc], saved, 201)


def api_router() -> Router:
    """Every planning API route, behind Basic authentication and with Concur errors."""
    return Router(
        path="/",
        route_handlers=[list_fiscal_years, list_headers, get_header, list_versions, list_details, get_detail,
                        list_adjustments, save_adjustments],
        guards=[require_basic],
        exception_handlers=exception_handlers,
    )
