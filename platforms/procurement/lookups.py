"""``/api/lookup_values``: the values of Coupa lookups (chart-of-accounts segments and the like).

A Coupa site codes requisition and order lines with lookups; an integration keeps their values
in step with the ERP. Each value belongs to one lookup (referred to by id or by name, as Coupa
allows for associations), carries the ERP code as ``external-ref-code`` (unique within its
lookup) and is deactivated rather than deleted, so lines coded with it keep their meaning.

The site has three lookups: ``Legal Entity``, ``GL Account`` and ``Cost Center``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, get, post, put
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter, QueryParams

from platforms.kit.app import SandboxState
from platforms.procurement.auth import authorize
from platforms.procurement.bodies import StrictBody
from platforms.procurement.common import (
    CHANGE_ERRORS,
    LIST_ERRORS,
    READ_ERRORS,
    CoupaError,
    load,
    next_id,
    now,
    page,
    save,
)
from platforms.procurement.models import CustomFields

__all__ = [
    "LOOKUPS",
    "LookupRef",
    "LookupValue",
    "LookupValueCreate",
    "LookupValueUpdate",
    "lookup_handlers",
]

Sandbox = NamedDependency[SandboxState]
Id = Annotated[int, PathParameter(ge=1, le=2**31 - 1, description="Coupa id.")]
COLLECTION = "lookup_values"

LOOKUPS: dict[str, int] = {"Legal Entity": 1, "GL Account": 2, "Cost Center": 3}
"""The site's lookups by name, with their ids."""

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
Code = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]


class LookupRef(msgspec.Struct, rename="kebab", kw_only=True, forbid_unknown_fields=True):
    """A lookup, by id or by name (one of the two)."""

    id: Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)] | None = None
    """Id of the lookup."""
    name: Name | None = None
    """Name of the lookup."""


class LookupValue(msgspec.Struct, rename="kebab", kw_only=True):
    """A lookup value (``/api/lookup_values``)."""

    id: int
    """Coupa id."""
    created_at: datetime
    """Creation time."""
    updated_at: datetime
    """Last change."""
    name: str
    """Name shown to users."""
    description: str | None = None
    """Longer text."""
    external_ref_code: str
    """Code in the system of record (the ERP code); unique within the lookup."""
    external_ref_num: str | None = None
    """Number in the system of record, if it has one."""
    active: bool = True
    """Whether users may choose it."""
    lookup: LookupRef
    """The lookup it belongs to (id and name)."""
    custom_fields: CustomFields = msgspec.field(default_factory=dict)
    """Site fields."""


class LookupValueCreate(msgspec.Struct, rename="kebab", kw_only=True, forbid_unknown_fields=True):
    """A new lookup value."""

    name: Name
    """Name shown to users."""
    external_ref_code: Code
    """Code in the system of record; unique within the lookup."""
    lookup: LookupRef
    """The lookup it belongs to."""
    description: str | None = None
    """Longer text."""
    external_ref_num: str | None = None
    """Number in the system of record."""
    active: bool = True
    """Whether users may choose it."""
    custom_fields: CustomFields = msgspec.field(default_factory=dict)
    """Site fields."""


class LookupValueUpdate(msgspec.Struct, rename="kebab", kw_only=True, forbid_unknown_fields=True):
    """A partial update: fields left out are kept; custom fields are merged."""

    name: Name | None = None
    """New name."""
    description: str | None = None
    """New description."""
    active: bool | None = None
    """Deactivate or reactivate."""
    custom_fields: CustomFields | None = None
    """Site fields to set."""


def _lookup(ref: LookupRef) -> LookupRef:
    """The lookup ``ref`` names, with id and name; 404 when there is none."""
    for name, id in LOOKUPS.items():
        if (ref.id is None or ref.id == id) and (ref.name is None or ref.name == name) and (ref.id or ref.name):
            return LookupRef(id=id, name=name)
    raise CoupaError(404, "lookup not found (give the id or the name of an existing lookup)")


@get("/api/lookup_values", sync_to_thread=False, responses=LIST_ERRORS)
def list_lookup_values(request: Request[Any, Any, Any], sandbox: Sandbox, query: QueryParams) -> list[LookupValue]:
    """Lookup values, filtered by any field (``lookup[name]=Cost Center``, ``active=false``), ``offset``/``limit``."""
    authorize(request, sandbox, "core.common.read")
    docs = page(sandbox.store, COLLECTION, LookupValue, dict(query.items()))
    return [msgspec.convert(d, LookupValue) for d in docs]


@get("/api/lookup_values/{id:int}", sync_to_thread=False, responses=READ_ERRORS)
def get_lookup_value(request: Request[Any, Any, Any], sandbox: Sandbox, id: Id) -> LookupValue:
    """One lookup value."""
    authorize(request, sandbox, "core.common.read")
    return load(sandbox.store, COLLECTION, LookupValue, id, "lookup value")


@post("/api/lookup_values", status_code=201, dto=StrictBody[LookupValueCreate], return_dto=None,
      sync_to_thread=False, responses=CHANGE_ERRORS)
def create_lookup_value(
    request: Request[Any, Any, Any], sandbox: Sandbox, data: JSONBody[LookupValueCreate]
) -> LookupValue:
    """Create a lookup value; its ``external-ref-code`` is unique within the lookup."""
    authorize(request, sandbox, "core.common.write")
    store = sandbox.store
    lookup = _lookup(data.lookup)
    taken = [d for d in store.find(COLLECTION, **{"external-ref-code": data.external_ref_code})
             if d["lookup"]["id"] == lookup.id]
    if taken:
        raise CoupaError(422, f"external-ref-code {data.external_ref_code!r} has already been taken in {lookup.name}")
    moment = now()
    value = LookupValue(
        id=next_id(store, COLLECTION), created_at=moment, updated_at=moment, name=data.name,
        description=data.description, external_ref_code=data.external_ref_code,
        external_ref_num=data.external_ref_num, active=data.active, lookup=lookup, custom_fields=data.custom_fields,
    )
    save(store, COLLECTION, value)
    return value


@put("/api/lookup_values/{id:int}", dto=StrictBody[LookupValueUpdate], return_dto=None,
     sync_to_thread=False, responses=CHANGE_ERRORS)
def update_lookup_value(
    request: Request[Any, Any, Any], sandbox: Sandbox, id: Id, data: JSONBody[LookupValueUpdate]
) -> LookupValue:
    """Rename, describe, deactivate or reactivate a lookup value."""
    authorize(request, sandbox, "core.common.write")
    store = sandbox.store
    value = load(store, COLLECTION, LookupValue, id, "lookup value")
    changes: dict[str, Any] = {
        name: getattr(data, name) for name in ("name", "description", "active") if getattr(data, name) is not None
    }
    if data.custom_fields is not None:
        changes["custom_fields"] = {**value.custom_fields, **data.custom_fields}
    value = msgspec.structs.replace(value, **changes, updated_at=now())
    save(store, COLLECTION, value)
    return value


lookup_handlers = [list_lookup_values, get_lookup_value, create_lookup_value, update_lookup_value]
"""The lookup value handlers, for the app."""
