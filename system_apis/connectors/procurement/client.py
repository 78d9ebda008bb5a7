"""The procurement connector: canonical objects in and out, Coupa Core API on the wire.

One long-lived :class:`~system_apis.connectors.kit.PlatformClient` carries OAuth2 client
credentials (one token, reused, refreshed on 401), retries, the circuit breaker and the
outbound rate limit. Lists are read in Coupa pages of at most 50 with ``offset``/``limit``
and handed out by position, so a caller's cursor is just an offset. Every create carries a
deterministic ``external-ref`` custom field, and a create whose answer was lost is looked up
by it before it is sent again, so it never happens twice.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar

import httpx
import msgspec

from system_apis.canonical import (
    BudgetLine,
    GoodsReceipt,
    PurchaseOrder,
    Requisition,
    Supplier,
    SupplierInvoice,
    SupplierStatus,
)
from system_apis.connectors.kit import (
    ConnectionConfig,
    MalformedAnswer,
    PlatformClient,
    PlatformRejected,
)
from system_apis.connectors.procurement import mapping, wire
from system_apis.connectors.procurement.drafts import GoodsReceiptDraft, PurchaseOrderDraft, RequisitionDraft

__all__ = ["COUPA_ID", "COUPA_PAGE", "DEFAULT_SCOPES", "PLATFORM", "ProcurementConnector"]

PLATFORM = "procurement"
COUPA_PAGE = 50
"""Coupa's largest page."""
DEFAULT_SCOPES = (
    "core.supplier.read", "core.supplier.write", "core.requisition.read", "core.requisition.write",
    "core.purchase_order.read", "core.purchase_order.write", "core.invoice.read", "core.invoice.write",
    "core.budget.read", "core.common.read", "core.common.write",
)
COUPA_ID = re.compile(r"[1-9][0-9]{0,8}")
"""A Coupa id as text: a positive 32-bit integer, without leading zeros (so ids compare as text)."""
TOKEN_PATH = "/oauth2/access_tokens"  # noqa: S105 - a path, not a secret

W = TypeVar("W")
C = TypeVar("C")


def _coupa_message(exc: PlatformRejected) -> str:
    """Coupa's ``{"errors": {"field": ["message"]}}`` as one sentence (the kit passes the body on)."""
    try:
        body = msgspec.json.decode(exc.detail)
    except msgspec.DecodeError:
        return exc.detail
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, dict):
        return exc.detail
    parts = [f"{'' if key == 'base' else key + ': '}{message}" for key, messages in errors.items()
             for message in (messages if isinstance(messages, list) else [messages])]
    return "; ".join(parts) or exc.detail


def _rejected(exc: PlatformRejected, status: int | None = None) -> PlatformRejected:
    return PlatformRejected(status or exc.platform_status, _coupa_message(exc), platform=PLATFORM, code=exc.code)


def _coupa_id(value: str, what: str) -> int:
    """A canonical id as a Coupa id; anything else names nothing (404)."""
    if not COUPA_ID.fullmatch(value):
        raise PlatformRejected(404, f"{what} {value} not found", platform=PLATFORM)
    return int(value)


class ProcurementConnector:
    """The procurement platform's suppliers, requisitions, orders, receipts, invoices and budgets.

    Args:
        config: Connection settings; OAuth2 client, token path and scopes default to the
            sandbox's (``finrail``/``sandbox-secret``, ``/oauth2/access_tokens``, every scope).
        transport: ``httpx.ASGITransport(app=sandbox)`` in embedded mode, ``None`` for the network.
    """

    def __init__(self, config: ConnectionConfig, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.config = msgspec.structs.replace(
            config,
            client_id=config.client_id or "finrail",
            client_secret=config.client_secret or "sandbox-secret",
            token_path=config.token_path or TOKEN_PATH,
            scopes=config.scopes or DEFAULT_SCOPES,
        )
        self.client = PlatformClient(PLATFORM, self.config, transport)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()

    # --- plumbing -------------------------------------------------------------------------

    async def _call(self, method: str, path: str, type_: type[W], *, retry: bool = True,
                    params: dict[str, Any] | None = None, json: Any = None,
                    conflict: bool = False) -> W:
        """One call decoded into ``type_``; Coupa's 4xx messages made readable.

        With ``conflict``, a 422 means the object's state forbids the action: it answers 409.
        """
        try:
            response = await self.client.request(method, path, params=params, json=json, retry=retry)
        except PlatformRejected as exc:
            status = 409 if conflict and exc.platform_status == 422 else None
            raise _rejected(exc, status) from exc
        return self.client.decode(response, type_)

    @staticmethod
    def _map(convert: Callable[[W], C], item: W) -> C:
        try:
            return convert(item)
        except mapping.MappingError as exc:
            raise MalformedAnswer(str(exc), platform=PLATFORM) from exc

    async def _list(self, path: str, type_: type[W], convert: Callable[[W], C], params: dict[str, str],
                    offset: int, limit: int) -> tuple[list[C], bool]:
        """Items ``offset .. offset+limit`` of a Coupa list, and whether more follow."""
        collected: list[W] = []
        position = offset
        while len(collected) <= limit:
            size = min(COUPA_PAGE, limit + 1 - len(collected))
            many: Any = list[type_]  # type: ignore[valid-type]
            window = {**params, "offset": str(position), "limit": str(size)}
            page: list[W] = await self._call("GET", path, many, params=window)
            collected.extend(page)
            position += len(page)
            if len(page) < size:
                break
        return [self._map(convert, item) for item in collected[:limit]], len(collected) > limit

    async def _find(self, path: str, type_: type[W], reference: str) -> W | None:
        many: Any = list[type_]  # type: ignore[valid-type]
        query = {f"custom-fields[{mapping.EXTERNAL_REF}]": reference, "limit": "1"}
        found: list[W] = await self._call("GET", path, many, params=query)
        return found[0] if found else None

    async def _create(self, path: str, type_: type[W], body: msgspec.Struct, reference: str) -> W:
        async def create() -> W:
            return await self._call("POST", path, type_, json=body, retry=False)

        async def find() -> W | None:
            return await self._find(path, type_, reference)

        return await self.client.create_once(create, find)

    # --- suppliers ------------------------------------------------------------------------

    async def list_suppliers(
        self, *, offset: int = 0, limit: int = 50, status: SupplierStatus | None = None,
        tax_id: str | None = None, in_erp: bool | None = None, company_code: str | None = None,
    ) -> tuple[list[Supplier], bool]:
        """Suppliers in Coupa's order, filtered; returns the items and whether more follow."""
        params: dict[str, str] = dict(mapping.supplier_status_filter(status)) if status else {}
        if tax_id is not None:
            params["tax-id"] = tax_id
        if in_erp is not None:
            params[f"custom-fields[{mapping.ERP_NUMBER}][blank]"] = "false" if in_erp else "true"
        if company_code is not None:
            params[f"custom-fields[{mapping.COMPANY_CODE}]"] = company_code
        return await self._list("/api/suppliers", wire.Supplier, mapping.supplier_from_wire, params, offset, limit)

    async def get_supplier(self, supplier_id: str) -> Supplier:
        """One supplier."""
        found = await self._call("GET", f"/api/suppliers/{_coupa_id(supplier_id, 'supplier')}", wire.Supplier)
        return self._map(mapping.supplier_from_wire, found)

    async def set_erp_supplier_number(self, supplier_id: str, erp_supplier_number: str | None) -> Supplier:
        """Record (or clear) the supplier's number in the ERP; setting it twice is harmless."""
        body = wire.SupplierUpdate(custom_fields={mapping.ERP_NUMBER: erp_supplier_number})
        updated = await self._call("PUT", f"/api/suppliers/{_coupa_id(supplier_id, 'supplier')}", wire.Supplier,
                                   json=body)
        return self._map(mapping.supplier_from_wire, updated)

    # --- requisitions ---------------------------------------------------------------------

    async def list_requisitions(self, *, offset: int = 0, limit: int = 50,
                                status: str | None = None) -> tuple[list[Requisition], bool]:
        """Requisitions, optionally of one status."""
        params = {"status": status} if status else {}
        return await self._list("/api/requisitions", wire.Requisition, mapping.requisition_from_wire, params,
                                offset, limit)

    async def get_requisition(self, requisition_id: str) -> Requisition:
        """One requisition."""
        path = f"/api/requisitions/{_coupa_id(requisition_id, 'requisition')}"
        return self._map(mapping.requisition_from_wire, await self._call("GET", path, wire.Requisition))

    async def create_requisition(self, draft: RequisitionDraft, *, reference: str) -> Requisition:
        """Create a draft requisition at most once for ``reference``."""
        body = mapping.requisition_to_wire(draft, reference)
        created = await self._create("/api/requisitions", wire.Requisition, body, reference)
        return self._map(mapping.requisition_from_wire, created)

    async def submit_requisition(self, requisition_id: str) -> Requisition:
        """Submit a draft requisition for approval (409 if it is not a draft)."""
        path = f"/api/requisitions/{_coupa_id(requisition_id, 'requisition')}/submit_for_approval"
        return self._map(mapping.requisition_from_wire,
                         await self._call("PUT", path, wire.Requisition, conflict=True))

    # --- purchase orders ------------------------------------------------------------------

    async def list_purchase_orders(
        self, *, offset: int = 0, limit: int = 50, status: str | None = None, supplier_id: str | None = None
    ) -> tuple[list[PurchaseOrder], bool]:
        """Purchase orders, optionally of one status or supplier."""
        params: dict[str, str] = {"status": status} if status else {}
        if supplier_id is not None:
            params["supplier[id]"] = supplier_id
        return await self._list("/api/purchase_orders", wire.PurchaseOrder, mapping.purchase_order_from_wire,
                                params, offset, limit)

    async def get_purchase_order(self, order_id: str) -> PurchaseOrder:
        """One purchase order."""
        return self._map(mapping.purchase_order_from_wire, await self._order(order_id))

    async def _order(self, order_id: str) -> wire.PurchaseOrder:
        path = f"/api/purchase_orders/{_coupa_id(order_id, 'purchase order')}"
        return await self._call("GET", path, wire.PurchaseOrder)

    async def create_purchase_order(self, draft: PurchaseOrderDraft, *, reference: str) -> PurchaseOrder:
        """Create a draft purchase order at most once for ``reference``."""
        _coupa_id(draft.supplier_id, "supplier")
        if draft.requisition_id is not None:
            _coupa_id(draft.requisition_id, "requisition")
        body = mapping.purchase_order_to_wire(draft, reference)
        created = await self._create("/api/purchase_orders", wire.PurchaseOrder, body, reference)
        return self._map(mapping.purchase_order_from_wire, created)

    async def purchase_order_action(self, order_id: str, action: str) -> PurchaseOrder:
        """``issue``, ``close`` or ``cancel`` a purchase order (409 when its status forbids it)."""
        if action not in ("issue", "close", "cancel"):
            raise ValueError(f"unknown purchase order action {action!r}")
        path = f"/api/purchase_orders/{_coupa_id(order_id, 'purchase order')}/{action}"
        return self._map(mapping.purchase_order_from_wire,
                         await self._call("PUT", path, wire.PurchaseOrder, conflict=True))

    # --- receipts -------------------------------------------------------------------------

    async def create_receipt(self, draft: GoodsReceiptDraft, *, reference: str) -> GoodsReceipt:
        """Receive goods: one Coupa receiving transaction per line, each at most once.

        The receipt's id is ``reference``; its transactions carry it as ``receipt-ref``.
        """
        order = await self._order(draft.purchase_order_id)
        lines = {line.line_num: line for line in order.order_lines}
        transactions = []
        for line in draft.lines:
            if line.po_line_number not in lines:
                raise PlatformRejected(400, f"purchase order {order.po_number} has no line {line.po_line_number}",
                                       platform=PLATFORM)
        for line in draft.lines:
            line_reference = f"{reference}-{line.po_line_number}"
            body = wire.ReceiptCreate(
                order_line=wire.IdRef(id=lines[line.po_line_number].id), quantity=line.quantity,
                transaction_date=draft.receipt_date or dt.datetime.now(dt.UTC).date(),
                custom_fields={mapping.EXTERNAL_REF: line_reference, mapping.RECEIPT_REF: reference},
            )
            transactions.append(await self._create("/api/receiving_transactions", wire.ReceivingTransaction, body,
                                                   line_reference))
        return self._map(partial(mapping.receipt_from_wire, reference), transactions)

    async def list_receipts(self, purchase_order_id: str) -> list[GoodsReceipt]:
        """Every receipt of a purchase order, oldest first."""
        order_id = _coupa_id(purchase_order_id, "purchase order")
        await self._order(purchase_order_id)  # 404 for an unknown order, not an empty list
        transactions: list[wire.ReceivingTransaction] = []
        while True:
            page = await self._call("GET", "/api/receiving_transactions", list[wire.ReceivingTransaction], params={
                "order-line[order-header-id]": str(order_id), "offset": str(len(transactions)),
                "limit": str(COUPA_PAGE)})
            transactions.extend(page)
            if len(page) < COUPA_PAGE:
                break
        groups: dict[str, list[wire.ReceivingTransaction]] = {}
        for transaction in transactions:
            key = transaction.custom_fields.get(mapping.RECEIPT_REF) or f"RT{transaction.id}"
            groups.setdefault(key, []).append(transaction)
        return [self._map(partial(mapping.receipt_from_wire, key), group) for key, group in groups.items()]

    # --- invoices and budgets -------------------------------------------------------------

    async def list_invoices(
        self, *, offset: int = 0, limit: int = 50, status: str | None = None, supplier_id: str | None = None
    ) -> tuple[list[SupplierInvoice], bool]:
        """Supplier invoices, optionally of one canonical status or supplier."""
        params: dict[str, str] = {}
        if status == "paid":  # Coupa keeps a paid invoice approved and flags it
            params.update({"status[in]": "approved", "paid": "true"})
        elif status is not None:
            coupa = [key for key, value in mapping.INVOICE_STATUS.items() if value == status]
            params["status[in]"] = ",".join(coupa) or "none"
            if status == "approved":
                params["paid[not_eq]"] = "true"
        if supplier_id is not None:
            params["supplier[id]"] = supplier_id
        return await self._list("/api/invoices", wire.Invoice, mapping.invoice_from_wire, params, offset, limit)

    async def get_invoice(self, invoice_id: str) -> SupplierInvoice:
        """One supplier invoice."""
        path = f"/api/invoices/{_coupa_id(invoice_id, 'invoice')}"
        return self._map(mapping.invoice_from_wire, await self._call("GET", path, wire.Invoice))

    async def mark_invoice_paid(
        self, invoice_id: str, *, payment_date: dt.date, reference: str, amount: Decimal | None = None,
    ) -> SupplierInvoice:
        """Mark an approved invoice paid on ``payment_date`` under ``reference``, the Coupa way.

        Repeating it with the same reference changes nothing; an invoice that is not approved,
        or already paid under another reference, is a 409.
        """
        path = f"/api/invoices/{_coupa_id(invoice_id, 'invoice')}"
        payments = None if amount is None else [
            wire.InvoicePayment(amount_paid=amount, payment_date=payment_date, notes=reference)]
        body = wire.InvoicePaymentUpdate(paid=True, payment_date=payment_date, payment_notes=reference,
                                         payments=payments)
        return self._map(mapping.invoice_from_wire, await self._call("PUT", path, wire.Invoice, json=body,
                                                                     conflict=True))

    async def list_budget_lines(
        self, *, offset: int = 0, limit: int = 50, company_code: str | None = None, period: str | None = None
    ) -> tuple[list[BudgetLine], bool]:
        """Budget lines, optionally of one entity or period (``FY2026-Q1``)."""
        params: dict[str, str] = {}
        if company_code is not None:
            params["account[segment-1]"] = company_code
        if period is not None:
            params["period[name]"] = period
        return await self._list("/api/budget_lines", wire.BudgetLine, mapping.budget_line_from_wire, params,
                                offset, limit)


