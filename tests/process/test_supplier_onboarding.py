"""Supplier onboarding end to end: procurement sandbox -> flow -> ERP sandbox, through the real gateway.

Every check is what a person would look at: the ERP's supplier list (searched by tax id
through the ERP system API), the procurement supplier's ERP number, and the onboarding as
the process API shows it, with its reason code while it waits in the exception queue.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from standardwebhooks import Webhook

from gateway.app import Gateway
from process_apis.flow.queues import act
from process_apis.flow.tables import flow_instances
from tests.support import Operator

API = "/process/supplier-onboarding/v1"
SANDBOX = "/sandbox/procurement"
RunFlows = Callable[[], Awaitable[None]]

CLEAN_TAX_ID = "DE136695976"
CLEAN_IBAN = "DE89370400440532013000"

# The procurement seed (platforms/procurement/seed.py): supplier 24 is a re-keyed copy of
# supplier 4 (same tax id, name upper-cased, a double space, no full stop), both waiting for
# approval; 34 is approved with a US routing number whose check digit is wrong; 172 is a draft
# with an invalid EIN.
ORIGINAL, NEAR_DUPLICATE, BAD_BANK, BAD_TAX = "4", "24", "34", "172"


async def _sandbox_auth(http: httpx.AsyncClient) -> dict[str, str]:
    form = {"grant_type": "client_credentials", "client_id": "finrail", "client_secret": "sandbox-secret"}
    answer = await http.post(f"{SANDBOX}/oauth2/access_tokens", data=form)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def _create_clean_supplier(http: httpx.AsyncClient, name: str = "Quillon Microsystems GmbH") -> str:
    """A new supplier in the procurement sandbox with a valid VAT number and IBAN, in draft."""
    auth = await _sandbox_auth(http)
    address = {"street1": "1 Hauptstrasse", "city": "Berlin", "postal-code": "10115", "country": {"code": "DE"}}
    body = {
        "name": name, "status": "draft", "tax-id": CLEAN_TAX_ID, "primary-address": address,
        "remit-to-addresses": [{**address, "name": "Main", "bank-account-holder": name, "iban": CLEAN_IBAN,
                                "bic": "COBADEFFXXX"}],
        "custom-fields": {"company-code": "DE01"},
    }
    answer = await http.post(f"{SANDBOX}/api/suppliers", json=body, headers=auth)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


async def _approve(gateway: Gateway, http: httpx.AsyncClient, supplier_id: str,
                   changes: dict[str, Any] | None = None) -> httpx.Response:
    """Approve the supplier in the sandbox and deliver its ``supplier.approved`` event, signed, to Finrail."""
    auth = await _sandbox_auth(http)
    answer = await http.put(f"{SANDBOX}/api/suppliers/{supplier_id}", json={"status": "approved", **(changes or {})},
                            headers=auth)
    assert answer.status_code == 200, answer.text
    body = json.dumps({"type": "supplier.approved", "timestamp": datetime.now(UTC).isoformat(),
                       "data": answer.json()}).encode()
    webhook_id = f"msg_{uuid.uuid4().hex}"
    signed_at = datetime.now(UTC)
    signature = Webhook(gateway.runtime.webhook_secrets["procurement"]).sign(webhook_id, signed_at, body.decode())
    headers = {"webhook-id": webhook_id, "webhook-timestamp": str(int(signed_at.timestamp())),
               "webhook-signature": signature, "content-type": "application/json"}
    return await http.post("/events/procurement", content=body, headers=headers)


async def _start(http: httpx.AsyncClient, operator: Operator, supplier_id: str) -> httpx.Response:
    headers = {**operator.headers, "Idempotency-Key": uuid.uuid4().hex}
    return await http.post(f"{API}/onboardings", json={"supplier_id": supplier_id}, headers=headers)


async def _onboarding(http: httpx.AsyncClient, operator: Operator, supplier_id: str) -> dict[str, Any]:
    answer = await http.get(f"{API}/onboardings", params={"supplier_id": supplier_id}, headers=operator.headers)
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert len(items) == 1, items
    return dict(items[0])


async def _erp_by_tax_id(http: httpx.AsyncClient, operator: Operator, tax_id: str) -> list[dict[str, Any]]:
    answer = await http.get("/system/erp/v1/suppliers", params={"tax_id": tax_id}, headers=operator.headers)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


async def _procurement(http: httpx.AsyncClient, operator: Operator, supplier_id: str) -> dict[str, Any]:
    answer = await http.get(f"/system/procurement/v1/suppliers/{supplier_id}", headers=operator.headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_a_clean_supplier_is_created_once_in_the_erp_and_linked_back(
    flows_gateway: Gateway, flows_client: httpx.AsyncClient, flows_operator: Operator, run_flows: RunFlows,
) -> None:
    http, operator = flows_client, flows_operator
    supplier_id = await _create_clean_supplier(http)
    event = await _approve(flows_gateway, http, supplier_id)
    assert event.status_code == 202, event.text
    assert len(event.json()["instances"]) == 1

    first = await _start(http, operator, supplier_id)
    again = await _start(http, operator, supplier_id)
    assert first.status_code == again.status_code == 200, "the event started it already; the API answers it"
    assert first.json()["id"] == again.json()["id"] == event.json()["instances"][0]
    assert first.headers["location"] == f"{API}/onboardings/{first.json()['id']}"

    await run_flows()

    done = (await http.get(first.headers["location"], headers=operator.headers)).json()
    assert done["status"] == "completed", (done["step"], done["detail"])
    number = done["outputs"]["create-erp-supplier"]["erp_supplier_number"]
    assert done["outputs"]["create-erp-supplier"]["created"] is True
    in_erp = await _erp_by_tax_id(http, operator, CLEAN_TAX_ID)
    assert [s["id"] for s in in_erp] == [number]
    assert in_erp[0]["name"] == "Quillon Microsystems GmbH"
    assert [a["iban"] for a in in_erp[0]["bank_accounts"]] == [CLEAN_IBAN]
    assert (await _procurement(http, operator, supplier_id))["erp_supplier_number"] == number
    timeline = (await http.get(f"{first.headers['location']}/timeline", headers=operator.headers)).json()
    assert [e["step"] for e in timeline if e["kind"] == "step-completed"] == [
        "validate", "check-duplicates", "create-erp-supplier", "write-back"]

    # Starting it again afterwards, or replaying it, creates nothing more.
    assert (await _start(http, operator, supplier_id)).json()["status"] == "completed"
    await act(flows_gateway.runtime.engine, done["id"], "replay", actor="test")
    await run_flows()
    assert [s["id"] for s in await _erp_by_tax_id(http, operator, CLEAN_TAX_ID)] == [number]


async def test_starting_twice_through_the_api_creates_one_erp_supplier(
    flows_client: httpx.AsyncClient, flows_operator: Operator, run_flows: RunFlows,
) -> None:
    http, operator = flows_client, flows_operator
    supplier_id = await _create_clean_supplier(http)
    auth = await _sandbox_auth(http)
    assert (await http.put(f"{SANDBOX}/api/suppliers/{supplier_id}", json={"status": "approved"},
                           headers=auth)).status_code == 200

    first = await _start(http, operator, supplier_id)
    second = await _start(http, operator, supplier_id)
    assert (first.status_code, second.status_code) == (202, 200)
    assert first.json()["id"] == second.json()["id"]
    assert first.json()["status"] == "active"

    await run_flows()

    assert len(await _erp_by_tax_id(http, operator, CLEAN_TAX_ID)) == 1
    assert (await _onboarding(http, operator, supplier_id))["status"] == "completed"


async def test_invalid_bank_data_and_tax_id_wait_in_the_exception_queue(
    flows_gateway: Gateway, flows_client: httpx.AsyncClient, flows_operator: Operator, run_flows: RunFlows,
) -> None:
    http, operator = flows_client, flows_operator
    assert (await _start(http, operator, BAD_BANK)).status_code == 202
    event = await _approve(flows_gateway, http, BAD_TAX)
    assert event.status_code == 202, event.text

    await run_flows()

    bad_bank = await _onboarding(http, operator, BAD_BANK)
    assert (bad_bank["status"], bad_bank["reason"], bad_bank["step"]) == ("exception", "invalid-bank-data", "validate")
    assert "routing number" in bad_bank["detail"]
    bad_tax = await _onboarding(http, operator, BAD_TAX)
    assert (bad_tax["status"], bad_tax["reason"]) == ("exception", "invalid-tax-id")
    assert "EIN" in bad_tax["detail"]
    queue = await http.get(f"{API}/onboardings", params={"status": "exception", "reason": "invalid-tax-id"},
                           headers=operator.headers)
    assert [item["key"] for item in queue.json()["items"]] == [BAD_TAX]
    for supplier_id in (BAD_BANK, BAD_TAX):
        assert (await _procurement(http, operator, supplier_id))["erp_supplier_number"] is None

    # Never retried on its own: another run leaves it where it is.
    await run_flows()
    assert (await _onboarding(http, operator, BAD_TAX))["attempts"] == 0

    # A person corrects the EIN in procurement and retries: the supplier is read again.
    auth = await _sandbox_auth(http)
    fixed = await http.put(f"{SANDBOX}/api/suppliers/{BAD_TAX}", json={"tax-id": "12-3456789"}, headers=auth)
    assert fixed.status_code == 200, fixed.text
    await act(flows_gateway.runtime.engine, bad_tax["id"], "retry", actor="ana", note="EIN corrected")
    await run_flows()
    done = await _onboarding(http, operator, BAD_TAX)
    assert done["status"] == "completed", done
    number = done["outputs"]["write-back"]["erp_supplier_number"]
    assert [s["id"] for s in await _erp_by_tax_id(http, operator, "12-3456789")] == [number]


async def test_a_near_duplicate_waits_then_approve_creates_it(
    flows_gateway: Gateway, flows_client: httpx.AsyncClient, flows_operator: Operator, run_flows: RunFlows,
) -> None:
    http, operator = flows_client, flows_operator
    original_number = await _onboard_original(flows_gateway, http, operator, run_flows)
    tax_id = (await _procurement(http, operator, ORIGINAL))["tax_id"]["value"]

    assert (await _approve(flows_gateway, http, NEAR_DUPLICATE)).status_code == 202
    await run_flows()

    stopped = await _onboarding(http, operator, NEAR_DUPLICATE)
    assert (stopped["status"], stopped["reason"], stopped["step"]) == (
        "exception", "suspected-duplicate", "check-duplicates")
    assert f"ERP supplier {original_number}" in stopped["detail"]
    assert f"same tax id {tax_id}" in stopped["detail"]
    assert "similar name" in stopped["detail"]
    assert "score 1.00" in stopped["detail"]
    assert len(await _erp_by_tax_id(http, operator, tax_id)) == 1

    await act(flows_gateway.runtime.engine, stopped["id"], "resolve", actor="ana", decision="approve",
              note="a separate legal entity")
    await run_flows()

    done = await _onboarding(http, operator, NEAR_DUPLICATE)
    assert done["status"] == "completed", (done["step"], done["detail"])
    created = done["outputs"]["create-erp-supplier"]
    assert created["created"] is True
    assert created["erp_supplier_number"] != original_number
    assert sorted(s["id"] for s in await _erp_by_tax_id(http, operator, tax_id)) == sorted(
        [original_number, created["erp_supplier_number"]])
    assert (await _procurement(http, operator, NEAR_DUPLICATE))["erp_supplier_number"] == created[
        "erp_supplier_number"]


async def test_a_near_duplicate_merged_is_linked_without_creating(
    flows_gateway: Gateway, flows_client: httpx.AsyncClient, flows_operator: Operator, run_flows: RunFlows,
) -> None:
    http, operator = flows_client, flows_operator
    original_number = await _onboard_original(flows_gateway, http, operator, run_flows)
    tax_id = (await _procurement(http, operator, ORIGINAL))["tax_id"]["value"]
    assert (await _start(http, operator, NEAR_DUPLICATE)).status_code == 202
    await run_flows()  # still pending approval in procurement
    pending = await _onboarding(http, operator, NEAR_DUPLICATE)
    assert pending["reason"] == "supplier-not-approved"
    assert (await _approve(flows_gateway, http, NEAR_DUPLICATE)).status_code == 202
    await act(flows_gateway.runtime.engine, pending["id"], "retry", actor="ana")
    await run_flows()
    stopped = await _onboarding(http, operator, NEAR_DUPLICATE)
    assert stopped["reason"] == "suspected-duplicate"

    engine = flows_gateway.runtime.engine
    await act(engine, stopped["id"], "resolve", actor="ana", decision="merge:9999999")
    await run_flows()
    assert (await _onboarding(http, operator, NEAR_DUPLICATE))["reason"] == "merge-target-not-found"

    await act(engine, stopped["id"], "resolve", actor="ana", decision=f"merge:{original_number}")
    await run_flows()

    done = await _onboarding(http, operator, NEAR_DUPLICATE)
    assert done["status"] == "completed", (done["step"], done["detail"])
    assert done["outputs"]["create-erp-supplier"] == {"erp_supplier_number": original_number, "created": False}
    assert [s["id"] for s in await _erp_by_tax_id(http, operator, tax_id)] == [original_number]
    assert (await _procurement(http, operator, NEAR_DUPLICATE))["erp_supplier_number"] == original_number


async def test_an_erp_outage_is_retried_and_succeeds_once_the_erp_is_back(
    flows_gateway: Gateway, flows_client: httpx.AsyncClient, flows_operator: Operator, run_flows: RunFlows,
) -> None:
    http, operator = flows_client, flows_operator
    supplier_id = await _create_clean_supplier(http)
    auth = await _sandbox_auth(http)
    assert (await http.put(f"{SANDBOX}/api/suppliers/{supplier_id}", json={"status": "approved"},
                           headers=auth)).status_code == 200
    down = await http.put("/sandbox/erp/_sandbox/faults", json={"maintenance": True, "retry_after_seconds": 0})
    assert down.status_code == 200, down.text
    started = await _start(http, operator, supplier_id)

    await run_flows()

    waiting = await _onboarding(http, operator, supplier_id)
    assert (waiting["status"], waiting["step"], waiting["attempts"]) == ("active", "check-duplicates", 1)
    assert "503" in waiting["detail"]
    assert "maintenance" in waiting["detail"]
    timeline = (await http.get(f"{API}/onboardings/{started.json()['id']}/timeline", headers=operator.headers)).json()
    assert [e["kind"] for e in timeline].count("retry-scheduled") == 1
    assert await _erp_by_tax_id_when_up(http, operator) == []

    await run_flows()  # the retry honours the ERP's Retry-After: not due yet, nothing runs
    assert (await _onboarding(http, operator, supplier_id))["attempts"] == 1

    assert (await http.put("/sandbox/erp/_sandbox/faults", json={})).status_code == 200
    await _time_passes(flows_gateway, waiting["id"])
    await run_flows()

    done = await _onboarding(http, operator, supplier_id)
    assert done["status"] == "completed", (done["step"], done["detail"])
    assert len(await _erp_by_tax_id(http, operator, CLEAN_TAX_ID)) == 1
    timeline = (await http.get(f"{API}/onboardings/{done['id']}/timeline", headers=operator.headers)).json()
    assert [e["kind"] for e in timeline][-1] == "completed"


async def _erp_by_tax_id_when_up(http: httpx.AsyncClient, operator: Operator) -> list[dict[str, Any]]:
    """The ERP's suppliers with the clean tax id, asked while the sandbox is in maintenance: via its faults off."""
    faults = (await http.get("/sandbox/erp/_sandbox/faults")).json()
    assert (await http.put("/sandbox/erp/_sandbox/faults", json={})).status_code == 200
    try:
        return await _erp_by_tax_id(http, operator, CLEAN_TAX_ID)
    finally:
        assert (await http.put("/sandbox/erp/_sandbox/faults", json=faults)).status_code == 200


async def _time_passes(gateway: Gateway, instance_id: str) -> None:
    """Move the instance's scheduled retry to now, as if the Retry-After had elapsed."""
    async with gateway.runtime.database.begin() as db:
        await db.execute(flow_instances.update().where(flow_instances.c.id == instance_id)
                         .values(due_at=datetime.now(UTC)))


async def test_the_api_refuses_what_it_cannot_answer(
    flows_client: httpx.AsyncClient, flows_operator: Operator,
) -> None:
    http, operator = flows_client, flows_operator
    missing = await http.get(f"{API}/onboardings/{uuid.uuid4().hex}", headers=operator.headers)
    assert missing.status_code == 404
    bad = await http.post(f"{API}/onboardings", json={"supplier_id": "abc"},
                          headers={**operator.headers, "Idempotency-Key": uuid.uuid4().hex})
    assert bad.status_code == 400
    no_key = await http.post(f"{API}/onboardings", json={"supplier_id": "6"}, headers=operator.headers)
    assert no_key.status_code == 400
    for supplier_id in ("6", "5", "13"):
        assert (await _start(http, operator, supplier_id)).status_code == 202
    first = await http.get(f"{API}/onboardings", params={"limit": 2}, headers=operator.headers)
    page = first.json()
    assert len(page["items"]) == 2
    rest = await http.get(f"{API}/onboardings", params={"limit": 2, "cursor": page["next_cursor"]},
                          headers=operator.headers)
    assert rest.status_code == 200
    keys = [item["key"] for item in page["items"] + rest.json()["items"]]
    assert sorted(keys) == ["13", "5", "6"]
    assert rest.json()["next_cursor"] is None
    other = await http.get(f"{API}/onboardings", params={"limit": 2, "cursor": page["next_cursor"],
                                                         "status": "active"}, headers=operator.headers)
    assert other.status_code == 422


async def _onboard_original(gateway: Gateway, http: httpx.AsyncClient, operator: Operator,
                            run_flows: RunFlows) -> str:
    """Approve and onboard seed supplier 4, the original of the near-duplicate 24; its ERP number."""
    assert (await _approve(gateway, http, ORIGINAL)).status_code == 202
    await run_flows()
    done = await _onboarding(http, operator, ORIGINAL)
    assert done["status"] == "completed", (done["step"], done["detail"])
    return str(done["outputs"]["create-erp-supplier"]["erp_supplier_number"])
