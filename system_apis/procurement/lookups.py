"""``/system/procurement/v1/lookup-values``: ERP dimension values held by procurement.

Part of the procurement system API (:mod:`system_apis.procurement.api` adds these handlers to
its router, which injects the connector). A publisher reads what procurement holds, adds what
is missing (``POST``, with an ``Idempotency-Key``: a repeat never adds a second value) and
renames or deactivates what changed (``PUT``: repeating it is harmless). Every change is
audited with before and after.
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
from system_apis.connectors.kit import PlatformError
from system_apis.connectors.procurement import lookups
from system_apis.connectors.procurement.client import ProcurementConnector
from system_apis.paging import Cursor, Limit, list_errors, offset_page, read_offset

__all__ = ["SCOPES", "lookup_handlers"]

SCOPES = {
    "procurement:master_data:read": "Read the ERP dimension values procurement holds (lookup values).",
    "procurement:master_data:write": "Add, rename, deactivate and reactivate ERP dimension values in procurement.",
}

T = TypeVar("T")
Connector = NamedDependency[ProcurementConnector]
Services = NamedDependency[PolicyServices]
ValueId = Annotated[
    str, PathParameter(min_length=1, max_length=64, description="Lookup value id, as given by this API.")
]


async def _platform(call: Awaitable[T]) -> T:
    try:
        return await call
    except PlatformError as exc:
        raise exc.problem() from exc


def lookup_handlers(platform_errors: Mapping[int, ResponseSpec]) -> list[Callable[..., Any]]:
    """The lookup value handlers; ``platform_errors`` are the API's answers when the platform fails."""
    errors = dict(platform_errors)
    create_errors = {
        **errors,
        409: problem_spec("The dimension already holds a value with this code (it is listed with `code`)."),
        422: problem_spec("The platform refused the content."),
    }

    @get(
        "/lookup-values",
        opt=governed("procurement:master_data:read", operation="list_lookup_values"),
        responses=list_errors(errors),
    )
    async def list_lookup_values(
        connector: Connector,
        dimension: Annotated[Dimension | None, QueryParameter(description="Only this dimension.")] = None,
        code: Annotated[str | None, QueryParameter(min_length=1, max_length=20, description="Only this code.")] = None,
        active: Annotated[bool | None, QueryParameter(description="Only usable (true) or deactivated (false).")] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[DimensionValue]:
        """ERP dimension values in procurement, optionally of one dimension, code or state."""
        offset = read_offset(cursor)
        items, more = await _platform(lookups.list_lookup_values(
            connector, offset=offset, limit=limit, dimension=dimension, code=code, active=active))
        return offset_page(items, offset=offset, more=more)

    @get(
        "/lookup-values/{value_id:str}",
        opt=governed("procurement:master_data:read", operation="get_lookup_value"),
        responses=errors,
    )
    async def get_lookup_value(connector: Connector, value_id: ValueId) -> DimensionValue:
        """One value."""
        return await _platform(lookups.get_lookup_value(connector, value_id))

    @post(
        "/lookup-values",
        status_code=201,
        opt=governed("procurement:master_data:write", effect=True, operation="create_lookup_value"),
        responses=create_errors,
    )
    async def create_lookup_value(
        request: Request[Any, Any, Any], connector: Connector, services: Services, data: JSONBody[DimensionValueDraft]
    ) -> DimensionValue:
        """Add a value to a dimension (once per Idempotency-Key; a code already held is 409)."""
        created = await _platform(lookups.create_lookup_value(connector, data))
        await services.audit.record_remote_change(
            current_call(request.scope), resource_ids={"lookup_value_id": created.id}, before=None, after=created,
            outcome=201,
        )
        return created

    @put(
        "/lookup-values/{value_id:str}",
        opt=governed("procurement:master_data:write", operation="update_lookup_value"),
        responses=errors,
    )
    async def update_lookup_value(
        request: Request[Any, Any, Any], connector: Connector, services: Services, value_id: ValueId,
        data: JSONBody[DimensionValueUpdate],
    ) -> DimensionValue:
        """Rename, deactivate or reactivate a value; audited with before and after."""
        before = await _platform(lookups.get_lookup_value(connector, value_id))
        after = await _platform(lookups.update_lookup_value(connector, value_id, data))
        await services.audit.record_remote_change(
            current_call(request.scope), resource_ids={"lookup_value_id": value_id}, before=before, after=after
        )
        return after

    return [list_lookup_values, get_lookup_value, create_lookup_value, update_lookup_value]
