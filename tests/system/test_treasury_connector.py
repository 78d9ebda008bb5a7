"""The treasury connector: mapping round trips, and its calls against the embedded sandbox."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
from litestar import Litestar

from gateway.lifespan import lifespan
from platforms.kit.config import SandboxConfig
from platforms.kit.faults import Faults
from platforms.treasury.app import create_app
from policies.problems import Problem
from system_apis.canonical import BankAccount, Money, PaymentObligationDraft
from system_apis.connectors.kit import ConnectionConfig, MalformedAnswer, PlatformRejected
from system_apis.connectors.treasury import TreasuryConnector, mapping, wire

DRAFT = PaymentObligationDraft(
    company_code="DE01", payee_name="Acme GmbH", amount=Money(Decimal("1234.50"), "EUR"),
    due_date=dt.date(2026, 3, 1), payee_bank_account=BankAccount(holder="Acme GmbH", iban="DE89370400440532013000",
                                                                 bic="COBADEFFXXX"),
    supplier_id="0000100001", source_document="5105600001", reference="INV-2026-77",
)


class Recorder(httpx.AsyncBaseTransport):
    """The sandbox over ASGI, with the client's time limit enforced and every status recorded.

    ``httpx.ASGITransport`` ignores timeouts; a real socket would not, so the limit is applied
    here. The sandbox's hung answer is abandoned after the platform did the work.
    """

    def __init__(self, app: Litestar, timeout: float) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.timeout = timeout
        self.statuses: list[tuple[str, str, int | None]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await asyncio.wait_for(self.inner.handle_async_request(request), self.timeout)
        except TimeoutError:
            self.statuses.append((request.method, request.url.path, None))
            raise httpx.ReadTimeout("timed out", request=request) from None
        self.statuses.append((request.method, request.url.path, response.status_code))
        return response


@pytest.fixture
async def sandbox() -> AsyncIterator[Litestar]:
    app = create_app(SandboxConfig())
    async with lifespan(app):
        yield app


def connect(transport: httpx.AsyncBaseTransport, timeout_seconds: float = 5.0) -> TreasuryConnector:
    config = ConnectionConfig(base_url="http://sandbox.treasury", client_id="finrail", client_secret="sandbox-secret",
                              retries=3, backoff_base_seconds=0.01, backoff_max_seconds=0.02,
                              timeout_seconds=timeout_seconds)
    return TreasuryConnector(config, transport=transport)


def test_obligation_round_trip_keeps_every_field() -> None:
    body = mapping.obligation_create(DRAFT, external_reference="FRABC", bank_account_code="DE01-OPS-EUR")
    sent = wire.ObligationCreate.__struct_fields__
    assert set(sent) >= {"reference", "beneficiary", "remittance_information"}
    echoed = wire.PaymentObligation(
        uuid="u-1", reference=body.reference, company=body.company, bank_account=body.bank_account,
        beneficiary=body.beneficiary, amount=body.amount, currency=body.currency, value_date=body.value_date,
        status="PENDING", creation_date_time=dt.datetime(2026, 1, 5, 8, tzinfo=dt.UTC),
        description=body.description, remittance_information=body.remittance_information,
    )
    back = mapping.obligation_to_canonical(echoed)
    assert (back.company_code, back.payee_name, back.amount, back.due_date) == (
        DRAFT.company_code, DRAFT.payee_name, DRAFT.amount, DRAFT.due_date)
    assert (back.payee_bank_account, back.supplier_id, back.source_document, back.reference) == (
        DRAFT.payee_bank_account, DRAFT.supplier_id, DRAFT.source_document, DRAFT.reference)
    assert back.status == "open"
    assert back.payment_id is None
    paid = mapping.payment_to_canonical(echoed.__class__(**{
        **{f: getattr(echoed, f) for f in echoed.__struct_fields__}, "status": "PAID", "bank_reference": "B1",
        "payment_run": wire.CodeRef(code="PR000001", uuid="r-1")}), dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    assert (paid.status, paid.payment_run_id, paid.bank_reference, paid.amount) == ("confirmed", "r-1", "B1",
                                                                                      DRAFT.amount)
    assert mapping.wire_statuses("scheduled") == ["IN_RUN", "RELEASED"]


async def test_accounts_page_through_with_cursor(sandbox: Litestar) -> None:
    connector = connect(httpx.ASGITransport(app=sandbox))
    ids: list[str] = []
    page = await connector.list_accounts(limit=3)
    while True:
        ids.extend(account.id for account in page.items)
        if page.next_cursor is None:
            break
        page = await connector.list_accounts(limit=3, cursor=page.next_cursor)
    assert len(ids) == len(set(ids)) == 9  # 2 per entity (US01, DE01, GB01, JP01) + 1 closed
    with pytest.raises(Problem) as refused:
        await connector.list_accounts(company_code="US01", cursor=(await connector.list_accounts(limit=1)).next_cursor)
    assert refused.value.status == 422
    us = (await connector.list_accounts(company_code="US01")).items
    assert {a.bank_account.bank_code for a in us} <= {"021000021", "026009593"}
    assert us[0].currency == "USD"
    await connector.aclose()


def _seed_for(pattern: list[bool], rate: float) -> int:
    """A fault seed whose dice roll a timeout (True) or not (False) in this order."""
    for seed in range(10_000):
        rng = random.Random(seed)
        if [rng.random() < rate for _ in pattern] == pattern:
            return seed
    raise AssertionError("no seed")  # pragma: no cover


async def test_create_that_times_out_after_success_is_not_made_twice(sandbox: Litestar) -> None:
    recorder = Recorder(sandbox, timeout=0.3)
    connector = connect(recorder, timeout_seconds=0.3)
    await connector.list_accounts(company_code="DE01", currency="EUR")  # token fetched before the faults
    state = sandbox.state.sandbox
    before = state.store.count("obligations")
    # account lookup answers, the create is processed but its answer hangs, the look-up answers
    state.set_faults(Faults(timeout_rate=0.5, hang_seconds=5, seed=_seed_for([False, True, False], 0.5)))
    obligation = await connector.create_obligation(DRAFT, external_reference="FRTIMEOUT1")
    state.set_faults(Faults())
    assert state.store.count("obligations") == before + 1
    creates = [s for s in recorder.statuses if s[:2] == ("POST", "/gateway/api/v1/payment-obligations")]
    assert creates == [("POST", "/gateway/api/v1/payment-obligations", None)]  # sent once, answer lost
    assert (await connector.get_obligation(obligation.id)) == obligation
    assert (await connector.find_obligation("FRTIMEOUT1")) == obligation
    await connector.aclose()


async def test_throttled_calls_are_retried(sandbox: Litestar) -> None:
    recorder = Recorder(sandbox, timeout=5)
    connector = connect(recorder)
    await connector.list_accounts(limit=1)  # token first: the kit does not retry a throttled token fetch
    sandbox.state.sandbox.set_faults(Faults(throttle_rate=0.5, retry_after_seconds=0,
        seed=_seed_for([True, False, True, True, False, False, True, False], 0.5)))
    pages = [await connector.list_obligations(limit=5) for _ in range(4)]
    assert all(len(page.items) == 5 for page in pages)
    assert any(status == 429 for *_, status in recorder.statuses)
    await connector.aclose()


async def test_rejection_keeps_the_platform_message(sandbox: Litestar) -> None:
    connector = connect(httpx.ASGITransport(app=sandbox))
    yen = PaymentObligationDraft(**{**{f: getattr(DRAFT, f) for f in DRAFT.__struct_fields__},
                                    "company_code": "XX99"})
    with pytest.raises(Problem) as no_account:
        await connector.create_obligation(yen, external_reference="FRX")
    assert no_account.value.status == 422
    with pytest.raises(PlatformRejected) as missing:
        await connector.get_obligation("does-not-exist")
    assert missing.value.problem().status == 404
    assert "does-not-exist" in missing.value.problem().detail
    await connector.aclose()


async def test_malformed_answers_are_502() -> None:
    def platform(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token"):
            return httpx.Response(200, json={"access_token": "t", "token_type": "Bearer", "expires_in": 3600})
        if request.url.path.endswith("/bank-accounts"):
            return httpx.Response(200, json={"metadata": {"numberOfTotalResults": 1}, "results": [{"uuid": 7}]})
        return httpx.Response(200, content=b"<html>gateway</html>")

    connector = connect(httpx.MockTransport(platform))
    for call in (connector.list_accounts(), connector.get_obligation("x")):
        with pytest.raises(MalformedAnswer) as malformed:
            await call
        assert malformed.value.problem().status == 502
    await connector.aclose()
