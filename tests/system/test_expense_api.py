"""The expense system API end to end: gateway chain -> system API -> connector -> Concur sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from gateway.app import Gateway, create_app
from gateway.catalog import ApiDescriptor, Catalog
from gateway.lifespan import lifespan
from gateway.registry import default_catalog
from gateway.settings import Settings
from platforms.expense import create_app as create_sandbox
from platforms.kit import Faults, SandboxState
from system_apis.connectors.expense import ExpenseConnector
from system_apis.connectors.kit import ConnectionConfig
from system_apis.expense import PREFIX, SCOPES, SUMMARY, routes
from tests.support import Operator, register

CORE_APIS = tuple(a for a in default_catalog().apis if a.tier == "gateway")  # identity, admin, ops


@dataclass
class Setup:
    gateway: Gateway
    http: httpx.AsyncClient
    operator: Operator
    sandbox: SandboxState


@pytest.fixture
async def setup(settings: Settings) -> AsyncIterator[Setup]:
    sandbox = create_sandbox()
    async with lifespan(sandbox):
        connector = ExpenseConnector(
            ConnectionConfig(base_url="http://sandbox.expense", client_id="finrail", client_secret="sandbox-secret",
                             retries=0),
            transport=httpx.ASGITransport(app=sandbox),
        )
        api = ApiDescriptor(name="expense", tier="system", major=1, owner="finance-integration", summary=SUMMARY,
                            prefixes=(PREFIX,), scopes=SCOPES, routes=lambda ctx: routes(connector))
        gateway = create_app(settings, catalog=Catalog(apis=(*CORE_APIS, api)))
        await gateway.startup()
        try:
            transport = httpx.ASGITransport(app=gateway, client=("203.0.113.7", 50000))
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                operator = await register(gateway, http, sorted(gateway.catalog.scopes))
                yield Setup(gateway, http, operator, sandbox.state.sandbox)
        finally:
            await gateway.shutdown()
            await connector.aclose()


async def test_reports_employees_and_cards_are_read_through_the_chain(setup: Setup) -> None:
    http, headers = setup.http, setup.operator.headers
    first = await http.get(f"{PREFIX}/reports", params={"status": "approved", "limit": 30}, headers=headers)
    assert first.status_code == 200, first.text
    body = first.json()
    assert len(body["items"]) == 30
    assert {r["status"] for r in body["items"]} == {"approved"}
    assert isinstance(body["items"][0]["total"]["amount"], str)  # money never as a float
    second = await http.get(f"{PREFIX}/reports", params={"status": "approved", "limit": 30,
                                                         "cursor": body["next_cursor"]}, headers=headers)
    assert not {r["id"] for r in body["items"]} & {r["id"] for r in second.json()["items"]}
    since = await http.get(f"{PREFIX}/reports", params={"approved_since": "2025-06-01T00:00:00Z"}, headers=headers)
    assert all(r["approved_at"] >= "2025-06-01" for r in since.json()["items"])
    forged = await http.get(f"{PREFIX}/reports", params={"cursor": "Zm9yZ2Vk.AAAAAAAAAAAAAAAA"}, headers=headers)
    assert forged.status_code == 422  # shaped like a cursor, but not one this API issued
    assert forged.headers["content-type"] == "application/problem+json"
    assert "not a cursor issued by this API" in forged.json()["detail"]
    assert forged.json()["invalid_params"][0]["name"] == "query.cursor"
    malformed = await http.get(f"{PREFIX}/reports", params={"cursor": "not a cursor"}, headers=headers)
    assert malformed.status_code == 400
    for not_a_time in ("2025-06-01T00:00:00", "0.5", "2025-06-01"):  # naive, a number, a bare date
        refused = await http.get(f"{PREFIX}/reports", params={"approved_since": not_a_time}, headers=headers)
        assert refused.status_code == 400, not_a_time
    assert (await http.get(f"{PREFIX}/reports")).status_code == 401
    document = (await http.get(f"{PREFIX}/openapi.json")).json()
    assert f"{PREFIX}/reports/{{report_id}}/status" in document["paths"]

    # one report with its entries, its employee, the employees of an entity, card transactions
    header = (await http.get(f"{PREFIX}/reports", params={"status": "paid", "limit": 1}, headers=headers)).json()
    report = (await http.get(f"{PREFIX}/reports/{header['items'][0]['id']}", headers=headers)).json()
    assert report["entries"]
    assert report["erp_document_number"]
    assert (await http.get(f"{PREFIX}/reports/NOPE", headers=headers)).status_code == 404
    employee = (await http.get(f"{PREFIX}/employees/{report['employee_id']}", headers=headers)).json()
    assert employee["company_code"] == report["company_code"]
    page = (await http.get(f"{PREFIX}/employees", params={"company_code": "GB01", "limit": 200},
                           headers=headers)).json()
    assert len(page["items"]) == 100
    assert page["next_cursor"] is None
    cards = (await http.get(f"{PREFIX}/card-transactions", params={"unassigned": "true"}, headers=headers)).json()
    assert cards["items"]
    assert all(c["expense_entry_id"] is None for c in cards["items"])


async def test_status_updates_need_a_key_are_audited_and_replayed(setup: Setup) -> None:
    http, headers = setup.http, setup.operator.headers
    report_id = (await http.get(f"{PREFIX}/reports", params={"status": "approved", "limit": 1},
                                headers=headers)).json()["items"][0]["id"]
    url = f"{PREFIX}/reports/{report_id}/status"
    posted = {"status": "posted", "erp_document": "5100007777"}
    assert (await http.post(url, json=posted, headers=headers)).status_code == 400  # no Idempotency-Key
    keyed = {**headers, "Idempotency-Key": "post-1"}
    first = await http.post(url, json=posted, headers=keyed)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "posted"
    assert first.json()["erp_document_number"] == "5100007777"
    again = await http.post(url, json=posted, headers=keyed)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()

    audit = await http.get("/admin/v1/audit", params={"correlation_id": first.headers["x-correlation-id"]},
                           headers=headers)
    [record] = audit.json()["items"]
    assert record["operation"] == "update_expense_report_status"
    assert record["resource_ids"] == {"report_id": report_id}
    assert (record["before"]["status"], record["after"]["status"]) == ("approved", "posted")

    paid = await http.post(url, json={"status": "paid"}, headers={**headers, "Idempotency-Key": "pay-1"})
    assert paid.json()["status"] == "paid"
    backwards = await http.post(url, json={"status": "posted", "erp_document": "5100000001"},
                                headers={**headers, "Idempotency-Key": "post-2"})
    assert backwards.status_code == 409
    assert "already posted" in backwards.json()["detail"]
    no_document = await http.post(url, json={"status": "posted"}, headers={**headers, "Idempotency-Key": "post-3"})
    assert no_document.status_code == 400  # the document says: posted needs erp_document


async def test_platform_maintenance_is_a_503_problem(setup: Setup) -> None:
    setup.sandbox.set_faults(Faults(maintenance=True, retry_after_seconds=7))
    cold = await setup.http.get(f"{PREFIX}/reports", headers=setup.operator.headers)  # even the token fetch fails
    assert cold.status_code == 503
    setup.sandbox.set_faults(Faults())
    assert (await setup.http.get(f"{PREFIX}/reports", headers=setup.operator.headers)).status_code == 200
    setup.sandbox.set_faults(Faults(maintenance=True, retry_after_seconds=7))
    answer = await setup.http.get(f"{PREFIX}/reports", headers=setup.operator.headers)
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["retry-after"] == "7"
    assert "expense" in answer.json()["detail"]
