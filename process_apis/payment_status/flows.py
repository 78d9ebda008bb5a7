"""The payment status sync flow: a bank confirmation becomes an ERP payment and a ``paid`` status.

One instance per bank confirmation (key = the treasury confirmation id). A confirmation
answers one payment run, so one instance settles every obligation of that run; the
treasury platform sends one ``payment.confirmed`` (or ``payment.rejected``) event per
payment of the run, all naming the same confirmation, and the per-key start makes them one
instance. Only the ids are taken from the event (the confirmation and its payment run): the
run and its obligations are read from the treasury system API.

Steps, each committed before the next:

1. ``load-payments`` — read the payment run and each of its obligations from treasury. A
   run the bank rejected stops the instance as ``payment-rejected`` (its obligations are
   open again in treasury; nothing is applied anywhere). Each obligation must name what it
   pays for (:func:`source_of`): an expense report or a procurement invoice, else
   ``unknown-source-document``. The run's totals must equal its obligations' amounts per
   currency, else ``amount-mismatch``.
2. ``check-sources`` — read each source document and compare what it says is owed with what
   was paid: the reimbursable (employee-paid) entries of an expense report, the gross amount
   of a procurement invoice. A difference stops the instance as ``amount-mismatch``; a
   person who accepts it resolves with ``accept-amount``. A document the platform does not
   have is ``unknown-source-document``.
3. ``apply-erp-payments`` — one ``POST /system/erp/v1/payments`` per obligation, each with
   its own stable ``Idempotency-Key`` (instance, step, obligation), so a re-run after a crash
   or a second start replays instead of paying twice in the books. An obligation without an
   ERP supplier cannot be booked as an ERP payment: ``no-erp-supplier``, resolvable with
   ``skip-erp-payment`` when it was booked another way.
4. ``mark-paid`` — ``paid`` to the expense platform for an expense report, the payment
   (date and reference) to procurement for a supplier invoice. Both are idempotent.

Business exceptions (the finance exception queue, by reason code): ``payment-rejected``,
``unknown-source-document``, ``amount-mismatch``, ``unknown-payment-run``,
``obligation-not-paid``, ``no-erp-supplier``, ``incomplete-obligation``,
``invalid-decision``; a refusal by a system API (409/422) keeps that API's problem kind.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any, Final, Literal
from urllib.parse import quote

import msgspec

from process_apis.flow.model import BusinessError, Flow, Schedule, Step, StepContext, StepOutput, TechnicalError
from process_apis.flow.runtime import Trigger
from system_apis.canonical import (
    BankAccount,
    ExpenseReport,
    Money,
    Payment,
    PaymentDraft,
    PaymentObligation,
    PaymentRun,
    SupplierInvoice,
)

__all__ = [
    "CONFIRMATION_ID_PATTERN",
    "EVENTS",
    "FLOW",
    "FLOWS",
    "FLOW_NAME",
    "RUN_ID_PATTERN",
    "SCHEDULES",
    "TRIGGERS",
    "SourceDocument",
    "apply_erp_payments",
    "check_sources",
    "confirmation_key",
    "load_payments",
    "mark_paid",
    "reimbursable",
    "source_of",
]

FLOW_NAME: Final = "payment-status-sync"
"""Name of the flow."""

CONFIRMATION_ID_PATTERN: Final = r"^[A-Za-z0-9._:-]{1,64}$"
"""What a treasury bank confirmation id looks like."""
RUN_ID_PATTERN: Final = r"^[A-Za-z0-9._:-]{1,64}$"
"""What a treasury payment run id looks like (the treasury system API's id rule)."""

EVENTS: Final = ("payment.confirmed", "payment.rejected")
"""Treasury events that start a sync (one per payment of the confirmed or rejected run)."""

TREASURY: Final = "/system/treasury/v1"
ERP: Final = "/system/erp/v1"
EXPENSE: Final = "/system/expense/v1"
PROCUREMENT: Final = "/system/procurement/v1"

ACCEPT_AMOUNT: Final = "accept-amount"
"""Decision that accepts a payment whose amount differs from its source document."""
SKIP_ERP: Final = "skip-erp-payment"
"""Decision that skips the ERP payment of obligations without an ERP supplier."""

_ID: Final = re.compile(CONFIRMATION_ID_PATTERN)
_SOURCE: Final = re.compile(r"^(?P<kind>expense-report|procurement-invoice):(?P<id>[A-Za-z0-9_-]{1,64})$")
_EXPENSE_REFERENCE: Final = re.compile(r"^Expense report (?P<id>[A-Za-z0-9_-]{1,64})$")
_REFERENCE: Final = re.compile(r"[^A-Za-z0-9._:/-]")

SourceKind = Literal["expense-report", "procurement-invoice"]


class SourceDocument(msgspec.Struct, frozen=True, kw_only=True):
    """What an obligation pays for."""

    kind: SourceKind
    """``expense-report`` (reimbursement) or ``procurement-invoice`` (supplier invoice)."""
    id: str
    """Its id in the expense or procurement platform."""


class _StatusPaid(msgspec.Struct, frozen=True, tag="paid", tag_field="status"):
    """Body of the expense status change to ``paid``."""


class _InvoicePayment(msgspec.Struct, frozen=True, kw_only=True):
    """Body of the procurement invoice payment record."""

    payment_date: dt.date
    """Date of the payment."""
    reference: str
    """Payment reference (the ERP payment, else the confirmation)."""


def source_of(obligation: PaymentObligation) -> SourceDocument | None:
    """What ``obligation`` pays for, read from its source document reference; None when unknown.

    The obligation's ``source_document`` names it as ``expense-report:<report id>`` or
    ``procurement-invoice:<invoice id>``. An obligation made by the expense posting flow
    carries the ERP document there and ``Expense report <id>`` as its remittance reference,
    which names the report too.
    """
    found = _SOURCE.fullmatch(obligation.source_document or "")
    if found is not None:
        kind: SourceKind = "expense-report" if found["kind"] == "expense-report" else "procurement-invoice"
        return SourceDocument(kind=kind, id=found["id"])
    expense = _EXPENSE_REFERENCE.fullmatch(obligation.reference or "")
    if expense is not None:
        return SourceDocument(kind="expense-report", id=expense["id"])
    return None


def reimbursable(report: ExpenseReport) -> Money:
    """What the employee is owed for ``report``: its employee-paid (cash) entries, as posted."""
    return Money.sum([entry.posted_amount for entry in report.entries
                      if entry.payment_type == "cash" and entry.posted_amount.is_positive()], report.total.currency)


def _id(value: Any) -> str | None:
    return value if isinstance(value, str) and _ID.fullmatch(value) else None


def confirmation_key(data: Mapping[str, Any]) -> str | None:
    """The confirmation id of a treasury ``payment.confirmed``/``payment.rejected`` event; None if it has none."""
    run = data.get("paymentRun")
    if not isinstance(run, Mapping) or _id(run.get("uuid")) is None:
        return None
    return _id(data.get("confirmation"))


def _event_input(data: Mapping[str, Any]) -> Mapping[str, Any]:
    run = data.get("paymentRun")
    return {"confirmation_id": confirmation_key(data),
            "payment_run_id": _id(run.get("uuid")) if isinstance(run, Mapping) else None,
            "source": "treasury bank confirmation"}


def _money(value: Mapping[str, Any]) -> Money:
    return Money.of(str(value["amount"]), str(value["currency"]))


def _obligations(context: StepContext) -> list[dict[str, Any]]:
    return list(context.state["load-payments"]["obligations"])


# -- step 1: load the run and its obligations ----------------------------------------------------


async def _run(context: StepContext, run_id: str) -> PaymentRun:
    try:
        return await context.system.get(f"{TREASURY}/payment-runs/{quote(run_id, safe='')}", type=PaymentRun,
                                         correlation_id=context.correlation_id)
    except BusinessError as error:
        if error.status != 404:
            raise
        raise BusinessError("unknown-payment-run", f"treasury has no payment run {run_id} (confirmation "
                                                   f"{context.key}): {error.detail}") from None


async def load_payments(context: StepContext) -> StepOutput:
    """Read the run and its obligations; refuse a rejected run, an unknown source, totals that differ."""
    run_id = str(context.input["payment_run_id"])
    run = await _run(context, run_id)
    if run.status == "failed":
        raise BusinessError("payment-rejected",
                            f"the bank rejected payment run {run.id} (confirmation {context.key}); its "
                            f"{len(run.payment_ids)} obligation(s) are open again in treasury and nothing was applied "
                            "in the ERP, expense or procurement. Put them in a new run")
    if run.status != "completed":
        raise TechnicalError(f"payment run {run.id} is {run.status}; treasury does not show the bank confirmation "
                             f"{context.key} yet")
    obligations: list[dict[str, Any]] = []
    paid: dict[str, Money] = {}
    for obligation_id in run.payment_ids:
        obligation = await context.system.get(
            f"{TREASURY}/payment-obligations/{quote(obligation_id, safe='')}", type=PaymentObligation,
            correlation_id=context.correlation_id)
        if obligation.status != "paid":
            raise BusinessError("obligation-not-paid",
                                f"payment run {run.id} is confirmed but obligation {obligation.id} is "
                                f"{obligation.status} in treasury")
        source = source_of(obligation)
        if source is None:
            raise BusinessError("unknown-source-document",
                                f"obligation {obligation.id} ({obligation.payee_name}, {obligation.amount}) does not "
                                f"say what it pays for (source document {obligation.source_document!r}, reference "
                                f"{obligation.reference!r}); expected 'expense-report:<id>' or "
                                "'procurement-invoice:<id>'")
        currency = obligation.amount.currency
        paid[currency] = paid.get(currency, Money.zero(currency)) + obligation.amount
        obligations.append({"obligation": msgspec.to_builtins(obligation), "source": msgspec.to_builtins(source)})
    totals = {total.currency: total for total in run.totals}
    if totals != paid:
        shown = ", ".join(str(total) for total in run.totals) or "none"
        raise BusinessError("amount-mismatch",
                            f"payment run {run.id} totals {shown}, its obligations add up to "
                            f"{', '.join(str(amount) for amount in paid.values()) or 'nothing'}")
    return {"payment_run_id": run.id, "company_code": run.company_code, "run_date": run.run_date.isoformat(),
            "obligations": obligations}


# -- step 2: check what each payment pays for -----------------------------------------------------


async def _expected(context: StepContext, source: SourceDocument) -> tuple[Money, str]:
    """What the source document says is owed, and how it says so."""
    try:
        if source.kind == "expense-report":
            report = await context.system.get(f"{EXPENSE}/reports/{quote(source.id, safe='')}", type=ExpenseReport,
                                              correlation_id=context.correlation_id)
            return reimbursable(report), f"expense report {report.id} ({report.status})"
        invoice = await context.system.get(f"{PROCUREMENT}/invoices/{quote(source.id, safe='')}",
                                           type=SupplierInvoice, correlation_id=context.correlation_id)
        return invoice.gross_amount, f"procurement invoice {invoice.id} {invoice.invoice_number} ({invoice.status})"
    except BusinessError as error:
        if error.status != 404:
            raise
        platform = "expense" if source.kind == "expense-report" else "procurement"
        raise BusinessError("unknown-source-document",
                            f"{platform} has no {source.kind.replace('-', ' ')} {source.id}: {error.detail}") from None


async def check_sources(context: StepContext) -> StepOutput:
    """Each obligation's amount is what its expense report or supplier invoice says is owed."""
    if context.decision not in (None, ACCEPT_AMOUNT):
        raise BusinessError("invalid-decision", f"decision {context.decision!r} does not resolve an amount "
                                                f"mismatch; use {ACCEPT_AMOUNT!r}, or fix the document and retry")
    checked: list[dict[str, Any]] = []
    differences: list[str] = []
    for item in _obligations(context):
        obligation = msgspec.convert(item["obligation"], PaymentObligation, strict=False)
        source = msgspec.convert(item["source"], SourceDocument)
        expected, what = await _expected(context, source)
        matches = expected == obligation.amount
        if not matches:
            differences.append(f"obligation {obligation.id} paid {obligation.amount}, {what} owes {expected}")
        checked.append({"obligation_id": obligation.id, "source": what, "expected": str(expected),
                        "paid": str(obligation.amount), "matches": matches})
    if differences and context.decision != ACCEPT_AMOUNT:
        raise BusinessError("amount-mismatch", "; ".join(differences)
                            + f". Resolve with {ACCEPT_AMOUNT!r} to apply the payment as made")
    return {"checked": checked, **({"accepted": context.decision} if differences else {})}


# -- step 3: the ERP payments ---------------------------------------------------------------------


def _draft(obligation: PaymentObligation, account: BankAccount, value_date: dt.date, reference: str) -> PaymentDraft:
    return PaymentDraft(
        company_code=obligation.company_code, amount=obligation.amount, value_date=value_date,
        payee_name=obligation.payee_name, payee_bank_account=account, supplier_id=obligation.supplier_id,
        reference=reference[:35],
    )


async def apply_erp_payments(context: StepContext) -> StepOutput:
    """One ERP payment per obligation, each created once (its own stable ``Idempotency-Key``)."""
    if context.decision not in (None, SKIP_ERP):
        raise BusinessError("invalid-decision", f"decision {context.decision!r} does not resolve a missing ERP "
                                                f"supplier; use {SKIP_ERP!r}, or set the supplier and retry")
    loaded = context.state["load-payments"]
    value_date = dt.date.fromisoformat(loaded["run_date"])
    obligations = [msgspec.convert(item["obligation"], PaymentObligation, strict=False)
                   for item in _obligations(context)]
    missing = [o for o in obligations if not o.supplier_id]
    if missing and context.decision != SKIP_ERP:
        raise BusinessError("no-erp-supplier",
                            "the ERP books a payment against a supplier account, and obligation(s) "
                            f"{', '.join(o.id for o in missing)} name none; resolve with {SKIP_ERP!r} if they "
                            "were booked another way")
    payments: list[dict[str, Any]] = []
    for obligation in obligations:
        if not obligation.supplier_id:
            payments.append({"obligation_id": obligation.id, "skipped": "no ERP supplier (decision)"})
            continue
        if obligation.payee_bank_account is None:
            raise BusinessError("incomplete-obligation", f"obligation {obligation.id} has no payee bank account")
        reference = obligation.reference or f"Payment {context.key}"
        payment = await context.system.post(
            f"{ERP}/payments", _draft(obligation, obligation.payee_bank_account, value_date, reference),
            type=Payment, idempotency_key=context.idempotency_key(obligation.id),
            correlation_id=context.correlation_id)
        payments.append({"obligation_id": obligation.id, "erp_payment_id": payment.id,
                         "erp_document_number": payment.erp_document_number, "amount": str(payment.amount)})
    return {"payments": payments}


# -- step 4: paid status to where the debt came from ----------------------------------------------


def _reference(value: str) -> str:
    return _REFERENCE.sub("-", value)[:64]


async def mark_paid(context: StepContext) -> StepOutput:
    """``paid`` to the expense platform for reports, the payment to procurement for invoices."""
    loaded = context.state["load-payments"]
    erp = {p["obligation_id"]: p.get("erp_payment_id") for p in context.state["apply-erp-payments"]["payments"]}
    payment_date = dt.date.fromisoformat(loaded["run_date"])
    marked: list[dict[str, Any]] = []
    for item in _obligations(context):
        obligation_id = str(item["obligation"]["id"])
        source = msgspec.convert(item["source"], SourceDocument)
        key = context.idempotency_key(obligation_id)
        if source.kind == "expense-report":
            report = await context.system.post(f"{EXPENSE}/reports/{quote(source.id, safe='')}/status", _StatusPaid(),
                                               type=ExpenseReport, idempotency_key=key,
                                               correlation_id=context.correlation_id)
            marked.append({"obligation_id": obligation_id, "expense_report": report.id, "status": report.status})
        else:
            reference = _reference(erp.get(obligation_id) or context.key)
            invoice = await context.system.post(
                f"{PROCUREMENT}/invoices/{quote(source.id, safe='')}/payment",
                _InvoicePayment(payment_date=payment_date, reference=reference), type=SupplierInvoice,
                idempotency_key=key, correlation_id=context.correlation_id)
            marked.append({"obligation_id": obligation_id, "procurement_invoice": invoice.id, "status": invoice.status,
                           "reference": reference})
    return {"marked": marked}


FLOW: Final = Flow(
    FLOW_NAME,
    (
        Step("load-payments", load_payments),
        Step("check-sources", check_sources),
        Step("apply-erp-payments", apply_erp_payments),
        Step("mark-paid", mark_paid),
    ),
    summary="Bank confirmation: ERP payment applied, reimbursement paid in expense, invoice paid in procurement.",
)

FLOWS: tuple[Flow, ...] = (FLOW,)
TRIGGERS: tuple[Trigger, ...] = tuple(
    Trigger(platform="treasury", event=event, flow=FLOW_NAME, key=confirmation_key, input=_event_input)
    for event in EVENTS
)
SCHEDULES: tuple[Schedule, ...] = ()

