"""The expense posting's coding rules as data: versioned mapping sets and the entities' posting policy.

An expense report speaks the expense platform's language (expense types such as ``AIRFR``,
departmental cost centers such as ``DE2000``); the ERP books on GL accounts and its own cost
centers. A :class:`MappingSet` translates one into the other for every entity. Sets are
versioned and take effect on a date: the set in force on a posting's date is the one used, so
a change of the chart of accounts applies from its effective date without rewriting history,
and every posting records the version it used (DESIGN.md §4), which makes a posting
explainable and reproducible years later.

The :data:`POSTING_POLICY` says per entity how reports are posted (journal entry or AP
document) and whether the scheduled posting windows sweep the entity's approved backlog.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "DEFAULT_POLICY",
    "MAPPING_SETS",
    "POSTING_POLICY",
    "EntityMapping",
    "EntityPolicy",
    "MappingSet",
    "PostingMode",
    "ReimbursementAccount",
    "mapping_in_force",
    "policy_of",
]

PostingMode = Literal["journal", "ap"]
"""``journal``: one balanced journal entry per report; ``ap``: a supplier invoice to the
employee's vendor account, created and posted."""


@dataclass(frozen=True, slots=True)
class ReimbursementAccount:
    """The bank account reimbursements of an entity are paid into (the payroll reimbursement account).

    Employees' own bank details live in payroll, not in the expense platform or the ERP; in
    journal mode treasury pays the amount due to the employee into the entity's payroll
    reimbursement account, and payroll passes it on with the next salary run.
    """

    holder: str
    """Account holder."""
    iban: str | None = None
    """IBAN, where the country has them."""
    bic: str | None = None
    """BIC of the bank."""
    account_number: str | None = None
    """National account number (US)."""
    bank_code: str | None = None
    """National bank code (US: ABA routing number)."""
    country: str | None = None
    """Country of the bank, when no IBAN says it."""


@dataclass(frozen=True, slots=True)
class EntityMapping:
    """How one entity's expenses are coded."""

    gl_accounts: Mapping[str, str]
    """Expense type code -> GL account debited."""
    cost_centers: Mapping[str, str]
    """Expense platform cost center -> ERP cost center charged."""
    employee_payable: str
    """GL account credited with what the company owes the employee (cash expenses)."""
    card_clearing: str
    """GL account credited with expenses paid by company card or directly by the company."""
    reimbursement_account: ReimbursementAccount
    """Where treasury pays reimbursements in journal mode."""


@dataclass(frozen=True, slots=True)
class MappingSet:
    """One version of the coding rules of every entity."""

    version: str
    """Version recorded on every posting made with the set."""
    effective_from: dt.date
    """First posting date the set applies to."""
    entities: Mapping[str, EntityMapping]
    """Rules by company code; an entity missing here has no GL coding."""


@dataclass(frozen=True, slots=True)
class EntityPolicy:
    """How and when an entity's approved reports are posted."""

    mode: PostingMode = "journal"
    """Document posted when the request does not say."""
    posting_windows: bool = False
    """Whether the scheduled posting windows post the entity's approved, not yet posted reports.

    Off by default: reports are posted in real time as they are approved (the expense
    platform's ``statusChanged`` event); an entity that batches its postings switches it on."""


_TRAVEL = {
    "AIRFR": "64000000",  # Travel - Airfare
    "TRAIN": "64000000",
    "LODNG": "64100000",  # Travel - Lodging
    "BUSML": "64200000",  # Travel - Meals
    "TAXIX": "64300000",  # Travel - Ground Transport
    "CARRT": "64300000",
    "PARKG": "64300000",
    "OFCSP": "63000000",  # Office Supplies
}
# From July 2025 business meals with attendees are entertainment, and trains ground transport.
_TRAVEL_2025_07 = {**_TRAVEL, "BUSML": "64400000", "TRAIN": "64300000"}

_DEPARTMENTS = {"1000": "1", "2000": "2", "3000": "3", "4000": "4", "5000": "5"}
"""Expense department -> ERP department number (Finance, IT, Marketing, Sales, Human Resources)."""


def _cost_centers(country: str, entity_digit: str) -> dict[str, str]:
    return {f"{country}{department}": f"{entity_digit}{number.zfill(2)}10{entity_digit}01"
            for department, number in _DEPARTMENTS.items()}


_ACCOUNTS = {
    "US01": ReimbursementAccount(holder="Finrail Inc. Payroll", account_number="4099912345",
                                 bank_code="021000021", country="US"),
    "DE01": ReimbursementAccount(holder="Finrail GmbH Gehaltskonto", iban="DE89370400440532013000"),
    "GB01": ReimbursementAccount(holder="Finrail Ltd Payroll", iban="GB82WEST12345698765432"),
}


def _entities(gl: Mapping[str, str]) -> dict[str, EntityMapping]:
    return {
        code: EntityMapping(gl_accounts=gl, cost_centers=_cost_centers(code[:2], digit),
                            employee_payable="21700000", card_clearing="21500000",
                            reimbursement_account=_ACCOUNTS[code])
        for code, digit in (("US01", "1"), ("DE01", "2"), ("GB01", "3"))
    }


MAPPING_SETS: Sequence[MappingSet] = (
    MappingSet(version="2024.1", effective_from=dt.date(2024, 1, 1), entities=_entities(_TRAVEL)),
    MappingSet(version="2025.2", effective_from=dt.date(2025, 7, 1), entities=_entities(_TRAVEL_2025_07)),
)
"""Every version, oldest first."""

POSTING_POLICY: Mapping[str, EntityPolicy] = {
    "US01": EntityPolicy(),
    "DE01": EntityPolicy(),
    "GB01": EntityPolicy(),
}
"""Policy by company code; an entity not listed gets the defaults of :class:`EntityPolicy`."""

DEFAULT_POLICY = EntityPolicy()
"""Policy of an entity :data:`POSTING_POLICY` does not list."""


def mapping_in_force(posting_date: dt.date, sets: Sequence[MappingSet] | None = None) -> MappingSet | None:
    """The newest set effective on ``posting_date``, or None before the first one."""
    candidates = [s for s in (MAPPING_SETS if sets is None else sets) if s.effective_from <= posting_date]
    return max(candidates, key=lambda s: s.effective_from) if candidates else None


def policy_of(company_code: str) -> EntityPolicy:
    """The posting policy of an entity."""
    return POSTING_POLICY.get(company_code, DEFAULT_POLICY)
