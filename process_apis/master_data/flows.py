"""Master data publish and reconciliation: ERP dimensions pushed to procurement and expense as deltas.

Publish (``master-data-publish``), steps each committed before the next:

1. ``read-erp`` — legal entities, GL accounts and cost centers from the ERP system API, as
   the values the other platforms should hold (a blocked account, or a cost center blocked
   or outside its validity today, is inactive).
2. ``publish-procurement`` — read the lookup values procurement holds, compute the delta
   (:mod:`.diff`) and write only that: a new value is a ``POST`` whose ``Idempotency-Key`` is
   the instance, step and item (a re-run after a lost answer replays it); a rename,
   deactivation or reactivation is a ``PUT`` (harmless to repeat). A re-run reads again, so
   what was written before it is no longer in the delta.
3. ``publish-expense`` — the same against the expense platform's list items.

Reconciliation (``master-data-reconciliation``) reads the same three sides and writes
nothing: ``compare`` records the drift (the delta a publish would write) per platform and
dimension; ``report`` stops the instance in the finance exception queue as
``master-data-drift`` with the counts in the detail when there is any. A person then starts a
publish, and replays the reconciliation to confirm (or resolves it with any decision, e.g.
``accepted``, to close it as it is).

Both run on a schedule (:data:`SCHEDULES`: publish hourly, reconciliation daily, half an
hour apart) and can be started through the process API.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from typing import Any, Final, TypeVar

import msgspec

from process_apis.flow.model import BusinessError, Flow, Schedule, Step, StepContext, StepOutput
from process_apis.flow.runtime import Trigger
from process_apis.master_data.diff import MAX_NAME, Change, Desired, counts, delta, describe
from system_apis.canonical import Page
from system_apis.canonical.masterdata import (
    DIMENSIONS,
    DimensionValue,
    DimensionValueDraft,
    DimensionValueUpdate,
)

__all__ = [
    "FLOWS",
    "NAME",
    "PLATFORMS",
    "PUBLISH",
    "PUBLISH_FLOW",
    "RECONCILE",
    "RECONCILE_FLOW",
    "SCHEDULES",
    "TRIGGERS",
    "compare",
    "publish_to",
    "read_erp",
    "report",
]

NAME: Final = "master-data"
"""Name of the process API."""
PUBLISH_FLOW: Final = "master-data-publish"
"""Name of the publish flow."""
RECONCILE_FLOW: Final = "master-data-reconciliation"
"""Name of the reconciliation flow."""

ERP: Final = "/system/erp/v1"
PLATFORMS: Final[Mapping[str, str]] = {
    "procurement": "/system/procurement/v1/lookup-values",
    "expense": "/system/expense/v1/list-items",
}
"""Where each platform's dimension values are read and written."""

PAGE: Final = 200
"""Items per page read from the system APIs."""
WRITERS: Final = 8
"""Writes to one platform in flight at once."""
SHOWN: Final = 20
"""Changes listed by code in a step's output (all are counted)."""

T = TypeVar("T")


class _Entity(msgspec.Struct, kw_only=True):
    company_code: str
    name: str


class _Account(msgspec.Struct, kw_only=True):
    number: str
    name: str
    blocked: bool = False


class _Center(msgspec.Struct, kw_only=True):
    code: str
    name: str
    valid_from: dt.date
    valid_to: dt.date | None = None
    active: bool = True


async def _all(context: StepContext, path: str, type_: type[T], params: Mapping[str, Any] | None = None) -> list[T]:
    """Every item of a paged system API list."""
    items: list[T] = []
    cursor: str | None = None
    while True:
        query = {**(params or {}), "limit": PAGE, **({"cursor": cursor} if cursor else {})}
        page = await context.system.get(path, type=Page[type_], params=query,  # type: ignore[valid-type]
                                        correlation_id=context.correlation_id)
        items.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return items


def _name(text: str, code: str) -> str:
    return (text.strip() or code)[:MAX_NAME]


# -- read the ERP ----------------------------------------------------------------------------


async def read_erp(context: StepContext) -> StepOutput:
    """The values every platform should hold, from the ERP's legal entities, GL accounts and cost centers."""
    today = context.now.date()
    entities = await _all(context, f"{ERP}/legal-entities", _Entity)
    accounts = await _all(context, f"{ERP}/gl-accounts", _Account)
    centers = await _all(context, f"{ERP}/cost-centers", _Center)
    values = [
        *(Desired(dimension="legal-entity", code=e.company_code, name=_name(e.name, e.company_code), active=True)
          for e in entities),
        *(Desired(dimension="gl-account", code=a.number, name=_name(a.name, a.number), active=not a.blocked)
          for a in accounts),
        *(Desired(dimension="cost-center", code=c.code, name=_name(c.name, c.code),
                  active=c.active and c.valid_from <= today and (c.valid_to is None or today <= c.valid_to))
          for c in centers),
    ]
    totals = {dimension: sum(1 for v in values if v.dimension == dimension) for dimension in DIMENSIONS}
    return {"values": msgspec.to_builtins(values), "totals": totals}


def _desired(context: StepContext) -> list[Desired]:
    return msgspec.convert(context.state["read-erp"]["values"], list[Desired])


async def _held(context: StepContext, platform: str) -> list[DimensionValue]:
    path = PLATFORMS[platform]
    held: list[DimensionValue] = []
    for dimension in DIMENSIONS:
        held.extend(await _all(context, path, DimensionValue, {"dimension": dimension}))
    return held


# -- publish ---------------------------------------------------------------------------------


async def _write(context: StepContext, platform: str, change: Change) -> None:
    path = PLATFORMS[platform]
    if change.kind == "new":
        draft = DimensionValueDraft(dimension=change.dimension, code=change.code, name=change.name)
        try:
            await context.system.post(path, draft, type=DimensionValue,
                                      idempotency_key=context.idempotency_key(f"{change.dimension}:{change.code}"),
                                      correlation_id=context.correlation_id)
        except BusinessError as error:
            if error.status != 409:
                raise
            # Another publish added it since this one read the platform; the next run compares names.
        return
    assert change.id is not None
    update = (DimensionValueUpdate(active=False) if change.kind == "deactivated"
              else DimensionValueUpdate(name=change.name if change.rename else None, active=True))
    await context.system.put(f"{path}/{change.id}", update, type=DimensionValue,
                             correlation_id=context.correlation_id)


def _shown(changes: list[Change]) -> list[str]:
    return [f"{c.kind} {c.dimension} {c.code}" for c in changes[:SHOWN]]


async def publish_to(context: StepContext, platform: str) -> StepOutput:
    """Write the delta between the ERP and ``platform``, and nothing else."""
    changes = delta(_desired(context), await _held(context, platform))
    gate = asyncio.Semaphore(WRITERS)

    async def write(change: Change) -> None:
        async with gate:
            await _write(context, platform, change)

    tasks = [asyncio.ensure_future(write(change)) for change in changes]
    try:
        await asyncio.gather(*tasks)  # the first failure is the step's
    finally:
        # Whether a write failed or the step itself was cancelled (its time limit), no write
        # may outlive the step: a retry would send the same Idempotency-Keys while they are
        # still in flight. Every outcome is read, so none is logged as never retrieved.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {"written": len(changes), "counts": counts(changes), "changes": _shown(changes)}


async def _publish_procurement(context: StepContext) -> StepOutput:
    return await publish_to(context, "procurement")


async def _publish_expense(context: StepContext) -> StepOutput:
    return await publish_to(context, "expense")


# -- reconcile -------------------------------------------------------------------------------


async def compare(context: StepContext) -> StepOutput:
    """Drift per platform and dimension: what a publish would write now. Writes nothing."""
    desired = _desired(context)
    drift: dict[str, dict[str, dict[str, int]]] = {}
    shown: dict[str, list[str]] = {}
    for platform in PLATFORMS:
        changes = delta(desired, await _held(context, platform))
        drift[platform] = counts(changes)
        shown[platform] = _shown(changes)
    total = sum(count for by_dimension in drift.values() for kinds in by_dimension.values()
                for count in kinds.values())
    return {"drift": drift, "total": total, "changes": shown}


async def report(context: StepContext) -> StepOutput:
    """Stop as ``master-data-drift`` when ``compare`` found any, unless a person closed it."""
    compared = context.state["compare"]
    total = int(compared["total"])
    if context.decision:
        return {"total": total, "decision": context.decision}
    if total:
        raise BusinessError(
            "master-data-drift",
            f"{total} value(s) differ from the ERP - {describe(compared['drift'])}. Start a publish "
            "(POST /process/master-data/v1/publications), then replay this reconciliation to confirm",
        )
    return {"total": 0}


PUBLISH: Final = Flow(
    PUBLISH_FLOW,
    (
        Step("read-erp", read_erp),
        Step("publish-procurement", _publish_procurement),
        Step("publish-expense", _publish_expense),
    ),
    summary="Push the ERP's legal entities, GL accounts and cost centers to procurement and expense as deltas.",
)
"""The publish flow."""

RECONCILE: Final = Flow(
    RECONCILE_FLOW,
    (Step("read-erp", read_erp), Step("compare", compare), Step("report", report)),
    summary="Compare the ERP's dimensions with procurement and expense; report drift without writing.",
)
"""The reconciliation flow."""

FLOWS: tuple[Flow, ...] = (PUBLISH, RECONCILE)
TRIGGERS: tuple[Trigger, ...] = ()
SCHEDULES: tuple[Schedule, ...] = (
    Schedule(name=f"{PUBLISH_FLOW}-hourly", flow=PUBLISH_FLOW, every_seconds=3600.0, input={"source": "schedule"},
             first_after_seconds=300.0),
    # Half an hour after the publish, so a reconciliation never compares while a publish is
    # still writing (which would report drift that is not there).
    Schedule(name=f"{RECONCILE_FLOW}-daily", flow=RECONCILE_FLOW, every_seconds=86400.0,
             input={"source": "schedule"}, first_after_seconds=2100.0),
)
"""The recurring runs: a publish every hour (the first five minutes after the first start, when
the platforms have settled), a reconciliation every day."""
