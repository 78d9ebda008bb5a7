"""The expense posting flows: an approved report becomes an ERP posting, an obligation, a status.

An approved expense report becomes an ERP posting, a payment obligation in treasury and a
``posted`` status back in the expense platform.

``expense-posting`` (one instance per report, key = report id) runs these steps, each
committed before the next:

1. ``load-report`` — read the report and its employee from the expense system API (the
   current truth; whatever started the flow only named the report). It must be approved.
2. ``check-entity`` — the legal entity exists in the ERP, and books in the report's currency.
3. ``check-period`` — the posting date (the request's, else the approval date) is in an
   open period of the entity. A person may resolve a closed period with the decision
   ``post-in-current-period`` (the posting moves to today's date).
4. ``code-lines`` — GL accounts and ERP cost centers from the versioned mapping set in force
   on the posting date (:mod:`process_apis.expense_posting.mappings`); the version is kept in
   this step's output and in the posting's.
5. ``check-master-data`` — the cost centers are usable on the posting date, the GL accounts
   exist and are not blocked.
6. ``post-document`` — a balanced journal entry (default), or in ``ap`` mode a supplier
   invoice to the employee's vendor account, created and posted (company-paid expenses then
   go in a journal entry against the card clearing account).
7. ``payment-obligation`` — what is due to the employee, as a treasury payment obligation.
8. ``mark-posted`` — the report's status in the expense platform becomes ``posted`` with the
   ERP document.

Every create carries the step's ``Idempotency-Key``, which the system APIs turn into the
ERP's and treasury's external reference: a step re-run after a crash or a retry finds its
document instead of making a second one.

Business exceptions (never retried; the finance exception queue, by reason code):
``unknown-report``, ``report-not-approved``, ``already-posted``, ``unknown-entity``,
``currency-mismatch``, ``period-closed``, ``unknown-gl-coding``, ``unknown-cost-center``,
``inactive-cost-center``, ``nothing-to-post``, ``unknown-employee-supplier``,
``invalid-decision``; a refusal by a system API (409/422) keeps that API's problem kind.

``expense-posting-window`` (started by one :class:`Schedule` per entity whose policy batches
postings into windows, see :func:`window_schedules`) lists the entity's approved, not yet
posted reports and starts one ``expense-posting`` per report.

``expense-approvals-poll`` (every :data:`POLL_SECONDS`) is the safety net under the
``statusChanged`` webhooks: it lists the reports approved since its watermark and starts a
posting for each (a report a webhook already started is not started twice: the key is the
report id), then moves the watermark, in the same commit as the starts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import msgspec

from process_apis.expense_posting import mappings
from process_apis.flow.model import BusinessError, Flow, Schedule, Step, StepContext, StepOutput
from process_apis.flow.runtime import Trigger
from system_apis.canonical import (
    BankAccount,
    CostCenter,
    Employee,
    ExpenseReport,
    GlAccount,
    JournalEntry,
    JournalEntryDraft,
    JournalLine,
    Money,
    Page,
    PaymentObligation,
    PaymentObligationDraft,
    Supplier,
    SupplierInvoice,
)
from system_apis.canonical.procurement import SupplierInvoiceDraft, SupplierInvoiceLine

__all__ = [
    "APPROVED",
    "FLOW",
    "FLOWS",
    "POLL_FLOW",
    "POLL_SECONDS",
    "POLL_WATERMARK",
    "POSTING",
    "SCHEDULES",
    "TRIGGERS",
    "WINDOW",
    "WINDOW_FLOW",
    "WINDOW_SECONDS",
    "approved_report",
    "window_schedules",
]

FLOW = "expense-posting"
"""Name of the per-report posting flow."""
WINDOW_FLOW = "expense-posting-window"
"""Name of the scheduled per-entity posting window flow."""
WINDOW_SECONDS = 6 * 3600.0
"""Length of a posting window."""
POLL_FLOW = "expense-approvals-poll"
"""Name of the scheduled poll for approved reports (events that never arrived)."""
POLL_SECONDS = 900.0
"""How often the poll runs (its first run one interval after the first start)."""
POLL_WATERMARK = "expense.reports.approved_since"
"""Watermark of the poll: the latest approval time it has seen."""
APPROVED = "A_APPR"
"""The expense platform's (Concur's) approval status code of a finally approved report."""

ERP = "/system/erp/v1"
EXPENSE = "/system/expense/v1"
TREASURY = "/system/treasury/v1"
PAGE = 200
RESOLVE_TODAY = "post-in-current-period"
"""Decision resolving ``period-closed``: post on today's date instead."""


class _Period(msgspec.Struct, frozen=True):
    fiscal_year: int
    period: int
    start: dt.date
    end: dt.date
    open: bool


class _PeriodCheck(msgspec.Struct, frozen=True):
    company_code: str
    date: dt.date
    open: bool
    period: _Period | None = None


class _Entity(msgspec.Struct, frozen=True):
    """What the posting needs of a legal entity.

    Only these fields are decoded (not the canonical ``LegalEntity``, which also validates the
    entity's tax id): a bad tax id of one entity must not stop the postings of every entity.
    """

    company_code: str
    name: str
    currency: str


class _Status(msgspec.Struct, frozen=True, tag="posted", tag_field="status"):
    erp_document: str


# --- helpers -------------------------------------------------------------------------------


def _posting(context: StepContext) -> Mapping[str, Any]:
    """What earlier steps found, merged (report, entity, period, coding)."""
    state = context.state
    return {**state.get("load-report", {}), **state.get("check-entity", {}), **state.get("check-period", {}),
            **state.get("code-lines", {})}


def _money(amount: str, currency: str) -> Money:
    return Money(Decimal(amount), currency)


async def _all_pages(context: StepContext, path: str, type_: Any, params: Mapping[str, Any]) -> list[Any]:
    items: list[Any] = []
    cursor: str | None = None
    while True:
        query = {**params, "limit": PAGE, **({"cursor": cursor} if cursor else {})}
        page = await context.system.get(path, type=type_, params=query, correlation_id=context.correlation_id)
        items.extend(page.items)
        cursor = page.next_cursor
        if not cursor:
            return items


def _mode(context: StepContext, company_code: str) -> mappings.PostingMode:
    mode = context.input.get("mode") or mappings.policy_of(company_code).mode
    return "ap" if mode == "ap" else "journal"


# --- steps ---------------------------------------------------------------------------------


async def load_report(context: StepContext) -> StepOutput:
    """Read the report (current truth) and its employee; only an approved report is posted."""
    report_id = str(context.input["report_id"])
    try:
        report = await context.system.get(f"{EXPENSE}/reports/{report_id}", type=ExpenseReport,
                                          correlation_id=context.correlation_id)
    except BusinessError as error:
        if error.reason != "not-found":
            raise
        raise BusinessError("unknown-report", f"the expense platform has no report {report_id}") from error
    if report.status in ("posted", "paid"):
        raise BusinessError("already-posted", f"report {report_id} is already {report.status}"
                                              f" (ERP document {report.erp_document_number or 'unknown'})")
    if report.status != "approved":
        raise BusinessError("report-not-approved", f"report {report_id} is {report.status}, not approved")
    employee = await context.system.get(f"{EXPENSE}/employees/{report.employee_id}", type=Employee,
                                        correlation_id=context.correlation_id)
    return {
        "report_id": report.id,
        "report_name": report.name,
        "company_code": report.company_code,
        "currency": report.currency,
        "total": str(report.total.amount),
        "employee_id": report.employee_id,
        "employee_name": employee.name,
        "cost_center": report.cost_center,
        "approved_at": report.approved_at.isoformat() if report.approved_at else None,
        "entries": [
            {"id": entry.id, "expense_type": entry.expense_type, "amount": str(entry.posted_amount.amount),
             "payment_type": entry.payment_type, "cost_center": entry.cost_center,
             "description": entry.description}
            for entry in report.entries
        ],
    }


async def check_entity(context: StepContext) -> StepOutput:
    """The report's entity exists in the ERP and books in the report's currency."""
    report = context.state["load-report"]
    entities = await context.system.get(f"{ERP}/legal-entities", type=Page[_Entity],
                                        correlation_id=context.correlation_id)
    entity = next((e for e in entities.items if e.company_code == report["company_code"]), None)
    if entity is None:
        raise BusinessError("unknown-entity", f"report {report['report_id']} belongs to entity "
                                              f"{report['company_code']}, which the ERP does not know")
    if entity.currency != report["currency"]:
        raise BusinessError("currency-mismatch", f"report {report['report_id']} is in {report['currency']}, "
                                                 f"entity {entity.company_code} books in {entity.currency}")
    return {"entity_name": entity.name, "entity_currency": entity.currency}


async def check_period(context: StepContext) -> StepOutput:
    """The posting date is in an open period of the entity."""
    report = context.state["load-report"]
    if context.decision not in (None, RESOLVE_TODAY):
        raise BusinessError("invalid-decision", f"decision {context.decision!r} does not resolve a closed period;"
                                                f" use {RESOLVE_TODAY!r}, or reopen the period and retry")
    if context.decision == RESOLVE_TODAY:
        posting_date = context.now.date()
    elif context.input.get("posting_date"):
        posting_date = dt.date.fromisoformat(str(context.input["posting_date"]))
    elif report["approved_at"]:
        posting_date = dt.datetime.fromisoformat(report["approved_at"]).astimezone(dt.UTC).date()
    else:
        posting_date = context.now.date()
    check = await context.system.get(
        f"{ERP}/periods/check", type=_PeriodCheck, params={"company_code": report["company_code"],
                                                            "date": posting_date.isoformat()},
        correlation_id=context.correlation_id)
    if not check.open:
        where = (f"period {check.period.fiscal_year}/{check.period.period:02d}" if check.period
                 else "no period")
        raise BusinessError("period-closed", f"{report['company_code']} {where} containing {posting_date} is closed;"
                                             f" reopen it and retry, or resolve with {RESOLVE_TODAY!r}")
    return {"posting_date": posting_date.isoformat(),
            "fiscal_year": check.period.fiscal_year if check.period else None,
            "period": check.period.period if check.period else None}


async def code_lines(context: StepContext) -> StepOutput:
    """GL accounts and cost centers of the entries, from the mapping set in force on the posting date."""
    posting = _posting(context)
    company, currency = posting["company_code"], posting["currency"]
    posting_date = dt.date.fromisoformat(posting["posting_date"])
    mapping = mappings.mapping_in_force(posting_date)
    rules = mapping.entities.get(company) if mapping is not None else None
    if mapping is None or rules is None:
        raise BusinessError("unknown-gl-coding", f"no mapping set in force on {posting_date} codes entity {company}")
    debits: dict[tuple[str, str, str], Decimal] = {}
    unmapped_types: set[str] = set()
    unmapped_centers: set[str] = set()
    for entry in posting["entries"]:
        amount = Decimal(entry["amount"])
        if amount <= 0:
            continue
        gl = rules.gl_accounts.get(entry["expense_type"])
        source_center = entry["cost_center"] or posting["cost_center"] or ""
        center = rules.cost_centers.get(source_center)
        if gl is None:
            unmapped_types.add(entry["expense_type"])
        if center is None:
            unmapped_centers.add(source_center or "(none)")
        if gl is not None and center is not None:
            paid_by = "employee" if entry["payment_type"] == "cash" else "company"
            debits[(gl, center, paid_by)] = debits.get((gl, center, paid_by), Decimal(0)) + amount
    if unmapped_types:
        raise BusinessError("unknown-gl-coding", f"mapping set {mapping.version} has no GL account for expense "
                                                 f"type(s) {', '.join(sorted(unmapped_types))} in {company}")
    if unmapped_centers:
        raise BusinessError("unknown-cost-center", f"mapping set {mapping.version} maps no ERP cost center for "
                                                   f"{', '.join(sorted(unmapped_centers))} in {company}")
    if not debits:
        raise BusinessError("nothing-to-post", f"report {posting['report_id']} has no amount to post")
    due = sum((a for (_, _, by), a in debits.items() if by == "employee"), Decimal(0))
    company_paid = sum((a for (_, _, by), a in debits.items() if by == "company"), Decimal(0))
    return {
        "mapping_version": mapping.version,
        "mapping_effective_from": mapping.effective_from.isoformat(),
        "debits": [{"gl_account": gl, "cost_center": center, "paid_by": by,
                    "amount": str(_money(str(a), currency).amount)}
                   for (gl, center, by), a in sorted(debits.items())],
        "employee_payable": rules.employee_payable,
        "card_clearing": rules.card_clearing,
        "due_to_employee": str(_money(str(due), currency).amount),
        "company_paid": str(_money(str(company_paid), currency).amount),
    }


async def check_master_data(context: StepContext) -> StepOutput:
    """Every cost center is usable on the posting date; every GL account exists and is open."""
    posting = _posting(context)
    company = posting["company_code"]
    posting_date = dt.date.fromisoformat(posting["posting_date"])
    centers: list[CostCenter] = await _all_pages(context, f"{ERP}/cost-centers", Page[CostCenter],
                                                 {"company_code": company})
    by_code = {center.code: center for center in centers}
    for code in sorted({line["cost_center"] for line in posting["debits"]}):
        center = by_code.get(code)
        if center is None:
            raise BusinessError("unknown-cost-center", f"cost center {code} does not exist in {company} in the ERP")
        if not center.is_usable_on(posting_date):
            why = "blocked" if not center.active else f"valid {center.valid_from} to {center.valid_to}"
            raise BusinessError("inactive-cost-center", f"cost center {code} ({center.name}) cannot take postings "
                                                        f"on {posting_date}: {why}")
    accounts: list[GlAccount] = await _all_pages(context, f"{ERP}/gl-accounts", Page[GlAccount], {})
    known = {account.number: account for account in accounts}
    used = {line["gl_account"] for line in posting["debits"]} | {posting["employee_payable"], posting["card_clearing"]}
    for number in sorted(used):
        account = known.get(number)
        if account is None or account.blocked:
            state = "does not exist" if account is None else "is blocked for posting"
            raise BusinessError("unknown-gl-coding", f"GL account {number} of mapping set "
                                                     f"{posting['mapping_version']} {state} in the ERP")
    return {"cost_centers": sorted({line["cost_center"] for line in posting["debits"]}), "gl_accounts": sorted(used)}


def _journal(posting: Mapping[str, Any], debits: list[Mapping[str, Any]], text: str) -> JournalEntryDraft:
    currency = posting["currency"]
    lines = [JournalLine(gl_account=line["gl_account"], side="debit", amount=_money(line["amount"], currency),
                         cost_center=line["cost_center"], text=text) for line in debits]
    for paid_by, account in (("employee", posting["employee_payable"]), ("company", posting["card_clearing"])):
        total = sum((Decimal(line["amount"]) for line in debits if line["paid_by"] == paid_by), Decimal(0))
        if total > 0:
            lines.append(JournalLine(gl_account=account, side="credit", amount=_money(str(total), currency),
                                     text=text))
    posting_date = dt.date.fromisoformat(posting["posting_date"])
    return JournalEntryDraft(company_code=posting["company_code"], posting_date=posting_date,
                             document_date=posting_date, lines=lines, reference=posting["report_id"],
                             text=f"Expenses {posting['report_id']}"[:25])


async def _employee_supplier(context: StepContext, posting: Mapping[str, Any]) -> Supplier:
    name = posting["employee_name"]
    found = await context.system.get(f"{ERP}/suppliers", type=Page[Supplier], params={"name": name, "limit": 50},
                                     correlation_id=context.correlation_id)
    for supplier in found.items:
        if (supplier.name.casefold() == name.casefold() and posting["company_code"] in supplier.company_codes
                and supplier.status == "active"):
            return supplier
    raise BusinessError("unknown-employee-supplier", f"no active ERP supplier named {name!r} in "
                                                     f"{posting['company_code']}: set the employee up as a vendor, "
                                                     f"then retry (or post the report in journal mode)")


async def post_document(context: StepContext) -> StepOutput:
    """Post the report in the ERP: a journal entry, or a supplier invoice in ``ap`` mode."""
    posting = _posting(context)
    mode = _mode(context, posting["company_code"])
    text = f"Expense report {posting['report_id']}"
    base = {"mode": mode, "mapping_version": posting["mapping_version"], "posting_date": posting["posting_date"]}
    if mode == "journal":
        entry = await context.system.post(f"{ERP}/journal-entries", _journal(posting, posting["debits"], text),
                                          type=JournalEntry, idempotency_key=context.idempotency_key("journal"),
                                          correlation_id=context.correlation_id)
        return {**base, "document_id": entry.id, "erp_document_number": entry.erp_document_number,
                "journal_entry_id": entry.id}
    supplier = await _employee_supplier(context, posting)
    output: dict[str, Any] = {**base, "supplier_id": supplier.id}
    own = [line for line in posting["debits"] if line["paid_by"] == "employee"]
    company_paid = [line for line in posting["debits"] if line["paid_by"] == "company"]
    if own:
        currency = posting["currency"]
        gross = _money(posting["due_to_employee"], currency)
        posting_date = dt.date.fromisoformat(posting["posting_date"])
        draft = SupplierInvoiceDraft(
            # SAP keeps 16 characters of the supplier's invoice number; the header text keeps the full id.
            company_code=posting["company_code"], supplier_id=supplier.id, invoice_number=posting["report_id"][-16:],
            invoice_date=posting_date, posting_date=posting_date, due_date=posting_date, gross_amount=gross,
            tax_amount=Money.zero(currency), text=posting["report_id"][:25],
            lines=[SupplierInvoiceLine(line_number=number, amount=_money(line["amount"], currency),
                                       gl_account=line["gl_account"], cost_center=line["cost_center"],
                                       description=text)
                   for number, line in enumerate(own, start=1)],
        )
        invoice = await context.system.post(f"{ERP}/supplier-invoices", draft, type=SupplierInvoice,
                                            idempotency_key=context.idempotency_key("invoice"),
                                            correlation_id=context.correlation_id)
        invoice = await context.system.post(f"{ERP}/supplier-invoices/{invoice.id}/post", None, type=SupplierInvoice,
                                            idempotency_key=context.idempotency_key("invoice-post"),
                                            correlation_id=context.correlation_id)
        output.update(document_id=invoice.id, supplier_invoice_id=invoice.id,
                      erp_document_number=invoice.erp_document_number)
    if company_paid:
        entry = await context.system.post(f"{ERP}/journal-entries", _journal(posting, company_paid, text),
                                          type=JournalEntry, idempotency_key=context.idempotency_key("journal"),
                                          correlation_id=context.correlation_id)
        output["journal_entry_id"] = entry.id
        output.setdefault("document_id", entry.id)
        output.setdefault("erp_document_number", entry.erp_document_number)
    return output


async def payment_obligation(context: StepContext) -> StepOutput:
    """What is due to the employee becomes a payment obligation in treasury."""
    posting = _posting(context)
    posted = context.state["post-document"]
    due = _money(posting["due_to_employee"], posting["currency"])
    if not due.is_positive():
        return {"skipped": "nothing is due to the employee (company-paid expenses only)"}
    bank: BankAccount | None = None
    supplier_id = posted.get("supplier_id")
    if supplier_id:
        supplier = await context.system.get(f"{ERP}/suppliers/{supplier_id}", type=Supplier,
                                            correlation_id=context.correlation_id)
        bank = supplier.bank_accounts[0] if supplier.bank_accounts else None
    if bank is None:
        mapping = next(s for s in mappings.MAPPING_SETS if s.version == posting["mapping_version"])
        account = mapping.entities[posting["company_code"]].reimbursement_account
        bank = BankAccount(holder=account.holder, iban=account.iban, bic=account.bic,
                           account_number=account.account_number, bank_code=account.bank_code, country=account.country)
    draft = PaymentObligationDraft(
        company_code=posting["company_code"], payee_name=posting["employee_name"], amount=due,
        due_date=max(dt.date.fromisoformat(posting["posting_date"]), context.now.date()), payee_bank_account=bank,
        supplier_id=supplier_id, source_document=posted["document_id"],
        reference=f"Expense report {posting['report_id']}",
    )
    obligation = await context.system.post(f"{TREASURY}/payment-obligations", draft, type=PaymentObligation,
                                           idempotency_key=context.idempotency_key(),
                                           correlation_id=context.correlation_id)
    return {"obligation_id": obligation.id, "amount": str(obligation.amount.amount),
            "currency": obligation.amount.currency, "status": obligation.status}


async def mark_posted(context: StepContext) -> StepOutput:
    """The expense platform learns the report is posted, and under which ERP document."""
    report_id = context.state["load-report"]["report_id"]
    document = context.state["post-document"]["document_id"]
    report = await context.system.post(f"{EXPENSE}/reports/{report_id}/status", _Status(erp_document=document),
                                       type=ExpenseReport, idempotency_key=context.idempotency_key(),
                                       correlation_id=context.correlation_id)
    return {"status": report.status, "erp_document": document}


async def select_reports(context: StepContext) -> StepOutput:
    """Start one posting per approved, not yet posted report of the window's entity."""
    company = str(context.input["company_code"])
    if not mappings.policy_of(company).posting_windows:
        return {"company_code": company, "started": 0,
                "skipped": f"{company} posts in real time; its policy does not batch into windows"}
    reports: list[ExpenseReport] = await _all_pages(context, f"{EXPENSE}/reports", Page[ExpenseReport],
                                                    {"status": "approved"})
    chosen = sorted(report.id for report in reports if report.company_code == company and report.status == "approved")
    for report_id in chosen:
        context.start(FLOW, report_id, {"report_id": report_id, "window": context.input.get("window")})
    return {"company_code": company, "started": len(chosen), "report_ids": chosen}


async def poll_approvals(context: StepContext) -> StepOutput:
    """Start a posting for every report approved since the watermark, and move the watermark."""
    since = await context.watermark(POLL_WATERMARK)
    if since is None:  # first poll: look back one interval, the webhooks covered the time before
        since = (context.now - dt.timedelta(seconds=POLL_SECONDS)).isoformat()
    reports: list[ExpenseReport] = await _all_pages(context, f"{EXPENSE}/reports", Page[ExpenseReport],
                                                    {"status": "approved", "approved_since": since})
    newest = dt.datetime.fromisoformat(since)
    for report in reports:
        context.start(FLOW, report.id, {"report_id": report.id, "source": "poll"})
        if report.approved_at is not None and report.approved_at > newest:
            newest = report.approved_at
    context.advance(POLL_WATERMARK, newest.isoformat())
    return {"since": since, "started": len(reports), "watermark": newest.isoformat()}


# --- declarations --------------------------------------------------------------------------


def approved_report(data: Mapping[str, Any]) -> str | None:
    """The report id of a ``statusChanged`` event that says a report was just approved, else None.

    Only the id is taken from the event: the flow reads the report itself.
    """
    facts = data.get("facts")
    if not isinstance(facts, Mapping):
        return None
    if facts.get("currentApprovalStatus") != APPROVED or facts.get("previousApprovalStatus") == APPROVED:
        return None
    report_id = facts.get("reportId")
    if not isinstance(report_id, str) or not 0 < len(report_id) <= 64:
        return None
    return report_id if all(c.isalnum() or c in "_-" for c in report_id) else None


def _trigger_input(data: Mapping[str, Any]) -> Mapping[str, Any]:
    return {"report_id": approved_report(data), "source": "expense statusChanged"}


POSTING = Flow(
    FLOW,
    (
        Step("load-report", load_report),
        Step("check-entity", check_entity),
        Step("check-period", check_period),
        Step("code-lines", code_lines),
        Step("check-master-data", check_master_data),
        Step("post-document", post_document),
        Step("payment-obligation", payment_obligation),
        Step("mark-posted", mark_posted),
    ),
    summary="Post an approved expense report to the ERP, owe it in treasury, mark it posted.",
)
"""The per-report posting flow."""

WINDOW = Flow(WINDOW_FLOW, (Step("select-reports", select_reports),),
              summary="Start a posting for each approved, not yet posted report of one entity.")
"""The per-entity posting window."""

POLL = Flow(POLL_FLOW, (Step("poll-approvals", poll_approvals),),
            summary="Start a posting for each report approved since the last poll (missed events).")
"""The poll for approvals whose event never came."""

FLOWS = (POSTING, WINDOW, POLL)
TRIGGERS = (Trigger(platform="expense", event="statusChanged", flow=FLOW, key=approved_report, input=_trigger_input),)


def window_schedules(policy: Mapping[str, mappings.EntityPolicy]) -> tuple[Schedule, ...]:
    """One posting window schedule per entity whose policy batches its postings into windows.

    Entities that post in real time get none: their windows would only find reports the
    real-time postings are already taking, and would start instances for nothing.
    """
    return tuple(
        Schedule(name=f"{WINDOW_FLOW}-{company}", flow=WINDOW_FLOW, every_seconds=WINDOW_SECONDS,
                 input={"company_code": company})
        for company, rules in sorted(policy.items()) if rules.posting_windows
    )


SCHEDULES = (
    *window_schedules(mappings.POSTING_POLICY),
    Schedule(name=POLL_FLOW, flow=POLL_FLOW, every_seconds=POLL_SECONDS, first_after_seconds=POLL_SECONDS),
)
