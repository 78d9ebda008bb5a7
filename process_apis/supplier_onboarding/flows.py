"""The supplier onboarding flow: procurement supplier approved -> one ERP supplier, linked back.

Steps, each committed before the next:

1. ``validate`` — read the supplier from the procurement system API (never from the event)
   and check its tax id and bank data. The canonical model validates on decoding (tax ids
   with python-stdnum per country, IBAN/BIC with schwifty) and reports what it had to leave
   out in ``issues``; either problem stops the instance (``invalid-tax-id``,
   ``invalid-bank-data``) until a person fixes the record in procurement and retries, which
   reads it again. A supplier that already carries an ERP number is linked already and the
   remaining steps do nothing.
2. ``check-duplicates`` — search the ERP for the same tax id, the same IBAN and a similar name
   (:mod:`.matching`); any hit stops the instance as ``suspected-duplicate`` with the ERP
   suppliers and the reasons in the detail. A person resolves it with ``approve`` (create it
   anyway) or ``merge:<erp supplier number>`` (link to that supplier, create nothing).
3. ``create-erp-supplier`` — ``POST /system/erp/v1/suppliers`` with the step's stable
   ``Idempotency-Key``, so a re-run after a lost answer replays instead of creating twice.
4. ``write-back`` — record the ERP number on the procurement supplier (a ``PUT``: repeating
   it is harmless).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote, urlencode

import msgspec

from process_apis.flow.model import BusinessError, Flow, Schedule, Step, StepContext, StepOutput
from process_apis.flow.runtime import Trigger
from process_apis.supplier_onboarding.matching import NAME_THRESHOLD, search_terms, similarity
from system_apis.canonical import Page, Supplier, SupplierDraft

__all__ = [
    "FLOW",
    "FLOWS",
    "FLOW_NAME",
    "SCHEDULES",
    "SUPPLIER_ID_PATTERN",
    "TRIGGERS",
    "DuplicateMatch",
    "ErpSupplier",
    "check_duplicates",
    "create_erp_supplier",
    "describe",
    "draft_of",
    "find_duplicates",
    "supplier_key",
    "validate",
    "write_back",
]

FLOW_NAME: Final = "supplier-onboarding"
"""Name of the flow (and of its process API)."""

SUPPLIER_ID_PATTERN: Final = r"^[1-9][0-9]{0,8}$"
"""What a procurement supplier id looks like (a positive Coupa id)."""

PROCUREMENT: Final = "/system/procurement/v1"
ERP: Final = "/system/erp/v1"

APPROVED_STATUSES: Final = ("active", "blocked")
"""Canonical statuses of a supplier approved in procurement (``blocked`` = approved, on hold)."""

_ERP_NUMBER: Final = re.compile(r"^[A-Za-z0-9]{1,10}$")
_SEARCH_PAGES: Final = 3
"""Pages of candidates scored per name search term (200 each)."""


class _ErpNumber(msgspec.Struct, frozen=True, kw_only=True):
    """Body of the procurement write-back."""

    erp_supplier_number: str
    """The supplier's number in the ERP."""


class _Linked(msgspec.Struct, kw_only=True):
    """The part of the write-back's answer the flow reads."""

    erp_supplier_number: str | None = None
    """The ERP number procurement now holds."""


class ErpSupplier(msgspec.Struct, kw_only=True):
    """The part of an ERP supplier the duplicate check reads.

    Deliberately not the canonical :class:`Supplier`: that one validates tax ids and bank
    accounts on decoding, and the ERP holds old records the validators refuse; one such
    record in a search result must not stop every onboarding.
    """

    id: str
    """The ERP supplier number."""
    name: str
    """Its name."""
    country: str | None = None
    """Country of its address."""
    status: str = "active"
    """Its status in the ERP."""


class DuplicateMatch(msgspec.Struct, kw_only=True):
    """An ERP supplier that looks like the one being onboarded, and why."""

    number: str
    """The ERP supplier number."""
    name: str
    """Its name in the ERP."""
    status: str
    """Its status in the ERP (a blocked or inactive duplicate is still a duplicate)."""
    reasons: list[str] = msgspec.field(default_factory=list)
    """``same tax id ...``, ``same IBAN ...``, ``similar name ... (score 0.97)``."""
    strength: int = 0
    """Sort order: exact identifiers before names."""
    score: float = 0.0
    """Name similarity, 0.0 to 1.0."""


def supplier_key(data: Mapping[str, Any]) -> str | None:
    """The procurement supplier id of a ``supplier.approved`` event; ``None`` when it has none.

    Only the id is taken from the event: the flow reads the supplier itself from the system
    API, so a late, repeated or forged payload cannot change what is onboarded.
    """
    value = data.get("id")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        return None
    return text if re.fullmatch(SUPPLIER_ID_PATTERN, text) else None


def _event_input(data: Mapping[str, Any]) -> Mapping[str, Any]:
    return {"supplier_id": supplier_key(data), "source": "procurement supplier.approved"}


def _label(supplier: Supplier) -> str:
    return f"procurement supplier {supplier.id} ({supplier.name!r})"


def _supplier(context: StepContext) -> Supplier:
    return msgspec.convert(context.state["validate"]["supplier"], Supplier, strict=False)


def _linked(context: StepContext) -> str | None:
    linked = context.state["validate"].get("linked")
    return str(linked) if linked else None


# -- step 1: validate -----------------------------------------------------------------------


async def _read_supplier(context: StepContext) -> Supplier:
    try:
        return await context.system.get(f"{PROCUREMENT}/suppliers/{quote(context.key, safe='')}", type=Supplier,
                                         correlation_id=context.correlation_id)
    except BusinessError as error:
        if error.reason != "not-found":
            raise
        raise BusinessError("unknown-supplier", f"procurement has no supplier {context.key}: {error.detail}") from None


def _check_tax_id(supplier: Supplier) -> str | None:
    """What is wrong with the supplier's tax id, or None."""
    left_out = [issue for issue in supplier.issues if issue.startswith("tax id")]
    if left_out:
        return "; ".join(left_out)
    if supplier.tax_id is None:
        return "no tax id is recorded"
    if supplier.country is not None and supplier.tax_id.country != supplier.country:
        tax = supplier.tax_id
        return f"tax id {tax.value} is from {tax.country}, the supplier is in {supplier.country}"
    return None


def _check_bank_data(supplier: Supplier) -> str | None:
    """What is wrong with the supplier's bank data, or None."""
    left_out = [issue for issue in supplier.issues if "bank account" in issue]
    if left_out:
        return "; ".join(left_out)
    if not supplier.bank_accounts:
        return "no bank account is recorded"
    return None


async def validate(context: StepContext) -> StepOutput:
    """Read the supplier from procurement and refuse an invalid tax id or invalid bank data."""
    supplier = await _read_supplier(context)
    snapshot = msgspec.to_builtins(supplier)
    if supplier.erp_supplier_number:
        return {"supplier": snapshot, "linked": supplier.erp_supplier_number}
    label = _label(supplier)
    if supplier.status not in APPROVED_STATUSES:
        raise BusinessError("supplier-not-approved",
                            f"{label} is {supplier.status} in procurement; only an approved supplier is onboarded "
                            "(approve it there, then retry)")
    if supplier.country is None:
        raise BusinessError("incomplete-supplier",
                            f"{label} has no country on its primary address; add it in procurement, then retry")
    tax, bank = _check_tax_id(supplier), _check_bank_data(supplier)
    if tax is not None:
        also = f"; bank data: {bank}" if bank else ""
        raise BusinessError("invalid-tax-id", f"{label}: {tax}{also}. Fix it in procurement, then retry")
    if bank is not None:
        raise BusinessError("invalid-bank-data", f"{label}: {bank}. Fix it in procurement, then retry")
    return {"supplier": snapshot, "linked": None}


# -- step 2: duplicate check ----------------------------------------------------------------


async def _search(context: StepContext, params: Mapping[str, Any], pages: int = 1) -> list[ErpSupplier]:
    found: list[ErpSupplier] = []
    cursor: str | None = None
    for _ in range(pages):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        page = await context.system.get(f"{ERP}/suppliers", type=Page[ErpSupplier], params=query,
                                        correlation_id=context.correlation_id)
        found.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    return found


async def find_duplicates(context: StepContext, supplier: Supplier) -> list[DuplicateMatch]:
    """ERP suppliers with the same tax id, the same IBAN or a similar name, strongest first."""
    matches: dict[str, DuplicateMatch] = {}

    def match(candidate: ErpSupplier) -> DuplicateMatch:
        if candidate.id not in matches:
            matches[candidate.id] = DuplicateMatch(number=candidate.id, name=candidate.name, status=candidate.status)
        return matches[candidate.id]

    if supplier.tax_id is not None:
        for candidate in await _search(context, {"tax_id": supplier.tax_id.value, "limit": 50}):
            found = match(candidate)
            found.reasons.append(f"same tax id {supplier.tax_id.value}")
            found.strength += 4
    for iban in dict.fromkeys(account.iban for account in supplier.bank_accounts if account.iban):
        for candidate in await _search(context, {"iban": iban, "limit": 50}):
            found = match(candidate)
            found.reasons.append(f"same IBAN {iban}")
            found.strength += 2
    candidates: dict[str, ErpSupplier] = {}
    for term in search_terms(supplier.name):
        for candidate in await _search(context, {"name": term, "limit": 200}, pages=_SEARCH_PAGES):
            candidates[candidate.id] = candidate
    for candidate in candidates.values():
        score = similarity(supplier.name, candidate.name)
        if score < NAME_THRESHOLD:
            continue
        other_country = candidate.country is not None and candidate.country != supplier.country
        if other_country and candidate.id not in matches:
            continue  # the same trading name abroad is another company, unless an identifier matches too
        found = match(candidate)
        found.reasons.append(f"similar name {candidate.name!r} (score {score:.2f})")
        found.strength += 1
        found.score = score
    return sorted(matches.values(), key=lambda m: (-m.strength, -m.score, m.number))


def describe(supplier: Supplier, matches: list[DuplicateMatch]) -> str:
    """The exception detail: which ERP suppliers look alike and why, and what a person can decide."""
    shown = "; ".join(
        f"ERP supplier {m.number} {m.name!r}{'' if m.status == 'active' else f' ({m.status})'}: {', '.join(m.reasons)}"
        for m in matches[:5]
    )
    more = f"; and {len(matches) - 5} more" if len(matches) > 5 else ""
    return (f"{_label(supplier)} looks like an existing ERP supplier - {shown}{more}. Resolve with 'approve' "
            "to create it anyway, or 'merge:<erp supplier number>' to link it to the existing one")


async def _merge_target(context: StepContext, number: str) -> ErpSupplier:
    if not _ERP_NUMBER.fullmatch(number):
        raise BusinessError("invalid-decision", f"'merge:{number}' does not name an ERP supplier number")
    try:
        return await context.system.get(f"{ERP}/suppliers/{number}", type=ErpSupplier,
                                        correlation_id=context.correlation_id)
    except BusinessError as error:
        raise BusinessError("merge-target-not-found",
                            f"the ERP has no supplier {number} to merge into ({error.detail}); resolve again "
                            "with 'approve' or another 'merge:<erp supplier number>'") from None


async def check_duplicates(context: StepContext) -> StepOutput:
    """Stop as ``suspected-duplicate`` unless the ERP has nothing alike, or a person decided."""
    linked = _linked(context)
    if linked:
        return {"skipped": f"already linked to ERP supplier {linked}"}
    supplier = _supplier(context)
    decision = (context.decision or "").strip()
    if decision == "approve":
        return {"decision": "approve"}
    if decision.startswith("merge:"):
        target = await _merge_target(context, decision.removeprefix("merge:").strip())
        return {"decision": "merge", "merge_into": target.id, "merge_into_name": target.name}
    if decision:
        raise BusinessError("invalid-decision",
                            f"unknown decision {decision!r}: use 'approve' or 'merge:<erp supplier number>'")
    matches = await find_duplicates(context, supplier)
    if matches:
        raise BusinessError("suspected-duplicate", describe(supplier, matches))
    return {"matches": 0}


# -- step 3: create in the ERP --------------------------------------------------------------


def draft_of(supplier: Supplier) -> SupplierDraft:
    """The ERP create body for a validated procurement supplier."""
    assert supplier.country is not None  # checked by validate
    return SupplierDraft(
        name=supplier.name, country=supplier.country, tax_id=supplier.tax_id,
        bank_accounts=[msgspec.structs.replace(account, id=None) for account in supplier.bank_accounts],
        payment_terms=supplier.payment_terms, currency=supplier.currency, email=supplier.email,
        procurement_supplier_id=supplier.id,
    )


async def create_erp_supplier(context: StepContext) -> StepOutput:
    """Create the ERP supplier once (stable ``Idempotency-Key``), unless linked or merged."""
    linked = _linked(context)
    if linked:
        return {"erp_supplier_number": linked, "created": False}
    checked = context.state["check-duplicates"]
    if checked.get("merge_into"):
        return {"erp_supplier_number": checked["merge_into"], "created": False}
    supplier = _supplier(context)
    path = f"{ERP}/suppliers"
    if supplier.company_codes:
        path += "?" + urlencode([("company_code", code) for code in supplier.company_codes])
    created = await context.system.post(path, draft_of(supplier), type=ErpSupplier,
                                        idempotency_key=context.idempotency_key(),
                                        correlation_id=context.correlation_id)
    return {"erp_supplier_number": created.id, "created": True}


# -- step 4: write the number back -----------------------------------------------------------


async def write_back(context: StepContext) -> StepOutput:
    """Record the ERP supplier number on the procurement supplier."""
    linked = _linked(context)
    if linked:
        return {"erp_supplier_number": linked, "written": False}
    number = str(context.state["create-erp-supplier"]["erp_supplier_number"])
    updated = await context.system.put(
        f"{PROCUREMENT}/suppliers/{quote(context.key, safe='')}/erp-supplier-number",
        _ErpNumber(erp_supplier_number=number), type=_Linked, correlation_id=context.correlation_id)
    return {"erp_supplier_number": updated.erp_supplier_number or number, "written": True}


FLOW: Final = Flow(
    FLOW_NAME,
    (
        Step("validate", validate),
        Step("check-duplicates", check_duplicates),
        Step("create-erp-supplier", create_erp_supplier),
        Step("write-back", write_back),
    ),
    summary="Approved procurement supplier: validate, check for ERP duplicates, create in the ERP, link back.",
)

FLOWS: tuple[Flow, ...] = (FLOW,)
TRIGGERS: tuple[Trigger, ...] = (
    Trigger(platform="procurement", event="supplier.approved", flow=FLOW_NAME, key=supplier_key,
            input=_event_input),
)
SCHEDULES: tuple[Schedule, ...] = ()
