"""What the treasury sandbox answers, as Structs: the OpenAPI document's response schemas.

Handlers render stored documents directly (amounts as JSON numbers, see
:mod:`platforms.treasury.resources`); these Structs only describe those answers so the
sandbox's document is true and a contract tester can hold the sandbox to it. Fields the
sandbox may leave out or send as ``null`` are optional and nullable here.
"""

from __future__ import annotations

import datetime as dt
from typing import Generic, Literal, TypeVar

import msgspec
from litestar.openapi import ResponseSpec

from platforms.treasury.resources import JsonNumber

__all__ = [
    "BankAccountDoc",
    "ConfirmationDoc",
    "ErrorBody",
    "KyribaPage",
    "OAuthError",
    "ObligationDoc",
    "PaymentRunDoc",
    "TokenAnswer",
    "error_specs",
]

T = TypeVar("T")


class ErrorDetailDoc(msgspec.Struct, frozen=True):
    """One detail of an error, usually one invalid field."""

    code: str
    message: str
    target: str | None = None


class ErrorInfo(msgspec.Struct, frozen=True):
    """Kyriba's error object."""

    code: str
    message: str
    target: str | None = None
    details: list[ErrorDetailDoc] = msgspec.field(default_factory=list)


class ErrorBody(msgspec.Struct, frozen=True):
    """Every error of the sandbox: ``{"error": {...}}``."""

    error: ErrorInfo


class OAuthError(msgspec.Struct, frozen=True):
    """An error of the token endpoint, in RFC 6749's own shape."""

    error: str
    error_description: str


class TokenAnswer(msgspec.Struct, frozen=True):
    """A client-credentials access token."""

    access_token: str
    token_type: str
    expires_in: int
    scope: str


class Links(msgspec.Struct, frozen=True):
    """Links of a page: this one, and the next and previous pages when there are some."""

    self_: str = msgspec.field(name="self")
    next: str | None = None
    previous: str | None = None


class Metadata(msgspec.Struct, frozen=True):
    """Kyriba's page metadata."""

    numberOfTotalResults: int  # noqa: N815 - vendor field
    pageLimit: int  # noqa: N815 - vendor field
    pageOffset: int  # noqa: N815 - vendor field
    links: Links


class KyribaPage(msgspec.Struct, Generic[T], frozen=True):
    """One page of a list."""

    metadata: Metadata
    results: list[T]


class CodeDoc(msgspec.Struct, frozen=True):
    """A reference to another object by code."""

    code: str
    name: str | None = None


class ObjectRef(msgspec.Struct, frozen=True):
    """A reference to another object by uuid and code."""

    uuid: str
    code: str | None = None


class BankDoc(msgspec.Struct, frozen=True):
    """The bank holding an account."""

    code: str | None = None
    bic: str | None = None
    name: str | None = None


class BalanceDoc(msgspec.Struct, frozen=True):
    """Latest known balance of an account."""

    amount: JsonNumber
    date: dt.date | None = None


class BankAccountDoc(msgspec.Struct, frozen=True):
    """One of the company's own bank accounts."""

    uuid: str
    code: str
    company: CodeDoc
    currency: CodeDoc
    status: str
    description: str | None = None
    bank: BankDoc | None = None
    iban: str | None = None
    accountNumber: str | None = None  # noqa: N815 - vendor field
    countryCode: str | None = None  # noqa: N815 - vendor field
    balance: BalanceDoc | None = None


class BeneficiaryDoc(msgspec.Struct, frozen=True):
    """Who receives a payment."""

    name: str
    code: str | None = None
    iban: str | None = None
    accountNumber: str | None = None  # noqa: N815 - vendor field
    bankCode: str | None = None  # noqa: N815 - vendor field
    bic: str | None = None
    countryCode: str | None = None  # noqa: N815 - vendor field


class RejectionDoc(msgspec.Struct, frozen=True):
    """The bank's last rejection of an obligation's payment."""

    bankReference: str  # noqa: N815 - vendor field
    paymentRun: ObjectRef  # noqa: N815 - vendor field
    dateTime: str  # noqa: N815 - vendor field


class ObligationDoc(msgspec.Struct, frozen=True):
    """A payment obligation."""

    uuid: str
    reference: str
    company: CodeDoc
    bankAccount: ObjectRef  # noqa: N815 - vendor field
    beneficiary: BeneficiaryDoc
    amount: JsonNumber
    currency: CodeDoc
    valueDate: dt.date  # noqa: N815 - vendor field
    status: Literal["PENDING", "IN_RUN", "RELEASED", "PAID"]
    creationDateTime: str  # noqa: N815 - vendor field
    lastModifiedDateTime: str  # noqa: N815 - vendor field
    description: str | None = None
    remittanceInformation: str | None = None  # noqa: N815 - vendor field
    paymentRun: ObjectRef | None = None  # noqa: N815 - vendor field
    bankReference: str | None = None  # noqa: N815 - vendor field
    lastRejection: RejectionDoc | None = None  # noqa: N815 - vendor field


class TotalDoc(msgspec.Struct, frozen=True):
    """Total of a run in one currency."""

    currency: CodeDoc
    amount: JsonNumber


class PaymentRunDoc(msgspec.Struct, frozen=True):
    """A payment run."""

    uuid: str
    code: str
    company: CodeDoc
    status: Literal["CREATED", "RELEASED", "CONFIRMED", "REJECTED"]
    executionDate: dt.date  # noqa: N815 - vendor field
    obligations: list[str]
    numberOfPayments: int  # noqa: N815 - vendor field
    totals: list[TotalDoc]
    creationDateTime: str  # noqa: N815 - vendor field
    reference: str | None = None
    releaseDateTime: str | None = None  # noqa: N815 - vendor field
    confirmationDateTime: str | None = None  # noqa: N815 - vendor field


class ConfirmationDoc(msgspec.Struct, frozen=True):
    """The bank's answer to a released run."""

    uuid: str
    paymentRun: ObjectRef  # noqa: N815 - vendor field
    result: Literal["ACCEPTED", "REJECTED"]
    bankReference: str  # noqa: N815 - vendor field
    receivedDateTime: str  # noqa: N815 - vendor field


_ERRORS = {
    400: "The request is malformed: a parameter or the body does not match this document.",
    401: "No bearer token, or an invalid or expired one.",
    404: "No object with this uuid.",
    409: "The object's state forbids the change, or its reference exists already.",
    422: "Well-formed, but a business rule refuses it (unknown account or obligation, bad IBAN, decimals...).",
    429: "Too many requests (the sandbox's throttling fault); retry after Retry-After seconds.",
    500: "The platform failed (the sandbox's error fault).",
    503: "The platform is in maintenance (the sandbox's maintenance fault).",
}


def error_specs(*statuses: int) -> dict[int, ResponseSpec]:
    """Response specs of the given statuses plus those any API call may answer (400, 401, 429, 500, 503)."""
    wanted = sorted({400, 401, 429, 500, 503, *statuses})
    return {status: ResponseSpec(ErrorBody, description=_ERRORS[status], generate_examples=False)
            for status in wanted}
