"""Requisitions, purchase orders and receipts (requisitions, purchase_orders, receiving_transactions).

The purchase order state machine is the part connectors depend on, so its refusals say what
was asked, what the order's status is, and what would be allowed:

    draft --issue--> issued --close--> closed --reopen--> issued
    draft|issued --cancel--> cancelled   (not once anything was received)
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, get, post, put
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter, QueryParams

from platforms.kit.app import SandboxState
from platforms.kit.store import Store
from platforms.procurement.auth import authorize
from platforms.procurement.bodies import PurchaseOrderCreate, ReceiptCreate, RequisitionCreate, StrictBody
from platforms.procurement.common import (
    CHANGE_ERRORS,
    LIST_ERRORS,
    READ_ERRORS,
    CoupaError,
    load,
    next_id,
    now,
    page,
    save,
)
from platforms.procurement.models import (
    OrderLine,
    OrderLineRef,
    PurchaseOrder,
    ReceivingTransaction,
    Requisition,
    RequisitionLine,
    Supplier,
    SupplierRef,
)

__all__ = ["TRANSITIONS", "order_handlers", "supplier_ref"]

Sandbox = NamedDependency[SandboxState]
Id = Annotated[int, PathParameter(ge=1, le=2**31 - 1, description="Coupa id.")]
Action = Literal["issue", "close", "cancel", "reopen"]

TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "issue": (("draft",), "issued"),
    "close": (("issued",), "closed"),
    "cancel": (("draft", "issued"), "cancelled"),
    "reopen": (("closed",), "issued"),
}
"""Action -> (statuses it is allowed from, status it leads to)."""


def supplier_ref(supplier: Supplier) -> SupplierRef:
    """How orders and invoices show their supplier."""
    return SupplierRef(id=supplier.id, name=supplier.name, number=supplier.number)


def _line_id(store: Store) -> int:
    return store.next_number("order_lines.id", 1)


# --- requisitions ----------------------------------------------------------------------------


@get("/api/requisitions", sync_to_thread=False, responses=LIST_ERRORS)
def list_requisitions(request: Request[Any, Any, Any], sandbox: Sandbox, query: QueryParams) -> list[Requisition]:
    """Requisitions, filtered by any field, ``offset``/``limit``."""
    authorize(request, sandbox, "core.requisition.read")
    return [msgspec.convert(d, Requisition) for d in page(sandbox.store, "requisitions", Requisition,
                                                          dict(query.items()))]


@get("/api/requisitions/{id:int}", sync_to_thread=False, responses=READ_ERRORS)
def get_requisition(request: Request[Any, Any, Any], sandbox: Sandbox, id: Id) -> Requisition:
    """One requisition."""
    authorize(request, sandbox, "core.requisition.read")
    return load(sandbox.store, "requisitions", Requisition, id, "requisition")


@post("/api/requisitions", status_code=201, dto=StrictBody[RequisitionCreate], return_dto=None,
       sync_to_thread=False, responses=CHANGE_ERRORS)
def create_requisition(
    request: Request[Any, Any, Any], sandbox: Sandbox, data: JSONBody[RequisitionCreate]
) -> Requisition:
    """Create a draft requisition."""
    authorize(request, sandbox, "core.requisition.write")
    store = sandbox.store
    lines = []
    for number, line in enumerate(data.requisition_lines, 1):
        currency = line.currency or data.currency
        if currency.code != data.currency.code:
            raise CoupaError(422, f"line {number}: currency {currency.code} differs from {data.currency.code}")
        supplier = None
        if line.supplier is not None:
            supplier = supplier_ref(load(store, "suppliers", Supplier, line.supplier.id, "supplier"))
        quantity, unit_price = Decimal(line.quantity), Decimal(line.unit_price)
        lines.append(RequisitionLine(
            id=store.next_number("requisition_lines.id", 1), line_num=number, description=line.description,
            quantity=quantity, unit_price=unit_price, total=quantity * unit_price,
            currency=currency, account=line.account, supplier=supplier, need_by_date=line.need_by_date,
        ))
    moment = now()
    requisition = Requisition(
        id=next_id(store, "requisitions"), created_at=moment, updated_at=moment, status="draft",
        requested_by=data.requested_by, currency=data.currency, requisition_lines=lines,
        total=sum((line.total for line in lines), Decimal(0)), justification=data.justification,
        custom_fields=data.custom_fields,
    )
    save(store, "requisitions", requisition)
    return requisition


@put("/api/requisitions/{id:int}/submit_for_approval", sync_to_thread=False, responses=CHANGE_ERRORS)
def submit_requisition(request: Request[Any, Any, Any], sandbox: Sandbox, id: Id) -> Requisition:
    """Submit a draft requisition for approval."""
    authorize(request, sandbox, "core.requisition.write")
    requisition = load(sandbox.store, "requisitions", Requisition, id, "requisition")
    if requisition.status != "draft":
        raise CoupaError(422, f"requisition {id} is {requisition.status}; only a draft can be submitted")
    moment = now()
    requisition = msgspec.structs.replace(requisition, status="pending_approval", submitted_at=moment,
                                          updated_at=moment)
    sandbox.emit("requisition.submitted", save(sandbox.store, "requisitions", requisition))
    return requisition


# --- purchase orders -------------------------------------------------------------------------


@get("/api/purchase_orders", sync_to_thread=False, responses=LIST_ERRORS)
def list_purchase_orders(
    request: Request[Any, Any, Any], sandbox: Sandbox, query: QueryParams
) -> list[PurchaseOrder]:
    """Purchase orders, filtered by any field (``status=issued``, ``po-number=...``), ``offset``/``limit``."""
    authorize(request, sandbox, "core.purchase_order.read")
    return [msgspec.convert(d, PurchaseOrder) for d in page(sandbox.store, "purchase_orders", PurchaseOrder,
                                                            dict(query.items()))]


@get("/api/purchase_orders/{id:int}", sync_to_thread=False, responses=READ_ERRORS)
def get_purchase_order(request: Request[Any, Any, Any], sandbox: Sandbox, id: Id) -> PurchaseOrder:
    """One purchase order."""
    authorize(request, sandbox, "core.purchase_order.read")
    return load(sandbox.store, "purchase_orders", PurchaseOrder, id, "purchase order")


@post("/api/purchase_orders", status_code=201, dto=StrictBody[PurchaseOrderCreate], return_dto=None,
       sync_to_thread=False, responses=CHANGE_ERRORS)
def create_purchase_order(
    request: Request[Any, Any, Any], sandbox: Sandbox, data: JSONBody[PurchaseOrderCreate]
) -> PurchaseOrder:
    """Create a draft purchase order for an approved supplier."""
    authorize(request, sandbox, "core.purchase_order.write")
    store = sandbox.store
    supplier = load(store, "suppliers", Supplier, data.supplier.id, "supplier")
    if supplier.status != "approved":
        raise CoupaError(422, f"supplier {supplier.id} is {supplier.status}; orders need an approved supplier")
    if data.requisition_header is not None:
        load(store, "requisitions", Requisition, data.requisition_header.id, "requisition")
    id = next_id(store, "purchase_orders")
    po_number = data.po_number or f"{id + 1000:06d}"
    if store.find("purchase_orders", **{"po-number": po_number}):
        raise CoupaError(422, f"po-number {po_number!r} has already been taken")
    lines = []
    for number, line in enumerate(data.order_lines, 1):
        currency = line.currency or data.currency
        if currency.code != data.currency.code:
            raise CoupaError(422, f"order line {number}: currency {currency.code} differs from {data.currency.code}")
        quantity, price = Decimal(line.quantity), Decimal(line.price)
        lines.append(OrderLine(
            id=_line_id(store), line_num=number, description=line.description, quantity=quantity,
            price=price, total=quantity * price, currency=currency, account=line.account,
            need_by_date=line.need_by_date,
        ))
    moment = now()
    order = PurchaseOrder(
        id=id, created_at=moment, updated_at=moment, po_number=po_number, status="draft",
        supplier=supplier_ref(supplier), currency=data.currency, order_lines=lines,
        total=sum((line.total for line in lines), Decimal(0)), requisition_header=data.requisition_header,
        custom_fields=data.custom_fields,
    )
    save(store, "purchase_orders", order)
    return order


@put("/api/purchase_orders/{id:int}/{action:str}", sync_to_thread=False, responses=CHANGE_ERRORS)
def purchase_order_action(
    request: Request[Any, Any, Any],
    sandbox: Sandbox,
    id: Id,
    action: Annotated[Action, PathParameter(description="issue, close, cancel or reopen.")],
) -> PurchaseOrder:
    """Move a purchase order through its life: ``issue``, ``close``, ``cancel``, ``reopen``."""
    authorize(request, sandbox, "core.purchase_order.write")
    store = sandbox.store
    order = load(store, "purchase_orders", PurchaseOrder, id, "purchase order")
    allowed_from, target = TRANSITIONS[action]
    if order.status not in allowed_from:
        possible = sorted(a for a, (froms, _) in TRANSITIONS.items() if order.status in froms)
        raise CoupaError(422, f"cannot {action} purchase order {order.po_number}: it is {order.status}; "
                              f"allowed actions: {', '.join(possible) or 'none'}")
    if action == "issue":
        supplier = load(store, "suppliers", Supplier, order.supplier.id, "supplier")
        if supplier.on_hold:
            raise CoupaError(422, f"cannot issue purchase order {order.po_number}: supplier {supplier.id} is on hold")
    if action == "cancel" and any(line.received for line in order.order_lines):
        raise CoupaError(422, f"cannot cancel purchase order {order.po_number}: goods were received; close it")
    moment = now()
    order = msgspec.structs.replace(order, status=target, updated_at=moment,
                                    issued_at=moment if action == "issue" else order.issued_at)
    doc = save(store, "purchase_orders", order)
    sandbox.emit(f"purchase_order.{'issued' if action == 'reopen' else target}", doc)
    return order


# --- receipts --------------------------------------------------------------------------------


def find_order_line(store: Store, line_id: int) -> tuple[PurchaseOrder, OrderLine]:
    """The purchase order holding order line ``line_id``.

    Raises:
        CoupaError: 404 when no order has that line.
    """
    for doc in store.all("purchase_orders"):
        for line in doc["order-lines"]:
            if line["id"] == line_id:
                order = msgspec.convert(doc, PurchaseOrder)
                return order, next(x for x in order.order_lines if x.id == line_id)
    raise CoupaError(404, f"order line {line_id} not found")


@get("/api/receiving_transactions", sync_to_thread=False, responses=LIST_ERRORS)
def list_receipts(
    request: Request[Any, Any, Any], sandbox: Sandbox, query: QueryParams
) -> list[ReceivingTransaction]:
    """Receipts, filtered by any field (``order-line[order-header-id]=12``), ``offset``/``limit``."""
    authorize(request, sandbox, "core.purchase_order.read")
    return [msgspec.convert(d, ReceivingTransaction)
            for d in page(sandbox.store, "receiving_transactions", ReceivingTransaction, dict(query.items()))]


@get("/api/receiving_transactions/{id:int}", sync_to_thread=False, responses=READ_ERRORS)
def get_receipt(request: Request[Any, Any, Any], sandbox: Sandbox, id: Id) -> ReceivingTransaction:
    """One receipt."""
    authorize(request, sandbox, "core.purchase_order.read")
    return load(sandbox.store, "receiving_transactions", ReceivingTransaction, id, "receiving transaction")


@post("/api/receiving_transactions", status_code=201, dto=StrictBody[ReceiptCreate], return_dto=None,
       sync_to_thread=False, responses=CHANGE_ERRORS)
def create_receipt(
    request: Request[Any, Any, Any], sandbox: Sandbox, data: JSONBody[ReceiptCreate]
) -> ReceivingTransaction:
    """Receive goods against a line of an issued purchase order (never more than ordered)."""
    authorize(request, sandbox, "core.purchase_order.write")
    store = sandbox.store
    order, line = find_order_line(store, data.order_line.id)
    quantity = Decimal(data.quantity)
    if order.status != "issued":
        raise CoupaError(422, f"purchase order {order.po_number} is {order.status}; only issued orders take receipts")
    if line.received + quantity > line.quantity:
        raise CoupaError(422, f"order line {line.id}: receiving {quantity} would exceed the ordered "
                              f"{line.quantity} ({line.received} already received)")
    moment = now()
    lines = [msgspec.structs.replace(x, received=x.received + quantity) if x.id == line.id else x
             for x in order.order_lines]
    save(store, "purchase_orders", msgspec.structs.replace(order, order_lines=lines, updated_at=moment))
    receipt = ReceivingTransaction(
        id=next_id(store, "receiving_transactions"), created_at=moment,
        transaction_date=data.transaction_date or moment.date(), quantity=quantity,
        order_line=OrderLineRef(id=line.id, line_num=line.line_num, order_header_id=order.id,
                                po_number=order.po_number),
        custom_fields=data.custom_fields,
    )
    sandbox.emit("receipt.created", save(store, "receiving_transactions", receipt))
    return receipt


order_handlers = [
    list_requisitions, get_requisition, create_requisition, submit_requisition,
    list_purchase_orders, get_purchase_order, create_purchase_order, purchase_order_action,
    list_receipts, get_receipt, create_receipt,
]
