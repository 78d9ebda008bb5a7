"""Master data as the procurement and expense platforms hold it: values of ERP dimensions.

The ERP owns legal entities, GL accounts and cost centers; procurement (Coupa lookup values)
and expense (Concur list items) hold copies so that requisitions and expense entries can be
coded. Each copy is a :class:`DimensionValue`: the ERP code, a name and whether it may be used,
under one :data:`Dimension`. The same shape is answered by both system APIs, so a publisher
compares the ERP with each platform without knowing either dialect.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

__all__ = [
    "DIMENSIONS",
    "Dimension",
    "DimensionCode",
    "DimensionName",
    "DimensionValue",
    "DimensionValueDraft",
    "DimensionValueUpdate",
]

Dimension = Literal["legal-entity", "gl-account", "cost-center"]
"""An ERP dimension published to the other platforms."""

DIMENSIONS: tuple[Dimension, ...] = ("legal-entity", "gl-account", "cost-center")
"""Every dimension, in the order a publisher writes them (entities before what refers to them)."""

DimensionCode = Annotated[
    str, msgspec.Meta(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,19}$",
                      description="The value's code in the ERP (company code, account number, cost center).")
]
"""The ERP code of a value: the key both platforms keep it under."""

DimensionName = Annotated[str, msgspec.Meta(min_length=1, max_length=64, description="Name shown to users.")]
"""What users see next to the code."""


class DimensionValue(msgspec.Struct, frozen=True, kw_only=True):
    """One value of a dimension as a platform holds it."""

    id: str
    """The platform's id of the value (Coupa lookup value id, Concur list item id)."""
    dimension: Dimension
    """Which dimension it belongs to."""
    code: str
    """The ERP code it copies."""
    name: str
    """Name shown to users."""
    active: bool
    """Whether users may choose it (an inactive value is kept, not deleted)."""


class DimensionValueDraft(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A value to add to a platform."""

    dimension: Dimension
    """Which dimension it belongs to."""
    code: DimensionCode
    """The ERP code; unique within the dimension on the platform."""
    name: DimensionName
    """Name shown to users."""
    active: bool = True
    """Whether users may choose it."""


class DimensionValueUpdate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A change to a value: fields left out are kept."""

    name: DimensionName | None = None
    """New name."""
    active: bool | None = None
    """Deactivate (false) or reactivate (true)."""
