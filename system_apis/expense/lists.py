"""``/system/expense/v1/list-items``: ERP dimension values held by the expense platform.

Part of the expense system API (:mod:`system_apis.expense.api` adds these handlers to its
router, which injects the connector). A publisher reads what expense holds, adds what is
missing (``POST``, with an ``Idempotency-Key``: a repeat never adds a second item) and renames
or deactivates what changed (``PUT``: repeating it is harmless). Every change is audited
with before and after.
"""

# No `from __future__ import annotations`: Litestar must see the real parameter types.

from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, TypeVar

from litestar import Request, get, post, put
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody, PathParameter, QueryParameter

from policies.call import current_call, governed
from policies.problems import problem_spec
from policies.services import PolicyServices
from system_apis.canonical import Page
from system_apis.canonical.masterdata import Dimension, DimensionValue, DimensionValueDraft, DimensionValueUpdate
from system_apis.connectors.expense import ExpenseConnector, lists
from system_apis.connectors.kit import PlatformError
from system_apis.paging import Cursor, Limit, foreign_cursor, list_errors

__all__ = ["SCOPES", "list_handlers"]

SCOPES = {
    "expense:lists:read": "Read the ERP dimension values the expense platform holds (list items).",
    "expense:lists:write": "Add, rename, deactivate and reactivate ERP dimension values in the expense platform.",
}

T = TypeVar("T")
Connector = NamedDependency[ExpenseConnector]
Services = NamedDependency[PolicyServices]
ItemId = Annotated[
    str, PathParameter(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_$-]+$",
                       description="List item id, as given by this API.")
]


async def _platform(call: Awaitable[T]) -> T:
    try:
        return await call
    except PlatformError as exc:
        raise exc.problem() from exc
    except ValueError as exc:  # a cursor the connector did not issue
        raise foreign_cursor(exc) from None


def list_handlers(platform_errors: Mapping[int, ResponseSpec]) -> list[Callable[..., Any]]:
    """The list item handlers; ``platform_errors`` are the API's answers when the platform fails."""
    errors = dict(platform_errors)
    create_errors = {
        **errors,
        409: problem_spec("The dimension already holds an item with this code (it is listed with `code`)."),
        422: problem_spec("The platform refused the content."),
    }

    @get(
        "/list-items",
        opt=governed("expense:lists:read", operation="list_list_items"),
        responses=list_errors(errors),
    )
    async def list_list_items(
        connector: Connector,
        dimension: Annotated[Dimension, QueryParameter(description="The dimension (one list per dimension).")],
        code: Annotated[str | None, QueryParameter(min_length=1, max_length=20, description="Only this code.")] = None,
        active: Annotated[bool | None, QueryParameter(description="Only usable (true) or deactivated (false).")] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[DimensionValue]:
        """ERP dimension values in the expense platform, of one dimension, optionally of one code or state."""
        return await _platform(lists.list_list_items(
            connector, dimension=dimension, code=code, active=active, limit=limit, cursor=cursor))

    @get(
        "/list-items/{item_id:str}",
        opt=governed("expense:lists:read", operation="get_list_item"),
        responses=errors,
    )
    async def get_list_item(connector: Connector, item_id: ItemId) -> DimensionValue:
        """One value."""
        return await _platform(lists.get_list_item(connector, item_id))

    @post(
        "/list-items",
        status_code=201,
        opt=governed("expense:lists:write", effect=True, operation="create_list_item"),
        responses=create_errors,
    )
    async def create_list_item(
        request: Request[Any, Any, Any], connector: Connector, services: Services, data: JSONBody[DimensionValueDraft]
    ) -> DimensionValue:
        """Add a value to a dimension (once per Idempotency-Key; a code already held is 409)."""
        created = await _platform(lists.create_list_item(connector, data))
        await services.audit.record_remote_change(
            current_call(request.scope), resource_ids={"list_item_id": created.id}, before=None, after=created,
            outcome=201,
        )
        return created

    @put(
        "/list-items/{item_id:str}",
        opt=governed("expense:lists:write", operation="update_list_item"),
        responses=errors,
    )
    async def update_list_item(
        request: Request[Any, Any, Any], connector: Connector, services: Services, item_id: ItemId,
        data: JSONBody[DimensionValueUpdate],
    ) -> DimensionValue:
        """Rename, deactivate or reactivate a value; audited with before and after."""
        before = await _platform(lists.get_list_item(connector, item_id))
        after = await _platform(lists.update_list_item(connector, item_id, data))
        await services.audit.record_remote_change(
            current_call(request.scope), resource_ids={"list_item_id": item_id}, before=before, after=after
        )
        return after

    return [list_list_items, get_list_item, create_list_item, update_list_item]
