"""The reversal flow: find a posting by its flow instance, reverse it in the ERP, post the correction.

A posting that went wrong (wrong cost center, wrong GL account) is never edited: it is
reversed by a mirror document and, when a reclassification is asked, posted again with the
same amounts on the corrected allocation. The original is a completed flow instance of
``expense-posting`` (a journal entry, or in AP mode a supplier invoice plus a journal entry
for company-paid expenses) or of ``procure-to-pay`` (a posted ERP supplier invoice).

``reversal`` (one instance per original, key = the original's instance id, correlation id =
the original's, so the trace of that correlation id shows posting, reversal and correction
together) runs these steps, each committed before the next:

1. ``locate-original`` — read the original instance as it stands now (through the flow
   operations API ``/process/flows/v1``: a step sees flow state only over governed HTTP, like
   everything else it reads), take its ERP documents from its step outputs, read each from
   the ERP, and work out the corrected allocation when one is asked.
2. ``reverse`` — reverse each document: ``POST /journal-entries/{id}/reverse`` for a journal
   entry, ``POST /supplier-invoices/{id}/cancel`` for a supplier invoice, each with its own
   stable ``Idempotency-Key``. The ERP posts a reversal on the original's posting date, so
   that date's period must be open.
3. ``post-corrected`` — only with a reclassification: a balanced journal entry with the
   original's amounts on the new cost centers and GL accounts against the original's credit
   accounts, on the original's posting date unless another was asked (the period must be open).
4. ``record`` — what was done: original, reversal and corrected documents, and the original
   documents' status in the ERP after the reversal.

Business exceptions (the finance exception queue, by reason code): ``original-not-found``,
``original-not-posted`` (the original instance is not completed, or made no ERP document:
retry once it is), ``already-reversed`` (the ERP shows a document reversed by someone else;
resolve with ``use-existing-reversal`` to carry on from that reversal), ``period-closed``
(resolve with ``post-in-current-period`` to post on today's date; for the reversal itself
reopen the period and retry), ``unbalanced-reclassification``, ``incomplete-reclassification``,
``reclassification-unsupported``, ``invalid-decision``; a refusal by the ERP (409/422) keeps
its problem kind.

For a supplier invoice the reversal document is the cancelled invoice itself: the ERP system
API answers the invoice with status ``cancelled`` and does not name the ERP's reversal
document separately.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Final
from urllib.parse import quote

import msgspec

from process_apis.flow.model import BusinessError, Flow, Step, StepContext, StepOutput
from system_apis.canonical import JournalEntry, JournalEntryDraft, JournalLine, Money, SupplierInvoice

__all__ = [
    "EXPENSE_FLOW",
    "FLOW",
    "FLOWS",
    "ORIGINAL_FLOWS",
    "P2P_FLOW",
    "RESOLVE_TODAY",
    "REVERSAL",
    "SCHEDULES",
    "TRIGGERS",
    "USE_EXISTING",
    "ReclassificationError",
    "allocation_of",
    "documents_of",
    "reallocate",
]

FLOW: Final = "reversal"
"""Name of the reversal flow."""
EXPENSE_FLOW: Final = "expense-posting"
"""Flow whose completed instances post expense reports (journal or AP mode)."""
P2P_FLOW: Final = "procure-to-pay"
"""Flow whose completed instances post matched supplier invoices."""
ORIGINAL_FLOWS: Final = (EXPENSE_FLOW, P2P_FLOW)
"""Flows whose postings can be reversed."""
USE_EXISTING: Final = "use-existing-reversal"
"""Decision resolving ``already-reversed``: take the ERP's existing reversal and carry on."""
RESOLVE_TODAY: Final = "post-in-current-period"
"""Decision resolving ``period-closed`` of the corrected posting: post on today's date."""

ERP = "/system/erp/v1"
FLOWS_API = "/process/flows/v1"


# --- the original, as the flow operations API answers it ----------------------------------


class _Original(msgspec.Struct, frozen=True):
    id: str
    flow: str
    status: str
    correlation_id: str
    outputs: dict[str, Any]


class _Detail(msgspec.Struct, frozen=True):
    instance: _Original


class _Period(msgspec.Struct, frozen=True):
    fiscal_year: int
    period: int


class _PeriodCheck(msgspec.Struct, frozen=True):
    open: bool
    period: _Period | None = None


# --- what an original posted, and its reallocation (also used by the API) -----------------


class ReclassificationError(ValueError):
    """A reclassification that cannot be posted: its amounts or its coding do not fit the original.

    Args:
        kind: Reason code (``unbalanced-reclassification``, ``incomplete-reclassification``,
            ``reclassification-unsupported``).
        detail: What is wrong, in words.
    """

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


def documents_of(flow: str, outputs: Mapping[str, Any]) -> list[dict[str, str]]:
    """The ERP documents a completed original posted, as ``{"type", "id"}`` (empty when none yet)."""
    documents: list[dict[str, str]] = []
    if flow == EXPENSE_FLOW:
        posted = outputs.get("post-document") or {}
        if posted.get("supplier_invoice_id"):
            documents.append({"type": "supplier-invoice", "id": str(posted["supplier_invoice_id"])})
        if posted.get("journal_entry_id"):
            documents.append({"type": "journal-entry", "id": str(posted["journal_entry_id"])})
    elif flow == P2P_FLOW:
        posted = outputs.get("post-erp-invoice") or outputs.get("create-erp-invoice") or {}
        if posted.get("erp_invoice_id"):
            documents.append({"type": "supplier-invoice", "id": str(posted["erp_invoice_id"])})
    return documents


def allocation_of(flow: str, outputs: Mapping[str, Any]) -> dict[str, Any] | None:
    """What an expense posting allocated: its debit lines and the credits they balance.

    Returns:
        ``company_code``, ``currency``, ``posting_date``, ``reference``, ``debits``
        (``gl_account``, ``cost_center``, ``amount``) and ``credits`` (``gl_account``,
        ``amount``), amounts as strings; None when the original does not say (not an expense
        posting, or not coded yet).
    """
    if flow != EXPENSE_FLOW:
        return None
    report, period, coded = (outputs.get(name) for name in ("load-report", "check-period", "code-lines"))
    if not report or not period or not coded:
        return None
    debits: list[dict[str, str]] = []
    owed: dict[str, Decimal] = {}
    for line in coded["debits"]:
        debits.append({"gl_account": line["gl_account"], "cost_center": line["cost_center"],
                       "amount": line["amount"]})
        account = coded["employee_payable"] if line["paid_by"] == "employee" else coded["card_clearing"]
        owed[account] = owed.get(account, Decimal(0)) + Decimal(line["amount"])
    return {
        "company_code": report["company_code"], "currency": report["currency"],
        "posting_date": period["posting_date"], "reference": report["report_id"], "debits": debits,
        "credits": [{"gl_account": account, "amount": str(amount)} for account, amount in owed.items() if amount > 0],
    }


def _one(allocation: Mapping[str, Any], field: str, index: int) -> str:
    values = {line[field] for line in allocation["debits"]}
    if len(values) != 1:
        raise ReclassificationError(
            "incomplete-reclassification",
            f"reclassify.lines[{index}] names no {field}, and the original posts to several "
            f"({', '.join(sorted(values))}): name the {field} of each line")
    return str(values.pop())


def reallocate(allocation: Mapping[str, Any], lines: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """The original's debit total spread over the reclassification ``lines``.

    A line gives an ``amount`` or a ``share`` (the fraction of the total); a line that leaves
    out its cost center or GL account keeps the original's, when the original used only one.
    Shares are rounded to the currency's minor units so that the parts add up to the total.

    Raises:
        ReclassificationError: The amounts do not add up to the original's total, the shares
            not to 1, or a line leaves out a value the original does not fix.
    """
    currency = str(allocation["currency"])
    total = Money.sum([Money.of(line["amount"], currency) for line in allocation["debits"]], currency)
    amounts: list[Money]
    try:
        if all(line.get("amount") is not None for line in lines):
            amounts = [Money.of(str(line["amount"]), currency) for line in lines]
            given = Money.sum(amounts, currency)
            if given != total:
                raise ReclassificationError(
                    "unbalanced-reclassification",
                    f"the reclassified amounts add up to {given}, the original posted {total}: they must be equal")
        elif all(line.get("share") is not None for line in lines):
            shares = [Decimal(str(line["share"])) for line in lines]
            if sum(shares, Decimal(0)) != 1:
                raise ReclassificationError(
                    "unbalanced-reclassification",
                    f"the shares add up to {sum(shares, Decimal(0))}, not 1: they must allocate the whole {total}")
            amounts = total.allocate(shares)
        else:
            raise ReclassificationError("unbalanced-reclassification",
                                        "give every line an amount, or every line a share, not a mix")
    except (InvalidOperation, ValueError) as error:
        if isinstance(error, ReclassificationError):
            raise
        raise ReclassificationError("unbalanced-reclassification", f"unusable amount or share: {error}") from error
    result: list[dict[str, str]] = []
    for index, (line, amount) in enumerate(zip(lines, amounts, strict=True)):
        if not amount.is_positive():
            raise ReclassificationError(
                "unbalanced-reclassification",
                f"reclassify.lines[{index}] comes to {amount}: every line must carry a positive amount")
        result.append({
            "gl_account": str(line.get("gl_account") or _one(allocation, "gl_account", index)),
            "cost_center": str(line.get("cost_center") or _one(allocation, "cost_center", index)),
            "amount": str(amount.amount),
        })
    return result


# --- helpers -------------------------------------------------------------------------------


def _path(kind: str, document_id: str) -> str:
    collection = "journal-entries" if kind == "journal-entry" else "supplier-invoices"
    return f"{ERP}/{collection}/{quote(document_id, safe='')}"


async def _period_open(context: StepContext, company: str, day: dt.date) -> tuple[bool, str]:
    check = await context.system.get(f"{ERP}/periods/check", type=_PeriodCheck,
                                     params={"company_code": company, "date": day.isoformat()},
                                     correlation_id=context.correlation_id)
    where = f"period {check.period.fiscal_year}/{check.period.period:02d}" if check.period else "no period"
    return check.open, f"{company} {where} containing {day}"


async def _read(context: StepContext, document: Mapping[str, str]) -> JournalEntry | SupplierInvoice:
    kind: type[JournalEntry] | type[SupplierInvoice] = (
        JournalEntry if document["type"] == "journal-entry" else SupplierInvoice)
    try:
        return await context.system.get(_path(document["type"], document["id"]), type=kind,
                                        correlation_id=context.correlation_id)
    except BusinessError as error:
        if error.reason != "not-found":
            raise
        raise BusinessError("original-not-found", f"the ERP has no {document['type']} {document['id']}, which "
                                                  "the original posting names") from error


def _is_reversed(document: JournalEntry | SupplierInvoice) -> bool:
    if isinstance(document, JournalEntry):
        return document.status == "reversed" or document.reversed_by is not None
    return document.status == "cancelled"


# --- steps ---------------------------------------------------------------------------------


async def locate_original(context: StepContext) -> StepOutput:
    """The original posting as it stands now: completed, its ERP documents, not reversed by anyone else."""
    original_id = str(context.input["original_instance_id"])
    if context.decision not in (None, USE_EXISTING):
        raise BusinessError("invalid-decision", f"decision {context.decision!r} does not resolve this step; use "
                                                f"{USE_EXISTING!r} to carry on from the ERP's existing reversal")
    try:
        detail = await context.system.get(f"{FLOWS_API}/instances/{original_id}", type=_Detail,
                                          correlation_id=context.correlation_id)
    except BusinessError as error:
        if error.reason != "not-found":
            raise
        raise BusinessError("original-not-found", f"no flow instance {original_id} to reverse") from error
    original = detail.instance
    if original.flow not in ORIGINAL_FLOWS:
        raise BusinessError("original-not-found", f"instance {original_id} is a {original.flow} instance, not a "
                                                  f"posting ({' or '.join(ORIGINAL_FLOWS)})")
    if original.status != "completed":
        raise BusinessError("original-not-posted", f"the {original.flow} instance {original_id} is "
                                                   f"{original.status}, not completed: retry once it has posted")
    documents = documents_of(original.flow, original.outputs)
    if not documents:
        raise BusinessError("original-not-posted", f"the {original.flow} instance {original_id} completed without "
                                                   "an ERP document: there is nothing to reverse")
    found: list[dict[str, Any]] = []
    for document in documents:
        current = await _read(context, document)
        if _is_reversed(current) and context.decision != USE_EXISTING:
            by = f" by {current.reversed_by}" if isinstance(current, JournalEntry) and current.reversed_by else ""
            raise BusinessError("already-reversed", f"the ERP shows {document['type']} {current.id} already "
                                                    f"reversed{by}; resolve with {USE_EXISTING!r} to carry on "
                                                    "from that reversal, or cancel this reversal")
        found.append({**document, "erp_document_number": current.erp_document_number,
                      "company_code": current.company_code,
                      "posting_date": current.posting_date.isoformat() if current.posting_date else None,
                      "status": current.status})
    output: dict[str, Any] = {"original_instance_id": original.id, "original_flow": original.flow,
                              "documents": found}
    reclassify = context.input.get("reclassify")
    if reclassify:
        allocation = allocation_of(original.flow, original.outputs)
        if allocation is None:
            raise BusinessError("reclassification-unsupported", f"a {original.flow} posting is reversed only; its "
                                                                "corrected allocation cannot be derived")
        try:
            corrected = reallocate(allocation, reclassify["lines"])
        except ReclassificationError as error:
            raise BusinessError(error.kind, error.detail) from error
        output.update(allocation=allocation, corrected_lines=corrected)
    return output


async def reverse(context: StepContext) -> StepOutput:
    """Reverse each original document in the ERP, once (stable ``Idempotency-Key`` per document)."""
    located = context.state["locate-original"]
    reversals: list[dict[str, Any]] = []
    for document in located["documents"]:
        if document["posting_date"]:
            day = dt.date.fromisoformat(document["posting_date"])
            is_open, where = await _period_open(context, document["company_code"], day)
            if not is_open:
                raise BusinessError("period-closed", f"{where} is closed, and the ERP reverses "
                                                     f"{document['type']} {document['id']} on its own posting date: "
                                                     "reopen the period and retry")
        path = _path(document["type"], document["id"])
        if document["type"] == "journal-entry":
            entry = await context.system.post(f"{path}/reverse", None, type=JournalEntry,
                                              idempotency_key=context.idempotency_key(document["type"]),
                                              correlation_id=context.correlation_id)
            reversals.append({"type": "journal-entry", "original": document["id"], "id": entry.id,
                              "erp_document_number": entry.erp_document_number,
                              "posting_date": entry.posting_date.isoformat()})
        else:
            invoice = await context.system.post(f"{path}/cancel", None, type=SupplierInvoice,
                                                idempotency_key=context.idempotency_key(document["type"]),
                                                correlation_id=context.correlation_id)
            reversals.append({"type": "supplier-invoice-cancellation", "original": document["id"], "id": invoice.id,
                              "erp_document_number": invoice.erp_document_number, "status": invoice.status})
    return {"reversals": reversals}


async def post_corrected(context: StepContext) -> StepOutput:
    """With a reclassification: the original's amounts posted again on the corrected allocation."""
    located = context.state["locate-original"]
    if "corrected_lines" not in located:
        return {"skipped": "no reclassification was asked: the original is only reversed"}
    if context.decision not in (None, RESOLVE_TODAY):
        raise BusinessError("invalid-decision", f"decision {context.decision!r} does not resolve a closed period;"
                                                f" use {RESOLVE_TODAY!r}, or reopen the period and retry")
    allocation = located["allocation"]
    company, currency = allocation["company_code"], allocation["currency"]
    if context.decision == RESOLVE_TODAY:
        posting_date = context.now.date()
    else:
        posting_date = dt.date.fromisoformat(str(context.input.get("posting_date") or allocation["posting_date"]))
    is_open, where = await _period_open(context, company, posting_date)
    if not is_open:
        raise BusinessError("period-closed", f"{where} is closed: reopen it and retry, or resolve with "
                                             f"{RESOLVE_TODAY!r}")
    text = f"Reclass {allocation['reference']}"
    lines = [JournalLine(gl_account=line["gl_account"], side="debit", amount=Money.of(line["amount"], currency),
                         cost_center=line["cost_center"], text=text) for line in located["corrected_lines"]]
    lines += [JournalLine(gl_account=line["gl_account"], side="credit", amount=Money.of(line["amount"], currency),
                          text=text) for line in allocation["credits"]]
    draft = JournalEntryDraft(company_code=company, posting_date=posting_date, document_date=posting_date,
                              lines=lines, reference=allocation["reference"], text=text[:25])
    entry = await context.system.post(f"{ERP}/journal-entries", draft, type=JournalEntry,
                                      idempotency_key=context.idempotency_key("journal"),
                                      correlation_id=context.correlation_id)
    return {"journal_entry_id": entry.id, "erp_document_number": entry.erp_document_number,
            "posting_date": entry.posting_date.isoformat(), "lines": located["corrected_lines"]}


async def record(context: StepContext) -> StepOutput:
    """What the reversal did, in one place: original, reversal and corrected documents."""
    located = context.state["locate-original"]
    reversals = context.state["reverse"]["reversals"]
    corrected = context.state["post-corrected"].get("journal_entry_id")
    originals: list[dict[str, Any]] = []
    for document in located["documents"]:
        current = await _read(context, document)
        originals.append({"type": document["type"], "id": document["id"], "status": current.status,
                          "erp_document_number": current.erp_document_number})
    return {
        "original_instance_id": located["original_instance_id"],
        "original_flow": located["original_flow"],
        "reason_text": context.input.get("reason_text"),
        "original_document": originals[0]["id"],
        "reversal_document": reversals[0]["id"],
        "corrected_document": corrected,
        "original_documents": originals,
        "reversal_documents": reversals,
    }


REVERSAL: Final = Flow(
    FLOW,
    (
        Step("locate-original", locate_original),
        Step("reverse", reverse),
        Step("post-corrected", post_corrected),
        Step("record", record),
    ),
    summary="Reverse a posting found by its flow instance and, when asked, post the corrected allocation.",
)
"""The reversal flow."""

FLOWS: Final = (REVERSAL,)
TRIGGERS: Final = ()
SCHEDULES: Final = ()
