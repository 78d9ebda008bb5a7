"""The trace of one transaction: everything recorded under one correlation id, in time order.

A transaction leaves two kinds of record. The flow engine writes a timeline entry for every
step of every instance (all instances of one transaction share its correlation id, including
those started through the outbox); the policy chain writes an audit record for every governed
call of every tier (the source platform's event intake, the process API, each system API call
a step made). Merged by time they tell the story from the source approval to the ERP's
confirmation in one answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from policies.audit import AuditLog, AuditRecord
from process_apis.flow.store import FlowStore, Instance, InstanceFilter, TimelineEntry
from process_apis.flow.views import InstanceView, instance_view
from process_apis.flow.worker import FlowEngine

__all__ = ["MAX_AUDIT_RECORDS", "MAX_INSTANCES", "Trace", "TraceItem", "read_trace"]

MAX_AUDIT_RECORDS = 5000
"""Audit records one trace shows at most (a transaction makes tens of calls, not thousands)."""
MAX_INSTANCES = 200
"""Flow instances one trace shows at most."""
_PAGE = 1000

Source = Literal["flow", "audit"]


class TraceItem(msgspec.Struct, frozen=True, kw_only=True):
    """One thing that happened to the transaction."""

    at: datetime
    """When (UTC): the timeline entry's time, or the time the audited call arrived."""
    source: Source
    """``flow`` (a flow instance's timeline) or ``audit`` (a governed call of any tier)."""
    what: str
    """What happened: ``<flow> <event> [<step>]``, or ``<METHOD> <path>`` of the call."""
    outcome: str
    """The timeline entry's kind (``step-completed``, ``exception``, ...), or the call's HTTP status."""
    detail: str | None = None
    """More words: the failure, the person's note, why a call was refused."""
    instance_id: str | None = None
    """The flow instance (flow items)."""
    step: str | None = None
    """The step concerned (flow items)."""
    api: str | None = None
    """The API called, as ``<name> v<major>`` (audit items)."""
    operation: str | None = None
    """The operation called (audit items)."""
    client_id: str | None = None
    """Who called (audit items)."""
    resource_ids: dict[str, str] | None = None
    """Objects the call touched (audit items)."""


class Trace(msgspec.Struct, frozen=True, kw_only=True):
    """Everything recorded under one correlation id."""

    correlation_id: str
    """The correlation id."""
    instances: list[InstanceView]
    """The flow instances of the transaction, newest first."""
    items: list[TraceItem]
    """Timeline entries and audit records, oldest first."""
    truncated: bool
    """More audit records or instances exist than a trace shows; read them with the admin API."""


def _flow_item(entry: TimelineEntry, flows: dict[str, str]) -> TraceItem:
    flow = flows.get(entry.instance_id, "flow")
    what = f"{flow} {entry.kind}" + (f" {entry.step}" if entry.step else "")
    return TraceItem(at=entry.at, source="flow", what=what, outcome=entry.kind, detail=entry.detail,
                     instance_id=entry.instance_id, step=entry.step)


def _audit_item(record: AuditRecord) -> TraceItem:
    return TraceItem(at=record.recorded_at, source="audit", what=f"{record.method} {record.path}",
                     outcome=str(record.outcome), detail=record.detail, api=f"{record.api} v{record.version}",
                     operation=record.operation, client_id=record.client_id,
                     resource_ids=dict(record.resource_ids) or None)


async def _audit_records(audit: AuditLog, correlation_id: str) -> tuple[list[AuditRecord], bool]:
    records: list[AuditRecord] = []
    after: int | None = None
    while len(records) < MAX_AUDIT_RECORDS:
        page = await audit.query(correlation_id=correlation_id, after_seq=after, limit=_PAGE)
        records.extend(page)
        if len(page) < _PAGE:
            return records, False
        after = page[-1].seq
    return records[:MAX_AUDIT_RECORDS], True


async def read_trace(engine: FlowEngine, audit: AuditLog, correlation_id: str) -> Trace:
    """The trace of ``correlation_id`` (empty lists when nothing was recorded under it).

    Audit records of reads are written in batches; the ones still queued are written first,
    so a call made a moment ago is in the trace.
    """
    store: FlowStore = engine.store
    await audit.flush()
    found: list[Instance] = await store.instances(InstanceFilter(correlation_id=correlation_id),
                                                  limit=MAX_INSTANCES + 1)
    records, more_records = await _audit_records(audit, correlation_id)
    entries = await store.timeline(correlation_id=correlation_id)
    flows = {instance.id: instance.flow for instance in found}
    for entry in entries:
        if entry.instance_id not in flows:  # beyond the instances shown
            instance = await store.get(entry.instance_id)
            flows[entry.instance_id] = instance.flow if instance is not None else "flow"
    items = [(_audit_item(record), 0, index) for index, record in enumerate(records)]
    items += [(_flow_item(entry, flows), 1, index) for index, entry in enumerate(entries)]
    # Oldest first; on a tie the call (which arrives first) before the step it served.
    items.sort(key=lambda item: (item[0].at, item[1], item[2]))
    return Trace(
        correlation_id=correlation_id,
        instances=[instance_view(instance, engine.flows.get(instance.flow)) for instance in found[:MAX_INSTANCES]],
        items=[item for item, _, _ in items],
        truncated=more_records or len(found) > MAX_INSTANCES,
    )
