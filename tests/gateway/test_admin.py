"""The admin API end to end, through the whole chain, on both backends."""

import asyncio

import httpx
import pytest

from gateway.app import Gateway
from tests.support import Operator, register

NEW_CLIENT = {"name": "ledger app", "scopes": ["admin:catalog:read"], "tier": "silver"}


async def test_create_client_shows_secret_once_and_audits_the_change(
    gateway: Gateway, client: httpx.AsyncClient, operator: Operator
) -> None:
    answer = await client.post(
        "/admin/v1/clients", json=NEW_CLIENT, headers={**operator.headers, "Idempotency-Key": '"create-1"'}
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["client"]["scopes"] == ["admin:catalog:read"]
    assert body["client"]["tier"] == "silver"
    new_id, secret = body["client_id"], body["client_secret"]

    # the secret works at the token endpoint, and is not readable afterwards
    token = await client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(new_id, secret))
    assert token.status_code == 200
    listed = await client.get(f"/admin/v1/clients/{new_id}", headers=operator.headers)
    assert listed.status_code == 200
    assert "client_secret" not in listed.text
    assert secret not in listed.text

    # the change is in the audit trail with before/after, but never the secret
    correlation = answer.headers["x-correlation-id"]
    audit = await client.get("/admin/v1/audit", params={"correlation_id": correlation}, headers=operator.headers)
    records = audit.json()["items"]
    assert len(records) == 1
    record = records[0]
    assert record["kind"] == "change"
    assert record["operation"] == "create_client"
    assert record["client_id"] == operator.client_id
    assert record["resource_ids"] == {"client_id": new_id}
    assert record["before"] is None
    assert record["after"]["name"] == "ledger app"
    assert record["outcome"] == 201
    assert secret not in audit.text


async def test_create_client_requires_idempotency_key_and_replays(
    client: httpx.AsyncClient, operator: Operator
) -> None:
    missing = await client.post("/admin/v1/clients", json=NEW_CLIENT, headers=operator.headers)
    assert missing.status_code == 400
    assert missing.headers["content-type"] == "application/problem+json"
    assert "Idempotency-Key" in missing.json()["detail"]

    headers = {**operator.headers, "Idempotency-Key": "create-2"}
    first = await client.post("/admin/v1/clients", json=NEW_CLIENT, headers=headers)
    again = await client.post("/admin/v1/clients", json=NEW_CLIENT, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    listing = await client.get("/admin/v1/clients", headers=operator.headers)
    assert [c["name"] for c in listing.json()["items"]].count("ledger app") == 1

    other = await client.post("/admin/v1/clients", json={**NEW_CLIENT, "name": "other"}, headers=headers)
    assert other.status_code == 422


async def test_unknown_fields_and_bad_values_name_the_field(client: httpx.AsyncClient, operator: Operator) -> None:
    headers = {**operator.headers, "Idempotency-Key": "v-1"}
    answer = await client.post("/admin/v1/clients", json={**NEW_CLIENT, "colour": "red"}, headers=headers)
    assert answer.status_code == 400
    assert "colour" in answer.json()["detail"]
    answer = await client.post(
        "/admin/v1/clients", json={**NEW_CLIENT, "scopes": ["admin:everything"]},
        headers={**operator.headers, "Idempotency-Key": "v-2"},
    )
    assert answer.status_code == 400
    assert answer.json()["invalid_params"][0]["name"] == "body.scopes[0]"
    answer = await client.post(
        "/admin/v1/clients", content=b"name=x", headers={**operator.headers, "Idempotency-Key": "v-3",
                                                         "content-type": "text/plain"}
    )
    assert answer.status_code == 415


async def test_rotate_and_disable(gateway: Gateway, client: httpx.AsyncClient, operator: Operator) -> None:
    target = await register(gateway, client, ["admin:catalog:read"])
    rotated = await client.post(
        f"/admin/v1/clients/{target.client_id}/rotate", headers={**operator.headers, "Idempotency-Key": "r-1"}
    )
    assert rotated.status_code == 200
    new_secret = rotated.json()["client_secret"]
    old = await client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(target.client_id, target.client_secret)
    )
    assert old.status_code == 401
    assert old.json()["error"] == "invalid_client"
    new = await client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(target.client_id, new_secret)
    )
    assert new.status_code == 200

    # the target's token works until it is disabled, then stops at once (same process)
    catalog = await client.get("/admin/v1/catalog", headers=target.headers)
    assert catalog.status_code == 200
    disabled = await client.post(f"/admin/v1/clients/{target.client_id}/disable", headers=operator.headers)
    assert disabled.status_code == 200
    assert disabled.json()["status"] == "disabled"
    refused = await client.get("/admin/v1/catalog", headers=target.headers)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Bearer")


async def test_unknown_client_is_404(client: httpx.AsyncClient, operator: Operator) -> None:
    for answer in (
        await client.get("/admin/v1/clients/cl_nobody", headers=operator.headers),
        await client.post("/admin/v1/clients/cl_nobody/disable", headers=operator.headers),
        await client.post("/admin/v1/clients/cl_nobody/rotate", headers={**operator.headers, "Idempotency-Key": "x"}),
    ):
        assert answer.status_code == 404
        assert answer.headers["content-type"] == "application/problem+json"


async def test_scopes_are_enforced(gateway: Gateway, client: httpx.AsyncClient) -> None:
    reader = await register(gateway, client, ["admin:catalog:read"])
    assert (await client.get("/admin/v1/catalog", headers=reader.headers)).status_code == 200
    denied = await client.get("/admin/v1/clients", headers=reader.headers)
    assert denied.status_code == 403
    assert "admin:clients:read" in denied.json()["detail"]
    anonymous = await client.get("/admin/v1/clients")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")


async def test_client_listing_pages(gateway: Gateway, client: httpx.AsyncClient, operator: Operator) -> None:
    for n in range(5):
        await gateway.services.clients.create(f"c{n}", ("admin:catalog:read",), "bronze")
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"after": cursor} if cursor else {})}
        page = (await client.get("/admin/v1/clients", params=params, headers=operator.headers)).json()
        seen += [c["client_id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 6 == len(set(seen))
    assert seen == sorted(seen)


async def test_audit_query_filters_and_pages(gateway: Gateway, client: httpx.AsyncClient, operator: Operator) -> None:
    for _ in range(3):
        await client.get("/admin/v1/catalog", headers=operator.headers)
    await gateway.services.audit.flush()
    page = await client.get("/admin/v1/audit", params={"client_id": operator.client_id, "limit": 2},
                            headers=operator.headers)
    body = page.json()
    assert len(body["items"]) == 2
    assert all(r["client_id"] == operator.client_id for r in body["items"])
    rest = await client.get("/admin/v1/audit", params={"client_id": operator.client_id, "after": body["next_cursor"]},
                            headers=operator.headers)
    seqs = [r["seq"] for r in body["items"] + rest.json()["items"]]
    assert seqs == sorted(seqs)
    assert len(seqs) >= 3
    naive = await client.get("/admin/v1/audit", params={"since": "2026-01-01T00:00:00"}, headers=operator.headers)
    assert naive.status_code == 400


async def test_catalog_lists_every_mounted_api(gateway: Gateway, client: httpx.AsyncClient, operator: Operator) -> None:
    entries = (await client.get("/admin/v1/catalog", headers=operator.headers)).json()
    assert {e["name"] for e in entries} == {api.name for api in gateway.catalog}
    for entry in entries:
        document = await client.get(entry["document"])
        assert document.status_code == 200
        assert document.json()["info"]["x-finrail"]["name"] == entry["name"]


async def test_concurrent_creates_keep_the_audit_chain_gap_free(
    gateway: Gateway, client: httpx.AsyncClient, operator: Operator
) -> None:
    async def create(n: int) -> int:
        answer = await client.post(
            "/admin/v1/clients", json={**NEW_CLIENT, "name": f"c{n}"},
            headers={**operator.headers, "Idempotency-Key": f"gap-{n}"},
        )
        return answer.status_code

    statuses = await asyncio.gather(*(create(n) for n in range(20)))
    assert statuses == [201] * 20
    await gateway.services.audit.flush()
    result = await gateway.services.audit.verify()
    assert result.ok, result


@pytest.mark.parametrize("path", ["/nothing", "/admin/v2/clients", "/admin/v1/nothing"])
async def test_unknown_paths_are_problem_404(client: httpx.AsyncClient, path: str) -> None:
    answer = await client.get(path)
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["detail"]


async def test_stored_replays_hold_no_secret_in_the_clear(
    gateway: Gateway, client: httpx.AsyncClient, operator: Operator
) -> None:
    import sqlalchemy as sa

    from policies.tables import idempotency_keys

    key = "secret-bearing-key-1"
    answer = await client.post(
        "/admin/v1/clients", json=NEW_CLIENT, headers={**operator.headers, "Idempotency-Key": key}
    )
    secret = answer.json()["client_secret"]
    async with gateway.services.engine.connect() as conn:
        rows = (await conn.execute(sa.select(idempotency_keys))).mappings().all()
    assert len(rows) == 1
    stored = repr(dict(rows[0]))
    assert key not in stored
    assert secret not in stored
    assert secret.encode() not in rows[0]["body"]
    # …and the key holder still gets the very same answer back
    again = await client.post(
        "/admin/v1/clients", json=NEW_CLIENT, headers={**operator.headers, "Idempotency-Key": key}
    )
    assert again.json()["client_secret"] == secret
