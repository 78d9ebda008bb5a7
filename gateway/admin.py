"""Admin API (``/admin/v1``): clients, the audit trail and the catalog, under every policy.

Every change here commits together with its audit record (before and after), in one
transaction; secrets are shown once, in the answer that creates them, and never audited.
"""

# No `from __future__ import annotations`: the request Structs are built per catalog inside
# admin_routes(), and Litestar and msgspec must see their real types, not strings.

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, get, post
from litestar.params import JSONBody, PathParameter, QueryParameter

from gateway.catalog import BuildContext, CatalogEntry
from gateway.dependencies import CatalogDependency, Services
from policies.audit import AuditRecord
from policies.call import current_call, governed
from policies.clients import ClientRecord
from policies.problems import Problem, problem_spec

__all__ = ["ADMIN_SCOPES", "AuditPage", "ClientPage", "ClientView", "admin_routes", "client_view"]

ADMIN_SCOPES = {
    "admin:clients:read": "List and read API clients.",
    "admin:clients:write": "Create, rotate and disable API clients.",
    "admin:audit:read": "Read the audit trail.",
    "admin:catalog:read": "Read the API catalog.",
}

ClientId = Annotated[
    str, PathParameter(description="Client id.", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
]


class ClientView(msgspec.Struct, frozen=True):
    """An API client, without its secret."""

    client_id: str
    """Public client id."""
    name: str
    """Human name."""
    scopes: list[str]
    """Scopes the client may request."""
    tier: str
    """SLA tier that sets its rate limits."""
    status: Literal["active", "disabled"]
    """Disabled clients get no tokens and their tokens stop working."""
    created_at: datetime
    """When the client was registered (UTC)."""
    updated_at: datetime
    """Last change (UTC)."""


class ClientPage(msgspec.Struct, frozen=True):
    """One page of clients."""

    items: list[ClientView]
    """Clients, ordered by id."""
    next_cursor: str | None
    """Pass as ``after`` for the next page; null on the last page."""


class AuditPage(msgspec.Struct, frozen=True):
    """One page of audit records."""

    items: list[AuditRecord]
    """Records, ordered by sequence number."""
    next_cursor: int | None
    """Pass as ``after`` for the next page; null on the last page."""


def client_view(record: ClientRecord) -> ClientView:
    """The public view of a client record (never its secret hash)."""
    return ClientView(
        client_id=record.client_id,
        name=record.name,
        scopes=list(record.scopes),
        tier=record.tier,
        status=record.status,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def _instant(name: str, value: str | None) -> datetime | None:
    """An RFC 3339 time from a query parameter; a number or a time without zone is refused."""
    if value is None:
        return None
    try:
        moment: datetime | None = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
        if moment is not None and moment.tzinfo is not None:
            moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):
        moment = None
    if moment is None or moment.tzinfo is None or "T" not in value.upper():
        raise Problem(400, f"query.{name}: give an RFC 3339 time with a zone, e.g. 2026-01-01T00:00:00Z",
                      kind="validation", title="Invalid request")
    return moment


def admin_routes(context: BuildContext) -> list[Any]:
    """The admin API's handlers; scope and tier enums come from the catalog and settings."""
    scope_names = tuple(sorted(context.catalog.scopes))
    tiers = tuple(sorted(context.settings.throttling.tiers))
    scope_name = Literal[scope_names]  # type: ignore[valid-type]
    tier_name = Literal[tiers]  # type: ignore[valid-type]

    class ClientCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
        """A client to register."""

        name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
        """Human name, e.g. the calling application."""
        scopes: Annotated[list[scope_name], msgspec.Meta(min_length=1, max_length=len(scope_names))]
        """Scopes the client may request."""
        tier: tier_name
        """SLA tier that sets its rate limits."""

    class ClientCredentials(msgspec.Struct, frozen=True):
        """A client with its secret, shown only in this answer."""

        client_id: str
        """Public client id."""
        client_secret: str
        """Secret for the token endpoint; store it now, it cannot be shown again."""
        client: ClientView
        """The client."""

    def _credentials(record: ClientRecord, secret: str) -> ClientCredentials:
        return ClientCredentials(client_id=record.client_id, client_secret=secret, client=client_view(record))

    @get("/admin/v1/clients", opt=governed("admin:clients:read", operation="list_clients"))
    async def list_clients(
        services: Services,
        status: Annotated[Literal["active", "disabled"] | None, QueryParameter()] = None,
        after: Annotated[str | None, QueryParameter(max_length=64)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    ) -> ClientPage:
        """List clients, ordered by id, one page at a time."""
        records = await services.clients.list(status=status, after=after, limit=limit + 1)
        more = len(records) > limit
        items = [client_view(r) for r in records[:limit]]
        return ClientPage(items=items, next_cursor=items[-1].client_id if more else None)

    @get("/admin/v1/clients/{client_id:str}", opt=governed("admin:clients:read", operation="get_client"))
    async def get_client(services: Services, client_id: ClientId) -> ClientView:
        """One client."""
        record = await services.clients.get(client_id)
        if record is None:
            raise Problem(404, f"no client {client_id}")
        return client_view(record)

    @post(
        "/admin/v1/clients",
        status_code=201,
        opt=governed("admin:clients:write", effect=True, operation="create_client"),
    )
    async def create_client(
        request: Request[Any, Any, Any], services: Services, data: JSONBody[ClientCreate]
    ) -> ClientCredentials:
        """Register a client; the answer holds its secret, shown this once."""
        call = current_call(request.scope)
        async with services.engine.begin() as conn:
            record, secret = await services.clients.create(data.name, tuple(data.scopes), data.tier, conn=conn)
            call.resource_ids["client_id"] = record.client_id
            await services.audit.record_change(
                conn, call, resource_ids={"client_id": record.client_id}, before=None,
                after=msgspec.to_builtins(client_view(record)), outcome=201,
            )
        return _credentials(record, secret)

    @post(
        "/admin/v1/clients/{client_id:str}/rotate",
        status_code=200,
        opt=governed("admin:clients:write", effect=True, operation="rotate_client_secret"),
    )
    async def rotate_client(
        request: Request[Any, Any, Any], services: Services, client_id: ClientId
    ) -> ClientCredentials:
        """Replace a client's secret; the old one stops working at once."""
        call = current_call(request.scope)
        call.resource_ids["client_id"] = client_id
        async with services.engine.begin() as conn:
            before = await services.clients.get(client_id, conn=conn)
            rotated = await services.clients.rotate(client_id, conn=conn) if before else None
            if before is None or rotated is None:
                raise Problem(404, f"no client {client_id}")
            record, secret = rotated
            await services.audit.record_change(
                conn, call, resource_ids={"client_id": client_id}, before=msgspec.to_builtins(client_view(before)),
                after=msgspec.to_builtins(client_view(record)),
            )
        services.clients.forget(client_id)
        return _credentials(record, secret)

    @post(
        "/admin/v1/clients/{client_id:str}/disable",
        status_code=200,
        opt=governed("admin:clients:write", operation="disable_client"),
        responses={409: problem_spec("The caller tried to disable itself.")},
    )
    async def disable_client(request: Request[Any, Any, Any], services: Services, client_id: ClientId) -> ClientView:
        """Disable a client: no new tokens, and its current tokens stop working."""
        call = current_call(request.scope)
        call.resource_ids["client_id"] = client_id
        if client_id == call.client_id:
            raise Problem(409, "a client cannot disable itself; disable it with another client or the CLI",
                          kind="self-disable")
        async with services.engine.begin() as conn:
            before = await services.clients.get(client_id, conn=conn)
            record = await services.clients.disable(client_id, conn=conn) if before else None
            if before is None or record is None:
                raise Problem(404, f"no client {client_id}")
            await services.audit.record_change(
                conn, call, resource_ids={"client_id": client_id}, before=msgspec.to_builtins(client_view(before)),
                after=msgspec.to_builtins(client_view(record)),
            )
        services.clients.forget(client_id)
        return client_view(record)

    @get("/admin/v1/audit", opt=governed("admin:audit:read", operation="query_audit"))
    async def query_audit(
        services: Services,
        since: Annotated[str | None, QueryParameter(description="Earliest time, inclusive (RFC 3339).",
                                               schema_extra={"format": "date-time"})] = None,
        until: Annotated[str | None, QueryParameter(description="Latest time, exclusive (RFC 3339).",
                                               schema_extra={"format": "date-time"})] = None,
        client_id: Annotated[str | None, QueryParameter(max_length=64)] = None,
        correlation_id: Annotated[str | None, QueryParameter(max_length=128)] = None,
        after: Annotated[int, QueryParameter(ge=0, le=2**53 - 1, description="Cursor: the last seq seen.")] = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
    ) -> AuditPage:
        """Audit records, filtered, in sequence order, one page at a time."""
        records = await services.audit.query(
            since=_instant("since", since), until=_instant("until", until), client_id=client_id,
            correlation_id=correlation_id, after_seq=after or None, limit=limit + 1,
        )
        more = len(records) > limit
        items = records[:limit]
        return AuditPage(items=items, next_cursor=items[-1].seq if more else None)

    @get("/admin/v1/catalog", opt=governed("admin:catalog:read", operation="read_catalog"))
    async def read_catalog(catalog: CatalogDependency) -> list[CatalogEntry]:
        """Every API Finrail serves, by tier, with version, owner, status and scopes."""
        return catalog.entries()

    return [list_clients, get_client, create_client, rotate_client, disable_client, query_audit, read_catalog]
