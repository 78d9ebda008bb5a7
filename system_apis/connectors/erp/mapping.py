"""SAP S/4HANA wire entities <-> canonical finance objects.

The only place that knows what SAP's fields mean: supplier status from block flags,
``NT30`` as ``NET30``, ``S``/``H`` as debit/credit, ``/Date(ms)/`` as a date, document keys
(number + fiscal year [+ company code]) as canonical ids. Data the canonical model refuses
(an IBAN with a wrong check digit, an invalid tax number) does not break a list: it is left
out of the canonical object and named in ``issues``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from decimal import Decimal

from system_apis.canonical import (
    AccountingPeriod,
    AccountType,
    BankAccount,
    CostCenter,
    GlAccount,
    JournalEntry,
    JournalEntryDraft,
    JournalLine,
    LegalEntity,
    Money,
    Payment,
    PaymentDraft,
    Supplier,
    SupplierDraft,
    SupplierInvoice,
    SupplierInvoiceLine,
    TaxId,
)
from system_apis.canonical.parties import SupplierStatus
from system_apis.canonical.procurement import SupplierInvoiceDraft, SupplierInvoiceStatus
from system_apis.canonical.treasury import PaymentStatus
from system_apis.connectors.erp import wire

__all__ = [
    "END_OF_TIME",
    "cost_center_from_wire",
    "from_sap_date",
    "gl_account_from_wire",
    "invoice_from_wire",
    "invoice_id",
    "invoice_to_wire",
    "journal_entry_from_wire",
    "journal_entry_id",
    "journal_entry_to_wire",
    "legal_entity_from_wire",
    "parse_document_id",
    "payment_from_wire",
    "payment_id",
    "payment_terms_from_sap",
    "payment_terms_to_sap",
    "payment_to_wire",
    "period_from_wire",
    "supplier_from_wire",
    "supplier_to_wire",
    "to_sap_date",
]

END_OF_TIME = dt.date(9999, 12, 31)
"""SAP's "valid forever" date."""

_SAP_DATE = re.compile(r"^/Date\((-?\d+)(?:[+-]\d{4})?\)/$")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_VAT_SUFFIX = "0"
"""SAP tax types ``<country>0`` hold VAT numbers; ``<country>1``.. national numbers (e.g. ``US1`` EIN)."""


def from_sap_date(value: str | None) -> dt.date | None:
    """SAP's JSON date ``/Date(1735689600000)/`` as a date (``None`` for empty).

    Raises:
        ValueError: Not a SAP JSON date.
    """
    if not value:
        return None
    match = _SAP_DATE.match(value)
    if match is None:
        raise ValueError(f"not a SAP JSON date: {value!r}")
    return (_EPOCH + dt.timedelta(milliseconds=int(match.group(1)))).date()


def _instant(value: str | None) -> dt.datetime | None:
    day = from_sap_date(value)
    return None if day is None else dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def to_sap_date(day: dt.date) -> str:
    """A date as SAP's JSON ``/Date(<ms>)/`` (midnight UTC)."""
    moment = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    return f"/Date({int((moment - _EPOCH).total_seconds()) * 1000})/"


def _required_date(value: str | None, what: str) -> dt.date:
    day = from_sap_date(value)
    if day is None:
        raise ValueError(f"{what} has no date")
    return day


# --- ids --------------------------------------------------------------------------------


def invoice_id(number: str, fiscal_year: str) -> str:
    """Canonical id of a supplier invoice: ``<document>-<fiscal year>``."""
    return f"{number}-{fiscal_year}"


def journal_entry_id(company_code: str, fiscal_year: str, number: str) -> str:
    """Canonical id of a journal entry: ``<company code>-<fiscal year>-<document>``."""
    return f"{company_code}-{fiscal_year}-{number}"


def payment_id(company_code: str, fiscal_year: str, number: str) -> str:
    """Canonical id of a payment: ``<company code>-<fiscal year>-<payment document>``."""
    return f"{company_code}-{fiscal_year}-{number}"


def parse_document_id(value: str, parts: int) -> tuple[str, ...]:
    """Split a canonical document id into its SAP key parts.

    Raises:
        ValueError: The id does not have ``parts`` non-empty alphanumeric parts.
    """
    pieces = tuple(value.split("-"))
    if len(pieces) != parts or not all(re.fullmatch(r"[A-Za-z0-9]{1,10}", p) for p in pieces):
        raise ValueError(f"not a document id: {value!r}")
    return pieces


# --- payment terms ----------------------------------------------------------------------


def payment_terms_from_sap(key: str) -> str | None:
    """SAP terms key (``NT30``, ``0001``) as the canonical code (``NET30``, ``IMMEDIATE``)."""
    if not key:
        return None
    if key == "0001":
        return "IMMEDIATE"
    match = re.fullmatch(r"NT(\d{1,3})", key)
    return f"NET{int(match.group(1))}" if match else key


def payment_terms_to_sap(code: str | None) -> str:
    """Canonical terms (``NET30``, ``IMMEDIATE``) as a SAP terms key (``NT30``, ``0001``)."""
    if not code:
        return ""
    if code == "IMMEDIATE":
        return "0001"
    match = re.fullmatch(r"NET(\d{1,2})", code)
    return f"NT{int(match.group(1))}" if match else code[:4]


# --- suppliers --------------------------------------------------------------------------


def _tax_type(tax_id: TaxId) -> str:
    return tax_id.country + (_VAT_SUFFIX if tax_id.scheme == "vat" else "1")


def supplier_from_wire(partner: wire.BusinessPartner) -> Supplier:
    """A business partner with its supplier role as a canonical supplier.

    Invalid tax numbers and bank accounts are left out and described in ``issues``.
    """
    role = partner.to_Supplier if partner.to_Supplier is not None and partner.to_Supplier.Supplier else None
    issues: list[str] = []
    addresses = partner.to_BusinessPartnerAddress.results if partner.to_BusinessPartnerAddress else []
    country = next((a.Country for a in addresses if a.Country), None)
    tax_id = None
    for tax in partner.to_BusinessPartnerTax.results if partner.to_BusinessPartnerTax else []:
        try:
            tax_id = TaxId(country=tax.BPTaxType[:2], value=tax.BPTaxNumber)
            break
        except ValueError as error:
            issues.append(f"tax number {tax.BPTaxType} left out: {error}")
    accounts = []
    for bank in partner.to_BusinessPartnerBank.results if partner.to_BusinessPartnerBank else []:
        try:
            accounts.append(
                BankAccount(
                    holder=bank.BankAccountHolderName or partner.BusinessPartnerFullName,
                    iban=bank.IBAN or None,
                    bic=bank.SWIFTCode or None,
                    account_number=None if bank.IBAN else bank.BankAccount or None,
                    bank_code=None if bank.IBAN else bank.BankNumber or None,
                    country=None if bank.IBAN else bank.BankCountryKey or None,
                    bank_name=bank.BankName or None,
                    id=bank.BankIdentification or None,
                )
            )
        except ValueError as error:
            issues.append(f"bank account {bank.BankIdentification} left out: {error}")
    companies: list[wire.SupplierCompany] = (
        role.to_SupplierCompany.results if role is not None and role.to_SupplierCompany else []
    )
    terms = next((c.PaymentTerms for c in companies if c.PaymentTerms), "")
    status: SupplierStatus
    if partner.IsMarkedForArchiving or (role is not None and role.DeletionIndicator):
        status = "inactive"
    elif partner.BusinessPartnerIsBlocked or (
        role is not None and (role.PostingIsBlocked or role.PaymentIsBlockedForSupplier)
    ):
        status = "blocked"
    else:
        status = "active"
    number = partner.Supplier or partner.BusinessPartner
    name = (role.SupplierName if role is not None and role.SupplierName else "") or partner.BusinessPartnerFullName
    return Supplier(
        id=number,
        name=name or number,
        country=country,
        tax_id=tax_id,
        bank_accounts=accounts,
        payment_terms=payment_terms_from_sap(terms),
        status=status,
        company_codes=[c.CompanyCode for c in companies],
        erp_supplier_number=number,
        issues=issues,
        created_at=_instant(partner.CreationDate),
        updated_at=_instant(partner.LastChangeDate),
    )


def supplier_to_wire(
    draft: SupplierDraft, *, company_codes: Sequence[str] = (), reference: str = ""
) -> wire.BusinessPartner:
    """The deep insert that creates ``draft`` in SAP: an organisation with the supplier role.

    Args:
        draft: The supplier to create.
        company_codes: Company codes to extend the supplier to (payment terms set in each).
        reference: Finrail's external reference, kept in ``SearchTerm2`` to find the partner
            again after a timeout.
    """
    name = draft.name.strip()
    taxes = (
        [wire.BusinessPartnerTaxNumber(BPTaxType=_tax_type(draft.tax_id), BPTaxNumber=draft.tax_id.value)]
        if (draft.tax_id)
        else []
    )
    banks = [
        wire.BusinessPartnerBank(
            BankIdentification=f"{index:04d}",
            BankCountryKey=account.country or "",
            BankName=account.bank_name or "",
            BankNumber=account.bank_code or "",
            SWIFTCode=account.bic or "",
            BankAccountHolderName=account.holder[:60],
            IBAN=account.iban or "",
            BankAccount=account.account_number or "",
        )
        for index, account in enumerate(draft.bank_accounts, 1)
    ]
    terms = payment_terms_to_sap(draft.payment_terms)
    return wire.BusinessPartner(
        BusinessPartnerCategory="2",
        OrganizationBPName1=name[:40],
        OrganizationBPName2=name[40:80],
        SearchTerm2=reference,
        to_BusinessPartnerAddress=wire.Results(results=[wire.BusinessPartnerAddress(Country=draft.country)]),
        to_BusinessPartnerBank=wire.Results(results=banks),
        to_BusinessPartnerTax=wire.Results(results=taxes),
        to_Supplier=wire.Supplier(
            SupplierName=name,
            to_SupplierCompany=wire.Results(
                results=[wire.SupplierCompany(CompanyCode=code, PaymentTerms=terms) for code in company_codes]
            ),
        ),
    )


# --- master data ------------------------------------------------------------------------


def cost_center_from_wire(center: wire.CostCenter) -> CostCenter:
    """A cost center; ``active`` is false when it is blocked for primary postings."""
    texts = center.to_Text.results if center.to_Text else []
    text = next((t for t in texts if t.Language == "EN"), texts[0] if texts else None)
    valid_to = from_sap_date(center.ValidityEndDate)
    return CostCenter(
        company_code=center.CompanyCode,
        code=center.CostCenter,
        name=(text.CostCenterName if text else "") or center.CostCenter,
        valid_from=from_sap_date(center.ValidityStartDate) or dt.date(1900, 1, 1),
        valid_to=None if valid_to in (None, END_OF_TIME) else valid_to,
        active=not center.IsBlkdForPrimaryCostsPosting,
        responsible=center.CostCtrResponsiblePersonName or None,
        controlling_area=center.ControllingArea or None,
    )


def _account_type(account: wire.GLAccount) -> AccountType:
    """Kind of account: SAP says balance sheet or P&L; the YCOA number range says which kind."""
    first = account.GLAccount.lstrip("0")[:1]
    if account.IsBalanceSheetAccount:
        return "liability" if first == "2" else "equity" if first == "3" else "asset"
    return "revenue" if first == "4" else "expense"


def gl_account_from_wire(account: wire.GLAccount) -> GlAccount:
    """A G/L account of the chart of accounts."""
    texts = account.to_Text.results if account.to_Text else []
    text = next((t for t in texts if t.Language == "EN"), texts[0] if texts else None)
    return GlAccount(
        number=account.GLAccount,
        name=(text.GLAccountLongName or text.GLAccountName if text else "") or account.GLAccount,
        account_type=_account_type(account),
        chart_of_accounts=account.ChartOfAccounts or None,
        blocked=account.AccountIsBlockedForPosting or account.AccountIsMarkedForDeletion,
    )


def legal_entity_from_wire(company: wire.CompanyCode) -> LegalEntity:
    """A company code as a legal entity (its VAT number left out if invalid)."""
    tax_id = None
    if company.VATRegistration:
        try:
            tax_id = TaxId(country=company.Country, value=company.VATRegistration)
        except ValueError:
            tax_id = None
    return LegalEntity(
        company_code=company.CompanyCode,
        name=company.CompanyCodeName,
        country=company.Country,
        currency=company.Currency,
        tax_id=tax_id,
    )


def period_from_wire(period: wire.FiscalPeriod) -> AccountingPeriod:
    """A posting period."""
    return AccountingPeriod(
        company_code=period.CompanyCode,
        fiscal_year=int(period.FiscalYear),
        period=int(period.FiscalPeriod),
        start=_required_date(period.FiscalPeriodStartDate, "fiscal period start"),
        end=_required_date(period.FiscalPeriodEndDate, "fiscal period end"),
        open=period.IsOpen,
    )


# --- supplier invoices ------------------------------------------------------------------


def _invoice_status(invoice: wire.SupplierInvoice) -> SupplierInvoiceStatus:
    if invoice.IsReversed or invoice.IsReversal:
        return "cancelled"
    return "posted" if invoice.SupplierInvoiceStatus == "5" else "received"


def invoice_from_wire(invoice: wire.SupplierInvoice) -> SupplierInvoice:
    """A supplier invoice; credit (``H``) items become negative line amounts."""
    currency = invoice.DocumentCurrency
    items = invoice.to_SupplierInvoiceItemGLAcct.results if invoice.to_SupplierInvoiceItemGLAcct else []
    taxes = invoice.to_SupplierInvoiceTax.results if invoice.to_SupplierInvoiceTax else []
    lines = [
        SupplierInvoiceLine(
            line_number=int(item.SupplierInvoiceItem or index),
            amount=Money(
                item.SupplierInvoiceItemAmount * (-1 if item.DebitCreditCode == "H" else 1),
                item.DocumentCurrency or currency,
            ),
            gl_account=item.GLAccount,
            description=item.SupplierInvoiceItemText or None,
            cost_center=item.CostCenter or None,
            project=item.WBSElement or None,
            tax_code=item.TaxCode or None,
        )
        for index, item in enumerate(items, 1)
    ]
    gross = Money(invoice.InvoiceGrossAmount, currency)
    tax = Money(sum((t.TaxAmount for t in taxes), Decimal(0)), currency)
    return SupplierInvoice(
        id=invoice_id(invoice.SupplierInvoice, invoice.FiscalYear),
        company_code=invoice.CompanyCode,
        supplier_id=invoice.InvoicingParty,
        invoice_number=invoice.SupplierInvoiceIDByInvcgParty,
        invoice_date=_required_date(invoice.DocumentDate, "invoice document date"),
        gross_amount=gross,
        tax_amount=tax,
        status=_invoice_status(invoice),
        lines=lines,
        posting_date=from_sap_date(invoice.PostingDate),
        payment_terms=payment_terms_from_sap(invoice.PaymentTerms),
        fiscal_year=int(invoice.FiscalYear) if invoice.FiscalYear.isdigit() else None,
        erp_document_number=invoice.SupplierInvoice,
        reference=invoice.AssignmentReference or None,
        text=invoice.DocumentHeaderText or None,
        created_at=_instant(invoice.CreationDate),
    )


def invoice_to_wire(draft: SupplierInvoiceDraft, *, reference: str = "") -> wire.SupplierInvoice:
    """The deep insert creating ``draft`` as a parked SAP supplier invoice.

    Args:
        draft: The invoice.
        reference: Finrail's external reference, kept in ``AssignmentReference``.
    """
    currency = draft.currency
    items = [
        wire.SupplierInvoiceItemGLAcct(
            SupplierInvoiceItem=f"{line.line_number:04d}"[-4:],
            GLAccount=line.gl_account,
            CostCenter=line.cost_center or "",
            WBSElement=line.project or "",
            DocumentCurrency=line.amount.currency,
            SupplierInvoiceItemAmount=abs(line.amount.amount),
            TaxCode=line.tax_code or "",
            DebitCreditCode="H" if line.amount.amount < 0 else "S",
            SupplierInvoiceItemText=(line.description or "")[:50],
        )
        for line in draft.lines
    ]
    taxes = []
    if draft.tax_amount.amount:
        code = next((line.tax_code for line in draft.lines if line.tax_code), None) or "V1"
        taxes.append(
            wire.SupplierInvoiceTax(TaxCode=code, DocumentCurrency=currency, TaxAmount=draft.tax_amount.amount)
        )
    return wire.SupplierInvoice(
        CompanyCode=draft.company_code,
        DocumentDate=to_sap_date(draft.invoice_date),
        PostingDate=to_sap_date(draft.posting_date or draft.invoice_date),
        InvoicingParty=draft.supplier_id,
        SupplierInvoiceIDByInvcgParty=draft.invoice_number,
        DocumentCurrency=currency,
        InvoiceGrossAmount=draft.gross_amount.amount,
        DocumentHeaderText=(draft.text or "")[:25],
        PaymentTerms=payment_terms_to_sap(draft.payment_terms),
        DueCalculationBaseDate=to_sap_date(draft.invoice_date),
        AssignmentReference=reference,
        to_SupplierInvoiceItemGLAcct=wire.Results(results=items),
        to_SupplierInvoiceTax=wire.Results(results=taxes),
    )


# --- journal entries --------------------------------------------------------------------


def journal_entry_from_wire(entry: wire.JournalEntry) -> JournalEntry:
    """A journal entry with its lines (``S`` debit, ``H`` credit)."""
    items = entry.to_JournalEntryItem.results if entry.to_JournalEntryItem else []
    lines = [
        JournalLine(
            gl_account=item.GLAccount,
            side="debit" if item.DebitCreditCode == "S" else "credit",
            amount=Money(item.AmountInTransactionCurrency, item.TransactionCurrency),
            cost_center=item.CostCenter or None,
            tax_code=item.TaxCode or None,
            text=item.DocumentItemText or None,
        )
        for item in items
    ]
    reversal_of = reversed_by = None
    if entry.IsReversal and entry.ReversalReferenceDocument:
        reversal_of = journal_entry_id(
            entry.CompanyCode, entry.ReverseDocumentFiscalYear or entry.FiscalYear, entry.ReversalReferenceDocument
        )
    if entry.IsReversed and entry.ReverseDocument:
        reversed_by = journal_entry_id(
            entry.CompanyCode, entry.ReverseDocumentFiscalYear or entry.FiscalYear, entry.ReverseDocument
        )
    return JournalEntry(
        id=journal_entry_id(entry.CompanyCode, entry.FiscalYear, entry.AccountingDocument),
        company_code=entry.CompanyCode,
        posting_date=_required_date(entry.PostingDate, "journal entry posting date"),
        document_date=_required_date(entry.DocumentDate or entry.PostingDate, "journal entry document date"),
        lines=lines,
        status="reversed" if entry.IsReversed else "posted",
        fiscal_year=int(entry.FiscalYear) if entry.FiscalYear.isdigit() else None,
        erp_document_number=entry.AccountingDocument,
        reference=entry.OriginalReferenceDocument or None,
        text=entry.AccountingDocumentHeaderText or None,
        reversal_of=reversal_of,
        reversed_by=reversed_by,
        created_at=_instant(entry.CreationDate),
    )


def journal_entry_to_wire(draft: JournalEntryDraft, *, reference: str = "") -> wire.JournalEntry:
    """The "Journal Entry - Post" request for ``draft``.

    Args:
        draft: The balanced entry.
        reference: Finrail's external reference, kept in ``DocumentReferenceID``.
    """
    return wire.JournalEntry(
        CompanyCode=draft.company_code,
        AccountingDocumentType="SA",
        DocumentDate=to_sap_date(draft.document_date or draft.posting_date),
        PostingDate=to_sap_date(draft.posting_date),
        DocumentReferenceID=reference,
        OriginalReferenceDocument=(draft.reference or "")[:20],
        AccountingDocumentHeaderText=(draft.text or "")[:25],
        to_JournalEntryItem=wire.Results(
            results=[
                wire.JournalEntryItem(
                    GLAccount=line.gl_account,
                    AmountInTransactionCurrency=line.amount.amount,
                    TransactionCurrency=line.amount.currency,
                    DebitCreditCode="S" if line.side == "debit" else "H",
                    CostCenter=line.cost_center or "",
                    TaxCode=line.tax_code or "",
                    DocumentItemText=(line.text or "")[:50],
                )
                for line in draft.lines
            ]
        ),
    )


# --- payments ---------------------------------------------------------------------------


def payment_from_wire(payment: wire.OutgoingPayment) -> Payment:
    """An outgoing payment; posted (``P``) payments are ``sent``."""
    account = None
    if payment.PayeeIBAN:
        try:
            account = BankAccount(
                holder=payment.PayeeName or payment.Supplier, iban=payment.PayeeIBAN, bic=payment.PayeeSWIFTCode or None
            )
        except ValueError:
            account = None
    status: PaymentStatus = (
        "sent" if payment.PaymentStatus == "P" else "cancelled" if payment.PaymentStatus == "R" else "pending"
    )
    cleared = payment.ClearedSupplierInvoice
    return Payment(
        id=payment_id(payment.CompanyCode, payment.FiscalYear, payment.PaymentDocument),
        company_code=payment.CompanyCode,
        amount=Money(payment.PaymentAmount, payment.PaymentCurrency),
        value_date=_required_date(payment.PostingDate, "payment posting date"),
        payee_name=payment.PayeeName or payment.Supplier,
        status=status,
        payee_bank_account=account,
        obligation_ids=[invoice_id(cleared, payment.ClearedSupplierInvoiceFiscalYear)] if cleared else [],
        supplier_id=payment.Supplier or None,
        reference=payment.PaymentReference or None,
        erp_document_number=payment.PaymentDocument,
    )


def payment_to_wire(draft: PaymentDraft, *, reference: str = "") -> wire.OutgoingPayment:
    """The outgoing payment for ``draft``; its first obligation id names the invoice it clears.

    Raises:
        ValueError: No supplier, or an obligation id that is not a supplier invoice id.
    """
    if not draft.supplier_id:
        raise ValueError("an ERP payment needs supplier_id")
    cleared = parse_document_id(draft.obligation_ids[0], 2) if draft.obligation_ids else ("", "")
    account = draft.payee_bank_account
    return wire.OutgoingPayment(
        CompanyCode=draft.company_code,
        Supplier=draft.supplier_id,
        PostingDate=to_sap_date(draft.value_date),
        PaymentAmount=draft.amount.amount,
        PaymentCurrency=draft.amount.currency,
        PayeeName=draft.payee_name[:35],
        PayeeIBAN=account.iban or "",
        PayeeSWIFTCode=account.bic or "",
        PaymentReference=(draft.reference or "")[:35],
        DocumentReferenceID=reference,
        ClearedSupplierInvoice=cleared[0],
        ClearedSupplierInvoiceFiscalYear=cleared[1],
    )
