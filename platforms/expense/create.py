"""Creating reports and entries: the v3.0 ``ReportPost`` and ``EntryPost`` bodies and what they become.

The bodies carry every field of Concur's ``#/definitions/ReportPost`` and ``#/definitions/EntryPost``
(``Custom1``..., ``OrgUnit1``..., ``Journey``), so a body written to the swagger is never refused
for a field it names; a field the swagger does not name is refused. The swagger declares no
field required and no limits; the sandbox documents what Concur enforces on a real site:

* a report needs a ``Name``; its owner is the ``user`` query parameter (the sandbox's tokens are
  company-level, they name no user). The header takes the owner's conventions, as seeded
  reports do: currency = reimbursement currency, country, company code (``OrgUnit1``), cost
  center (``OrgUnit2``, the owner's unless another of the owner's country is given), policy
  ``POL-<company code>``, approver. It starts ``A_NOTF``/``P_NOTP`` with all totals zero.
* an entry needs ``ReportID``, ``ExpenseTypeCode`` (one of the site's expense types),
  ``PaymentTypeID``, ``TransactionDate`` (``YYYY-MM-DD`` as Concur's description says, or an
  RFC 3339 time: its date is kept), ``TransactionAmount`` (a JSON number > 0 with no more
  decimals than the currency has) and ``TransactionCurrencyCode`` (ISO 4217, a currency of the
  site). The posted amount is in the report currency, at the site's rate unless ``ExchangeRate``
  is given; the report's totals are summed again from its entries, as the seed sums them.

Fields the site does not configure (custom fields, org units 3-6 and entries' org units,
``Purpose``, ``LocationID``, ``VendorListItemID``, ``TaxReceiptType``) are accepted and not
kept. ``Custom20`` of a report is the ERP document number, set when the report is posted: a
create that sets it is refused; so is a ``Journey``, the site having no mileage expense type.
Well-formed bodies that break such a rule are 422; malformed ones 400, naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal, TypeVar, get_args

import msgspec
from litestar.exceptions import HTTPException
from litestar.openapi.spec import OpenAPIType

from platforms.expense.codes import (
    APPROVAL_NAMES,
    CURRENCY_DIGITS,
    EXPENSE_TYPES,
    PAYMENT_NAMES,
    PAYMENT_TYPES,
    exchange_rate,
)
from platforms.expense.seed import DEPARTMENTS
from platforms.expense.wire import CustomField, EntryGet, ReportGet, User
from platforms.kit.bodies import StrictBody

__all__ = [
    "AMOUNT_LIMIT",
    "CreateResponse",
    "EntryPost",
    "ExpenseBody",
    "Journey",
    "ReportPost",
    "new_entry",
    "new_report",
    "with_totals",
]

T = TypeVar("T")

AMOUNT_LIMIT = 10**10
"""Transaction amounts are below this (ten integer digits)."""
RATE_MIN = Decimal("0.000001")
"""Exchange rates are kept to six decimals, as the site's own; a given rate is at least this."""
RATE_LIMIT = 10**6

_DATE_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"([Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2}))?$"
)
_DATE_OR_TIME: list[dict[str, Any]] = [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]
DateOrTime = Annotated[str, msgspec.Meta(max_length=40, pattern=_DATE_PATTERN, extra_json_schema={"extra": {
    "pattern": None, "any_of": _DATE_OR_TIME, "description": "YYYY-MM-DD, or an RFC 3339 time (its date is kept).",
}})]
"""``YYYY-MM-DD`` or an RFC 3339 date-time with a zone; parsed by the handler."""
OptionalDateOrTime = Annotated[str, msgspec.Meta(max_length=40, pattern=_DATE_PATTERN, extra_json_schema={"extra": {
    "pattern": None, "one_of": None, "any_of": [*_DATE_OR_TIME, {"type": "null"}],
    "description": "YYYY-MM-DD, or an RFC 3339 time (its date is kept).",
}})]
""":data:`DateOrTime` of an optional field (documented with ``null``, which the field takes)."""

Currency = Literal["USD", "EUR", "GBP", "CHF", "JPY"]
"""ISO 4217 codes of the currencies the site is configured for."""
ExpenseType = Literal["AIRFR", "LODNG", "BUSML", "TAXIX", "CARRT", "TRAIN", "PARKG", "OFCSP"]
"""The site's expense type codes."""
PaymentType = Literal["CASHX", "IBCP"]
"""The site's payment types: paid by the employee (cash), or with the company card."""
assert set(get_args(Currency)) == set(CURRENCY_DIGITS), "Currency must list codes.CURRENCY_DIGITS"
assert set(get_args(ExpenseType)) == set(EXPENSE_TYPES), "ExpenseType must list codes.EXPENSE_TYPES"
assert set(get_args(PaymentType)) == set(PAYMENT_TYPES), "PaymentType must list codes.PAYMENT_TYPES"

Amount = Annotated[Decimal, msgspec.Meta(extra_json_schema={"extra": {
    "type": OpenAPIType.NUMBER, "format": "double", "exclusive_minimum": 0, "exclusive_maximum": AMOUNT_LIMIT,
    "description": "A JSON number > 0, with no more decimals than the currency has.",
}})]
Rate = Annotated[Decimal, msgspec.Meta(extra_json_schema={"extra": {
    "type": None, "format": None, "one_of": [
        {"type": "number", "format": "double", "minimum": float(RATE_MIN), "exclusiveMaximum": RATE_LIMIT},
        {"type": "null"},
    ],
    "description": "Transaction currency -> report currency; rounded to six decimals. Ignored when they are the same.",
}})]
"""An optional exchange rate (documented with ``null``, which the field takes)."""
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Long = Annotated[str, msgspec.Meta(max_length=500)]
Short = Annotated[str, msgspec.Meta(max_length=64)]
Field = Annotated[str, msgspec.Meta(max_length=48)]
"""An org unit or custom field value (``CustomField.Value``: at most 48 characters)."""
Int32 = Annotated[int, msgspec.Meta(ge=-(2**31), le=2**31 - 1)]


class _Post(msgspec.Struct, rename="pascal", kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """Base of the create bodies: PascalCase as in the swagger, unknown fields refused."""


class ReportPost(_Post, kw_only=True):
    """Body of ``POST /api/v3.0/expense/reports`` (``#/definitions/ReportPost``)."""

    name: Name
    """The name of the report (required)."""
    comment: Long | None = None
    """The report header comment; kept as the report's ``LastComment``."""
    purpose: Long | None = None
    """The business purpose (accepted, not kept: the site has no purpose field)."""
    policy_id: Short | None = msgspec.field(default=None, name="PolicyID")
    """The policy: the owner's, ``POL-<company code>`` (the default)."""
    user_defined_date: OptionalDateOrTime | None = None
    """The date of the report assigned by the user (default: today)."""
    org_unit1: Field | None = None
    """Company code: the owner's (the default)."""
    org_unit2: Field | None = None
    """Cost center charged: one of the owner's country (default: the owner's)."""
    org_unit3: Field | None = None
    org_unit4: Field | None = None
    org_unit5: Field | None = None
    org_unit6: Field | None = None
    custom1: Field | None = None
    custom2: Field | None = None
    custom3: Field | None = None
    custom4: Field | None = None
    custom5: Field | None = None
    custom6: Field | None = None
    custom7: Field | None = None
    custom8: Field | None = None
    custom9: Field | None = None
    custom10: Field | None = None
    custom11: Field | None = None
    custom12: Field | None = None
    custom13: Field | None = None
    custom14: Field | None = None
    custom15: Field | None = None
    custom16: Field | None = None
    custom17: Field | None = None
    custom18: Field | None = None
    custom19: Field | None = None
    custom20: Field | None = None
    """The ERP document number, set when the report is posted: refused here."""


class Journey(_Post, kw_only=True):
    """A mileage journey (``#/definitions/Journey``); the site has no mileage expense type."""

    business_distance: Int32 | None = None
    end_location: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    number_of_passengers: Int32 | None = None
    odometer_end: Int32 | None = None
    odometer_start: Int32 | None = None
    personal_distance: Int32 | None = None
    start_location: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    unit_of_measure: Literal["M", "K"] | None = None
    vehicle_id: Short | None = msgspec.field(default=None, name="VehicleID")


class EntryPost(_Post, kw_only=True):
    """Body of ``POST /api/v3.0/expense/entries`` (``#/definitions/EntryPost``)."""

    report_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] = msgspec.field(name="ReportID")
    """The report the entry is added to (not submitted, or sent back)."""
    expense_type_code: ExpenseType
    """The expense type."""
    payment_type_id: PaymentType = msgspec.field(name="PaymentTypeID")
    """How it was paid."""
    transaction_date: DateOrTime
    """When the good or service was provided."""
    transaction_amount: Amount
    """The amount paid to the vendor, in the transaction currency."""
    transaction_currency_code: Currency
    """The currency the vendor was paid in."""
    exchange_rate: Rate | None = None
    """Transaction currency -> report currency (default: the site's rate)."""
    description: Short | None = None
    vendor_description: Short | None = None
    comment: Long | None = None
    """Accepted, not kept (entries have no comment field on the site)."""
    is_billable: bool = False
    is_personal: bool = False
    """Personal (not reimbursed): counted in the report's ``PersonalAmount``, not its claimed total."""
    location_id: Short | None = msgspec.field(default=None, name="LocationID")
    tax_receipt_type: Literal["T", "R", "N"] | None = None
    vendor_list_item_id: Short | None = msgspec.field(default=None, name="VendorListItemID")
    journey: Journey | None = None
    """Refused: the site has no mileage expense type."""
    org_unit1: Field | None = None
    org_unit2: Field | None = None
    org_unit3: Field | None = None
    org_unit4: Field | None = None
    org_unit5: Field | None = None
    org_unit6: Field | None = None
    custom1: Field | None = None
    custom2: Field | None = None
    custom3: Field | None = None
    custom4: Field | None = None
    custom5: Field | None = None
    custom6: Field | None = None
    custom7: Field | None = None
    custom8: Field | None = None
    custom9: Field | None = None
    custom10: Field | None = None
    custom11: Field | None = None
    custom12: Field | None = None
    custom13: Field | None = None
    custom14: Field | None = None
    custom15: Field | None = None
    custom16: Field | None = None
    custom17: Field | None = None
    custom18: Field | None = None
    custom19: Field | None = None
    custom20: Field | None = None
    custom21: Field | None = None
    custom22: Field | None = None
    custom23: Field | None = None
    custom24: Field | None = None
    custom25: Field | None = None
    custom26: Field | None = None
    custom27: Field | None = None
    custom28: Field | None = None
    custom29: Field | None = None
    custom30: Field | None = None
    custom31: Field | None = None
    custom32: Field | None = None
    custom33: Field | None = None
    custom34: Field | None = None
    custom35: Field | None = None
    custom36: Field | None = None
    custom37: Field | None = None
    custom38: Field | None = None
    custom39: Field | None = None
    custom40: Field | None = None


class _EntryNumbers(msgspec.Struct):
    """What the document says of the entry's numbers, checked on the same bytes as :class:`EntryPost`.

    ``Decimal`` alone would also take ``"12.50"`` (a string, where the swagger says number);
    the floats only check type and range, the amounts kept are the exact Decimals.
    """

    TransactionAmount: Annotated[float, msgspec.Meta(gt=0, lt=AMOUNT_LIMIT)]
    ExchangeRate: Annotated[float, msgspec.Meta(ge=float(RATE_MIN), lt=RATE_LIMIT)] | None = None


class ExpenseBody(StrictBody[T]):
    """The kit's strict body, with the entry's numbers checked as JSON numbers in range."""

    forms: ClassVar[Mapping[Any, Any]] = {EntryPost: _EntryNumbers}


class CreateResponse(msgspec.Struct, kw_only=True):
    """Answer of a create (``#/definitions/CreateResponse``)."""

    id: str = msgspec.field(name="ID")
    """The new report's or entry's ID."""
    uri: str = msgspec.field(name="URI")
    """Where it is read."""


def _unprocessable(message: str) -> HTTPException:
    return HTTPException(status_code=422, detail=message)


def new_report(
    data: ReportPost, report_id: str, owner: User, approver: User | None, user_defined: datetime | None,
    now: datetime,
) -> ReportGet:
    """A new report of ``owner`` from ``data``: not submitted, not paid, no amounts yet.

    Raises:
        HTTPException: 422 when ``data`` goes against the owner's company, cost centers or
            policy, or sets ``Custom20``.
    """
    ledger = owner.ledger_code
    if data.org_unit1 is not None and data.org_unit1 != ledger:
        raise _unprocessable(f"OrgUnit1: {owner.login_id} files reports for company {ledger}, not {data.org_unit1}")
    cost_centers = [f"{owner.country_code}{department}" for department in DEPARTMENTS]
    cost_center = data.org_unit2 if data.org_unit2 is not None else owner.cost_center
    if data.org_unit2 is not None and data.org_unit2 not in cost_centers:
        raise _unprocessable(f"OrgUnit2: {data.org_unit2} is not a cost center of {owner.country_code}"
                             f" ({', '.join(cost_centers)})")
    policy = f"POL-{ledger}"
    if data.policy_id is not None and data.policy_id != policy:
        raise _unprocessable(f"PolicyID: {owner.login_id} files reports under policy {policy}")
    if data.custom20 is not None:
        raise _unprocessable("Custom20: the ERP document number is set when the report is posted")
    zero = Decimal(0)
    return ReportGet(
        id=report_id,
        name=data.name,
        total=zero,
        currency_code=owner.reimbursement_currency_code,
        country=owner.country_code,
        owner_login_id=owner.login_id,
        owner_name=f"{owner.first_name} {owner.last_name}",
        approver_login_id=approver.login_id if approver else None,
        approver_name=f"{approver.first_name} {approver.last_name}" if approver else None,
        approval_status_code="A_NOTF",
        approval_status_name=APPROVAL_NAMES["A_NOTF"],
        payment_status_code="P_NOTP",
        payment_status_name=PAYMENT_NAMES["P_NOTP"],
        create_date=now,
        user_defined_date=user_defined or now.replace(hour=0, minute=0, second=0, microsecond=0),
        last_modified_date=now,
        amount_due_employee=zero,
        amount_due_company_card=zero,
        total_claimed_amount=zero,
        total_approved_amount=zero,
        personal_amount=zero,
        last_comment=data.comment or None,
        ledger_name=f"{ledger} Ledger",
        policy_id=policy,
        org_unit1=CustomField(type="List", value=ledger, code=ledger),
        org_unit2=CustomField(type="List", value=cost_center, code=cost_center) if cost_center else None,
    )


def _quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-CURRENCY_DIGITS[currency])


def new_entry(data: EntryPost, entry_id: str, report: ReportGet, transaction_date: datetime, now: datetime) -> EntryGet:
    """A new entry of ``report`` from ``data``, its amount posted in the report currency.

    Raises:
        HTTPException: 422 for an amount with more decimals than its currency has, or a journey.
    """
    if data.journey is not None:
        raise _unprocessable("Journey: the site has no mileage expense type")
    currency = data.transaction_currency_code
    amount = data.transaction_amount
    if amount != amount.quantize(_quantum(currency)):
        digits = CURRENCY_DIGITS[currency]
        raise _unprocessable(f"TransactionAmount: {currency} amounts have {digits} decimals at most, not {amount}")
    amount = amount.quantize(_quantum(currency))
    report_currency = report.currency_code
    if currency == report_currency:
        rate = Decimal(1)
    elif data.exchange_rate is not None:
        rate = data.exchange_rate.quantize(RATE_MIN)
    else:
        rate = exchange_rate(currency, report_currency)
    posted = (amount * rate).quantize(_quantum(report_currency))
    name, category = EXPENSE_TYPES[data.expense_type_code]
    return EntryGet(
        id=entry_id,
        report_id=report.id,
        report_owner_id=report.owner_login_id,
        expense_type_code=data.expense_type_code,
        expense_type_name=name,
        spend_category_code=category,
        payment_type_id=data.payment_type_id,
        payment_type_name=PAYMENT_TYPES[data.payment_type_id],
        transaction_date=transaction_date,
        transaction_amount=amount,
        transaction_currency_code=currency,
        exchange_rate=rate,
        posted_amount=posted,
        approved_amount=Decimal(0) if data.is_personal else posted,
        vendor_description=data.vendor_description or None,
        description=data.description or None,
        is_personal=data.is_personal,
        is_billable=data.is_billable,
        last_modified=now,
    )


def with_totals(report: ReportGet, entries: list[EntryGet], now: datetime) -> ReportGet:
    """``report`` with its totals summed from ``entries`` (as the seed sums them)."""
    total = sum((e.posted_amount for e in entries), Decimal(0))
    personal = sum((e.posted_amount for e in entries if e.is_personal), Decimal(0))
    card = sum((e.posted_amount for e in entries if e.payment_type_id == "IBCP" and not e.is_personal), Decimal(0))
    return msgspec.structs.replace(
        report,
        total=total,
        amount_due_employee=total - personal - card,
        amount_due_company_card=card,
        total_claimed_amount=total - personal,
        total_approved_amount=total - personal,
        personal_amount=personal,
        last_modified_date=now,
    )
