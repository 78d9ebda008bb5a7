"""Request bodies and rendering of the treasury sandbox (Kyriba-like wire format).

Documents live in the store with amounts as decimal strings; answers render amounts as JSON
numbers, as Kyriba does, encoded from :class:`~decimal.Decimal` so no binary float rounding
ever touches them. The handlers decode bodies strictly with the kit's
:class:`~platforms.kit.bodies.StrictBody` (a 400 in Kyriba's shape names the field); an amount
is read from a JSON number or a decimal string.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
from litestar import Response

__all__ = [
    "MINOR_UNITS",
    "BankConfirmationCreate",
    "Beneficiary",
    "CodeRef",
    "JsonNumber",
    "ObligationCreate",
    "PaymentRunCreate",
    "json_response",
    "now",
]

MINOR_UNITS = {"USD": 2, "EUR": 2, "GBP": 2, "CHF": 2, "JPY": 0, "BHD": 3, "KWD": 3}
"""Decimal places each currency the sandbox accepts allows."""

_encoder = msgspec.json.Encoder(decimal_format="number")
_AMOUNT_FIELDS = ("amount",)

JsonNumber = Annotated[Decimal, msgspec.Meta(extra_json_schema={"extra": {"type": "number"}})]
"""An amount as Kyriba sends it: a JSON number (read and written as a Decimal, never a binary float)."""

Reference = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:/-]+$")]


class CodeRef(msgspec.Struct, frozen=True):
    """A reference to another object by code (Kyriba references objects by code or uuid)."""

    code: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class AccountRef(msgspec.Struct, frozen=True, omit_defaults=True):
    """A bank account by code or uuid."""

    code: str | None = None
    uuid: str | None = None


class Beneficiary(msgspec.Struct, frozen=True, omit_defaults=True):
    """Who receives the payment."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=140)]
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    iban: Annotated[str, msgspec.Meta(max_length=34)] | None = None
    accountNumber: Annotated[str, msgspec.Meta(max_length=34)] | None = None  # noqa: N815 - vendor field
    bankCode: Annotated[str, msgspec.Meta(max_length=34)] | None = None  # noqa: N815 - vendor field
    bic: Annotated[str, msgspec.Meta(min_length=8, max_length=11)] | None = None
    countryCode: Annotated[str, msgspec.Meta(min_length=2, max_length=2)] | None = None  # noqa: N815


class ObligationCreate(msgspec.Struct, frozen=True, omit_defaults=True):
    """``POST /payment-obligations``: a payment the company owes and wants the bank to make."""

    reference: Reference
    company: CodeRef
    bankAccount: AccountRef  # noqa: N815 - vendor field
    beneficiary: Beneficiary
    amount: JsonNumber
    currency: CodeRef
    valueDate: dt.date  # noqa: N815 - vendor field
    description: Annotated[str, msgspec.Meta(max_length=140)] | None = None
    remittanceInformation: Annotated[str, msgspec.Meta(max_length=140)] | None = None  # noqa: N815


class PaymentRunCreate(msgspec.Struct, frozen=True, omit_defaults=True):
    """``POST /payment-runs``: bundle pending obligations for release to the bank."""

    obligations: Annotated[list[str], msgspec.Meta(min_length=1, max_length=500)]
    reference: Reference | None = None
    executionDate: dt.date | None = None  # noqa: N815 - vendor field


class BankConfirmationCreate(msgspec.Struct, frozen=True, omit_defaults=True):
    """``POST /bank-confirmations``: the bank's answer to a released run (what a bank file would say)."""

    paymentRun: str  # noqa: N815 - vendor field
    result: Literal["ACCEPTED", "REJECTED"] = "ACCEPTED"
    bankReference: Annotated[str, msgspec.Meta(max_length=64)] | None = None  # noqa: N815


def _render(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: Decimal(v) if k in _AMOUNT_FIELDS and isinstance(v, str) else _render(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v) for v in value]
    return value


def json_response(content: Any, status: int = 200) -> Response[bytes]:
    """A JSON answer with stored decimal strings rendered as JSON numbers."""
    return Response(_encoder.encode(_render(content)), status_code=status, media_type="application/json")


def now() -> str:
    """The current UTC time as Kyriba writes it (ISO 8601, milliseconds, ``Z``)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
