"""The treasury sandbox's API: bank accounts, payment obligations, payment runs, bank confirmations.

State machine of an obligation: ``PENDING`` -> ``IN_RUN`` (put in a payment run) ->
``RELEASED`` (the run was released to the bank) -> ``PAID`` (the bank confirmed), or back to
``PENDING`` with ``lastRejection`` set when the bank rejects the run. A run (one company)
goes ``CREATED`` -> ``RELEASED`` -> ``CONFIRMED`` or ``REJECTED``.
A confirmation emits one ``payment.confirmed`` (or ``payment.rejected``) webhook per payment.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any

from litestar import Request, Response, Router, get, post, route
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody, PathParameter, QueryParameter
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from platforms.kit.app import SandboxState
from platforms.kit.bodies import StrictBody
from platforms.treasury.auth import require_token
from platforms.treasury.errors import ErrorDetail, KyribaError, exception_handlers
from platforms.treasury.query import DEFAULT_LIMIT, MAX_LIMIT, page, parse_filter, sort_documents
from platforms.treasury.resources import (
    MINOR_UNITS,
    BankConfirmationCreate,
    ObligationCreate,
    PaymentRunCreate,
    json_response,
    now,
)
from platforms.treasury.schemas import (
    BankAccountDoc,
    ConfirmationDoc,
    KyribaPage,
    ObligationDoc,
    PaymentRunDoc,
    error_specs,
)

__all__ = ["BASE", "api_router", "options_handlers"]

BASE = "/gateway/api/v1"
Sandbox = NamedDependency[SandboxState]
Uuid = Annotated[str, PathParameter(min_length=1, max_length=64)]
PageLimit = Annotated[int, QueryParameter(name="page.limit", ge=1, le=MAX_LIMIT, description="Page size.")]
PageOffset = Annotated[int, QueryParameter(name="page.offset", ge=0, le=10**9, description="Results to skip.")]
Filter = Annotated[str | None, QueryParameter(name="filter", max_length=2000, description=(
    "RSQL filter, e.g. `company.code==DE01;status=in=(PENDING,IN_RUN)`; a filter that does not parse, or"
    " names a field the resource does not filter on, is a 422."))]
Sort = Annotated[str | None, QueryParameter(max_length=200, description=(
    "Comma-separated fields, `-` prefix for descending; an unknown field is a 422."))]

ACCOUNT_FIELDS = ("uuid", "code", "description", "company.code", "currency.code", "bank.bic", "iban", "status")
OBLIGATION_FIELDS = ("uuid", "reference", "company.code", "bankAccount.code", "bankAccount.uuid", "currency.code",
                     "amount", "valueDate", "status", "paymentRun.uuid", "paymentRun.code", "beneficiary.name",
                     "creationDateTime", "lastModifiedDateTime")
RUN_FIELDS = ("uuid", "code", "reference", "company.code", "status", "executionDate", "creationDateTime")
CONFIRMATION_FIELDS = ("uuid", "paymentRun.uuid", "paymentRun.code", "result", "bankReference", "receivedDateTime")


def _list(request: Request[Any, Any, Any], docs: list[dict[str, Any]], fields: tuple[str, ...], limit: int,
          offset: int, filter_: str | None, sort: str | None) -> Response[bytes]:
    params = dict(request.query_params)
    selected = [doc for doc in docs if parse_filter(filter_, fields)(doc)]
    ordered = sort_documents(selected, sort, fields)
    return json_response(page(ordered, request.url.path, params, limit, offset))


def _ok(type_: Any, description: str) -> ResponseSpec:
    return ResponseSpec(type_, description=description, generate_examples=False)


def _allow(path: str, methods: str) -> Any:
    """An explicit OPTIONS answer for a path served by several handlers.

    Litestar's automatic one lists only the methods of the path's first handler.
    """
    @route(path, http_method="OPTIONS", include_in_schema=False, status_code=204, sync_to_thread=False,
           name=f"options:{path}")
    def options() -> Response[None]:
        return Response(None, status_code=204, headers={"Allow": methods})

    return options


def _get(sandbox: SandboxState, collection: str, id_: str, what: str) -> dict[str, Any]:
    doc = sandbox.store.get(collection, id_)
    if doc is None:
        raise KyribaError(404, f"no {what} with uuid {id_}", target="uuid")
    return doc


def _new_uuid(sandbox: SandboxState) -> str:
    return str(uuid.UUID(int=sandbox.rng.getrandbits(128), version=4))


# --- bank accounts -----------------------------------------------------------------------------

@get(f"{BASE}/bank-accounts", sync_to_thread=False,
     responses={200: _ok(KyribaPage[BankAccountDoc], "One page of the list."), **error_specs(422)})
def list_bank_accounts(request: Request[Any, Any, Any], sandbox: Sandbox, limit: PageLimit = DEFAULT_LIMIT,
                       offset: PageOffset = 0, filter_: Filter = None, sort: Sort = None) -> Response[bytes]:
    """Bank accounts (filter on ``company.code``, ``currency.code``, ``status``...)."""
    return _list(request, sandbox.store.all("bank_accounts"), ACCOUNT_FIELDS, limit, offset, filter_, sort)


@get(f"{BASE}/bank-accounts/{{uuid:str}}", sync_to_thread=False,
     responses={200: _ok(BankAccountDoc, "The bank account."), **error_specs(404)})
def get_bank_account(sandbox: Sandbox, uuid: Uuid) -> Response[bytes]:
    """One bank account."""
    return json_response(_get(sandbox, "bank_accounts", uuid, "bank account"))


# --- payment obligations -----------------------------------------------------------------------

def _account_for(sandbox: SandboxState, data: ObligationCreate) -> dict[str, Any]:
    ref = data.bankAccount
    if ref.uuid:
        account = sandbox.store.get("bank_accounts", ref.uuid)
    elif ref.code:
        found = sandbox.store.find("bank_accounts", code=ref.code)
        account = found[0] if found else None
    else:
        raise KyribaError(422, "bankAccount needs a code or a uuid", code="INVALID_REQUEST", target="bankAccount")
    if account is None:
        raise KyribaError(422, "the bank account does not exist", code="UNKNOWN_BANK_ACCOUNT", target="bankAccount")
    return account


def _validate_obligation(sandbox: SandboxState, data: ObligationCreate) -> dict[str, Any]:
    details: list[ErrorDetail] = []
    account = _account_for(sandbox, data)
    currency = data.currency.code
    places = MINOR_UNITS.get(currency)
    if places is None:
        details.append(ErrorDetail(code="UNKNOWN_CURRENCY", message=f"currency {currency} is not supported",
                                   target="currency.code"))
    if data.amount <= 0 or not data.amount.is_finite():
        details.append(ErrorDetail(code="INVALID_AMOUNT", message="amount must be positive", target="amount"))
    elif places is not None and -data.amount.as_tuple().exponent > places:  # type: ignore[operator]
        details.append(ErrorDetail(code="INVALID_AMOUNT", message=f"{currency} allows {places} decimals",
                                   target="amount"))
    if account["status"] != "OPENED":
        details.append(ErrorDetail(code="CLOSED_BANK_ACCOUNT", message="the bank account is closed",
                                   target="bankAccount"))
    if account["currency"]["code"] != currency:
        details.append(ErrorDetail(code="CURRENCY_MISMATCH", target="currency.code",
                                   message=f"the bank account holds {account['currency']['code']}"))
    if account["company"]["code"] != data.company.code:
        details.append(ErrorDetail(code="COMPANY_MISMATCH", target="company.code",
                                   message=f"the bank account belongs to {account['company']['code']}"))
    beneficiary = data.beneficiary
    if beneficiary.iban is None and beneficiary.accountNumber is None:
        details.append(ErrorDetail(code="MISSING_ACCOUNT", message="give an iban or an accountNumber",
                                   target="beneficiary"))
    try:
        if beneficiary.iban is not None:
            IBAN(beneficiary.iban)
    except SchwiftyException as exc:
        details.append(ErrorDetail(code="INVALID_IBAN", message=str(exc), target="beneficiary.iban"))
    try:
        if beneficiary.bic is not None:
            BIC(beneficiary.bic)
    except SchwiftyException as exc:
        details.append(ErrorDetail(code="INVALID_BIC", message=str(exc), target="beneficiary.bic"))
    if details:
        raise KyribaError(422, "the payment obligation is not valid", code="INVALID_REQUEST", details=details)
    return account


@get(f"{BASE}/payment-obligations", sync_to_thread=False,
     responses={200: _ok(KyribaPage[ObligationDoc], "One page of the list."), **error_specs(422)})
def list_obligations(request: Request[Any, Any, Any], sandbox: Sandbox, limit: PageLimit = DEFAULT_LIMIT,
                     offset: PageOffset = 0, filter_: Filter = None, sort: Sort = None) -> Response[bytes]:
    """Payment obligations (filter on ``reference``, ``status``, ``valueDate``, ``amount``...)."""
    return _list(request, sandbox.store.all("obligations"), OBLIGATION_FIELDS, limit, offset, filter_, sort)


@get(f"{BASE}/payment-obligations/{{uuid:str}}", sync_to_thread=False,
     responses={200: _ok(ObligationDoc, "The payment obligation."), **error_specs(404)})
def get_obligation(sandbox: Sandbox, uuid: Uuid) -> Response[bytes]:
    """One payment obligation with its status."""
    return json_response(_get(sandbox, "obligations", uuid, "payment obligation"))


@post(f"{BASE}/payment-obligations", sync_to_thread=False,
      responses={201: _ok(ObligationDoc, "The obligation, PENDING."), **error_specs(409, 422)},
      dto=StrictBody[ObligationCreate], return_dto=None)
def create_obligation(sandbox: Sandbox, data: JSONBody[ObligationCreate]) -> Response[bytes]:
    """Record a payment obligation; its ``reference`` is unique (a second create is a 409)."""
    account = _validate_obligation(sandbox, data)
    if sandbox.store.find("obligations", reference=data.reference):
        raise KyribaError(409, f"a payment obligation with reference {data.reference} exists",
                          code="DUPLICATE_REFERENCE", target="reference")
    stamp = now()
    doc: dict[str, Any] = {
        "uuid": _new_uuid(sandbox),
        "reference": data.reference,
        "company": {"code": data.company.code},
        "bankAccount": {"uuid": account["uuid"], "code": account["code"]},
        "beneficiary": {k: v for k, v in {
            "name": data.beneficiary.name, "code": data.beneficiary.code, "iban": data.beneficiary.iban,
            "accountNumber": data.beneficiary.accountNumber, "bankCode": data.beneficiary.bankCode,
            "bic": data.beneficiary.bic, "countryCode": data.beneficiary.countryCode}.items() if v is not None},
        "amount": str(data.amount),
        "currency": {"code": data.currency.code},
        "valueDate": data.valueDate.isoformat(),
        "description": data.description,
        "remittanceInformation": data.remittanceInformation,
        "status": "PENDING",
        "paymentRun": None,
        "bankReference": None,
        "creationDateTime": stamp,
        "lastModifiedDateTime": stamp,
    }
    sandbox.store.put("obligations", doc["uuid"], doc)
    return json_response(doc, 201)


# --- payment runs ------------------------------------------------------------------------------

def _set_obligations(sandbox: SandboxState, run: dict[str, Any], status: str, **extra: Any) -> list[dict[str, Any]]:
    changed = []
    stamp = now()
    for obligation_id in run["obligations"]:
        obligation = sandbox.store.get("obligations", obligation_id)
        if obligation is None:  # pragma: no cover - obligations are never deleted
            continue
        obligation.update(status=status, lastModifiedDateTime=stamp, **extra)
        sandbox.store.put("obligations", obligation_id, obligation)
        changed.append(obligation)
    return changed


@get(f"{BASE}/payment-runs", sync_to_thread=False,
     responses={200: _ok(KyribaPage[PaymentRunDoc], "One page of the list."), **error_specs(422)})
def list_runs(request: Request[Any, Any, Any], sandbox: Sandbox, limit: PageLimit = DEFAULT_LIMIT,
              offset: PageOffset = 0, filter_: Filter = None, sort: Sort = None) -> Response[bytes]:
    """Payment runs (filter on ``reference``, ``status``, ``code``...)."""
    return _list(request, sandbox.store.all("payment_runs"), RUN_FIELDS, limit, offset, filter_, sort)


@get(f"{BASE}/payment-runs/{{uuid:str}}", sync_to_thread=False,
     responses={200: _ok(PaymentRunDoc, "The payment run."), **error_specs(404)})
def get_run(sandbox: Sandbox, uuid: Uuid) -> Response[bytes]:
    """One payment run."""
    return json_response(_get(sandbox, "payment_runs", uuid, "payment run"))


@post(f"{BASE}/payment-runs", sync_to_thread=False,
      responses={201: _ok(PaymentRunDoc, "The run, CREATED."), **error_specs(409, 422)},
      dto=StrictBody[PaymentRunCreate], return_dto=None)
def create_run(sandbox: Sandbox, data: JSONBody[PaymentRunCreate]) -> Response[bytes]:
    """Bundle PENDING obligations into a run; each obligation becomes IN_RUN."""
    if data.reference and sandbox.store.find("payment_runs", reference=data.reference):
        raise KyribaError(409, f"a payment run with reference {data.reference} exists",
                          code="DUPLICATE_REFERENCE", target="reference")
    details: list[ErrorDetail] = []
    obligations: list[dict[str, Any]] = []
    for index, obligation_id in enumerate(dict.fromkeys(data.obligations)):
        obligation = sandbox.store.get("obligations", obligation_id)
        if obligation is None:
            details.append(ErrorDetail(code="UNKNOWN_OBLIGATION", target=f"obligations[{index}]",
                                       message=f"no payment obligation {obligation_id}"))
        elif obligation["status"] != "PENDING":
            details.append(ErrorDetail(code="INVALID_STATUS", target=f"obligations[{index}]",
                                       message=f"payment obligation {obligation_id} is {obligation['status']}"))
        else:
            obligations.append(obligation)
    if details:
        status = 422 if any(d.code == "UNKNOWN_OBLIGATION" for d in details) else 409
        raise KyribaError(status, "the payment run cannot be created", code="INVALID_OBLIGATIONS", details=details)
    companies = sorted({o["company"]["code"] for o in obligations})
    if len(companies) > 1:
        raise KyribaError(422, f"a payment run pays for one company; got {', '.join(companies)}",
                          code="MIXED_COMPANIES", target="obligations")
    totals: dict[str, Decimal] = {}
    for obligation in obligations:
        code = obligation["currency"]["code"]
        totals[code] = totals.get(code, Decimal(0)) + Decimal(obligation["amount"])
    number = sandbox.store.next_number("payment_run", 1)
    run: dict[str, Any] = {
        "uuid": _new_uuid(sandbox),
        "code": f"PR{number:06d}",
        "reference": data.reference,
        "company": {"code": companies[0]},
        "status": "CREATED",
        "executionDate": (data.executionDate or min(o["valueDate"] for o in obligations)).__str__(),
        "obligations": [o["uuid"] for o in obligations],
        "numberOfPayments": len(obligations),
        "totals": [{"currency": {"code": c}, "amount": str(a)} for c, a in sorted(totals.items())],
        "creationDateTime": now(),
        "releaseDateTime": None,
        "confirmationDateTime": None,
    }
    sandbox.store.put("payment_runs", run["uuid"], run)
    _set_obligations(sandbox, run, "IN_RUN", paymentRun={"uuid": run["uuid"], "code": run["code"]})
    return json_response(run, 201)


@post(f"{BASE}/payment-runs/{{uuid:str}}/release", status_code=200, sync_to_thread=False,
      responses={200: _ok(PaymentRunDoc, "The run, RELEASED."), **error_specs(404, 409)})
def release_run(sandbox: Sandbox, uuid: Uuid) -> Response[bytes]:
    """Release a CREATED run to the bank; its obligations become RELEASED."""
    run = _get(sandbox, "payment_runs", uuid, "payment run")
    if run["status"] != "CREATED":
        raise KyribaError(409, f"payment run {run['code']} is {run['status']}; only CREATED runs can be released",
                          code="INVALID_STATUS", target="status")
    run.update(status="RELEASED", releaseDateTime=now())
    sandbox.store.put("payment_runs", uuid, run)
    _set_obligations(sandbox, run, "RELEASED")
    return json_response(run)


# --- bank confirmations ------------------------------------------------------------------------

@get(f"{BASE}/bank-confirmations", sync_to_thread=False,
     responses={200: _ok(KyribaPage[ConfirmationDoc], "One page of the list."), **error_specs(422)})
def list_confirmations(request: Request[Any, Any, Any], sandbox: Sandbox, limit: PageLimit = DEFAULT_LIMIT,
                       offset: PageOffset = 0, filter_: Filter = None, sort: Sort = None) -> Response[bytes]:
    """Bank confirmations received."""
    return _list(request, sandbox.store.all("bank_confirmations"), CONFIRMATION_FIELDS, limit, offset, filter_, sort)


@post(f"{BASE}/bank-confirmations", sync_to_thread=False,
      responses={201: _ok(ConfirmationDoc, "The confirmation; the run is CONFIRMED or REJECTED."),
                 **error_specs(409, 422)},
      dto=StrictBody[BankConfirmationCreate], return_dto=None)
def create_confirmation(sandbox: Sandbox, data: JSONBody[BankConfirmationCreate]) -> Response[bytes]:
    """The bank confirms (or rejects) a RELEASED run; one webhook per payment follows."""
    run = sandbox.store.get("payment_runs", data.paymentRun)
    if run is None:
        raise KyribaError(422, f"no payment run {data.paymentRun}", code="UNKNOWN_PAYMENT_RUN", target="paymentRun")
    if run["status"] != "RELEASED":
        raise KyribaError(409, f"payment run {run['code']} is {run['status']}; only RELEASED runs are confirmed",
                          code="INVALID_STATUS", target="paymentRun")
    stamp = now()
    confirmation: dict[str, Any] = {
        "uuid": _new_uuid(sandbox),
        "paymentRun": {"uuid": run["uuid"], "code": run["code"]},
        "result": data.result,
        "bankReference": data.bankReference or f"BNK{sandbox.store.next_number('bank_reference', 1):08d}",
        "receivedDateTime": stamp,
    }
    sandbox.store.put("bank_confirmations", confirmation["uuid"], confirmation)
    accepted = data.result == "ACCEPTED"
    run.update(status="CONFIRMED" if accepted else "REJECTED", confirmationDateTime=stamp)
    sandbox.store.put("payment_runs", run["uuid"], run)
    if accepted:
        payments = _set_obligations(sandbox, run, "PAID", bankReference=confirmation["bankReference"])
    else:  # a rejected payment is owed again: back to the pool, with the rejection noted
        rejection = {"bankReference": confirmation["bankReference"], "paymentRun": confirmation["paymentRun"],
                     "dateTime": stamp}
        payments = _set_obligations(sandbox, run, "PENDING", paymentRun=None, lastRejection=rejection)
    event = "payment.confirmed" if accepted else "payment.rejected"
    for payment in payments:
        sandbox.emit(event, {"confirmation": confirmation["uuid"], "paymentRun": confirmation["paymentRun"],
                             "payment": payment})
    return json_response(confirmation, 201)


def options_handlers() -> list[Any]:
    """OPTIONS answers of the paths with several methods (the guard lets them through: they only list methods)."""
    return [_allow(f"{BASE}/{path}", "GET, OPTIONS, POST")
            for path in ("payment-obligations", "payment-runs", "bank-confirmations")]


def api_router() -> Router:
    """Every treasury API route, behind the bearer-token guard and with Kyriba errors."""
    return Router(
        path="/",
        route_handlers=[*options_handlers(), list_bank_accounts, get_bank_account, list_obligations, get_obligation,
                        create_obligation,
                        list_runs, get_run, create_run, release_run, list_confirmations, create_confirmation],
        guards=[require_token],
        exception_handlers=exception_handlers,
    )
