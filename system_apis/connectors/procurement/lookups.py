"""Master data in procurement: ERP dimension values as Coupa lookup values.

Each canonical :data:`~system_apis.canonical.masterdata.Dimension` is one Coupa lookup
(``Legal Entity``, ``GL Account``, ``Cost Center``); a value's ERP code is its
``external-ref-code``, unique within the lookup. That uniqueness is what makes a create safe
to repeat: after a lost answer the value is looked up by lookup and code before it is sent
again (:meth:`~system_apis.connectors.kit.PlatformClient.create_once`). Values are never
deleted, only deactivated, as Coupa keeps them for the lines already coded with them.

The functions extend :class:`~system_apis.connectors.procurement.client.ProcurementConnector`
(its client, token, retries and breaker) without adding to it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from system_apis.canonical.masterdata import Dimension, DimensionValue, DimensionValueDraft, DimensionValueUpdate
from system_apis.connectors.kit import MalformedAnswer, PlatformRejected
from system_apis.connectors.procurement.client import PLATFORM, ProcurementConnector
from system_apis.connectors.procurement.client import _coupa_id as coupa_id

__all__ = [
    "LOOKUP_OF",
    "PATH",
    "LookupValueWire",
    "create_lookup_value",
    "get_lookup_value",
    "list_lookup_values",
    "lookup_value_from_wire",
    "update_lookup_value",
]

PATH = "/api/lookup_values"
LOOKUP_OF: dict[Dimension, str] = {"legal-entity": "Legal Entity", "gl-account": "GL Account",
                                   "cost-center": "Cost Center"}
"""The Coupa lookup holding each dimension."""
_DIMENSION_OF = {name: dimension for dimension, name in LOOKUP_OF.items()}


class _Wire(msgspec.Struct, rename="kebab", kw_only=True, omit_defaults=True):
    """Hyphenated names, as Coupa spells them."""


class LookupRefWire(_Wire, kw_only=True):
    """A lookup, by id or name."""

    id: int | None = None
    """Lookup id."""
    name: str | None = None
    """Lookup name."""


class LookupValueWire(_Wire, kw_only=True):
    """A Coupa lookup value, as much of it as Finrail reads."""

    id: int
    """Coupa id."""
    name: str
    """Name shown to users."""
    external_ref_code: str
    """The ERP code."""
    active: bool = True
    """Whether users may choose it."""
    lookup: LookupRefWire
    """The lookup it belongs to."""
    updated_at: datetime | None = None
    """Last change."""


class LookupValueCreateWire(_Wire, kw_only=True):
    """``POST /api/lookup_values``."""

    name: str
    """Name."""
    external_ref_code: str
    """ERP code."""
    lookup: LookupRefWire
    """Lookup, by name."""
    active: bool = True
    """Whether users may choose it."""


class LookupValueUpdateWire(_Wire, kw_only=True):
    """``PUT /api/lookup_values/{id}``: only what changes is sent."""

    name: str | None = None
    """New name."""
    active: bool | None = None
    """New state."""


def lookup_value_from_wire(value: LookupValueWire) -> DimensionValue:
    """The canonical value of a lookup value; one of a lookup Finrail does not publish is malformed."""
    dimension = _DIMENSION_OF.get(value.lookup.name or "")
    if dimension is None:
        raise MalformedAnswer(f"lookup value {value.id} belongs to lookup {value.lookup.name!r}, not a dimension",
                              platform=PLATFORM)
    return DimensionValue(id=str(value.id), dimension=dimension, code=value.external_ref_code, name=value.name,
                          active=value.active)


def _filters(dimension: Dimension | None, code: str | None, active: bool | None) -> dict[str, str]:
    params: dict[str, str] = {}
    if dimension is not None:
        params["lookup[name]"] = LOOKUP_OF[dimension]
    else:
        params["lookup[name][in]"] = ",".join(LOOKUP_OF.values())
    if code is not None:
        params["external-ref-code"] = code
    if active is not None:
        params["active"] = "true" if active else "false"
    return params


async def list_lookup_values(
    connector: ProcurementConnector, *, offset: int = 0, limit: int = 50, dimension: Dimension | None = None,
    code: str | None = None, active: bool | None = None,
) -> tuple[list[DimensionValue], bool]:
    """Values of one dimension (or all), in Coupa's order; returns the items and whether more follow."""
    return await connector._list(PATH, LookupValueWire, lookup_value_from_wire,
                                 _filters(dimension, code, active), offset, limit)


def _coupa_id(value_id: str) -> int:
    return coupa_id(value_id, "lookup value")


async def get_lookup_value(connector: ProcurementConnector, value_id: str) -> DimensionValue:
    """One value (404 for an unknown id, or one of a lookup that is not a dimension)."""
    found = await connector._call("GET", f"{PATH}/{_coupa_id(value_id)}", LookupValueWire)
    if found.lookup.name not in _DIMENSION_OF:
        raise PlatformRejected(404, f"lookup value {value_id} not found", platform=PLATFORM)
    return lookup_value_from_wire(found)


async def create_lookup_value(connector: ProcurementConnector, draft: DimensionValueDraft) -> DimensionValue:
    """Add a value once: a repeat after a lost answer finds it by lookup and code instead of adding it again."""
    body = LookupValueCreateWire(name=draft.name, external_ref_code=draft.code,
                                 lookup=LookupRefWire(name=LOOKUP_OF[draft.dimension]), active=draft.active)

    async def create() -> LookupValueWire:
        return await connector._call("POST", PATH, LookupValueWire, json=body, retry=False)

    async def find() -> LookupValueWire | None:
        many: Any = list[LookupValueWire]
        found: list[LookupValueWire] = await connector._call(
            "GET", PATH, many, params={**_filters(draft.dimension, draft.code, None), "limit": "1"})
        return found[0] if found else None

    try:
        created = await connector.client.create_once(create, find)
    except PlatformRejected as exc:
        if exc.platform_status == 422 and "already been taken" in exc.detail:
            raise PlatformRejected(409, exc.detail, platform=PLATFORM) from exc
        raise
    return lookup_value_from_wire(created)


async def update_lookup_value(
    connector: ProcurementConnector, value_id: str, update: DimensionValueUpdate
) -> DimensionValue:
    """Rename, deactivate or reactivate a value; repeating the same change is harmless."""
    body = LookupValueUpdateWire(name=update.name, active=update.active)
    updated = await connector._call("PUT", f"{PATH}/{_coupa_id(value_id)}", LookupValueWire,
                                    json=body)
    return lookup_value_from_wire(updated)
