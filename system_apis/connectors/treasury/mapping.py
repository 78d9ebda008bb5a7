"""Treasury wire <-> canonical mapping: the one place where Kyriba's words meet ours.

Statuses: an obligation ``PENDING`` is canonical ``open``; ``IN_RUN`` and ``RELEASED`` are
``scheduled``; ``PAID`` is ``paid``; ``CANCELLED`` is ``cancelled``. In Kyriba an obligation
put in a run *is* the payment, so the canonical payment id of an obligation is its uuid.
A run ``CREATED`` is ``draft``, ``RELEASED`` is ``sent``, ``CONFIRMED`` is ``completed``,
``REJECTED`` is ``failed``.

Fields without a Kyriba field of their own: the supplier id travels as the beneficiary's
``code``, the source document as ``description``, the payee's remittance text as
``remittanceInformation``. Kyriba's ``reference`` is our deterministic external reference.
"""

from __future__ import annotations

import datetime as dt

from system_apis.canonical import (
    BankAccount,
    CashAccount,
    Money,
    Payment,
    PaymentObligation,
    PaymentObligationDraft,
    PaymentObligationStatus,
    PaymentRun,
    PaymentRunStatus,
    PaymentStatus,
)
from system_apis.connectors.treasury import wire

__all__ = [
    "OBLIGATION_STATUS",
    "RUN_STATUS",
    "account_to_canonical",
    "obligation_create",
    "obligation_to_canonical",
    "payment_to_canonical",
    "run_to_canonical",
    "wire_statuses",
]

OBLIGATION_STATUS: dict[str, PaymentObligationStatus] = {
    "PENDING": "open", "IN_RUN": "scheduled", "RELEASED": "scheduled", "PAID": "paid", "CANCELLED": "cancelled",
}
RUN_STATUS: dict[str, PaymentRunStatus] = {
    "CREATED": "draft", "RELEASED": "sent", "CONFIRMED": "completed", "REJECTED": "failed",
}
_PAYMENT_STATUS: dict[str, PaymentStatus] = {
    "PENDING": "failed", "IN_RUN": "pending", "RELEASED": "sent", "PAID": "confirmed", "CANCELLED": "cancelled",
}


def wire_statuses(status: PaymentObligationStatus) -> list[str]:
    """The platform statuses a canonical obligation status covers (for ``status=in=(...)``)."""
    return [code for code, canonical in OBLIGATION_STATUS.items() if canonical == status]


def _payee_account(beneficiary: wire.Beneficiary) -> BankAccount:
    return BankAccount(
        holder=beneficiary.name, iban=beneficiary.iban, bic=beneficiary.bic,
        account_number=None if beneficiary.iban else beneficiary.account_number,
        bank_code=None if beneficiary.iban else beneficiary.bank_code,
        country=beneficiary.country_code,
    )


def obligation_to_canonical(obligation: wire.PaymentObligation) -> PaymentObligation:
    """A platform obligation as a canonical one.

    Raises:
        ValueError: The platform's data breaks a canonical rule (bad IBAN, currency...).
    """
    status = OBLIGATION_STATUS[obligation.status]
    return PaymentObligation(
        id=obligation.uuid,
        company_code=obligation.company.code,
        payee_name=obligation.beneficiary.name,
        amount=Money(obligation.amount, obligation.currency.code),
        due_date=obligation.value_date,
        status=status,
        payee_bank_account=_payee_account(obligation.beneficiary),
        supplier_id=obligation.beneficiary.code,
        source_document=obligation.description,
        reference=obligation.remittance_information,
        payment_id=obligation.uuid if status in ("scheduled", "paid") else None,
        created_at=_aware(obligation.creation_date_time),
    )


def obligation_create(draft: PaymentObligationDraft, *, external_reference: str,
                      bank_account_code: str) -> wire.ObligationCreate:
    """The platform body creating ``draft`` from the company's account ``bank_account_code``."""
    account = draft.payee_bank_account
    return wire.ObligationCreate(
        reference=external_reference,
        company=wire.CodeRef(code=draft.company_code),
        bank_account=wire.CodeRef(code=bank_account_code),
        beneficiary=wire.Beneficiary(
            name=draft.payee_name, code=draft.supplier_id, iban=account.iban, account_number=account.account_number,
            bank_code=account.bank_code, bic=account.bic, country_code=account.country,
        ),
        amount=draft.amount.amount,
        currency=wire.CodeRef(code=draft.amount.currency),
        value_date=draft.due_date,
        description=draft.source_document,
        remittance_information=draft.reference,
    )


def run_to_canonical(run: wire.PaymentRun) -> PaymentRun:
    """A platform payment run as a canonical one (its payments are its obligations)."""
    return PaymentRun(
        id=run.uuid,
        company_code=run.company.code,
        run_date=run.execution_date,
        status=RUN_STATUS[run.status],
        payment_ids=list(run.obligations),
        totals=[Money(total.amount, total.currency.code) for total in run.totals],
    )


def payment_to_canonical(obligation: wire.PaymentObligation, confirmed_at: dt.datetime | None = None) -> Payment:
    """The payment of an obligation that went into a run (e.g. from a ``payment.confirmed`` webhook)."""
    return Payment(
        id=obligation.uuid,
        company_code=obligation.company.code,
        amount=Money(obligation.amount, obligation.currency.code),
        value_date=obligation.value_date,
        payee_name=obligation.beneficiary.name,
        status=_PAYMENT_STATUS[obligation.status],
        payee_bank_account=_payee_account(obligation.beneficiary),
        obligation_ids=[obligation.uuid],
        supplier_id=obligation.beneficiary.code,
        reference=obligation.remittance_information,
        payment_run_id=obligation.payment_run.uuid if obligation.payment_run else None,
        bank_reference=obligation.bank_reference,
        confirmed_at=_aware(confirmed_at) if obligation.status == "PAID" and confirmed_at else None,
    )


def account_to_canonical(account: wire.WireBankAccount) -> CashAccount:
    """One of the company's own accounts as a canonical cash account."""
    holder = account.company.name or account.description or account.company.code
    bank_account = BankAccount(
        holder=holder, iban=account.iban, bic=account.bank.bic,
        account_number=None if account.iban else account.account_number,
        bank_code=None if account.iban else account.bank.code,
        country=None if account.iban else account.country_code,
        currency=account.currency.code, bank_name=account.bank.name, id=account.code,
    )
    return CashAccount(
        id=account.uuid,
        company_code=account.company.code,
        bank_account=bank_account,
        currency=account.currency.code,
        balance=Money(account.balance.amount, account.currency.code) if account.balance else None,
        balance_date=account.balance.date if account.balance else None,
    )


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
