"""Coupa wire objects to canonical objects and back.

Mapping is where the dialect's meaning is decided: Coupa's ``approved`` supplier on hold is a
canonical ``blocked`` one, ``Net 30`` is ``NET30``, an account string's segments are company
code, GL account and cost center, the ERP supplier number and the entity are custom fields.
Invalid tax ids and bank accounts on a supplier do not fail the supplier: they are left out
and described in ``issues``. Anything else that cannot be mapped raises :class:`MappingError`
(the connector answers it as a malformed platform answer, 502).
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from system_apis.canonical import (
    BankAccount,
    BankAccountError,
    BudgetLine,
    GoodsReceipt,
    GoodsReceiptLine,
    Money,
    MoneyError,
    PurchaseOrder,
    PurchaseOrderLine,
    Requisition,
    RequisitionLine,
    Supplier,
    SupplierInvoice,
    SupplierInvoiceLine,
    SupplierStatus,
    TaxId,
    TaxIdError,
)
from system_apis.connectors.procurement import wire
from system_apis.connectors.procurement.drafts import PurchaseOrderDraft, RequisitionDraft

__all__ = [
    "COMPANY_CODE",
    "ERP_NUMBER",
    "EXTERNAL_REF",
    "INVOICE_STATUS",
    "RECEIPT_REF",
    "MappingError",
    "account_to_wire",
    "budget_line_from_wire",
    "invoice_from_wire",
    "payment_terms_from_wire",
    "payment_terms_to_wire",
    "purchase_order_from_wire",
    "purchase_order_to_wire",
    "receipt_from_wire",
    "requisition_from_wire",
    "requisition_to_wire",
    "supplier_from_wire",
    "supplier_status_filter",
    "supplier_to_wire",
]

COMPANY_CODE = "company-code"
ERP_NUMBER = "erp-supplier-number"
EXTERNAL_REF = "external-ref"
RECEIPT_REF = "receipt-ref"

SUPPLIER_STATUS_FILTER: dict[str, dict[str, str]] = {
    "pending": {"status[in]": "draft,pending_approval"},
    "active": {"status": "approved", "on-hold": "false"},
    "blocked": {"status": "approved", "on-hold": "true"},
    "inactive": {"status": "inactive"},
}
INVOICE_STATUS = {"draft": "draft", "pending_approval": "received", "approved": "approved", "voided": "cancelled"}
_NET = re.compile(r"^\s*net\s*(\d{1,3})\s*$", re.IGNORECASE)


class MappingError(ValueError):
    """A platform object that cannot be expressed in the canonical model."""


def supplier_status_filter(status: SupplierStatus) -> dict[str, str]:
    """Coupa query parameters selecting suppliers of canonical ``status``."""
    return SUPPLIER_STATUS_FILTER[status]


def payment_terms_from_wire(term: wire.PaymentTerm | None) -> str | None:
    """``Net 30`` (or 30 days) -> ``NET30``; 0 days -> ``IMMEDIATE``."""
    if term is None:
        return None
    days = term.days_for_net_payment
    if days is None and (match := _NET.match(term.code)):
        days = int(match.group(1))
    if days is None:
        return None
    return "IMMEDIATE" if days == 0 else f"NET{days}"


def payment_terms_to_wire(terms: str | None) -> wire.PaymentTerm | None:
    """``NET30`` -> ``Net 30``; ``IMMEDIATE`` -> ``Net 0``."""
    if terms is None:
        return None
    days = 0 if terms == "IMMEDIATE" else int(terms.removeprefix("NET"))
    return wire.PaymentTerm(code=f"Net {days}", days_for_net_payment=days)


def _supplier_status(supplier: wire.Supplier) -> SupplierStatus:
    if supplier.status == "approved":
        return "blocked" if supplier.on_hold else "active"
    if supplier.status in ("draft", "pending_approval"):
        return "pending"
    if supplier.status == "inactive":
        return "inactive"
    raise MappingError(f"supplier {supplier.id} has an unknown status {supplier.status!r}")


def supplier_from_wire(supplier: wire.Supplier) -> Supplier:
    """A Coupa supplier in canonical form; invalid tax ids and bank accounts go to ``issues``."""
    issues: list[str] = []
    country = supplier.primary_address.country.code if supplier.primary_address else None
    tax_id = None
    if supplier.tax_id:
        try:
            tax_id = TaxId.parse(supplier.tax_id, country) if country else TaxId.parse(supplier.tax_id)
        except TaxIdError as exc:
            issues.append(f"tax id left out: {exc}")
    accounts = []
    for index, remit in enumerate(supplier.remit_to_addresses):
        if not (remit.iban or remit.bank_account_number):
            continue
        try:
            accounts.append(BankAccount(
                holder=remit.bank_account_holder or supplier.name, iban=remit.iban, bic=remit.bic,
                account_number=None if remit.iban else remit.bank_account_number,
                bank_code=None if remit.iban else remit.bank_code, country=remit.country.code,
            ))
        except BankAccountError as exc:
            issues.append(f"remit-to address {index + 1}: bank account left out: {exc}")
    company = supplier.custom_fields.get(COMPANY_CODE)
    try:
        return Supplier(
            id=str(supplier.id), name=supplier.name, country=country, tax_id=tax_id, bank_accounts=accounts,
            payment_terms=payment_terms_from_wire(supplier.payment_term), status=_supplier_status(supplier),
            company_codes=[company] if company else [], erp_supplier_number=supplier.custom_fields.get(ERP_NUMBER),
            procurement_supplier_id=str(supplier.id), issues=issues, created_at=supplier.created_at,
            updated_at=supplier.updated_at,
        )
    except (ValueError, TypeError) as exc:
        raise MappingError(f"supplier {supplier.id}: {exc}") from exc


def supplier_to_wire(supplier: Supplier) -> wire.Supplier:
    """A canonical supplier as a Coupa supplier (for round trips and fixtures)."""
    status, on_hold = {"pending": ("pending_approval", False), "active": ("approved", False),
                       "blocked": ("approved", True), "inactive": ("inactive", False)}[supplier.status]
    country = wire.CodeRef(code=supplier.country) if supplier.country else None
    remits = [
        wire.RemitToAddress(
            country=wire.CodeRef(code=account.country or supplier.country or "US"), name=f"Account {n}",
            bank_account_holder=account.holder, iban=account.iban, bic=account.bic, bank_code=account.bank_code,
            bank_account_number=account.account_number,
        )
        for n, account in enumerate(supplier.bank_accounts, 1)
    ]
    custom: dict[str, str | None] = {ERP_NUMBER: supplier.erp_supplier_number}
    if supplier.company_codes:
        custom[COMPANY_CODE] = supplier.company_codes[0]
    return wire.Supplier(
        id=int(supplier.procurement_supplier_id or supplier.id), name=supplier.name,
        number=f"SUP-{int(supplier.procurement_supplier_id or supplier.id):05d}", status=status,
        created_at=supplier.created_at, updated_at=supplier.updated_at,
        tax_id=supplier.tax_id.value if supplier.tax_id else None,
        payment_term=payment_terms_to_wire(supplier.payment_terms), on_hold=on_hold,
        primary_address=wire.Address(country=country) if country else None, remit_to_addresses=remits,
        custom_fields=custom,
    )


def _money(amount: Decimal, currency: str, what: str) -> Money:
    try:
        return Money(amount, currency)
    except MoneyError as exc:
        raise MappingError(f"{what}: {exc}") from exc


def _rounded(amount: Decimal, currency: str, what: str) -> Money:
    """A computed amount (a total) in the currency's minor units: Coupa may carry more decimals."""
    try:
        quantum = Money(Decimal(0), currency).amount
    except MoneyError as exc:
        raise MappingError(f"{what}: {exc}") from exc
    try:
        rounded = amount.quantize(quantum, rounding=ROUND_HALF_EVEN)
    except InvalidOperation:  # not finite, or far too large to round
        raise MappingError(f"{what}: amount {amount} is out of range") from None
    return _money(rounded, currency, what)


def _line_amount(quantity: Decimal, price: Decimal, currency: str, what: str) -> Money:
    """A line total in the currency's minor units (Coupa may carry more decimals)."""
    return _rounded(quantity * price, currency, what)


def _company(custom: dict[str, str | None], accounts: list[wire.Account | None], what: str) -> str:
    company = custom.get(COMPANY_CODE) or next((a.segment_1 for a in accounts if a is not None), None)
    if not company:
        raise MappingError(f"{what} names no company code (custom field or account segment 1)")
    return company


def account_to_wire(company_code: str, gl_account: str | None, cost_center: str | None) -> wire.Account | None:
    """The Coupa account string of a canonical charge (None without a GL account)."""
    if gl_account is None:
        return None
    segments = [company_code, gl_account, *([cost_center] if cost_center else [])]
    return wire.Account(code="-".join(segments), segment_1=company_code, segment_2=gl_account,
                        segment_3=cost_center)


def _guard(what: str) -> _Guard:
    return _Guard(what)


class _Guard:
    """Turns canonical validation errors raised while mapping ``what`` into :class:`MappingError`."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is not None and isinstance(exc, ValueError | TypeError) and not isinstance(exc, MappingError):
            raise MappingError(f"{self.what}: {exc}") from exc


def requisition_from_wire(requisition: wire.Requisition) -> Requisition:
    """A Coupa requisition in canonical form."""
    what = f"requisition {requisition.id}"
    currency = requisition.currency.code
    with _guard(what):
        lines = [
            RequisitionLine(
                line_number=line.line_num, description=line.description, quantity=line.quantity,
                unit_price=_money(line.unit_price, line.currency.code, what),
                amount=_line_amount(line.quantity, line.unit_price, line.currency.code, what),
                supplier_id=str(line.supplier.id) if line.supplier else None,
                gl_account=line.account.segment_2 if line.account else None,
                cost_center=line.account.segment_3 if line.account else None, need_by=line.need_by_date,
            )
            for line in requisition.requisition_lines
        ]
        return Requisition(
            id=str(requisition.id), requester_id=requisition.requested_by.login,
            company_code=_company(requisition.custom_fields, [x.account for x in requisition.requisition_lines],
                                  what),
            status=requisition.status,  # type: ignore[arg-type]  # checked by Requisition itself
            total=_rounded(requisition.total, currency, what), lines=lines, title=requisition.justification,
            submitted_at=requisition.submitted_at,
        )


def requisition_to_wire(draft: RequisitionDraft, reference: str) -> wire.RequisitionCreate:
    """The Coupa create body of a requisition draft, carrying ``reference``."""
    return wire.RequisitionCreate(
        requested_by=wire.UserRef(login=draft.requester_id),
        currency=wire.CodeRef(code=draft.lines[0].unit_price.currency),
        requisition_lines=[
            wire.RequisitionLineCreate(
                description=line.description, quantity=line.quantity, unit_price=line.unit_price.amount,
                account=account_to_wire(draft.company_code, line.gl_account, line.cost_center),
                supplier=wire.IdRef(id=int(line.supplier_id)) if line.supplier_id else None,
                need_by_date=line.need_by,
            )
            for line in draft.lines
        ],
        justification=draft.title,
        custom_fields={COMPANY_CODE: draft.company_code, EXTERNAL_REF: reference},
    )


def purchase_order_from_wire(order: wire.PurchaseOrder) -> PurchaseOrder:
    """A Coupa purchase order in canonical form."""
    what = f"purchase order {order.id}"
    with _guard(what):
        lines = [
            PurchaseOrderLine(
                line_number=line.line_num, description=line.description, quantity=line.quantity,
                unit_price=_money(line.price, line.currency.code, what),
                amount=_line_amount(line.quantity, line.price, line.currency.code, what),
                received_quantity=line.received,
                gl_account=line.account.segment_2 if line.account else None,
                cost_center=line.account.segment_3 if line.account else None,
            )
            for line in order.order_lines
        ]
        return PurchaseOrder(
            id=str(order.id), po_number=order.po_number, supplier_id=str(order.supplier.id),
            company_code=_company(order.custom_fields, [x.account for x in order.order_lines], what),
            status=order.status,  # type: ignore[arg-type]  # checked by PurchaseOrder itself
            order_date=(order.issued_at or order.created_at).date(),
            total=_rounded(order.total, order.currency.code, what), lines=lines,
            requisition_id=str(order.requisition_header.id) if order.requisition_header else None,
        )


def purchase_order_to_wire(draft: PurchaseOrderDraft, reference: str) -> wire.PurchaseOrderCreate:
    """The Coupa create body of a purchase order draft, carrying ``reference``."""
    return wire.PurchaseOrderCreate(
        supplier=wire.IdRef(id=int(draft.supplier_id)),
        currency=wire.CodeRef(code=draft.lines[0].unit_price.currency),
        order_lines=[
            wire.OrderLineCreate(
                description=line.description, quantity=line.quantity, price=line.unit_price.amount,
                account=account_to_wire(draft.company_code, line.gl_account, line.cost_center),
            )
            for line in draft.lines
        ],
        requisition_header=wire.IdRef(id=int(draft.requisition_id)) if draft.requisition_id else None,
        custom_fields={COMPANY_CODE: draft.company_code, EXTERNAL_REF: reference},
    )


def receipt_from_wire(receipt_id: str, transactions: list[wire.ReceivingTransaction]) -> GoodsReceipt:
    """One canonical receipt from the Coupa receiving transactions that make it up (one per line)."""
    what = f"receipt {receipt_id}"
    with _guard(what):
        if not transactions:
            raise MappingError(f"{what} has no receiving transactions")
        first = transactions[0]
        if first.order_line.order_header_id is None or any(t.order_line.line_num is None for t in transactions):
            raise MappingError(f"{what}: a receiving transaction does not name its order and line")
        return GoodsReceipt(
            id=receipt_id, purchase_order_id=str(first.order_line.order_header_id),
            receipt_date=first.transaction_date,
            lines=[GoodsReceiptLine(po_line_number=t.order_line.line_num or 0, quantity=t.quantity)
                   for t in transactions],
        )


def invoice_from_wire(invoice: wire.Invoice) -> SupplierInvoice:
    """A Coupa invoice in canonical form (tax is not itemised in this dialect: zero)."""
    what = f"invoice {invoice.id}"
    currency = invoice.currency.code
    status = INVOICE_STATUS.get(invoice.status)
    if status is None:
        raise MappingError(f"{what} has an unknown status {invoice.status!r}")
    if status == "approved" and invoice.paid:
        status = "paid"
    with _guard(what):
        lines = [
            SupplierInvoiceLine(
                line_number=line.line_num, amount=_line_amount(line.quantity, line.price, currency, what),
                gl_account=line.account.segment_2 if line.account else "", description=line.description,
                cost_center=line.account.segment_3 if line.account else None, quantity=line.quantity,
                purchase_order_line=line.order_line_num,
            )
            for line in invoice.invoice_lines
        ]
        order_ids = {line.order_header_id for line in invoice.invoice_lines if line.order_header_id is not None}
        return SupplierInvoice(
            id=str(invoice.id),
            company_code=_company(invoice.custom_fields, [x.account for x in invoice.invoice_lines], what),
            supplier_id=str(invoice.supplier.id), invoice_number=invoice.invoice_number,
            invoice_date=invoice.invoice_date, gross_amount=_rounded(invoice.total, currency, what),
            tax_amount=_money(Decimal(0), currency, what),
            status=status,  # type: ignore[arg-type]  # values of INVOICE_STATUS
            lines=lines, purchase_order_id=str(order_ids.pop()) if len(order_ids) == 1 else None,
            reference=invoice.custom_fields.get(EXTERNAL_REF), created_at=invoice.created_at,
        )


def budget_line_from_wire(line: wire.BudgetLine) -> BudgetLine:
    """A Coupa budget line in canonical form: the period's first month is its fiscal period."""
    what = f"budget line {line.id}"
    with _guard(what):
        return BudgetLine(
            id=str(line.id), budget_id=line.period.name, company_code=line.account.segment_1,
            cost_center=line.account.segment_3 or "", fiscal_year=line.period.start_date.year,
            period=line.period.start_date.month, amount=_money(line.amount, line.currency.code, what),
            consumed=_money(line.consumed, line.currency.code, what), gl_account=line.account.segment_2,
        )
