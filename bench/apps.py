"""The applications the benchmark serves, all answering the same small JSON document.

* :func:`bare_app`: a hand-written ASGI callable, the ceiling of the server itself;
* :func:`plain_app`: the bench GET handler in a Litestar app of its own, no policy chain;
* :func:`gateway_app`: the whole gateway (default catalog plus the ``bench`` API), with the
  chain configured by :func:`bench_settings`: every policy, or none (``enabled = []``);
* :func:`erp_sandbox_app`: the ERP sandbox alone (the system tier's direct baseline; it answers
  its own OData, not the JSON above).

The ``bench`` API has a governed GET (scope ``bench:read``) and a governed POST that creates
an effect (scope ``bench:write``, ``Idempotency-Key`` required) and commits a row of its own
table together with its audit record, the way ``gateway/admin.py`` creates a client.
"""

# No `from __future__ import annotations`: Litestar and msgspec must see the real types of
# the handlers' parameters and return values (they are built inside a function).

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
import sqlalchemy as sa
from litestar import Litestar, Request, get, post
from litestar.types import Receive, Scope, Send

from gateway.app import Gateway, create_app
from gateway.catalog import ApiDescriptor, BuildContext, Catalog
from gateway.dependencies import Services
from gateway.registry import default_catalog
from gateway.settings import Settings, load_settings
from policies.call import current_call, governed

TIER = "bench"
"""SLA tier of the bench client; its limits are far above anything the benchmark can reach."""
UNLIMITED = "1000000000/minute"
SCOPES = ("bench:read", "bench:write")
GET_PATH = "/bench/v1/quote"
POST_PATH = "/bench/v1/items"


class Quote(msgspec.Struct, frozen=True):
    """The small JSON every GET scenario answers with."""

    id: str
    currency: str
    amount: str
    status: str


QUOTE = Quote(id="q_0001", currency="EUR", amount="1234.56", status="ok")
QUOTE_JSON = msgspec.json.encode(QUOTE)


class ItemCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Body of the bench POST."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    amount: Annotated[str, msgspec.Meta(pattern=r"^-?[0-9]{1,12}(\.[0-9]{1,2})?$")]


class Item(msgspec.Struct, frozen=True):
    """What the bench POST created."""

    id: int
    name: str
    amount: str
    created_at: datetime


metadata = sa.MetaData()
bench_items = sa.Table(
    "bench_items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("amount", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
"""The bench POST's own table; created by ``run.py`` next to the gateway's tables."""
INSERT_ITEM = bench_items.insert()


def quote_handler() -> Any:
    """A fresh GET handler (one per app): the same code governed or not."""

    @get(GET_PATH, opt=governed("bench:read", operation="read_quote"), sync_to_thread=False)
    def read_quote() -> Quote:
        """A constant quote; the work measured is the framework's and the chain's."""
        return QUOTE

    return read_quote


def bench_routes(context: BuildContext) -> list[Any]:
    """Route factory of the ``bench`` API."""

    @post(POST_PATH, status_code=201, opt=governed("bench:write", effect=True, operation="create_item"))
    async def create_item(request: Request[Any, Any, Any], services: Services, data: ItemCreate) -> Item:
        """Insert one row and its audit record in one transaction."""
        call = current_call(request.scope)
        now = datetime.now(UTC)
        async with services.engine.begin() as conn:
            # A prebuilt statement with parameters: SQLAlchemy reuses its compiled form.
            result = await conn.execute(INSERT_ITEM, {"name": data.name, "amount": data.amount, "created_at": now})
            item = Item(id=int(result.inserted_primary_key[0]), name=data.name, amount=data.amount, created_at=now)
            await services.audit.record_change(
                conn,
                call,
                resource_ids={"item_id": str(item.id)},
                before=None,
                after=msgspec.to_builtins(item),
                outcome=201,
            )
        return item

    return [quote_handler(), create_item]


def bench_catalog() -> Catalog:
    """The default catalog plus the ``bench`` API, so routing sees a realistic set of mounts."""
    bench = ApiDescriptor(
        name="bench",
        tier="gateway",
        major=1,
        owner="platform",
        summary="Benchmark API: a constant GET and an audited, idempotent POST.",
        prefixes=("/bench/v1",),
        scopes={"bench:read": "Read the bench quote.", "bench:write": "Create bench items."},
        routes=bench_routes,
    )
    return Catalog(apis=(*default_catalog().apis, bench))


def bench_settings(
    data_dir: str,
    *,
    throttle: str = "memory://",
    governed: bool = True,
    enabled: tuple[str, ...] | None = None,
    erp: dict[str, Any] | None = None,
) -> Settings:
    """Settings of a benchmarked gateway.

    Args:
        data_dir: Directory of its embedded SQLite database.
        throttle: Counter storage of the throttling policy (``memory://`` or ``redis://…``).
        governed: Every policy on the ``bench`` API, or none of them (``enabled = []``).
        enabled: Run only these policies on the ``bench`` API (for measuring one policy's cost).
        erp: ``[platforms.erp]`` settings (``connection``, ``sandbox``) for the system tier's runs.

    Returns:
        Settings whose limits are never reached, so no call is throttled.
    """
    if enabled is None and not governed:
        enabled = ()
    return load_settings(
        environ={},
        data_dir=data_dir,
        logging={"level": "WARNING", "json": True, "access_log": False},
        auth={"token_ttl_seconds": 3600},
        throttling={
            "storage": throttle,
            "tiers": {TIER: UNLIMITED},
            "default_tier": TIER,
            "spike": "100000000/second",
        },
        apis={} if enabled is None else {"bench": {"enabled": list(enabled)}},
        platforms={} if erp is None else {"erp": erp},
    )


def gateway_app(
    data_dir: str,
    *,
    throttle: str = "memory://",
    governed: bool = True,
    enabled: tuple[str, ...] | None = None,
    erp: dict[str, Any] | None = None,
) -> Gateway:
    """The gateway with the ``bench`` API, as ``finrail serve`` would build it."""
    settings = bench_settings(data_dir, throttle=throttle, governed=governed, enabled=enabled, erp=erp)
    return create_app(settings, bench_catalog())


def erp_sandbox_app(data_path: str) -> Litestar:
    """The ERP sandbox as ``python -m platforms.erp --data PATH`` runs it (seeded when the file is empty)."""
    from platforms.erp.app import create_app as create_erp
    from platforms.kit.config import SandboxConfig

    return create_erp(SandboxConfig(data_path=data_path))


def plain_app() -> Litestar:
    """The bench GET handler in a Litestar app without the policy chain."""
    return Litestar(route_handlers=[quote_handler()], openapi_config=None, logging_config=None, debug=False)


async def bare_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The same answer with no framework at all: the ceiling of uvicorn on this machine."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(QUOTE_JSON)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": QUOTE_JSON})
