"""The treasury system API end to end: gateway chain -> connector -> embedded treasury sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from litestar import Litestar

from gateway.app import Gateway, create_app
from gateway.catalog import ApiDescriptor, Catalog
from gateway.lifespan import lifespan
from gateway.registry import default_catalog
from gateway.settings import Settings
from platforms.kit.config import SandboxConfig
from platforms.kit.faults import Faults
from platforms.treasury.app import create_app as create_sandbox
from system_apis.connectors.kit import ConnectionConfig
from system_apis.connectors.treasury import TreasuryConnector
from system_apis.treasury.api import PREFIX, SCOPES, SUMMARY, routes
from tests.support import register

IBAN = "DE89370400440532013000"


@dataclass
class Rig:
    sandbox: Litestar
    gateway: Gateway
    http: httpx.AsyncClient
    headers: dict[str, str]

    async def post(self, path: str, body: Any = None, key: str | None = None) -> httpx.Response:
        headers = {**self.headers, **({"Idempotency-Key": key} if key else {})}
        return await self.http.post(f"{PREFIX}{path}", json=body, headers=headers)

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(f"{PREFIX}{path}", params=params, headers=self.headers)


@pytest.fixture
async def rig(settings: Settings) -> AsyncIterator[Rig]:
    sandbox = create_sandbox(SandboxConfig())
    async with lifespan(sandbox):
        connector = TreasuryConnector(
            ConnectionConfig(base_url="http://sandbox.treasury", client_id="finrail", client_secret="sandbox-secret",
                             retries=1, backoff_base_seconds=0.01, backoff_max_seconds=0.02),
            transport=httpx.ASGITransport(app=sandbox),
        )
        api = ApiDescriptor(name="treasury", tier="system", major=1, owner="finance-integration", summary=SUMMARY,
                            prefixes=(PREFIX,), scopes=SCOPES, routes=lambda ctx: routes(connector))
        core = tuple(a for a in default_catalog().apis if a.tier == "gateway")  # identity, admin, ops
        gateway = create_app(settings, catalog=Catalog(apis=(*core, api)))
        await gateway.startup()
        transport = httpx.ASGITransport(app=gateway, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            operator = await register(gateway, http, sorted(gateway.catalog.scopes))
            yield Rig(sandbox, gateway, http, operator.headers)
        await gateway.shutdown()
        await connector.aclose()


def draft(amount: str = "250.00") -> dict[str, Any]:
    return {"company_code": "DE01", "payee_name": "Acme GmbH", "amount": {"amount": amount, "currency": "EUR"},
            "due_date": "2026-02-15", "payee_bank_account": {"holder": "Acme GmbH", "iban": IBAN},
            "supplier_id": "0000100001", "source_document": "5105600001", "reference": "INV-77"}


async def test_create_obligation_once_per_key_audited_and_readable(rig: Rig) -> None:
    assert (await rig.post("/payment-obligations", draft())).status_code == 400  # no Idempotency-Key

    first = await rig.post("/payment-obligations", draft(), key="obl-1")
    assert first.status_code == 201, first.text
    created = first.json()
    assert created["status"] == "open"
    assert created["amount"] == {"amount": "250.00", "currency": "EUR"}
    assert created["payee_bank_account"]["iban"] == IBAN

    replay = await rig.post("/payment-obligations", draft(), key="obl-1")
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == created
    platform = rig.sandbox.state.sandbox.store.all("obligations")
    assert sum(1 for o in platform if o["remittanceInformation"] == "INV-77") == 1

    status = await rig.get(f"/payment-obligations/{created['id']}")
    assert status.status_code == 200
    assert status.json() == created
    missing = await rig.get("/payment-obligations/nope")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")

    records = await rig.gateway.services.audit.query(limit=100)
    # One change however often the create is replayed (a replay is a call too, audited as a
    # read once the read batch is flushed, which may or may not have happened yet here).
    creates = [r for r in records if r.operation == "create_payment_obligation" and r.outcome == 201]
    changes = [r for r in creates if r.kind == "change"]
    assert len(changes) == 1
    assert {r.kind for r in creates} <= {"change", "read"}
    assert changes[0].before is None
    assert changes[0].after["id"] == created["id"]
    assert changes[0].resource_ids == {"obligation_id": created["id"]}


async def test_list_obligations_by_status_with_cursor(rig: Rig) -> None:
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"status": "open", "limit": 5, **({"cursor": cursor} if cursor else {})}
        page = await rig.get("/payment-obligations", **params)
        assert page.status_code == 200, page.text
        body = page.json()
        assert all(item["status"] == "open" for item in body["items"])
        seen.extend(item["id"] for item in body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 12  # the seed's pending obligations, each once

    wrong = await rig.get("/payment-obligations", status="paid", cursor=(await rig.get(
        "/payment-obligations", limit=1)).json()["next_cursor"])
    assert wrong.status_code == 422  # a cursor of another list
    assert (await rig.get("/payment-obligations", cursor="Zm9yZ2Vk.AAAAAAAAAAAAAAAA")).status_code == 422  # forged
    assert (await rig.get("/payment-obligations", cursor="not a cursor")).status_code == 400  # not a cursor's shape


async def test_run_created_released_and_accounts_listed(rig: Rig) -> None:
    open_de = (await rig.get("/payment-obligations", status="open", company_code="DE01")).json()["items"]
    ids = [o["id"] for o in open_de]
    run = await rig.post("/payment-runs", {"obligation_ids": ids}, key="run-1")
    assert run.status_code == 201, run.text
    assert run.json()["status"] == "draft"
    assert run.json()["payment_ids"] == ids
    scheduled = (await rig.get(f"/payment-obligations/{ids[0]}")).json()
    assert scheduled["status"] == "scheduled"
    assert scheduled["payment_id"] == ids[0]

    released = await rig.post(f"/payment-runs/{run.json()['id']}/release", key="rel-1")
    assert released.status_code == 200
    assert released.json()["status"] == "sent"
    again = await rig.post("/payment-runs", {"obligation_ids": ids}, key="run-2")
    assert again.status_code == 409  # the obligations are in a run already

    accounts = (await rig.get("/accounts", company_code="GB01")).json()["items"]
    assert {a["currency"] for a in accounts} == {"GBP"}
    assert len(accounts) == 2
    assert all(a["bank_account"]["iban"].startswith("GB") for a in accounts)


async def test_platform_down_is_a_clean_503(rig: Rig) -> None:
    rig.sandbox.state.sandbox.set_faults(Faults(maintenance=True, retry_after_seconds=1))
    answer = await rig.get("/accounts")
    assert answer.status_code == 503
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "treasury" in answer.json()["detail"]


async def test_document_lists_every_operation(rig: Rig) -> None:
    document = (await rig.http.get(f"{PREFIX}/openapi.json")).json()
    assert set(document["paths"]) == {f"{PREFIX}{p}" for p in (
        "/payment-obligations", "/payment-obligations/{obligation_id}", "/payment-runs", "/payment-runs/{run_id}",
        "/payment-runs/{run_id}/release", "/accounts")}
    create = document["paths"][f"{PREFIX}/payment-obligations"]["post"]
    assert {"502", "503", "504"} <= set(create["responses"])
