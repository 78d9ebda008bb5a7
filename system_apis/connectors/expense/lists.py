"""Master data in expense: ERP dimension values as Concur list items.

Each canonical :data:`~system_apis.canonical.masterdata.Dimension` is one Concur list (``Legal
Entities``, ``GL Accounts``, ``Cost Centers``), found by name in ``/api/v3.0/common/lists``; a
value's ERP code is the item's ``Level1Code``, unique within its list. That uniqueness makes a
create safe to repeat: after a lost answer the item is looked up by list and code before it is
sent again. Items are deactivated (``IsDeleted``), never removed.

The functions extend :class:`~system_apis.connectors.expense.client.ExpenseConnector` (its
client, token, retries, breaker and cursor convention) without adding to it.
"""

from __future__ import annotations

from typing import Any

import msgspec

from system_apis.canonical import Page
from system_apis.canonical.masterdata import Dimension, DimensionValue, DimensionValueDraft, DimensionValueUpdate
from system_apis.connectors.expense.client import PLATFORM, ExpenseConnector, _clean, _segment
from system_apis.connectors.kit import MalformedAnswer, PlatformRejected

__all__ = [
    "ITEMS",
    "LISTS",
    "LIST_OF",
    "ListItemWire",
    "create_list_item",
    "get_list_item",
    "list_ids",
    "list_list_items",
    "update_list_item",
]

LISTS = "/api/v3.0/common/lists"
ITEMS = "/api/v3.0/common/listitems"
LIST_OF: dict[Dimension, str] = {"legal-entity": "Legal Entities", "gl-account": "GL Accounts",
                                 "cost-center": "Cost Centers"}
"""The Concur list holding each dimension."""


class ListWire(msgspec.Struct, kw_only=True):
    """A Concur list."""

    ID: str
    """List id."""
    Name: str
    """List name."""


class ListPage(msgspec.Struct, kw_only=True):
    """A page of lists."""

    Items: list[ListWire]
    """The lists."""
    NextPage: str | None = None
    """The next page, if any."""


class ListItemWire(msgspec.Struct, kw_only=True):
    """A Concur list item, as much of it as Finrail reads."""

    ID: str
    """Item id."""
    ListID: str
    """The list it belongs to."""
    Level1Code: str
    """The ERP code."""
    Name: str
    """Name shown to users."""
    IsDeleted: bool = False
    """Deactivated."""


class ListItemPage(msgspec.Struct, kw_only=True):
    """A page of list items."""

    Items: list[ListItemWire]
    """The items."""
    NextPage: str | None = None
    """The next page, if any."""


class _ItemPost(msgspec.Struct, kw_only=True):
    ListID: str
    Level1Code: str
    Name: str
    IsDeleted: bool


class _ItemPut(msgspec.Struct, kw_only=True, omit_defaults=True):
    Name: str | None = None
    IsDeleted: bool | None = None


async def _call(connector: ExpenseConnector, method: str, path: str, type_: type[Any], *,
                params: dict[str, Any] | None = None, json: Any = None, retry: bool = True) -> Any:
    try:
        response = await connector.client.request(method, path, params=params, json=json, retry=retry)
    except PlatformRejected as exc:
        raise _clean(exc) from exc
    return connector.client.decode(response, type_)


async def list_ids(connector: ExpenseConnector) -> dict[Dimension, str]:
    """The id of each dimension's list; a site without one of the lists is out of contract."""
    page: ListPage = await _call(connector, "GET", LISTS, ListPage, params={"limit": 100})
    by_name = {one.Name: one.ID for one in page.Items}
    missing = [name for name in LIST_OF.values() if name not in by_name]
    if missing:
        raise MalformedAnswer(f"the site has no list {missing[0]!r}", platform=PLATFORM)
    return {dimension: by_name[name] for dimension, name in LIST_OF.items()}


def _value(item: ListItemWire, dimensions: dict[str, Dimension]) -> DimensionValue:
    return DimensionValue(id=item.ID, dimension=dimensions[item.ListID], code=item.Level1Code, name=item.Name,
                          active=not item.IsDeleted)


async def list_list_items(
    connector: ExpenseConnector, *, dimension: Dimension, code: str | None = None, active: bool | None = None,
    limit: int = 50, cursor: str | None = None,
) -> Page[DimensionValue]:
    """Values of one dimension, oldest first.

    Raises:
        ValueError: ``cursor`` was not issued by this connector.
        PlatformError: The platform failed or answered out of contract.
    """
    ids = await list_ids(connector)
    params: dict[str, Any] = {"listId": ids[dimension]}
    if code is not None:
        params["level1Code"] = code
    if active is not None:
        params["isDeleted"] = "false" if active else "true"
    wires, offset = await connector._pages(ITEMS, ListItemPage, params, limit, cursor)
    dimensions = {list_id: dim for dim, list_id in ids.items()}
    return Page(items=[_value(w, dimensions) for w in wires], next_cursor=connector._cursor(offset))


async def get_list_item(connector: ExpenseConnector, item_id: str) -> DimensionValue:
    """One value (404 for an unknown id, or an item of a list that is not a dimension)."""
    ids = await list_ids(connector)
    item: ListItemWire = await _call(connector, "GET", f"{ITEMS}/{_segment(item_id)}", ListItemWire)
    dimensions = {list_id: dim for dim, list_id in ids.items()}
    if item.ListID not in dimensions:
        raise PlatformRejected(404, f"list item {item_id} not found", platform=PLATFORM)
    return _value(item, dimensions)


async def create_list_item(connector: ExpenseConnector, draft: DimensionValueDraft) -> DimensionValue:
    """Add a value once: a repeat after a lost answer finds it by list and code instead of adding it again."""
    ids = await list_ids(connector)
    dimensions = {list_id: dim for dim, list_id in ids.items()}
    body = _ItemPost(ListID=ids[draft.dimension], Level1Code=draft.code, Name=draft.name, IsDeleted=not draft.active)

    async def create() -> ListItemWire:
        created: ListItemWire = await _call(connector, "POST", ITEMS, ListItemWire, json=body, retry=False)
        return created

    async def find() -> ListItemWire | None:
        page: ListItemPage = await _call(connector, "GET", ITEMS, ListItemPage,
                                         params={"listId": body.ListID, "level1Code": draft.code, "limit": 1})
        return page.Items[0] if page.Items else None

    return _value(await connector.client.create_once(create, find), dimensions)


async def update_list_item(connector: ExpenseConnector, item_id: str, update: DimensionValueUpdate) -> DimensionValue:
    """Rename, deactivate or reactivate a value; repeating the same change is harmless."""
    ids = await list_ids(connector)
    dimensions = {list_id: dim for dim, list_id in ids.items()}
    body = _ItemPut(Name=update.name, IsDeleted=None if update.active is None else not update.active)
    item: ListItemWire = await _call(connector, "PUT", f"{ITEMS}/{_segment(item_id)}", ListItemWire, json=body)
    if item.ListID not in dimensions:
        raise PlatformRejected(404, f"list item {item_id} not found", platform=PLATFORM)
    return _value(item, dimensions)
