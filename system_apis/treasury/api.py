"""Treasury system API ``/system/treasury/v1``: payment obligations, payment runs, cash accounts.

Canonical objects in and out, whatever treasury platform is behind the connector. Creates and
releases need an ``Idempotency-Key``; the connector derives the platform's external reference
from it, so a create retried after a platform timeout is found instead of made twice. Each
change is audited with before and after once the platform confirmed it.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Request, Router, get, post
from litestar.di import NamedDependency, Provide
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody, PathParameter, QueryParameter

from policies.call import current_call, governed
from policies.problems import problem_spec
from policies.services import PolicyServices
from system_apis.canonical import (
    CashAccount,
    CompanyCode,
    CurrencyCode,
    Page,
    PaymentObligation,
    PaymentObligationDraft,
    PaymentObligationStatus,
    PaymentRun,
)
from system_apis.connectors.kit import PlatformError, call_reference
from system_apis.connectors.treasury import TreasuryConnector
from system_apis.paging import Cursor, Limit, list_errors

__all__ = ["PREFIX", "SCOPES", "SUMMARY", "PaymentRunRequest", "routes"]

PREFIX = "/system/treasury/v1"
SUMMARY = "Payment obligations, payment runs and cash accounts of the treasury platform, as canonical objects."
SCOPES = {
    "treasury:obligations:read": "List payment obligations and read their status.",
    "treasury:obligations:write": "Create payment obligations.",
    "treasury:runs:read": "Read payment runs.",
    "treasury:runs:write": "Create payment runs and release them to the bank.",
    "treasury:accounts:read": "List the company's own bank (cash) accounts.",
}

Connector = NamedDependency[TreasuryConnector]
Services = NamedDependency[PolicyServices]
Id = Annotated[
    str,
    PathParameter(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="Id of the object in the treasury platform.",
    ),
]


def _problem(status: int, text: str) -> ResponseSpec:
    return problem_spec(text)


PLATFORM_ERRORS = {
    502: _problem(502, "The treasury platform answered something malformed, or refused our credentials."),
    503: _problem(503, "The treasury platform is unavailable (maintenance, throttling, circuit open)."),
    504: _problem(504, "The treasury platform did not answer in time."),
}
LIST_ERRORS = list_errors(PLATFORM_ERRORS)


class PaymentRunRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A payment run to create from open obligations of one entity."""

    obligation_ids: Annotated[list[str], msgspec.Meta(min_length=1, max_length=500)]
    """Obligations to pay in the run (all ``open``, all of one entity); an unknown id is a 422."""
    run_date: dt.date | None = None
    """Execution date; the earliest due date of the obligations when left out."""


def routes(connector: TreasuryConnector) -> list[Router]:
    """The API's handlers in one router, with ``connector`` as their dependency."""

    @post(
        "/payment-obligations",
        status_code=201,
        responses=PLATFORM_ERRORS,
        opt=governed("treasury:obligations:write", effect=True, operation="create_payment_obligation"),
    )
    async def create_obligation(
        request: Request[Any, Any, Any],
        services: Services,
        connector: Connector,
        data: JSONBody[PaymentObligationDraft],
    ) -> PaymentObligation:
        """Record an amount owed to a payee, to be paid by treasury."""
        call = current_call(request.scope)
        try:
            obligation = await connector.create_obligation(
                data, external_reference=call_reference(call, "treasury", "obligation", length=24)
            )
        except PlatformError as exc:
            raise exc.problem() from exc
        await services.audit.record_remote_change(
            call, resource_ids={"obligation_id": obligation.id}, before=None, after=obligation, outcome=201
        )
        return obligation

    @get(
        "/payment-obligations",
        responses=LIST_ERRORS,
        opt=governed("treasury:obligations:read", operation="list_payment_obligations"),
    )
    async def list_obligations(
        connector: Connector,
        status: Annotated[PaymentObligationStatus | None, QueryParameter(description="Only this status.")] = None,
        company_code: Annotated[CompanyCode | None, QueryParameter(description="Only this entity.")] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[PaymentObligation]:
        """Payment obligations, oldest first, one page at a time."""
        try:
            return await connector.list_obligations(
                status=status, company_code=company_code, cursor=cursor, limit=limit
            )
        except PlatformError as exc:
            raise exc.problem() from exc

    @get(
        "/payment-obligations/{obligation_id:str}",
        responses=PLATFORM_ERRORS,
        opt=governed("treasury:obligations:read", operation="get_payment_obligation"),
    )
    async def get_obligation(
        request: Request[Any, Any, Any], connector: Connector, obligation_id: Id
    ) -> PaymentObligation:
        """One payment obligation with its current status."""
        current_call(request.scope).resource_ids["obligation_id"] = obligation_id
        try:
            return await connector.get_obligation(obligation_id)
        except PlatformError as exc:
            raise exc.problem() from exc

    @post(
        "/payment-runs",
        status_code=201,
        responses=PLATFORM_ERRORS,
        opt=governed("treasury:runs:write", effect=True, operation="create_payment_run"),
    )
    async def create_run(
        request: Request[Any, Any, Any], services: Services, connector: Connector, data: JSONBody[PaymentRunRequest]
    ) -> PaymentRun:
        """Put open obligations of one entity into a payment run (status ``draft``)."""
        call = current_call(request.scope)
        try:
            run = await connector.create_payment_run(
                list(data.obligation_ids),
                run_date=data.run_date,
                external_reference=call_reference(call, "treasury", "run", length=24),
            )
        except PlatformError as exc:
            raise exc.problem() from exc
        await services.audit.record_remote_change(
            call, resource_ids={"payment_run_id": run.id}, before=None, after=run, outcome=201
        )
        return run

    @get(
        "/payment-runs/{run_id:str}",
        responses=PLATFORM_ERRORS,
        opt=governed("treasury:runs:read", operation="get_payment_run"),
    )
    async def get_run(request: Request[Any, Any, Any], connector: Connector, run_id: Id) -> PaymentRun:
        """One payment run."""
        current_call(request.scope).resource_ids["payment_run_id"] = run_id
        try:
            return await connector.get_payment_run(run_id)
        except PlatformError as exc:
            raise exc.problem() from exc

    @post(
        "/payment-runs/{run_id:str}/release",
        status_code=200,
        responses=PLATFORM_ERRORS,
        opt=governed("treasury:runs:write", effect=True, operation="release_payment_run"),
    )
    async def release_run(
        request: Request[Any, Any, Any], services: Services, connector: Connector, run_id: Id
    ) -> PaymentRun:
        """Release a draft run to the bank (status ``sent``)."""
        call = current_call(request.scope)
        call.resource_ids["payment_run_id"] = run_id
        try:
            before = await connector.get_payment_run(run_id)
            after = await connector.release_payment_run(run_id)
        except PlatformError as exc:
            raise exc.problem() from exc
        await services.audit.record_remote_change(
            call, resource_ids={"payment_run_id": run_id}, before=before, after=after, outcome=200
        )
        return after

    @get("/accounts", responses=LIST_ERRORS, opt=governed("treasury:accounts:read", operation="list_accounts"))
    async def list_accounts(
        connector: Connector,
        company_code: Annotated[CompanyCode | None, QueryParameter(description="Only this entity.")] = None,
        currency: Annotated[CurrencyCode | None, QueryParameter(description="Only this currency.")] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[CashAccount]:
        """The company's own bank accounts with their latest balance."""
        try:
            return await connector.list_accounts(
                company_code=company_code, currency=currency, cursor=cursor, limit=limit
            )
        except PlatformError as exc:
            raise exc.problem() from exc

    return [
        Router(
            path=PREFIX,
            route_handlers=[
                create_obligation,
                list_obligations,
                get_obligation,
                create_run,
                get_run,
                release_run,
                list_accounts,
            ],
            dependencies={"connector": Provide(lambda: connector, use_cache=True, sync_to_thread=False)},
        )
    ]
