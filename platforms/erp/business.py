"""What the ERP does beyond storing entities: deep inserts, postings and their checks.

SAP refuses a posting into a closed period, to a blocked supplier, GL account or cost center,
or with lines that do not balance; it numbers documents itself, and a supplier exists only as
the supplier role of a business partner. The functions here do the same on the sandbox's
store and raise :class:`ODataError` with SAP-like message codes when a check fails.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from schwifty import IBAN

from platforms.erp.model import ENTITY_SETS
from platforms.erp.odata import EntitySet, ODataError, blank, decode_entity, store_id
from platforms.kit.store import Store

__all__ = [
    "CHART_OF_ACCOUNTS",
    "CONTROLLING_AREA",
    "cancel_supplier_invoice",
    "create_business_partner",
    "create_journal_entry",
    "create_payment",
    "create_supplier_invoice",
    "post_supplier_invoice",
    "put",
    "reverse_journal_entry",
]

CHART_OF_ACCOUNTS = "YCOA"
"""The one chart of accounts every company code uses (SAP's standard ``YCOA``)."""
CONTROLLING_AREA = "A000"
"""The one controlling area of the sandbox."""


def put(store: Store, entity: EntitySet, doc: dict[str, Any]) -> dict[str, Any]:
    """Store ``doc`` under its key and return it."""
    store.put(entity.collection, store_id(entity, doc), doc)
    return doc


def _today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def _items(value: Any, name: str) -> list[Any]:
    """A deep-insert collection: ``{"results": [...]}`` or a bare array."""
    if value is None:
        return []
    if isinstance(value, dict) and isinstance(value.get("results"), list):
        return list(value["results"])
    if isinstance(value, list):
        return value
    raise ODataError(400, f"Navigation property '{name}' must hold a collection", "/IWBEP/CM_MGW_RT/004")


def _required(doc: Mapping[str, Any], *names: str) -> None:
    for name in names:
        if doc.get(name) in (None, ""):
            raise ODataError(400, f"Enter a value for field {name}", "00/055")


# --- business partners --------------------------------------------------------------------


def _check_iban(iban: str) -> str:
    try:
        return IBAN(iban).compact
    except ValueError:
        raise ODataError(400, f"IBAN {iban} is not valid", "AR/191") from None


def create_business_partner(store: Store, payload: Any, user: str) -> dict[str, Any]:
    """Deep insert of a business partner, with its addresses, banks, tax numbers and supplier role.

    Returns:
        The stored business partner document.
    """
    bp_set = ENTITY_SETS["A_BusinessPartner"]
    props, navs = decode_entity(bp_set, payload, allow_navs=bp_set.navs)
    doc = {**blank(bp_set), **props}
    category = doc.get("BusinessPartnerCategory") or ""
    if category not in ("1", "2"):
        raise ODataError(400, "Business partner category must be 1 (person) or 2 (organization)", "R11/047")
    if category == "2":
        _required(doc, "OrganizationBPName1")
        full = " ".join(p for p in (doc["OrganizationBPName1"], doc.get("OrganizationBPName2")) if p)
    else:
        _required(doc, "LastName")
        full = " ".join(p for p in (doc.get("FirstName"), doc["LastName"]) if p)
    doc["BusinessPartnerFullName"] = doc["BusinessPartnerFullName"] or full[:81]
    doc["BusinessPartnerName"] = doc["BusinessPartnerName"] or full[:81]
    doc["SearchTerm1"] = doc["SearchTerm1"] or full[:20].upper()
    if doc["BusinessPartner"]:
        if store.get(bp_set.collection, doc["BusinessPartner"]) is not None:
            raise ODataError(400, f"Business partner {doc['BusinessPartner']} already exists", "R11/124")
    else:
        doc["BusinessPartner"] = str(store.next_number("BusinessPartner", 1000000))
    number = doc["BusinessPartner"]
    doc.update(
        CreatedByUser=user.upper()[:12],
        CreationDate=_today(),
        LastChangeDate=_today(),
        Language="EN",
        _etag=dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S"),
    )

    children: list[tuple[EntitySet, dict[str, Any]]] = []
    address_set = ENTITY_SETS["A_BusinessPartnerAddress"]
    for index, item in enumerate(_items(navs.get("to_BusinessPartnerAddress"), "to_BusinessPartnerAddress"), 1):
        fields, _ = decode_entity(address_set, item)
        children.append(
            (
                address_set,
                {
                    **blank(address_set),
                    **fields,
                    "BusinessPartner": number,
                    "AddressID": fields.get("AddressID") or str(index),
                },
            )
        )
    bank_set = ENTITY_SETS["A_BusinessPartnerBank"]
    for index, item in enumerate(_items(navs.get("to_BusinessPartnerBank"), "to_BusinessPartnerBank"), 1):
        fields, _ = decode_entity(bank_set, item)
        bank = {**blank(bank_set), **fields, "BusinessPartner": number}
        bank["BankIdentification"] = bank["BankIdentification"] or f"{index:04d}"
        if bank["IBAN"]:
            bank["IBAN"] = _check_iban(bank["IBAN"])
            bank["BankCountryKey"] = bank["BankCountryKey"] or bank["IBAN"][:2]
        elif not bank["BankAccount"]:
            raise ODataError(400, "Enter an IBAN or a bank account number", "R11/401")
        _required(bank, "BankCountryKey")
        children.append((bank_set, bank))
    tax_set = ENTITY_SETS["A_BusinessPartnerTaxNumber"]
    taxes: list[dict[str, Any]] = []
    for item in _items(navs.get("to_BusinessPartnerTax"), "to_BusinessPartnerTax"):
        fields, _ = decode_entity(tax_set, item)
        tax = {**blank(tax_set), **fields, "BusinessPartner": number}
        _required(tax, "BPTaxType", "BPTaxNumber")
        taxes.append(tax)
        children.append((tax_set, tax))

    supplier_payload = navs.get("to_Supplier")
    if supplier_payload is not None:
        supplier_set = ENTITY_SETS["A_Supplier"]
        fields, supplier_navs = decode_entity(supplier_set, supplier_payload, allow_navs=("to_SupplierCompany",))
        supplier = {**blank(supplier_set), **fields, "Supplier": number}
        supplier["SupplierName"] = supplier["SupplierName"] or full[:80]
        supplier["SupplierFullName"] = supplier["SupplierFullName"] or full
        supplier["CreatedByUser"], supplier["CreationDate"] = doc["CreatedByUser"], _today()
        for tax in taxes:  # SAP derives these from the business partner's tax numbers
            if tax["BPTaxType"].endswith("0") and not supplier["VATRegistration"]:
                supplier["VATRegistration"] = tax["BPTaxNumber"]
            elif not supplier["TaxNumber1"]:
                supplier["TaxNumber1"] = tax["BPTaxNumber"][:16]
        company_set = ENTITY_SETS["A_SupplierCompany"]
        for item in _items(supplier_navs.get("to_SupplierCompany"), "to_SupplierCompany"):
            company_fields, _ = decode_entity(company_set, item)
            company = {**blank(company_set), **company_fields, "Supplier": number}
            _required(company, "CompanyCode")
            if store.get("A_CompanyCode", company["CompanyCode"]) is None:
                raise ODataError(400, f"Company code {company['CompanyCode']} does not exist", "F5/165")
            company["ReconciliationAccount"] = company["ReconciliationAccount"] or "21100000"
            children.append((company_set, company))
        children.append((supplier_set, supplier))
        doc["Supplier"] = number

    put(store, bp_set, doc)
    for entity, child in children:
        put(store, entity, child)
    return doc


# --- checks shared by postings ------------------------------------------------------------


def _company(store: Store, code: str) -> dict[str, Any]:
    company = store.get("A_CompanyCode", code)
    if company is None:
        raise ODataError(400, f"Company code {code} does not exist", "F5/165")
    return company


def check_period_open(store: Store, company_code: str, posting_date: str) -> None:
    """Refuse a posting date outside an open posting period of the company code (SAP F5/201)."""
    day = dt.date.fromisoformat(posting_date)
    period = store.get("A_FiscalPeriod", f"{company_code}|{day.year}|{day.month:03d}")
    if period is None or not period.get("IsOpen"):
        raise ODataError(400, f"Posting period {day.month:03d} {day.year} is not open", "F5/201")


def _check_gl_account(store: Store, account: str) -> None:
    gl = store.get("A_GLAccountInChartOfAccounts", f"{CHART_OF_ACCOUNTS}|{account}")
    if gl is None:
        raise ODataError(
            400, f"G/L account {account} does not exist in chart of accounts {CHART_OF_ACCOUNTS}", "FH/010"
        )
    if gl.get("AccountIsBlockedForPosting") or gl.get("AccountIsMarkedForDeletion"):
        raise ODataError(400, f"G/L account {account} is blocked for posting", "F5/351")


def _check_cost_center(store: Store, cost_center: str, company_code: str, posting_date: str) -> None:
    candidates = store.find("A_CostCenter", ControllingArea=CONTROLLING_AREA, CostCenter=cost_center)
    valid = [
        c
        for c in candidates
        if (c.get("ValidityStartDate") or "") <= posting_date <= (c.get("ValidityEndDate") or "9999-12-31")
    ]
    if not valid:
        raise ODataError(
            400, f"Cost center {CONTROLLING_AREA}/{cost_center} does not exist on {posting_date}", "KI/235"
        )
    center = valid[0]
    if center.get("CompanyCode") != company_code:
        raise ODataError(
            400, f"Cost center {cost_center} is assigned to company code {center.get('CompanyCode')}", "KI/248"
        )
    if center.get("IsBlkdForPrimaryCostsPosting"):
        raise ODataError(
            400, f"Cost center {CONTROLLING_AREA}/{cost_center} is blocked against primary postings", "KI/280"
        )


def _supplier(store: Store, number: str) -> dict[str, Any]:
    supplier = store.get("A_Supplier", number)
    if supplier is None:
        raise ODataError(400, f"Supplier {number} does not exist", "F5/104")
    return supplier


def _amount(value: Any, name: str) -> Decimal:
    amount = Decimal(str(value or "0"))
    if amount <= 0:
        raise ODataError(400, f"Enter a positive amount in {name}", "F5/702")
    return amount


def _debit_credit(value: Any) -> str:
    if value not in ("S", "H"):
        raise ODataError(400, "Debit/credit code must be S (debit) or H (credit)", "F5/808")
    return str(value)


# --- supplier invoices --------------------------------------------------------------------


def create_supplier_invoice(store: Store, payload: Any, user: str) -> dict[str, Any]:
    """Deep insert of a supplier invoice with G/L account items; it is parked (status ``A``) until posted."""
    invoice_set = ENTITY_SETS["A_SupplierInvoice"]
    item_set = ENTITY_SETS["A_SupplierInvoiceItemGLAcct"]
    tax_set = ENTITY_SETS["A_SupplierInvoiceTax"]
    props, navs = decode_entity(
        invoice_set, payload, allow_navs=("to_SupplierInvoiceItemGLAcct", "to_SupplierInvoiceTax")
    )
    doc = {**blank(invoice_set), **props}
    _required(doc, "CompanyCode", "DocumentDate", "PostingDate", "InvoicingParty", "DocumentCurrency")
    _company(store, doc["CompanyCode"])
    supplier = _supplier(store, doc["InvoicingParty"])
    if supplier.get("PostingIsBlocked"):
        raise ODataError(400, f"Supplier {doc['InvoicingParty']} is blocked for posting", "F5/351")
    gross = _amount(doc["InvoiceGrossAmount"], "InvoiceGrossAmount")
    reference = doc["SupplierInvoiceIDByInvcgParty"]
    if reference:
        for other in store.find(
            invoice_set.collection, InvoicingParty=doc["InvoicingParty"], SupplierInvoiceIDByInvcgParty=reference
        ):
            if not other.get("IsReversed") and not other.get("IsReversal"):
                raise ODataError(
                    400,
                    f"Check if invoice already entered under accounting document "
                    f"{other['SupplierInvoice']} {other['FiscalYear']}",
                    "M8/108",
                )
    items = _items(navs.get("to_SupplierInvoiceItemGLAcct"), "to_SupplierInvoiceItemGLAcct")
    if not items:
        raise ODataError(400, "Enter at least one G/L account item", "M8/321")
    total = Decimal(0)
    stored_items = []
    for index, item in enumerate(items, 1):
        fields, _ = decode_entity(item_set, item)
        line = {**blank(item_set), **fields}
        _required(line, "GLAccount")
        _check_gl_account(store, line["GLAccount"])
        if line["CostCenter"]:
            _check_cost_center(store, line["CostCenter"], doc["CompanyCode"], doc["PostingDate"])
        sign = 1 if _debit_credit(line["DebitCreditCode"] or "S") == "S" else -1
        total += sign * _amount(line["SupplierInvoiceItemAmount"], "SupplierInvoiceItemAmount")
        line.update(
            SupplierInvoiceItem=line["SupplierInvoiceItem"] or f"{index:04d}"[-4:],
            CompanyCode=doc["CompanyCode"],
            DocumentCurrency=line["DocumentCurrency"] or doc["DocumentCurrency"],
            DebitCreditCode=line["DebitCreditCode"] or "S",
            ControllingArea=CONTROLLING_AREA if line["CostCenter"] else "",
        )
        stored_items.append(line)
    taxes = []
    for item in _items(navs.get("to_SupplierInvoiceTax"), "to_SupplierInvoiceTax"):
        fields, _ = decode_entity(tax_set, item)
        tax = {**blank(tax_set), **fields}
        _required(tax, "TaxCode")
        total += Decimal(tax["TaxAmount"] or "0")
        tax["DocumentCurrency"] = tax["DocumentCurrency"] or doc["DocumentCurrency"]
        taxes.append(tax)
    if total != gross:
        raise ODataError(400, f"Balance not zero: items and tax total {total}, gross amount {gross}", "M8/534")
    year = doc["PostingDate"][:4]
    number = str(store.next_number(f"SupplierInvoice|{year}", 5100000000))
    doc.update(
        SupplierInvoice=number,
        FiscalYear=year,
        SupplierInvoiceStatus="A",
        CreationDate=_today(),
        IsInvoice=True if payload.get("IsInvoice") is None else doc["IsInvoice"],
        AccountingDocumentType=doc["AccountingDocumentType"] or "RE",
        PaymentTerms=doc["PaymentTerms"] or _payment_terms(store, supplier["Supplier"], doc["CompanyCode"]),
        DueCalculationBaseDate=doc["DueCalculationBaseDate"] or doc["DocumentDate"],
        SupplierInvoiceOrigin="5",
        _created_by=user,
    )
    put(store, invoice_set, doc)
    for line in stored_items:
        line.update(SupplierInvoice=number, FiscalYear=year)
        put(store, item_set, line)
    for tax in taxes:
        tax.update(SupplierInvoice=number, FiscalYear=year)
        put(store, tax_set, tax)
    return doc


def _payment_terms(store: Store, supplier: str, company_code: str) -> str:
    company = store.get("A_SupplierCompany", f"{supplier}|{company_code}")
    return str(company.get("PaymentTerms") or "") if company else ""


def _invoice(store: Store, number: str, year: str) -> dict[str, Any]:
    invoice = store.get("A_SupplierInvoice", f"{number}|{year}")
    if invoice is None:
        raise ODataError(404, f"Supplier invoice {number} {year} does not exist", "/IWBEP/CM_MGW_RT/020")
    return invoice


def post_supplier_invoice(store: Store, number: str, year: str) -> dict[str, Any]:
    """Function import ``Post``: post a parked invoice into its (open) posting period."""
    invoice = _invoice(store, number, year)
    if invoice["SupplierInvoiceStatus"] == "5":
        raise ODataError(400, f"Invoice document {number} {year} is already posted", "M8/407")
    check_period_open(store, invoice["CompanyCode"], invoice["PostingDate"])
    supplier = _supplier(store, invoice["InvoicingParty"])
    if supplier.get("PostingIsBlocked"):
        raise ODataError(400, f"Supplier {invoice['InvoicingParty']} is blocked for posting", "F5/351")
    invoice["SupplierInvoiceStatus"] = "5"
    return put(store, ENTITY_SETS["A_SupplierInvoice"], invoice)


def cancel_supplier_invoice(
    store: Store, number: str, year: str, posting_date: str | None, reason: str
) -> dict[str, Any]:
    """Function import ``Cancel``: reverse a posted invoice with a reversal document.

    Returns:
        The original invoice, now ``IsReversed`` and pointing at its ``ReverseDocument``.
    """
    invoice = _invoice(store, number, year)
    if invoice["SupplierInvoiceStatus"] != "5":
        raise ODataError(400, f"Invoice document {number} {year} is not posted and cannot be cancelled", "M8/407")
    if invoice.get("IsReversed") or invoice.get("IsReversal"):
        raise ODataError(400, f"Invoice document {number} {year} is already reversed", "M8/603")
    if invoice.get("_clearing"):
        raise ODataError(
            400, f"Invoice document {number} {year} is cleared by payment {invoice['_clearing']}", "F5/263"
        )
    day = posting_date or invoice["PostingDate"]
    check_period_open(store, invoice["CompanyCode"], day)
    reversal_year = day[:4]
    reversal_number = str(store.next_number(f"SupplierInvoice|{reversal_year}", 5100000000))
    invoice_set = ENTITY_SETS["A_SupplierInvoice"]
    item_set = ENTITY_SETS["A_SupplierInvoiceItemGLAcct"]
    reversal = {
        **invoice,
        "SupplierInvoice": reversal_number,
        "FiscalYear": reversal_year,
        "PostingDate": day,
        "IsReversal": True,
        "IsReversed": False,
        "ReverseDocument": number,
        "ReverseDocumentFiscalYear": year,
        "SupplierInvoiceIDByInvcgParty": invoice["SupplierInvoiceIDByInvcgParty"],
        "CreationDate": _today(),
        "DocumentHeaderText": f"Reversal {reason}"[:25],
    }
    put(store, invoice_set, reversal)
    for line in store.find(item_set.collection, SupplierInvoice=number, FiscalYear=year):
        flipped = "H" if line["DebitCreditCode"] == "S" else "S"
        put(
            store,
            item_set,
            {**line, "SupplierInvoice": reversal_number, "FiscalYear": reversal_year, "DebitCreditCode": flipped},
        )
    tax_set = ENTITY_SETS["A_SupplierInvoiceTax"]
    for tax in store.find(tax_set.collection, SupplierInvoice=number, FiscalYear=year):
        put(store, tax_set, {**tax, "SupplierInvoice": reversal_number, "FiscalYear": reversal_year})
    invoice.update(IsReversed=True, ReverseDocument=reversal_number, ReverseDocumentFiscalYear=reversal_year)
    return put(store, invoice_set, invoice)


# --- journal entries ----------------------------------------------------------------------


def create_journal_entry(store: Store, payload: Any, user: str) -> dict[str, Any]:
    """Post a journal entry (JSON rendering of SAP's "Journal Entry - Post"); lines must balance per currency."""
    entry_set = ENTITY_SETS["A_JournalEntry"]
    item_set = ENTITY_SETS["A_JournalEntryItem"]
    props, navs = decode_entity(entry_set, payload, allow_navs=("to_JournalEntryItem",))
    doc = {**blank(entry_set), **props}
    _required(doc, "CompanyCode", "DocumentDate", "PostingDate")
    _company(store, doc["CompanyCode"])
    check_period_open(store, doc["CompanyCode"], doc["PostingDate"])
    items = _items(navs.get("to_JournalEntryItem"), "to_JournalEntryItem")
    if len(items) < 2:
        raise ODataError(400, "A journal entry needs at least two items", "F5/150")
    balance: dict[str, Decimal] = {}
    lines = []
    for index, item in enumerate(items, 1):
        fields, _ = decode_entity(item_set, item)
        line = {**blank(item_set), **fields}
        _required(line, "GLAccount", "TransactionCurrency")
        _check_gl_account(store, line["GLAccount"])
        if line["CostCenter"]:
            _check_cost_center(store, line["CostCenter"], doc["CompanyCode"], doc["PostingDate"])
        amount = _amount(line["AmountInTransactionCurrency"], "AmountInTransactionCurrency")
        sign = 1 if _debit_credit(line["DebitCreditCode"]) == "S" else -1
        balance[line["TransactionCurrency"]] = balance.get(line["TransactionCurrency"], Decimal(0)) + sign * amount
        line["AccountingDocumentItem"] = f"{index:03d}"
        lines.append(line)
    unbalanced = {currency: total for currency, total in balance.items() if total != 0}
    if unbalanced:
        currency, total = next(iter(unbalanced.items()))
        raise ODataError(400, f"Balance in transaction currency {currency} is not zero: {total}", "F5/702")
    return _store_entry(store, doc, lines, user)


def _store_entry(store: Store, doc: dict[str, Any], lines: list[dict[str, Any]], user: str) -> dict[str, Any]:
    entry_set = ENTITY_SETS["A_JournalEntry"]
    item_set = ENTITY_SETS["A_JournalEntryItem"]
    year = doc["PostingDate"][:4]
    sequence = "|".join(("JournalEntry", doc["CompanyCode"], year))
    number = f"{store.next_number(sequence, 100000000):010d}"
    doc.update(
        AccountingDocument=number,
        FiscalYear=year,
        CreationDate=_today(),
        CreatedByUser=user.upper()[:12],
        AccountingDocumentType=doc["AccountingDocumentType"] or "SA",
    )
    put(store, entry_set, doc)
    for line in lines:
        line.update(AccountingDocument=number, CompanyCode=doc["CompanyCode"], FiscalYear=year)
        put(store, item_set, line)
    return doc


def reverse_journal_entry(
    store: Store, number: str, company_code: str, year: str, posting_date: str | None, reason: str, user: str
) -> dict[str, Any]:
    """Reverse a journal entry ("Journal Entry - Reverse"): a mirror document with debit and credit swapped.

    Returns:
        The reversal document.
    """
    original = store.get("A_JournalEntry", f"{number}|{company_code}|{year}")
    if original is None:
        raise ODataError(404, f"Journal entry {number} {company_code} {year} does not exist", "/IWBEP/CM_MGW_RT/020")
    if original.get("IsReversed") or original.get("IsReversal"):
        raise ODataError(400, f"Document {number} {company_code} {year} is already reversed", "F5/154")
    day = posting_date or original["PostingDate"]
    check_period_open(store, company_code, day)
    lines = [
        {**line, "DebitCreditCode": "H" if line["DebitCreditCode"] == "S" else "S"}
        for line in store.find(
            "A_JournalEntryItem", AccountingDocument=number, CompanyCode=company_code, FiscalYear=year
        )
    ]
    reversal = {
        **original,
        "PostingDate": day,
        "IsReversal": True,
        "IsReversed": False,
        "ReversalReferenceDocument": number,
        "ReverseDocument": "",
        "ReversalReason": reason,
        "ReverseDocumentFiscalYear": year,
        "AccountingDocumentHeaderText": f"Reversal of {number}"[:25],
    }
    reversal = _store_entry(store, reversal, lines, user)
    original.update(
        IsReversed=True,
        ReverseDocument=reversal["AccountingDocument"],
        ReversalReason=reason,
        ReverseDocumentFiscalYear=reversal["FiscalYear"],
    )
    put(store, ENTITY_SETS["A_JournalEntry"], original)
    return reversal


# --- payments -----------------------------------------------------------------------------


def create_payment(store: Store, payload: Any, user: str) -> dict[str, Any]:
    """An outgoing payment to a supplier's bank account, optionally clearing one posted invoice."""
    payment_set = ENTITY_SETS["A_OutgoingPayment"]
    props, _ = decode_entity(payment_set, payload)
    doc = {**blank(payment_set), **props}
    _required(doc, "CompanyCode", "Supplier", "PostingDate", "PaymentCurrency")
    _company(store, doc["CompanyCode"])
    supplier = _supplier(store, doc["Supplier"])
    partner = store.get("A_BusinessPartner", doc["Supplier"]) or {}
    if supplier.get("PaymentIsBlockedForSupplier") or partner.get("BusinessPartnerIsBlocked"):
        raise ODataError(400, f"Supplier {doc['Supplier']} is blocked for payment", "F5/146")
    amount = _amount(doc["PaymentAmount"], "PaymentAmount")
    check_period_open(store, doc["CompanyCode"], doc["PostingDate"])
    if not doc["PayeeIBAN"]:  # pay to the supplier's bank: an IBAN if it has one, else a domestic account
        banks = store.find("A_BusinessPartnerBank", BusinessPartner=doc["Supplier"])
        banks.sort(key=lambda b: not b.get("IBAN"))
        if not banks:
            raise ODataError(400, f"Supplier {doc['Supplier']} has no bank account", "F0/362")
        doc["PayeeIBAN"], doc["PayeeSWIFTCode"] = banks[0]["IBAN"], doc["PayeeSWIFTCode"] or banks[0]["SWIFTCode"]
    if doc["PayeeIBAN"]:
        doc["PayeeIBAN"] = _check_iban(doc["PayeeIBAN"])
    invoice: dict[str, Any] | None = None
    if doc["ClearedSupplierInvoice"]:
        invoice = _invoice(store, doc["ClearedSupplierInvoice"], doc["ClearedSupplierInvoiceFiscalYear"])
        if invoice["SupplierInvoiceStatus"] != "5" or invoice.get("IsReversed") or invoice.get("IsReversal"):
            raise ODataError(400, f"Invoice {invoice['SupplierInvoice']} is not an open posted item", "F5/263")
        if invoice.get("_clearing"):
            raise ODataError(
                400,
                f"Invoice {invoice['SupplierInvoice']} is already cleared by payment {invoice['_clearing']}",
                "F5/263",
            )
        if invoice["InvoicingParty"] != doc["Supplier"] or invoice["DocumentCurrency"] != doc["PaymentCurrency"]:
            raise ODataError(400, "Payment supplier and currency must match the invoice", "F5/263")
        if amount != Decimal(invoice["InvoiceGrossAmount"]):
            raise ODataError(
                400, f"Payment amount {amount} differs from the open item {invoice['InvoiceGrossAmount']}", "F5/263"
            )
    year = doc["PostingDate"][:4]
    number = str(store.next_number(f"OutgoingPayment|{doc['CompanyCode']}|{year}", 1500000000))
    doc["PayeeName"] = doc["PayeeName"] or str(supplier.get("SupplierName") or "")[:35]
    doc.update(
        PaymentDocument=number,
        FiscalYear=year,
        CreationDate=_today(),
        PaymentMethod=doc["PaymentMethod"] or "T",
        HouseBank=doc["HouseBank"] or f"{doc['CompanyCode'][:2]}BK1",
        PaymentStatus="P",
        _created_by=user,
    )
    put(store, payment_set, doc)
    if invoice is not None:
        invoice["_clearing"] = number
        put(store, ENTITY_SETS["A_SupplierInvoice"], invoice)
    return doc
