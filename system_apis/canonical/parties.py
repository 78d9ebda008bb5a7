"""Parties: the legal entities we book for, the suppliers we pay, the employees we reimburse."""

from __future__ import annotations

from typing import Literal, get_args

import msgspec

from system_apis.canonical.identifiers import (
    BankAccount,
    CompanyCode,
    CountryCode,
    Instant,
    TaxId,
    check_choice,
    require_aware,
)
from system_apis.canonical.money import CurrencyCode, OptionalCurrencyCode, minor_units

__all__ = [
    "Employee",
    "LegalEntity",
    "Supplier",
    "SupplierDraft",
    "SupplierStatus",
]

SupplierStatus = Literal["pending", "active", "blocked", "inactive"]
"""``pending`` (created, awaiting approval), ``active`` (may be ordered from and paid),
``blocked`` (payments and postings stopped), ``inactive`` (no longer used)."""


class LegalEntity(msgspec.Struct, frozen=True, kw_only=True):
    """A legal entity (SAP company code): the unit that keeps books in one currency."""

    company_code: CompanyCode
    """Code of the entity, e.g. ``DE01``."""
    name: str
    """Registered name."""
    country: CountryCode
    """Country of registration."""
    currency: CurrencyCode
    """Functional (local) currency of the books."""
    tax_id: TaxId | None = None
    """The entity's own tax id, if known."""

    def __post_init__(self) -> None:
        minor_units(self.currency)  # refuses unknown currencies


class SupplierDraft(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The body of a supplier create: what a caller may set."""

    name: str
    """Legal name of the supplier."""
    country: CountryCode
    """Country of the supplier's registered address."""
    tax_id: TaxId | None = None
    """VAT number or national tax id."""
    bank_accounts: list[BankAccount] = msgspec.field(default_factory=list)
    """Accounts payments may go to."""
    payment_terms: str | None = None
    """Canonical payment terms code: ``NET<days>`` (``NET30``) or ``IMMEDIATE``."""
    currency: OptionalCurrencyCode = None
    """Default order/invoice currency."""
    email: str | None = None
    """Contact e-mail for remittance advice."""
    erp_supplier_number: str | None = None
    """The supplier's number in the ERP, when it already exists there."""
    procurement_supplier_id: str | None = None
    """The supplier's id in the procurement platform, when it already exists there."""

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("supplier name must not be empty")
        if self.currency is not None:
            minor_units(self.currency)


class Supplier(msgspec.Struct, frozen=True, kw_only=True):
    """A supplier (vendor) as one platform knows it, in canonical form.

    ``issues`` lets a connector keep a record whose platform data is partly invalid (say, a
    bank account with a bad IBAN) visible instead of failing the whole list: the invalid part
    is left out and described there.
    """

    id: str
    """The supplier's id in the platform that answered (ERP supplier number, procurement id, ...)."""
    name: str
    """Legal name."""
    country: CountryCode | None = None
    """Country of the registered address."""
    tax_id: TaxId | None = None
    """VAT number or national tax id."""
    bank_accounts: list[BankAccount] = msgspec.field(default_factory=list)
    """Valid accounts payments may go to."""
    payment_terms: str | None = None
    """Canonical payment terms code: ``NET<days>`` (``NET30``) or ``IMMEDIATE``."""
    status: SupplierStatus = "active"
    """Lifecycle status."""
    currency: OptionalCurrencyCode = None
    """Default order/invoice currency."""
    email: str | None = None
    """Contact e-mail for remittance advice."""
    company_codes: list[CompanyCode] = msgspec.field(default_factory=list)
    """Legal entities the supplier is set up for (ERP company code extensions)."""
    erp_supplier_number: str | None = None
    """Cross-reference: the supplier's number in the ERP."""
    procurement_supplier_id: str | None = None
    """Cross-reference: the supplier's id in the procurement platform."""
    issues: list[str] = msgspec.field(default_factory=list)
    """Data problems found while mapping the platform's record (e.g. an invalid IBAN left out)."""
    created_at: Instant | None = None
    """When the platform created the record."""
    updated_at: Instant | None = None
    """When the platform last changed the record."""

    def __post_init__(self) -> None:
        check_choice(self.status, get_args(SupplierStatus), "supplier status")
        if self.currency is not None:
            minor_units(self.currency)
        msgspec.structs.force_setattr(self, "created_at", require_aware(self.created_at, "created_at"))
        msgspec.structs.force_setattr(self, "updated_at", require_aware(self.updated_at, "updated_at"))


class Employee(msgspec.Struct, frozen=True, kw_only=True):
    """An employee who submits expense reports or requisitions."""

    id: str
    """The employee's id in the platform that answered (e.g. Concur employee id)."""
    first_name: str
    """Given name."""
    last_name: str
    """Family name."""
    email: str
    """Work e-mail (also the usual login)."""
    company_code: CompanyCode
    """Legal entity that employs the person."""
    employee_number: str | None = None
    """HR personnel number, if different from ``id``."""
    cost_center: str | None = None
    """Default cost center for the person's expenses."""
    currency: OptionalCurrencyCode = None
    """Reimbursement currency."""
    country: CountryCode | None = None
    """Country of employment."""
    manager_id: str | None = None
    """Id of the approving manager."""
    active: bool = True
    """Whether the person is still employed."""

    @property
    def name(self) -> str:
        """Full name, given name first."""
        return f"{self.first_name} {self.last_name}"
