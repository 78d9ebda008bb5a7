"""The treasury connector: canonical objects in, Kyriba-like calls out, canonical objects back.

Authentication is OAuth2 client credentials (``/gateway/oauth/token`` unless the connection
names another token path). Lists page with ``page.offset``/``page.limit``; the opaque cursor
handed to callers carries the offset and the filters it was made for. Creates carry a
deterministic external reference (Kyriba's ``reference``) and go through
:meth:`PlatformClient.create_once`, so a create whose answer timed out is looked up before it
is sent again, and a ``DUPLICATE_REFERENCE`` answer resolves to the object that exists.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, TypeVar

import httpx

from policies.problems import Problem
from system_apis.canonical import (
    CashAccount,
    Page,
    PaymentObligation,
    PaymentObligationDraft,
    PaymentObligationStatus,
    PaymentRun,
    decode_cursor,
    encode_cursor,
)
from system_apis.connectors.kit import (
    ConnectionConfig,
    MalformedAnswer,
    OAuth2ClientCredentials,
    PlatformClient,
    PlatformRejected,
)
from system_apis.connectors.treasury import mapping, wire

__all__ = ["API", "DEFAULT_TOKEN_PATH", "TreasuryConnector"]

API = "/gateway/api/v1"
DEFAULT_TOKEN_PATH = "/gateway/oauth/token"  # noqa: S105 - a path, not a secret

W = TypeVar("W")
C = TypeVar("C")


class TreasuryConnector:
    """Talks to the treasury platform for the treasury system API.

    Args:
        config: Connection settings; ``client_id``/``client_secret`` authenticate (OAuth2).
        transport: ``httpx.ASGITransport(app=sandbox)`` in embedded mode, ``None`` for the network.
    """

    name = "treasury"

    def __init__(self, config: ConnectionConfig, transport: httpx.AsyncBaseTransport | None = None) -> None:
        auth: httpx.Auth | None = None
        if config.client_id and config.client_secret:
            token_path = config.token_path or DEFAULT_TOKEN_PATH
            auth = _ReadingAuth(OAuth2ClientCredentials(token_path, config.client_id, config.client_secret,
                                                        config.scopes, platform=self.name))
        self.http = PlatformClient(self.name, config, transport=transport, auth=auth)
        self._accounts: dict[tuple[str, str], str] = {}

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.http.aclose()

    # --- plumbing --------------------------------------------------------------------------

    def _map(self, convert: Callable[[W], C], value: W) -> C:
        try:
            return convert(value)
        except ValueError as exc:  # the platform's data breaks a canonical rule
            raise MalformedAnswer(f"the platform's data is not valid: {exc}", platform=self.name) from exc

    async def _page(self, path: str, type_: type[wire.PageOf[W]], convert: Callable[[W], C], *,
                    filters: dict[str, str], cursor: str | None, limit: int, sort: str) -> Page[C]:
        offset = _offset(cursor, filters)
        params = {"page.limit": str(limit), "page.offset": str(offset), "sort": sort}
        rsql = ";".join(f"{k}{v}" for k, v in sorted(filters.items()))
        if rsql:
            params["filter"] = rsql
        answer = self.http.decode(await self.http.request("GET", f"{API}/{path}", params=params), type_)
        items = [self._map(convert, item) for item in answer.results]
        following = offset + len(answer.results)
        more = following < answer.metadata.number_of_total_results and bool(answer.results)
        return Page(items=items, next_cursor=encode_cursor({"o": following, "f": filters}) if more else None)

    async def _one(self, path: str, type_: type[W], convert: Callable[[W], C]) -> C:
        return self._map(convert, self.http.decode(await self.http.request("GET", f"{API}/{path}"), type_))

    async def _find(self, path: str, type_: type[wire.PageOf[W]], reference: str) -> W | None:
        params = {"filter": f"reference=={_quote(reference)}", "page.limit": "1"}
        answer = self.http.decode(await self.http.request("GET", f"{API}/{path}", params=params), type_)
        return answer.results[0] if answer.results else None

    async def _create_once(self, path: str, body: Any, type_: type[W], find: Callable[[], Awaitable[W | None]]) -> W:
        async def create() -> W:
            try:
                response = await self.http.request("POST", f"{API}/{path}", json=body, retry=False)
            except PlatformRejected as exc:
                if exc.code == "DUPLICATE_REFERENCE":  # sent before, answer lost: it exists
                    found = await find()
                    if found is not None:
                        return found
                raise
            return self.http.decode(response, type_)

        return await self.http.create_once(create, find)

    # --- accounts --------------------------------------------------------------------------

    async def list_accounts(self, *, company_code: str | None = None, currency: str | None = None,
                            cursor: str | None = None, limit: int = 50) -> Page[CashAccount]:
        """The company's own bank accounts, by code."""
        filters = {k: f"=={_quote(v)}" for k, v in (("company.code", company_code), ("currency.code", currency))
                   if v is not None}
        return await self._page("bank-accounts", wire.PageOf[wire.WireBankAccount], mapping.account_to_canonical,
                                filters=filters, cursor=cursor, limit=limit, sort="code")

    async def _paying_account(self, company_code: str, currency: str) -> str:
        key = (company_code, currency)
        if key not in self._accounts:
            params = {"filter": f"company.code=={_quote(company_code)};currency.code=={_quote(currency)};"
                                "status==OPENED", "sort": "code", "page.limit": "1"}
            response = await self.http.request("GET", f"{API}/bank-accounts", params=params)
            found = self.http.decode(response, wire.PageOf[wire.WireBankAccount]).results
            if not found:
                raise Problem(422, f"treasury has no open bank account of {company_code} in {currency} to pay from",
                              kind="no-paying-account", title="Unprocessable Content")
            self._accounts[key] = found[0].code
        return self._accounts[key]

    # --- payment obligations ---------------------------------------------------------------

    async def create_obligation(self, draft: PaymentObligationDraft, *, external_reference: str) -> PaymentObligation:
        """Record an obligation once, paid from the entity's first open account in its currency.

        Args:
            draft: The obligation.
            external_reference: Deterministic reference of this create (from the caller's
                Idempotency-Key); the same reference never creates a second obligation.
        """
        account = await self._paying_account(draft.company_code, draft.amount.currency)
        body = mapping.obligation_create(draft, external_reference=external_reference, bank_account_code=account)

        async def find() -> wire.PaymentObligation | None:
            return await self._find("payment-obligations", wire.PageOf[wire.PaymentObligation], external_reference)

        created = await self._create_once("payment-obligations", body, wire.PaymentObligation, find)
        return self._map(mapping.obligation_to_canonical, created)

    async def find_obligation(self, external_reference: str) -> PaymentObligation | None:
        """The obligation created with ``external_reference``, if any."""
        found = await self._find("payment-obligations", wire.PageOf[wire.PaymentObligation], external_reference)
        return None if found is None else self._map(mapping.obligation_to_canonical, found)

    async def get_obligation(self, obligation_id: str) -> PaymentObligation:
        """One obligation with its current status."""
        return await self._one(f"payment-obligations/{_segment(obligation_id)}", wire.PaymentObligation,
                               mapping.obligation_to_canonical)

    async def list_obligations(self, *, status: PaymentObligationStatus | None = None,
                               company_code: str | None = None, cursor: str | None = None,
                               limit: int = 50) -> Page[PaymentObligation]:
        """Obligations, oldest first, optionally of one status and entity."""
        filters: dict[str, str] = {}
        if status is not None:
            filters["status"] = "=in=(" + ",".join(mapping.wire_statuses(status)) + ")"
        if company_code is not None:
            filters["company.code"] = f"=={_quote(company_code)}"
        return await self._page("payment-obligations", wire.PageOf[wire.PaymentObligation],
                                mapping.obligation_to_canonical, filters=filters, cursor=cursor, limit=limit,
                                sort="creationDateTime,uuid")

    # --- payment runs ----------------------------------------------------------------------

    async def create_payment_run(self, obligation_ids: list[str], *, external_reference: str,
                                 run_date: dt.date | None = None) -> PaymentRun:
        """Put open obligations of one entity into a new run (once per ``external_reference``)."""
        body = wire.PaymentRunCreate(obligations=obligation_ids, reference=external_reference,
                                     execution_date=run_date)

        async def find() -> wire.PaymentRun | None:
            return await self._find("payment-runs", wire.PageOf[wire.PaymentRun], external_reference)

        created = await self._create_once("payment-runs", body, wire.PaymentRun, find)
        return self._map(mapping.run_to_canonical, created)

    async def get_payment_run(self, run_id: str) -> PaymentRun:
        """One payment run."""
        return await self._one(f"payment-runs/{_segment(run_id)}", wire.PaymentRun, mapping.run_to_canonical)

    async def release_payment_run(self, run_id: str) -> PaymentRun:
        """Release a draft run to the bank; releasing a run already sent answers its state."""
        try:
            response = await self.http.request("POST", f"{API}/payment-runs/{_segment(run_id)}/release", retry=False)
        except PlatformRejected as exc:
            if exc.platform_status == 409:  # already released (a retry whose first answer was lost)
                run = await self.get_payment_run(run_id)
                if run.status != "draft":
                    return run
            raise
        return self._map(mapping.run_to_canonical, self.http.decode(response, wire.PaymentRun))


class _ReadingAuth(httpx.Auth):
    """Reads each answer before the wrapped auth flow sees it.

    ``OAuth2ClientCredentials`` decodes the token answer's body inside its own
    ``async_auth_flow``, where httpx has not read streamed bodies yet.
    """

    def __init__(self, inner: httpx.Auth) -> None:
        self.inner = inner

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        flow = self.inner.async_auth_flow(request)
        outgoing = await flow.__anext__()
        while True:
            response = yield outgoing
            await response.aread()
            try:
                outgoing = await flow.asend(response)
            except StopAsyncIteration:
                return


def _quote(value: str) -> str:
    """An RSQL argument, quoted when it holds characters RSQL reserves."""
    if value and not any(ch in value for ch in " ;,()'\"=!<>~"):
        return value
    return "'" + value.replace("'", "") + "'"


def _segment(value: str) -> str:
    """A path segment the caller gave; anything that could leave the segment is refused."""
    if not value or any(ch in value for ch in "/?#%\\") or value in (".", ".."):
        raise Problem(404, f"no object with id {value!r}")
    return value


def _bad_cursor(reason: str) -> Problem:
    """A cursor this API did not issue for this list: well-formed text, meaningless position (422).

    Its shape (any opaque text) is all the document can say; that the checksum holds and the
    filters match can only be checked here, so the refusal is "unprocessable", not "malformed".
    """
    return Problem(422, f"query.cursor: {reason}; use `next_cursor` of the previous page as given",
                   kind="invalid-cursor", title="Invalid cursor")


def _offset(cursor: str | None, filters: dict[str, str]) -> int:
    if cursor is None:
        return 0
    try:
        position = decode_cursor(cursor)
    except ValueError as exc:
        raise _bad_cursor(str(exc)) from exc
    if not isinstance(position, dict) or position.get("f") != filters or not isinstance(position.get("o"), int):
        raise _bad_cursor("the cursor belongs to a list with other filters; start again without it")
    offset: int = position["o"]
    return offset
