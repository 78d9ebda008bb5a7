"""SAP S/4HANA OData V2 wire format: the entities exactly as the ERP sends and receives them.

Field names are SAP's (PascalCase, ``to_`` navigation properties); every field has a default
because SAP omits nothing but a ``$select`` may, and a navigation property that was not
expanded arrives as ``{"__deferred": ...}`` (decoded here as an empty value). Dates are SAP's
JSON ``/Date(<ms>)/`` strings and decimals are strings; :mod:`.mapping` converts both.
"""

# ruff: noqa: N815 - field names are SAP's

from __future__ import annotations

from decimal import Decimal
from typing import Generic, TypeVar

import msgspec

__all__ = [
    "BusinessPartner",
    "BusinessPartnerAddress",
    "BusinessPartnerBank",
    "BusinessPartnerTaxNumber",
    "CompanyCode",
    "CostCenter",
    "CostCenterText",
    "Entity",
    "EntitySet",
    "FiscalPeriod",
    "GLAccount",
    "GLAccountText",
    "JournalEntry",
    "JournalEntryItem",
    "Metadata",
    "OutgoingPayment",
    "Results",
    "Supplier",
    "SupplierCompany",
    "SupplierInvoice",
    "SupplierInvoiceItemGLAcct",
    "SupplierInvoiceTax",
    "SupplierRole",
]

T = TypeVar("T")


class Metadata(msgspec.Struct, omit_defaults=True):
    """``__metadata`` of an entity."""

    uri: str = ""
    type: str = ""
    etag: str | None = None


class Results(msgspec.Struct, Generic[T]):
    """A collection: ``{"results": [...]}`` with ``__count`` and ``__next`` when SAP adds them."""

    results: list[T] = msgspec.field(default_factory=list)
    count: str | None = msgspec.field(default=None, name="__count")
    next: str | None = msgspec.field(default=None, name="__next")


class EntitySet(msgspec.Struct, Generic[T]):
    """The envelope of a collection answer: ``{"d": {"results": [...]}}``."""

    d: Results[T]


class Entity(msgspec.Struct, Generic[T]):
    """The envelope of a single-entity answer: ``{"d": {...}}``."""

    d: T


class _Base(msgspec.Struct, omit_defaults=True, kw_only=True):
    metadata: Metadata | None = msgspec.field(default=None, name="__metadata")


class BusinessPartnerAddress(_Base, kw_only=True):
    """``A_BusinessPartnerAddress``."""

    BusinessPartner: str = ""
    AddressID: str = ""
    Country: str = ""
    Region: str = ""
    CityName: str = ""
    PostalCode: str = ""
    StreetName: str = ""
    HouseNumber: str = ""


class BusinessPartnerBank(_Base, kw_only=True):
    """``A_BusinessPartnerBank``."""

    BusinessPartner: str = ""
    BankIdentification: str = ""
    BankCountryKey: str = ""
    BankName: str = ""
    BankNumber: str = ""
    SWIFTCode: str = ""
    BankAccountHolderName: str = ""
    IBAN: str = ""
    BankAccount: str = ""


class BusinessPartnerTaxNumber(_Base, kw_only=True):
    """``A_BusinessPartnerTaxNumber``."""

    BusinessPartner: str = ""
    BPTaxType: str = ""
    BPTaxNumber: str = ""


class SupplierCompany(_Base, kw_only=True):
    """``A_SupplierCompany``: the supplier's settings in one company code."""

    Supplier: str = ""
    CompanyCode: str = ""
    PaymentTerms: str = ""
    ReconciliationAccount: str = ""
    PaymentBlockingReason: str = ""
    SupplierIsBlockedForPosting: bool = False


class Supplier(_Base, kw_only=True):
    """``A_Supplier``: the supplier role of a business partner."""

    Supplier: str = ""
    SupplierName: str = ""
    SupplierFullName: str = ""
    VATRegistration: str = ""
    TaxNumber1: str = ""
    PostingIsBlocked: bool = False
    PaymentIsBlockedForSupplier: bool = False
    PurchasingIsBlocked: bool = False
    DeletionIndicator: bool = False
    CreationDate: str | None = None
    to_SupplierCompany: Results[SupplierCompany] | None = None


SupplierRole = Supplier
"""Alias of :class:`Supplier` (the business partner's ``Supplier`` field shadows the name)."""


class BusinessPartner(_Base, kw_only=True):
    """``A_BusinessPartner`` with the navigation properties a supplier needs."""

    BusinessPartner: str = ""
    Supplier: str = ""
    BusinessPartnerCategory: str = ""
    BusinessPartnerFullName: str = ""
    OrganizationBPName1: str = ""
    OrganizationBPName2: str = ""
    FirstName: str = ""
    LastName: str = ""
    SearchTerm1: str = ""
    SearchTerm2: str = ""
    BusinessPartnerIsBlocked: bool = False
    IsMarkedForArchiving: bool = False
    CreationDate: str | None = None
    LastChangeDate: str | None = None
    to_BusinessPartnerAddress: Results[BusinessPartnerAddress] | None = None
    to_BusinessPartnerBank: Results[BusinessPartnerBank] | None = None
    to_BusinessPartnerTax: Results[BusinessPartnerTaxNumber] | None = None
    to_Supplier: SupplierRole | None = None


class CostCenterText(_Base, kw_only=True):
    """``A_CostCenterText``."""

    Language: str = ""
    CostCenterName: str = ""
    CostCenterDescription: str = ""


class CostCenter(_Base, kw_only=True):
    """``A_CostCenter`` (names in ``to_Text``)."""

    ControllingArea: str = ""
    CostCenter: str = ""
    ValidityStartDate: str | None = None
    ValidityEndDate: str | None = None
    CompanyCode: str = ""
    IsBlkdForPrimaryCostsPosting: bool = False
    CostCtrResponsiblePersonName: str = ""
    CostCenterCurrency: str = ""
    to_Text: Results[CostCenterText] | None = None


class GLAccountText(_Base, kw_only=True):
    """``A_GLAccountText``."""

    Language: str = ""
    GLAccountName: str = ""
    GLAccountLongName: str = ""


class GLAccount(_Base, kw_only=True):
    """``A_GLAccountInChartOfAccounts`` (names in ``to_Text``)."""

    ChartOfAccounts: str = ""
    GLAccount: str = ""
    IsBalanceSheetAccount: bool = False
    GLAccountType: str = ""
    AccountIsBlockedForPosting: bool = False
    AccountIsMarkedForDeletion: bool = False
    to_Text: Results[GLAccountText] | None = None


class CompanyCode(_Base, kw_only=True):
    """``A_CompanyCode``."""

    CompanyCode: str = ""
    CompanyCodeName: str = ""
    CityName: str = ""
    Country: str = ""
    Currency: str = ""
    ChartOfAccounts: str = ""
    VATRegistration: str = ""


class FiscalPeriod(_Base, kw_only=True):
    """``A_FiscalPeriod``: one posting period of a company code, open or closed."""

    CompanyCode: str = ""
    FiscalYear: str = ""
    FiscalPeriod: str = ""
    FiscalPeriodStartDate: str | None = None
    FiscalPeriodEndDate: str | None = None
    IsOpen: bool = False


class SupplierInvoiceItemGLAcct(_Base, kw_only=True):
    """``A_SupplierInvoiceItemGLAcct``: a G/L account line of a supplier invoice."""

    SupplierInvoiceItem: str = ""
    GLAccount: str = ""
    CostCenter: str = ""
    WBSElement: str = ""
    DocumentCurrency: str = ""
    SupplierInvoiceItemAmount: Decimal = Decimal(0)
    TaxCode: str = ""
    DebitCreditCode: str = ""
    SupplierInvoiceItemText: str = ""


class SupplierInvoiceTax(_Base, kw_only=True):
    """``A_SupplierInvoiceTax``: the tax amount of one tax code."""

    TaxCode: str = ""
    DocumentCurrency: str = ""
    TaxAmount: Decimal = Decimal(0)


class SupplierInvoice(_Base, kw_only=True):
    """``A_SupplierInvoice`` with its G/L account items and taxes."""

    SupplierInvoice: str = ""
    FiscalYear: str = ""
    CompanyCode: str = ""
    DocumentDate: str | None = None
    PostingDate: str | None = None
    CreationDate: str | None = None
    InvoicingParty: str = ""
    SupplierInvoiceIDByInvcgParty: str = ""
    DocumentCurrency: str = ""
    InvoiceGrossAmount: Decimal = Decimal(0)
    DocumentHeaderText: str = ""
    PaymentTerms: str = ""
    DueCalculationBaseDate: str | None = None
    SupplierInvoiceStatus: str = ""
    AssignmentReference: str = ""
    IsReversal: bool = False
    IsReversed: bool = False
    ReverseDocument: str = ""
    ReverseDocumentFiscalYear: str = ""
    to_SupplierInvoiceItemGLAcct: Results[SupplierInvoiceItemGLAcct] | None = None
    to_SupplierInvoiceTax: Results[SupplierInvoiceTax] | None = None


class JournalEntryItem(_Base, kw_only=True):
    """``A_JournalEntryItem``: one line of a journal entry."""

    AccountingDocumentItem: str = ""
    GLAccount: str = ""
    AmountInTransactionCurrency: Decimal = Decimal(0)
    TransactionCurrency: str = ""
    DebitCreditCode: str = ""
    CostCenter: str = ""
    TaxCode: str = ""
    DocumentItemText: str = ""


class JournalEntry(_Base, kw_only=True):
    """``A_JournalEntry``: a JSON rendering of SAP's "Journal Entry - Post" header and items."""

    AccountingDocument: str = ""
    CompanyCode: str = ""
    FiscalYear: str = ""
    AccountingDocumentType: str = ""
    DocumentDate: str | None = None
    PostingDate: str | None = None
    CreationDate: str | None = None
    DocumentReferenceID: str = ""
    OriginalReferenceDocument: str = ""
    AccountingDocumentHeaderText: str = ""
    IsReversal: bool = False
    IsReversed: bool = False
    ReverseDocument: str = ""
    ReverseDocumentFiscalYear: str = ""
    ReversalReferenceDocument: str = ""
    to_JournalEntryItem: Results[JournalEntryItem] | None = None


class OutgoingPayment(_Base, kw_only=True):
    """``A_OutgoingPayment``: a payment to a supplier's bank account."""

    PaymentDocument: str = ""
    CompanyCode: str = ""
    FiscalYear: str = ""
    Supplier: str = ""
    PostingDate: str | None = None
    CreationDate: str | None = None
    PaymentAmount: Decimal = Decimal(0)
    PaymentCurrency: str = ""
    PaymentMethod: str = ""
    PayeeName: str = ""
    PayeeIBAN: str = ""
    PayeeSWIFTCode: str = ""
    PaymentReference: str = ""
    DocumentReferenceID: str = ""
    ClearedSupplierInvoice: str = ""
    ClearedSupplierInvoiceFiscalYear: str = ""
    PaymentStatus: str = ""
