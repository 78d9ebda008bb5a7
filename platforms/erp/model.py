"""The ERP's OData services as data: entity sets, properties with SAP's lengths, navigations.

Names and lengths follow SAP's public API_BUSINESS_PARTNER, API_SUPPLIERINVOICE_PROCESS_SRV,
API_COSTCENTER_SRV, API_GLACCOUNTINCHARTOFACCOUNTS_SRV and API_COMPANYCODE_SRV. Three services
are the sandbox's own, in the same style, for what SAP offers only as SOAP or apps:
``API_FISCALPERIOD_SRV`` (posting periods open or closed per company code),
``API_JOURNALENTRY_POST_SRV`` (a JSON rendering of "Journal Entry - Post" and "- Reverse") and
``API_OUTGOINGPAYMENT_SRV`` (outgoing payments to suppliers).
"""

from __future__ import annotations

from platforms.erp.odata import EntitySet, Nav, Prop

__all__ = ["ENTITY_SETS", "SERVICES", "entity_set"]


def S(length: int) -> Prop:  # noqa: N802 - reads like SAP's Edm.String(n)
    """An ``Edm.String`` of at most ``length`` characters."""
    return Prop("Edm.String", length)


B = Prop("Edm.Boolean")
D = Prop("Edm.DateTime")
N = Prop("Edm.Decimal")

BP = "API_BUSINESS_PARTNER"
CC = "API_COSTCENTER_SRV"
GL = "API_GLACCOUNTINCHARTOFACCOUNTS_SRV"
CO = "API_COMPANYCODE_SRV"
FP = "API_FISCALPERIOD_SRV"
SI = "API_SUPPLIERINVOICE_PROCESS_SRV"
JE = "API_JOURNALENTRY_POST_SRV"
PY = "API_OUTGOINGPAYMENT_SRV"

_SETS = [
    EntitySet(
        BP,
        "A_BusinessPartner",
        ("BusinessPartner",),
        {
            "BusinessPartner": S(10),
            "Customer": S(10),
            "Supplier": S(10),
            "BusinessPartnerCategory": S(1),
            "BusinessPartnerFullName": S(81),
            "BusinessPartnerGrouping": S(4),
            "BusinessPartnerName": S(81),
            "FirstName": S(40),
            "LastName": S(40),
            "OrganizationBPName1": S(40),
            "OrganizationBPName2": S(40),
            "SearchTerm1": S(20),
            "SearchTerm2": S(20),
            "Language": S(2),
            "BusinessPartnerIsBlocked": B,
            "IsMarkedForArchiving": B,
            "CreatedByUser": S(12),
            "CreationDate": D,
            "LastChangeDate": D,
        },
        {
            "to_BusinessPartnerAddress": Nav("A_BusinessPartnerAddress", (("BusinessPartner", "BusinessPartner"),)),
            "to_BusinessPartnerBank": Nav("A_BusinessPartnerBank", (("BusinessPartner", "BusinessPartner"),)),
            "to_BusinessPartnerTax": Nav("A_BusinessPartnerTaxNumber", (("BusinessPartner", "BusinessPartner"),)),
            "to_Supplier": Nav("A_Supplier", (("Supplier", "Supplier"),), many=False),
        },
    ),
    EntitySet(
        BP,
        "A_BusinessPartnerAddress",
        ("BusinessPartner", "AddressID"),
        {
            "BusinessPartner": S(10),
            "AddressID": S(10),
            "Country": S(3),
            "Region": S(3),
            "CityName": S(40),
            "PostalCode": S(10),
            "StreetName": S(60),
            "HouseNumber": S(10),
            "Language": S(2),
        },
    ),
    EntitySet(
        BP,
        "A_BusinessPartnerBank",
        ("BusinessPartner", "BankIdentification"),
        {
            "BusinessPartner": S(10),
            "BankIdentification": S(4),
            "BankCountryKey": S(3),
            "BankName": S(60),
            "BankNumber": S(15),
            "SWIFTCode": S(11),
            "BankControlKey": S(2),
            "BankAccountHolderName": S(60),
            "BankAccountName": S(40),
            "IBAN": S(34),
            "BankAccount": S(18),
            "BankAccountReferenceText": S(20),
            "CityName": S(35),
            "ValidityStartDate": D,
            "ValidityEndDate": D,
        },
    ),
    EntitySet(
        BP,
        "A_BusinessPartnerTaxNumber",
        ("BusinessPartner", "BPTaxType"),
        {
            "BusinessPartner": S(10),
            "BPTaxType": S(4),
            "BPTaxNumber": S(20),
            "BPTaxLongNumber": S(60),
        },
    ),
    EntitySet(
        BP,
        "A_Supplier",
        ("Supplier",),
        {
            "Supplier": S(10),
            "AlternativePayeeAccountNumber": S(10),
            "AuthorizationGroup": S(4),
            "CreatedByUser": S(12),
            "CreationDate": D,
            "Customer": S(10),
            "PaymentIsBlockedForSupplier": B,
            "PostingIsBlocked": B,
            "PurchasingIsBlocked": B,
            "SupplierAccountGroup": S(4),
            "SupplierFullName": S(220),
            "SupplierName": S(80),
            "VATRegistration": S(20),
            "TaxNumber1": S(16),
            "TaxNumber2": S(11),
            "DeletionIndicator": B,
            "SupplierCorporateGroup": S(10),
        },
        {
            "to_SupplierCompany": Nav("A_SupplierCompany", (("Supplier", "Supplier"),)),
        },
    ),
    EntitySet(
        BP,
        "A_SupplierCompany",
        ("Supplier", "CompanyCode"),
        {
            "Supplier": S(10),
            "CompanyCode": S(4),
            "PaymentTerms": S(4),
            "ReconciliationAccount": S(10),
            "PaymentMethodsList": S(10),
            "PaymentBlockingReason": S(1),
            "SupplierIsBlockedForPosting": B,
            "DeletionIndicator": B,
            "SupplierHeadOffice": S(10),
        },
    ),
    EntitySet(
        CC,
        "A_CostCenter",
        ("ControllingArea", "CostCenter", "ValidityEndDate"),
        {
            "ControllingArea": S(4),
            "CostCenter": S(10),
            "ValidityEndDate": D,
            "ValidityStartDate": D,
            "IsBlkdForPrimaryCostsPosting": B,
            "IsBlkdForSecondaryCostsPosting": B,
            "CompanyCode": S(4),
            "ProfitCenter": S(10),
            "CostCenterCategory": S(1),
            "CostCtrResponsiblePersonName": S(20),
            "CostCenterCurrency": S(5),
            "Department": S(12),
        },
        {
            "to_Text": Nav(
                "A_CostCenterText",
                (
                    ("ControllingArea", "ControllingArea"),
                    ("CostCenter", "CostCenter"),
                    ("ValidityEndDate", "ValidityEndDate"),
                ),
            ),
        },
    ),
    EntitySet(
        CC,
        "A_CostCenterText",
        ("ControllingArea", "CostCenter", "ValidityEndDate", "Language"),
        {
            "ControllingArea": S(4),
            "CostCenter": S(10),
            "ValidityEndDate": D,
            "Language": S(2),
            "ValidityStartDate": D,
            "CostCenterName": S(20),
            "CostCenterDescription": S(40),
        },
    ),
    EntitySet(
        GL,
        "A_GLAccountInChartOfAccounts",
        ("ChartOfAccounts", "GLAccount"),
        {
            "ChartOfAccounts": S(4),
            "GLAccount": S(10),
            "IsBalanceSheetAccount": B,
            "GLAccountGroup": S(4),
            "CorporateGroupAccount": S(10),
            "ProfitLossAccountType": S(2),
            "GLAccountType": S(1),
            "AccountIsMarkedForDeletion": B,
            "AccountIsBlockedForCreation": B,
            "AccountIsBlockedForPosting": B,
            "AccountIsBlockedForPlanning": B,
            "FunctionalArea": S(16),
            "CreationDate": D,
        },
        {
            "to_Text": Nav("A_GLAccountText", (("ChartOfAccounts", "ChartOfAccounts"), ("GLAccount", "GLAccount"))),
        },
    ),
    EntitySet(
        GL,
        "A_GLAccountText",
        ("ChartOfAccounts", "GLAccount", "Language"),
        {
            "ChartOfAccounts": S(4),
            "GLAccount": S(10),
            "Language": S(2),
            "GLAccountName": S(20),
            "GLAccountLongName": S(50),
        },
    ),
    EntitySet(
        CO,
        "A_CompanyCode",
        ("CompanyCode",),
        {
            "CompanyCode": S(4),
            "CompanyCodeName": S(25),
            "CityName": S(25),
            "Country": S(3),
            "Currency": S(5),
            "Language": S(2),
            "ChartOfAccounts": S(4),
            "FiscalYearVariant": S(2),
            "Company": S(6),
            "ControllingArea": S(4),
            "VATRegistration": S(20),
            "CountryChartOfAccounts": S(4),
        },
    ),
    EntitySet(
        FP,
        "A_FiscalPeriod",
        ("CompanyCode", "FiscalYear", "FiscalPeriod"),
        {
            "CompanyCode": S(4),
            "FiscalYear": S(4),
            "FiscalPeriod": S(3),
            "FiscalPeriodStartDate": D,
            "FiscalPeriodEndDate": D,
            "IsOpen": B,
        },
    ),
    EntitySet(
        SI,
        "A_SupplierInvoice",
        ("SupplierInvoice", "FiscalYear"),
        {
            "SupplierInvoice": S(10),
            "FiscalYear": S(4),
            "CompanyCode": S(4),
            "DocumentDate": D,
            "PostingDate": D,
            "CreationDate": D,
            "InvoicingParty": S(10),
            "SupplierInvoiceIDByInvcgParty": S(16),
            "DocumentCurrency": S(5),
            "InvoiceGrossAmount": N,
            "DocumentHeaderText": S(25),
            "PaymentTerms": S(4),
            "DueCalculationBaseDate": D,
            "TaxIsCalculatedAutomatically": B,
            "SupplierInvoiceStatus": S(1),
            "IsInvoice": B,
            "AccountingDocumentType": S(2),
            "SupplierPostingLineItemText": S(50),
            "AssignmentReference": S(18),
            "IsReversal": B,
            "IsReversed": B,
            "ReverseDocument": S(10),
            "ReverseDocumentFiscalYear": S(4),
            "SupplierInvoiceOrigin": S(1),
        },
        {
            "to_SupplierInvoiceItemGLAcct": Nav(
                "A_SupplierInvoiceItemGLAcct", (("SupplierInvoice", "SupplierInvoice"), ("FiscalYear", "FiscalYear"))
            ),
            "to_SupplierInvoiceTax": Nav(
                "A_SupplierInvoiceTax", (("SupplierInvoice", "SupplierInvoice"), ("FiscalYear", "FiscalYear"))
            ),
        },
    ),
    EntitySet(
        SI,
        "A_SupplierInvoiceTax",
        ("SupplierInvoice", "FiscalYear", "TaxCode"),
        {
            "SupplierInvoice": S(10),
            "FiscalYear": S(4),
            "TaxCode": S(2),
            "DocumentCurrency": S(5),
            "TaxAmount": N,
            "TaxBaseAmountInTransCrcy": N,
        },
    ),
    EntitySet(
        SI,
        "A_SupplierInvoiceItemGLAcct",
        ("SupplierInvoice", "FiscalYear", "SupplierInvoiceItem"),
        {
            "SupplierInvoice": S(10),
            "FiscalYear": S(4),
            "SupplierInvoiceItem": S(4),
            "CompanyCode": S(4),
            "CostCenter": S(10),
            "ControllingArea": S(4),
            "GLAccount": S(10),
            "DocumentCurrency": S(5),
            "SupplierInvoiceItemAmount": N,
            "TaxCode": S(2),
            "DebitCreditCode": S(1),
            "SupplierInvoiceItemText": S(50),
            "AssignmentReference": S(18),
            "ProfitCenter": S(10),
            "WBSElement": S(24),
        },
    ),
    EntitySet(
        JE,
        "A_JournalEntry",
        ("AccountingDocument", "CompanyCode", "FiscalYear"),
        {
            "AccountingDocument": S(10),
            "CompanyCode": S(4),
            "FiscalYear": S(4),
            "AccountingDocumentType": S(2),
            "DocumentDate": D,
            "PostingDate": D,
            "CreationDate": D,
            "DocumentReferenceID": S(16),
            "AccountingDocumentHeaderText": S(25),
            "CreatedByUser": S(12),
            "IsReversal": B,
            "IsReversed": B,
            "ReverseDocument": S(10),
            "ReverseDocumentFiscalYear": S(4),
            "ReversalReferenceDocument": S(10),
            "ReversalReason": S(2),
            "OriginalReferenceDocument": S(20),
        },
        {
            "to_JournalEntryItem": Nav(
                "A_JournalEntryItem",
                (
                    ("AccountingDocument", "AccountingDocument"),
                    ("CompanyCode", "CompanyCode"),
                    ("FiscalYear", "FiscalYear"),
                ),
            ),
        },
    ),
    EntitySet(
        JE,
        "A_JournalEntryItem",
        ("AccountingDocument", "CompanyCode", "FiscalYear", "AccountingDocumentItem"),
        {
            "AccountingDocument": S(10),
            "CompanyCode": S(4),
            "FiscalYear": S(4),
            "AccountingDocumentItem": S(3),
            "GLAccount": S(10),
            "AmountInTransactionCurrency": N,
            "TransactionCurrency": S(5),
            "DebitCreditCode": S(1),
            "CostCenter": S(10),
            "DocumentItemText": S(50),
            "TaxCode": S(2),
            "Supplier": S(10),
        },
    ),
    EntitySet(
        PY,
        "A_OutgoingPayment",
        ("PaymentDocument", "CompanyCode", "FiscalYear"),
        {
            "PaymentDocument": S(10),
            "CompanyCode": S(4),
            "FiscalYear": S(4),
            "Supplier": S(10),
            "PostingDate": D,
            "CreationDate": D,
            "PaymentAmount": N,
            "PaymentCurrency": S(5),
            "PaymentMethod": S(1),
            "HouseBank": S(5),
            "PayeeName": S(35),
            "PayeeIBAN": S(34),
            "PayeeSWIFTCode": S(11),
            "PaymentReference": S(35),
            "DocumentReferenceID": S(16),
            "ClearedSupplierInvoice": S(10),
            "ClearedSupplierInvoiceFiscalYear": S(4),
            "PaymentStatus": S(1),
        },
    ),
]

ENTITY_SETS: dict[str, EntitySet] = {entity.name: entity for entity in _SETS}
"""Every entity set by name (names are unique across the services)."""

SERVICES: dict[str, dict[str, EntitySet]] = {}
"""Entity sets by service and name."""
for _entity in _SETS:
    SERVICES.setdefault(_entity.service, {})[_entity.name] = _entity


def entity_set(name: str) -> EntitySet:
    """The entity set called ``name``."""
    return ENTITY_SETS[name]
