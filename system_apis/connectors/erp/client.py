"""The ERP connector: canonical finance objects in, SAP S/4HANA OData V2 on the wire.

Beyond the shared resilient client it handles what SAP Gateway asks of a writer: a CSRF token
fetched with ``x-csrf-token: Fetch`` and echoed on every write (fetched again once when SAP
answers 403 because the token expired), and creates that never happen twice: each create
carries Finrail's deterministic external reference (``SearchTerm2`` on business partners,
``AssignmentReference`` on supplier invoices, ``DocumentReferenceID`` on journal entries and
payments), which is looked up before the create is sent and again after a timeout.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import httpx
import msgspec

from system_apis.canonical import (
    AccountingPeriod,
    CostCenter,
    GlAccount,
    JournalEntry,
    JournalEntryDraft,
    LegalEntity,
    Payment,
    PaymentDraft,
    Supplier,
    SupplierDraft,
    SupplierInvoice,
    TaxId,
)
from system_apis.canonical.procurement import SupplierInvoiceDraft
from system_apis.connectors.erp import mapping, wire
from system_apis.connectors.kit import (
    ConnectionConfig,
    MalformedAnswer,
    PlatformClient,
    PlatformRejected,
)

__all__ = ["ODATA_ROOT", "ErpConnector"]

ODATA_ROOT = "/sap/opu/odata/sap"
"""Where SAP Gateway serves the OData V2 services."""

BP = f"{ODATA_ROOT}/API_BUSINESS_PARTNER"
CC = f"{ODATA_ROOT}/API_COSTCENTER_SRV"
GL = f"{ODATA_ROOT}/API_GLACCOUNTINCHARTOFACCOUNTS_SRV"
CO = f"{ODATA_ROOT}/API_COMPANYCODE_SRV"
FP = f"{ODATA_ROOT}/API_FISCALPERIOD_SRV"
SI = f"{ODATA_ROOT}/API_SUPPLIERINVOICE_PROCESS_SRV"
JE = f"{ODATA_ROOT}/API_JOURNALENTRY_POST_SRV"
PY = f"{ODATA_ROOT}/API_OUTGOINGPAYMENT_SRV"

SUPPLIER_EXPAND = (
    "to_BusinessPartnerAddress,to_BusinessPartnerBank,to_BusinessPartnerTax,to_Supplier/to_SupplierCompany"
)
INVOICE_EXPAND = "to_SupplierInvoiceItemGLAcct,to_SupplierInvoiceTax"

T = TypeVar("T")
W = TypeVar("W")


class _Deadline(httpx.AsyncBaseTransport):
    """Enforces the time limit on transports that ignore httpx timeouts (``ASGITransport``)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, seconds: float) -> None:
        self.inner = inner
        self.seconds = seconds

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            async with asyncio.timeout(self.seconds):
                return await self.inner.handle_async_request(request)
        except TimeoutError:
            raise httpx.ReadTimeout(f"no answer within {self.seconds:g} s", request=request) from None

    async def aclose(self) -> None:
        await self.inner.aclose()


def _quote(value: str) -> str:
    """An OData string literal."""
    return "'" + value.replace("'", "''") + "'"


def _either(field: str, values: list[str]) -> str:
    return "(" + " or ".join(f"{field} eq {_quote(v)}" for v in values) + ")"


class ErpConnector:
    """SAP S/4HANA Cloud (or its sandbox) as canonical finance objects.

    Args:
        config: Where the ERP is and how to reach it (Basic auth user and password).
        transport: ``httpx.ASGITransport(app=sandbox)`` for the embedded sandbox, ``None`` for
            the network.
    """

    name = "erp"

    def __init__(self, config: ConnectionConfig, transport: httpx.AsyncBaseTransport | None = None) -> None:
        if transport is not None:
            transport = _Deadline(transport, config.timeout_seconds)
        self.config = config
        self.http = PlatformClient(self.name, config, transport=transport)
        self._token: str | None = None
        self._token_lock = asyncio.Lock()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.http.aclose()

    # --- plumbing -----------------------------------------------------------------------

    def _decode(self, response: httpx.Response, type_: type[T]) -> T:
        return self.http.decode(response, type_)

    def _map(self, convert: Callable[[W], T], value: W) -> T:
        """Map a wire entity; canonical checks failing on platform data mean a malformed answer."""
        try:
            return convert(value)
        except (ValueError, TypeError) as error:
            raise MalformedAnswer(
                f"the ERP answered data the canonical model refuses: {error}", platform=self.name
            ) from error

    async def _get(self, path: str, type_: type[T], params: Mapping[str, str] | None = None) -> T:
        response = await self.http.request("GET", path, params=params)
        return self._decode(response, type_)

    async def _fetch_token(self, stale: str | None) -> str:
        async with self._token_lock:
            if self._token is None or self._token == stale:
                response = await self.http.request("GET", f"{BP}/", headers={"x-csrf-token": "Fetch"})
                token = response.headers.get("x-csrf-token")
                if not token or token.lower() in ("required", "fetch"):
                    raise MalformedAnswer("the ERP sent no CSRF token on fetch", platform=self.name)
                self._token = token
            return self._token

    async def _write(
        self, method: str, path: str, *, json: Any = None, params: Mapping[str, str] | None = None
    ) -> httpx.Response:
        """A write with the CSRF token; a 403 (token expired) fetches a new one and sends once more."""
        token = self._token or await self._fetch_token(None)
        try:
            return await self.http.request(
                method, path, json=json, params=params, headers={"x-csrf-token": token}, retry=False
            )
        except PlatformRejected as error:
            if error.platform_status != 403:
                raise
        token = await self._fetch_token(token)
        return await self.http.request(
            method, path, json=json, params=params, headers={"x-csrf-token": token}, retry=False
        )

    async def _create_once(self, create: Callable[[], Awaitable[T]], find: Callable[[], Awaitable[T | None]]) -> T:
        """Look the object up by reference first (a retried call), then create at most once."""
        found = await find()
        if found is not None:
            return found
        return await self.http.create_once(create, find)

    # --- suppliers ----------------------------------------------------------------------

    async def _partners(
        self, filter_: str, top: int, extra: Mapping[str, str] | None = None
    ) -> list[wire.BusinessPartner]:
        params = {
            "$filter": filter_,
            "$top": str(top),
            "$orderby": "BusinessPartner",
            "$expand": SUPPLIER_EXPAND,
            **(extra or {}),
        }
        page = await self._get(f"{BP}/A_BusinessPartner", wire.EntitySet[wire.BusinessPartner], params)
        return page.d.results

    async def _partner_numbers(self, entity: str, filter_: str) -> list[str]:
        class Key(msgspec.Struct):
            BusinessPartner: str

        params = {"$filter": filter_, "$select": "BusinessPartner", "$top": "1000"}
        page = await self._get(f"{BP}/{entity}", wire.EntitySet[Key], params)
        return sorted({row.BusinessPartner for row in page.d.results})

    async def list_suppliers(
        self,
        *,
        limit: int = 50,
        after: str | None = None,
        tax_id: str | None = None,
        iban: str | None = None,
        name: str | None = None,
    ) -> tuple[list[Supplier], str | None]:
        """Suppliers ordered by number, one page at a time, optionally searched.

        Args:
            limit: Page size.
            after: Supplier number of the previous page's last item.
            tax_id: Exact tax number (VAT number with prefix, or national number).
            iban: Exact IBAN (spaces ignored).
            name: Part of the name, any case.

        Returns:
            The page and the number to pass as ``after`` for the next one (``None`` at the end).
        """
        clauses = ["Supplier ne ''"]
        if after:
            clauses.append(f"BusinessPartner gt {_quote(after)}")
        if name:
            clauses.append(f"substringof({_quote(name)}, BusinessPartnerFullName)")
        for entity, field, values in (
            ("A_BusinessPartnerTaxNumber", "BPTaxNumber", _tax_id_spellings(tax_id) if tax_id else None),
            ("A_BusinessPartnerBank", "IBAN", [iban.replace(" ", "").upper()] if iban else None),
        ):
            if values is None:
                continue
            numbers = await self._partner_numbers(entity, _either(field, values))
            if not numbers:
                return [], None
            clauses.append(_either("BusinessPartner", numbers))
        partners = await self._partners(" and ".join(clauses), limit + 1)
        suppliers = [self._map(mapping.supplier_from_wire, p) for p in partners[:limit]]
        more = len(partners) > limit
        return suppliers, (partners[limit - 1].BusinessPartner if more else None)

    async def get_supplier(self, supplier_id: str) -> Supplier | None:
        """One supplier by its number, or ``None``."""
        partners = await self._partners(f"Supplier eq {_quote(supplier_id)}", 1)
        return self._map(mapping.supplier_from_wire, partners[0]) if partners else None

    async def create_supplier(
        self, draft: SupplierDraft, *, reference: str, company_codes: tuple[str, ...] = ()
    ) -> Supplier:
        """Create a supplier: a deep insert of an organisation with the supplier role.

        Args:
            draft: The supplier.
            reference: Deterministic external reference (from the caller's idempotency key).
            company_codes: Company codes to extend the supplier to.
        """
        body = mapping.supplier_to_wire(draft, company_codes=company_codes, reference=reference)

        async def create() -> Supplier:
            response = await self._write("POST", f"{BP}/A_BusinessPartner", json=body)
            return self._map(mapping.supplier_from_wire, self._decode(response, wire.Entity[wire.BusinessPartner]).d)

        async def find() -> Supplier | None:
            partners = await self._partners(f"SearchTerm2 eq {_quote(reference)}", 1)
            return self._map(mapping.supplier_from_wire, partners[0]) if partners else None

        return await self._create_once(create, find)

    # --- master data --------------------------------------------------------------------

    async def list_cost_centers(
        self,
        *,
        company_code: str | None = None,
        active: bool | None = None,
        on: dt.date | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[CostCenter], bool]:
        """Cost centers by code; ``active`` filters on usable today (or ``on``). Returns ``(page, more)``."""
        clauses = []
        if company_code:
            clauses.append(f"CompanyCode eq {_quote(company_code)}")
        if active is not None:
            day = f"datetime'{(on or dt.datetime.now(dt.UTC).date()).isoformat()}T00:00:00'"
            usable = (
                f"IsBlkdForPrimaryCostsPosting eq false and ValidityStartDate le {day} and ValidityEndDate ge {day}"
            )
            clauses.append(usable if active else f"not ({usable})")
        params = {
            "$top": str(limit + 1),
            "$skip": str(offset),
            "$expand": "to_Text",
            "$orderby": "CostCenter",
            **({"$filter": " and ".join(clauses)} if clauses else {}),
        }
        page = await self._get(f"{CC}/A_CostCenter", wire.EntitySet[wire.CostCenter], params)
        rows = page.d.results
        return [self._map(mapping.cost_center_from_wire, c) for c in rows[:limit]], len(rows) > limit

    async def list_gl_accounts(
        self, *, limit: int = 50, offset: int = 0, blocked: bool | None = None
    ) -> tuple[list[GlAccount], bool]:
        """G/L accounts of the chart of accounts by number. Returns ``(page, more)``."""
        params = {"$top": str(limit + 1), "$skip": str(offset), "$expand": "to_Text", "$orderby": "GLAccount"}
        if blocked is not None:
            params["$filter"] = f"AccountIsBlockedForPosting eq {'true' if blocked else 'false'}"
        page = await self._get(f"{GL}/A_GLAccountInChartOfAccounts", wire.EntitySet[wire.GLAccount], params)
        rows = page.d.results
        return [self._map(mapping.gl_account_from_wire, a) for a in rows[:limit]], len(rows) > limit

    async def list_legal_entities(self) -> list[LegalEntity]:
        """Every company code."""
        page = await self._get(f"{CO}/A_CompanyCode", wire.EntitySet[wire.CompanyCode], {"$orderby": "CompanyCode"})
        return [self._map(mapping.legal_entity_from_wire, c) for c in page.d.results]

    async def period_of(self, company_code: str, day: dt.date) -> AccountingPeriod | None:
        """The posting period of ``company_code`` containing ``day`` (``None`` if none is defined)."""
        when = f"datetime'{day.isoformat()}T00:00:00'"
        params = {
            "$filter": f"CompanyCode eq {_quote(company_code)} and FiscalPeriodStartDate le {when} "
            f"and FiscalPeriodEndDate ge {when}",
            "$top": "1",
        }
        page = await self._get(f"{FP}/A_FiscalPeriod", wire.EntitySet[wire.FiscalPeriod], params)
        return self._map(mapping.period_from_wire, page.d.results[0]) if page.d.results else None

    async def list_periods(self, company_code: str, fiscal_year: int) -> list[AccountingPeriod]:
        """The periods of one company code and fiscal year."""
        params = {"$filter": f"CompanyCode eq {_quote(company_code)} and FiscalYear eq '{fiscal_year}'"}
        page = await self._get(f"{FP}/A_FiscalPeriod", wire.EntitySet[wire.FiscalPeriod], params)
        return [self._map(mapping.period_from_wire, p) for p in page.d.results]

    # --- supplier invoices --------------------------------------------------------------

    async def _invoice(self, number: str, year: str) -> SupplierInvoice:
        key = f"SupplierInvoice={_quote(number)},FiscalYear={_quote(year)}"
        response = await self.http.request("GET", f"{SI}/A_SupplierInvoice({key})", params={"$expand": INVOICE_EXPAND})
        return self._map(mapping.invoice_from_wire, self._decode(response, wire.Entity[wire.SupplierInvoice]).d)

    async def get_invoice(self, invoice_id: str) -> SupplierInvoice:
        """One supplier invoice by canonical id (``<document>-<year>``).

        Raises:
            PlatformRejected: 404 when it does not exist.
        """
        number, year = _document_id(invoice_id, 2)
        return await self._invoice(number, year)

    async def invoices_by_reference(self, reference: str) -> list[SupplierInvoice]:
        """Supplier invoices carrying Finrail's external reference (normally zero or one)."""
        params = {
            "$filter": f"AssignmentReference eq {_quote(reference)} and IsReversal eq false",
            "$expand": INVOICE_EXPAND,
        }
        page = await self._get(f"{SI}/A_SupplierInvoice", wire.EntitySet[wire.SupplierInvoice], params)
        return [self._map(mapping.invoice_from_wire, i) for i in page.d.results]

    async def create_invoice(self, draft: SupplierInvoiceDraft, *, reference: str) -> SupplierInvoice:
        """Create (park) a supplier invoice by deep insert; post it with :meth:`post_invoice`."""
        body = mapping.invoice_to_wire(draft, reference=reference)

        async def create() -> SupplierInvoice:
            response = await self._write("POST", f"{SI}/A_SupplierInvoice", json=body)
            return self._map(mapping.invoice_from_wire, self._decode(response, wire.Entity[wire.SupplierInvoice]).d)

        async def find() -> SupplierInvoice | None:
            found = await self.invoices_by_reference(reference)
            return found[0] if found else None

        return await self._create_once(create, find)

    async def _invoice_action(
        self,
        invoice_id: str,
        action: str,
        done: Callable[[SupplierInvoice], bool],
        extra: Mapping[str, str] | None = None,
    ) -> SupplierInvoice:
        number, year = _document_id(invoice_id, 2)
        params = {"SupplierInvoice": _quote(number), "FiscalYear": _quote(year), **(extra or {})}

        async def act() -> SupplierInvoice:
            response = await self._write("POST", f"{SI}/{action}", params=params)
            return self._map(mapping.invoice_from_wire, self._decode(response, wire.Entity[wire.SupplierInvoice]).d)

        async def find() -> SupplierInvoice | None:
            invoice = await self._invoice(number, year)
            return invoice if done(invoice) else None

        return await self._create_once(act, find)

    async def post_invoice(self, invoice_id: str) -> SupplierInvoice:
        """Function import ``Post``: book a parked invoice (refused in a closed period)."""
        return await self._invoice_action(invoice_id, "Post", lambda i: i.status == "posted")

    async def cancel_invoice(self, invoice_id: str, posting_date: dt.date | None = None) -> SupplierInvoice:
        """Function import ``Cancel``: reverse a posted invoice."""
        extra = {"ReversalReason": "'01'"}
        if posting_date is not None:
            extra["PostingDate"] = f"datetime'{posting_date.isoformat()}T00:00:00'"
        return await self._invoice_action(invoice_id, "Cancel", lambda i: i.status == "cancelled", extra)

    # --- journal entries ----------------------------------------------------------------

    async def _entry(self, company_code: str, year: str, number: str) -> JournalEntry:
        key = f"AccountingDocument={_quote(number)},CompanyCode={_quote(company_code)},FiscalYear={_quote(year)}"
        response = await self.http.request(
            "GET", f"{JE}/A_JournalEntry({key})", params={"$expand": "to_JournalEntryItem"}
        )
        return self._map(mapping.journal_entry_from_wire, self._decode(response, wire.Entity[wire.JournalEntry]).d)

    async def get_journal_entry(self, entry_id: str) -> JournalEntry:
        """One journal entry by canonical id (``<company>-<year>-<document>``)."""
        company_code, year, number = _document_id(entry_id, 3)
        return await self._entry(company_code, year, number)

    async def journal_entries_by_reference(self, reference: str) -> list[JournalEntry]:
        """Journal entries carrying Finrail's external reference (normally zero or one)."""
        params = {
            "$filter": f"DocumentReferenceID eq {_quote(reference)} and IsReversal eq false",
            "$expand": "to_JournalEntryItem",
        }
        page = await self._get(f"{JE}/A_JournalEntry", wire.EntitySet[wire.JournalEntry], params)
        return [self._map(mapping.journal_entry_from_wire, e) for e in page.d.results]

    async def create_journal_entry(self, draft: JournalEntryDraft, *, reference: str) -> JournalEntry:
        """Post a balanced journal entry (refused in a closed period)."""
        body = mapping.journal_entry_to_wire(draft, reference=reference)

        async def create() -> JournalEntry:
            response = await self._write("POST", f"{JE}/A_JournalEntry", json=body)
            entry = self._decode(response, wire.Entity[wire.JournalEntry]).d
            return self._map(mapping.journal_entry_from_wire, entry)

        async def find() -> JournalEntry | None:
            found = await self.journal_entries_by_reference(reference)
            return found[0] if found else None

        return await self._create_once(create, find)

    async def reverse_journal_entry(self, entry_id: str, posting_date: dt.date | None = None) -> JournalEntry:
        """Reverse a journal entry; returns the reversal entry."""
        company_code, year, number = _document_id(entry_id, 3)
        params = {
            "AccountingDocument": _quote(number),
            "CompanyCode": _quote(company_code),
            "FiscalYear": _quote(year),
            "ReversalReason": "'01'",
        }
        if posting_date is not None:
            params["PostingDate"] = f"datetime'{posting_date.isoformat()}T00:00:00'"

        async def reverse() -> JournalEntry:
            response = await self._write("POST", f"{JE}/Reverse", params=params)
            entry = self._decode(response, wire.Entity[wire.JournalEntry]).d
            return self._map(mapping.journal_entry_from_wire, entry)

        async def find() -> JournalEntry | None:
            original = await self._entry(company_code, year, number)
            if original.reversed_by is None:
                return None
            return await self.get_journal_entry(original.reversed_by)

        return await self._create_once(reverse, find)

    # --- payments -----------------------------------------------------------------------

    async def payments_by_reference(self, reference: str) -> list[Payment]:
        """Payments carrying Finrail's external reference (normally zero or one)."""
        params = {"$filter": f"DocumentReferenceID eq {_quote(reference)}"}
        page = await self._get(f"{PY}/A_OutgoingPayment", wire.EntitySet[wire.OutgoingPayment], params)
        return [self._map(mapping.payment_from_wire, p) for p in page.d.results]

    async def create_payment(self, draft: PaymentDraft, *, reference: str) -> Payment:
        """Pay a supplier (optionally clearing the supplier invoice named in ``obligation_ids[0]``).

        Raises:
            ValueError: The draft lacks what an ERP payment needs (``supplier_id``, an invoice id).
        """
        body = mapping.payment_to_wire(draft, reference=reference)

        async def create() -> Payment:
            response = await self._write("POST", f"{PY}/A_OutgoingPayment", json=body)
            return self._map(mapping.payment_from_wire, self._decode(response, wire.Entity[wire.OutgoingPayment]).d)

        async def find() -> Payment | None:
            found = await self.payments_by_reference(reference)
            return found[0] if found else None

        return await self._create_once(create, find)

    async def list_payments(
        self, *, company_code: str | None = None, supplier_id: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[Payment], bool]:
        """Payments, newest document last. Returns ``(page, more)``."""
        clauses = []
        if company_code:
            clauses.append(f"CompanyCode eq {_quote(company_code)}")
        if supplier_id:
            clauses.append(f"Supplier eq {_quote(supplier_id)}")
        params = {
            "$top": str(limit + 1),
            "$skip": str(offset),
            **({"$filter": " and ".join(clauses)} if clauses else {}),
        }
        page = await self._get(f"{PY}/A_OutgoingPayment", wire.EntitySet[wire.OutgoingPayment], params)
        rows = page.d.results
        return [self._map(mapping.payment_from_wire, p) for p in rows[:limit]], len(rows) > limit


def _tax_id_spellings(value: str) -> list[str]:
    """The ways the ERP may hold a tax id: as given, normalised, and without its country prefix."""
    spellings = [value.strip()]
    if spellings[0][:2].isalpha():
        spellings.append(spellings[0][2:])
    try:
        parsed = TaxId.parse(value)
    except ValueError:
        return spellings
    spellings.append(parsed.value)
    if parsed.value.startswith(parsed.country):
        spellings.append(parsed.value[len(parsed.country):])
    return sorted(set(spellings))


def _document_id(value: str, parts: int) -> tuple[str, ...]:
    try:
        return mapping.parse_document_id(value, parts)
    except ValueError:
        raise PlatformRejected(404, f"no document {value!r}", platform="erp") from None
