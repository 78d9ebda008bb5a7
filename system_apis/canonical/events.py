"""Canonical business events: one envelope, typed payloads.

Platforms announce changes in their own webhook formats (Concur ``statusChanged``, Coupa
callbacks, Kyriba notifications...). Connectors translate them into an :class:`Event` whose
``data`` is one of the payload Structs below, so process flows react to "a supplier was
approved" without knowing which platform said so.

Example:
    >>> event = new_event(SupplierApproved(supplier_id="S1", name="ACME"), source="procurement")
    >>> decode_event(msgspec.json.encode(event)) == event
    True
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, ClassVar, Generic, TypeVar

import msgspec

from system_apis.canonical.expense import ExpenseReportStatus
from system_apis.canonical.identifiers import CompanyCode, Instant, require_aware, utc_now
from system_apis.canonical.money import Money
from system_apis.canonical.treasury import PaymentObligationStatus

__all__ = [
    "EVENT_TYPES",
    "BudgetLineConsumed",
    "Event",
    "EventData",
    "ExpenseReportStatusChanged",
    "GoodsReceived",
    "JournalEntryPosted",
    "PaymentConfirmed",
    "PaymentFailed",
    "PaymentObligationStatusChanged",
    "PurchaseOrderIssued",
    "SupplierApproved",
    "SupplierChanged",
    "SupplierInvoicePosted",
    "decode_event",
    "new_event",
]


class EventData(msgspec.Struct, frozen=True, kw_only=True):
    """Base of event payloads; ``event_type`` is the envelope's ``type`` for the payload."""

    event_type: ClassVar[str] = ""


class SupplierApproved(EventData, frozen=True, kw_only=True):
    """A supplier passed onboarding and may be ordered from and paid."""

    event_type: ClassVar[str] = "supplier.approved"
    supplier_id: str
    """Supplier id in the source platform."""
    name: str
    """Supplier name."""
    erp_supplier_number: str | None = None
    """ERP number, when already known."""


class SupplierChanged(EventData, frozen=True, kw_only=True):
    """A supplier's master data changed (name, bank accounts, tax id, status)."""

    event_type: ClassVar[str] = "supplier.changed"
    supplier_id: str
    """Supplier id in the source platform."""
    changed_fields: list[str] = msgspec.field(default_factory=list)
    """Canonical field names that changed, if the platform says."""


class ExpenseReportStatusChanged(EventData, frozen=True, kw_only=True):
    """An expense report moved to another status (Concur ``statusChanged``)."""

    event_type: ClassVar[str] = "expense_report.status_changed"
    report_id: str
    """Report id in the expense platform."""
    employee_id: str
    """Report owner."""
    new_status: ExpenseReportStatus
    """Status now."""
    old_status: ExpenseReportStatus | None = None
    """Status before, if the platform says."""


class PurchaseOrderIssued(EventData, frozen=True, kw_only=True):
    """A purchase order was sent to its supplier."""

    event_type: ClassVar[str] = "purchase_order.issued"
    purchase_order_id: str
    """Order id in the procurement platform."""
    supplier_id: str
    """Supplier ordered from."""
    total: Money
    """Order total."""


class GoodsReceived(EventData, frozen=True, kw_only=True):
    """Goods or services were received against a purchase order."""

    event_type: ClassVar[str] = "goods_receipt.created"
    receipt_id: str
    """Receipt id."""
    purchase_order_id: str
    """Order received against."""


class SupplierInvoicePosted(EventData, frozen=True, kw_only=True):
    """A supplier invoice was posted in the ERP."""

    event_type: ClassVar[str] = "supplier_invoice.posted"
    invoice_id: str
    """Canonical invoice id."""
    company_code: CompanyCode
    """Entity."""
    gross_amount: Money
    """Invoice total."""
    erp_document_number: str | None = None
    """ERP document number."""


class JournalEntryPosted(EventData, frozen=True, kw_only=True):
    """A journal entry was posted (or a reversal of one)."""

    event_type: ClassVar[str] = "journal_entry.posted"
    entry_id: str
    """Canonical entry id."""
    company_code: CompanyCode
    """Entity."""
    reversal_of: str | None = None
    """Entry reversed by this one, for reversals."""


class PaymentObligationStatusChanged(EventData, frozen=True, kw_only=True):
    """A payment obligation moved to another status."""

    event_type: ClassVar[str] = "payment_obligation.status_changed"
    obligation_id: str
    """Obligation id in the treasury platform."""
    new_status: PaymentObligationStatus
    """Status now."""
    old_status: PaymentObligationStatus | None = None
    """Status before, if known."""


class PaymentConfirmed(EventData, frozen=True, kw_only=True):
    """The bank confirmed a payment was executed."""

    event_type: ClassVar[str] = "payment.confirmed"
    payment_id: str
    """Payment id."""
    amount: Money
    """Amount paid."""
    value_date: dt.date
    """Execution date."""
    obligation_ids: list[str] = msgspec.field(default_factory=list)
    """Obligations settled."""
    bank_reference: str | None = None
    """The bank's reference."""


class PaymentFailed(EventData, frozen=True, kw_only=True):
    """The bank rejected or returned a payment."""

    event_type: ClassVar[str] = "payment.failed"
    payment_id: str
    """Payment id."""
    reason: str
    """The bank's reason."""


class BudgetLineConsumed(EventData, frozen=True, kw_only=True):
    """An amount was consumed against a budget line."""

    event_type: ClassVar[str] = "budget_line.consumed"
    budget_line_id: str
    """Budget line id."""
    amount: Money
    """Amount consumed now."""
    consumed: Money
    """Total consumed after this."""
    remaining: Money
    """Budget left after this (negative when overspent)."""


EVENT_TYPES: dict[str, type[EventData]] = {
    cls.event_type: cls
    for cls in (
        SupplierApproved,
        SupplierChanged,
        ExpenseReportStatusChanged,
        PurchaseOrderIssued,
        GoodsReceived,
        SupplierInvoicePosted,
        JournalEntryPosted,
        PaymentObligationStatusChanged,
        PaymentConfirmed,
        PaymentFailed,
        BudgetLineConsumed,
    )
}
"""Event type name -> payload Struct."""

D = TypeVar("D")


class Event(msgspec.Struct, Generic[D], frozen=True, kw_only=True):
    """The envelope of every canonical event."""

    id: str
    """Unique event id (consumers de-duplicate on it)."""
    type: str
    """Event type, e.g. ``supplier.approved`` (see :data:`EVENT_TYPES`)."""
    occurred_at: Instant
    """When the change happened, UTC."""
    source: str
    """Platform or tier that reported it, e.g. ``expense``."""
    data: D
    """The payload."""
    subject: str | None = None
    """Id of the object the event is about, for routing and ordering."""
    correlation_id: str | None = None
    """Correlation id of the call that caused it, if known."""

    def __post_init__(self) -> None:
        if not self.type:
            raise ValueError("event type must not be empty")
        expected = getattr(self.data, "event_type", None)
        if isinstance(self.data, EventData) and expected != self.type:
            raise ValueError(f"event type {self.type!r} does not match its {type(self.data).__name__} payload")
        msgspec.structs.force_setattr(self, "occurred_at", require_aware(self.occurred_at, "occurred_at"))


E = TypeVar("E", bound=EventData)


def new_event(
    data: E,
    *,
    source: str,
    occurred_at: dt.datetime | None = None,
    subject: str | None = None,
    correlation_id: str | None = None,
    event_id: str | None = None,
) -> Event[E]:
    """Wrap a payload in an envelope with a fresh id and its type; ``occurred_at`` defaults to now."""
    return Event(
        id=event_id or f"evt_{uuid.uuid4().hex}",
        type=data.event_type,
        occurred_at=occurred_at or utc_now(),
        source=source,
        data=data,
        subject=subject,
        correlation_id=correlation_id,
    )


_ENVELOPE = msgspec.json.Decoder(Event[msgspec.Raw])


def decode_event(raw: bytes | str) -> Event[Any]:
    """Decode a JSON event, choosing the payload Struct by its ``type``.

    Raises:
        msgspec.ValidationError: malformed envelope or payload, or an unknown type.
    """
    envelope = _ENVELOPE.decode(raw)
    payload_type = EVENT_TYPES.get(envelope.type)
    if payload_type is None:
        raise msgspec.ValidationError(f"unknown event type {envelope.type!r}")
    data = msgspec.json.decode(envelope.data, type=payload_type)
    return msgspec.structs.replace(envelope, data=data)
