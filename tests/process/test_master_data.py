"""Master data publish and reconciliation end to end: ERP sandbox -> flows -> procurement and expense sandboxes.

Every check is what a person would look at: the values procurement and expense hold (through
their system APIs), the runs as the process API shows them with their counts, and the
reconciliation waiting in the exception queue as ``master-data-drift`` when the ERP changed.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from gateway.app import Gateway
from process_apis.flow.queues import act
from process_apis.master_data.flows import SCHEDULES
from tests.support import Operator

API = "/process/master-data/v1"
ERP = "/sandbox/erp/sap/opu/odata/sap"
CENTERS = f"{ERP}/API_COSTCENTER_SRV"
PLATFORMS = {"procurement": "/system/procurement/v1/lookup-values", "expense": "/system/expense/v1/list-items"}
RunFlows = Callable[[], Awaitable[None]]
ERP_AUTH = ("finrail", "sandbox")


async def _start(http: httpx.AsyncClient, operator: Operator, kind: str, **body: Any) -> dict[str, Any]:
    headers = {**operator.headers, "Idempotency-Key": uuid.uuid4().hex}
    answer = await http.post(f"{API}/{kind}", json=body, headers=headers)
    assert answer.status_code == 202, answer.text
    assert answer.headers["location"] == f"{API}/runs/{answer.json()['id']}"
    return dict(answer.json())


async def _run(http: httpx.AsyncClient, operator: Operator, run_flows: RunFlows, kind: str) -> dict[str, Any]:
    started = await _start(http, operator, kind)
    await run_flows()
    answer = await http.get(f"{API}/runs/{started['id']}", headers=operator.headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def _held(
    http: httpx.AsyncClient, operator: Operator, platform: str, dimension: str
) -> dict[str, dict[str, Any]]:
    values: dict[str, dict[str, Any]] = {}
    cursor: str | None = None
    while True:
        params = {"dimension": dimension, "limit": 200, **({"cursor": cursor} if cursor else {})}
        answer = await http.get(PLATFORMS[platform], params=params, headers=operator.headers)
        assert answer.status_code == 200, answer.text
        values.update({v["code"]: v for v in answer.json()["items"]})
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            return values


async def _erp(http: httpx.AsyncClient, operator: Operator, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        answer = await http.get(f"/system/erp/v1/{path}", params=params, headers=operator.headers)
        assert answer.status_code == 200, answer.text
        items.extend(answer.json()["items"])
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            return items


async def _patch_cost_center(http: httpx.AsyncClient, code: str, changes: dict[str, Any]) -> None:
    """Change a cost center in the ERP sandbox itself, the way SAP's OData service takes it."""
    fetched = await http.get(f"{CENTERS}/", headers={"x-csrf-token": "Fetch"}, auth=ERP_AUTH)
    assert fetched.status_code == 200, fetched.text
    token = {"x-csrf-token": fetched.headers["x-csrf-token"]}
    found = await http.get(f"{CENTERS}/A_CostCenter", params={"$filter": f"CostCenter eq '{code}'"}, auth=ERP_AUTH)
    row = found.json()["d"]["results"][0]
    key = (f"ControllingArea='{row['ControllingArea']}',CostCenter='{code}',"
           f"ValidityEndDate={row['ValidityEndDate'] if 'datetime' in str(row['ValidityEndDate']) else ''}")
    uri = row["__metadata"]["uri"] if "__metadata" in row else f"{CENTERS}/A_CostCenter({key})"
    path = uri[uri.index("/sap/opu"):] if "/sap/opu" in uri else uri
    answer = await http.patch(f"/sandbox/erp{path}", json=changes, headers=token, auth=ERP_AUTH)
    assert answer.status_code in (200, 204), answer.text


async def test_publish_writes_everything_once_then_only_the_delta_and_reconciliation_counts_drift(
    flows_gateway: Gateway, flows_client: httpx.AsyncClient, flows_operator: Operator, run_flows: RunFlows,
) -> None:
    http, operator = flows_client, flows_operator
    entities = await _erp(http, operator, "legal-entities")
    accounts = await _erp(http, operator, "gl-accounts")
    centers = await _erp(http, operator, "cost-centers")
    active_centers = [c for c in centers if c["active"] and (c["valid_to"] is None or c["valid_to"] >= "2026-01-01")]
    open_accounts = [a for a in accounts if not a["blocked"]]

    # The hourly publish's first window, started the way the engine starts scheduled work.
    publish_now = dataclasses.replace(SCHEDULES[0], first_after_seconds=0)
    assert await flows_gateway.runtime.engine.store.start_due([publish_now]) == 1
    await run_flows()
    scheduled = (await http.get(f"{API}/runs", params={"kind": "publication"}, headers=operator.headers)).json()
    assert [run["key"].split("@")[0] for run in scheduled["items"]] == ["master-data-publish-hourly"]
    first = scheduled["items"][0]
    assert first["status"] == "completed", (first["step"], first["detail"])
    expected = {"legal-entity": len(entities), "gl-account": len(open_accounts), "cost-center": len(active_centers)}
    for platform in PLATFORMS:
        output = first["outputs"][f"publish-{platform}"]
        assert {d: k["new"] for d, k in output["counts"].items()} == expected, platform
        assert output["written"] == sum(expected.values())
        held = await _held(http, operator, platform, "cost-center")
        assert set(held) == {c["code"] for c in active_centers}
        assert all(v["active"] for v in held.values())
        entity = entities[0]
        assert (await _held(http, operator, platform, "legal-entity"))[entity["company_code"]]["name"] == \
            entity["name"][:64]

    second = await _run(http, operator, run_flows, "publications")
    assert second["status"] == "completed"
    assert [second["outputs"][f"publish-{p}"]["written"] for p in PLATFORMS] == [0, 0], "nothing changed"

    reconcile_now = dataclasses.replace(SCHEDULES[1], first_after_seconds=0)
    assert await flows_gateway.runtime.engine.store.start_due([reconcile_now]) == 1
    await run_flows()
    daily = (await http.get(f"{API}/runs", params={"kind": "reconciliation"}, headers=operator.headers)).json()
    assert [run["key"].split("@")[0] for run in daily["items"]] == ["master-data-reconciliation-daily"]
    assert daily["items"][0]["status"] == "completed", daily["items"][0]["detail"]
    assert daily["items"][0]["outputs"]["compare"]["total"] == 0
    clean = await _run(http, operator, run_flows, "reconciliations")
    assert clean["status"] == "completed", clean["detail"]
    assert clean["outputs"]["compare"]["drift"]["expense"]["cost-center"] == {"new": 0, "changed": 0, "deactivated": 0}

    # The ERP blocks one cost center.
    blocked = active_centers[0]["code"]
    await _patch_cost_center(http, blocked, {"IsBlkdForPrimaryCostsPosting": True})
    drift = await _run(http, operator, run_flows, "reconciliations")
    assert (drift["status"], drift["reason"], drift["step"]) == ("exception", "master-data-drift", "report")
    counts = drift["outputs"]["compare"]["drift"]
    for platform in PLATFORMS:
        assert counts[platform]["cost-center"] == {"new": 0, "changed": 0, "deactivated": 1}
        assert counts[platform]["gl-account"] == {"new": 0, "changed": 0, "deactivated": 0}
    assert "procurement cost-center: 1 deactivated" in drift["detail"]
    queue = await http.get(f"{API}/runs", params={"status": "exception", "reason": "master-data-drift"},
                           headers=operator.headers)
    assert [run["id"] for run in queue.json()["items"]] == [drift["id"]]

    third = await _run(http, operator, run_flows, "publications")
    assert third["status"] == "completed"
    for platform in PLATFORMS:
        output = third["outputs"][f"publish-{platform}"]
        assert output["written"] == 1
        assert output["changes"] == [f"deactivated cost-center {blocked}"]
        assert (await _held(http, operator, platform, "cost-center"))[blocked]["active"] is False

    # The person replays the reconciliation: no drift any more, it completes.
    await act(flows_gateway.runtime.engine, drift["id"], "replay", actor="ana", note="published")
    await run_flows()
    again = (await http.get(f"{API}/runs/{drift['id']}", headers=operator.headers)).json()
    assert again["status"] == "completed", again["detail"]
    assert again["outputs"]["compare"]["total"] == 0
