"""The ERP's deterministic data set: company codes, periods, GL accounts, cost centers, suppliers.

The same seed gives the same data on every machine. The data carries the mess real master
data has, so the layers above have something to find: near-duplicate suppliers (the same tax
number or IBAN under a slightly different name), bank accounts with a wrong IBAN check digit
(loaded "from an old system", bypassing the API's checks), blocked suppliers, blocked and
expired cost centers, blocked GL accounts, a closed fiscal year and one closed period.
"""

from __future__ import annotations

import random
from typing import Any

from platforms.erp.business import CHART_OF_ACCOUNTS, CONTROLLING_AREA, put
from platforms.erp.model import ENTITY_SETS
from platforms.erp.odata import blank
from platforms.kit.seeddata import bad_iban, bank_account, company_name, legal_entities, person_name, tax_id
from platforms.kit.store import Store

__all__ = ["CLOSED_PERIOD", "FISCAL_YEARS", "SUPPLIER_COUNT", "seed"]

FISCAL_YEARS = range(2024, 2031)
"""Years with posting periods; 2024 is closed (year-end closing done)."""
CLOSED_PERIOD = ("DE01", "2025", "006")
"""The one period closed inside an open year: DE01, June 2025."""
SUPPLIER_COUNT = 200
"""Business partners with the supplier role."""

_LANGUAGES = {"US": "EN", "DE": "DE", "GB": "EN", "JP": "JA", "FR": "FR", "NL": "NL"}
_TAX_TYPES = {"US": "US1", "DE": "DE0", "GB": "GB0", "FR": "FR0", "NL": "NL0", "JP": "JP1"}
_ENTITY_OF_COUNTRY = {"US": "US01", "DE": "DE01", "FR": "DE01", "NL": "DE01", "GB": "GB01", "JP": "JP01"}
_CITIES = {"US": "Chicago", "DE": "Hamburg", "GB": "Manchester", "FR": "Lyon", "NL": "Utrecht", "JP": "Osaka"}
_PAYMENT_TERMS = ("0001", "NT30", "NT30", "NT45", "NT60")

_GL_ACCOUNTS: tuple[tuple[str, str, bool], ...] = (
    # (number, name, balance sheet account)
    ("10010000", "Petty Cash", True),
    ("11001000", "Bank 1 Main Account", True),
    ("11001010", "Bank 1 Outgoing Payments", True),
    ("11001020", "Bank 1 Incoming Payments", True),
    ("11002000", "Bank 2 Main Account", True),
    ("12100000", "Receivables Domestic", True),
    ("12100100", "Receivables Foreign", True),
    ("12600000", "Employee Advances", True),
    ("13100000", "Raw Materials", True),
    ("13200000", "Finished Goods", True),
    ("14100000", "Prepaid Expenses", True),
    ("15410000", "Input Tax", True),
    ("16100000", "Buildings", True),
    ("16200000", "Machinery", True),
    ("16300000", "Office Equipment", True),
    ("16400000", "IT Hardware", True),
    ("16900000", "Accumulated Depreciation", True),
    ("21100000", "Payables Domestic", True),
    ("21100100", "Payables Foreign", True),
    ("21200000", "GR/IR Clearing", True),
    ("21500000", "Accrued Expenses", True),
    ("21600000", "Payroll Liabilities", True),
    ("21700000", "Employee Expense Payables", True),
    ("22000000", "Output Tax", True),
    ("23000000", "Short-term Loans", True),
    ("27000000", "Long-term Debt", True),
    ("31000000", "Share Capital", True),
    ("33000000", "Retained Earnings", True),
    ("41000000", "Revenue Domestic", False),
    ("41000100", "Revenue Foreign", False),
    ("42000000", "Service Revenue", False),
    ("44000000", "Interest Income", False),
    ("51000000", "Cost of Goods Sold", False),
    ("52100000", "Raw Material Consumption", False),
    ("61000000", "Salaries", False),
    ("61100000", "Bonuses", False),
    ("61500000", "Social Security", False),
    ("62000000", "Rent", False),
    ("62100000", "Utilities", False),
    ("62200000", "Repairs and Maintenance", False),
    ("63000000", "Office Supplies", False),
    ("63100000", "Software Subscriptions", False),
    ("63200000", "Telecommunications", False),
    ("63300000", "Postage", False),
    ("64000000", "Travel - Airfare", False),
    ("64100000", "Travel - Lodging", False),
    ("64200000", "Travel - Meals", False),
    ("64300000", "Travel - Ground Transport", False),
    ("64400000", "Entertainment", False),
    ("65000000", "Consulting Fees", False),
    ("65100000", "Legal Fees", False),
    ("65200000", "Audit Fees", False),
    ("66000000", "Marketing", False),
    ("66100000", "Advertising", False),
    ("67000000", "Training", False),
    ("68000000", "Insurance", False),
    ("69000000", "Depreciation", False),
    ("71000000", "Interest Expense", False),
    ("72000000", "Bank Charges", False),
    ("73000000", "FX Gains and Losses", False),
    ("79000000", "Suspense Account (blocked)", False),
    ("79900000", "Old Clearing Account (blocked)", True),
)
_BLOCKED_GL = {"79000000", "79900000"}

_DEPARTMENTS = (
    "Finance",
    "IT",
    "Marketing",
    "Sales",
    "Human Resources",
    "Facilities",
    "Legal",
    "Research",
    "Procurement",
)


def _doc(entity: str, **fields: Any) -> dict[str, Any]:
    return {**blank(ENTITY_SETS[entity]), **fields}


def _put(store: Store, entity: str, **fields: Any) -> dict[str, Any]:
    return put(store, ENTITY_SETS[entity], _doc(entity, **fields))


def _company_codes(store: Store) -> None:
    for entity in legal_entities():
        _put(
            store,
            "A_CompanyCode",
            CompanyCode=entity.code,
            CompanyCodeName=entity.name[:25],
            CityName=entity.city[:25],
            Country=entity.country,
            Currency=entity.currency,
            Language=_LANGUAGES.get(entity.country, "EN"),
            ChartOfAccounts=CHART_OF_ACCOUNTS,
            FiscalYearVariant="K4",
            Company=entity.code,
            ControllingArea=CONTROLLING_AREA,
            VATRegistration=entity.tax_id[:20],
            CountryChartOfAccounts="",
        )
        for year in FISCAL_YEARS:
            for month in range(1, 13):
                end_day = 31 if month in (1, 3, 5, 7, 8, 10, 12) else 30 if month != 2 else 29 if year % 4 == 0 else 28
                closed = year == 2024 or (entity.code, str(year), f"{month:03d}") == CLOSED_PERIOD
                _put(
                    store,
                    "A_FiscalPeriod",
                    CompanyCode=entity.code,
                    FiscalYear=str(year),
                    FiscalPeriod=f"{month:03d}",
                    FiscalPeriodStartDate=f"{year}-{month:02d}-01",
                    FiscalPeriodEndDate=f"{year}-{month:02d}-{end_day:02d}",
                    IsOpen=not closed,
                )


def _gl_accounts(store: Store) -> None:
    for number, name, balance_sheet in _GL_ACCOUNTS:
        _put(
            store,
            "A_GLAccountInChartOfAccounts",
            ChartOfAccounts=CHART_OF_ACCOUNTS,
            GLAccount=number,
            IsBalanceSheetAccount=balance_sheet,
            GLAccountGroup="BS" if balance_sheet else "PL",
            ProfitLossAccountType="" if balance_sheet else "X",
            GLAccountType="X" if balance_sheet else "P",
            AccountIsBlockedForPosting=number in _BLOCKED_GL,
            CreationDate="2020-01-01",
        )
        _put(
            store,
            "A_GLAccountText",
            ChartOfAccounts=CHART_OF_ACCOUNTS,
            GLAccount=number,
            Language="EN",
            GLAccountName=name[:20],
            GLAccountLongName=name[:50],
        )


def _cost_centers(store: Store, rng: random.Random) -> None:
    entities = legal_entities()
    count = 0
    for index, entity in enumerate(entities):
        for dept_index, department in enumerate(_DEPARTMENTS[: 8 if index < 3 else 6]):
            count += 1
            number = f"{index + 1}{dept_index + 1:02d}10{index + 1}01"
            blocked = count % 11 == 5
            expired = count % 10 == 7
            first, last = person_name(rng)
            _put(
                store,
                "A_CostCenter",
                ControllingArea=CONTROLLING_AREA,
                CostCenter=number,
                ValidityEndDate="2024-12-31" if expired else "9999-12-31",
                ValidityStartDate="2020-01-01",
                IsBlkdForPrimaryCostsPosting=blocked,
                IsBlkdForSecondaryCostsPosting=blocked,
                CompanyCode=entity.code,
                ProfitCenter=f"YB{index + 1}{dept_index + 1:02d}",
                CostCenterCategory="F" if department == "Research" else "H" if department != "Sales" else "V",
                CostCtrResponsiblePersonName=f"{first} {last}"[:20],
                CostCenterCurrency=entity.currency,
                Department=department[:12],
            )
            _put(
                store,
                "A_CostCenterText",
                ControllingArea=CONTROLLING_AREA,
                CostCenter=number,
                ValidityEndDate="2024-12-31" if expired else "9999-12-31",
                Language="EN",
                ValidityStartDate="2020-01-01",
                CostCenterName=f"{department} {entity.code}"[:20],
                CostCenterDescription=f"{department} ({entity.name})"[:40],
            )


def _partner(
    store: Store,
    rng: random.Random,
    *,
    name: str,
    country: str,
    tax: str | None,
    bank: dict[str, Any] | None,
    supplier: bool = True,
    blocked: bool = False,
    terms: str = "NT30",
) -> str:
    number = str(store.next_number("BusinessPartner", 1000000))
    _put(
        store,
        "A_BusinessPartner",
        BusinessPartner=number,
        Supplier=number if supplier else "",
        Customer="" if supplier else number,
        BusinessPartnerCategory="2",
        BusinessPartnerFullName=name[:81],
        BusinessPartnerName=name[:81],
        BusinessPartnerGrouping="BPEE",
        OrganizationBPName1=name[:40],
        OrganizationBPName2=name[40:80],
        SearchTerm1=name[:20].upper(),
        Language=_LANGUAGES.get(country, "EN"),
        BusinessPartnerIsBlocked=False,
        CreatedByUser="MIGRATION",
        CreationDate="2023-01-15",
        LastChangeDate="2024-06-30",
        _etag=f"2024063012{int(number) % 10000:04d}",
    )
    _put(
        store,
        "A_BusinessPartnerAddress",
        BusinessPartner=number,
        AddressID="1",
        Country=country,
        CityName=_CITIES[country],
        PostalCode=f"{rng.randrange(10000, 99999)}",
        StreetName=f"{rng.choice(('Main', 'Harbour', 'Station', 'Market', 'Park'))} Street",
        HouseNumber=str(rng.randrange(1, 200)),
        Language=_LANGUAGES.get(country, "EN"),
    )
    if tax:
        _put(
            store,
            "A_BusinessPartnerTaxNumber",
            BusinessPartner=number,
            BPTaxType=_TAX_TYPES[country],
            BPTaxNumber=tax[:20],
        )
    if bank:
        _put(
            store,
            "A_BusinessPartnerBank",
            BusinessPartner=number,
            BankIdentification="0001",
            BankAccountHolderName=name[:60],
            ValidityStartDate="2023-01-15",
            ValidityEndDate="9999-12-31",
            **bank,
        )
    if supplier:
        vat = tax if tax and _TAX_TYPES[country].endswith("0") else ""
        _put(
            store,
            "A_Supplier",
            Supplier=number,
            SupplierName=name[:80],
            SupplierFullName=name,
            CreatedByUser="MIGRATION",
            CreationDate="2023-01-15",
            VATRegistration=(vat or "")[:20],
            TaxNumber1="" if vat else (tax or "")[:16],
            SupplierAccountGroup="SUPL",
            PaymentIsBlockedForSupplier=blocked,
            PostingIsBlocked=blocked,
        )
        _put(
            store,
            "A_SupplierCompany",
            Supplier=number,
            CompanyCode=_ENTITY_OF_COUNTRY[country],
            PaymentTerms=terms,
            ReconciliationAccount="21100000" if country in ("US", "DE") else "21100100",
            PaymentMethodsList="T",
        )
    return number


def _bank(rng: random.Random, country: str, *, bad: bool = False) -> dict[str, Any]:
    account = bank_account(rng, country)
    bank: dict[str, Any] = {"BankCountryKey": country, "BankName": account.bank_name[:60], "SWIFTCode": account.bic}
    if account.iban:
        bank["IBAN"] = bad_iban(rng, country) if bad else account.iban
        bank["BankNumber"] = ""
        bank["BankAccount"] = account.iban[-10:]
    else:
        bank["BankNumber"] = account.bank_code or ""
        bank["BankAccount"] = account.account_number or ""
    return bank


def _near_duplicate_name(rng: random.Random, name: str) -> str:
    variants = (
        name.upper(),
        name.replace(" ", "  ", 1),
        name + ".",
        name.rsplit(" ", 1)[0],
        name.replace("Logistics", "Logistic").replace("Consulting", "Consultants"),
    )
    return rng.choice(variants)


def _suppliers(store: Store, rng: random.Random) -> None:
    countries = ("US", "US", "DE", "DE", "GB", "FR", "NL", "JP")
    made: list[tuple[str, str, str | None, dict[str, Any] | None]] = []
    duplicates = 12
    for index in range(SUPPLIER_COUNT - duplicates):
        country = rng.choice(countries)
        name = company_name(rng, country)
        tax = tax_id(rng, country) if index % 17 != 3 else None
        bank = _bank(rng, country, bad=index % 23 == 7) if index % 19 != 4 else None
        _partner(
            store,
            rng,
            name=name,
            country=country,
            tax=tax,
            bank=bank,
            blocked=index % 29 == 11,
            terms=rng.choice(_PAYMENT_TERMS),
        )
        made.append((name, country, tax, bank))
    for index in range(duplicates):  # the same tax number or IBAN under a slightly different name
        name, country, tax, bank = made[rng.randrange(len(made))]
        same_tax = index % 2 == 0 and tax is not None
        _partner(
            store,
            rng,
            name=_near_duplicate_name(rng, name),
            country=country,
            tax=tax if same_tax else tax_id(rng, country),
            bank=bank if not same_tax or bank is None else _bank(rng, country),
            terms=rng.choice(_PAYMENT_TERMS),
        )
    for _ in range(10):  # customers: business partners without the supplier role
        country = rng.choice(countries)
        _partner(
            store,
            rng,
            name=company_name(rng, country),
            country=country,
            tax=tax_id(rng, country),
            bank=None,
            supplier=False,
        )


def seed(store: Store, rng: random.Random) -> None:
    """Fill an empty store with the ERP's data set (the kit's ``SeedFunction``)."""
    _company_codes(store)
    _gl_accounts(store)
    _cost_centers(store, rng)
    _suppliers(store, rng)
