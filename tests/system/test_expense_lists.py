"""ERP dimension values in the expense platform (Concur list items) through the expense system API.

Gateway chain -> connector -> sandbox, on SQLite and PostgreSQL: a create needs an
Idempotency-Key and happens once per key, a code held twice is 409, a deactivation is audited
with before and after, and the sandbox shows the items the Concur way.
"""

from __future__ import annotations

import uuid

import httpx

from system_apis.expense import PREFIX
from tests.system.test_expense_api import Setup, setup

__all__ = ["setup"]

ITEMS = f"{PREFIX}/list-items"


async def _create(http: httpx.AsyncClient, headers: dict[str, str], key: str, **body: object) -> httpx.Response:
    return await http.post(ITEMS, json=body, headers={**headers, "Idempotency-Key": key})


async def test_list_items_are_created_once_paged_and_deactivated_with_audit(setup: Setup) -> None:
    http, headers = setup.http, setup.operator.headers
    key = uuid.uuid4().hex
    first = await _create(http, headers, key, dimension="gl-account", code="400000", name="Travel")
    assert first.status_code == 201, first.text
    again = await _create(http, headers, key, dimension="gl-account", code="400000", name="Travel")
    assert again.status_code == 201
    assert again.headers.get("idempotent-replayed") == "true"
    created = first.json()
    assert again.json()["id"] == created["id"]
    assert (created["dimension"], created["code"], created["active"]) == ("gl-account", "400000", True)
    duplicate = await _create(http, headers, uuid.uuid4().hex, dimension="gl-account", code="400000", name="x")
    assert duplicate.status_code == 409, duplicate.text
    for code in ("400100", "400200"):
        made = await _create(http, headers, uuid.uuid4().hex, dimension="gl-account", code=code, name=f"GL {code}")
        assert made.status_code == 201, made.text
    other = await _create(http, headers, uuid.uuid4().hex, dimension="cost-center", code="400000", name="Sales")
    assert other.status_code == 201, "the same code in another list is another item"

    page = await http.get(ITEMS, params={"dimension": "gl-account", "limit": 2}, headers=headers)
    assert page.status_code == 200, page.text
    assert [v["code"] for v in page.json()["items"]] == ["400000", "400100"]
    rest = await http.get(ITEMS, params={"dimension": "gl-account", "limit": 2, "cursor": page.json()["next_cursor"]},
                          headers=headers)
    assert [v["code"] for v in rest.json()["items"]] == ["400200"]
    assert rest.json()["next_cursor"] is None
    assert (await http.get(ITEMS, headers=headers)).status_code == 400, "the dimension is required"

    changed = await http.put(f"{ITEMS}/{created['id']}", json={"active": False}, headers=headers)
    assert changed.status_code == 200, changed.text
    assert (changed.json()["active"], changed.json()["name"]) == (False, "Travel")
    audit = await http.get("/admin/v1/audit", params={"correlation_id": changed.headers["x-correlation-id"]},
                           headers=headers)
    record = next(r for r in audit.json()["items"] if r["operation"] == "update_list_item")
    assert record["before"]["active"] is True
    assert record["after"]["active"] is False
    inactive = await http.get(ITEMS, params={"dimension": "gl-account", "active": "false"}, headers=headers)
    assert [v["id"] for v in inactive.json()["items"]] == [created["id"]]

    doc = setup.sandbox.store.get("listitems", created["id"])
    assert doc is not None
    assert (doc["Level1Code"], doc["IsDeleted"]) == ("400000", True)
    assert (await http.put(f"{ITEMS}/nope", json={"active": False}, headers=headers)).status_code == 404
