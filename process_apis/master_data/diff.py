"""The delta between what the ERP says and what a platform holds, per dimension.

Pure functions, no I/O: the publish writes exactly the :class:`Change` list that
:func:`delta` returns, and the reconciliation counts the same list without writing it, so
"drift" means precisely "what the next publish would write".

Rules, for each ERP value (by dimension and code):

* active in the ERP, absent on the platform: ``new`` (added active);
* inactive in the ERP, absent on the platform: nothing (never add a value nobody may use);
* active in the ERP, on the platform with another name or deactivated: ``changed``
  (renamed and/or reactivated);
* inactive in the ERP, active on the platform: ``deactivated``;
* on the platform, active, unknown to the ERP: ``deactivated`` (the ERP removed it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

import msgspec

from system_apis.canonical.masterdata import DIMENSIONS, Dimension, DimensionValue

__all__ = ["Change", "ChangeKind", "Desired", "counts", "delta", "describe"]

ChangeKind = Literal["new", "changed", "deactivated"]
"""What a change does on the platform."""

MAX_NAME = 64
"""Longest name every platform accepts (Concur's list item names)."""


class Desired(msgspec.Struct, frozen=True, kw_only=True):
    """A value as the ERP says it should be held."""

    dimension: Dimension
    """Its dimension."""
    code: str
    """Its ERP code."""
    name: str
    """Its name (cut to :data:`MAX_NAME`)."""
    active: bool
    """Whether it may be used today."""


class Change(msgspec.Struct, frozen=True, kw_only=True):
    """One write the platform needs."""

    kind: ChangeKind
    """``new``, ``changed`` or ``deactivated``."""
    dimension: Dimension
    """Its dimension."""
    code: str
    """Its ERP code."""
    name: str
    """The name it should have."""
    id: str | None = None
    """The platform's id of the value (None for a new one)."""
    rename: bool = False
    """Whether the name changes."""


def delta(desired: Iterable[Desired], held: Iterable[DimensionValue]) -> list[Change]:
    """The writes that make ``held`` match ``desired``, in dimension order, then by code."""
    on_platform = {(value.dimension, value.code): value for value in held}
    wanted = {(value.dimension, value.code): value for value in desired}
    changes: list[Change] = []
    for key, want in wanted.items():
        have = on_platform.get(key)
        if have is None:
            if want.active:
                changes.append(Change(kind="new", dimension=want.dimension, code=want.code, name=want.name))
            continue
        rename = have.name != want.name
        if want.active and (rename or not have.active):
            changes.append(Change(kind="changed", dimension=want.dimension, code=want.code, name=want.name,
                                  id=have.id, rename=rename))
        elif not want.active and have.active:
            changes.append(Change(kind="deactivated", dimension=want.dimension, code=want.code, name=have.name,
                                  id=have.id))
    for key, have in on_platform.items():
        if key not in wanted and have.active:
            changes.append(Change(kind="deactivated", dimension=have.dimension, code=have.code, name=have.name,
                                  id=have.id))
    order = {dimension: index for index, dimension in enumerate(DIMENSIONS)}
    return sorted(changes, key=lambda change: (order[change.dimension], change.code))


def counts(changes: Iterable[Change]) -> dict[str, dict[str, int]]:
    """Changes counted by dimension and kind (every dimension and kind present, zeros included)."""
    result: dict[str, dict[str, int]] = {dimension: {"new": 0, "changed": 0, "deactivated": 0}
                                         for dimension in DIMENSIONS}
    for change in changes:
        result[change.dimension][change.kind] += 1
    return result


def describe(drift: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> str:
    """``procurement cost-center: 1 changed; expense gl-account: 3 new`` for the non-zero counts."""
    parts = []
    for platform, by_dimension in drift.items():
        for dimension, kinds in by_dimension.items():
            said = ", ".join(f"{count} {kind}" for kind, count in kinds.items() if count)
            if said:
                parts.append(f"{platform} {dimension}: {said}")
    return "; ".join(parts) or "no drift"
