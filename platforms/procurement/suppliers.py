"""``/api/suppliers``: list, read, create and update suppliers.

An update that moves a supplier to ``approved`` sends the ``supplier.approved`` webhook; the
ERP supplier number is the ``erp-supplier-number`` custom field, set with ``PUT``.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, get, post, put
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter, QueryParams

from platforms.kit.app import SandboxState
from platforms.procurement.auth import authorize
from platforms.procurement.bodies import StrictBody, SupplierCreate, SupplierUpdate
from platforms.procurement.common import (
    CHANGE_ERRORS,
    CREATE_ERRORS,
    LIST_ERRORS,
    READ_ERRORS,
    CoupaError,
    load,
    next_id,
    now,
    page,
    save,
)
from platforms.procurement.models import Supplier

__all__ = ["supplier_handlers"]

Sandbox = NamedDependency[SandboxState]
Id = Annotated[int, PathParameter(ge=1, le=2**31 - 1, description="Coupa id.")]


@get("/api/suppliers", sync_to_thread=False, responses=LIST_ERRORS)
def list_suppliers(request: Request[Any, Any, Any], sandbox: Sandbox, query: QueryParams) -> list[Supplier]:
    """Suppliers, filtered by any field (``status=approved``, ``tax-id=...``), ``offset``/``limit``."""
    authorize(request, sandbox, "core.supplier.read")
    docs = page(sandbox.store, "suppliers", Supplier, dict(query.items()))
    return [msgspec.convert(d, Supplier) for d in docs]


@get("/api/suppliers/{id:int}", sync_to_thread=False, responses=READ_ERRORS)
def get_supplier(request: Request[Any, Any, Any], sandbox: Sandbox, id: Id) -> Supplier:
    """One supplier."""
    authorize(request, sandbox, "core.supplier.read")
    return load(sandbox.store, "suppliers", Supplier, id, "supplier")


@post("/api/suppliers", status_code=201, dto=StrictBody[SupplierCreate], return_dto=None,
       sync_to_thread=False, responses=CREATE_ERRORS)
def create_supplier(
    request: Request[Any, Any, Any], sandbox: Sandbox, data: JSONBody[SupplierCreate]
) -> Supplier:
    """Create a supplier; names and numbers are unique."""
    authorize(request, sandbox, "core.supplier.write")
    store = sandbox.store
    if store.find("suppliers", name=data.name):
        raise CoupaError(422, f"name {data.name!r} has already been taken")
    id = next_id(store, "suppliers")
    number = data.number or f"SUP-{id:05d}"
    if store.find("suppliers", number=number):
        raise CoupaError(422, f"number {number!r} has already been taken")
    moment = now()
    supplier = Supplier(
        id=id, created_at=moment, updated_at=moment, name=data.name, display_name=data.display_name or data.name,
        number=number, status=data.status, tax_id=data.tax_id, invoice_matching_level=data.invoice_matching_level,
        payment_term=data.payment_term, on_hold=data.on_hold, primary_address=data.primary_address,
        remit_to_addresses=data.remit_to_addresses, custom_fields=data.custom_fields,
    )
    save(store, "suppliers", supplier)
    return supplier


@put("/api/suppliers/{id:int}", dto=StrictBody[SupplierUpdate], return_dto=None,
     sync_to_thread=False, responses=CHANGE_ERRORS)
def update_supplier(
    request: Request[Any, Any, Any], sandbox: Sandbox, id: Id, data: JSONBody[SupplierUpdate]
) -> Supplier:
    """Update a supplier; fields left out are kept and custom fields are merged."""
    authorize(request, sandbox, "core.supplier.write")
    store = sandbox.store
    supplier = load(store, "suppliers", Supplier, id, "supplier")
    before = supplier.status
    changes: dict[str, Any] = {
        name: getattr(data, name)
        for name in ("name", "display_name", "status", "tax_id", "invoice_matching_level", "payment_term", "on_hold")
        if getattr(data, name) is not None
    }
    if "name" in changes and any(d["id"] != id for d in store.find("suppliers", name=changes["name"])):
        raise CoupaError(422, f"name {changes['name']!r} has already been taken")
    if data.custom_fields is not None:
        changes["custom_fields"] = {**supplier.custom_fields, **data.custom_fields}
    supplier = msgspec.structs.replace(supplier, **changes, updated_at=now())
    doc = save(store, "suppliers", supplier)
    if supplier.status == "approved" and before != "approved":
        sandbox.emit("supplier.approved", doc)
    return supplier


supplier_handlers = [list_suppliers, get_supplier, create_supplier, update_supplier]
