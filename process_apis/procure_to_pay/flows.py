"""Procure to pay: the PO's commitment in planning, and each supplier invoice matched and posted.

Two flows, because the process waits twice on people outside Finrail (the supplier's invoice,
the warehouse's receipt) and a flow must never poll for them:

* ``purchase-order-commitment`` — one instance per procurement purchase order, started by the
  procurement platform's ``purchase_order.issued`` event (a reopened order sends it again; the
  second start is ignored) or by the process API. Steps:

  1. ``read-order`` — read the order from the procurement system API (never from the event).
     A draft is refused (``order-not-issued``); a cancelled one needs no commitment.
  2. ``find-budget-lines`` — the planning budget line of each order line: same entity
     (company code), cost center, fiscal year and period (planning's fiscal year is the
     calendar year in monthly periods, so the order date's year and month). A line split by
     GL account is chosen by the order line's GL account. An order line without a cost
     center, or without a budget line in planning, is skipped and the output says why; two
     candidate lines that cannot be told apart stop as ``ambiguous-budget-line``.
  3. ``record-commitment`` — ``POST /system/planning/v1/budget-lines/{id}/consumption`` of
     kind ``commitment``, one per budget line, with the step's ``Idempotency-Key`` per line,
     so a re-run never books twice. Nothing to record is said so in the output.

* ``procure-to-pay`` — one instance per procurement supplier INVOICE, started by the
  ``invoice.submitted`` event of an invoice that bills a purchase order, or by the process
  API. Keyed by the invoice, the instance only starts once there is something to match, so
  it never waits for an invoice; if the goods have not arrived yet the match stops as
  ``not-received`` in the finance exception queue, and a person retries it once the receipt
  is booked (the receipt is then read again). Steps:

  1. ``read-invoice`` — the invoice from procurement; a draft (``invoice-not-submitted``), a
     voided one (``invoice-cancelled``) or one that does not bill exactly one purchase order
     (``no-purchase-order``) stops.
  2. ``match`` — the purchase order and its receipts read afresh, then the three-way match
     of :mod:`.matching` with the tolerances of the input or the module defaults. A variance
     stops with the strongest reason (``not-received``, ``quantity-variance``,
     ``price-variance``, ``line-not-on-order``) and every variance in the detail; a person
     resolving with ``accept-variance`` lets the posting go on (recorded in the output).
     Another entity or currency than the order's stops as ``entity-mismatch`` /
     ``currency-mismatch`` whatever the decision.
  3. ``erp-supplier`` — the procurement supplier's ERP supplier number (the cross-reference
     supplier onboarding writes), checked in the ERP; none, or one the ERP does not know,
     is ``unknown-supplier-in-erp`` (onboard the supplier, then retry).
  4. ``create-erp-invoice`` — ``POST /system/erp/v1/supplier-invoices`` (parked) with the
     step's ``Idempotency-Key``; lines charge the invoice line's account, or the order
     line's when the invoice names none (procurement's accounts are the ERP's: master data
     publish keeps them so). The output keeps the ERP document id.
  5. ``post-erp-invoice`` — ``POST .../supplier-invoices/{id}/post`` with its own key,
     unless the ERP shows it posted already.

Every call carries the instance's correlation id, so the trace from the supplier's invoice to
the ERP document is one query.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote

import msgspec

from process_apis.flow.model import BusinessError, Flow, Schedule, Step, StepContext, StepOutput
from process_apis.flow.runtime import Trigger
from process_apis.procure_to_pay.matching import REASON_ORDER, Tolerances, match_invoice, received_quantities
from system_apis.canonical import (
    BudgetLine,
    GoodsReceipt,
    Money,
    Page,
    PurchaseOrder,
    PurchaseOrderLine,
    SupplierInvoice,
)
from system_apis.canonical.procurement import SupplierInvoiceDraft, SupplierInvoiceLine

__all__ = [
    "ACCEPT_VARIANCE",
    "COMMITMENT_FLOW",
    "COMMITMENT_FLOW_NAME",
    "FLOWS",
    "ID_PATTERN",
    "MATCH_FLOW",
    "MATCH_FLOW_NAME",
    "SCHEDULES",
    "TRIGGERS",
    "create_erp_invoice",
    "erp_supplier",
    "find_budget_lines",
    "invoice_key",
    "match",
    "order_key",
    "post_erp_invoice",
    "read_invoice",
    "read_order",
    "record_commitment",
    "tolerances_of",
]

MATCH_FLOW_NAME: Final = "procure-to-pay"
"""The invoice match-and-post flow (and the process API's name)."""
COMMITMENT_FLOW_NAME: Final = "purchase-order-commitment"
"""The purchase order commitment flow."""

ID_PATTERN: Final = r"^[1-9][0-9]{0,8}$"
"""What a procurement id looks like (a positive Coupa id)."""

ACCEPT_VARIANCE: Final = "accept-variance"
"""The decision that posts an invoice despite the variances the match found."""

PROCUREMENT: Final = "/system/procurement/v1"
PLANNING: Final = "/system/planning/v1"
ERP: Final = "/system/erp/v1"

_MAX_PAGES: Final = 50
"""Pages of receipts read per order at most (200 each)."""
_ERP_INVOICE_NUMBER: Final = 16
"""Characters of the supplier's invoice number the ERP keeps (SAP ``SupplierInvoiceIDByInvcgParty``)."""


class _ProcurementSupplier(msgspec.Struct, kw_only=True):
    """The part of a procurement supplier the flow reads."""

    id: str
    """Procurement supplier id."""
    name: str
    """Its name."""
    erp_supplier_number: str | None = None
    """Its ERP supplier number, once onboarded."""


class _ErpSupplier(msgspec.Struct, kw_only=True):
    """The part of an ERP supplier the flow reads (not the validating canonical one)."""

    id: str
    """ERP supplier number."""
    name: str
    """Its name in the ERP."""


class _ConsumptionBody(msgspec.Struct, frozen=True, kw_only=True):
    """Body of a planning consumption record."""

    amount: Money
    """Amount committed."""
    kind: str
    """``commitment``."""
    reference: str
    """The purchase order, as people know it."""


class _Consumption(msgspec.Struct, kw_only=True):
    """The part of a recorded consumption the flow reads."""

    id: str
    """Consumption record id in planning."""
    budget_line_id: str
    """Budget line charged."""
    amount: Money
    """Amount recorded."""


def _procurement_id(data: Mapping[str, Any]) -> str | None:
    value = data.get("id")
    if isinstance(value, bool):
        return None
    text = str(value).strip() if isinstance(value, int | str) else ""
    return text if re.fullmatch(ID_PATTERN, text) else None


def order_key(data: Mapping[str, Any]) -> str | None:
    """The purchase order id of a ``purchase_order.issued`` event (None: not a usable event)."""
    return _procurement_id(data)


def invoice_key(data: Mapping[str, Any]) -> str | None:
    """The invoice id of an ``invoice.submitted`` event that bills a purchase order; else None.

    An invoice without any PO line is not procure-to-pay's (no order to match it with).
    """
    lines = data.get("invoice-lines")
    if not isinstance(lines, list) or not any(isinstance(x, Mapping) and x.get("po-number") for x in lines):
        return None
    return _procurement_id(data)


def _order_input(data: Mapping[str, Any]) -> Mapping[str, Any]:
    return {"purchase_order_id": order_key(data), "source": "procurement purchase_order.issued"}


def _invoice_input(data: Mapping[str, Any]) -> Mapping[str, Any]:
    return {"invoice_id": invoice_key(data), "source": "procurement invoice.submitted"}


def tolerances_of(context: StepContext) -> Tolerances:
    """The instance's tolerances: the input's where given, the module defaults otherwise."""
    given = context.input.get("tolerances") or {}
    try:
        return msgspec.convert(given, Tolerances, strict=False)
    except (msgspec.ValidationError, ValueError) as error:
        raise BusinessError("invalid-tolerances", f"the tolerances of this match are invalid: {error}") from None


async def _order(context: StepContext, order_id: str) -> PurchaseOrder:
    try:
        return await context.system.get(f"{PROCUREMENT}/purchase-orders/{quote(order_id, safe='')}",
                                         type=PurchaseOrder, correlation_id=context.correlation_id)
    except BusinessError as error:
        if error.reason != "not-found":
            raise
        raise BusinessError("unknown-purchase-order", f"procurement has no purchase order {order_id}") from None


# -- the commitment flow ---------------------------------------------------------------------


def _committed_order(context: StepContext) -> PurchaseOrder | None:
    snapshot = context.state["read-order"].get("order")
    return msgspec.convert(snapshot, PurchaseOrder, strict=False) if snapshot else None


async def read_order(context: StepContext) -> StepOutput:
    """Read the purchase order; refuse a draft, let a cancelled one commit nothing."""
    order = await _order(context, context.key)
    if order.status == "draft":
        raise BusinessError("order-not-issued", f"purchase order {order.po_number} ({order.id}) is a draft; it "
                            "commits budget once issued (issue it, then retry)")
    if order.status == "cancelled":
        return {"skipped": f"purchase order {order.po_number} ({order.id}) is cancelled: no commitment",
                "order": None}
    return {"order": msgspec.to_builtins(order), "po_number": order.po_number,
            "total": msgspec.to_builtins(order.total)}


def _choose(candidates: list[BudgetLine], line: PurchaseOrderLine, what: str) -> BudgetLine | None:
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    same_account = [c for c in candidates if line.gl_account is not None and c.gl_account == line.gl_account]
    if len(same_account) == 1:
        return same_account[0]
    whole = [c for c in candidates if c.gl_account is None]
    if not same_account and len(whole) == 1:
        return whole[0]
    ids = ", ".join(c.id for c in candidates)
    raise BusinessError("ambiguous-budget-line", f"{what} has several budget lines in planning ({ids}) that the "
                        f"order line's GL account {line.gl_account or '(none)'} does not tell apart")


async def find_budget_lines(context: StepContext) -> StepOutput:
    """The planning budget line of each order line, amounts summed per budget line."""
    order = _committed_order(context)
    if order is None:
        return {"allocations": [], "skipped": [context.state["read-order"]["skipped"]]}
    allocations: dict[str, dict[str, Any]] = {}
    skipped: list[str] = []
    for line in order.lines:
        label = f"PO {order.po_number} line {line.line_number}"
        if not line.cost_center:
            skipped.append(f"{label} has no cost center, so no budget line")
            continue
        what = f"{order.company_code} / {line.cost_center} / {order.order_date.year}-{order.order_date.month:02d}"
        page = await context.system.get(
            f"{PLANNING}/budget-lines", type=Page[BudgetLine], correlation_id=context.correlation_id,
            params={"company_code": order.company_code, "cost_center": line.cost_center,
                    "fiscal_year": order.order_date.year, "period": order.order_date.month, "limit": 50})
        chosen = _choose(list(page.items), line, f"{label} ({what})")
        if chosen is None:
            skipped.append(f"{label}: planning has no budget line for {what}")
            continue
        if chosen.amount.currency != line.amount.currency:
            raise BusinessError("budget-currency-mismatch",
                                f"{label} is in {line.amount.currency}, its budget line {chosen.id} in "
                                f"{chosen.amount.currency}")
        entry = allocations.setdefault(chosen.id, {"budget_line_id": chosen.id, "amount": Money.zero(
            line.amount.currency), "po_lines": []})
        entry["amount"] = entry["amount"] + line.amount
        entry["po_lines"].append(line.line_number)
    return {"allocations": [msgspec.to_builtins(entry) for entry in allocations.values()], "skipped": skipped}


async def record_commitment(context: StepContext) -> StepOutput:
    """Record the commitment on each budget line once (stable ``Idempotency-Key`` per line)."""
    found = context.state["find-budget-lines"]
    if not found["allocations"]:
        why = "; ".join(found["skipped"]) or "it has no lines"
        return {"recorded": [], "skipped": f"no commitment recorded: the purchase order has no budget line ({why})"}
    po_number = context.state["read-order"]["po_number"]
    recorded = []
    for allocation in found["allocations"]:
        line_id = str(allocation["budget_line_id"])
        body = _ConsumptionBody(amount=msgspec.convert(allocation["amount"], Money, strict=False),
                                kind="commitment", reference=f"PO {po_number} ({context.key})"[:128])
        booked = await context.system.post(
            f"{PLANNING}/budget-lines/{quote(line_id, safe='')}/consumption", body, type=_Consumption,
            idempotency_key=context.idempotency_key(line_id), correlation_id=context.correlation_id)
        recorded.append({"budget_line_id": booked.budget_line_id, "consumption_id": booked.id,
                         "amount": msgspec.to_builtins(booked.amount), "po_lines": allocation["po_lines"]})
    return {"recorded": recorded, "skipped": found["skipped"]}


# -- the invoice flow ------------------------------------------------------------------------


def _invoice(context: StepContext) -> SupplierInvoice:
    return msgspec.convert(context.state["read-invoice"]["invoice"], SupplierInvoice, strict=False)


async def read_invoice(context: StepContext) -> StepOutput:
    """Read the invoice; it must be submitted, not voided, and bill exactly one purchase order."""
    try:
        invoice = await context.system.get(f"{PROCUREMENT}/invoices/{quote(context.key, safe='')}",
                                           type=SupplierInvoice, correlation_id=context.correlation_id)
    except BusinessError as error:
        if error.reason != "not-found":
            raise
        raise BusinessError("unknown-invoice", f"procurement has no invoice {context.key}") from None
    label = f"invoice {invoice.invoice_number} ({invoice.id})"
    if invoice.status == "draft":
        raise BusinessError("invoice-not-submitted", f"{label} is still a draft in procurement; it is matched once "
                            "submitted (then retry)")
    if invoice.status in ("cancelled", "rejected"):
        raise BusinessError("invoice-cancelled", f"{label} is {invoice.status} in procurement; nothing to post "
                            "(cancel this match)")
    if invoice.purchase_order_id is None:
        raise BusinessError("no-purchase-order", f"{label} does not bill exactly one purchase order; it cannot be "
                            "three-way matched (post it manually, then cancel this match)")
    return {"invoice": msgspec.to_builtins(invoice), "purchase_order_id": invoice.purchase_order_id,
            "invoice_number": invoice.invoice_number, "gross_amount": msgspec.to_builtins(invoice.gross_amount)}


async def _receipts(context: StepContext, order_id: str) -> list[GoodsReceipt]:
    receipts: list[GoodsReceipt] = []
    cursor: str | None = None
    for _ in range(_MAX_PAGES):
        params: dict[str, Any] = {"purchase_order_id": order_id, "limit": 200}
        if cursor:
            params["cursor"] = cursor
        page = await context.system.get(f"{PROCUREMENT}/receipts", type=Page[GoodsReceipt], params=params,
                                        correlation_id=context.correlation_id)
        receipts.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    return receipts


async def match(context: StepContext) -> StepOutput:
    """Three-way match against the order and its receipts, read afresh; stop on a variance."""
    invoice = _invoice(context)
    order = await _order(context, str(context.state["read-invoice"]["purchase_order_id"]))
    label = f"invoice {invoice.invoice_number} ({invoice.id})"
    if order.company_code != invoice.company_code:
        raise BusinessError("entity-mismatch", f"{label} is addressed to {invoice.company_code}, purchase order "
                            f"{order.po_number} belongs to {order.company_code}")
    if order.total.currency != invoice.currency:
        raise BusinessError("currency-mismatch", f"{label} is in {invoice.currency}, purchase order "
                            f"{order.po_number} in {order.total.currency}")
    tolerances = tolerances_of(context)
    receipts = await _receipts(context, order.id)
    lines, variances = match_invoice(invoice.lines, order.lines, received_quantities(receipts), tolerances,
                                     invoice.currency)
    decision = (context.decision or "").strip()
    if decision and decision != ACCEPT_VARIANCE:
        raise BusinessError("invalid-decision", f"unknown decision {decision!r}: use {ACCEPT_VARIANCE!r}, or cancel")
    output: dict[str, Any] = {
        "purchase_order_id": order.id, "po_number": order.po_number, "company_code": order.company_code,
        "tolerances": msgspec.to_builtins(tolerances), "receipts": [r.id for r in receipts],
        "lines": msgspec.to_builtins(lines), "variances": msgspec.to_builtins(variances),
        "posting_date": context.now.date().isoformat(),
        "order_accounts": {str(x.line_number): {"gl_account": x.gl_account, "cost_center": x.cost_center}
                           for x in order.lines},
    }
    if variances and decision != ACCEPT_VARIANCE:
        reason = min((v.reason for v in variances), key=REASON_ORDER.index)
        shown = "; ".join(v.detail for v in variances[:10])
        more = f"; and {len(variances) - 10} more" if len(variances) > 10 else ""
        raise BusinessError(reason, f"{label} against purchase order {order.po_number}: {shown}{more}. Resolve "
                            f"with {ACCEPT_VARIANCE!r} to post it anyway, or fix it in procurement and retry")
    if variances:
        output["decision"] = ACCEPT_VARIANCE
    return output


async def erp_supplier(context: StepContext) -> StepOutput:
    """The invoice supplier's ERP number, known to the ERP; else ``unknown-supplier-in-erp``."""
    invoice = _invoice(context)
    supplier = await context.system.get(f"{PROCUREMENT}/suppliers/{quote(invoice.supplier_id, safe='')}",
                                        type=_ProcurementSupplier, correlation_id=context.correlation_id)
    label = f"procurement supplier {supplier.id} ({supplier.name!r})"
    number = supplier.erp_supplier_number
    if not number:
        raise BusinessError("unknown-supplier-in-erp", f"{label} has no ERP supplier number: onboard it into the "
                            "ERP (supplier onboarding), then retry")
    if not re.fullmatch(r"[A-Za-z0-9]{1,10}", number):
        raise BusinessError("unknown-supplier-in-erp", f"{label} carries ERP number {number!r}, which is not one")
    try:
        found = await context.system.get(f"{ERP}/suppliers/{number}", type=_ErpSupplier,
                                         correlation_id=context.correlation_id)
    except BusinessError as error:
        if error.reason != "not-found":
            raise
        raise BusinessError("unknown-supplier-in-erp", f"{label} carries ERP number {number}, which the ERP does "
                            "not know: correct it in procurement, then retry") from None
    return {"erp_supplier_number": found.id, "erp_supplier_name": found.name}


def _draft(context: StepContext) -> SupplierInvoiceDraft:
    """The ERP supplier invoice for the matched invoice: built only from committed step outputs."""
    invoice = _invoice(context)
    matched = context.state["match"]
    accounts: Mapping[str, Mapping[str, str | None]] = matched["order_accounts"]
    lines = []
    for line in invoice.lines:
        ordered = accounts.get(str(line.purchase_order_line), {})
        gl_account = line.gl_account or ordered.get("gl_account")
        if not gl_account:
            raise BusinessError("missing-gl-account", f"invoice line {line.line_number} names no GL account, nor "
                                "does its purchase order line")
        lines.append(SupplierInvoiceLine(
            line_number=line.line_number, amount=line.amount, gl_account=gl_account,
            cost_center=line.cost_center or ordered.get("cost_center"), description=line.description,
            quantity=line.quantity, purchase_order_line=line.purchase_order_line))
    posting_date = dt.date.fromisoformat(matched["posting_date"])
    return SupplierInvoiceDraft(
        company_code=invoice.company_code, supplier_id=str(context.state["erp-supplier"]["erp_supplier_number"]),
        invoice_number=invoice.invoice_number[:_ERP_INVOICE_NUMBER], invoice_date=invoice.invoice_date,
        posting_date=max(posting_date, invoice.invoice_date), gross_amount=invoice.gross_amount,
        tax_amount=invoice.tax_amount, lines=lines, purchase_order_id=str(matched["purchase_order_id"]),
        text=f"PO {matched['po_number']}"[:25],
    )


async def create_erp_invoice(context: StepContext) -> StepOutput:
    """Create (park) the supplier invoice in the ERP once (stable ``Idempotency-Key``)."""
    created = await context.system.post(f"{ERP}/supplier-invoices", _draft(context), type=SupplierInvoice,
                                        idempotency_key=context.idempotency_key(),
                                        correlation_id=context.correlation_id)
    return {"erp_invoice_id": created.id, "erp_document_number": created.erp_document_number,
            "status": created.status}


async def post_erp_invoice(context: StepContext) -> StepOutput:
    """Post the parked ERP invoice, unless it is posted already."""
    invoice_id = str(context.state["create-erp-invoice"]["erp_invoice_id"])
    path = f"{ERP}/supplier-invoices/{quote(invoice_id, safe='')}"
    current = await context.system.get(path, type=SupplierInvoice, correlation_id=context.correlation_id)
    if current.status != "posted":
        current = await context.system.post(f"{path}/post", None, type=SupplierInvoice,
                                            idempotency_key=context.idempotency_key(),
                                            correlation_id=context.correlation_id)
    return {"erp_invoice_id": current.id, "erp_document_number": current.erp_document_number,
            "status": current.status, "fiscal_year": current.fiscal_year}


COMMITMENT_FLOW: Final = Flow(
    COMMITMENT_FLOW_NAME,
    (
        Step("read-order", read_order),
        Step("find-budget-lines", find_budget_lines),
        Step("record-commitment", record_commitment),
    ),
    summary="Issued purchase order: its amount recorded once as a commitment on the planning budget lines.",
)

MATCH_FLOW: Final = Flow(
    MATCH_FLOW_NAME,
    (
        Step("read-invoice", read_invoice),
        Step("match", match),
        Step("erp-supplier", erp_supplier),
        Step("create-erp-invoice", create_erp_invoice),
        Step("post-erp-invoice", post_erp_invoice),
    ),
    summary="Submitted supplier invoice: three-way match with the PO and receipts, then posted once in the ERP.",
)

FLOWS: tuple[Flow, ...] = (MATCH_FLOW, COMMITMENT_FLOW)
TRIGGERS: tuple[Trigger, ...] = (
    Trigger(platform="procurement", event="purchase_order.issued", flow=COMMITMENT_FLOW_NAME, key=order_key,
            input=_order_input),
    Trigger(platform="procurement", event="invoice.submitted", flow=MATCH_FLOW_NAME, key=invoice_key,
            input=_invoice_input),
)
SCHEDULES: tuple[Schedule, ...] = ()
