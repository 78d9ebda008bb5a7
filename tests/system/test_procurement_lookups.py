"""ERP dimension values in procurement (Coupa lookup values) through the procurement system API.

Gateway chain -> connector -> sandbox, on SQLite and PostgreSQL: a create needs an
Idempotency-Key and happens once per key, a code held twice is 409, a deactivation is audited
with before and after, and the sandbox shows the values the Coupa way.
"""

from __future__ import annotations

import uuid

import httpx

from system_apis.procurement.api import PREFIX
from tests.system.test_procurement_api import Env, audit_of, env

__all__ = ["env"]

VALUES = f"{PREFIX}/lookup-values"


async def _create(client: httpx.AsyncClient, headers: dict[str, str], key: str, **body: object) -> httpx.Response:
    return await client.post(VALUES, json=body, headers={**headers, "Idempotency-Key": key})


async def test_lookup_values_are_created_once_listed_and_deactivated_with_audit(env: Env) -> None:
    client, operator, sandbox, _ = env
    headers = operator.headers
    key = uuid.uuid4().hex
    first = await _create(client, headers, key, dimension="cost-center", code="10110101", name="Finance US01")
    assert first.status_code == 201, first.text
    again = await _create(client, headers, key, dimension="cost-center", code="10110101", name="Finance US01")
    assert again.status_code == 201
    assert again.headers.get("idempotent-replayed") == "true"
    created = first.json()
    assert again.json()["id"] == created["id"]
    assert (created["dimension"], created["code"], created["name"], created["active"]) == (
        "cost-center", "10110101", "Finance US01", True)
    duplicate = await _create(client, headers, uuid.uuid4().hex, dimension="cost-center", code="10110101", name="x")
    assert duplicate.status_code == 409, duplicate.text
    other = await _create(client, headers, uuid.uuid4().hex, dimension="gl-account", code="10110101", name="Cash")
    assert other.status_code == 201, "the same code in another dimension is another value"
    missing_key = await client.post(VALUES, json={"dimension": "gl-account", "code": "1", "name": "x"}, headers=headers)
    assert missing_key.status_code == 400

    listed = await client.get(VALUES, params={"dimension": "cost-center"}, headers=headers)
    assert listed.status_code == 200, listed.text
    assert [(v["code"], v["active"]) for v in listed.json()["items"]] == [("10110101", True)]

    changed = await client.put(f"{VALUES}/{created['id']}", json={"active": False, "name": "Finance (closed)"},
                               headers=headers)
    assert changed.status_code == 200, changed.text
    assert (changed.json()["active"], changed.json()["name"]) == (False, "Finance (closed)")
    records = await audit_of(client, operator, changed)
    change = next(r for r in records if r["operation"] == "update_lookup_value")
    assert change["before"]["active"] is True
    assert change["after"]["active"] is False
    inactive = await client.get(VALUES, params={"active": "false"}, headers=headers)
    assert [v["id"] for v in inactive.json()["items"]] == [created["id"]]

    # The platform's own record, as Coupa shows it.
    doc = sandbox.store.get("lookup_values", created["id"])
    assert doc is not None
    assert (doc["external-ref-code"], doc["lookup"]["name"], doc["active"]) == ("10110101", "Cost Center", False)

    unknown = await client.put(f"{VALUES}/999999", json={"active": False}, headers=headers)
    assert unknown.status_code == 404
    strict = await client.put(f"{VALUES}/{created['id']}", json={"colour": "red"}, headers=headers)
    assert strict.status_code == 400
