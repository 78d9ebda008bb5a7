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
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlencode

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.di import NamedDependency
from litestar.params import PathParameter, QueryParameter, RawBody

from platforms.kit.app import SandboxState
from platforms.planning.auth import require_basic
from platforms.planning.errors import ConcurError, exception_handlers

__all__ = ["BASE", "AdjustmentIn", "api_router"]

BASE = "/budget/v4"
Sandbox = NamedDependency[SandboxState]
Id = Annotated[str, PathParameter(min_length=1, max_length=64)]
Offset = Annotated[int, QueryParameter(ge=0, le=10**9)]
Limit = Annotated[int, QueryParameter(ge=1, le=1000)]
T = TypeVar("T")

ALERT_PERCENT = Decimal(80)
MINOR_UNITS = {"USD": 2, "EUR": 2, "GBP": 2, "JPY": 0, "CHF": 2}
_AMOUNTS = frozenset({"amount", "annualBudget", "adjustedBudgetAmount", "availableAmount", "pendingAmount",
                      "spendAmount", "consumedPercent", "unExpensedAmount"})
_encoder = msgspec.json.Encoder(decimal_format="number")


class AdjustmentIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """One element of ``POST /budget/v4/adjustments`` (Concur's BudgetAdjustmentsExternal + extensions)."""

    amountType: Literal["PENDING_AMOUNT", "SPENT_AMOUNT"]  # noqa: N815 - vendor field
    amount: Decimal
    adjustmentType: Literal["EXPENSE", "PAYMENT_REQUEST", "PURCHASE_REQUEST", "REQUEST"] = "EXPENSE"  # noqa: N815
    budgetItemDetailId: str | None = None  # noqa: N815 - extension: the line itself
    budgetItemName: str | None = None  # noqa: N815 - Concur: the budget by name ...
    fiscalPeriodName: str | None = None  # noqa: N815 - ... and the period by name
    externalReference: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None  # noqa: N815
    currencyCode: Annotated[str, msgspec.Meta(min_length=3, max_length=3)] | None = None  # noqa: N815
    description: Annotated[str, msgspec.Meta(max_length=255)] | None = None
    transactionDate: dt.date | None = None  # noqa: N815 - vendor field


def _render(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: Decimal(v) if k in _AMOUNTS and isinstance(v, str) else _render(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v) for v in value]
    return value


def _json(content: Any, status: int = 200) -> Response[bytes]:
    return Response(_encoder.encode(_render(content)), status_code=status, media_type="application/json")


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


@get(f"{BASE}/fiscalYear", sync_to_thread=False)
def list_fiscal_years(sandbox: Sandbox) -> Response[bytes]:
    """Fiscal years with their monthly periods (Concur answers a bare array here)."""
    return _json(sandbox.store.all("fiscal_years"))


@get(f"{BASE}/budgetItemHeader", sync_to_thread=False)
def list_headers(request: Request[Any, Any, Any], sandbox: Sandbox, offset: Offset = 0,
                 limit: Limit = 25) -> Response[bytes]:
    """Budgets, one page at a time, each with its lines and balances."""
    headers = sandbox.store.all("budget_headers")
    page = _page(request, "budgetItemHeaders", headers, offset, limit)
    page["budgetItemHeaders"] = [_header_view(sandbox, h) for h in page["budgetItemHeaders"]]
    return _json(page)


def _header(sandbox: SandboxState, header_id: str) -> dict[str, Any]:
    header = sandbox.store.get("budget_headers", header_id)
    if header is None:
        raise ConcurError(404, f"no budget item header {header_id}")
    return header


@get(f"{BASE}/budgetItemHeader/{{id:str}}", sync_to_thread=False)
def get_header(sandbox: Sandbox, id: Id) -> Response[bytes]:
    """One budget with its lines and balances."""
    return _json(_header_view(sandbox, _header(sandbox, id)))


@get(f"{BASE}/budgetItemHeader/{{id:str}}/versions", sync_to_thread=False)
def list_versions(sandbox: Sandbox, id: Id) -> Response[bytes]:
    """Extension: every version of a budget (the active one last), with its amounts per period."""
    _header(sandbox, id)
    versions = sorted(sandbox.store.find("budget_versions", budgetItemHeaderId=id), key=lambda v: v["number"])
    return _json(versions)


@get(f"{BASE}/budgetItemDetail", sync_to_thread=False)
def list_details(
    request: Request[Any, Any, Any],
    sandbox: Sandbox,
    entity: Annotated[str | None, QueryParameter(max_length=16)] = None,
    costCenter: Annotated[str | None, QueryParameter(max_length=16)] = None,  # noqa: N803 - vendor style
    fiscalPeriodName: Annotated[str | None, QueryParameter(max_length=32)] = None,  # noqa: N803
    fiscalYear: Annotated[int | None, QueryParameter(ge=1900, le=2999)] = None,  # noqa: N803
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
    return _json(page)


@get(f"{BASE}/budgetItemDetail/{{id:str}}", sync_to_thread=False)
def get_detail(sandbox: Sandbox, id: Id) -> Response[bytes]:
    """Extension: one budget line with its balances."""
    doc = sandbox.store.get("budget_details", id)
    if doc is None:
        raise ConcurError(404, f"no budget item detail {id}")
    return _json(_detail_view(doc))


@get(f"{BASE}/adjustments", sync_to_thread=False)
def list_adjustments(
    request: Request[Any, Any, Any],
    sandbox: Sandbox,
    budgetItemDetailId: Annotated[str | None, QueryParameter(max_length=64)] = None,  # noqa: N803
    externalReference: Annotated[str | None, QueryParameter(max_length=64)] = None,  # noqa: N803
    amountType: Annotated[Literal["PENDING_AMOUNT", "SPENT_AMOUNT"] | None, QueryParameter()] = None,  # noqa: N803
    offset: Offset = 0,
    limit: Limit = 100,
) -> Response[bytes]:
    """Extension: the adjustment log, filtered (newest last)."""
    equals = {k: v for k, v in {"budgetItemDetailId": budgetItemDetailId, "externalReference": externalReference,
                                "amountType": amountType}.items() if v is not None}
    return _json(_page(request, "adjustments", sandbox.store.find("adjustments", **equals), offset, limit))


def _resolve_line(sandbox: SandboxState, item: AdjustmentIn, index: int) -> dict[str, Any]:
    field = f"[{index}]"
    if item.budgetItemDetailId:
        doc = sandbox.store.get("budget_details", item.budgetItemDetailId)
        if doc is None:
            raise ConcurError(404, f"no budget item detail {item.budgetItemDetailId}",
                              fields={f"{field}.budgetItemDetailId": "unknown"})
        return doc
    if not (item.budgetItemName and item.fiscalPeriodName):
        raise ConcurError(400, "name the line: budgetItemDetailId, or budgetItemName and fiscalPeriodName",
                          fields={f"{field}.budgetItemDetailId": "required"})
    found = [d for d in sandbox.store.find("budget_details", budgetName=item.budgetItemName)
             if d["fiscalPeriod"]["name"] == item.fiscalPeriodName]
    if not found:
        raise ConcurError(404, f"no budget {item.budgetItemName!r} in period {item.fiscalPeriodName}",
                          fields={f"{field}.budgetItemName": "unknown"})
    return found[0]


@post(f"{BASE}/adjustments", sync_to_thread=False)
def save_adjustments(sandbox: Sandbox, body: RawBody) -> Response[bytes]:
    """Book spend (actuals) or pending (commitments) amounts; all or nothing.

    An ``externalReference`` already booked answers 409, so a retried request never books twice.
    """
    try:
        items = msgspec.json.decode(body or b"null", type=list[AdjustmentIn])
    except msgspec.ValidationError as exc:
        raise ConcurError(400, f"the request body is not valid: {exc}", error_id="invalid.body") from exc
    except msgspec.DecodeError as exc:
        raise ConcurError(400, f"the request body is not valid JSON: {exc}", error_id="invalid.body") from exc
    if not items:
        raise ConcurError(400, "give at least one adjustment", error_id="invalid.body")
    lines: list[dict[str, Any]] = []
    references: set[str] = set()
    for index, item in enumerate(items):
        line = _resolve_line(sandbox, item, index)
        currency = line["currencyCode"]
        if item.currencyCode and item.currencyCode != currency:
            raise ConcurError(400, f"the budget is in {currency}, not {item.currencyCode}",
                              fields={f"[{index}].currencyCode": "currency mismatch"})
        if not item.amount.is_finite() or -item.amount.as_tuple().exponent > MINOR_UNITS.get(currency, 2):  # type: ignore[operator]
            raise ConcurError(400, f"{currency} amounts allow {MINOR_UNITS.get(currency, 2)} decimals",
                              fields={f"[{index}].amount": "too many decimals"})
        if line["budgetItemDetailStatusType"] != "OPEN":
            raise ConcurError(400, f"fiscal period {line['fiscalPeriod']['name']} is closed for this budget",
                              error_id="period.closed", fields={f"[{index}]": "period closed"})
        reference = item.externalReference
        if reference and (reference in references or sandbox.store.find("adjustments", externalReference=reference)):
            raise ConcurError(409, f"an adjustment with externalReference {reference} exists",
                              error_id="duplicate.reference", fields={f"[{index}].externalReference": "duplicate"})
        if reference:
            references.add(reference)
        lines.append(line)
    saved = []
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    for item, line in zip(items, lines, strict=True):
        line = sandbox.store.get("budget_details", line["id"]) or line  # earlier items may have moved it
        key = "spendAmount" if item.amountType == "SPENT_AMOUNT" else "pendingAmount"
        line[key] = str(Decimal(line[key]) + item.amount)
        sandbox.store.put("budget_details", line["id"], line)
        adjustment_id = str(uuid.UUID(int=sandbox.rng.getrandbits(128), version=4))
        adjustment = {
            "id": adjustment_id, "externalReference": item.externalReference, "budgetItemDetailId": line["id"],
            "budgetItemName": line["budgetName"], "fiscalPeriodName": line["fiscalPeriod"]["name"],
            "amountType": item.amountType, "adjustmentType": item.adjustmentType, "amount": str(item.amount),
            "currencyCode": line["currencyCode"], "description": item.description,
            "transactionDate": (item.transactionDate or dt.date.fromisoformat(stamp[:10])).isoformat(),
            "createdDate": stamp,
        }
        sandbox.store.put("adjustments", adjustment_id, adjustment)
        saved.append(adjustment)
    return _json(saved, 201)


def api_router() -> Router:
    """Every planning API route, behind Basic authentication and with Concur errors."""
    return Router(
        path="/",
        route_handlers=[list_fiscal_years, list_headers, get_header, list_versions, list_details, get_detail,
                        list_adjustments, save_adjustments],
        guards=[require_basic],
        exception_handlers=exception_handlers,
    )
