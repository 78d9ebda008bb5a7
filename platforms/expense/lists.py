"""Concur lists and list items (``/api/v3.0/common/lists``, ``/api/v3.0/common/listitems``).

Expense entries are coded against custom lists; an integration keeps their items in step with
the ERP. The v3.0 shape is kept (``ID``, ``ListID``, ``Level1Code``, ``Name``, ``URI``, pages of
``{"Items", "NextPage"}`` with ``offset``/``limit``), with the v4 ``IsDeleted`` flag: an item is
deactivated, never removed, so entries already coded with it keep their meaning. A code
(``Level1Code``) is unique within its list; adding it twice is a 409.

The site has three lists: ``Legal Entities``, ``GL Accounts`` and ``Cost Centers``.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post, put
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.params import JSONBody, QueryParameter

from platforms.expense.auth import require_bearer
from platforms.expense.routes import (
    Id,
    Limit,
    Offset,
    _base,
    _json,
    _list,
    _load,
    _one,
    _page,
    error_spec,
)
from platforms.expense.wire import Collection
from platforms.kit.app import SandboxState
from platforms.kit.bodies import StrictBody

__all__ = ["LISTS", "ListGet", "ListItem", "ListItemPost", "ListItemPut", "list_routes"]

Sandbox = NamedDependency[SandboxState]
COLLECTION = "listitems"

LISTS: dict[str, str] = {
    "gWlstLegalEntities0000000001": "Legal Entities",
    "gWlstGLAccounts000000000002": "GL Accounts",
    "gWlstCostCenters00000000003": "Cost Centers",
}
"""The site's lists by ID."""

Code = Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
ListId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class ListGet(msgspec.Struct, rename="pascal", omit_defaults=True, kw_only=True):
    """A list (``#/definitions/List``)."""

    id: str = msgspec.field(name="ID")
    """List id."""
    name: str
    """List name."""
    uri: str | None = msgspec.field(default=None, name="URI")
    """Where the list is read."""


class ListItem(msgspec.Struct, rename="pascal", omit_defaults=True, kw_only=True):
    """A list item (``#/definitions/ListItem``, with v4's ``IsDeleted``)."""

    id: str = msgspec.field(name="ID")
    """Item id."""
    list_id: str = msgspec.field(name="ListID")
    """The list it belongs to."""
    level1_code: str = msgspec.field(name="Level1Code")
    """Its code (the ERP code); unique within the list."""
    name: str
    """Name shown to users."""
    is_deleted: bool = False
    """Deactivated: no longer offered to users."""
    uri: str | None = msgspec.field(default=None, name="URI")
    """Where the item is read."""


class ListItemPost(msgspec.Struct, rename="pascal", kw_only=True, forbid_unknown_fields=True):
    """Body of a new list item."""

    list_id: ListId = msgspec.field(name="ListID")
    """The list to add it to."""
    level1_code: Code = msgspec.field(name="Level1Code")
    """Its code; unique within the list."""
    name: Name
    """Name shown to users."""
    is_deleted: bool = False
    """Add it deactivated."""


class ListItemPut(msgspec.Struct, rename="pascal", kw_only=True, forbid_unknown_fields=True):
    """Body of a list item change: fields left out are kept."""

    name: Name | None = None
    """New name."""
    is_deleted: bool | None = None
    """Deactivate (true) or reactivate (false)."""


_CONFLICT = error_spec("The list already holds an item with this code.")
_NO_LIST = error_spec("No list with this ID.")


def _item_uri(request: Request[Any, Any, Any]) -> Any:
    return lambda item: f"{_base(request)}/api/v3.0/common/listitems/{item.id}"


def _view(request: Request[Any, Any, Any], doc: dict[str, Any]) -> ListItem:
    item = msgspec.convert(doc, ListItem)
    return msgspec.structs.replace(item, uri=_item_uri(request)(item))


def _known_list(list_id: str) -> None:
    if list_id not in LISTS:
        raise HTTPException(status_code=404, detail=f"list {list_id} not found")


@get("/api/v3.0/common/lists", guards=[require_bearer], sync_to_thread=False, summary="Get lists",
     responses=_list(Collection[ListGet], "One page of lists."))
def list_lists(request: Request[Any, Any, Any], offset: Offset = None, limit: Limit = 25) -> Response[bytes]:
    """The site's lists, one page."""
    docs = [{"ID": id, "Name": name} for id, name in LISTS.items()]
    base = _base(request)
    return _page(request, docs, ListGet, lambda one: f"{base}/api/v3.0/common/lists/{one.id}", offset, limit)


@get("/api/v3.0/common/listitems", guards=[require_bearer], sync_to_thread=False, summary="Get list items",
     responses={**_list(Collection[ListItem], "One page of the list's items."), 404: _NO_LIST})
def list_items(
    request: Request[Any, Any, Any],
    sandbox: Sandbox,
    list_id: Annotated[str, QueryParameter(name="listId", min_length=1, max_length=64, description="The list.")],
    offset: Offset = None,
    limit: Limit = 25,
    level1_code: Annotated[str | None, QueryParameter(name="level1Code", max_length=32)] = None,
    is_deleted: Annotated[bool | None, QueryParameter(name="isDeleted")] = None,
) -> Response[bytes]:
    """Items of one list, oldest first, optionally of one code or state."""
    _known_list(list_id)
    equals = {"ListID": list_id, "Level1Code": level1_code}
    docs = [
        doc for doc in sandbox.store.find(COLLECTION, **{k: v for k, v in equals.items() if v is not None})
        if is_deleted is None or bool(doc.get("IsDeleted", False)) == is_deleted
    ]
    return _page(request, docs, ListItem, _item_uri(request), offset, limit)


@get("/api/v3.0/common/listitems/{id:str}", guards=[require_bearer], sync_to_thread=False,
     summary="Get a list item", responses=_one(ListItem, "The list item."))
def get_item(request: Request[Any, Any, Any], sandbox: Sandbox, id: Id) -> Response[bytes]:
    """One list item."""
    return _json(_view(request, _load(sandbox, COLLECTION, id, "list item")))


@post("/api/v3.0/common/listitems", guards=[require_bearer], sync_to_thread=False, status_code=200,
      summary="Create a list item",
      responses={**_one(ListItem, "The item as created."), 409: _CONFLICT},
      dto=StrictBody[ListItemPost], return_dto=None)
def create_item(request: Request[Any, Any, Any], sandbox: Sandbox, data: JSONBody[ListItemPost]) -> Response[bytes]:
    """Add an item to a list; its code is unique within the list."""
    _known_list(data.list_id)
    store = sandbox.store
    if store.find(COLLECTION, ListID=data.list_id, Level1Code=data.level1_code):
        raise HTTPException(status_code=409, detail=f"list item code {data.level1_code} already exists in the list")
    number = store.next_number("listitems.id", 1)
    item = ListItem(id=f"gWli{number:012d}", list_id=data.list_id, level1_code=data.level1_code, name=data.name,
                    is_deleted=data.is_deleted)
    store.put(COLLECTION, item.id, msgspec.to_builtins(item))
    return _json(_view(request, msgspec.to_builtins(item)))


@put("/api/v3.0/common/listitems/{id:str}", guards=[require_bearer], sync_to_thread=False, status_code=200,
     summary="Update a list item", responses=_one(ListItem, "The item as changed."),
     dto=StrictBody[ListItemPut], return_dto=None)
def update_item(
    request: Request[Any, Any, Any], sandbox: Sandbox, id: Id, data: JSONBody[ListItemPut]
) -> Response[bytes]:
    """Rename, deactivate or reactivate a list item."""
    item = msgspec.convert(_load(sandbox, COLLECTION, id, "list item"), ListItem)
    changes = {name: getattr(data, name) for name in ("name", "is_deleted") if getattr(data, name) is not None}
    item = msgspec.structs.replace(item, **changes)
    doc: dict[str, Any] = msgspec.to_builtins(item)
    sandbox.store.put(COLLECTION, item.id, doc)
    return _json(_view(request, doc))


list_routes = [list_lists, list_items, get_item, create_item, update_item]
"""The list handlers, for the app."""
